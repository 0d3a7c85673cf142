//! [`Caches`]: the live caches a [`ConfigFile`] describes, with hot swap and hot reload.

use crate::NearInvalidator;
use crate::config_file::{CacheConfig, ConfigFile, NearInvalidation, SerializerKind};
use crate::instrument::{Instrumented, RELOADS, SWAPS};
use crate::redis::RedisInvalidation;
use crate::swap::SwapProvider;
use crate::{Cache, Contract, Error, Json, Postcard, Provider, Registry, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// Default interval of [`Caches::watch`].
pub const DEFAULT_WATCH_INTERVAL: Duration = Duration::from_secs(2);

/// The caches of a configuration file, built and running.
///
/// Each cache is `Instrumented(SwapProvider(stack))` — `Instrumented(NearCache(
/// SwapProvider(stack)))` with a `near:` section: calls are traced and counted (see
/// [`crate::instrument`]), and the stack below can be replaced while calls run —
/// by [`swap`](Caches::swap) (any provider), by [`rebuild`](Caches::rebuild) (the
/// stack again from configuration) or by hot reload of component files
/// ([`reload_changed`](Caches::reload_changed), or [`watch`](Caches::watch) to poll).
/// A swap copies the cache's `warm-up` hottest keys into the new stack first.
///
/// Cheap to clone; clones share the caches.
///
/// ```
/// # async fn demo() -> byoc::Result<()> {
/// use byoc::{Caches, ConfigFile, Registry};
///
/// let file = ConfigFile::parse(r#"
/// caches:
///   - name: sessions
///     provider: memory
///     key-prefix: "session:"
///     default-ttl: 30m
/// "#, "inline")?;
/// let caches = Caches::open(&file, Registry::new()?).await?;
/// let sessions = caches.cache::<String>("sessions")?;
/// sessions.set("abc", &"ada".to_string(), None).await?;
/// assert_eq!(sessions.get("abc").await?, Some("ada".to_string()));
/// assert!(caches.cache::<String>("nope").is_err());
/// # Ok(()) }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo()).unwrap();
/// ```
#[derive(Clone)]
pub struct Caches {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    entries: BTreeMap<String, Entry>,
}

struct Entry {
    config: CacheConfig,
    swap: Arc<SwapProvider>,
    top: Arc<dyn Provider>,
    files: Mutex<Vec<FileStamp>>,
    reloads: AtomicU64,
    rejected: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// Server-assisted invalidation of the near cache, while the cache lives.
    _invalidation: Option<RedisInvalidation>,
    /// The near cache's L1, emptied when another provider is swapped in.
    near: Option<NearInvalidator>,
}

impl std::fmt::Debug for Caches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caches")
            .field("names", &self.names())
            .finish_non_exhaustive()
    }
}

/// What a component file looked like when last checked.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    path: PathBuf,
    len: u64,
    modified: Option<SystemTime>,
    sha256: String,
}

impl FileStamp {
    fn read(path: &PathBuf) -> Option<FileStamp> {
        let meta = std::fs::metadata(path).ok()?;
        let bytes = std::fs::read(path).ok()?;
        Some(FileStamp {
            path: path.clone(),
            len: meta.len(),
            modified: meta.modified().ok(),
            sha256: crate::wasm::sha256_hex(&bytes),
        })
    }

    /// Whether the file's size or modification time differ from this stamp.
    fn looks_changed(&self) -> bool {
        match std::fs::metadata(&self.path) {
            Ok(meta) => meta.len() != self.len || meta.modified().ok() != self.modified,
            Err(_) => false,
        }
    }
}

/// What happened to one cache in [`Caches::reload_changed`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReloadOutcome {
    /// A changed component was loaded and swapped in; `warmed` hot keys were copied.
    Reloaded {
        /// The cache.
        cache: String,
        /// Hot keys copied into the new version.
        warmed: u64,
    },
    /// A changed component was refused (it did not compile, link, pass its checks or
    /// initialise); the old version keeps serving.
    Rejected {
        /// The cache.
        cache: String,
        /// Why.
        reason: String,
    },
}

