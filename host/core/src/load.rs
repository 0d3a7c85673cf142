//! Cache semantics on top of any provider: get-or-load with single-flight (in the process,
//! and optionally across processes through a lock entry), fail-safe stale values,
//! refresh-ahead, soft and hard loader timeouts, TTL jitter and negative caching.
//!
//! Everything here is built on the [`Provider`](crate::Provider) contract, so every backend
//! gets it. Logical expiry lives in the stored value's envelope (see `entry.rs`): a
//! provider only ever sees a longer physical TTL.

use crate::cache::{Cache, Contract};
use crate::entry::{self, ENVELOPE_VERSION, Envelope, ms, now_ms};
use crate::{Error, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;

/// Stats counter: loader calls (each single-flight load counts once).
pub const LOADS: &str = "cache.loads";
/// Stats counter: loader calls that failed or timed out.
pub const LOAD_ERRORS: &str = "cache.load-errors";
/// Stats counter: `get_or_load` calls that shared a load already running in the process,
/// or waited on another process's load through the lock entry.
pub const LOAD_JOINS: &str = "cache.load-joins";
/// Stats counter: values served past their TTL (fail-safe or soft timeout).
pub const STALE_SERVED: &str = "cache.stale-served";
/// Stats counter: background reloads run by refresh-ahead.
pub const REFRESHES: &str = "cache.refreshes";
/// Stats counter: reads of tagged entries that checked their tags' invalidation stamps.
pub const TAG_CHECKS: &str = "cache.tag-checks";
/// Stats counter: tagged entries read as misses because a tag was invalidated.
pub const TAG_INVALIDATED: &str = "cache.tag-invalidated";

/// Default most keys whose last loaded value a fail-safe cache keeps in the process for
/// when the backend fails.
pub const DEFAULT_FAIL_SAFE_COPIES: usize = 10_000;

/// Prefix of the lock entries of cross-process single-flight.
const LOCK_PREFIX: &str = "__byoc-lock:";
/// Prefix of tag invalidation stamps.
const TAG_PREFIX: &str = "__byoc-tag:";

/// The semantics options of a [`Contract`]; all off by default.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Options {
    pub max_stale: Option<Duration>,
    pub refresh_ahead: Option<f64>,
    pub soft_timeout: Option<Duration>,
    pub hard_timeout: Option<Duration>,
    pub ttl_jitter: f64,
    pub negative_ttl: Option<Duration>,
    pub lock_ttl: Option<Duration>,
    /// `None`: [`DEFAULT_FAIL_SAFE_COPIES`].
    pub fail_safe_copies: Option<usize>,
}

impl Options {
    /// Whether entries carry the envelope (a logical expiry): needed by fail-safe,
    /// refresh-ahead and negative caching.
    pub fn enveloped(&self) -> bool {
        self.max_stale.is_some() || self.refresh_ahead.is_some() || self.negative_ttl.is_some()
    }
}

/// What a loader answers: a value (or "not found"), with an optional TTL and tags.
///
/// `Loaded::from(value)` is a found value with the cache's default TTL.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct Loaded<T> {
    value: Option<T>,
    ttl: Option<Duration>,
    tags: Vec<String>,
}

impl<T> Loaded<T> {
    /// A value that was found.
    pub fn found(value: T) -> Self {
        Loaded {
            value: Some(value),
            ttl: None,
            tags: Vec::new(),
        }
    }

    /// The source has no value for the key. Cached for the contract's
    /// [`negative_ttl`](Contract::negative_ttl) if set; otherwise not cached.
    pub fn not_found() -> Self {
        Loaded {
            value: None,
            ttl: None,
            tags: Vec::new(),
        }
    }

    /// The TTL of this value, instead of the contract's default (no effect on "not
    /// found", which uses the negative TTL).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Tags of this value (see [`Cache::set_with_tags`]).
    pub fn tags<S: Into<String>>(mut self, tags: impl IntoIterator<Item = S>) -> Self {
        self.tags = tags.into_iter().map(Into::into).collect();
        self
    }
}

impl<T> From<T> for Loaded<T> {
    fn from(value: T) -> Self {
        Loaded::found(value)
    }
}

/// Whether a value is within its TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Freshness {
    /// Within its TTL (or just loaded).
    Fresh,
    /// Past its TTL, served because the loader or the backend failed, or the loader ran
    /// past the soft timeout (fail-safe).
    Stale,
}

