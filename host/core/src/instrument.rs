//! [`Instrumented`]: per-cache metrics and tracing around any provider.

use crate::layer::{Answer, Call, Layer, Op};
use crate::{Error, Provider, Result};
use metrics::{Counter, Histogram};
use std::sync::Arc;
use std::time::Instant;
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

/// Counter of configuration file reloads, labelled `outcome` (`ok`, `rejected`).
pub const CONFIG_RELOADS: &str = "byoc_config_reloads_total";

/// Gauge of a cache's own counters, labelled `cache` and `stat`: `keys`, `bytes`,
/// `evictions`, `expirations` and the provider's extras (for a wasm adapter
/// `host.traps`, `host.instantiations`, `host.quarantined`...). Set by
/// `byoc::Caches::record_stats`.
pub const STATS: &str = "byoc_stats";

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

/// Handles of one operation (indexed by [`Op::index`]).
struct OpMetrics {
    ok: Counter,
    error: Counter,
    latency: Histogram,
}

/// A provider wrapper that records, for every call, a `tracing` span (`byoc.call`, with
/// fields `cache`, `op`, `outcome` (`ok`, `error`) and, when the span is enabled,
/// `provider` (the stack, e.g. `encryption(filesystem)`); errors as a `debug` event) and [`metrics`]: [`CALLS`],
/// [`ERRORS`] and [`LATENCY`], labelled with the cache's name.
///
/// Metric handles are registered when the wrapper is built, with the global recorder
/// installed at that time: install a recorder (a Prometheus exporter, say) before
/// building caches. Without one, recording costs next to nothing.
///
/// ```
/// # async fn demo() -> byoc_core::Result<()> {
/// use byoc_core::{Instrumented, NativeMemoryProvider, Provider};
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
        let ops = Op::ALL
            .iter()
            .map(|op| {
                let op = op.name();
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
}

impl Layer for Instrumented {
    type Below<'a> = &'a dyn Provider;

    fn below(&self) -> &dyn Provider {
        &*self.inner
    }

    /// One call with its span and metrics: latency, outcome, error kind, and for reads of
    /// values their hits and misses.
    async fn around<T, F>(&self, call: Call<'_>, inner: F) -> Result<T>
    where
        T: Answer,
        F: Future<Output = Result<T>> + Send,
    {
        let op = call.op();
        let m = &self.ops[op.index()];
        let span = tracing::debug_span!(
            "byoc.call",
            cache = %self.name,
            op = op.name(),
            provider = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        if !span.is_disabled() {
            // Only asked for when someone listens: the stack's name is built each time.
            span.record("provider", self.inner.info().stack());
        }
        let start = Instant::now();
        let out = inner.instrument(span.clone()).await;
        span.record("outcome", if out.is_ok() { "ok" } else { "error" });
        m.latency.record(start.elapsed().as_secs_f64());
        match &out {
            Ok(answer) => {
                m.ok.increment(1);
                if let Some((hits, misses)) = answer.found() {
                    self.hits.increment(hits);
                    self.misses.increment(misses);
                }
            }
            Err(e) => {
                m.error.increment(1);
                let kind = error_index(e);
                self.errors[kind].increment(1);
                let kind = ERROR_KINDS[kind];
                tracing::debug!(cache = %self.name, op = op.name(), kind, error = %e, "cache call failed");
            }
        }
        out
    }
}
