//! `wasi:keyvalue` (`store`, `atomics`, `batch`, pinned at `0.2.0-draft`, WIT vendored in
//! `wit/keyvalue`) for applications run by BYOC, with each bucket served by a cache.
//!
//! - [`Buckets`]: bucket name → cache, from a configuration file's `keyvalue:` section
//!   ([`Buckets::from_caches`]) or built by hand. A bucket not in the map does not exist:
//!   `open` answers `no-such-store`, so an application only ever sees the caches it was
//!   given.
//! - [`add_to_linker`]: the three interfaces in an embedder's own `Linker`, reading the
//!   buckets from the store's data through a [`KeyValue`] view.
//! - [`app`]: load and run a `wasi:cli` command component with those imports (what
//!   `byoc run` does), and list what a component imports.
//!
//! Keys get the cache's `key-prefix` (so `list-keys` lists only this bucket's keys) and
//! `set` the cache's `default-ttl`. `increment` is the contract's atomic increment (an
//! error where the provider has no atomics). See `docs/keyvalue.md`.

pub mod app;
mod bindings;
mod host;

use byoc::config_file::KeyvalueConfig;
use byoc::{Caches, Provider};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{HasData, Linker, ResourceTable};

pub use bindings::wasi::keyvalue::store::{Error as StoreError, KeyResponse};

/// The version of `wasi:keyvalue` implemented.
pub const WASI_KEYVALUE_VERSION: &str = "0.2.0-draft";

/// Keys per `list-keys` page (a page may hold fewer).
pub const LIST_PAGE: u32 = 100;

/// How many `list-keys` cursors one open bucket remembers; an older cursor is refused.
pub const MAX_CURSORS: usize = 1024;

/// Errors of this crate (configuration and running applications).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A bucket names a cache that is not configured.
    #[error("keyvalue bucket `{bucket}`: {source}")]
    Bucket {
        /// The bucket.
        bucket: String,
        /// Why.
        source: Box<byoc::Error>,
    },
    /// The component could not be compiled, linked or instantiated.
    #[error("cannot load the application: {0}")]
    Load(String),
    /// The component needs a capability it was not granted (named in the message).
    #[error("denied: {0}")]
    Denied(String),
    /// The application trapped or failed outside of a normal exit.
    #[error("the application failed: {0}")]
    Run(String),
}

/// The cache behind one bucket.
#[derive(Clone)]
pub struct Bucket {
    provider: Arc<dyn Provider>,
    key_prefix: String,
    default_ttl: Option<Duration>,
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bucket")
            .field("provider", &self.provider.info().name)
            .field("key_prefix", &self.key_prefix)
            .field("default_ttl", &self.default_ttl)
            .finish()
    }
}

impl Bucket {
    /// A bucket over `provider`'s raw keys, with no prefix and no TTL.
    pub fn new(provider: Arc<dyn Provider>) -> Bucket {
        Bucket {
            provider,
            key_prefix: String::new(),
            default_ttl: None,
        }
    }

    /// Prepends `prefix` to every key (and lists only keys that have it).
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Bucket {
        self.key_prefix = prefix.into();
        self
    }

    /// Gives every `set` this TTL (`None`: no expiry).
    pub fn default_ttl(mut self, ttl: Option<Duration>) -> Bucket {
        self.default_ttl = ttl;
        self
    }
}

/// The buckets an application may open, by name.
#[derive(Debug, Clone, Default)]
pub struct Buckets {
    map: BTreeMap<String, Bucket>,
}

impl Buckets {
    /// No buckets: every `open` answers `no-such-store`.
    pub fn new() -> Buckets {
        Buckets::default()
    }

    /// Adds (or replaces) bucket `name`.
    pub fn with(mut self, name: impl Into<String>, bucket: Bucket) -> Buckets {
        self.map.insert(name.into(), bucket);
        self
    }

    /// The buckets of a configuration file's `keyvalue:` section, each served by its
    /// cache in `caches` with the cache's key prefix and default TTL.
    pub fn from_caches(caches: &Caches, config: &KeyvalueConfig) -> Result<Buckets, Error> {
        let mut buckets = Buckets::new();
        for (name, cache) in &config.buckets {
            let named = |source| Error::Bucket {
                bucket: name.clone(),
                source: Box::new(source),
            };
            let provider = caches.provider(cache).map_err(named)?;
            let settings = caches.config(cache).map_err(named)?;
            buckets = buckets.with(
                name.clone(),
                Bucket::new(provider)
                    .key_prefix(settings.key_prefix.clone())
                    .default_ttl(settings.default_ttl),
            );
        }
        Ok(buckets)
    }

    /// The bucket names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.map.keys().map(String::as_str).collect()
    }

    fn get(&self, name: &str) -> Option<&Bucket> {
        self.map.get(name)
    }
}

/// The `wasi:keyvalue` state of one store: its buckets. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct KeyValueCtx {
    buckets: Arc<Buckets>,
}

impl KeyValueCtx {
    /// A context serving `buckets`.
    pub fn new(buckets: Buckets) -> KeyValueCtx {
        KeyValueCtx {
            buckets: Arc::new(buckets),
        }
    }
}

/// What the host functions work on: the context and the store's resource table (where
/// open buckets live).
pub struct KeyValue<'a> {
    ctx: &'a KeyValueCtx,
    table: &'a mut ResourceTable,
}

impl<'a> KeyValue<'a> {
    /// A view over `ctx` and the store's `table`.
    pub fn new(ctx: &'a KeyValueCtx, table: &'a mut ResourceTable) -> KeyValue<'a> {
        KeyValue { ctx, table }
    }
}

impl std::fmt::Debug for KeyValue<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyValue")
            .field("buckets", &self.ctx.buckets.names())
            .finish_non_exhaustive()
    }
}

struct HasKeyValue;

impl HasData for HasKeyValue {
    type Data<'a> = KeyValue<'a>;
}

/// Adds `wasi:keyvalue/store`, `atomics` and `batch` (`0.2.0-draft`) to `linker`; `get`
/// gives the view of a store's data. The functions are asynchronous: instantiate and
/// call with the `_async` functions (as [`app::App::run`] does).
///
/// ```no_run
/// use byoc_keyvalue::{KeyValue, KeyValueCtx};
/// use wasmtime::component::{Linker, ResourceTable};
///
/// struct Data { table: ResourceTable, keyvalue: KeyValueCtx }
///
/// fn link(linker: &mut Linker<Data>) -> wasmtime::Result<()> {
///     byoc_keyvalue::add_to_linker(linker, |d: &mut Data| KeyValue::new(&d.keyvalue, &mut d.table))
/// }
/// ```
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> KeyValue<'_>,
) -> wasmtime::Result<()> {
    bindings::Imports::add_to_linker::<T, HasKeyValue>(linker, get)
}