/// A value read through [`Cache::get_or_load`] or [`Cache::get_entry`], with whether it
/// is fresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry<T> {
    /// The value.
    pub value: T,
    /// Whether it is within its TTL.
    pub freshness: Freshness,
}

impl<T> CacheEntry<T> {
    /// Whether the value is past its TTL.
    pub fn is_stale(&self) -> bool {
        self.freshness == Freshness::Stale
    }
}

/// Why [`Cache::get_or_load`] has no value. Cheap to clone: every caller that shared one
/// load gets the same error.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The loader failed. Not cached: the next call loads again.
    #[error("loader failed: {0}")]
    Loader(Arc<dyn std::error::Error + Send + Sync>),
    /// The loader ran past the contract's hard timeout and was dropped.
    #[error("loader did not finish within {0:?}")]
    Timeout(Duration),
    /// The backend failed (and no stale value was at hand).
    #[error("cache: {0}")]
    Cache(Arc<Error>),
}

impl LoadError {
    fn cache(e: Error) -> Self {
        LoadError::Cache(Arc::new(e))
    }
}

type Outcome<T> = std::result::Result<Option<T>, LoadError>;

#[derive(Default)]
pub(crate) struct Counters {
    loads: AtomicU64,
    load_errors: AtomicU64,
    joins: AtomicU64,
    stale: AtomicU64,
    refreshes: AtomicU64,
    tag_checks: AtomicU64,
    tag_invalidated: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Atomics support of the provider, learnt on first use.
const ATOMICS_UNKNOWN: u8 = 0;
const ATOMICS_NO: u8 = 2;

/// Per-cache state of the semantics: options, loads in flight, counters.
pub(crate) struct State<T> {
    pub opts: Options,
    flights: Mutex<HashMap<String, watch::Receiver<Option<Outcome<T>>>>>,
    counters: Counters,
    atomics: AtomicU8,
    /// Last loaded entry (enveloped bytes) per full key, for when the backend fails.
    last_good: Mutex<HashMap<String, Vec<u8>>>,
}

impl<T> State<T> {
    pub fn new(opts: Options) -> Self {
        State {
            opts,
            flights: Mutex::default(),
            counters: Counters::default(),
            atomics: AtomicU8::new(ATOMICS_UNKNOWN),
            last_good: Mutex::default(),
        }
    }

    /// The counters as stats extras.
    pub fn extras(&self) -> Vec<(String, u64)> {
        let c = &self.counters;
        [
            (LOADS, &c.loads),
            (LOAD_ERRORS, &c.load_errors),
            (LOAD_JOINS, &c.joins),
            (STALE_SERVED, &c.stale),
            (REFRESHES, &c.refreshes),
            (TAG_CHECKS, &c.tag_checks),
            (TAG_INVALIDATED, &c.tag_invalidated),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v.load(Ordering::Relaxed)))
        .collect()
    }
}

/// A lock that a panicking holder cannot poison for everyone else: the maps stay usable.
fn lock<V>(m: &Mutex<V>) -> MutexGuard<'_, V> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A random 64-bit number (std's randomly keyed hasher over a counter: no extra crate).
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

