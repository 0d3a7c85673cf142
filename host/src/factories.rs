//! Registry factories of the `filesystem` and `http` built-ins: typed configuration →
//! grants + adapter configuration.

use crate::builtin::{FILESYSTEM_ADAPTER, HTTP_ADAPTER};
use crate::wasm::{DirAccess, Grants, HttpGrant, Limits, Runtime, WasmProvider};
use crate::{AdapterConfig, ConfigValue, Error, Provider, Result};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Name of the built-in filesystem adapter.
pub const FILESYSTEM: &str = "filesystem";
/// Name of the built-in HTTP adapter.
pub const HTTP: &str = "http";

/// Where the filesystem factory mounts the granted directory in the guest.
const GUEST_DIR: &str = "/data";

/// Default call deadline of a filesystem provider: disk I/O (10 000-key batches, fsync)
/// takes longer than the memory adapter's calls.
const FILESYSTEM_DEADLINE: Duration = Duration::from_secs(30);

/// Default `timeout` of the HTTP adapter (kept in step with `adapters/http`).
const HTTP_DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

fn unknown(provider: &str, field: &str, known: &str) -> Error {
    Error::InvalidConfig(format!(
        "provider `{provider}`: unknown field `{field}` (known fields: {known})"
    ))
}

fn wrong(provider: &str, field: &str, kind: &str, value: &ConfigValue) -> Error {
    Error::InvalidConfig(format!(
        "provider `{provider}`: field `{field}` takes a {kind} value, got a {:?}",
        value.kind()
    ))
}

/// The `filesystem` factory. Fields: `dir` (text, required: host directory, granted
/// read-write unless `read-only`), `read-only` (boolean, default false), `namespace`
/// (text), `fsync` (boolean). One instance (partition) serves the directory.
pub(crate) async fn filesystem(
    runtime: Runtime,
    config: AdapterConfig,
) -> Result<Arc<dyn Provider>> {
    const KNOWN: &str = "dir, read-only, namespace, fsync";
    let mut dir: Option<PathBuf> = None;
    let mut access = DirAccess::ReadWrite;
    let mut adapter = AdapterConfig::new().with("path", ConfigValue::Text(GUEST_DIR.into()));
    for (name, value) in config.iter() {
        match (name, value) {
            ("dir", ConfigValue::Text(d)) => dir = Some(PathBuf::from(d)),
            ("dir", v) => return Err(wrong(FILESYSTEM, name, "Text", v)),
            ("read-only", ConfigValue::Boolean(ro)) => {
                access = if *ro {
                    DirAccess::ReadOnly
                } else {
                    DirAccess::ReadWrite
                };
            }
            ("read-only", v) => return Err(wrong(FILESYSTEM, name, "Boolean", v)),
            ("namespace" | "fsync", v) => adapter.set(name, v.clone()),
            (other, _) => return Err(unknown(FILESYSTEM, other, KNOWN)),
        }
    }
    let dir = dir.ok_or_else(|| {
        Error::InvalidConfig(format!(
            "provider `{FILESYSTEM}`: required field `dir` (the directory to store entries in) is missing"
        ))
    })?;
    if !dir.is_dir() {
        return Err(Error::InvalidConfig(format!(
            "provider `{FILESYSTEM}`: `{}` is not a directory",
            dir.display()
        )));
    }
    let component = runtime.load(FILESYSTEM, FILESYSTEM_ADAPTER)?;
    let provider = WasmProvider::builder(&runtime, component)
        .config(adapter)
        .grants(Grants::none().dir(dir, GUEST_DIR, access))
        .limits(Limits {
            call_deadline: FILESYSTEM_DEADLINE,
            ..Limits::default()
        })
        // Every instance would see every file: one instance keeps scan and stats exact.
        .partitions(1)
        .build()
        .await?;
    Ok(Arc::new(provider))
}

/// The `http` factory. Fields: `url` (text, required; its origin is the HTTP grant),
/// `token` (text), `headers` (text list of `Name: value`), `timeout` (duration, default
/// 5 s). The call deadline is set above the timeout so a slow server gives `unavailable`.
pub(crate) async fn http(runtime: Runtime, config: AdapterConfig) -> Result<Arc<dyn Provider>> {
    const KNOWN: &str = "url, token, headers, timeout";
    let mut url = None;
    let mut timeout = HTTP_DEFAULT_TIMEOUT;
    for (name, value) in config.iter() {
        match (name, value) {
            ("url", ConfigValue::Text(u)) => url = Some(u.clone()),
            ("url", v) => return Err(wrong(HTTP, name, "Text", v)),
            ("timeout", ConfigValue::DurationMs(ms)) => timeout = Duration::from_millis(*ms),
            ("timeout", v) => return Err(wrong(HTTP, name, "DurationMs", v)),
            ("token" | "headers", _) => {}
            (other, _) => return Err(unknown(HTTP, other, KNOWN)),
        }
    }
    let url = url.ok_or_else(|| {
        Error::InvalidConfig(format!(
            "provider `{HTTP}`: required field `url` (the cache server's base URL) is missing"
        ))
    })?;
    let mut grant = HttpGrant::new([url.as_str()])?;
    grant.max_timeout = timeout;
    let component = runtime.load(HTTP, HTTP_ADAPTER)?;
    let provider = WasmProvider::builder(&runtime, component)
        .config(config)
        .grants(Grants::none().http(grant))
        .limits(Limits {
            // A call waits at most for connect + first byte + gaps between bytes, each
            // capped at `timeout` by the host.
            call_deadline: timeout.saturating_mul(4) + Duration::from_secs(1),
            ..Limits::default()
        })
        // The state is on the server: one instance, so scan and stats are not repeated.
        .partitions(1)
        .build()
        .await?;
    Ok(Arc::new(provider))
}
