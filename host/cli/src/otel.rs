//! OpenTelemetry export (feature `otel`): the `byoc.call` span of every cache call as a
//! trace span (attributes `cache`, `provider`, `op`, `outcome`), and the host's
//! [`metrics`] (calls, hits, misses, errors by kind, latency, swaps, reloads, and the
//! per-cache stats gauges such as wasm traps and instantiations) as OpenTelemetry
//! instruments. [`Otel::otlp`] exports both over OTLP/HTTP; [`Otel::with_exporters`]
//! takes any exporters (the SDK's in-memory ones in tests).

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{ExporterBuildError, WithExportConfig as _};
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanExporter};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The instrumentation scope of BYOC's spans and instruments.
const SCOPE: &str = "byoc";

/// The tracer and meter providers of one export; [`shutdown`](Otel::shutdown) flushes.
#[derive(Debug, Clone)]
pub struct Otel {
    tracers: SdkTracerProvider,
    meters: SdkMeterProvider,
}

impl Otel {
    /// Exports over OTLP/HTTP (protobuf) to `endpoint` (e.g. `http://127.0.0.1:4318`):
    /// spans in batches to `/v1/traces`, metrics every `interval` to `/v1/metrics`.
    ///
    /// # Errors
    /// An exporter cannot be built (a malformed endpoint, say).
    pub fn otlp(endpoint: &str, interval: Duration) -> Result<Otel, ExporterBuildError> {
        let base = endpoint.trim_end_matches('/');
        let spans = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(format!("{base}/v1/traces"))
            .build()?;
        let metrics = opentelemetry_otlp::MetricExporter::builder()
            .with_http()
            .with_endpoint(format!("{base}/v1/metrics"))
            .build()?;
        let tracers = SdkTracerProvider::builder()
            .with_batch_exporter(spans)
            .build();
        Ok(Otel {
            tracers,
            meters: meters(metrics, interval),
        })
    }

    /// Exports spans to `spans` as they end and metrics to `metrics` every `interval`
    /// (and at [`flush`](Otel::flush)).
    pub fn with_exporters<S, M>(spans: S, metrics: M, interval: Duration) -> Otel
    where
        S: SpanExporter + 'static,
        M: PushMetricExporter,
    {
        Otel {
            tracers: SdkTracerProvider::builder()
                .with_simple_exporter(spans)
                .build(),
            meters: meters(metrics, interval),
        }
    }

    /// A `tracing` layer that turns spans into OpenTelemetry spans. Cache calls are
    /// `debug` spans of target `byoc_core::instrument`: let them through its filter.
    pub fn layer<S>(&self) -> impl tracing_subscriber::Layer<S> + use<S>
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        tracing_opentelemetry::layer().with_tracer(self.tracers.tracer(SCOPE))
    }

    /// A [`metrics`] recorder whose counters, gauges and histograms are OpenTelemetry
    /// instruments of this export. Install it before building caches.
    pub fn recorder(&self) -> OtelRecorder {
        OtelRecorder {
            meter: self.meters.meter(SCOPE),
        }
    }

    /// Exports what is pending now.
    ///
    /// # Errors
    /// An exporter failed; the message says why.
    pub fn flush(&self) -> Result<(), String> {
        self.tracers.force_flush().map_err(|e| e.to_string())?;
        self.meters.force_flush().map_err(|e| e.to_string())
    }

    /// Flushes and stops both providers.
    ///
    /// # Errors
    /// An exporter failed; the message says why.
    pub fn shutdown(&self) -> Result<(), String> {
        self.tracers.shutdown().map_err(|e| e.to_string())?;
        self.meters.shutdown().map_err(|e| e.to_string())
    }
}

fn meters<M: PushMetricExporter>(exporter: M, interval: Duration) -> SdkMeterProvider {
    let reader = PeriodicReader::builder(exporter)
        .with_interval(interval)
        .build();
    SdkMeterProvider::builder().with_reader(reader).build()
}

/// A [`metrics::Recorder`] over an OpenTelemetry [`Meter`]: labels become attributes.
#[derive(Debug, Clone)]
pub struct OtelRecorder {
    meter: Meter,
}

fn attributes(key: &Key) -> Vec<KeyValue> {
    key.labels()
        .map(|l| KeyValue::new(l.key().to_owned(), l.value().to_owned()))
        .collect()
}

struct OtelCounter {
    counter: opentelemetry::metrics::Counter<u64>,
    attributes: Vec<KeyValue>,
    /// For `absolute`: the value reported so far.
    total: AtomicU64,
}

impl CounterFn for OtelCounter {
    fn increment(&self, value: u64) {
        self.total.fetch_add(value, Ordering::Relaxed);
        self.counter.add(value, &self.attributes);
    }

    fn absolute(&self, value: u64) {
        let before = self.total.fetch_max(value, Ordering::Relaxed);
        if value > before {
            self.counter.add(value - before, &self.attributes);
        }
    }
}

struct OtelGauge {
    gauge: opentelemetry::metrics::Gauge<f64>,
    attributes: Vec<KeyValue>,
    /// The value as `f64` bits, for increments.
    value: AtomicU64,
}

impl OtelGauge {
    fn update(&self, f: impl Fn(f64) -> f64) {
        let mut next = 0.0;
        let _ = self
            .value
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                next = f(f64::from_bits(bits));
                Some(next.to_bits())
            });
        self.gauge.record(next, &self.attributes);
    }
}

impl GaugeFn for OtelGauge {
    fn increment(&self, value: f64) {
        self.update(|v| v + value);
    }

    fn decrement(&self, value: f64) {
        self.update(|v| v - value);
    }

    fn set(&self, value: f64) {
        self.update(|_| value);
    }
}

struct OtelHistogram {
    histogram: opentelemetry::metrics::Histogram<f64>,
    attributes: Vec<KeyValue>,
}

impl HistogramFn for OtelHistogram {
    fn record(&self, value: f64) {
        self.histogram.record(value, &self.attributes);
    }
}

impl Recorder for OtelRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(Arc::new(OtelCounter {
            counter: self.meter.u64_counter(key.name().to_owned()).build(),
            attributes: attributes(key),
            total: AtomicU64::new(0),
        }))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(Arc::new(OtelGauge {
            gauge: self.meter.f64_gauge(key.name().to_owned()).build(),
            attributes: attributes(key),
            value: AtomicU64::new(0f64.to_bits()),
        }))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(Arc::new(OtelHistogram {
            histogram: self.meter.f64_histogram(key.name().to_owned()).build(),
            attributes: attributes(key),
        }))
    }
}
