//! The sandbox against a deliberately hostile adapter: every behaviour × {single call,
//! batch call, concurrent calls}. Each case checks that the host stays up, the caller
//! gets the specified typed error within the deadline plus a margin (concurrent calls:
//! also after the hostile calls queued ahead of it on its partition), another cache
//! served at the same time is unaffected, and the next call works. Where the deadline is
//! not what stops a behaviour (traps, errors), the provider gets a longer one, so a trap
//! that comes late on a loaded machine is still seen as the trap.

use byoc::builtin::{HOSTILE_ADAPTER_PATH, HOSTILE_NET_ADAPTER_PATH};
use byoc::wasm::{Quarantine, WALL_CLOCK_GRACE};
use byoc::{AdapterConfig, ConfigValue, Error, Item, Limits, Provider, Registry, WasmProvider};
use byoc_tests::wat_hostile::{self, WatBehaviour, WatPacking, probe};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_millis(200);
/// Slack for the epoch tick (10 ms), the wall-clock grace (100 ms), scheduling on a
/// loaded two-core machine, and starting a fresh instance.
const MARGIN: Duration = Duration::from_millis(900);
/// How long a misbehaving call that waits for no other may take.
const WITHIN: Duration = DEADLINE.saturating_add(MARGIN);
/// Hostile calls made at once by [`concurrent`], one per task.
const HOSTILE_TASKS: u32 = 4;

fn limits() -> Limits {
    Limits::new()
        .call_deadline(DEADLINE)
        .memory_bytes(32 << 20)
        .max_response_bytes(1 << 20)
        .quarantine(Quarantine::disabled())
}

async fn hostile_with(config: AdapterConfig, limits: Limits, partitions: usize) -> WasmProvider {
    let registry = Registry::new().expect("runtime");
    let runtime = registry.runtime();
    let component = runtime
        .load_file(HOSTILE_ADAPTER_PATH)
        .expect("hostile component");
    WasmProvider::builder(runtime, component)
        .config(config)
        .limits(limits)
        .partitions(partitions)
        .build()
        .await
        .expect("hostile adapter starts")
}

async fn hostile(behaviour: &str, limits: Limits, partitions: usize) -> WasmProvider {
    // `huge-value` answers 2 MiB, twice the response limit of `limits()`.
    let config = AdapterConfig::new()
        .with("behaviour", ConfigValue::Text(behaviour.into()))
        .with("size", ConfigValue::Size(2 << 20));
    hostile_with(config, limits, partitions).await
}

