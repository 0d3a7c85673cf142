//! `byoc migrate` between two Redis namespaces of a private server: killed part-way,
//! resumed from its cursor file, it ends with the same keys, values and TTLs (within 1 s),
//! and keeps what was written into the target meanwhile. `BYOC_MIGRATE_KEYS` sets the
//! key count (default 3,000).

use byoc::{AdapterConfig, ConfigValue, Item, KeyTtl, Provider, Registry};
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
        .with("namespace", ConfigValue::Text(ns.into()))
        .with("response-timeout", ConfigValue::DurationMs(5000));
    Registry::new()
        .expect("runtime")
        .create("redis", config)
        .await
        .expect("redis provider")
}

fn ms(ttl: KeyTtl) -> Option<u128> {
    match ttl {
        KeyTtl::ExpiresIn(d) => Some(d.as_millis()),
        KeyTtl::Persistent => None,
        KeyTtl::Missing => panic!("a key vanished"),
    }
}

/// For every key: its value in `a` and `b`, and the difference of their remaining TTLs
/// (read back to back), in chunks checked in parallel.
async fn compare(
    a: Arc<dyn Provider>,
    b: Arc<dyn Provider>,
    keys: Vec<String>,
) -> Vec<(String, Vec<u8>, Vec<u8>, Option<u128>)> {
    let mut tasks = tokio::task::JoinSet::new();
    let mut all = Vec::new();
    for chunk in keys.chunks(250) {
        if tasks.len() >= 8
            && let Some(part) = tasks.join_next().await
        {
            all.extend(part.expect("task"));
        }
        let (a, b, chunk) = (a.clone(), b.clone(), chunk.to_vec());
        tasks.spawn(async move {
            let va = a.get_multi(&chunk).await.expect("get");
            let vb = b.get_multi(&chunk).await.expect("get");
            let mut out = Vec::new();
            for ((key, va), vb) in chunk.into_iter().zip(va).zip(vb) {
                let ta = ms(a.ttl(&key).await.expect("ttl"));
                let tb = ms(b.ttl(&key).await.expect("ttl"));
                let diff = match (ta, tb) {
                    (None, None) => None,
                    (Some(x), Some(y)) => Some(x.abs_diff(y)),
                    other => panic!("{key}: TTLs differ: {other:?}"),
                };
                out.push((key, va.expect("in a"), vb.expect("in b"), diff));
            }
            out
        });
    }
    while let Some(part) = tasks.join_next().await {
        all.extend(part.expect("task"));
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
        .unwrap_or(3_000);
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

    // Killed once a quarter of the keys is recorded as copied.
    let started = Instant::now();
    let mut child = migrate(&config, &cursor)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(120);
    let quarter = |text: String| {
        let scanned = text.split("\"scanned\":").nth(1).and_then(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<usize>()
                .ok()
        });
        scanned.is_some_and(|n| n >= count / 4)
    };
    while !std::fs::read_to_string(&cursor).is_ok_and(quarter) {
        if child.try_wait().expect("wait").is_some() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
                .expect("read stderr");
            panic!("migrate ended before it could be killed: {stderr}");
        }
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

    let mut from_keys = src.keys("*").await.expect("keys");
    let mut to_keys = dst.keys("*").await.expect("keys");
    from_keys.sort();
    to_keys.sort();
    assert_eq!(from_keys.len(), count);
    assert_eq!(from_keys, to_keys, "identical key sets");
    assert_eq!(dst.get(&fresh).await.expect("get"), Some(b"fresh".to_vec()));
    from_keys.retain(|k| *k != fresh);
    for (key, a, b, diff) in compare(src.clone(), dst.clone(), from_keys).await {
        assert_eq!(a, b, "{key}");
        assert!(
            diff.is_none_or(|d| d <= 1000),
            "{key}: TTLs {diff:?} ms apart"
        );
    }
    eprintln!("migrate: {count} keys, {copied_before} before the kill, {took:?} for both runs");
}
