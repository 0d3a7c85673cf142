//! The memory adapter's own behaviour: bounds and eviction policies (one partition, so
//! every key meets the same bound).

use byoc::wasm::Limits;
use byoc::{AdapterConfig, ConfigValue, Error, Provider, Registry, WasmProvider};
use std::time::Duration;

async fn memory(config: AdapterConfig) -> WasmProvider {
    memory_with(config, Limits::default()).await
}

async fn memory_with(config: AdapterConfig, limits: Limits) -> WasmProvider {
    let registry = Registry::new().expect("runtime");
    let runtime = registry.runtime();
    let component = runtime
        .load("memory", byoc::builtin::MEMORY_ADAPTER)
        .expect("load");
    WasmProvider::builder(runtime, component)
        .config(config)
        .limits(limits)
        .partitions(1)
        .build()
        .await
        .expect("start")
}

fn policy(name: &str, max_entries: i64) -> AdapterConfig {
    AdapterConfig::new()
        .with("eviction", ConfigValue::Text(name.into()))
        .with("max-entries", ConfigValue::Integer(max_entries))
}

/// Writes 100 entries of 1000 bytes (key + value) into a cache of `max-bytes: 10000`:
/// ten stay, ninety are evicted.
async fn fill_a_10_000_byte_cache(p: &WasmProvider) {
    for i in 0..100 {
        p.set(&format!("k{i:03}"), &[0u8; 996], None)
            .await
            .expect("set");
    }
    let stats = p.stats().await.expect("stats");
    assert!(stats.bytes <= 10_000, "bytes {}", stats.bytes);
    assert_eq!(stats.keys, 10);
    assert_eq!(stats.evictions, 90);
}

async fn live(p: &WasmProvider, keys: &[&str]) -> Vec<bool> {
    let mut out = Vec::new();
    for k in keys {
        out.push(p.exists(k).await.expect("exists"));
    }
    out
}

#[tokio::test]
async fn lru_evicts_least_recently_used() {
    let p = memory(policy("lru", 3)).await;
    for k in ["a", "b", "c"] {
        p.set(k, b"v", None).await.expect("set");
    }
    p.get("a").await.expect("get");
    p.set("d", b"v", None).await.expect("set");
    assert_eq!(
        live(&p, &["a", "b", "c", "d"]).await,
        [true, false, true, true]
    );
    assert_eq!(p.stats().await.expect("stats").evictions, 1);
}

/// Many uses between evictions: the `lru` recency log is compacted many times over and
/// the order it keeps is still exact (checked against a model of the recency order).
#[tokio::test]
async fn lru_order_survives_log_compaction() {
    let n = 8usize;
    let p = memory(policy("lru", n as i64)).await;
    // Least recent first.
    let mut order: Vec<String> = Vec::new();
    let mut seed = 7u64;
    for round in 0..60 {
        // Uses of present keys, in a pseudo-random order, far more than the entries.
        for _ in 0..200 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            if order.is_empty() {
                break;
            }
            let i = (seed >> 33) as usize % order.len();
            let key = order.remove(i);
            assert!(
                p.get(&key).await.expect("get").is_some(),
                "{key} in round {round}"
            );
            order.push(key);
        }
        // A new key: when full, the least recently used one goes.
        let key = format!("k{round}");
        p.set(&key, b"v", None).await.expect("set");
        order.push(key);
        if order.len() > n {
            let gone = order.remove(0);
            assert!(
                !p.exists(&gone).await.expect("exists"),
                "{gone} should be evicted"
            );
            // `exists` counts as a use in the adapter too: keep the model in step.
        }
        for key in &order {
            assert!(p.exists(key).await.expect("exists"), "{key} should be kept");
        }
        // `exists` used every key in `order`, in order: the recency order is unchanged.
    }
}

/// Overwriting one key over and over keeps the recency log bounded (each write leaves a
/// dead record behind): 100,000 writes fit in a 4 MiB instance.
#[tokio::test]
async fn lru_overwrites_do_not_grow_the_instance() {
    let p = memory_with(policy("lru", 16), Limits::default().memory_bytes(4 << 20)).await;
    for i in 0..100_000u32 {
        p.set("same", &i.to_le_bytes(), None)
            .await
            .unwrap_or_else(|e| panic!("write {i}: {e}"));
    }
    assert_eq!(
        p.get("same").await.expect("get"),
        Some(99_999u32.to_le_bytes().to_vec())
    );
    assert_eq!(p.traps(), 0);
}

