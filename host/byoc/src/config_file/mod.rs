//! The YAML configuration file: caches, each a provider stack with its options.
//!
//! ```yaml
//! caches:
//!   - name: sessions                 # [a-z0-9_-], unique
//!     provider: memory               # a registered provider, or a .wasm component's path
//!     config: { max-bytes: 64MiB, eviction: lru }
//!     key-prefix: "session:"
//!     default-ttl: 30m
//! ```
//!
//! Every field is checked when the file is read: unknown fields, bad sizes and durations,
//! unset environment variables and duplicate names are [`Error::Config`] errors naming the
//! file, the cache, the field and (where the YAML parser gives it) the line. Provider
//! fields (`config:`) are checked against the provider's schema when the caches are built
//! ([`Caches::open`](crate::Caches::open)). `${NAME}` / `${NAME:-default}` interpolate the
//! environment; values taken from it, and fields named like secrets, are never printed (see
//! [`ConfigFile::describe`]). Every field: `docs/configuration.md`.

pub use crate::limits::{LimitsConfig, QuarantineConfig};
pub use crate::text::{DurationText, SizeText, Text, interpolate};

mod semantics;

pub use semantics::SemanticsConfig;

use crate::redis::{WithRedis, grant_from_config};
use crate::text;
use crate::wasm::{DirAccess, Grants, HttpGrant, TcpGrant};
use crate::{AdapterConfig, ConfigValue, Error, Result, StackSpec};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A parsed and checked configuration file.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConfigFile {
    /// Where it was read from (a path, or a name given to [`ConfigFile::parse`]).
    pub origin: String,
    /// The caches, in file order.
    pub caches: Vec<CacheConfig>,
}

/// How a cache encodes typed values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SerializerKind {
    /// [`crate::Postcard`] (default).
    #[default]
    Postcard,
    /// [`crate::Json`].
    Json,
}

/// One cache of the file.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CacheConfig {
    /// Its name.
    pub name: String,
    /// The provider stack.
    pub stack: LayerConfig,
    /// Prepended to every key of the typed cache.
    pub key_prefix: String,
    /// TTL of writes that give none.
    pub default_ttl: Option<Duration>,
    /// Value encoding of the typed cache.
    pub serializer: SerializerKind,
    /// Hot keys copied into a new provider when the cache is swapped or reloaded
    /// (0: none).
    pub warm_up: u32,
    /// Whether component files of this cache are watched and reloaded.
    pub reload: bool,
    /// A host-side near cache (L1) in front of the stack, if configured.
    pub near: Option<NearConfig>,
    /// Get-or-load, fail-safe, refresh-ahead... of the typed cache (`semantics:`).
    pub semantics: SemanticsConfig,
}

/// The `near:` section of a cache: a host-side moka L1 in front of its stack (see
/// [`crate::NearCache`]); fields left out take the near cache's defaults.
///
/// ```yaml
/// near: { max-entries: 10000, max-bytes: 16MiB, max-staleness: 1s, ttl-mode: exact }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[non_exhaustive]
pub struct NearConfig {
    /// Most entries held.
    pub max_entries: Option<u64>,
    /// Most bytes held.
    pub max_bytes: Option<SizeText>,
    /// Longest an entry is served from the L1 without asking the stack.
    pub max_staleness: Option<DurationText>,
    /// `exact` (default: an L1 entry never outlives its TTL below) or `assume-longer`.
    pub ttl_mode: Option<NearTtlMode>,
    /// `redis`: the Redis server tells the L1 which keys changed (RESP3 client tracking;
    /// see [`crate::redis::RedisInvalidation`]). Only for a cache whose provider is
    /// `redis` on a single server. Default: none (staleness bounded by `max-staleness`).
    pub invalidation: Option<NearInvalidation>,
}

/// Where a near cache learns about writes made by other clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum NearInvalidation {
    /// From the Redis server below ([`crate::redis::RedisInvalidation`]).
    Redis,
}

/// [`crate::NearTtl`] as the file writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NearTtlMode {
    /// [`crate::NearTtl::Exact`].
    Exact,
    /// [`crate::NearTtl::AssumeLonger`].
    AssumeLonger,
}

