//! The etcd adapter against a private etcd: conformance, the model, interop with a plain
//! HTTP client on the JSON gateway, shared leases, authentication, the grant, connection
//! reuse, and faults (down, slow, 5xx, throttling from a scripted listener; a killed and
//! restarted etcd keeps every acknowledged write).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use byoc::{AdapterConfig, ConfigValue, Error, Grants, HttpGrant, Limits, Provider, Registry};
use byoc::{WasmProvider, builtin};
use byoc_tests::cloud::{self, CountingProxy};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn text(v: &str) -> ConfigValue {
    ConfigValue::Text(v.into())
}

/// A config for a fresh namespace on `endpoint`.
fn config(endpoint: &str) -> AdapterConfig {
    AdapterConfig::new()
        .with("endpoint", text(endpoint))
        .with("namespace", text(&format!("{}/", cloud::unique("byoc"))))
        .with("timeout", ConfigValue::DurationMs(3000))
}

async fn create(config: AdapterConfig) -> byoc::Result<Arc<dyn Provider>> {
    Registry::new()?.create("etcd", config).await
}

async fn on_etcd() -> Option<Arc<dyn Provider>> {
    let endpoint = cloud::etcd("etcd")?;
    Some(create(config(&endpoint)).await.expect("etcd provider"))
}

mod conformance {
    byoc_tests::conformance_tests!(super::on_etcd);
}

#[test]
fn etcd_matches_the_model() {
    cloud::run_model(cloud::model_cases(), on_etcd());
}

/// Posts `body` to the JSON gateway with a plain HTTP client; the answer as JSON.
async fn plain(endpoint: &str, path: &str, body: serde_json::Value) -> serde_json::Value {
    let (endpoint, path) = (endpoint.to_owned(), path.to_owned());
    let answer = tokio::task::spawn_blocking(move || {
        cloud::send(
            &endpoint,
            None,
            "POST",
            &path,
            &[],
            &[("content-type", "application/json")],
            body.to_string().as_bytes(),
        )
    })
    .await
    .expect("join")
    .expect("plain request");
    assert_eq!(answer.status, 200, "{answer:?}");
    serde_json::from_slice(&answer.body).expect("json")
}

fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

fn value_of(answer: &serde_json::Value) -> Vec<u8> {
    B64.decode(answer["kvs"][0]["value"].as_str().unwrap_or_default())
        .expect("base64")
}

/// What BYOC writes, a plain range reads (the value itself; with a TTL, behind the expiry
/// header and on a lease), and what a plain put writes, BYOC reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_with_a_plain_client() {
    let Some(endpoint) = cloud::etcd("etcd") else {
        return;
    };
    let p = create(config(&endpoint).with("namespace", text("interop/")))
        .await
        .expect("provider");
    p.set("user:1", b"hello", None).await.expect("set");
    p.set("session", b"s", Some(Duration::from_secs(60)))
        .await
        .expect("set ttl");
    let got = plain(
        &endpoint,
        "/v3/kv/range",
        serde_json::json!({ "key": b64(b"interop/user:1") }),
    )
    .await;
    assert_eq!(value_of(&got), b"hello");
    let got = plain(
        &endpoint,
        "/v3/kv/range",
        serde_json::json!({ "key": b64(b"interop/session") }),
    )
    .await;
    let stored = String::from_utf8_lossy(&value_of(&got)).into_owned();
    assert!(
        stored.starts_with("\0byoc-exp:") && stored.ends_with(";s"),
        "{stored:?}"
    );
    assert_ne!(got["kvs"][0]["lease"].as_str().unwrap_or("0"), "0");
    plain(
        &endpoint,
        "/v3/kv/put",
        serde_json::json!({ "key": b64(b"interop/from plain"), "value": b64(b"written by hand") }),
    )
    .await;
    assert_eq!(
        p.get("from plain").await.expect("get"),
        Some(b"written by hand".to_vec())
    );
    let mut keys = p.keys("*").await.expect("keys");
    keys.sort();
    assert_eq!(keys, ["from plain", "session", "user:1"]);
}

