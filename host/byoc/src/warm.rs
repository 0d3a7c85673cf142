//! Warming a cache: [`Caches::warm`] copies entries into it from a list or from another
//! cache of the set, in batches, a bounded number at a time.

use crate::{Caches, Error, Item, KeyTtl, Provider, Result};
use byoc_common::escape_glob;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::task::JoinSet;

/// Where [`Caches::warm`] takes entries from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum WarmSource {
    /// These entries. Keys are the cache's keys: its key prefix is added.
    Entries(Vec<Item>),
    /// Every entry of another cache of the set, with its remaining TTL; keys move from
    /// under that cache's key prefix to under this one's.
    Cache(String),
    /// Only these keys (without key prefix) of another cache of the set.
    CacheKeys {
        /// The cache read.
        cache: String,
        /// The keys copied; those missing there are counted as `missing`.
        keys: Vec<String>,
    },
}

/// How [`Caches::warm`] works.
#[derive(Clone)]
#[non_exhaustive]
pub struct WarmOptions {
    /// Batches in flight at once (at least 1).
    pub concurrency: usize,
    /// Keys per batch (at least 1).
    pub batch: usize,
    /// Replace entries the cache already holds (default: keep them; they may be newer).
    pub overwrite: bool,
    /// Called after each batch with the entries handled so far (copied, skipped or
    /// missing).
    pub progress: Option<Arc<dyn Fn(u64) + Send + Sync>>,
}

impl Default for WarmOptions {
    fn default() -> WarmOptions {
        WarmOptions {
            concurrency: 4,
            batch: 256,
            overwrite: false,
            progress: None,
        }
    }
}

impl std::fmt::Debug for WarmOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarmOptions")
            .field("concurrency", &self.concurrency)
            .field("batch", &self.batch)
            .field("overwrite", &self.overwrite)
            .finish_non_exhaustive()
    }
}

/// What [`Caches::warm`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WarmReport {
    /// Entries written.
    pub copied: u64,
    /// Entries the cache already held, left alone (without `overwrite`).
    pub skipped: u64,
    /// Keys missing (or expired) in the source cache.
    pub missing: u64,
}

/// Counters shared by the batches of one warm-up.
#[derive(Default)]
struct Tally {
    copied: AtomicU64,
    skipped: AtomicU64,
    missing: AtomicU64,
}

impl Tally {
    fn done(&self) -> u64 {
        self.copied.load(Ordering::Relaxed)
            + self.skipped.load(Ordering::Relaxed)
            + self.missing.load(Ordering::Relaxed)
    }
}

/// One batch: where its entries come from.
enum Batch {
    Items(Vec<Item>),
    /// Source keys (with the source's prefix).
    Keys(Vec<String>),
}

struct Job {
    target: Arc<dyn Provider>,
    source: Option<Arc<dyn Provider>>,
    /// The source's key prefix, replaced by the target's.
    from_prefix: String,
    to_prefix: String,
    overwrite: bool,
    tally: Tally,
    progress: Option<Arc<dyn Fn(u64) + Send + Sync>>,
}

