//! The built-in providers' factories, one file each, and what a factory is.

mod aws;
mod dynamodb;
mod etcd;
pub(crate) mod filesystem;
mod http;
mod memcached;
mod memory;
mod native_memory;
mod postgres;
mod redb;
pub(crate) mod redis;
mod s3;
mod sqlite;
mod wrappers;

pub use dynamodb::DYNAMODB;
pub use etcd::ETCD;
pub use filesystem::FILESYSTEM;
pub use http::HTTP;
pub use memcached::MEMCACHED;
pub use memory::MEMORY;
pub use native_memory::NATIVE_MEMORY;
pub use postgres::POSTGRES;
pub use redb::REDB;
pub use s3::S3;
pub use sqlite::SQLITE;
pub use wrappers::{COMPRESSION, ENCRYPTION, FALLBACK, MIGRATION, MULTI_REGION, TIERED};

use crate::builtin::{
    self, COMPRESSION_WRAPPER, ENCRYPTION_WRAPPER, FALLBACK_WRAPPER, MIGRATION_WRAPPER,
    MULTI_REGION_WRAPPER, TIERED_WRAPPER,
};
use crate::limits::LimitsConfig;
use crate::wasm::Runtime;
use crate::{AdapterConfig, Error, Provider, Result};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What a factory returns.
pub type FactoryFuture = Pin<Box<dyn Future<Output = Result<Arc<dyn Provider>>> + Send>>;

/// What a factory gets.
#[derive(Clone)]
#[non_exhaustive]
pub struct FactoryInput {
    /// The runtime to create wasm providers on.
    pub runtime: Runtime,
    /// The provider's typed configuration.
    pub config: AdapterConfig,
    /// The providers below it, for a wrapper (layer 0 first); empty otherwise.
    pub layers: Vec<Arc<dyn Provider>>,
    /// Limit overrides from configuration, applied on the factory's own defaults by
    /// factories of wasm providers. A native factory fails if any is set.
    pub limits: LimitsConfig,
}

/// Creates a provider from its input, on the registry's runtime.
pub type Factory = Arc<dyn Fn(FactoryInput) -> FactoryFuture + Send + Sync>;

/// The built-in factories, by name (see [`Registry`](crate::Registry)).
pub(crate) fn builtins() -> Vec<(&'static str, Factory)> {
    let mut all: Vec<(&'static str, Factory)> = vec![
        (MEMORY, Arc::new(|input| Box::pin(memory::create(input)))),
        (
            redis::REDIS,
            Arc::new(|input| Box::pin(redis::create(input))),
        ),
        (
            NATIVE_MEMORY,
            Arc::new(|input| Box::pin(async move { native_memory::create(input) })),
        ),
        (
            FILESYSTEM,
            Arc::new(|input| Box::pin(filesystem::create(input))),
        ),
        (HTTP, Arc::new(|input| Box::pin(http::create(input)))),
        (REDB, Arc::new(|input| Box::pin(redb::create(input)))),
        (SQLITE, Arc::new(|input| Box::pin(sqlite::create(input)))),
        (S3, Arc::new(|input| Box::pin(s3::create(input)))),
        (
            DYNAMODB,
            Arc::new(|input| Box::pin(dynamodb::create(input))),
        ),
        (ETCD, Arc::new(|input| Box::pin(etcd::create(input)))),
        (
            MEMCACHED,
            Arc::new(|input| Box::pin(memcached::create(input))),
        ),
        (
            POSTGRES,
            Arc::new(|input| Box::pin(postgres::create(input))),
        ),
    ];
    for (name, bytes, sha256) in [
        (ENCRYPTION, ENCRYPTION_WRAPPER, builtin::ENCRYPTION_SHA256),
        (
            COMPRESSION,
            COMPRESSION_WRAPPER,
            builtin::COMPRESSION_SHA256,
        ),
        (TIERED, TIERED_WRAPPER, builtin::TIERED_SHA256),
        (FALLBACK, FALLBACK_WRAPPER, builtin::FALLBACK_SHA256),
        (MIGRATION, MIGRATION_WRAPPER, builtin::MIGRATION_SHA256),
        (
            MULTI_REGION,
            MULTI_REGION_WRAPPER,
            builtin::MULTI_REGION_SHA256,
        ),
    ] {
        all.push((
            name,
            Arc::new(move |input| Box::pin(wrappers::wasm_wrapper(name, bytes, sha256, input))),
        ));
    }
    all
}

/// Fails when a provider that takes no layers is given some.
pub(crate) fn no_layers(name: &str, input: &FactoryInput) -> Result<()> {
    if input.layers.is_empty() {
        Ok(())
    } else {
        Err(Error::InvalidConfig(format!(
            "provider `{name}` is not a wrapper and takes no inner providers (got {})",
            input.layers.len()
        )))
    }
}
