//! The host-side layers against what they wrap, in the same run:
//!
//! - `typed/*`: `Cache<T>` get/set of a small struct with postcard and with JSON, against
//!   the raw-bytes path of the same cache (`get_raw`/`set_raw` of the encoded bytes), on
//!   the native moka provider (so the serializer is what differs);
//! - `near_hit/*`: a `NearCache` L1 hit (`get`, zero-copy `get_bytes`, and the synchronous
//!   `get_cached`) in front of the wasm memory adapter, against `moka::sync::Cache<String, Vec<u8>>::get` (value
//!   cloned), `moka::sync::Cache<String, Bytes>::get` (shared), and the wasm memory
//!   adapter without the near cache.
//!
//! `cargo bench -p byoc-tests --bench layers`; figures go to BENCHMARKS.md.

use byoc::{Contract, Json, NearCache, Postcard, Provider, Registry};
use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use serde::{Deserialize, Serialize};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct User {
    id: u64,
    name: String,
    email: String,
    roles: Vec<String>,
    active: bool,
}

fn typed(c: &mut Criterion) {
    let rt = byoc_tests::bench::runtime();
    let registry = Registry::new().expect("runtime");
    let native = rt
        .block_on(registry.create("native-memory", Default::default()))
        .expect("native");
    let user = User {
        id: 42,
        name: "Ada Lovelace".into(),
        email: "ada@example.invalid".into(),
        roles: vec!["admin".into(), "analyst".into()],
        active: true,
    };
    let postcard = Contract::<User>::new("pc", Arc::clone(&native))
        .key_prefix("pc:")
        .serializer(Postcard)
        .cache();
    let json = Contract::<User>::new("js", Arc::clone(&native))
        .key_prefix("js:")
        .serializer(Json)
        .cache();
    rt.block_on(postcard.set("u", &user, None)).expect("set");
    rt.block_on(json.set("u", &user, None)).expect("set");
    let pc_bytes = rt
        .block_on(postcard.get_raw("u"))
        .expect("raw")
        .expect("value");
    let mut group = c.benchmark_group("typed");
    group.bench_function("get/raw_bytes", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(postcard.get_raw("u").await.expect("get")) })
    });
    group.bench_function("get/postcard", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(postcard.get("u").await.expect("get")) })
    });
    group.bench_function("get/json", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(json.get("u").await.expect("get")) })
    });
    group.bench_function("set/raw_bytes", |b| {
        b.to_async(&rt)
            .iter(|| async { postcard.set_raw("u", &pc_bytes, None).await.expect("set") })
    });
    group.bench_function("set/postcard", |b| {
        b.to_async(&rt)
            .iter(|| async { postcard.set("u", &user, None).await.expect("set") })
    });
    group.bench_function("set/json", |b| {
        b.to_async(&rt)
            .iter(|| async { json.set("u", &user, None).await.expect("set") })
    });
    group.finish();
}

fn near(c: &mut Criterion) {
    let rt = byoc_tests::bench::runtime();
    let registry = Registry::new().expect("runtime");
    let wasm = rt
        .block_on(registry.create("memory", Default::default()))
        .expect("memory");
    let near = NearCache::builder()
        .max_staleness(Duration::from_secs(3600))
        .build(Arc::clone(&wasm));
    let moka_vec: moka::sync::Cache<String, Vec<u8>> = moka::sync::Cache::new(10_000);
    let moka_bytes: moka::sync::Cache<String, Bytes> = moka::sync::Cache::new(10_000);
    let mut group = c.benchmark_group("near_hit");
    for size in [64usize, 1024, 64 * 1024] {
        let key = format!("key-{size}");
        let value = vec![7u8; size];
        rt.block_on(near.set(&key, &value, None)).expect("set");
        rt.block_on(near.get(&key)).expect("fill");
        moka_vec.insert(key.clone(), value.clone());
        moka_bytes.insert(key.clone(), Bytes::from(value.clone()));
        group.bench_with_input(BenchmarkId::new("moka_vec", size), &key, |b, k| {
            b.iter(|| black_box(moka_vec.get(black_box(k.as_str()))))
        });
        group.bench_with_input(BenchmarkId::new("moka_bytes", size), &key, |b, k| {
            b.iter(|| black_box(moka_bytes.get(black_box(k.as_str()))))
        });
        group.bench_with_input(BenchmarkId::new("moka_bytes_async", size), &key, |b, k| {
            b.to_async(&rt)
                .iter(|| async { black_box(moka_bytes.get(black_box(k.as_str()))) })
        });
        group.bench_with_input(BenchmarkId::new("near_get", size), &key, |b, k| {
            b.to_async(&rt)
                .iter(|| async { black_box(near.get(black_box(k)).await) })
        });
        group.bench_with_input(BenchmarkId::new("near_get_bytes", size), &key, |b, k| {
            b.to_async(&rt)
                .iter(|| async { black_box(near.get_bytes(black_box(k)).await) })
        });
        // The synchronous L1 peek: the same hit without the async harness.
        group.bench_with_input(BenchmarkId::new("near_get_cached", size), &key, |b, k| {
            b.iter(|| black_box(near.get_cached(black_box(k))))
        });
        group.bench_with_input(BenchmarkId::new("wasm_memory", size), &key, |b, k| {
            b.to_async(&rt)
                .iter(|| async { black_box(wasm.get(black_box(k)).await) })
        });
    }
    group.finish();
    let stats = rt.block_on(near.stats()).expect("stats");
    assert!(
        stats.extra("near.hits").unwrap_or(0) > 0,
        "the L1 served hits"
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = typed, near
}
criterion_main!(benches);
