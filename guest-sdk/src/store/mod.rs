//! For adapters that keep their data in the directory their grant preopens: the granted
//! directory (field `path`) and I/O errors mapped to the contract; for a store in one
//! database file of it (redb, SQLite), a [`FileStore`]: the configuration such stores
//! share (`file`, `lock-stale`, `max-bytes`, `max-entries`), the [`Lease`] on the lock file
//! that keeps a second process from writing the file (WASI has no file locks), and the
//! [`Bound`] with the access times that order eviction. The adapter keeps only its store's
//! own code: opening the database, its transactions, purging and evicting.

pub mod lockfile;

use crate::{Config, ConfigField, ConfigKind, Entry, Error, Result, Usage, now_ms};
use lockfile::{Acquire, Lock};
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};

/// Default stale time of a lock file's heartbeat (ms).
pub const DEFAULT_STALE_MS: u64 = 10_000;
/// Access times kept in memory between writes (with a bound set); more are dropped until
/// the next write stores them.
pub const MAX_PENDING_ACCESSES: usize = 4096;
/// Where the granted directory is mounted in the guest unless `path` says otherwise.
const DEFAULT_DIR: &str = "/data";

/// Maps an I/O error to the contract: permission problems are the grant's refusal, a full
/// disk is `unavailable`.
pub fn io_error(what: &str, e: &io::Error) -> Error {
    match e.kind() {
        ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem => {
            Error::Denied(format!("{what}: {e}"))
        }
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => {
            Error::Unavailable(format!("{what}: {e}"))
        }
        _ => Error::Internal(format!("{what}: {e}")),
    }
}

/// The `path` field: where the granted directory is mounted in the guest.
pub fn dir_field() -> ConfigField {
    ConfigField::new(
        "path",
        ConfigKind::Text,
        false,
        "Guest path of the granted directory (default /data).",
    )
}

/// The directory of the `path` field (default `/data`): `denied` when nothing is granted
/// there, `invalid-config` when it is not a directory.
pub fn granted_dir(config: &Config) -> Result<PathBuf> {
    let dir = PathBuf::from(config.text("path").unwrap_or(DEFAULT_DIR));
    match fs::metadata(&dir) {
        Ok(m) if m.is_dir() => Ok(dir),
        Ok(_) => Err(Error::InvalidConfig(format!(
            "{} is not a directory",
            dir.display()
        ))),
        Err(e) => Err(Error::Denied(format!(
            "no directory is granted at {}: {e}",
            dir.display()
        ))),
    }
}

