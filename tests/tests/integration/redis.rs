//! The Redis adapter on private Redis servers: conformance on one server and on a
//! three-master cluster, interop with `redis-cli`, namespace isolation, faults.
//!
//! Every test starts its own `redis-server` (or cluster) on free loopback ports and
//! skips with a message when Redis is not installed (fails under
//! `BYOC_REQUIRE_SERVICES=1`).

use byoc::redis::{RedisGrant, RedisTarget, redis_provider};
use byoc::{AdapterConfig, ConfigValue, Error, Item, KeyTtl, Provider, Registry};
use byoc_tests::Holding;
use byoc_tests::redis_server::{RedisCluster, RedisServer, cli};
use std::sync::Arc;
use std::time::{Duration, Instant};

type P = Arc<dyn Provider>;

fn config(url: &str, namespace: &str) -> AdapterConfig {
    AdapterConfig::new()
        .with("url", ConfigValue::Text(url.into()))
        .with("namespace", ConfigValue::Text(namespace.into()))
}

async fn provider_on(server: &RedisServer, namespace: &str) -> P {
    Registry::new()
        .expect("runtime")
        .create("redis", config(&server.url(), namespace))
        .await
        .expect("redis provider")
}

mod single_redis {
    use super::*;

    byoc_tests::conformance_tests!(|| async {
        let server = RedisServer::start("redis conformance")?;
        let provider = provider_on(&server, "conf:").await;
        Some(Arc::new(Holding::new(provider, server)) as P)
    });
}

