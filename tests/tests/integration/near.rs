//! The near cache (`byoc::NearCache`): the conformance suite over near(memory), then its
//! own promises: bounded staleness, the entry's own TTL, invalidation by local writes, a
//! racing fill never hiding a local write, size bounds, stats and zero-copy reads.

use async_trait::async_trait;
use byoc::{AdapterConfig, Item, NearCache, NearTtl, Provider, Registry, Stats};
use byoc_tests::{Hook, Hooked, Op};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

async fn memory() -> Arc<dyn Provider> {
    Registry::new()
        .expect("runtime")
        .create("memory", AdapterConfig::new())
        .await
        .expect("memory adapter")
}

async fn native() -> Arc<dyn Provider> {
    Registry::new()
        .expect("runtime")
        .create("native-memory", AdapterConfig::new())
        .await
        .expect("native provider")
}

mod near_memory {
    byoc_tests::conformance_tests!(|| async {
        Arc::new(byoc::NearCache::new(super::memory().await)) as Arc<dyn byoc::Provider>
    });
    use std::sync::Arc;
}

/// `AssumeLonger` keeps the contract only while every TTL is longer than `max_staleness`
/// (an entry may outlive its TTL by up to that much): the suite's shortest TTL is 100 ms.
mod near_memory_assume_longer {
    byoc_tests::conformance_tests!(|| async {
        Arc::new(
            byoc::NearCache::builder()
                .ttl_mode(byoc::NearTtl::AssumeLonger)
                .max_staleness(std::time::Duration::from_millis(40))
                .build(super::memory().await),
        ) as Arc<dyn byoc::Provider>
    });
    use std::sync::Arc;
}

fn near_hits(stats: &Stats) -> u64 {
    stats.extra("near.hits").expect("near.hits")
}

/// A write made below the near cache (by "another process") is seen once the L1 entry
/// is older than `max_staleness`, and not before.
#[tokio::test]
async fn staleness_is_bounded_by_max_staleness() {
    let below = native().await;
    let near = NearCache::builder()
        .max_staleness(Duration::from_millis(300))
        .build(Arc::clone(&below));
    near.set("k", b"old", None).await.expect("set");
    assert_eq!(near.get("k").await.expect("get"), Some(b"old".to_vec()));
    below.set("k", b"new", None).await.expect("set below");
    // Within the bound the L1 may answer the old value (and here it does).
    assert_eq!(near.get("k").await.expect("get"), Some(b"old".to_vec()));
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(near.get("k").await.expect("get"), Some(b"new".to_vec()));
    let stats = near.stats().await.expect("stats");
    assert_eq!(near_hits(&stats), 1);
}

/// With `NearTtl::Exact` an L1 entry never outlives the entry below, however long
/// `max_staleness` is.
#[tokio::test]
async fn entry_ttl_caps_staleness() {
    let near = NearCache::builder()
        .max_staleness(Duration::from_secs(60))
        .build(memory().await);
    near.set("t", b"v", Some(Duration::from_millis(200)))
        .await
        .expect("set");
    assert_eq!(near.get("t").await.expect("get"), Some(b"v".to_vec()));
    assert_eq!(near.get("t").await.expect("get"), Some(b"v".to_vec()));
    assert_eq!(near_hits(&near.stats().await.expect("stats")), 1);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(near.get("t").await.expect("get"), None);
}

/// Every local write invalidates what it touches: the next read sees it at once.
#[tokio::test]
async fn local_writes_invalidate() {
    let near = NearCache::builder()
        .max_staleness(Duration::from_secs(60))
        .build(memory().await);
    let fill = |k: &'static str| {
        let near = &near;
        async move {
            near.get(k).await.expect("get");
            near.get(k).await.expect("get")
        }
    };
    near.set("a", b"1", None).await.expect("set");
    assert_eq!(fill("a").await, Some(b"1".to_vec()));

    near.set("a", b"2", None).await.expect("set");
    assert_eq!(fill("a").await, Some(b"2".to_vec()), "set");

    assert!(near.delete("a").await.expect("delete"));
    assert_eq!(near.get("a").await.expect("get"), None, "delete");

    near.set("b", b"1", None).await.expect("set");
    assert_eq!(fill("b").await, Some(b"1".to_vec()));
    assert!(
        near.expire("b", Some(Duration::ZERO))
            .await
            .expect("expire")
    );
    assert_eq!(near.get("b").await.expect("get"), None, "expire");

    near.set("c", b"1", None).await.expect("set");
    assert_eq!(fill("c").await, Some(b"1".to_vec()));
    near.set_multi(&[Item::new("c", b"2".to_vec(), None)])
        .await
        .expect("set_multi");
    assert_eq!(fill("c").await, Some(b"2".to_vec()), "set_multi");
    near.delete_multi(&["c".to_owned()])
        .await
        .expect("delete_multi");
    assert_eq!(near.get("c").await.expect("get"), None, "delete_multi");

    near.set("d", b"1", None).await.expect("set");
    assert_eq!(fill("d").await, Some(b"1".to_vec()));
    near.clear().await.expect("clear");
    assert_eq!(near.get("d").await.expect("get"), None, "clear");

    // A failed write (value too large below) still leaves no stale L1 entry behind.
    near.set("e", b"1", None).await.expect("set");
    assert_eq!(fill("e").await, Some(b"1".to_vec()));
    let huge = vec![0u8; 64 << 20];
    assert!(near.set("e", &huge, None).await.is_err());
    assert_eq!(near.get("e").await.expect("get"), Some(b"1".to_vec()));
}

