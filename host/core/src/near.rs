//! [`NearCache`]: a host-side moka L1 in front of any provider.
//!
//! A read that finds the key in the L1 never reaches the provider below (no wasm call, no
//! network round trip). The price is bounded staleness: a write made by *another* process
//! (or another `NearCache` over the same backend) is seen here only once the L1 entry
//! expires, at most [`NearCacheBuilder::max_staleness`] after it was filled, and never after
//! the entry's own TTL. Writes made through this `NearCache` invalidate its L1 at once.

use crate::layer::{Answer, Call, Keys, Layer};
use crate::provider::MultiValue;
use crate::{KeyTtl, Provider, Result, Stats};
use bytes::Bytes;
use moka::sync::Cache;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Default [`NearCacheBuilder::max_entries`]: 10 000 entries.
pub const DEFAULT_NEAR_MAX_ENTRIES: u64 = 10_000;
/// Default [`NearCacheBuilder::max_bytes`]: 16 MiB of keys and values.
pub const DEFAULT_NEAR_MAX_BYTES: u64 = 16 << 20;
/// Default [`NearCacheBuilder::max_staleness`]: 1 second.
pub const DEFAULT_NEAR_MAX_STALENESS: Duration = Duration::from_secs(1);

/// The longest `time_to_live` moka accepts (it panics beyond): 1000 years.
const MAX_STALENESS: Duration = Duration::from_secs(1000 * 365 * 24 * 3600);

/// One moka cache of the L1: keys hashed with foldhash, seeded at random per cache. moka's
/// default, SipHash-1-3, made a hit on a short key measurably slower (BENCHMARKS.md); the
/// random seed still keeps a key's bucket unpredictable to whoever picks the keys.
type Shard = Cache<String, NearEntry, foldhash::fast::RandomState>;

/// Most shards of an L1 per available core.
const SHARDS_PER_CORE: usize = 4;
/// Least bytes (of `max_bytes`) and entries (of `max_entries`) a shard is given: a
/// smaller L1 has fewer shards, one at the least.
const SHARD_MIN_BYTES: u64 = 1 << 20;
const SHARD_MIN_ENTRIES: u64 = 256;

/// The L1: moka caches, each holding the keys that hash to it and an equal share of the
/// bounds. A moka read records itself in its cache's one queue of reads: threads reading
/// one cache at once all write that queue's cache lines, and the trips of those lines
/// between cores cost more than the hit. With a few shards per core, two threads reading
/// different keys mostly write different queues.
#[derive(Clone)]
struct L1 {
    shards: Arc<[Shard]>,
    /// Picks a key's shard; seeded apart from the shards' own hashers.
    hasher: foldhash::fast::RandomState,
}

impl L1 {
    fn shard(&self, key: &str) -> &Shard {
        let n = self.shards.len();
        if n == 1 {
            return &self.shards[0];
        }
        // The hash's high bits: moka's own hash of the key is seeded apart, so keys of one
        // shard still spread over its buckets.
        let at = (u128::from(self.hasher.hash_one(key)) * n as u128) >> 64;
        &self.shards[at as usize]
    }

    fn get(&self, key: &str) -> Option<NearEntry> {
        self.shard(key).get(key)
    }

    fn insert(&self, key: String, entry: NearEntry) {
        self.shard(&key).insert(key, entry);
    }

    fn invalidate(&self, key: &str) {
        self.shard(key).invalidate(key);
    }

    fn invalidate_all(&self) {
        self.shards.iter().for_each(Shard::invalidate_all);
    }

    fn entry_count(&self) -> u64 {
        self.shards.iter().map(Shard::entry_count).sum()
    }
}

/// Write-epoch stripes: a fill is dropped when a write hit its key's stripe meanwhile.
const STRIPES: usize = 64;

/// How the L1 learns an entry's own TTL when it fills from the provider below.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum NearTtl {
    /// Ask the provider below (`ttl`) after each filling `get`, so an L1 entry never
    /// outlives the entry below. Costs one more call per L1 miss that hits below;
    /// `get_multi` does not fill the L1 in this mode (it would take one `ttl` call a key).
    #[default]
    Exact,
    /// Do not ask: every filled entry lives `max_staleness` in the L1 even if its own TTL
    /// is shorter. Cheaper misses, and `get_multi` fills too; only for data whose TTLs are
    /// all longer than `max_staleness` or where serving an expired value that long is fine.
    AssumeLonger,
}

