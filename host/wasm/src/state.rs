//! What a store holds: a WASI context that grants nothing, the limits, the layers below
//! a wrapper, and the state of host imports.

use super::extension::{Held, StoreExtension, StoreExtensions};
use super::http::GrantedHttp;
use super::instance::StderrTail;
use crate::Provider;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// What a store holds: a WASI context that grants nothing, the limits, and the state of
/// host imports ([`HostState::extension`]).
pub struct HostState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limits: StoreLimits,
    /// The providers below a wrapper (the `inner` import); empty for an adapter.
    pub(crate) layers: Vec<Arc<dyn Provider>>,
    /// How long a call may run ([`Limits::call_deadline`](crate::Limits::call_deadline)).
    pub(crate) call_deadline: Duration,
    /// When the running call's deadline passes: set at the first epoch tick the call
    /// sees (so a call that ends before the next tick never reads the clock).
    pub(crate) deadline_at: Option<Instant>,
    /// Whether calls run on a fiber, yielding to the executor at epoch ticks; false
    /// for an instance called synchronously (it keeps running until its deadline).
    pub(crate) yields: bool,
    /// The state of host imports added by extensions ([`crate::extension`]).
    pub(crate) extensions: StoreExtensions,
    pub(crate) http: WasiHttpCtx,
    pub(crate) http_hooks: GrantedHttp,
    /// The TCP grant, for name lookups and the socket limit (module `tcp`).
    pub(crate) tcp: Option<Arc<crate::grants::TcpGrant>>,
    /// The last bytes the guest wrote to stderr (a Rust panic's message lands there).
    pub(crate) stderr: StderrTail,
}

impl HostState {
    /// The store's state of a host import ([`crate::extension`]), its default added
    /// first if the store has none. The function an import's `add_to_linker` is given.
    pub fn extension<T: StoreExtension + Default>(&mut self) -> &mut T {
        self.extensions.get_or_default()
    }

    /// The answer a host import holds for the host, if any; taken once.
    pub(crate) fn take_held(&mut self) -> Option<Held> {
        self.extensions.take_held()
    }
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
