//! The BYOC filesystem adapter: one file per entry, inside the one directory its grant
//! preopens.
//!
//! Configuration (all optional):
//! - `path` (text, default `/data`): where the granted directory is mounted in the guest.
//!   The registry's `filesystem` factory grants the host directory at this path.
//! - `namespace` (text, default empty): lowercase letters, digits, `_` and `-`, at most 32.
//!   Caches with different namespaces can share one directory; `clear` and `stats` see only
//!   their own namespace's files.
//! - `fsync` (boolean, default false): whether every write is flushed to stable storage
//!   (`sync_all` on the temporary file) before it is renamed into place.
//!
//! File names are built from the key's hex (or its SHA-256, see [`MAX_HEX_NAME`]), so no
//! key can name a path outside the directory; a write goes to a temporary file renamed over
//! the entry, so no reader sees a torn value. File format and crash safety:
//! `docs/internals.md`, "Filesystem adapter".
//! `increment` and `compare-and-swap` run under a per-key lock file created with `O_EXCL`
//! (a lock older than 10 s is taken as abandoned); a plain `set` takes no lock.
//! A writer killed mid-write leaves a temporary file: `open` removes those older than
//! [`STALE_TMP_MS`], and `stats` counts those left (`filesystem.temp-files`).

use byoc_guest_sdk::store;
use byoc_guest_sdk::{Adapter, Capabilities, Config, ConfigField, ConfigKind, Entry, Error};
use byoc_guest_sdk::{Result, ScanCursor, ScanPage, Usage, now_ms, sorted_page};
use sha2::{Digest, Sha256};
use std::collections::hash_map::RandomState;
use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::io::ErrorKind;
use std::path::PathBuf;

mod files;

/// Longest `k-` file name body (hex digits): keys up to 100 bytes get a reversible name.
pub const MAX_HEX_NAME: usize = 200;

const KEY_PREFIX: &str = "k-";
const HASH_PREFIX: &str = "h-";
const TMP_PREFIX: &str = "tmp-";
const LOCK_PREFIX: &str = "lock-";

/// Age after which a key's lock file counts as abandoned (its writer crashed or was
/// killed at its call deadline, 1 s by default) and is broken.
const STALE_LOCK_MS: u64 = 10_000;
/// How long `increment` and `compare-and-swap` wait for a key's lock before they answer
/// `unavailable`.
const LOCK_WAIT_MS: u64 = 2_000;

/// The filesystem adapter's state.
pub struct Filesystem {
    dir: PathBuf,
    /// Reads and writes entry files (on wasm, with `descriptor.read` and `.write`: see
    /// `files.rs`).
    files: files::Files,
    ns: String,
    fsync: bool,
    random: RandomState,
    writes: u64,
    /// The sorted key listing of the scan in progress, and when it was taken (ms).
    listing: Option<(u64, Vec<String>)>,
}

/// Age past which a temporary file is a killed writer's leftover, removed by `open` (a
/// live write takes well under a second; a file this old is no write in progress).
pub const STALE_TMP_MS: u64 = 15 * 60 * 1000;