impl NearConfig {
    /// Wraps `inner` in the near cache this configures.
    pub fn build(&self, inner: std::sync::Arc<dyn crate::Provider>) -> crate::NearCache {
        let mut b = crate::NearCache::builder();
        if let Some(n) = self.max_entries {
            b = b.max_entries(n);
        }
        if let Some(SizeText(n)) = self.max_bytes {
            b = b.max_bytes(n);
        }
        if let Some(DurationText(d)) = self.max_staleness {
            b = b.max_staleness(d);
        }
        if let Some(mode) = self.ttl_mode {
            b = b.ttl_mode(match mode {
                NearTtlMode::Exact => crate::NearTtl::Exact,
                NearTtlMode::AssumeLonger => crate::NearTtl::AssumeLonger,
            });
        }
        b.build(inner)
    }
}

/// One provider of a stack: the cache's top provider or one of its `inner` layers.
#[derive(Clone)]
#[non_exhaustive]
pub struct LayerConfig {
    /// A registered provider name, or the path of a `.wasm` component (absolute, or
    /// resolved against the file's directory).
    pub provider: String,
    /// Required sha256 of the component file (lowercase hex).
    pub sha256: Option<String>,
    /// Provider configuration.
    pub config: AdapterConfig,
    /// Names of `config` fields never to print.
    pub secret_fields: BTreeSet<String>,
    /// Layers below (for wrappers).
    pub inner: Vec<LayerConfig>,
    /// Capabilities of an external component.
    pub grants: Grants,
    /// Limit overrides.
    pub limits: LimitsConfig,
    /// Instances of an external component (default 1).
    pub partitions: Option<usize>,
    /// Whether an external component is called synchronously (default false).
    pub sync_calls: bool,
}

impl std::fmt::Debug for LayerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LayerConfig")
            .field("provider", &self.provider)
            .field("sha256", &self.sha256)
            .field("config", &RedactedConfig(self))
            .field("inner", &self.inner)
            .field("grants", &self.grants.dirs.len())
            .field("limits", &self.limits)
            .field("partitions", &self.partitions)
            .field("sync_calls", &self.sync_calls)
            .finish()
    }
}

struct RedactedConfig<'a>(&'a LayerConfig);

impl std::fmt::Debug for RedactedConfig<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        for (name, value) in self.0.config.iter() {
            map.entry(&name, &self.0.value_text(name, value));
        }
        map.finish()
    }
}

/// Field names whose values are secrets wherever they appear.
const SECRET_NAMES: &[&str] = &[
    "key", "keys", "token", "password", "secret", "auth", "headers",
];

fn is_secret_name(name: &str) -> bool {
    SECRET_NAMES.contains(&name)
        || ["password", "secret", "token", "credential"]
            .iter()
            .any(|s| name.contains(s))
}

/// `scheme://user:password@host` → `scheme://user:***@host`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

impl LayerConfig {
    /// A config value as it may be printed.
    fn value_text(&self, name: &str, value: &ConfigValue) -> String {
        if self.secret_fields.contains(name) || is_secret_name(name) {
            return "***".into();
        }
        match value {
            ConfigValue::Text(t) => format!("{:?}", redact_url(t)),
            ConfigValue::TextList(l) => {
                let items: Vec<String> = l.iter().map(|t| format!("{:?}", redact_url(t))).collect();
                format!("[{}]", items.join(", "))
            }
            ConfigValue::Boolean(b) => b.to_string(),
            ConfigValue::Integer(n) => n.to_string(),
            ConfigValue::Size(n) => format!("{n}B"),
            ConfigValue::DurationMs(n) => format!("{n}ms"),
        }
    }

    /// Whether `provider` names a component file rather than a registered provider.
    pub fn is_component(&self) -> bool {
        is_component_path(&self.provider)
    }

    /// The [`StackSpec`] the registry builds.
    pub fn stack_spec(&self) -> StackSpec {
        let mut spec = StackSpec::new(self.provider.clone()).config(self.config.clone());
        spec.sha256.clone_from(&self.sha256);
        spec.grants = self.grants.clone();
        spec.limits = self.limits.clone();
        spec.partitions = self.partitions;
        spec.sync_calls = self.sync_calls;
        for layer in &self.inner {
            spec = spec.inner(layer.stack_spec());
        }
        spec
    }

    /// Component files of this layer and those below.
    pub fn component_paths(&self) -> Vec<PathBuf> {
        let mut paths = Vec::new();
        if self.is_component() {
            paths.push(PathBuf::from(&self.provider));
        }
        for layer in &self.inner {
            paths.extend(layer.component_paths());
        }
        paths
    }

