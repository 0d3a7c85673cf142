//! The PostgreSQL adapter against `tokio-postgres` on the same private server, table and
//! statements, measured in the same run: `get` of a stored key, an upsert `set`, and a
//! `get_multi` of 100 keys (one `= ANY($1)` statement on both sides).
//!
//! `cargo bench -p byoc-tests --bench postgres`; figures and ratios go to BENCHMARKS.md.
//! Skipped with a message when PostgreSQL is not installed.

use byoc::{AdapterConfig, ConfigValue, Registry};
use byoc_tests::postgres_server::{self, DATABASE, PASSWORD, USER};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

const GET: &str = "SELECT value, expires_at FROM byoc_bench WHERE key = $1 \
                   AND (expires_at IS NULL OR expires_at > $2)";
const GET_MULTI: &str = "SELECT key, value, expires_at FROM byoc_bench WHERE key = ANY($1) \
                         AND (expires_at IS NULL OR expires_at > $2)";
const SET: &str = "INSERT INTO byoc_bench (key, value, expires_at) VALUES ($1, $2, $3) \
                   ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, \
                   expires_at = EXCLUDED.expires_at";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn postgres(c: &mut Criterion) {
    let Some(server) = postgres_server::start("postgres bench") else {
        return;
    };
    let port = server.port();
    let rt = byoc_tests::bench::runtime();
    let adapter = rt
        .block_on(
            Registry::new().expect("runtime").create(
                "postgres",
                AdapterConfig::new()
                    .with("port", ConfigValue::Integer(i64::from(port)))
                    .with("user", ConfigValue::Text(USER.into()))
                    .with("password", ConfigValue::Text(PASSWORD.into()))
                    .with("database", ConfigValue::Text(DATABASE.into()))
                    .with("namespace", ConfigValue::Text("bench".into())),
            ),
        )
        .expect("postgres adapter");
    // The adapter creates the table; the native client then uses it.
    rt.block_on(adapter.set("warm", b"up", None)).expect("set");
    let native = rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(
            &format!(
                "host=127.0.0.1 port={port} user={USER} password={PASSWORD} dbname={DATABASE}"
            ),
            tokio_postgres::NoTls,
        )
        .await
        .expect("tokio-postgres connect");
        tokio::spawn(conn);
        client
    });
    let (get, get_multi, set) = rt.block_on(async {
        (
            native.prepare(GET).await.expect("prepare"),
            native.prepare(GET_MULTI).await.expect("prepare"),
            native.prepare(SET).await.expect("prepare"),
        )
    });

    let value = vec![7u8; 64];
    let keys: Vec<String> = (0..100).map(|i| format!("multi-{i}")).collect();
    for key in keys.iter().chain([&"key".to_owned()]) {
        rt.block_on(adapter.set(key, &value, None)).expect("set");
    }

    let mut group = c.benchmark_group("postgres");
    group.bench_function(BenchmarkId::new("tokio_postgres", "get"), |b| {
        b.to_async(&rt).iter(|| async {
            black_box(
                native
                    .query_opt(&get, &[&"key", &now_ms()])
                    .await
                    .expect("get"),
            )
        })
    });
    group.bench_function(BenchmarkId::new("adapter", "get"), |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(adapter.get("key").await.expect("get")) })
    });
    group.bench_function(BenchmarkId::new("tokio_postgres", "set"), |b| {
        b.to_async(&rt).iter(|| async {
            let none: Option<i64> = None;
            black_box(
                native
                    .execute(&set, &[&"set-key", &value, &none])
                    .await
                    .expect("set"),
            )
        })
    });
    group.bench_function(BenchmarkId::new("adapter", "set"), |b| {
        b.to_async(&rt)
            .iter(|| async { adapter.set("set-key", &value, None).await.expect("set") })
    });
    group.bench_function(BenchmarkId::new("tokio_postgres", "get_multi_100"), |b| {
        b.to_async(&rt).iter(|| async {
            black_box(
                native
                    .query(&get_multi, &[&keys, &now_ms()])
                    .await
                    .expect("get_multi"),
            )
        })
    });
    group.bench_function(BenchmarkId::new("adapter", "get_multi_100"), |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(adapter.get_multi(&keys).await.expect("get_multi")) })
    });
    group.finish();
    drop(server);
}

criterion_group!(benches, postgres);
criterion_main!(benches);