/// Keys whose expiries fall in one bucket share one lease, which outlives their expiry;
/// each key still expires to the millisecond on reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_share_a_lease_per_bucket() {
    let Some(endpoint) = cloud::etcd("etcd") else {
        return;
    };
    let p = create(
        config(&endpoint)
            .with("namespace", text("leases/"))
            .with("lease-bucket", ConfigValue::DurationMs(3_600_000)),
    )
    .await
    .expect("provider");
    // One instance of the pool does the writes (sequential calls) or a few do: either way
    // far fewer leases than keys.
    for i in 0..20u64 {
        let ttl = Duration::from_millis(200 + i * 1000);
        p.set(&format!("k{i:02}"), b"v", Some(ttl))
            .await
            .expect("set");
    }
    let got = plain(
        &endpoint,
        "/v3/kv/range",
        serde_json::json!({ "key": b64(b"leases/"), "range_end": b64(b"leases0") }),
    )
    .await;
    let kvs = got["kvs"].as_array().expect("kvs");
    assert_eq!(kvs.len(), 20);
    let mut leases: Vec<&str> = kvs.iter().filter_map(|kv| kv["lease"].as_str()).collect();
    leases.sort();
    leases.dedup();
    assert!((1..=2).contains(&leases.len()), "{} leases", leases.len());
    let ttl = plain(
        &endpoint,
        "/v3/lease/timetolive",
        serde_json::json!({ "ID": leases[0] }),
    )
    .await;
    let remaining: i64 = ttl["TTL"].as_str().unwrap_or("0").parse().expect("ttl");
    assert!(remaining >= 20, "the lease ends before its keys: {ttl}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(p.get("k00").await.expect("get"), None, "expired on read");
    assert_eq!(p.get("k01").await.expect("get"), Some(b"v".to_vec()));
}

/// With authentication on: the right password works (the token is fetched and sent), a
/// wrong one is `denied`, and the password never shows in messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication() {
    let Some(service) = tokio::task::spawn_blocking(|| cloud::etcd_service("etcd_auth"))
        .await
        .expect("join")
    else {
        return;
    };
    let endpoint = format!("http://{}", service.addr());
    for (path, body) in [
        (
            "/v3/auth/user/add",
            serde_json::json!({ "name": "root", "password": "s3cret-pw" }),
        ),
        ("/v3/auth/role/add", serde_json::json!({ "name": "root" })),
        (
            "/v3/auth/user/grant",
            serde_json::json!({ "user": "root", "role": "root" }),
        ),
        ("/v3/auth/enable", serde_json::json!({})),
    ] {
        plain(&endpoint, path, body).await;
    }
    let with = |password: &str| {
        config(&endpoint)
            .with("user", text("root"))
            .with("password", text(password))
    };
    let good = with("s3cret-pw");
    assert!(!format!("{good:?}").contains("s3cret-pw"));
    let p = create(good).await.expect("provider");
    p.set("k", b"v", None).await.expect("set with a token");
    assert_eq!(p.get("k").await.expect("get"), Some(b"v".to_vec()));
    let bad = create(with("wrong-pw")).await.expect("provider");
    let r = bad.get("k").await;
    assert!(matches!(r, Err(Error::Denied(_))), "{r:?}");
    assert!(!format!("{r:?}").contains("wrong-pw"));
    let anonymous = create(config(&endpoint)).await.expect("provider");
    let r = anonymous.get("k").await;
    assert!(matches!(r, Err(Error::Denied(_))), "{r:?}");
}

/// Requests reuse pooled connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_reused() {
    let Some(endpoint) = cloud::etcd("etcd") else {
        return;
    };
    let proxy = CountingProxy::start(&endpoint).await;
    let p = create(config(&proxy.url)).await.expect("provider");
    cloud::assert_connections_reused(p, &proxy, 32).await;
}

