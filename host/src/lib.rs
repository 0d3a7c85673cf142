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
//!   hot reload of changed component files.
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
mod cache;
mod caches;
pub mod components;
mod config;
pub mod config_file;
mod error;
mod factories;
pub mod instrument;
mod native;
mod near;
mod provider;
pub mod redis;
mod registry;
mod serializer;
// Embedded store built-ins (redb).
pub mod serve;
mod store_factory;
pub mod swap;
pub mod trace;
mod types;
pub mod units;
pub mod wasm;

pub use cache::{Cache, Contract, DECODE_FAILURES, typed_payload};
pub use caches::{Caches, DEFAULT_WATCH_INTERVAL, ReloadOutcome, SwapStats, WatchHandle};
pub use config::{AdapterConfig, ConfigField, ConfigKind, ConfigValue};
pub use config_file::ConfigFile;
pub use error::{Error, Result};
pub use factories::{FILESYSTEM, HTTP};
pub use instrument::Instrumented;
pub use native::{DEFAULT_NATIVE_MAX_BYTES, NativeMemoryConfig, NativeMemoryProvider};
pub use near::{
    DEFAULT_NEAR_MAX_BYTES, DEFAULT_NEAR_MAX_ENTRIES, DEFAULT_NEAR_MAX_STALENESS, NearCache,
    NearCacheBuilder, NearInvalidator, NearTtl,
};
pub use provider::{KEYS_PAGE, Provider};
pub use registry::{
    ENCRYPTION, FALLBACK, Factory, FactoryFuture, FactoryInput, MEMORY, NATIVE_MEMORY, Registry,
    StackSpec, TIERED,
};
pub use serializer::{Json, Postcard, Serializer};
pub use store_factory::REDB;
pub use swap::SwapProvider;
pub use types::{Capability, Item, KeyTtl, ProviderInfo, ScanPage, Stats};
pub use wasm::{DirAccess, Grants, HttpGrant, Limits, Runtime, RuntimeConfig, WasmProvider};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
