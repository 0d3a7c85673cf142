//! The `multi-region` wrapper over real layers (memory, filesystem, Redis on two private
//! servers): replication, failover when the primary's server is stopped, catch-up of the
//! writes it missed once it is restarted, nearest-latency reads and per-region stats.

use crate::temp_dir;
use async_trait::async_trait;
use byoc::{AdapterConfig, ConfigValue, Provider, Registry, StackSpec};
use byoc_tests::redis_server::RedisServer;
use byoc_tests::{Hook, Hooked, Op};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A registry where `layer0`, `layer1`, ... name the given providers.
fn registry(layers: &[Arc<dyn Provider>]) -> Registry {
    let mut registry = Registry::new().expect("runtime");
    for (i, layer) in layers.iter().enumerate() {
        let layer = layer.clone();
        registry
            .register(
                &format!("layer{i}"),
                Arc::new(move |_| {
                    let layer = layer.clone();
                    Box::pin(async move { Ok(layer) })
                }),
            )
            .expect("register");
    }
    registry
}

async fn multi_region(
    layers: &[Arc<dyn Provider>],
    regions: &[&str],
    fields: &[(&str, ConfigValue)],
) -> Arc<dyn Provider> {
    let mut config = AdapterConfig::new().with(
        "regions",
        ConfigValue::TextList(regions.iter().map(|r| r.to_string()).collect()),
    );
    for (name, value) in fields {
        config.set(*name, value.clone());
    }
    let mut spec = StackSpec::new("multi-region").config(config);
    for i in 0..layers.len() {
        spec = spec.inner(StackSpec::new(format!("layer{i}")));
    }
    registry(layers)
        .build(&spec)
        .await
        .expect("multi-region builds")
}

async fn redis_layer(server: &RedisServer) -> Arc<dyn Provider> {
    let config = AdapterConfig::new()
        .with("url", ConfigValue::Text(server.url()))
        .with("namespace", ConfigValue::Text("mr:".into()))
        .with("instances", ConfigValue::Integer(2));
    Registry::new()
        .expect("runtime")
        .create("redis", config)
        .await
        .expect("redis provider")
}

async fn stats(p: &dyn Provider) -> HashMap<String, u64> {
    p.stats().await.expect("stats").extra.into_iter().collect()
}

