//! The built-in `filesystem` provider: typed configuration → grants + adapter
//! configuration.

use super::{FactoryInput, no_layers};
use crate::builtin::FILESYSTEM_ADAPTER;
use crate::limits::LimitsConfig;
use crate::wasm::{DirAccess, Grants, Limits, Runtime, WasmProvider};
use crate::{AdapterConfig, ConfigField, ConfigKind, ConfigValue, Error, Provider, Result};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Name of the built-in filesystem adapter.
pub const FILESYSTEM: &str = "filesystem";

/// Where the filesystem factory mounts the granted directory in the guest.
const GUEST_DIR: &str = "/data";

/// Default call deadline of a filesystem provider: disk I/O (10 000-key batches, fsync)
/// takes longer than the memory adapter's calls.
const FILESYSTEM_DEADLINE: Duration = Duration::from_secs(30);

/// Default permissions of a directory the filesystem factory creates: the user's only.
pub(crate) const DEFAULT_DIR_MODE: u32 = 0o700;

/// Creates `dir` and missing parents; `dir` itself gets `mode` (parents the default).
pub(crate) fn create_private_dir(dir: &std::path::Path, mode: u32) -> std::io::Result<()> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    create_dir_with_mode(dir, mode)
}

#[cfg(unix)]
fn create_dir_with_mode(dir: &std::path::Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
    std::fs::DirBuilder::new().mode(mode).create(dir)?;
    // The umask may have narrowed a wider `mode`; set exactly what was asked.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn create_dir_with_mode(dir: &std::path::Path, _mode: u32) -> std::io::Result<()> {
    std::fs::create_dir(dir)
}

/// The `filesystem` factory. Fields: `dir` (text, required: host directory, granted
/// read-write unless `read-only`), `read-only` (boolean, default false), `namespace`
/// (text), `fsync` (boolean), `create` (boolean: create `dir` if missing, with mode
/// `mode`), `mode` (text, octal, default `0700`: the created directory's permissions;
/// entry files are created under the process umask, and a 0700 directory keeps other
/// users from reaching them), `offload-io` (boolean, default false: file operations run
/// on the calling worker thread; see [`Grants::offload_file_io`]). One instance
/// (partition) serves the directory.
pub(crate) async fn filesystem(
    runtime: Runtime,
    config: AdapterConfig,
    limits: &LimitsConfig,
) -> Result<Arc<dyn Provider>> {
    let fields = [
        ConfigField::new(
            "dir",
            ConfigKind::Text,
            true,
            "the host directory to store entries in",
        ),
        ConfigField::new(
            "read-only",
            ConfigKind::Boolean,
            false,
            "grant the directory read-only",
        ),
        ConfigField::new(
            "namespace",
            ConfigKind::Text,
            false,
            "this cache's files only",
        ),
        ConfigField::new("fsync", ConfigKind::Boolean, false, "flush each write"),
        ConfigField::new(
            "create",
            ConfigKind::Boolean,
            false,
            "create the directory (and its parents) if missing",
        ),
        ConfigField::new(
            "mode",
            ConfigKind::Text,
            false,
            "permissions of a directory `create` makes, octal (default 0700)",
        ),
        ConfigField::new(
            "offload-io",
            ConfigKind::Boolean,
            false,
            "run file operations on a blocking-pool thread, for a file system that can \
             stall (Grants::offload_file_io)",
        ),
    ];
    let mut adapter = config.checked(FILESYSTEM, &fields)?;
    let dir = PathBuf::from(adapter.text("dir").unwrap_or_default());
    let access = if adapter.boolean("read-only") == Some(true) {
        DirAccess::ReadOnly
    } else {
        DirAccess::ReadWrite
    };
    let create = adapter.boolean("create") == Some(true);
    let offload = adapter.boolean("offload-io") == Some(true);
    let mode = match adapter.text("mode") {
        None => DEFAULT_DIR_MODE,
        Some(text) => u32::from_str_radix(text.trim_start_matches("0o"), 8)
            .ok()
            .filter(|m| *m <= 0o777)
            .ok_or_else(|| {
                Error::InvalidConfig(format!(
                    "provider `{FILESYSTEM}`: `mode` must be octal permissions such as 0750, \
                     got `{text}`"
                ))
            })?,
    };
    adapter.remove("mode");
    adapter.remove("offload-io");
    adapter.remove("dir");
    adapter.remove("read-only");
    adapter.remove("create");
    if create && !dir.exists() {
        create_private_dir(&dir, mode).map_err(|e| {
            Error::InvalidConfig(format!(
                "provider `{FILESYSTEM}`: cannot create `{}`: {e}",
                dir.display()
            ))
        })?;
    }
    adapter.set("path", ConfigValue::Text(GUEST_DIR.into()));
    if !dir.is_dir() {
        return Err(Error::InvalidConfig(format!(
            "provider `{FILESYSTEM}`: `{}` is not a directory",
            dir.display()
        )));
    }
    let component = runtime.load_hashed(
        FILESYSTEM,
        FILESYSTEM_ADAPTER,
        crate::builtin::FILESYSTEM_SHA256,
    )?;
    let provider = WasmProvider::builder(&runtime, component)
        .config(adapter)
        .grants(
            Grants::none()
                .dir(dir, GUEST_DIR, access)
                .offload_file_io(offload),
        )
        .limits(limits.apply(Limits::default().call_deadline(FILESYSTEM_DEADLINE)))
        // Every instance would see every file: one instance keeps scan and stats exact.
        .partitions(1)
        .build()
        .await?;
    Ok(Arc::new(provider))
}

/// The registry's `filesystem` factory.
pub(crate) async fn create(input: FactoryInput) -> Result<Arc<dyn Provider>> {
    no_layers(FILESYSTEM, &input)?;
    filesystem(input.runtime, input.config, &input.limits).await
}
