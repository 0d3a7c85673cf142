//! The `redis` import's functions, namespaced: what each WIT function sends to Redis.

use super::RedisSlot;
use super::batch::{Answer, Read};
use super::bindings::byoc::cache::redis::{Host, ScanBatch, ServerStats};
use super::conn::{Conn, Connection, RunError};
use super::shared::Shared;
use byoc_common::escape_glob;
use byoc_common::packed;
use byoc_common::{glob_match, validate_key, validate_pattern};
use byoc_wasm::bindings::byoc::cache::types::{
    Error as WitError, Item, KeyTtl, PackedKeys, PackedValues,
};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

type R<T> = Result<T, WitError>;

/// Keys UNLINKed per round trip by `unlink-namespace`, and SCAN's COUNT hint there.
const CLEAR_BATCH: usize = 1000;

fn check_key(key: &str) -> R<()> {
    validate_key(key).map_err(|e| WitError::InvalidKey(e.to_string()))
}

/// A batched read answered with another read's kind of answer (a host bug, never a panic).
fn shape(answer: Answer) -> WitError {
    WitError::Internal(format!(
        "a batched redis read got the wrong answer: {answer:?}"
    ))
}

fn check_ttl(ttl: Option<u64>) -> R<()> {
    match ttl {
        Some(0) => Err(WitError::InvalidArgument(
            "a TTL of 0 ms is not allowed in set; omit the TTL to store without expiry".into(),
        )),
        _ => Ok(()),
    }
}

/// The longest TTL sent to Redis (about 146 million years): Redis refuses a PX whose
/// expiry time overflows its clock, so a longer TTL is clamped to this one (the key
/// outlives everyone either way, as on adapters that saturate).
pub(crate) const MAX_TTL_MS: u64 = i64::MAX as u64 / 2;

fn px(ms: u64) -> u64 {
    ms.min(MAX_TTL_MS)
}

