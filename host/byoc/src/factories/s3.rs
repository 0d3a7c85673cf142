//! The built-in `s3` provider: the embedded S3 adapter, granted the origin it sends to
//! (the endpoint's, with the bucket in front of the host for virtual-hosted addressing).

use super::{FactoryInput, no_layers};
use crate::builtin::S3_ADAPTER;
use crate::limits::LimitsConfig;
use crate::wasm::{Grants, HttpGrant, Limits, Runtime, WasmProvider};
use crate::{AdapterConfig, ConfigField, ConfigKind, Error, Provider, Result};
use std::sync::Arc;
use std::time::Duration;

/// Name of the built-in S3 adapter.
pub const S3: &str = "s3";

/// Pooled instances of an `s3` provider (started on demand).
const S3_INSTANCES: usize = 8;

/// Default `timeout` (kept in step with `adapters/s3`).
const S3_DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The `s3` provider's fields (the adapter's; see `adapters/s3`).
fn fields() -> Vec<ConfigField> {
    let text = |name: &str, required: bool, doc: &str| {
        ConfigField::new(name, ConfigKind::Text, required, doc)
    };
    vec![
        text("bucket", true, "the bucket"),
        text(
            "endpoint",
            false,
            "base URL (https://s3.<region>.amazonaws.com)",
        ),
        text("region", false, "signing region (us-east-1)"),
        text("prefix", false, "object name prefix"),
        text("addressing", false, "`path` (default) or `virtual`"),
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
            "create-bucket",
            ConfigKind::Boolean,
            false,
            "create the bucket on open",
        ),
    ]
}

/// The origin the adapter sends to for `config` (checked): what the grant allows.
fn origin(config: &AdapterConfig) -> Result<String> {
    let region = config.text("region").unwrap_or("us-east-1");
    let endpoint = config
        .text("endpoint")
        .map(str::to_owned)
        .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
    match config.text("addressing").unwrap_or("path") {
        "path" => Ok(endpoint),
        "virtual" => {
            let bucket = config.text("bucket").unwrap_or_default();
            let (scheme, rest) = endpoint.split_once("://").ok_or_else(|| {
                Error::InvalidConfig(format!("endpoint `{endpoint}` has no scheme"))
            })?;
            Ok(format!("{scheme}://{bucket}.{rest}"))
        }
        other => Err(Error::InvalidConfig(format!(
            "addressing `{other}`: expected `path` or `virtual`"
        ))),
    }
}

/// The `s3` factory. The call deadline is set above the timeout (and its retries) so a
/// slow store gives `unavailable`.
pub(crate) async fn s3(
    runtime: Runtime,
    config: AdapterConfig,
    limits: &LimitsConfig,
) -> Result<Arc<dyn Provider>> {
    let config = config.checked(S3, &fields())?;
    let timeout = config.duration("timeout").unwrap_or(S3_DEFAULT_TIMEOUT);
    let mut grant = HttpGrant::new([origin(&config)?])?;
    grant.max_timeout = timeout;
    let component = runtime.load_hashed(S3, S3_ADAPTER, crate::builtin::S3_SHA256)?;
    let provider = WasmProvider::builder(&runtime, component)
        .config(config)
        .grants(Grants::none().http(grant))
        // A scan or clear makes several requests, each bounded by `timeout`.
        .limits(limits.apply(
            Limits::default().call_deadline(timeout.saturating_mul(8) + Duration::from_secs(1)),
        ))
        .pooled(S3_INSTANCES)
        .build()
        .await?;
    Ok(Arc::new(provider))
}

/// The registry's `s3` factory.
pub(crate) async fn create(input: FactoryInput) -> Result<Arc<dyn Provider>> {
    no_layers(S3, &input)?;
    s3(input.runtime, input.config, &input.limits).await
}