/// The whole conformance suite on one three-master cluster (one cluster for every case, a
/// fresh namespace per case: starting a cluster takes seconds).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_conformance_and_failover() {
    use byoc_tests::conformance as c;
    let Some(mut cluster) = RedisCluster::start("redis cluster conformance") else {
        return;
    };
    let registry = Registry::new().expect("runtime");
    let mut n = 0;
    let mut fresh = || {
        n += 1;
        let config = AdapterConfig::new()
            .with("cluster-urls", ConfigValue::TextList(cluster.urls()))
            .with("namespace", ConfigValue::Text(format!("cl{n}:")));
        let registry = registry.clone();
        async move {
            registry
                .create("redis", config)
                .await
                .expect("cluster provider")
        }
    };
    c::get_set_roundtrip(fresh().await).await;
    c::overwrite_and_delete(fresh().await).await;
    c::exists_tracks_liveness(fresh().await).await;
    c::empty_value_is_not_missing(fresh().await).await;
    c::binary_values_every_byte(fresh().await).await;
    c::one_mib_value(fresh().await).await;
    c::unicode_keys(fresh().await).await;
    c::longest_key_is_accepted(fresh().await).await;
    c::invalid_keys_are_typed_errors(fresh().await).await;
    c::oversized_value_is_rejected_and_keeps_old(fresh().await).await;
    c::ttl_expiry_is_observed(fresh().await).await;
    c::ttl_decreases(fresh().await).await;
    c::zero_ttl_is_rejected(fresh().await).await;
    c::expire_changes_lifetime(fresh().await).await;
    c::multi_ops_with_partial_hits(fresh().await).await;
    c::set_multi_validates_before_storing(fresh().await).await;
    c::glob_patterns(fresh().await).await;
    c::scan_pages_10k_keys_exactly_once(fresh().await).await;
    c::scan_rejects_bad_cursor_and_pattern(fresh().await).await;
    c::clear_removes_everything(fresh().await).await;
    c::stats_count_hits_and_misses(fresh().await).await;
    c::ping_and_info(fresh().await).await;
    c::atomics_increment(fresh().await).await;
    c::atomics_compare_and_swap(fresh().await).await;
    c::atomics_concurrent(fresh().await).await;

    // Keys over every master; the cluster reports three.
    let p = registry
        .create(
            "redis",
            AdapterConfig::new()
                .with("cluster-urls", ConfigValue::TextList(cluster.urls()))
                .with("namespace", ConfigValue::Text("main:".into())),
        )
        .await
        .expect("cluster provider");
    let k0 = "main:k0";
    let keys: Vec<String> = (0..300).map(|i| format!("k{i}")).collect();
    let items: Vec<Item> = keys
        .iter()
        .map(|k| Item::new(k.clone(), k.as_bytes().to_vec(), None))
        .collect();
    p.set_multi(&items).await.expect("set_multi across slots");
    let values = p.get_multi(&keys).await.expect("get_multi across slots");
    assert!(
        values
            .iter()
            .zip(&keys)
            .all(|(v, k)| v.as_deref() == Some(k.as_bytes()))
    );
    let stats = p.stats().await.expect("stats");
    assert_eq!(stats.keys, 300);
    assert!(
        stats.extra.contains(&("redis.masters".into(), 3)),
        "{stats:?}"
    );

    // Failover: kill the master of `k0`; its replica takes over within a bounded time.
    let killed = cluster.kill_master_of(k0);
    // Recovered: a write to the failed master's slots and a read over every master work.
    let started = Instant::now();
    let bound = Duration::from_secs(20);
    let mut last = None;
    while started.elapsed() < bound {
        let attempt = async {
            p.set("k0", b"after", None).await?;
            p.get_multi(&keys).await
        };
        let tried = Instant::now();
        let outcome = attempt.await;
        // Two calls, each bounded by the grant's deadline (default 1.5 s).
        assert!(
            tried.elapsed() < Duration::from_secs(4),
            "a call during failover took {:?}",
            tried.elapsed()
        );
        match outcome {
            Ok(values) => {
                assert_eq!(values.len(), keys.len());
                last = None;
                break;
            }
            Err(e) => {
                assert!(matches!(e, Error::Unavailable(_)), "during failover: {e:?}");
                last = Some(e);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    assert!(
        last.is_none(),
        "no recovery {bound:?} after killing master {killed}: {last:?}"
    );
    let recovered = started.elapsed();
    eprintln!("cluster recovered {recovered:?} after master {killed} was killed");
    assert_eq!(cli(cluster.any_port(), &["-c", "GET", k0]), "after");
    assert_eq!(
        p.get("k0").await.expect("get after failover"),
        Some(b"after".to_vec())
    );
    // Informational: replication is asynchronous, so a few keys could in principle be lost.
    let values = p.get_multi(&keys).await.expect("get_multi after failover");
    let present = values.iter().filter(|v| v.is_some()).count();
    eprintln!("{present} of {} keys readable after failover", keys.len());
}

/// What BYOC writes is plain Redis data under the namespaced key, and the other way round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_with_redis_cli() {
    let Some(server) = RedisServer::start("redis interop") else {
        return;
    };
    let p = provider_on(&server, "app:users:").await;
    p.set("42", b"Ada", Some(Duration::from_secs(60)))
        .await
        .expect("set");
    assert_eq!(server.cli(&["GET", "app:users:42"]), "Ada");
    let pttl: i64 = server.cli(&["PTTL", "app:users:42"]).parse().expect("pttl");
    assert!((59_000..=60_000).contains(&pttl), "PTTL {pttl}");
    assert_eq!(
        server.cli(&["GET", "42"]),
        "",
        "nothing outside the namespace"
    );

    server.cli(&["SET", "app:users:7", "from-cli", "PX", "30000"]);
    assert_eq!(p.get("7").await.expect("get"), Some(b"from-cli".to_vec()));
    match p.ttl("7").await.expect("ttl") {
        KeyTtl::ExpiresIn(d) => {
            assert!(d > Duration::from_secs(25) && d <= Duration::from_secs(30))
        }
        other => panic!("ttl of a key set with PX: {other:?}"),
    }
    let mut keys = p.keys("*").await.expect("keys");
    keys.sort();
    assert_eq!(keys, ["42", "7"]);
}

/// Two namespaces on one server see, scan and clear only their own keys, whatever the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_are_isolated() {
    let Some(server) = RedisServer::start("redis isolation") else {
        return;
    };
    // `n*:` would match `n1:` keys if the namespace were not escaped in SCAN MATCH.
    let a = provider_on(&server, "n*:").await;
    let b = provider_on(&server, "n1:").await;
    let long = "x".repeat(1024);
    let crafted = [
        "*",
        "{",
        "}",
        "{n1:}x",
        "\\",
        "\\*",
        "[a-z]",
        "?",
        "..:n1:k",
        "é\u{10FFFF}\u{fffd}",
        &long,
    ];
    for k in crafted {
        a.set(k, b"a", None).await.expect("set crafted");
    }
    b.set("k", b"b", None).await.expect("set b");
    b.set("*", b"b-star", None).await.expect("set b star");

    // Each sees only its own.
    assert_eq!(b.get("{n1:}x").await.expect("get"), None);
    assert_eq!(a.get("k").await.expect("get"), None);
    assert_eq!(a.get("*").await.expect("get"), Some(b"a".to_vec()));
    assert_eq!(b.get("*").await.expect("get"), Some(b"b-star".to_vec()));
    let mut want: Vec<String> = crafted.iter().map(|k| k.to_string()).collect();
    want.sort();
    let mut got = a.keys("*").await.expect("scan a");
    got.sort();
    assert_eq!(got, want, "namespace a scans exactly its keys");
    let mut got = b.keys("*").await.expect("scan b");
    got.sort();
    assert_eq!(got, ["*", "k"]);

    // Every one of a's keys is stored under a's prefix, verbatim.
    let raw = server.cli(&["--scan", "--pattern", "n\\*:*"]);
    assert_eq!(raw.lines().count(), crafted.len(), "{raw}");
    assert_eq!(server.cli(&["GET", &format!("n*:{long}")]), "a");
    assert_eq!(server.cli(&["DBSIZE"]), (crafted.len() + 2).to_string());

    // Clearing a leaves b untouched (and the other way round).
    a.clear().await.expect("clear a");
    assert!(a.keys("*").await.expect("scan a").is_empty());
    assert_eq!(b.get("k").await.expect("get"), Some(b"b".to_vec()));
    assert_eq!(server.cli(&["DBSIZE"]), "2");
    server.cli(&["SET", "outside", "x"]);
    b.clear().await.expect("clear b");
    assert_eq!(server.cli(&["GET", "outside"]), "x");
    assert_eq!(server.cli(&["DBSIZE"]), "1");
}

