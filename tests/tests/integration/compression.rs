//! The compression wrapper (`adapters/compression`) in the host: conformance, round trips
//! at every size boundary, corrupt frames, stacking under encryption, YAML.

use crate::temp_dir;
use byoc::{AdapterConfig, ConfigValue, Error, Provider, Registry, StackSpec};
use std::sync::Arc;

const KEY1: &str = "k1:0101010101010101010101010101010101010101010101010101010101010101";

fn threshold(bytes: u64) -> AdapterConfig {
    AdapterConfig::new().with("threshold", ConfigValue::Size(bytes))
}

/// `spec` built on a registry where `given` is `inner` (shared, so the test can read what
/// the wrapper stored).
async fn over(inner: Arc<dyn Provider>, spec: StackSpec) -> Arc<dyn Provider> {
    let mut registry = Registry::new().expect("runtime");
    registry
        .register(
            "given",
            Arc::new(move |_| {
                let inner = inner.clone();
                Box::pin(async move { Ok(inner) })
            }),
        )
        .expect("register");
    registry.build(&spec).await.expect("stack builds")
}

async fn memory() -> Arc<dyn Provider> {
    Registry::new()
        .expect("runtime")
        .create("memory", AdapterConfig::new())
        .await
        .expect("memory")
}

/// Compressible, but not trivially: records with a counter in them.
fn sample(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut i = 0u64;
    while out.len() < len {
        out.extend_from_slice(format!("{{\"id\":{i},\"name\":\"user-{}\"}},", i % 97).as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

mod conformance_compression_over_memory {
    byoc_tests::conformance_tests!(|| async {
        let spec = byoc::StackSpec::new("compression")
            .config(super::threshold(16))
            .inner(byoc::StackSpec::new("memory"));
        byoc::Registry::new()
            .expect("runtime")
            .build(&spec)
            .await
            .expect("stack")
    });
}

mod conformance_encryption_over_compression_over_memory {
    byoc_tests::conformance_tests!(|| async {
        let spec = byoc::StackSpec::new("encryption")
            .config(byoc::AdapterConfig::new().with(
                "keys",
                byoc::ConfigValue::TextList(vec![super::KEY1.to_owned()]),
            ))
            .inner(
                byoc::StackSpec::new("compression")
                    .config(super::threshold(16))
                    .inner(byoc::StackSpec::new("memory")),
            );
        byoc::Registry::new()
            .expect("runtime")
            .build(&spec)
            .await
            .expect("stack")
    });
}

/// Every size from 0 to 1100 bytes and each power of two up to 1 MiB (and one byte
/// either side, 1 MiB itself last) reads back exactly; what the layer below holds starts
/// with the header byte: 1 (LZ4) from the threshold on, 0 (raw) under it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_size_round_trips_through_the_wrapper() {
    let inner = memory().await;
    let p = over(
        inner.clone(),
        StackSpec::new("compression").inner(StackSpec::new("given")),
    )
    .await;
    let mut sizes: Vec<usize> = (0..=1100).collect();
    for shift in 11..20 {
        let b = 1usize << shift;
        sizes.extend([b - 1, b, b + 1]);
    }
    sizes.extend([(1 << 20) - 1, 1 << 20]);
    for len in sizes {
        let value = sample(len);
        let key = format!("v{len}");
        p.set(&key, &value, None).await.expect("set");
        assert_eq!(p.get(&key).await.expect("get"), Some(value), "size {len}");
        let stored = inner.get(&key).await.expect("inner get").expect("stored");
        let header = if len >= 512 { 1 } else { 0 };
        assert_eq!(stored[0], header, "header byte at size {len}");
        if len >= 4096 {
            assert!(
                stored.len() < len / 2,
                "{len} bytes stored as {}",
                stored.len()
            );
        }
    }
}

/// What the layer below holds that is not a valid frame reads as an `internal` error,
/// never as bytes, and is counted; a raw frame written by hand reads as its value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_frames_are_errors_never_garbage() {
    let inner = memory().await;
    let p = over(
        inner.clone(),
        StackSpec::new("compression").inner(StackSpec::new("given")),
    )
    .await;
    let value = sample(8192);
    p.set("good", &value, None).await.expect("set");
    let frame = inner.get("good").await.expect("get").expect("stored");
    let mut flipped = frame.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x40;
    let mut truncated = frame.clone();
    truncated.truncate(frame.len() - 10);
    let mut wrong_length = frame.clone();
    wrong_length[1..5].copy_from_slice(&8191u32.to_le_bytes());
    let mut huge = frame.clone();
    huge[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
    let bad: [(&str, Vec<u8>); 6] = [
        ("empty", Vec::new()),
        ("unknown-header", b"\x07hello".to_vec()),
        ("flipped", flipped),
        ("truncated", truncated),
        ("wrong-length", wrong_length),
        ("huge", huge),
    ];
    for (key, stored) in &bad {
        inner.set(key, stored, None).await.expect("plant");
        assert!(
            matches!(p.get(key).await, Err(Error::Internal(_))),
            "{key}: a corrupt frame must fail"
        );
        let many = p.get_multi(&[key.to_string()]).await;
        assert!(matches!(many, Err(Error::Internal(_))), "{key}: get_multi");
    }
    let stats = p.stats().await.expect("stats");
    assert!(
        stats.extra("compression.corrupt").unwrap_or(0) >= 12,
        "{stats:?}"
    );
    inner.set("raw", b"\x00plain", None).await.expect("plant");
    assert_eq!(p.get("raw").await.expect("get"), Some(b"plain".to_vec()));
    assert_eq!(p.get("good").await.expect("get"), Some(value));
}

/// With encryption as its layer, values are compressed, then encrypted: a compressible
/// value reaches the bottom layer as an envelope about the compressed size, never in
/// plaintext. The other order stores the (incompressible) envelope raw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_encryption_compresses_then_encrypts() {
    let keys = || AdapterConfig::new().with("keys", ConfigValue::TextList(vec![KEY1.to_owned()]));
    let inner = memory().await;
    let spec = StackSpec::new("compression").inner(
        StackSpec::new("encryption")
            .config(keys())
            .inner(StackSpec::new("given")),
    );
    let p = over(inner.clone(), spec).await;
    assert_eq!(p.info().stack(), "compression(encryption(memory))");
    let value = sample(100_000);
    p.set("doc", &value, None).await.expect("set");
    assert_eq!(p.get("doc").await.expect("get"), Some(value.clone()));
    let sealed = inner.get("doc").await.expect("get").expect("stored");
    assert!(
        !sealed.windows(9).any(|w| w == b"\"name\":\"u"),
        "plaintext reached the bottom layer"
    );
    let plain = over(
        inner.clone(),
        StackSpec::new("compression").inner(StackSpec::new("given")),
    )
    .await;
    plain.set("plain", &value, None).await.expect("set");
    let compressed = inner
        .get("plain")
        .await
        .expect("get")
        .expect("stored")
        .len();
    assert!(compressed < value.len() / 4, "{compressed}");
    assert!(
        sealed.len() < compressed + 100,
        "envelope of {} bytes for {compressed} compressed",
        sealed.len()
    );
    // The other order: the wrapper gets ciphertext and stores it raw (header 0).
    let reversed = StackSpec::new("encryption")
        .config(keys())
        .inner(StackSpec::new("compression").inner(StackSpec::new("given")));
    let q = over(inner.clone(), reversed).await;
    q.set("doc2", &value, None).await.expect("set");
    let stored = inner.get("doc2").await.expect("get").expect("stored");
    assert_eq!(stored[0], 0);
    assert!(stored.len() > value.len());
}

/// Atomics through the wrapper: a counter and a swap work over a layer that has them,
/// and the compression wrapper reports the capability from its layer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atomics_pass_through_when_the_layer_has_them() {
    let with = over(
        memory().await,
        StackSpec::new("compression").inner(StackSpec::new("given")),
    )
    .await;
    assert!(with.info().native.contains(&byoc::Capability::Atomics));
    assert_eq!(with.increment("n", 2, None).await.expect("increment"), 2);
    let big = sample(4096);
    assert!(
        with.compare_and_swap("k", None, &big, None)
            .await
            .expect("cas")
    );
    assert!(
        with.compare_and_swap("k", Some(&big), b"small", None)
            .await
            .expect("cas")
    );
    let native = Registry::new()
        .expect("runtime")
        .create("native-memory", AdapterConfig::new())
        .await
        .expect("native");
    let without = over(
        byoc_tests::without_atomics(native),
        StackSpec::new("compression").inner(StackSpec::new("given")),
    )
    .await;
    assert!(!without.info().native.contains(&byoc::Capability::Atomics));
    assert!(matches!(
        without.increment("n", 1, None).await,
        Err(Error::Unsupported(_))
    ));
}

/// A cache configured in YAML with `provider: compression`, its `threshold` and
/// `max-size`, over memory; a bad field is a configuration error naming the cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_in_yaml() {
    let dir = temp_dir();
    let text = "caches:
  - name: logs
    provider: compression
    config:
      threshold: 1KiB
      max-size: 2MiB
    inner:
      - provider: memory
";
    let file = byoc::ConfigFile::parse_with_env(text, "c.yaml", dir.path(), Default::default())
        .expect("config");
    let caches = byoc::Caches::open(&file, Registry::new().expect("runtime"))
        .await
        .expect("caches");
    let p = caches.provider("logs").expect("cache");
    let value = sample(5000);
    p.set("l", &value, None).await.expect("set");
    assert_eq!(p.get("l").await.expect("get"), Some(value));
    let bad = text.replace("threshold: 1KiB", "level: 3");
    let file = byoc::ConfigFile::parse_with_env(&bad, "c.yaml", dir.path(), Default::default())
        .expect("config");
    let err = byoc::Caches::open(&file, Registry::new().expect("runtime"))
        .await
        .expect_err("unknown field");
    assert!(err.to_string().contains("logs"), "{err}");
}