impl Caches {
    /// Copies entries from `source` into cache `cache`: batches of `options.batch` keys,
    /// at most `options.concurrency` in flight. Entries the cache already holds are kept
    /// unless `options.overwrite`. The first failing batch fails the call (entries of
    /// batches done stay written).
    pub async fn warm(
        &self,
        cache: &str,
        source: WarmSource,
        options: WarmOptions,
    ) -> Result<WarmReport> {
        let target = self.provider(cache)?;
        let to_prefix = self.config(cache)?.key_prefix;
        let (from, from_prefix) = match &source {
            WarmSource::Entries(_) => (None, String::new()),
            WarmSource::Cache(name) | WarmSource::CacheKeys { cache: name, .. } => {
                if name == cache {
                    return Err(Error::InvalidArgument(format!(
                        "cache `{cache}` cannot be warmed from itself"
                    )));
                }
                (Some(self.provider(name)?), self.config(name)?.key_prefix)
            }
        };
        let job = Arc::new(Job {
            target,
            source: from.clone(),
            from_prefix,
            to_prefix,
            overwrite: options.overwrite,
            tally: Tally::default(),
            progress: options.progress.clone(),
        });
        let size = options.batch.max(1);
        let limit = options.concurrency.max(1);
        let mut running = JoinSet::new();
        let mut submit = async |batch: Batch| -> Result<()> {
            while running.len() >= limit {
                join_one(&mut running).await?;
            }
            let job = Arc::clone(&job);
            running.spawn(async move { job.run(batch).await });
            Ok(())
        };
        match source {
            WarmSource::Entries(items) => {
                let mut items = items.into_iter().peekable();
                while items.peek().is_some() {
                    submit(Batch::Items(items.by_ref().take(size).collect())).await?;
                }
            }
            WarmSource::CacheKeys { keys, .. } => {
                for chunk in keys.chunks(size) {
                    let keys = chunk.iter().map(|k| format!("{}{k}", job.from_prefix));
                    submit(Batch::Keys(keys.collect())).await?;
                }
            }
            WarmSource::Cache(_) => {
                let from = from
                    .as_ref()
                    .ok_or_else(|| Error::Internal("no source".into()))?;
                let pattern = format!("{}*", escape_glob(&job.from_prefix));
                let count = u32::try_from(size).unwrap_or(u32::MAX);
                let mut cursor: Option<String> = None;
                loop {
                    let page = from.scan(&pattern, cursor.as_deref(), count).await?;
                    if !page.keys.is_empty() {
                        submit(Batch::Keys(page.keys)).await?;
                    }
                    match page.cursor {
                        Some(next) => cursor = Some(next),
                        None => break,
                    }
                }
            }
        }
        while !running.is_empty() {
            join_one(&mut running).await?;
        }
        let tally = &job.tally;
        Ok(WarmReport {
            copied: tally.copied.load(Ordering::Relaxed),
            skipped: tally.skipped.load(Ordering::Relaxed),
            missing: tally.missing.load(Ordering::Relaxed),
        })
    }
}

async fn join_one(running: &mut JoinSet<Result<()>>) -> Result<()> {
    match running.join_next().await {
        Some(Ok(outcome)) => outcome,
        Some(Err(e)) => Err(Error::Internal(format!("a warm-up batch failed: {e}"))),
        None => Ok(()),
    }
}

impl Job {
    async fn run(&self, batch: Batch) -> Result<()> {
        let mut items = match batch {
            Batch::Items(items) => items
                .into_iter()
                .map(|item| Item {
                    key: format!("{}{}", self.to_prefix, item.key),
                    ..item
                })
                .collect(),
            Batch::Keys(keys) => self.read(&keys).await?,
        };
        if !self.overwrite && !items.is_empty() {
            let keys: Vec<String> = items.iter().map(|i| i.key.clone()).collect();
            let held = self.target.get_multi(&keys).await?;
            let before = items.len();
            let mut held = held.into_iter();
            items.retain(|_| held.next().flatten().is_none());
            self.tally
                .skipped
                .fetch_add((before - items.len()) as u64, Ordering::Relaxed);
        }
        if !items.is_empty() {
            self.target.set_multi(&items).await?;
        }
        self.tally
            .copied
            .fetch_add(items.len() as u64, Ordering::Relaxed);
        if let Some(progress) = &self.progress {
            progress(self.tally.done());
        }
        Ok(())
    }

    /// The entries of `keys` in the source, with remaining TTLs, under the target's
    /// prefix; missing ones are counted.
    async fn read(&self, keys: &[String]) -> Result<Vec<Item>> {
        let Some(source) = &self.source else {
            return Ok(Vec::new());
        };
        let values = source.get_multi(keys).await?;
        let mut items = Vec::with_capacity(keys.len());
        for (key, value) in keys.iter().zip(values) {
            let ttl = match value {
                None => None,
                Some(_) => Some(source.ttl(key).await?),
            };
            let (Some(value), Some(ttl)) = (value, ttl) else {
                self.tally.missing.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let ttl = match ttl {
                KeyTtl::Missing => {
                    self.tally.missing.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                KeyTtl::Persistent => None,
                KeyTtl::ExpiresIn(d) => Some(d),
            };
            let bare = key.strip_prefix(&self.from_prefix).unwrap_or(key);
            items.push(Item {
                key: format!("{}{bare}", self.to_prefix),
                value,
                ttl,
            });
        }
        Ok(items)
    }
}