/// A server that stops answering (paused) fails 64 concurrent calls through the provider
/// (pooled instances, batched reads) with `unavailable` within the grant's deadline plus
/// a small slack: the import's own bound ends the wait, no instance is abandoned at the
/// call deadline (no trap is counted), and calls work again once the pause ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_server_fails_calls_at_the_grant_deadline() {
    let Some(server) = RedisServer::start("redis pause") else {
        return;
    };
    let deadline = Duration::from_millis(300);
    let grant = RedisGrant::new(RedisTarget::Single(server.url()), "pause:")
        .expect("grant")
        .deadline(deadline)
        .response_timeout(Duration::from_secs(10));
    let runtime = byoc::Runtime::shared().expect("runtime");
    let p = Arc::new(redis_provider(&runtime, grant).await.expect("provider"));
    p.set("k", b"v", None).await.expect("set");
    // Warm the pool so that instantiation is not timed below.
    let warm: Vec<_> = (0..64)
        .map(|_| {
            let p = Arc::clone(&p);
            tokio::spawn(async move { p.get("k").await })
        })
        .collect();
    for t in warm {
        t.await.expect("task").expect("warm get");
    }
    server.cli(&["CLIENT", "PAUSE", "1500", "ALL"]);
    let paused = Instant::now();
    let tasks: Vec<_> = (0..64u64)
        .map(|i| {
            let p = Arc::clone(&p);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(i)).await;
                let started = Instant::now();
                let r = if i % 5 == 4 {
                    p.set("k", b"w", None).await.map(|_| ())
                } else {
                    p.get(&format!("k{}", i % 3)).await.map(|_| ())
                };
                (r, started.elapsed())
            })
        })
        .collect();
    for t in tasks {
        let (r, took) = t.await.expect("task");
        assert_unavailable_at(&r, took, deadline);
    }
    assert!(
        paused.elapsed() < Duration::from_millis(1500),
        "test too slow"
    );
    assert_eq!(p.traps(), 0, "a call was abandoned at its deadline");
    let v = until_ok(Duration::from_secs(5), Duration::ZERO, || p.get("k")).await;
    assert!(v.is_some());
}

