//! The BYOC Redis adapter: the provider contract over the host's native `redis` import.
//!
//! The adapter holds no socket and no key data: every operation is one call of the host
//! import (one Redis round trip, or one per master of a cluster), and the host applies the
//! grant's namespace. Values are stored as-is (no envelope) and TTLs are Redis TTLs (PX),
//! so what BYOC writes is plain Redis data that `redis-cli` reads, and the other way round.
//!
//! Every operation is native: `get-multi` is MGET (through the `bulk` export: the keys
//! packed in one buffer, and the values left in the host, which keeps the MGET's answer
//! and takes it back as the adapter's `held` answer), `set-multi` a pipeline of SET PX, `delete-multi`
//! one DEL, `scan` Redis SCAN, `clear` the host's SCAN + UNLINK of the
//! namespace. Scan pages hold at most `count` keys: Redis batches are paged inside the
//! adapter (the rest of a batch is kept for the next page and fetched again if lost).
//!
//! `increment` is INCRBY (a key it creates gets its TTL from a SET NX PX in the same
//! MULTI/EXEC) and `compare-and-swap` is SET NX, or WATCH/GET/MULTI/SET/EXEC on a
//! connection of its own: atomic against every client of the server, without Lua.
//!
//! The adapter takes no configuration: the server, namespace and timeouts are the host's
//! grant (see the host's `redis` provider).

use byoc_guest_sdk::bindings::byoc::cache::types::PackedKeys;
use byoc_guest_sdk::bindings::byoc::cache::types::{AdapterDescription, ConfigEntry};
use byoc_guest_sdk::bindings::exports::byoc::cache::bulk::PackedAnswer;
use byoc_guest_sdk::bindings::exports::byoc::cache::{atomics, bulk, lifecycle, provider};
use byoc_guest_sdk::redis;
use byoc_guest_sdk::{
    Capabilities, Error, Item, KeyTtl, ProviderInfo, Result, ScanPage, Stat, Stats,
};
use std::cell::RefCell;

/// Smallest COUNT hint sent with SCAN (Redis batches are paged by the adapter anyway).
const MIN_SCAN_HINT: u32 = 100;
/// Largest COUNT hint sent with SCAN.
const MAX_SCAN_HINT: u32 = 10_000;
/// Prefix of the cursors this adapter issues.
const CURSOR_TAG: &str = "r1:";

/// The exported component.
pub struct RedisAdapter;

/// The last Redis batch, kept so that paging through it costs no round trip.
struct Batch {
    pattern: String,
    from: Option<String>,
    keys: Vec<String>,
    next: Option<String>,
}

#[derive(Default)]
struct State {
    initialised: bool,
    hits: u64,
    misses: u64,
    batch: Option<Batch>,
}

thread_local! {
    // A component instance is single-threaded; the state lives for the instance.
    static STATE: RefCell<State> = RefCell::new(State::default());
}

fn with<R>(f: impl FnOnce(&mut State) -> Result<R>) -> Result<R> {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        if !s.initialised {
            return Err(Error::Internal(
                "adapter used before lifecycle.init succeeded".into(),
            ));
        }
        f(&mut s)
    })
}

fn count(hits: usize, misses: usize) {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        s.hits += hits as u64;
        s.misses += misses as u64;
    });
}

fn info() -> ProviderInfo {
    ProviderInfo {
        name: "redis".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        contract: byoc_common::CONTRACT_VERSION.to_owned(),
        native: Capabilities::all(),
    }
}

/// An adapter cursor: the host cursor of a Redis batch and how many of its keys were
/// already returned.
fn encode_cursor(from: Option<&str>, skip: usize) -> String {
    format!("{CURSOR_TAG}{skip}/{}", from.unwrap_or(""))
}

fn parse_cursor(cursor: &str) -> Result<(Option<String>, usize)> {
    let bad = || Error::InvalidArgument(format!("unknown scan cursor `{cursor}`"));
    let rest = cursor.strip_prefix(CURSOR_TAG).ok_or_else(bad)?;
    let (skip, from) = rest.split_once('/').ok_or_else(bad)?;
    let skip: usize = skip.parse().map_err(|_| bad())?;
    Ok(((!from.is_empty()).then(|| from.to_owned()), skip))
}

impl lifecycle::Guest for RedisAdapter {
    fn describe() -> AdapterDescription {
        AdapterDescription {
            info: info(),
            config: Vec::new(),
        }
    }

    fn init(config: Vec<ConfigEntry>) -> Result<()> {
        if let Some(entry) = config.first() {
            return Err(Error::InvalidConfig(format!(
                "the redis adapter takes no configuration (got `{}`); the server and \
                 namespace are the host's grant",
                entry.name
            )));
        }
        STATE.with(|s| {
            *s.borrow_mut() = State {
                initialised: true,
                ..State::default()
            }
        });
        Ok(())
    }
}

impl provider::Guest for RedisAdapter {
    fn get(key: String) -> Result<Option<Vec<u8>>> {
        with(|_| Ok(()))?;
        let value = redis::get(&key)?;
        count(usize::from(value.is_some()), usize::from(value.is_none()));
        Ok(value)
    }

    fn set(key: String, value: Vec<u8>, ttl: Option<u64>) -> Result<()> {
        with(|_| Ok(()))?;
        redis::set(&key, &value, ttl)
    }

    fn delete(key: String) -> Result<bool> {
        with(|_| Ok(()))?;
        Ok(redis::del(&[key])? > 0)
    }

