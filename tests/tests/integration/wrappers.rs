//! Wrapper components (encryption, tiered, fallback) and stacks built from specs.

use crate::temp_dir;
use async_trait::async_trait;
use byoc::{AdapterConfig, ConfigValue, Error, Item, KeyTtl, Provider, Registry, StackSpec};
use byoc_tests::{Hook, Hooked, Op};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const KEY1: &str = "k1:0101010101010101010101010101010101010101010101010101010101010101";
const KEY2: &str = "k2:0202020202020202020202020202020202020202020202020202020202020202";

fn keys_config(keys: &[&str], current: Option<&str>) -> AdapterConfig {
    let mut config = AdapterConfig::new().with(
        "keys",
        ConfigValue::TextList(keys.iter().map(|k| k.to_string()).collect()),
    );
    if let Some(id) = current {
        config.set("current", ConfigValue::Text(id.into()));
    }
    config
}

fn registry() -> Registry {
    Registry::new().expect("runtime")
}

async fn memory() -> Arc<dyn Provider> {
    registry()
        .create("memory", AdapterConfig::new())
        .await
        .expect("memory")
}

async fn wrap(name: &str, config: AdapterConfig, layers: Vec<StackSpec>) -> Arc<dyn Provider> {
    let mut spec = StackSpec::new(name).config(config);
    for layer in layers {
        spec = spec.inner(layer);
    }
    registry().build(&spec).await.expect("stack builds")
}

/// Builds `encryption` over an existing inner provider, registered under a test name.
async fn encryption_over(inner: Arc<dyn Provider>, config: AdapterConfig) -> Arc<dyn Provider> {
    let mut registry = registry();
    registry
        .register(
            "given",
            Arc::new(move |_| {
                let inner = inner.clone();
                Box::pin(async move { Ok(inner) })
            }),
        )
        .expect("register");
    registry
        .build(
            &StackSpec::new("encryption")
                .config(config)
                .inner(StackSpec::new("given")),
        )
        .await
        .expect("encryption")
}

mod conformance_encryption_over_memory {
    byoc_tests::conformance_tests!(|| async {
        super::wrap(
            "encryption",
            super::keys_config(&[super::KEY1], None),
            vec![byoc::StackSpec::new("memory")],
        )
        .await
    });
}

mod conformance_tiered_memory_over_native {
    byoc_tests::conformance_tests!(|| async {
        super::wrap(
            "tiered",
            byoc::AdapterConfig::new(),
            vec![
                byoc::StackSpec::new("memory"),
                byoc::StackSpec::new("native-memory"),
            ],
        )
        .await
    });
}

mod conformance_fallback {
    byoc_tests::conformance_tests!(|| async {
        super::wrap(
            "fallback",
            byoc::AdapterConfig::new(),
            vec![
                byoc::StackSpec::new("memory"),
                byoc::StackSpec::new("memory"),
            ],
        )
        .await
    });
}

mod conformance_three_deep {
    byoc_tests::conformance_tests!(|| async {
        super::wrap(
            "encryption",
            super::keys_config(&[super::KEY1], None),
            vec![
                byoc::StackSpec::new("tiered")
                    .inner(byoc::StackSpec::new("memory"))
                    .inner(byoc::StackSpec::new("native-memory")),
            ],
        )
        .await
    });
}

#[tokio::test]
async fn stack_info_names_every_layer() {
    let p = wrap(
        "encryption",
        keys_config(&[KEY1], None),
        vec![
            StackSpec::new("tiered")
                .inner(StackSpec::new("memory"))
                .inner(StackSpec::new("native-memory")),
        ],
    )
    .await;
    let info = p.info();
    assert_eq!(info.stack(), "encryption(tiered(memory, native-memory))");
    assert_eq!(info.layers[0].layers.len(), 2);
}