/// A Redis provider of `instances` pooled instances whose calls have `call_deadline`,
/// shorter than its grant's deadline (5 s), holding `k`.
async fn with_call_deadline(
    server: &RedisServer,
    namespace: &str,
    call_deadline: Duration,
    instances: usize,
) -> Arc<byoc::wasm::WasmProvider> {
    let grant = RedisGrant::new(RedisTarget::Single(server.url()), namespace)
        .expect("grant")
        .deadline(Duration::from_secs(5))
        .response_timeout(Duration::from_secs(5));
    let mut limits = byoc::config_file::LimitsConfig::default();
    limits.call_deadline = Some(byoc::config_file::DurationText(call_deadline));
    let runtime = byoc::Runtime::shared().expect("runtime");
    let p = byoc::redis::redis_provider_with(&runtime, grant, instances, &limits)
        .await
        .expect("provider");
    p.set("k", b"v", None).await.expect("set");
    Arc::new(p)
}

/// With a call deadline shorter than the grant's, a paused server fails calls with
/// `unavailable` at the wasm call's deadline: the import, run on the instance's fiber,
/// sees the call's deadline and returns then, within the grace before the call would be
/// abandoned, so no call is abandoned (no trap) and the guest answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_call_deadline_bounds_a_redis_import() {
    let Some(server) = RedisServer::start("redis call deadline") else {
        return;
    };
    let call_deadline = Duration::from_millis(300);
    let p = with_call_deadline(&server, "cd:", call_deadline, 8).await;
    server.cli(&["CLIENT", "PAUSE", "1500", "ALL"]);
    // The import returns at the call deadline: the guest has the grace that follows
    // (`WALL_CLOCK_GRACE`) to answer before the call would be abandoned.
    let tasks: Vec<_> = (0..8u64)
        .map(|i| {
            let p = Arc::clone(&p);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(3 * i)).await;
                let started = Instant::now();
                let r = p.get(&format!("k{}", i % 2)).await;
                (r, started.elapsed())
            })
        })
        .collect();
    for t in tasks {
        let (r, took) = t.await.expect("task");
        assert_unavailable_at(&r, took, call_deadline);
    }
    assert_eq!(p.traps(), 0, "a call was abandoned instead of answered");
}

/// An import that answered on time is not turned into an abandoned call by an executor
/// that wakes the call late: here the only worker thread is blocked past the call's
/// wall-clock deadline while the import waits for a paused server. The guest, resumed
/// after the deadline, finishes in that poll (the epoch tick that passed meanwhile, the
/// first it meets in the poll, neither yields nor interrupts it): the caller gets the import's `unavailable`, and no call is
/// abandoned, as no call would be on a machine too busy to wake it in time.
#[tokio::test(flavor = "current_thread")]
async fn a_late_wake_up_does_not_abandon_an_answered_call() {
    let Some(server) = RedisServer::start("redis late wake-up") else {
        return;
    };
    let call_deadline = Duration::from_secs(1);
    let p = with_call_deadline(&server, "lw:", call_deadline, 1).await;
    server.cli(&["CLIENT", "PAUSE", "3000", "ALL"]);
    let call = tokio::spawn({
        let p = Arc::clone(&p);
        async move { p.get("k").await }
    });
    // The call reaches the import and waits there (alone on the runtime, it needs far
    // less than this sleep); then the thread is blocked from before the import returns
    // until well past the wall-clock deadline (the call's deadline plus the grace).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let wall_clock = call_deadline + byoc::wasm::WALL_CLOCK_GRACE;
    std::thread::sleep(wall_clock + Duration::from_millis(200));
    let r = call.await.expect("task");
    assert!(matches!(r, Err(Error::Unavailable(_))), "woken late: {r:?}");
    assert_eq!(p.traps(), 0, "an answered call was abandoned");
}

