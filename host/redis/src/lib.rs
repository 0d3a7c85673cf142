//! Native Redis offered to adapters as the host import `byoc:cache/redis` (`wit/redis.wit`).
//!
//! The host owns the connection (the `redis` crate on tokio: for one server a reconnecting
//! multiplexed connection driven by its callers, module `driven`, or `ConnectionManager`
//! over TLS; a cluster connection for Redis Cluster); adapters
//! never get a socket. A provider's [`Grants`] may carry a [`RedisGrant`] ([`WithRedis`]);
//! every store of that provider shares one connection. Without a grant every import call
//! answers `denied`.
//!
//! The namespace is enforced here: every key is prefixed, scan patterns are confined to the
//! prefix (its glob characters escaped) and results filtered, `clear` is SCAN + UNLINK of
//! the prefix only, and KEYS / FLUSHDB / FLUSHALL are never sent.
//!
//! Concurrent single-key reads (`get`, `exists`, `pttl`) on one server are auto-pipelined:
//! batched into one MGET or one pipeline per round trip (module `batch`; limit
//! [`RedisGrant::max_batch`], default [`DEFAULT_REDIS_MAX_BATCH`]). One level up, the
//! `redis` provider (`byoc::redis::redis_provider`) coalesces concurrent `get`s before they
//! enter the sandbox (see [coalesced reads](byoc_wasm::WasmProvider#coalesced-reads)): many
//! callers, one wasm call, one MGET.
//!
//! The import is linked like wasmtime's `wasi-keyvalue`, through a closure from the
//! embedder's store data to the store's [`RedisSlot`] ([`add_to_linker`]); [`RedisImport`]
//! does so for `byoc-wasm`'s runtime ([`link`]).

mod batch;
mod conn;
#[cfg(test)]
mod deadline_tests;
mod driven;
#[cfg(test)]
mod fuzz_tests;
mod grant;
mod ops;
mod shared;
mod tracking;

pub use tracking::{RedisInvalidation, TRACKING_RETRY_MAX};

pub use grant::{
    DEFAULT_REDIS_CONNECT_TIMEOUT, DEFAULT_REDIS_DEADLINE, DEFAULT_REDIS_MAX_BATCH,
    DEFAULT_REDIS_RESPONSE_TIMEOUT, NAMESPACE_SEPARATOR, RedisGrant, RedisTarget,
};

use byoc_core::{Error, Result};
use byoc_wasm::extension::{ExtensionGrant, Held, StoreExtension};
use byoc_wasm::{Grants, HostImport, HostState, Runtime};
use std::any::Any;
use std::sync::Arc;

/// Private bindings of the import side of world `redis-client`.
mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "redis-client",
        imports: { default: async },
        with: {
            "byoc:cache/types": byoc_wasm::bindings::byoc::cache::types,
        },
    });
}

/// A granted, shared Redis connection (cheap to clone). Compares and prints as its grant.
#[derive(Clone)]
pub(crate) struct RedisLink(pub(crate) Arc<shared::Shared>);

impl RedisLink {
    pub(crate) fn new(grant: RedisGrant) -> RedisLink {
        RedisLink(shared::Shared::new(grant))
    }
}

impl PartialEq for RedisLink {
    fn eq(&self, other: &Self) -> bool {
        self.0.grant == other.0.grant
    }
}

impl Eq for RedisLink {}

impl std::fmt::Debug for RedisLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.grant.fmt(f)
    }
}

/// What a store holds for the `redis` import: the grant's connection, if any, and the
/// answer of the last `mget-held` (see `wit/redis.wit`), until the adapter hands it back.
/// The default has no connection: every call is denied.
#[derive(Default)]
pub struct RedisSlot {
    link: Option<RedisLink>,
    held: Option<Vec<Option<Vec<u8>>>>,
}

impl RedisSlot {
    /// A store's slot over `link` (`None`: no grant, every call is denied).
    pub(crate) fn new(link: Option<RedisLink>) -> RedisSlot {
        RedisSlot { link, held: None }
    }

    /// The slot of a store run under `grants`: over their Redis connection (shared with
    /// every other store of these grants), or denying every call without a Redis grant.
    /// For embedders that link the import with [`add_to_linker`] into a store of their own.
    pub fn for_grants(grants: &Grants) -> RedisSlot {
        RedisSlot::new(grants.extension::<RedisLink>().cloned())
    }

    /// A slot over the same connection, holding nothing.
    #[cfg(test)]
    pub(crate) fn share(&self) -> RedisSlot {
        RedisSlot::new(self.link.clone())
    }

    /// The answer of the last `mget-held`, if any; the slot no longer holds it.
    pub(crate) fn take_held(&mut self) -> Option<Vec<Option<Vec<u8>>>> {
        self.held.take()
    }
}

impl StoreExtension for RedisSlot {
    fn take_held(&mut self) -> Option<Held> {
        RedisSlot::take_held(self)
    }
}

impl ExtensionGrant for RedisLink {
    fn store_extension(&self) -> Box<dyn StoreExtension> {
        Box::new(RedisSlot::new(Some(self.clone())))
    }

    fn same_grant(&self, other: &dyn ExtensionGrant) -> bool {
        other.as_any().downcast_ref::<RedisLink>() == Some(self)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The Redis grant on [`Grants`].
pub trait WithRedis {
    /// Grants the host's `redis` import on `grant`'s server or cluster, under its
    /// namespace. The connection is made on first use and shared by every clone of these
    /// grants (every instance of the provider).
    #[must_use]
    fn with_redis(self, grant: RedisGrant) -> Self;

    /// Whether the host's `redis` import is granted.
    fn has_redis(&self) -> bool;
}

impl WithRedis for Grants {
    fn with_redis(self, grant: RedisGrant) -> Self {
        self.with_extension(RedisLink::new(grant))
    }

    fn has_redis(&self) -> bool {
        self.extension::<RedisLink>().is_some()
    }
}

/// Adds the `redis` import to `linker`, served from the [`RedisSlot`] that `get` finds in
/// a store's data (generic over the embedder's store type, like wasmtime's
/// `wasi-keyvalue`).
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
    get: fn(&mut T) -> &mut RedisSlot,
) -> Result<()> {
    bindings::byoc::cache::redis::add_to_linker::<T, wasmtime::component::HasSelf<RedisSlot>>(
        linker, get,
    )
    .map_err(|e| Error::Internal(format!("linking the redis import: {e:#}")))
}

/// The `redis` import for `byoc-wasm`'s [`Runtime`]: each store's slot is its
/// [`HostState::extension`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RedisImport;

impl HostImport for RedisImport {
    fn interface(&self) -> &'static str {
        "byoc:cache/redis"
    }

    fn add_to_linker(&self, linker: &mut wasmtime::component::Linker<HostState>) -> Result<()> {
        add_to_linker(linker, HostState::extension::<RedisSlot>)
    }
}

/// Links the `redis` import into `runtime` (once; see [`Runtime::link`]).
pub fn link(runtime: &Runtime) -> Result<()> {
    runtime.link(&RedisImport)
}
