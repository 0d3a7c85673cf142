//! What an adapter instance may reach beyond its own memory: nothing unless granted.
//!
//! Every store starts from a WASI context that grants nothing — no preopened
//! directories, no environment variables, no arguments, stdin closed, stdout and stderr
//! discarded, every socket address denied, no name lookups, and every outgoing
//! `wasi:http` request refused. Clocks and randomness are always available (they reach
//! nothing). Each capability an adapter needs is added here, explicitly, from its cache's
//! configuration:
//!
//! - [`Grants::dir`]: one host directory, preopened at a guest path, read-only or
//!   read-write ([`DirAccess`]). Nothing outside it is reachable (WASI resolves every
//!   path, `..` and symlinks included, inside the preopen).
//! - [`Grants::http`]: the HTTP origins (scheme, host, port) an adapter may send
//!   `wasi:http` requests to ([`HttpGrant`]). Any other origin is refused by the host
//!   before a connection is made; the host never follows redirects. Connections to the
//!   granted origins are pooled per provider and `https` is verified against the
//!   system's roots or the grant's CA file.
//!   before a connection is made; the host never follows redirects.
//! - [`Grants::tcp`]: the `host:port` pairs an adapter may open TCP connections to
//!   ([`TcpGrant`]), through `wasi:sockets`: outbound connects only, name lookups only of
//!   granted names, at most [`TcpGrant::max_connections`](TcpGrant#structfield.max_connections) sockets per instance (module
//!   `tcp`).

use crate::extension::{ExtensionGrant, StoreExtensions};
use crate::{Error, Result};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// The capabilities granted to every instance of one wasm provider. The default grants
/// nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct Grants {
    /// Capabilities of host imports added by extensions (Redis: `byoc-redis`).
    pub(crate) extensions: ExtensionGrants,
    /// Directories preopened for the adapter.
    pub dirs: Vec<DirGrant>,
    /// Origins the adapter may send HTTP requests to; `None`: every request is refused.
    pub http: Option<HttpGrant>,
    /// Endpoints the adapter may connect to over TCP; `None`: no socket at all, and a
    /// component importing `wasi:sockets` is refused.
    pub tcp: Option<TcpGrant>,
    /// Whether file operations in granted directories run on a blocking-pool thread
    /// instead of the calling worker thread (default `false`: on the worker thread).
    ///
    /// On the worker thread, an operation costs what the system call costs, as with
    /// `std::fs`. Offloaded, each one (open, stat, read, each directory entry) adds a hop
    /// to another thread and back, which costs several times the read itself from the page
    /// cache (BENCHMARKS.md). Offload only for a directory on a file
    /// system that can stall (a network mount): an offloaded call past its deadline
    /// returns [`crate::Error::DeadlineExceeded`] at once, while an operation stuck on the
    /// worker thread holds that thread, and the caller, until the system call returns.
    pub offload_file_io: bool,
}

/// The extension grants of a [`Grants`], at most one of each type, in the order added.
#[derive(Clone, Default)]
pub(crate) struct ExtensionGrants(Vec<Arc<dyn ExtensionGrant>>);

impl PartialEq for ExtensionGrants {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .all(|g| other.0.iter().any(|o| g.same_grant(&**o)))
    }
}

impl Eq for ExtensionGrants {}

impl std::fmt::Debug for ExtensionGrants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.iter()).finish()
    }
}

/// How a granted directory may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirAccess {
    /// List and read files only: every write fails (the adapter reports `denied`).
    ReadOnly,
    /// Read, create, replace and remove files.
    ReadWrite,
}

/// One directory grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGrant {
    /// The directory on the host.
    pub host: PathBuf,
    /// Where the adapter sees it (e.g. `/data`).
    pub guest: String,
    /// Read-only or read-write.
    pub access: DirAccess,
}

/// The HTTP grant: which origins an adapter may reach, and for how long a request may
/// wait at most.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpGrant {
    /// Allowed origins, normalised as `scheme://host:port` (lowercase, explicit port).
    pub origins: Vec<String>,
    /// Upper bound the host puts on each of a request's timeouts (connect, first byte,
    /// between bytes), whatever the adapter asks for (default 30 s).
    pub max_timeout: Duration,
    /// PEM file of the CA certificates `https` origins are verified against, instead of
    /// the system's roots (`None`, the default: the system's roots).
    pub ca_file: Option<PathBuf>,
    /// Most requests in flight at once, so most open connections, of one provider (all
    /// its instances together; default 32). A request waits for room within its connect
    /// timeout.
    pub max_connections: usize,
    /// How long an unused pooled connection is kept open (default 30 s).
    pub idle_timeout: Duration,
}