    fn exists(key: String) -> Result<bool> {
        with(|_| Ok(()))?;
        let found = redis::exists(&key)?;
        count(usize::from(found), usize::from(!found));
        Ok(found)
    }

    fn get_multi(keys: Vec<String>) -> Result<Vec<Option<Vec<u8>>>> {
        with(|_| Ok(()))?;
        let values = redis::mget(&keys)?;
        let hits = values.iter().filter(|v| v.is_some()).count();
        count(hits, values.len() - hits);
        Ok(values)
    }

    fn set_multi(items: Vec<Item>) -> Result<()> {
        with(|_| Ok(()))?;
        redis::mset(&items)
    }

    fn delete_multi(keys: Vec<String>) -> Result<u64> {
        with(|_| Ok(()))?;
        redis::del(&keys)
    }

    fn scan(pattern: String, cursor: Option<String>, count: u32) -> Result<ScanPage> {
        with(|_| Ok(()))?;
        let (from, skip) = match cursor.as_deref() {
            None => (None, 0),
            Some(c) => parse_cursor(c)?,
        };
        let want = count.max(1) as usize;
        let cached = with(|s| {
            Ok(s.batch
                .take()
                .filter(|b| b.pattern == pattern && b.from == from))
        })?;
        let batch = match cached {
            Some(batch) => batch,
            None => {
                let hint = count.clamp(MIN_SCAN_HINT, MAX_SCAN_HINT);
                let got = redis::scan(&pattern, from.as_deref(), hint)?;
                Batch {
                    pattern,
                    from,
                    keys: got.keys,
                    next: got.cursor,
                }
            }
        };
        let rest = batch.keys.get(skip..).unwrap_or_default();
        if rest.len() > want {
            let page = ScanPage {
                keys: rest[..want].to_vec(),
                cursor: Some(encode_cursor(batch.from.as_deref(), skip + want)),
            };
            with(|s| {
                s.batch = Some(batch);
                Ok(())
            })?;
            return Ok(page);
        }
        Ok(ScanPage {
            keys: rest.to_vec(),
            cursor: batch.next.as_deref().map(|n| encode_cursor(Some(n), 0)),
        })
    }

    fn ttl(key: String) -> Result<KeyTtl> {
        with(|_| Ok(()))?;
        redis::pttl(&key)
    }

    fn expire(key: String, ttl: Option<u64>) -> Result<bool> {
        with(|_| Ok(()))?;
        redis::pexpire(&key, ttl)
    }

    fn clear() -> Result<()> {
        with(|s| {
            s.batch = None;
            Ok(())
        })?;
        redis::unlink_namespace().map(drop)
    }

    fn stats() -> Result<Stats> {
        let (hits, misses) = with(|s| Ok((s.hits, s.misses)))?;
        let server = redis::stats()?;
        let extra = [
            ("redis.server-hits", server.server_hits),
            ("redis.server-misses", server.server_misses),
            ("redis.masters", u64::from(server.masters)),
            ("redis.failures", server.failures),
            ("redis.retries", server.retries),
        ];
        Ok(Stats {
            hits,
            misses,
            keys: server.keys,
            bytes: server.bytes,
            evictions: 0,
            expirations: 0,
            extra: extra
                .into_iter()
                .map(|(name, value)| Stat {
                    name: name.to_owned(),
                    value,
                })
                .collect(),
        })
    }

    fn ping() -> Result<()> {
        with(|_| Ok(()))?;
        redis::ping()
    }

    fn info() -> ProviderInfo {
        info()
    }
}

impl bulk::Guest for RedisAdapter {
    /// MGET with packed keys whose values the host keeps and the adapter hands back
    /// (`held`): they never enter the adapter. It only counts hits and misses.
    fn get_multi_packed(keys: PackedKeys) -> Result<PackedAnswer> {
        with(|_| Ok(()))?;
        let hits = redis::mget_held(&keys)? as usize;
        count(hits, keys.lengths.len().saturating_sub(hits));
        Ok(PackedAnswer::Held)
    }
}

impl atomics::Guest for RedisAdapter {
    fn supported() -> bool {
        true
    }

    /// INCRBY (with SET NX PX for a key it creates, in one MULTI/EXEC).
    fn increment(key: String, delta: i64, ttl: Option<u64>) -> Result<i64> {
        with(|_| Ok(()))?;
        redis::incr_ttl(&key, delta, ttl)
    }

    /// SET NX, or WATCH/GET/MULTI/SET/EXEC on a connection of its own (no Lua).
    fn compare_and_swap(
        key: String,
        expected: Option<Vec<u8>>,
        new: Vec<u8>,
        ttl: Option<u64>,
    ) -> Result<bool> {
        with(|_| Ok(()))?;
        redis::cas(&key, expected.as_deref(), &new, ttl)
    }
}

#[cfg(target_arch = "wasm32")]
mod exports {
    use super::RedisAdapter;
    byoc_guest_sdk::bindings::__export_adapter_world!(RedisAdapter with_types_in byoc_guest_sdk::bindings);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_roundtrip() {
        let c = encode_cursor(Some("5:17"), 3);
        assert_eq!(parse_cursor(&c).ok(), Some((Some("5:17".to_owned()), 3)));
        assert_eq!(parse_cursor(&encode_cursor(None, 0)).ok(), Some((None, 0)));
        assert!(parse_cursor("nope").is_err());
        assert!(parse_cursor("r1:x/").is_err());
    }
}
