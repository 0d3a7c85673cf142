//! Write a BYOC cache adapter in a few dozen lines of Rust.
//!
//! An adapter is a WebAssembly component exporting the `adapter` world of the `byoc:cache`
//! WIT package (build targets: `docs/writing-adapters.md`). You implement the [`Adapter`]
//! trait — `open`, `get`, `set`, `delete` and `keys` — and call [`export_adapter!`]. The
//! SDK checks keys, TTLs, patterns and configuration ([`Adapter::config_fields`]) before
//! your code runs, keeps TTLs as absolute expiries (expired entries read as missing),
//! derives `exists`, the multi-key operations, the packed `bulk` export, paged `scan` and
//! `clear`, and counts hits and misses for `stats` (the rest comes from
//! [`Adapter::usage`]). Override a provided method to implement it natively, and list it in
//! [`Adapter::NATIVE`].
//! The optional `atomics` export answers `unsupported` unless [`Adapter::ATOMICS`] is set
//! (see the [`atomic`] module).
//!
//! With the `redis` feature, the `redis` module binds the host's native Redis import
//! (`wit/redis.wit`); `adapters/redis` is such an adapter. With the `http` feature, the
//! `http` module sends requests over `wasi:http` (`adapters/http`, `s3`, `dynamodb`). The
//! [`store`] module serves adapters that keep files in a granted directory.
//!
//! ```ignore
//! use byoc_guest_sdk::{Adapter, Config, Entry, Result};
//! use std::collections::HashMap;
//!
//! #[derive(Default)]
//! struct Tiny(HashMap<String, Entry>);
//!
//! impl Adapter for Tiny {
//!     const NAME: &'static str = "tiny";
//!     const VERSION: &'static str = "0.1.0";
//!     fn open(_config: &Config) -> Result<Self> { Ok(Tiny::default()) }
//!     fn get(&mut self, key: &str) -> Result<Option<Entry>> { Ok(self.0.get(key).cloned()) }
//!     fn set(&mut self, key: &str, entry: Entry) -> Result<()> {
//!         self.0.insert(key.to_owned(), entry);
//!         Ok(())
//!     }
//!     fn delete(&mut self, key: &str) -> Result<bool> { Ok(self.0.remove(key).is_some()) }
//!     fn keys(&mut self) -> Result<Vec<String>> { Ok(self.0.keys().cloned().collect()) }
//! }
//!
//! byoc_guest_sdk::export_adapter!(Tiny);
//! ```

extern crate self as byoc_guest_sdk;

pub mod alloc;
pub mod atomic;
mod bridge;
mod bulk;
mod config;
mod derive;
mod entry;
pub mod inner;
mod scan;
pub mod store;
mod wrapper;

#[cfg(feature = "redis")]
pub mod redis;

#[cfg(feature = "http")]
pub mod http;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        // `wrapper-bulk-atomics` is `adapter` plus the `inner` import and the optional
        // `bulk` and `atomics` exports; an adapter that never calls `inner` does not
        // import it, so one set of bindings serves both.
        world: "wrapper-bulk-atomics",
        pub_export_macro: true,
        export_macro_name: "__export_adapter_world",
        default_bindings_module: "::byoc_guest_sdk::bindings",
        runtime_path: "::byoc_guest_sdk::__wit_bindgen::rt",
        bitflags_path: "::byoc_guest_sdk::__wit_bindgen::rt::bitflags",
    });
}

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

pub use alloc::Allocator;
pub use bindings::byoc::cache::types::CacheStats as Stats;
pub use bindings::byoc::cache::types::{
    Capabilities, ConfigField, ConfigKind, ConfigValue, Error, Item, KeyTtl, ProviderInfo,
    ScanPage, Stat,
};
pub use bridge::Bridge;
pub use byoc_common::hash_seed;
pub use config::Config;
pub use entry::{Entry, now_ms};
pub use scan::{ScanCursor, sorted_page};
pub use wrapper::{Wrapper, WrapperBridge};

