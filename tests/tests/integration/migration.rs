//! The `migration` wrapper: each mode, the read-new copy with its TTL, and a model check
//! of a whole migration (old-only, dual-write + backfill, read-new, new-only) under load.

use byoc::migrate::Copier;
use byoc::{AdapterConfig, Cache, ConfigValue, Contract, KeyTtl, Provider, Registry, StackSpec};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A registry where `old` and `new` name the given providers.
fn registry(old: Arc<dyn Provider>, new: Arc<dyn Provider>) -> Registry {
    let mut registry = Registry::new().expect("runtime");
    for (name, layer) in [("old", old), ("new", new)] {
        registry
            .register(
                name,
                Arc::new(move |_| {
                    let layer = layer.clone();
                    Box::pin(async move { Ok(layer) })
                }),
            )
            .expect("register");
    }
    registry
}

async fn migration(registry: &Registry, mode: &str) -> Arc<dyn Provider> {
    let spec = StackSpec::new("migration")
        .config(AdapterConfig::new().with("mode", ConfigValue::Text(mode.into())))
        .inner(StackSpec::new("old"))
        .inner(StackSpec::new("new"));
    registry.build(&spec).await.expect("migration builds")
}

async fn layers() -> (Arc<dyn Provider>, Arc<dyn Provider>) {
    let registry = Registry::new().expect("runtime");
    let old = registry.create("memory", AdapterConfig::new()).await;
    let new = registry.create("native-memory", AdapterConfig::new()).await;
    (old.expect("memory"), new.expect("native-memory"))
}

fn ttl_ms(ttl: KeyTtl) -> Option<u128> {
    match ttl {
        KeyTtl::ExpiresIn(d) => Some(d.as_millis()),
        _ => None,
    }
}

#[tokio::test]
async fn each_mode_reads_and_writes_its_layers() {
    let (old, new) = layers().await;
    let registry = registry(old.clone(), new.clone());
    let long = Some(Duration::from_secs(60));

    let m = migration(&registry, "old-only").await;
    m.set("a", b"1", long).await.expect("set");
    assert_eq!(old.get("a").await.expect("get"), Some(b"1".to_vec()));
    assert_eq!(new.get("a").await.expect("get"), None);

    let m = migration(&registry, "dual-write").await;
    m.set("b", b"2", long).await.expect("set");
    assert_eq!(old.get("b").await.expect("get"), Some(b"2".to_vec()));
    assert_eq!(new.get("b").await.expect("get"), Some(b"2".to_vec()));
    new.set("a", b"only-in-new", None).await.expect("set");
    assert_eq!(
        m.get("a").await.expect("get"),
        Some(b"1".to_vec()),
        "reads old"
    );
    new.delete("a").await.expect("delete");

    let m = migration(&registry, "read-new").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        m.get("a").await.expect("get"),
        Some(b"1".to_vec()),
        "from old"
    );
    assert_eq!(
        new.get("a").await.expect("get"),
        Some(b"1".to_vec()),
        "copied"
    );
    let old_left = ttl_ms(old.ttl("a").await.expect("ttl")).expect("old expires");
    let new_left = ttl_ms(new.ttl("a").await.expect("ttl")).expect("copy expires");
    assert!(old_left <= 59_000, "a second passed: {old_left}");
    assert!(
        old_left.abs_diff(new_left) < 1000,
        "{old_left} vs {new_left}"
    );
    m.set("c", b"3", None).await.expect("set");
    assert_eq!(
        old.get("c").await.expect("get"),
        Some(b"3".to_vec()),
        "rollback"
    );
    let stats = m.stats().await.expect("stats");
    let extra: HashMap<_, _> = stats.extra.into_iter().collect();
    assert_eq!(extra["migration.copied"], 1);
    assert_eq!(extra["migration.mode"], 2);

    // A key new already has is never replaced by old's copy.
    old.set("d", b"old", None).await.expect("set");
    new.set("d", b"new", None).await.expect("set");
    assert_eq!(m.get("d").await.expect("get"), Some(b"new".to_vec()));

    let m = migration(&registry, "new-only").await;
    m.set("e", b"5", None).await.expect("set");
    assert_eq!(old.get("e").await.expect("get"), None);
    assert_eq!(m.get("e").await.expect("get"), Some(b"5".to_vec()));
    assert!(m.delete("c").await.expect("delete"));
    // Removals still reach old, so a read-new reader cannot copy "c" back.
    assert_eq!(old.get("c").await.expect("get"), None);
    old.set("f", b"only-old", None).await.expect("set");
    assert!(!m.delete("f").await.expect("delete"), "new had no f");
    assert_eq!(old.get("f").await.expect("get"), None);

    let bad = registry
        .build(
            &StackSpec::new("migration")
                .config(AdapterConfig::new().with("mode", ConfigValue::Text("sideways".into())))
                .inner(StackSpec::new("old"))
                .inner(StackSpec::new("new")),
        )
        .await;
    assert!(bad.is_err(), "an unknown mode is refused");
}

