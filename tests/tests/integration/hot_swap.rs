//! Hot swap and hot reload under load, warm-up semantics, and per-cache metrics.

use byoc::{
    Caches, ConfigFile, Instrumented, KeyTtl, NativeMemoryProvider, Provider, Registry,
    SwapProvider,
};
use byoc_tests::{Hook, Hooked, Op};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn native() -> Arc<dyn Provider> {
    Arc::new(NativeMemoryProvider::new(Default::default()))
}

/// The memory adapter with a custom section appended: another valid component file.
fn variant(n: u8) -> Vec<u8> {
    let mut bytes = byoc::builtin::MEMORY_ADAPTER.to_vec();
    bytes.extend_from_slice(&[0, 10, 1, b'v', n, n, n, n, n, n, n, n]);
    bytes
}

/// Tokio tasks hammer one cache (reads and writes) while it is swapped 100 times to
/// fresh providers and its component file is replaced and reloaded 10 times: no call
/// may fail. The p99 latency during the run is printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_swaps_and_ten_reloads_under_load_fail_no_call() {
    let dir = crate::temp_dir();
    let wasm = dir.path().join("mem.wasm");
    std::fs::write(&wasm, variant(0)).expect("write");
    let file = ConfigFile::parse_with_env(
        "caches:\n  - name: hot\n    provider: mem.wasm\n    warm-up: 200\n    partitions: 2\n",
        "load.yaml",
        dir.path(),
        BTreeMap::new(),
    )
    .expect("config");
    let registry = Registry::new().expect("registry");
    let caches = Caches::open(&file, registry.clone()).await.expect("open");
    let cache = caches.provider("hot").expect("hot");

    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for t in 0..8u64 {
        let (cache, stop, failures) = (cache.clone(), stop.clone(), failures.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = t;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("k{}", i % 500);
                let start = Instant::now();
                let outcome = if i % 4 == 0 {
                    cache.set(&key, b"value", None).await.map(|_| ())
                } else {
                    cache.get(&key).await.map(|_| ())
                };
                latencies.push(start.elapsed());
                if let Err(e) = outcome {
                    eprintln!("call failed: {e}");
                    failures.fetch_add(1, Ordering::Relaxed);
                }
                i += 8;
                if i % 64 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            latencies
        }));
    }

    let mut reloads = 0;
    for round in 0..100u32 {
        let fresh = registry
            .create("memory", Default::default())
            .await
            .expect("fresh provider");
        caches.swap("hot", fresh).await.expect("swap");
        if round % 10 == 9 {
            std::fs::write(&wasm, variant(u8::try_from(round / 10 + 1).expect("small")))
                .expect("write");
            let outcomes = caches.reload_changed().await;
            assert!(
                matches!(outcomes.as_slice(), [byoc::ReloadOutcome::Reloaded { .. }]),
                "{outcomes:?}"
            );
            reloads += 1;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.expect("worker"));
    }
    all.sort_unstable();
    let p = |q: f64| all[((all.len() - 1) as f64 * q) as usize];
    println!(
        "hot swap load: {} calls, 100 swaps + {reloads} reloads, failures {}, p50 {:?}, p99 {:?}, max {:?}",
        all.len(),
        failures.load(Ordering::Relaxed),
        p(0.5),
        p(0.99),
        all[all.len() - 1]
    );
    assert_eq!(failures.load(Ordering::Relaxed), 0);
    assert_eq!(reloads, 10);
    let stats = caches.swap_stats("hot").expect("stats");
    assert_eq!(stats.swaps, 110);
    assert_eq!(stats.reloads, 10);
    assert!(all.len() > 1000, "the load did not run: {}", all.len());
}

