//! `byoc migrate` between two Redis namespaces of a private server: killed part-way,
//! resumed from its cursor file, it ends with the same keys, values and TTLs (within 1 s),
//! and keeps what was written into the target meanwhile. `BYOC_MIGRATE_KEYS` sets the
//! key count (default 5,000).

use byoc::{AdapterConfig, ConfigValue, Item, KeyTtl, Provider, Registry};
use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A private `redis-server`, killed on drop.
struct Redis(Child, u16);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn redis(dir: &Path) -> Option<Redis> {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join("redis-server").is_file()));
    if !found {
        assert!(
            std::env::var("BYOC_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "redis-server not found on PATH and BYOC_REQUIRE_SERVICES=1"
        );
        eprintln!("SKIPPED migrate: redis-server not found on PATH (apt install redis-server)");
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-server");
    let server = Redis(child, port);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    Some(server)
}

async fn namespace(port: u16, ns: &str) -> Arc<dyn Provider> {
    let config = AdapterConfig::new()
        .with(
            "url",
            ConfigValue::Text(format!("redis://127.0.0.1:{port}")),
        )
        .with("namespace", ConfigValue::Text(ns.into()));
    Registry::new()
        .expect("runtime")
        .create("redis", config)
        .await
        .expect("redis provider")
}

/// Every key of `p` with its value and remaining TTL in ms (`None`: persistent).
async fn dump(p: &dyn Provider) -> HashMap<String, (Vec<u8>, Option<u128>)> {
    let mut all = HashMap::new();
    for key in p.keys("*").await.expect("keys") {
        let value = p.get(&key).await.expect("get").expect("live");
        let ttl = match p.ttl(&key).await.expect("ttl") {
            KeyTtl::ExpiresIn(d) => Some(d.as_millis()),
            KeyTtl::Persistent => None,
            KeyTtl::Missing => panic!("{key} vanished"),
        };
        all.insert(key, (value, ttl));
    }
    all
}

fn migrate(config: &Path, cursor: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_byoc"));
    command
        .arg("--config")
        .arg(config)
        .args([
            "migrate", "src", "dst", "--page", "200", "--quiet", "--cursor",
        ])
        .arg(cursor)
        .env_remove("RUST_LOG");
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_resumes_after_a_kill_and_copies_every_key_with_its_ttl() {
    let count: usize = std::env::var("BYOC_MIGRATE_KEYS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let Some(server) = redis(dir.path()) else {
        return;
    };
    let (src, dst) = (
        namespace(server.1, "src:").await,
        namespace(server.1, "dst:").await,
    );
    let items: Vec<Item> = (0..count)
        .map(|i| {
            // A third persistent, the rest expiring in 10 to 60 minutes.
            let ttl = (i % 3 != 0).then(|| Duration::from_secs(600 + (i as u64 * 7) % 3000));
            Item::new(format!("key:{i}"), format!("value {i}").into_bytes(), ttl)
        })
        .collect();
    for chunk in items.chunks(1000) {
        src.set_multi(chunk).await.expect("seed");
    }
    let config = dir.path().join("byoc.yaml");
    std::fs::write(
        &config,
        format!(
            "caches:\n\
             \x20 - name: src\n    provider: redis\n    config:\n      url: redis://127.0.0.1:{port}\n      namespace: \"src:\"\n\
             \x20 - name: dst\n    provider: redis\n    config:\n      url: redis://127.0.0.1:{port}\n      namespace: \"dst:\"\n",
            port = server.1
        ),
    )
    .expect("config");
    let cursor = dir.path().join("migrate.cursor");

    // Killed once a page or more is recorded.
    let started = Instant::now();
    let mut child = migrate(&config, &cursor)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !cursor.exists() {
        assert!(
            child.try_wait().expect("wait").is_none(),
            "migrate ended before it could be killed"
        );
        assert!(Instant::now() < deadline, "no cursor file was written");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("kill");
    child.wait().expect("wait");
    let recorded = std::fs::read_to_string(&cursor).expect("cursor file");
    assert!(recorded.contains("\"cursor\""), "{recorded}");
    let copied_before = dst.keys("*").await.expect("keys").len();
    assert!(copied_before < count, "the kill came after the end");

    // Written into the target meanwhile: never replaced by the source's older value.
    let fresh = format!("key:{}", count - 1);
    dst.set(&fresh, b"fresh", None).await.expect("set");

    let run = migrate(&config, &cursor).output().expect("run");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("copied"), "{stdout}");
    assert!(!cursor.exists(), "the cursor file is removed at the end");
    let took = started.elapsed();

    let (from, mut to) = (dump(&*src).await, dump(&*dst).await);
    assert_eq!(to.remove(&fresh).map(|(v, _)| v), Some(b"fresh".to_vec()));
    assert_eq!(from.len(), count);
    assert_eq!(to.len(), count - 1);
    for (key, (value, ttl)) in &to {
        let (want, want_ttl) = &from[key];
        assert_eq!(value, want, "{key}");
        match (ttl, want_ttl) {
            (None, None) => {}
            (Some(a), Some(b)) => assert!(a.abs_diff(*b) <= 1000, "{key}: {a} vs {b} ms"),
            other => panic!("{key}: TTLs differ: {other:?}"),
        }
    }
    eprintln!("migrate: {count} keys, {copied_before} before the kill, {took:?} for both runs");
}