impl<T: Serialize + DeserializeOwned + Send + Sync + 'static> Contract<T> {
    /// **Fail-safe**: when a load fails (the loader errs or times out) or the backend fails,
    /// [`get_or_load`](Cache::get_or_load) serves the last value for up to `max_stale`
    /// past its TTL, marked [`Freshness::Stale`]. Entries are stored with a physical TTL
    /// of TTL + `max_stale` and their logical expiry inside the value; plain
    /// [`get`](Cache::get) still treats an entry past its TTL as a miss. When the backend
    /// itself fails, the process's own last loaded value is used (at most
    /// [`DEFAULT_FAIL_SAFE_COPIES`] keys kept in memory).
    ///
    /// Opts the cache into the envelope entry format (see `docs/cache-semantics.md`).
    pub fn fail_safe(mut self, max_stale: Duration) -> Self {
        self.sem.max_stale = Some(max_stale);
        self
    }

    /// **Refresh-ahead**: a [`get_or_load`](Cache::get_or_load) hit past `fraction` of
    /// the entry's TTL (e.g. 0.8) returns the value and reloads it in the background,
    /// once (single-flight). A fraction outside `(0, 1)` turns it off. Opts the cache into
    /// the envelope entry format.
    pub fn refresh_ahead(mut self, fraction: f64) -> Self {
        self.sem.refresh_ahead = (fraction > 0.0 && fraction < 1.0).then_some(fraction);
        self
    }

    /// **Soft timeout**: when a stale value is at hand (fail-safe), a caller waits this
    /// long for the loader, then gets the stale value while the load finishes in the
    /// background and updates the cache.
    pub fn soft_timeout(mut self, timeout: Duration) -> Self {
        self.sem.soft_timeout = Some(timeout);
        self
    }

    /// **Hard timeout**: a load still running after this long is dropped and fails with
    /// [`LoadError::Timeout`] (or serves a stale value, with fail-safe).
    pub fn hard_timeout(mut self, timeout: Duration) -> Self {
        self.sem.hard_timeout = Some(timeout);
        self
    }

    /// **TTL jitter**: every TTL this cache writes is lengthened by a random 0 to
    /// `percent` % of itself, so entries written together do not expire together.
    /// Clamped to 0..=100.
    pub fn ttl_jitter(mut self, percent: f64) -> Self {
        self.sem.ttl_jitter = if percent.is_nan() {
            0.0
        } else {
            percent.clamp(0.0, 100.0)
        };
        self
    }

    /// **Negative caching**: a loader's [`Loaded::not_found`] is cached for `ttl`, so
    /// the next calls answer "not found" without loading. Opts the cache into the
    /// envelope entry format.
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.sem.negative_ttl = Some(ttl);
        self
    }

    /// **Cross-process single-flight**: before loading, take a lock entry in the backend
    /// with [`Provider::compare_and_swap`](crate::Provider::compare_and_swap) (TTL
    /// `lock_ttl`); other processes that miss the same key wait for the value instead of
    /// loading (up to `lock_ttl`, then they load). A provider without atomics
    /// ([`Error::Unsupported`]) falls back to single-flight within the process.
    pub fn shared_single_flight(mut self, lock_ttl: Duration) -> Self {
        self.sem.lock_ttl = Some(lock_ttl);
        self
    }

    /// How many keys' last loaded values fail-safe keeps in the process for backend
    /// failures (default [`DEFAULT_FAIL_SAFE_COPIES`]; 0: none).
    pub fn fail_safe_copies(mut self, keys: usize) -> Self {
        self.sem.fail_safe_copies = Some(keys);
        self
    }
}

/// What a read of one key found, envelope resolved.
enum Lookup<T> {
    /// Nothing usable (missing, undecodable, invalidated by a tag, past max-stale).
    Miss,
    /// A cached "not found" within its TTL.
    Negative,
    /// A value.
    Value {
        value: T,
        fresh: bool,
        /// Past the refresh-ahead point (and still fresh).
        due: bool,
    },
}

/// Why a load runs: the caller needs a value, or refresh-ahead.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Miss,
    Refresh,
}

/// Removes a flight from the map when its task ends, however it ends.
struct FlightGuard<T: Send + Sync + 'static> {
    cache: Cache<T>,
    key: String,
}

impl<T: Send + Sync + 'static> Drop for FlightGuard<T> {
    fn drop(&mut self) {
        lock(&self.cache.inner.sem.flights).remove(&self.key);
    }
}

