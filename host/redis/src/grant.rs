//! [`RedisGrant`]: which Redis server or cluster an adapter may use, under which namespace.

use crate::{Error, Result};
use std::sync::Arc;
use std::time::Duration;

/// Default [`RedisGrant::connect_timeout`]: 500 ms.
pub const DEFAULT_REDIS_CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// Default [`RedisGrant::response_timeout`]: 500 ms.
pub const DEFAULT_REDIS_RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);
/// Default [`RedisGrant::deadline`]: 1.5 s.
pub const DEFAULT_REDIS_DEADLINE: Duration = Duration::from_millis(1500);
/// Default [`RedisGrant::max_batch`]: 512 reads per batch.
pub const DEFAULT_REDIS_MAX_BATCH: usize = 512;
/// What a namespace ends with: a namespace without it would be a prefix of others
/// (`tenant` of `tenant1:`), and its `clear` and scans would reach their keys.
pub const NAMESPACE_SEPARATOR: char = ':';
/// The largest [`RedisGrant::max_batch`]: 65536.
const MAX_REDIS_MAX_BATCH: usize = 65536;

/// Where the Redis data lives.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedisTarget {
    /// One server: `redis://[user:password@]host:port[/db]`, or `rediss://…` over TLS.
    Single(String),
    /// A Redis Cluster: the URLs of some of its nodes (the others are discovered).
    Cluster(Vec<String>),
}

/// The capability to use native Redis through the host's `redis` import.
///
/// Every key the adapter names is prefixed with [`namespace`](RedisGrant::namespace) by the
/// host; the adapter can neither read nor write nor scan nor clear anything outside it.
/// The `Debug` form hides passwords.
///
/// ```
/// use byoc_redis::{RedisGrant, RedisTarget};
/// let grant = RedisGrant::new(RedisTarget::Single("redis://:secret@127.0.0.1:6379".into()), "app:")
///     .expect("valid");
/// assert!(!format!("{grant:?}").contains("secret"));
/// assert!(RedisGrant::new(RedisTarget::Single("http://x".into()), "app:").is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
#[must_use]
pub struct RedisGrant {
    pub(crate) target: RedisTarget,
    pub(crate) namespace: String,
    pub(crate) connect_timeout: Duration,
    pub(crate) response_timeout: Duration,
    pub(crate) deadline: Duration,
    pub(crate) max_batch: usize,
    /// PEM certificates that alone are trusted to sign a `rediss://` server's certificate
    /// (`None`: the system's roots).
    pub(crate) tls_ca: Option<Arc<[u8]>>,
}

impl RedisGrant {
    /// A grant on `target` under `namespace` (1 to 256 bytes, no control characters,
    /// ending with [`NAMESPACE_SEPARATOR`]; it is prepended verbatim to every key).
    /// URLs are checked here (scheme `redis://`, `redis+unix://`, or `rediss://` for TLS:
    /// rustls, the server's certificate verified against the system's roots, or against
    /// [`tls_ca_pem`](RedisGrant::tls_ca_pem) if set); nothing is connected until first use.
    pub fn new(target: RedisTarget, namespace: &str) -> Result<RedisGrant> {
        if namespace.is_empty() || namespace.len() > 256 || namespace.chars().any(char::is_control)
        {
            return Err(Error::InvalidConfig(format!(
                "redis namespace `{}` must be 1 to 256 bytes without control characters",
                namespace.escape_debug()
            )));
        }
        if !namespace.ends_with(NAMESPACE_SEPARATOR) {
            return Err(Error::InvalidConfig(format!(
                "redis namespace `{ns}` must end with `{NAMESPACE_SEPARATOR}` (`{ns}{NAMESPACE_SEPARATOR}`): \
                 without it, `{ns}` would cover another namespace's keys (`{ns}1{NAMESPACE_SEPARATOR}…`), \
                 `clear` included",
                ns = namespace.escape_debug()
            )));
        }
        let urls: Vec<&String> = match &target {
            RedisTarget::Single(url) => vec![url],
            RedisTarget::Cluster(urls) if urls.is_empty() => {
                return Err(Error::InvalidConfig(
                    "a redis cluster grant needs at least one node URL".into(),
                ));
            }
            RedisTarget::Cluster(urls) => urls.iter().collect(),
        };
        for url in urls {
            let client = redis::Client::open(url.as_str())
                .map_err(|e| Error::InvalidConfig(format!("redis URL `{}`: {e}", redact(url))))?;
            // `#insecure` would accept any certificate: refused, not silently honoured.
            if let redis::ConnectionAddr::TcpTls { insecure: true, .. } =
                client.get_connection_info().addr()
            {
                return Err(Error::InvalidConfig(format!(
                    "redis URL `{}`: `#insecure` (no certificate verification) is not supported",
                    redact(url)
                )));
            }
        }
        Ok(RedisGrant {
            target,
            namespace: namespace.to_owned(),
            connect_timeout: DEFAULT_REDIS_CONNECT_TIMEOUT,
            response_timeout: DEFAULT_REDIS_RESPONSE_TIMEOUT,
            deadline: DEFAULT_REDIS_DEADLINE,
            max_batch: DEFAULT_REDIS_MAX_BATCH,
            tls_ca: None,
        })
    }