/// An L1 entry: the value (shared, never copied on a hit through
/// [`NearCache::get_bytes`]) and, when the entry's own TTL ends before `max_staleness`
/// does, when the L1 must forget it. Held by value: a hit clones it (one reference
/// count), with no `Arc` around it to count as well.
///
/// Every entry lives at most `max_staleness` after it was stored: that is moka's
/// cache-wide `time_to_live`, checked on each read at no cost beyond moka's own. Only an
/// entry with an earlier end carries `expires_at`, and only a hit on such an entry reads
/// the clock again. (A per-entry moka `Expiry` made every hit pay for it.)
#[derive(Clone)]
struct NearEntry {
    value: Bytes,
    expires_at: Option<Instant>,
}

impl NearEntry {
    /// The value, unless the entry's own end has passed.
    fn live(self) -> Option<Bytes> {
        match self.expires_at {
            Some(at) if at <= Instant::now() => None,
            _ => Some(self.value),
        }
    }
}

/// Builds a [`NearCache`]; see [`NearCache::builder`]. Defaults: at most
/// [`DEFAULT_NEAR_MAX_ENTRIES`] entries and [`DEFAULT_NEAR_MAX_BYTES`] bytes, staleness at
/// most [`DEFAULT_NEAR_MAX_STALENESS`], [`NearTtl::Exact`].
#[derive(Debug, Clone)]
#[must_use]
pub struct NearCacheBuilder {
    max_entries: u64,
    max_bytes: u64,
    max_staleness: Duration,
    ttl: NearTtl,
}

impl Default for NearCacheBuilder {
    fn default() -> Self {
        NearCacheBuilder {
            max_entries: DEFAULT_NEAR_MAX_ENTRIES,
            max_bytes: DEFAULT_NEAR_MAX_BYTES,
            max_staleness: DEFAULT_NEAR_MAX_STALENESS,
            ttl: NearTtl::Exact,
        }
    }
}

impl NearCacheBuilder {
    /// Most entries the L1 holds (at least 1).
    pub fn max_entries(mut self, n: u64) -> Self {
        self.max_entries = n.max(1);
        self
    }

    /// Most bytes of keys and values the L1 holds (at least 1). An L1 of 2 MiB or more is
    /// split into shards (up to four per core, each of at least 1 MiB and 256 entries, each
    /// bounded by its share of `max_bytes` and `max_entries`) so that threads reading at
    /// once do not all write one cache's read log; a value larger than one shard's share
    /// of `max_bytes` is not kept.
    pub fn max_bytes(mut self, n: u64) -> Self {
        self.max_bytes = n.max(1);
        self
    }

    /// Longest an entry stays in the L1 after it was stored there, which is right after
    /// it was read from the provider below (with [`NearTtl::Exact`], after the `ttl` call
    /// that follows the read): the bound on how stale a read may be with respect to writes
    /// made elsewhere. Zero keeps nothing; durations beyond 1000 years (moka's limit) are
    /// taken as 1000 years.
    pub fn max_staleness(mut self, d: Duration) -> Self {
        self.max_staleness = d;
        self
    }

    /// How filled entries learn their own TTL (default [`NearTtl::Exact`]).
    pub fn ttl_mode(mut self, mode: NearTtl) -> Self {
        self.ttl = mode;
        self
    }

    /// The near cache in front of `inner`.
    pub fn build(self, inner: Arc<dyn Provider>) -> NearCache {
        // One moka bound for two limits: each entry weighs at least max_bytes/max_entries,
        // so the total weight bounds the bytes and the number of entries at once.
        let min_weight = self.max_bytes.div_ceil(self.max_entries).max(1);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let shards = (SHARDS_PER_CORE * cores)
            .min(usize::try_from(self.max_bytes / SHARD_MIN_BYTES).unwrap_or(usize::MAX))
            .min(usize::try_from(self.max_entries / SHARD_MIN_ENTRIES).unwrap_or(usize::MAX))
            .max(1);
        let share = self.max_bytes / shards as u64;
        let l1 = L1 {
            shards: (0..shards)
                .map(|_| {
                    Cache::builder()
                        .max_capacity(share)
                        .weigher(move |k: &String, e: &NearEntry| {
                            let bytes = (k.len() + e.value.len()) as u64;
                            u32::try_from(bytes.max(min_weight)).unwrap_or(u32::MAX)
                        })
                        .time_to_live(self.max_staleness.min(MAX_STALENESS))
                        .build_with_hasher(foldhash::fast::RandomState::default())
                })
                .collect(),
            hasher: foldhash::fast::RandomState::default(),
        };
        NearCache {
            inner,
            l1: l1.clone(),
            max_staleness: self.max_staleness,
            max_value: share,
            ttl: self.ttl,
            coherence: NearInvalidator {
                l1: l1.clone(),
                epochs: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
                paused: Arc::new(AtomicBool::new(false)),
            },
            hits: Counter::default(),
            misses: Counter::default(),
        }
    }
}

