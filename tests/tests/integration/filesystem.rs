//! The filesystem adapter: conformance, its directory grant, and crash safety.

use crate::temp_dir;
use byoc::{AdapterConfig, ConfigValue, Error, Provider, Registry};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

async fn open(dir: &Path, read_only: bool) -> byoc::Result<Arc<dyn Provider>> {
    create(config(dir).with("read-only", ConfigValue::Boolean(read_only))).await
}

/// The adapter's configuration for `dir`.
fn config(dir: &Path) -> AdapterConfig {
    AdapterConfig::new().with("dir", ConfigValue::Text(dir.display().to_string()))
}

async fn create(config: AdapterConfig) -> byoc::Result<Arc<dyn Provider>> {
    Registry::new()?.create("filesystem", config).await
}

/// A provider on a fresh directory (file I/O offloaded to tokio's blocking pool if
/// `offload_io`) that removes the directory when the test drops it.
async fn on_fresh_dir(offload_io: bool) -> Arc<dyn Provider> {
    let dir = temp_dir();
    let provider = create(config(dir.path()).with("offload-io", ConfigValue::Boolean(offload_io)))
        .await
        .expect("filesystem adapter");
    Arc::new(byoc_tests::Holding::new(provider, dir))
}

mod conformance {
    byoc_tests::conformance_tests!(|| super::on_fresh_dir(false));
}

/// The same suite with each file operation offloaded to tokio's blocking pool.
mod conformance_offloaded {
    byoc_tests::conformance_tests!(|| super::on_fresh_dir(true));
}

/// Every entry file sits directly in the directory, and nothing else was created.
fn assert_flat(dir: &Path) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let entry = entry.expect("entry");
        let name = entry.file_name().into_string().expect("utf-8 name");
        assert!(
            entry.file_type().expect("type").is_file(),
            "{name} is not a plain file"
        );
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b)),
            "unexpected file name {name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_keys_stay_inside_the_directory() {
    let root = temp_dir();
    let dir = root.path().join("cache");
    std::fs::create_dir(&dir).expect("mkdir");
    let outside = root.path().join("outside.txt");
    std::fs::write(&outside, b"untouched").expect("write");
    let p = open(&dir, false).await.expect("open");
    let long = "x/".repeat(500);
    let long_a = format!("{}a", "y".repeat(1000));
    let long_b = format!("{}b", "y".repeat(1000));
    let hostile = [
        "../../etc/passwd",
        "../outside.txt",
        "/etc/passwd",
        "..",
        ".",
        "a/b/c",
        "a\\b",
        "C:\\Windows",
        "Key",
        "key",
        long.as_str(),
        long_a.as_str(),
        long_b.as_str(),
    ];
    for (i, key) in hostile.iter().enumerate() {
        p.set(key, format!("v{i}").as_bytes(), None)
            .await
            .expect("set");
    }
    for (i, key) in hostile.iter().enumerate() {
        assert_eq!(
            p.get(key).await.expect("get"),
            Some(format!("v{i}").into_bytes()),
            "key {key:?}"
        );
    }
    let mut listed = p.keys("*").await.expect("keys");
    listed.sort();
    let mut expected: Vec<String> = hostile.iter().map(|k| k.to_string()).collect();
    expected.sort();
    assert_eq!(listed, expected, "keys come back as they were given");
    assert_eq!(
        std::fs::read(&outside).expect("read"),
        b"untouched",
        "a file outside the directory changed"
    );
    assert!(
        !root.path().join("etc").exists(),
        "a directory appeared outside"
    );
    assert_flat(&dir);
    let nul = p.set("a\0b", b"v", None).await;
    assert!(matches!(nul, Err(Error::InvalidKey(_))), "{nul:?}");
}

