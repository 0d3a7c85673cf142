//! The `memcached` provider against private `memcached` servers: the conformance suite
//! (scan, keys and clear are declared unsupported and checked as such), model-based
//! sequences, interop with memcached's own protocol both ways, ketama over two servers,
//! and faults (a server killed and restarted mid-load; one that accepts but never
//! answers). Skips without `memcached` on `PATH` (fails under `BYOC_REQUIRE_SERVICES=1`).

use byoc::{AdapterConfig, ConfigValue, Error, Provider, Registry};
use byoc_tests::service::{self, Service};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Starts a private memcached (`-I 2m`: the conformance suite stores 1 MiB values).
fn start(test: &str) -> Option<Service> {
    if !service::available(test, &["memcached"], "apt-get install memcached") {
        return None;
    }
    Some(Service::start(
        "memcached",
        Duration::from_secs(10),
        Box::new(|_dir, port| {
            let mut cmd = Command::new("memcached");
            // `-u` only matters when run as root, which memcached otherwise refuses.
            let port = port.to_string();
            cmd.args(["-l", "127.0.0.1", "-p", &port, "-U", "0", "-I", "2m"])
                .args(["-m", "256", "-t", "2", "-u", "nobody"]);
            cmd
        }),
    ))
}

static SHARED: OnceLock<Option<Mutex<Service>>> = OnceLock::new();

/// The address of the memcached shared by this process's tests.
fn shared(test: &str) -> Option<String> {
    service::shared(&SHARED, || start(test))
        .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).addr())
}

/// A namespace no other test uses.
fn namespace() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "t{}-{}:",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn config(servers: &[String], namespace: &str) -> AdapterConfig {
    AdapterConfig::new()
        .with("servers", ConfigValue::TextList(servers.to_vec()))
        .with("namespace", ConfigValue::Text(namespace.into()))
}

async fn provider(servers: &[String], namespace: &str) -> Arc<dyn Provider> {
    Registry::new()
        .expect("runtime")
        .create("memcached", config(servers, namespace))
        .await
        .expect("memcached provider")
}

mod conformance {
    byoc_tests::conformance_tests!(|| async {
        let addr = super::shared("memcached::conformance")?;
        Some(super::provider(&[addr], &super::namespace()).await)
    });
}

#[test]
fn model_sequences_match_the_reference() {
    let Some(addr) = shared("memcached::model") else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let p = rt.block_on(provider(&[addr], &namespace()));
    let cases = std::env::var("BYOC_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases,
        failure_persistence: None,
        ..Default::default()
    });
    runner
        .run(&byoc_tests::model::sequence(40), |ops| {
            rt.block_on(byoc_tests::model::check_sequence(&p, &ops));
            Ok(())
        })
        .expect("model");
}