/// Result of adapter operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What an adapter stores now, for `stats`. Hit and miss counters are kept by the SDK.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// Keys stored (expired but not yet purged keys may be included).
    pub keys: u64,
    /// Bytes of keys and values stored.
    pub bytes: u64,
    /// Entries removed to make room.
    pub evictions: u64,
    /// Entries removed by the adapter because their TTL passed (the SDK adds its own lazy
    /// purges to this).
    pub expirations: u64,
    /// Adapter-specific counters.
    pub extra: Vec<(String, u64)>,
}

/// A cache adapter. Implement the five required methods; override a provided one only to
/// do it natively (and then list it in [`NATIVE`](Adapter::NATIVE)).
///
/// The SDK calls your methods only with valid keys, and never with an entry whose TTL
/// arithmetic overflowed. Your `get` may return expired entries: the SDK filters them and
/// deletes them lazily.
pub trait Adapter: Sized + 'static {
    /// Short stable name reported in `info`, e.g. `"memory"`.
    const NAME: &'static str;
    /// The adapter's version reported in `info`.
    const VERSION: &'static str;
    /// Operations implemented natively. `get`, `set` and `delete` are always native; add
    /// a flag for each provided method you override.
    const NATIVE: Capabilities = Capabilities::empty();

    /// The configuration fields `open` accepts. The SDK rejects any other field, a value of
    /// another kind, and a missing required field, before `open` runs.
    fn config_fields() -> Vec<ConfigField> {
        Vec::new()
    }

    /// Creates the adapter from its (validated) configuration.
    fn open(config: &Config) -> Result<Self>;

    /// The entry stored under `key`, expired or not, or `None`.
    fn get(&mut self, key: &str) -> Result<Option<Entry>>;

    /// Stores `entry` under `key`, replacing any previous entry.
    fn set(&mut self, key: &str, entry: Entry) -> Result<()>;

    /// Removes `key`; returns whether an entry (expired or not) was removed.
    fn delete(&mut self, key: &str) -> Result<bool>;

    /// Every stored key (expired ones may be included). Used by the derived `scan`, `clear`
    /// and `stats`; an adapter with many keys should override `scan` natively.
    fn keys(&mut self) -> Result<Vec<String>>;

    /// Removes `key`; returns whether a *live* entry was removed. Derived from `exists` +
    /// `delete`; override it when the backend answers this in one step.
    fn delete_live(&mut self, key: &str, now: u64) -> Result<bool> {
        let live = self.exists(key, now)?;
        Ok(self.delete(key)? && live)
    }

    /// The entries of `keys`, in order (expired ones may be included; the SDK filters
    /// them). Derived from `get`; override it to fetch many keys in one round trip.
    fn get_multi(&mut self, keys: &[String]) -> Result<Vec<Option<Entry>>> {
        keys.iter().map(|k| self.get(k)).collect()
    }

    /// Stores every entry (keys and TTLs already validated). Derived from `set`; override
    /// it to store many keys in one round trip.
    fn set_multi(&mut self, items: Vec<(String, Entry)>) -> Result<()> {
        items
            .into_iter()
            .try_for_each(|(key, entry)| self.set(&key, entry))
    }

    /// Removes every key; returns how many live entries were removed. Derived from
    /// `delete_live`.
    fn delete_multi(&mut self, keys: &[String], now: u64) -> Result<u64> {
        let mut removed = 0;
        for key in keys {
            if self.delete_live(key, now)? {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// The remaining lifetime of `key`. Used by the SDK only when [`NATIVE`](Adapter::NATIVE)
    /// lists `TTL`; otherwise the SDK derives it from `get` (and purges an expired entry).
    /// The default answers from `get` without purging.
    fn ttl(&mut self, key: &str, now: u64) -> Result<KeyTtl> {
        Ok(match self.get(key)? {
            Some(entry) if entry.is_live(now) => match entry.remaining(now) {
                None => KeyTtl::Persistent,
                Some(ms) => KeyTtl::ExpiresIn(ms.max(1)),
            },
            _ => KeyTtl::Missing,
        })
    }

    /// Whether `key` holds a live entry. Derived from `get`.
    fn exists(&mut self, key: &str, now: u64) -> Result<bool> {
        derive::exists(self, key, now)
    }

    /// One page of a scan. Derived from `keys`: sorts every key on each page, so it costs
    /// O(n log n) per page.
    fn scan(
        &mut self,
        pattern: &str,
        cursor: Option<ScanCursor>,
        count: u32,
        now: u64,
    ) -> Result<ScanPage> {
        derive::scan(self, pattern, cursor, count, now)
    }

    /// Changes the expiry of a live key (`expires_at` in ms since the UNIX epoch, `None`
    /// for no expiry). Derived from `get` + `set`.
    fn expire(&mut self, key: &str, expires_at: Option<u64>, now: u64) -> Result<bool> {
        derive::expire(self, key, expires_at, now)
    }

    /// Removes every key. Derived from `keys` + `delete`.
    fn clear(&mut self) -> Result<()> {
        derive::clear(self)
    }

    /// What is stored now. Derived from `keys` + `get` (O(n)).
    fn usage(&mut self) -> Result<Usage> {
        derive::usage(self)
    }

    /// Checks the backend. The default answers Ok (nothing to check for in-memory state).
    fn ping(&mut self) -> Result<()> {
        Ok(())
    }

    /// Whether [`increment`](Adapter::increment) and
    /// [`compare_and_swap`](Adapter::compare_and_swap) are implemented (the optional
    /// `atomics` interface, `wit/atomics.wit`). When false the SDK answers both with
    /// `unsupported` without calling them.
    const ATOMICS: bool = false;

    /// Atomically adds `delta` to the decimal integer under `key` and returns the new
    /// value; a missing or expired key counts as 0 and is created expiring at `expires_at`
    /// (ms since the UNIX epoch, `None`: never); an existing key keeps its expiry. A value
    /// that is not a decimal `i64`, or an overflow, is `invalid-argument`.
    ///
    /// The default answers `unsupported`. [`atomic::increment`] derives it from `get` and
    /// `set`: atomic for an adapter whose state only this instance touches (the host runs
    /// one call at a time per instance), not for one whose backend is shared.
    fn increment(
        &mut self,
        key: &str,
        delta: i64,
        expires_at: Option<u64>,
        now: u64,
    ) -> Result<i64> {
        let _ = (key, delta, expires_at, now);
        Err(Error::Unsupported("increment".into()))
    }

    /// Atomically stores `new` (expiring at `expires_at`) under `key` if the live value
    /// equals `expected` (`None`: missing or expired); whether it stored. The default
    /// answers `unsupported`; [`atomic::compare_and_swap`] derives it as
    /// [`increment`](Adapter::increment) is derived.
    fn compare_and_swap(
        &mut self,
        key: &str,
        expected: Option<&[u8]>,
        new: Vec<u8>,
        expires_at: Option<u64>,
        now: u64,
    ) -> Result<bool> {
        let _ = (key, expected, new, expires_at, now);
        Err(Error::Unsupported("compare-and-swap".into()))
    }
}

/// Exports `$adapter` (a type implementing [`Adapter`]) as the component's `adapter` world.
/// Call it once, at the root of the adapter crate.
///
/// The exports exist only when compiling for wasm; a native build of the adapter crate (for
/// `cargo test --workspace` or clippy) compiles the adapter without them.
#[macro_export]
macro_rules! export_adapter {
    ($adapter:ty) => {
        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        mod __byoc_exports {
            #[allow(unused_imports)]
            use super::*;
            type Exports = $crate::Bridge<$adapter>;
            $crate::bindings::__export_adapter_world!(Exports with_types_in $crate::bindings);
        }
    };
}

/// Exports `$wrapper` (a type implementing [`Wrapper`]) as the component's `wrapper` world.
/// Call it once, at the root of the wrapper crate.
#[macro_export]
macro_rules! export_wrapper {
    ($wrapper:ty) => {
        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        mod __byoc_exports {
            #[allow(unused_imports)]
            use super::*;
            type Exports = $crate::WrapperBridge<$wrapper>;
            $crate::bindings::__export_adapter_world!(Exports with_types_in $crate::bindings);
        }
    };
}