#[tokio::test]
async fn warm_up_copies_hot_keys_with_their_ttl() {
    let swap = SwapProvider::new(native()).with_hot_keys(64);
    swap.set("hot", b"h", Some(Duration::from_secs(60)))
        .await
        .expect("set");
    swap.set("forever", b"f", None).await.expect("set");
    swap.set("cold", b"c", None).await.expect("set");
    for _ in 0..20 {
        swap.get("hot").await.expect("get");
        swap.get("forever").await.expect("get");
    }
    let (old, copied) = swap.swap_warm(native(), 10).await.expect("swap");
    assert_eq!(copied, 2);
    assert_eq!(swap.get("hot").await.expect("get"), Some(b"h".to_vec()));
    assert_eq!(
        swap.get("cold").await.expect("get"),
        None,
        "cold keys stay behind"
    );
    match swap.ttl("hot").await.expect("ttl") {
        KeyTtl::ExpiresIn(d) => {
            assert!(d <= Duration::from_secs(60) && d > Duration::from_secs(50))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(swap.ttl("forever").await.expect("ttl"), KeyTtl::Persistent);
    // The old provider is returned untouched.
    assert_eq!(old.get("cold").await.expect("get"), Some(b"c".to_vec()));
    let stats = swap.stats().await.expect("stats");
    assert!(
        stats.extra.contains(&(byoc::swap::SWAPS.to_owned(), 1)),
        "{stats:?}"
    );
}

/// A hook that makes `get_multi` (a warm-up's read) slow, so writes can land while a
/// warm-up copies.
struct SlowReads;

#[async_trait::async_trait]
impl Hook for SlowReads {
    async fn after(&self, op: Op) {
        if op == Op::GetMulti {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// A write that lands while the warm-up is copying must not leave the old value in the
/// new provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_during_warm_up_leave_no_stale_copy() {
    let swap = Arc::new(
        SwapProvider::new(Arc::new(Hooked::around(native(), SlowReads))).with_hot_keys(64),
    );
    swap.set("k", b"old", None).await.expect("set");
    for _ in 0..20 {
        swap.get("k").await.expect("get");
    }
    let writer = {
        let swap = swap.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            swap.set("k", b"new", None)
                .await
                .expect("set during warm-up");
        })
    };
    let (_, copied) = swap.swap_warm(native(), 10).await.expect("swap");
    writer.await.expect("writer");
    assert_eq!(copied, 1);
    // Either a miss (the racing key was dropped) or the new value; never "old".
    let now = swap.get("k").await.expect("get");
    assert_ne!(now, Some(b"old".to_vec()));
}

#[tokio::test]
async fn instrumented_counts_calls_hits_misses_and_errors() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let cache = metrics::with_local_recorder(&recorder, || Instrumented::new("users", native()));
    cache.set("a", b"1", None).await.expect("set");
    cache.get("a").await.expect("hit");
    cache.get("b").await.expect("miss");
    cache
        .get_multi(&["a".into(), "b".into(), "c".into()])
        .await
        .expect("multi");
    assert!(cache.get("").await.is_err(), "an invalid key is an error");

    let mut counters = BTreeMap::new();
    let mut latencies = 0;
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let labels: Vec<String> = key
            .key()
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        match value {
            DebugValue::Counter(n) if n > 0 => {
                counters.insert(format!("{}{{{}}}", key.key().name(), labels.join(",")), n);
            }
            DebugValue::Histogram(samples) => latencies += samples.len(),
            _ => {}
        }
    }
    let get = |k: &str| counters.get(k).copied().unwrap_or(0);
    assert_eq!(get("byoc_hits_total{cache=users}"), 2, "{counters:#?}");
    assert_eq!(get("byoc_misses_total{cache=users}"), 3, "{counters:#?}");
    assert_eq!(get("byoc_calls_total{cache=users,op=get,outcome=ok}"), 2);
    assert_eq!(get("byoc_calls_total{cache=users,op=get,outcome=error}"), 1);
    assert_eq!(get("byoc_calls_total{cache=users,op=set,outcome=ok}"), 1);
    assert_eq!(
        get("byoc_calls_total{cache=users,op=get_multi,outcome=ok}"),
        1
    );
    assert_eq!(
        get("byoc_errors_total{cache=users,kind=invalid-key}"),
        1,
        "{counters:#?}"
    );
    assert_eq!(latencies, 5, "one latency sample per call");
}
