//! The BYOC memcached adapter: memcached's meta text protocol (`mg`, `ms`, `md`, `mn`),
//! written in the guest over the cache's TCP grant.
//!
//! Each instance keeps one connection per server, opened on first use and again after a
//! failure. Keys are the cache's `namespace` followed by the key; one that memcached
//! cannot take as text (a space, non-ASCII) is sent base64-encoded (`b`), and one longer
//! than memcached's 250 bytes as the namespace, a 0x01 byte (never in a BYOC key) and
//! its SHA-256. With several `servers`, keys are spread by ketama ([`ketama`]).
//!
//! Values are stored as they are. TTLs are kept to the millisecond: the item's memcached
//! TTL is rounded up (plus a second for memcached's coarse clock) and its client flags
//! hold the low 32 bits of the expiry in ms, which `mg`'s remaining seconds complete.
//! Multi-key operations are pipelined: one write and one read per server.
//! `increment` and `compare-and-swap` use memcached's CAS (`mg c`, `ms C`, `ms ME`), so
//! they are atomic against every client of the server.
//!
//! memcached cannot list keys: `scan` and `clear` answer `unsupported`, and the adapter
//! leaves them out of its native capabilities.

pub mod ketama;

use base64::Engine as _;
use byoc_guest_sdk::{
    Adapter, Capabilities, Config, ConfigField, ConfigKind, Entry, Error, KeyTtl, Result,
    ScanCursor, ScanPage, Usage,
};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

/// Longest key memcached stores.
const MAX_MEMCACHED_KEY: usize = 250;
/// Longest `namespace`.
const MAX_NAMESPACE: usize = 128;
/// memcached reads TTLs above this many seconds (30 days) as UNIX timestamps.
const RELATIVE_TTL_LIMIT: u64 = 30 * 24 * 3600;
/// Attempts of a CAS loop before it gives up as `unavailable`.
const CAS_ATTEMPTS: usize = 64;
/// How far the expiry in the flags may be from memcached's remaining seconds (its clock
/// ticks once a second, and TTLs are rounded up plus a second) and still be taken as ours.
const FLAGS_SLACK_MS: u64 = 3000;
/// Bytes of an item beyond its key and value, counted against `item_size_max` (the item
/// header, CAS, suffix and CR LF, rounded up).
const ITEM_OVERHEAD: usize = 96;
/// Longest response line read (a header line; values are read by length).
const MAX_LINE: usize = 8 << 10;

/// The adapter: its namespace, its servers and their connections.
pub struct Memcached {
    namespace: Vec<u8>,
    ring: ketama::Ring,
    servers: Vec<Server>,
}

struct Server {
    addr: String,
    conn: Option<BufReader<TcpStream>>,
    /// The server's `item_size_max`, asked on each new connection.
    item_max: Option<usize>,
}

/// One memcached key as sent: its text and whether it is base64 (`b`).
struct Key {
    text: String,
    base64: bool,
    server: usize,
}

impl Key {
    fn flag(&self) -> &'static str {
        if self.base64 { " b" } else { "" }
    }
}

/// What `mg` answered for a key.
#[derive(Debug, Default)]
struct Meta {
    value: Option<Vec<u8>>,
    /// Remaining seconds (`t`; -1: no expiry).
    ttl: Option<i64>,
    flags: Option<u32>,
    cas: Option<u64>,
}

impl Meta {
    /// The expiry (ms since the UNIX epoch) the adapter stored, from the flags' low 32
    /// bits and memcached's remaining seconds.
    fn expires_at(&self, now: u64) -> Option<u64> {
        let ttl = self.ttl.filter(|&t| t >= 0)?;
        let Some(low) = self.flags else {
            return Some(now.saturating_add(ttl as u64 * 1000));
        };
        let approx = now.saturating_add(ttl as u64 * 1000);
        let base = (approx & !0xFFFF_FFFF) | u64::from(low);
        let exact = [base.wrapping_sub(1 << 32), base, base.wrapping_add(1 << 32)]
            .into_iter()
            .min_by_key(|c| c.abs_diff(approx))?;
        // An item another client wrote has flags of its own: no expiry in ms there.
        Some(if exact.abs_diff(approx) <= FLAGS_SLACK_MS {
            exact
        } else {
            approx
        })
    }

