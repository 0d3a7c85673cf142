//! An in-process provider on moka: the fast baseline, no sandbox.

use crate::provider::{expire_ttl_ms, set_ttl_ms};
use crate::{Capability, Error, Item, KeyTtl, Provider, ProviderInfo, Result, ScanPage, Stats};
use async_trait::async_trait;
use byoc_common::{CONTRACT_VERSION, ScanCursor, validate_key, validate_pattern};
use moka::Expiry;
use moka::ops::compute::Op;
use moka::sync::Cache;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Default [`NativeMemoryConfig::max_bytes`]: 64 MiB.
pub const DEFAULT_NATIVE_MAX_BYTES: u64 = 64 << 20;

/// Configuration of a [`NativeMemoryProvider`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct NativeMemoryConfig {
    /// Bound on the bytes of keys and values (default [`DEFAULT_NATIVE_MAX_BYTES`]).
    /// moka's TinyLFU admission decides what to keep when it is reached.
    pub max_bytes: u64,
}

impl Default for NativeMemoryConfig {
    fn default() -> Self {
        NativeMemoryConfig {
            max_bytes: DEFAULT_NATIVE_MAX_BYTES,
        }
    }
}

#[derive(Debug)]
struct Entry {
    value: Vec<u8>,
    expires_at: Option<Instant>,
}

impl Entry {
    fn is_live(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }
}

/// A stored counter: decimal ASCII of a signed 64-bit integer.
fn parse_integer(value: &[u8]) -> Result<i64> {
    // Redis' notation only: no sign `+`, no leading zeros, no spaces (`i64::from_str`
    // takes `+1` and `01`, which Redis refuses), so the canonical text round-trips.
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.parse::<i64>().ok().filter(|n| n.to_string() == s))
        .ok_or_else(|| Error::InvalidArgument("the value is not a 64-bit integer".into()))
}

/// Tells moka each entry's own expiry.
struct PerEntryExpiry;

impl Expiry<String, Arc<Entry>> for PerEntryExpiry {
    fn expire_after_create(
        &self,
        _: &String,
        entry: &Arc<Entry>,
        now: Instant,
    ) -> Option<Duration> {
        entry.expires_at.map(|at| at.saturating_duration_since(now))
    }

    fn expire_after_update(
        &self,
        _: &String,
        entry: &Arc<Entry>,
        now: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        entry.expires_at.map(|at| at.saturating_duration_since(now))
    }
}

/// A provider backed by a `moka::sync::Cache` in the host process (the design's
/// "ristretto" role): no sandbox, no copy across a wasm boundary. Registered as
/// `native-memory`. Cheap to clone; clones share the cache.
///
/// `scan` collects and sorts the keys on every page (O(n log n) a page).
///
/// ```
/// # tokio_test_block_on(async {
/// use byoc_core::{NativeMemoryProvider, Provider};
///
/// let provider = NativeMemoryProvider::new(Default::default());
/// provider.set("k", b"v", None).await?;
/// assert_eq!(provider.get("k").await?, Some(b"v".to_vec()));
/// # Ok::<(), byoc_core::Error>(())
/// # }).unwrap();
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Clone)]
pub struct NativeMemoryProvider {
    /// Keys hashed with foldhash (randomly seeded), as in the near cache's L1: moka's
    /// default SipHash made a short key's hit measurably slower.
    cache: Cache<String, Arc<Entry>, foldhash::fast::RandomState>,
    max_bytes: u64,
    counters: Arc<Counters>,
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for NativeMemoryProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeMemoryProvider")
            .field("entries", &self.cache.entry_count())
            .finish_non_exhaustive()
    }
}

fn checked(key: &str) -> Result<()> {
    Ok(validate_key(key)?)
}