    fn describe(&self, indent: usize, out: &mut String) {
        use std::fmt::Write as _;
        let pad = "  ".repeat(indent);
        let _ = write!(out, "{pad}{}", self.provider);
        if let Some(sha) = &self.sha256 {
            let _ = write!(out, " (sha256 {sha})");
        }
        out.push('\n');
        for (name, value) in self.config.iter() {
            let _ = writeln!(out, "{pad}  {name}: {}", self.value_text(name, value));
        }
        for dir in &self.grants.dirs {
            let mode = match dir.access {
                DirAccess::ReadOnly => "ro",
                DirAccess::ReadWrite => "rw",
            };
            let _ = writeln!(
                out,
                "{pad}  grant dir: {} at {} ({mode})",
                dir.host.display(),
                dir.guest
            );
        }
        if let Some(http) = &self.grants.http {
            let _ = writeln!(out, "{pad}  grant http: {}", http.origins.join(", "));
        }
        if let Some(tcp) = &self.grants.tcp {
            let endpoints: Vec<String> = tcp.endpoints.iter().map(ToString::to_string).collect();
            let _ = writeln!(
                out,
                "{pad}  grant tcp: {} (at most {} connections per instance)",
                endpoints.join(", "),
                tcp.max_connections
            );
        }
        if self.grants.has_redis() {
            let _ = writeln!(out, "{pad}  grant redis");
        }
        if !self.limits.is_empty() {
            let _ = writeln!(out, "{pad}  limits: {:?}", self.limits);
        }
        for layer in &self.inner {
            layer.describe(indent + 1, out);
        }
    }
}

/// Whether a provider name is a component path: it ends in `.wasm`.
pub fn is_component_path(provider: &str) -> bool {
    provider.ends_with(".wasm")
}

