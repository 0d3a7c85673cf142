//! The `http` adapter over `byoc serve` against a pooled native hyper client sending the
//! same requests to the same server, in the same run: GET and PUT from one task
//! (criterion's median is the p50) and GETs from 32 concurrent tasks (throughput).
//!
//! After the criterion groups, a summary times both clients in alternating rounds (so a
//! drift of the machine's speed hits both alike) and prints p50 per request from one task,
//! requests per second from 32 tasks, and the ratios of BYOC to hyper.
//!
//! `cargo bench -p byoc-tests --bench http`. The server runs on its own runtime (two
//! worker threads), the clients on another.

use byoc::{AdapterConfig, ConfigValue, Provider, Registry};
use byoc_cli::serve::{ServeConfig, Server};
use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

const VALUE: &[u8] = &[7u8; 100];
const TASKS: usize = 32;
/// GETs per measured batch of the concurrent bench (split evenly over the tasks).
const BATCH: usize = 2048;

type Native = Client<HttpConnector, Full<Bytes>>;

/// The native baseline: a pooled hyper client (keep-alive, `TCP_NODELAY`), as the host's.
fn native_client() -> Native {
    let mut tcp = HttpConnector::new();
    tcp.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(TASKS)
        .build(tcp)
}

async fn native_get(client: &Native, uri: &http::Uri) -> Bytes {
    let response = client.get(uri.clone()).await.expect("GET");
    assert_eq!(response.status(), 200);
    response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
}

async fn native_set(client: &Native, uri: &http::Uri) {
    let request = http::Request::put(uri.clone())
        .header("content-type", "application/octet-stream")
        .body(Full::new(Bytes::from_static(VALUE)))
        .expect("request");
    let response = client.request(request).await.expect("PUT");
    assert_eq!(response.status(), 204);
    let _ = response.into_body().collect().await.expect("body");
}

/// Runs `task(0)` .. `task(tasks - 1)` as concurrent tokio tasks and waits for them all.
async fn in_tasks<F, Fut>(tasks: usize, task: F)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let handles: Vec<_> = (0..tasks).map(|t| tokio::spawn(task(t))).collect();
    for h in handles {
        h.await.expect("task");
    }
}

struct Setup {
    rt: tokio::runtime::Runtime,
    // Kept for the server's lifetime.
    _server_rt: tokio::runtime::Runtime,
    _server: Server,
    byoc: Arc<dyn Provider>,
    native: Native,
    get_uri: http::Uri,
    set_uri: http::Uri,
}

fn setup() -> Setup {
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    let server = server_rt.block_on(async {
        let backend = Registry::new()
            .expect("registry")
            .create("memory", AdapterConfig::new())
            .await
            .expect("memory");
        Server::bind(
            "127.0.0.1:0".parse().expect("address"),
            backend,
            ServeConfig::default(),
        )
        .await
        .expect("serve")
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    let byoc = rt
        .block_on(Registry::new().expect("registry").create(
            "http",
            AdapterConfig::new().with("url", ConfigValue::Text(server.url())),
        ))
        .expect("http provider");
    rt.block_on(byoc.set("k1", VALUE, None)).expect("seed");
    let get_uri = format!("{}/v1/keys/k1", server.url()).parse().expect("uri");
    let set_uri = format!("{}/v1/keys/k2", server.url()).parse().expect("uri");
    Setup {
        rt,
        _server_rt: server_rt,
        _server: server,
        byoc,
        native: native_client(),
        get_uri,
        set_uri,
    }
}

fn bench(c: &mut Criterion) {
    let s = setup();
    let rt = &s.rt;
    let mut group = c.benchmark_group("http");
    group.bench_function("get/byoc", |b| {
        b.to_async(rt)
            .iter(|| async { black_box(s.byoc.get("k1").await.expect("get")) })
    });
    group.bench_function("get/hyper", |b| {
        b.to_async(rt)
            .iter(|| async { black_box(native_get(&s.native, &s.get_uri).await) })
    });
    group.bench_function("set/byoc", |b| {
        b.to_async(rt)
            .iter(|| async { s.byoc.set("k2", VALUE, None).await.expect("set") })
    });
    group.bench_function("set/hyper", |b| {
        b.to_async(rt)
            .iter(|| async { native_set(&s.native, &s.set_uri).await })
    });
    group.finish();

    let mut group = c.benchmark_group("http_throughput");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(10);
    group.bench_function(criterion::BenchmarkId::new("byoc", TASKS), |b| {
        b.to_async(rt).iter(|| byoc_batch(&s.byoc))
    });
    group.bench_function(criterion::BenchmarkId::new("hyper", TASKS), |b| {
        b.to_async(rt).iter(|| native_batch(&s.native, &s.get_uri))
    });
    group.finish();

    summary(&s);
}

async fn byoc_batch(p: &Arc<dyn Provider>) {
    in_tasks(TASKS, |_| {
        let p = Arc::clone(p);
        async move {
            for _ in 0..BATCH / TASKS {
                black_box(p.get("k1").await.expect("get"));
            }
        }
    })
    .await
}

async fn native_batch(client: &Native, uri: &http::Uri) {
    in_tasks(TASKS, |_| {
        let (client, uri) = (client.clone(), uri.clone());
        async move {
            for _ in 0..BATCH / TASKS {
                black_box(native_get(&client, &uri).await);
            }
        }
    })
    .await
}

/// Rounds of the summary; each times a slice of both clients, in alternating order.
const ROUNDS: usize = 21;
/// Single-task GETs per client and round.
const SINGLE: usize = 200;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Prints p50 of one task's GETs and 32-task GET throughput of both clients.
fn summary(s: &Setup) {
    let (mut byoc_lat, mut hyper_lat) = (Vec::new(), Vec::new());
    let (mut byoc_rate, mut hyper_rate) = (Vec::new(), Vec::new());
    s.rt.block_on(async {
        for round in 0..ROUNDS {
            for turn in 0..2 {
                let byoc_turn = (round + turn) % 2 == 0;
                for _ in 0..SINGLE {
                    let started = Instant::now();
                    if byoc_turn {
                        black_box(s.byoc.get("k1").await.expect("get"));
                        byoc_lat.push(started.elapsed().as_secs_f64());
                    } else {
                        black_box(native_get(&s.native, &s.get_uri).await);
                        hyper_lat.push(started.elapsed().as_secs_f64());
                    }
                }
                let started = Instant::now();
                if byoc_turn {
                    byoc_batch(&s.byoc).await;
                    byoc_rate.push(BATCH as f64 / started.elapsed().as_secs_f64());
                } else {
                    native_batch(&s.native, &s.get_uri).await;
                    hyper_rate.push(BATCH as f64 / started.elapsed().as_secs_f64());
                }
            }
        }
    });
    let us = |v: &mut Vec<f64>| median(v) * 1e6;
    let (b50, h50) = (us(&mut byoc_lat), us(&mut hyper_lat));
    let (brate, hrate) = (median(&mut byoc_rate), median(&mut hyper_rate));
    println!("\nhttp summary (medians over {ROUNDS} alternating rounds)");
    println!("| | byoc http adapter | pooled hyper | byoc / hyper |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| GET p50, 1 task | {b50:.0} µs | {h50:.0} µs | {:.2}× |",
        b50 / h50
    );
    println!(
        "| GET throughput, {TASKS} tasks | {brate:.0}/s | {hrate:.0}/s | {:.2}× |",
        brate / hrate
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
