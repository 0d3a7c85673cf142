//! Hits per second from one thread, two threads and eight tasks on two workers: the
//! partitioned `memory` adapter (also with four partitions per core), the near cache in
//! front of it, and moka, in the same run.
//!
//! Each measurement runs for a slice (`BYOC_SCALING_SLICE_MS`) and counts the hits; a
//! round measures every (cache, mode) in turn, the order rotating from round to round, so
//! a drift of the machine's speed hits all alike. The figure is the median over the rounds of the ratio
//! of a mode's hits per second to one thread's, from the same round.
//!
//! Every thread or task reads the same 1,024 keys of 64 B (all hits), each from its own
//! starting offset, with a prime stride: its reads spread over the adapter's partitions.
//!
//! Each slice also reads the CPU time its threads ran: on a machine shared with other
//! work, hits per CPU second show what a mode costs per hit (a contended lock or cache
//! line costs CPU) where hits per wall-clock second follow the machine's load. A thread
//! that waits for a lock uses no CPU: only the wall-clock figure shows that.
//!
//! `cargo bench -p byoc-tests --bench scaling`. `BYOC_SCALING_ROUNDS` (default 7) and
//! `BYOC_SCALING_SLICE_MS` (default 300) set the rounds and the slice.

use byoc::{AdapterConfig, NearCache, Provider, Registry, WasmProvider};
use byoc_tests::bench::{thread_cpu, threads_cpu};
use bytes::Bytes;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const KEYS: usize = 1024;
const STRIDE: usize = 389;
const VALUE: [u8; 64] = [7u8; 64];
/// Reads between two checks of the clock (and, in the tasks mode, between two yields).
const CHUNK: usize = 64;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Threads(usize),
    /// Tasks on a runtime of two workers.
    Tasks(usize),
}

impl Mode {
    fn label(self) -> String {
        match self {
            Mode::Threads(n) => format!("{n} thread{}", if n == 1 { "" } else { "s" }),
            Mode::Tasks(n) => format!("{n} tasks on 2 workers"),
        }
    }
}

const MODES: [Mode; 3] = [Mode::Threads(1), Mode::Threads(2), Mode::Tasks(8)];

/// What is read.
#[derive(Clone)]
enum Target {
    Moka(moka::sync::Cache<String, Bytes>),
    Adapter(&'static str, Arc<dyn Provider>),
    Near(Arc<NearCache>),
}

impl Target {
    fn name(&self) -> &'static str {
        match self {
            Target::Moka(_) => "moka `Bytes`",
            Target::Adapter(name, _) => name,
            Target::Near(_) => "near cache (`get_cached`)",
        }
    }

    /// Reads `CHUNK` keys from position `at`; returns the next position.
    async fn chunk(&self, keys: &[String], mut at: usize) -> usize {
        for _ in 0..CHUNK {
            let key = &keys[at];
            let found = match self {
                Target::Moka(c) => c.get(key.as_str()).is_some(),
                Target::Adapter(_, p) => p.get(key).await.expect("get").is_some(),
                Target::Near(n) => n.get_cached(key).is_some(),
            };
            assert!(black_box(found), "every read is a hit");
            at = (at + STRIDE) % keys.len();
        }
        at
    }
}

/// Reads until `stop`, from position `start`; adds its reads to `count`.
async fn reader(
    target: Target,
    keys: Arc<Vec<String>>,
    start: usize,
    stop: Instant,
    yields: bool,
    count: Arc<AtomicU64>,
) {
    let (mut at, mut n) = (start, 0u64);
    while Instant::now() < stop {
        at = target.chunk(&keys, at).await;
        n += CHUNK as u64;
        if yields {
            tokio::task::yield_now().await;
        }
    }
    count.fetch_add(n, Ordering::Relaxed);
}

/// Name of the tasks mode's runtime threads (their CPU time is read by this name).
const WORKERS: &str = "scaling-worker";