/// Stopping Redis fails calls with `unavailable` within the deadline; restarting it
/// makes them work again without restarting anything in the host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stop_and_restart() {
    let Some(mut server) = RedisServer::start("redis faults") else {
        return;
    };
    let deadline = Duration::from_millis(800);
    let grant = RedisGrant::new(RedisTarget::Single(server.url()), "f:")
        .expect("grant")
        .deadline(deadline);
    let runtime = byoc::Runtime::shared().expect("runtime");
    let p = redis_provider(&runtime, grant).await.expect("provider");
    p.set("k", b"v", None).await.expect("set");

    server.stop();
    for _ in 0..3 {
        let started = Instant::now();
        let r = p.get("k").await;
        let took = started.elapsed();
        assert!(
            matches!(r, Err(Error::Unavailable(_))),
            "with redis stopped: {r:?}"
        );
        assert!(
            took < deadline + Duration::from_millis(500),
            "took {took:?}"
        );
        let r = p.set("k", b"v", None).await;
        assert!(
            matches!(r, Err(Error::Unavailable(_))),
            "with redis stopped: {r:?}"
        );
    }
    assert!(matches!(p.ping().await, Err(Error::Unavailable(_))));

    server.restart();
    until_ok(Duration::from_secs(10), Duration::from_millis(100), || {
        p.set("k", b"again", None)
    })
    .await;
    assert_eq!(p.get("k").await.expect("get"), Some(b"again".to_vec()));
    p.ping().await.expect("ping");
    let stats = p.stats().await.expect("stats");
    let failures = stats
        .extra
        .iter()
        .find(|(n, _)| n == "redis.failures")
        .map(|(_, v)| *v);
    assert!(failures.is_some_and(|f| f >= 7), "{stats:?}");
}

/// The host's redis import without a grant answers `denied`; bad configurations are
/// typed errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_grant_is_denied_and_bad_config_is_typed() {
    let runtime = byoc::Runtime::shared().expect("runtime");
    byoc::redis::link(&runtime).expect("the redis import");
    let component = runtime
        .load("redis", byoc::builtin::REDIS_ADAPTER)
        .expect("load");
    let p = byoc::WasmProvider::builder(&runtime, component)
        .partitions(1)
        .build()
        .await
        .expect("provider without grant");
    assert!(matches!(p.get("k").await, Err(Error::Denied(_))));
    assert!(matches!(p.clear().await, Err(Error::Denied(_))));

    let registry = Registry::new().expect("runtime");
    let bad = [
        config("redis://127.0.0.1:1", "ns:").with("colour", ConfigValue::Text("red".into())),
        AdapterConfig::new().with("namespace", ConfigValue::Text("ns:".into())),
        config("redis://127.0.0.1:1", "ns:").with(
            "cluster-urls",
            ConfigValue::TextList(vec!["redis://127.0.0.1:2".into()]),
        ),
        AdapterConfig::new().with("url", ConfigValue::Text("redis://127.0.0.1:1".into())),
        config("http://127.0.0.1:1", "ns:"),
        config("redis://127.0.0.1:1", ""),
        config("redis://127.0.0.1:1", "ns:").with("deadline", ConfigValue::Integer(5)),
    ];
    for config in bad {
        let r = registry.create("redis", config.clone()).await;
        assert!(
            matches!(r, Err(Error::InvalidConfig(_))),
            "{config:?} gave {:?}",
            r.map(|_| ())
        );
    }
    // A server that is not there: creating works (nothing connects yet), calls are
    // `unavailable` quickly.
    let p = registry
        .create("redis", config("redis://127.0.0.1:1", "ns:"))
        .await
        .expect("lazy connection");
    let started = Instant::now();
    assert!(matches!(p.get("k").await, Err(Error::Unavailable(_))));
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// Multi-key operations are one round trip each (checked with Redis' own command counters).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_ops_are_single_round_trips() {
    let Some(server) = RedisServer::start("redis round trips") else {
        return;
    };
    let p = provider_on(&server, "rt:").await;
    let keys: Vec<String> = (0..500).map(|i| format!("k{i}")).collect();
    let items: Vec<Item> = keys
        .iter()
        .map(|k| Item::new(k.clone(), b"v".to_vec(), Some(Duration::from_secs(100))))
        .collect();
    let before = commands(&server);
    p.set_multi(&items).await.expect("set_multi");
    p.get_multi(&keys).await.expect("get_multi");
    p.delete_multi(&keys).await.expect("delete_multi");
    let after = commands(&server);
    // 500 SET in one pipeline, one MGET, one DEL (plus INFO itself for each sample).
    assert_eq!(
        after.get("set"),
        Some(&(before.get("set").copied().unwrap_or(0) + 500))
    );
    assert_eq!(after.get("mget"), Some(&1));
    assert_eq!(after.get("get").copied().unwrap_or(0), 0, "no single GETs");
    assert_eq!(after.get("del"), Some(&1));
    assert!(!after.contains_key("keys") && !after.contains_key("flushdb"));
}