/// Counters of one cache's swaps and reloads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SwapStats {
    /// Swaps done (including reloads).
    pub swaps: u64,
    /// Component reloads done.
    pub reloads: u64,
    /// Component versions refused.
    pub rejected: u64,
    /// The last refusal's reason.
    pub last_error: Option<String>,
}

impl Caches {
    /// Builds every cache of `file` with `registry`. Any cache failing to build fails
    /// the whole call with an [`Error::Config`] naming it.
    pub async fn open(file: &ConfigFile, registry: Registry) -> Result<Caches> {
        let mut entries = BTreeMap::new();
        for cache in &file.caches {
            let named = |e: Error| Error::Config {
                origin: file.origin.clone(),
                cache: Some(cache.name.clone()),
                field: None,
                line: None,
                message: e.to_string(),
            };
            let stack = registry
                .build(&cache.stack.stack_spec())
                .await
                .map_err(named)?;
            let swap =
                Arc::new(SwapProvider::new(stack).with_hot_keys(u64::from(cache.warm_up) * 2));
            let (below, invalidation, l1): (Arc<dyn Provider>, _, _) = match &cache.near {
                Some(near) => {
                    let near_cache = near.build(Arc::clone(&swap) as Arc<dyn Provider>);
                    let l1 = near_cache.invalidator();
                    let invalidation = match near.invalidation {
                        Some(NearInvalidation::Redis) => {
                            let grant = crate::redis::grant_from_config(&cache.stack.config)
                                .map_err(named)?;
                            let started =
                                RedisInvalidation::start(&grant, near_cache.invalidator()).await;
                            Some(started.map_err(named)?)
                        }
                        None => None,
                    };
                    (Arc::new(near_cache), invalidation, Some(l1))
                }
                None => (Arc::clone(&swap) as Arc<dyn Provider>, None, None),
            };
            let top: Arc<dyn Provider> = Arc::new(Instrumented::new(&cache.name, below));
            let files = cache
                .stack
                .component_paths()
                .iter()
                .filter_map(FileStamp::read)
                .collect();
            entries.insert(
                cache.name.clone(),
                Entry {
                    config: cache.clone(),
                    swap,
                    top,
                    files: Mutex::new(files),
                    reloads: AtomicU64::new(0),
                    rejected: AtomicU64::new(0),
                    last_error: Mutex::new(None),
                    _invalidation: invalidation,
                    near: l1,
                },
            );
        }
        Ok(Caches {
            inner: Arc::new(Inner { registry, entries }),
        })
    }