/// One recorded call.
#[derive(Clone, Debug)]
struct Rec {
    key: usize,
    start: Instant,
    end: Instant,
    kind: Kind,
}

#[derive(Clone, Debug)]
enum Kind {
    Get(Option<Vec<u8>>),
    Set(Vec<u8>, Option<Duration>),
    Delete,
}

/// Whether a read of `key` that ran over [`start`, `end`] may answer `seen`: the value of
/// a write no completed write superseded before the read began, or of a write overlapping
/// it; a value whose TTL surely ran out before the read began is stale; `None` is allowed
/// after a delete, a possibly expired value, or while no write has completed yet.
fn allowed(history: &[Rec], read: &Rec, seen: &Option<Vec<u8>>) -> Result<(), String> {
    // Expiry is kept to the millisecond (and by each layer's clock): either way.
    const SLACK: Duration = Duration::from_millis(5);
    let writes: Vec<&Rec> = history
        .iter()
        .filter(|r| r.key == read.key && !matches!(r.kind, Kind::Get(_)))
        .collect();
    let before: Vec<&Rec> = writes
        .iter()
        .copied()
        .filter(|w| w.end < read.start)
        .collect();
    let candidates: Vec<&Rec> = writes
        .iter()
        .copied()
        .filter(|w| {
            let overlapping = w.start <= read.end && w.end >= read.start;
            let latest = w.end < read.start && !before.iter().any(|o| o.start > w.end);
            overlapping || latest
        })
        .collect();
    let ok = match seen {
        // Absent: no write completed before the read began (a write overlapping it may
        // take effect after it), or a candidate deleted the key or may have expired.
        None => {
            before.is_empty()
                || candidates.iter().any(|w| match &w.kind {
                    Kind::Delete => true,
                    Kind::Set(_, Some(ttl)) => w.start + *ttl <= read.end + SLACK,
                    _ => false,
                })
        }
        Some(v) => candidates.iter().any(|w| match &w.kind {
            Kind::Set(value, ttl) => {
                value == v && ttl.is_none_or(|ttl| w.end + ttl + SLACK >= read.start)
            }
            _ => false,
        }),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "key {} read {:?}; candidates {:?}",
            read.key,
            seen.as_ref()
                .map(|v| String::from_utf8_lossy(v).into_owned()),
            candidates
        ))
    }
}

