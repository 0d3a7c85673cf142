//! The BYOC redb adapter: a persistent cache in one [redb](https://www.redb.org) database
//! file (a crash-safe copy-on-write B-tree) inside the one directory its grant preopens.
//!
//! Configuration (all optional):
//! - `path` (text, default `/data`): where the granted directory is mounted in the guest.
//! - `file` (text, default `byoc.redb`): the database file's name in that directory
//!   (`[A-Za-z0-9._-]`, at most 64, not starting with a dot).
//! - `durability` (text, default `immediate`): `immediate` syncs every commit before it
//!   is acknowledged; `eventual` syncs a commit only when the last synced one is more than
//!   [`EVENTUAL_SYNC_MS`] old, so a crash may lose that last second of writes (never tears
//!   a value: redb's commits are atomic either way).
//! - `lock-stale` (duration, default [`DEFAULT_STALE_MS`]): after how long without a
//!   heartbeat the lock file of another process is taken over (see
//!   `byoc_guest_sdk::store::lockfile`).
//! - `cache-size` (size, default 32 MiB): redb's page cache.
//! - `max-bytes` (size) and `max-entries` (integer), default unbounded: bounds on the
//!   bytes of keys and values and on the entries; the entries accessed longest ago are
//!   evicted first, in the write transaction that goes over.
//!
//! Tables: `entries` (key → the SDK's [`Entry::encode`]) and `expiry` ((expires-at, key) →
//! ()), the index that purges up to [`PURGE_BATCH`] expired entries in each write
//! transaction; with a bound, `access` (key → last access) and `by-access` ((last access,
//! key) → ()), the eviction order (built when a bounded writer opens a file without them,
//! dropped by an unbounded one). A read-only grant opens the file read-only (no lock,
//! every write `denied`).

use byoc_guest_sdk::store::{Bound, FileStore, io_error};
use byoc_guest_sdk::{Adapter, Capabilities, Config, ConfigField, ConfigKind, Entry, Error};
use byoc_guest_sdk::{Result, ScanCursor, ScanPage, Usage, now_ms, sorted_page};
use redb::{
    Builder, Database, Durability, ReadOnlyDatabase, ReadTransaction, ReadableDatabase,
    ReadableTable, ReadableTableMetadata, Table, TableDefinition, TableError,
};
use std::fs::{self, File};
use std::io::ErrorKind;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

mod backend;

/// Key → encoded entry.
const ENTRIES: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("entries");
/// (expires-at ms, key) → (): the expiry index.
const EXPIRY: TableDefinition<'_, (u64, &str), ()> = TableDefinition::new("expiry");
/// Key → last access (ms), with a bound.
const ACCESS: TableDefinition<'_, &str, u64> = TableDefinition::new("access");
/// (last access ms, key) → (): the eviction order, with a bound.
const BY_ACCESS: TableDefinition<'_, (u64, &str), ()> = TableDefinition::new("by-access");
/// Entries evicted at most per step of an eviction (steps repeat until under the bounds).
const EVICT_BATCH: usize = 16;

/// Expired entries purged at most per write transaction.
pub const PURGE_BATCH: usize = 32;
/// Default stale time of a lock file's heartbeat (ms).
pub const DEFAULT_STALE_MS: u64 = byoc_guest_sdk::store::DEFAULT_STALE_MS;
/// Under `durability: eventual`, the longest a commit goes unsynced after the last synced
/// one (ms), counted at each write.
pub const EVENTUAL_SYNC_MS: u64 = 1_000;
const DEFAULT_CACHE_BYTES: u64 = 32 << 20;
/// The database file's name unless `file` says otherwise.
const DEFAULT_FILE: &str = "byoc.redb";

/// Maps a redb error (all of redb's error types convert into [`redb::Error`]).
fn db_error(e: impl Into<redb::Error>) -> Error {
    match e.into() {
        redb::Error::Io(e) => io_error("database I/O", &e),
        e => Error::Internal(format!("database: {e}")),
    }
}

