//! Hits of BYOC and of its baseline measured in alternation, for ratios that hold on a
//! noisy machine.
//!
//! Criterion measures one bench after the other; on a shared VM the speed of the machine
//! drifts between them (moka's own hit measured 141–208 ns in back-to-back runs here), so
//! the ratio of two criterion figures carries that drift. Here each round times a slice of
//! the baseline and a slice of BYOC right after each other (in alternating order), and the
//! ratio is taken per round: its median over the rounds is the figure to compare with a
//! target. Slices last about 2 ms; 61 rounds per pair.
//!
//! `cargo bench -p byoc-tests --bench paired [-- FILTER]`: prints a Markdown table of every
//! pair whose name contains FILTER.

use byoc::{NearCache, Provider, Registry};
use byoc_tests::bench::HitProviders;
use bytes::Bytes;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

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

fn per_op(run: &mut Run<'_>, n: u64) -> f64 {
    let start = Instant::now();
    run(n);
    start.elapsed().as_nanos() as f64 / n as f64
}

/// How many calls of `run` fill one slice.
fn calibrate(run: &mut Run<'_>) -> u64 {
    let mut n = 16;
    loop {
        let start = Instant::now();
        run(n);
        let took = start.elapsed();
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

    println!("| pair | baseline | BYOC | ratio, median (quartiles) |");
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
        // Through the `Provider` trait, as `Cache` calls it, inside one `block_on` per
        // slice (criterion's async loop does the same).
        let provider_get = |p: &'static str, provider: &Arc<dyn Provider>| -> (String, Run<'_>) {
            let provider = Arc::clone(provider);
            let (rt, key) = (&rt, key.clone());
            let run: Run<'_> = Box::new(move |n| {
                rt.block_on(async {
                    for _ in 0..n {
                        black_box(provider.get(black_box(&key)).await.expect("get"));
                    }
                })
            });
            (format!("get_hit/{p}/{size} vs moka_sync"), run)
        };
        let mut pairs: Vec<(String, Run<'_>, Run<'_>)> = Vec::new();
        for (name, provider) in [("wasm_memory", wasm), ("wasm_memory_lru", lru)] {
            let (label, run) = provider_get(name, provider);
            pairs.push((label, moka_get(), run));
        }
        let (label, run) = provider_get("native_provider", native);
        pairs.push((label, moka_get(), run));
        pairs.push((
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
        ));
        for (name, baseline, byoc) in pairs {
            if !name.contains(&filter) {
                continue;
            }
            let p = measure(baseline, byoc);
            println!(
                "| {name} | {:.1} ns | {:.1} ns | **{:.2}×** ({:.2}–{:.2}) |",
                p.baseline_ns, p.byoc_ns, p.ratio, p.ratio_q1, p.ratio_q3
            );
        }
    }
}
