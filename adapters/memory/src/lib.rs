//! The BYOC memory adapter: a size-bounded in-memory cache inside a WebAssembly component.
//!
//! Configuration (all optional):
//! - `max-bytes` (size, default 64 MiB): bound on the bytes of keys and values stored;
//! - `max-entries` (integer, default 0 = unbounded): bound on the number of entries;
//! - `eviction` (text, default `tinylfu`): which entry makes room when a bound is reached:
//!   `lru` the least recently read or written, `lfu` the least often read or written (ties:
//!   least recent), `ttl` the one expiring soonest (entries without TTL last; ties: least
//!   recent), `tinylfu` adaptive W-TinyLFU ([`byoc_eviction::WTinyLfu`]: a newcomer is
//!   kept only if it is used more often than the entry it would displace, with a window
//!   share picked by simulating small caches under `max-entries`, else sized from ghost
//!   hits, ARC-style; its bound is `max-entries` when set, else
//!   `max-bytes`, and a newcomer that loses admission is dropped at once). Expired entries
//!   are always purged before anything live is evicted.
//!
//! `increment` and `compare-and-swap` (the `atomics` interface) are atomic: the instance's
//! map is its own and the host calls an instance one call at a time.
//!
//! A value larger than `max-bytes` is rejected with `value-too-large`. Every index is
//! ordered or hashed so that each operation costs O(log n); `scan` walks keys in order.

use byoc_eviction::WTinyLfu;
use byoc_guest_sdk::{
    Adapter, Capabilities, Config, ConfigField, ConfigKind, Entry, Error, Result, ScanCursor,
    ScanPage, Usage, now_ms,
};
use foldhash::fast::FixedState;
use std::cell::Cell;
use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::rc::Rc;

/// Large blocks 16-byte aligned, so the host's `memmove` copies them at full speed (see
/// [`byoc_guest_sdk::Allocator`]; this adapter is built for `wasm32-unknown-unknown`).
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: byoc_guest_sdk::Allocator = byoc_guest_sdk::Allocator;

mod queue;
use queue::{Queue, Rank};

/// Default `max-bytes`.
const DEFAULT_MAX_BYTES: u64 = 64 << 20;

/// Expired entries purged per write at most, so a write's cost stays bounded.
const PURGE_PER_WRITE: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Policy {
    Lru,
    Lfu,
    Ttl,
    TinyLfu,
}

/// Entries the `tinylfu` sketch is sized for at first when only `max-bytes` bounds the
/// cache (it grows with the entry count).
const TINYLFU_EXPECTED_ENTRIES: usize = 1024;

struct Slot {
    value: Vec<u8>,
    expires_at: Option<u64>,
    /// Reads and writes, for `lfu` (cells: a hit updates them through the one lookup
    /// that found the entry).
    uses: Cell<u64>,
    rank: Cell<Rank>,
}

/// The memory adapter's state.
pub struct Memory {
    max_bytes: u64,
    max_entries: u64,
    map: HashMap<Rc<str>, Slot, FixedState>,
    /// All keys in order, for `scan`.
    ordered: BTreeSet<Rc<str>>,
    /// Which entry goes first (apart from `map`, so a use can be recorded while the
    /// entry found in `map` is held).
    order: Order,
    /// Entries with a TTL by expiry, for purging.
    expiring: BTreeSet<(u64, Rc<str>)>,
    bytes: u64,
    evictions: u64,
    expirations: u64,
}

fn cost(key: &str, value: &[u8]) -> u64 {
    (key.len() + value.len()) as u64
}

/// The rank of an entry used for the `uses`-th time at `tick`.
fn rank_of(policy: Policy, tick: u64, uses: u64, expires_at: Option<u64>) -> Rank {
    match policy {
        Policy::Lru => (tick, 0),
        Policy::Lfu => (uses, tick),
        Policy::Ttl => (expires_at.unwrap_or(u64::MAX), tick),
        Policy::TinyLfu => (0, 0),
    }
}

/// The eviction order: the policy and what it keeps.
struct Order {
    policy: Policy,
    /// Eviction order (`lru`, `lfu`, `ttl`).
    queue: Queue,
    /// The `tinylfu` policy, which keeps its own order.
    tinylfu: Option<WTinyLfu<Rc<str>>>,
    tick: u64,
}