/// Where a hostile provider comes from.
#[derive(Clone, Copy, Debug)]
enum Source {
    /// The Rust hostile adapter with this `behaviour`.
    Rust(&'static str),
    /// A component assembled from `hostile.wat`, with this table limit (`None`: the
    /// default).
    Wat(WatBehaviour, Option<usize>),
    /// The same component with the default table limit, called synchronously
    /// ([`byoc::WasmProviderBuilder::sync_calls`]).
    SyncWat(WatBehaviour),
}

/// Initial table size of the WAT components.
const WAT_TABLE_MIN: u32 = 1;

async fn wat_provider(
    behaviour: WatBehaviour,
    table_min: u32,
    limits: Limits,
    partitions: usize,
    sync: bool,
) -> byoc::Result<WasmProvider> {
    let registry = Registry::new().expect("runtime");
    let runtime = registry.runtime();
    let component = runtime.load("wat-hostile", &wat_hostile::component(behaviour, table_min))?;
    let provider = WasmProvider::builder(runtime, component)
        .limits(limits)
        .partitions(partitions)
        .sync_calls(sync)
        .build()
        .await?;
    assert_eq!(
        provider.sync_calls(),
        sync,
        "{behaviour:?}: imports nothing that waits"
    );
    Ok(provider)
}

async fn start(source: Source, limits: Limits, partitions: usize) -> WasmProvider {
    match source {
        Source::Rust(behaviour) => hostile(behaviour, limits, partitions).await,
        Source::Wat(behaviour, table) => {
            let limits = match table {
                Some(elements) => limits.table_elements(elements),
                None => limits,
            };
            wat_provider(behaviour, WAT_TABLE_MIN, limits, partitions, false)
                .await
                .expect("the WAT adapter starts")
        }
        Source::SyncWat(behaviour) => {
            wat_provider(behaviour, WAT_TABLE_MIN, limits, partitions, true)
                .await
                .expect("the WAT adapter starts")
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Expect {
    Trap,
    Deadline,
    Internal,
    Denied,
}

impl Expect {
    /// The call deadline of a provider that misbehaves this way: [`DEADLINE`] where the
    /// deadline is what stops it; otherwise one as long as the time a call may take, so
    /// that a trap (or error) which comes late on a loaded machine is still what the test
    /// sees, not a deadline.
    fn deadline(self) -> Duration {
        match self {
            Expect::Deadline => DEADLINE,
            Expect::Trap | Expect::Internal | Expect::Denied => WITHIN,
        }
    }

    fn matches(self, e: &Error) -> bool {
        match self {
            Expect::Trap => {
                matches!(e, Error::Trapped { adapter, .. } if adapter.contains("hostile"))
            }
            Expect::Deadline => {
                matches!(e, Error::DeadlineExceeded { deadline, .. } if *deadline == DEADLINE)
            }
            Expect::Internal => matches!(e, Error::Internal(_)),
            Expect::Denied => matches!(e, Error::Denied(_)),
        }
    }
}

async fn other_cache() -> Arc<dyn Provider> {
    let good = Registry::new()
        .expect("runtime")
        .create("memory", AdapterConfig::new())
        .await
        .expect("memory");
    good.set("k", b"v", None).await.expect("set");
    good
}

/// Runs `calls` good calls on `good` and returns how long they took.
async fn serve(good: &Arc<dyn Provider>, calls: usize) -> Duration {
    let started = Instant::now();
    for _ in 0..calls {
        assert_eq!(
            good.get("k").await.expect("other cache"),
            Some(b"v".to_vec())
        );
    }
    started.elapsed()
}

/// Checks that a hostile call failed as `expect`ed within `bound`.
fn check(
    behaviour: &str,
    mode: &str,
    expect: Expect,
    r: &byoc::Result<impl std::fmt::Debug>,
    took: Duration,
    bound: Duration,
) {
    match r {
        Err(e) => assert!(
            expect.matches(e),
            "{behaviour}/{mode}: expected {expect:?}, got {e}"
        ),
        Ok(v) => panic!("{behaviour}/{mode}: expected {expect:?}, got {v:?}"),
    }
    assert!(
        took < bound,
        "{behaviour}/{mode}: took {took:?}, over {bound:?}"
    );
}

/// The provider still answers, on a fresh instance where the behaviour trapped.
async fn next_call_works(p: &WasmProvider, source: Source) {
    let behaviour = format!("{source:?}");
    p.set("after", b"v", None)
        .await
        .unwrap_or_else(|e| panic!("{behaviour}: set after: {e}"));
    let got = p.get("after").await.expect("get after");
    match source {
        Source::Rust(_) => assert_eq!(got, Some(b"v".to_vec()), "{behaviour}"),
        Source::Wat(..) | Source::SyncWat(_) => {
            // The WAT adapter stores nothing; its probe shows the instance serving the
            // key never misbehaved and its table is back at its initial size.
            let (table, pages, runs) = probe(&got.expect("a probe"));
            assert_eq!((table, runs), (WAT_TABLE_MIN, 0), "{behaviour}");
            assert!(pages >= 1, "{behaviour}");
        }
    }
    p.ping().await.expect("ping after");
}

async fn single(source: Source, expect: Expect) {
    let behaviour = &format!("{source:?}");
    let p = start(source, limits().call_deadline(expect.deadline()), 2).await;
    let good = other_cache().await;
    let (r, took) = tokio::join!(
        async {
            let started = Instant::now();
            let r = p.get("hostile:single").await;
            (r, started.elapsed())
        },
        async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            serve(&good, 50).await
        }
    );
    let (r, hostile_took) = r;
    check(behaviour, "single", expect, &r, hostile_took, WITHIN);
    assert!(
        took < WITHIN,
        "{behaviour}: the other cache waited {took:?}"
    );
    next_call_works(&p, source).await;
}

async fn batch(source: Source, expect: Expect) {
    let behaviour = &format!("{source:?}");
    let p = start(source, limits().call_deadline(expect.deadline()), 1).await;
    p.set("a", b"1", None).await.expect("set");
    let keys: Vec<String> = ["a", "hostile:batch", "b"].map(String::from).to_vec();
    let started = Instant::now();
    let r = p.get_multi(&keys).await;
    check(
        behaviour,
        "get_multi",
        expect,
        &r,
        started.elapsed(),
        WITHIN,
    );
    if !matches!(expect, Expect::Internal) {
        // A write batch with the hostile key in the middle fails the same way.
        let items = vec![
            Item::new("x", b"1".to_vec(), None),
            Item::new("hostile:write", b"2".to_vec(), None),
            Item::new("y", b"3".to_vec(), None),
        ];
        let started = Instant::now();
        let r = p.set_multi(&items).await;
        check(
            behaviour,
            "set_multi",
            expect,
            &r,
            started.elapsed(),
            WITHIN,
        );
    }
    next_call_works(&p, source).await;
}

async fn concurrent(source: Source, expect: Expect) {
    let behaviour = &format!("{source:?}");
    let limits = limits().call_deadline(expect.deadline());
    let p = Arc::new(start(source, limits, 2).await);
    let good = other_cache().await;
    // Keys go to partitions by a hash seeded at random per provider, so all the hostile
    // calls may land on one partition: each then waits for the ones ahead of it to end,
    // and the last ends only after all of them held the instance, each for at most its
    // deadline and the wall-clock grace (a call waiting in a host import is abandoned only
    // then).
    let hold = expect.deadline() + WALL_CLOCK_GRACE;
    let bound = hold * HOSTILE_TASKS + MARGIN;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..HOSTILE_TASKS {
        let p = Arc::clone(&p);
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for i in 0..3 {
                let key = if i == 1 {
                    format!("hostile:{t}")
                } else {
                    format!("k{t}:{i}")
                };
                let started = Instant::now();
                outcomes.push((
                    key.starts_with("hostile:"),
                    p.get(&key).await.map(drop),
                    started.elapsed(),
                ));
            }
            outcomes
        }));
    }
    let good_took = serve(&good, 100).await;
    for task in tasks {
        for (is_hostile, r, took) in task.await.expect("no task panicked") {
            if is_hostile {
                check(behaviour, "concurrent", expect, &r, took, bound);
            } else {
                r.unwrap_or_else(|e| panic!("{behaviour}: a well-behaved call failed: {e}"));
            }
        }
    }
    assert!(
        started.elapsed() < bound,
        "{behaviour}: {:?}",
        started.elapsed()
    );
    assert!(
        good_took < WITHIN,
        "{behaviour}: the other cache waited {good_took:?}"
    );
    next_call_works(&p, source).await;
}

