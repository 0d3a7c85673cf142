//! The tests the stores in a granted directory (`redb`, `sqlite`) share, each run on a
//! [`Store`] by [`store_tests!`]: configuration errors, the read-only grant, expiry purged
//! by writes, the size bounds, two processes on one file, and writers killed mid-write.

use crate::temp_dir;
use byoc::{AdapterConfig, ConfigValue, Error, Provider, Registry};
use std::collections::HashMap;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A provider being opened: `None` when the host was built without it (skip line said).
pub(crate) type Opening = Pin<Box<dyn Future<Output = Option<Arc<dyn Provider>>> + Send>>;

/// One directory store, as its tests see it.
pub(crate) struct Store {
    /// Provider name (and the `store_writer` binary's store argument).
    pub(crate) name: &'static str,
    /// The database file's default name in the directory.
    pub(crate) file: &'static str,
    /// Opens the provider with a configuration.
    pub(crate) open: fn(AdapterConfig) -> Opening,
    /// Configuration for tests that do not test durability (faster commits).
    pub(crate) fast: &'static [(&'static str, &'static str)],
    /// Reads each key's stored value with the store's native library, after a kill
    /// (repairing the file as the adapter would); panics on a missing key.
    pub(crate) read_natively: fn(&Path, &[String]) -> Vec<Vec<u8>>,
    /// Whether this host has the provider (a skip line said otherwise).
    pub(crate) built: fn() -> bool,
    /// Text values of the store's own fields that `open` refuses, besides bad `file` names.
    pub(crate) bad_fields: &'static [(&'static str, &'static str)],
}

