//! External components: providers loaded from `.wasm` files named in configuration.

use crate::redis::WithRedis;
use crate::wasm::{AdapterComponent, Grants, Limits, Runtime, WasmProvider};
use crate::{Error, Provider, Result, StackSpec};
use std::path::Path;
use std::sync::Arc;

/// Interface a wrapper imports to reach its layers.
const INNER: &str = "byoc:cache/inner";
/// The host's native Redis import.
const REDIS: &str = "byoc:cache/redis";
/// Outgoing HTTP.
const HTTP: &str = "wasi:http/outgoing-handler";
/// Preopened directories.
const PREOPENS: &str = "wasi:filesystem/preopens";

/// Reads and loads the component file `path` (checking `sha256` when given), with the
/// host's `redis` import linked into `runtime`.
pub fn load(runtime: &Runtime, path: &Path, sha256: Option<&str>) -> Result<AdapterComponent> {
    crate::redis::link(runtime)?;
    let name = path.display().to_string();
    let bytes = crate::wasm::read_component_file(path)?;
    match sha256 {
        Some(sha) => runtime.load_pinned(&name, &bytes, sha),
        None => runtime.load(&name, &bytes),
    }
}

/// Checks a component's imports against what configuration gives it: a capability it
/// imports must be granted (Redis, HTTP origins, inner layers for a wrapper), and a
/// grant it cannot use is a configuration mistake too. Directories are the exception
/// on the missing side: every Rust std component imports the filesystem, so an
/// ungranted one just sees no directory.
pub fn check_grants(component: &AdapterComponent, grants: &Grants, layers: usize) -> Result<()> {
    let name = component.name();
    let fail = |msg: String| Err(Error::InvalidConfig(format!("component `{name}`: {msg}")));
    let imports = |i: &str| component.imports_interface(i);
    match (imports(REDIS), grants.has_redis()) {
        (true, false) => {
            return fail(format!(
                "it imports {REDIS}, but no Redis server is granted (grants: redis: {{ url, namespace }})"
            ));
        }
        (false, true) => {
            return fail(format!(
                "a Redis server is granted, but the component does not import {REDIS}"
            ));
        }
        _ => {}
    }
    match (imports(HTTP), grants.http.is_some()) {
        (true, false) => {
            return fail(format!(
                "it imports {HTTP}, but no HTTP origin is granted (grants: http: [origins]); \
                 every request would be refused"
            ));
        }
        (false, true) => {
            return fail(format!(
                "HTTP origins are granted, but the component does not import {HTTP}"
            ));
        }
        _ => {}
    }
    if !grants.dirs.is_empty() && !imports(PREOPENS) {
        return fail(format!(
            "directories are granted, but the component does not import {PREOPENS}"
        ));
    }
    match (imports(INNER), layers) {
        (true, 0) => fail(format!(
            "it is a wrapper (imports {INNER}) and needs at least one `inner` layer"
        )),
        (false, n @ 1..) => fail(format!(
            "it is not a wrapper (does not import {INNER}), but {n} `inner` layer(s) are given"
        )),
        _ => Ok(()),
    }
}

/// Builds the provider of a component-file [`StackSpec`] over `layers`.
pub(crate) async fn build(
    runtime: &Runtime,
    spec: &StackSpec,
    layers: Vec<Arc<dyn Provider>>,
) -> Result<Arc<dyn Provider>> {
    let component = load(runtime, Path::new(&spec.provider), spec.sha256.as_deref())?;
    check_grants(&component, &spec.grants, layers.len())?;
    if spec.sync_calls {
        runtime.can_call_sync(&component)?;
    }
    let provider = WasmProvider::builder(runtime, component)
        .config(spec.config.clone())
        .grants(spec.grants.clone())
        .limits(spec.limits.apply(Limits::for_wrapper_over(&layers)))
        .layers(layers)
        .partitions(spec.partitions.unwrap_or(1))
        .sync_calls(spec.sync_calls)
        .build()
        .await?;
    Ok(Arc::new(provider))
}