macro_rules! behaviour_tests {
    ($($name:ident: $source:expr => $expect:expr;)*) => {
        $(
            mod $name {
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn single_call() {
                    single($source, $expect).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn batch_call() {
                    batch($source, $expect).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn concurrent_calls() {
                    concurrent($source, $expect).await;
                }
            }
        )*
    };
}

behaviour_tests! {
    trap: Source::Rust("trap") => Expect::Trap;
    rust_panic: Source::Rust("panic") => Expect::Trap;
    infinite_loop: Source::Rust("loop") => Expect::Deadline;
    loop_calling_host_imports: Source::Rust("import-loop") => Expect::Deadline;
    busy_random: Source::Rust("random-loop") => Expect::Deadline;
    sleep_in_a_host_import: Source::Rust("sleep") => Expect::Deadline;
    memory_bomb: Source::Rust("grow") => Expect::Trap;
    stack_overflow: Source::Rust("recurse") => Expect::Trap;
    huge_answer: Source::Rust("huge-value") => Expect::Internal;
    read_etc_passwd: Source::Rust("read-file") => Expect::Denied;
    table_bomb: Source::Wat(WatBehaviour::TableBomb, None) => Expect::Trap;
    table_bomb_configured_limit: Source::Wat(WatBehaviour::TableBomb, Some(1000)) => Expect::Trap;
    raw_memory_grow_loop: Source::Wat(WatBehaviour::MemoryBomb, None) => Expect::Trap;
    wat_unbounded_recursion: Source::Wat(WatBehaviour::Recurse, None) => Expect::Trap;
    wat_spin: Source::Wat(WatBehaviour::Spin, None) => Expect::Deadline;
    // The same, called synchronously: a call holds its thread until its deadline.
    sync_table_bomb: Source::SyncWat(WatBehaviour::TableBomb) => Expect::Trap;
    sync_memory_grow_loop: Source::SyncWat(WatBehaviour::MemoryBomb) => Expect::Trap;
    sync_unbounded_recursion: Source::SyncWat(WatBehaviour::Recurse) => Expect::Trap;
    sync_spin: Source::SyncWat(WatBehaviour::Spin) => Expect::Deadline;
}

/// Synchronous calls are taken only by components that import nothing that waits.
#[tokio::test]
async fn sync_calls_need_a_component_that_never_waits() {
    let registry = Registry::new().expect("runtime");
    let runtime = registry.runtime();
    let memory = byoc::builtin::load_memory_adapter(runtime).expect("memory");
    let hostile = runtime.load_file(HOSTILE_ADAPTER_PATH).expect("hostile");
    // The memory adapter imports clocks, randomness, wasi:cli and wasi:io; the hostile
    // one also files (and sleeps).
    for (component, asked, taken) in [
        (&memory, true, true),
        (&memory, false, false),
        (&hostile, true, false),
    ] {
        // The hostile adapter misbehaves only on `hostile:` keys.
        let config = AdapterConfig::new().with("behaviour", ConfigValue::Text("trap".into()));
        let is_hostile = component.name().contains("hostile");
        let p = WasmProvider::builder(runtime, component.clone())
            .config(if is_hostile {
                config
            } else {
                AdapterConfig::new()
            })
            .partitions(1)
            .sync_calls(asked)
            .build()
            .await
            .expect("starts");
        assert_eq!(p.sync_calls(), taken, "{} asked {asked}", component.name());
        p.set("k", b"v", None).await.expect("set");
        assert_eq!(p.get("k").await.expect("get"), Some(b"v".to_vec()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_without_a_grant_are_invisible() {
    for path in [
        "/etc/passwd",
        "/",
        "../../etc/passwd",
        ".",
        "/proc/self/environ",
    ] {
        let config = AdapterConfig::new()
            .with("behaviour", ConfigValue::Text("read-file".into()))
            .with("path", ConfigValue::Text(path.into()));
        let p = hostile_with(config, limits(), 1).await;
        let r = p.get("hostile:read").await;
        assert!(matches!(r, Err(Error::Denied(_))), "{path}: got {r:?}");
    }
}

#[tokio::test]
async fn the_environment_is_empty() {
    // This process has environment variables; the adapter must see none of them.
    assert!(std::env::vars().next().is_some());
    let p = hostile("env", limits(), 1).await;
    assert_eq!(p.get("hostile:env").await.expect("get"), Some(Vec::new()));
}

#[tokio::test]
async fn lies_about_scan_results_are_caught() {
    let p = hostile("lie", limits(), 1).await;
    let r = p.scan("user:*", None, 10).await;
    assert!(
        matches!(r, Err(Error::Internal(ref m)) if m.contains("does not match")),
        "{r:?}"
    );
    p.ping().await.expect("the instance keeps serving");
}

#[tokio::test]
async fn a_component_importing_sockets_is_refused_without_a_tcp_grant() {
    let registry = Registry::new().expect("runtime");
    let component = registry
        .runtime()
        .load_file(HOSTILE_NET_ADAPTER_PATH)
        .expect("a socket-importing component loads");
    let r = WasmProvider::builder(registry.runtime(), component)
        .build()
        .await;
    match r {
        Err(Error::Load { reason, .. }) => {
            assert!(
                reason.contains("wasi:sockets") && reason.contains("TCP grant"),
                "{reason}"
            );
        }
        other => panic!("a socket-importing component started without a grant: {other:?}"),
    }
}

#[tokio::test]
async fn components_can_be_pinned_by_sha256() {
    let registry = Registry::new().expect("runtime");
    let bytes = byoc::builtin::MEMORY_ADAPTER;
    let hash = byoc::wasm::sha256_hex(bytes);
    registry
        .runtime()
        .load_pinned("memory", bytes, &hash)
        .expect("matching pin");
    let wrong = "0".repeat(64);
    let r = registry.runtime().load_pinned("memory", bytes, &wrong);
    assert!(
        matches!(r, Err(Error::Load { ref reason, .. }) if reason.contains(&hash)),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_traps_quarantine_the_adapter() {
    let policy = Quarantine {
        traps: 3,
        window: Duration::from_secs(10),
        backoff: Duration::from_millis(300),
        max_backoff: Duration::from_secs(5),
    };
    let p = hostile("trap", limits().quarantine(policy), 1).await;
    for _ in 0..3 {
        assert!(p.get("hostile:x").await.is_err_and(|e| e.is_trap()));
    }
    // Quarantined: fails fast with `unavailable`, without touching the adapter.
    let started = Instant::now();
    let r = p.get("fine").await;
    assert!(
        matches!(r, Err(Error::Unavailable(ref m)) if m.contains("quarantined")),
        "{r:?}"
    );
    assert!(started.elapsed() < Duration::from_millis(50));
    let stats = p.stats().await.expect("stats answer while quarantined");
    assert_eq!(stats.extra("host.quarantined"), Some(1));
    assert_eq!(stats.extra("host.quarantines"), Some(1));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(p.get("fine").await.expect("back in service"), None);
    assert_eq!(
        p.stats().await.expect("stats").extra("host.quarantined"),
        Some(0)
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

#[tokio::test]
async fn oversized_values_never_reach_the_guest() {
    let p = hostile("trap", limits().max_value_bytes(1024), 1).await;
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

/// `table.grow` past the limit fails (answers -1) instead of growing: the table stops at
/// exactly `limit` elements and the instance keeps serving.
async fn table_stops_at(limits: Limits, limit: usize) {
    let p = wat_provider(WatBehaviour::TableProbe, WAT_TABLE_MIN, limits, 1, false)
        .await
        .expect("the WAT adapter starts");
    let started = Instant::now();
    let got = p.get("hostile:grow").await.expect("the probe");
    let (table, _, runs) = probe(&got.expect("a probe"));
    assert_eq!((table as usize, runs), (limit, 1));
    assert!(started.elapsed() < WITHIN, "{:?}", started.elapsed());
    // Refused growth is not a trap: the same instance answers the next call.
    let (table, _, runs) = probe(&p.get("k").await.expect("get").expect("a probe"));
    assert_eq!((table as usize, runs), (limit, 1));
    assert_eq!((p.traps(), p.instantiations()), (0, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_growth_stops_at_the_default_limit() {
    assert_eq!(
        Limits::new().table_elements,
        byoc::wasm::DEFAULT_TABLE_ELEMENTS
    );
    table_stops_at(limits(), byoc::wasm::DEFAULT_TABLE_ELEMENTS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_growth_stops_at_a_configured_limit() {
    table_stops_at(limits().table_elements(1000), 1000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_declared_over_the_limit_cannot_start() {
    let r = wat_provider(
        WatBehaviour::TableProbe,
        2000,
        limits().table_elements(1000),
        1,
        false,
    )
    .await;
    match r {
        Err(Error::Trapped { adapter, reason }) => {
            assert_eq!(adapter, "wat-hostile");
            assert!(reason.contains("table"), "{reason}");
        }
        other => panic!("got {other:?}"),
    }
    // At the limit it starts.
    let p = wat_provider(
        WatBehaviour::TableProbe,
        1000,
        limits().table_elements(1000),
        1,
        false,
    )
    .await
    .expect("a table at the limit");
    let (table, _, _) = probe(&p.get("k").await.expect("get").expect("a probe"));
    assert_eq!(table, 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_count_is_clamped_to_the_limit() {
    // `scan-echo` answers exactly the count the host asked it for.
    for (limit, partitions) in [(50, 1), (50, 3), (0, 1)] {
        let p = hostile("scan-echo", limits().max_scan_count(limit), partitions).await;
        for asked in [0, 1, 7, 49, 50, 51, 1_000_000, u32::MAX] {
            let page = p.scan("*", None, asked).await.expect("scan");
            let want = asked.clamp(1, limit.max(1));
            assert_eq!(
                page.keys.len(),
                want as usize,
                "limit {limit}, asked {asked}"
            );
            assert!(
                page.keys.iter().all(|k| k.starts_with(&format!("{want}:"))),
                "limit {limit}, asked {asked}: the adapter was asked for another count: {:?}",
                &page.keys[..page.keys.len().min(3)]
            );
        }
    }
    // The default: 10,000.
    let p = hostile("scan-echo", limits(), 1).await;
    let page = p.scan("*", None, u32::MAX).await.expect("scan");
    assert_eq!(page.keys.len(), byoc::wasm::DEFAULT_MAX_SCAN_COUNT as usize);
    assert!(page.keys[0].starts_with("10000:"), "{}", page.keys[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_answering_more_than_asked_is_refused() {
    let p = hostile("scan-overflow", limits().max_scan_count(50), 1).await;
    for asked in [0, 1, 10, 50, 1000, u32::MAX] {
        let r = p.scan("*", None, asked).await;
        assert!(
            matches!(r, Err(Error::Internal(ref m)) if m.contains("more keys than")),
            "asked {asked}: {r:?}"
        );
    }
    // A refused answer is not a trap: the instance keeps serving.
    p.ping().await.expect("ping");
    assert_eq!((p.traps(), p.instantiations()), (0, 1));
}

/// An adapter whose optional `bulk` export answers packings that do not add up, or hands
/// back a held answer the host does not hold: the host
/// uses that export for `get_multi`, refuses each answer with a typed error naming the
/// adapter, and the instance keeps serving (a refused answer is not a trap).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_packed_answers_are_refused() {
    let cases = [
        (
            WatPacking::LengthMismatch,
            "add up to 0 bytes but the buffer holds 5",
        ),
        (WatPacking::NegativeLength, "negative length"),
        (WatPacking::Miscount, "answered 3 values for 2 keys"),
        (
            WatPacking::HeldNothing,
            "answered a held get-multi with nothing held",
        ),
    ];
    for ((packing, expected), sync) in cases.into_iter().flat_map(|c| [(c, false), (c, true)]) {
        let registry = Registry::new().expect("runtime");
        let runtime = registry.runtime();
        let component = runtime
            .load("wat-bulk", &wat_hostile::bulk_component(packing))
            .expect("the component loads");
        assert!(
            component
                .exports()
                .iter()
                .any(|e| e.starts_with("byoc:cache/bulk@")),
            "{:?}",
            component.exports()
        );
        let p = WasmProvider::builder(runtime, component)
            .limits(limits())
            .partitions(1)
            .sync_calls(sync)
            .build()
            .await
            .expect("the adapter starts");
        assert_eq!(p.sync_calls(), sync);
        let keys = ["a", "b"].map(String::from);
        match p.get_multi(&keys).await {
            Err(Error::Internal(m)) => assert!(
                m.contains(expected) && m.contains("wat-bulk"),
                "{packing:?}: {m}"
            ),
            other => panic!("{packing:?}: {other:?}"),
        }
        assert!(p.get_multi(&[]).await.is_ok_and(|v| v.is_empty()));
        let (_, _, runs) = probe(&p.get("k").await.expect("get").expect("a probe"));
        assert_eq!(runs, 0, "{packing:?}");
        assert_eq!((p.traps(), p.instantiations()), (0, 1), "{packing:?}");
    }
}

/// A layer called synchronously from a wrapper's `inner` import runs its wasm on the
/// wrapper's fiber stack. With a 4 MiB wasm stack (above wasmtime's default 2 MiB fiber
/// stack: the runtime sizes its fibers from it), unbounded recursion in that layer still
/// ends in a trap that replaces the layer's instance, and the wrapper answers from its
/// other layer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_recursion_in_a_synchronous_layer_below_a_wrapper_traps() {
    let runtime = byoc::Runtime::new(byoc::RuntimeConfig {
        max_wasm_stack: 4 << 20,
        ..Default::default()
    })
    .expect("a runtime with a 4 MiB wasm stack");
    let registry = Registry::with_runtime(runtime);
    let dir = crate::temp_dir();
    let wat = dir.path().join("recurse.wasm");
    std::fs::write(
        &wat,
        wat_hostile::component(WatBehaviour::Recurse, WAT_TABLE_MIN),
    )
    .expect("write");
    let mut primary = byoc::StackSpec::component(&wat, None);
    primary.sync_calls = true;
    let stack = byoc::StackSpec::new("fallback")
        .inner(primary)
        .inner(byoc::StackSpec::new("memory"));
    let p = registry.build(&stack).await.expect("the stack builds");
    // The primary recurses 4 MiB deep and traps; the fallback layer answers.
    assert_eq!(p.get("hostile:deep").await.expect("answered"), None);
    // The primary's next instance answers its probe: it never misbehaved.
    let (_, _, runs) = probe(&p.get("k").await.expect("get").expect("a probe"));
    assert_eq!(runs, 0);
}

/// A Rust adapter's panic message (written to its stderr) is in the trap's error, so a
/// panic and an out-of-memory read differently; what it writes is bounded and kept on
/// one line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_panic_message_is_in_the_error() {
    let p = hostile("panic", limits(), 1).await;
    let r = p.get("hostile:x").await;
    match &r {
        Err(Error::Trapped { reason, .. }) => {
            assert!(
                reason.contains("guest stderr:")
                    && reason.contains("hostile adapter panicked on purpose"),
                "{reason}"
            );
            assert!(!reason.contains('\n'), "{reason}");
            assert!(reason.len() < 4096, "{} bytes", reason.len());
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    // A fresh instance starts with an empty tail: a trap without output adds none.
    p.set("after", b"v", None).await.expect("set after");
    let trap = hostile("trap", limits(), 1).await;
    match trap.get("hostile:x").await {
        Err(Error::Trapped { reason, .. }) => {
            assert!(!reason.contains("guest stderr"), "{reason}")
        }
        other => panic!("expected a trap, got {other:?}"),
    }
}