impl Order {
    fn rank(&mut self, uses: u64, expires_at: Option<u64>) -> Rank {
        self.tick += 1;
        rank_of(self.policy, self.tick, uses, expires_at)
    }

    /// Records a use of the entry `key` → `slot` of `map`.
    fn used(&mut self, map: &HashMap<Rc<str>, Slot, FixedState>, key: &Rc<str>, slot: &Slot) {
        if let Some(policy) = self.tinylfu.as_mut() {
            policy.access(&**key);
            return;
        }
        let uses = slot.uses.get() + 1;
        let rank = self.rank(uses, slot.expires_at);
        let old = slot.rank.replace(rank);
        slot.uses.set(uses);
        self.queue
            .moved(old, rank, key, map.len(), |t, k| is_live(map, t, k));
    }
}

/// Whether the recency record `(tick, key)` is still its entry's.
fn is_live(map: &HashMap<Rc<str>, Slot, FixedState>, tick: u64, key: &str) -> bool {
    map.get(key).is_some_and(|s| s.rank.get().0 == tick)
}

impl Memory {
    /// Records a use of `key`: moves it in the eviction order.
    fn touch(&mut self, key: &str) {
        if let Some((key, slot)) = self.map.get_key_value(key) {
            self.order.used(&self.map, key, slot);
        }
    }

    fn remove(&mut self, key: &str) -> Option<Slot> {
        let slot = self.unstore(key)?;
        if let Some(policy) = self.order.tinylfu.as_mut() {
            policy.remove(key);
        }
        Some(slot)
    }

    /// Removes `key`'s entry from storage and every index but the `tinylfu` policy.
    fn unstore(&mut self, key: &str) -> Option<Slot> {
        let (key, slot) = self.map.remove_entry(key)?;
        self.ordered.remove(&key);
        self.order.queue.remove(slot.rank.get(), &key);
        if let Some(at) = slot.expires_at {
            self.expiring.remove(&(at, Rc::clone(&key)));
        }
        self.bytes -= cost(&key, &slot.value);
        Some(slot)
    }

    /// Removes up to `limit` entries that expired at `now`.
    fn purge_expired(&mut self, now: u64, limit: usize) {
        let due: Vec<Rc<str>> = self
            .expiring
            .iter()
            .take_while(|(at, _)| *at <= now)
            .take(limit)
            .map(|(_, key)| Rc::clone(key))
            .collect();
        for key in due {
            self.remove(&key);
            self.expirations += 1;
        }
    }

    /// Evicts until an entry of `needed` bytes fits in both bounds.
    fn make_room(&mut self, needed: u64, now: u64) {
        while self.bytes + needed > self.max_bytes
            || (self.max_entries > 0 && self.map.len() as u64 >= self.max_entries)
        {
            if self.expiring.first().is_some_and(|(at, _)| *at <= now) {
                self.purge_expired(now, 1);
                continue;
            }
            let map = &self.map;
            let Some(victim) = self.order.queue.victim(|t, k| is_live(map, t, k)) else {
                break;
            };
            self.remove(&victim);
            self.evictions += 1;
        }
    }

    /// Whether an entry of `needed` bytes more would break a bound.
    fn would_overflow(&self, needed: u64) -> bool {
        self.bytes + needed > self.max_bytes
            || (self.max_entries > 0 && self.map.len() as u64 >= self.max_entries)
    }

    /// `set` under `tinylfu`: store first, then let the policy choose what goes (possibly
    /// the new entry itself).
    fn set_tinylfu(&mut self, key: &str, entry: Entry, needed: u64) {
        let now = now_ms();
        // The policy keeps tracking a replaced key; its new value only changes storage.
        self.unstore(key);
        self.purge_expired(now, PURGE_PER_WRITE);
        while self.would_overflow(needed) && self.expiring.first().is_some_and(|(at, _)| *at <= now)
        {
            self.purge_expired(now, 1);
        }
        let key: Rc<str> = Rc::from(key);
        self.ordered.insert(Rc::clone(&key));
        if let Some(at) = entry.expires_at {
            self.expiring.insert((at, Rc::clone(&key)));
        }
        self.bytes += needed;
        self.map.insert(
            Rc::clone(&key),
            Slot {
                value: entry.value,
                expires_at: entry.expires_at,
                uses: Cell::new(1),
                rank: Cell::new((0, 0)),
            },
        );
        let weight = if self.max_entries > 0 { 1 } else { needed };
        let victims = match self.order.tinylfu.as_mut() {
            Some(policy) => policy.insert(key, weight),
            None => Vec::new(),
        };
        for victim in victims {
            self.unstore(&victim);
            self.evictions += 1;
        }
        // The bound the policy does not weigh by (bytes when it counts entries).
        while self.bytes > self.max_bytes
            || (self.max_entries > 0 && self.map.len() as u64 > self.max_entries)
        {
            let Some(victim) = self.order.tinylfu.as_mut().and_then(|p| p.evict_one()) else {
                break;
            };
            self.unstore(&victim);
            self.evictions += 1;
        }
    }