/// Default [`HttpGrant::max_timeout`].
pub const DEFAULT_HTTP_MAX_TIMEOUT: Duration = Duration::from_secs(30);

/// Default [`HttpGrant::max_connections`].
pub const DEFAULT_HTTP_MAX_CONNECTIONS: usize = 32;

/// Default [`HttpGrant::idle_timeout`].
pub const DEFAULT_HTTP_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Normalises an origin or URL (`http://Host:8080/path` → `http://host:8080`); only
/// `http` and `https` are accepted.
pub fn normalize_origin(url: &str) -> Result<String> {
    let bad = |why: &str| Error::InvalidConfig(format!("`{url}` is not an HTTP origin: {why}"));
    let uri: http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
    let scheme = uri.scheme_str().ok_or_else(|| bad("no scheme"))?;
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => 80,
        "https" => 443,
        _ => return Err(bad("the scheme must be http or https")),
    };
    let authority = uri.authority().ok_or_else(|| bad("no host"))?;
    if authority.as_str().contains('@') {
        return Err(bad("user information is not allowed"));
    }
    Ok(format!(
        "{}://{}:{}",
        scheme.to_ascii_lowercase(),
        authority.host().to_ascii_lowercase(),
        authority.port_u16().unwrap_or(default_port)
    ))
}

impl HttpGrant {
    /// A grant of exactly these origins (URLs are reduced to their origin).
    pub fn new<I, S>(origins: I) -> Result<HttpGrant>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let origins = origins
            .into_iter()
            .map(|o| normalize_origin(o.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        Ok(HttpGrant {
            origins,
            max_timeout: DEFAULT_HTTP_MAX_TIMEOUT,
            ca_file: None,
            max_connections: DEFAULT_HTTP_MAX_CONNECTIONS,
            idle_timeout: DEFAULT_HTTP_IDLE_TIMEOUT,
        })
    }

    /// Verifies `https` origins against the CA certificates in the PEM file `path` only.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Whether any granted origin is `https`.
    pub fn has_https(&self) -> bool {
        self.origins.iter().any(|o| o.starts_with("https://"))
    }

    /// Whether a request to `uri` is allowed.
    pub fn allows(&self, uri: &http::Uri) -> bool {
        normalize_origin(&uri.to_string()).is_ok_and(|o| self.origins.contains(&o))
    }
}

/// Default [`TcpGrant::max_connections`](TcpGrant#structfield.max_connections): sockets one instance may hold open at once.
pub const DEFAULT_MAX_TCP_CONNECTIONS: usize = 16;

/// One granted TCP endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TcpEndpoint {
    /// A host name (lowercase, no trailing dot) or an IP address.
    pub host: TcpHost,
    /// The port (never 0).
    pub port: u16,
}

/// The host of a [`TcpEndpoint`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TcpHost {
    /// An IP address: only that address is reachable.
    Ip(std::net::IpAddr),
    /// A DNS name: the adapter may look it up, and reach the addresses it resolves to
    /// when the connection is checked.
    Name(String),
}

impl std::fmt::Display for TcpEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.host {
            TcpHost::Ip(std::net::IpAddr::V6(ip)) => write!(f, "[{ip}]:{}", self.port),
            TcpHost::Ip(ip) => write!(f, "{ip}:{}", self.port),
            TcpHost::Name(name) => write!(f, "{name}:{}", self.port),
        }
    }
}

impl std::str::FromStr for TcpEndpoint {
    type Err = Error;

    /// `host:port`, `1.2.3.4:port` or `[::1]:port`.
    fn from_str(text: &str) -> Result<TcpEndpoint> {
        let bad =
            |why: &str| Error::InvalidConfig(format!("`{text}` is not a TCP endpoint: {why}"));
        if let Ok(addr) = text.parse::<std::net::SocketAddr>() {
            if addr.port() == 0 {
                return Err(bad("the port must not be 0"));
            }
            return Ok(TcpEndpoint {
                host: TcpHost::Ip(addr.ip().to_canonical()),
                port: addr.port(),
            });
        }
        let (host, port) = text
            .rsplit_once(':')
            .ok_or_else(|| bad("write it as host:port"))?;
        let port: u16 = port.parse().map_err(|_| bad("the port is not a number"))?;
        if port == 0 {
            return Err(bad("the port must not be 0"));
        }
        let name = host.trim_end_matches('.').to_ascii_lowercase();
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
            return Err(bad("the host is neither an IP address nor a DNS name"));
        }
        Ok(TcpEndpoint {
            host: TcpHost::Name(name),
            port,
        })
    }
}