    fn entry(self, now: u64) -> Option<Entry> {
        let expires_at = self.expires_at(now);
        self.value.map(|value| Entry { value, expires_at })
    }
}

/// One reply line of memcached.
enum Reply {
    /// `VA <len> <flags>`: a value follows.
    Value(Meta),
    /// `HD <flags>`: success, no value.
    Done(Meta),
    /// `EN` (miss), `NF` (not found), `NS` (not stored), `EX` (CAS mismatch).
    Miss,
    NotFound,
    NotStored,
    Exists,
    /// `MN`: the end of a pipeline.
    NoOp,
}

fn unavailable(addr: &str, e: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("memcached {addr}: {e}"))
}

fn parse_meta(tokens: &[&str]) -> Meta {
    let mut meta = Meta::default();
    for t in tokens {
        let (flag, rest) = t.split_at(t.len().min(1));
        match flag {
            "t" => meta.ttl = rest.parse().ok(),
            "f" => meta.flags = rest.parse().ok(),
            "c" => meta.cas = rest.parse().ok(),
            _ => {}
        }
    }
    meta
}

impl Server {
    fn conn(&mut self) -> Result<&mut BufReader<TcpStream>> {
        if self.conn.is_none() {
            let stream = TcpStream::connect(&self.addr).map_err(|e| unavailable(&self.addr, e))?;
            let _ = stream.set_nodelay(true);
            let mut conn = BufReader::with_capacity(64 << 10, stream);
            self.item_max = item_size_max(&mut conn, &self.addr)?;
            self.conn = Some(conn);
        }
        self.conn
            .as_mut()
            .ok_or_else(|| Error::Internal("no connection".into()))
    }

    /// Sends `request` and reads `replies` replies with `read`; one retry on a fresh
    /// connection when a kept one fails (the server may have restarted since). Every
    /// request the adapter pipelines is safe to repeat.
    fn round_trip<T>(
        &mut self,
        request: &[u8],
        mut read: impl FnMut(&mut BufReader<TcpStream>, &str) -> Result<T>,
    ) -> Result<T> {
        let kept = self.conn.is_some();
        match self.try_round_trip(request, &mut read) {
            Err(Error::Unavailable(_)) if kept => self.try_round_trip(request, &mut read),
            other => other,
        }
    }

    fn try_round_trip<T>(
        &mut self,
        request: &[u8],
        read: &mut impl FnMut(&mut BufReader<TcpStream>, &str) -> Result<T>,
    ) -> Result<T> {
        let addr = self.addr.clone();
        let conn = self.conn()?;
        let outcome = conn
            .get_mut()
            .write_all(request)
            .map_err(|e| unavailable(&addr, e))
            .and_then(|()| read(conn, &addr));
        if matches!(outcome, Err(Error::Unavailable(_) | Error::Internal(_))) {
            // The stream's state is unknown: start afresh next time.
            self.conn = None;
        }
        outcome
    }
}

/// Asks a new connection for the server's largest item (`stats settings`).
fn item_size_max(conn: &mut BufReader<TcpStream>, addr: &str) -> Result<Option<usize>> {
    conn.get_mut()
        .write_all(b"stats settings\r\n")
        .map_err(|e| unavailable(addr, e))?;
    let mut max = None;
    loop {
        let mut line = String::new();
        let n = conn
            .by_ref()
            .take(MAX_LINE as u64)
            .read_line(&mut line)
            .map_err(|e| unavailable(addr, e))?;
        if n == 0 {
            return Err(unavailable(addr, "connection closed"));
        }
        let line = line.trim_end();
        if line == "END" {
            return Ok(max);
        }
        if let Some(v) = line.strip_prefix("STAT item_size_max ") {
            max = v.parse().ok();
        } else if !line.starts_with("STAT ") {
            return Err(Error::Internal(format!(
                "memcached {addr}: unexpected reply to stats settings"
            )));
        }
    }
}