    /// Trusts only the CA certificates in `pem` (PEM, one or more) to sign the certificate
    /// of a `rediss://` server, instead of the system's roots. An error if `pem` holds no
    /// certificate, or if a URL of the grant is not `rediss://` (the CA would be ignored).
    pub fn tls_ca_pem(mut self, pem: Vec<u8>) -> Result<Self> {
        let urls: Vec<&String> = match &self.target {
            RedisTarget::Single(url) => vec![url],
            RedisTarget::Cluster(urls) => urls.iter().collect(),
        };
        // The scheme first: a CA for a plain URL is a mistake whatever the file holds.
        if let Some(url) = urls.iter().find(|u| !u.starts_with("rediss://")) {
            return Err(Error::InvalidConfig(format!(
                "a redis TLS CA needs `rediss://` URLs, not `{}`",
                redact(url)
            )));
        }
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        let found = CertificateDer::pem_slice_iter(&pem)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::InvalidConfig(format!("redis TLS CA certificates: {e}")))?;
        if found.is_empty() {
            return Err(Error::InvalidConfig(
                "redis TLS CA: no PEM certificate (`-----BEGIN CERTIFICATE-----`) found".into(),
            ));
        }
        let certs = redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(pem.clone()),
        };
        for url in urls {
            redis::Client::build_with_tls(url.as_str(), certs.clone())
                .map_err(|e| Error::InvalidConfig(format!("redis TLS CA certificates: {e}")))?;
        }
        self.tls_ca = Some(pem.into());
        Ok(self)
    }

    /// [`tls_ca_pem`](RedisGrant::tls_ca_pem) with the PEM file at `path`, read now.
    pub fn tls_ca_file(self, path: &std::path::Path) -> Result<Self> {
        let pem = std::fs::read(path).map_err(|e| {
            Error::InvalidConfig(format!("redis TLS CA file `{}`: {e}", path.display()))
        })?;
        self.tls_ca_pem(pem)
    }

    /// A client for `info` (a URL of this grant, possibly with its address changed), with
    /// the grant's CA if it has one.
    pub(crate) fn client(
        &self,
        info: impl redis::IntoConnectionInfo,
    ) -> redis::RedisResult<redis::Client> {
        match &self.tls_ca {
            None => redis::Client::open(info),
            Some(pem) => redis::Client::build_with_tls(info, self.tls_certificates(pem)),
        }
    }

    /// The grant's CA as the `redis` crate takes it.
    pub(crate) fn tls_certificates(&self, pem: &[u8]) -> redis::TlsCertificates {
        redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(pem.to_vec()),
        }
    }

    /// How long establishing a connection may take (default
    /// [`DEFAULT_REDIS_CONNECT_TIMEOUT`]).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How long Redis may take to answer one command (default
    /// [`DEFAULT_REDIS_RESPONSE_TIMEOUT`]).
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The most one import call may take, reconnect and retry included (default
    /// [`DEFAULT_REDIS_DEADLINE`]); past it the call fails with `unavailable`.
    /// `unlink-namespace` (clear) may take ten times this.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline.max(Duration::from_millis(1));
        self
    }

    /// The most concurrent single-key reads (`get`, `exists`, `pttl`) sent to one server
    /// as one batch — one MGET of their distinct keys, or one pipeline (default
    /// [`DEFAULT_REDIS_MAX_BATCH`], clamped to 1..=65536). Reads that arrive while a batch
    /// is in flight wait for the next one; a read alone is sent at once. `1` turns
    /// batching off (one command per call). Cluster grants are not batched.
    pub fn max_batch(mut self, reads: usize) -> Self {
        self.max_batch = reads.clamp(1, MAX_REDIS_MAX_BATCH);
        self
    }

    /// The key namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The server or cluster.
    pub fn target(&self) -> &RedisTarget {
        &self.target
    }

    /// The deadline of one import call ([`RedisGrant::deadline`] sets it).
    pub fn call_deadline(&self) -> Duration {
        self.deadline
    }

    /// The most reads per batch ([`RedisGrant::max_batch`] sets it).
    pub fn batch_limit(&self) -> usize {
        self.max_batch
    }
}

/// `url` with the password of its user-info replaced by `***`.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***{}", &rest[at..])
        }
        None => url.to_owned(),
    }
}

impl std::fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RedisTarget::Single(url) => f.debug_tuple("Single").field(&redact(url)).finish(),
            RedisTarget::Cluster(urls) => f
                .debug_tuple("Cluster")
                .field(&urls.iter().map(|u| redact(u)).collect::<Vec<_>>())
                .finish(),
        }
    }
}

impl std::fmt::Debug for RedisGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisGrant")
            .field("target", &self.target)
            .field("namespace", &self.namespace)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("deadline", &self.deadline)
            .field("max_batch", &self.max_batch)
            .field("tls_ca", &self.tls_ca.as_ref().map(|pem| pem.len()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(redact("redis://u:pw@h:1/0"), "redis://u:***@h:1/0");
        assert_eq!(redact("redis://:pw@h:1"), "redis://:***@h:1");
        assert_eq!(redact("redis://h:1"), "redis://h:1");
        assert_eq!(redact("nonsense"), "nonsense");
    }
}
