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
pub struct Grants {}

impl Grants {
    /// No capability at all (the default).
    pub fn none() -> Self {
        Grants::default()
    }

    /// Adds the granted WASI capabilities to a fresh context.
    pub(crate) fn apply(&self, _wasi: &mut WasiCtxBuilder) -> Result<()> {
        Ok(())
    }
}
