//! The BYOC SQLite adapter: a persistent cache in one SQLite database file (the library
//! compiled into the component) inside the one directory its grant preopens.
//!
//! Configuration (all optional): `path` (default `/data`: the granted directory in the
//! guest), `file` (default `byoc.sqlite`), `journal` (`delete`, the default, `truncate` or
//! `persist`: a rollback journal; WAL needs shared memory, which WASI lacks), `synchronous`
//! (`full`, the default, `normal`, `off` or `extra`), `lock-stale` (see
//! [`byoc_guest_sdk::store::lockfile`]), `max-bytes` and `max-entries` (bounds; the entries accessed
//! longest ago are evicted first).
//!
//! Schema: `entries(key TEXT PRIMARY KEY, value BLOB, expires_at INTEGER, accessed_at
//! INTEGER)` with indexes on both times. Expired rows read as missing and are purged
//! [`PURGE_BATCH`] at a time in each write transaction. SQLite runs on its `unix-none` VFS
//! (no file locks: WASI has none); the lock file keeps a second writer out. A read-only
//! grant opens the file read-only: reads work, every write is `denied`.

use byoc_guest_sdk::store::{FileStore, io_error};
use byoc_guest_sdk::{Adapter, Capabilities, Config, ConfigField, ConfigKind, Entry, Error};
use byoc_guest_sdk::{Result, ScanCursor, ScanPage, Usage, now_ms, sorted_page};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use std::fs;
use std::io::ErrorKind;

mod glob;

/// Expired rows purged at most per write transaction.
pub const PURGE_BATCH: u32 = 32;
/// Default stale time of a lock file's heartbeat (ms).
pub const DEFAULT_STALE_MS: u64 = byoc_guest_sdk::store::DEFAULT_STALE_MS;
/// Entries evicted at most per statement (statements repeat until under the bounds).
const EVICT_BATCH: u64 = 64;
/// The database file's name unless `file` says otherwise.
const DEFAULT_FILE: &str = "byoc.sqlite";
/// The schema version, in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 1;
/// The VFS: SQLite's unix one without file locking.
const VFS: &std::ffi::CStr = c"unix-none";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL,
    expires_at INTEGER,
    accessed_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_expires_at ON entries(expires_at)
    WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS entries_accessed_at ON entries(accessed_at);
";

/// Maps a SQLite error.
fn db_error(e: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode as C;
    match e.sqlite_error_code() {
        Some(C::ReadOnly | C::PermissionDenied | C::AuthorizationForStatementDenied) => {
            Error::Denied(format!("database: {e}"))
        }
        Some(C::DiskFull | C::DatabaseBusy | C::DatabaseLocked | C::CannotOpen) => {
            Error::Unavailable(format!("database: {e}"))
        }
        _ => Error::Internal(format!("database: {e}")),
    }
}

/// SQLite stores signed integers; times past `i64::MAX` ms are "never" anyway.
fn to_sql_time(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// The connection of a read-write grant: open while this instance holds the lock file.
struct Writer {
    conn: Option<Connection>,
}

/// The connection of a read-only grant.
struct Reader {
    conn: Option<Connection>,
}

enum Mode {
    Write(Writer),
    Read(Reader),
}

/// The SQLite adapter's state.
pub struct Sqlite {
    store: FileStore,
    journal: &'static str,
    synchronous: &'static str,
    mode: Mode,
    /// (entries, bytes of keys and values) of the open database, counted when a write
    /// under a bound first needs them.
    totals: Option<(u64, u64)>,
}

/// Opens `file` on the lock-free VFS with `flags`.
fn open_conn(file: &std::path::Path, flags: OpenFlags) -> Result<Connection> {
    Connection::open_with_flags_and_vfs(file, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX, VFS)
        .map_err(db_error)
}

/// Checks the schema version of a database this adapter did not just create.
fn check_version(conn: &Connection) -> Result<i64> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(db_error)?;
    if version != 0 && version != SCHEMA_VERSION {
        return Err(Error::Internal(format!(
            "database schema version {version} is not {SCHEMA_VERSION}"
        )));
    }
    Ok(version)
}