#[tokio::test]
async fn wrong_layer_counts_are_config_errors() {
    let r = registry()
        .build(&StackSpec::new("tiered").inner(StackSpec::new("memory")))
        .await;
    assert!(
        matches!(r, Err(Error::InvalidConfig(ref m)) if m.contains("two")),
        "{:?}",
        r.map(|p| p.info())
    );
    let r = registry()
        .build(&StackSpec::new("memory").inner(StackSpec::new("memory")))
        .await;
    assert!(matches!(r, Err(Error::InvalidConfig(ref m)) if m.contains("not a wrapper")));
    let r = registry()
        .build(&StackSpec::new("encryption").config(keys_config(&[KEY1], None)))
        .await;
    assert!(matches!(r, Err(Error::InvalidConfig(ref m)) if m.contains("inner")));
    let r = registry()
        .build(&StackSpec::new("encryption").inner(StackSpec::new("memory")))
        .await;
    assert!(matches!(r, Err(Error::InvalidConfig(ref m)) if m.contains("keys")));
    let r = registry()
        .build(
            &StackSpec::new("encryption")
                .config(keys_config(&["k1:abcd"], None))
                .inner(StackSpec::new("memory")),
        )
        .await;
    assert!(matches!(r, Err(Error::InvalidConfig(ref m)) if m.contains("32 bytes")));
}

/// A `keys` entry that fails to parse is named by its position: no character of it (part
/// of a key is still a secret) appears in the error.
#[tokio::test]
async fn bad_key_entries_are_not_echoed() {
    let secret = "5ec2e7a9f00dcafe";
    let entries = [
        secret.to_owned(),
        format!("{secret}:zz"),
        format!("k1:{secret}"),
        format!("{}:{secret}", "i".repeat(300)),
    ];
    for (i, entry) in entries.iter().enumerate() {
        let r = registry()
            .build(
                &StackSpec::new("encryption")
                    .config(keys_config(&[KEY1, entry], None))
                    .inner(StackSpec::new("memory")),
            )
            .await;
        let Err(Error::InvalidConfig(m)) = r else {
            panic!("entry {i}: not a config error: {:?}", r.map(|p| p.info()));
        };
        assert!(m.contains("entry 2"), "entry {i}: {m}");
        assert!(!m.contains("5ec2"), "entry {i} leaks key material: {m}");
    }
}

#[tokio::test]
async fn encrypted_values_never_show_plaintext_to_the_inner_layer() {
    let inner = memory().await;
    let enc = encryption_over(inner.clone(), keys_config(&[KEY1], None)).await;
    let secret = b"the launch code is 0000".to_vec();
    enc.set("s", &secret, None).await.expect("set");
    enc.set_multi(&[Item::new("s2", secret.clone(), None)])
        .await
        .expect("set_multi");
    for key in ["s", "s2"] {
        let stored = inner.get(key).await.expect("inner get").expect("stored");
        assert!(
            !stored.windows(secret.len()).any(|w| w == secret.as_slice()),
            "plaintext visible in the inner layer"
        );
        assert_eq!(
            stored.len(),
            secret.len() + 2 + 2 + 24 + 16,
            "envelope size"
        );
    }
    assert_eq!(enc.get("s").await.expect("get"), Some(secret.clone()));
    assert_eq!(
        enc.get_multi(&["s2".into()]).await.expect("get_multi"),
        vec![Some(secret)]
    );
    // Two writes of the same value differ (random nonces).
    enc.set("s3", b"same", None).await.expect("set");
    let a = inner.get("s3").await.expect("get");
    enc.set("s3", b"same", None).await.expect("set");
    assert_ne!(a, inner.get("s3").await.expect("get"));
}

#[tokio::test]
async fn a_value_moved_to_another_key_fails_to_open() {
    let inner = memory().await;
    let enc = encryption_over(inner.clone(), keys_config(&[KEY1], None)).await;
    enc.set("alice", b"alice's data", None).await.expect("set");
    let stored = inner.get("alice").await.expect("get").expect("stored");
    inner.set("mallory", &stored, None).await.expect("copy");
    let r = enc.get("mallory").await;
    assert!(
        matches!(r, Err(Error::Internal(ref m)) if m.contains("authentication")),
        "{r:?}"
    );
    assert_eq!(
        enc.get("alice").await.expect("get"),
        Some(b"alice's data".to_vec())
    );
}

