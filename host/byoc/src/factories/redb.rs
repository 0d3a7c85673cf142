//! Registry factory of the `redb` built-in: the embedded redb store adapter on a granted
//! directory, granted like the `filesystem` provider's.

use super::{FactoryInput, no_layers};
use crate::limits::LimitsConfig;
use crate::wasm::{AdapterComponent, DirAccess, Grants, Limits, Runtime, WasmProvider};
use crate::{AdapterConfig, ConfigField, ConfigKind, ConfigValue, Error, Provider, Result};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Name of the built-in redb adapter.
pub const REDB: &str = "redb";

/// Where the granted directory is mounted in the guest.
const GUEST_DIR: &str = "/data";

/// Default call deadline: a durable commit syncs the file; opening a database a crashed
/// writer left behind repairs it first.
const STORE_DEADLINE: Duration = Duration::from_secs(30);

/// The `redb` factory. Fields: `dir` (text, required: host directory, granted read-write
/// unless `read-only`), `read-only` (boolean), `create` (boolean: create `dir` if
/// missing), and the adapter's own `file`, `durability`, `lock-stale`, `cache-size`,
/// `max-bytes` and `max-entries` (see `adapters/redb`).
pub(crate) async fn redb(
    runtime: Runtime,
    config: AdapterConfig,
    limits: &LimitsConfig,
) -> Result<Arc<dyn Provider>> {
    let own = store_fields(vec![
        ConfigField::new(
            "durability",
            ConfigKind::Text,
            false,
            "immediate or eventual",
        ),
        ConfigField::new("cache-size", ConfigKind::Size, false, "redb page cache"),
    ]);
    let component = runtime.load_hashed(
        REDB,
        crate::builtin::REDB_ADAPTER,
        crate::builtin::REDB_SHA256,
    )?;
    on_granted_dir(REDB, &runtime, component, config, own, limits).await
}

/// The fields every embedded store's adapter takes (`file`, `lock-stale`, `max-bytes`,
/// `max-entries`: the guest SDK's `store::FileStore`) around its `own`.
pub(super) fn store_fields(own: Vec<ConfigField>) -> Vec<ConfigField> {
    let mut fields = vec![ConfigField::new(
        "file",
        ConfigKind::Text,
        false,
        "database file name",
    )];
    fields.extend(own);
    fields.extend([
        ConfigField::new(
            "lock-stale",
            ConfigKind::DurationMs,
            false,
            "lock file stale time",
        ),
        ConfigField::new(
            "max-bytes",
            ConfigKind::Size,
            false,
            "bound on bytes stored",
        ),
        ConfigField::new(
            "max-entries",
            ConfigKind::Integer,
            false,
            "bound on entries",
        ),
    ]);
    fields
}

/// An embedded store's provider: `component` on the directory of the configuration's
/// `dir` (granted read-write unless `read-only`; created if missing with `create`), with
/// the adapter's `own` fields passed on. One instance serves the database: it holds the
/// lock file.
pub(super) async fn on_granted_dir(
    name: &str,
    runtime: &Runtime,
    component: AdapterComponent,
    config: AdapterConfig,
    own: Vec<ConfigField>,
    limits: &LimitsConfig,
) -> Result<Arc<dyn Provider>> {
    let mut fields = vec![
        ConfigField::new(
            "dir",
            ConfigKind::Text,
            true,
            "the host directory of the database",
        ),
        ConfigField::new(
            "read-only",
            ConfigKind::Boolean,
            false,
            "grant the directory read-only",
        ),
        ConfigField::new(
            "create",
            ConfigKind::Boolean,
            false,
            "create the directory if missing",
        ),
    ];
    fields.extend(own);
    let mut adapter = config.checked(name, &fields)?;
    let dir = PathBuf::from(adapter.text("dir").unwrap_or_default());
    let access = if adapter.boolean("read-only") == Some(true) {
        DirAccess::ReadOnly
    } else {
        DirAccess::ReadWrite
    };
    let create = adapter.boolean("create") == Some(true);
    for field in ["dir", "read-only", "create"] {
        adapter.remove(field);
    }
    // Created private, as the filesystem provider's directory is (SECURITY.md).
    if create && !dir.exists() {
        super::filesystem::create_private_dir(&dir, super::filesystem::DEFAULT_DIR_MODE).map_err(
            |e| {
                Error::InvalidConfig(format!(
                    "provider `{name}`: cannot create `{}`: {e}",
                    dir.display()
                ))
            },
        )?;
    }
    if !dir.is_dir() {
        return Err(Error::InvalidConfig(format!(
            "provider `{name}`: `{}` is not a directory",
            dir.display()
        )));
    }
    adapter.set("path", ConfigValue::Text(GUEST_DIR.into()));
    let provider = WasmProvider::builder(runtime, component)
        .config(adapter)
        .grants(Grants::none().dir(dir, GUEST_DIR, access))
        .limits(limits.apply(Limits::default().call_deadline(STORE_DEADLINE)))
        // The lock file admits one writer: a second instance would wait for it to go stale.
        .partitions(1)
        .build()
        .await?;
    Ok(Arc::new(provider))
}

/// The registry's entry point: no layers, then [`redb`].
pub(crate) async fn create(input: FactoryInput) -> Result<Arc<dyn Provider>> {
    no_layers(REDB, &input)?;
    redb(input.runtime, input.config, &input.limits).await
}
