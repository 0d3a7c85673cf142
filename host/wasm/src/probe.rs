//! [`Runtime::instantiate_probe`]: start one bare instance of a component and drop it.

use super::grants::Grants;
use super::http::GrantedHttp;
use super::instance::Shared;
use super::limits::Limits;
use super::quarantine::QuarantineState;
use super::runtime::{AdapterComponent, Runtime};
use crate::Result;
use std::sync::atomic::AtomicU64;

impl Runtime {
    /// Instantiates `component` once in a fresh store (no grants, default [`Limits`]),
    /// without calling into it, and drops the instance: checks that the component links
    /// and starts on this runtime. This is the step a [`WasmProvider`](crate::WasmProvider)
    /// repeats for each instance it starts; the benchmarks time it. With `sync`, linked
    /// and started as for [synchronous calls](crate::WasmProviderBuilder::sync_calls)
    /// (the error of [`Runtime::can_call_sync`] if the component cannot take them).
    pub async fn instantiate_probe(&self, component: &AdapterComponent, sync: bool) -> Result<()> {
        let limits = Limits::default();
        let sync = match sync {
            false => None,
            true => Some(self.linked_for_sync(component)?),
        };
        let shared = Shared {
            engine: self.inner().engine.clone(),
            config: std::sync::OnceLock::new(),
            component: component.clone(),
            quarantine: QuarantineState::new(limits.quarantine.clone()),
            limits,
            grants: Grants::none(),
            http: GrantedHttp::default(),
            layers: Vec::new(),
            traps: AtomicU64::new(0),
            instantiations: AtomicU64::new(0),
            abandoned: AtomicU64::new(0),
            sync,
        };
        shared.instantiate().await.map(drop)
    }
}
