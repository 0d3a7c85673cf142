//! Hits of BYOC and of its baseline measured in alternation, for ratios that hold on a
//! noisy machine.
//!
//! Criterion measures one bench after the other; on a shared VM the speed of the machine
//! drifts between them (moka's own hit moves by tens of percent between runs here), so
//! the ratio of two criterion figures carries that drift. Here each round times a slice of
//! the baseline and a slice of BYOC right after each other (in alternating order), and the
//! ratio is taken per round: its median over the rounds is the figure to compare with a
//! target. Slices last about 2 ms of the thread's CPU time; 61 rounds per pair.
//!
//! Three pairs take the wasm adapter's hit apart. The floor is wasmtime alone, calling a
//! component whose `get` answers a value already in its memory (no lookup, no copy in
//! the guest, no WASI, no BYOC host code); it is paired with moka, with the memory
//! adapter, and with BYOC's host path over a guest that does no work.
//!
//! `cargo bench -p byoc-tests --bench paired [-- FILTER]`: prints a Markdown table of every
//! pair whose name contains FILTER.

use byoc::config_file::{DurationText, SizeText};
use byoc::{
    AdapterConfig, Cache, ConfigValue, Contract, Loaded, NearCache, Provider, Registry, StackSpec,
    WasmProvider,
};
use byoc_tests::bench::HitProviders;
use byoc_tests::wat_hostile::{self, WatBehaviour};
use bytes::Bytes;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

const ROUNDS: usize = 61;
const SLICE: Duration = Duration::from_millis(2);
const SIZES: [usize; 3] = [64, 1024, 64 * 1024];

/// One timed operation: called `n` times in a row.
type Run<'a> = Box<dyn FnMut(u64) + 'a>;

/// The figures of one pair: medians over the rounds.
struct Paired {
    baseline_ns: f64,
    byoc_ns: f64,
    ratio: f64,
    ratio_q1: f64,
    ratio_q3: f64,
}

/// The calling thread's CPU time. Slices are timed with it rather than the wall clock:
/// on a shared machine a slice is often preempted, and the time it spends off the CPU is
/// not the code's (every measured call runs on this thread: `block_on` polls here).
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn per_op(run: &mut Run<'_>, n: u64) -> f64 {
    let start = thread_cpu();
    run(n);
    (thread_cpu() - start).as_nanos() as f64 / n as f64
}

/// How many calls of `run` fill one slice.
fn calibrate(run: &mut Run<'_>) -> u64 {
    let mut n = 16;
    loop {
        let start = thread_cpu();
        run(n);
        let took = thread_cpu() - start;
        if took >= SLICE / 4 {
            return ((n as f64) * SLICE.as_secs_f64() / took.as_secs_f64()).max(1.0) as u64;
        }
        n *= 4;
    }
}

fn median(sorted: &[f64]) -> f64 {
    sorted[sorted.len() / 2]
}

fn measure(mut baseline: Run<'_>, mut byoc: Run<'_>) -> Paired {
    let (nb, ny) = (calibrate(&mut baseline), calibrate(&mut byoc));
    // Warm-up: one slice each.
    per_op(&mut baseline, nb);
    per_op(&mut byoc, ny);
    let (mut base, mut ours, mut ratios) = (vec![], vec![], vec![]);
    for round in 0..ROUNDS {
        let (b, y) = if round % 2 == 0 {
            let b = per_op(&mut baseline, nb);
            (b, per_op(&mut byoc, ny))
        } else {
            let y = per_op(&mut byoc, ny);
            (per_op(&mut baseline, nb), y)
        };
        base.push(b);
        ours.push(y);
        ratios.push(y / b);
    }
    for v in [&mut base, &mut ours, &mut ratios] {
        v.sort_by(f64::total_cmp);
    }
    Paired {
        baseline_ns: median(&base),
        byoc_ns: median(&ours),
        ratio: median(&ratios),
        ratio_q1: ratios[ROUNDS / 4],
        ratio_q3: ratios[3 * ROUNDS / 4],
    }
}