fn text(s: &str) -> ConfigValue {
    ConfigValue::Text(s.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_reach_every_region_and_reads_fail_over_when_the_primary_stops() {
    let Some(mut primary_server) = RedisServer::start("multi_region") else {
        return;
    };
    let Some(backup_server) = RedisServer::start("multi_region") else {
        return;
    };
    let dir = temp_dir();
    let registry = Registry::new().expect("runtime");
    let files = registry
        .create(
            "filesystem",
            AdapterConfig::new().with("dir", text(&dir.path().display().to_string())),
        )
        .await
        .expect("filesystem");
    let memory = registry.create("memory", AdapterConfig::new()).await;
    let primary = redis_layer(&primary_server).await;
    let backup = redis_layer(&backup_server).await;
    let layers = [
        primary.clone(),
        backup.clone(),
        files.clone(),
        memory.expect("memory"),
    ];
    let mr = multi_region(
        &layers,
        &["eu", "us", "ap", "local"],
        &[("backoff", ConfigValue::DurationMs(100))],
    )
    .await;

    mr.set("a", b"1", Some(Duration::from_secs(60)))
        .await
        .expect("set");
    mr.set("b", b"2", None).await.expect("set");
    for layer in &layers {
        assert_eq!(layer.get("a").await.expect("get"), Some(b"1".to_vec()));
    }

    // The primary's server stops: reads move to the backup within one call deadline.
    primary_server.stop();
    let deadline = mr.call_deadline().expect("a deadline");
    let started = Instant::now();
    assert_eq!(mr.get("a").await.expect("failover"), Some(b"1".to_vec()));
    let took = started.elapsed();
    assert!(
        took < deadline,
        "failover took {took:?} (deadline {deadline:?})"
    );

    // Writes made during the outage.
    mr.set("c", b"3", Some(Duration::from_secs(60)))
        .await
        .expect("set during outage");
    mr.set("a", b"1b", Some(Duration::from_secs(60)))
        .await
        .expect("update");
    assert!(mr.delete("b").await.expect("delete"));
    assert_eq!(backup.get("c").await.expect("get"), Some(b"3".to_vec()));
    let during = stats(&*mr).await;
    assert_eq!(during["multi-region.eu.healthy"], 0, "{during:?}");
    assert_eq!(during["multi-region.eu.pending"], 3, "{during:?}");
    assert!(during["multi-region.eu.unavailable"] >= 1);

    // Restarted (empty: no persistence): the writes it missed are copied to it.
    primary_server.restart();
    primary.set("b", b"old", None).await.expect("set");
    tokio::time::sleep(Duration::from_millis(600)).await;
    mr.ping().await.expect("ping");
    assert_eq!(primary.get("c").await.expect("get"), Some(b"3".to_vec()));
    assert_eq!(primary.get("a").await.expect("get"), Some(b"1b".to_vec()));
    assert_eq!(
        primary.get("b").await.expect("get"),
        None,
        "the delete reached it"
    );
    let left = match primary.ttl("c").await.expect("ttl") {
        byoc::KeyTtl::ExpiresIn(d) => d,
        other => panic!("{other:?}"),
    };
    assert!(left > Duration::from_secs(55), "{left:?}");
    let after = stats(&*mr).await;
    assert_eq!(after["multi-region.eu.pending"], 0, "{after:?}");
    assert_eq!(after["multi-region.eu.healthy"], 1, "{after:?}");
    assert!(after["multi-region.eu.replicated"] >= 3, "{after:?}");
    assert_eq!(after["multi-region.eu.not-replicated"], 0, "{after:?}");
    assert!(after["multi-region.us.reads"] >= 1, "{after:?}");
    // The primary serves again.
    let reads = after["multi-region.eu.reads"];
    assert_eq!(mr.get("c").await.expect("get"), Some(b"3".to_vec()));
    assert_eq!(
        stats(&*mr).await["multi-region.eu.reads"],
        reads + 2,
        "stats read too"
    );
}

#[tokio::test]
async fn async_replication_reaches_the_backups_on_later_calls() {
    let reg = Registry::new().expect("runtime");
    let a = reg
        .create("memory", AdapterConfig::new())
        .await
        .expect("memory");
    let b = reg
        .create("native-memory", AdapterConfig::new())
        .await
        .expect("native");
    let mr = multi_region(
        &[a.clone(), b.clone()],
        &["a", "b"],
        &[("replication", text("async"))],
    )
    .await;
    mr.set("k", b"v", None).await.expect("set");
    assert_eq!(a.get("k").await.expect("get"), Some(b"v".to_vec()));
    assert_eq!(b.get("k").await.expect("get"), None, "not yet");
    // The next call (any call) copies it first.
    let after = stats(&*mr).await;
    assert_eq!(
        b.get("k").await.expect("get"),
        Some(b"v".to_vec()),
        "caught up"
    );
    assert_eq!(after["multi-region.b.pending"], 0, "{after:?}");
    assert_eq!(after["multi-region.b.replicated"], 1, "{after:?}");

    let bad = registry(&[a.clone(), b.clone()])
        .build(
            &StackSpec::new("multi-region")
                .config(
                    AdapterConfig::new().with("regions", ConfigValue::TextList(vec!["x".into()])),
                )
                .inner(StackSpec::new("layer0"))
                .inner(StackSpec::new("layer1")),
        )
        .await;
    assert!(bad.is_err(), "one region name per layer");
}

/// Adds a delay before every call.
struct Slow(Duration);

#[async_trait]
impl Hook for Slow {
    async fn before(&self, _op: Op) -> byoc::Result<()> {
        tokio::time::sleep(self.0).await;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nearest_reads_the_fastest_region_and_broadcast_writes_all() {
    let registry = Registry::new().expect("runtime");
    let far_inner = registry.create("native-memory", AdapterConfig::new()).await;
    let far: Arc<dyn Provider> = Arc::new(Hooked::around(
        far_inner.expect("native"),
        Slow(Duration::from_millis(5)),
    ));
    let near = registry
        .create("memory", AdapterConfig::new())
        .await
        .expect("memory");
    let mr = multi_region(
        &[far.clone(), near.clone()],
        &["far", "near"],
        &[("mode", text("nearest"))],
    )
    .await;
    mr.set("k", b"v", None).await.expect("set");
    assert_eq!(far.get("k").await.expect("get"), Some(b"v".to_vec()));
    assert_eq!(near.get("k").await.expect("get"), Some(b"v".to_vec()));
    for _ in 0..20 {
        assert_eq!(mr.get("k").await.expect("get"), Some(b"v".to_vec()));
    }
    let s = stats(&*mr).await;
    assert!(s["multi-region.near.reads"] >= 18, "{s:?}");
    assert!(
        s["multi-region.far.latency-us"] > s["multi-region.near.latency-us"],
        "{s:?}"
    );

    let mr = multi_region(
        &[far.clone(), near.clone()],
        &["far", "near"],
        &[("mode", text("broadcast"))],
    )
    .await;
    mr.set("b", b"1", None).await.expect("set");
    assert_eq!(far.get("b").await.expect("get"), Some(b"1".to_vec()));
    assert_eq!(near.get("b").await.expect("get"), Some(b"1".to_vec()));
    assert_eq!(mr.get("b").await.expect("get"), Some(b"1".to_vec()));
    assert!(
        stats(&*mr).await["multi-region.far.reads"] >= 1,
        "first healthy region"
    );
}

/// The conformance suite through the wrapper over two memory regions.
fn over_memory(mode: &'static str, replication: &'static str) -> StackSpec {
    StackSpec::new("multi-region")
        .config(
            AdapterConfig::new()
                .with(
                    "regions",
                    ConfigValue::TextList(vec!["a".into(), "b".into()]),
                )
                .with("mode", text(mode))
                .with("replication", text(replication)),
        )
        .inner(StackSpec::new("memory"))
        .inner(StackSpec::new("native-memory"))
}

mod conformance_primary_backup_async {
    byoc_tests::conformance_tests!(|| async {
        let registry = byoc::Registry::new().expect("runtime");
        registry
            .build(&super::over_memory("primary-backup", "async"))
            .await
            .expect("stack")
    });
}