// ---- the file as written ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawFile {
    caches: Vec<RawCache>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawCache {
    name: String,
    provider: Text,
    #[serde(default)]
    sha256: Option<String>,
    #[serde(default)]
    config: BTreeMap<String, serde_yaml_ng::Value>,
    #[serde(default)]
    inner: Vec<RawLayer>,
    #[serde(default)]
    grants: RawGrants,
    #[serde(default)]
    limits: LimitsConfig,
    #[serde(default)]
    partitions: Option<usize>,
    #[serde(default)]
    sync_calls: Option<bool>,
    #[serde(default)]
    key_prefix: Option<Text>,
    #[serde(default)]
    default_ttl: Option<DurationText>,
    #[serde(default)]
    serializer: SerializerKind,
    #[serde(default)]
    warm_up: Option<u32>,
    #[serde(default)]
    reload: Option<bool>,
    #[serde(default)]
    near: Option<NearConfig>,
    // Cache semantics (see semantics.rs).
    #[serde(default)]
    semantics: SemanticsConfig,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawLayer {
    provider: Text,
    #[serde(default)]
    sha256: Option<String>,
    #[serde(default)]
    config: BTreeMap<String, serde_yaml_ng::Value>,
    #[serde(default)]
    inner: Vec<RawLayer>,
    #[serde(default)]
    grants: RawGrants,
    #[serde(default)]
    limits: LimitsConfig,
    #[serde(default)]
    partitions: Option<usize>,
    #[serde(default)]
    sync_calls: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawGrants {
    #[serde(default)]
    dirs: Vec<RawDir>,
    #[serde(default)]
    http: Vec<Text>,
    #[serde(default)]
    http_timeout: Option<DurationText>,
    #[serde(default)]
    redis: Option<BTreeMap<String, serde_yaml_ng::Value>>,
    #[serde(default)]
    offload_file_io: bool,
    #[serde(default)]
    tcp: Vec<Text>,
    #[serde(default)]
    tcp_max_connections: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawDir {
    path: Text,
    guest: String,
    #[serde(default)]
    mode: DirMode,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
enum DirMode {
    #[default]
    Ro,
    Rw,
}

/// Where an error is, for [`Error::Config`].
struct Place<'a> {
    origin: &'a str,
    cache: &'a str,
    base: &'a Path,
}

impl Place<'_> {
    fn err(&self, field: &str, message: impl Into<String>) -> Error {
        Error::Config {
            origin: self.origin.to_owned(),
            cache: Some(self.cache.to_owned()),
            field: Some(field.to_owned()),
            line: None,
            message: message.into(),
        }
    }

    fn resolve(&self, path: &str) -> PathBuf {
        let p = PathBuf::from(path);
        if p.is_absolute() {
            p
        } else {
            self.base.join(p)
        }
    }
}

impl ConfigFile {
    /// Reads and checks the file at `path`. Relative component paths and granted
    /// directories are resolved against the file's directory.
    pub fn load(path: impl AsRef<Path>) -> Result<ConfigFile> {
        use std::io::Read as _;
        let path = path.as_ref();
        let fail = |message: String| Error::Config {
            origin: path.display().to_string(),
            cache: None,
            field: None,
            line: None,
            message,
        };
        // At most one byte past the limit is read (the file may be a pipe, of any size).
        let mut text = String::new();
        std::fs::File::open(path)
            .and_then(|f| {
                f.take(MAX_CONFIG_BYTES as u64 + 1)
                    .read_to_string(&mut text)
            })
            .map_err(|e| fail(format!("cannot read the file: {e}")))?;
        let base = path.parent().unwrap_or(Path::new("."));
        ConfigFile::parse_in(&text, &path.display().to_string(), base)
    }

    /// Parses and checks `text`; `origin` names it in errors. Relative paths are
    /// resolved against the working directory.
    pub fn parse(text: &str, origin: &str) -> Result<ConfigFile> {
        ConfigFile::parse_in(text, origin, Path::new("."))
    }

    /// Like [`parse`](ConfigFile::parse), with `vars` as the whole environment `${NAME}`
    /// reads and relative paths resolved against `base`: for tests and embedders that
    /// keep settings out of the process environment.
    pub fn parse_with_env(
        text: &str,
        origin: &str,
        base: &Path,
        vars: BTreeMap<String, String>,
    ) -> Result<ConfigFile> {
        text::with_env(vars, || ConfigFile::parse_in(text, origin, base))
    }

    fn parse_in(text: &str, origin: &str, base: &Path) -> Result<ConfigFile> {
        check_shape(text).map_err(|(line, message)| Error::Config {
            origin: origin.to_owned(),
            cache: None,
            field: None,
            line,
            message,
        })?;
        let raw: RawFile = serde_yaml_ng::from_str(text).map_err(|e| {
            let line = e.location().map(|l| l.line());
            // The message names the path (`caches[1].limits`); add the cache's name.
            let message = e.to_string();
            Error::Config {
                origin: origin.to_owned(),
                cache: cache_name_for(text, &message),
                field: None,
                line,
                message,
            }
        })?;
        let mut seen = BTreeSet::new();
        let mut caches = Vec::with_capacity(raw.caches.len());
        for cache in raw.caches {
            let place = Place {
                origin,
                cache: &cache.name,
                base,
            };
            check_name(&cache.name).map_err(|m| place.err("name", m))?;
            if !seen.insert(cache.name.clone()) {
                return Err(place.err("name", "another cache has this name"));
            }
            if let Some(near) = &cache.near {
                if near.max_staleness.is_some_and(|d| d.0.is_zero()) {
                    return Err(place.err("near.max-staleness", "must be above zero"));
                }
                if near.max_entries == Some(0) || near.max_bytes.is_some_and(|b| b.0 == 0) {
                    return Err(place.err("near", "bounds must be above zero"));
                }
                if near.invalidation == Some(NearInvalidation::Redis)
                    && cache.provider.as_str() != "redis"
                {
                    return Err(place.err(
                        "near.invalidation",
                        "`redis` invalidation needs `provider: redis` (the keys the server \
                         names are this provider's keys)",
                    ));
                }
            }
            // Cache semantics.
            cache
                .semantics
                .check()
                .map_err(|(field, message)| place.err(field, message))?;
            if cache.default_ttl.is_some_and(|d| d.0.is_zero()) {
                return Err(place.err("default-ttl", "must be above zero"));
            }
            if let Some(prefix) = &cache.key_prefix {
                check_key_prefix(prefix.as_str()).map_err(|m| place.err("key-prefix", m))?;
            }
            let stack = layer(
                &place,
                "",
                RawLayer {
                    provider: cache.provider,
                    sha256: cache.sha256,
                    config: cache.config,
                    inner: cache.inner,
                    grants: cache.grants,
                    limits: cache.limits,
                    partitions: cache.partitions,
                    sync_calls: cache.sync_calls,
                },
            )?;
            let reload = cache.reload.unwrap_or(true);
            caches.push(CacheConfig {
                stack,
                key_prefix: cache
                    .key_prefix
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_default(),
                default_ttl: cache.default_ttl.map(|d| d.0),
                serializer: cache.serializer,
                warm_up: cache.warm_up.unwrap_or(0),
                reload,
                near: cache.near,
                semantics: cache.semantics,
                name: cache.name,
            });
        }
        Ok(ConfigFile {
            origin: origin.to_owned(),
            caches,
        })
    }

    /// The cache named `name`.
    pub fn cache(&self, name: &str) -> Option<&CacheConfig> {
        self.caches.iter().find(|c| c.name == name)
    }

    /// A human-readable summary (what `byoc check` prints): every cache with its resolved
    /// stack, options, grants and limits. Secrets are shown as `***`.
    pub fn describe(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        for cache in &self.caches {
            let _ = write!(out, "cache {}", cache.name);
            if !cache.key_prefix.is_empty() {
                let _ = write!(out, "  key-prefix {:?}", cache.key_prefix);
            }
            if let Some(ttl) = cache.default_ttl {
                let _ = write!(out, "  default-ttl {ttl:?}");
            }
            let _ = write!(out, "  serializer {:?}", cache.serializer);
            if cache.warm_up > 0 {
                let _ = write!(out, "  warm-up {}", cache.warm_up);
            }
            if let Some(near) = &cache.near {
                let _ = write!(out, "  near {near:?}");
            }
            if cache.semantics != SemanticsConfig::default() {
                let _ = write!(out, "  semantics {:?}", cache.semantics);
            }
            out.push('\n');
            cache.stack.describe(1, &mut out);
        }
        out
    }
}

/// Finds which cache a serde error path like `caches[2].limits.memory` points at.
fn cache_name_for(text: &str, message: &str) -> Option<String> {
    let index: usize = message
        .strip_prefix("caches[")?
        .split(']')
        .next()?
        .parse()
        .ok()?;
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).ok()?;
    value
        .get("caches")?
        .get(index)?
        .get("name")?
        .as_str()
        .map(str::to_owned)
}

/// The largest configuration text read and parsed.
pub const MAX_CONFIG_BYTES: usize = 1 << 20;
/// The deepest nesting of flow collections (`[`, `{`) in a configuration.
pub const MAX_CONFIG_FLOW_DEPTH: usize = 32;
/// The widest block indentation (spaces, tabs and `- `, `? `, `: ` indicators before a
/// line's content), which bounds block nesting.
pub const MAX_CONFIG_INDENT: usize = 256;

/// Refuses text too large or too deeply nested before the YAML parser sees it: the
/// parser's time grows with the square of the nesting depth before its own limit
/// applies. The scan is conservative: flow brackets are counted where a YAML node may
/// start, outside quoted scalars and comments. Errors carry the line (1-based).
fn check_shape(text: &str) -> std::result::Result<(), (Option<usize>, String)> {
    if text.len() > MAX_CONFIG_BYTES {
        return Err((
            None,
            format!("the configuration is larger than {MAX_CONFIG_BYTES} bytes"),
        ));
    }
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    for (n, line) in text.lines().enumerate() {
        let bytes = line.as_bytes();
        if quote.is_none() && depth == 0 {
            let indent = bytes
                .iter()
                .position(|&b| !matches!(b, b' ' | b'\t' | b'-' | b'?' | b':'))
                .unwrap_or(bytes.len());
            if indent > MAX_CONFIG_INDENT {
                return Err((
                    Some(n + 1),
                    format!("nesting is deeper than {MAX_CONFIG_INDENT} columns of indentation"),
                ));
            }
        }
        // The last byte that was not a space: a node may start after one of `:-[{,?`.
        let mut prev = b'\n';
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            match quote {
                Some(b'"') if b == b'\\' => i += 1,
                Some(q) if b == q => quote = None,
                Some(_) => {}
                None => {
                    // Inside a flow collection, `[` and `{` start nodes too; outside one,
                    // a bracket that was not counted was part of a plain scalar.
                    let node_start = matches!(prev, b'\n' | b':' | b'-' | b',' | b'?')
                        || (depth > 0 && matches!(prev, b'[' | b'{'));
                    match b {
                        b'#' if prev == b'\n' || bytes[i - 1] == b' ' || bytes[i - 1] == b'\t' => {
                            break;
                        }
                        b'\'' | b'"' if node_start => quote = Some(b),
                        b'[' | b'{' if node_start || depth > 0 => {
                            depth += 1;
                            if depth > MAX_CONFIG_FLOW_DEPTH {
                                return Err((
                                    Some(n + 1),
                                    format!(
                                        "`[`/`{{` nesting is deeper than {MAX_CONFIG_FLOW_DEPTH}"
                                    ),
                                ));
                            }
                        }
                        b']' | b'}' if depth > 0 => depth -= 1,
                        _ => {}
                    }
                }
            }
            if !matches!(b, b' ' | b'\t') {
                prev = b;
            }
            i += 1;
        }
    }
    Ok(())
}

