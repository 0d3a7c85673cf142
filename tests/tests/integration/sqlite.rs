//! The SQLite adapter: conformance, its directory grant, its size bound, the lock file
//! between two processes, crash safety under SIGKILL, and the file read and written by the
//! `sqlite3` command-line tool.
//!
//! A host built without a C compiler for the adapter has no `sqlite` provider: its tests
//! print `SKIPPED` (and fail under `BYOC_REQUIRE_SERVICES=1`).

use crate::temp_dir;
use byoc::{AdapterConfig, ConfigValue, Error, Provider, Registry};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The adapter's configuration for `dir`.
fn config(dir: &Path) -> AdapterConfig {
    AdapterConfig::new().with("dir", ConfigValue::Text(dir.display().to_string()))
}

/// The provider, or `None` (after a skip line) when this host was built without it.
async fn create(config: AdapterConfig) -> Option<Arc<dyn Provider>> {
    match Registry::new()
        .expect("registry")
        .create("sqlite", config)
        .await
    {
        Ok(p) => Some(p),
        Err(Error::Unsupported(why)) => {
            assert!(
                !byoc_tests::services_required(),
                "the sqlite provider is missing and BYOC_REQUIRE_SERVICES=1: {why}"
            );
            eprintln!("SKIPPED sqlite: {why}");
            None
        }
        Err(e) => panic!("sqlite adapter: {e}"),
    }
}

/// Whether this host has the provider (skip line otherwise).
fn built() -> bool {
    if byoc::builtin::SQLITE_ADAPTER.is_some() {
        return true;
    }
    assert!(
        !byoc_tests::services_required(),
        "the sqlite provider is missing and BYOC_REQUIRE_SERVICES=1: {}",
        byoc::builtin::SQLITE_MISSING
    );
    eprintln!("SKIPPED sqlite: {}", byoc::builtin::SQLITE_MISSING);
    false
}

/// A provider on a fresh directory, removed when the test drops it.
async fn on_fresh_dir(synchronous: &str) -> Option<Arc<dyn Provider>> {
    let dir = temp_dir();
    let provider =
        create(config(dir.path()).with("synchronous", ConfigValue::Text(synchronous.into())))
            .await?;
    Some(Arc::new(byoc_tests::Holding::new(provider, dir)))
}

