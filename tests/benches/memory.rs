//! The wasm memory adapter, the native moka provider and the filesystem adapter against
//! the baselines a user would use instead, measured in the same run:
//! `moka::sync::Cache` and a `Mutex<HashMap>` for memory, `std::fs` for files.
//!
//! `cargo bench -p byoc-tests --bench memory`; figures and ratios go to BENCHMARKS.md.

use byoc::{AdapterConfig, ConfigValue, Provider, Registry};
use byoc_tests::bench::HitProviders;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, Mutex};

const SIZES: [usize; 3] = [64, 1024, 64 * 1024];

/// Keys of the `get_hit_100k_keys` working set.
const WORKING_SET: u64 = 100_000;

/// Step through the working set: a prime, so every key is visited, in a scattered order.
const STRIDE: usize = 7_919;

fn get_hit(c: &mut Criterion) {
    let rt = byoc_tests::bench::runtime();
    let registry = Registry::new().expect("runtime");
    let providers = HitProviders::create(&rt, &registry);
    let HitProviders { wasm, lru, native } = &providers;
    let moka: moka::sync::Cache<String, Vec<u8>> = moka::sync::Cache::new(10_000);
    let map: Mutex<HashMap<String, Vec<u8>>> = Mutex::new(HashMap::new());

    let mut group = c.benchmark_group("get_hit");
    for size in SIZES {
        let value = vec![7u8; size];
        let key = format!("key-{size}");
        providers.set(&rt, &key, &value);
        moka.insert(key.clone(), value.clone());
        map.lock().expect("lock").insert(key.clone(), value.clone());
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("moka_sync", size), &key, |b, k| {
            b.iter(|| black_box(moka.get(black_box(k.as_str()))))
        });
        group.bench_with_input(BenchmarkId::new("mutex_hashmap", size), &key, |b, k| {
            b.iter(|| {
                black_box(
                    map.lock()
                        .expect("lock")
                        .get(black_box(k.as_str()))
                        .cloned(),
                )
            })
        });
        group.bench_with_input(BenchmarkId::new("native_provider", size), &key, |b, k| {
            b.to_async(&rt)
                .iter(|| async { black_box(native.get(black_box(k)).await) })
        });
        group.bench_with_input(BenchmarkId::new("wasm_memory", size), &key, |b, k| {
            b.to_async(&rt)
                .iter(|| async { black_box(wasm.get(black_box(k)).await) })
        });
        group.bench_with_input(BenchmarkId::new("wasm_memory_lru", size), &key, |b, k| {
            b.to_async(&rt)
                .iter(|| async { black_box(lru.get(black_box(k)).await) })
        });
    }
    group.finish();

    // The same hits spread over a working set of 100,000 keys (64 B values), visited in a
    // scattered order (a prime stride): each get finds its entry out of the CPU's caches,
    // as in a real cache, where the single hot key above always hits them.
    let mut group = c.benchmark_group("get_hit_100k_keys");
    let keys: Vec<String> = (0..WORKING_SET).map(|i| format!("ws-{i:06}")).collect();
    let moka_ws: moka::sync::Cache<String, Vec<u8>> = moka::sync::Cache::new(2 * WORKING_SET);
    for k in &keys {
        rt.block_on(wasm.set(k, &[5u8; 64], None)).expect("set");
        rt.block_on(lru.set(k, &[5u8; 64], None)).expect("set");
        moka_ws.insert(k.clone(), vec![5u8; 64]);
    }
    for p in [&wasm, &lru] {
        let held = rt
            .block_on(p.get_multi(&keys))
            .expect("get_multi")
            .iter()
            .filter(|v| v.is_some())
            .count();
        assert_eq!(
            held, WORKING_SET as usize,
            "every key of the working set is held"
        );
    }
    let mut at = 0;
    let mut next = || {
        at = (at + STRIDE) % keys.len();
        &keys[at]
    };
    group.bench_function("moka_sync", |b| {
        b.iter(|| black_box(moka_ws.get(black_box(next().as_str()))))
    });
    group.bench_function("wasm_memory", |b| {
        b.to_async(&rt).iter(|| {
            let k = next();
            async { black_box(wasm.get(black_box(k)).await) }
        })
    });
    group.bench_function("wasm_memory_lru", |b| {
        b.to_async(&rt).iter(|| {
            let k = next();
            async { black_box(lru.get(black_box(k)).await) }
        })
    });
    group.finish();

    let mut group = c.benchmark_group("set");
    for size in [64usize, 1024] {
        let value = vec![7u8; size];
        group.bench_with_input(BenchmarkId::new("moka_sync", size), &value, |b, v| {
            b.iter(|| moka.insert("set-key".to_owned(), v.clone()))
        });
        group.bench_with_input(BenchmarkId::new("wasm_memory", size), &value, |b, v| {
            b.to_async(&rt)
                .iter(|| async { wasm.set("set-key", v, None).await.expect("set") })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("get_multi_100x64B");
    let keys: Vec<String> = (0..100).map(|i| format!("multi-{i}")).collect();
    for k in &keys {
        rt.block_on(wasm.set(k, &[1u8; 64], None)).expect("set");
        moka.insert(k.clone(), vec![1u8; 64]);
    }
    group.bench_function("moka_sync_loop", |b| {
        b.iter(|| {
            keys.iter()
                .map(|k| moka.get(k.as_str()))
                .collect::<Vec<_>>()
        })
    });
    group.bench_function("wasm_memory", |b| {
        b.to_async(&rt)
            .iter(|| async { wasm.get_multi(&keys).await.expect("get_multi") })
    });
    group.finish();
}

fn filesystem(c: &mut Criterion) {
    let rt = byoc_tests::bench::runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let registry = Registry::new().expect("runtime");
    let open = |offload: bool| {
        rt.block_on(
            registry.create(
                "filesystem",
                AdapterConfig::new()
                    .with("dir", ConfigValue::Text(dir.path().display().to_string()))
                    .with("offload-io", ConfigValue::Boolean(offload)),
            ),
        )
        .expect("filesystem")
    };
    let fs: Arc<dyn Provider> = open(false);
    // The same directory with each file operation on tokio's blocking pool.
    let offloaded: Arc<dyn Provider> = open(true);
    let plain = tempfile::tempdir().expect("temp dir");
    let mut group = c.benchmark_group("filesystem_1KiB");
    let value = vec![3u8; 1024];
    rt.block_on(fs.set("file", &value, None)).expect("set");
    let path = plain.path().join("file");
    std::fs::write(&path, &value).expect("write");
    group.bench_function("std_fs_read", |b| {
        b.iter(|| std::fs::read(&path).expect("read"))
    });
    group.bench_function("adapter_get", |b| {
        b.to_async(&rt)
            .iter(|| async { fs.get("file").await.expect("get") })
    });
    group.bench_function("adapter_get_offloaded", |b| {
        b.to_async(&rt)
            .iter(|| async { offloaded.get("file").await.expect("get") })
    });
    let tmp = plain.path().join("file.tmp");
    group.bench_function("std_fs_write_rename", |b| {
        b.iter(|| {
            std::fs::write(&tmp, &value).expect("write");
            std::fs::rename(&tmp, &path).expect("rename");
        })
    });
    group.bench_function("adapter_set", |b| {
        b.to_async(&rt)
            .iter(|| async { fs.set("file", &value, None).await.expect("set") })
    });
    group.bench_function("adapter_set_offloaded", |b| {
        b.to_async(&rt)
            .iter(|| async { offloaded.set("file", &value, None).await.expect("set") })
    });
    group.finish();

    // Listing: `keys("*")` of 1000 entries (a directory listing, then each entry read to
    // check it is live) against std listing the same names and reading each file.
    let listed = tempfile::tempdir().expect("temp dir");
    let lister: Arc<dyn Provider> = rt
        .block_on(registry.create(
            "filesystem",
            AdapterConfig::new().with(
                "dir",
                ConfigValue::Text(listed.path().display().to_string()),
            ),
        ))
        .expect("filesystem");
    let plain_listed = tempfile::tempdir().expect("temp dir");
    for i in 0..1000 {
        let key = format!("key:{i:04}");
        rt.block_on(lister.set(&key, &value, None)).expect("set");
        std::fs::write(plain_listed.path().join(&key), &value).expect("write");
    }
    let mut group = c.benchmark_group("filesystem_list_1000");
    group.bench_function("std_read_dir_and_read", |b| {
        b.iter(|| {
            let mut n = 0;
            for entry in std::fs::read_dir(plain_listed.path()).expect("read_dir") {
                n += std::fs::read(entry.expect("entry").path())
                    .expect("read")
                    .len();
            }
            n
        })
    });
    group.bench_function("adapter_keys", |b| {
        b.to_async(&rt).iter(|| async {
            let keys = lister.keys("*").await.expect("keys");
            assert_eq!(keys.len(), 1000);
            keys
        })
    });
    group.finish();
}

criterion_group!(benches, get_hit, filesystem);
criterion_main!(benches);
