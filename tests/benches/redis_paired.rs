//! Redis GETs through BYOC's `redis` provider and through one multiplexed redis-rs
//! connection, measured in alternation on the same private `redis-server`, for ratios
//! that hold on a shared machine (the method of `benches/paired.rs`).
//!
//! Throughput: `TOTAL` GETs split over 1, 4, 16, 64 and 256 concurrent tasks, of one key
//! and of one key per task; each round times BYOC and redis-rs right after each other
//! (alternating which goes first) and the ratio (BYOC's GETs/s over redis-rs') is taken
//! per round; the median over the rounds is reported. Latency: one task's GETs, in blocks
//! of 100 alternating between the two, p50 and p90 of each.
//!
//! `BYOC_REDIS_CPUS=0 taskset -c 1 cargo bench -p byoc-tests --bench redis_paired`
//! (throughput: server on CPU 0, client on CPU 1; put both on one CPU for latency).
//! `BYOC_REDIS_PAIRED_ROUNDS` (default 9) sets the rounds, `BYOC_REDIS_PAIRED=latency` or
//! `=throughput` runs one part only, `BYOC_REDIS_PAIRED_MAX_BATCH` sets BYOC's `max-batch`.

use byoc::{AdapterConfig, ConfigValue, Provider, Registry};
use byoc_tests::redis_server::RedisServer;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

const VALUE: &[u8] = &[7u8; 100];
const TASKS: [usize; 5] = [1, 4, 16, 64, 256];
/// GETs per timed slice, split evenly over the tasks.
const TOTAL: usize = 4096;

type Raw = redis::aio::MultiplexedConnection;

/// Times `TOTAL` GETs from `tasks` tasks; `distinct`: task `t` reads `t{t}`, else all `k1`.
async fn byoc_slice(p: &Arc<dyn Provider>, tasks: usize, distinct: bool) -> Duration {
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let p = Arc::clone(p);
            tokio::spawn(async move {
                let key = if distinct {
                    format!("t{t}")
                } else {
                    "k1".to_owned()
                };
                for _ in 0..TOTAL / tasks {
                    black_box(p.get(&key).await.expect("get"));
                }
            })
        })
        .collect();
    for h in handles {
        h.await.expect("task");
    }
    start.elapsed()
}

/// [`byoc_slice`] on redis-rs (each task a clone of the one connection).
async fn raw_slice(raw: &Raw, tasks: usize, distinct: bool) -> Duration {
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let mut conn = raw.clone();
            tokio::spawn(async move {
                let key = if distinct {
                    format!("bench:t{t}")
                } else {
                    "bench:k1".to_owned()
                };
                for _ in 0..TOTAL / tasks {
                    black_box(raw_get(&mut conn, &key).await);
                }
            })
        })
        .collect();
    for h in handles {
        h.await.expect("task");
    }
    start.elapsed()
}