/// A key prefix must leave room for a key: at most `MAX_KEY_LEN - 1` bytes and no
/// control character (the prefix is part of every key the provider sees).
fn check_key_prefix(prefix: &str) -> std::result::Result<(), String> {
    let max = byoc_common::MAX_KEY_LEN - 1;
    if prefix.len() > max {
        return Err(format!(
            "the prefix is {} bytes long; at most {max} leave room for a key",
            prefix.len()
        ));
    }
    if let Some(at) = prefix.bytes().position(|b| b.is_ascii_control()) {
        return Err(format!("the prefix has a control character at byte {at}"));
    }
    Ok(())
}

fn check_name(name: &str) -> std::result::Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a cache name: use 1 to 64 of a-z, 0-9, - and _"
        ))
    }
}

/// Checks and converts one layer; `at` is its field path (`inner[0].`) for errors.
fn layer(place: &Place<'_>, at: &str, raw: RawLayer) -> Result<LayerConfig> {
    let field = |f: &str| format!("{at}{f}");
    let mut provider = raw.provider.as_str().to_owned();
    if provider.is_empty() {
        return Err(place.err(&field("provider"), "must not be empty"));
    }
    let component = is_component_path(&provider);
    if component {
        provider = place.resolve(&provider).display().to_string();
    }
    if let Some(sha) = &raw.sha256 {
        if !component {
            return Err(place.err(
                &field("sha256"),
                "only a component file (provider: path/to/x.wasm) can be pinned",
            ));
        }
        if sha.len() != 64 || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(place.err(&field("sha256"), "must be 64 hexadecimal digits"));
        }
    }
    let (config, secret_fields) = adapter_config(&raw.config)
        .map_err(|(f, m)| place.err(&field(&format!("config.{f}")), m))?;
    let has_grants = !raw.grants.dirs.is_empty()
        || !raw.grants.http.is_empty()
        || raw.grants.redis.is_some()
        || raw.grants.http_timeout.is_some()
        || raw.grants.offload_file_io
        || !raw.grants.tcp.is_empty()
        || raw.grants.tcp_max_connections.is_some();
    if has_grants && !component {
        return Err(place.err(
            &field("grants"),
            format!(
                "grants are given to component files only; the built-in `{provider}` takes \
                 its directory, URL, servers or Redis server from its `config`"
            ),
        ));
    }
    if raw.partitions.is_some() && !component {
        return Err(place.err(
            &field("partitions"),
            "only a component file's instances can be set (built-ins choose their own)",
        ));
    }
    if raw.sync_calls.is_some() && !component {
        return Err(place.err(
            &field("sync-calls"),
            "only a component file's calls can be set (the built-in `memory` is called \
             synchronously, the others on fibers)",
        ));
    }
    if raw.partitions == Some(0) {
        return Err(place.err(&field("partitions"), "must be at least 1"));
    }
    raw.limits
        .check()
        .map_err(|m| place.err(&field("limits"), m))?;
    let grants = grants(place, &field("grants"), raw.grants)?;
    let mut inner = Vec::with_capacity(raw.inner.len());
    for (i, l) in raw.inner.into_iter().enumerate() {
        inner.push(layer(place, &format!("{at}inner[{i}]."), l)?);
    }
    Ok(LayerConfig {
        provider,
        sha256: raw.sha256.map(|s| s.to_ascii_lowercase()),
        config,
        secret_fields,
        inner,
        grants,
        limits: raw.limits,
        partitions: raw.partitions,
        sync_calls: raw.sync_calls.unwrap_or(false),
    })
}