/// A component whose `get` answers `some` of the `size` bytes at 64 KiB of its memory
/// (zeros): the option's case at 0, the list at 4 (wasm32 canonical ABI). The key is
/// lowered into a scratch area that every call reuses.
fn floor_component(size: usize) -> Vec<u8> {
    let text = r#"(component
      (core module $m
        (memory (export "memory") 2)
        (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 1024))
        (func (export "get") (param i32 i32) (result i32)
          (i32.store8 (i32.const 0) (i32.const 1))
          (i32.store (i32.const 4) (i32.const 65536))
          (i32.store (i32.const 8) (i32.const SIZE))
          (i32.const 0)))
      (core instance $i (instantiate $m))
      (func (export "get") (param "key" string) (result (option (list u8)))
        (canon lift (core func $i "get") (memory (core memory $i "memory"))
          (realloc (core func $i "cabi_realloc")))))"#
        .replace("SIZE", &size.to_string());
    wat::parse_str(text).expect("the floor component assembles")
}

/// The floor: `get` of [`floor_component`] called synchronously through a typed function,
/// on an engine configured as BYOC's (epoch interruption on, no WASIp3 concurrency).
fn floor_get(size: usize, key: &str) -> Run<'_> {
    use wasmtime::component::{Component, Linker};
    use wasmtime::{Config, Engine, Store};
    let mut config = Config::new();
    config.epoch_interruption(true).concurrency_support(false);
    let engine = Engine::new(&config).expect("engine");
    let component = Component::new(&engine, floor_component(size)).expect("compiles");
    let mut store = Store::new(&engine, ());
    // No ticker runs: the epoch never reaches the deadline.
    store.set_epoch_deadline(1);
    let instance = Linker::new(&engine)
        .instantiate(&mut store, &component)
        .expect("instantiates");
    let get = instance
        .get_typed_func::<(&str,), (Option<Vec<u8>>,)>(&mut store, "get")
        .expect("the get export");
    assert_eq!(
        get.call(&mut store, (key,))
            .expect("call")
            .0
            .map(|v| v.len()),
        Some(size)
    );
    Box::new(move |n| {
        for _ in 0..n {
            black_box(get.call(&mut store, (black_box(key),)).expect("call"));
        }
    })
}