/// Reads one reply; a value's bytes are read into the returned [`Meta`].
fn read_reply(conn: &mut BufReader<TcpStream>, addr: &str) -> Result<Reply> {
    let mut line = Vec::with_capacity(64);
    let n = conn
        .by_ref()
        .take(MAX_LINE as u64)
        .read_until(b'\n', &mut line)
        .map_err(|e| unavailable(addr, e))?;
    if n == 0 {
        return Err(unavailable(addr, "connection closed"));
    }
    if !line.ends_with(b"\r\n") {
        return Err(Error::Internal(format!(
            "memcached {addr}: malformed reply"
        )));
    }
    let text = std::str::from_utf8(&line[..line.len() - 2])
        .map_err(|_| Error::Internal(format!("memcached {addr}: reply is not text")))?;
    let tokens: Vec<&str> = text.split(' ').collect();
    let reply = match tokens[0] {
        "VA" => {
            let len: usize = tokens
                .get(1)
                .and_then(|l| l.parse().ok())
                .ok_or_else(|| Error::Internal(format!("memcached {addr}: bad VA line")))?;
            let mut meta = parse_meta(&tokens[2..]);
            let mut value = vec![0u8; len + 2];
            conn.read_exact(&mut value)
                .map_err(|e| unavailable(addr, e))?;
            value.truncate(len);
            meta.value = Some(value);
            Reply::Value(meta)
        }
        "HD" => Reply::Done(parse_meta(&tokens[1..])),
        "EN" => Reply::Miss,
        "NF" => Reply::NotFound,
        "NS" => Reply::NotStored,
        "EX" => Reply::Exists,
        "MN" => Reply::NoOp,
        "SERVER_ERROR" if text.contains("too large") => {
            return Err(Error::ValueTooLarge(format!("memcached {addr}: {text}")));
        }
        "SERVER_ERROR" if text.contains("out of memory") => {
            return Err(Error::Unavailable(format!("memcached {addr}: {text}")));
        }
        _ => return Err(Error::Internal(format!("memcached {addr}: {text}"))),
    };
    Ok(reply)
}

/// An `mg` reply as a [`Meta`] (`None`: a miss).
fn read_get(conn: &mut BufReader<TcpStream>, addr: &str) -> Result<Option<Meta>> {
    match read_reply(conn, addr)? {
        Reply::Value(meta) | Reply::Done(meta) => Ok(Some(meta)),
        Reply::Miss => Ok(None),
        _ => Err(Error::Internal(format!(
            "memcached {addr}: unexpected reply to mg"
        ))),
    }
}

/// A storage reply: stored (`HD`), or not (`NS`, `EX`, `NF`).
fn read_stored(conn: &mut BufReader<TcpStream>, addr: &str) -> Result<bool> {
    match read_reply(conn, addr)? {
        Reply::Done(_) => Ok(true),
        Reply::NotStored | Reply::Exists | Reply::NotFound => Ok(false),
        _ => Err(Error::Internal(format!(
            "memcached {addr}: unexpected reply to ms"
        ))),
    }
}

/// A delete reply: removed (`HD`) or not there (`NF`).
fn read_deleted(conn: &mut BufReader<TcpStream>, addr: &str) -> Result<bool> {
    match read_reply(conn, addr)? {
        Reply::Done(_) => Ok(true),
        Reply::NotFound => Ok(false),
        _ => Err(Error::Internal(format!(
            "memcached {addr}: unexpected reply to md"
        ))),
    }
}

/// `T` and `F` of an `ms` storing an entry expiring at `expires_at`.
fn ttl_flags(expires_at: Option<u64>, now: u64) -> (u64, u32) {
    let Some(at) = expires_at else {
        return (0, 0);
    };
    // Rounded up, plus a second: memcached's clock ticks once a second.
    let secs = at.saturating_sub(now).div_ceil(1000).max(1) + 1;
    let ttl = if secs > RELATIVE_TTL_LIMIT {
        (now / 1000).saturating_add(secs)
    } else {
        secs
    };
    (ttl, (at & 0xFFFF_FFFF) as u32)
}

