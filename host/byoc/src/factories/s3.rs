//! The built-in `s3` provider: the embedded S3 adapter, granted the origin it sends to
//! (the endpoint's, with the bucket in front of the host for virtual-hosted addressing).

use super::{FactoryInput, aws, no_layers};
use crate::builtin::{S3_ADAPTER, S3_SHA256};
use crate::limits::LimitsConfig;
use crate::wasm::Runtime;
use crate::{AdapterConfig, ConfigField, ConfigKind, Error, Provider, Result};
use std::sync::Arc;

/// Name of the built-in S3 adapter.
pub const S3: &str = "s3";

/// The `s3` provider's fields (the adapter's; see `adapters/s3`).
fn fields() -> Vec<ConfigField> {
    let text = |name: &str, doc: &str| ConfigField::new(name, ConfigKind::Text, false, doc);
    aws::fields(
        "s3",
        vec![ConfigField::new(
            "bucket",
            ConfigKind::Text,
            true,
            "the bucket",
        )],
        vec![
            text("prefix", "object name prefix"),
            text("addressing", "`path` (default) or `virtual`"),
            ConfigField::new(
                "create-bucket",
                ConfigKind::Boolean,
                false,
                "create the bucket on open",
            ),
        ],
    )
}

/// The origin the adapter sends to for `config` (checked): what the grant allows.
fn origin(config: &AdapterConfig) -> Result<String> {
    let endpoint = aws::endpoint(config, "s3");
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

/// The `s3` factory.
pub(crate) async fn s3(
    runtime: Runtime,
    config: AdapterConfig,
    limits: &LimitsConfig,
) -> Result<Arc<dyn Provider>> {
    let config = config.checked(S3, &fields())?;
    let origin = origin(&config)?;
    aws::provider(
        &runtime,
        S3,
        (S3_ADAPTER, S3_SHA256),
        config,
        origin,
        limits,
    )
    .await
}

/// The registry's `s3` factory.
pub(crate) async fn create(input: FactoryInput) -> Result<Arc<dyn Provider>> {
    no_layers(S3, &input)?;
    s3(input.runtime, input.config, &input.limits).await
}