impl NativeMemoryProvider {
    /// A provider bounded by `config.max_bytes`.
    pub fn new(config: NativeMemoryConfig) -> Self {
        let cache = Cache::builder()
            .max_capacity(config.max_bytes)
            .weigher(|k: &String, e: &Arc<Entry>| {
                u32::try_from(k.len() + e.value.len()).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryExpiry)
            .build_with_hasher(foldhash::fast::RandomState::default());
        NativeMemoryProvider {
            cache,
            max_bytes: config.max_bytes,
            counters: Arc::default(),
        }
    }

    fn live(&self, key: &str) -> Option<Arc<Entry>> {
        self.cache.get(key).filter(|e| e.is_live(Instant::now()))
    }

    fn read(&self, key: &str) -> Option<Vec<u8>> {
        let value = self.live(key).map(|e| e.value.clone());
        let counter = if value.is_some() {
            &self.counters.hits
        } else {
            &self.counters.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        value
    }

    fn fits(&self, key: &str, value: &[u8]) -> Result<()> {
        let size = (key.len() + value.len()) as u64;
        if size > self.max_bytes.min(u64::from(u32::MAX)) {
            return Err(Error::ValueTooLarge(format!(
                "entry of {size} bytes exceeds max-bytes of {}",
                self.max_bytes
            )));
        }
        Ok(())
    }

    fn store(&self, key: &str, value: &[u8], ttl_ms: Option<u64>) {
        let expires_at = ttl_ms.map(|ms| Instant::now() + Duration::from_millis(ms));
        self.cache.insert(
            key.to_owned(),
            Arc::new(Entry {
                value: value.to_vec(),
                expires_at,
            }),
        );
    }
}

#[async_trait]
impl Provider for NativeMemoryProvider {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        checked(key)?;
        Ok(self.read(key))
    }

    fn get_now(&self, key: &str) -> Option<Result<Option<Vec<u8>>>> {
        Some(checked(key).map(|()| self.read(key)))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        checked(key)?;
        let ttl = set_ttl_ms(ttl)?;
        self.fits(key, value)?;
        self.store(key, value, ttl);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        checked(key)?;
        Ok(self
            .cache
            .remove(key)
            .is_some_and(|e| e.is_live(Instant::now())))
    }

    async fn exists(&self, key: &str) -> Result<bool> {
        checked(key)?;
        let hit = self.live(key).is_some();
        let counter = if hit {
            &self.counters.hits
        } else {
            &self.counters.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(hit)
    }

    async fn get_multi(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        keys.iter().try_for_each(|k| checked(k))?;
        Ok(keys.iter().map(|k| self.read(k)).collect())
    }

    async fn set_multi(&self, items: &[Item]) -> Result<()> {
        let ttls = items
            .iter()
            .map(|item| {
                checked(&item.key)?;
                self.fits(&item.key, &item.value)?;
                set_ttl_ms(item.ttl)
            })
            .collect::<Result<Vec<_>>>()?;
        for (item, ttl) in items.iter().zip(ttls) {
            self.store(&item.key, &item.value, ttl);
        }
        Ok(())
    }

    async fn delete_multi(&self, keys: &[String]) -> Result<u64> {
        keys.iter().try_for_each(|k| checked(k))?;
        let now = Instant::now();
        Ok(keys
            .iter()
            .filter(|k| {
                self.cache
                    .remove(k.as_str())
                    .is_some_and(|e| e.is_live(now))
            })
            .count() as u64)
    }

    async fn scan(&self, pattern: &str, cursor: Option<&str>, count: u32) -> Result<ScanPage> {
        validate_pattern(pattern).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let after = match cursor {
            None => None,
            Some(c) => Some(
                ScanCursor::parse(c)
                    .ok_or_else(|| Error::InvalidArgument(format!("unknown scan cursor `{c}`")))?
                    .after,
            ),
        };
        let now = Instant::now();
        let mut keys: Vec<Arc<String>> = self
            .cache
            .iter()
            .filter(|(k, e)| e.is_live(now) && after.as_deref().is_none_or(|a| k.as_str() > a))
            .map(|(k, _)| k)
            .collect();
        keys.sort_unstable();
        let page = ScanCursor::page(keys.iter().map(|k| k.as_str()), pattern, count, |_| true);
        Ok(ScanPage {
            keys: page.keys,
            cursor: page.cursor.map(|c| c.encode()),
        })
    }

    async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        checked(key)?;
        let now = Instant::now();
        Ok(match self.cache.get(key).filter(|e| e.is_live(now)) {
            None => KeyTtl::Missing,
            Some(e) => match e.expires_at {
                None => KeyTtl::Persistent,
                Some(at) => KeyTtl::ExpiresIn(
                    at.saturating_duration_since(now)
                        .max(Duration::from_millis(1)),
                ),
            },
        })
    }

    async fn expire(&self, key: &str, ttl: Option<Duration>) -> Result<bool> {
        checked(key)?;
        let ttl = expire_ttl_ms(ttl);
        let mut existed = false;
        self.cache
            .entry(key.to_owned())
            .and_compute_with(|current| match current {
                Some(entry) if entry.value().is_live(Instant::now()) => {
                    existed = true;
                    match ttl {
                        Some(0) => Op::Remove,
                        ttl => Op::Put(Arc::new(Entry {
                            value: entry.value().value.clone(),
                            expires_at: ttl.map(|ms| Instant::now() + Duration::from_millis(ms)),
                        })),
                    }
                }
                _ => Op::Nop,
            });
        Ok(existed)
    }

    async fn clear(&self) -> Result<()> {
        self.cache.invalidate_all();
        self.cache.run_pending_tasks();
        Ok(())
    }

    async fn stats(&self) -> Result<Stats> {
        self.cache.run_pending_tasks();
        Ok(Stats {
            hits: self.counters.hits.load(Ordering::Relaxed),
            misses: self.counters.misses.load(Ordering::Relaxed),
            keys: self.cache.entry_count(),
            bytes: self.cache.weighted_size(),
            ..Stats::default()
        })
    }

    async fn ping(&self) -> Result<()> {
        Ok(())
    }

    async fn increment(&self, key: &str, delta: i64, ttl: Option<Duration>) -> Result<i64> {
        checked(key)?;
        let ttl = set_ttl_ms(ttl)?;
        let mut answer: Result<i64> = Err(Error::Internal("increment did not run".into()));
        // `and_compute_with` holds the entry's lock for the closure: read, add and write
        // are one step for every other caller of this key.
        self.cache
            .entry(key.to_owned())
            .and_compute_with(|current| {
                let now = Instant::now();
                let live = current.filter(|e| e.value().is_live(now));
                let (old, expires_at) = match &live {
                    Some(e) => (parse_integer(&e.value().value), e.value().expires_at),
                    None => (Ok(0), ttl.map(|ms| now + Duration::from_millis(ms))),
                };
                let new = old.and_then(|old| {
                    old.checked_add(delta).ok_or_else(|| {
                        Error::InvalidArgument(format!("increment of {old} by {delta} overflows"))
                    })
                });
                match new {
                    Ok(n) => {
                        answer = Ok(n);
                        Op::Put(Arc::new(Entry {
                            value: n.to_string().into_bytes(),
                            expires_at,
                        }))
                    }
                    Err(e) => {
                        answer = Err(e);
                        Op::Nop
                    }
                }
            });
        answer
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool> {
        checked(key)?;
        let ttl = set_ttl_ms(ttl)?;
        self.fits(key, new)?;
        let mut stored = false;
        // As in `increment`: the comparison and the write happen under the entry's lock.
        self.cache
            .entry(key.to_owned())
            .and_compute_with(|current| {
                let now = Instant::now();
                let live = current
                    .as_ref()
                    .map(|e| e.value())
                    .filter(|e| e.is_live(now));
                if live.map(|e| e.value.as_slice()) != expected {
                    return Op::Nop;
                }
                stored = true;
                Op::Put(Arc::new(Entry {
                    value: new.to_vec(),
                    expires_at: ttl.map(|ms| now + Duration::from_millis(ms)),
                }))
            });
        Ok(stored)
    }

    fn info(&self) -> ProviderInfo {
        ProviderInfo {
            name: "native-memory".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            contract: CONTRACT_VERSION.into(),
            native: Capability::ALL.to_vec(),
            layers: Vec::new(),
        }
    }
}