/// Appends `ms` of `value` under `key`; `mode` is extra flags (` C<cas>`, ` ME`).
fn push_set(out: &mut Vec<u8>, key: &Key, value: &[u8], expires_at: Option<u64>, mode: &str) {
    let (ttl, flags) = ttl_flags(expires_at, byoc_guest_sdk::now_ms());
    out.extend_from_slice(
        format!(
            "ms {} {}{} T{ttl} F{flags}{mode}\r\n",
            key.text,
            value.len(),
            key.flag()
        )
        .as_bytes(),
    );
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

impl Memcached {
    /// Refuses a value the key's server would not store. memcached drops the key's old
    /// value when it refuses a new one as too large; this keeps it.
    fn check_size(&mut self, key: &Key, value: usize) -> Result<()> {
        let server = &mut self.servers[key.server];
        server.conn()?;
        match server.item_max {
            Some(max) if key.text.len() + value + ITEM_OVERHEAD > max => {
                Err(Error::ValueTooLarge(format!(
                    "a value of {value} bytes is over the item size limit ({max} bytes) of \
                     memcached {}",
                    server.addr
                )))
            }
            _ => Ok(()),
        }
    }

    fn key(&self, key: &str) -> Key {
        let mut full = self.namespace.clone();
        full.extend_from_slice(key.as_bytes());
        if full.len() > MAX_MEMCACHED_KEY {
            full.truncate(self.namespace.len());
            full.push(0x01);
            full.extend_from_slice(&Sha256::digest(key.as_bytes()));
        }
        let server = self.ring.server(&full);
        if full.iter().all(|b| b.is_ascii_graphic()) {
            let text = String::from_utf8(full).unwrap_or_default();
            Key {
                text,
                base64: false,
                server,
            }
        } else {
            Key {
                text: base64::engine::general_purpose::STANDARD.encode(&full),
                base64: true,
                server,
            }
        }
    }

    /// Runs one pipelined request per server: `build` writes a key's commands, `read`
    /// reads a key's replies; answers in the order of `keys`.
    fn pipeline<K, T>(
        &mut self,
        items: &[K],
        key_of: impl Fn(&K) -> &str,
        build: impl Fn(&mut Vec<u8>, &Key, &K),
        read: impl Fn(&mut BufReader<TcpStream>, &str) -> Result<T>,
    ) -> Result<Vec<T>> {
        let keys: Vec<Key> = items.iter().map(|i| self.key(key_of(i))).collect();
        let mut answers: Vec<Option<T>> = items.iter().map(|_| None).collect();
        for server in 0..self.servers.len() {
            let mine: Vec<usize> = (0..items.len())
                .filter(|&i| keys[i].server == server)
                .collect();
            if mine.is_empty() {
                continue;
            }
            let mut request = Vec::new();
            for &i in &mine {
                build(&mut request, &keys[i], &items[i]);
            }
            let got = self.servers[server].round_trip(&request, |conn, addr| {
                mine.iter()
                    .map(|_| read(conn, addr))
                    .collect::<Result<Vec<T>>>()
            })?;
            for (i, answer) in mine.into_iter().zip(got) {
                answers[i] = Some(answer);
            }
        }
        answers
            .into_iter()
            .map(|a| a.ok_or_else(|| Error::Internal("a key went unanswered".into())))
            .collect()
    }

    /// `mg` of one key with `flags` (e.g. `v t f c`).
    fn meta_get(&mut self, key: &str, flags: &str) -> Result<Option<Meta>> {
        let k = self.key(key);
        let request = format!("mg {}{} {flags}\r\n", k.text, k.flag());
        self.servers[k.server].round_trip(request.as_bytes(), read_get)
    }

    /// `ms` of one key with `mode`; whether it was stored.
    fn meta_set(
        &mut self,
        key: &str,
        value: &[u8],
        expires_at: Option<u64>,
        mode: &str,
    ) -> Result<bool> {
        let k = self.key(key);
        self.check_size(&k, value.len())?;
        let mut request = Vec::with_capacity(value.len() + 64);
        push_set(&mut request, &k, value, expires_at, mode);
        self.servers[k.server].round_trip(&request, read_stored)
    }

    /// A CAS loop: `step` sees the live entry (value, expiry) and its CAS token and
    /// answers `Done(r)`, or `Store(value, expiry, r)` to store with CAS (or add, for a
    /// missing key) and answer `r` once stored.
    fn cas_loop<R>(
        &mut self,
        key: &str,
        now: u64,
        mut step: impl FnMut(Option<&Entry>) -> Result<Step<R>>,
    ) -> Result<R> {
        for _ in 0..CAS_ATTEMPTS {
            let meta = self.meta_get(key, "v t f c")?;
            let (entry, cas) = match meta {
                Some(meta) => {
                    let cas = meta.cas;
                    (meta.entry(now).filter(|e| e.is_live(now)), cas)
                }
                None => (None, None),
            };
            match step(entry.as_ref())? {
                Step::Done(r) => return Ok(r),
                Step::Store(value, expires_at, r) => {
                    let mode = match cas {
                        Some(cas) => format!(" C{cas}"),
                        None => " ME".to_owned(),
                    };
                    if self.meta_set(key, &value, expires_at, &mode)? {
                        return Ok(r);
                    }
                }
            }
        }
        Err(Error::Unavailable(format!(
            "memcached: `{key}` changed under {CAS_ATTEMPTS} attempts in a row"
        )))
    }
}

/// What a CAS loop step decided.
enum Step<R> {
    Done(R),
    Store(Vec<u8>, Option<u64>, R),
}

impl Adapter for Memcached {
    const NAME: &'static str = "memcached";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const NATIVE: Capabilities = Capabilities::EXISTS
        .union(Capabilities::GET_MULTI)
        .union(Capabilities::SET_MULTI)
        .union(Capabilities::DELETE_MULTI)
        .union(Capabilities::TTL);
    const ATOMICS: bool = true;

    fn config_fields() -> Vec<ConfigField> {
        vec![
            ConfigField::new(
                "servers",
                ConfigKind::TextList,
                true,
                "memcached servers as host:port (keys spread by ketama)",
            ),
            ConfigField::new(
                "namespace",
                ConfigKind::Text,
                true,
                "prefix of every key this cache stores",
            ),
        ]
    }

    fn open(config: &Config) -> Result<Self> {
        let servers = config.text_list("servers").unwrap_or_default().to_vec();
        if servers.is_empty() {
            return Err(Error::InvalidConfig("`servers` lists no server".into()));
        }
        let namespace = config.text("namespace").unwrap_or_default();
        if namespace.len() > MAX_NAMESPACE || namespace.chars().any(char::is_control) {
            return Err(Error::InvalidConfig(format!(
                "`namespace` must be at most {MAX_NAMESPACE} bytes without control characters"
            )));
        }
        Ok(Memcached {
            namespace: namespace.as_bytes().to_vec(),
            ring: ketama::Ring::new(&servers),
            servers: servers
                .into_iter()
                .map(|addr| Server {
                    addr,
                    conn: None,
                    item_max: None,
                })
                .collect(),
        })
    }

    fn get(&mut self, key: &str) -> Result<Option<Entry>> {
        let now = byoc_guest_sdk::now_ms();
        Ok(self
            .meta_get(key, "v t f")?
            .and_then(|meta| meta.entry(now)))
    }

    fn set(&mut self, key: &str, entry: Entry) -> Result<()> {
        self.meta_set(key, &entry.value, entry.expires_at, "")?;
        Ok(())
    }

    fn delete(&mut self, key: &str) -> Result<bool> {
        let k = self.key(key);
        let request = format!("md {}{}\r\n", k.text, k.flag());
        self.servers[k.server].round_trip(request.as_bytes(), read_deleted)
    }

    fn keys(&mut self) -> Result<Vec<String>> {
        Err(Error::Unsupported("memcached cannot list keys".into()))
    }

    fn delete_live(&mut self, key: &str, now: u64) -> Result<bool> {
        Ok(self.delete_multi(&[key.to_owned()], now)? == 1)
    }

    fn get_multi(&mut self, keys: &[String]) -> Result<Vec<Option<Entry>>> {
        let now = byoc_guest_sdk::now_ms();
        let metas = self.pipeline(
            keys,
            String::as_str,
            |out, k, _| {
                out.extend_from_slice(format!("mg {}{} v t f\r\n", k.text, k.flag()).as_bytes())
            },
            read_get,
        )?;
        Ok(metas
            .into_iter()
            .map(|m| m.and_then(|m| m.entry(now)))
            .collect())
    }

    fn set_multi(&mut self, items: Vec<(String, Entry)>) -> Result<()> {
        for (key, entry) in &items {
            let k = self.key(key);
            self.check_size(&k, entry.value.len())?;
        }
        self.pipeline(
            &items,
            |(k, _)| k.as_str(),
            |out, k, (_, entry)| push_set(out, k, &entry.value, entry.expires_at, ""),
            read_stored,
        )?;
        Ok(())
    }

    /// `mg` (is it live?) and `md` of each key, pipelined.
    fn delete_multi(&mut self, keys: &[String], now: u64) -> Result<u64> {
        let removed = self.pipeline(
            keys,
            String::as_str,
            |out, k, _| {
                out.extend_from_slice(
                    format!("mg {0}{1} t f\r\nmd {0}{1}\r\n", k.text, k.flag()).as_bytes(),
                );
            },
            |conn, addr| {
                let meta = read_get(conn, addr)?;
                let deleted = read_deleted(conn, addr)?;
                let live = meta.is_some_and(|m| m.expires_at(now).is_none_or(|at| at > now));
                Ok(deleted && live)
            },
        )?;
        Ok(removed.into_iter().filter(|&r| r).count() as u64)
    }

    fn exists(&mut self, key: &str, now: u64) -> Result<bool> {
        Ok(self
            .meta_get(key, "t f")?
            .is_some_and(|m| m.expires_at(now).is_none_or(|at| at > now)))
    }

    fn ttl(&mut self, key: &str, now: u64) -> Result<KeyTtl> {
        Ok(match self.meta_get(key, "t f")? {
            None => KeyTtl::Missing,
            Some(meta) => match meta.expires_at(now) {
                None => KeyTtl::Persistent,
                Some(at) if at > now => KeyTtl::ExpiresIn(at - now),
                Some(_) => KeyTtl::Missing,
            },
        })
    }

    fn scan(
        &mut self,
        _pattern: &str,
        _cursor: Option<ScanCursor>,
        _count: u32,
        _now: u64,
    ) -> Result<ScanPage> {
        Err(Error::Unsupported(
            "memcached cannot list keys, so this cache cannot scan".into(),
        ))
    }

    fn clear(&mut self) -> Result<()> {
        Err(Error::Unsupported(
            "memcached cannot list a namespace's keys, so this cache cannot clear it".into(),
        ))
    }

    fn usage(&mut self) -> Result<Usage> {
        // Key and byte counts of a namespace are unknown to memcached.
        Ok(Usage {
            extra: vec![("memcached.servers".into(), self.servers.len() as u64)],
            ..Usage::default()
        })
    }

    fn ping(&mut self) -> Result<()> {
        for server in &mut self.servers {
            server.round_trip(b"mn\r\n", |conn, addr| match read_reply(conn, addr)? {
                Reply::NoOp => Ok(()),
                _ => Err(Error::Internal(format!(
                    "memcached {addr}: unexpected reply to mn"
                ))),
            })?;
        }
        Ok(())
    }

    fn increment(
        &mut self,
        key: &str,
        delta: i64,
        expires_at: Option<u64>,
        now: u64,
    ) -> Result<i64> {
        self.cas_loop(key, now, |entry| {
            let (value, expiry) = match entry {
                None => (delta, expires_at),
                Some(entry) => {
                    let current = byoc_guest_sdk::atomic::parse_counter(&entry.value)?;
                    let value = byoc_guest_sdk::atomic::add_counter(current, delta)?;
                    (value, entry.expires_at)
                }
            };
            Ok(Step::Store(value.to_string().into_bytes(), expiry, value))
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
        self.cas_loop(key, now, |entry| {
            if entry.map(|e| e.value.as_slice()) != expected {
                return Ok(Step::Done(false));
            }
            Ok(Step::Store(new.clone(), expires_at, true))
        })
    }
}

byoc_guest_sdk::export_adapter!(Memcached);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_round_trips_through_flags_and_seconds() {
        let now = 1_765_000_000_123u64;
        for ttl_ms in [1u64, 999, 1000, 1001, 86_400_000, 40 * 86_400_000] {
            let at = now + ttl_ms;
            let (_, flags) = ttl_flags(Some(at), now);
            // memcached answers the remaining whole seconds, give or take one.
            for slack in [-1i64, 0, 1, 2] {
                let meta = Meta {
                    ttl: Some(((ttl_ms / 1000) as i64 + slack).max(0)),
                    flags: Some(flags),
                    ..Meta::default()
                };
                assert_eq!(meta.expires_at(now), Some(at), "{ttl_ms} {slack}");
            }
        }
        assert_eq!(ttl_flags(None, now), (0, 0));
        // Flags another client set are not an expiry.
        let foreign = Meta {
            ttl: Some(100),
            flags: Some(1),
            ..Meta::default()
        };
        assert_eq!(foreign.expires_at(now), Some(now + 100_000));
        let (t, _) = ttl_flags(Some(now + 40 * 86_400_000), now);
        assert!(t > RELATIVE_TTL_LIMIT, "long TTLs are absolute");
    }
}
