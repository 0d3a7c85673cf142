//! The built-in `etcd` provider: the embedded etcd adapter, granted the origin of its
//! `endpoint` (etcd's client port, which serves the v3 JSON gateway).

use super::{FactoryInput, aws, no_layers};
use crate::builtin::{ETCD_ADAPTER, ETCD_SHA256};
use crate::limits::LimitsConfig;
use crate::wasm::Runtime;
use crate::{AdapterConfig, ConfigField, ConfigKind, Provider, Result};
use std::sync::Arc;

/// Name of the built-in etcd adapter.
pub const ETCD: &str = "etcd";

/// The `etcd` provider's fields (the adapter's; see `adapters/etcd`).
fn fields() -> Vec<ConfigField> {
    let text = |name: &str, required: bool, doc: &str| {
        ConfigField::new(name, ConfigKind::Text, required, doc)
    };
    vec![
        text(
            "endpoint",
            true,
            "etcd's client URL, e.g. http://127.0.0.1:2379",
        ),
        text("namespace", false, "prefix of the etcd keys (byoc/)"),
        text("user", false, "etcd user"),
        text("password", false, "the user's password"),
        ConfigField::new(
            "timeout",
            ConfigKind::DurationMs,
            false,
            "per-request timeout (5 s)",
        ),
        ConfigField::new(
            "lease-bucket",
            ConfigKind::DurationMs,
            false,
            "width of the expiry buckets sharing a lease (60 s)",
        ),
    ]
}

/// The `etcd` factory.
pub(crate) async fn etcd(
    runtime: Runtime,
    config: AdapterConfig,
    limits: &LimitsConfig,
) -> Result<Arc<dyn Provider>> {
    let config = config.checked(ETCD, &fields())?;
    let origin = config.text("endpoint").unwrap_or_default().to_owned();
    let component = (ETCD_ADAPTER, ETCD_SHA256);
    aws::provider(&runtime, ETCD, component, config, origin, limits).await
}

/// The registry's `etcd` factory.
pub(crate) async fn create(input: FactoryInput) -> Result<Arc<dyn Provider>> {
    no_layers(ETCD, &input)?;
    etcd(input.runtime, input.config, &input.limits).await
}
