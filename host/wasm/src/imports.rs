//! Which imports an adapter component may have. Checked when a component is loaded, so
//! a component that asks for a capability BYOC never grants fails at once with a clear
//! message instead of running with a silently useless import.

use crate::{Error, Result};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Interfaces an adapter may import (package/interface, any version). Everything else is
/// refused at load, except [`TCP_GRANT_IMPORTS`], which a provider accepts only with a TCP
/// grant.
///
/// - `byoc:cache/*`: the contract's own types, the `inner` layers of a wrapper, and
///   host-provided backends such as `redis`;
/// - `wasi:io`, `wasi:clocks`, `wasi:random`: no authority;
/// - `wasi:cli`: empty environment and arguments, closed stdin, discarded output;
/// - `wasi:filesystem`: only directories a grant preopens are visible;
/// - `wasi:http`: outgoing requests, refused by the host unless a grant names the origin.
pub const ALLOWED_IMPORTS: &[&str] = &[
    "byoc:cache/types",
    "byoc:cache/inner",
    "byoc:cache/redis",
    "wasi:io/poll",
    "wasi:io/error",
    "wasi:io/streams",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
    "wasi:http/types",
    "wasi:http/outgoing-handler",
];

/// The `wasi:sockets` interfaces: a component importing any of them loads, but a provider
/// over it is refused unless its grants include a TCP grant (`grants: { tcp: [...] }`),
/// which opens outbound TCP to the granted endpoints only. UDP stays denied at run time
/// (libc-based guests import it with TCP).
pub const TCP_GRANT_IMPORTS: &[&str] = &[
    "wasi:sockets/network",
    "wasi:sockets/instance-network",
    "wasi:sockets/tcp",
    "wasi:sockets/tcp-create-socket",
    "wasi:sockets/ip-name-lookup",
    "wasi:sockets/udp",
    "wasi:sockets/udp-create-socket",
];

/// The names a component imports, without versions (e.g. `wasi:io/poll`).
pub fn imported_interfaces(engine: &Engine, component: &Component) -> Vec<String> {
    component
        .component_type()
        .imports(engine)
        .map(|(name, _)| unversioned(name).to_owned())
        .collect()
}

fn unversioned(name: &str) -> &str {
    name.split_once('@').map_or(name, |(n, _)| n)
}

/// Fails with [`Error::Load`] naming every import outside [`ALLOWED_IMPORTS`].
pub(crate) fn check(engine: &Engine, component: &Component, name: &str) -> Result<()> {
    let refused: Vec<String> = imported_interfaces(engine, component)
        .into_iter()
        .filter(|i| {
            !ALLOWED_IMPORTS.contains(&i.as_str()) && !TCP_GRANT_IMPORTS.contains(&i.as_str())
        })
        .collect();
    if refused.is_empty() {
        return Ok(());
    }
    Err(Error::Load {
        component: name.to_owned(),
        reason: format!(
            "it imports {}, which BYOC does not provide to adapters (allowed: byoc:cache, \
             wasi:io, wasi:clocks, wasi:random, wasi:cli, wasi:filesystem, wasi:http, and \
             wasi:sockets with a TCP grant)",
            refused.join(", ")
        ),
    })
}

/// The `wasi:sockets` interfaces among `imports` (names with or without versions).
pub fn socket_imports<'a>(imports: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    imports
        .into_iter()
        .filter(|i| TCP_GRANT_IMPORTS.contains(&unversioned(i)))
        .collect()
}

/// Fails with [`Error::Load`] when `component` imports `wasi:sockets` and there is no TCP
/// grant.
pub(crate) fn check_grants(
    component: &crate::AdapterComponent,
    grants: &crate::Grants,
) -> Result<()> {
    let sockets = socket_imports(component.imports().iter().map(String::as_str));
    if sockets.is_empty() || grants.tcp.is_some() {
        return Ok(());
    }
    Err(Error::Load {
        component: component.name().to_owned(),
        reason: format!(
            "it imports {}, which needs a TCP grant naming the endpoints it may reach \
             (`grants: {{ tcp: [\"host:port\"] }}`); it has none",
            sockets.join(", ")
        ),
    })
}
