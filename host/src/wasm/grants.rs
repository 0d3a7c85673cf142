//! What an adapter instance may reach beyond its own memory: nothing unless granted.
//!
//! Every store starts from a WASI context that grants nothing — no preopened
//! directories, no environment variables, no arguments, stdin closed, stdout and stderr
//! discarded, every socket address denied, no name lookups. Clocks and randomness are
//! always available (they reach nothing). Each capability an adapter needs is added here,
//! explicitly, from its cache's configuration.

use crate::Result;
use wasmtime_wasi::WasiCtxBuilder;

/// The capabilities granted to every instance of one wasm provider. The default grants
/// nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct Grants {
    /// Native Redis through the host's `redis` import (see [`crate::redis`]).
    pub(crate) redis: Option<crate::redis::RedisLink>,
}

impl Grants {
    /// No capability at all (the default).
    pub fn none() -> Self {
        Grants::default()
    }

    /// Grants the host's `redis` import on `grant`'s server or cluster, under its namespace.
    /// The connection is made on first use and shared by every clone of these grants
    /// (every instance of the provider).
    pub fn with_redis(mut self, grant: crate::redis::RedisGrant) -> Self {
        self.redis = Some(crate::redis::RedisLink::new(grant));
        self
    }

    /// Adds the granted WASI capabilities to a fresh context.
    pub(crate) fn apply(&self, _wasi: &mut WasiCtxBuilder) -> Result<()> {
        Ok(())
    }
}