/// The eviction order's tables: key → last access, (last access, key) → ().
type AccessTables<'t> = (
    Table<'t, &'static str, u64>,
    Table<'t, (u64, &'static str), ()>,
);

/// The tables of one write transaction, with the access tables when bounded, and the
/// change of the stored bytes so far.
struct Tables<'t> {
    entries: Table<'t, &'static str, &'static [u8]>,
    expiry: Table<'t, (u64, &'static str), ()>,
    access: Option<AccessTables<'t>>,
    now: u64,
    /// Bytes of keys and values stored before this transaction.
    before: u64,
    bytes: i64,
}

impl Tables<'_> {
    /// Stores `entry` under `key`, keeping the indexes in step.
    fn put(&mut self, key: &str, entry: &Entry) -> Result<()> {
        let encoded = entry.encode();
        let old = self
            .entries
            .insert(key, encoded.as_slice())
            .map_err(db_error)?
            .map(|old| (expiry_of(old.value()), old.value().len()));
        self.bytes += (key.len() + entry.value.len()) as i64;
        if let Some((at, len)) = old {
            self.bytes -= (key.len() + len.saturating_sub(9)) as i64;
            if let Some(at) = at {
                self.expiry.remove((at, key)).map_err(db_error)?;
            }
        }
        if let Some(at) = entry.expires_at {
            self.expiry.insert((at, key), ()).map_err(db_error)?;
        }
        self.stamp(key, self.now)
    }

    /// Records an access to `key` at `at` (with a bound).
    fn stamp(&mut self, key: &str, at: u64) -> Result<()> {
        let Some((access, by)) = &mut self.access else {
            return Ok(());
        };
        let old = access
            .insert(key, at)
            .map_err(db_error)?
            .map(|old| old.value());
        if let Some(old) = old {
            by.remove((old, key)).map_err(db_error)?;
        }
        by.insert((at, key), ()).map_err(db_error)?;
        Ok(())
    }

    /// Removes `key`; returns whether it was stored.
    fn remove(&mut self, key: &str) -> Result<bool> {
        let Some(old) = self.entries.remove(key).map_err(db_error)? else {
            return Ok(false);
        };
        let (at, len) = (expiry_of(old.value()), old.value().len());
        drop(old);
        self.bytes -= (key.len() + len.saturating_sub(9)) as i64;
        if let Some(at) = at {
            self.expiry.remove((at, key)).map_err(db_error)?;
        }
        if let Some((access, by)) = &mut self.access {
            let old = access.remove(key).map_err(db_error)?.map(|old| old.value());
            if let Some(old) = old {
                by.remove((old, key)).map_err(db_error)?;
            }
        }
        Ok(true)
    }

    /// Removes up to [`PURGE_BATCH`] entries expired at `now`; returns how many.
    fn purge(&mut self) -> Result<u64> {
        let Some(end) = self.now.checked_add(1) else {
            return Ok(0);
        };
        let mut due = Vec::new();
        for item in self
            .expiry
            .range(..(end, ""))
            .map_err(db_error)?
            .take(PURGE_BATCH)
        {
            let (k, _) = item.map_err(db_error)?;
            due.push(k.value().1.to_owned());
        }
        for key in &due {
            self.remove(key)?;
        }
        Ok(due.len() as u64)
    }

    /// Whether the stored entries exceed `bound`.
    fn over(&self, bound: &Bound) -> Result<bool> {
        let entries = self.entries.len().map_err(db_error)?;
        let bytes = self.before.saturating_add_signed(self.bytes);
        Ok(bound.exceeded(entries, bytes))
    }

    /// Evicts the entries accessed longest ago until `bound` holds; returns how many.
    fn evict(&mut self, bound: &Bound) -> Result<u64> {
        let mut evicted = 0;
        loop {
            let Some((_, by)) = &self.access else {
                return Ok(evicted);
            };
            if !self.over(bound)? {
                return Ok(evicted);
            }
            let mut victims = Vec::new();
            for item in by.iter().map_err(db_error)?.take(EVICT_BATCH) {
                let (k, _) = item.map_err(db_error)?;
                victims.push(k.value().1.to_owned());
            }
            if victims.is_empty() {
                return Ok(evicted);
            }
            for key in &victims {
                if !self.over(bound)? {
                    return Ok(evicted);
                }
                if self.remove(key)? {
                    evicted += 1;
                } else if let Some((access, by)) = &mut self.access {
                    // An index row without its entry: drop it.
                    let old = access
                        .remove(key.as_str())
                        .map_err(db_error)?
                        .map(|o| o.value());
                    if let Some(old) = old {
                        by.remove((old, key.as_str())).map_err(db_error)?;
                    }
                }
            }
        }
    }
}

