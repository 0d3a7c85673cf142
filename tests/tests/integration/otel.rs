//! OpenTelemetry export (`byoc-cli`'s `otel` feature) through the SDK's in-memory
//! exporters: the span of every cache call with its attributes, and the host's metrics
//! (calls, latency, wasm stats gauges) with theirs.

use byoc::{Caches, ConfigFile, Registry};
use byoc_cli::otel::Otel;
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::InMemoryMetricExporter;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, Metric, MetricData};
use opentelemetry_sdk::trace::InMemorySpanExporterBuilder;
use std::time::Duration;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

fn attr(attributes: &[KeyValue], name: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key.as_str() == name)
        .map(|kv| kv.value.as_str().into_owned())
}

/// The value of `metric`'s data point whose attributes include every `(name, value)`.
fn point(metric: &Metric, want: &[(&str, &str)]) -> Option<f64> {
    let matches = |attrs: Vec<&KeyValue>| {
        want.iter().all(|(k, v)| {
            attrs
                .iter()
                .any(|kv| kv.key.as_str() == *k && kv.value.as_str() == *v)
        })
    };
    match metric.data() {
        AggregatedMetrics::U64(MetricData::Sum(sum)) => sum
            .data_points()
            .find(|p| matches(p.attributes().collect()))
            .map(|p| p.value() as f64),
        AggregatedMetrics::F64(MetricData::Gauge(gauge)) => gauge
            .data_points()
            .find(|p| matches(p.attributes().collect()))
            .map(|p| p.value()),
        AggregatedMetrics::F64(MetricData::Histogram(h)) => h
            .data_points()
            .find(|p| matches(p.attributes().collect()))
            .map(|p| p.count() as f64),
        _ => None,
    }
}

// One thread: the metrics recorder is set for this thread. The tracing subscriber is the
// process's global one (a thread-local one misses spans whose callsites other test threads
// registered at the same time); spans of other tests' caches are told apart by name.
#[tokio::test(flavor = "current_thread")]
async fn spans_and_metrics_arrive_with_their_attributes() {
    let spans = InMemorySpanExporterBuilder::new().build();
    let exported = InMemoryMetricExporter::default();
    let otel = Otel::with_exporters(spans.clone(), exported.clone(), Duration::from_secs(3600));
    let subscriber = tracing_subscriber::registry().with(
        otel.layer()
            .with_filter(EnvFilter::new("byoc_core::instrument=debug")),
    );
    tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
    let recorder = otel.recorder();
    let _metrics = metrics::set_default_local_recorder(&recorder);

    let file = ConfigFile::parse(
        "caches:\n  - name: otel-users\n    provider: memory\n",
        "otel.yaml",
    )
    .expect("config");
    let caches = Caches::open(&file, Registry::new().expect("registry"))
        .await
        .expect("open");
    let users = caches.provider("otel-users").expect("users");
    users.set("k", b"v", None).await.expect("set");
    assert!(users.get("k").await.expect("get").is_some());
    assert!(users.get("missing").await.expect("get").is_none());
    assert!(
        users.set("", b"v", None).await.is_err(),
        "an empty key fails"
    );
    caches.record_stats().await;
    otel.flush().expect("flush");

    let finished = spans.get_finished_spans().expect("spans");
    let calls: Vec<_> = finished
        .iter()
        .filter(|s| s.name == "byoc.call")
        .filter(|s| attr(&s.attributes, "cache").as_deref() == Some("otel-users"))
        .collect();
    // set, get, get, the failing set, and the `stats` call of `record_stats`.
    assert_eq!(calls.len(), 5, "{finished:?}");
    let set = calls
        .iter()
        .find(|s| attr(&s.attributes, "op").as_deref() == Some("set"))
        .expect("a set span");
    assert_eq!(attr(&set.attributes, "outcome").as_deref(), Some("ok"));
    let provider = attr(&set.attributes, "provider").expect("provider");
    assert!(provider.contains("memory"), "{provider}");
    let failed: Vec<_> = calls
        .iter()
        .filter(|s| attr(&s.attributes, "outcome").as_deref() == Some("error"))
        .collect();
    assert_eq!(failed.len(), 1);

    let resources = exported.get_finished_metrics().expect("metrics");
    let last = resources.last().expect("an export");
    let metric = |name: &str| {
        last.scope_metrics()
            .flat_map(|s| s.metrics())
            .find(|m| m.name() == name)
            .unwrap_or_else(|| panic!("no metric {name}"))
    };
    let users_get_ok = [("cache", "otel-users"), ("op", "get"), ("outcome", "ok")];
    assert_eq!(point(metric("byoc_calls_total"), &users_get_ok), Some(2.0));
    assert_eq!(
        point(metric("byoc_hits_total"), &[("cache", "otel-users")]),
        Some(1.0)
    );
    assert_eq!(
        point(
            metric("byoc_errors_total"),
            &[("cache", "otel-users"), ("kind", "invalid-key")]
        ),
        Some(1.0)
    );
    assert_eq!(
        point(
            metric("byoc_call_seconds"),
            &[("cache", "otel-users"), ("op", "get")]
        ),
        Some(2.0)
    );
    // Wasm figures of the adapter, as stats gauges.
    let stats = metric("byoc_stats");
    assert_eq!(
        point(stats, &[("cache", "otel-users"), ("stat", "keys")]),
        Some(1.0)
    );
    assert_eq!(
        point(stats, &[("cache", "otel-users"), ("stat", "host.traps")]),
        Some(0.0)
    );
    assert!(
        point(
            stats,
            &[("cache", "otel-users"), ("stat", "host.instantiations")]
        ) >= Some(1.0)
    );
    otel.shutdown().expect("shutdown");
}