#[tokio::test]
async fn every_single_byte_flip_is_detected() {
    let inner = memory().await;
    let enc = encryption_over(inner.clone(), keys_config(&[KEY1], None)).await;
    enc.set("v", b"a value worth protecting", None)
        .await
        .expect("set");
    let stored = inner.get("v").await.expect("get").expect("stored");
    for i in 0..stored.len() {
        for bit in [0x01u8, 0x80] {
            let mut bad = stored.clone();
            bad[i] ^= bit;
            inner.set("v", &bad, None).await.expect("tamper");
            let r = enc.get("v").await;
            assert!(
                matches!(r, Err(Error::Internal(_))),
                "flip at byte {i} accepted: {r:?}"
            );
        }
    }
    for len in 0..stored.len() {
        inner
            .set("v", &stored[..len], None)
            .await
            .expect("truncate");
        assert!(
            enc.get("v").await.is_err(),
            "truncation to {len} bytes accepted"
        );
    }
}

/// A small deterministic generator for the tamper trials.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hundred_thousand_random_tamper_trials_accept_none() {
    let inner = registry()
        .create("native-memory", AdapterConfig::new())
        .await
        .expect("native");
    let mut config = keys_config(&[KEY1], None);
    config.set("on-tamper", ConfigValue::Text("miss".into()));
    let enc = encryption_over(inner.clone(), config).await;
    let value = b"tamper-proof payload".to_vec();
    enc.set("t", &value, None).await.expect("set");
    let original = inner.get("t").await.expect("get").expect("stored");
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    const TRIALS: usize = 100_000;
    const BATCH: usize = 1000;
    let keys: Vec<String> = (0..BATCH).map(|i| format!("t{i}")).collect();
    let mut rejected = 0;
    for _ in 0..TRIALS / BATCH {
        let items: Vec<Item> = keys
            .iter()
            .map(|k| {
                let mut bad = original.clone();
                match rng.next() % 4 {
                    0 => {
                        let i = (rng.next() as usize) % bad.len();
                        bad[i] ^= 1 << (rng.next() % 8);
                    }
                    1 => bad.truncate((rng.next() as usize) % bad.len()),
                    2 => bad.push(rng.next() as u8),
                    _ => {
                        for _ in 0..1 + rng.next() % 8 {
                            let i = (rng.next() as usize) % bad.len();
                            bad[i] = rng.next() as u8;
                        }
                        if bad == original {
                            bad[0] ^= 0xff;
                        }
                    }
                }
                // Every trial is also under another key than the one it was sealed for.
                Item::new(k.clone(), bad, None)
            })
            .collect();
        inner.set_multi(&items).await.expect("tamper");
        let opened = enc.get_multi(&keys).await.expect("get_multi");
        rejected += opened.iter().filter(|v| v.is_none()).count();
        assert!(
            opened.iter().all(Option::is_none),
            "a tampered value was accepted"
        );
    }
    assert_eq!(rejected, TRIALS);
    let stats = enc.stats().await.expect("stats");
    assert_eq!(stats.extra("encryption.open-failures"), Some(TRIALS as u64));
    assert_eq!(enc.get("t").await.expect("get"), Some(value));
}

