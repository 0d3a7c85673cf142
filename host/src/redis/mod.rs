//! Native Redis offered to adapters as the host import `byoc:cache/redis` (`wit/redis.wit`).
//!
//! The host owns the connection (the `redis` crate on tokio: a reconnecting
//! `ConnectionManager` for one server, a cluster connection for Redis Cluster); adapters
//! never get a socket. A provider's [`Grants`](crate::Grants) may carry a [`RedisGrant`];
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
//! [`redis` provider](redis_provider) coalesces concurrent `get`s before they enter the
//! sandbox (see [coalesced reads](crate::WasmProvider#coalesced-reads)): many callers, one
//! wasm call, one MGET.

mod batch;
mod conn;
#[cfg(test)]
mod deadline_tests;
#[cfg(test)]
mod fuzz_tests;
mod grant;
mod ops;
mod provider;
mod tracking;

pub(crate) use provider::factory;
pub use provider::{
    DEFAULT_REDIS_INSTANCES, REDIS, grant_from_config, redis_provider, redis_provider_with,
};

pub use tracking::{RedisInvalidation, TRACKING_RETRY_MAX};

pub use grant::{
    DEFAULT_REDIS_CONNECT_TIMEOUT, DEFAULT_REDIS_DEADLINE, DEFAULT_REDIS_MAX_BATCH,
    DEFAULT_REDIS_RESPONSE_TIMEOUT, NAMESPACE_SEPARATOR, RedisGrant, RedisTarget,
};

use crate::wasm::HostState;
use crate::{Error, Result};
use std::sync::Arc;

/// Private bindings of the import side of world `redis-client`.
mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "redis-client",
        imports: { default: async },
        with: {
            "byoc:cache/types": crate::wasm::bindings::byoc::cache::types,
        },
    });
}

/// A granted, shared Redis connection (cheap to clone). Compares and prints as its grant.
#[derive(Clone)]
pub(crate) struct RedisLink(pub(crate) Arc<conn::Connection>);

impl RedisLink {
    pub(crate) fn new(grant: RedisGrant) -> RedisLink {
        RedisLink(conn::Connection::new(grant))
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
#[derive(Default)]
pub(crate) struct RedisSlot {
    link: Option<RedisLink>,
    held: Option<Vec<Option<Vec<u8>>>>,
}

impl RedisSlot {
    /// A store's slot over `link` (`None`: no grant, every call is denied).
    pub(crate) fn new(link: Option<RedisLink>) -> RedisSlot {
        RedisSlot { link, held: None }
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

/// Adds the `redis` import to `linker`, served from each store's [`RedisSlot`].
pub(crate) fn add_to_linker(linker: &mut wasmtime::component::Linker<HostState>) -> Result<()> {
    bindings::byoc::cache::redis::add_to_linker::<HostState, wasmtime::component::HasSelf<RedisSlot>>(
        linker,
        |state| state.redis_slot(),
    )
    .map_err(|e| Error::Internal(format!("linking the redis import: {e:#}")))
}