/// Swaps in a wrapper of `mode` and waits until the calls that started on the previous
/// one have ended (its last other reference is gone).
async fn switch(cache: &Cache<()>, registry: &Registry, mode: &str) {
    let previous = cache.swap_provider(migration(registry, mode).await);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Arc::strong_count(&previous) > 1 {
        assert!(
            Instant::now() < deadline,
            "calls on the previous wrapper never ended"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Whole migrations the model check runs: `BYOC_MIGRATION_RUNS` (default 1, a few
/// seconds; raise it for a long run).
fn migration_runs() -> usize {
    std::env::var("BYOC_MIGRATION_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// Eight tasks read, write and delete 24 keys (some with short TTLs) while the cache
/// moves old-only → dual-write (+ backfill with [`Copier`]) → read-new → new-only; every
/// read is then checked against the recorded history, and old's keys that were never
/// touched must all be served by new at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_migration_under_load_loses_no_write_and_serves_nothing_stale() {
    let runs = migration_runs();
    let (mut calls, mut reads) = (0, 0);
    for run in 0..runs {
        let (c, r) = one_migration(run).await;
        calls += c;
        reads += r;
    }
    eprintln!("migration model: {runs} run(s), {calls} calls, {reads} reads checked");
}

/// A violation's context: the read, the switches and the key's other calls near it, in
/// milliseconds since the run began.
fn explain(history: &[Rec], read: &Rec, marks: &[(&str, Instant)], t0: Instant) -> String {
    let ms = |t: Instant| t.saturating_duration_since(t0).as_secs_f64() * 1000.0;
    let near = Duration::from_millis(300);
    let mut text = format!(
        "read [{:.3}, {:.3}]; switches:",
        ms(read.start),
        ms(read.end)
    );
    for (name, at) in marks {
        text += &format!(" {name}@{:.3}", ms(*at));
    }
    text += "; key's calls:";
    for r in history
        .iter()
        .filter(|r| r.key == read.key && r.end + near >= read.start && r.start <= read.end + near)
    {
        text += &format!(
            "\n  [{:.3}, {:.3}] {:?}",
            ms(r.start),
            ms(r.end),
            match &r.kind {
                Kind::Get(v) => format!("get {:?}", v.as_deref().map(String::from_utf8_lossy)),
                Kind::Set(v, ttl) => format!("set {} {ttl:?}", String::from_utf8_lossy(v)),
                Kind::Delete => "delete".to_owned(),
            }
        );
    }
    text
}

/// One whole migration under load; answers the calls made and the reads checked.
async fn one_migration(run: usize) -> (u64, usize) {
    const KEYS: usize = 24;
    const UNTOUCHED: usize = 200;
    let (old, new) = layers().await;
    let registry = registry(old.clone(), new.clone());
    let cache = Contract::<()>::new("m", migration(&registry, "old-only").await).cache();
    for i in 0..UNTOUCHED {
        old.set(&format!("u{i}"), format!("u{i}").as_bytes(), None)
            .await
            .expect("seed");
    }
    let t0 = Instant::now();
    let mut marks = Vec::new();
    let history = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let (cache, history, stop) = (cache.clone(), history.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ (t + 1) ^ ((run as u64) << 8);
            let mut next = move || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state
            };
            let mut seq = 0u64;
            let mut calls = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let key = (next() % KEYS as u64) as usize;
                let name = format!("k{key}");
                let start = Instant::now();
                let kind = match next() % 20 {
                    0..=9 => Kind::Get(cache.get_raw(&name).await.expect("get")),
                    10..=17 => {
                        seq += 1;
                        let value = format!("t{t}-{seq}").into_bytes();
                        let ttl =
                            (next() % 2 == 0).then(|| Duration::from_millis(30 + next() % 200));
                        cache.set_raw(&name, &value, ttl).await.expect("set");
                        Kind::Set(value, ttl)
                    }
                    _ => {
                        cache.delete(&name).await.expect("delete");
                        Kind::Delete
                    }
                };
                let end = Instant::now();
                history.lock().expect("history").push(Rec {
                    key,
                    start,
                    end,
                    kind,
                });
                calls += 1;
                if calls.is_multiple_of(16) {
                    tokio::task::yield_now().await;
                }
            }
            calls
        }));
    }
    let phase = Duration::from_millis(400);
    tokio::time::sleep(phase).await;
    marks.push(("dual-write", Instant::now()));
    switch(&cache, &registry, "dual-write").await;
    marks.push(("dual-write-alone", Instant::now()));
    tokio::time::sleep(phase / 2).await;
    marks.push(("backfill", Instant::now()));
    let copier = Copier::new(old.clone(), new.clone());
    let mut cursor = None;
    loop {
        let (_, next) = copier
            .copy_page(cursor.as_deref(), 50)
            .await
            .expect("backfill");
        cursor = next;
        if cursor.is_none() {
            break;
        }
    }
    marks.push(("backfilled", Instant::now()));
    tokio::time::sleep(phase / 2).await;
    marks.push(("read-new", Instant::now()));
    switch(&cache, &registry, "read-new").await;
    marks.push(("read-new-alone", Instant::now()));
    tokio::time::sleep(phase).await;
    marks.push(("new-only", Instant::now()));
    switch(&cache, &registry, "new-only").await;
    marks.push(("new-only-alone", Instant::now()));
    tokio::time::sleep(phase).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut calls = 0;
    for task in tasks {
        calls += task.await.expect("task");
    }
    let history = history.lock().expect("history").clone();
    let reads: Vec<&Rec> = history
        .iter()
        .filter(|r| matches!(r.kind, Kind::Get(_)))
        .collect();
    assert!(reads.len() > 500, "too little load: {} reads", reads.len());
    let violations: Vec<String> = reads
        .iter()
        .filter_map(|r| match &r.kind {
            Kind::Get(seen) => allowed(&history, r, seen)
                .err()
                .map(|e| format!("{e}\n{}", explain(&history, r, &marks, t0))),
            _ => None,
        })
        .collect();
    assert!(
        violations.is_empty(),
        "run {run}: {} of {} reads broke the model:\n{}",
        violations.len(),
        reads.len(),
        violations.join("\n")
    );
    for i in 0..UNTOUCHED {
        let key = format!("u{i}");
        assert_eq!(
            cache.get_raw(&key).await.expect("get"),
            Some(key.clone().into_bytes()),
            "backfilled keys are served in new-only"
        );
    }
    (calls, reads.len())
}

