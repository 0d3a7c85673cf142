//! The redb adapter: conformance, its directory grant, the lock file between two
//! processes, and crash safety under SIGKILL.

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

async fn create(config: AdapterConfig) -> byoc::Result<Arc<dyn Provider>> {
    Registry::new()?.create("redb", config).await
}

/// A provider on a fresh directory, removed when the test drops it.
async fn on_fresh_dir(durability: &str) -> Arc<dyn Provider> {
    let dir = temp_dir();
    let provider =
        create(config(dir.path()).with("durability", ConfigValue::Text(durability.into())))
            .await
            .expect("redb adapter");
    Arc::new(byoc_tests::Holding::new(provider, dir))
}

mod conformance {
    byoc_tests::conformance_tests!(|| super::on_fresh_dir("immediate"));
}

mod conformance_eventual {
    byoc_tests::conformance_tests!(|| super::on_fresh_dir("eventual"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_grant_reads_but_denies_writes() {
    const STALE: u64 = 300;
    let dir = temp_dir();
    let stale = ConfigValue::DurationMs(STALE);
    let rw = create(config(dir.path()).with("lock-stale", stale.clone()))
        .await
        .expect("open rw");
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
    .expect("open ro");
    // The writer's heartbeat is fresh: it may reuse the pages a reader would read.
    let busy = ro.get("a").await;
    assert!(matches!(busy, Err(Error::Unavailable(_))), "{busy:?}");
    // Once the writer is idle past the stale time, the reader reads the file (a copy,
    // repaired in memory: the writer never closed it).
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
    // The writer comes back, writes; the reader sees the new file after it goes idle.
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
        ["byoc.redb", "byoc.redb.lock"],
        "only the writer's files"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_grant_on_an_empty_directory_misses() {
    let dir = temp_dir();
    let ro = create(config(dir.path()).with("read-only", ConfigValue::Boolean(true)))
        .await
        .expect("open ro");
    assert_eq!(ro.get("a").await.expect("get"), None);
    let set = ro.set("a", b"1", None).await;
    assert!(matches!(set, Err(Error::Denied(_))), "{set:?}");
    assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_errors_are_clear() {
    let registry = Registry::new().expect("registry");
    let missing = registry.create("redb", AdapterConfig::new()).await.err();
    assert!(
        matches!(missing, Some(Error::InvalidConfig(_))),
        "{missing:?}"
    );
    let dir = temp_dir();
    for (field, value) in [
        ("file", "../escape.redb"),
        ("file", ".hidden"),
        ("durability", "sometimes"),
    ] {
        let bad = registry
            .create(
                "redb",
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
    let p = create(config(dir.path())).await.expect("open");
    for i in 0..40 {
        p.set(&format!("t{i}"), b"v", Some(Duration::from_millis(1)))
            .await
            .expect("set");
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    // Each write purges a bounded batch from the expiry index.
    p.set("x", b"1", None).await.expect("set");
    p.set("y", b"1", None).await.expect("set");
    let stats = p.stats().await.expect("stats");
    assert_eq!(stats.keys, 2, "{stats:?}");
    assert!(stats.expirations >= 40, "{stats:?}");
}

/// Spawns the writer binary on `dir`.
fn writer(dir: &Path, keys: usize, size: usize, stale_ms: u64, mode: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_store_writer"))
        .args([
            "redb".into(),
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

/// Two processes on one database file: the second is refused while the first runs and
/// heartbeats, and takes over once the first is killed and its lock goes stale.
#[test]
fn a_second_process_is_refused_until_the_lock_is_stale() {
    let dir = temp_dir();
    let stale = 1_000;
    let mut first = writer(dir.path(), 1, 64, stale, "wait");
    let mut lines = BufReader::new(first.stdout.take().expect("stdout")).lines();
    assert_eq!(
        lines.next().and_then(Result::ok).as_deref(),
        Some("ready"),
        "the first writer did not start"
    );
    // Keep draining the first writer's acks so it never blocks on a full pipe.
    let drain = std::thread::spawn(move || lines.count());
    // Longer than the stale time: the live writer's heartbeat keeps its lock fresh.
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
    // The killed writer's lock is left behind; a waiting writer takes it over once stale.
    let started = Instant::now();
    let mut third = writer(dir.path(), 1, 64, stale, "wait");
    let mut lines = BufReader::new(third.stdout.take().expect("stdout")).lines();
    assert_eq!(lines.next().and_then(Result::ok).as_deref(), Some("ready"));
    third.kill().expect("kill");
    let _ = third.wait();
    eprintln!(
        "a killed writer's lock was taken over after {:?}",
        started.elapsed()
    );
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

/// Opens the database file with native redb (repairing it after a crash, as the adapter
/// would) and checks every key holds a whole value of at least its acknowledged
/// generation.
fn check_natively(file: &Path, acked: &HashMap<usize, u64>, keys: usize, size: usize) {
    let db = redb::Database::create(file).expect("the database opens after the kill");
    let txn = redb::ReadableDatabase::begin_read(&db).expect("read");
    let table = txn
        .open_table(redb::TableDefinition::<&str, &[u8]>::new("entries"))
        .expect("entries table");
    for k in 0..keys {
        let key = format!("key-{k}");
        let stored = redb::ReadableTable::get(&table, key.as_str())
            .expect("get")
            .unwrap_or_else(|| panic!("{key} is missing"));
        // The SDK's entry encoding: format byte, expiry (8 bytes), then the value.
        let value = &stored.value()[9..];
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

/// Kills a durable writer process mid-write, again and again; after every kill the
/// database opens (natively), every acknowledged write is there (the stored value is of
/// that generation or a later one) and no value is torn; at the end the adapter reads it
/// too. `BYOC_CRASH_KILLS` sets the number of kills (default 20).
#[test]
fn killed_writers_lose_no_acknowledged_write() {
    const KEYS: usize = 4;
    const SIZE: usize = 64 << 10;
    const STALE_MS: u64 = 200;
    let kills: usize = std::env::var("BYOC_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let dir = temp_dir();
    let file = dir.path().join("byoc.redb");
    let started = Instant::now();
    for round in 0..kills {
        let mut child = writer(dir.path(), KEYS, SIZE, STALE_MS, "wait");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let ready = lines.by_ref().any(|l| l.is_ok_and(|l| l == "ready"));
        assert!(ready, "round {round}: the writer did not start");
        let reader = std::thread::spawn(move || last_acks(lines));
        // Let it run into the middle of later writes, at varying points.
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