/// Slots of a [`Counter`]: threads pick one by their order of first use.
const COUNTER_SLOTS: usize = 8;

/// A counter of hits or misses split over cache lines: threads reading the L1 at once
/// would otherwise all write one line, and that line's trips between cores cost more than
/// the hit itself.
#[derive(Default)]
struct Counter([Slot; COUNTER_SLOTS]);

/// One slot of a [`Counter`], alone on its cache line (128 bytes: two lines on CPUs
/// that fetch lines in pairs).
#[derive(Default)]
#[repr(align(128))]
struct Slot(AtomicU64);

impl Counter {
    fn add(&self, n: u64) {
        self.0[thread_slot()].0.fetch_add(n, Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.iter().map(|s| s.0.load(Ordering::Relaxed)).sum()
    }
}

/// This thread's slot of every [`Counter`].
fn thread_slot() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SLOT: usize = NEXT.fetch_add(1, Ordering::Relaxed) % COUNTER_SLOTS;
    }
    SLOT.with(|s| *s)
}

/// A provider with a host-side L1 ([moka](https://docs.rs/moka)) in front of another one.
///
/// - `get` (and `get_multi`, for the keys it holds) answers from the L1 when it can; an L1
///   miss reads below and fills the L1 with the value (misses are not cached).
/// - An L1 entry lives at most `max_staleness`, and never longer than the entry's own TTL
///   (with [`NearTtl::Exact`]).
/// - `set`, `delete`, `expire`, `set_multi`, `delete_multi` and `clear` go below and
///   invalidate the keys they touch (all of them for `clear`) in the L1. A fill that raced
///   with a write to its key is dropped, so a local write is never hidden by an older value.
/// - Every other method (`exists`, `ttl`, `scan`, `ping`, `info`) is forwarded unchanged.
/// - `stats` are the provider's, with the L1's hits added to `hits` and the extras
///   `near.hits`, `near.misses` (reads the L1 passed below) and `near.entries`.
///
/// [`NearCache::get_bytes`] returns the L1's shared buffer without copying it;
/// [`Provider::get`] returns a `Vec<u8>` and so copies the value once.
///
/// ```
/// # async fn demo() -> byoc_core::Result<()> {
/// use byoc_core::{NativeMemoryProvider, NearCache, Provider};
/// use std::{sync::Arc, time::Duration};
///
/// let below = Arc::new(NativeMemoryProvider::new(Default::default()));
/// let near = NearCache::builder()
///     .max_entries(1000)
///     .max_staleness(Duration::from_millis(200))
///     .build(below);
/// near.set("k", b"v", None).await?;
/// assert_eq!(near.get("k").await?, Some(b"v".to_vec())); // read below, L1 filled
/// assert_eq!(near.get("k").await?, Some(b"v".to_vec())); // served by the L1
/// assert_eq!(near.stats().await?.extra("near.hits"), Some(1));
/// # Ok(()) }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo()).unwrap();
/// ```
pub struct NearCache {
    inner: Arc<dyn Provider>,
    l1: L1,
    max_staleness: Duration,
    max_value: u64,
    ttl: NearTtl,
    coherence: NearInvalidator,
    hits: Counter,
    misses: Counter,
}

