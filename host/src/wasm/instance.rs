//! One sandboxed adapter instance: its store, its limits, and what happens when it traps.

use super::bindings::{Adapter, ConfigEntry};
use super::grants::Grants;
use super::http::GrantedHttp;
use super::runtime::AdapterComponent;
use crate::{Error, Result};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Default [`Limits::memory_bytes`]: 256 MiB.
pub const DEFAULT_MEMORY_BYTES: usize = 256 << 20;
/// Default [`Limits::call_deadline`]: 1 s.
pub const DEFAULT_CALL_DEADLINE: Duration = Duration::from_secs(1);
/// Default [`Limits::max_value_bytes`]: 16 MiB.
pub const DEFAULT_MAX_VALUE_BYTES: usize = 16 << 20;

/// Resource limits of each instance of a wasm adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Limits {
    /// Linear memory of one instance (default [`DEFAULT_MEMORY_BYTES`]). A guest that
    /// needs more fails its allocation, which traps.
    pub memory_bytes: usize,
    /// Wall-clock time one call may run (default [`DEFAULT_CALL_DEADLINE`]), enforced by
    /// epoch interruption; a call past it fails with
    /// [`Error::DeadlineExceeded`](crate::Error::DeadlineExceeded).
    pub call_deadline: Duration,
    /// Largest value the host passes to the adapter (default [`DEFAULT_MAX_VALUE_BYTES`]);
    /// a larger one fails with [`Error::ValueTooLarge`](crate::Error::ValueTooLarge)
    /// without reaching the guest.
    pub max_value_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: DEFAULT_MEMORY_BYTES,
            call_deadline: DEFAULT_CALL_DEADLINE,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
        }
    }
}

/// What a store holds: a WASI context that grants nothing, and the limits.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    http: WasiHttpCtx,
    http_hooks: GrantedHttp,
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.http_hooks,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A live instance.
pub(crate) struct Live {
    pub(crate) store: Store<HostState>,
    pub(crate) adapter: Adapter,
}

/// What every instance of one wasm provider shares.
pub(crate) struct Shared {
    pub(crate) component: AdapterComponent,
    pub(crate) engine: Engine,
    pub(crate) config: Vec<ConfigEntry>,
    pub(crate) limits: Limits,
    pub(crate) grants: Grants,
    pub(crate) deadline_ticks: u64,
    pub(crate) traps: AtomicU64,
    pub(crate) instantiations: AtomicU64,
}

impl Shared {
    pub(crate) fn name(&self) -> &str {
        &self.component.name
    }

    /// A fresh store: only the grants' capabilities (see [`Grants`]), memory and
    /// call-time limits applied.
    fn store(&self) -> Result<Store<HostState>> {
        let limits = StoreLimitsBuilder::new()
            .memory_size(self.limits.memory_bytes)
            .table_elements(1 << 16)
            .instances(64)
            .tables(64)
            .memories(16)
            .build();
        let mut wasi = WasiCtx::builder();
        self.grants.apply(&mut wasi)?;
        let mut store = Store::new(
            &self.engine,
            HostState {
                wasi: wasi.build(),
                table: ResourceTable::new(),
                limits,
                http: WasiHttpCtx::new(),
                http_hooks: GrantedHttp::new(self.grants.http.clone()),
            },
        );
        store.limiter(|state| &mut state.limits);
        store.set_epoch_deadline(self.deadline_ticks);
        Ok(store)
    }

    /// Instantiates the component in a fresh store without initialising it.
    pub(crate) async fn instantiate(&self) -> Result<Live> {
        let mut store = self.store()?;
        let adapter = self.component.pre.instantiate_async(&mut store).await;
        let adapter = adapter.map_err(|e| self.trap_error(e))?;
        self.instantiations.fetch_add(1, Ordering::Relaxed);
        Ok(Live { store, adapter })
    }

    /// Instantiates and initialises a new instance.
    pub(crate) async fn start(&self) -> Result<Live> {
        let live = self.instantiate().await?;
        self.init(live).await
    }

    /// Initialises an instantiated instance with the provider's configuration.
    pub(crate) async fn init(&self, mut live: Live) -> Result<Live> {
        let result = live
            .adapter
            .byoc_cache_lifecycle()
            .call_init(&mut live.store, &self.config)
            .await;
        match result {
            Ok(Ok(())) => Ok(live),
            Ok(Err(e)) => Err(e.into()),
            Err(e) => Err(self.trap_error(e)),
        }
    }

    /// The live instance in `slot`, started if there is none (first use, or the previous
    /// one trapped). Arms the call deadline.
    pub(crate) async fn ensure<'a>(&self, slot: &'a mut Option<Live>) -> Result<&'a mut Live> {
        let live = match slot {
            Some(live) => live,
            None => slot.insert(self.start().await?),
        };
        live.store.set_epoch_deadline(self.deadline_ticks);
        Ok(live)
    }

    /// Turns a call's outcome into the caller's result. A trap discards the instance.
    pub(crate) fn settle<R>(
        &self,
        slot: &mut Option<Live>,
        outcome: wasmtime::Result<Result<R, super::bindings::byoc::cache::types::Error>>,
    ) -> Result<R> {
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(e.into()),
            Err(e) => {
                *slot = None;
                Err(self.trap_error(e))
            }
        }
    }

    /// Describes a wasmtime error of this adapter, counting it as a trap.
    pub(crate) fn trap_error(&self, e: wasmtime::Error) -> Error {
        self.traps.fetch_add(1, Ordering::Relaxed);
        match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => Error::DeadlineExceeded {
                adapter: self.name().to_owned(),
                deadline: self.limits.call_deadline,
            },
            Some(trap) => Error::Trapped {
                adapter: self.name().to_owned(),
                reason: trap.to_string(),
            },
            None => Error::Trapped {
                adapter: self.name().to_owned(),
                reason: format!("{e:#}"),
            },
        }
    }
}