/// How long a scan's continuation pages may reuse the listing taken by its first page.
const LISTING_REUSE_MS: u64 = 10_000;

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    s.as_bytes()
        .chunks(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

/// Maps an I/O error to the contract (see [`store::io_error`]).
fn io_error(what: &str, e: std::io::Error) -> Error {
    store::io_error(what, &e)
}

/// A file's contents: the key, then the encoded entry.
fn encode_file(key: &str, entry: &Entry) -> Result<Vec<u8>> {
    let len = u16::try_from(key.len()).map_err(|_| Error::InvalidKey("key too long".into()))?;
    let encoded = entry.encode();
    let mut out = Vec::with_capacity(2 + key.len() + encoded.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(&encoded);
    Ok(out)
}

/// Splits a file into its key and entry bytes.
fn split_file(bytes: &[u8]) -> Option<(&str, &[u8])> {
    let (len, rest) = bytes.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_le_bytes(*len));
    if rest.len() < len {
        return None;
    }
    let (key, entry) = rest.split_at(len);
    Some((std::str::from_utf8(key).ok()?, entry))
}

impl Filesystem {
    /// The file name of `key` (without the directory).
    fn name(&self, key: &str) -> String {
        let hexed = hex(key.as_bytes());
        if hexed.len() <= MAX_HEX_NAME {
            format!("{}{KEY_PREFIX}{hexed}", self.ns)
        } else {
            format!(
                "{}{HASH_PREFIX}{}",
                self.ns,
                hex(&Sha256::digest(key.as_bytes()))
            )
        }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(self.name(key))
    }

    /// The files of this cache's namespace: (file name, whether it is an entry).
    fn own_files(&self) -> Result<Vec<(String, bool)>> {
        let names = self
            .files
            .list()
            .map_err(|e| io_error("listing the directory", e))?;
        let mut out = Vec::new();
        for name in names {
            let Some(rest) = name.strip_prefix(self.ns.as_str()) else {
                continue;
            };
            if rest.starts_with(KEY_PREFIX) || rest.starts_with(HASH_PREFIX) {
                // Another namespace with a dotted prefix never reaches here: `ns.` ends in
                // a dot and `k-`/`h-` names hold no dot.
                if !rest.contains('.') {
                    out.push((name, true));
                }
            } else if (rest.starts_with(TMP_PREFIX) || rest.starts_with(LOCK_PREFIX))
                && !rest.contains('.')
            {
                out.push((name, false));
            }
        }
        Ok(out)
    }

    /// The key stored under an entry file name, read from the name or the file.
    fn key_of(&self, name: &str) -> Result<Option<String>> {
        let rest = &name[self.ns.len()..];
        if let Some(h) = rest.strip_prefix(KEY_PREFIX) {
            return Ok(unhex(h).and_then(|b| String::from_utf8(b).ok()));
        }
        match self.files.read(name) {
            Ok(bytes) => Ok(split_file(&bytes).map(|(k, _)| k.to_owned())),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("reading an entry", e)),
        }
    }

    /// Runs `op` holding the lock of `key`: the file `<ns>lock-<entry name>`, created
    /// exclusively (so one holder at a time, across instances and processes sharing the
    /// directory) with its creation time inside, and removed after `op`. A lock older
    /// than [`STALE_LOCK_MS`] is broken: renamed away first, so that of several waiters
    /// only one breaks it.
    fn locked<R>(&mut self, key: &str, op: impl FnOnce(&mut Self) -> Result<R>) -> Result<R> {
        let name = self.name(key);
        let lock = format!("{}{LOCK_PREFIX}{}", self.ns, &name[self.ns.len()..]);
        let started = now_ms();
        loop {
            let now = now_ms();
            match self
                .files
                .write_new(&lock, now.to_string().as_bytes(), false)
            {
                Ok(()) => break,
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_error("taking a key's lock", e)),
            }
            let taken_at = self
                .files
                .read(&lock)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|t| t.parse::<u64>().ok());
            // A lock without a readable time is being written (or torn): stale by age
            // only once it is old enough to have a time.
            if taken_at.is_some_and(|at| now.saturating_sub(at) > STALE_LOCK_MS) {
                let away = self.tmp_name();
                if fs::rename(self.dir.join(&lock), self.dir.join(&away)).is_ok() {
                    let _ = fs::remove_file(self.dir.join(&away));
                }
                continue;
            }
            if now.saturating_sub(started) > LOCK_WAIT_MS {
                return Err(Error::Unavailable(format!(
                    "the key `{key}` stayed locked for {LOCK_WAIT_MS} ms"
                )));
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let result = op(self);
        let released = fs::remove_file(self.dir.join(&lock));
        match (result, released) {
            (Err(e), _) => Err(e),
            (Ok(v), Ok(())) => Ok(v),
            (Ok(_), Err(e)) => Err(io_error("releasing a key's lock", e)),
        }
    }

    /// Removes this namespace's temporary files older than [`STALE_TMP_MS`]. Best
    /// effort: a read-only grant or a file gone meanwhile is no error.
    fn sweep_stale_tmp(&self) {
        let Ok(files) = self.own_files() else {
            return;
        };
        let now = std::time::SystemTime::now();
        for (name, entry) in files {
            if entry {
                continue;
            }
            let path = self.dir.join(&name);
            let stale = fs::symlink_metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|at| now.duration_since(at).ok())
                .is_some_and(|age| age.as_millis() >= u128::from(STALE_TMP_MS));
            if stale {
                let _ = fs::remove_file(&path);
            }
        }
    }

    /// A random temporary file name in this namespace.
    fn tmp_name(&mut self) -> String {
        self.writes += 1;
        let mut h = self.random.build_hasher();
        h.write_u64(self.writes);
        format!(
            "{}{TMP_PREFIX}{:016x}{:08x}",
            self.ns,
            h.finish(),
            self.writes
        )
    }
}