impl std::fmt::Debug for NearCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NearCache")
            .field("inner", &self.inner.info().stack())
            .field("entries", &self.l1.entry_count())
            .field("max_staleness", &self.max_staleness)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl NearCache {
    /// A builder with the documented defaults.
    pub fn builder() -> NearCacheBuilder {
        NearCacheBuilder::default()
    }

    /// A near cache with the default settings in front of `inner`.
    pub fn new(inner: Arc<dyn Provider>) -> NearCache {
        NearCacheBuilder::default().build(inner)
    }

    /// The provider below.
    pub fn inner(&self) -> &Arc<dyn Provider> {
        &self.inner
    }

    /// The value if the L1 holds it, without reading below and without waiting: the
    /// synchronous hit path of [`get_bytes`](NearCache::get_bytes), for callers that
    /// cannot (or prefer not to) `await` on a hit. `None` means only that the L1 does not
    /// hold the key; follow with [`get_bytes`](NearCache::get_bytes) to read below. A hit
    /// counts in `near.hits`; a `None` counts nowhere.
    ///
    /// ```
    /// # async fn demo() -> byoc_core::Result<()> {
    /// use byoc_core::{NativeMemoryProvider, NearCache, Provider};
    ///
    /// let near = NearCache::new(std::sync::Arc::new(NativeMemoryProvider::new(Default::default())));
    /// near.set("k", b"v", None).await?;
    /// assert_eq!(near.get_cached("k"), None); // a write does not fill the L1
    /// near.get_bytes("k").await?; // a read does
    /// assert_eq!(near.get_cached("k").as_deref(), Some(&b"v"[..]));
    /// # Ok(()) }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo()).unwrap();
    /// ```
    pub fn get_cached(&self, key: &str) -> Option<Bytes> {
        let value = self.l1.get(key).and_then(NearEntry::live)?;
        self.hits.add(1);
        Some(value)
    }

    /// Like [`Provider::get`], returning the L1's shared buffer: no copy on an L1 hit.
    pub async fn get_bytes(&self, key: &str) -> Result<Option<Bytes>> {
        if let Some(value) = self.get_cached(key) {
            return Ok(Some(value));
        }
        self.misses.add(1);
        let stripe = self.stripe(key);
        let epoch = self.coherence.epochs[stripe].load(Ordering::SeqCst);
        let Some(value) = self.inner.get(key).await? else {
            return Ok(None);
        };
        let value = Bytes::from(value);
        let filled_at = Instant::now();
        let lifetime = match self.ttl {
            NearTtl::AssumeLonger => Some(self.max_staleness),
            NearTtl::Exact => match self.inner.ttl(key).await {
                Ok(KeyTtl::Persistent) => Some(self.max_staleness),
                Ok(KeyTtl::ExpiresIn(left)) => Some(left.min(self.max_staleness)),
                // Gone (or unknown) since the read: answer it, do not keep it.
                Ok(KeyTtl::Missing) | Err(_) => None,
            },
        };
        if let Some(lifetime) = lifetime {
            // `checked_add`: a TTL from below too large for an `Instant` is no earlier end.
            let ends_first = (lifetime < self.max_staleness)
                .then(|| filled_at.checked_add(lifetime))
                .flatten();
            self.fill(stripe, epoch, key, value.clone(), ends_first);
        }
        Ok(Some(value))
    }

    /// `get_multi` answering `V`: hits from the L1 (shared for `Bytes`, copied for
    /// vectors), misses from the provider below in one call of the same kind.
    async fn get_multi_as<V: MultiValue>(&self, keys: &[String]) -> Result<Vec<Option<V>>> {
        let mut out: Vec<Option<V>> = Vec::with_capacity(keys.len());
        let mut missing = Vec::new();
        let mut missing_at = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            match self.l1.get(key.as_str()).and_then(NearEntry::live) {
                Some(value) => out.push(Some(V::from_shared(&value, &value))),
                None => {
                    out.push(None);
                    missing.push(key.clone());
                    missing_at.push(i);
                }
            }
        }
        let hits = (keys.len() - missing.len()) as u64;
        self.hits.add(hits);
        if missing.is_empty() {
            return Ok(out);
        }
        self.misses.add(missing.len() as u64);
        let fill = self.ttl == NearTtl::AssumeLonger;
        let epochs: Vec<(usize, u64)> = if fill {
            missing
                .iter()
                .map(|k| {
                    let s = self.stripe(k);
                    (s, self.coherence.epochs[s].load(Ordering::SeqCst))
                })
                .collect()
        } else {
            Vec::new()
        };
        let values = V::get_multi(&*self.inner, &missing).await?;
        for (n, (i, value)) in missing_at.into_iter().zip(values).enumerate() {
            if fill && let (Some(v), Some(&(stripe, epoch))) = (&value, epochs.get(n)) {
                self.fill(
                    stripe,
                    epoch,
                    &keys[i],
                    // A copy: a shared slice would keep the provider's whole answer
                    // alive for as long as the entry, outside the L1's byte bound.
                    Bytes::copy_from_slice(v.as_ref()),
                    None,
                );
            }
            out[i] = value;
        }
        Ok(out)
    }

    /// Number of entries in the L1 (approximate: moka counts lazily).
    pub fn near_entries(&self) -> u64 {
        self.l1.entry_count()
    }

    fn stripe(&self, key: &str) -> usize {
        stripe(key)
    }

    /// A handle that invalidates this near cache's entries from elsewhere (for example
    /// from a server's invalidation messages, see `byoc::redis::RedisInvalidation`).
    pub fn invalidator(&self) -> NearInvalidator {
        self.coherence.clone()
    }

    /// Keeps `value` (for `max_staleness`, or until `ends_first` when that comes
    /// sooner) unless a write touched the key's stripe since `epoch` was read, or fills
    /// are paused.
    fn fill(
        &self,
        stripe: usize,
        epoch: u64,
        key: &str,
        value: Bytes,
        ends_first: Option<Instant>,
    ) {
        if self.max_staleness.is_zero()
            || ends_first.is_some_and(|at| at <= Instant::now())
            || (key.len() + value.len()) as u64 > self.max_value
        {
            return;
        }
        let counter = &self.coherence.epochs[stripe];
        if counter.load(Ordering::SeqCst) != epoch || self.coherence.paused.load(Ordering::SeqCst) {
            return;
        }
        self.l1.insert(
            key.to_owned(),
            NearEntry {
                value,
                expires_at: ends_first,
            },
        );
        // A write that bumped the epoch after the check above may have invalidated before
        // the insert: take the entry back out.
        if counter.load(Ordering::SeqCst) != epoch {
            self.l1.invalidate(key);
        }
    }

    /// After a write below: no fill in flight for `key` may land, and the L1 forgets it.
    fn invalidate(&self, key: &str) {
        self.coherence.invalidate(key);
    }

    fn invalidate_all(&self) {
        self.coherence.invalidate_all();
    }
}

