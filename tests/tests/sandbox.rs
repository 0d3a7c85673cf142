//! The sandbox: traps, deadlines, limits and grants, with the hostile test adapter.

use byoc::builtin::HOSTILE_ADAPTER_PATH;
use byoc::{AdapterConfig, ConfigValue, Error, Limits, Provider, Registry, WasmProvider};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_millis(200);
/// Slack for the epoch tick (10 ms), scheduling, and a fresh instance.
const MARGIN: Duration = Duration::from_millis(800);

async fn hostile(behaviour: &str, limits: Limits, partitions: usize) -> WasmProvider {
    let registry = Registry::new().expect("runtime");
    let runtime = registry.runtime();
    let component = runtime
        .load_file(HOSTILE_ADAPTER_PATH)
        .expect("hostile component");
    WasmProvider::builder(runtime, component)
        .config(AdapterConfig::new().with("behaviour", ConfigValue::Text(behaviour.into())))
        .limits(limits)
        .partitions(partitions)
        .build()
        .await
        .expect("hostile adapter starts")
}

fn limits() -> Limits {
    Limits {
        call_deadline: DEADLINE,
        memory_bytes: 32 << 20,
        ..Limits::default()
    }
}

/// Runs the behaviour, checks the error and its timing, then checks that the provider
/// keeps serving on a fresh instance.
async fn misbehaves_then_recovers(behaviour: &str, check: impl Fn(&Error) -> bool) {
    let p = hostile(behaviour, limits(), 1).await;
    p.set("before", b"v", None).await.expect("set");
    let started = Instant::now();
    let r = p.get("hostile:now").await;
    let took = started.elapsed();
    match &r {
        Err(e) => assert!(check(e), "{behaviour}: unexpected error {e}"),
        Ok(v) => panic!("{behaviour}: expected an error, got {v:?}"),
    }
    assert!(took < DEADLINE + MARGIN, "{behaviour}: took {took:?}");
    assert_eq!(p.traps(), 1, "{behaviour}: traps counted");
    // The next call works, on a fresh instance (the trapped one's state is gone).
    assert_eq!(p.get("before").await.expect("next call works"), None);
    p.set("after", b"v", None).await.expect("set after trap");
    assert_eq!(p.get("after").await.expect("get"), Some(b"v".to_vec()));
    assert_eq!(p.instantiations(), 2, "{behaviour}: one fresh instance");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trap_is_a_typed_error_and_next_call_works() {
    misbehaves_then_recovers("trap", |e| {
        matches!(e, Error::Trapped { adapter, reason } if adapter.contains("hostile") && reason.contains("unreachable"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panic_is_a_trap() {
    misbehaves_then_recovers("panic", |e| matches!(e, Error::Trapped { .. })).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infinite_loop_hits_the_deadline() {
    misbehaves_then_recovers(
        "loop",
        |e| matches!(e, Error::DeadlineExceeded { deadline, .. } if *deadline == DEADLINE),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_bomb_hits_the_memory_limit() {
    misbehaves_then_recovers("grow", |e| matches!(e, Error::Trapped { .. })).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stack_overflow_is_a_trap() {
    // Rust keeps its stack in linear memory: overflowing it is an out-of-bounds access
    // (or, for deep wasm frames, a wasm stack overflow). Either is a trap.
    misbehaves_then_recovers("recurse", |e| {
        matches!(e, Error::Trapped { reason, .. } if reason.contains("stack") || reason.contains("out of bounds"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_without_a_grant_are_denied() {
    for path in ["/etc/passwd", "/", "../../etc/passwd", "."] {
        let registry = Registry::new().expect("runtime");
        let runtime = registry.runtime();
        let component = runtime.load_file(HOSTILE_ADAPTER_PATH).expect("component");
        let p = WasmProvider::builder(runtime, component)
            .config(
                AdapterConfig::new()
                    .with("behaviour", ConfigValue::Text("read-file".into()))
                    .with("path", ConfigValue::Text(path.into())),
            )
            .partitions(1)
            .build()
            .await
            .expect("start");
        let r = p.get("hostile:read").await;
        assert!(matches!(r, Err(Error::Denied(_))), "{path}: got {r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_looping_adapter_does_not_stall_other_caches() {
    let bad = Arc::new(hostile("loop", limits(), 1).await);
    let good = Registry::new()
        .expect("runtime")
        .create("memory", AdapterConfig::new())
        .await
        .expect("memory");
    good.set("k", b"v", None).await.expect("set");
    let looping = {
        let bad = Arc::clone(&bad);
        tokio::spawn(async move {
            let started = Instant::now();
            let r = bad.get("hostile:spin").await;
            (r.is_err(), started.elapsed())
        })
    };
    // While the bad adapter spins on one worker, the other serves the good cache.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let started = Instant::now();
    for _ in 0..100 {
        assert_eq!(good.get("k").await.expect("good get"), Some(b"v".to_vec()));
    }
    let good_took = started.elapsed();
    let (failed, bad_took) = looping.await.expect("join");
    assert!(failed, "the loop must fail with a deadline");
    assert!(
        good_took < bad_took,
        "100 good calls ({good_took:?}) waited for the looping adapter ({bad_took:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_loses_only_its_own_partition() {
    let p = hostile("trap", limits(), 4).await;
    for i in 0..64 {
        p.set(&format!("k{i}"), b"v", None).await.expect("set");
    }
    assert!(p.get("hostile:x").await.is_err());
    let keys: Vec<String> = (0..64).map(|i| format!("k{i}")).collect();
    let survivors = p
        .get_multi(&keys)
        .await
        .expect("get_multi")
        .iter()
        .flatten()
        .count();
    assert!(
        survivors > 0 && survivors < 64,
        "{survivors} of 64 keys survived a trap in one of four partitions"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_during_traps_all_answer() {
    let p = Arc::new(hostile("trap", limits(), 2).await);
    let mut tasks = Vec::new();
    for t in 0..8 {
        let p = Arc::clone(&p);
        tasks.push(tokio::spawn(async move {
            let mut errors = 0;
            for i in 0..50 {
                let key = if i % 10 == 0 {
                    format!("hostile:{t}:{i}")
                } else {
                    format!("k{t}:{i}")
                };
                match p.get(&key).await {
                    Ok(_) => {}
                    Err(e) if e.is_trap() => errors += 1,
                    Err(e) => panic!("unexpected error {e}"),
                }
            }
            errors
        }));
    }
    let mut traps = 0;
    for task in tasks {
        traps += task.await.expect("no task panicked");
    }
    assert_eq!(
        traps, 40,
        "each hostile call traps, every other call answers"
    );
    p.ping().await.expect("still serving");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_values_never_reach_the_guest() {
    let p = hostile(
        "trap",
        Limits {
            max_value_bytes: 1024,
            ..limits()
        },
        1,
    )
    .await;
    let r = p.set("k", &[0u8; 1025], None).await;
    assert!(matches!(r, Err(Error::ValueTooLarge(_))), "got {r:?}");
    p.set("k", &[0u8; 1024], None).await.expect("at the limit");
    assert_eq!(p.instantiations(), 1);
}

#[tokio::test]
async fn bad_components_and_configs_are_clear_errors() {
    let registry = Registry::new().expect("runtime");
    let runtime = registry.runtime();

    let r = runtime.load("garbage", b"not wasm at all");
    assert!(
        matches!(r, Err(Error::Load { ref component, .. }) if component == "garbage"),
        "{r:?}"
    );

    let r = registry
        .create("no-such-provider", AdapterConfig::new())
        .await;
    match r {
        Err(Error::UnknownProvider { name, known }) => {
            assert_eq!(name, "no-such-provider");
            assert!(known.contains("memory") && known.contains("native-memory"));
        }
        other => panic!("got {:?}", other.map(|p| p.info())),
    }

    let cases = [
        (
            "unknown field",
            AdapterConfig::new().with("max-bites", ConfigValue::Size(1)),
            "max-bites",
        ),
        (
            "wrong kind",
            AdapterConfig::new().with("eviction", ConfigValue::Integer(3)),
            "eviction",
        ),
        (
            "bad value",
            AdapterConfig::new().with("eviction", ConfigValue::Text("random".into())),
            "random",
        ),
        (
            "negative",
            AdapterConfig::new().with("max-entries", ConfigValue::Integer(-1)),
            "max-entries",
        ),
    ];
    for (what, config, mentions) in cases {
        match registry.create("memory", config).await {
            Err(Error::InvalidConfig(msg)) => assert!(msg.contains(mentions), "{what}: {msg}"),
            other => panic!("{what}: got {:?}", other.map(|p| p.info())),
        }
    }
    let r = registry
        .create(
            "native-memory",
            AdapterConfig::new().with("shards", ConfigValue::Integer(2)),
        )
        .await;
    assert!(matches!(r, Err(Error::InvalidConfig(ref m)) if m.contains("shards")));

    // A required field missing.
    let component = runtime.load_file(HOSTILE_ADAPTER_PATH).expect("component");
    let r = WasmProvider::builder(runtime, component).build().await;
    assert!(
        matches!(r, Err(Error::InvalidConfig(ref m)) if m.contains("behaviour")),
        "{r:?}"
    );
}
