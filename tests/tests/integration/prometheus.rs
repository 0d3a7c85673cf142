//! The Prometheus endpoint of `byoc serve --metrics`: the metrics of an instrumented
//! cache, scraped over HTTP.

use byoc::{Instrumented, NativeMemoryProvider, Provider};
use std::io::{Read, Write};
use std::sync::Arc;

/// The body of `GET /metrics` at `port`.
fn scrape(port: u16) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

/// The value of the sample named `name` whose labels include every one of `labels`.
fn sample(body: &str, name: &str, labels: &[&str]) -> Option<f64> {
    body.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| labels.iter().all(|want| l.contains(want)))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_serves_the_cache_metrics() {
    let port = byoc_tests::service::free_port();
    let recorder = byoc_cli::prometheus::endpoint(([127, 0, 0, 1], port).into()).expect("endpoint");
    let inner: Arc<dyn Provider> = Arc::new(NativeMemoryProvider::new(Default::default()));
    let cache = metrics::with_local_recorder(&recorder, || Instrumented::new("users", inner));
    cache.set("k", b"v", None).await.expect("set");
    assert!(cache.get("k").await.expect("get").is_some());
    assert!(cache.get("missing").await.expect("get").is_none());

    let body = tokio::task::spawn_blocking(move || scrape(port))
        .await
        .expect("scrape");
    let users = "cache=\"users\"";
    assert_eq!(
        sample(
            &body,
            "byoc_calls_total",
            &[users, "op=\"set\"", "outcome=\"ok\""]
        ),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        sample(
            &body,
            "byoc_calls_total",
            &[users, "op=\"get\"", "outcome=\"ok\""]
        ),
        Some(2.0)
    );
    assert_eq!(sample(&body, "byoc_hits_total", &[users]), Some(1.0));
    assert_eq!(sample(&body, "byoc_misses_total", &[users]), Some(1.0));
    assert_eq!(
        sample(&body, "byoc_call_seconds_count", &[users, "op=\"get\""]),
        Some(2.0),
        "{body}"
    );
    // A second endpoint on the same address is refused with an error, not a panic.
    assert!(byoc_cli::prometheus::endpoint(([127, 0, 0, 1], port).into()).is_err());
}
