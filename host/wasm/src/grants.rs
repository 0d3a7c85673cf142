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

    /// Adds the granted WASI capabilities to a fresh context.
    pub(crate) fn apply(&self, wasi: &mut WasiCtxBuilder) -> Result<()> {
        // Before the preopens: each directory takes the setting when it is opened.
        wasi.allow_blocking_current_thread(!self.offload_file_io);
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
}