fn main() {
    let filter = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .unwrap_or_default();
    let rt = byoc_tests::bench::runtime();
    let registry = Registry::new().expect("runtime");
    let providers = HitProviders::create(&rt, &registry);
    let HitProviders { wasm, lru, native } = &providers;
    let near = NearCache::builder()
        .max_staleness(Duration::from_secs(3600))
        .build(Arc::clone(wasm));
    let moka_vec: moka::sync::Cache<String, Vec<u8>> = moka::sync::Cache::new(10_000);
    let moka_bytes: moka::sync::Cache<String, Bytes> = moka::sync::Cache::new(10_000);

    println!("| pair | baseline | measured | ratio, median (quartiles) |");
    println!("| --- | ---: | ---: | --- |");
    for size in SIZES {
        let key = format!("key-{size}");
        let value = vec![7u8; size];
        providers.set(&rt, &key, &value);
        rt.block_on(near.get(&key)).expect("fill the near cache");
        moka_vec.insert(key.clone(), value.clone());
        moka_bytes.insert(key.clone(), Bytes::from(value));

        let moka_get = || -> Run<'_> {
            Box::new(|n| {
                for _ in 0..n {
                    black_box(moka_vec.get(black_box(key.as_str())));
                }
            })
        };
        let label = |p: &str| format!("get_hit/{p}/{size} vs moka_sync");
        let pairs: Vec<(String, Run<'_>, Run<'_>)> = vec![
            (label("wasm_memory"), moka_get(), gets(&rt, wasm, &key)),
            (label("wasm_memory_lru"), moka_get(), gets(&rt, lru, &key)),
            (
                label("native_provider"),
                moka_get(),
                gets(&rt, native, &key),
            ),
            (
                format!("floor/wasmtime_call/{size} vs moka_sync"),
                moka_get(),
                floor_get(size, &key),
            ),
            (
                format!("get_hit/wasm_memory/{size} vs floor"),
                floor_get(size, &key),
                gets(&rt, wasm, &key),
            ),
            (
                format!("near_hit/near_get_cached/{size} vs moka_bytes"),
                Box::new(|n| {
                    for _ in 0..n {
                        black_box(moka_bytes.get(black_box(key.as_str())));
                    }
                }),
                Box::new(|n| {
                    for _ in 0..n {
                        black_box(near.get_cached(black_box(&key)));
                    }
                }),
            ),
        ];
        for (name, baseline, byoc) in pairs {
            report(&name, &filter, baseline, byoc);
        }
    }

    // BYOC's host path (`Provider::get` of a `WasmProvider` called synchronously, as the
    // `memory` provider is) over a guest that does no work, against the floor answering
    // as many bytes: what BYOC's host code adds to wasmtime's.
    let no_op = rt.block_on(async {
        let runtime = registry.runtime();
        let component = runtime
            .load("wat-no-op", &wat_hostile::component(WatBehaviour::Spin, 1))
            .expect("the WAT adapter loads");
        WasmProvider::builder(runtime, component)
            .sync_calls(true)
            .build()
            .await
            .expect("the WAT adapter starts")
    });
    assert!(no_op.sync_calls(), "the WAT adapter imports nothing");
    let no_op: Arc<dyn Provider> = Arc::new(no_op);
    let key = "key-no-op".to_owned();
    let probe = rt.block_on(no_op.get(&key)).expect("get").expect("a probe");
    report(
        &format!("host_path/no_op_guest/{} vs floor", probe.len()),
        &filter,
        floor_get(probe.len(), &key),
        gets(&rt, &no_op, &key),
    );
    report(
        &format!("host_path/no_op_guest_async/{} vs floor", probe.len()),
        &filter,
        floor_get(probe.len(), &key),
        async_gets(&rt, &no_op, &key),
    );
    working_sets(&rt, &registry, &filter);

    // A `Cache::get_or_load` hit against a `Cache::get` hit of the same entry: what the
    // single-flight bookkeeping adds to a hit.
    for (name, provider) in [("wasm_memory", wasm), ("native_provider", native)] {
        let cache: Cache<u64> = Contract::new("paired", Arc::clone(provider)).cache();
        rt.block_on(cache.set("gol", &7, None)).expect("set");
        let get: Run<'_> = {
            let cache = cache.clone();
            let rt = &rt;
            Box::new(move |n| {
                rt.block_on(async {
                    for _ in 0..n {
                        black_box(cache.get(black_box("gol")).await.expect("get"));
                    }
                })
            })
        };
        let get_or_load: Run<'_> = {
            let cache = cache.clone();
            let rt = &rt;
            Box::new(move |n| {
                rt.block_on(async {
                    for _ in 0..n {
                        let hit = cache.get_or_load(black_box("gol"), loader).await;
                        black_box(hit.expect("hit"));
                    }
                })
            })
        };
        report(
            &format!("get_or_load_hit/{name} vs cache_get"),
            &filter,
            get,
            get_or_load,
        );
    }
}

async fn loader() -> Result<Loaded<u64>, byoc::Error> {
    Ok(Loaded::found(1))
}

/// `get` of `key` from `provider` through the `Provider` trait, as `Cache` calls it:
/// `get_now` on the caller's thread, or the async `get` inside one `block_on` per slice
/// (criterion's async loop does the same) for a provider that never answers at once.
fn gets<'a>(
    rt: &'a tokio::runtime::Runtime,
    provider: &Arc<dyn Provider>,
    key: &'a str,
) -> Run<'a> {
    if provider.get_now(key).is_none() {
        return async_gets(rt, provider, key);
    }
    let provider = Arc::clone(provider);
    Box::new(move |n| {
        for _ in 0..n {
            let answer = provider.get_now(black_box(key)).expect("answered at once");
            black_box(answer.expect("get"));
        }
    })
}

/// `get` of `key` through the async `Provider::get` (its boxed future), inside one
/// `block_on` per slice.
fn async_gets<'a>(
    rt: &'a tokio::runtime::Runtime,
    provider: &Arc<dyn Provider>,
    key: &'a str,
) -> Run<'a> {
    let provider = Arc::clone(provider);
    Box::new(move |n| {
        rt.block_on(async {
            for _ in 0..n {
                black_box(provider.get(black_box(key)).await.expect("get"));
            }
        })
    })
}

