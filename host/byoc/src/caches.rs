//! [`Caches`]: the live caches a [`ConfigFile`] describes, with hot swap, hot reload of
//! component files and reload of the configuration file itself.

use crate::NearInvalidator;
use crate::config_file::{CacheConfig, ConfigFile, NearInvalidation, SerializerKind};
use crate::instrument::{CONFIG_RELOADS, Instrumented, RELOADS, STATS, SWAPS};
use crate::redis::RedisInvalidation;
use crate::swap::SwapProvider;
use crate::{Cache, Contract, Error, Json, Postcard, Provider, Registry, Result};
use arc_swap::ArcSwap;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
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
/// Opened from a file ([`load`](Caches::load)), the set follows the file too:
/// [`reload_config`](Caches::reload_config) (and [`watch`](Caches::watch)) builds the
/// caches added or changed and swaps the whole set at once; a file that fails its checks,
/// or a cache that fails to build, is refused whole and the running set keeps serving.
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
    /// The file the set was loaded from, and the one cache kept of it, if any.
    source: Option<Source>,
    entries: ArcSwap<BTreeMap<String, Arc<Entry>>>,
    /// Held while the configuration file is reloaded: one reload at a time.
    reloading: tokio::sync::Mutex<FileState>,
    config_reloads: AtomicU64,
    config_rejected: AtomicU64,
    config_last_error: Mutex<Option<String>>,
}

struct Source {
    path: PathBuf,
    only: Option<String>,
}

/// The configuration file as last read.
struct FileState {
    sha256: Option<String>,
}

/// One cache: its configuration and the running cache, which a change of the stack
/// alone keeps (the stack is swapped inside it).
struct Entry {
    config: CacheConfig,
    body: Arc<Body>,
}

struct Body {
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

/// What [`Caches::reload_config`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigChanges {
    /// Caches new in the file, built and serving.
    pub added: Vec<String>,
    /// Caches no longer in the file, no longer listed (handles taken before keep working
    /// until dropped).
    pub removed: Vec<String>,
    /// Caches whose stack alone changed: the new stack was swapped in under the running
    /// cache (handles taken before follow it).
    pub restacked: Vec<String>,
    /// Caches whose other settings changed (key prefix, serializer, near cache...):
    /// replaced by a new cache (handles taken before keep the old one).
    pub replaced: Vec<String>,
}

impl ConfigChanges {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.restacked.is_empty()
            && self.replaced.is_empty()
    }
}