impl Adapter for Filesystem {
    const NAME: &'static str = "filesystem";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const NATIVE: Capabilities = Capabilities::SCAN
        .union(Capabilities::CLEAR)
        .union(Capabilities::STATS);

    fn config_fields() -> Vec<ConfigField> {
        vec![
            store::dir_field(),
            ConfigField::new(
                "namespace",
                ConfigKind::Text,
                false,
                "File-name namespace: [a-z0-9_-], at most 32 (default empty).",
            ),
            ConfigField::new(
                "fsync",
                ConfigKind::Boolean,
                false,
                "Flush each value to stable storage before renaming it into place (default false).",
            ),
        ]
    }

    fn open(config: &Config) -> Result<Self> {
        let ns = config.text("namespace").unwrap_or("");
        if ns.len() > 32
            || !ns
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            return Err(Error::InvalidConfig(format!(
                "namespace `{ns}` must be at most 32 of [a-z0-9_-]"
            )));
        }
        let dir = store::granted_dir(config)?;
        let fs = Filesystem {
            files: files::Files::new(&dir),
            dir,
            ns: if ns.is_empty() {
                String::new()
            } else {
                format!("{ns}.")
            },
            fsync: config.boolean("fsync").unwrap_or(false),
            random: RandomState::new(),
            writes: 0,
            listing: None,
        };
        fs.sweep_stale_tmp();
        Ok(fs)
    }

    fn get(&mut self, key: &str) -> Result<Option<Entry>> {
        let bytes = match self.files.read(&self.name(key)) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("reading an entry", e)),
        };
        match split_file(&bytes) {
            Some((stored, entry)) if stored == key => Entry::decode(entry).map(Some),
            // A hashed name holding another key (a SHA-256 collision) is not this key.
            Some(_) => Ok(None),
            None => Err(Error::Internal(format!(
                "entry file for `{key}` is malformed"
            ))),
        }
    }

    fn set(&mut self, key: &str, entry: Entry) -> Result<()> {
        let contents = encode_file(key, &entry)?;
        let tmp_name = self.tmp_name();
        let tmp = self.dir.join(&tmp_name);
        let written = self
            .files
            .write_new(&tmp_name, &contents, self.fsync)
            .and_then(|()| fs::rename(&tmp, self.path(key)));
        written.map_err(|e| {
            // Best effort: a temporary file left behind is never read and `clear` removes it.
            let _ = fs::remove_file(&tmp);
            io_error("writing an entry", e)
        })
    }

    fn delete(&mut self, key: &str) -> Result<bool> {
        match fs::remove_file(self.path(key)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_error("removing an entry", e)),
        }
    }

    fn keys(&mut self) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        for (name, entry) in self.own_files()? {
            if entry && let Some(key) = self.key_of(&name)? {
                keys.push(key);
            }
        }
        Ok(keys)
    }

    /// Lists the directory once per scan: the first page (no cursor) takes a sorted
    /// listing, continuation pages reuse it (for up to `LISTING_REUSE_MS`). A key present
    /// for the whole scan is in that listing; each candidate is read to check it is still
    /// live, so a key removed meanwhile is not returned.
    fn scan(
        &mut self,
        pattern: &str,
        cursor: Option<ScanCursor>,
        count: u32,
        now: u64,
    ) -> Result<ScanPage> {
        let reusable = cursor.is_some()
            && self
                .listing
                .as_ref()
                .is_some_and(|(at, _)| now.saturating_sub(*at) <= LISTING_REUSE_MS);
        let (at, keys) = match self.listing.take() {
            Some(listing) if reusable => listing,
            _ => {
                let mut keys = self.keys()?;
                keys.sort_unstable();
                (now, keys)
            }
        };
        let start = cursor.map_or(0, |c| {
            keys.partition_point(|k| k.as_str() <= c.after.as_str())
        });
        let page = sorted_page(
            keys[start..].iter().map(String::as_str),
            pattern,
            count,
            |key| matches!(self.get(key), Ok(Some(e)) if e.is_live(now)),
        );
        self.listing = page.cursor.is_some().then_some((at, keys));
        Ok(page)
    }

    fn clear(&mut self) -> Result<()> {
        for (name, _) in self.own_files()? {
            match fs::remove_file(self.dir.join(&name)) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(io_error("removing an entry", e)),
            }
        }
        Ok(())
    }

    fn usage(&mut self) -> Result<Usage> {
        let mut usage = Usage::default();
        let mut temp_files = 0u64;
        for (name, entry) in self.own_files()? {
            if !entry {
                // Left by a writer killed mid-write (or a write in progress elsewhere).
                temp_files += 1;
                continue;
            }
            match fs::symlink_metadata(self.dir.join(&name)) {
                Ok(m) if m.is_file() => {
                    usage.keys += 1;
                    usage.bytes += m.len();
                }
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(io_error("reading an entry's size", e)),
            }
        }
        usage
            .extra
            .push(("filesystem.temp-files".into(), temp_files));
        Ok(usage)
    }

    // Atomic across instances and processes sharing the directory: the read and the
    // write happen under the key's lock file (see `locked`).
    const ATOMICS: bool = true;

    fn increment(
        &mut self,
        key: &str,
        delta: i64,
        expires_at: Option<u64>,
        now: u64,
    ) -> Result<i64> {
        self.locked(key, |fs| {
            byoc_guest_sdk::atomic::increment(fs, key, delta, expires_at, now)
        })
    }

    fn compare_and_swap(
        &mut self,
        key: &str,
        expected: Option<&[u8]>,
        new: Vec<u8>,
        expires_at: Option<u64>,
        now: u64,
    ) -> Result<bool> {
        self.locked(key, |fs| {
            byoc_guest_sdk::atomic::compare_and_swap(fs, key, expected, new, expires_at, now)
        })
    }

    fn ping(&mut self) -> Result<()> {
        fs::metadata(&self.dir)
            .map(drop)
            .map_err(|e| io_error("checking the directory", e))
    }
}

byoc_guest_sdk::export_adapter!(Filesystem);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_roundtrip() {
        for s in ["", "a", "../../etc/passwd", "ключ", "A\\b/c"] {
            assert_eq!(unhex(&hex(s.as_bytes())).as_deref(), Some(s.as_bytes()));
        }
        assert_eq!(unhex("0"), None);
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex("AB"), None, "upper case is never written");
    }

    #[test]
    fn file_roundtrip() {
        let entry = Entry::new(b"v".to_vec(), Some(5), 10);
        let bytes = encode_file("key", &entry).expect("encode");
        let (k, e) = split_file(&bytes).expect("split");
        assert_eq!(k, "key");
        assert_eq!(Entry::decode(e).expect("decode"), entry);
        assert_eq!(split_file(&[5, 0, b'a']), None);
    }
}
