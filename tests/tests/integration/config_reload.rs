//! Reload of the configuration file: caches added, removed and changed under load, with
//! invalid versions refused whole while the running set keeps serving.

use byoc::{Caches, Registry};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A secret that must appear in no error, log or stats.
const SECRET: &str = "hunter2-not-a-real-key";

/// Version `v` of the file: cache `a` alternates between stacks and (every 7th version)
/// its key prefix; cache `b` stays; cache `extra` comes and goes. Every 10th version is
/// invalid in one of several ways.
fn version(v: u32) -> (String, bool) {
    let a_stack = match v % 3 {
        0 => "provider: native-memory\n    config: { max-bytes: 8MiB }".to_owned(),
        1 => format!(
            "provider: native-memory\n    config: {{ max-bytes: {}MiB }}",
            9 + v % 5
        ),
        _ => "provider: memory".to_owned(),
    };
    let prefix = if v.is_multiple_of(7) { "p7:" } else { "" };
    let mut text = format!(
        "caches:\n  - name: a\n    {a_stack}\n    key-prefix: \"{prefix}\"\n    warm-up: 50\n  \
         - name: b\n    provider: native-memory\n"
    );
    if v.is_multiple_of(2) {
        text.push_str("  - name: extra\n    provider: native-memory\n");
    }
    if v % 10 != 9 {
        return (text, true);
    }
    let broken = match (v / 10) % 4 {
        // Not YAML.
        0 => "caches: [\n".to_owned(),
        // Fails its checks when read.
        1 => format!("{text}  - name: b\n    provider: native-memory\n"),
        // Reads, but a cache fails to build: the secret is in the refused field.
        2 => format!(
            "{text}  - name: vault\n    provider: encryption\n    config: {{ keys: [\"k1:{SECRET}\"] }}\n    inner: [{{ provider: native-memory }}]\n"
        ),
        // An unknown provider.
        _ => format!("{text}  - name: ghost\n    provider: no-such-provider\n"),
    };
    (broken, false)
}

/// 8 tasks read and write caches `a` and `b` (looked up per call, and through handles
/// taken once) while the file changes 100 times and is reloaded after each change:
/// no call fails, every invalid version is refused and leaves the set as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_reloads_under_load_fail_no_call() {
    let dir = crate::temp_dir();
    let path = dir.path().join("byoc.yaml");
    std::fs::write(&path, version(0).0).expect("write");
    let caches = Caches::load(&path, Registry::new().expect("registry"))
        .await
        .expect("load");
    assert_eq!(caches.names(), ["a", "b", "extra"]);

    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for t in 0..8u64 {
        let (caches, stop, calls, failures) = (
            caches.clone(),
            stop.clone(),
            calls.clone(),
            failures.clone(),
        );
        workers.push(tokio::spawn(async move {
            let held = caches.provider("b").expect("b");
            let mut i = t;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("k{}", i % 200);
                let provider = match i % 3 {
                    0 => caches.provider("a"),
                    1 => caches.provider("b"),
                    _ => Ok(held.clone()),
                };
                let outcome = match provider {
                    Ok(p) if i.is_multiple_of(4) => p.set(&key, b"value", None).await.map(|_| ()),
                    Ok(p) => p.get(&key).await.map(|_| ()),
                    Err(e) => Err(e),
                };
                calls.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = outcome {
                    failures.fetch_add(1, Ordering::Relaxed);
                    eprintln!("call failed: {e}");
                }
                i += 8;
                // Calls to native providers may never wait: let the runtime's timers run.
                tokio::task::yield_now().await;
            }
        }));
    }

    let started = Instant::now();
    let (mut applied, mut refused) = (0, 0);
    for v in 1..=100 {
        let (text, valid) = version(v);
        let before = caches.names();
        std::fs::write(&path, text).expect("write");
        let outcome = caches.reload_config().await;
        if valid {
            let changes = outcome.unwrap_or_else(|e| panic!("version {v} refused: {e}"));
            assert!(!changes.is_empty(), "version {v} changed nothing");
            applied += 1;
            let expected: &[&str] = if v.is_multiple_of(2) {
                &["a", "b", "extra"]
            } else {
                &["a", "b"]
            };
            assert_eq!(caches.names(), expected, "version {v}");
            let prefix = if v.is_multiple_of(7) { "p7:" } else { "" };
            assert_eq!(caches.config("a").expect("a").key_prefix, prefix);
        } else {
            let e = outcome.expect_err("invalid version applied");
            let text = e.to_string();
            assert!(!text.contains(SECRET), "secret in error: {text}");
            refused += 1;
            assert_eq!(caches.names(), before, "version {v} changed the set");
            let stats = caches.config_stats();
            assert_eq!(stats.last_error.as_deref(), Some(text.as_str()));
        }
        // Reading the same file again changes nothing, refused or not.
        assert!(caches.reload_config().await.expect("same").is_empty());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.expect("worker");
    }

    let stats = caches.config_stats();
    assert_eq!((stats.reloads, stats.rejected), (applied, refused));
    assert_eq!(refused, 10);
    assert!(stats.last_error.is_none(), "the last version was valid");
    assert_eq!(failures.load(Ordering::Relaxed), 0, "failed calls");
    let calls = calls.load(Ordering::Relaxed);
    assert!(calls > 100, "too little load: {calls} calls");
    eprintln!("100 reloads in {elapsed:?} under {calls} calls, 0 failed");
}

