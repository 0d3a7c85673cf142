//! Compiled components on disk, loaded by mapping the file.
//!
//! An entry is the serialized output of `Engine::precompile_component`, stored uncompressed
//! as `<sha256 of the component>-<engine hash>.cwasm`, so a hit is one `mmap`
//! (`Component::deserialize_file`) with no decompression. The engine hash keeps another
//! wasmtime version or configuration from reading an entry it did not write.
//!
//! Loading machine code trusts the file: the directory is created with mode `0700`, and one
//! that group or others may write to is not used. Entries are written to a temporary file
//! and renamed into place. Entries not used for [`STALE_AFTER`] are removed when a new one
//! is written. More: `docs/internals.md`, "The compiled-code cache".

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Entries not loaded for this long are removed when a new entry is written: 30 days.
pub const STALE_AFTER: Duration = Duration::from_secs(30 * 24 * 3600);

const EXTENSION: &str = "cwasm";

/// A hit refreshes its entry's modification time when it is older than this: one day.
const REFRESH_AFTER: Duration = Duration::from_secs(24 * 3600);

/// A directory of compiled components for one engine.
pub(crate) struct CodeDir {
    dir: PathBuf,
    engine_hash: u64,
}

impl CodeDir {
    /// The cache in `dir` (created if missing), or `None` when it cannot be used.
    pub(crate) fn open(dir: &Path, engine: &Engine) -> Option<CodeDir> {
        create_private_dir(dir).ok()?;
        if !is_private(dir) {
            return None;
        }
        // std's default hasher with fixed keys: stable between processes of one build,
        // which is all a cache key needs.
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Some(CodeDir {
            dir: dir.to_owned(),
            engine_hash: hasher.finish(),
        })
    }

    fn path(&self, sha256: &[u8; 32]) -> PathBuf {
        let hex = hex::encode(sha256);
        self.dir
            .join(format!("{hex}-{:016x}.{EXTENSION}", self.engine_hash))
    }

    /// The component whose bytes hash to `sha256`, compiled from `bytes` and stored
    /// on a miss.
    pub(crate) fn load(
        &self,
        engine: &Engine,
        sha256: &[u8; 32],
        bytes: &[u8],
    ) -> wasmtime::Result<Component> {
        let path = self.path(sha256);
        if let Ok(meta) = std::fs::metadata(&path)
            && meta.is_file()
        {
            // SAFETY: entries are only ever written by `store` below, from
            // `precompile_component` of this engine's configuration (the engine hash is in
            // the name), into a directory only this user can write (checked in `open`);
            // wasmtime still checks the header and the engine configuration.
            if let Ok(component) = unsafe { Component::deserialize_file(engine, &path) } {
                // At most one refresh a day: a load stays one stat and one mapping.
                let age = meta.modified().ok().and_then(|m| m.elapsed().ok());
                if age.is_none_or(|age| age > REFRESH_AFTER) {
                    refresh(&path);
                }
                return Ok(component);
            }
        }
        let serialized = engine.precompile_component(bytes)?;
        // A cache that cannot be written costs the next process a compile, nothing else.
        let _ = self.store(&path, &serialized);
        // SAFETY: `serialized` was produced by `precompile_component` of this engine just
        // above.
        unsafe { Component::deserialize(engine, &serialized) }
    }

    fn store(&self, path: &Path, serialized: &[u8]) -> std::io::Result<()> {
        let mut temp = tempfile::NamedTempFile::new_in(&self.dir)?;
        temp.write_all(serialized)?;
        temp.as_file().sync_all()?;
        temp.persist(path).map_err(|e| e.error)?;
        self.prune();
        Ok(())
    }

    /// Removes entries not loaded for [`STALE_AFTER`].
    fn prune(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let now = SystemTime::now();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != EXTENSION) {
                continue;
            }
            let modified = entry.metadata().and_then(|m| m.modified());
            if modified.is_ok_and(|m| now.duration_since(m).is_ok_and(|age| age > STALE_AFTER)) {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// Marks an entry as used now (best effort).
fn refresh(path: &Path) {
    if let Ok(file) = std::fs::File::options().append(true).open(path) {
        let _ = file.set_modified(SystemTime::now());
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Whether only its owner may write to `dir`.
fn is_private(dir: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o022 == 0)
    }
    #[cfg(not(unix))]
    {
        dir.is_dir()
    }
}

/// The SHA-256 of `bytes`.
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    use super::CodeDir;
    use wasmtime::{Config, Engine};

    fn engine() -> Engine {
        Engine::new(&Config::new()).expect("engine")
    }

    const WAT: &str = "(component (core module (func (export \"f\"))))";

    #[test]
    fn a_miss_stores_and_a_hit_maps_the_same_component() {
        let dir = tempfile::tempdir().expect("temp dir");
        let engine = engine();
        let cache = CodeDir::open(dir.path(), &engine).expect("cache");
        let bytes = wat::parse_str(WAT).expect("wat");
        let key = super::sha256(&bytes);
        cache.load(&engine, &key, &bytes).expect("compile");
        let entries: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
        assert_eq!(entries.len(), 1, "one entry, no temporary file left");
        // A second cache over the same directory loads the entry (the bytes given are
        // not even valid: nothing is compiled).
        let again = CodeDir::open(dir.path(), &engine).expect("cache");
        again.load(&engine, &key, b"not wasm").expect("hit");
    }

    #[test]
    fn code_with_and_without_unwind_tables_never_mix() {
        let dir = tempfile::tempdir().expect("temp dir");
        let bytes = wat::parse_str(WAT).expect("wat");
        let key = super::sha256(&bytes);
        for unwind in [false, true, false] {
            let engine = Engine::new(Config::new().native_unwind_info(unwind)).expect("engine");
            let cache = CodeDir::open(dir.path(), &engine).expect("cache");
            cache.load(&engine, &key, &bytes).expect("load");
        }
        // One entry per engine configuration.
        let entries = std::fs::read_dir(dir.path()).expect("dir").count();
        assert_eq!(entries, 2);
    }

    #[test]
    fn a_corrupt_entry_is_compiled_again_and_replaced() {
        let dir = tempfile::tempdir().expect("temp dir");
        let engine = engine();
        let cache = CodeDir::open(dir.path(), &engine).expect("cache");
        let bytes = wat::parse_str(WAT).expect("wat");
        let key = super::sha256(&bytes);
        std::fs::write(cache.path(&key), b"garbage").expect("write");
        cache.load(&engine, &key, &bytes).expect("recompiled");
        assert_ne!(std::fs::read(cache.path(&key)).expect("read"), b"garbage");
    }

    #[cfg(unix)]
    #[test]
    fn a_directory_others_may_write_is_not_used() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
            .expect("chmod");
        assert!(CodeDir::open(dir.path(), &engine()).is_none());
    }
}