    fn set_expiry(&mut self, key: &Rc<str>, expires_at: Option<u64>) {
        let Some(old) = self.map.get(key).map(|s| s.expires_at) else {
            return;
        };
        if let Some(at) = old {
            self.expiring.remove(&(at, Rc::clone(key)));
        }
        if let Some(at) = expires_at {
            self.expiring.insert((at, Rc::clone(key)));
        }
        if let Some(slot) = self.map.get_mut(key) {
            slot.expires_at = expires_at;
        }
        if self.order.policy == Policy::Ttl {
            self.touch(key);
        }
    }
}

impl Adapter for Memory {
    const NAME: &'static str = "memory";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const NATIVE: Capabilities = Capabilities::EXISTS
        .union(Capabilities::SCAN)
        .union(Capabilities::TTL)
        .union(Capabilities::EXPIRE)
        .union(Capabilities::CLEAR)
        .union(Capabilities::STATS);

    fn config_fields() -> Vec<ConfigField> {
        vec![
            ConfigField::new(
                "max-bytes",
                ConfigKind::Size,
                false,
                "Bound on the bytes of keys and values stored (default 64 MiB).",
            ),
            ConfigField::new(
                "max-entries",
                ConfigKind::Integer,
                false,
                "Bound on the number of entries (default 0: unbounded).",
            ),
            ConfigField::new(
                "eviction",
                ConfigKind::Text,
                false,
                "Eviction policy: tinylfu (default), lru, lfu or ttl.",
            ),
        ]
    }

    fn open(config: &Config) -> Result<Self> {
        let policy = match config.text("eviction").unwrap_or("tinylfu") {
            "lru" => Policy::Lru,
            "lfu" => Policy::Lfu,
            "ttl" => Policy::Ttl,
            "tinylfu" => Policy::TinyLfu,
            other => {
                return Err(Error::InvalidConfig(format!(
                    "eviction `{other}` is not one of lru, lfu, ttl, tinylfu"
                )));
            }
        };
        let max_entries = config.integer("max-entries").unwrap_or(0);
        let max_entries = u64::try_from(max_entries).map_err(|_| {
            Error::InvalidConfig(format!("max-entries must be 0 or more, got {max_entries}"))
        })?;
        let max_bytes = config.size("max-bytes").unwrap_or(DEFAULT_MAX_BYTES);
        let tinylfu = (policy == Policy::TinyLfu).then(|| {
            if max_entries > 0 {
                WTinyLfu::new(max_entries)
            } else {
                WTinyLfu::weighted(max_bytes, TINYLFU_EXPECTED_ENTRIES)
            }
        });
        Ok(Memory {
            max_bytes,
            max_entries,
            // Seeded once from wasi:random; foldhash is several times faster than std's
            // SipHash on short keys.
            map: HashMap::with_hasher(FixedState::with_seed(byoc_guest_sdk::hash_seed(
                0x6279_6f63,
            ))),
            ordered: BTreeSet::new(),
            order: Order {
                policy,
                queue: Queue::new(policy == Policy::Lru),
                tinylfu,
                tick: 0,
            },
            expiring: BTreeSet::new(),
            bytes: 0,
            evictions: 0,
            expirations: 0,
        })
    }

    fn get(&mut self, key: &str) -> Result<Option<Entry>> {
        let Some((key, slot)) = self.map.get_key_value(key) else {
            return Ok(None);
        };
        let entry = Entry {
            value: slot.value.clone(),
            expires_at: slot.expires_at,
        };
        // Touching an expired entry is harmless (the SDK deletes it right after), and
        // saves reading the clock a second time on the hit path.
        self.order.used(&self.map, key, slot);
        Ok(Some(entry))
    }