/// A provider configured for B but granted A never reaches B (0 connections), also
/// while another provider holds pooled connections to B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ungranted_endpoint_is_never_contacted() {
    let Some(endpoint) = cloud::etcd("etcd") else {
        return;
    };
    let proxy_b = CountingProxy::start(&endpoint).await;
    let proxy_a = CountingProxy::start(&endpoint).await;
    let to_b = create(config(&proxy_b.url)).await.expect("provider");
    to_b.set("warm", b"v", None).await.expect("set");
    let before = proxy_b.accepted();
    assert!(before >= 1);
    let registry = Registry::new().expect("registry");
    let runtime = registry.runtime();
    let component = runtime.load("etcd", builtin::ETCD_ADAPTER).expect("load");
    let p = WasmProvider::builder(runtime, component)
        .config(config(&proxy_b.url))
        .grants(Grants::none().http(HttpGrant::new([proxy_a.url.as_str()]).expect("grant")))
        .limits(Limits::new().call_deadline(Duration::from_secs(10)))
        .partitions(1)
        .build()
        .await
        .expect("provider");
    for _ in 0..3 {
        let r = p.set("stolen", b"x", None).await;
        assert!(matches!(r, Err(Error::Denied(_))), "{r:?}");
    }
    assert!(matches!(p.ping().await, Err(Error::Denied(_))));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(proxy_b.accepted(), before, "a connection to B was opened");
    assert_eq!(proxy_a.accepted(), 0);
}

async fn with_timeout(endpoint: &str, timeout_ms: u64) -> Arc<dyn Provider> {
    create(config(endpoint).with("timeout", ConfigValue::DurationMs(timeout_ms)))
        .await
        .expect("provider")
}

byoc_tests::cloud_fault_tests!(
    open: with_timeout,
    errors: [
        "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n",
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\ncontent-length: 49\r\n\r\n{\"error\":\"etcdserver: too many requests\",\"code\":8}",
    ],
);

/// etcd killed while a writer runs, then restarted: every write acknowledged before the
/// kill is there afterwards, and the writes during the outage failed as `unavailable`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_keeps_every_acknowledged_write() {
    let Some(service) = tokio::task::spawn_blocking(|| cloud::etcd_service("etcd_restart"))
        .await
        .expect("join")
    else {
        return;
    };
    let service = Arc::new(std::sync::Mutex::new(service));
    let endpoint = format!(
        "http://{}",
        service.lock().unwrap_or_else(|e| e.into_inner()).addr()
    );
    let p = with_timeout(&endpoint, 500).await;
    let writer = {
        let p = Arc::clone(&p);
        tokio::spawn(async move {
            let (mut acked, mut failed) = (Vec::new(), 0);
            for i in 0..300 {
                let key = format!("w{i:03}");
                match p.set(&key, key.as_bytes(), None).await {
                    Ok(()) => acked.push(key),
                    Err(Error::Unavailable(_)) => failed += 1,
                    Err(e) => panic!("{key}: {e:?}"),
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            (acked, failed)
        })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    let svc = Arc::clone(&service);
    tokio::task::spawn_blocking(move || {
        let mut s = svc.lock().unwrap_or_else(|e| e.into_inner());
        s.stop();
        std::thread::sleep(Duration::from_millis(300));
        s.restart();
    })
    .await
    .expect("restart");
    let (acked, failed) = writer.await.expect("writer");
    assert!(failed > 0, "no write saw the outage");
    assert!(acked.len() > 10, "{} writes acknowledged", acked.len());
    // The restarted member needs a moment to elect itself again.
    let deadline = Instant::now() + Duration::from_secs(10);
    let found = loop {
        match p.get_multi(&acked).await {
            Ok(found) => break found,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("after the restart: {e:?}"),
        }
    };
    for (key, value) in acked.iter().zip(found) {
        assert_eq!(value.as_deref(), Some(key.as_bytes()), "lost {key}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_errors_are_clear() {
    let r = create(AdapterConfig::new()).await;
    assert!(matches!(r, Err(Error::InvalidConfig(_))), "{:?}", r.err());
    let r = create(config("http://127.0.0.1:1").with("user", text("u"))).await;
    assert!(matches!(r, Err(Error::InvalidConfig(_))), "{:?}", r.err());
    let r = create(config("ftp://127.0.0.1:1")).await;
    assert!(matches!(r, Err(Error::InvalidConfig(_))), "{:?}", r.err());
}
