//! A near cache over the `redis` provider, kept coherent by the server (RESP3 client
//! tracking): writes made by another client reach the L1 within moments, not after the
//! staleness bound; a lost tracking connection empties the L1 and pauses it.

use byoc::redis::{RedisGrant, RedisInvalidation, RedisTarget};
use byoc::{AdapterConfig, ConfigValue, NearCache, Provider, Registry};
use byoc_tests::redis_server::RedisServer;
use std::sync::Arc;
use std::time::{Duration, Instant};

const NS: &str = "near:";

async fn redis_below(server: &RedisServer) -> Arc<dyn Provider> {
    let mut config = AdapterConfig::new();
    config.set("url", ConfigValue::Text(server.url()));
    config.set("namespace", ConfigValue::Text(NS.into()));
    Registry::new()
        .expect("runtime")
        .create("redis", config)
        .await
        .expect("redis provider")
}

/// A near cache that would serve a read for an hour without asking Redis again.
fn near(below: Arc<dyn Provider>) -> NearCache {
    NearCache::builder()
        .max_staleness(Duration::from_secs(3600))
        .build(below)
}

fn grant(server: &RedisServer) -> RedisGrant {
    RedisGrant::new(RedisTarget::Single(server.url()), NS).expect("grant")
}

/// Polls `p.get(key)` until it answers `want` (or 5 s pass); the last answer.
async fn eventually(p: &dyn Provider, key: &str, want: Option<&[u8]>) -> Option<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = p.get(key).await.expect("get");
        if got.as_deref() == want || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A near cache over a native provider, for the tests that never reach a server.
fn near_over_native() -> NearCache {
    NearCache::new(Arc::new(byoc::NativeMemoryProvider::new(
        byoc::NativeMemoryConfig::default(),
    )))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_by_other_clients_invalidate_the_l1() {
    let Some(server) = RedisServer::start("near cache invalidation from redis") else {
        return;
    };
    let below = redis_below(&server).await;
    let tracked = near(Arc::clone(&below));
    let untracked = near(below);
    let invalidation = RedisInvalidation::start(&grant(&server), tracked.invalidator())
        .await
        .expect("tracking on");
    assert!(invalidation.is_tracking());

    tracked.set("k", b"v1", None).await.expect("set");
    assert_eq!(
        tracked.get("k").await.expect("get").as_deref(),
        Some(&b"v1"[..])
    );
    assert_eq!(
        untracked.get("k").await.expect("get").as_deref(),
        Some(&b"v1"[..])
    );

    // Another client changes the key behind both near caches.
    server.cli(&["SET", "near:k", "v2"]);
    assert_eq!(
        eventually(&tracked, "k", Some(b"v2")).await.as_deref(),
        Some(&b"v2"[..])
    );
    // The control: without tracking the L1 keeps serving the old value.
    assert_eq!(
        untracked.get("k").await.expect("get").as_deref(),
        Some(&b"v1"[..])
    );

    // A delete elsewhere turns into a miss; keys outside the namespace change nothing.
    tracked.get("k").await.expect("fill");
    server.cli(&["DEL", "near:k"]);
    assert_eq!(
        eventually(&tracked, "k", None).await,
        None,
        "the delete never reached the L1"
    );
    let before = invalidation.invalidations();
    server.cli(&["SET", "other:k", "x"]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        invalidation.invalidations(),
        before,
        "other namespaces are not tracked"
    );
    assert!(before >= 2, "{before} invalidations counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_tracking_connection_empties_and_pauses_the_l1() {
    let Some(mut server) = RedisServer::start("near cache invalidation across a restart") else {
        return;
    };
    let below = redis_below(&server).await;
    let near = near(below);
    let invalidation = RedisInvalidation::start(&grant(&server), near.invalidator())
        .await
        .expect("tracking on");
    near.set("k", b"v1", None).await.expect("set");
    near.get("k").await.expect("fill");

    // The server restarts empty: the L1 must not answer the value it held.
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match near.get("k").await {
            Ok(None) => break,
            Ok(Some(v)) => assert!(
                Instant::now() < deadline,
                "the L1 still answers {v:?} after the server lost it"
            ),
            Err(_) => {} // the provider's own connection is reconnecting
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Tracking comes back by itself, and invalidates again.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !invalidation.is_tracking() || invalidation.reconnects() == 0 {
        assert!(Instant::now() < deadline, "tracking did not come back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    near.set("k", b"v3", None).await.expect("set");
    assert_eq!(
        near.get("k").await.expect("get").as_deref(),
        Some(&b"v3"[..])
    );
    server.cli(&["SET", "near:k", "v4"]);
    assert_eq!(
        eventually(&near, "k", Some(b"v4")).await.as_deref(),
        Some(&b"v4"[..])
    );
}

#[tokio::test]
async fn a_cluster_grant_is_refused() {
    let grant = RedisGrant::new(RedisTarget::Cluster(vec!["redis://127.0.0.1:1".into()]), NS)
        .expect("grant");
    let near = near_over_native();
    let err = RedisInvalidation::start(&grant, near.invalidator())
        .await
        .expect_err("cluster");
    assert!(matches!(err, byoc::Error::Unsupported(_)), "{err}");
}

#[tokio::test]
async fn an_unreachable_server_fails_the_start() {
    let grant =
        RedisGrant::new(RedisTarget::Single("redis://127.0.0.1:1".into()), NS).expect("grant");
    let near = near_over_native();
    let err = RedisInvalidation::start(&grant, near.invalidator())
        .await
        .expect_err("nothing listens on port 1");
    assert!(matches!(err, byoc::Error::Unavailable(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_from_a_file() {
    let Some(server) = RedisServer::start("near cache invalidation from a config file") else {
        return;
    };
    let yaml = format!(
        "caches:\n  - name: users\n    provider: redis\n    config: {{ url: \"{}\", namespace: \"{NS}\" }}\n    near: {{ max-staleness: 1h, invalidation: redis }}\n",
        server.url()
    );
    let file = byoc::ConfigFile::parse(&yaml, "test.yaml").expect("config");
    let caches = byoc::Caches::open(&file, Registry::new().expect("runtime"))
        .await
        .expect("open");
    let users = caches.provider("users").expect("cache");
    users.set("k", b"v1", None).await.expect("set");
    assert_eq!(
        users.get("k").await.expect("get").as_deref(),
        Some(&b"v1"[..])
    );
    server.cli(&["SET", "near:k", "v2"]);
    assert_eq!(
        eventually(users.as_ref(), "k", Some(b"v2"))
            .await
            .as_deref(),
        Some(&b"v2"[..]),
        "the file's near cache was not invalidated"
    );

    let bad = "caches:\n  - name: m\n    provider: memory\n    near: { invalidation: redis }\n";
    let err =
        byoc::ConfigFile::parse(bad, "bad.yaml").expect_err("memory has no server to listen to");
    let text = err.to_string();
    assert!(text.contains("near.invalidation"), "{text}");
}