/// The database of a read-write grant: open while this instance holds the lock file.
struct Writer {
    /// The database and the fence of its backend (raised when the lock is lost).
    db: Option<(Database, Arc<AtomicBool>)>,
    /// When the last commit was synced (ms), for `durability: eventual`.
    last_sync: u64,
}

/// The database of a read-only grant, reopened when the file changes.
struct Reader {
    db: Option<ReadDb>,
    /// (length, modification time) of the file when `db` was opened.
    seen: Option<(u64, std::time::SystemTime)>,
}

/// A read-only view of the file.
enum ReadDb {
    /// The file itself, opened read-only (it was closed cleanly).
    File(ReadOnlyDatabase),
    /// A copy of the file in memory, repaired there: a writer that stops without closing
    /// the database (every process exit: a component has no exit hook) leaves it needing
    /// recovery, which writes, and the grant is read-only.
    Copy(Database),
}

impl ReadDb {
    fn begin_read(&self) -> Result<ReadTransaction> {
        match self {
            ReadDb::File(db) => db.begin_read(),
            ReadDb::Copy(db) => db.begin_read(),
        }
        .map_err(db_error)
    }
}

enum Mode {
    Write(Writer),
    Read(Reader),
}

/// The redb adapter's state.
pub struct Redb {
    store: FileStore,
    eventual: bool,
    cache_bytes: usize,
    mode: Mode,
    /// Bytes of keys and values in the open database (counted when it opens).
    bytes: Option<u64>,
}

/// The expiry of an encoded entry, read without copying its value.
fn expiry_of(encoded: &[u8]) -> Option<u64> {
    let at = u64::from_le_bytes(encoded.get(1..9)?.try_into().ok()?);
    (at != u64::MAX).then_some(at)
}

impl Redb {
    /// The writer's open database, after taking or refreshing the lock.
    fn writer_db(&mut self, now: u64) -> Result<&Database> {
        let Mode::Write(w) = &mut self.mode else {
            return Err(self.store.read_only());
        };
        self.store.lease.hold(now, || {
            w.close();
            self.bytes = None;
        })?;
        if w.db.is_none() {
            let file = self.store.create_file()?;
            let fence = Arc::new(AtomicBool::new(false));
            let db = Builder::new()
                .set_cache_size(self.cache_bytes)
                .create_with_backend(backend::Fenced::new(file, fence.clone()))
                .map_err(db_error)?;
            // Both tables exist from the first open on, so readers never meet a missing one.
            let txn = db.begin_write().map_err(db_error)?;
            let entries = txn.open_table(ENTRIES).map_err(db_error)?;
            txn.open_table(EXPIRY).map_err(db_error)?;
            let mut bytes = 0u64;
            for item in entries.iter().map_err(db_error)? {
                let (k, v) = item.map_err(db_error)?;
                bytes += (k.value().len() + v.value().len().saturating_sub(9)) as u64;
            }
            if self.store.bound.active() {
                // Built from the entries when missing or out of step (an unbounded
                // writer dropped it): every entry counts as accessed at time 0.
                let mut access = txn.open_table(ACCESS).map_err(db_error)?;
                let mut by = txn.open_table(BY_ACCESS).map_err(db_error)?;
                if access.len().map_err(db_error)? != entries.len().map_err(db_error)? {
                    access.retain(|_, _| false).map_err(db_error)?;
                    by.retain(|_, _| false).map_err(db_error)?;
                    for item in entries.iter().map_err(db_error)? {
                        let (k, _) = item.map_err(db_error)?;
                        access.insert(k.value(), 0).map_err(db_error)?;
                        by.insert((0, k.value()), ()).map_err(db_error)?;
                    }
                }
            } else {
                // Unmaintained from now on: dropped, so a bounded writer rebuilds it.
                txn.delete_table(ACCESS).map_err(db_error)?;
                txn.delete_table(BY_ACCESS).map_err(db_error)?;
            }
            drop(entries);
            txn.commit().map_err(db_error)?;
            self.bytes = Some(bytes);
            w.db = Some((db, fence));
        }
        match &w.db {
            Some((db, _)) => Ok(db),
            None => Err(Error::Internal("database not open".into())),
        }
    }

