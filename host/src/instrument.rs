//! [`Instrumented`]: per-cache metrics and tracing around any provider.

use crate::provider::MultiValue;
use crate::{Error, Item, KeyTtl, Provider, ProviderInfo, Result, ScanPage, Stats};
use async_trait::async_trait;
use bytes::Bytes;
use metrics::{Counter, Histogram};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument as _;

/// Counter of calls, labelled `cache`, `op` and `outcome` (`ok` or `error`).
pub const CALLS: &str = "byoc_calls_total";
/// Counter of keys read that were found (by `get` and `get_multi`), labelled `cache`.
pub const HITS: &str = "byoc_hits_total";
/// Counter of keys read that were missing (by `get` and `get_multi`), labelled `cache`.
pub const MISSES: &str = "byoc_misses_total";
/// Counter of failed calls, labelled `cache` and `kind` (see [`error_kind`]).
pub const ERRORS: &str = "byoc_errors_total";
/// Histogram of call latency in seconds, labelled `cache` and `op`.
pub const LATENCY: &str = "byoc_call_seconds";
/// Counter of provider swaps, labelled `cache`.
pub const SWAPS: &str = "byoc_swaps_total";
/// Counter of component reloads, labelled `cache` and `outcome` (`ok`, `rejected`).
pub const RELOADS: &str = "byoc_reloads_total";

/// Operations, in the order of [`Instrumented`]'s handle table.
const OPS: [&str; 15] = [
    "get",
    "set",
    "delete",
    "exists",
    "get_multi",
    "set_multi",
    "delete_multi",
    "scan",
    "ttl",
    "expire",
    "clear",
    "stats",
    "ping",
    "increment",
    "compare_and_swap",
];

/// A short, stable name of an error's kind, as the `kind` label of [`ERRORS`]:
/// `invalid-key`, `value-too-large`, `invalid-argument`, `invalid-config`, `unavailable`,
/// `denied`, `unsupported`, `internal`, `trapped`, `deadline-exceeded`, `load`, `other`.
pub fn error_kind(error: &Error) -> &'static str {
    ERROR_KINDS[error_index(error)]
}

/// Every `kind` label of [`ERRORS`].
const ERROR_KINDS: [&str; 12] = [
    "invalid-key",
    "value-too-large",
    "invalid-argument",
    "invalid-config",
    "unavailable",
    "denied",
    "unsupported",
    "internal",
    "trapped",
    "deadline-exceeded",
    "load",
    "other",
];

fn error_index(error: &Error) -> usize {
    match error {
        Error::InvalidKey(_) => 0,
        Error::ValueTooLarge(_) => 1,
        Error::InvalidArgument(_) => 2,
        Error::InvalidConfig(_) => 3,
        Error::Unavailable(_) => 4,
        Error::Denied(_) => 5,
        Error::Unsupported(_) => 6,
        Error::Internal(_) => 7,
        Error::Trapped { .. } => 8,
        Error::DeadlineExceeded { .. } => 9,
        Error::Load { .. } => 10,
        _ => 11,
    }
}

/// Handles of one operation.
struct OpMetrics {
    ok: Counter,
    error: Counter,
    latency: Histogram,
}

/// A provider wrapper that records, for every call, a `tracing` span (`byoc.call`, with
/// fields `cache` and `op`; errors as a `debug` event) and [`metrics`]: [`CALLS`],
/// [`ERRORS`] and [`LATENCY`], labelled with the cache's name.
///
/// Metric handles are registered when the wrapper is built, with the global recorder
/// installed at that time: install a recorder (a Prometheus exporter, say) before
/// building caches. Without one, recording costs next to nothing.
///
/// ```
/// # async fn demo() -> byoc::Result<()> {
/// use byoc::{Instrumented, NativeMemoryProvider, Provider};
/// use std::sync::Arc;
///
/// let inner = Arc::new(NativeMemoryProvider::new(Default::default()));
/// let cache = Instrumented::new("sessions", inner);
/// cache.set("k", b"v", None).await?;
/// assert_eq!(cache.get("k").await?, Some(b"v".to_vec()));
/// # Ok(()) }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo()).unwrap();
/// ```
pub struct Instrumented {
    name: Arc<str>,
    inner: Arc<dyn Provider>,
    ops: Vec<OpMetrics>,
    hits: Counter,
    misses: Counter,
    errors: Vec<Counter>,
}

impl std::fmt::Debug for Instrumented {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instrumented")
            .field("cache", &self.name)
            .field("inner", &self.inner.info().stack())
            .finish_non_exhaustive()
    }
}

