//! [`SwapPoint`]: a provider that can be replaced while calls run; [`SwapProvider`]: a
//! layer over one, with warm-ups.

use crate::layer::{Answer, Call, Keys, Layer, Op};
use crate::{Item, KeyTtl, Provider, Result, Stats};
use arc_swap::ArcSwap;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Name of the stats counter of swaps done.
pub const SWAPS: &str = "swap.swaps";
/// Name of the stats counter of keys copied by warm-ups.
pub const WARMED_KEYS: &str = "swap.warmed-keys";

/// Keys read per warm-up batch.
const WARM_BATCH: usize = 256;

/// The one place a provider is replaced while calls run: [`SwapProvider`] and
/// [`Cache::swap_provider`](crate::Cache::swap_provider) both hold one.
///
/// A call [`load`](SwapPoint::load)s the provider once, when it starts, and keeps it to
/// its end; a [`swap`](SwapPoint::swap) is seen by every call that starts after it. Both
/// are lock-free (a load is an `ArcSwap` read and one reference count).
pub struct SwapPoint {
    current: ArcSwap<Arc<dyn Provider>>,
    swaps: AtomicU64,
}

impl SwapPoint {
    /// Serves `provider` until the first swap.
    pub fn new(provider: Arc<dyn Provider>) -> SwapPoint {
        SwapPoint {
            current: ArcSwap::from_pointee(provider),
            swaps: AtomicU64::new(0),
        }
    }

    /// The provider a call that starts now goes to.
    pub fn load(&self) -> Arc<dyn Provider> {
        Arc::clone(&self.current.load())
    }

    /// [`Provider::get_now`] of the provider a call that starts now goes to, without
    /// taking a reference to it: threads that call at once would otherwise all write its
    /// reference count, one cache line passed between cores on every hit.
    pub fn get_now(&self, key: &str) -> Option<Result<Option<Vec<u8>>>> {
        self.current.load().get_now(key)
    }

    /// Replaces the provider; returns the old one. Calls in flight finish on it.
    pub fn swap(&self, provider: Arc<dyn Provider>) -> Arc<dyn Provider> {
        let old = self.current.swap(Arc::new(provider));
        self.swaps.fetch_add(1, Ordering::Relaxed);
        Arc::clone(&old)
    }

    /// Swaps done so far.
    pub fn swaps(&self) -> u64 {
        self.swaps.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for SwapPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwapPoint")
            .field("current", &self.load().info().stack())
            .field("swaps", &self.swaps())
            .finish()
    }
}

/// A provider that forwards every call to a backend that can be replaced atomically.
///
/// - [`swap`](SwapProvider::swap): calls that already started finish on the old backend;
///   every call that starts afterwards goes to the new one. No call fails because of a
///   swap.
/// - [`swap_warm`](SwapProvider::swap_warm): first copies the hottest keys (with their
///   remaining TTL) from the old backend to the new one, then swaps. Hot keys are tracked
///   only when the provider is built [`with_hot_keys`](SwapProvider::with_hot_keys): a
///   sample of reads feeds a small frequency-admitted (TinyLFU) set.
///
/// A write (or delete) that races with a warm-up never leaves a stale copy behind: keys
/// written while a warm-up runs are removed from the new backend after the swap, so they
/// read as misses there until written again.
///
/// ```
/// # async fn demo() -> byoc_core::Result<()> {
/// use byoc_core::{NativeMemoryProvider, Provider, SwapProvider};
/// use std::sync::Arc;
///
/// let old: Arc<dyn Provider> = Arc::new(NativeMemoryProvider::new(Default::default()));
/// let cache = SwapProvider::new(old).with_hot_keys(1000);
/// cache.set("user:1", b"ada", None).await?;
/// assert!(cache.get("user:1").await?.is_some());
///
/// let new: Arc<dyn Provider> = Arc::new(NativeMemoryProvider::new(Default::default()));
/// let (_old, copied) = cache.swap_warm(new, 100).await?;
/// assert_eq!(copied, 1);
/// assert_eq!(cache.get("user:1").await?, Some(b"ada".to_vec())); // served by the new one
/// # Ok(()) }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo()).unwrap();
/// ```
pub struct SwapProvider {
    point: SwapPoint,
    hot: Option<HotKeys>,
    /// Set while a warm-up copies keys: writes record their keys in `dirty`.
    warming: AtomicBool,
    dirty: Mutex<Dirty>,
    warmed: AtomicU64,
}

#[derive(Default)]
struct Dirty {
    keys: HashSet<String>,
    cleared: bool,
}

impl std::fmt::Debug for SwapProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwapProvider")
            .field("current", &self.point.load().info().stack())
            .field("swaps", &self.point.swaps())
            .finish_non_exhaustive()
    }
}

/// A sampled, frequency-admitted set of recently read keys.
struct HotKeys {
    keys: moka::sync::Cache<String, ()>,
    reads: AtomicU64,
}

impl HotKeys {
    /// Records about one read in four as a hot-key candidate. The choice hashes the read
    /// counter (Fibonacci hashing), so a periodic access pattern cannot alias with it.
    fn record(&self, key: &str) {
        let n = self.reads.fetch_add(1, Ordering::Relaxed);
        if n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 62 == 0 {
            self.keys.insert(key.to_owned(), ());
        }
    }
}

impl SwapProvider {
    /// Serves `provider` until the first swap. No hot-key tracking.
    pub fn new(provider: Arc<dyn Provider>) -> SwapProvider {
        SwapProvider {
            point: SwapPoint::new(provider),
            hot: None,
            warming: AtomicBool::new(false),
            dirty: Mutex::new(Dirty::default()),
            warmed: AtomicU64::new(0),
        }
    }