#[tokio::test]
async fn lfu_evicts_least_frequently_used() {
    let p = memory(policy("lfu", 3)).await;
    for k in ["a", "b", "c"] {
        p.set(k, b"v", None).await.expect("set");
    }
    for _ in 0..3 {
        p.get("a").await.expect("get");
    }
    p.get("b").await.expect("get");
    p.get("b").await.expect("get");
    p.get("c").await.expect("get");
    // Uses: a 4, b 3, c 2 — c goes, though it was read last.
    p.set("d", b"v", None).await.expect("set");
    assert_eq!(
        live(&p, &["a", "b", "c", "d"]).await,
        [true, true, false, true]
    );
}

#[tokio::test]
async fn ttl_policy_evicts_soonest_expiry_first() {
    let p = memory(policy("ttl", 3)).await;
    p.set("late", b"v", Some(Duration::from_secs(100)))
        .await
        .expect("set");
    p.set("soon", b"v", Some(Duration::from_secs(10)))
        .await
        .expect("set");
    p.set("never", b"v", None).await.expect("set");
    p.set("new", b"v", Some(Duration::from_secs(50)))
        .await
        .expect("set");
    assert_eq!(
        live(&p, &["late", "soon", "never", "new"]).await,
        [true, false, true, true]
    );
}

#[tokio::test]
async fn expired_entries_go_before_live_ones() {
    let p = memory(policy("lru", 2)).await;
    p.set("old", b"v", None).await.expect("set");
    p.set("brief", b"v", Some(Duration::from_millis(50)))
        .await
        .expect("set");
    tokio::time::sleep(Duration::from_millis(120)).await;
    p.set("new", b"v", None).await.expect("set");
    assert_eq!(live(&p, &["old", "new"]).await, [true, true]);
    let stats = p.stats().await.expect("stats");
    assert_eq!((stats.evictions, stats.expirations), (0, 1));
}

#[tokio::test]
async fn max_bytes_bounds_storage() {
    let p = memory(
        AdapterConfig::new()
            .with("max-bytes", ConfigValue::Size(10_000))
            .with("eviction", ConfigValue::Text("lru".into())),
    )
    .await;
    fill_a_10_000_byte_cache(&p).await;
    // The ten most recent survive under LRU.
    assert!(p.exists("k099").await.expect("exists"));
    assert!(!p.exists("k000").await.expect("exists"));
    let r = p.set("huge", &[0u8; 10_001], None).await;
    assert!(matches!(r, Err(Error::ValueTooLarge(_))), "{r:?}");
}

#[tokio::test]
async fn registry_bounds_are_totals_across_partitions() {
    let p = Registry::new()
        .expect("runtime")
        .create(
            "memory",
            AdapterConfig::new().with("max-bytes", ConfigValue::Size(64_000)),
        )
        .await
        .expect("memory");
    for i in 0..400 {
        p.set(&format!("k{i}"), &[1u8; 500], None)
            .await
            .expect("set");
    }
    let stats = p.stats().await.expect("stats");
    assert!(
        stats.bytes <= 64_000,
        "{} bytes stored over a 64,000-byte bound",
        stats.bytes
    );
    assert!(stats.bytes > 40_000, "only {} bytes kept", stats.bytes);
}

#[tokio::test]
async fn tinylfu_keeps_frequent_entries_through_a_scan() {
    // Named, and as the default policy.
    let named = memory(policy("tinylfu", 20)).await;
    let default = memory(AdapterConfig::new().with("max-entries", ConfigValue::Integer(20))).await;
    for p in [named, default] {
        frequent_entries_survive_a_scan(&p).await;
    }
}

/// Ten keys read five times each survive a one-pass scan of 200 new keys through a
/// 20-entry cache (under LRU none would).
async fn frequent_entries_survive_a_scan(p: &WasmProvider) {
    let hot: Vec<String> = (0..10).map(|i| format!("hot{i}")).collect();
    for _ in 0..5 {
        for k in &hot {
            if p.get(k).await.expect("get").is_none() {
                p.set(k, b"v", None).await.expect("set");
            }
        }
    }
    for i in 0..200 {
        p.set(&format!("scan{i}"), b"v", None).await.expect("set");
    }
    let stats = p.stats().await.expect("stats");
    assert_eq!(stats.keys, 20);
    assert_eq!(stats.evictions, 190);
    let mut kept = 0;
    for k in &hot {
        kept += usize::from(p.exists(k).await.expect("exists"));
    }
    // Under LRU none would be left.
    assert_eq!(kept, 10);
    // Deletes and overwrites keep the policy consistent with storage.
    assert!(p.delete("hot0").await.expect("delete"));
    p.set("hot1", b"new", None).await.expect("set");
    assert_eq!(p.get("hot1").await.expect("get"), Some(b"new".to_vec()));
    p.clear().await.expect("clear");
    p.set("a", b"v", None).await.expect("set");
    assert!(p.exists("a").await.expect("exists"));
}

