//! GET / SET / MGET through the Redis adapter (host import, wasm component, provider
//! trait) against raw redis-rs, on the same private `redis-server`, in the same run.
//!
//! `cargo bench -p byoc-tests --bench redis`; results feed `BENCHMARKS.md`. Skips (prints
//! why) when `redis-server` is not installed.

use byoc::{AdapterConfig, ConfigValue, Provider, Registry};
use byoc_tests::redis_server::RedisServer;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;

const VALUE: &[u8] = &[7u8; 100];
const MGET_KEYS: usize = 100;

fn bench(c: &mut Criterion) {
    let Some(server) = RedisServer::start("redis benchmark") else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio");
    let provider: Arc<dyn Provider> = rt
        .block_on(
            Registry::new().expect("runtime").create(
                "redis",
                AdapterConfig::new()
                    .with("url", ConfigValue::Text(server.url()))
                    .with("namespace", ConfigValue::Text("bench:".into())),
            ),
        )
        .expect("redis provider");
    let mut raw = rt
        .block_on(async {
            redis::Client::open(server.url())?
                .get_multiplexed_async_connection()
                .await
        })
        .expect("redis-rs connection");
    let keys: Vec<String> = (0..MGET_KEYS).map(|i| format!("k{i}")).collect();
    let raw_keys: Vec<String> = keys.iter().map(|k| format!("bench:{k}")).collect();
    rt.block_on(async {
        for k in &keys {
            provider.set(k, VALUE, None).await.expect("seed");
        }
    });

    let mut group = c.benchmark_group("redis");
    group.bench_function("get/byoc", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(provider.get("k1").await.expect("get")) })
    });
    group.bench_function("get/redis-rs", |b| {
        b.to_async(&rt).iter(|| {
            let mut conn = raw.clone();
            async move {
                let v: Option<Vec<u8>> = redis::cmd("GET")
                    .arg("bench:k1")
                    .query_async(&mut conn)
                    .await
                    .expect("get");
                black_box(v)
            }
        })
    });
    group.bench_function("set/byoc", |b| {
        b.to_async(&rt)
            .iter(|| async { provider.set("k1", VALUE, None).await.expect("set") })
    });
    group.bench_function("set/redis-rs", |b| {
        b.to_async(&rt).iter(|| {
            let mut conn = raw.clone();
            async move {
                let () = redis::cmd("SET")
                    .arg("bench:k1")
                    .arg(VALUE)
                    .query_async(&mut conn)
                    .await
                    .expect("set");
            }
        })
    });
    group.bench_function("mget100/byoc", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(provider.get_multi(&keys).await.expect("mget")) })
    });
    group.bench_function("mget100/redis-rs", |b| {
        b.to_async(&rt).iter(|| {
            let mut conn = raw.clone();
            let keys = &raw_keys;
            async move {
                let v: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
                    .arg(keys)
                    .query_async(&mut conn)
                    .await
                    .expect("mget");
                black_box(v)
            }
        })
    });
    group.finish();
    let _ = rt.block_on(async { redis::cmd("PING").query_async::<String>(&mut raw).await });
}

criterion_group!(benches, bench);
criterion_main!(benches);