/// Entries and bytes stored.
fn totals(conn: &Connection) -> Result<(u64, u64)> {
    conn.query_row(
        "SELECT count(*), coalesce(sum(octet_length(key) + octet_length(value)), 0) FROM entries",
        [],
        |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
    )
    .map_err(db_error)
}

impl Sqlite {
    /// The writer's open connection, after taking or refreshing the lock.
    fn writer_conn(&mut self, now: u64) -> Result<&Connection> {
        let Mode::Write(w) = &mut self.mode else {
            return Err(self.store.read_only());
        };
        self.store.lease.hold(now, || {
            w.conn = None;
            self.totals = None;
        })?;
        if w.conn.is_none() {
            self.store.create_file()?;
            let conn = open_conn(
                &self.store.file,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
            )?;
            // Opening rolls back a hot journal a killed writer left (the lock says no one
            // else is writing).
            conn.execute_batch(&format!(
                "PRAGMA journal_mode = {}; PRAGMA synchronous = {};",
                self.journal, self.synchronous
            ))
            .map_err(db_error)?;
            if check_version(&conn)? == 0 {
                conn.execute_batch(&format!(
                    "BEGIN IMMEDIATE; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
                ))
                .map_err(db_error)?;
            }
            w.conn = Some(conn);
        }
        match &w.conn {
            Some(conn) => Ok(conn),
            None => Err(Error::Internal("database not open".into())),
        }
    }

    /// Runs `f` in one write transaction, with a purge batch and eviction down to the
    /// bounds; `f` returns its result and the change to (entries, bytes) it made.
    fn write<R>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction<'_>, u64) -> Result<(R, i64, i64)>,
    ) -> Result<R> {
        let now = now_ms();
        self.writer_conn(now)?;
        let Mode::Write(w) = &mut self.mode else {
            return Err(self.store.read_only());
        };
        self.store.lease.verify(|| {
            w.conn = None;
            self.totals = None;
        })?;
        let Some(conn) = &mut w.conn else {
            return Err(Error::Internal("database not open".into()));
        };
        let bound = &mut self.store.bound;
        if bound.active() && self.totals.is_none() {
            self.totals = Some(totals(conn)?);
        }
        let txn = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_error)?;
        if bound.active() && !bound.pending().is_empty() {
            let mut stmt = txn
                .prepare_cached(
                    "UPDATE entries SET accessed_at = ?2 WHERE key = ?1 AND accessed_at < ?2",
                )
                .map_err(db_error)?;
            for (key, at) in bound.pending() {
                stmt.execute(params![key, to_sql_time(*at)])
                    .map_err(db_error)?;
            }
        }
        let (out, d_entries, d_bytes) = f(&txn, now)?;
        // Purged: (entries, bytes) of up to PURGE_BATCH expired rows.
        let purged: Vec<i64> = txn
            .prepare_cached(
                "DELETE FROM entries WHERE key IN (SELECT key FROM entries \
                 WHERE expires_at <= ?1 LIMIT ?2) \
                 RETURNING octet_length(key) + octet_length(value)",
            )
            .and_then(|mut s| {
                s.query_map(params![to_sql_time(now), PURGE_BATCH], |r| r.get(0))?
                    .collect()
            })
            .map_err(db_error)?;
        let mut evicted = 0u64;
        let mut after = self.totals.map(|(e, b)| {
            (
                e.saturating_add_signed(d_entries - purged.len() as i64),
                b.saturating_add_signed(d_bytes - purged.iter().sum::<i64>()),
            )
        });
        while let Some((entries, bytes)) = after.filter(|&(e, b)| bound.exceeded(e, b)) {
            // The rows accessed longest ago: as many as the entries over the bound, else
            // (bytes over) one at a time.
            let excess = bound
                .max_entries
                .map_or(0, |max| entries.saturating_sub(max));
            let victims: Vec<i64> = txn
                .prepare_cached(
                    "DELETE FROM entries WHERE key IN (SELECT key FROM entries \
                     ORDER BY accessed_at LIMIT ?1) \
                     RETURNING octet_length(key) + octet_length(value)",
                )
                .and_then(|mut s| {
                    s.query_map([excess.clamp(1, EVICT_BATCH) as i64], |r| r.get(0))?
                        .collect()
                })
                .map_err(db_error)?;
            if victims.is_empty() {
                break;
            }
            evicted += victims.len() as u64;
            after = Some((
                entries.saturating_sub(victims.len() as u64),
                bytes.saturating_add_signed(-victims.iter().sum::<i64>()),
            ));
        }
        txn.commit().map_err(db_error)?;
        // Committed: the counters follow the file.
        self.totals = after;
        bound.clear_pending();
        self.store.expirations += purged.len() as u64;
        self.store.evictions += evicted;
        Ok(out)
    }

    /// A connection to read with, or `None` when a read-only grant has no database file.
    fn read_conn(&mut self) -> Result<Option<&Connection>> {
        let now = now_ms();
        if let Mode::Write(_) = self.mode {
            return self.writer_conn(now).map(Some);
        }
        // A live writer changes pages in place under a rollback journal: reading
        // without file locks could see half a commit.
        let mode = &mut self.mode;
        self.store.lease.check_no_writer(now, || {
            if let Mode::Read(r) = mode {
                r.conn = None;
            }
        })?;
        let exists = match fs::metadata(&self.store.file) {
            Ok(m) => m.len() > 0,
            Err(e) if e.kind() == ErrorKind::NotFound => false,
            Err(e) => return Err(io_error("reading the database file's metadata", &e)),
        };
        let Mode::Read(r) = &mut self.mode else {
            return Ok(None);
        };
        if !exists {
            r.conn = None;
            return Ok(None);
        }
        if r.conn.is_none() {
            let conn = open_conn(&self.store.file, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
            check_version(&conn)?;
            r.conn = Some(conn);
        }
        Ok(r.conn.as_ref())
    }

    /// Notes a read of `key` for the eviction order (with a bound set, under a writer).
    fn touch(&mut self, key: &str, now: u64) {
        if matches!(self.mode, Mode::Write(_)) {
            self.store.bound.touch(key, now);
        }
    }
}

