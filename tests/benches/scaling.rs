//! Hits per second from one thread, two threads and eight tasks on two workers: the
//! partitioned `memory` adapter, the near cache in front of it, and moka, in the same run.
//!
//! Each measurement runs for a slice of [`SLICE`] and counts the hits; a round measures
//! every (cache, mode) in turn, the order rotating from round to round, so a drift of the
//! machine's speed hits all alike. The figure is the median over the rounds of the ratio
//! of a mode's hits per second to one thread's, from the same round.
//!
//! Every thread or task reads the same [`KEYS`] keys of 64 B (all hits), each from its own
//! starting offset, with a prime stride: its reads spread over the adapter's partitions.
//!
//! `cargo bench -p byoc-tests --bench scaling`. `BYOC_SCALING_ROUNDS` (default 7) and
//! `BYOC_SCALING_SLICE_MS` (default 300) set the rounds and the slice.

use byoc::{AdapterConfig, NearCache, Provider, Registry};
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
    Adapter(Arc<dyn Provider>),
    Near(Arc<NearCache>),
}

impl Target {
    fn name(&self) -> &'static str {
        match self {
            Target::Moka(_) => "moka `Bytes`",
            Target::Adapter(_) => "`memory` adapter (`Provider::get`)",
            Target::Near(_) => "near cache (`get_cached`)",
        }
    }

    /// Reads `CHUNK` keys from position `at`; returns the next position.
    async fn chunk(&self, keys: &[String], mut at: usize) -> usize {
        for _ in 0..CHUNK {
            let key = &keys[at];
            let found = match self {
                Target::Moka(c) => c.get(key.as_str()).is_some(),
                Target::Adapter(p) => p.get(key).await.expect("get").is_some(),
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

/// Hits per second of `target` in `mode` over one slice.
fn measure(target: &Target, keys: &Arc<Vec<String>>, mode: Mode, slice: Duration) -> f64 {
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let stop = start + slice;
    match mode {
        Mode::Threads(n) => {
            std::thread::scope(|s| {
                for t in 0..n {
                    let (target, keys, count) =
                        (target.clone(), Arc::clone(keys), Arc::clone(&count));
                    s.spawn(move || {
                        // One runtime per thread: an uncontended adapter call completes
                        // without waiting, as the benches' other hits do.
                        let rt = tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .expect("tokio");
                        let offset = t * KEYS / n;
                        rt.block_on(reader(target, keys, offset, stop, false, count));
                    });
                }
            });
        }
        Mode::Tasks(n) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("tokio");
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
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    count.load(Ordering::Relaxed) as f64 / elapsed
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
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
    let targets = [
        Target::Moka(moka),
        Target::Adapter(adapter),
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
    println!("| cache | mode | hits/s (median) | ratio to 1 thread, median (min–max) |");
    println!("| --- | --- | ---: | --- |");
    for (t, target) in targets.iter().enumerate() {
        for (m, mode) in MODES.iter().enumerate() {
            let ratios: Vec<f64> = figures[t][m]
                .iter()
                .zip(&figures[t][0])
                .map(|(x, one)| x / one)
                .collect();
            let (lo, hi) = ratios
                .iter()
                .fold((f64::MAX, f64::MIN), |(lo, hi), &r| (lo.min(r), hi.max(r)));
            println!(
                "| {} | {} | {:.2} M | {:.2}× ({lo:.2}–{hi:.2}) |",
                target.name(),
                mode.label(),
                median(figures[t][m].clone()) / 1e6,
                median(ratios),
            );
        }
    }
}