/// Runs `op` until it succeeds (pausing `pause` after each failure); fails the test if it
/// has not within `within`.
async fn until_ok<T, Fut>(within: Duration, pause: Duration, mut op: impl FnMut() -> Fut) -> T
where
    Fut: std::future::Future<Output = byoc::Result<T>>,
{
    let started = Instant::now();
    loop {
        match op().await {
            Ok(v) => return v,
            Err(e) => {
                assert!(started.elapsed() < within, "no recovery: {e:?}");
                tokio::time::sleep(pause).await;
            }
        }
    }
}

/// A paused server's answer: `unavailable`, no earlier than `deadline` and less than
/// 300 ms after it.
#[track_caller]
fn assert_unavailable_at<T: std::fmt::Debug>(
    r: &byoc::Result<T>,
    took: Duration,
    deadline: Duration,
) {
    assert!(matches!(r, Err(Error::Unavailable(_))), "paused: {r:?}");
    assert!(took >= deadline, "answered after {took:?}");
    assert!(
        took < deadline + Duration::from_millis(300),
        "answered after {took:?}"
    );
}

/// Calls per command, from `INFO commandstats`.
fn commands(server: &RedisServer) -> std::collections::HashMap<String, u64> {
    server
        .cli(&["INFO", "commandstats"])
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("cmdstat_")?;
            let (name, stats) = rest.split_once(':')?;
            let calls = stats
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            Some((name.to_owned(), calls))
        })
        .collect()
}

