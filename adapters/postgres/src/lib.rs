//! The BYOC PostgreSQL adapter: a cache in an UNLOGGED table of a PostgreSQL database,
//! reached over the TCP connection its grant allows (the guest speaks the wire protocol
//! itself, module `wire`).
//!
//! Configuration: `host` (text, default `127.0.0.1`), `port` (integer, default 5432),
//! `user` (text, required), `password` (text; cleartext, MD5 or SCRAM-SHA-256, as the
//! server asks), `database` (text, default the user's name), `namespace` (text, required,
//! `[a-z0-9_]`, at most 48): the table is `byoc_<namespace>`, created if missing, with
//! columns `key text COLLATE "C" PRIMARY KEY`, `value bytea`, `expires_at bigint` (ms
//! since the UNIX epoch, NULL: never).
//!
//! Every operation is one statement in one round trip (multi-key ones bind arrays:
//! `= ANY($1)`, `unnest`); reads skip expired rows; every [`PURGE_EVERY`]-th write of an
//! instance also removes up to [`PURGE_BATCH`] expired rows in the same round trip. Scans
//! use `LIKE` translated from the glob (module `sql`) and check the glob on what it returns.

use byoc_guest_sdk::{Adapter, Capabilities, Config, ConfigField, ConfigKind, Entry, Error};
use byoc_guest_sdk::{KeyTtl, Result, ScanCursor, ScanPage, Usage};
use std::collections::HashMap;

pub mod sql;
pub mod wire;

use sql::{Statements, Stmt};
pub use wire::Target;
use wire::{Answer, Conn, Failure, Param};

/// Writes of an instance between two purges of expired rows.
pub const PURGE_EVERY: u64 = 32;
/// The most expired rows one purge removes.
pub const PURGE_BATCH: i64 = 256;

/// The adapter's state: where to connect, the statements of its table, and the
/// connection while it works.
pub struct Postgres {
    target: Target,
    table: String,
    statements: Statements,
    conn: Option<Conn>,
    writes: u64,
    expirations: u64,
}

