//! Registry factory of the `sqlite` built-in: the embedded SQLite store adapter on a
//! granted directory, granted as the `redb` provider's is.

use super::{FactoryInput, no_layers};
use crate::limits::LimitsConfig;
use crate::wasm::Runtime;
use crate::{AdapterConfig, ConfigField, ConfigKind, Error, Provider, Result};
use std::sync::Arc;

/// Name of the built-in SQLite adapter.
pub const SQLITE: &str = "sqlite";

/// The `sqlite` factory. Fields: `dir` (text, required), `read-only`, `create` (booleans,
/// as for `redb`), and the adapter's own `file`, `journal`, `synchronous`, `lock-stale`,
/// `max-bytes` and `max-entries` (see `adapters/sqlite`). Fails with `unsupported` when
/// the host was built without a C compiler for the adapter.
pub(crate) async fn sqlite(
    runtime: Runtime,
    config: AdapterConfig,
    limits: &LimitsConfig,
) -> Result<Arc<dyn Provider>> {
    let Some((bytes, sha256)) = crate::builtin::SQLITE_ADAPTER else {
        return Err(Error::Unsupported(format!(
            "provider `{SQLITE}` was not built into this host: {}",
            crate::builtin::SQLITE_MISSING
        )));
    };
    let own = super::redb::store_fields(vec![
        ConfigField::new(
            "journal",
            ConfigKind::Text,
            false,
            "delete, truncate or persist",
        ),
        ConfigField::new(
            "synchronous",
            ConfigKind::Text,
            false,
            "off, normal, full or extra",
        ),
    ]);
    let component = runtime.load_hashed(SQLITE, bytes, sha256)?;
    super::redb::on_granted_dir(SQLITE, &runtime, component, config, own, limits).await
}

/// The registry's entry point: no layers, then [`sqlite`].
pub(crate) async fn create(input: FactoryInput) -> Result<Arc<dyn Provider>> {
    no_layers(SQLITE, &input)?;
    sqlite(input.runtime, input.config, &input.limits).await
}