/// The shared tests below, as test functions of the calling module, on `$store`.
/// `take_over`: whether the two-process test also has a third process take over a killed
/// writer's lock once it is stale.
macro_rules! store_tests {
    ($store:expr, take_over: $take_over:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn config_errors_are_clear() {
            $crate::stores::config_errors_are_clear(&$store).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn read_only_grant_reads_but_denies_writes() {
            $crate::stores::read_only_grant_reads_but_denies_writes(&$store).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn read_only_grant_on_an_empty_directory_misses() {
            $crate::stores::read_only_grant_on_an_empty_directory_misses(&$store).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn expired_entries_are_purged_by_writes() {
            $crate::stores::expired_entries_are_purged_by_writes(&$store).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn bounds_evict_the_oldest_accessed() {
            $crate::stores::bounds_evict_the_oldest_accessed(&$store).await;
        }

        #[test]
        fn a_second_process_is_refused() {
            $crate::stores::a_second_process_is_refused(&$store, $take_over);
        }

        #[test]
        fn killed_writers_lose_no_acknowledged_write() {
            $crate::stores::killed_writers_lose_no_acknowledged_write(&$store);
        }
    };
}
pub(crate) use store_tests;

/// The adapter's configuration for `dir`.
pub(crate) fn config(dir: &Path) -> AdapterConfig {
    AdapterConfig::new().with("dir", ConfigValue::Text(dir.display().to_string()))
}

/// A configuration without `dir`, a `file` that is a path or hidden, and each of the
/// store's [`bad_fields`](Store::bad_fields) are refused with a message that names them.
pub(crate) async fn config_errors_are_clear(store: &Store) {
    if !(store.built)() {
        return;
    }
    let registry = Registry::new().expect("registry");
    let missing = registry
        .create(store.name, AdapterConfig::new())
        .await
        .err();
    assert!(
        matches!(missing, Some(Error::InvalidConfig(_))),
        "{missing:?}"
    );
    let dir = temp_dir();
    let escape = format!("../{}", store.file);
    let common = [("file", escape.as_str()), ("file", ".hidden")];
    for &(field, value) in common.iter().chain(store.bad_fields) {
        let bad = registry
            .create(
                store.name,
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

/// `max-entries` and `max-bytes` evict the entries accessed longest ago; an entry larger
/// than `max-bytes` alone is refused.
pub(crate) async fn bounds_evict_the_oldest_accessed(store: &Store) {
    let dir = temp_dir();
    let Some(p) =
        (store.open)(config(dir.path()).with("max-entries", ConfigValue::Integer(3))).await
    else {
        return;
    };
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
    assert_eq!(keys, ["a", "c", "d"]);
    let stats = p.stats().await.expect("stats");
    assert_eq!(stats.evictions, 1, "{stats:?}");

    let dir = temp_dir();
    let p = (store.open)(config(dir.path()).with("max-bytes", ConfigValue::Size(100)))
        .await
        .expect("built");
    let big = p.set("big", &[0; 200], None).await;
    assert!(matches!(big, Err(Error::ValueTooLarge(_))), "{big:?}");
    for i in 0..10 {
        p.set(&format!("k{i}"), &[1; 30], None).await.expect("set");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let stats = p.stats().await.expect("stats");
    assert!(stats.bytes <= 100, "{stats:?}");
    assert_eq!(stats.keys, 3, "{stats:?}");
    let mut keys = p.keys("*").await.expect("keys");
    keys.sort();
    assert_eq!(keys, ["k7", "k8", "k9"], "the newest stay");
}

/// A writer holds the file, a read-only provider is refused while the writer's
/// heartbeat is fresh, then reads (expired entries miss) and is denied every write;
/// the reader sees the writer's next write once it is idle, and leaves no file behind.
pub(crate) async fn read_only_grant_reads_but_denies_writes(store: &Store) {
    const STALE: u64 = 300;
    let dir = temp_dir();
    let stale = ConfigValue::DurationMs(STALE);
    let Some(rw) = (store.open)(config(dir.path()).with("lock-stale", stale.clone())).await else {
        return;
    };
    rw.set("a", b"1", None).await.expect("set");
    rw.set("short", b"x", Some(Duration::from_millis(1)))
        .await
        .expect("set short");
    let ro = (store.open)(
        config(dir.path())
            .with("read-only", ConfigValue::Boolean(true))
            .with("lock-stale", stale),
    )
    .await
    .expect("built");
    // The writer's heartbeat is fresh: it may change the pages a reader would read.
    let busy = ro.get("a").await;
    assert!(matches!(busy, Err(Error::Unavailable(_))), "{busy:?}");
    // Once the writer is idle past the stale time, the reader reads the file.
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
    let lock = format!("{}.lock", store.file);
    assert_eq!(names, [store.file, &lock], "only the writer's files");
}

/// A read-only provider on an empty directory misses, is denied writes, creates nothing.
pub(crate) async fn read_only_grant_on_an_empty_directory_misses(store: &Store) {
    let dir = temp_dir();
    let ro = (store.open)(config(dir.path()).with("read-only", ConfigValue::Boolean(true)));
    let Some(ro) = ro.await else {
        return;
    };
    assert_eq!(ro.get("a").await.expect("get"), None);
    let set = ro.set("a", b"1", None).await;
    assert!(matches!(set, Err(Error::Denied(_))), "{set:?}");
    assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 0);
}

/// Writes purge expired entries (a bounded batch each) from the expiry index.
pub(crate) async fn expired_entries_are_purged_by_writes(store: &Store) {
    let dir = temp_dir();
    let mut config = config(dir.path());
    for (name, value) in store.fast {
        config = config.with(*name, ConfigValue::Text((*value).into()));
    }
    let Some(p) = (store.open)(config).await else {
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

/// Spawns the writer binary on `dir`.
fn writer(store: &Store, dir: &Path, keys: usize, size: usize, stale_ms: u64, mode: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_store_writer"))
        .args([
            store.name.into(),
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
/// heartbeats; with `take_over`, a third takes the file over once the first is killed
/// and its lock goes stale.
pub(crate) fn a_second_process_is_refused(store: &Store, take_over: bool) {
    if !(store.built)() {
        return;
    }
    let dir = temp_dir();
    let stale = 1_000;
    let mut first = writer(store, dir.path(), 1, 64, stale, "wait");
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
    let second = writer(store, dir.path(), 1, 64, stale, "no-wait")
        .wait_with_output()
        .expect("second writer");
    let out = String::from_utf8_lossy(&second.stdout);
    assert_eq!(second.status.code(), Some(3), "second writer: {out}");
    assert!(out.contains("in use by another process"), "{out}");
    first.kill().expect("kill");
    let _ = first.wait();
    let _ = drain.join();
    if !take_over {
        return;
    }
    // The killed writer's lock is left behind; a waiting writer takes it over once stale.
    let started = Instant::now();
    let mut third = writer(store, dir.path(), 1, 64, stale, "wait");
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

/// Checks every key of the file holds a whole value of at least its acknowledged
/// generation (read natively).
fn check_natively(
    store: &Store,
    file: &Path,
    acked: &HashMap<usize, u64>,
    keys: usize,
    size: usize,
) {
    let names: Vec<String> = (0..keys).map(|k| format!("key-{k}")).collect();
    let values = (store.read_natively)(file, &names);
    for (k, (key, value)) in names.iter().zip(values).enumerate() {
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
/// database opens natively, every acknowledged write is there (the stored value is of
/// that generation or a later one) and no value is torn; at the end the adapter reads it
/// too. `BYOC_CRASH_KILLS` sets the number of kills (default 20).
pub(crate) fn killed_writers_lose_no_acknowledged_write(store: &Store) {
    if !(store.built)() {
        return;
    }
    const KEYS: usize = 4;
    const SIZE: usize = 64 << 10;
    const STALE_MS: u64 = 200;
    let kills: usize = std::env::var("BYOC_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let dir = temp_dir();
    let file = dir.path().join(store.file);
    let started = Instant::now();
    for round in 0..kills {
        let mut child = writer(store, dir.path(), KEYS, SIZE, STALE_MS, "wait");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let ready = lines.by_ref().any(|l| l.is_ok_and(|l| l == "ready"));
        assert!(ready, "round {round}: the writer did not start");
        let reader = std::thread::spawn(move || last_acks(lines));
        // Let it run into the middle of later writes, at varying points.
        std::thread::sleep(Duration::from_millis(5 + (round as u64 * 37) % 120));
        child.kill().expect("kill");
        let _ = child.wait();
        let acked = reader.join().expect("reader");
        check_natively(store, &file, &acked, KEYS, SIZE);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let config = config(dir.path()).with("lock-stale", ConfigValue::DurationMs(STALE_MS));
        let p = (store.open)(config).await.expect("open after the kills");
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
