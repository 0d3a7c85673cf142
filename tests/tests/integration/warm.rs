//! `Caches::warm`: from entries and from another cache, with TTLs, key prefixes, kept
//! entries, bounded concurrency and progress.

use byoc::{Caches, ConfigFile, Item, KeyTtl, Registry, WarmOptions, WarmSource};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

async fn caches() -> Caches {
    let file = ConfigFile::parse(
        "caches:\n  - name: old\n    provider: native-memory\n    key-prefix: \"o:\"\n  \
         - name: new\n    provider: memory\n    key-prefix: \"n:\"\n",
        "warm.yaml",
    )
    .expect("config");
    Caches::open(&file, Registry::new().expect("registry"))
        .await
        .expect("open")
}

/// 1,000 entries of another cache (half with a TTL) land under the new prefix with
/// their remaining TTLs; an entry the target already holds is kept.
#[tokio::test]
async fn warm_from_another_cache_copies_every_entry_with_its_ttl() {
    let caches = caches().await;
    let old = caches.provider("old").expect("old");
    let items: Vec<Item> = (0..1000u32)
        .map(|i| Item {
            key: format!("o:k{i}"),
            value: format!("v{i}").into_bytes(),
            ttl: i.is_multiple_of(2).then(|| Duration::from_secs(600)),
        })
        .collect();
    old.set_multi(&items).await.expect("fill");
    // Not under the source's prefix: not copied.
    old.set("other", b"x", None).await.expect("set");
    let new = caches.provider("new").expect("new");
    new.set("n:k1", b"newer", None).await.expect("set");

    let seen = Arc::new(AtomicU64::new(0));
    let progress = seen.clone();
    let mut options = WarmOptions::default();
    options.batch = 64;
    options.concurrency = 3;
    options.progress = Some(Arc::new(move |done| {
        progress.fetch_max(done, Ordering::Relaxed);
    }));
    let report = caches
        .warm("new", WarmSource::Cache("old".into()), options)
        .await
        .expect("warm");
    assert_eq!((report.copied, report.skipped, report.missing), (999, 1, 0));
    assert_eq!(seen.load(Ordering::Relaxed), 1000);
    assert_eq!(new.get("n:k1").await.expect("get"), Some(b"newer".to_vec()));
    assert_eq!(new.get("n:k2").await.expect("get"), Some(b"v2".to_vec()));
    assert_eq!(new.get("n:other").await.expect("get"), None);
    match new.ttl("n:k4").await.expect("ttl") {
        KeyTtl::ExpiresIn(d) => {
            assert!(d > Duration::from_secs(590) && d <= Duration::from_secs(600))
        }
        other => panic!("k4: {other:?}"),
    }
    assert_eq!(new.ttl("n:k3").await.expect("ttl"), KeyTtl::Persistent);
    assert_eq!(new.keys("*").await.expect("keys").len(), 1000);
}

/// Listed keys of another cache, and entries given directly (overwriting).
#[tokio::test]
async fn warm_from_keys_and_entries() {
    let caches = caches().await;
    let old = caches.provider("old").expect("old");
    old.set("o:a", b"1", None).await.expect("set");
    old.set("o:b", b"2", None).await.expect("set");
    let source = WarmSource::CacheKeys {
        cache: "old".into(),
        keys: vec!["a".into(), "gone".into()],
    };
    let report = caches
        .warm("new", source, WarmOptions::default())
        .await
        .expect("warm");
    assert_eq!((report.copied, report.missing), (1, 1));
    let new = caches.provider("new").expect("new");
    assert_eq!(new.get("n:a").await.expect("get"), Some(b"1".to_vec()));
    assert_eq!(new.get("n:b").await.expect("get"), None);

    let entries = vec![
        Item {
            key: "a".into(),
            value: b"replaced".to_vec(),
            ttl: None,
        },
        Item {
            key: "c".into(),
            value: b"3".to_vec(),
            ttl: Some(Duration::from_secs(60)),
        },
    ];
    let mut options = WarmOptions::default();
    options.overwrite = true;
    let report = caches
        .warm("new", WarmSource::Entries(entries), options)
        .await
        .expect("warm");
    assert_eq!(report.copied, 2);
    assert_eq!(
        new.get("n:a").await.expect("get"),
        Some(b"replaced".to_vec())
    );
    assert!(matches!(
        new.ttl("n:c").await.expect("ttl"),
        KeyTtl::ExpiresIn(_)
    ));

    let err = caches
        .warm(
            "new",
            WarmSource::Cache("new".into()),
            WarmOptions::default(),
        )
        .await
        .expect_err("from itself");
    assert!(err.to_string().contains("itself"), "{err}");
    assert!(
        caches
            .warm(
                "new",
                WarmSource::Cache("nope".into()),
                WarmOptions::default()
            )
            .await
            .is_err()
    );
}
