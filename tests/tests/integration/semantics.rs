//! Cache semantics of `Cache<T>`: get-or-load with single-flight (in one process, across
//! caches sharing a provider, across processes sharing Redis), fail-safe, refresh-ahead,
//! timeouts, negative caching, TTL jitter, the stored formats, the YAML section, and the
//! native provider's atomics.

use byoc::{
    Cache, CacheEntry, Contract, Error, Freshness, KeyTtl, LOAD_JOINS, LOADS, LoadError, Loaded,
    NativeMemoryProvider, Provider, REFRESHES, STALE_SERVED,
};
use byoc_tests::{Hook, Hooked, Op};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn native() -> Arc<NativeMemoryProvider> {
    Arc::new(NativeMemoryProvider::new(Default::default()))
}

/// The future of a test loader.
type LoadFuture =
    std::pin::Pin<Box<dyn Future<Output = Result<Loaded<u64>, std::io::Error>> + Send>>;

/// A loader that counts its calls, waits `delay`, and answers `value`.
fn counting(
    calls: &Arc<AtomicUsize>,
    delay: Duration,
    value: u64,
) -> impl FnOnce() -> LoadFuture + Send + 'static {
    let calls = Arc::clone(calls);
    move || {
        Box::pin(async move {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(delay).await;
            Ok(Loaded::found(value))
        })
    }
}

/// `n` concurrent `get_or_load(key)` calls, call `i` on the cache `pick(i)` with a
/// [`counting`] loader of `delay` and `value`; their results, in order.
async fn concurrent_loads(
    n: usize,
    pick: impl Fn(usize) -> Cache<u64>,
    key: &'static str,
    calls: &Arc<AtomicUsize>,
    (delay, value): (Duration, u64),
) -> Vec<Option<CacheEntry<u64>>> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (cache, loader) = (pick(i), counting(calls, delay, value));
            tokio::spawn(async move { cache.get_or_load(key, loader).await })
        })
        .collect();
    let mut results = Vec::with_capacity(n);
    for t in tasks {
        results.push(t.await.expect("task").expect("load"));
    }
    results
}

async fn failing() -> Result<Loaded<u64>, std::io::Error> {
    Err(std::io::Error::other("source down"))
}

/// `get_or_load("k")` with a [`counting`] loader that answers `value` at once.
async fn load_k(
    cache: &Cache<u64>,
    calls: &Arc<AtomicUsize>,
    value: u64,
) -> Result<Option<CacheEntry<u64>>, LoadError> {
    cache
        .get_or_load("k", counting(calls, Duration::ZERO, value))
        .await
}

/// `get_or_load("k")` with a [`failing`] loader, where fail-safe must serve an entry.
async fn served_stale(cache: &Cache<u64>) -> CacheEntry<u64> {
    let served = cache.get_or_load("k", failing).await;
    served.expect("stale").expect("value")
}

async fn stat(cache: &Cache<u64>, name: &str) -> u64 {
    cache.stats().await.expect("stats").extra(name).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_callers_of_a_cold_key_load_once() {
    let cache = Contract::<u64>::new("sf", native())
        .default_ttl(Duration::from_secs(60))
        .cache();
    let calls = Arc::new(AtomicUsize::new(0));
    let slow = (Duration::from_millis(100), 7);
    for entry in concurrent_loads(1000, |_| cache.clone(), "cold", &calls, slow).await {
        let entry = entry.expect("found");
        assert_eq!((entry.value, entry.freshness), (7, Freshness::Fresh));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "loader calls");
    assert_eq!(stat(&cache, LOADS).await, 1);
    assert!(stat(&cache, LOAD_JOINS).await > 0, "some callers joined");
}

/// Two independent caches (as two processes would have) over one provider with atomics:
/// the lock entry makes one of them load and the other wait for its value.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_caches_sharing_a_provider_load_once_through_the_lock_entry() {
    let provider = native();
    let make = || {
        Contract::<u64>::new("sf", provider.clone())
            .default_ttl(Duration::from_secs(60))
            .shared_single_flight(Duration::from_secs(10))
            .cache()
    };
    let (a, b) = (make(), make());
    let calls = Arc::new(AtomicUsize::new(0));
    let either = |i: usize| {
        if i.is_multiple_of(2) {
            a.clone()
        } else {
            b.clone()
        }
    };
    let slow = (Duration::from_millis(200), 9);
    for entry in concurrent_loads(1000, either, "cold", &calls, slow).await {
        assert_eq!(entry.expect("found").value, 9);
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "loader calls across both caches"
    );
    assert_eq!(stat(&a, LOADS).await + stat(&b, LOADS).await, 1);
    // The lock entry is gone once the value is stored.
    assert_eq!(
        provider.keys("__byoc-lock:*").await.expect("keys"),
        Vec::<String>::new()
    );
}