    /// Tracks up to `capacity` hot keys (a sample of reads) for
    /// [`swap_warm`](SwapProvider::swap_warm). `0` turns tracking off.
    #[must_use]
    pub fn with_hot_keys(mut self, capacity: u64) -> SwapProvider {
        self.hot = (capacity > 0).then(|| HotKeys {
            keys: moka::sync::Cache::new(capacity),
            reads: AtomicU64::new(0),
        });
        self
    }

    /// The backend serving new calls.
    pub fn current(&self) -> Arc<dyn Provider> {
        self.point.load()
    }

    /// Swaps done so far.
    pub fn swaps(&self) -> u64 {
        self.point.swaps()
    }

    /// Replaces the backend; returns the old one. Calls in flight finish on the old
    /// backend; new calls go to `provider`.
    pub fn swap(&self, provider: Arc<dyn Provider>) -> Arc<dyn Provider> {
        self.point.swap(provider)
    }

    /// The hot keys tracked now (at most the capacity given to
    /// [`with_hot_keys`](SwapProvider::with_hot_keys)); empty without tracking.
    pub fn hot_keys(&self) -> Vec<String> {
        match &self.hot {
            Some(hot) => {
                hot.keys.run_pending_tasks();
                hot.keys.iter().map(|(k, ())| (*k).clone()).collect()
            }
            None => Vec::new(),
        }
    }

    /// Copies up to `limit` hot keys from the current backend into `provider` (values and
    /// remaining TTLs), then swaps it in. Returns the old backend and the number of keys
    /// copied. If the copy fails, nothing is swapped and the error is returned: the old
    /// backend keeps serving.
    pub async fn swap_warm(
        &self,
        provider: Arc<dyn Provider>,
        limit: usize,
    ) -> Result<(Arc<dyn Provider>, u64)> {
        let old = self.current();
        let mut keys = self.hot_keys();
        keys.truncate(limit);
        if let Ok(mut dirty) = self.dirty.lock() {
            *dirty = Dirty::default();
        }
        self.warming.store(true, Ordering::SeqCst);
        let copied = copy_keys(old.as_ref(), provider.as_ref(), &keys).await;
        let replaced = match copied {
            Ok(_) => Some(self.swap(Arc::clone(&provider))),
            Err(_) => None,
        };
        self.warming.store(false, Ordering::SeqCst);
        let dirty = self
            .dirty
            .lock()
            .map(|mut d| std::mem::take(&mut *d))
            .unwrap_or_default();
        let copied = copied?;
        // Keys written during the copy may hold stale copies in the new backend.
        if dirty.cleared {
            provider.clear().await?;
        } else if !dirty.keys.is_empty() {
            let keys: Vec<String> = dirty.keys.into_iter().collect();
            provider.delete_multi(&keys).await?;
        }
        self.warmed.fetch_add(copied, Ordering::Relaxed);
        Ok((replaced.unwrap_or(old), copied))
    }

    /// While a warm-up runs, records the keys a write touches (before and after it):
    /// they may hold stale copies in the new backend.
    fn mark_dirty(&self, call: Call<'_>) {
        if self.warming.load(Ordering::SeqCst)
            && let Ok(mut dirty) = self.dirty.lock()
        {
            match call.keys() {
                Keys::All => dirty.cleared = true,
                keys => dirty.keys.extend(keys.iter().map(str::to_owned)),
            }
        }
    }
}

/// Copies `keys` from `from` to `to` with their remaining TTLs; returns how many were
/// copied (keys missing in `from` are skipped).
async fn copy_keys(from: &dyn Provider, to: &dyn Provider, keys: &[String]) -> Result<u64> {
    let mut copied = 0;
    for batch in keys.chunks(WARM_BATCH) {
        let values = from.get_multi(batch).await?;
        let mut items = Vec::with_capacity(batch.len());
        for (key, value) in batch.iter().zip(values) {
            let Some(value) = value else { continue };
            let ttl = match from.ttl(key).await? {
                KeyTtl::Missing => continue,
                KeyTtl::Persistent => None,
                KeyTtl::ExpiresIn(d) => Some(d),
            };
            items.push(Item {
                key: key.clone(),
                value,
                ttl,
            });
        }
        copied += items.len() as u64;
        to.set_multi(&items).await?;
    }
    Ok(copied)
}

impl Layer for SwapProvider {
    type Below<'a> = Arc<dyn Provider>;

    fn below(&self) -> Arc<dyn Provider> {
        self.point.load()
    }

    async fn before(&self, call: Call<'_>) -> Result<()> {
        match call.op() {
            Op::Get | Op::GetMulti => {
                if let Some(hot) = &self.hot {
                    call.keys().iter().for_each(|key| hot.record(key));
                }
            }
            op if op.is_write() => self.mark_dirty(call),
            _ => {}
        }
        Ok(())
    }

    async fn after<T: Answer>(&self, call: Call<'_>, _answer: &Result<T>) {
        if call.op().is_write() {
            self.mark_dirty(call);
        }
    }

    async fn stats(&self) -> Result<Stats> {
        let mut stats = self.below().stats().await?;
        stats.extra.push((SWAPS.into(), self.swaps()));
        stats
            .extra
            .push((WARMED_KEYS.into(), self.warmed.load(Ordering::Relaxed)));
        Ok(stats)
    }
}