#[tokio::test]
async fn tinylfu_without_max_entries_bounds_bytes() {
    let p = memory(
        AdapterConfig::new()
            .with("eviction", ConfigValue::Text("tinylfu".into()))
            .with("max-bytes", ConfigValue::Size(10_000)),
    )
    .await;
    fill_a_10_000_byte_cache(&p).await;
    let r = p.set("huge", &[0u8; 10_001], None).await;
    assert!(matches!(r, Err(Error::ValueTooLarge(_))), "{r:?}");
}

/// `get_multi_bytes` through the packed `bulk` export: the values are slices of one
/// buffer (each starts where the previous one ends), not a copy each.
#[tokio::test]
async fn get_multi_bytes_shares_one_buffer() {
    let p = memory(AdapterConfig::new()).await;
    let keys: Vec<String> = (0..50).map(|i| format!("k{i}")).collect();
    for (i, k) in keys.iter().enumerate() {
        p.set(k, &vec![i as u8; 100 + i], None).await.expect("set");
    }
    let mut asked = keys.clone();
    asked.insert(10, "missing".into());
    let values = p.get_multi_bytes(&asked).await.expect("get_multi_bytes");
    assert_eq!(values[10], None);
    let present: Vec<_> = values.iter().flatten().collect();
    assert_eq!(present.len(), 50);
    for (i, v) in present.iter().enumerate() {
        assert_eq!(v.as_ref(), vec![i as u8; 100 + i].as_slice());
    }
    for pair in present.windows(2) {
        let end = pair[0].as_ptr().wrapping_add(pair[0].len());
        assert_eq!(end, pair[1].as_ptr(), "values are not one buffer");
    }
}

/// `RuntimeConfig::perf_map` makes wasmtime name the memory adapter's compiled functions
/// in `/tmp/perf-<pid>.map` (one `address size name` line each), where `perf report`
/// finds them: when it compiles the adapter, and when it loads it from the code cache.
#[tokio::test]
async fn the_perf_map_names_guest_functions() {
    let map = std::path::PathBuf::from(format!("/tmp/perf-{}.map", std::process::id()));
    let _ = std::fs::remove_file(&map);
    let cache = crate::temp_dir();
    let mut written = Vec::new();
    // Compiled (and cached), then loaded from the cache by a second runtime.
    for round in 0..2 {
        let cached = std::fs::read_dir(cache.path().join("components")).map_or(0, |d| d.count());
        assert_eq!(cached > 0, round == 1, "cache entries before round {round}");
        let runtime = byoc::Runtime::new(byoc::RuntimeConfig {
            perf_map: true,
            code_cache: byoc::wasm::CodeCache::Dir(cache.path().to_owned()),
            ..Default::default()
        })
        .expect("a runtime writing a perf map");
        let p = Registry::with_runtime(runtime)
            .create("memory", AdapterConfig::new())
            .await
            .expect("memory");
        p.set("k", b"v", None).await.expect("set");
        assert_eq!(p.get("k").await.expect("get").as_deref(), Some(&b"v"[..]));
        let text = std::fs::read_to_string(&map).expect("the perf map was written");
        written.push(text.lines().count());
        check_perf_map(&text);
    }
    let _ = std::fs::remove_file(&map);
    assert!(written[0] > 10, "{written:?} lines");
    assert!(
        written[1] > written[0],
        "the cached load was not named: {written:?}"
    );
}

/// Each line of a perf map is `0x<address> <size in hex> <name>`, and guest functions
/// are named.
fn check_perf_map(text: &str) {
    for line in text.lines() {
        let mut fields = line.splitn(3, ' ');
        let (address, size, name) = (fields.next(), fields.next(), fields.next());
        let hex = |f: Option<&str>, prefix: &str| {
            f.and_then(|f| f.strip_prefix(prefix))
                .is_some_and(|f| u64::from_str_radix(f, 16).is_ok())
        };
        assert!(hex(address, "0x") && hex(size, ""), "{line}");
        assert!(name.is_some_and(|n| !n.is_empty()), "{line}");
    }
    assert!(
        text.lines().any(|l| l.contains(" wasm[0]::function[")),
        "no guest function named: {}",
        &text[..text.len().min(2000)]
    );
}

/// Atomics on the registry's memory provider (partitioned, called synchronously): 64
/// tasks x 1000 increments of one counter give exactly 64 000, and each of 100
/// compare-and-swap rounds among 64 tasks has exactly one winner.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn atomics_hold_under_64_concurrent_tasks() {
    let p: std::sync::Arc<dyn Provider> = Registry::new()
        .expect("runtime")
        .create("memory", AdapterConfig::new())
        .await
        .expect("memory");
    assert!(p.info().native.contains(&byoc::Capability::Atomics));
    byoc_tests::conformance::concurrent_increments(&p, 64, 1000).await;
    byoc_tests::conformance::one_winner_per_round(&p, 64, 100).await;
}