impl<T: Serialize + DeserializeOwned + Send + Sync + 'static> Cache<T> {
    fn sem(&self) -> &State<T> {
        &self.inner.sem
    }

    /// `ttl` lengthened by the contract's jitter.
    pub(crate) fn jitter(&self, ttl: Option<Duration>) -> Option<Duration> {
        let pct = self.sem().opts.ttl_jitter;
        match ttl {
            Some(d) if pct > 0.0 && !d.is_zero() => {
                // 53 random bits as a fraction in [0, 1).
                let unit = (random_u64() >> 11) as f64 / (1u64 << 53) as f64;
                Some(d + d.mul_f64(pct / 100.0 * unit))
            }
            other => other,
        }
    }

    /// The 7-byte header of this cache's enveloped entries.
    fn envelope_header(&self) -> [u8; crate::cache::HEADER_LEN] {
        let mut h = self.header();
        h[1] = ENVELOPE_VERSION;
        h
    }

    /// The bytes to store for `value` (`None`: a negative entry) and their physical TTL.
    /// `ttl` is the logical TTL already resolved (default, jitter). A plain cache writes
    /// the plain format.
    pub(crate) fn encode_entry(
        &self,
        value: Option<&T>,
        ttl: Option<Duration>,
        tags: &[&str],
    ) -> Result<(Vec<u8>, Option<Duration>)> {
        let opts = &self.sem().opts;
        if let (Some(v), false, true) = (value, opts.enveloped(), tags.is_empty()) {
            return Ok((self.encode(v)?, ttl));
        }
        entry::check_tags(tags)?;
        let payload = match value {
            Some(v) => self.inner.serializer.encode(v)?,
            None => Vec::new(),
        };
        let now = now_ms();
        let fresh_until = ttl.map_or(0, |d| now.saturating_add(ms(d)).max(1));
        let physical = match (value, ttl, opts.max_stale) {
            (Some(_), Some(d), Some(stale)) => Some(d.saturating_add(stale)),
            _ => ttl,
        };
        let mut out = Vec::with_capacity(crate::cache::HEADER_LEN + 32 + payload.len());
        out.extend_from_slice(&self.envelope_header());
        entry::write(&mut out, value.is_none(), now, fresh_until, tags, &payload);
        Ok((out, physical))
    }

    /// The envelope of `bytes` if they are an enveloped entry of this cache.
    fn open<'a>(&self, bytes: &'a [u8]) -> Option<Envelope<'a>> {
        let (header, rest) = bytes.split_at_checked(crate::cache::HEADER_LEN)?;
        if header != self.envelope_header() {
            return None;
        }
        entry::read(rest)
    }

    /// Whether `bytes` claim to be an enveloped entry (version byte 2).
    pub(crate) fn is_enveloped(bytes: &[u8]) -> bool {
        bytes.get(1) == Some(&ENVELOPE_VERSION)
    }

    fn tag_key(&self, tag: &str) -> String {
        format!("{TAG_PREFIX}{}{tag}", self.inner.key_prefix)
    }

    /// For each entry (its write time and tags), whether a tag was invalidated at or
    /// after its write: one batched read of every stamp involved.
    async fn invalidated(&self, entries: &[(u64, &[&str])]) -> Result<Vec<bool>> {
        // Each distinct stamp key once; each entry's tags as indexes into them.
        let mut keys: Vec<String> = Vec::new();
        let indexes: Vec<Vec<usize>> = entries
            .iter()
            .map(|(_, tags)| {
                tags.iter()
                    .map(|tag| {
                        let k = self.tag_key(tag);
                        keys.iter().position(|x| *x == k).unwrap_or_else(|| {
                            keys.push(k);
                            keys.len() - 1
                        })
                    })
                    .collect()
            })
            .collect();
        if keys.is_empty() {
            return Ok(vec![false; entries.len()]);
        }
        self.sem()
            .counters
            .tag_checks
            .fetch_add(entries.len() as u64, Ordering::Relaxed);
        let stamps: Vec<u64> = self
            .provider()
            .get_multi_bytes(&keys)
            .await?
            .iter()
            .map(|v| {
                v.as_deref()
                    .and_then(|b| std::str::from_utf8(b).ok())
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0)
            })
            .collect();
        let out: Vec<bool> = entries
            .iter()
            .zip(&indexes)
            .map(|((stored_at, _), ix)| {
                ix.iter()
                    .any(|&i| stamps.get(i).is_none_or(|s| s >= stored_at))
            })
            .collect();
        let dead = out.iter().filter(|d| **d).count() as u64;
        self.sem()
            .counters
            .tag_invalidated
            .fetch_add(dead, Ordering::Relaxed);
        Ok(out)
    }

    fn decode_payload(&self, payload: &[u8]) -> Option<T> {
        let v = self.inner.serializer.decode(payload).ok();
        if v.is_none() {
            bump(&self.inner.decode_failures);
        }
        v
    }

    /// What `get` answers for stored bytes that are enveloped: the value if fresh, not
    /// negative and not invalidated by a tag.
    pub(crate) async fn read_enveloped(&self, bytes: &[u8]) -> Result<Option<T>> {
        Ok(self
            .read_enveloped_many(&[Some(bytes)])
            .await?
            .pop()
            .flatten())
    }

    /// [`read_enveloped`](Self::read_enveloped) of many entries, with one batched tag
    /// read for all of them. Plain entries among them are decoded as `get` does.
    pub(crate) async fn read_enveloped_many(
        &self,
        values: &[Option<&[u8]>],
    ) -> Result<Vec<Option<T>>> {
        let now = now_ms();
        let envs: Vec<Option<Envelope<'_>>> = values
            .iter()
            .map(|v| {
                let b = (*v)?;
                if !Self::is_enveloped(b) {
                    return None;
                }
                let env = self.open(b);
                if env.is_none() {
                    bump(&self.inner.decode_failures);
                }
                env.filter(|e| e.is_fresh(now) && !e.negative)
            })
            .collect();
        let tagged: Vec<(u64, &[&str])> = envs
            .iter()
            .flatten()
            .filter(|e| !e.tags.is_empty())
            .map(|e| (e.stored_at, e.tags.as_slice()))
            .collect();
        let mut dead = self.invalidated(&tagged).await?.into_iter();
        Ok(values
            .iter()
            .zip(&envs)
            .map(|(v, env)| match (v, env) {
                (Some(b), _) if !Self::is_enveloped(b) => self.decode(Some(b)),
                (_, Some(e)) => {
                    if !e.tags.is_empty() && dead.next().unwrap_or(true) {
                        return None;
                    }
                    self.decode_payload(e.value)
                }
                _ => None,
            })
            .collect())
    }

    /// Resolves stored bytes into a [`Lookup`] now.
    async fn resolve(&self, bytes: Option<&[u8]>) -> Result<Lookup<T>> {
        let Some(bytes) = bytes else {
            return Ok(Lookup::Miss);
        };
        if !Self::is_enveloped(bytes) {
            return Ok(match self.decode(Some(bytes)) {
                Some(value) => Lookup::Value {
                    value,
                    fresh: true,
                    due: false,
                },
                None => Lookup::Miss,
            });
        }
        let Some(env) = self.open(bytes) else {
            bump(&self.inner.decode_failures);
            return Ok(Lookup::Miss);
        };
        // Read the clock only for enveloped entries: a plain hit costs what `get` does.
        let now = now_ms();
        let opts = &self.sem().opts;
        let fresh = env.is_fresh(now);
        if !env.tags.is_empty() && self.invalidated(&[(env.stored_at, &env.tags)]).await?[0] {
            return Ok(Lookup::Miss);
        }
        if env.negative {
            return Ok(if fresh {
                Lookup::Negative
            } else {
                Lookup::Miss
            });
        }
        if !fresh {
            let limit = env.fresh_until.saturating_add(opts.max_stale.map_or(0, ms));
            if opts.max_stale.is_none() || now >= limit {
                return Ok(Lookup::Miss);
            }
        }
        let due = fresh
            && env.fresh_until != 0
            && opts.refresh_ahead.is_some_and(|f| {
                let span = env.fresh_until.saturating_sub(env.stored_at) as f64;
                now >= env.stored_at.saturating_add((span * f) as u64)
            });
        Ok(match self.decode_payload(env.value) {
            Some(value) => Lookup::Value { value, fresh, due },
            None => Lookup::Miss,
        })
    }

    async fn lookup(&self, full: &str) -> Result<Lookup<T>> {
        let bytes = self.read(full).await?;
        self.resolve(bytes.as_deref()).await
    }

    /// The value under `key` with its [`Freshness`]: like [`get`](Cache::get), but an
    /// entry past its TTL and within the contract's fail-safe `max_stale` is returned as
    /// [`Freshness::Stale`] instead of a miss.
    pub async fn get_entry(&self, key: &str) -> Result<Option<CacheEntry<T>>> {
        Ok(match self.lookup(&self.key(key)).await? {
            Lookup::Value { value, fresh, .. } => Some(CacheEntry {
                value,
                freshness: if fresh {
                    Freshness::Fresh
                } else {
                    Freshness::Stale
                },
            }),
            Lookup::Miss | Lookup::Negative => None,
        })
    }

    /// Stores `value` under `key` with `tags` (`ttl: None`: the default TTL). After
    /// [`invalidate_tag`](Cache::invalidate_tag) of any of its tags, the entry reads as a
    /// miss, on every provider. A tagged entry costs one extra batched read on each read
    /// (the stamps of its tags); untagged entries cost nothing extra. Tags are 1..=255
    /// bytes without control characters, at most 255 per entry.
    ///
    /// ```
    /// # async fn demo() -> byoc_core::Result<()> {
    /// use byoc_core::{Contract, NativeMemoryProvider};
    /// use std::sync::Arc;
    ///
    /// let provider = Arc::new(NativeMemoryProvider::new(Default::default()));
    /// let products = Contract::<String>::new("products", provider).cache();
    /// products.set_with_tags("p1", &"tea".into(), &["shop:7"], None).await?;
    /// products.set_with_tags("p2", &"cake".into(), &["shop:7", "sweet"], None).await?;
    /// products.set("p3", &"salt".into(), None).await?;
    /// products.invalidate_tag("shop:7").await?;
    /// assert_eq!(products.get("p1").await?, None);
    /// assert_eq!(products.get("p2").await?, None);
    /// assert_eq!(products.get("p3").await?, Some("salt".into()));
    /// # Ok(()) }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo()).unwrap();
    /// ```
    pub async fn set_with_tags(
        &self,
        key: &str,
        value: &T,
        tags: &[&str],
        ttl: Option<Duration>,
    ) -> Result<()> {
        let ttl = self.ttl_or_default(ttl);
        let (bytes, physical) = self.encode_entry(Some(value), ttl, tags)?;
        self.provider().set(&self.key(key), &bytes, physical).await
    }

    /// Makes every entry tagged `tag` and written before now a miss, in every process
    /// sharing the backend: stores the tag's invalidation time under an internal key
    /// (`__byoc-tag:<key prefix><tag>`, no expiry), which reads of tagged entries check.
    /// Entries are not deleted; they expire as usual. Times are wall-clock milliseconds,
    /// so hosts sharing a backend should keep their clocks in sync; an entry written in
    /// the same millisecond as the invalidation counts as invalidated.
    pub async fn invalidate_tag(&self, tag: &str) -> Result<()> {
        entry::check_tags(&[tag])?;
        let stamp = now_ms().to_string();
        self.provider()
            .set(&self.tag_key(tag), stamp.as_bytes(), None)
            .await
    }

    /// The value under `key`, or the loader's if it is missing or past its TTL.
    ///
    /// - **Single-flight**: concurrent callers of one key in this process share one
    ///   load (and with [`shared_single_flight`](Contract::shared_single_flight), in
    ///   every process sharing the backend). A caller that joins a load drops its own
    ///   loader.
    /// - The loader returns a [`Loaded`] value (with an optional TTL and tags) or
    ///   [`Loaded::not_found`] (`Ok(None)` here; cached only with a
    ///   [`negative_ttl`](Contract::negative_ttl)). Its errors are not cached and come
    ///   back as [`LoadError::Loader`].
    /// - With [`fail_safe`](Contract::fail_safe), a failed load, a failed backend or a
    ///   soft timeout serves the last value up to `max_stale` past its TTL, marked
    ///   [`Freshness::Stale`]; with [`refresh_ahead`](Contract::refresh_ahead), a hit late
    ///   in its TTL reloads in the background.
    ///
    /// The loader runs in a spawned task (so a load can outlive a caller that stopped
    /// waiting): it must be `Send + 'static`, and the call needs a Tokio runtime.
    ///
    /// ```
    /// # async fn demo() -> Result<(), byoc_core::LoadError> {
    /// use byoc_core::{Contract, Loaded, NativeMemoryProvider};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// let provider = Arc::new(NativeMemoryProvider::new(Default::default()));
    /// let prices = Contract::<u32>::new("prices", provider)
    ///     .default_ttl(Duration::from_secs(60))
    ///     .fail_safe(Duration::from_secs(3600))
    ///     .cache();
    /// let entry = prices
    ///     .get_or_load("tea", || async { Ok::<_, std::io::Error>(Loaded::found(42)) })
    ///     .await?
    ///     .expect("found");
    /// assert_eq!(entry.value, 42);
    /// assert!(!entry.is_stale());
    /// // A hit does not call the loader.
    /// let again = prices
    ///     .get_or_load("tea", || async { Err::<Loaded<u32>, _>(std::io::Error::other("down")) })
    ///     .await?;
    /// assert_eq!(again.map(|e| e.value), Some(42));
    /// # Ok(()) }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo()).unwrap();
    /// ```
    pub async fn get_or_load<F, Fut, E>(
        &self,
        key: &str,
        loader: F,
    ) -> std::result::Result<Option<CacheEntry<T>>, LoadError>
    where
        T: Clone,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = std::result::Result<Loaded<T>, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let full = self.key(key);
        let fail_safe = self.sem().opts.max_stale.is_some();
        let stale = match self.lookup(&full).await {
            Ok(Lookup::Value {
                value,
                fresh: true,
                due,
            }) => {
                if due {
                    self.start_flight(&full, loader, Mode::Refresh);
                }
                return Ok(Some(CacheEntry {
                    value,
                    freshness: Freshness::Fresh,
                }));
            }
            Ok(Lookup::Negative) => return Ok(None),
            Ok(Lookup::Value { value, .. }) => Some(value),
            Ok(Lookup::Miss) => None,
            // A bad key or argument is the caller's error, not a failing backend.
            Err(e)
                if fail_safe && !matches!(e, Error::InvalidKey(_) | Error::InvalidArgument(_)) =>
            {
                tracing::debug!(cache = %self.inner.name, error = %e, "backend read failed; loading");
                self.last_good(&full).await
            }
            Err(e) => return Err(LoadError::cache(e)),
        };
        let mut rx = self.start_flight(&full, loader, Mode::Miss);
        let outcome = match (&stale, self.sem().opts.soft_timeout) {
            (Some(_), Some(soft)) => match tokio::time::timeout(soft, Self::wait(&mut rx)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(LoadError::Timeout(soft)),
            },
            _ => Self::wait(&mut rx).await,
        };
        match (outcome, stale) {
            (Ok(value), _) => Ok(value.map(|value| CacheEntry {
                value,
                freshness: Freshness::Fresh,
            })),
            (Err(_), Some(value)) => {
                bump(&self.sem().counters.stale);
                Ok(Some(CacheEntry {
                    value,
                    freshness: Freshness::Stale,
                }))
            }
            (Err(e), None) => Err(e),
        }
    }

    async fn wait(rx: &mut watch::Receiver<Option<Outcome<T>>>) -> Outcome<T>
    where
        T: Clone,
    {
        match rx.wait_for(Option::is_some).await {
            Ok(v) => v.clone().unwrap_or(Ok(None)),
            Err(_) => Err(LoadError::cache(Error::Internal(
                "the load task ended without an answer".into(),
            ))),
        }
    }

    /// The process's last loaded value of `full`, if within max-stale.
    async fn last_good(&self, full: &str) -> Option<T> {
        let bytes = lock(&self.sem().last_good).get(full).cloned()?;
        match self.resolve(Some(&bytes)).await {
            Ok(Lookup::Value { value, .. }) => Some(value),
            _ => None,
        }
    }

    fn remember(&self, full: &str, bytes: &[u8]) {
        let cap = self
            .sem()
            .opts
            .fail_safe_copies
            .unwrap_or(DEFAULT_FAIL_SAFE_COPIES);
        if self.sem().opts.max_stale.is_none() || cap == 0 {
            return;
        }
        let mut map = lock(&self.sem().last_good);
        if map.len() >= cap && !map.contains_key(full) {
            // At the bound, drop an arbitrary key: a simple bound, not an LRU.
            if let Some(k) = map.keys().next().cloned() {
                map.remove(&k);
            }
        }
        map.insert(full.to_owned(), bytes.to_vec());
    }

    /// Joins the load of `full` in flight, or starts one running `loader`.
    fn start_flight<F, Fut, E>(
        &self,
        full: &str,
        loader: F,
        mode: Mode,
    ) -> watch::Receiver<Option<Outcome<T>>>
    where
        T: Clone,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = std::result::Result<Loaded<T>, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let mut flights = lock(&self.sem().flights);
        if let Some(rx) = flights.get(full) {
            if mode == Mode::Miss {
                bump(&self.sem().counters.joins);
            }
            return rx.clone();
        }
        let (tx, rx) = watch::channel(None);
        flights.insert(full.to_owned(), rx.clone());
        drop(flights);
        let cache = self.clone();
        let full = full.to_owned();
        tokio::spawn(async move {
            let _guard = FlightGuard {
                cache: cache.clone(),
                key: full.clone(),
            };
            let outcome = cache.run_flight(&full, loader, mode).await;
            let _ = tx.send(Some(outcome));
        });
        rx
    }

    /// The body of one flight: re-check the entry, take the shared lock if configured,
    /// run the loader under the hard timeout, store the result.
    async fn run_flight<F, Fut, E>(&self, full: &str, loader: F, mode: Mode) -> Outcome<T>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = std::result::Result<Loaded<T>, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        // Another flight may have stored the value between our caller's read and now.
        if let Some(done) = self.settled(full, mode).await {
            return done;
        }
        let held = match self.acquire(full, mode).await {
            Acquired::Settled(done) => return done,
            Acquired::Lock(held) => held,
        };
        if mode == Mode::Refresh {
            bump(&self.sem().counters.refreshes);
        }
        let outcome = self.load(full, loader).await;
        if let Some(lock_key) = held {
            // Another process may hold it already if ours expired; deleting theirs only
            // lets one more process load.
            let _ = self.provider().delete(&lock_key).await;
        }
        outcome
    }

    /// The entry's value if it no longer needs this flight's load.
    async fn settled(&self, full: &str, mode: Mode) -> Option<Outcome<T>> {
        match self.lookup(full).await {
            Ok(Lookup::Value {
                value,
                fresh: true,
                due,
            }) if mode == Mode::Miss || !due => Some(Ok(Some(value))),
            Ok(Lookup::Negative) => Some(Ok(None)),
            _ => None,
        }
    }

    /// Takes the cross-process lock of `full`, or waits for another process's value.
    async fn acquire(&self, full: &str, mode: Mode) -> Acquired<T> {
        let Some(lock_ttl) = self.sem().opts.lock_ttl else {
            return Acquired::Lock(None);
        };
        if self.sem().atomics.load(Ordering::Relaxed) == ATOMICS_NO {
            return Acquired::Lock(None);
        }
        let lock_key = format!("{LOCK_PREFIX}{full}");
        let token = format!("{:016x}", random_u64());
        let deadline = tokio::time::Instant::now() + lock_ttl;
        let mut pause = Duration::from_millis(5);
        let mut counted = false;
        loop {
            match self
                .provider()
                .compare_and_swap(&lock_key, None, token.as_bytes(), Some(lock_ttl))
                .await
            {
                Ok(true) => return Acquired::Lock(Some(lock_key)),
                Ok(false) => {}
                Err(Error::Unsupported(_)) => {
                    self.sem().atomics.store(ATOMICS_NO, Ordering::Relaxed);
                    return Acquired::Lock(None);
                }
                // A lock that cannot be taken must not block the load.
                Err(_) => return Acquired::Lock(None),
            }
            if mode == Mode::Refresh {
                // Another process is refreshing this key: keep the current value.
                return Acquired::Settled(match self.lookup(full).await {
                    Ok(Lookup::Value { value, .. }) => Ok(Some(value)),
                    Ok(_) => Ok(None),
                    Err(e) => Err(LoadError::cache(e)),
                });
            }
            if !counted {
                bump(&self.sem().counters.joins);
                counted = true;
            }
            if tokio::time::Instant::now() >= deadline {
                return Acquired::Lock(None);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(50));
            if let Some(done) = self.settled(full, mode).await {
                return Acquired::Settled(done);
            }
        }
    }

    /// Runs the loader (under the hard timeout) and stores what it answers.
    async fn load<F, Fut, E>(&self, full: &str, loader: F) -> Outcome<T>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = std::result::Result<Loaded<T>, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        bump(&self.sem().counters.loads);
        let answer = match self.sem().opts.hard_timeout {
            Some(hard) => match tokio::time::timeout(hard, loader()).await {
                Ok(a) => a.map_err(|e| LoadError::Loader(Arc::from(e.into()))),
                Err(_) => Err(LoadError::Timeout(hard)),
            },
            None => loader()
                .await
                .map_err(|e| LoadError::Loader(Arc::from(e.into()))),
        };
        let loaded = match answer {
            Ok(l) => l,
            Err(e) => {
                bump(&self.sem().counters.load_errors);
                return Err(e);
            }
        };
        let ttl = match &loaded.value {
            Some(_) => self.ttl_or_default(loaded.ttl),
            None => match self.sem().opts.negative_ttl {
                Some(neg) => Some(neg),
                None => return Ok(None),
            },
        };
        let tags: Vec<&str> = loaded.tags.iter().map(String::as_str).collect();
        match self.encode_entry(loaded.value.as_ref(), ttl, &tags) {
            Ok((bytes, physical)) => {
                if loaded.value.is_some() {
                    self.remember(full, &bytes);
                }
                if let Err(e) = self.provider().set(full, &bytes, physical).await {
                    // The value is good; the cache just could not keep it.
                    tracing::warn!(cache = %self.inner.name, error = %e, "storing a loaded value failed");
                }
            }
            Err(e) => return Err(LoadError::cache(e)),
        }
        Ok(loaded.value)
    }
}

enum Acquired<T> {
    /// Go on loading, holding this lock key (`None`: no lock).
    Lock(Option<String>),
    /// Another process stored the value (or is refreshing it): this is the answer.
    Settled(Outcome<T>),
}