/// Whether the schema's table exists (a read-only grant may meet a file no writer set up).
fn has_entries(conn: &Connection) -> Result<bool> {
    conn.query_row(
        "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'entries'",
        [],
        |_| Ok(()),
    )
    .optional()
    .map(|found| found.is_some())
    .map_err(db_error)
}

/// The live entry of `key` at `now`. Expired rows read as missing here rather than in the
/// SDK, whose lazy delete would be a write (refused under a read-only grant).
fn get_live(conn: &Connection, key: &str, now: u64) -> Result<Option<Entry>> {
    conn.prepare_cached(
        "SELECT value, expires_at FROM entries WHERE key = ?1 \
         AND (expires_at IS NULL OR expires_at > ?2)",
    )
    .and_then(|mut s| {
        s.query_row(params![key, to_sql_time(now)], |r| {
            Ok(Entry {
                value: r.get(0)?,
                expires_at: r.get::<_, Option<i64>>(1)?.map(|at| at.max(0) as u64),
            })
        })
        .optional()
    })
    .map_err(db_error)
}

/// (entries, bytes) of the row of `key`, if stored.
fn row_size(txn: &rusqlite::Transaction<'_>, key: &str) -> Result<Option<i64>> {
    txn.prepare_cached("SELECT octet_length(key) + octet_length(value) FROM entries WHERE key = ?1")
        .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
        .map_err(db_error)
}

/// Stores `entry` under `key`; returns the change in (entries, bytes).
fn put(txn: &rusqlite::Transaction<'_>, key: &str, entry: &Entry, now: u64) -> Result<(i64, i64)> {
    let old = row_size(txn, key)?;
    txn.prepare_cached(
        "INSERT INTO entries (key, value, expires_at, accessed_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, \
         expires_at = excluded.expires_at, accessed_at = excluded.accessed_at",
    )
    .and_then(|mut s| {
        s.execute(params![
            key,
            entry.value,
            entry.expires_at.map(to_sql_time),
            to_sql_time(now)
        ])
    })
    .map_err(db_error)?;
    let new = (key.len() + entry.value.len()) as i64;
    Ok(match old {
        Some(old) => (0, new - old),
        None => (1, new),
    })
}

