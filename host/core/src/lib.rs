//! # BYOC core: the cache contract
//!
//! What every part of BYOC builds on, with no WebAssembly, Redis or CLI dependency:
//!
//! - [`Provider`]: the contract every backend implements, with its [types](Item) and
//!   [`Error`];
//! - [`Contract<T>`] / [`Cache<T>`]: typed caches over serde types ([`Postcard`], [`Json`]);
//! - [`NearCache`]: an in-process cache in front of a provider; [`SwapProvider`]: a provider
//!   replaced while in use; [`Instrumented`]: metrics and tracing around one; all three
//!   are [`layer::Layer`]s, wrappers that forward every call they do not change;
//! - [`batching`]: the leader/queue state both call batchers (wasm, Redis) share;
//! - [`NativeMemoryProvider`]: moka in process;
//! - [`AdapterConfig`]: an adapter's typed configuration; [`units`]: sizes and durations.
//!
//! Applications use these through the `byoc` crate, which re-exports them.
#![deny(unsafe_code)]

pub mod batching;
mod cache;
mod config;
mod entry;
mod error;
pub mod instrument;
pub mod layer;
mod load;
mod native;
mod near;
pub mod provider;
mod serializer;
pub mod swap;
mod types;
pub mod units;

pub use cache::{Cache, Contract, DECODE_FAILURES, typed_payload};
pub use config::{AdapterConfig, ConfigField, ConfigKind, ConfigValue};
pub use entry::{MAX_TAG_LEN, MAX_TAGS};
pub use error::{Error, Result};
pub use instrument::Instrumented;
pub use load::{
    CacheEntry, DEFAULT_FAIL_SAFE_COPIES, Freshness, LOAD_ERRORS, LOAD_JOINS, LOADS, LoadError,
    Loaded, REFRESHES, STALE_SERVED, TAG_CHECKS, TAG_INVALIDATED,
};
pub use native::{DEFAULT_NATIVE_MAX_BYTES, NativeMemoryConfig, NativeMemoryProvider};
pub use near::{
    DEFAULT_NEAR_MAX_BYTES, DEFAULT_NEAR_MAX_ENTRIES, DEFAULT_NEAR_MAX_STALENESS, NearCache,
    NearCacheBuilder, NearInvalidator, NearTtl,
};
pub use provider::{KEYS_PAGE, Provider};
pub use serializer::{Json, Postcard, Serializer};
pub use swap::SwapProvider;
pub use types::{Capability, Item, KeyTtl, ProviderInfo, ScanPage, Stats};