impl Instrumented {
    /// Instruments `inner` under the cache name `cache`.
    pub fn new(cache: &str, inner: Arc<dyn Provider>) -> Instrumented {
        let name: Arc<str> = Arc::from(cache);
        let ops = OPS
            .iter()
            .map(|&op| {
                let calls = |outcome: &'static str| {
                    metrics::counter!(CALLS, "cache" => name.to_string(), "op" => op, "outcome" => outcome)
                };
                OpMetrics {
                    ok: calls("ok"),
                    error: calls("error"),
                    latency: metrics::histogram!(LATENCY, "cache" => name.to_string(), "op" => op),
                }
            })
            .collect();
        Instrumented {
            hits: metrics::counter!(HITS, "cache" => name.to_string()),
            misses: metrics::counter!(MISSES, "cache" => name.to_string()),
            errors: ERROR_KINDS
                .iter()
                .map(|&kind| metrics::counter!(ERRORS, "cache" => name.to_string(), "kind" => kind))
                .collect(),
            name,
            inner,
            ops,
        }
    }

    /// The provider below.
    pub fn inner(&self) -> &Arc<dyn Provider> {
        &self.inner
    }

    /// Runs one call of operation `op` (an index into [`OPS`]) with its span and metrics.
    async fn call<R, F>(&self, op: usize, f: F) -> Result<R>
    where
        F: std::future::Future<Output = Result<R>>,
    {
        let m = &self.ops[op];
        let span = tracing::debug_span!("byoc.call", cache = %self.name, op = OPS[op]);
        let start = Instant::now();
        let out = f.instrument(span).await;
        m.latency.record(start.elapsed().as_secs_f64());
        match &out {
            Ok(_) => m.ok.increment(1),
            Err(e) => {
                m.error.increment(1);
                let kind = error_index(e);
                self.errors[kind].increment(1);
                let kind = ERROR_KINDS[kind];
                tracing::debug!(cache = %self.name, op = OPS[op], kind, error = %e, "cache call failed");
            }
        }
        out
    }
}

impl Instrumented {
    /// Either multi-key read, measured as `get_multi` with its hits and misses.
    async fn get_multi_as<V: MultiValue>(&self, keys: &[String]) -> Result<Vec<Option<V>>> {
        let out = self.call(4, V::get_multi(&*self.inner, keys)).await;
        if let Ok(values) = &out {
            let hits = values.iter().filter(|v| v.is_some()).count() as u64;
            self.hits.increment(hits);
            self.misses.increment(values.len() as u64 - hits);
        }
        out
    }
}

#[async_trait]
impl Provider for Instrumented {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let out = self.call(0, self.inner.get(key)).await;
        match &out {
            Ok(Some(_)) => self.hits.increment(1),
            Ok(None) => self.misses.increment(1),
            Err(_) => {}
        }
        out
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        self.call(1, self.inner.set(key, value, ttl)).await
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        self.call(2, self.inner.delete(key)).await
    }

    async fn exists(&self, key: &str) -> Result<bool> {
        self.call(3, self.inner.exists(key)).await
    }

    async fn get_multi(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        self.get_multi_as(keys).await
    }

    async fn get_multi_bytes(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>> {
        self.get_multi_as(keys).await
    }

    async fn set_multi(&self, items: &[Item]) -> Result<()> {
        self.call(5, self.inner.set_multi(items)).await
    }

    async fn delete_multi(&self, keys: &[String]) -> Result<u64> {
        self.call(6, self.inner.delete_multi(keys)).await
    }

    async fn scan(&self, pattern: &str, cursor: Option<&str>, count: u32) -> Result<ScanPage> {
        self.call(7, self.inner.scan(pattern, cursor, count)).await
    }

    async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        self.call(8, self.inner.ttl(key)).await
    }

    async fn expire(&self, key: &str, ttl: Option<Duration>) -> Result<bool> {
        self.call(9, self.inner.expire(key, ttl)).await
    }

    async fn clear(&self) -> Result<()> {
        self.call(10, self.inner.clear()).await
    }

    async fn stats(&self) -> Result<Stats> {
        self.call(11, self.inner.stats()).await
    }

    async fn ping(&self) -> Result<()> {
        self.call(12, self.inner.ping()).await
    }

    async fn increment(&self, key: &str, delta: i64, ttl: Option<Duration>) -> Result<i64> {
        self.call(13, self.inner.increment(key, delta, ttl)).await
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool> {
        let call = self.inner.compare_and_swap(key, expected, new, ttl);
        self.call(14, call).await
    }

    fn info(&self) -> ProviderInfo {
        self.inner.info()
    }

    fn call_deadline(&self) -> Option<Duration> {
        self.inner.call_deadline()
    }
}
