//! The redb adapter against native `redb`, and the SQLite adapter against native SQLite
//! (`rusqlite`, the same bundled library), on the same disk, schema and durability,
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

/// The SQLite adapter's schema (adapters/sqlite), on native SQLite.
const SQLITE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL,
    expires_at INTEGER,
    accessed_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_expires_at ON entries(expires_at)
    WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS entries_accessed_at ON entries(accessed_at);
";

/// What the adapter does for a `set`: one immediate transaction with the upsert and a
/// purge batch of expired rows, `synchronous = FULL` with a rollback journal.
fn sqlite_native_set(conn: &mut rusqlite::Connection, key: &str, value: &[u8]) {
    let txn = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .expect("begin");
    txn.prepare_cached(
        "INSERT INTO entries (key, value, expires_at, accessed_at) VALUES (?1, ?2, NULL, 0) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, \
         expires_at = excluded.expires_at, accessed_at = excluded.accessed_at",
    )
    .and_then(|mut s| s.execute(rusqlite::params![key, value]))
    .expect("upsert");
    txn.prepare_cached(
        "DELETE FROM entries WHERE key IN (SELECT key FROM entries \
         WHERE expires_at <= ?1 LIMIT 32)",
    )
    .and_then(|mut s| s.execute([0i64]))
    .expect("purge");
    txn.commit().expect("commit");
}

fn sqlite_native_get(conn: &rusqlite::Connection, key: &str) -> Option<Vec<u8>> {
    use rusqlite::OptionalExtension;
    conn.prepare_cached(
        "SELECT value FROM entries WHERE key = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
    )
    .and_then(|mut s| {
        s.query_row(rusqlite::params![key, i64::MAX - 1], |r| r.get(0))
            .optional()
    })
    .expect("get")
}

fn sqlite(c: &mut Criterion) {
    let rt = byoc_tests::bench::runtime();
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let adapter_dir = dir.path().join("adapter");
    std::fs::create_dir_all(&adapter_dir).expect("dir");
    let registry = Registry::new().expect("runtime");
    let adapter = match rt.block_on(
        registry.create(
            "sqlite",
            AdapterConfig::new()
                .with("dir", ConfigValue::Text(adapter_dir.display().to_string()))
                .with("journal", ConfigValue::Text("delete".into()))
                .with("synchronous", ConfigValue::Text("full".into())),
        ),
    ) {
        Ok(adapter) => adapter,
        Err(e) => {
            eprintln!("SKIPPED sqlite benchmarks: {e}");
            return;
        }
    };
    let mut native = rusqlite::Connection::open(dir.path().join("native.sqlite")).expect("open");
    native
        .execute_batch(&format!(
            "PRAGMA journal_mode = DELETE; PRAGMA synchronous = FULL; {SQLITE_SCHEMA}"
        ))
        .expect("schema");

    let mut get = c.benchmark_group("sqlite_get");
    for size in SIZES {
        let value = vec![7u8; size];
        let key = format!("key-{size}");
        rt.block_on(adapter.set(&key, &value, None)).expect("set");
        sqlite_native_set(&mut native, &key, &value);
        get.throughput(Throughput::Bytes(size as u64));
        get.bench_with_input(BenchmarkId::new("native_sqlite", size), &key, |b, k| {
            b.iter(|| black_box(sqlite_native_get(&native, black_box(k))))
        });
        get.bench_with_input(BenchmarkId::new("sqlite_adapter", size), &key, |b, k| {
            b.to_async(&rt)
                .iter(|| async { black_box(adapter.get(black_box(k)).await) })
        });
    }
    get.finish();

    let mut set = c.benchmark_group("sqlite_set_durable");
    set.sample_size(20);
    for size in SIZES {
        let value = vec![9u8; size];
        let key = format!("set-{size}");
        set.throughput(Throughput::Bytes(size as u64));
        set.bench_with_input(BenchmarkId::new("native_sqlite", size), &key, |b, k| {
            b.iter(|| sqlite_native_set(&mut native, black_box(k), black_box(&value)))
        });
        set.bench_with_input(BenchmarkId::new("sqlite_adapter", size), &key, |b, k| {
            b.to_async(&rt)
                .iter(|| async { black_box(adapter.set(black_box(k), &value, None).await) })
        });
    }
    set.finish();
}

criterion_group!(benches, stores, sqlite);
criterion_main!(benches);
