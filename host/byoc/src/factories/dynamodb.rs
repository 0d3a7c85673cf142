//! The built-in `dynamodb` provider: the embedded DynamoDB adapter, granted the origin of
//! its endpoint.

use super::{FactoryInput, no_layers};
use crate::builtin::DYNAMODB_ADAPTER;
use crate::limits::LimitsConfig;
use crate::wasm::{Grants, HttpGrant, Limits, Runtime, WasmProvider};
use crate::{AdapterConfig, ConfigField, ConfigKind, Provider, Result};
use std::sync::Arc;
use std::time::Duration;

/// Name of the built-in DynamoDB adapter.
pub const DYNAMODB: &str = "dynamodb";

/// Pooled instances of a `dynamodb` provider (started on demand).
const DYNAMODB_INSTANCES: usize = 8;

/// Default `timeout` (kept in step with `adapters/dynamodb`).
const DYNAMODB_DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The `dynamodb` provider's fields (the adapter's; see `adapters/dynamodb`).
fn fields() -> Vec<ConfigField> {
    let text = |name: &str, required: bool, doc: &str| {
        ConfigField::new(name, ConfigKind::Text, required, doc)
    };
    vec![
        text("table", true, "the table"),
        text(
            "endpoint",
            false,
            "base URL (https://dynamodb.<region>.amazonaws.com)",
        ),
        text("region", false, "signing region (us-east-1)"),
        text("namespace", false, "prefix of the partition keys"),
        text("access-key-id", false, "access key id"),
        text("secret-access-key", false, "secret access key"),
        text("session-token", false, "session token"),
        ConfigField::new(
            "timeout",
            ConfigKind::DurationMs,
            false,
            "per-request timeout (5 s)",
        ),
        ConfigField::new(
            "create-table",
            ConfigKind::Boolean,
            false,
            "create the table on open",
        ),
    ]
}

/// The `dynamodb` factory. The call deadline is set above the timeout (and its retries)
/// so a slow service gives `unavailable`.
pub(crate) async fn dynamodb(
    runtime: Runtime,
    config: AdapterConfig,
    limits: &LimitsConfig,
) -> Result<Arc<dyn Provider>> {
    let config = config.checked(DYNAMODB, &fields())?;
    let timeout = config
        .duration("timeout")
        .unwrap_or(DYNAMODB_DEFAULT_TIMEOUT);
    let region = config.text("region").unwrap_or("us-east-1");
    let endpoint = config
        .text("endpoint")
        .map(str::to_owned)
        .unwrap_or_else(|| format!("https://dynamodb.{region}.amazonaws.com"));
    let mut grant = HttpGrant::new([endpoint])?;
    grant.max_timeout = timeout;
    let component =
        runtime.load_hashed(DYNAMODB, DYNAMODB_ADAPTER, crate::builtin::DYNAMODB_SHA256)?;
    let provider = WasmProvider::builder(&runtime, component)
        .config(config)
        .grants(Grants::none().http(grant))
        // Batches, scans and clear make several requests, each bounded by `timeout`.
        .limits(limits.apply(
            Limits::default().call_deadline(timeout.saturating_mul(8) + Duration::from_secs(1)),
        ))
        .pooled(DYNAMODB_INSTANCES)
        .build()
        .await?;
    Ok(Arc::new(provider))
}

/// The registry's `dynamodb` factory.
pub(crate) async fn create(input: FactoryInput) -> Result<Arc<dyn Provider>> {
    no_layers(DYNAMODB, &input)?;
    dynamodb(input.runtime, input.config, &input.limits).await
}
