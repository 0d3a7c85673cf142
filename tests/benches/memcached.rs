//! The `memcached` provider (meta protocol spoken in the wasm guest over a TCP grant)
//! against a native Rust client (`memcache`, text protocol, a pool of connections), on the
//! same private `memcached`, in the same run: one-task GET and SET latency, GETs from 256
//! concurrent tasks, and a 1000-key multi-get (one pipelined round trip for both).
//!
//! `cargo bench -p byoc-tests --bench memcached`; results feed `BENCHMARKS.md`. Skips
//! (prints why) when `memcached` is not installed.

use byoc::{AdapterConfig, ConfigValue, Provider, Registry};
use byoc_tests::service::{self, Service};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

const VALUE: &[u8] = &[7u8; 100];
/// Concurrent tasks of the throughput benchmark.
const TASKS: usize = 256;
/// GETs per measured batch of the throughput benchmark (split over the tasks).
const BATCH: usize = 4096;
/// Keys of the multi-get benchmark.
const MULTI: usize = 1000;
/// Connections of the native client's pool (the provider's instances hold one each).
const POOL: u32 = 64;

fn bench(c: &mut Criterion) {
    if !service::available(
        "memcached benchmark",
        &["memcached"],
        "apt-get install memcached",
    ) {
        return;
    }
    let server = Service::start(
        "memcached",
        Duration::from_secs(10),
        Box::new(|_dir, port| {
            let mut cmd = Command::new("memcached");
            let port = port.to_string();
            cmd.args(["-l", "127.0.0.1", "-p", &port, "-U", "0", "-m", "256"])
                .args(["-t", "2", "-u", "nobody"]);
            cmd
        }),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    let provider: Arc<dyn Provider> = rt
        .block_on(
            Registry::new().expect("runtime").create(
                "memcached",
                AdapterConfig::new()
                    .with("servers", ConfigValue::TextList(vec![server.addr()]))
                    .with("namespace", ConfigValue::Text("bench:".into())),
            ),
        )
        .expect("memcached provider");
    let native = memcache::Client::with_pool_size(
        format!("memcache://{}?protocol=ascii", server.addr()).as_str(),
        POOL,
    )
    .expect("memcache client");
    let keys: Vec<String> = (0..MULTI).map(|i| format!("m{i}")).collect();
    let native_keys: Vec<String> = keys.iter().map(|k| format!("bench:{k}")).collect();
    rt.block_on(async {
        let items: Vec<byoc::Item> = keys
            .iter()
            .chain(std::iter::once(&"k1".to_owned()))
            .map(|k| byoc::Item::new(k.clone(), VALUE.to_vec(), None))
            .collect();
        provider.set_multi(&items).await.expect("seed");
    });

    let mut group = c.benchmark_group("memcached");
    group.bench_function("get/byoc", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(provider.get("k1").await.expect("get")) })
    });
    group.bench_function("get/memcache", |b| {
        b.iter(|| black_box(native.get::<Vec<u8>>("bench:k1").expect("get")))
    });
    group.bench_function("set/byoc", |b| {
        b.to_async(&rt)
            .iter(|| async { provider.set("k1", VALUE, None).await.expect("set") })
    });
    group.bench_function("set/memcache", |b| {
        b.iter(|| native.set("bench:k1", VALUE, 0).expect("set"))
    });
    group.bench_function("get_multi1000/byoc", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(provider.get_multi(&keys).await.expect("get_multi")) })
    });
    group.bench_function("get_multi1000/memcache", |b| {
        let refs: Vec<&str> = native_keys.iter().map(String::as_str).collect();
        b.iter(|| black_box(native.gets::<Vec<u8>>(&refs).expect("gets")))
    });
    group.finish();

    let mut group = c.benchmark_group("memcached_throughput");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(10);
    group.bench_function(BenchmarkId::new("byoc", TASKS), |b| {
        b.to_async(&rt).iter(|| async {
            let handles: Vec<_> = (0..TASKS)
                .map(|t| {
                    let p = Arc::clone(&provider);
                    tokio::spawn(async move {
                        let key = format!("m{t}");
                        for _ in 0..BATCH / TASKS {
                            black_box(p.get(&key).await.expect("get"));
                        }
                    })
                })
                .collect();
            for h in handles {
                h.await.expect("task");
            }
        })
    });
    // The native client blocks: one thread per task, sharing its pool.
    group.bench_function(BenchmarkId::new("memcache", TASKS), |b| {
        b.iter(|| {
            std::thread::scope(|s| {
                for t in 0..TASKS {
                    let native = &native;
                    s.spawn(move || {
                        let key = format!("bench:m{t}");
                        for _ in 0..BATCH / TASKS {
                            black_box(native.get::<Vec<u8>>(&key).expect("get"));
                        }
                    });
                }
            })
        })
    });
    group.finish();
    drop(server);
}

criterion_group!(benches, bench);
criterion_main!(benches);
