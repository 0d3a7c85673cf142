//! What the `s3` and `dynamodb` factories share: the AWS fields (endpoint, region,
//! credentials, timeout) and a pooled adapter granted exactly the origin it signs for
//! (which the `etcd` factory uses too).

use crate::limits::LimitsConfig;
use crate::wasm::{Grants, HttpGrant, Limits, Runtime, WasmProvider};
use crate::{AdapterConfig, ConfigField, ConfigKind, Provider, Result};
use std::sync::Arc;
use std::time::Duration;

/// Default `timeout` (kept in step with the adapters).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A scan, clear or batch makes several requests, each bounded by `timeout`: the call
/// deadline leaves room for them, so a slow service gives `unavailable`.
const REQUESTS_PER_CALL: u32 = 8;

/// The fields every AWS service's provider takes, after the service's own `first` ones
/// and before its `last` ones; `service` names the default endpoint's host.
pub(super) fn fields(
    service: &str,
    first: Vec<ConfigField>,
    last: Vec<ConfigField>,
) -> Vec<ConfigField> {
    let text = |name: &str, doc: &str| ConfigField::new(name, ConfigKind::Text, false, doc);
    let mut fields = first;
    fields.extend([
        text(
            "endpoint",
            &format!("base URL (https://{service}.<region>.amazonaws.com)"),
        ),
        text("region", "signing region (us-east-1)"),
        text("access-key-id", "access key id"),
        text("secret-access-key", "secret access key"),
        text("session-token", "session token"),
        ConfigField::new(
            "timeout",
            ConfigKind::DurationMs,
            false,
            "per-request timeout (5 s)",
        ),
    ]);
    fields.extend(last);
    fields
}

/// The configured endpoint, or the service's default one in the configured region.
pub(super) fn endpoint(config: &AdapterConfig, service: &str) -> String {
    let region = config.text("region").unwrap_or("us-east-1");
    config
        .text("endpoint")
        .map(str::to_owned)
        .unwrap_or_else(|| format!("https://{service}.{region}.amazonaws.com"))
}

/// The embedded component `bytes` (`sha256`) as a pooled provider over the checked
/// `config`, granted HTTP to `origin` only, with timeouts capped at `timeout`.
pub(super) async fn provider(
    runtime: &Runtime,
    name: &str,
    component: (&[u8], [u8; 32]),
    config: AdapterConfig,
    origin: String,
    limits: &LimitsConfig,
) -> Result<Arc<dyn Provider>> {
    let timeout = config.duration("timeout").unwrap_or(DEFAULT_TIMEOUT);
    let mut grant = HttpGrant::new([origin])?;
    grant.max_timeout = timeout;
    // A call holds its instance while its request is in flight: one instance (started
    // on demand) per connection the grant allows, so instances never cap the requests
    // in flight below the connections.
    let instances = grant.max_connections;
    let (bytes, sha256) = component;
    let component = runtime.load_hashed(name, bytes, sha256)?;
    let deadline = timeout.saturating_mul(REQUESTS_PER_CALL) + Duration::from_secs(1);
    let provider = WasmProvider::builder(runtime, component)
        .config(config)
        .grants(Grants::none().http(grant))
        .limits(limits.apply(Limits::default().call_deadline(deadline)))
        .pooled(instances)
        .build()
        .await?;
    Ok(Arc::new(provider))
}