fn ms(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn int(col: Option<&Option<Vec<u8>>>) -> Result<Option<i64>> {
    match col {
        Some(Some(b)) => postgres_protocol::types::int8_from_sql(b)
            .map(Some)
            .map_err(|e| Error::Internal(format!("postgres: bad int8 column: {e}"))),
        _ => Ok(None),
    }
}

fn text(col: Option<&Option<Vec<u8>>>) -> Result<String> {
    match col {
        Some(Some(b)) => String::from_utf8(b.clone())
            .map_err(|_| Error::Internal("postgres: a key is not UTF-8".into())),
        _ => Err(Error::Internal("postgres: a key column is NULL".into())),
    }
}

fn entry(value: Option<&Option<Vec<u8>>>, expires: Option<&Option<Vec<u8>>>) -> Result<Entry> {
    let value = match value {
        Some(Some(v)) => v.clone(),
        _ => return Err(Error::Internal("postgres: a value column is NULL".into())),
    };
    let expires_at = int(expires)?.map(|v| u64::try_from(v).unwrap_or(0));
    Ok(Entry { value, expires_at })
}

impl Postgres {
    /// Runs `requests` in one round trip, connecting (and creating the table) first if
    /// needed. A connection failure drops the connection and is retried once on a new one
    /// (every statement here is idempotent), so a server that restarted between calls
    /// costs no failed call; a table dropped behind the adapter's back is created again.
    fn run(&mut self, requests: &[(Stmt, &[Param<'_>])]) -> Result<Vec<Answer>> {
        let mut retried = false;
        loop {
            let fresh = self.conn.is_none();
            let outcome = match self.connected() {
                Ok(()) => match self.conn.as_mut() {
                    Some(conn) => conn.run(&self.statements, requests),
                    None => Err(Failure::Connection("no connection".into())),
                },
                Err(e) => Err(e),
            };
            match outcome {
                Ok(answers) => return Ok(answers),
                Err(Failure::Connection(m)) => {
                    self.conn = None;
                    if retried || fresh {
                        return Err(Failure::Connection(m).into_error());
                    }
                }
                Err(Failure::Server { code, message }) => {
                    // 42P01: undefined table; 0A000 / 26000: a prepared plan went stale.
                    if retried || !matches!(code.as_str(), "42P01" | "0A000" | "26000") {
                        return Err(Failure::Server { code, message }.into_error());
                    }
                    self.conn = None;
                }
            }
            retried = true;
        }
    }

    /// The connection, made (with the table) if there is none.
    fn connected(&mut self) -> std::result::Result<(), Failure> {
        if self.conn.is_none() {
            let mut conn = Conn::connect(&self.target)?;
            for sql in sql::create(&self.table) {
                conn.simple(&sql)?;
            }
            self.conn = Some(conn);
        }
        Ok(())
    }

    /// Runs one write, with a purge of expired rows every [`PURGE_EVERY`] writes.
    fn write(&mut self, stmt: Stmt, params: &[Param<'_>]) -> Result<Answer> {
        self.writes += 1;
        if self.writes.is_multiple_of(PURGE_EVERY) {
            let now = byoc_guest_sdk::now_ms();
            let purge = [Param::Int(Some(ms(now))), Param::Int(Some(PURGE_BATCH))];
            let mut answers = self.run(&[(stmt, params), (Stmt::Purge, &purge)])?;
            let purged = answers.pop().map_or(0, |a| a.affected);
            self.expirations += purged;
            return answers
                .pop()
                .ok_or_else(|| Error::Internal("postgres: no answer".into()));
        }
        self.one(stmt, params)
    }

    fn one(&mut self, stmt: Stmt, params: &[Param<'_>]) -> Result<Answer> {
        self.run(&[(stmt, params)])?
            .pop()
            .ok_or_else(|| Error::Internal("postgres: no answer".into()))
    }
}

impl Adapter for Postgres {
    const NAME: &'static str = "postgres";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const NATIVE: Capabilities = Capabilities::GET_MULTI
        .union(Capabilities::SET_MULTI)
        .union(Capabilities::DELETE_MULTI)
        .union(Capabilities::EXISTS)
        .union(Capabilities::EXPIRE)
        .union(Capabilities::SCAN)
        .union(Capabilities::CLEAR)
        .union(Capabilities::STATS);

    fn config_fields() -> Vec<ConfigField> {
        vec![
            ConfigField::new(
                "host",
                ConfigKind::Text,
                false,
                "Server host (default 127.0.0.1).",
            ),
            ConfigField::new(
                "port",
                ConfigKind::Integer,
                false,
                "Server port (default 5432).",
            ),
            ConfigField::new("user", ConfigKind::Text, true, "Role to log in as."),
            ConfigField::new("password", ConfigKind::Text, false, "The role's password."),
            ConfigField::new(
                "database",
                ConfigKind::Text,
                false,
                "Database (default: the user's name).",
            ),
            ConfigField::new(
                "namespace",
                ConfigKind::Text,
                true,
                "[a-z0-9_], at most 48: the table byoc_<namespace>.",
            ),
        ]
    }

    fn open(config: &Config) -> Result<Self> {
        let namespace = config.text("namespace").unwrap_or_default();
        let port = match config.integer("port") {
            None => 5432,
            Some(p) => u16::try_from(p)
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| Error::InvalidConfig(format!("port {p} is out of range")))?,
        };
        let user = config.text("user").unwrap_or_default().to_owned();
        if user.is_empty() || user.contains('\0') {
            return Err(Error::InvalidConfig("user must be a non-empty name".into()));
        }
        Postgres::new(
            Target {
                host: config.text("host").unwrap_or("127.0.0.1").to_owned(),
                port,
                database: config.text("database").unwrap_or(&user).to_owned(),
                user,
                password: config.text("password").map(str::to_owned),
            },
            namespace,
        )
    }

    fn get(&mut self, key: &str) -> Result<Option<Entry>> {
        let now = byoc_guest_sdk::now_ms();
        let answer = self.one(Stmt::Get, &[Param::Text(key), Param::Int(Some(ms(now)))])?;
        match answer.rows.first() {
            None => Ok(None),
            Some(row) => entry(row.first(), row.get(1)).map(Some),
        }
    }

    fn get_multi(&mut self, keys: &[String]) -> Result<Vec<Option<Entry>>> {
        let now = byoc_guest_sdk::now_ms();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let answer = self.one(
            Stmt::GetMulti,
            &[Param::Texts(&refs), Param::Int(Some(ms(now)))],
        )?;
        let mut found: HashMap<String, Entry> = HashMap::with_capacity(answer.rows.len());
        for row in &answer.rows {
            found.insert(text(row.first())?, entry(row.get(1), row.get(2))?);
        }
        Ok(keys.iter().map(|k| found.get(k).cloned()).collect())
    }

    fn set(&mut self, key: &str, entry: Entry) -> Result<()> {
        let expires = entry.expires_at.map(ms);
        self.write(
            Stmt::Set,
            &[
                Param::Text(key),
                Param::Bytes(&entry.value),
                Param::Int(expires),
            ],
        )
        .map(|_| ())
    }

    fn set_multi(&mut self, items: Vec<(String, Entry)>) -> Result<()> {
        // One upsert may not touch a row twice: the last entry of a repeated key wins.
        let mut last: HashMap<&str, usize> = HashMap::with_capacity(items.len());
        for (i, (k, _)) in items.iter().enumerate() {
            last.insert(k.as_str(), i);
        }
        let kept: Vec<&(String, Entry)> = items
            .iter()
            .enumerate()
            .filter(|(i, (k, _))| last.get(k.as_str()) == Some(i))
            .map(|(_, item)| item)
            .collect();
        let keys: Vec<&str> = kept.iter().map(|(k, _)| k.as_str()).collect();
        let values: Vec<&[u8]> = kept.iter().map(|(_, e)| e.value.as_slice()).collect();
        let expiries: Vec<Option<i64>> = kept.iter().map(|(_, e)| e.expires_at.map(ms)).collect();
        self.write(
            Stmt::SetMulti,
            &[
                Param::Texts(&keys),
                Param::ByteArrays(&values),
                Param::Ints(&expiries),
            ],
        )
        .map(|_| ())
    }

    fn delete(&mut self, key: &str) -> Result<bool> {
        let now = byoc_guest_sdk::now_ms();
        let (removed, _) = self.delete_counts(&[key], now)?;
        Ok(removed > 0)
    }

    fn delete_live(&mut self, key: &str, now: u64) -> Result<bool> {
        let (_, live) = self.delete_counts(&[key], now)?;
        Ok(live > 0)
    }

    fn delete_multi(&mut self, keys: &[String], now: u64) -> Result<u64> {
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        Ok(self.delete_counts(&refs, now)?.1)
    }

    fn exists(&mut self, key: &str, now: u64) -> Result<bool> {
        let answer = self.one(Stmt::Exists, &[Param::Text(key), Param::Int(Some(ms(now)))])?;
        Ok(!answer.rows.is_empty())
    }

    fn ttl(&mut self, key: &str, now: u64) -> Result<KeyTtl> {
        Ok(match self.get(key)? {
            Some(entry) if entry.is_live(now) => match entry.remaining(now) {
                None => KeyTtl::Persistent,
                Some(ms) => KeyTtl::ExpiresIn(ms.max(1)),
            },
            _ => KeyTtl::Missing,
        })
    }

    fn expire(&mut self, key: &str, expires_at: Option<u64>, now: u64) -> Result<bool> {
        let answer = self.write(
            Stmt::Expire,
            &[
                Param::Text(key),
                Param::Int(expires_at.map(ms)),
                Param::Int(Some(ms(now))),
            ],
        )?;
        Ok(answer.affected > 0)
    }

    fn keys(&mut self) -> Result<Vec<String>> {
        let answer = self.one(Stmt::Keys, &[])?;
        answer.rows.iter().map(|r| text(r.first())).collect()
    }

    fn scan(
        &mut self,
        pattern: &str,
        cursor: Option<ScanCursor>,
        count: u32,
        now: u64,
    ) -> Result<ScanPage> {
        let count = count.max(1);
        let after = cursor.map(|c| c.after).unwrap_or_default();
        let like = sql::glob_to_like(pattern);
        let answer = self.one(
            Stmt::Scan,
            &[
                Param::Text(&after),
                Param::Text(&like),
                Param::Int(Some(ms(now))),
                Param::Int(Some(i64::from(count) + 1)),
            ],
        )?;
        let mut rows: Vec<String> = answer
            .rows
            .iter()
            .map(|r| text(r.first()))
            .collect::<Result<_>>()?;
        // One row beyond the page says that there is more: the page ends at its last key.
        let more = rows.len() > count as usize;
        rows.truncate(count as usize);
        let cursor = match (more, rows.last()) {
            (true, Some(last)) => Some(
                ScanCursor {
                    after: last.clone(),
                }
                .encode(),
            ),
            _ => None,
        };
        // `LIKE` lets through a superset of the glob (it has no character classes).
        rows.retain(|k| byoc_common::glob_match(pattern, k));
        Ok(ScanPage { keys: rows, cursor })
    }

    fn clear(&mut self) -> Result<()> {
        self.one(Stmt::Clear, &[]).map(|_| ())
    }

    fn usage(&mut self) -> Result<Usage> {
        let now = byoc_guest_sdk::now_ms();
        let answer = self.one(Stmt::Usage, &[Param::Int(Some(ms(now)))])?;
        let row = answer.rows.first();
        let keys = int(row.and_then(|r| r.first()))?.unwrap_or(0);
        let bytes = int(row.and_then(|r| r.get(1)))?.unwrap_or(0);
        Ok(Usage {
            keys: u64::try_from(keys).unwrap_or(0),
            bytes: u64::try_from(bytes).unwrap_or(0),
            expirations: self.expirations,
            ..Usage::default()
        })
    }

    fn ping(&mut self) -> Result<()> {
        self.one(Stmt::Exists, &[Param::Text(""), Param::Int(Some(0))])
            .map(|_| ())
    }
}

impl Postgres {
    /// The adapter for `namespace` (validated) on `target`; nothing is connected until the
    /// first call. (Native code, such as tests, can run the adapter this way outside a
    /// component.)
    pub fn new(target: Target, namespace: &str) -> Result<Postgres> {
        if !sql::valid_namespace(namespace) {
            return Err(Error::InvalidConfig(format!(
                "namespace `{}` must be 1 to {} of [a-z0-9_]",
                namespace.escape_debug(),
                sql::MAX_NAMESPACE_LEN
            )));
        }
        let table = sql::table_name(namespace);
        Ok(Postgres {
            target,
            statements: Statements::new(&table),
            table,
            conn: None,
            writes: 0,
            expirations: 0,
        })
    }

    /// Deletes `keys`: (rows removed, of which live at `now`).
    fn delete_counts(&mut self, keys: &[&str], now: u64) -> Result<(u64, u64)> {
        let answer = self.write(
            Stmt::DeleteMulti,
            &[Param::Texts(keys), Param::Int(Some(ms(now)))],
        )?;
        let row = answer.rows.first();
        let removed = int(row.and_then(|r| r.first()))?.unwrap_or(0);
        let live = int(row.and_then(|r| r.get(1)))?.unwrap_or(0);
        Ok((
            u64::try_from(removed).unwrap_or(0),
            u64::try_from(live).unwrap_or(0),
        ))
    }
}

byoc_guest_sdk::export_adapter!(Postgres);