    fn set(&mut self, key: &str, entry: Entry) -> Result<()> {
        let needed = cost(key, &entry.value);
        if needed > self.max_bytes {
            return Err(Error::ValueTooLarge(format!(
                "entry of {needed} bytes exceeds this instance's max-bytes of {}",
                self.max_bytes
            )));
        }
        if self.order.policy == Policy::TinyLfu {
            self.set_tinylfu(key, entry, needed);
            return Ok(());
        }
        let now = now_ms();
        let uses = self.remove(key).map_or(0, |old| old.uses.get());
        self.purge_expired(now, PURGE_PER_WRITE);
        self.make_room(needed, now);
        let key: Rc<str> = Rc::from(key);
        let rank = self.order.rank(uses + 1, entry.expires_at);
        self.ordered.insert(Rc::clone(&key));
        let map = &self.map;
        self.order
            .queue
            .insert(rank, Rc::clone(&key), map.len(), |t, k| is_live(map, t, k));
        if let Some(at) = entry.expires_at {
            self.expiring.insert((at, Rc::clone(&key)));
        }
        self.bytes += needed;
        self.map.insert(
            key,
            Slot {
                value: entry.value,
                expires_at: entry.expires_at,
                uses: Cell::new(uses + 1),
                rank: Cell::new(rank),
            },
        );
        Ok(())
    }

    fn delete(&mut self, key: &str) -> Result<bool> {
        Ok(self.remove(key).is_some())
    }

    fn keys(&mut self) -> Result<Vec<String>> {
        Ok(self.ordered.iter().map(|k| k.to_string()).collect())
    }

    fn exists(&mut self, key: &str, now: u64) -> Result<bool> {
        Ok(self
            .map
            .get(key)
            .is_some_and(|s| s.expires_at.is_none_or(|at| at > now)))
    }

    fn scan(
        &mut self,
        pattern: &str,
        cursor: Option<ScanCursor>,
        count: u32,
        now: u64,
    ) -> Result<ScanPage> {
        let start = match &cursor {
            Some(c) => Bound::Excluded(c.after.as_str()),
            None => Bound::Unbounded,
        };
        let map = &self.map;
        Ok(byoc_guest_sdk::sorted_page(
            self.ordered
                .range::<str, _>((start, Bound::Unbounded))
                .map(|k| &**k),
            pattern,
            count,
            |key| {
                map.get(key)
                    .is_some_and(|s| s.expires_at.is_none_or(|at| at > now))
            },
        ))
    }

    fn expire(&mut self, key: &str, expires_at: Option<u64>, now: u64) -> Result<bool> {
        let Some((key, slot)) = self.map.get_key_value(key) else {
            return Ok(false);
        };
        if slot.expires_at.is_some_and(|at| at <= now) {
            return Ok(false);
        }
        let key = Rc::clone(key);
        self.set_expiry(&key, expires_at);
        Ok(true)
    }

    fn clear(&mut self) -> Result<()> {
        self.map.clear();
        self.ordered.clear();
        self.order.queue.clear();
        self.expiring.clear();
        if let Some(policy) = self.order.tinylfu.as_mut() {
            policy.clear();
        }
        self.bytes = 0;
        Ok(())
    }

    // Atomic as derived: an instance's map is its own, and the host runs one call at a
    // time per instance (a key always goes to the same partition).
    const ATOMICS: bool = true;

    fn increment(
        &mut self,
        key: &str,
        delta: i64,
        expires_at: Option<u64>,
        now: u64,
    ) -> Result<i64> {
        byoc_guest_sdk::atomic::increment(self, key, delta, expires_at, now)
    }

    fn compare_and_swap(
        &mut self,
        key: &str,
        expected: Option<&[u8]>,
        new: Vec<u8>,
        expires_at: Option<u64>,
        now: u64,
    ) -> Result<bool> {
        byoc_guest_sdk::atomic::compare_and_swap(self, key, expected, new, expires_at, now)
    }

    fn usage(&mut self) -> Result<Usage> {
        self.purge_expired(now_ms(), usize::MAX);
        Ok(Usage {
            keys: self.map.len() as u64,
            bytes: self.bytes,
            evictions: self.evictions,
            expirations: self.expirations,
            extra: vec![("max-bytes".to_owned(), self.max_bytes)],
        })
    }
}

byoc_guest_sdk::export_adapter!(Memory);