fn grants(place: &Place<'_>, at: &str, raw: RawGrants) -> Result<Grants> {
    if raw.offload_file_io && raw.dirs.is_empty() {
        return Err(place.err(
            &format!("{at}.offload-file-io"),
            "there is no `dirs` entry to apply it to",
        ));
    }
    let mut grants = Grants::none().offload_file_io(raw.offload_file_io);
    for (i, dir) in raw.dirs.into_iter().enumerate() {
        let host = place.resolve(dir.path.as_str());
        if !host.is_dir() {
            return Err(place.err(
                &format!("{at}.dirs[{i}].path"),
                format!("`{}` is not a directory", host.display()),
            ));
        }
        if !dir.guest.starts_with('/') {
            return Err(place.err(
                &format!("{at}.dirs[{i}].guest"),
                "must be an absolute path as the adapter sees it, e.g. /data",
            ));
        }
        let access = match dir.mode {
            DirMode::Ro => DirAccess::ReadOnly,
            DirMode::Rw => DirAccess::ReadWrite,
        };
        grants = grants.dir(host, &dir.guest, access);
    }
    if !raw.http.is_empty() {
        let origins: Vec<&str> = raw.http.iter().map(Text::as_str).collect();
        let mut http =
            HttpGrant::new(origins).map_err(|e| place.err(&format!("{at}.http"), e.to_string()))?;
        if let Some(DurationText(d)) = raw.http_timeout {
            http.max_timeout = d;
        }
        grants = grants.http(http);
    } else if raw.http_timeout.is_some() {
        return Err(place.err(
            &format!("{at}.http-timeout"),
            "there is no `http` origin to apply it to",
        ));
    }
    if !raw.tcp.is_empty() {
        let endpoints: Vec<&str> = raw.tcp.iter().map(Text::as_str).collect();
        let mut tcp =
            TcpGrant::new(endpoints).map_err(|e| place.err(&format!("{at}.tcp"), e.to_string()))?;
        if let Some(max) = raw.tcp_max_connections {
            if max == 0 {
                return Err(place.err(&format!("{at}.tcp-max-connections"), "must be at least 1"));
            }
            tcp = tcp.max_connections(max);
        }
        grants = grants.tcp(tcp);
    } else if raw.tcp_max_connections.is_some() {
        return Err(place.err(
            &format!("{at}.tcp-max-connections"),
            "there is no `tcp` endpoint to apply it to",
        ));
    }
    if let Some(redis) = raw.redis {
        let (config, _) =
            adapter_config(&redis).map_err(|(f, m)| place.err(&format!("{at}.redis.{f}"), m))?;
        let grant = grant_from_config(&config)
            .map_err(|e| place.err(&format!("{at}.redis"), e.to_string()))?;
        grants = grants.with_redis(grant);
    }
    Ok(grants)
}

