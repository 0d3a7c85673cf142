//! The built-in `dynamodb` provider: the embedded DynamoDB adapter, granted the origin of
//! its endpoint.

use super::{FactoryInput, aws, no_layers};
use crate::builtin::{DYNAMODB_ADAPTER, DYNAMODB_SHA256};
use crate::limits::LimitsConfig;
use crate::wasm::Runtime;
use crate::{AdapterConfig, ConfigField, ConfigKind, Provider, Result};
use std::sync::Arc;

/// Name of the built-in DynamoDB adapter.
pub const DYNAMODB: &str = "dynamodb";

/// The `dynamodb` provider's fields (the adapter's; see `adapters/dynamodb`).
fn fields() -> Vec<ConfigField> {
    aws::fields(
        "dynamodb",
        vec![
            ConfigField::new("table", ConfigKind::Text, true, "the table"),
            ConfigField::new(
                "namespace",
                ConfigKind::Text,
                false,
                "prefix of the partition keys",
            ),
        ],
        vec![ConfigField::new(
            "create-table",
            ConfigKind::Boolean,
            false,
            "create the table on open",
        )],
    )
}

/// The `dynamodb` factory.
pub(crate) async fn dynamodb(
    runtime: Runtime,
    config: AdapterConfig,
    limits: &LimitsConfig,
) -> Result<Arc<dyn Provider>> {
    let config = config.checked(DYNAMODB, &fields())?;
    let origin = aws::endpoint(&config, "dynamodb");
    let component = (DYNAMODB_ADAPTER, DYNAMODB_SHA256);
    aws::provider(&runtime, DYNAMODB, component, config, origin, limits).await
}

/// The registry's `dynamodb` factory.
pub(crate) async fn create(input: FactoryInput) -> Result<Arc<dyn Provider>> {
    no_layers(DYNAMODB, &input)?;
    dynamodb(input.runtime, input.config, &input.limits).await
}