/// Hits per wall-clock second and per CPU second of `target` in `mode` over one slice.
fn measure(target: &Target, keys: &Arc<Vec<String>>, mode: Mode, slice: Duration) -> (f64, f64) {
    let count = Arc::new(AtomicU64::new(0));
    let cpu_ns = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let stop = start + slice;
    match mode {
        Mode::Threads(n) => {
            std::thread::scope(|s| {
                for t in 0..n {
                    let (target, keys, count) =
                        (target.clone(), Arc::clone(keys), Arc::clone(&count));
                    let cpu_ns = Arc::clone(&cpu_ns);
                    s.spawn(move || {
                        let cpu = thread_cpu().unwrap_or_default();
                        // One runtime per thread: an uncontended adapter call completes
                        // without waiting, as the benches' other hits do.
                        let rt = tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .expect("tokio");
                        let offset = t * KEYS / n;
                        rt.block_on(reader(target, keys, offset, stop, false, count));
                        let used = thread_cpu().unwrap_or_default().saturating_sub(cpu);
                        cpu_ns.fetch_add(used.as_nanos() as u64, Ordering::Relaxed);
                    });
                }
            });
        }
        Mode::Tasks(n) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name(WORKERS)
                .enable_all()
                .build()
                .expect("tokio");
            let cpu = threads_cpu(WORKERS).unwrap_or_default();
            rt.block_on(async {
                let tasks: Vec<_> = (0..n)
                    .map(|t| {
                        let (target, keys, count) =
                            (target.clone(), Arc::clone(keys), Arc::clone(&count));
                        tokio::spawn(reader(target, keys, t * KEYS / n, stop, true, count))
                    })
                    .collect();
                for task in tasks {
                    task.await.expect("task");
                }
            });
            let used = threads_cpu(WORKERS).unwrap_or_default().saturating_sub(cpu);
            cpu_ns.store(used.as_nanos() as u64, Ordering::Relaxed);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let hits = count.load(Ordering::Relaxed) as f64;
    let cpu = cpu_ns.load(Ordering::Relaxed).max(1) as f64 / 1e9;
    (hits / elapsed, hits / cpu)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[(v.len() - 1) / 2]
}

fn main() {
    let rounds = env("BYOC_SCALING_ROUNDS", 7).max(1) as usize;
    let slice = Duration::from_millis(env("BYOC_SCALING_SLICE_MS", 300).max(10));
    let rt = byoc_tests::bench::runtime();
    let registry = Registry::new().expect("runtime");
    let adapter = rt
        .block_on(registry.create("memory", AdapterConfig::new()))
        .expect("memory adapter");
    let near = Arc::new(
        NearCache::builder()
            .max_staleness(Duration::from_secs(3600))
            .build(Arc::clone(&adapter)),
    );
    let moka: moka::sync::Cache<String, Bytes> = moka::sync::Cache::new(10_000);
    let keys: Arc<Vec<String>> = Arc::new((0..KEYS).map(|i| format!("key-{i}")).collect());
    for key in keys.iter() {
        rt.block_on(adapter.set(key, &VALUE, None)).expect("set");
        rt.block_on(near.get_bytes(key))
            .expect("fill the near cache");
        moka.insert(key.clone(), Bytes::from_static(&VALUE));
    }
    let partitions = rt
        .block_on(adapter.stats())
        .ok()
        .and_then(|s| {
            s.extra
                .iter()
                .find_map(|(k, v)| (k == "host.partitions").then_some(*v))
        })
        .unwrap_or(0);
    // The same component with four partitions per core: fewer of two threads' calls find
    // their partition taken.
    let more_partitions = 4 * byoc::wasm::default_partitions();
    let wide: Arc<dyn Provider> = Arc::new(
        rt.block_on(
            WasmProvider::builder(
                registry.runtime(),
                byoc::builtin::load_memory_adapter(registry.runtime()).expect("component"),
            )
            .partitions(more_partitions)
            .sync_calls(true)
            .build(),
        )
        .expect("partitioned adapter"),
    );
    for key in keys.iter() {
        rt.block_on(wide.set(key, &VALUE, None)).expect("set");
    }
    let targets = [
        Target::Moka(moka),
        Target::Adapter("`memory` adapter (`Provider::get`)", adapter),
        Target::Adapter("the same component, 4 partitions per core", wide),
        Target::Near(near),
    ];
    // Warm-up: one slice of each.
    for target in &targets {
        for mode in MODES {
            measure(target, &keys, mode, slice / 3);
        }
    }
    // figures[target][mode] = per-round hits per second.
    let mut figures = vec![vec![Vec::new(); MODES.len()]; targets.len()];
    let cells: Vec<(usize, usize)> = (0..targets.len())
        .flat_map(|t| (0..MODES.len()).map(move |m| (t, m)))
        .collect();
    for round in 0..rounds {
        for i in 0..cells.len() {
            let (t, m) = cells[(i + round) % cells.len()];
            figures[t][m].push(measure(&targets[t], &keys, MODES[m], slice));
        }
    }
    println!(
        "{} cores available, {partitions} adapter partitions, {rounds} rounds of {slice:?} slices\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "| cache | mode | hits/s (median) | ratio to 1 thread, median (min–max) | hits per CPU second | its ratio to 1 thread |"
    );
    println!("| --- | --- | ---: | --- | ---: | ---: |");
    for (t, target) in targets.iter().enumerate() {
        for (m, mode) in MODES.iter().enumerate() {
            let ratio = |i: usize| -> Vec<f64> {
                let pick = |f: &(f64, f64)| if i == 0 { f.0 } else { f.1 };
                figures[t][m]
                    .iter()
                    .zip(&figures[t][0])
                    .map(|(x, one)| pick(x) / pick(one))
                    .collect()
            };
            let wall = ratio(0);
            let (lo, hi) = wall
                .iter()
                .fold((f64::MAX, f64::MIN), |(lo, hi), &r| (lo.min(r), hi.max(r)));
            println!(
                "| {} | {} | {:.2} M | {:.2}× ({lo:.2}–{hi:.2}) | {:.2} M | {:.2}× |",
                target.name(),
                mode.label(),
                median(figures[t][m].iter().map(|f| f.0).collect()) / 1e6,
                median(wall),
                median(figures[t][m].iter().map(|f| f.1).collect()) / 1e6,
                median(ratio(1)),
            );
        }
    }
}