/// A provider whose atomics answer `Unsupported`: single-flight stays within the process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_atomics_single_flight_stays_within_the_process() {
    let plain: Arc<dyn Provider> = Arc::new(Hooked::around(native(), NoAtomics));
    let cache = Contract::<u64>::new("sf", plain)
        .shared_single_flight(Duration::from_secs(10))
        .cache();
    let calls = Arc::new(AtomicUsize::new(0));
    let slow = (Duration::from_millis(100), 1);
    for entry in concurrent_loads(100, |_| cache.clone(), "k", &calls, slow).await {
        assert_eq!(entry.map(|e| e.value), Some(1));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// Refuses atomics (`Hooked` forwards nothing else differently).
struct NoAtomics;

#[async_trait::async_trait]
impl Hook for NoAtomics {
    async fn before(&self, op: Op) -> byoc::Result<()> {
        if op.capability() == Some(byoc::Capability::Atomics) {
            return Err(Error::Unsupported("atomics".into()));
        }
        Ok(())
    }
}

/// Fails every call while `down` is set.
#[derive(Clone, Default)]
struct Switch(Arc<AtomicBool>);

#[async_trait::async_trait]
impl Hook for Switch {
    async fn before(&self, _op: Op) -> byoc::Result<()> {
        if self.0.load(Ordering::SeqCst) {
            return Err(Error::Unavailable("switched off".into()));
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_failing_loader_serves_stale_within_max_stale_then_errors() {
    let cache = Contract::<u64>::new("fs", native())
        .default_ttl(Duration::from_millis(300))
        .fail_safe(Duration::from_millis(1200))
        .cache();
    let calls = Arc::new(AtomicUsize::new(0));
    let first = load_k(&cache, &calls, 1).await;
    assert_eq!(first.expect("load").map(|e| e.value), Some(1));
    tokio::time::sleep(Duration::from_millis(500)).await; // past the TTL
    assert_eq!(
        cache.get("k").await.expect("get"),
        None,
        "plain get: expired"
    );
    let stale = served_stale(&cache).await;
    assert_eq!((stale.value, stale.freshness), (1, Freshness::Stale));
    assert_eq!(stat(&cache, STALE_SERVED).await, 1);
    let entry = cache
        .get_entry("k")
        .await
        .expect("get_entry")
        .expect("stale");
    assert!(entry.is_stale());
    tokio::time::sleep(Duration::from_millis(1200)).await; // past TTL + max-stale
    match cache.get_or_load("k", failing).await {
        Err(LoadError::Loader(e)) => assert!(e.to_string().contains("source down"), "{e}"),
        other => panic!("past max-stale: {other:?}"),
    }
    // Errors are not cached: the next call loads.
    let again = load_k(&cache, &calls, 2).await;
    assert_eq!(again.expect("load").map(|e| e.value), Some(2));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_failing_backend_serves_the_last_value_within_max_stale_then_errors() {
    let switch = Switch::default();
    let provider: Arc<dyn Provider> = Arc::new(Hooked::around(native(), switch.clone()));
    let cache = Contract::<u64>::new("fs", provider)
        .default_ttl(Duration::from_millis(300))
        .fail_safe(Duration::from_millis(1200))
        .cache();
    let calls = Arc::new(AtomicUsize::new(0));
    let first = load_k(&cache, &calls, 1).await;
    assert_eq!(first.expect("load").map(|e| e.value), Some(1));
    switch.0.store(true, Ordering::SeqCst);
    assert!(cache.get("k").await.is_err(), "plain get sees the failure");
    // The backend and the loader both fail: the process's last value, marked stale.
    let stale = served_stale(&cache).await;
    assert_eq!((stale.value, stale.freshness), (1, Freshness::Stale));
    // The backend fails but the loader works: a fresh value (not stored).
    let fresh = load_k(&cache, &calls, 2).await;
    let fresh = fresh.expect("load").expect("value");
    assert_eq!((fresh.value, fresh.freshness), (2, Freshness::Fresh));
    tokio::time::sleep(Duration::from_millis(1700)).await; // past TTL + max-stale
    assert!(
        cache.get_or_load("k", failing).await.is_err(),
        "past max-stale with both down"
    );
}

#[tokio::test]
async fn an_invalid_key_fails_without_loading_even_with_fail_safe() {
    let cache = Contract::<u64>::new("k", native())
        .fail_safe(Duration::from_secs(60))
        .cache();
    let calls = Arc::new(AtomicUsize::new(0));
    let r = cache
        .get_or_load("bad\nkey", counting(&calls, Duration::ZERO, 1))
        .await;
    assert!(
        matches!(&r, Err(LoadError::Cache(e)) if matches!(**e, Error::InvalidKey(_))),
        "{r:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn without_fail_safe_a_backend_error_is_returned() {
    let switch = Switch(Arc::new(AtomicBool::new(true)));
    let provider: Arc<dyn Provider> = Arc::new(Hooked::around(native(), switch));
    let cache = Contract::<u64>::new("c", provider).cache();
    let calls = Arc::new(AtomicUsize::new(0));
    match load_k(&cache, &calls, 1).await {
        Err(LoadError::Cache(e)) => assert!(matches!(*e, Error::Unavailable(_)), "{e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_ahead_reloads_once_per_window_in_the_background() {
    let cache = Contract::<u64>::new("ra", native())
        .default_ttl(Duration::from_millis(2000))
        .refresh_ahead(0.5)
        .cache();
    let calls = Arc::new(AtomicUsize::new(0));
    let loader = |v| counting(&calls, Duration::from_millis(100), v);
    // Ten calls with a loader of `value`: each a plain hit of `expected`.
    let hits = async |value, expected| {
        for _ in 0..10 {
            let e = cache.get_or_load("k", loader(value)).await.expect("hit");
            assert_eq!(e.expect("v").value, expected);
        }
    };
    let first = cache.get_or_load("k", loader(1)).await.expect("load");
    assert_eq!(first.map(|e| e.value), Some(1));
    // Before the refresh point: plain hits.
    hits(99, 1).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(1200)).await; // past 50 % of the TTL
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (cache, loader) = (cache.clone(), loader(2));
            tokio::spawn(async move { cache.get_or_load("k", loader).await })
        })
        .collect();
    for t in tasks {
        let e = t.await.expect("task").expect("hit").expect("v");
        assert_eq!(
            (e.value, e.freshness),
            (1, Freshness::Fresh),
            "the current value"
        );
    }
    tokio::time::sleep(Duration::from_millis(400)).await; // the refresh finishes
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "one refresh for the window"
    );
    assert_eq!(stat(&cache, REFRESHES).await, 1);
    // The refreshed value starts a new window: no refresh until its own point.
    hits(3, 2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soft_timeout_serves_stale_and_the_load_finishes_in_the_background() {
    let cache = Contract::<u64>::new("to", native())
        .default_ttl(Duration::from_millis(200))
        .fail_safe(Duration::from_secs(30))
        .soft_timeout(Duration::from_millis(50))
        .hard_timeout(Duration::from_secs(5))
        .cache();
    let calls = Arc::new(AtomicUsize::new(0));
    let first = load_k(&cache, &calls, 1).await;
    assert_eq!(first.expect("load").map(|e| e.value), Some(1));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let start = Instant::now();
    let e = cache
        .get_or_load("k", counting(&calls, Duration::from_millis(600), 2))
        .await
        .expect("stale")
        .expect("value");
    assert_eq!((e.value, e.freshness), (1, Freshness::Stale));
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    // The value the background load stored (past its short TTL by now: stale).
    let entry = cache
        .get_entry("k")
        .await
        .expect("get_entry")
        .expect("stored");
    assert_eq!(entry.value, 2, "the load finished");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hard_timeout_fails_a_load_that_runs_too_long() {
    let cache = Contract::<u64>::new("to", native())
        .hard_timeout(Duration::from_millis(200))
        .cache();
    let calls = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let r = cache
        .get_or_load("k", counting(&calls, Duration::from_secs(30), 1))
        .await;
    assert!(matches!(r, Err(LoadError::Timeout(_))), "{r:?}");
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(cache.get("k").await.expect("get"), None, "nothing stored");
}

#[tokio::test]
async fn negative_caching_answers_not_found_without_loading() {
    let calls = Arc::new(AtomicUsize::new(0));
    let not_found = |calls: &Arc<AtomicUsize>| {
        let calls = Arc::clone(calls);
        move || async move {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok::<Loaded<u64>, std::io::Error>(Loaded::not_found())
        }
    };
    let plain = Contract::<u64>::new("n", native()).cache();
    for _ in 0..3 {
        assert_eq!(
            plain
                .get_or_load("k", not_found(&calls))
                .await
                .expect("load"),
            None
        );
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "not cached without a negative TTL"
    );
    calls.store(0, Ordering::SeqCst);
    let negative = Contract::<u64>::new("n", native())
        .negative_ttl(Duration::from_millis(300))
        .cache();
    for _ in 0..3 {
        assert_eq!(
            negative
                .get_or_load("k", not_found(&calls))
                .await
                .expect("load"),
            None
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "cached not-found");
    assert_eq!(negative.get("k").await.expect("get"), None);
    tokio::time::sleep(Duration::from_millis(400)).await;
    negative
        .get_or_load("k", not_found(&calls))
        .await
        .expect("load");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "loaded again after the negative TTL"
    );
}

#[tokio::test]
async fn loader_ttl_and_tags_are_stored() {
    let provider = native();
    let cache = Contract::<u64>::new("t", provider.clone()).cache();
    let loaded = cache
        .get_or_load("k", || async {
            Ok::<_, std::io::Error>(Loaded::found(5).ttl(Duration::from_secs(9)).tags(["x"]))
        })
        .await
        .expect("load");
    assert_eq!(loaded.map(|e| e.value), Some(5));
    match provider.ttl("k").await.expect("ttl") {
        KeyTtl::ExpiresIn(d) => assert!(d <= Duration::from_secs(9) && d > Duration::from_secs(8)),
        other => panic!("{other:?}"),
    }
    cache.invalidate_tag("x").await.expect("invalidate");
    assert_eq!(cache.get("k").await.expect("get"), None);
}

#[tokio::test]
async fn ttl_jitter_spreads_expiries_above_the_ttl() {
    let provider = native();
    let cache = Contract::<u64>::new("j", provider.clone())
        .default_ttl(Duration::from_secs(100))
        .ttl_jitter(20.0)
        .cache();
    let mut seen = Vec::new();
    for i in 0..50 {
        let key = format!("k{i}");
        cache.set(&key, &i, None).await.expect("set");
        match provider.ttl(&key).await.expect("ttl") {
            KeyTtl::ExpiresIn(d) => seen.push(d),
            other => panic!("{other:?}"),
        }
    }
    let min = seen.iter().min().expect("ttls");
    let max = seen.iter().max().expect("ttls");
    assert!(*min > Duration::from_secs(99), "{min:?}");
    assert!(*max <= Duration::from_secs(120), "{max:?}");
    assert!(
        *max - *min > Duration::from_secs(2),
        "spread {min:?}..{max:?}"
    );
}

/// A cache without semantics options keeps the plain format byte for byte; one with them
/// writes the envelope, which `typed_payload` still opens.
#[tokio::test]
async fn stored_formats() {
    let provider = native();
    let plain = Contract::<u64>::new("f", provider.clone())
        .serializer(byoc::Json)
        .cache();
    plain.set("a", &42, None).await.expect("set");
    plain
        .get_or_load("b", || async { Ok::<_, Error>(Loaded::found(43)) })
        .await
        .expect("load");
    for (key, json) in [("a", "42"), ("b", "43")] {
        let raw = provider.get(key).await.expect("get").expect("stored");
        assert_eq!(&raw[..2], &[0xB7, 1], "plain header of {key}");
        assert_eq!(&raw[7..], json.as_bytes(), "plain payload of {key}");
    }
    let safe = Contract::<u64>::new("f", provider.clone())
        .serializer(byoc::Json)
        .fail_safe(Duration::from_secs(60))
        .cache();
    safe.set("c", &44, Some(Duration::from_secs(10)))
        .await
        .expect("set");
    let raw = provider.get("c").await.expect("get").expect("stored");
    assert_eq!(raw[1], 2, "envelope version");
    assert_eq!(byoc::typed_payload(&raw), Some((2, &b"44"[..])));
    // Physical TTL = TTL + max-stale.
    match provider.ttl("c").await.expect("ttl") {
        KeyTtl::ExpiresIn(d) => assert!(d > Duration::from_secs(60), "{d:?}"),
        other => panic!("{other:?}"),
    }
    // Both handles read both formats.
    assert_eq!(plain.get("c").await.expect("get"), Some(44));
    assert_eq!(safe.get("a").await.expect("get"), Some(42));
    assert_eq!(
        safe.get_many(&["a", "c", "z"]).await.expect("get_many"),
        vec![Some(42), Some(44), None]
    );
}

#[tokio::test]
async fn semantics_from_yaml() {
    let text = "caches:\n  - name: c\n    provider: native-memory\n    default-ttl: 200ms\n    \
                semantics: { max-stale: 10s, refresh-ahead: 0.8, soft-timeout: 50ms, \
                hard-timeout: 1s, ttl-jitter: 10, negative-ttl: 5s, lock-ttl: 2s }\n";
    let file = byoc::ConfigFile::parse(text, "sem.yaml").expect("config");
    let config = file.cache("c").expect("cache");
    assert_eq!(config.semantics.refresh_ahead, Some(0.8));
    assert!(file.describe().contains("semantics"), "{}", file.describe());
    let caches = byoc::Caches::open(&file, byoc::Registry::new().expect("runtime"))
        .await
        .expect("open");
    let cache = caches.cache::<u64>("c").expect("typed");
    let first = cache
        .get_or_load("k", || async { Ok::<_, Error>(Loaded::found(1)) })
        .await;
    assert_eq!(first.expect("load").map(|e| e.value), Some(1));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stale = served_stale(&cache).await;
    assert_eq!(stale.freshness, Freshness::Stale, "fail-safe from the file");
    for (bad, field) in [
        ("{ refresh-ahead: 1.5 }", "semantics.refresh-ahead"),
        ("{ ttl-jitter: 200 }", "semantics.ttl-jitter"),
        ("{ max-stale: 0s }", "semantics.max-stale"),
        (
            "{ soft-timeout: 2s, hard-timeout: 1s }",
            "semantics.soft-timeout",
        ),
    ] {
        let text =
            format!("caches:\n  - name: c\n    provider: native-memory\n    semantics: {bad}\n");
        let err = byoc::ConfigFile::parse(&text, "bad.yaml").expect_err(bad);
        assert!(err.to_string().contains(field), "{bad}: {err}");
    }
    let unknown =
        "caches:\n  - name: c\n    provider: native-memory\n    semantics: { stale: 1s }\n";
    assert!(byoc::ConfigFile::parse(unknown, "bad.yaml").is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn native_increment_and_compare_and_swap_are_atomic() {
    let p = native();
    assert!(p.info().native.contains(&byoc::Capability::Atomics));
    assert_eq!(
        p.increment("n", 5, Some(Duration::from_secs(60)))
            .await
            .expect("incr"),
        5
    );
    assert_eq!(p.increment("n", -7, None).await.expect("incr"), -2);
    assert!(
        matches!(p.ttl("n").await.expect("ttl"), KeyTtl::ExpiresIn(_)),
        "TTL kept"
    );
    p.set("text", b"abc", None).await.expect("set");
    assert!(matches!(
        p.increment("text", 1, None).await,
        Err(Error::InvalidArgument(_))
    ));
    p.set("big", i64::MAX.to_string().as_bytes(), None)
        .await
        .expect("set");
    assert!(matches!(
        p.increment("big", 1, None).await,
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(
        p.get("big").await.expect("get"),
        Some(i64::MAX.to_string().into_bytes())
    );
    assert!(
        p.compare_and_swap("c", None, b"a", None)
            .await
            .expect("cas")
    );
    assert!(
        !p.compare_and_swap("c", None, b"b", None)
            .await
            .expect("cas")
    );
    assert!(
        !p.compare_and_swap("c", Some(b"x"), b"b", None)
            .await
            .expect("cas")
    );
    assert!(
        p.compare_and_swap("c", Some(b"a"), b"b", None)
            .await
            .expect("cas")
    );
    assert_eq!(p.get("c").await.expect("get"), Some(b"b".to_vec()));
    assert!(matches!(
        p.compare_and_swap("c", None, b"z", Some(Duration::ZERO))
            .await,
        Err(Error::InvalidArgument(_))
    ));
    // An expired key counts as missing.
    p.set("e", b"old", Some(Duration::from_millis(20)))
        .await
        .expect("set");
    tokio::time::sleep(Duration::from_millis(40)).await;
    assert!(
        p.compare_and_swap("e", None, b"new", None)
            .await
            .expect("cas")
    );
    assert_eq!(p.increment("e2", 1, None).await.expect("incr"), 1);
    // Concurrent increments and lock takers: no lost update, one winner.
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let p = p.clone();
            tokio::spawn(async move {
                p.increment("count", 1, None).await.expect("incr");
                p.compare_and_swap("lock", None, format!("{i}").as_bytes(), None)
                    .await
                    .expect("cas")
            })
        })
        .collect();
    let mut winners = 0;
    for t in tasks {
        winners += usize::from(t.await.expect("task"));
    }
    assert_eq!(winners, 1);
    assert_eq!(p.get("count").await.expect("get"), Some(b"200".to_vec()));
}

// ---- two processes sharing Redis ----

/// Set in a child process of the Redis single-flight test: the server's URL.
const CHILD_URL: &str = "BYOC_SEMANTICS_CHILD_URL";
/// When the children start loading (ms since the Unix epoch), so they race.
const CHILD_START: &str = "BYOC_SEMANTICS_CHILD_START";

fn redis_config(url: &str) -> byoc::AdapterConfig {
    byoc::AdapterConfig::new()
        .with("url", byoc::ConfigValue::Text(url.into()))
        .with("namespace", byoc::ConfigValue::Text("sf:".into()))
}

/// Two processes, each with 200 concurrent `get_or_load`s of one cold key on one Redis
/// server: the loader runs once in all. Needs the `redis` provider's compare-and-swap;
/// skips (with a message) while it lacks `Capability::Atomics`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_sharing_redis_load_once() {
    let Some(server) = byoc_tests::redis_server::RedisServer::start("semantics two processes")
    else {
        return;
    };
    let provider = byoc::Registry::new()
        .expect("runtime")
        .create("redis", redis_config(&server.url()))
        .await
        .expect("redis provider");
    assert!(
        provider.info().native.contains(&byoc::Capability::Atomics),
        "the redis provider declares atomics (the lock entry needs compare-and-swap)"
    );
    let start = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        + Duration::from_secs(3))
    .as_millis()
    .to_string();
    let exe = std::env::current_exe().expect("test binary");
    let children: Vec<_> = (0..2)
        .map(|_| {
            std::process::Command::new(&exe)
                .args(["semantics::redis_child", "--exact", "--nocapture"])
                .env(CHILD_URL, server.url())
                .env(CHILD_START, &start)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("spawn child")
        })
        .collect();
    let mut loads = 0;
    for child in children {
        let out = child.wait_with_output().expect("child");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "child failed: {text}");
        let n: usize = text
            .lines()
            .find_map(|l| l.strip_prefix("child-loads="))
            .unwrap_or_else(|| panic!("no count from the child: {text}"))
            .trim()
            .parse()
            .expect("count");
        loads += n;
    }
    assert_eq!(loads, 1, "loader calls across two processes");
}

/// The child side of [`two_processes_sharing_redis_load_once`]; does nothing when run
/// as a test of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_child() {
    let Ok(url) = std::env::var(CHILD_URL) else {
        return;
    };
    let start: u64 = std::env::var(CHILD_START)
        .expect("start")
        .parse()
        .expect("start");
    let provider = byoc::Registry::new()
        .expect("runtime")
        .create("redis", redis_config(&url))
        .await
        .expect("redis provider");
    let cache = Contract::<u64>::new("sf", provider)
        .default_ttl(Duration::from_secs(60))
        .shared_single_flight(Duration::from_secs(10))
        .cache();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    tokio::time::sleep(Duration::from_millis(start.saturating_sub(now))).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let slow = (Duration::from_millis(500), 3);
    for entry in concurrent_loads(200, |_| cache.clone(), "cold", &calls, slow).await {
        assert_eq!(entry.map(|e| e.value), Some(3));
    }
    println!("child-loads={}", calls.load(Ordering::SeqCst));
}