    /// Runs `f` on the tables in one write transaction (with a purge batch and eviction
    /// down to the bounds), committed with the configured durability.
    fn write<R>(&mut self, f: impl FnOnce(&mut Tables<'_>) -> Result<R>) -> Result<R> {
        let now = now_ms();
        let eventual = self.eventual;
        self.writer_db(now)?;
        let Mode::Write(w) = &mut self.mode else {
            return Err(self.store.read_only());
        };
        self.store.lease.verify(|| {
            w.close();
            self.bytes = None;
        })?;
        let Some((db, _)) = &w.db else {
            return Err(Error::Internal("database not open".into()));
        };
        let sync = !eventual || now.saturating_sub(w.last_sync) >= EVENTUAL_SYNC_MS;
        let mut txn = db.begin_write().map_err(db_error)?;
        txn.set_durability(if sync {
            Durability::Immediate
        } else {
            Durability::None
        })
        .map_err(db_error)?;
        let bound = &mut self.store.bound;
        let bytes_before = self.bytes.unwrap_or(0);
        let (out, purged, evicted, bytes) = {
            let access = if bound.active() {
                Some((
                    txn.open_table(ACCESS).map_err(db_error)?,
                    txn.open_table(BY_ACCESS).map_err(db_error)?,
                ))
            } else {
                None
            };
            let mut tables = Tables {
                entries: txn.open_table(ENTRIES).map_err(db_error)?,
                expiry: txn.open_table(EXPIRY).map_err(db_error)?,
                access,
                now,
                before: bytes_before,
                bytes: 0,
            };
            for (key, at) in bound.pending() {
                // Only keys still stored, accessed later than last recorded.
                if tables
                    .entries
                    .get(key.as_str())
                    .map_err(db_error)?
                    .is_some()
                {
                    tables.stamp(key, *at)?;
                }
            }
            let out = f(&mut tables)?;
            let purged = tables.purge()?;
            let evicted = tables.evict(bound)?;
            (out, purged, evicted, tables.bytes)
        };
        txn.commit().map_err(db_error)?;
        if sync {
            w.last_sync = now;
        }
        self.bytes = Some(bytes_before.saturating_add_signed(bytes));
        bound.clear_pending();
        self.store.expirations += purged;
        self.store.evictions += evicted;
        Ok(out)
    }

    /// Notes a read of `key` for the eviction order (with a bound set, under a writer).
    fn touch(&mut self, key: &str, now: u64) {
        if matches!(self.mode, Mode::Write(_)) {
            self.store.bound.touch(key, now);
        }
    }

    /// A read transaction, or `None` when a read-only grant has no database file.
    fn read_txn(&mut self) -> Result<Option<ReadTransaction>> {
        let now = now_ms();
        if let Mode::Write(_) = self.mode {
            return self
                .writer_db(now)?
                .begin_read()
                .map(Some)
                .map_err(db_error);
        }
        // A live writer may reuse the pages of the snapshot this reader opened, or be
        // half-way through a commit while the file is copied.
        let mode = &mut self.mode;
        self.store.lease.check_no_writer(now, || {
            if let Mode::Read(r) = mode {
                r.db = None;
                r.seen = None;
            }
        })?;
        let seen = file_state(&self.store.file)?;
        let current = match &self.mode {
            Mode::Read(r) => r.db.is_some() && r.seen == seen,
            Mode::Write(_) => return Ok(None),
        };
        if !current {
            let db = match seen {
                Some((len, _)) if len > 0 => Some(self.open_read_only()?),
                _ => None,
            };
            self.set_reader(db, seen);
        }
        match &self.mode {
            Mode::Read(Reader { db: Some(db), .. }) => db.begin_read().map(Some),
            _ => Ok(None),
        }
    }

    fn set_reader(&mut self, db: Option<ReadDb>, seen: Option<(u64, std::time::SystemTime)>) {
        if let Mode::Read(r) = &mut self.mode {
            r.db = db;
            r.seen = seen;
        }
    }

    /// Opens the file read-only, or a repaired copy of it in memory if it needs recovery.
    fn open_read_only(&self) -> Result<ReadDb> {
        let file =
            File::open(&self.store.file).map_err(|e| io_error("opening the database", &e))?;
        let direct = Builder::new()
            .set_cache_size(self.cache_bytes)
            .open_read_only_with_backend(redb::backends::FileBackend::new(file));
        if let Ok(db) = direct {
            return Ok(ReadDb::File(db));
        }
        // Copy it whole; a file that changed while it was read is not a consistent copy.
        for _ in 0..3 {
            let before = file_state(&self.store.file)?;
            let bytes =
                fs::read(&self.store.file).map_err(|e| io_error("reading the database", &e))?;
            if file_state(&self.store.file)? != before {
                continue;
            }
            let backend = redb::backends::InMemoryBackend::new();
            redb::StorageBackend::set_len(&backend, bytes.len() as u64).map_err(db_error)?;
            redb::StorageBackend::write(&backend, 0, &bytes).map_err(db_error)?;
            drop(bytes);
            let db = Builder::new()
                .set_cache_size(self.cache_bytes)
                .create_with_backend(backend)
                .map_err(db_error)?;
            return Ok(ReadDb::Copy(db));
        }
        Err(Error::Unavailable(format!(
            "{} kept changing while it was read",
            self.store.name
        )))
    }
}

/// (length, modification time) of `file`, `None` if it does not exist.
fn file_state(file: &std::path::Path) -> Result<Option<(u64, std::time::SystemTime)>> {
    match fs::metadata(file) {
        Ok(m) => Ok(Some((
            m.len(),
            m.modified().unwrap_or(std::time::UNIX_EPOCH),
        ))),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("reading the database file's metadata", &e)),
    }
}