    /// The caches' names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.inner.entries.keys().map(String::as_str).collect()
    }

    fn entry(&self, name: &str) -> Result<&Entry> {
        self.inner.entries.get(name).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "no cache named `{name}` (configured: {})",
                self.names().join(", ")
            ))
        })
    }

    /// The configuration of cache `name`.
    pub fn config(&self, name: &str) -> Result<&CacheConfig> {
        Ok(&self.entry(name)?.config)
    }

    /// The provider of cache `name` (instrumented, swappable): raw bytes, no key prefix.
    pub fn provider(&self, name: &str) -> Result<Arc<dyn Provider>> {
        Ok(Arc::clone(&self.entry(name)?.top))
    }

    /// A typed cache over cache `name`, with its key prefix, default TTL and serializer.
    pub fn cache<T>(&self, name: &str) -> Result<Cache<T>>
    where
        T: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        let entry = self.entry(name)?;
        let config = &entry.config;
        let mut contract =
            Contract::<T>::new(name, Arc::clone(&entry.top)).key_prefix(config.key_prefix.clone());
        if let Some(ttl) = config.default_ttl {
            contract = contract.default_ttl(ttl);
        }
        contract = match config.serializer {
            SerializerKind::Postcard => contract.serializer(Postcard),
            SerializerKind::Json => contract.serializer(Json),
        };
        contract = config.semantics.apply(contract);
        Ok(contract.cache())
    }

    /// Replaces the stack of cache `name` with `provider`, after copying the cache's
    /// `warm-up` hottest keys into it. Calls in flight finish on the old stack. Returns
    /// the old stack. If the warm-up copy fails, nothing is swapped.
    ///
    /// A near cache (`near:`) is emptied once the new stack serves: `provider` may hold
    /// other data, and the L1 must not answer for the old one. Server-assisted
    /// invalidation (`near: { invalidation: redis }`) stays on the configured Redis
    /// server; for a provider on another server, the L1 is bounded by `max-staleness`.
    pub async fn swap(&self, name: &str, provider: Arc<dyn Provider>) -> Result<Arc<dyn Provider>> {
        let entry = self.entry(name)?;
        let (old, _) = entry
            .swap
            .swap_warm(provider, entry.config.warm_up as usize)
            .await?;
        if let Some(l1) = &entry.near {
            l1.invalidate_all();
        }
        metrics::counter!(SWAPS, "cache" => name.to_owned()).increment(1);
        Ok(old)
    }

    /// Builds cache `name`'s stack again from its configuration (re-reading component
    /// files) and swaps it in; returns the number of hot keys copied. A failure leaves
    /// the running stack in place.
    pub async fn rebuild(&self, name: &str) -> Result<u64> {
        let entry = self.entry(name)?;
        let stack = self
            .inner
            .registry
            .build(&entry.config.stack.stack_spec())
            .await?;
        let (_, warmed) = entry
            .swap
            .swap_warm(stack, entry.config.warm_up as usize)
            .await?;
        metrics::counter!(SWAPS, "cache" => name.to_owned()).increment(1);
        Ok(warmed)
    }

    /// Swap and reload counters of cache `name`.
    pub fn swap_stats(&self, name: &str) -> Result<SwapStats> {
        let entry = self.entry(name)?;
        Ok(SwapStats {
            swaps: entry.swap.swaps(),
            reloads: entry.reloads.load(Ordering::Relaxed),
            rejected: entry.rejected.load(Ordering::Relaxed),
            last_error: entry.last_error.lock().ok().and_then(|e| e.clone()),
        })
    }

    /// Checks the component files of every cache with `reload: true`; for each cache
    /// whose files changed (size or modification time, then content hash), builds the
    /// new stack and swaps it in. A version that fails is refused and the running one
    /// keeps serving; it is not retried until the file changes again.
    pub async fn reload_changed(&self) -> Vec<ReloadOutcome> {
        let mut outcomes = Vec::new();
        for (name, entry) in &self.inner.entries {
            if !entry.config.reload {
                continue;
            }
            let fresh: Vec<FileStamp> = {
                let Ok(files) = entry.files.lock() else {
                    continue;
                };
                if !files.iter().any(FileStamp::looks_changed) {
                    continue;
                }
                files
                    .iter()
                    .filter_map(|f| FileStamp::read(&f.path))
                    .collect()
            };
            let same_content = entry.files.lock().is_ok_and(|old| {
                old.len() == fresh.len()
                    && old.iter().zip(&fresh).all(|(a, b)| a.sha256 == b.sha256)
            });
            if let Ok(mut files) = entry.files.lock() {
                *files = fresh;
            }
            if same_content {
                continue;
            }
            match self.rebuild(name).await {
                Ok(warmed) => {
                    entry.reloads.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!(RELOADS, "cache" => name.clone(), "outcome" => "ok")
                        .increment(1);
                    tracing::info!(cache = %name, warmed, "component reloaded");
                    outcomes.push(ReloadOutcome::Reloaded {
                        cache: name.clone(),
                        warmed,
                    });
                }
                Err(e) => {
                    entry.rejected.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!(RELOADS, "cache" => name.clone(), "outcome" => "rejected")
                        .increment(1);
                    let reason = e.to_string();
                    tracing::warn!(cache = %name, error = %reason, "component reload refused; the running version keeps serving");
                    if let Ok(mut last) = entry.last_error.lock() {
                        *last = Some(reason.clone());
                    }
                    outcomes.push(ReloadOutcome::Rejected {
                        cache: name.clone(),
                        reason,
                    });
                }
            }
        }
        outcomes
    }

    /// Polls [`reload_changed`](Caches::reload_changed) every `interval` on the current
    /// tokio runtime until the returned handle is dropped.
    pub fn watch(&self, interval: Duration) -> WatchHandle {
        let caches = self.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                caches.reload_changed().await;
            }
        });
        WatchHandle { task }
    }
}

/// Stops the watcher of [`Caches::watch`] when dropped.
#[derive(Debug)]
#[must_use = "the watcher stops when the handle is dropped"]
pub struct WatchHandle {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}