/// The TCP grant: the endpoints an adapter may open connections to, and how many sockets
/// one instance may hold.
///
/// Only outbound connects are allowed: no listening, no explicit bind to an address, no
/// UDP. A name lookup answers only for a granted name (any other name fails before a
/// query leaves the host), and a connection to an address is allowed only if the address
/// is granted literally or is one of the addresses a granted name resolves to *when the
/// connection is checked*, with the granted port (so an address the adapter makes up,
/// or one a granted name stopped resolving to, is refused before any packet is sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpGrant {
    /// The granted endpoints.
    pub endpoints: Vec<TcpEndpoint>,
    /// Most TCP sockets an instance may hold at once (default
    /// [`DEFAULT_MAX_TCP_CONNECTIONS`]); creating one more fails with `new-socket-limit`.
    pub max_connections: usize,
}

impl TcpGrant {
    /// A grant of exactly these endpoints (`host:port`, `1.2.3.4:port`, `[::1]:port`).
    pub fn new<I, S>(endpoints: I) -> Result<TcpGrant>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let endpoints = endpoints
            .into_iter()
            .map(|e| e.as_ref().trim().parse())
            .collect::<Result<Vec<TcpEndpoint>>>()?;
        if endpoints.is_empty() {
            return Err(Error::InvalidConfig(
                "a TCP grant needs at least one host:port".into(),
            ));
        }
        Ok(TcpGrant {
            endpoints,
            max_connections: DEFAULT_MAX_TCP_CONNECTIONS,
        })
    }

    /// Sets [`TcpGrant::max_connections`](TcpGrant#structfield.max_connections).
    #[must_use]
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// Whether the adapter may look `name` up: it is a granted name or IP address.
    pub fn allows_lookup(&self, name: &str) -> bool {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let ip = name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .ok()
            .map(|ip| ip.to_canonical());
        self.endpoints.iter().any(|e| match (&e.host, ip) {
            (TcpHost::Ip(granted), Some(ip)) => *granted == ip,
            (TcpHost::Name(granted), None) => *granted == name,
            _ => false,
        })
    }

    /// Whether a connection to `addr` is allowed: its port is granted with its IP address,
    /// or with a name that resolves to that address now.
    pub async fn allows_connect(&self, addr: std::net::SocketAddr) -> bool {
        let ip = addr.ip().to_canonical();
        let mut names = Vec::new();
        for e in self.endpoints.iter().filter(|e| e.port == addr.port()) {
            match &e.host {
                TcpHost::Ip(granted) if *granted == ip => return true,
                TcpHost::Ip(_) => {}
                TcpHost::Name(name) => names.push(name.clone()),
            }
        }
        for name in names {
            if let Ok(found) = tokio::net::lookup_host((name.as_str(), addr.port())).await
                && found.into_iter().any(|a| a.ip().to_canonical() == ip)
            {
                return true;
            }
        }
        false
    }
}

impl Grants {
    /// No capability at all (the default).
    pub fn none() -> Self {
        Grants::default()
    }

    /// Adds the grant of a host import added by an extension, replacing any grant of the
    /// same type.
    pub fn with_extension<G: ExtensionGrant>(mut self, grant: G) -> Self {
        let grants = &mut self.extensions.0;
        match grants.iter().position(|g| g.as_any().is::<G>()) {
            Some(at) => grants[at] = Arc::new(grant),
            None => grants.push(Arc::new(grant)),
        }
        self
    }

    /// Adds a directory grant: `host` is preopened at `guest` with `access`.
    pub fn dir(mut self, host: impl Into<PathBuf>, guest: &str, access: DirAccess) -> Self {
        self.dirs.push(DirGrant {
            host: host.into(),
            guest: guest.to_owned(),
            access,
        });
        self
    }

    /// Runs file operations on a blocking-pool thread (see [`Grants::offload_file_io`]).
    pub fn offload_file_io(mut self, offload: bool) -> Self {
        self.offload_file_io = offload;
        self
    }

    /// The grant of type `G` of a host import added by an extension, if any.
    pub fn extension<G: ExtensionGrant>(&self) -> Option<&G> {
        self.extensions
            .0
            .iter()
            .find_map(|g| g.as_any().downcast_ref::<G>())
    }

