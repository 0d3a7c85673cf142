//! The redb adapter against native `redb` on the same disk, schema and durability,
//! measured in the same run: `get` of a stored key and a durable `set`.
//!
//! `cargo bench -p byoc-tests --bench stores`; figures and ratios go to BENCHMARKS.md.
//! The native side stores what the adapter stores (the SDK's entry encoding: a format
//! byte, the expiry, the value) in a table of the same name, and commits each `set` with
//! `Durability::Immediate`, like the adapter's default.

use byoc::{AdapterConfig, ConfigValue, Registry};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use std::hint::black_box;

const SIZES: [usize; 2] = [64, 4096];
const ENTRIES: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("entries");

/// The SDK's encoding of a value with no expiry.
fn encoded(value: &[u8]) -> Vec<u8> {
    let mut out = vec![1];
    out.extend_from_slice(&u64::MAX.to_le_bytes());
    out.extend_from_slice(value);
    out
}

fn native_set(db: &Database, key: &str, value: &[u8]) {
    let mut txn = db.begin_write().expect("begin");
    txn.set_durability(Durability::Immediate)
        .expect("durability");
    {
        let mut table = txn.open_table(ENTRIES).expect("table");
        table
            .insert(key, encoded(value).as_slice())
            .expect("insert");
    }
    txn.commit().expect("commit");
}

fn native_get(db: &Database, key: &str) -> Option<Vec<u8>> {
    let txn = db.begin_read().expect("read");
    let table = txn.open_table(ENTRIES).expect("table");
    table
        .get(key)
        .expect("get")
        .map(|v| v.value()[9..].to_vec())
}

fn stores(c: &mut Criterion) {
    let rt = byoc_tests::bench::runtime();
    // Both databases on the same disk: the target directory's temporary directory.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let adapter_dir = dir.path().join("adapter");
    std::fs::create_dir_all(&adapter_dir).expect("dir");
    let registry = Registry::new().expect("runtime");
    let adapter = rt
        .block_on(
            registry.create(
                "redb",
                AdapterConfig::new()
                    .with("dir", ConfigValue::Text(adapter_dir.display().to_string()))
                    .with("durability", ConfigValue::Text("immediate".into())),
            ),
        )
        .expect("redb adapter");
    let native = Database::builder()
        .set_cache_size(32 << 20)
        .create(dir.path().join("native.redb"))
        .expect("native redb");

    let mut get = c.benchmark_group("store_get");
    for size in SIZES {
        let value = vec![7u8; size];
        let key = format!("key-{size}");
        rt.block_on(adapter.set(&key, &value, None)).expect("set");
        native_set(&native, &key, &value);
        get.throughput(Throughput::Bytes(size as u64));
        get.bench_with_input(BenchmarkId::new("native_redb", size), &key, |b, k| {
            b.iter(|| black_box(native_get(&native, black_box(k))))
        });
        get.bench_with_input(BenchmarkId::new("redb_adapter", size), &key, |b, k| {
            b.to_async(&rt)
                .iter(|| async { black_box(adapter.get(black_box(k)).await) })
        });
    }
    get.finish();

    let mut set = c.benchmark_group("store_set_durable");
    set.sample_size(20);
    for size in SIZES {
        let value = vec![9u8; size];
        let key = format!("set-{size}");
        set.throughput(Throughput::Bytes(size as u64));
        set.bench_with_input(BenchmarkId::new("native_redb", size), &key, |b, k| {
            b.iter(|| native_set(&native, black_box(k), black_box(&value)))
        });
        set.bench_with_input(BenchmarkId::new("redb_adapter", size), &key, |b, k| {
            b.to_async(&rt)
                .iter(|| async { black_box(adapter.set(black_box(k), &value, None).await) })
        });
    }
    set.finish();
}

criterion_group!(benches, stores);
criterion_main!(benches);