/// Counters of configuration file reloads ([`Caches::config_stats`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigStats {
    /// Versions of the file applied (including those that changed nothing).
    pub reloads: u64,
    /// Versions refused (invalid file, or a cache that failed to build).
    pub rejected: u64,
    /// The last refusal's reason (secrets shown as `***`); cleared by a version applied.
    pub last_error: Option<String>,
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
        Caches::open_from(file, registry, None).await
    }

    /// Reads the file at `path` and builds every cache of it, like
    /// [`open`](Caches::open); the set then follows the file:
    /// [`reload_config`](Caches::reload_config), or [`watch`](Caches::watch) to poll.
    pub async fn load(path: impl AsRef<Path>, registry: Registry) -> Result<Caches> {
        Caches::load_from(path.as_ref(), registry, None).await
    }

    /// Like [`load`](Caches::load), keeping only cache `name` of the file (what
    /// `byoc serve --cache` serves); the file must name it in every version.
    pub async fn load_one(
        path: impl AsRef<Path>,
        registry: Registry,
        name: &str,
    ) -> Result<Caches> {
        Caches::load_from(path.as_ref(), registry, Some(name.to_owned())).await
    }

    async fn load_from(path: &Path, registry: Registry, only: Option<String>) -> Result<Caches> {
        let bytes = read_config(path)?;
        let file = select(ConfigFile::load(path)?, only.as_deref())?;
        let caches = Caches::open_from(
            &file,
            registry,
            Some(Source {
                path: path.to_owned(),
                only,
            }),
        )
        .await?;
        caches.inner.reloading.lock().await.sha256 = Some(crate::wasm::sha256_hex(&bytes));
        Ok(caches)
    }

    async fn open_from(
        file: &ConfigFile,
        registry: Registry,
        source: Option<Source>,
    ) -> Result<Caches> {
        let mut entries = BTreeMap::new();
        for cache in &file.caches {
            let body = build_body(&registry, &file.origin, cache).await?;
            entries.insert(
                cache.name.clone(),
                Arc::new(Entry {
                    config: cache.clone(),
                    body: Arc::new(body),
                }),
            );
        }
        Ok(Caches {
            inner: Arc::new(Inner {
                registry,
                source,
                entries: ArcSwap::from_pointee(entries),
                reloading: tokio::sync::Mutex::new(FileState { sha256: None }),
                config_reloads: AtomicU64::new(0),
                config_rejected: AtomicU64::new(0),
                config_last_error: Mutex::new(None),
            }),
        })
    }

    /// The caches' names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.inner.entries.load().keys().cloned().collect()
    }

    fn entry(&self, name: &str) -> Result<Arc<Entry>> {
        let entries = self.inner.entries.load();
        entries.get(name).cloned().ok_or_else(|| {
            let names: Vec<&str> = entries.keys().map(String::as_str).collect();
            Error::InvalidArgument(format!(
                "no cache named `{name}` (configured: {})",
                names.join(", ")
            ))
        })
    }

    /// The configuration of cache `name` (as of the last configuration applied).
    pub fn config(&self, name: &str) -> Result<CacheConfig> {
        Ok(self.entry(name)?.config.clone())
    }

    /// The provider of cache `name` (instrumented, swappable): raw bytes, no key prefix.
    pub fn provider(&self, name: &str) -> Result<Arc<dyn Provider>> {
        Ok(Arc::clone(&self.entry(name)?.body.top))
    }

    /// A typed cache over cache `name`, with its key prefix, default TTL and serializer.
    pub fn cache<T>(&self, name: &str) -> Result<Cache<T>>
    where
        T: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        let entry = self.entry(name)?;
        let config = &entry.config;
        let mut contract = Contract::<T>::new(name, Arc::clone(&entry.body.top))
            .key_prefix(config.key_prefix.clone());
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
            .body
            .swap
            .swap_warm(provider, entry.config.warm_up as usize)
            .await?;
        if let Some(l1) = &entry.body.near {
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
            .body
            .swap
            .swap_warm(stack, entry.config.warm_up as usize)
            .await?;
        metrics::counter!(SWAPS, "cache" => name.to_owned()).increment(1);
        Ok(warmed)
    }

    /// Swap and reload counters of cache `name`.
    pub fn swap_stats(&self, name: &str) -> Result<SwapStats> {
        let body = &self.entry(name)?.body;
        Ok(SwapStats {
            swaps: body.swap.swaps(),
            reloads: body.reloads.load(Ordering::Relaxed),
            rejected: body.rejected.load(Ordering::Relaxed),
            last_error: body.last_error.lock().ok().and_then(|e| e.clone()),
        })
    }

    /// Sets the [`STATS`] gauges of every cache from its [`stats`](Provider::stats)
    /// (keys, bytes, evictions, expirations, and the provider's extras such as a wasm
    /// adapter's traps and instantiations), for a metrics exporter to publish. A cache
    /// whose stats fail is skipped (the failure is counted as a call error).
    pub async fn record_stats(&self) {
        let entries = self.inner.entries.load_full();
        for (name, entry) in entries.iter() {
            let Ok(stats) = entry.body.top.stats().await else {
                continue;
            };
            let fixed = [
                ("keys", stats.keys),
                ("bytes", stats.bytes),
                ("evictions", stats.evictions),
                ("expirations", stats.expirations),
            ];
            let extra = stats.extra.iter().map(|(k, v)| (k.as_str(), *v));
            for (stat, value) in fixed.into_iter().chain(extra) {
                metrics::gauge!(STATS, "cache" => name.clone(), "stat" => stat.to_owned())
                    .set(value as f64);
            }
        }
    }

    /// Counters of configuration file reloads.
    pub fn config_stats(&self) -> ConfigStats {
        ConfigStats {
            reloads: self.inner.config_reloads.load(Ordering::Relaxed),
            rejected: self.inner.config_rejected.load(Ordering::Relaxed),
            last_error: self
                .inner
                .config_last_error
                .lock()
                .ok()
                .and_then(|e| e.clone()),
        }
    }

    /// Reads the configuration file again (a set opened with [`load`](Caches::load));
    /// when its content changed, builds every cache added or changed, then switches the
    /// whole set at once. A cache whose stack alone changed keeps running with the new
    /// stack swapped in (after its `warm-up` hot keys are copied); one whose other
    /// settings changed is replaced. A file that fails its checks, or any cache that
    /// fails to build, refuses the whole version: the running set keeps serving, the
    /// error is counted in [`config_stats`](Caches::config_stats) and logged, and the
    /// version is not tried again until the file changes. A set opened from a
    /// [`ConfigFile`] value has no file: nothing changes.
    pub async fn reload_config(&self) -> Result<ConfigChanges> {
        let Some(source) = &self.inner.source else {
            return Ok(ConfigChanges::default());
        };
        let mut state = self.inner.reloading.lock().await;
        let bytes = read_config(&source.path)?;
        let sha256 = crate::wasm::sha256_hex(&bytes);
        if state.sha256.as_deref() == Some(sha256.as_str()) {
            return Ok(ConfigChanges::default());
        }
        state.sha256 = Some(sha256);
        match self.apply(source).await {
            Ok(changes) => {
                self.inner.config_reloads.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut last) = self.inner.config_last_error.lock() {
                    *last = None;
                }
                metrics::counter!(CONFIG_RELOADS, "outcome" => "ok").increment(1);
                tracing::info!(
                    file = %source.path.display(),
                    added = ?changes.added,
                    removed = ?changes.removed,
                    restacked = ?changes.restacked,
                    replaced = ?changes.replaced,
                    "configuration reloaded"
                );
                Ok(changes)
            }
            Err(e) => {
                self.inner.config_rejected.fetch_add(1, Ordering::Relaxed);
                metrics::counter!(CONFIG_RELOADS, "outcome" => "rejected").increment(1);
                let reason = e.to_string();
                tracing::warn!(
                    file = %source.path.display(),
                    error = %reason,
                    "configuration refused; the running caches keep serving"
                );
                if let Ok(mut last) = self.inner.config_last_error.lock() {
                    *last = Some(reason);
                }
                Err(e)
            }
        }
    }

    /// Builds what a new version of the file needs, then commits it (infallibly).
    async fn apply(&self, source: &Source) -> Result<ConfigChanges> {
        let file = select(ConfigFile::load(&source.path)?, source.only.as_deref())?;
        let running = self.inner.entries.load_full();
        let mut changes = ConfigChanges::default();
        let mut next = BTreeMap::new();
        // Stacks to swap into running caches once everything is built.
        let mut restack = Vec::new();
        for cache in &file.caches {
            match running.get(&cache.name) {
                Some(entry) if entry.config == *cache => {
                    next.insert(cache.name.clone(), Arc::clone(entry));
                }
                Some(entry) if same_but_stack(&entry.config, cache) => {
                    let stack = self
                        .inner
                        .registry
                        .build(&cache.stack.stack_spec())
                        .await
                        .map_err(|e| named(&file.origin, &cache.name, &e))?;
                    restack.push((Arc::clone(&entry.body), stack, cache));
                    next.insert(
                        cache.name.clone(),
                        Arc::new(Entry {
                            config: cache.clone(),
                            body: Arc::clone(&entry.body),
                        }),
                    );
                    changes.restacked.push(cache.name.clone());
                }
                found => {
                    let body = build_body(&self.inner.registry, &file.origin, cache).await?;
                    next.insert(
                        cache.name.clone(),
                        Arc::new(Entry {
                            config: cache.clone(),
                            body: Arc::new(body),
                        }),
                    );
                    match found {
                        Some(_) => changes.replaced.push(cache.name.clone()),
                        None => changes.added.push(cache.name.clone()),
                    }
                }
            }
        }
        changes.removed = running
            .keys()
            .filter(|name| !next.contains_key(*name))
            .cloned()
            .collect();
        // Commit: nothing below fails.
        for (body, stack, config) in restack {
            body.restack(stack, config).await;
        }
        self.inner.entries.store(Arc::new(next));
        for name in changes.restacked.iter().chain(&changes.replaced) {
            metrics::counter!(SWAPS, "cache" => name.clone()).increment(1);
        }
        Ok(changes)
    }

    /// Checks the component files of every cache with `reload: true`; for each cache
    /// whose files changed (size or modification time, then content hash), builds the
    /// new stack and swaps it in. A version that fails is refused and the running one
    /// keeps serving; it is not retried until the file changes again.
    pub async fn reload_changed(&self) -> Vec<ReloadOutcome> {
        let mut outcomes = Vec::new();
        let entries = self.inner.entries.load_full();
        for (name, entry) in entries.iter() {
            if !entry.config.reload {
                continue;
            }
            let entry = &entry.body;
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

    /// Polls [`reload_config`](Caches::reload_config) (for a set opened with
    /// [`load`](Caches::load)) and then [`reload_changed`](Caches::reload_changed) every
    /// `interval` on the current tokio runtime until the returned handle is dropped.
    pub fn watch(&self, interval: Duration) -> WatchHandle {
        let caches = self.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                // A refusal is counted and logged by `reload_config`.
                let _ = caches.reload_config().await;
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

impl Body {
    /// Swaps `stack` in after copying up to `warm_up` hot keys; a failed copy swaps
    /// without them (the stack was built: the configuration asks for it).
    async fn restack(&self, stack: Arc<dyn Provider>, config: &CacheConfig) {
        let warm = self
            .swap
            .swap_warm(Arc::clone(&stack), config.warm_up as usize)
            .await;
        if warm.is_err() {
            self.swap.swap(stack);
        }
        if let Some(l1) = &self.near {
            l1.invalidate_all();
        }
        // The component files of the new stack are watched from now on.
        let stamps = config
            .stack
            .component_paths()
            .iter()
            .filter_map(FileStamp::read)
            .collect();
        if let Ok(mut files) = self.files.lock() {
            *files = stamps;
        }
    }
}

/// Whether `a` and `b` differ in their stack only (or not at all), so that the running
/// cache can keep its near cache, counters and handles.
fn same_but_stack(a: &CacheConfig, b: &CacheConfig) -> bool {
    // Server-assisted invalidation listens to the server of the old stack.
    let invalidation = a.near.as_ref().is_some_and(|n| n.invalidation.is_some());
    !invalidation
        && a.key_prefix == b.key_prefix
        && a.default_ttl == b.default_ttl
        && a.serializer == b.serializer
        && a.near == b.near
        && a.semantics == b.semantics
}

fn named(origin: &str, cache: &str, e: &Error) -> Error {
    Error::Config {
        origin: origin.to_owned(),
        cache: Some(cache.to_owned()),
        field: None,
        line: None,
        message: e.to_string(),
    }
}

/// The file's bytes (bounded like [`ConfigFile::load`]), for change detection.
fn read_config(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| {
            f.take(crate::config_file::MAX_CONFIG_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
        })
        .map_err(|e| Error::Config {
            origin: path.display().to_string(),
            cache: None,
            field: None,
            line: None,
            message: format!("cannot read the file: {e}"),
        })?;
    Ok(bytes)
}

/// `file` with only cache `only`, which must be there.
fn select(mut file: ConfigFile, only: Option<&str>) -> Result<ConfigFile> {
    if let Some(name) = only {
        if file.cache(name).is_none() {
            return Err(Error::Config {
                origin: file.origin.clone(),
                cache: Some(name.to_owned()),
                field: None,
                line: None,
                message: "no cache of this name in the file".into(),
            });
        }
        file.caches.retain(|c| c.name == name);
    }
    Ok(file)
}

/// Builds one cache of a file: its stack, near cache and instrumentation.
async fn build_body(registry: &Registry, origin: &str, cache: &CacheConfig) -> Result<Body> {
    let named = |e: Error| named(origin, &cache.name, &e);
    let stack = registry
        .build(&cache.stack.stack_spec())
        .await
        .map_err(named)?;
    let swap = Arc::new(SwapProvider::new(stack).with_hot_keys(u64::from(cache.warm_up) * 2));
    let (below, invalidation, l1): (Arc<dyn Provider>, _, _) = match &cache.near {
        Some(near) => {
            let near_cache = near.build(Arc::clone(&swap) as Arc<dyn Provider>);
            let l1 = near_cache.invalidator();
            let invalidation = match near.invalidation {
                Some(NearInvalidation::Redis) => {
                    let grant =
                        crate::redis::grant_from_config(&cache.stack.config).map_err(named)?;
                    let started = RedisInvalidation::start(&grant, near_cache.invalidator()).await;
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
    Ok(Body {
        swap,
        top,
        files: Mutex::new(files),
        reloads: AtomicU64::new(0),
        rejected: AtomicU64::new(0),
        last_error: Mutex::new(None),
        _invalidation: invalidation,
        near: l1,
    })
}