/// Converts a YAML map of provider fields; text is interpolated. Returns the config and
/// the names of fields that took a value from the environment.
fn adapter_config(
    raw: &BTreeMap<String, serde_yaml_ng::Value>,
) -> std::result::Result<(AdapterConfig, BTreeSet<String>), (String, String)> {
    use serde_yaml_ng::Value;
    let env = text::lookup;
    let mut config = AdapterConfig::new();
    let mut secret = BTreeSet::new();
    for (name, value) in raw {
        let bad = |m: String| (name.clone(), m);
        let value = match value {
            Value::Bool(b) => ConfigValue::Boolean(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => ConfigValue::Integer(i),
                None => {
                    return Err(bad(format!(
                        "{n} is not a whole number in range; write sizes and durations with a \
                         unit, e.g. 64MiB or 1.5s as 1500ms"
                    )));
                }
            },
            Value::String(s) => {
                let t = interpolate(s, &env).map_err(bad)?;
                if t.from_env() {
                    secret.insert(name.clone());
                }
                ConfigValue::Text(t.as_str().to_owned())
            }
            Value::Sequence(items) => {
                let mut list = Vec::with_capacity(items.len());
                for item in items {
                    let text = match item {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        _ => return Err(bad("a list may hold only text".into())),
                    };
                    let t = interpolate(&text, &env).map_err(bad)?;
                    if t.from_env() {
                        secret.insert(name.clone());
                    }
                    list.push(t.as_str().to_owned());
                }
                ConfigValue::TextList(list)
            }
            Value::Null => return Err(bad("has no value".into())),
            _ => {
                return Err(bad(
                    "must be a boolean, a number, text or a list of text".into()
                ));
            }
        };
        config.set(name.clone(), value);
    }
    Ok((config, secret))
}