/// One raw request (`mn` appended) and every reply byte before the `MN` it answers.
fn raw(addr: &str, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.write_all(request).expect("write");
    stream.write_all(b"mn\r\n").expect("write");
    let mut reader = BufReader::new(stream);
    let mut out = Vec::new();
    loop {
        let mut line = Vec::new();
        reader.read_until(b'\n', &mut line).expect("read");
        if line == b"MN\r\n" || line.is_empty() {
            return out;
        }
        out.extend_from_slice(&line);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_cross_to_and_from_memcacheds_own_protocol() {
    let Some(addr) = shared("memcached::interop") else {
        return;
    };
    let ns = namespace();
    let p = provider(std::slice::from_ref(&addr), &ns).await;
    // BYOC writes, the meta protocol reads: the key is the namespace and the key, the
    // value is stored as it is (binary, CR LF included).
    let value = b"bin\r\n\x00\xffary".to_vec();
    p.set("greeting", &value, None).await.expect("set");
    let got = raw(&addr, format!("mg {ns}greeting v\r\n").as_bytes());
    let mut want = format!("VA {}\r\n", value.len()).into_bytes();
    want.extend_from_slice(&value);
    want.extend_from_slice(b"\r\n");
    assert_eq!(got, want);
    // A TTL is memcached's TTL too (rounded up to seconds, plus one).
    p.set("ttl", b"v", Some(Duration::from_secs(30)))
        .await
        .expect("set");
    let got = String::from_utf8(raw(&addr, format!("mg {ns}ttl t\r\n").as_bytes())).expect("text");
    assert!(got == "HD t31\r\n" || got == "HD t30\r\n", "{got}");
    // A key memcached cannot take as text travels base64-encoded.
    p.set("a key", b"spaced", None).await.expect("set");
    let b64 = base64_of(format!("{ns}a key").as_bytes());
    let got = raw(&addr, format!("mg {b64} b v\r\n").as_bytes());
    assert!(
        got.starts_with(b"VA 6") && got.ends_with(b"\r\nspaced\r\n"),
        "{}",
        String::from_utf8_lossy(&got)
    );

    // The meta protocol writes, BYOC reads.
    let got = raw(&addr, format!("ms {ns}theirs 5 T0\r\nhello\r\n").as_bytes());
    assert_eq!(got, b"HD\r\n".to_vec());
    assert_eq!(
        p.get("theirs").await.expect("get").as_deref(),
        Some(&b"hello"[..])
    );
    raw(&addr, format!("ms {ns}short 1 T100\r\nx\r\n").as_bytes());
    let ttl = p.ttl("short").await.expect("ttl");
    assert!(
        matches!(ttl, byoc::KeyTtl::ExpiresIn(d) if d > Duration::from_secs(95) && d <= Duration::from_secs(101)),
        "{ttl:?}"
    );
    raw(&addr, format!("md {ns}theirs\r\n").as_bytes());
    assert_eq!(p.get("theirs").await.expect("get"), None);
}

fn base64_of(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Keys spread over two servers (ketama); each key is on exactly one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_spread_over_servers() {
    let (Some(a), Some(b)) = (start("memcached::ketama"), start("memcached::ketama")) else {
        return;
    };
    let servers = [a.addr(), b.addr()];
    let ns = namespace();
    let p = provider(&servers, &ns).await;
    let keys: Vec<String> = (0..200).map(|i| format!("k{i}")).collect();
    let items: Vec<byoc::Item> = keys
        .iter()
        .map(|k| byoc::Item::new(k.clone(), k.as_bytes().to_vec(), None))
        .collect();
    p.set_multi(&items).await.expect("set_multi");
    let mut on = [0usize; 2];
    for k in &keys {
        let found: Vec<bool> = servers
            .iter()
            .map(|s| raw(s, format!("mg {ns}{k} v\r\n").as_bytes()).starts_with(b"VA"))
            .collect();
        assert_eq!(found.iter().filter(|f| **f).count(), 1, "{k}: {found:?}");
        on[usize::from(found[1])] += 1;
    }
    assert!(on[0] > 40 && on[1] > 40, "{on:?}");
    let got = p.get_multi(&keys).await.expect("get_multi");
    assert!(
        got.iter()
            .zip(&keys)
            .all(|(v, k)| v.as_deref() == Some(k.as_bytes()))
    );
}

/// A server killed mid-load: calls fail `unavailable` (never hang) within their deadline,
/// and succeed again once it is back, without a new provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_is_recovered_from() {
    let Some(mut server) = start("memcached::restart") else {
        return;
    };
    let p = provider(&[server.addr()], &namespace()).await;
    let deadline = p.call_deadline().expect("a deadline");
    p.set("k", b"v", None).await.expect("set");
    let load = {
        let p = Arc::clone(&p);
        tokio::spawn(async move {
            let (mut ok, mut unavailable, mut slowest) = (0usize, 0usize, Duration::ZERO);
            let (mut first_failure, mut back) = (None, None);
            let until = Instant::now() + Duration::from_millis(1500);
            while Instant::now() < until {
                let started = Instant::now();
                match p.get("k").await {
                    Ok(_) => {
                        ok += 1;
                        if first_failure.is_some() && back.is_none() {
                            back = Some(Instant::now());
                        }
                    }
                    Err(Error::Unavailable(_)) => {
                        unavailable += 1;
                        first_failure.get_or_insert(started);
                    }
                    Err(e) => panic!("under restart: {e}"),
                }
                slowest = slowest.max(started.elapsed());
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            (ok, unavailable, slowest, first_failure, back)
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.stop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let restarting = tokio::task::spawn_blocking(move || {
        server.restart();
        (server, Instant::now())
    });
    let (ok, unavailable, slowest, first_failure, back) = load.await.expect("load");
    let (_server, listening) = restarting.await.expect("restart");
    assert!(
        ok > 0 && unavailable > 0,
        "ok {ok}, unavailable {unavailable}"
    );
    assert!(slowest < deadline, "a call took {slowest:?}");
    // Recovery: the first call that succeeded once the server listened again.
    let back = back.expect("calls succeed again after the restart, on the same provider");
    let outage = back - first_failure.expect("a failure");
    eprintln!(
        "memcached restart: first success {:?} after the server listened again \
         ({outage:?} after the first failure; {ok} ok, {unavailable} unavailable, slowest \
         call {slowest:?})",
        back.saturating_duration_since(listening)
    );
    p.set("k2", b"v", None)
        .await
        .expect("set after the restart");
    assert_eq!(p.get("k2").await.expect("get").as_deref(), Some(&b"v"[..]));
}

/// A server that accepts connections and never answers ends each call at its deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_ends_calls_at_their_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    let text = format!(
        "caches:\n  - name: m\n    provider: memcached\n    config: {{ servers: [\"{addr}\"], namespace: \"x:\" }}\n    limits: {{ call-deadline: 300ms }}\n"
    );
    let file = byoc::ConfigFile::parse(&text, "t.yaml").expect("config");
    let caches = byoc::Caches::open(&file, Registry::new().expect("runtime"))
        .await
        .expect("caches");
    let p = caches.provider("m").expect("cache");
    for _ in 0..2 {
        let started = Instant::now();
        let r = p.get("k").await;
        let took = started.elapsed();
        assert!(matches!(r, Err(Error::DeadlineExceeded { .. })), "{r:?}");
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_millis(1300),
            "{took:?}"
        );
    }
}

/// memcached's own limit on an item's size is `value-too-large`, and the old value stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_over_the_servers_item_limit_are_refused() {
    let Some(addr) = shared("memcached::item_limit") else {
        return;
    };
    let p = provider(&[addr], &namespace()).await;
    p.set("big", b"old", None).await.expect("set");
    let r = p.set("big", &vec![1u8; 3 << 20], None).await;
    assert!(matches!(r, Err(Error::ValueTooLarge(_))), "{r:?}");
    assert_eq!(
        p.get("big").await.expect("get").as_deref(),
        Some(&b"old"[..])
    );
}