/// Removes `key`; returns whether it was stored and the change in (entries, bytes).
fn remove(txn: &rusqlite::Transaction<'_>, key: &str) -> Result<(bool, i64, i64)> {
    let size: Option<i64> = txn
        .prepare_cached(
            "DELETE FROM entries WHERE key = ?1 RETURNING octet_length(key) + octet_length(value)",
        )
        .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
        .map_err(db_error)?;
    Ok(match size {
        Some(size) => (true, -1, -size),
        None => (false, 0, 0),
    })
}

impl Drop for Sqlite {
    fn drop(&mut self) {
        if let Mode::Write(w) = &mut self.mode {
            drop(w.conn.take());
        }
        self.store.lease.release();
    }
}

/// A journal mode from the configuration.
fn journal_mode(text: &str) -> Result<&'static str> {
    match text {
        "delete" => Ok("DELETE"),
        "truncate" => Ok("TRUNCATE"),
        "persist" => Ok("PERSIST"),
        "wal" => Err(Error::InvalidConfig(
            "journal `wal` needs shared memory between processes, which WASI does not \
             offer: use `delete`, `truncate` or `persist`"
                .into(),
        )),
        other => Err(Error::InvalidConfig(format!(
            "journal `{other}` must be `delete`, `truncate` or `persist`"
        ))),
    }
}

/// A `synchronous` level from the configuration.
fn synchronous_level(text: &str) -> Result<&'static str> {
    match text {
        "off" => Ok("OFF"),
        "normal" => Ok("NORMAL"),
        "full" => Ok("FULL"),
        "extra" => Ok("EXTRA"),
        other => Err(Error::InvalidConfig(format!(
            "synchronous `{other}` must be `off`, `normal`, `full` or `extra`"
        ))),
    }
}