/// Both wrappers as a configuration file names them (as docs/wrappers.md shows them).
#[tokio::test]
async fn both_wrappers_build_from_a_configuration_file() {
    let text = r#"
caches:
  - name: moving
    provider: migration
    config: { mode: read-new }
    inner:
      - provider: memory
      - provider: native-memory
  - name: regions
    provider: multi-region
    config:
      regions: [eu, us]
      mode: primary-backup
      replication: async
      backoff: 250ms
    inner:
      - provider: memory
      - provider: native-memory
"#;
    let file = byoc::ConfigFile::parse(text, "test.yaml").expect("parses");
    let caches = byoc::Caches::open(&file, Registry::new().expect("runtime"))
        .await
        .expect("builds");
    for name in ["moving", "regions"] {
        let cache = caches.cache::<String>(name).expect("cache");
        cache.set("k", &"v".to_owned(), None).await.expect("set");
        assert_eq!(cache.get("k").await.expect("get"), Some("v".to_owned()));
    }
    let stack = caches
        .cache::<()>("regions")
        .expect("cache")
        .current_provider()
        .info()
        .stack();
    assert_eq!(stack, "multi-region(memory, native-memory)");
}

/// The conformance suite through the wrapper in `read-new` (the copy-through path).
fn over_memory(mode: &'static str) -> StackSpec {
    StackSpec::new("migration")
        .config(AdapterConfig::new().with("mode", ConfigValue::Text(mode.into())))
        .inner(StackSpec::new("memory"))
        .inner(StackSpec::new("native-memory"))
}

mod conformance_read_new {
    byoc_tests::conformance_tests!(|| async {
        let registry = byoc::Registry::new().expect("runtime");
        registry
            .build(&super::over_memory("read-new"))
            .await
            .expect("stack")
    });
}
