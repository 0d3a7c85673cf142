//! `wasi:sockets` for adapters with a [`TcpGrant`]: outbound TCP to granted endpoints only.
//!
//! wasmtime-wasi checks every socket address an instance uses against the store's
//! address check, before any system call: here a connect passes only when
//! [`TcpGrant::allows_connect`] says so, the implicit bind of a connect (wildcard
//! address, port 0) passes, and everything else (explicit binds, listening, accepting,
//! UDP) fails. UDP and name lookups are also switched off in the context, except lookups
//! for a grant, which this module's `ip-name-lookup` answers only for granted names (it
//! shadows wasmtime-wasi's in the linker). Its `tcp-create-socket` counts the instance's
//! open TCP sockets and refuses one beyond [`TcpGrant::max_connections`]. Sockets live in
//! the store's resource table, so they close with the instance. A guest waiting on a
//! socket waits in a host future, which the call's wall-clock deadline bounds.

use crate::grants::TcpGrant;
use crate::state::HostState;
use crate::{Error, Result};
use std::net::SocketAddr;
use std::sync::Arc;
use wasmtime::component::{HasData, Linker, Resource};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p2::bindings::sockets::network::{self, ErrorCode, IpAddressFamily, Network};
use wasmtime_wasi::p2::bindings::sockets::{ip_name_lookup, tcp_create_socket};
use wasmtime_wasi::p2::{SocketError, SocketResult, TcpSocket};
use wasmtime_wasi::sockets::{SocketAddrUse, WasiSocketsCtxView};

/// Opens the context's sockets as far as `grant` allows.
pub(crate) fn apply(grant: &TcpGrant, wasi: &mut WasiCtxBuilder) {
    let grant = Arc::new(grant.clone());
    wasi.allow_tcp(true)
        .allow_udp(false)
        .allow_ip_name_lookup(true)
        .socket_addr_check(move |addr: SocketAddr, used: SocketAddrUse| {
            let grant = Arc::clone(&grant);
            Box::pin(async move {
                match used {
                    SocketAddrUse::TcpConnect => grant.allows_connect(addr).await,
                    // A connect's implicit bind; an explicit bind to the wildcard with
                    // port 0 is the same and still cannot listen.
                    SocketAddrUse::TcpBind => addr.ip().is_unspecified() && addr.port() == 0,
                    _ => false,
                }
            })
        });
}

/// Links this module's `ip-name-lookup` and `tcp-create-socket` over wasmtime-wasi's.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> Result<()> {
    let err = |e: wasmtime::Error| Error::Internal(format!("linking wasi:sockets: {e:#}"));
    linker.allow_shadowing(true);
    let linked = ip_name_lookup::add_to_linker::<HostState, Granted>(linker, view)
        .and_then(|()| tcp_create_socket::add_to_linker::<HostState, Granted>(linker, view));
    linker.allow_shadowing(false);
    linked.map_err(err)
}

/// The sockets view of a store together with its TCP grant.
pub(crate) struct GrantedView<'a> {
    sockets: WasiSocketsCtxView<'a>,
    grant: Option<&'a TcpGrant>,
}

struct Granted;

impl HasData for Granted {
    type Data<'a> = GrantedView<'a>;
}

fn view(state: &mut HostState) -> GrantedView<'_> {
    GrantedView {
        sockets: WasiSocketsCtxView {
            ctx: state.wasi.sockets(),
            table: &mut state.table,
        },
        grant: state.tcp.as_deref(),
    }
}

impl ip_name_lookup::Host for GrantedView<'_> {
    fn resolve_addresses(
        &mut self,
        network: Resource<Network>,
        name: String,
    ) -> SocketResult<Resource<ip_name_lookup::ResolveAddressStream>> {
        if !self.grant.is_some_and(|g| g.allows_lookup(&name)) {
            return Err(ErrorCode::PermanentResolverFailure.into());
        }
        ip_name_lookup::Host::resolve_addresses(&mut self.sockets, network, name)
    }
}

impl ip_name_lookup::HostResolveAddressStream for GrantedView<'_> {
    fn resolve_next_address(
        &mut self,
        stream: Resource<ip_name_lookup::ResolveAddressStream>,
    ) -> SocketResult<Option<network::IpAddress>> {
        ip_name_lookup::HostResolveAddressStream::resolve_next_address(&mut self.sockets, stream)
    }

    fn subscribe(
        &mut self,
        stream: Resource<ip_name_lookup::ResolveAddressStream>,
    ) -> wasmtime::Result<Resource<wasmtime_wasi::p2::DynPollable>> {
        ip_name_lookup::HostResolveAddressStream::subscribe(&mut self.sockets, stream)
    }

    fn drop(
        &mut self,
        stream: Resource<ip_name_lookup::ResolveAddressStream>,
    ) -> wasmtime::Result<()> {
        ip_name_lookup::HostResolveAddressStream::drop(&mut self.sockets, stream)
    }
}

impl tcp_create_socket::Host for GrantedView<'_> {
    fn create_tcp_socket(&mut self, family: IpAddressFamily) -> SocketResult<Resource<TcpSocket>> {
        let Some(grant) = self.grant else {
            return Err(ErrorCode::AccessDenied.into());
        };
        let open = self
            .sockets
            .table
            .iter_mut()
            .filter(|entry| entry.is::<TcpSocket>())
            .count();
        if open >= grant.max_connections {
            return Err(ErrorCode::NewSocketLimit.into());
        }
        tcp_create_socket::Host::create_tcp_socket(&mut self.sockets, family)
    }
}

impl network::Host for GrantedView<'_> {
    fn convert_error_code(&mut self, error: SocketError) -> wasmtime::Result<ErrorCode> {
        network::Host::convert_error_code(&mut self.sockets, error)
    }

    fn network_error_code(
        &mut self,
        err: Resource<wasmtime_wasi::p2::bindings::io::error::Error>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        network::Host::network_error_code(&mut self.sockets, err)
    }
}

impl network::HostNetwork for GrantedView<'_> {
    fn drop(&mut self, network: Resource<Network>) -> wasmtime::Result<()> {
        network::HostNetwork::drop(&mut self.sockets, network)
    }
}