/// Measures the pair `name` (when it contains `filter`) and prints its row.
fn report(name: &str, filter: &str, baseline: Run<'_>, byoc: Run<'_>) {
    if !name.contains(filter) {
        return;
    }
    let p = measure(baseline, byoc);
    println!(
        "| {name} | {:.1} ns | {:.1} ns | **{:.2}×** ({:.2}–{:.2}) |",
        p.baseline_ns, p.byoc_ns, p.ratio, p.ratio_q1, p.ratio_q3
    );
}

/// Keys of the uniform working set.
const WORKING_SET: usize = 100_000;
/// Keys of the Zipf working set, and its exponent.
const ZIPF_KEYS: usize = 1_000_000;
const ZIPF_S: f64 = 0.99;
/// Reads drawn from the Zipf distribution before measuring (the benches walk them in a
/// loop).
const ZIPF_DRAWS: usize = 1 << 20;
/// Step through the uniform working set: a prime, so every key is visited, scattered.
const STRIDE: usize = 7_919;

/// 64 B hits over many keys (each get finds its entry out of the CPU caches), the memory
/// adapter against moka holding the same keys: 100,000 keys visited with a prime stride,
/// and 1,000,000 keys read in a Zipf (0.99) order drawn in advance, the same on both sides.
fn working_sets(rt: &tokio::runtime::Runtime, registry: &Registry, filter: &str) {
    let uniform = format!("working_set/uniform_{WORKING_SET}/64 vs moka_sync");
    let zipf = format!("working_set/zipf_{ZIPF_S}_{ZIPF_KEYS}/64 vs moka_sync");
    for (name, keys, skewed) in [(uniform, WORKING_SET, false), (zipf, ZIPF_KEYS, true)] {
        if !name.contains(filter) {
            continue;
        }
        let order: Vec<usize> = if skewed {
            zipf_order(keys, ZIPF_S, ZIPF_DRAWS)
        } else {
            (0..keys).map(|i| (i * STRIDE) % keys).collect()
        };
        let keys: Vec<String> = (0..keys).map(|i| format!("ws-{i:07}")).collect();
        // Room for every key in both (the adapter's two partitions share max-bytes).
        let mut spec = StackSpec::new("memory");
        spec.config = AdapterConfig::new().with("max-bytes", ConfigValue::Size(1 << 30));
        spec.limits.memory = Some(SizeText(1 << 30));
        // Growing a map of a million entries inside one `set` may outlast the default
        // deadline on a loaded machine.
        spec.limits.call_deadline = Some(DurationText(Duration::from_secs(60)));
        let wasm = rt
            .block_on(registry.build(&spec))
            .expect("the memory adapter");
        let moka: moka::sync::Cache<String, Vec<u8>> =
            moka::sync::Cache::new(2 * keys.len() as u64);
        for k in &keys {
            rt.block_on(wasm.set(k, &[5u8; 64], None)).expect("set");
            moka.insert(k.clone(), vec![5u8; 64]);
        }
        moka.run_pending_tasks();
        let held = rt.block_on(wasm.get_multi(&keys)).expect("get_multi");
        assert!(held.iter().all(Option::is_some), "every key is held");
        let walk = |at: &mut usize| {
            *at = (*at + 1) % order.len();
            keys[order[*at]].as_str()
        };
        let (mut a, mut b) = (0, 0);
        report(
            &name,
            filter,
            Box::new(|n| {
                for _ in 0..n {
                    black_box(moka.get(black_box(walk(&mut a))));
                }
            }),
            Box::new(|n| {
                for _ in 0..n {
                    let answer = wasm.get_now(black_box(walk(&mut b)));
                    black_box(answer.expect("answered at once").expect("get"));
                }
            }),
        );
    }
}

/// `draws` indices of `0..n` drawn from a Zipf distribution of exponent `s` (rank 0 the
/// most frequent), from a fixed seed, with each rank mapped to a scattered key index.
fn zipf_order(n: usize, s: f64, draws: usize) -> Vec<usize> {
    let mut cdf = Vec::with_capacity(n);
    let mut total = 0.0;
    for rank in 1..=n {
        total += 1.0 / (rank as f64).powf(s);
        cdf.push(total);
    }
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..draws)
        .map(|_| {
            // xorshift64*: a fixed, cheap sequence; quality beyond that does not matter here.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let u = (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64;
            let rank = cdf.partition_point(|&c| c < u * total).min(n - 1);
            (rank * STRIDE) % n
        })
        .collect()
}