// `synchronous` changes no answer, only when commits reach the disk (the crash test below
// covers `full`); with `off`, a loaded machine's slow syncs cannot outlast the suite's
// short TTLs.
mod conformance {
    byoc_tests::conformance_tests!(|| super::on_fresh_dir("off"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_grant_reads_but_denies_writes() {
    const STALE: u64 = 300;
    let dir = temp_dir();
    let stale = ConfigValue::DurationMs(STALE);
    let Some(rw) = create(config(dir.path()).with("lock-stale", stale.clone())).await else {
        return;
    };
    rw.set("a", b"1", None).await.expect("set");
    rw.set("short", b"x", Some(Duration::from_millis(1)))
        .await
        .expect("set short");
    let ro = create(
        config(dir.path())
            .with("read-only", ConfigValue::Boolean(true))
            .with("lock-stale", stale),
    )
    .await
    .expect("built");
    // The writer's heartbeat is fresh: it changes pages in place.
    let busy = ro.get("a").await;
    assert!(matches!(busy, Err(Error::Unavailable(_))), "{busy:?}");
    tokio::time::sleep(Duration::from_millis(STALE + 100)).await;
    assert_eq!(ro.get("a").await.expect("get"), Some(b"1".to_vec()));
    assert_eq!(
        ro.get("short").await.expect("expired"),
        None,
        "expired reads miss"
    );
    assert_eq!(ro.keys("*").await.expect("keys"), ["a"]);
    for (what, result) in [
        ("set", ro.set("b", b"2", None).await.map(drop)),
        ("overwrite", ro.set("a", b"2", None).await.map(drop)),
        ("delete", ro.delete("a").await.map(drop)),
        ("expired delete", ro.delete("short").await.map(drop)),
        ("clear", ro.clear().await.map(drop)),
    ] {
        assert!(
            matches!(result, Err(Error::Denied(_))),
            "{what}: {result:?}"
        );
    }
    rw.set("a", b"2", None).await.expect("set again");
    tokio::time::sleep(Duration::from_millis(STALE + 100)).await;
    assert_eq!(ro.get("a").await.expect("get"), Some(b"2".to_vec()));
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["byoc.sqlite", "byoc.sqlite.lock"],
        "only the writer's files"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_grant_on_an_empty_directory_misses() {
    let dir = temp_dir();
    let Some(ro) = create(config(dir.path()).with("read-only", ConfigValue::Boolean(true))).await
    else {
        return;
    };
    assert_eq!(ro.get("a").await.expect("get"), None);
    let set = ro.set("a", b"1", None).await;
    assert!(matches!(set, Err(Error::Denied(_))), "{set:?}");
    assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_errors_are_clear() {
    if !built() {
        return;
    }
    let registry = Registry::new().expect("registry");
    let missing = registry.create("sqlite", AdapterConfig::new()).await.err();
    assert!(
        matches!(missing, Some(Error::InvalidConfig(_))),
        "{missing:?}"
    );
    let dir = temp_dir();
    for (field, value) in [
        ("file", "../escape.sqlite"),
        ("journal", "wal"),
        ("journal", "sometimes"),
        ("synchronous", "always"),
    ] {
        let bad = registry
            .create(
                "sqlite",
                config(dir.path()).with(field, ConfigValue::Text(value.into())),
            )
            .await
            .err();
        assert!(
            matches!(bad, Some(Error::InvalidConfig(ref m)) if m.contains(value)),
            "{field}={value}: {bad:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_entries_are_purged_by_writes() {
    let dir = temp_dir();
    let Some(p) =
        create(config(dir.path()).with("synchronous", ConfigValue::Text("off".into()))).await
    else {
        return;
    };
    for i in 0..40 {
        p.set(&format!("t{i}"), b"v", Some(Duration::from_millis(1)))
            .await
            .expect("set");
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    p.set("x", b"1", None).await.expect("set");
    p.set("y", b"1", None).await.expect("set");
    let stats = p.stats().await.expect("stats");
    assert_eq!(stats.keys, 2, "{stats:?}");
    assert!(stats.expirations >= 40, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_escape_glob_metacharacters() {
    let Some(p) = on_fresh_dir("off").await else {
        return;
    };
    for key in ["a*b", "a?b", "a[b", "axb", "a]b", "a\\b"] {
        p.set(key, b"v", None).await.expect("set");
    }
    for (pattern, expected) in [
        (r"a\*b", &["a*b"][..]),
        (r"a\?b", &["a?b"]),
        (r"a\[b", &["a[b"]),
        ("a]b", &["a]b"]),
        (r"a\\b", &["a\\b"]),
        ("a[*x]b", &["a*b", "axb"]),
        ("a[^*?x]b", &["a[b", "a\\b", "a]b"]),
        ("a?b", &["a*b", "a?b", "a[b", "a\\b", "a]b", "axb"]),
    ] {
        let mut keys = p.keys(pattern).await.expect("keys");
        keys.sort();
        let mut expected = expected.to_vec();
        expected.sort();
        assert_eq!(keys, expected, "{pattern}");
    }
}

/// `max-entries` and `max-bytes` evict the entries accessed longest ago.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounds_evict_the_oldest_accessed() {
    for provider in ["sqlite", "redb"] {
        if provider == "sqlite" && !built() {
            continue;
        }
        let dir = temp_dir();
        let p = Registry::new()
            .expect("registry")
            .create(
                provider,
                config(dir.path()).with("max-entries", ConfigValue::Integer(3)),
            )
            .await
            .expect("provider");
        for key in ["a", "b", "c"] {
            p.set(key, b"v", None).await.expect("set");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        // `a` is read: `b` is now the one accessed longest ago.
        assert!(p.get("a").await.expect("get").is_some());
        tokio::time::sleep(Duration::from_millis(2)).await;
        p.set("d", b"v", None).await.expect("set");
        let mut keys = p.keys("*").await.expect("keys");
        keys.sort();
        assert_eq!(keys, ["a", "c", "d"], "{provider}");
        let stats = p.stats().await.expect("stats");
        assert_eq!(stats.evictions, 1, "{provider}: {stats:?}");

        let dir = temp_dir();
        let p = Registry::new()
            .expect("registry")
            .create(
                provider,
                config(dir.path()).with("max-bytes", ConfigValue::Size(100)),
            )
            .await
            .expect("provider");
        let big = p.set("big", &[0; 200], None).await;
        assert!(matches!(big, Err(Error::ValueTooLarge(_))), "{big:?}");
        for i in 0..10 {
            p.set(&format!("k{i}"), &[1; 30], None).await.expect("set");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let stats = p.stats().await.expect("stats");
        assert!(stats.bytes <= 100, "{provider}: {stats:?}");
        assert_eq!(stats.keys, 3, "{provider}: {stats:?}");
        let mut keys = p.keys("*").await.expect("keys");
        keys.sort();
        assert_eq!(keys, ["k7", "k8", "k9"], "{provider}: the newest stay");
    }
}

/// A file written through BYOC reads in the `sqlite3` tool, and rows it writes read
/// through BYOC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite3_tool_reads_and_writes_the_file() {
    if !built()
        || !byoc_tests::service::available(
            "sqlite interop",
            &["sqlite3"],
            "apt-get install sqlite3",
        )
    {
        return;
    }
    let dir = temp_dir();
    let file = dir.path().join("byoc.sqlite");
    const STALE: u64 = 200;
    let stale = ConfigValue::DurationMs(STALE);
    let p = create(config(dir.path()).with("lock-stale", stale.clone()))
        .await
        .expect("built");
    p.set("greeting", b"hello", None).await.expect("set");
    p.set("later", b"x", Some(Duration::from_secs(3600)))
        .await
        .expect("set");
    // The instance keeps its lock file: a component has no exit hook, so it goes stale.
    drop(p);
    let sqlite3 = |sql: &str| {
        let out = Command::new("sqlite3")
            .arg(&file)
            .arg(sql)
            .output()
            .expect("run sqlite3");
        assert!(
            out.status.success(),
            "sqlite3 {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(sqlite3("PRAGMA integrity_check"), "ok\n");
    assert_eq!(
        sqlite3("SELECT key, CAST(value AS TEXT), expires_at IS NULL FROM entries ORDER BY key"),
        "greeting|hello|1\nlater|x|0\n"
    );
    sqlite3(
        "INSERT INTO entries (key, value, expires_at, accessed_at) \
         VALUES ('from-cli', CAST('made by sqlite3' AS BLOB), NULL, 0)",
    );
    tokio::time::sleep(Duration::from_millis(STALE + 100)).await;
    let p = create(config(dir.path()).with("lock-stale", stale))
        .await
        .expect("built");
    assert_eq!(
        p.get("from-cli").await.expect("get"),
        Some(b"made by sqlite3".to_vec())
    );
    assert_eq!(
        p.get("greeting").await.expect("get"),
        Some(b"hello".to_vec())
    );
}

/// Spawns the writer binary on `dir`.
fn writer(dir: &Path, keys: usize, size: usize, stale_ms: u64, mode: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_store_writer"))
        .args([
            "sqlite".into(),
            dir.display().to_string(),
            keys.to_string(),
            size.to_string(),
            stale_ms.to_string(),
            mode.into(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the writer")
}

/// Two processes on one database file: the second is refused while the first runs.
#[test]
fn a_second_process_is_refused_while_the_first_writes() {
    if !built() {
        return;
    }
    let dir = temp_dir();
    let stale = 1_000;
    let mut first = writer(dir.path(), 1, 64, stale, "wait");
    let mut lines = BufReader::new(first.stdout.take().expect("stdout")).lines();
    assert_eq!(
        lines.next().and_then(Result::ok).as_deref(),
        Some("ready"),
        "the first writer did not start"
    );
    let drain = std::thread::spawn(move || lines.count());
    std::thread::sleep(Duration::from_millis(stale * 3 / 2));
    let second = writer(dir.path(), 1, 64, stale, "no-wait")
        .wait_with_output()
        .expect("second writer");
    let out = String::from_utf8_lossy(&second.stdout);
    assert_eq!(second.status.code(), Some(3), "second writer: {out}");
    assert!(out.contains("in use by another process"), "{out}");
    first.kill().expect("kill");
    let _ = first.wait();
    let _ = drain.join();
}

/// The ack lines of a writer's output: the last acknowledged generation of each key.
fn last_acks(lines: impl Iterator<Item = std::io::Result<String>>) -> HashMap<usize, u64> {
    let mut last = HashMap::new();
    for line in lines {
        let Ok(line) = line else { break };
        let mut parts = line.split_whitespace();
        if parts.next() != Some("ack") {
            continue;
        }
        if let (Some(Ok(k)), Some(Ok(g))) = (
            parts.next().map(str::parse::<usize>),
            parts.next().map(str::parse::<u64>),
        ) {
            last.insert(k, g);
        }
    }
    last
}

/// Opens the file with native SQLite (rolling back a hot journal, as the adapter would)
/// and checks every key holds a whole value of at least its acknowledged generation.
fn check_natively(file: &Path, acked: &HashMap<usize, u64>, keys: usize, size: usize) {
    let conn = rusqlite::Connection::open(file).expect("the database opens after the kill");
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity check");
    assert_eq!(check, "ok");
    for k in 0..keys {
        let key = format!("key-{k}");
        let value: Vec<u8> = conn
            .query_row("SELECT value FROM entries WHERE key = ?1", [&key], |r| {
                r.get(0)
            })
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!(value.len(), size, "{key}: torn length");
        let generation = u64::from_le_bytes(value[..8].try_into().expect("8 bytes"));
        let fill = (generation % 250 + 1) as u8;
        assert!(
            value[8..].iter().all(|&b| b == fill),
            "{key}: bytes of several generations"
        );
        if let Some(&acked) = acked.get(&k) {
            assert!(
                generation >= acked,
                "{key}: acknowledged generation {acked} lost (stored {generation})"
            );
        }
    }
}

/// Kills a writer process (`synchronous: full`) mid-write, again and again; after every
/// kill the database opens natively, passes its integrity check, every acknowledged write
/// is there and no value is torn; at the end the adapter reads it too.
/// `BYOC_CRASH_KILLS` sets the number of kills (default 20).
#[test]
fn killed_writers_lose_no_acknowledged_write() {
    const KEYS: usize = 4;
    const SIZE: usize = 64 << 10;
    const STALE_MS: u64 = 200;
    if !built() {
        return;
    }
    let kills: usize = std::env::var("BYOC_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let dir = temp_dir();
    let file = dir.path().join("byoc.sqlite");
    let started = Instant::now();
    for round in 0..kills {
        let mut child = writer(dir.path(), KEYS, SIZE, STALE_MS, "wait");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let ready = lines.by_ref().any(|l| l.is_ok_and(|l| l == "ready"));
        assert!(ready, "round {round}: the writer did not start");
        let reader = std::thread::spawn(move || last_acks(lines));
        std::thread::sleep(Duration::from_millis(5 + (round as u64 * 37) % 120));
        child.kill().expect("kill");
        let _ = child.wait();
        let acked = reader.join().expect("reader");
        check_natively(&file, &acked, KEYS, SIZE);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let p = create(config(dir.path()).with("lock-stale", ConfigValue::DurationMs(STALE_MS)))
            .await
            .expect("open after the kills");
        let deadline = Instant::now() + Duration::from_secs(10);
        for k in 0..KEYS {
            let key = format!("key-{k}");
            let value = loop {
                match p.get(&key).await {
                    Err(Error::Unavailable(_)) if Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    other => break other.expect("get"),
                }
            };
            assert_eq!(value.map(|v| v.len()), Some(SIZE), "{key}");
        }
        assert_eq!(p.stats().await.expect("stats").keys, KEYS as u64);
    });
    eprintln!(
        "{kills} SIGKILLs in {:?}: every acknowledged write kept, no torn value",
        started.elapsed()
    );
}
