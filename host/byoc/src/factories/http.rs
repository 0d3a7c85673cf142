//! The built-in `http` provider: the embedded HTTP adapter, granted the origin of its
//! `url`.

use super::{FactoryInput, no_layers};
use crate::builtin::HTTP_ADAPTER;
use crate::limits::LimitsConfig;
use crate::wasm::{Grants, HttpGrant, Limits, Runtime, WasmProvider};
use crate::{AdapterConfig, ConfigField, ConfigKind, Provider, Result};
use std::sync::Arc;
use std::time::Duration;

/// Name of the built-in HTTP adapter.
pub const HTTP: &str = "http";

/// Default `timeout` of the HTTP adapter (kept in step with `adapters/http`).
const HTTP_DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The `http` factory. Fields: `url` (text, required; its origin is the HTTP grant),
/// `token` (text), `headers` (text list of `Name: value`), `timeout` (duration, default
/// 5 s), `ca-file` (text: a PEM file of the CA certificates an `https` server is verified
/// against, instead of the system's roots; kept by the host, not passed to the adapter).
/// The call deadline is set above the timeout so a slow server gives `unavailable`.
pub(crate) async fn http(
    runtime: Runtime,
    config: AdapterConfig,
    limits: &LimitsConfig,
) -> Result<Arc<dyn Provider>> {
    let fields = [
        ConfigField::new("url", ConfigKind::Text, true, "the cache server's base URL"),
        ConfigField::new("token", ConfigKind::Text, false, "bearer token"),
        ConfigField::new(
            "headers",
            ConfigKind::TextList,
            false,
            "extra `Name: value` headers",
        ),
        ConfigField::new(
            "timeout",
            ConfigKind::DurationMs,
            false,
            "per-request timeout (5 s)",
        ),
        ConfigField::new(
            "ca-file",
            ConfigKind::Text,
            false,
            "PEM CA certificates for an https url (default: the system's roots)",
        ),
    ];
    let mut config = config.checked(HTTP, &fields)?;
    let ca_file = match config.remove("ca-file") {
        Some(crate::ConfigValue::Text(path)) => Some(path),
        _ => None,
    };
    let url = config.text("url").unwrap_or_default().to_owned();
    let timeout = config.duration("timeout").unwrap_or(HTTP_DEFAULT_TIMEOUT);
    let mut grant = HttpGrant::new([url.as_str()])?;
    grant.max_timeout = timeout;
    grant.ca_file = ca_file.map(Into::into);
    let instances = grant.max_connections;
    let component = runtime.load_hashed(HTTP, HTTP_ADAPTER, crate::builtin::HTTP_SHA256)?;
    let provider = WasmProvider::builder(&runtime, component)
        .config(config)
        .grants(Grants::none().http(grant))
        // A call waits at most for connect + first byte + gaps between bytes, each
        // capped at `timeout` by the host.
        .limits(limits.apply(
            Limits::default().call_deadline(timeout.saturating_mul(4) + Duration::from_secs(1)),
        ))
        // The state is on the server: interchangeable instances, so concurrent requests
        // overlap; scan, clear and stats go to one of them. A call holds its instance
        // while its request is in flight, so there is one instance (started on demand)
        // per connection the grant allows: fewer would cap the requests in flight below
        // the connections, more would only queue for a connection.
        .pooled(instances)
        .build()
        .await?;
    Ok(Arc::new(provider))
}

/// The registry's `http` factory.
pub(crate) async fn create(input: FactoryInput) -> Result<Arc<dyn Provider>> {
    no_layers(HTTP, &input)?;
    http(input.runtime, input.config, &input.limits).await
}