/// Files the adapter did not write (a name that is not UTF-8, a subdirectory, unrelated
/// files) are neither listed nor removed, and do not fail listing, `clear` or `stats`.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_entries_do_not_break_listing() {
    use std::os::unix::ffi::OsStrExt;
    let dir = temp_dir();
    let not_utf8 = dir.path().join(std::ffi::OsStr::from_bytes(b"k-\xff\xfe"));
    std::fs::write(&not_utf8, b"x").expect("write");
    std::fs::create_dir(dir.path().join("subdir")).expect("mkdir");
    std::fs::write(dir.path().join("README"), b"not an entry").expect("write");
    let p = open(dir.path(), false).await.expect("open");
    p.set("a", b"1", None).await.expect("set");
    p.set("b", b"2", None).await.expect("set");
    let mut keys = p.keys("*").await.expect("keys");
    keys.sort();
    assert_eq!(keys, ["a", "b"]);
    let page = p.scan("*", None, 10).await.expect("scan");
    assert_eq!(page.keys.len(), 2);
    assert_eq!(p.stats().await.expect("stats").keys, 2);
    p.clear().await.expect("clear");
    assert!(p.keys("*").await.expect("keys").is_empty());
    assert!(not_utf8.exists() && dir.path().join("subdir").is_dir());
    assert!(dir.path().join("README").exists());
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlinks_in_the_directory_do_not_escape() {
    let root = temp_dir();
    let dir = root.path().join("cache");
    std::fs::create_dir(&dir).expect("mkdir");
    let outside = root.path().join("secret.txt");
    std::fs::write(&outside, b"secret").expect("write");
    // Plant symlinks under the names the adapter would use for two keys.
    let name = |key: &str| -> String {
        let hex: String = key.bytes().map(|b| format!("{b:02x}")).collect();
        format!("k-{hex}")
    };
    std::os::unix::fs::symlink(&outside, dir.join(name("absolute"))).expect("symlink");
    std::os::unix::fs::symlink("../secret.txt", dir.join(name("relative"))).expect("symlink");
    std::os::unix::fs::symlink("/etc/passwd", dir.join(name("passwd"))).expect("symlink");
    let p = open(&dir, false).await.expect("open");
    for key in ["absolute", "relative", "passwd"] {
        let got = p.get(key).await;
        assert!(
            matches!(
                got,
                Err(Error::Denied(_)) | Err(Error::Internal(_)) | Ok(None)
            ),
            "reading {key} through a symlink must fail, got {got:?}"
        );
    }
    // Writing replaces the link itself; the target is untouched.
    p.set("relative", b"mine", None).await.expect("set");
    assert_eq!(
        p.get("relative").await.expect("get"),
        Some(b"mine".to_vec())
    );
    assert_eq!(std::fs::read(&outside).expect("read"), b"secret");
    // Deleting removes the link, never the target.
    let _ = p.delete("absolute").await;
    assert_eq!(std::fs::read(&outside).expect("read"), b"secret");
    p.clear().await.expect("clear");
    assert_eq!(std::fs::read(&outside).expect("read"), b"secret");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_grant_reads_but_denies_writes() {
    let dir = temp_dir();
    let rw = open(dir.path(), false).await.expect("open rw");
    rw.set("a", b"1", None).await.expect("set");
    let ro = open(dir.path(), true).await.expect("open ro");
    assert_eq!(ro.get("a").await.expect("get"), Some(b"1".to_vec()));
    assert_eq!(ro.keys("*").await.expect("keys"), ["a"]);
    let set = ro.set("b", b"2", None).await;
    assert!(matches!(set, Err(Error::Denied(_))), "set: {set:?}");
    let overwrite = ro.set("a", b"2", None).await;
    assert!(
        matches!(overwrite, Err(Error::Denied(_))),
        "overwrite: {overwrite:?}"
    );
    let delete = ro.delete("a").await;
    assert!(
        matches!(delete, Err(Error::Denied(_))),
        "delete: {delete:?}"
    );
    let clear = ro.clear().await;
    assert!(matches!(clear, Err(Error::Denied(_))), "clear: {clear:?}");
    assert_eq!(rw.get("a").await.expect("get"), Some(b"1".to_vec()));
    assert!(!dir.path().join("k-62").exists());
}

/// Reading an expired entry through a read-only grant is a miss: the lazy expiry's delete
/// is refused, and that refusal is not the read's answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_grant_reads_an_expired_entry_as_missing() {
    let dir = temp_dir();
    let rw = open(dir.path(), false).await.expect("open rw");
    rw.set("short", b"v", Some(Duration::from_millis(30)))
        .await
        .expect("set");
    rw.set("many", b"v", Some(Duration::from_millis(30)))
        .await
        .expect("set");
    let ro = open(dir.path(), true).await.expect("open ro");
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(ro.get("short").await.expect("get"), None);
    assert_eq!(ro.ttl("short").await.expect("ttl"), byoc::KeyTtl::Missing);
    assert!(!ro.exists("short").await.expect("exists"));
    let many = ro
        .get_multi(&["short".to_owned(), "many".to_owned()])
        .await
        .expect("get_multi");
    assert_eq!(many, [None, None]);
    // The file is still there (nothing could delete it); the writer's grant removes it.
    assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 2);
    assert_eq!(rw.get("short").await.expect("get"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_errors_are_clear() {
    let registry = Registry::new().expect("registry");
    let missing = registry.create("filesystem", AdapterConfig::new()).await;
    assert!(
        matches!(&missing, Err(Error::InvalidConfig(m)) if m.contains("dir")),
        "{:?}",
        missing.err()
    );
    let unknown = registry
        .create(
            "filesystem",
            AdapterConfig::new()
                .with("dir", ConfigValue::Text("/tmp".into()))
                .with("colour", ConfigValue::Text("red".into())),
        )
        .await;
    assert!(
        matches!(&unknown, Err(Error::InvalidConfig(m)) if m.contains("colour")),
        "{:?}",
        unknown.err()
    );
    let not_dir = registry
        .create(
            "filesystem",
            AdapterConfig::new().with("dir", ConfigValue::Text("/nonexistent/byoc".into())),
        )
        .await;
    assert!(
        matches!(not_dir, Err(Error::InvalidConfig(_))),
        "{:?}",
        not_dir.err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_share_a_directory_and_clear_only_their_own() {
    let dir = temp_dir();
    let registry = Registry::new().expect("registry");
    let ns = |name: &str| {
        AdapterConfig::new()
            .with("dir", ConfigValue::Text(dir.path().display().to_string()))
            .with("namespace", ConfigValue::Text(name.into()))
    };
    let a = registry.create("filesystem", ns("a")).await.expect("a");
    let b = registry.create("filesystem", ns("b")).await.expect("b");
    let plain = open(dir.path(), false).await.expect("plain");
    a.set("k", b"a", None).await.expect("set");
    b.set("k", b"b", None).await.expect("set");
    plain.set("k", b"plain", None).await.expect("set");
    std::fs::write(dir.path().join("README"), b"not ours").expect("write");
    a.clear().await.expect("clear");
    assert_eq!(a.get("k").await.expect("get"), None);
    assert_eq!(b.get("k").await.expect("get"), Some(b"b".to_vec()));
    assert_eq!(plain.get("k").await.expect("get"), Some(b"plain".to_vec()));
    assert_eq!(plain.stats().await.expect("stats").keys, 1);
    assert!(dir.path().join("README").exists());
    let bad = registry.create("filesystem", ns("../x")).await;
    assert!(
        matches!(bad, Err(Error::InvalidConfig(_))),
        "{:?}",
        bad.err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsync_writes_work() {
    let dir = temp_dir();
    let p = Registry::new()
        .expect("registry")
        .create(
            "filesystem",
            AdapterConfig::new()
                .with("dir", ConfigValue::Text(dir.path().display().to_string()))
                .with("fsync", ConfigValue::Boolean(true)),
        )
        .await
        .expect("open");
    p.set("durable", b"on disk", None).await.expect("set");
    assert_eq!(
        p.get("durable").await.expect("get"),
        Some(b"on disk".to_vec())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_providers_on_one_directory_see_each_other() {
    let dir = temp_dir();
    let one = open(dir.path(), false).await.expect("one");
    let two = open(dir.path(), false).await.expect("two");
    one.set("shared", b"from one", None).await.expect("set");
    assert_eq!(
        two.get("shared").await.expect("get"),
        Some(b"from one".to_vec())
    );
    two.set("shared", b"from two", Some(Duration::from_secs(60)))
        .await
        .expect("set");
    assert_eq!(
        one.get("shared").await.expect("get"),
        Some(b"from two".to_vec())
    );
    assert!(matches!(
        one.ttl("shared").await.expect("ttl"),
        byoc::KeyTtl::ExpiresIn(_)
    ));
    let stats = one.stats().await.expect("stats");
    assert_eq!(stats.keys, 1);
    assert!(stats.bytes > 8, "bytes on disk: {}", stats.bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_entries_are_removed_lazily() {
    let dir = temp_dir();
    let p = open(dir.path(), false).await.expect("open");
    p.set("short", b"v", Some(Duration::from_millis(30)))
        .await
        .expect("set");
    assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(p.get("short").await.expect("get"), None);
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("ls").count(),
        0,
        "the expired file was not removed on read"
    );
}

/// Kills a writer process mid-write many times; every stored value must be a whole value
/// of some generation, never a torn mix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_writers_never_leave_torn_values() {
    const KEYS: usize = 4;
    const SIZE: usize = 512 << 10;
    const KILLS: usize = 12;
    let dir = temp_dir();
    let writer = env!("CARGO_BIN_EXE_fs_writer");
    for round in 0..KILLS {
        let mut child = Command::new(writer)
            .args([
                dir.path().display().to_string(),
                KEYS.to_string(),
                SIZE.to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the writer");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the writer's output");
        assert_eq!(
            line.trim(),
            "ready",
            "round {round}: the writer did not start"
        );
        // Let it run into the middle of later generations, at varying points.
        std::thread::sleep(Duration::from_millis(20 + (round as u64 * 37) % 150));
        child.kill().expect("kill");
        let _ = child.wait();
    }
    let p = open(dir.path(), false).await.expect("open");
    for k in 0..KEYS {
        let key = format!("key-{k}");
        let value = p
            .get(&key)
            .await
            .expect("get")
            .unwrap_or_else(|| panic!("{key} is missing"));
        assert_eq!(value.len(), SIZE, "{key}: torn length");
        let first = value[0];
        assert!(
            first != 0 && value.iter().all(|&b| b == first),
            "{key}: bytes of several generations"
        );
    }
    let leftovers = std::fs::read_dir(dir.path())
        .expect("ls")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().starts_with("tmp-"))
        })
        .count();
    eprintln!("{KILLS} kills left {leftovers} temporary files (writes cut short)");
    // Killed writers leave at most temporary files, which are not entries.
    assert_eq!(p.stats().await.expect("stats").keys, KEYS as u64);
    p.clear().await.expect("clear");
    assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 0);
}

/// Temporary files left by killed writers are counted in `stats`, and those older than
/// the adapter's bound are removed when a provider opens the directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_temporary_files_are_counted_and_swept() {
    let dir = temp_dir();
    let stale = dir.path().join("tmp-00000000000000aa00000001");
    let fresh = dir.path().join("tmp-00000000000000bb00000001");
    for path in [&stale, &fresh] {
        std::fs::write(path, b"a killed write").expect("write");
    }
    let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .and_then(|f| f.set_modified(hour_ago))
        .expect("age the file");
    let p = open(dir.path(), false).await.expect("open");
    assert!(!stale.exists(), "the stale temporary file is still there");
    assert!(
        fresh.exists(),
        "a fresh temporary file (a write in progress) was removed"
    );
    let temp_files = |stats: byoc::Stats| {
        stats
            .extra
            .iter()
            .find(|(name, _)| name == "filesystem.temp-files")
            .map(|(_, n)| *n)
    };
    assert_eq!(temp_files(p.stats().await.expect("stats")), Some(1));
    p.clear().await.expect("clear");
    assert_eq!(temp_files(p.stats().await.expect("stats")), Some(0));
}

/// A directory the adapter creates is private to the user (0700) unless `mode` widens it.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_directories_are_private_by_default() {
    use std::os::unix::fs::PermissionsExt as _;
    let root = temp_dir();
    let mode_of = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    let private = root.path().join("a/private");
    let p = create(config(&private).with("create", ConfigValue::Boolean(true)))
        .await
        .expect("open");
    p.set("k", b"v", None).await.expect("set");
    assert_eq!(mode_of(&private), 0o700);
    let shared = root.path().join("shared");
    create(
        config(&shared)
            .with("create", ConfigValue::Boolean(true))
            .with("mode", ConfigValue::Text("0750".into())),
    )
    .await
    .expect("open");
    assert_eq!(mode_of(&shared), 0o750);
    let bad = create(
        config(&root.path().join("bad"))
            .with("create", ConfigValue::Boolean(true))
            .with("mode", ConfigValue::Text("rwx".into())),
    )
    .await;
    assert!(
        matches!(bad, Err(Error::InvalidConfig(_))),
        "{:?}",
        bad.err()
    );
}
