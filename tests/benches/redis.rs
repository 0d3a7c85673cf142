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
            async move { black_box(raw_get(&mut conn, "bench:k1").await) }
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
    let single: Arc<dyn Provider> = rt
        .block_on(
            Registry::new().expect("runtime").create(
                "redis",
                AdapterConfig::new()
                    .with("url", ConfigValue::Text(server.url()))
                    .with("namespace", ConfigValue::Text("bench:".into()))
                    .with("instances", ConfigValue::Integer(1)),
            ),
        )
        .expect("redis provider");
    let unbatched: Arc<dyn Provider> = rt
        .block_on(
            Registry::new().expect("runtime").create(
                "redis",
                AdapterConfig::new()
                    .with("url", ConfigValue::Text(server.url()))
                    .with("namespace", ConfigValue::Text("bench:".into()))
                    .with("max-batch", ConfigValue::Integer(1)),
            ),
        )
        .expect("redis provider");
    throughput(c, &rt, &provider, &single, &unbatched, &raw);
    throughput_distinct(c, &rt, &provider, &raw);
    mget1000(c, &rt, &provider, &raw);
    latency(&rt, &provider, &raw);
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

/// One raw redis-rs GET of `key`.
async fn raw_get(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> Option<Vec<u8>> {
    redis::cmd("GET")
        .arg(key)
        .query_async(conn)
        .await
        .expect("get")
}

/// GETs issued by this many concurrent tasks.
const TASKS: [usize; 3] = [1, 16, 256];
/// GETs per measured batch (split evenly over the tasks).
const BATCH: usize = 2048;

/// Time for `BATCH` GETs of one key from `tasks` concurrent tasks: the pooled provider
/// (16 instances, auto-pipelined), the same without auto-pipelining (`max-batch` 1), the
/// same adapter on one instance, and redis-rs on one multiplexed connection (each task a
/// clone of it). Every task reads the same key, so a batch is one GET of it: the best case
/// of auto-pipelining; see [`throughput_distinct`] for one key per task.
fn throughput(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    pooled: &Arc<dyn Provider>,
    single: &Arc<dyn Provider>,
    unbatched: &Arc<dyn Provider>,
    raw: &redis::aio::MultiplexedConnection,
) {
    let mut group = c.benchmark_group("redis_throughput");
    group.throughput(criterion::Throughput::Elements(BATCH as u64));
    group.sample_size(10);
    for tasks in TASKS {
        for (name, p) in [
            ("byoc_pooled", pooled),
            ("byoc_unbatched", unbatched),
            ("byoc_one_instance", single),
        ] {
            group.bench_function(criterion::BenchmarkId::new(name, tasks), |b| {
                b.to_async(rt).iter(|| {
                    in_tasks(tasks, |_| {
                        let p = Arc::clone(p);
                        async move {
                            for _ in 0..BATCH / tasks {
                                black_box(p.get("k1").await.expect("get"));
                            }
                        }
                    })
                })
            });
        }
        group.bench_function(criterion::BenchmarkId::new("redis-rs", tasks), |b| {
            b.to_async(rt).iter(|| {
                in_tasks(tasks, |_| {
                    let mut conn = raw.clone();
                    async move {
                        for _ in 0..BATCH / tasks {
                            black_box(raw_get(&mut conn, "bench:k1").await);
                        }
                    }
                })
            })
        });
    }
    group.finish();
}

/// Like [`throughput`] with 256 tasks, but every task reads its own key (`t0`..`t255`,
/// seeded here): a batch is an MGET of distinct keys.
fn throughput_distinct(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    pooled: &Arc<dyn Provider>,
    raw: &redis::aio::MultiplexedConnection,
) {
    const TASKS: usize = 256;
    rt.block_on(async {
        let items: Vec<byoc::Item> = (0..TASKS)
            .map(|t| byoc::Item::new(format!("t{t}"), VALUE.to_vec(), None))
            .collect();
        pooled.set_multi(&items).await.expect("seed");
    });
    let mut group = c.benchmark_group("redis_throughput_distinct");
    group.throughput(criterion::Throughput::Elements(BATCH as u64));
    group.sample_size(10);
    group.bench_function(criterion::BenchmarkId::new("byoc_pooled", TASKS), |b| {
        b.to_async(rt).iter(|| {
            in_tasks(TASKS, |t| {
                let p = Arc::clone(pooled);
                async move {
                    let key = format!("t{t}");
                    for _ in 0..BATCH / TASKS {
                        black_box(p.get(&key).await.expect("get"));
                    }
                }
            })
        })
    });
    group.bench_function(criterion::BenchmarkId::new("redis-rs", TASKS), |b| {
        b.to_async(rt).iter(|| {
            in_tasks(TASKS, |t| {
                let mut conn = raw.clone();
                async move {
                    let key = format!("bench:t{t}");
                    for _ in 0..BATCH / TASKS {
                        black_box(raw_get(&mut conn, &key).await);
                    }
                }
            })
        })
    });
    group.finish();
}

/// `get_multi` (and `get_multi_bytes`) of 1000 keys against one raw MGET of the same keys.
fn mget1000(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    provider: &Arc<dyn Provider>,
    raw: &redis::aio::MultiplexedConnection,
) {
    let keys: Vec<String> = (0..1000).map(|i| format!("m{i}")).collect();
    let raw_keys: Vec<String> = keys.iter().map(|k| format!("bench:{k}")).collect();
    rt.block_on(async {
        let items: Vec<byoc::Item> = keys
            .iter()
            .map(|k| byoc::Item::new(k.clone(), VALUE.to_vec(), None))
            .collect();
        provider.set_multi(&items).await.expect("seed");
    });
    let mut group = c.benchmark_group("redis");
    group.bench_function("mget1000/byoc", |b| {
        b.to_async(rt)
            .iter(|| async { black_box(provider.get_multi(&keys).await.expect("mget")) })
    });
    // The zero-copy variant: every value a slice of the adapter's one packed answer.
    group.bench_function("mget1000/byoc_bytes", |b| {
        b.to_async(rt)
            .iter(|| async { black_box(provider.get_multi_bytes(&keys).await.expect("mget")) })
    });
    group.bench_function("mget1000/redis-rs", |b| {
        b.to_async(rt).iter(|| {
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
}

/// Per-call latency percentiles of a single task's GETs, byoc and redis-rs alternating
/// in blocks of 100 so both see the same machine load; printed, not a criterion group.
fn latency(
    rt: &tokio::runtime::Runtime,
    provider: &Arc<dyn Provider>,
    raw: &redis::aio::MultiplexedConnection,
) {
    const BLOCKS: usize = 40;
    const PER_BLOCK: usize = 100;
    let (byoc, rs) = rt.block_on(async {
        let mut byoc = Vec::with_capacity(BLOCKS * PER_BLOCK);
        let mut rs = Vec::with_capacity(BLOCKS * PER_BLOCK);
        let mut conn = raw.clone();
        for _ in 0..BLOCKS {
            for _ in 0..PER_BLOCK {
                let t = std::time::Instant::now();
                black_box(provider.get("k1").await.expect("get"));
                byoc.push(t.elapsed());
            }
            for _ in 0..PER_BLOCK {
                let t = std::time::Instant::now();
                black_box(raw_get(&mut conn, "bench:k1").await);
                rs.push(t.elapsed());
            }
        }
        (byoc, rs)
    });
    let pct = |mut v: Vec<std::time::Duration>, p: usize| {
        v.sort_unstable();
        v[(v.len() * p / 100).min(v.len() - 1)]
    };
    let (b50, r50) = (pct(byoc.clone(), 50), pct(rs.clone(), 50));
    println!(
        "redis 1-task GET latency over {} calls each: byoc p50 {b50:?} p90 {:?}; \
         redis-rs p50 {r50:?} p90 {:?}; p50 ratio {:.2}",
        BLOCKS * PER_BLOCK,
        pct(byoc, 90),
        pct(rs, 90),
        b50.as_secs_f64() / r50.as_secs_f64()
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