impl Adapter for Sqlite {
    const NAME: &'static str = "sqlite";
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
                    "journal",
                    ConfigKind::Text,
                    false,
                    "Rollback journal mode: delete (default), truncate or persist.",
                ),
                ConfigField::new(
                    "synchronous",
                    ConfigKind::Text,
                    false,
                    "full (default: every commit synced), normal, off or extra.",
                ),
            ],
        )
    }

    fn open(config: &Config) -> Result<Self> {
        let journal = journal_mode(config.text("journal").unwrap_or("delete"))?;
        let synchronous = synchronous_level(config.text("synchronous").unwrap_or("full"))?;
        let mut sqlite = Sqlite {
            store: FileStore::open(config, DEFAULT_FILE)?,
            journal,
            synchronous,
            mode: Mode::Write(Writer { conn: None }),
            totals: None,
        };
        // Take the lock now when it is free (a held lock is retried at each call). A
        // directory granted read-only refuses the lock file: read the database read-only.
        if !byoc_guest_sdk::store::writable(sqlite.writer_conn(now_ms()))? {
            sqlite.mode = Mode::Read(Reader { conn: None });
        }
        Ok(sqlite)
    }

    fn get(&mut self, key: &str) -> Result<Option<Entry>> {
        let now = now_ms();
        let Some(conn) = self.read_conn()? else {
            return Ok(None);
        };
        let found = match get_live(conn, key, now) {
            Err(_) if !has_entries(conn)? => None,
            other => other?,
        };
        if found.is_some() {
            self.touch(key, now);
        }
        Ok(found)
    }

    fn get_multi(&mut self, keys: &[String]) -> Result<Vec<Option<Entry>>> {
        let now = now_ms();
        let Some(conn) = self.read_conn()? else {
            return Ok(vec![None; keys.len()]);
        };
        if !has_entries(conn)? {
            return Ok(vec![None; keys.len()]);
        }
        let found: Vec<Option<Entry>> = keys
            .iter()
            .map(|k| get_live(conn, k, now))
            .collect::<Result<_>>()?;
        for (key, entry) in keys.iter().zip(&found) {
            if entry.is_some() {
                self.touch(key, now);
            }
        }
        Ok(found)
    }

    fn set(&mut self, key: &str, entry: Entry) -> Result<()> {
        self.store.bound.check_size(key, &entry)?;
        self.write(|txn, now| {
            let (e, b) = put(txn, key, &entry, now)?;
            Ok(((), e, b))
        })
    }

    fn set_multi(&mut self, items: Vec<(String, Entry)>) -> Result<()> {
        for (key, entry) in &items {
            self.store.bound.check_size(key, entry)?;
        }
        self.write(|txn, now| {
            let (mut entries, mut bytes) = (0, 0);
            for (key, entry) in &items {
                let (e, b) = put(txn, key, entry, now)?;
                entries += e;
                bytes += b;
            }
            Ok(((), entries, bytes))
        })
    }

    fn delete(&mut self, key: &str) -> Result<bool> {
        self.write(|txn, _| remove(txn, key))
    }

    fn keys(&mut self) -> Result<Vec<String>> {
        let Some(conn) = self.read_conn()? else {
            return Ok(Vec::new());
        };
        if !has_entries(conn)? {
            return Ok(Vec::new());
        }
        conn.prepare_cached("SELECT key FROM entries ORDER BY key")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .map_err(db_error)
    }

    /// The keys after the cursor in order that SQLite's `GLOB` (a translation of the
    /// pattern that matches at least what it matches) lets through, as many as one page
    /// may examine plus one; the exact pattern is applied to them.
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
        let Some(conn) = self.read_conn()? else {
            return Ok(empty);
        };
        if !has_entries(conn)? {
            return Ok(empty);
        }
        let budget = (count.max(1) as usize).saturating_mul(byoc_common::EXAMINE_PER_RESULT);
        let limit = i64::try_from(budget.saturating_add(1)).unwrap_or(i64::MAX);
        let after = cursor.as_ref().map(|c| c.after.as_str());
        let rows: Vec<(String, bool)> = conn
            .prepare_cached(
                "SELECT key, expires_at IS NULL OR expires_at > ?3 FROM entries \
                 WHERE (?1 IS NULL OR key > ?1) AND key GLOB ?2 ORDER BY key LIMIT ?4",
            )
            .and_then(|mut s| {
                s.query_map(
                    params![after, glob::to_sqlite(pattern), to_sql_time(now), limit],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?
                .collect()
            })
            .map_err(db_error)?;
        let live: std::collections::HashSet<&str> = rows
            .iter()
            .filter(|(_, live)| *live)
            .map(|(k, _)| k.as_str())
            .collect();
        Ok(sorted_page(
            rows.iter().map(|(k, _)| k.as_str()),
            pattern,
            count,
            |k| live.contains(k),
        ))
    }

    fn clear(&mut self) -> Result<()> {
        self.write(|txn, _| {
            let (entries, bytes) = totals(txn)?;
            txn.execute("DELETE FROM entries", []).map_err(db_error)?;
            Ok(((), -(entries as i64), -(bytes as i64)))
        })
    }

    fn usage(&mut self) -> Result<Usage> {
        let mut usage = self.store.usage();
        let Some(conn) = self.read_conn()? else {
            return Ok(usage);
        };
        if has_entries(conn)? {
            (usage.keys, usage.bytes) = totals(conn)?;
        }
        self.store.add_file_bytes(&mut usage);
        Ok(usage)
    }

    fn ping(&mut self) -> Result<()> {
        self.read_conn().map(drop)
    }
}

byoc_guest_sdk::export_adapter!(Sqlite);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings() {
        assert_eq!(journal_mode("delete").ok(), Some("DELETE"));
        assert!(matches!(journal_mode("wal"), Err(Error::InvalidConfig(m)) if m.contains("WASI")));
        assert_eq!(synchronous_level("full").ok(), Some("FULL"));
        assert!(synchronous_level("always").is_err());
    }
}