/// A stored entry if it is live at `now`. Expired entries read as missing here rather than
/// in the SDK, whose lazy delete would be a write (refused under a read-only grant); the
/// expiry index purges them.
fn live(stored: Option<redb::AccessGuard<'_, &[u8]>>, now: u64) -> Result<Option<Entry>> {
    match stored {
        Some(v) if expiry_of(v.value()).is_none_or(|at| at > now) => {
            Entry::decode(v.value()).map(Some)
        }
        _ => Ok(None),
    }
}

/// Opens `table` in `txn`; `None` if it does not exist (a file no writer initialised).
fn open_read<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &ReadTransaction,
    table: TableDefinition<'_, K, V>,
) -> Result<Option<redb::ReadOnlyTable<K, V>>> {
    match txn.open_table(table) {
        Ok(t) => Ok(Some(t)),
        Err(TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(db_error(e)),
    }
}

impl Writer {
    /// Stops using the database, which may be out of date or no longer this instance's:
    /// raises the fence (so closing it writes nothing).
    fn close(&mut self) {
        if let Some((db, fence)) = self.db.take() {
            fence.store(true, Ordering::Release);
            drop(db);
        }
    }
}

impl Drop for Redb {
    fn drop(&mut self) {
        if let Mode::Write(w) = &mut self.mode {
            // Close the database cleanly first, then give the lock back.
            drop(w.db.take());
        }
        self.store.lease.release();
    }
}

impl Adapter for Redb {
    const NAME: &'static str = "redb";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const NATIVE: Capabilities = Capabilities::SCAN
        .union(Capabilities::CLEAR)
        .union(Capabilities::STATS)
        .union(Capabilities::GET_MULTI)
        .union(Capabilities::SET_MULTI);

    fn config_fields() -> Vec<ConfigField> {
        FileStore::config_fields(
            DEFAULT_FILE,
            vec![
                ConfigField::new(
                    "durability",
                    ConfigKind::Text,
                    false,
                    "immediate (sync every commit, default) or eventual (sync at most every second).",
                ),
                ConfigField::new(
                    "cache-size",
                    ConfigKind::Size,
                    false,
                    "redb page cache (default 32 MiB).",
                ),
            ],
        )
    }

    fn open(config: &Config) -> Result<Self> {
        let eventual = match config.text("durability").unwrap_or("immediate") {
            "immediate" => false,
            "eventual" => true,
            other => {
                return Err(Error::InvalidConfig(format!(
                    "durability `{other}` must be `immediate` or `eventual`"
                )));
            }
        };
        let cache_bytes = usize::try_from(config.size("cache-size").unwrap_or(DEFAULT_CACHE_BYTES))
            .map_err(|_| Error::InvalidConfig("cache-size is too large".into()))?;
        let mut redb = Redb {
            store: FileStore::open(config, DEFAULT_FILE)?,
            eventual,
            cache_bytes,
            mode: Mode::Write(Writer {
                db: None,
                last_sync: 0,
            }),
            bytes: None,
        };
        // Take the lock now when it is free (a held lock is retried at each call). A
        // directory granted read-only refuses the lock file: read the database read-only.
        if !byoc_guest_sdk::store::writable(redb.writer_db(now_ms()))? {
            redb.mode = Mode::Read(Reader {
                db: None,
                seen: None,
            });
        }
        Ok(redb)
    }

    fn get(&mut self, key: &str) -> Result<Option<Entry>> {
        let Some(txn) = self.read_txn()? else {
            return Ok(None);
        };
        let Some(table) = open_read(&txn, ENTRIES)? else {
            return Ok(None);
        };
        let now = now_ms();
        let found = live(table.get(key).map_err(db_error)?, now)?;
        if found.is_some() {
            self.touch(key, now);
        }
        Ok(found)
    }

    fn get_multi(&mut self, keys: &[String]) -> Result<Vec<Option<Entry>>> {
        let Some(txn) = self.read_txn()? else {
            return Ok(vec![None; keys.len()]);
        };
        let Some(table) = open_read(&txn, ENTRIES)? else {
            return Ok(vec![None; keys.len()]);
        };
        let now = now_ms();
        let found: Vec<Option<Entry>> = keys
            .iter()
            .map(|k| live(table.get(k.as_str()).map_err(db_error)?, now))
            .collect::<Result<_>>()?;
        drop(table);
        drop(txn);
        for (key, entry) in keys.iter().zip(&found) {
            if entry.is_some() {
                self.touch(key, now);
            }
        }
        Ok(found)
    }

    fn set(&mut self, key: &str, entry: Entry) -> Result<()> {
        self.store.bound.check_size(key, &entry)?;
        self.write(|t| t.put(key, &entry))
    }

    fn set_multi(&mut self, items: Vec<(String, Entry)>) -> Result<()> {
        for (key, entry) in &items {
            self.store.bound.check_size(key, entry)?;
        }
        self.write(|t| {
            for (key, entry) in &items {
                t.put(key, entry)?;
            }
            Ok(())
        })
    }

    fn delete(&mut self, key: &str) -> Result<bool> {
        self.write(|t| t.remove(key))
    }

    fn keys(&mut self) -> Result<Vec<String>> {
        let Some(txn) = self.read_txn()? else {
            return Ok(Vec::new());
        };
        let Some(table) = open_read(&txn, ENTRIES)? else {
            return Ok(Vec::new());
        };
        let mut keys = Vec::new();
        for item in table.iter().map_err(db_error)? {
            let (k, _) = item.map_err(db_error)?;
            keys.push(k.value().to_owned());
        }
        Ok(keys)
    }

    /// Reads the keys after the cursor in order, as many as one page may examine (plus one
    /// to tell whether more follow), in one read transaction.
    fn scan(
        &mut self,
        pattern: &str,
        cursor: Option<ScanCursor>,
        count: u32,
        now: u64,
    ) -> Result<ScanPage> {
        let empty = ScanPage {
            keys: Vec::new(),
            cursor: None,
        };
        let Some(txn) = self.read_txn()? else {
            return Ok(empty);
        };
        let Some(table) = open_read(&txn, ENTRIES)? else {
            return Ok(empty);
        };
        let budget = (count.max(1) as usize).saturating_mul(byoc_common::EXAMINE_PER_RESULT);
        let range = match &cursor {
            Some(c) => table.range((
                std::ops::Bound::Excluded(c.after.as_str()),
                std::ops::Bound::Unbounded,
            )),
            None => table.range(..),
        }
        .map_err(db_error)?;
        let mut keys = Vec::new();
        let mut live = std::collections::HashSet::new();
        for item in range.take(budget.saturating_add(1)) {
            let (k, v) = item.map_err(db_error)?;
            let key = k.value().to_owned();
            if expiry_of(v.value()).is_none_or(|at| at > now) {
                live.insert(key.clone());
            }
            keys.push(key);
        }
        Ok(sorted_page(
            keys.iter().map(String::as_str),
            pattern,
            count,
            |k| live.contains(k),
        ))
    }

    fn clear(&mut self) -> Result<()> {
        self.write(|t| {
            t.entries.retain(|_, _| false).map_err(db_error)?;
            t.expiry.retain(|_, _| false).map_err(db_error)?;
            if let Some((access, by)) = &mut t.access {
                access.retain(|_, _| false).map_err(db_error)?;
                by.retain(|_, _| false).map_err(db_error)?;
            }
            t.bytes = -i64::try_from(t.before).unwrap_or(i64::MAX);
            Ok(())
        })
    }

    fn usage(&mut self) -> Result<Usage> {
        let mut usage = self.store.usage();
        let Some(txn) = self.read_txn()? else {
            return Ok(usage);
        };
        let Some(table) = open_read(&txn, ENTRIES)? else {
            return Ok(usage);
        };
        usage.keys = table.len().map_err(db_error)?;
        for item in table.iter().map_err(db_error)? {
            let (k, v) = item.map_err(db_error)?;
            usage.bytes += (k.value().len() + v.value().len().saturating_sub(9)) as u64;
        }
        self.store.add_file_bytes(&mut usage);
        Ok(usage)
    }

    fn ping(&mut self) -> Result<()> {
        self.read_txn().map(drop)
    }
}

byoc_guest_sdk::export_adapter!(Redb);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_read_from_the_encoding() {
        assert_eq!(
            expiry_of(&Entry::new(b"v".to_vec(), Some(5), 10).encode()),
            Some(15)
        );
        assert_eq!(
            expiry_of(&Entry::new(b"v".to_vec(), None, 10).encode()),
            None
        );
        assert_eq!(expiry_of(&[1, 2]), None);
    }
}