/// Whether the grant lets this instance write, judged by its first attempt to open the
/// database for writing: `denied` means a read-only grant (the lock file cannot be
/// created); `unavailable` (another process holds the lock) is retried at each call.
pub fn writable<T>(first_open: Result<T>) -> Result<bool> {
    match first_open {
        Ok(_) | Err(Error::Unavailable(_)) => Ok(true),
        Err(Error::Denied(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// What a store in one database file of the granted directory shares with the others.
#[derive(Debug)]
pub struct FileStore {
    /// The database file.
    pub file: PathBuf,
    /// Its name in the directory, for messages.
    pub name: String,
    /// The lock file's lease (held only by a writer).
    pub lease: Lease,
    /// The bounds and the access times waiting for the next write.
    pub bound: Bound,
    /// Entries purged because their TTL passed.
    pub expirations: u64,
    /// Entries evicted to keep within the bounds.
    pub evictions: u64,
}

impl FileStore {
    /// The configuration fields: `path`, `file` (default `default_file`), then `own`, then
    /// `lock-stale`, `max-bytes` and `max-entries`.
    pub fn config_fields(default_file: &str, own: Vec<ConfigField>) -> Vec<ConfigField> {
        let mut fields = vec![
            dir_field(),
            ConfigField::new(
                "file",
                ConfigKind::Text,
                false,
                &format!("Database file name in the directory (default {default_file})."),
            ),
        ];
        fields.extend(own);
        fields.extend([
            ConfigField::new(
                "lock-stale",
                ConfigKind::DurationMs,
                false,
                "Take over another process's lock file after this long without a heartbeat (default 10 s).",
            ),
            ConfigField::new(
                "max-bytes",
                ConfigKind::Size,
                false,
                "Bound on the bytes of keys and values (default: none); oldest-accessed evicted first.",
            ),
            ConfigField::new(
                "max-entries",
                ConfigKind::Integer,
                false,
                "Bound on the number of entries (default: none); oldest-accessed evicted first.",
            ),
        ]);
        fields
    }

    /// Reads the shared fields and checks the granted directory (last, after every field).
    pub fn open(config: &Config, default_file: &str) -> Result<Self> {
        let name = config.text("file").unwrap_or(default_file).to_owned();
        if !lockfile::valid_file_name(&name) {
            return Err(Error::InvalidConfig(format!(
                "file `{name}` must be 1-64 of [A-Za-z0-9._-], not starting with a dot"
            )));
        }
        let stale_ms = config.duration_ms("lock-stale").unwrap_or(DEFAULT_STALE_MS);
        if stale_ms < 10 {
            return Err(Error::InvalidConfig(
                "lock-stale must be at least 10 ms".into(),
            ));
        }
        let bound = Bound::from_config(config)?;
        let dir = granted_dir(config)?;
        Ok(FileStore {
            file: dir.join(&name),
            lease: Lease {
                path: dir.join(format!("{name}.lock")),
                name: name.clone(),
                stale_ms,
                token: lockfile::random_token(now_ms()),
                lock: None,
            },
            name,
            bound,
            expirations: 0,
            evictions: 0,
        })
    }

    /// The refusal of a write under a read-only grant.
    pub fn read_only(&self) -> Error {
        Error::Denied(format!(
            "{} is granted read-only: writes are refused",
            self.name
        ))
    }

    /// Opens the database file for writing, creating it: the directory's grant decides
    /// here, with an error that says why (a database library's own would not).
    pub fn create_file(&self) -> Result<File> {
        File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.file)
            .map_err(|e| io_error("opening the database file", &e))
    }

    /// The counters and bounds for `stats`; the adapter adds what is stored, then
    /// [`add_file_bytes`](Self::add_file_bytes).
    pub fn usage(&self) -> Usage {
        let mut usage = Usage {
            expirations: self.expirations,
            evictions: self.evictions,
            ..Usage::default()
        };
        if let Some(max) = self.bound.max_bytes {
            usage.extra.push(("max-bytes".into(), max));
        }
        if let Some(max) = self.bound.max_entries {
            usage.extra.push(("max-entries".into(), max));
        }
        usage
    }

    /// Adds the database file's size (`file-bytes`) to `usage`, when it can be read.
    pub fn add_file_bytes(&self, usage: &mut Usage) {
        if let Ok(m) = fs::metadata(&self.file) {
            usage.extra.push(("file-bytes".into(), m.len()));
        }
    }
}

/// This instance's lease on `<file>.lock` (see [`lockfile`]): a writer holds it while it
/// has the database open and checks it before every write transaction; a reader only
/// checks that no writer's heartbeat is fresh.
#[derive(Debug)]
pub struct Lease {
    path: PathBuf,
    name: String,
    stale_ms: u64,
    token: u64,
    lock: Option<Lock>,
}

impl Lease {
    /// Takes the lock or keeps it fresh at `now`. Calls `reopen` when a database this
    /// instance has open may be out of date: the lock was taken anew (another process may
    /// have written the file meanwhile), or another process holds it (then the answer is
    /// `unavailable`).
    pub fn hold(&mut self, now: u64, reopen: impl FnOnce()) -> Result<()> {
        if let Some(lock) = &mut self.lock {
            match lock.refresh(now) {
                Ok(true) => return Ok(()),
                // Too old to refresh in place: take it again below.
                Ok(false) => self.lock = None,
                Err(e) => return Err(io_error("refreshing the lock file", &e)),
            }
        }
        match Lock::acquire(&self.path, self.token, now, self.stale_ms) {
            Ok(Acquire::Acquired { lock, resumed }) => {
                if !resumed {
                    reopen();
                }
                self.lock = Some(lock);
                Ok(())
            }
            Ok(Acquire::Held(age)) => {
                reopen();
                Err(Error::Unavailable(format!(
                    "{} is in use by another process (its lock file's heartbeat is \
                     {age} ms old; stale after {} ms)",
                    self.name, self.stale_ms
                )))
            }
            Err(e) => Err(io_error("taking the lock file", &e)),
        }
    }

    /// Checks, before a write transaction, that the lock file still holds this instance's
    /// token (the lease's timing says no one took over; the file says it for sure, and a
    /// write to a database another process owns would corrupt it). If not, forgets the
    /// lock, calls `reopen` and answers `unavailable`.
    pub fn verify(&mut self, reopen: impl FnOnce()) -> Result<()> {
        match self.lock.as_ref().map(Lock::verify).transpose() {
            Ok(Some(true)) => Ok(()),
            Ok(_) => {
                self.lock = None;
                reopen();
                Err(Error::Unavailable(format!(
                    "the lock file of {} was taken over by another process",
                    self.name
                )))
            }
            Err(e) => Err(io_error("checking the lock file", &e)),
        }
    }

    /// For a reader: answers `unavailable` (after calling `close`) while another process's
    /// heartbeat is fresh, as that writer may be changing the pages a reader would read.
    pub fn check_no_writer(&self, now: u64, close: impl FnOnce()) -> Result<()> {
        match fs::read(&self.path) {
            Ok(contents) => match lockfile::fresh(&contents, now, self.stale_ms) {
                Some(age) => {
                    close();
                    Err(Error::Unavailable(format!(
                        "{} is being written by another process (its lock file's \
                         heartbeat is {age} ms old)",
                        self.name
                    )))
                }
                None => Ok(()),
            },
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("checking the lock file", &e)),
        }
    }

    /// Gives the lock back, if held: call it after closing the database.
    pub fn release(&mut self) {
        if let Some(lock) = self.lock.take() {
            lock.release();
        }
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The `max-bytes` and `max-entries` bounds (unset or 0: none), and the access times of
/// keys read since the last write, which the next write stores for the eviction order.
#[derive(Debug, Default)]
pub struct Bound {
    /// Bound on the bytes of keys and values.
    pub max_bytes: Option<u64>,
    /// Bound on the number of entries.
    pub max_entries: Option<u64>,
    pending: HashMap<String, u64>,
}

impl Bound {
    /// The bounds of `max-bytes` and `max-entries`.
    pub fn from_config(config: &Config) -> Result<Self> {
        let max_entries = match config.integer("max-entries") {
            None | Some(0) => None,
            Some(n) => Some(u64::try_from(n).map_err(|_| {
                Error::InvalidConfig(format!("max-entries {n} must not be negative"))
            })?),
        };
        Ok(Bound {
            max_bytes: config.size("max-bytes").filter(|&b| b > 0),
            max_entries,
            pending: HashMap::new(),
        })
    }

    /// Whether any bound is set.
    pub fn active(&self) -> bool {
        self.max_bytes.is_some() || self.max_entries.is_some()
    }

    /// Whether `entries` entries of `bytes` bytes of keys and values exceed a bound.
    pub fn exceeded(&self, entries: u64, bytes: u64) -> bool {
        self.max_entries.is_some_and(|m| entries > m) || self.max_bytes.is_some_and(|m| bytes > m)
    }

    /// Refuses an entry larger than `max-bytes` alone.
    pub fn check_size(&self, key: &str, entry: &Entry) -> Result<()> {
        let needed = (key.len() + entry.value.len()) as u64;
        match self.max_bytes {
            Some(max) if needed > max => Err(Error::ValueTooLarge(format!(
                "entry of {needed} bytes exceeds max-bytes of {max}"
            ))),
            _ => Ok(()),
        }
    }

    /// Notes a read of `key` at `now` for the eviction order (with a bound set; at most
    /// [`MAX_PENDING_ACCESSES`] keys wait for the next write).
    pub fn touch(&mut self, key: &str, now: u64) {
        if self.active()
            && (self.pending.len() < MAX_PENDING_ACCESSES || self.pending.contains_key(key))
        {
            self.pending.insert(key.to_owned(), now);
        }
    }

    /// The access times waiting for the next write.
    pub fn pending(&self) -> &HashMap<String, u64> {
        &self.pending
    }

    /// Forgets the access times, once a write committed them.
    pub fn clear_pending(&mut self) {
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        let bound = Bound {
            max_bytes: Some(10),
            max_entries: Some(2),
            ..Bound::default()
        };
        assert!(bound.active());
        assert!(!bound.exceeded(2, 10));
        assert!(bound.exceeded(3, 0));
        assert!(bound.exceeded(0, 11));
        let entry = Entry::new(vec![0; 8], None, 0);
        assert!(bound.check_size("ab", &entry).is_ok());
        assert!(matches!(
            bound.check_size("abc", &entry),
            Err(Error::ValueTooLarge(_))
        ));
        assert!(!Bound::default().exceeded(u64::MAX, u64::MAX));
    }

    #[test]
    fn touches_wait_only_with_a_bound() {
        let mut unbounded = Bound::default();
        unbounded.touch("a", 1);
        assert!(unbounded.pending().is_empty());
        let mut bound = Bound {
            max_entries: Some(1),
            ..Bound::default()
        };
        bound.touch("a", 1);
        bound.touch("a", 2);
        assert_eq!(bound.pending().get("a"), Some(&2));
        bound.clear_pending();
        assert!(bound.pending().is_empty());
    }
}
