//! # BYOC — Bring Your Own Cache
//!
//! One typed cache API for applications; storage backends that are WebAssembly components
//! running in a capability-limited sandbox.
//!
//! - [`Provider`]: the contract every backend implements (get/set/delete/exists, multi
//!   operations, scan by glob pattern, ttl/expire, clear, stats, ping, info). Its WIT form
//!   is `wit/provider.wit`.
//! - [`WasmProvider`]: a provider served by a component (for example the embedded
//!   [`builtin::MEMORY_ADAPTER`]) on a [`Runtime`], with memory limits, per-call deadlines
//!   and trap recovery. [`NativeMemoryProvider`]: moka in process.
//! - [`redis`]: native Redis (one server or a cluster) offered to adapters as a host
//!   import, namespaced by a [`redis::RedisGrant`]; the built-in `redis` provider uses it.
//! - [`Registry`]: providers by name with typed [`AdapterConfig`]; component files by path.
//! - [`ConfigFile`] / [`Caches`]: caches from a YAML file, each instrumented
//!   ([`Instrumented`]: metrics and tracing) and hot-swappable ([`SwapProvider`]), with
//!   hot reload of changed component files. Both, and [`NearCache`], are
//!   [`layer::Layer`]s: wrappers that forward every call they do not change.
//! - [`Contract<T>`] / [`Cache<T>`]: typed caches over serde types with key prefix,
//!   default TTL, [`Postcard`] or [`Json`] serialization, and [`Cache::swap_provider`].
//!
//! ```
//! use byoc::{Contract, Registry};
//! use serde::{Deserialize, Serialize};
//! use std::time::Duration;
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! struct User { id: u64, name: String }
//!
//! # async fn demo() -> byoc::Result<()> {
//! let registry = Registry::new()?;                       // built-ins: memory, native-memory
//! let provider = registry.create("memory", Default::default()).await?; // sandboxed wasm
//! let users = Contract::<User>::new("users", provider)
//!     .key_prefix("user:")
//!     .default_ttl(Duration::from_secs(3600))
//!     .cache();
//!
//! users.set("42", &User { id: 42, name: "Ada".into() }, None).await?;
//! assert_eq!(users.get("42").await?.map(|u| u.name), Some("Ada".into()));
//! assert_eq!(users.get("43").await?, None);              // a miss
//! # Ok(()) }
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo()).unwrap();
//! ```
// `unsafe` is denied everywhere but in `wasm::code_cache` (mapping compiled code from disk).
#![deny(unsafe_code)]

pub mod builtin;
mod caches;
pub mod components;
pub mod config_file;
mod factories;
mod limits;
pub mod migrate;
mod registry;
mod stack;
mod text;
mod warm;

pub use byoc_core::{batching, instrument, layer, swap, units};
/// Running adapters as sandboxed WebAssembly components (the `byoc-wasm` crate).
pub use byoc_wasm as wasm;

/// Native Redis offered to adapters as the host import `byoc:cache/redis` (the
/// `byoc-redis` crate), and the built-in `redis` provider over it.
pub mod redis {
    pub use crate::factories::redis::{
        DEFAULT_REDIS_INSTANCES, REDIS, grant_from_config, redis_provider, redis_provider_with,
    };
    pub use byoc_redis::*;
}

pub use byoc_core::{
    AdapterConfig, Cache, CacheEntry, Capability, ConfigField, ConfigKind, ConfigValue, Contract,
    DECODE_FAILURES, DEFAULT_FAIL_SAFE_COPIES, DEFAULT_NATIVE_MAX_BYTES, DEFAULT_NEAR_MAX_BYTES,
    DEFAULT_NEAR_MAX_ENTRIES, DEFAULT_NEAR_MAX_STALENESS, Error, Freshness, Instrumented, Item,
    Json, KEYS_PAGE, KeyTtl, LOAD_ERRORS, LOAD_JOINS, LOADS, LoadError, Loaded, MAX_TAG_LEN,
    MAX_TAGS, NativeMemoryConfig, NativeMemoryProvider, NearCache, NearCacheBuilder,
    NearInvalidator, NearTtl, Postcard, Provider, ProviderInfo, REFRESHES, Result, STALE_SERVED,
    ScanPage, Serializer, Stats, SwapProvider, TAG_CHECKS, TAG_INVALIDATED, typed_payload,
};
pub use caches::{
    Caches, ConfigChanges, ConfigStats, DEFAULT_WATCH_INTERVAL, ReloadOutcome, SwapStats,
    WatchHandle,
};
pub use config_file::ConfigFile;
pub use factories::{
    COMPRESSION, DYNAMODB, ENCRYPTION, ETCD, FALLBACK, FILESYSTEM, Factory, FactoryFuture,
    FactoryInput, HTTP, MEMCACHED, MEMORY, MIGRATION, MULTI_REGION, NATIVE_MEMORY, POSTGRES, REDB,
    S3, SQLITE, TIERED,
};
pub use registry::Registry;
pub use stack::StackSpec;
pub use warm::{WarmOptions, WarmReport, WarmSource};
pub use wasm::{DirAccess, Grants, HttpGrant, Limits, Runtime, RuntimeConfig, WasmProvider};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

/// The examples of `docs/cache-semantics.md`, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/cache-semantics.md")]
pub struct CacheSemanticsDoctests;