/// `get_multi` answers L1 hits locally and fetches the rest below, in order.
#[tokio::test]
async fn get_multi_mixes_l1_and_below() {
    let near = NearCache::new(memory().await);
    near.set("x", b"1", None).await.expect("set");
    near.set("y", b"2", None).await.expect("set");
    near.get("x").await.expect("get"); // fill x only
    let keys: Vec<String> = ["y", "nope", "x"].iter().map(|k| k.to_string()).collect();
    let values = near.get_multi(&keys).await.expect("get_multi");
    assert_eq!(values, vec![Some(b"2".to_vec()), None, Some(b"1".to_vec())]);
    let stats = near.stats().await.expect("stats");
    assert_eq!(near_hits(&stats), 1);
    assert_eq!(stats.extra("near.misses"), Some(3));
}

/// A hook that makes `get` wait for a signal after reading: lets a test write while a
/// fill is in flight.
struct SlowGet {
    entered: Notify,
    release: Notify,
}

#[async_trait]
impl Hook for SlowGet {
    async fn after(&self, op: Op) {
        if op == Op::Get {
            self.entered.notify_one();
            self.release.notified().await;
        }
    }
}

/// A read that fetched the old value below while a local write replaced it must not put
/// the old value into the L1.
#[tokio::test]
async fn racing_fill_does_not_hide_a_local_write() {
    for mode in [NearTtl::Exact, NearTtl::AssumeLonger] {
        let slow = Arc::new(Hooked::around(
            native().await,
            SlowGet {
                entered: Notify::new(),
                release: Notify::new(),
            },
        ));
        slow.inner().set("k", b"old", None).await.expect("seed");
        let near = Arc::new(
            NearCache::builder()
                .max_staleness(Duration::from_secs(60))
                .ttl_mode(mode)
                .build(Arc::clone(&slow) as Arc<dyn Provider>),
        );
        let reader = tokio::spawn({
            let near = Arc::clone(&near);
            async move { near.get("k").await.expect("get") }
        });
        slow.hook().entered.notified().await; // the reader holds "old"
        near.set("k", b"new", None).await.expect("set");
        slow.hook().release.notify_one();
        assert_eq!(reader.await.expect("join"), Some(b"old".to_vec()));
        // The next read goes below (the stale fill was dropped) and sees the write.
        let next = tokio::spawn({
            let near = Arc::clone(&near);
            async move { near.get("k").await.expect("get") }
        });
        slow.hook().entered.notified().await;
        slow.hook().release.notify_one();
        assert_eq!(next.await.expect("join"), Some(b"new".to_vec()), "{mode:?}");
    }
}

/// Values larger than the L1's byte bound are served but not kept.
#[tokio::test]
async fn values_over_the_byte_bound_are_not_kept() {
    let near = NearCache::builder().max_bytes(1024).build(native().await);
    near.set("big", &[1u8; 4096], None).await.expect("set");
    near.set("small", &[1u8; 16], None).await.expect("set");
    for _ in 0..3 {
        assert_eq!(
            near.get("big").await.expect("get").map(|v| v.len()),
            Some(4096)
        );
        assert_eq!(
            near.get("small").await.expect("get").map(|v| v.len()),
            Some(16)
        );
    }
    let stats = near.stats().await.expect("stats");
    assert_eq!(near_hits(&stats), 2, "only `small` is served by the L1");
    assert_eq!(stats.hits, 6, "L1 hits are added to the provider's hits");
}

/// An L1 hit through `get_bytes` shares the stored buffer instead of copying it.
#[tokio::test]
async fn get_bytes_is_zero_copy_on_a_hit() {
    let near = NearCache::new(native().await);
    near.set("z", &[5u8; 1000], None).await.expect("set");
    let first = near.get_bytes("z").await.expect("get").expect("value");
    let second = near.get_bytes("z").await.expect("get").expect("value");
    let third = near.get_bytes("z").await.expect("get").expect("value");
    assert_eq!(first.len(), 1000);
    assert_eq!(
        second.as_ptr(),
        third.as_ptr(),
        "both hits share one buffer"
    );
    assert_eq!(second, first);
}

/// `get_cached` answers from the L1 only: nothing before a read fills it, the shared value
/// after, nothing once the entry's own TTL has passed (even though `max_staleness` has
/// not), and it never reads below.
#[tokio::test]
async fn get_cached_answers_from_the_l1_alone() {
    let near = NearCache::builder()
        .max_staleness(Duration::from_secs(60))
        .build(memory().await);
    near.set("c", b"v", Some(Duration::from_millis(200)))
        .await
        .expect("set");
    assert_eq!(near.get_cached("c"), None, "a write does not fill the L1");
    let read = near.get_bytes("c").await.expect("get").expect("value");
    let cached = near.get_cached("c").expect("filled by the read");
    assert_eq!(cached.as_ptr(), read.as_ptr(), "the L1's own buffer");
    assert_eq!(near_hits(&near.stats().await.expect("stats")), 1);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(near.get_cached("c"), None, "its own TTL ended");
    assert_eq!(near.get_bytes("c").await.expect("get"), None);
    assert_eq!(near_hits(&near.stats().await.expect("stats")), 1);
}

/// A `max_staleness` beyond what moka accepts is taken as its limit instead of panicking.
#[tokio::test]
async fn an_unbounded_max_staleness_is_accepted() {
    let near = NearCache::builder()
        .max_staleness(Duration::MAX)
        .build(memory().await);
    near.set("k", b"v", None).await.expect("set");
    assert_eq!(near.get("k").await.expect("get"), Some(b"v".to_vec()));
    assert_eq!(near.get_cached("k").as_deref(), Some(&b"v"[..]));
}