/// The Redis provider's instances are pooled: concurrent calls run on several instances
/// at once (a second one only starts while the first is busy), yet stats, scan and clear
/// are answered once, not once per instance, and the pool's hits add up over instances.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_instances_serve_concurrent_calls_once() {
    let Some(server) = RedisServer::start("redis pooled instances") else {
        return;
    };
    let p = provider_on(&server, "pool:").await;
    for i in 0..20 {
        p.set(&format!("k{i}"), b"v", None).await.expect("set");
    }
    let before = p.stats().await.expect("stats");
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let p = Arc::clone(&p);
            tokio::spawn(async move {
                for i in 0..50 {
                    let key = format!("k{}", (t + i) % 20);
                    assert_eq!(p.get(&key).await.expect("get"), Some(b"v".to_vec()));
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    let sizes_before = commands(&server).get("memory|usage").copied().unwrap_or(0);
    let after = p.stats().await.expect("stats");
    assert_eq!(after.extra("host.pooled"), Some(1));
    assert!(
        after.extra("host.instantiations").expect("instantiations") > 1,
        "8 concurrent tasks never ran on a second instance: {after:?}"
    );
    assert_eq!(after.hits - before.hits, 400, "hits summed over instances");
    assert_eq!(after.keys, 20, "keys counted once");
    // One instance answered: the namespace was sized once (MEMORY USAGE per key), not
    // once per live instance.
    let sizes = commands(&server).get("memory|usage").copied().unwrap_or(0) - sizes_before;
    assert_eq!(sizes, 20, "MEMORY USAGE calls of one stats");
    assert_eq!(p.keys("*").await.expect("keys").len(), 20, "scanned once");
    p.clear().await.expect("clear");
    assert_eq!(p.stats().await.expect("stats").keys, 0);
    assert_eq!(cli(server.port(), &["DBSIZE"]).trim(), "0");
}

/// Runs `task(p, i)` for `i` in `0..n`, each in its own tokio task, all released at once
/// (a barrier), and waits for every one.
async fn all_at_once<F, Fut>(p: &P, n: usize, task: F)
where
    F: Fn(P, usize) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let start = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let start = Arc::clone(&start);
            let work = task(Arc::clone(p), i);
            tokio::spawn(async move {
                start.wait().await;
                work.await;
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
}

/// Auto-pipelining through the provider: 256 concurrent tasks reading their own keys, a
/// shared key and a miss each get the right answer, and Redis sees far fewer GET/MGET
/// commands than calls (`INFO commandstats`); with `max-batch` 1 it sees one per call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_gets_are_auto_pipelined() {
    let Some(server) = RedisServer::start("redis auto-pipelining") else {
        return;
    };
    let batched = provider_on(&server, "ap:").await;
    let unbatched = Registry::new()
        .expect("runtime")
        .create(
            "redis",
            config(&server.url(), "ap:").with("max-batch", ConfigValue::Integer(1)),
        )
        .await
        .expect("unbatched provider");
    let items: Vec<Item> = (0..256)
        .map(|i| Item::new(format!("k{i}"), format!("v{i}").into_bytes(), None))
        .chain([Item::new("shared".to_owned(), b"s".to_vec(), None)])
        .collect();
    batched.set_multi(&items).await.expect("seed");
    server.cli(&["SET", "miss", "outside the namespace"]);

    let server = &server;
    let reads = |p: P| async move {
        let before = commands(server);
        all_at_once(&p, 256, |p, i| async move {
            for _ in 0..4 {
                let own = p.get(&format!("k{i}")).await.expect("own key");
                assert_eq!(own, Some(format!("v{i}").into_bytes()), "task {i}");
                assert_eq!(p.get("shared").await.expect("shared"), Some(b"s".to_vec()));
                assert_eq!(p.get("miss").await.expect("miss"), None);
                assert!(p.exists(&format!("k{i}")).await.expect("exists"));
            }
        })
        .await;
        let after = commands(server);
        let delta =
            |c: &str| after.get(c).copied().unwrap_or(0) - before.get(c).copied().unwrap_or(0);
        delta("get") + delta("mget")
    };
    let sent = reads(Arc::clone(&batched)).await;
    eprintln!("3072 get calls from 256 tasks: {sent} GET/MGET commands");
    assert!(sent > 0);
    assert!(
        sent * 3 < 3072,
        "{sent} commands for 3072 gets: not batched"
    );
    let sent = reads(unbatched).await;
    assert_eq!(sent, 3072, "max-batch 1 sends one command per call");
}

/// Concurrent `get`s are coalesced before they reach the adapter: 256 tasks reading at
/// once each get their own value (hits and misses counted per call), from multi-key reads
/// made by the few instances of the reads in flight (at most sixteen at a time), not from
/// one instance per task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_gets_are_coalesced_before_the_adapter() {
    let Some(server) = RedisServer::start("redis coalesced gets") else {
        return;
    };
    let p = provider_on(&server, "co:").await;
    let items: Vec<Item> = (0..256)
        .map(|i| Item::new(format!("k{i}"), format!("v{i}").into_bytes(), None))
        .collect();
    p.set_multi(&items).await.expect("seed");
    let before = p.stats().await.expect("stats");
    let commands_before = commands(&server);
    all_at_once(&p, 256, |p, i| async move {
        for _ in 0..4 {
            let own = p.get(&format!("k{i}")).await.expect("own key");
            assert_eq!(own, Some(format!("v{i}").into_bytes()), "task {i}");
            assert_eq!(p.get(&format!("gone{i}")).await.expect("miss"), None);
        }
    })
    .await;
    let after = p.stats().await.expect("stats");
    assert_eq!(after.hits - before.hits, 1024, "hits counted per call");
    assert_eq!(
        after.misses - before.misses,
        1024,
        "misses counted per call"
    );
    let instances = after.extra("host.instantiations").expect("instantiations");
    assert!(
        instances <= 16,
        "{instances} instances started for 2048 coalesced gets"
    );
    let sent = |c: &str| {
        commands(&server).get(c).copied().unwrap_or(0)
            - commands_before.get(c).copied().unwrap_or(0)
    };
    let (gets, mgets) = (sent("get"), sent("mget"));
    eprintln!("2048 gets from 256 tasks: {gets} GET, {mgets} MGET, {instances} instances");
    assert!(mgets > 0, "no multi-key read");
    assert!(
        gets + mgets < 2048 / 8,
        "{gets} GET and {mgets} MGET for 2048 gets"
    );
}

/// A server that dies under 16 concurrent readers (fewer than the pooled instances, so no
/// call waits for an instance): every call ends within its deadline, with the right value, a
/// miss (the restarted server is empty) or `unavailable` (none hangs); after a restart
/// every reader recovers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_reads_survive_a_server_restart() {
    let Some(mut server) = RedisServer::start("redis batched faults") else {
        return;
    };
    let deadline = Duration::from_millis(600);
    let grant = RedisGrant::new(RedisTarget::Single(server.url()), "bf:")
        .expect("grant")
        .deadline(deadline);
    let runtime = byoc::Runtime::shared().expect("runtime");
    let p: P = Arc::new(redis_provider(&runtime, grant).await.expect("provider"));
    for i in 0..8 {
        p.set(&format!("k{i}"), &[i], None).await.expect("set");
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..16u8)
        .map(|t| {
            let (p, stop) = (Arc::clone(&p), Arc::clone(&stop));
            tokio::spawn(async move {
                let (mut ok, mut failed) = (0u32, 0u32);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let i = t % 8;
                    let started = Instant::now();
                    let r = p.get(&format!("k{i}")).await;
                    let took = started.elapsed();
                    assert!(
                        took < deadline + Duration::from_millis(700),
                        "took {took:?}"
                    );
                    match r {
                        Ok(v) => {
                            assert!(v.is_none() || v == Some(vec![i]), "{v:?}");
                            ok += 1;
                        }
                        Err(e) => {
                            assert!(matches!(e, Error::Unavailable(_)), "{e:?}");
                            failed += 1;
                        }
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.stop();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.restart();
    // Redis starts empty (no persistence): seed again, then every reader must succeed.
    until_ok(
        Duration::from_secs(10),
        Duration::from_millis(50),
        || async {
            for i in 0..8 {
                p.set(&format!("k{i}"), &[i], None).await?;
            }
            Ok::<_, Error>(())
        },
    )
    .await;
    // Readers may still see a miss between the restart and the seeding: wait it out.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let checks: Vec<_> = (0..64u8)
        .map(|t| {
            let p = Arc::clone(&p);
            tokio::spawn(async move {
                let i = t % 8;
                assert_eq!(
                    p.get(&format!("k{i}")).await.expect("after restart"),
                    Some(vec![i])
                );
            })
        })
        .collect();
    for c in checks {
        c.await.expect("check");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut ok, mut failed) = (0, 0);
    for r in readers {
        let (o, f) = r.await.expect("reader");
        ok += o;
        failed += f;
    }
    eprintln!("during the restart: {ok} reads answered, {failed} unavailable");
    assert!(failed > 0, "the server stop was never observed");
}

/// Atomics on one Redis server through the pooled adapter: 64 tasks x 1000 increments
/// give exactly 64 000 (INCRBY), and each of 50 compare-and-swap rounds among 64 tasks
/// has exactly one winner (WATCH/MULTI/EXEC on connections of their own). A second
/// client of the server sees the counter as plain text.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn atomics_hold_under_64_concurrent_tasks() {
    let Some(server) = RedisServer::start("redis atomics") else {
        return;
    };
    let p = provider_on(&server, "atom:").await;
    assert!(p.info().native.contains(&byoc::Capability::Atomics));
    byoc_tests::conformance::concurrent_increments(&p, 64, 1000).await;
    byoc_tests::conformance::one_winner_per_round(&p, 64, 50).await;
    assert_eq!(server.cli(&["GET", "atom:counter"]), "64000");
}
