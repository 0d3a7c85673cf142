//! The hit-ratio tool and the memory adapter's policies on traces: `lru` is an exact LRU
//! hit for hit, `tinylfu` in wasm decides exactly as the shared native code does, and the
//! adaptive policy's hit ratio against LRU, ARC and moka on the small synthetic suite.

use byoc::Registry;
use byoc_cli::trace::{Policy, Trace, replay, replay_adapter, synth};

/// The first 100,000 requests of the ARC paper's OLTP trace (`data/traces/README.md`).
fn oltp_excerpt() -> Trace {
    use std::io::Read;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/traces/OLTP-100k.lis.gz");
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).expect("trace file"))
        .read_to_string(&mut text)
        .expect("gzip text");
    Trace::parse(&text).expect("trace")
}

fn sample_lis() -> Trace {
    Trace::load(concat!(env!("CARGO_MANIFEST_DIR"), "/data/sample.lis")).expect("sample.lis")
}

/// A mixed trace: the `.lis` sample, then Zipf traffic, then a shifting working set.
fn mixed() -> Trace {
    let mut keys = sample_lis().keys().to_vec();
    keys.extend_from_slice(synth::zipf(3_000, 0.9, 6_000, 11).keys());
    keys.extend_from_slice(synth::shifting_working_set(400, 5, 4_000, 12).keys());
    Trace::from_keys(keys)
}

#[test]
fn lis_sample_expands_ranges() {
    let t = sample_lis();
    assert!(t.len() > 10_000, "{} accesses", t.len());
    assert!(t.distinct() < t.len());
}

#[tokio::test]
async fn adapter_lru_is_an_exact_lru_hit_for_hit() {
    let registry = Registry::new().expect("runtime");
    let trace = mixed();
    for capacity in [40, 300] {
        let exact = replay(&trace, capacity, &Policy::Lru).expect("lru");
        let adapter = replay_adapter(registry.runtime(), &trace, capacity, "lru")
            .await
            .expect("adapter");
        let first_difference = exact
            .hits
            .iter()
            .zip(&adapter.hits)
            .position(|(a, b)| a != b);
        assert_eq!(first_difference, None, "capacity {capacity}");
        assert_eq!(exact.hits.len(), adapter.hits.len());
        assert!(exact.hits() > 0 && exact.hits() < trace.len());
    }
}

#[tokio::test]
async fn adapter_tinylfu_decides_as_the_shared_native_code() {
    let registry = Registry::new().expect("runtime");
    let trace = mixed();
    for capacity in [40, 300] {
        let native = replay(&trace, capacity, &Policy::TinyLfuNative).expect("native");
        let adapter = replay_adapter(registry.runtime(), &trace, capacity, "tinylfu")
            .await
            .expect("adapter");
        let first_difference = native
            .hits
            .iter()
            .zip(&adapter.hits)
            .position(|(a, b)| a != b);
        assert_eq!(first_difference, None, "capacity {capacity}");
        // And it is a different policy from LRU on this trace.
        let lru = replay(&trace, capacity, &Policy::Lru).expect("lru");
        assert_ne!(native.hits, lru.hits);
    }
}

#[test]
fn replay_rejects_the_adapter_without_a_runtime() {
    let r = replay(
        &Trace::parse("1\n").expect("trace"),
        1,
        &Policy::Adapter("lru".into()),
    );
    assert!(matches!(r, Err(byoc::Error::InvalidArgument(_))), "{r:?}");
}

/// The cheap CI version of the hit-ratio target (the full one is the `hit_ratio` example,
/// release build): the adaptive policy (native, which decides as the adapter does — see
/// above) against the best of exact LRU, ARC and moka on a frequency-heavy, a
/// recency-heavy and a sliding-window trace, 60,000 accesses each. Each case has its own
/// bound (points below the best), set from the measured figures with a small margin:
/// 0.5 on Zipf (measured 0.65 *above* the best) and on the short sliding window (0.16
/// below LRU). The short recency trace at 50 entries misses the 0.5-point target
/// (BENCHMARKS.md): ARC's frequency protection beats LRU there, and the policy, whose
/// window goes to an LRU-like share, is 1.57 points below ARC (bound 2.0).
#[test]
fn adaptive_policy_near_the_best_of_lru_arc_moka() {
    let cases = [
        ("zipf-1.0", synth::zipf(20_000, 1.0, 60_000, 21), 500, 0.5),
        ("recency", synth::recency(0.1, 200.0, 60_000, 22), 50, 2.0),
        (
            "shifting",
            synth::shifting_working_set(1_000, 20, 60_000, 23),
            500,
            0.5,
        ),
    ];
    for (name, trace, capacity, bound) in cases {
        let ratio = |p: &Policy| replay(&trace, capacity, p).expect("replay").hit_ratio() * 100.0;
        let (lru, arc, moka) = (
            ratio(&Policy::Lru),
            ratio(&Policy::Arc),
            ratio(&Policy::Moka),
        );
        let adaptive = ratio(&Policy::TinyLfuNative);
        let best = lru.max(arc).max(moka);
        eprintln!(
            "{name}@{capacity}: lru {lru:.2} arc {arc:.2} moka {moka:.2} tinylfu {adaptive:.2}"
        );
        assert!(
            adaptive >= best - bound,
            "{name}: {adaptive:.2} vs best {best:.2}"
        );
        if name == "zipf-1.0" {
            assert!(
                adaptive >= lru + 5.0,
                "{name}: {adaptive:.2} vs lru {lru:.2}"
            );
        } else {
            // Far above moka's plain TinyLFU on recency (+8), above it on the slide (+2).
            let margin = if name == "recency" { 5.0 } else { 1.5 };
            assert!(
                adaptive >= moka + margin,
                "{name}: {adaptive:.2} vs moka {moka:.2}"
            );
        }
    }
}

/// The real-trace check CI can afford (the full tables are the `hit_ratio` example on the
/// traces `just traces` fetches): on an excerpt of a public database trace, the adaptive
/// policy is within 0.5 points of the better of exact LRU and ARC at every size (moka is
/// left out: it is not deterministic, and it is 5-7 points below ARC here).
#[test]
fn adaptive_policy_on_a_public_oltp_excerpt() {
    let trace = oltp_excerpt();
    assert_eq!(trace.len(), 100_000);
    for capacity in [500, 2_000] {
        let ratio = |p: &Policy| replay(&trace, capacity, p).expect("replay").hit_ratio() * 100.0;
        let (lru, arc) = (ratio(&Policy::Lru), ratio(&Policy::Arc));
        let adaptive = ratio(&Policy::TinyLfuNative);
        eprintln!("oltp@{capacity}: lru {lru:.2} arc {arc:.2} tinylfu {adaptive:.2}");
        assert!(
            adaptive >= lru.max(arc) - 0.5,
            "oltp@{capacity}: {adaptive:.2} vs lru {lru:.2} arc {arc:.2}"
        );
    }
}