/// A stack change keeps the running cache: a handle taken before sees the new stack, and
/// the hot keys were copied into it. A change of another setting replaces the cache.
#[tokio::test]
async fn a_stack_change_swaps_under_held_handles() {
    let dir = crate::temp_dir();
    let path = dir.path().join("byoc.yaml");
    let write = |stack: &str, prefix: &str| {
        std::fs::write(
            &path,
            format!(
                "caches:\n  - name: a\n    provider: {stack}\n    key-prefix: \"{prefix}\"\n    warm-up: 100\n"
            ),
        )
        .expect("write");
    };
    write("native-memory", "");
    let caches = Caches::load(&path, Registry::new().expect("registry"))
        .await
        .expect("load");
    let held = caches.provider("a").expect("a");
    held.set("hot", b"v", None).await.expect("set");
    for _ in 0..64 {
        held.get("hot").await.expect("get");
    }

    write("memory", "");
    let changes = caches.reload_config().await.expect("reload");
    assert_eq!(changes.restacked, ["a"]);
    assert_eq!(
        held.info().name,
        "memory",
        "the held handle follows the new stack"
    );
    assert_eq!(held.get("hot").await.expect("get"), Some(b"v".to_vec()));
    assert_eq!(caches.swap_stats("a").expect("stats").swaps, 1);

    write("memory", "x:");
    let changes = caches.reload_config().await.expect("reload");
    assert_eq!(changes.replaced, ["a"]);
    assert_eq!(caches.config("a").expect("a").key_prefix, "x:");
}

/// `watch` picks up a new version of the file by itself, and refuses a broken one.
#[tokio::test]
async fn watch_reloads_the_file() {
    let dir = crate::temp_dir();
    let path = dir.path().join("byoc.yaml");
    std::fs::write(&path, "caches:\n  - name: a\n    provider: native-memory\n").expect("w");
    let caches = Caches::load(&path, Registry::new().expect("registry"))
        .await
        .expect("load");
    let _watch = caches.watch(Duration::from_millis(20));
    std::fs::write(
        &path,
        "caches:\n  - name: a\n    provider: native-memory\n  - name: b\n    provider: memory\n",
    )
    .expect("w");
    let deadline = Instant::now() + Duration::from_secs(5);
    while caches.names().len() < 2 {
        assert!(Instant::now() < deadline, "not reloaded");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    std::fs::write(&path, "caches: {").expect("w");
    while caches.config_stats().rejected == 0 {
        assert!(Instant::now() < deadline, "not refused");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(caches.names(), ["a", "b"]);
    assert!(caches.config_stats().last_error.is_some());
}
