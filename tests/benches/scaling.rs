//! Hits per second from one thread, two threads and eight tasks on two workers: the
//! partitioned `memory` adapter (also with four partitions per core), the near cache in
//! front of it, and moka, in the same run; and two baselines that share nothing written
//! (a loop hashing keys, and lookups in a read-only `HashMap`), which show what the
//! machine itself gives a second thread.
//!
//! Each measurement runs for a slice (`BYOC_SCALING_SLICE_MS`) and counts the hits; a
//! round measures every (cache, mode) in turn, the order rotating from round to round, so
//! a drift of the machine's speed hits all alike. The figure is the median over the rounds of the ratio
//! of a mode's hits per second to one thread's, from the same round.
//!
//! Every reader (thread or task) has its own 1,024 keys of 64 B (all hits), read with a
//! prime stride: readers share no key (no entry, value or reference count written by
//! two), while each one's reads spread over all the adapter's partitions.
//!
//! Each slice also reads the CPU time its threads ran: on a machine shared with other
//! work, hits per CPU second show what a mode costs per hit (a contended lock or cache
//! line costs CPU) where hits per wall-clock second follow the machine's load. A thread
//! that waits for a lock uses no CPU: only the wall-clock figure shows that.
//!
//! `cargo bench -p byoc-tests --bench scaling`. `BYOC_SCALING_ROUNDS` (default 7) and
//! `BYOC_SCALING_SLICE_MS` (default 300) set the rounds and the slice.

use byoc::{AdapterConfig, Cache, Contract, NearCache, Provider, Registry, WasmProvider};
use byoc_tests::bench::{thread_cpu, threads_cpu};
use bytes::Bytes;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Keys of each reader.
const KEYS: usize = 1024;
/// Most readers of a mode: each has its own keys.
const READERS: usize = 8;
const STRIDE: usize = 389;
const VALUE: [u8; 64] = [7u8; 64];
/// Reads between two checks of the clock.
const CHUNK: usize = 64;
/// In the tasks mode, chunks between two yields: a yield makes the worker poll the
/// runtime's driver (a system call) before it runs the task again, which would add more
/// than a read to every few reads of the cheaper targets. (The adapter's `get` also
/// yields by itself, through tokio's cooperative budget.)
const CHUNKS_PER_YIELD: u64 = 16;

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
    /// Hashes the key: no memory written but the thread's own.
    Cpu,
    /// A lookup in a `HashMap` no one writes.
    Map(Arc<std::collections::HashMap<String, Bytes>>),
    Moka(moka::sync::Cache<String, Bytes>),
    Adapter(&'static str, Arc<dyn Provider>),
    /// A typed cache (`Cache<Vec<u8>>`, postcard) over the `memory` adapter.
    Typed(Cache<Vec<u8>>),
    Near(Arc<NearCache>),
}

impl Target {
    fn name(&self) -> &'static str {
        match self {
            Target::Cpu => "baseline: hash the key (no shared writes)",
            Target::Map(_) => "baseline: read-only `HashMap`",
            Target::Moka(_) => "moka `Bytes`",
            Target::Adapter(name, _) => name,
            Target::Typed(_) => "`Cache<Vec<u8>>::get` over the `memory` adapter",
            Target::Near(_) => "near cache (`get_cached`)",
        }
    }

    /// Reads `CHUNK` of the reader's `keys` from position `at`; returns the next position.
    async fn chunk(&self, keys: &[String], mut at: usize) -> usize {
        for _ in 0..CHUNK {
            let key = &keys[at];
            let found = match self {
                Target::Cpu => {
                    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
                    let hasher = BuildHasherDefault::<DefaultHasher>::default();
                    black_box(hasher.hash_one(black_box(key))) != 1
                }
                Target::Map(m) => black_box(m.get(key.as_str())).is_some(),
                Target::Moka(c) => c.get(key.as_str()).is_some(),
                Target::Adapter(_, p) => p.get(key).await.expect("get").is_some(),
                Target::Typed(c) => c.get(key).await.expect("get").is_some(),
                Target::Near(n) => n.get_cached(key).is_some(),
            };
            assert!(black_box(found), "every read is a hit");
            at = (at + STRIDE) % keys.len();
        }
        at
    }
}

/// Reader `r` reads its own keys until `stop`; adds its reads to `count`.
async fn reader(
    target: Target,
    keys: Arc<Vec<String>>,
    r: usize,
    stop: Instant,
    yields: bool,
    count: Arc<AtomicU64>,
) {
    let own = &keys[r * KEYS..(r + 1) * KEYS];
    let (mut at, mut n) = (0, 0u64);
    while Instant::now() < stop {
        at = target.chunk(own, at).await;
        n += CHUNK as u64;
        if yields && n.is_multiple_of(CHUNK as u64 * CHUNKS_PER_YIELD) {
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
                        rt.block_on(reader(target, keys, t, stop, false, count));
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
                        tokio::spawn(reader(target, keys, t, stop, true, count))
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
            .max_entries(100_000)
            .build(Arc::clone(&adapter)),
    );
    let moka: moka::sync::Cache<String, Bytes> = moka::sync::Cache::new(100_000);
    let keys: Arc<Vec<String>> =
        Arc::new((0..KEYS * READERS).map(|i| format!("key-{i}")).collect());
    for key in keys.iter() {
        rt.block_on(adapter.set(key, &VALUE, None)).expect("set");
        rt.block_on(near.get_bytes(key))
            .expect("fill the near cache");
        moka.insert(key.clone(), Bytes::from_static(&VALUE));
    }
    // Its own keys (a prefix) in the same adapter: its values are encoded.
    let typed = Contract::<Vec<u8>>::new("scaling", Arc::clone(&adapter))
        .key_prefix("typed/")
        .cache();
    for key in keys.iter() {
        rt.block_on(typed.set(key, &VALUE.to_vec(), None))
            .expect("set");
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
    let map = keys
        .iter()
        .map(|k| (k.clone(), Bytes::from_static(&VALUE)))
        .collect();
    let targets = [
        Target::Cpu,
        Target::Map(Arc::new(map)),
        Target::Moka(moka),
        Target::Adapter("`memory` adapter (`Provider::get`)", adapter),
        Target::Typed(typed),
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
