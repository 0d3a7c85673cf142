//! [`Runtime::instantiate_probe`]: start one bare instance of a component and drop it.

use super::grants::Grants;
use super::instance::Shared;
use super::limits::Limits;
use super::quarantine::QuarantineState;
use super::runtime::{AdapterComponent, Runtime};
use crate::{Error, Result};
use std::sync::atomic::AtomicU64;

impl Runtime {
    /// Instantiates `component` once in a fresh store (no grants, default [`Limits`]),
    /// without calling into it, and drops the instance: checks that the component links
    /// and starts on this runtime. This is the step a [`WasmProvider`](crate::WasmProvider)
    /// repeats for each instance it starts; the benchmarks time it. With `sync`, linked
    /// and started as for [synchronous calls](crate::wasm::WasmProviderBuilder::sync_calls)
    /// (an [`Error::InvalidArgument`] if the component cannot take them).
    pub async fn instantiate_probe(&self, component: &AdapterComponent, sync: bool) -> Result<()> {
        let limits = Limits::default();
        let sync = match sync {
            false => None,
            true => Some(self.sync_exports(component).ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "component `{}` imports something that can wait: it cannot be called \
                     synchronously",
                    component.name()
                ))
            })?),
        };
        let shared = Shared {
            engine: self.inner().engine.clone(),
            config: std::sync::OnceLock::new(),
            component: component.clone(),
            quarantine: QuarantineState::new(limits.quarantine.clone()),
            limits,
            grants: Grants::none(),
            layers: Vec::new(),
            traps: AtomicU64::new(0),
            instantiations: AtomicU64::new(0),
            sync,
        };
        shared.instantiate().await.map(drop)
    }
}