#[tokio::test]
async fn key_rotation_reads_old_values_and_writes_with_the_new_key() {
    let inner = memory().await;
    let old = encryption_over(inner.clone(), keys_config(&[KEY1], None)).await;
    old.set("a", b"old value", None).await.expect("set");
    let rotated = encryption_over(inner.clone(), keys_config(&[KEY1, KEY2], Some("k2"))).await;
    assert_eq!(
        rotated.get("a").await.expect("old values open"),
        Some(b"old value".to_vec())
    );
    rotated.set("b", b"new value", None).await.expect("set");
    let stored = inner.get("b").await.expect("get").expect("stored");
    assert_eq!(&stored[..4], &[0xE1, 2, b'k', b'2'], "sealed with key k2");
    let new_only = encryption_over(inner.clone(), keys_config(&[KEY2], None)).await;
    assert_eq!(
        new_only.get("b").await.expect("get"),
        Some(b"new value".to_vec())
    );
    assert!(
        new_only.get("a").await.is_err(),
        "a value under a retired key must not open"
    );
}

/// A hook that switches its provider off: then every call is `Unavailable`.
struct Switchable {
    down: AtomicBool,
}

#[async_trait]
impl Hook for Switchable {
    async fn before(&self, _op: Op) -> byoc::Result<()> {
        if self.down.load(Ordering::SeqCst) {
            Err(Error::Unavailable("switched off by the test".into()))
        } else {
            Ok(())
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallback_serves_every_call_when_the_primary_refuses() {
    let primary = Arc::new(Hooked::around(
        memory().await,
        Switchable {
            down: AtomicBool::new(false),
        },
    ));
    let mut registry = registry();
    let given = primary.clone();
    registry
        .register(
            "primary",
            Arc::new(move |_| {
                let p: Arc<dyn Provider> = given.clone();
                Box::pin(async move { Ok(p) })
            }),
        )
        .expect("register");
    let p = registry
        .build(
            &StackSpec::new("fallback")
                .inner(StackSpec::new("primary"))
                .inner(StackSpec::new("memory")),
        )
        .await
        .expect("fallback");
    p.set("a", b"1", None).await.expect("set on primary");
    primary.hook().down.store(true, Ordering::SeqCst);
    // Every operation still succeeds, from the fallback.
    p.set("b", b"2", Some(Duration::from_secs(60)))
        .await
        .expect("set");
    assert_eq!(p.get("b").await.expect("get"), Some(b"2".to_vec()));
    assert_eq!(
        p.get("a").await.expect("get"),
        None,
        "a lives only in the primary"
    );
    assert!(p.exists("b").await.expect("exists"));
    p.set_multi(&[Item::new("c", b"3".to_vec(), None)])
        .await
        .expect("set_multi");
    assert_eq!(
        p.get_multi(&["b".into(), "c".into()])
            .await
            .expect("get_multi")
            .len(),
        2
    );
    assert!(matches!(
        p.ttl("b").await.expect("ttl"),
        KeyTtl::ExpiresIn(_)
    ));
    assert!(p.expire("b", None).await.expect("expire"));
    assert_eq!(p.keys("*").await.expect("keys").len(), 2);
    assert_eq!(
        p.delete_multi(&["c".into()]).await.expect("delete_multi"),
        1
    );
    assert!(p.delete("b").await.expect("delete"));
    p.ping().await.expect("ping");
    let stats = p.stats().await.expect("stats");
    assert!(stats.extra("fallback.fallback-served").expect("counter") >= 12);
    assert_eq!(stats.extra("fallback.primary-served"), Some(1));
    p.clear().await.expect("clear");
    primary.hook().down.store(false, Ordering::SeqCst);
    assert_eq!(
        p.get("a").await.expect("primary is back"),
        Some(b"1".to_vec())
    );
}

#[tokio::test]
async fn a_trapping_layer_is_unavailable_to_the_wrapper_above() {
    let registry = registry();
    let runtime = registry.runtime().clone();
    let mut registry = registry;
    registry
        .register(
            "trapping",
            Arc::new(move |_| {
                let runtime = runtime.clone();
                Box::pin(async move {
                    let component = runtime.load_file(byoc::builtin::HOSTILE_ADAPTER_PATH)?;
                    let p = byoc::WasmProvider::builder(&runtime, component)
                        .config(
                            AdapterConfig::new()
                                .with("behaviour", ConfigValue::Text("trap".into())),
                        )
                        .partitions(1)
                        .build()
                        .await?;
                    Ok(Arc::new(p) as Arc<dyn Provider>)
                })
            }),
        )
        .expect("register");
    let p = registry
        .build(
            &StackSpec::new("fallback")
                .inner(StackSpec::new("trapping"))
                .inner(StackSpec::new("memory")),
        )
        .await
        .expect("fallback");
    // The primary traps on this key: the fallback answers (a miss), no error.
    assert_eq!(p.get("hostile:boom").await.expect("fallback answers"), None);
    let stats = p.stats().await.expect("stats");
    assert_eq!(stats.extra("fallback.fallback-served"), Some(1));
}

#[tokio::test]
async fn tiered_promotes_with_the_remaining_ttl_and_caps_l1() {
    let l1 = memory().await;
    let l2 = registry()
        .create("native-memory", AdapterConfig::new())
        .await
        .expect("native");
    let mut registry = registry();
    for (name, p) in [("l1", l1.clone()), ("l2", l2.clone())] {
        registry
            .register(
                name,
                Arc::new(move |_| {
                    let p = p.clone();
                    Box::pin(async move { Ok(p) })
                }),
            )
            .expect("register");
    }
    let tiered = registry
        .build(
            &StackSpec::new("tiered")
                .config(AdapterConfig::new().with("l1-ttl", ConfigValue::DurationMs(5_000)))
                .inner(StackSpec::new("l1"))
                .inner(StackSpec::new("l2")),
        )
        .await
        .expect("tiered");
    l2.set("warm", b"v", Some(Duration::from_secs(2)))
        .await
        .expect("set in L2");
    l2.set("cold", b"v", None).await.expect("set in L2");
    assert_eq!(tiered.get("warm").await.expect("get"), Some(b"v".to_vec()));
    assert_eq!(tiered.get("cold").await.expect("get"), Some(b"v".to_vec()));
    let KeyTtl::ExpiresIn(warm) = l1.ttl("warm").await.expect("ttl") else {
        panic!("not promoted with a TTL")
    };
    assert!(
        warm <= Duration::from_secs(2),
        "L1 TTL {warm:?} exceeds L2's"
    );
    let KeyTtl::ExpiresIn(cold) = l1.ttl("cold").await.expect("ttl") else {
        panic!("not capped")
    };
    assert!(
        cold <= Duration::from_secs(5) && cold > Duration::from_secs(4),
        "L1 cap: {cold:?}"
    );
    // Writes reach L2 before L1; deletes hit both.
    tiered.set("w", b"x", None).await.expect("set");
    assert!(l2.exists("w").await.expect("exists") && l1.exists("w").await.expect("exists"));
    tiered.delete("w").await.expect("delete");
    assert!(!l2.exists("w").await.expect("exists") && !l1.exists("w").await.expect("exists"));
    let stats = tiered.stats().await.expect("stats");
    assert_eq!(stats.extra("tiered.l2-hits"), Some(2));
    assert_eq!(stats.extra("tiered.promotions"), Some(2));
}

fn filesystem_spec(dir: &tempfile::TempDir) -> StackSpec {
    StackSpec::new("filesystem").config(
        AdapterConfig::new().with("dir", ConfigValue::Text(dir.path().display().to_string())),
    )
}

/// The stack `name` over `layers` built by `layers_on(dir)`, on a fresh directory that is
/// removed when the test drops the provider.
async fn wrap_on_fresh_dir(
    name: &str,
    config: AdapterConfig,
    layers_on: impl FnOnce(&tempfile::TempDir) -> Vec<StackSpec>,
) -> Arc<dyn Provider> {
    let dir = temp_dir();
    let provider = wrap(name, config, layers_on(&dir)).await;
    Arc::new(byoc_tests::Holding::new(provider, dir))
}

mod conformance_encryption_over_filesystem {
    byoc_tests::conformance_tests!(|| super::wrap_on_fresh_dir(
        "encryption",
        super::keys_config(&[super::KEY1], None),
        |dir| vec![super::filesystem_spec(dir)],
    ));
}

mod conformance_encryption_over_tiered_memory_filesystem {
    byoc_tests::conformance_tests!(|| super::wrap_on_fresh_dir(
        "encryption",
        super::keys_config(&[super::KEY1], None),
        |dir| vec![
            byoc::StackSpec::new("tiered")
                .inner(byoc::StackSpec::new("memory"))
                .inner(super::filesystem_spec(dir)),
        ],
    ));
}

mod conformance_encryption_over_redis {
    use byoc_tests::{Holding, redis_server::RedisServer};

    byoc_tests::conformance_tests!(|| async {
        let server = RedisServer::start("encryption over redis")?;
        let stack = byoc::StackSpec::new("encryption")
            .config(super::keys_config(&[super::KEY1], None))
            .inner(
                byoc::StackSpec::new("redis").config(
                    byoc::AdapterConfig::new()
                        .with("url", byoc::ConfigValue::Text(server.url()))
                        .with("namespace", byoc::ConfigValue::Text("enc:".into())),
                ),
            );
        let provider = super::registry().build(&stack).await.expect("stack");
        Some(std::sync::Arc::new(Holding::new(provider, server))
            as std::sync::Arc<dyn byoc::Provider>)
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encryption_over_filesystem_keeps_only_ciphertext_on_disk() {
    let dir = temp_dir();
    let p = wrap(
        "encryption",
        keys_config(&[KEY1], None),
        vec![filesystem_spec(&dir)],
    )
    .await;
    let secret = b"plaintext that must never reach the disk";
    p.set("doc", secret, None).await.expect("set");
    assert_eq!(p.get("doc").await.expect("get"), Some(secret.to_vec()));
    let mut files = 0;
    for entry in std::fs::read_dir(dir.path()).expect("read_dir") {
        let bytes = std::fs::read(entry.expect("entry").path()).expect("read");
        files += 1;
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret),
            "plaintext on disk"
        );
    }
    assert!(files >= 1, "nothing was written");
    assert_eq!(p.info().stack(), "encryption(filesystem)");
}

/// A wrapper's call includes its layers' calls, so its default deadline is 1 s beyond its
/// slowest layer's (the filesystem's 30 s here), through nested wrappers; a
/// `call-deadline` of its own still wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrapper_deadline_covers_its_layers() {
    let dir = temp_dir();
    let secs = |s| Some(Duration::from_secs(s));
    let encryption_over =
        |layers: Vec<StackSpec>| wrap("encryption", keys_config(&[KEY1], None), layers);
    let fs = registry()
        .build(&filesystem_spec(&dir))
        .await
        .expect("filesystem");
    assert_eq!(fs.call_deadline(), secs(30));
    let over_fs = encryption_over(vec![filesystem_spec(&dir)]).await;
    assert_eq!(over_fs.call_deadline(), secs(31));
    let nested = encryption_over(vec![
        StackSpec::new("tiered")
            .inner(StackSpec::new("memory"))
            .inner(filesystem_spec(&dir)),
    ])
    .await;
    assert_eq!(nested.call_deadline(), secs(32));
    let over_memory = encryption_over(vec![StackSpec::new("memory")]).await;
    assert_eq!(over_memory.call_deadline(), secs(2));
    let mut limits = byoc::config_file::LimitsConfig::default();
    limits.call_deadline = Some(byoc::config_file::DurationText(Duration::from_millis(500)));
    let own = registry()
        .build(
            &StackSpec::new("encryption")
                .config(keys_config(&[KEY1], None))
                .limits(limits)
                .inner(filesystem_spec(&dir)),
        )
        .await
        .expect("stack");
    assert_eq!(own.call_deadline(), Some(Duration::from_millis(500)));
}