async fn raw_get(conn: &mut Raw, key: &str) -> Option<Vec<u8>> {
    redis::cmd("GET")
        .arg(key)
        .query_async(conn)
        .await
        .expect("get")
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let Some(server) = RedisServer::start("redis paired benchmark") else {
        return;
    };
    let rounds: usize = std::env::var("BYOC_REDIS_PAIRED_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(9)
        .max(1);
    let part = std::env::var("BYOC_REDIS_PAIRED").unwrap_or_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio");
    let mut config = AdapterConfig::new()
        .with("url", ConfigValue::Text(server.url()))
        .with("namespace", ConfigValue::Text("bench:".into()));
    if let Some(max) = std::env::var("BYOC_REDIS_PAIRED_MAX_BATCH")
        .ok()
        .and_then(|m| m.parse().ok())
    {
        config = config.with("max-batch", ConfigValue::Integer(max));
    }
    let provider: Arc<dyn Provider> = rt
        .block_on(Registry::new().expect("runtime").create("redis", config))
        .expect("redis provider");
    let raw: Raw = rt
        .block_on(async {
            redis::Client::open(server.url())?
                .get_multiplexed_async_connection()
                .await
        })
        .expect("redis-rs connection");
    rt.block_on(async {
        let mut items = vec![byoc::Item::new("k1".to_owned(), VALUE.to_vec(), None)];
        items.extend((0..256).map(|t| byoc::Item::new(format!("t{t}"), VALUE.to_vec(), None)));
        provider.set_multi(&items).await.expect("seed");
    });

    if part != "throughput" {
        latency(&rt, &provider, &raw, rounds);
    }
    if part == "latency" {
        return;
    }
    println!("| keys | tasks | byoc K GET/s | redis-rs K GET/s | ratio, median (min–max) |");
    println!("| --- | ---: | ---: | ---: | --- |");
    for distinct in [false, true] {
        for tasks in TASKS {
            // Warm-up: one slice each.
            rt.block_on(byoc_slice(&provider, tasks, distinct));
            rt.block_on(raw_slice(&raw, tasks, distinct));
            let (mut ours, mut theirs, mut ratios) = (vec![], vec![], vec![]);
            for round in 0..rounds {
                let (b, r) = rt.block_on(async {
                    if round % 2 == 0 {
                        let b = byoc_slice(&provider, tasks, distinct).await;
                        (b, raw_slice(&raw, tasks, distinct).await)
                    } else {
                        let r = raw_slice(&raw, tasks, distinct).await;
                        (byoc_slice(&provider, tasks, distinct).await, r)
                    }
                });
                let rate = |d: Duration| TOTAL as f64 / d.as_secs_f64() / 1000.0;
                ours.push(rate(b));
                theirs.push(rate(r));
                ratios.push(r.as_secs_f64() / b.as_secs_f64());
            }
            let (lo, hi) = (
                ratios.iter().copied().fold(f64::MAX, f64::min),
                ratios.iter().copied().fold(0.0, f64::max),
            );
            println!(
                "| {} | {tasks} | {:.0} | {:.0} | {:.2}× ({lo:.2}–{hi:.2}) |",
                if distinct { "distinct" } else { "one" },
                median(&mut ours),
                median(&mut theirs),
                median(&mut ratios),
            );
        }
    }
}

/// One task's GETs, BYOC and redis-rs alternating in blocks of 100 (`rounds` × 5 blocks
/// each): p50 and p90 of each, and the ratio of the p50s.
fn latency(rt: &tokio::runtime::Runtime, provider: &Arc<dyn Provider>, raw: &Raw, rounds: usize) {
    const PER_BLOCK: usize = 100;
    let blocks = rounds * 5;
    let (mut byoc, mut rs) = rt.block_on(async {
        let mut conn = raw.clone();
        for _ in 0..PER_BLOCK {
            black_box(provider.get("k1").await.expect("get"));
            black_box(raw_get(&mut conn, "bench:k1").await);
        }
        let mut byoc = Vec::with_capacity(blocks * PER_BLOCK);
        let mut rs = Vec::with_capacity(blocks * PER_BLOCK);
        for block in 0..blocks {
            for side in 0..2 {
                for _ in 0..PER_BLOCK {
                    let t = Instant::now();
                    if (side + block) % 2 == 0 {
                        black_box(provider.get("k1").await.expect("get"));
                        byoc.push(t.elapsed());
                    } else {
                        black_box(raw_get(&mut conn, "bench:k1").await);
                        rs.push(t.elapsed());
                    }
                }
            }
        }
        (byoc, rs)
    });
    byoc.sort_unstable();
    rs.sort_unstable();
    let at = |v: &[Duration], p: usize| v[(v.len() * p / 100).min(v.len() - 1)];
    let (b50, r50) = (at(&byoc, 50), at(&rs, 50));
    println!(
        "1-task GET latency, {} calls each: byoc p50 {b50:.1?} p90 {:.1?}; redis-rs p50 \
         {r50:.1?} p90 {:.1?}; p50 ratio {:.3}",
        byoc.len(),
        at(&byoc, 90),
        at(&rs, 90),
        b50.as_secs_f64() / r50.as_secs_f64()
    );
}