fn stripe(key: &str) -> usize {
    // Fixed seed: a key must map to the same stripe in every call of this process.
    (foldhash::fast::FixedState::default().hash_one(key) % STRIPES as u64) as usize
}

/// Invalidates entries of one [`NearCache`] from outside it (cheap to clone; see
/// [`NearCache::invalidator`]). An invalidation also cancels every fill of the key that
/// is in flight, exactly as a local write does.
#[derive(Clone)]
pub struct NearInvalidator {
    l1: L1,
    epochs: Arc<[AtomicU64]>,
    /// While set, reads pass through without filling the L1 (nothing tells it about
    /// writes made elsewhere then).
    paused: Arc<AtomicBool>,
}

impl std::fmt::Debug for NearInvalidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NearInvalidator")
            .field("paused", &self.paused.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl NearInvalidator {
    /// Forgets `key`.
    pub fn invalidate(&self, key: &str) {
        self.epochs[stripe(key)].fetch_add(1, Ordering::SeqCst);
        self.l1.invalidate(key);
    }

    /// Forgets every entry.
    pub fn invalidate_all(&self) {
        for e in self.epochs.iter() {
            e.fetch_add(1, Ordering::SeqCst);
        }
        self.l1.invalidate_all();
    }

    /// Forgets every entry and stops filling the L1 until [`resume`](Self::resume): for
    /// when invalidations may be lost (the source of invalidations disconnected).
    pub fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
        self.invalidate_all();
    }

    /// Forgets every entry (any may have changed while paused) and fills the L1 again.
    pub fn resume(&self) {
        self.invalidate_all();
        self.paused.store(false, Ordering::SeqCst);
    }

    /// Whether fills are paused.
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }
}

impl Layer for NearCache {
    type Below<'a> = &'a dyn Provider;

    fn below(&self) -> &dyn Provider {
        &*self.inner
    }

    /// Writes invalidate the keys they touched once the provider below answered (either
    /// way: a failed write may have landed).
    async fn after<T: Answer>(&self, call: Call<'_>, _answer: &Result<T>) {
        if call.op().is_write() {
            match call.keys() {
                Keys::All => self.invalidate_all(),
                keys => keys.iter().for_each(|key| self.invalidate(key)),
            }
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.get_bytes(key).await?.map(|b| b.to_vec()))
    }

    async fn get_multi(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        self.get_multi_as(keys).await
    }

    async fn get_multi_bytes(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>> {
        self.get_multi_as(keys).await
    }

    async fn stats(&self) -> Result<Stats> {
        let mut stats = self.inner.stats().await?;
        let hits = self.hits.get();
        stats.merge(Stats {
            hits,
            extra: vec![
                ("near.hits".into(), hits),
                ("near.misses".into(), self.misses.get()),
                ("near.entries".into(), self.l1.entry_count()),
            ],
            ..Stats::default()
        });
        Ok(stats)
    }
}
