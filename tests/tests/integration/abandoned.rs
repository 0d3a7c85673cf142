//! A call its caller abandons mid-way (the future dropped, as `tokio::time::timeout`
//! does) while the guest waits in a host import leaves the provider usable: the next
//! call on it succeeds, on a partition and in a pool.

use byoc::{AdapterConfig, ConfigValue, Error, Provider, Registry, StackSpec, WasmProvider};
use byoc_tests::{Hook, Hooked, Op};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// How long the first call may run before it is abandoned.
const ABANDON_AFTER: Duration = Duration::from_millis(100);

/// Holds every `get` for a minute while set.
struct StallGets(Arc<AtomicBool>);

#[async_trait::async_trait]
impl Hook for StallGets {
    async fn before(&self, op: Op) -> byoc::Result<()> {
        if matches!(op, Op::Get) && self.0.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        Ok(())
    }
}

/// A native layer whose reads stall while the flag is set.
async fn stalling_layer(registry: &Registry) -> (Arc<dyn Provider>, Arc<AtomicBool>) {
    let native = registry
        .create("native-memory", AdapterConfig::new())
        .await
        .expect("native-memory");
    let stall = Arc::new(AtomicBool::new(false));
    let layer = Hooked::around(native, StallGets(stall.clone()));
    (Arc::new(layer), stall)
}

/// Abandons a `get` stalled in the layer below `wrapper`, then checks that the next
/// calls succeed and that one instance was replaced.
async fn abandon_then_call(wrapper: &dyn Provider, stall: &AtomicBool) {
    wrapper.set("k", b"v", None).await.expect("set");
    stall.store(true, Ordering::SeqCst);
    let abandoned = tokio::time::timeout(ABANDON_AFTER, wrapper.get("k")).await;
    assert!(abandoned.is_err(), "the get was not stalled: {abandoned:?}");
    stall.store(false, Ordering::SeqCst);
    for _ in 0..3 {
        assert_eq!(
            wrapper
                .get("k")
                .await
                .expect("a get after the abandoned one"),
            Some(b"v".to_vec())
        );
    }
    wrapper.set("k2", b"w", None).await.expect("set");
    let stats = wrapper.stats().await.expect("stats");
    assert_eq!(stats.extra("host.abandoned"), Some(1), "{:?}", stats.extra);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrapper_call_dropped_inside_a_host_import_leaves_the_wrapper_usable() {
    let mut registry = Registry::new().expect("runtime");
    let (layer, stall) = stalling_layer(&registry).await;
    registry
        .register(
            "stalling",
            Arc::new(move |_| {
                let layer = layer.clone();
                Box::pin(async move { Ok(layer) })
            }),
        )
        .expect("register");
    let wrapper = registry
        .build(
            &StackSpec::new("migration")
                .inner(StackSpec::new("stalling"))
                .inner(StackSpec::new("native-memory")),
        )
        .await
        .expect("wrapper");
    abandon_then_call(wrapper.as_ref(), &stall).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_call_dropped_inside_a_host_import_leaves_the_pool_usable() {
    let registry = Registry::new().expect("runtime");
    let (layer, stall) = stalling_layer(&registry).await;
    let runtime = registry.runtime();
    let component = runtime
        .load("migration", byoc::builtin::MIGRATION_WRAPPER)
        .expect("load");
    let new = registry
        .create("native-memory", AdapterConfig::new())
        .await
        .expect("native-memory");
    let pool = WasmProvider::builder(runtime, component)
        .layers(vec![layer, new])
        .pooled(2)
        .build()
        .await
        .expect("pool");
    abandon_then_call(&pool, &stall).await;
}

/// The `http` adapter (a pool) against an origin that accepts and never answers: a `get`
/// abandoned while the guest waits for the response, then more calls on the same pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_call_dropped_while_waiting_for_the_origin_leaves_the_pool_usable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 << 10];
                while matches!(stream.read(&mut buf).await, Ok(1..)) {}
            });
        }
    });
    let config = AdapterConfig::new()
        .with("url", ConfigValue::Text(format!("http://{addr}")))
        .with("timeout", ConfigValue::DurationMs(300));
    let provider = Registry::new()
        .expect("runtime")
        .create("http", config)
        .await
        .expect("http");
    let abandoned = tokio::time::timeout(ABANDON_AFTER, provider.get("k")).await;
    assert!(abandoned.is_err(), "the origin answered: {abandoned:?}");
    for _ in 0..2 {
        // The origin still never answers: the adapter's own timeout, not a trap.
        let r = provider.get("k").await;
        assert!(matches!(r, Err(Error::Unavailable(_))), "{r:?}");
    }
    // `stats` asks the origin too (the call first seen failing this way).
    let r = provider.stats().await;
    assert!(matches!(r, Err(Error::Unavailable(_))), "{r:?}");
}