/// A Redis MATCH pattern that matches at least every key `pattern` matches under the
/// contract's semantics (results are then filtered with the exact matcher). Redis matches
/// bytes, the contract characters: `?` becomes `*`, and a class that is negated or holds a
/// non-ASCII character becomes `*`; ASCII classes and escapes are kept.
fn redis_glob(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push('\\');
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            '?' => out.push('*'),
            '[' => {
                let mut class = String::from("[");
                while let Some(c) = chars.next() {
                    class.push(c);
                    if c == '\\' {
                        if let Some(next) = chars.next() {
                            class.push(next);
                        }
                    } else if c == ']' {
                        break;
                    }
                }
                let negated = class.starts_with("[^") || class.starts_with("[!");
                if negated || !class.is_ascii() {
                    out.push('*');
                } else {
                    out.push_str(&class);
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// A host scan cursor: `<first slot of the master>:<redis cursor>`.
fn parse_cursor(cursor: &str) -> R<(u16, u64)> {
    let bad = || WitError::InvalidArgument(format!("unknown redis scan cursor `{cursor}`"));
    let (slot, rc) = cursor.split_once(':').ok_or_else(bad)?;
    let slot: u16 = slot.parse().map_err(|_| bad())?;
    let rc: u64 = rc.parse().map_err(|_| bad())?;
    if slot >= 16384 {
        return Err(bad());
    }
    Ok((slot, rc))
}

/// A key behind its namespace, written straight into a command's buffer (no key copy of
/// its own, unlike [`Connection::key`]).
struct Namespaced<'a>(&'a [u8], &'a str);

impl redis::ToRedisArgs for Namespaced<'_> {
    fn write_redis_args<W: ?Sized + redis::RedisWrite>(&self, out: &mut W) {
        use std::io::Write as _;
        let mut arg = out.writer_for_next_arg();
        // The writer appends to the command's buffer: it cannot fail.
        let _infallible = arg
            .write_all(self.0)
            .and_then(|()| arg.write_all(self.1.as_bytes()));
    }
}

impl redis::ToSingleRedisArg for Namespaced<'_> {}

impl Connection {
    /// MGET of `keys` (checked, namespaced) in one round trip (per slot on a cluster).
    async fn mget<'k>(
        &self,
        keys: impl ExactSizeIterator<Item = &'k str>,
    ) -> R<Vec<Option<Vec<u8>>>> {
        let count = keys.len();
        if count == 0 {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("MGET");
        let ns = self.grant.namespace.as_bytes();
        for k in keys {
            check_key(k)?;
            cmd.arg(Namespaced(ns, k));
        }
        let values: Vec<Option<Vec<u8>>> = self
            .run(true, self.grant.deadline, |mut conn| {
                let cmd = &cmd;
                async move { Ok(conn.query(cmd).await?) }
            })
            .await?;
        if values.len() != count {
            return Err(WitError::Internal(format!(
                "redis answered {} values for {count} keys",
                values.len(),
            )));
        }
        Ok(values)
    }

    fn key(&self, key: &str) -> Vec<u8> {
        let ns = self.grant.namespace.as_bytes();
        let mut out = Vec::with_capacity(ns.len() + key.len());
        out.extend_from_slice(ns);
        out.extend_from_slice(key.as_bytes());
        out
    }

    /// The adapter's key of a namespaced Redis key, if it is one (valid UTF-8, valid key).
    fn strip(&self, full: &[u8]) -> Option<String> {
        let rest = full.strip_prefix(self.grant.namespace.as_bytes())?;
        let key = std::str::from_utf8(rest).ok()?;
        validate_key(key).ok()?;
        Some(key.to_owned())
    }

    /// The SCAN MATCH pattern for the adapter's `pattern`: the namespace, literally, then
    /// the pattern widened to Redis' byte matching.
    fn match_pattern(&self, pattern: &str) -> String {
        format!(
            "{}{}",
            escape_glob(&self.grant.namespace),
            redis_glob(pattern)
        )
    }

    /// One SCAN on the master of `slot` for the namespaced `pattern`.
    async fn scan_once(
        &self,
        mut conn: Conn,
        slot: u16,
        cursor: u64,
        pattern: &str,
        count: usize,
    ) -> Result<(u64, Vec<Vec<u8>>), RunError> {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(count);
        Ok(conn.query_on(slot, &cmd).await?)
    }

    /// Every namespaced key matching `pattern` on every master, passed to `each` in
    /// batches; the sum of what `each` answers.
    async fn for_each_batch<F, Fut>(
        &self,
        conn: Conn,
        pattern: &str,
        each: F,
    ) -> Result<u64, RunError>
    where
        F: Fn(Conn, u16, Vec<Vec<u8>>) -> Fut,
        Fut: std::future::Future<Output = Result<u64, RunError>>,
    {
        let mut total = 0u64;
        let masters = conn.clone().masters().await?;
        for slot in masters {
            let mut cursor = 0;
            loop {
                let (next, keys) = self
                    .scan_once(conn.clone(), slot, cursor, pattern, CLEAR_BATCH)
                    .await?;
                let keys: Vec<Vec<u8>> = keys
                    .into_iter()
                    .filter(|k| k.starts_with(self.grant.namespace.as_bytes()))
                    .collect();
                if !keys.is_empty() {
                    total += each(conn.clone(), slot, keys).await?;
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(total)
    }
}

impl RedisSlot {
    /// MGET of the packed `keys` (checked as the adapter sent them).
    async fn mget_of_packed(&self, keys: &PackedKeys) -> R<Vec<Option<Vec<u8>>>> {
        let c = self.link()?;
        let keys = packed::unpack_keys(&keys.text, &keys.lengths)
            .map_err(|e| WitError::InvalidArgument(e.to_string()))?;
        c.mget(keys.into_iter()).await
    }

    fn link(&self) -> R<&Shared> {
        self.link.as_ref().map(|l| &*l.0).ok_or_else(|| {
            WitError::Denied("this adapter has no redis grant; the host offers no redis".into())
        })
    }
}

impl Host for RedisSlot {
    async fn get(&mut self, key: String) -> R<Option<Vec<u8>>> {
        let c = self.link()?;
        check_key(&key)?;
        let k = c.key(&key);
        if let Some(b) = &c.batcher {
            return match c.counted(b.read(c, Read::Get, k).await)? {
                Answer::Value(v) => Ok(v),
                other => Err(shape(other)),
            };
        }
        c.run(true, c.grant.deadline, |mut conn| {
            let k = k.clone();
            async move { Ok(conn.query(redis::cmd("GET").arg(k)).await?) }
        })
        .await
    }

    async fn set(&mut self, key: String, value: Vec<u8>, ttl: Option<u64>) -> R<()> {
        let c = self.link()?;
        check_key(&key)?;
        check_ttl(ttl)?;
        let mut cmd = redis::cmd("SET");
        cmd.arg(c.key(&key)).arg(value);
        if let Some(ms) = ttl {
            cmd.arg("PX").arg(px(ms));
        }
        c.run(true, c.grant.deadline, |mut conn| {
            let cmd = &cmd;
            async move { Ok(conn.query::<()>(cmd).await?) }
        })
        .await
    }

    async fn del(&mut self, keys: Vec<String>) -> R<u64> {
        let c = self.link()?;
        keys.iter().try_for_each(|k| check_key(k))?;
        if keys.is_empty() {
            return Ok(0);
        }
        let mut cmd = redis::cmd("DEL");
        for k in &keys {
            cmd.arg(c.key(k));
        }
        c.run(true, c.grant.deadline, |mut conn| {
            let cmd = &cmd;
            async move { Ok(conn.query::<u64>(cmd).await?) }
        })
        .await
    }

    async fn exists(&mut self, key: String) -> R<bool> {
        let c = self.link()?;
        check_key(&key)?;
        let k = c.key(&key);
        if let Some(b) = &c.batcher {
            return match c.counted(b.read(c, Read::Exists, k).await)? {
                Answer::Exists(found) => Ok(found),
                other => Err(shape(other)),
            };
        }
        c.run(true, c.grant.deadline, |mut conn| {
            let k = k.clone();
            async move { Ok(conn.query::<u64>(redis::cmd("EXISTS").arg(k)).await? > 0) }
        })
        .await
    }

    async fn mget(&mut self, keys: Vec<String>) -> R<Vec<Option<Vec<u8>>>> {
        self.link()?.mget(keys.iter().map(String::as_str)).await
    }

    async fn mget_packed(&mut self, keys: PackedKeys) -> R<PackedValues> {
        let values = self.mget_of_packed(&keys).await?;
        let (data, lengths) = packed::pack_values(values.iter().map(Option::as_ref))
            .map_err(|e| WitError::Internal(e.to_string()))?;
        Ok(PackedValues { data, lengths })
    }

    async fn mget_held(&mut self, keys: PackedKeys) -> R<u32> {
        self.held = None;
        let values = self.mget_of_packed(&keys).await?;
        let found = values.iter().filter(|v| v.is_some()).count();
        self.held = Some(values);
        Ok(u32::try_from(found).unwrap_or(u32::MAX))
    }

    async fn mset(&mut self, items: Vec<Item>) -> R<()> {
        let c = self.link()?;
        for item in &items {
            check_key(&item.key)?;
            check_ttl(item.ttl)?;
        }
        if items.is_empty() {
            return Ok(());
        }
        let entries: Vec<(Vec<u8>, &[u8], Option<u64>)> = items
            .iter()
            .map(|i| (c.key(&i.key), i.value.as_slice(), i.ttl))
            .collect();
        c.run(true, c.grant.deadline, |mut conn| {
            let entries = &entries;
            async move {
                // One pipeline per master (one in all for a single server).
                let topology = conn.topology().await?;
                let mut groups: BTreeMap<u16, redis::Pipeline> = BTreeMap::new();
                for (key, value, ttl) in entries {
                    let master = topology.as_ref().map_or(0, |t| t.master_of(key));
                    let pipe = groups.entry(master).or_default();
                    let cmd = pipe.cmd("SET").arg(key).arg(*value);
                    if let Some(ms) = ttl {
                        cmd.arg("PX").arg(px(*ms));
                    }
                    cmd.ignore();
                }
                for (master, pipe) in &groups {
                    conn.pipeline(*master, pipe).await?;
                }
                Ok(())
            }
        })
        .await
    }

    async fn scan(&mut self, pattern: String, cursor: Option<String>, count: u32) -> R<ScanBatch> {
        let c = self.link()?;
        validate_pattern(&pattern).map_err(|e| WitError::InvalidArgument(e.to_string()))?;
        let start = cursor.as_deref().map(parse_cursor).transpose()?;
        let exact = pattern.as_str();
        let pattern = c.match_pattern(&pattern);
        let count = count.max(1) as usize;
        c.run(true, c.grant.deadline, |mut conn| {
            let pattern = &pattern;
            async move {
                let masters = conn.masters().await?;
                let (slot, rc) = match start {
                    Some(s) => s,
                    None => (masters.first().copied().unwrap_or(0), 0),
                };
                let (next, raw) = c.scan_once(conn, slot, rc, pattern, count).await?;
                let keys = raw
                    .iter()
                    .filter_map(|k| c.strip(k))
                    .filter(|k| glob_match(exact, k))
                    .collect();
                let cursor = if next != 0 {
                    Some(format!("{slot}:{next}"))
                } else {
                    masters
                        .iter()
                        .find(|&&m| m > slot)
                        .map(|m| format!("{m}:0"))
                };
                Ok(ScanBatch { keys, cursor })
            }
        })
        .await
    }

    async fn pttl(&mut self, key: String) -> R<KeyTtl> {
        let c = self.link()?;
        check_key(&key)?;
        let k = c.key(&key);
        let ms: i64 = match &c.batcher {
            Some(b) => match c.counted(b.read(c, Read::Pttl, k).await)? {
                Answer::Pttl(ms) => ms,
                other => return Err(shape(other)),
            },
            None => {
                c.run(true, c.grant.deadline, |mut conn| {
                    let k = k.clone();
                    async move { Ok(conn.query(redis::cmd("PTTL").arg(k)).await?) }
                })
                .await?
            }
        };
        Ok(match ms {
            -2 => KeyTtl::Missing,
            -1 => KeyTtl::Persistent,
            ms => KeyTtl::ExpiresIn(u64::try_from(ms).unwrap_or(0).max(1)),
        })
    }

    async fn pexpire(&mut self, key: String, ttl: Option<u64>) -> R<bool> {
        let c = self.link()?;
        check_key(&key)?;
        let k = c.key(&key);
        c.run(true, c.grant.deadline, |mut conn| {
            let k = k.clone();
            async move {
                let existed = match ttl {
                    Some(0) => conn.query::<u64>(redis::cmd("DEL").arg(&k)).await? > 0,
                    Some(ms) => {
                        conn.query::<u64>(redis::cmd("PEXPIRE").arg(&k).arg(px(ms)))
                            .await?
                            > 0
                    }
                    None => {
                        // PERSIST answers 0 both for a missing key and one without expiry.
                        let mut pipe = redis::pipe();
                        pipe.cmd("PERSIST").arg(&k).ignore().cmd("EXISTS").arg(&k);
                        let slot = super::conn::key_slot(&k);
                        let topology = conn.topology().await?;
                        let master = topology.as_ref().map_or(slot, |t| t.master_of(&k));
                        let out = conn.pipeline(master, &pipe).await?;
                        let exists: Vec<u64> = redis::from_redis_value(redis::Value::Array(out))
                            .map_err(redis::RedisError::from)?;
                        exists.first().copied().unwrap_or(0) > 0
                    }
                };
                Ok(existed)
            }
        })
        .await
    }

    async fn unlink_namespace(&mut self) -> R<u64> {
        let c = self.link()?;
        let pattern = format!("{}*", escape_glob(&c.grant.namespace));
        let deadline = c.grant.deadline.saturating_mul(10);
        c.run(true, deadline, |conn| {
            let pattern = &pattern;
            async move {
                c.for_each_batch(conn, pattern, |mut conn, _, keys| async move {
                    let mut cmd = redis::cmd("UNLINK");
                    for k in &keys {
                        cmd.arg(k);
                    }
                    Ok(conn.query::<u64>(&cmd).await?)
                })
                .await
            }
        })
        .await
    }

    async fn ping(&mut self) -> R<()> {
        let c = self.link()?;
        c.run(true, c.grant.deadline, |mut conn| async move {
            for slot in conn.masters().await? {
                let _: String = conn.query_on(slot, &redis::cmd("PING")).await?;
            }
            Ok(())
        })
        .await
    }

    async fn stats(&mut self) -> R<ServerStats> {
        let c = self.link()?;
        let pattern = format!("{}*", escape_glob(&c.grant.namespace));
        let (masters, hits, misses, keys, bytes) = c
            .run(true, c.grant.deadline.saturating_mul(4), |mut conn| {
                let pattern = &pattern;
                async move {
                    let masters = conn.masters().await?;
                    let (mut hits, mut misses) = (0u64, 0u64);
                    for &slot in &masters {
                        let info: String =
                            conn.query_on(slot, redis::cmd("INFO").arg("stats")).await?;
                        for line in info.lines() {
                            let field = |name: &str| {
                                line.strip_prefix(name)
                                    .and_then(|v| v.trim().parse::<u64>().ok())
                            };
                            if let Some(v) = field("keyspace_hits:") {
                                hits += v;
                            } else if let Some(v) = field("keyspace_misses:") {
                                misses += v;
                            }
                        }
                    }
                    // One pass: MEMORY USAGE (Redis' estimate of a key's bytes, overhead
                    // included) of each key of the namespace; a key gone meanwhile is nil.
                    let keys = std::sync::atomic::AtomicU64::new(0);
                    let bytes = c
                        .for_each_batch(conn, pattern, |mut conn, slot, mut batch| {
                            let keys = &keys;
                            async move {
                                batch.retain(|k| c.strip(k).is_some());
                                if batch.is_empty() {
                                    return Ok(0);
                                }
                                let mut pipe = redis::pipe();
                                for k in &batch {
                                    pipe.cmd("MEMORY").arg("USAGE").arg(k);
                                }
                                let sizes: Vec<Option<u64>> = redis::from_redis_value(
                                    redis::Value::Array(conn.pipeline(slot, &pipe).await?),
                                )
                                .map_err(redis::RedisError::from)?;
                                let live = sizes.iter().filter(|s| s.is_some()).count() as u64;
                                keys.fetch_add(live, Ordering::Relaxed);
                                Ok(sizes.into_iter().flatten().sum())
                            }
                        })
                        .await?;
                    let keys = keys.load(Ordering::Relaxed);
                    Ok((masters.len(), hits, misses, keys, bytes))
                }
            })
            .await?;
        Ok(ServerStats {
            keys,
            bytes,
            server_hits: hits,
            server_misses: misses,
            masters: u32::try_from(masters).unwrap_or(u32::MAX),
            failures: c.failures.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
        })
    }

    async fn incr(&mut self, key: String, by: i64) -> R<i64> {
        let c = self.link()?;
        check_key(&key)?;
        let k = c.key(&key);
        c.run(false, c.grant.deadline, |mut conn| {
            let k = k.clone();
            async move { Ok(conn.query(redis::cmd("INCRBY").arg(k).arg(by)).await?) }
        })
        .await
    }

    async fn incr_ttl(&mut self, key: String, by: i64, ttl: Option<u64>) -> R<i64> {
        let Some(ms) = ttl else {
            return self.incr(key, by).await;
        };
        let c = self.link()?;
        check_key(&key)?;
        check_ttl(ttl)?;
        let k = c.key(&key);
        // SET NX creates a missing key (with its TTL) that INCRBY then counts from 0; an
        // existing key is left alone and keeps its TTL. One transaction, one round trip:
        // the pipeline is written whole, so nothing else on the shared connection lands
        // between MULTI and EXEC.
        let mut tx = redis::pipe();
        tx.atomic()
            .cmd("SET")
            .arg(&k)
            .arg(0)
            .arg("NX")
            .arg("PX")
            .arg(px(ms))
            .ignore()
            .cmd("INCRBY")
            .arg(&k)
            .arg(by);
        c.run(false, c.grant.deadline, |mut conn| {
            let tx = &tx;
            async move {
                let (n,): (i64,) = conn.transaction(tx).await?;
                Ok(n)
            }
        })
        .await
    }

    async fn cas(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        new: Vec<u8>,
        ttl: Option<u64>,
    ) -> R<bool> {
        let c = self.link()?;
        check_key(&key)?;
        check_ttl(ttl)?;
        let k = c.key(&key);
        let mut set = redis::cmd("SET");
        set.arg(&k).arg(new);
        if let Some(ms) = ttl {
            set.arg("PX").arg(px(ms));
        }
        match expected {
            Some(expected) => c.compare_and_set(&k, &expected, &set).await,
            None => {
                set.arg("NX");
                c.run(false, c.grant.deadline, |mut conn| {
                    let set = &set;
                    async move {
                        let stored: Option<String> = conn.query(set).await?;
                        Ok(stored.is_some())
                    }
                })
                .await
            }
        }
    }

    async fn publish(&mut self, channel: String, message: Vec<u8>) -> R<u64> {
        let c = self.link()?;
        check_key(&channel)?;
        let ch = c.key(&channel);
        c.run(false, c.grant.deadline, |mut conn| {
            let (ch, message) = (ch.clone(), message.clone());
            async move {
                Ok(conn
                    .query(redis::cmd("PUBLISH").arg(ch).arg(message))
                    .await?)
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespaced_key_is_one_argument() {
        use redis::ToRedisArgs;
        assert_eq!(
            Namespaced(b"app:", "k\u{e9}").to_redis_args(),
            vec!["app:k\u{e9}".as_bytes().to_vec()]
        );
        let mut cmd = redis::cmd("MGET");
        cmd.arg(Namespaced(b"n:", "a")).arg(Namespaced(b"n:", "b"));
        assert_eq!(cmd.args_iter().count(), 3);
    }

    #[test]
    fn namespace_glob_is_literal() {
        assert_eq!(escape_glob(r"a*b?[c]\d:"), r"a\*b\?\[c\]\\d:");
    }

    #[test]
    fn patterns_widen_to_bytes() {
        assert_eq!(redis_glob("h[!e]llo"), "h*llo");
        assert_eq!(redis_glob("h[^e]llo"), "h*llo");
        assert_eq!(redis_glob("cl?-*"), "cl*-*");
        assert_eq!(redis_glob(r"a\[!b\?"), r"a\[!b\?");
        assert_eq!(redis_glob("[a-z]x[é]"), "[a-z]x*");
    }

    #[test]
    fn cursors_parse() {
        assert_eq!(parse_cursor("0:12").ok(), Some((0, 12)));
        assert!(parse_cursor("x").is_err());
        assert!(parse_cursor("99999:0").is_err());
    }
}

/// The import's functions called directly, on a private `redis-server` when one is
/// installed (the Redis extras `incr` and `publish` have no provider operation).
#[cfg(test)]
pub(crate) mod server_tests {
    use super::super::{RedisGrant, RedisLink, RedisTarget};
    use super::*;
    use std::process::{Command, Stdio};

    /// The process, its port, and its directory (removed on drop).
    pub(crate) struct Server(
        std::process::Child,
        pub(crate) u16,
        #[allow(dead_code)] tempfile::TempDir,
    );

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    pub(crate) fn server() -> Option<Server> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let dir = tempfile::tempdir().expect("temp dir");
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(child) = child else {
            assert!(
                std::env::var("BYOC_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "redis-server is not installed and BYOC_REQUIRE_SERVICES=1"
            );
            eprintln!("SKIPPED: redis-server is not installed");
            return None;
        };
        for _ in 0..500 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(Server(child, port, dir));
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("redis-server did not start");
    }

    /// A store's side of the import over `link`.
    pub(crate) fn slot_of(link: &RedisLink) -> RedisSlot {
        RedisSlot::new(Some(link.clone()))
    }

    /// Reads `key` through `link` until Redis answers again (within 5 s); its value.
    pub(crate) async fn answers_again(link: &RedisLink, key: &str) -> Option<Vec<u8>> {
        let started = std::time::Instant::now();
        let mut s = slot_of(link);
        loop {
            match s.get(key.into()).await {
                Ok(v) => return v,
                Err(e) => assert!(
                    started.elapsed() < std::time::Duration::from_secs(5),
                    "no recovery: {e:?}"
                ),
            }
        }
    }

    pub(crate) fn slot(port: u16, ns: &str) -> RedisSlot {
        let url = format!("redis://127.0.0.1:{port}");
        let grant = RedisGrant::new(RedisTarget::Single(url), ns).expect("grant");
        RedisSlot::new(Some(RedisLink::new(grant)))
    }

    #[tokio::test]
    async fn incr_and_publish_are_namespaced() {
        let Some(server) = server() else { return };
        let mut a = slot(server.1, "a:");
        let mut b = slot(server.1, "b:");
        assert_eq!(a.incr("n".into(), 5).await.ok(), Some(5));
        assert_eq!(a.incr("n".into(), -2).await.ok(), Some(3));
        assert_eq!(b.incr("n".into(), 1).await.ok(), Some(1));
        assert_eq!(a.get("n".into()).await.ok(), Some(Some(b"3".to_vec())));
        a.set("s".into(), b"text".to_vec(), None)
            .await
            .expect("set");
        assert!(matches!(
            a.incr("s".into(), 1).await,
            Err(WitError::InvalidArgument(_))
        ));

        let client = redis::Client::open(format!("redis://127.0.0.1:{}", server.1)).expect("url");
        let mut pubsub = client.get_async_pubsub().await.expect("pubsub");
        pubsub.subscribe("a:news").await.expect("subscribe");
        assert_eq!(a.publish("news".into(), b"hi".to_vec()).await.ok(), Some(1));
        assert_eq!(b.publish("news".into(), b"hi".to_vec()).await.ok(), Some(0));
        assert!(matches!(
            a.publish("bad\u{7}".into(), Vec::new()).await,
            Err(WitError::InvalidKey(_))
        ));
    }

    /// `mget-held` keeps the namespaced MGET's answer in the slot (one at a time) and
    /// answers how many keys were found; a failed call holds nothing.
    #[tokio::test]
    async fn mget_held_keeps_one_answer_in_the_slot() {
        let Some(server) = server() else { return };
        let mut a = slot(server.1, "held:");
        let mut other = slot(server.1, "other:");
        a.set("x".into(), b"1".to_vec(), None).await.expect("set");
        other
            .set("y".into(), b"2".to_vec(), None)
            .await
            .expect("set");
        let keys = |ks: &[&str]| {
            let (text, lengths) = packed::pack_keys(ks.iter().copied()).expect("pack");
            PackedKeys { text, lengths }
        };
        assert_eq!(a.mget_held(keys(&["x", "y", "x"])).await.ok(), Some(2));
        assert_eq!(
            a.take_held(),
            Some(vec![Some(b"1".to_vec()), None, Some(b"1".to_vec())]),
            "y is another namespace's"
        );
        assert_eq!(a.take_held(), None, "taken once");
        assert_eq!(a.mget_held(keys(&["y"])).await.ok(), Some(0));
        assert_eq!(a.mget_held(keys(&["x"])).await.ok(), Some(1));
        assert_eq!(
            a.take_held(),
            Some(vec![Some(b"1".to_vec())]),
            "the last one"
        );
        a.mget_held(keys(&["x"])).await.expect("mget");
        let bad = PackedKeys {
            text: "x".into(),
            lengths: vec![2],
        };
        assert!(matches!(
            a.mget_held(bad).await,
            Err(WitError::InvalidArgument(_))
        ));
        assert_eq!(a.take_held(), None, "a failed call drops the answer before");
    }

    #[tokio::test]
    async fn without_grant_everything_is_denied() {
        let mut none = RedisSlot::default();
        assert!(matches!(
            none.get("k".into()).await,
            Err(WitError::Denied(_))
        ));
        assert!(matches!(
            none.incr("k".into(), 1).await,
            Err(WitError::Denied(_))
        ));
        assert!(matches!(
            none.unlink_namespace().await,
            Err(WitError::Denied(_))
        ));
    }
}