    /// The per-store states of the extension grants, for a new store.
    pub(crate) fn store_extensions(&self) -> StoreExtensions {
        StoreExtensions::new(
            self.extensions
                .0
                .iter()
                .map(|g| g.store_extension())
                .collect(),
        )
    }

    /// Sets the HTTP grant.
    pub fn http(mut self, grant: HttpGrant) -> Self {
        self.http = Some(grant);
        self
    }

    /// Sets the TCP grant.
    pub fn tcp(mut self, grant: TcpGrant) -> Self {
        self.tcp = Some(grant);
        self
    }

    /// Adds the granted WASI capabilities to a fresh context.
    pub(crate) fn apply(&self, wasi: &mut WasiCtxBuilder) -> Result<()> {
        if let Some(tcp) = &self.tcp {
            crate::tcp::apply(tcp, wasi);
        }
        // Before the preopens: each directory takes the setting when it is opened.
        wasi.allow_blocking_current_thread(!self.offload_file_io);
        self.preopen_dirs(wasi)
    }

    /// Preopens the granted directories in `wasi`, each at its guest path with its access
    /// (for embedders that build the WASI context of a store of their own).
    pub fn preopen_dirs(&self, wasi: &mut WasiCtxBuilder) -> Result<()> {
        for dir in &self.dirs {
            let perms = match dir.access {
                DirAccess::ReadOnly => FsPerms::ReadOnly,
                DirAccess::ReadWrite => FsPerms::ReadWrite,
            };
            wasi.preopened_dir(&dir.host, &dir.guest, perms)
                .map_err(|e| {
                    Error::InvalidConfig(format!(
                        "cannot open the granted directory {}: {e:#}",
                        dir.host.display()
                    ))
                })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised() {
        assert_eq!(
            normalize_origin("HTTP://Example.org/a?b").expect("ok"),
            "http://example.org:80"
        );
        assert_eq!(
            normalize_origin("https://127.0.0.1:8443").expect("ok"),
            "https://127.0.0.1:8443"
        );
        assert!(normalize_origin("ftp://x").is_err());
        assert!(normalize_origin("http://u:p@x").is_err());
        let grant = HttpGrant::new(["http://127.0.0.1:80"]).expect("grant");
        assert!(grant.allows(&"http://127.0.0.1/x".parse().expect("uri")));
        assert!(!grant.allows(&"http://127.0.0.1:81/x".parse().expect("uri")));
        assert!(!grant.allows(&"https://127.0.0.1/x".parse().expect("uri")));
    }

    #[test]
    fn tcp_endpoints_are_parsed() {
        let grant =
            TcpGrant::new(["127.0.0.1:11211", "Cache.Internal.:11211", "[::1]:5432"]).expect("ok");
        assert_eq!(
            grant
                .endpoints
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["127.0.0.1:11211", "cache.internal:11211", "[::1]:5432"]
        );
        assert!(grant.allows_lookup("cache.internal"));
        assert!(grant.allows_lookup("CACHE.internal."));
        assert!(grant.allows_lookup("127.0.0.1"));
        assert!(!grant.allows_lookup("other.internal"));
        assert!(!grant.allows_lookup("127.0.0.2"));
        for bad in [
            "",
            "x",
            "x:0",
            "x:port",
            "a b:1",
            "127.0.0.1:0",
            "-x:1",
            "x:70000",
        ] {
            assert!(TcpGrant::new([bad]).is_err(), "{bad}");
        }
        assert!(TcpGrant::new(Vec::<String>::new()).is_err());
    }

    #[tokio::test]
    async fn tcp_connects_are_checked() {
        let grant = TcpGrant::new(["127.0.0.1:7000", "localhost:7001"]).expect("ok");
        let ok = |s: &str| s.parse::<std::net::SocketAddr>().expect("addr");
        assert!(grant.allows_connect(ok("127.0.0.1:7000")).await);
        assert!(!grant.allows_connect(ok("127.0.0.1:7002")).await);
        assert!(!grant.allows_connect(ok("127.0.0.2:7000")).await);
        assert!(grant.allows_connect(ok("127.0.0.1:7001")).await);
        // `localhost` does not resolve to 127.0.0.3.
        assert!(!grant.allows_connect(ok("127.0.0.3:7001")).await);
        assert!(!grant.allows_connect(ok("10.0.0.1:7001")).await);
    }
}
