//! The provider conformance suite: each function checks one part of the
//! [`Provider`] contract on a fresh, empty provider, and panics with a message naming the
//! provider when it fails.

use byoc::{Error, Item, KeyTtl, Provider};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

type P = Arc<dyn Provider>;

fn name(p: &P) -> String {
    p.info().name
}

fn keys(list: &[&str]) -> Vec<String> {
    list.iter().map(|k| k.to_string()).collect()
}

/// Every key matching `pattern`, sorted, with a check that no key came twice.
async fn scan_all(p: &P, pattern: &str, count: u32) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = p
            .scan(pattern, cursor.as_deref(), count)
            .await
            .expect("scan");
        assert!(
            page.keys.len() <= count.max(1) as usize,
            "{}: a scan page held {} keys, more than the {count} asked for",
            name(p),
            page.keys.len()
        );
        seen.extend(page.keys);
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(
        unique.len(),
        seen.len(),
        "{}: scan returned a key twice",
        name(p)
    );
    seen.sort();
    seen
}

/// set then get returns the value; a missing key is `None`.
pub async fn get_set_roundtrip(p: P) {
    p.set("alpha", b"one", None).await.expect("set");
    assert_eq!(
        p.get("alpha").await.expect("get"),
        Some(b"one".to_vec()),
        "{}",
        name(&p)
    );
    assert_eq!(p.get("missing").await.expect("get"), None, "{}", name(&p));
}

/// A second set replaces the value; delete reports whether a key was removed.
pub async fn overwrite_and_delete(p: P) {
    p.set("k", b"v1", None).await.expect("set");
    p.set("k", b"v2", None).await.expect("set");
    assert_eq!(
        p.get("k").await.expect("get"),
        Some(b"v2".to_vec()),
        "{}",
        name(&p)
    );
    assert!(
        p.delete("k").await.expect("delete"),
        "{}: delete of a live key",
        name(&p)
    );
    assert!(
        !p.delete("k").await.expect("delete"),
        "{}: second delete",
        name(&p)
    );
    assert_eq!(p.get("k").await.expect("get"), None, "{}", name(&p));
}

/// exists follows set, delete and expiry.
pub async fn exists_tracks_liveness(p: P) {
    assert!(!p.exists("e").await.expect("exists"), "{}", name(&p));
    p.set("e", b"x", None).await.expect("set");
    assert!(p.exists("e").await.expect("exists"), "{}", name(&p));
    p.delete("e").await.expect("delete");
    assert!(!p.exists("e").await.expect("exists"), "{}", name(&p));
}

/// The empty value is stored and read back as empty, not as missing.
pub async fn empty_value_is_not_missing(p: P) {
    p.set("empty", b"", None).await.expect("set");
    assert_eq!(
        p.get("empty").await.expect("get"),
        Some(Vec::new()),
        "{}",
        name(&p)
    );
    assert!(p.exists("empty").await.expect("exists"), "{}", name(&p));
}

/// Values with every byte value come back unchanged.
pub async fn binary_values_every_byte(p: P) {
    let value: Vec<u8> = (0..=255u8).cycle().take(256 * 4).collect();
    p.set("bin", &value, None).await.expect("set");
    assert_eq!(
        p.get("bin").await.expect("get"),
        Some(value.clone()),
        "{}",
        name(&p)
    );
    let reversed: Vec<u8> = value.iter().rev().copied().collect();
    p.set_multi(&[Item::new("bin2", reversed.clone(), None)])
        .await
        .expect("set_multi");
    assert_eq!(
        p.get_multi(&keys(&["bin", "bin2"]))
            .await
            .expect("get_multi"),
        vec![Some(value), Some(reversed)],
        "{}",
        name(&p)
    );
}

/// A 1 MiB value round-trips.
pub async fn one_mib_value(p: P) {
    let value: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    p.set("big", &value, None).await.expect("set 1 MiB");
    assert_eq!(
        p.get("big").await.expect("get"),
        Some(value),
        "{}",
        name(&p)
    );
}

/// Keys in any script, emoji included, work for every operation.
pub async fn unicode_keys(p: P) {
    let ks = ["ключ", "鍵", "clé-🔑", "مفتاح", "a b c"];
    for (i, k) in ks.iter().enumerate() {
        p.set(k, &[i as u8], None).await.expect("set");
    }
    for (i, k) in ks.iter().enumerate() {
        assert_eq!(
            p.get(k).await.expect("get"),
            Some(vec![i as u8]),
            "{}: key {k}",
            name(&p)
        );
    }
    assert_eq!(
        scan_all(&p, "cl?-*", 10).await,
        vec!["clé-🔑".to_string()],
        "{}",
        name(&p)
    );
    assert_eq!(
        p.ttl("鍵").await.expect("ttl"),
        KeyTtl::Persistent,
        "{}",
        name(&p)
    );
}

/// A key of exactly 1024 bytes is valid.
pub async fn longest_key_is_accepted(p: P) {
    let key = "k".repeat(1024);
    p.set(&key, b"v", None)
        .await
        .expect("set with a 1024-byte key");
    assert_eq!(
        p.get(&key).await.expect("get"),
        Some(b"v".to_vec()),
        "{}",
        name(&p)
    );
}

fn assert_invalid_key<T: std::fmt::Debug>(p: &P, what: &str, r: byoc::Result<T>) {
    assert!(
        matches!(r, Err(Error::InvalidKey(_))),
        "{}: {what} should fail with InvalidKey, got {r:?}",
        name(p)
    );
}

/// Empty, too long and control-character keys fail with `InvalidKey` everywhere, and
/// nothing is stored.
pub async fn invalid_keys_are_typed_errors(p: P) {
    let too_long = "k".repeat(1025);
    for bad in [
        "",
        too_long.as_str(),
        "new\nline",
        "nul\0byte",
        "tab\tkey",
        "del\u{7f}",
    ] {
        assert_invalid_key(&p, "get", p.get(bad).await);
        assert_invalid_key(&p, "set", p.set(bad, b"v", None).await);
        assert_invalid_key(&p, "delete", p.delete(bad).await);
        assert_invalid_key(&p, "exists", p.exists(bad).await);
        assert_invalid_key(&p, "ttl", p.ttl(bad).await);
        assert_invalid_key(&p, "expire", p.expire(bad, None).await);
        assert_invalid_key(&p, "get_multi", p.get_multi(&keys(&["ok", bad])).await);
        assert_invalid_key(
            &p,
            "get_multi_bytes",
            p.get_multi_bytes(&keys(&["ok", bad])).await,
        );
        assert_invalid_key(
            &p,
            "delete_multi",
            p.delete_multi(&keys(&["ok", bad])).await,
        );
        assert_invalid_key(
            &p,
            "set_multi",
            p.set_multi(&[
                Item::new("ok", b"v".to_vec(), None),
                Item::new(bad, b"v".to_vec(), None),
            ])
            .await,
        );
    }
    assert_eq!(
        p.get("ok").await.expect("get"),
        None,
        "{}: a failed set_multi stored",
        name(&p)
    );
    assert!(
        scan_all(&p, "*", 100).await.is_empty(),
        "{}: something was stored",
        name(&p)
    );
}

/// A value over every provider's limit (64 MiB + 1) fails with `ValueTooLarge` and the
/// previous value stays.
pub async fn oversized_value_is_rejected_and_keeps_old(p: P) {
    p.set("big", b"old", None).await.expect("set");
    let huge = vec![7u8; (64 << 20) + 1];
    let r = p.set("big", &huge, None).await;
    assert!(
        matches!(r, Err(Error::ValueTooLarge(_))),
        "{}: got {r:?}",
        name(&p)
    );
    assert_eq!(
        p.get("big").await.expect("get"),
        Some(b"old".to_vec()),
        "{}",
        name(&p)
    );
    let r = p.set_multi(&[Item::new("big2", huge, None)]).await;
    assert!(
        matches!(r, Err(Error::ValueTooLarge(_))),
        "{}: set_multi got {r:?}",
        name(&p)
    );
}

/// A key set with a TTL is live before it passes and missing after.
pub async fn ttl_expiry_is_observed(p: P) {
    p.set("short", b"v", Some(Duration::from_millis(150)))
        .await
        .expect("set");
    p.set_multi(&[Item::new(
        "short2",
        b"v".to_vec(),
        Some(Duration::from_millis(150)),
    )])
    .await
    .expect("set_multi");
    p.set("long", b"v", Some(Duration::from_secs(60)))
        .await
        .expect("set");
    assert!(p.exists("short").await.expect("exists"), "{}", name(&p));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        p.get("short").await.expect("get"),
        None,
        "{}: expired key read",
        name(&p)
    );
    assert_eq!(
        p.get("short2").await.expect("get"),
        None,
        "{}: expired item read",
        name(&p)
    );
    assert!(!p.exists("short").await.expect("exists"), "{}", name(&p));
    assert_eq!(
        p.ttl("short").await.expect("ttl"),
        KeyTtl::Missing,
        "{}",
        name(&p)
    );
    assert_eq!(
        scan_all(&p, "*", 10).await,
        keys(&["long"]),
        "{}: scan",
        name(&p)
    );
    assert_eq!(
        p.get("long").await.expect("get"),
        Some(b"v".to_vec()),
        "{}",
        name(&p)
    );
}

/// ttl() reports the remaining lifetime, and it goes down.
pub async fn ttl_decreases(p: P) {
    p.set("t", b"v", Some(Duration::from_secs(10)))
        .await
        .expect("set");
    let KeyTtl::ExpiresIn(first) = p.ttl("t").await.expect("ttl") else {
        panic!("{}: a key with a TTL reported no expiry", name(&p));
    };
    assert!(
        first <= Duration::from_secs(10) && first > Duration::from_secs(9),
        "{first:?}"
    );
    tokio::time::sleep(Duration::from_millis(60)).await;
    let KeyTtl::ExpiresIn(second) = p.ttl("t").await.expect("ttl") else {
        panic!("{}: the key lost its TTL", name(&p));
    };
    assert!(
        second < first,
        "{}: ttl went from {first:?} to {second:?}",
        name(&p)
    );
    p.set("forever", b"v", None).await.expect("set");
    assert_eq!(
        p.ttl("forever").await.expect("ttl"),
        KeyTtl::Persistent,
        "{}",
        name(&p)
    );
    assert_eq!(
        p.ttl("nothing").await.expect("ttl"),
        KeyTtl::Missing,
        "{}",
        name(&p)
    );
    // A sub-millisecond TTL is rounded up, never to zero.
    p.set("tiny", b"v", Some(Duration::from_micros(1)))
        .await
        .expect("set 1 µs");
}

/// A zero TTL in set is an error, never "forever", and stores nothing.
pub async fn zero_ttl_is_rejected(p: P) {
    p.set("z", b"old", None).await.expect("set");
    let r = p.set("z", b"new", Some(Duration::ZERO)).await;
    assert!(
        matches!(r, Err(Error::InvalidArgument(_))),
        "{}: got {r:?}",
        name(&p)
    );
    let r = p
        .set_multi(&[Item::new("z2", b"v".to_vec(), Some(Duration::ZERO))])
        .await;
    assert!(
        matches!(r, Err(Error::InvalidArgument(_))),
        "{}: set_multi got {r:?}",
        name(&p)
    );
    assert_eq!(
        p.get("z").await.expect("get"),
        Some(b"old".to_vec()),
        "{}",
        name(&p)
    );
    assert_eq!(p.get("z2").await.expect("get"), None, "{}", name(&p));
}

/// expire sets, removes and zeroes lifetimes; on a missing key it reports false.
pub async fn expire_changes_lifetime(p: P) {
    p.set("x", b"v", None).await.expect("set");
    assert!(
        p.expire("x", Some(Duration::from_millis(150)))
            .await
            .expect("expire")
    );
    assert!(
        matches!(p.ttl("x").await.expect("ttl"), KeyTtl::ExpiresIn(_)),
        "{}",
        name(&p)
    );
    p.set("y", b"v", Some(Duration::from_millis(150)))
        .await
        .expect("set");
    assert!(p.expire("y", None).await.expect("persist"), "{}", name(&p));
    assert_eq!(
        p.ttl("y").await.expect("ttl"),
        KeyTtl::Persistent,
        "{}",
        name(&p)
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        p.get("x").await.expect("get"),
        None,
        "{}: expire did not expire",
        name(&p)
    );
    assert_eq!(
        p.get("y").await.expect("get"),
        Some(b"v".to_vec()),
        "{}",
        name(&p)
    );
    assert!(
        p.expire("y", Some(Duration::ZERO)).await.expect("expire 0"),
        "{}",
        name(&p)
    );
    assert_eq!(
        p.get("y").await.expect("get"),
        None,
        "{}: expire 0 kept the key",
        name(&p)
    );
    assert!(
        !p.expire("nope", Some(Duration::from_secs(1)))
            .await
            .expect("expire")
    );
    assert!(
        !p.expire("x", None).await.expect("expire expired"),
        "{}",
        name(&p)
    );
}

/// get_multi keeps order and reports misses; set_multi honours per-item TTLs;
/// delete_multi counts live keys.
pub async fn multi_ops_with_partial_hits(p: P) {
    p.set_multi(&[
        Item::new("m1", b"1".to_vec(), None),
        Item::new("m2", b"2".to_vec(), Some(Duration::from_millis(100))),
        Item::new("m3", b"3".to_vec(), Some(Duration::from_secs(60))),
    ])
    .await
    .expect("set_multi");
    let got = p
        .get_multi(&keys(&["m3", "nope", "m1", "m2", "m1"]))
        .await
        .expect("get_multi");
    assert_eq!(
        got,
        vec![
            Some(b"3".to_vec()),
            None,
            Some(b"1".to_vec()),
            Some(b"2".to_vec()),
            Some(b"1".to_vec())
        ],
        "{}",
        name(&p)
    );
    // The zero-copy variant answers the same.
    let shared = p
        .get_multi_bytes(&keys(&["m3", "nope", "m1", "m2", "m1"]))
        .await
        .expect("get_multi_bytes");
    let shared: Vec<Option<Vec<u8>>> = shared.into_iter().map(|v| v.map(Vec::from)).collect();
    assert_eq!(shared, got, "{}: get_multi_bytes", name(&p));
    assert!(p.get_multi(&[]).await.expect("empty get_multi").is_empty());
    assert!(p.get_multi_bytes(&[]).await.expect("empty").is_empty());
    assert_eq!(p.delete_multi(&[]).await.expect("empty delete_multi"), 0);
    tokio::time::sleep(Duration::from_millis(250)).await;
    let got = p
        .get_multi(&keys(&["m1", "m2", "m3"]))
        .await
        .expect("get_multi");
    assert_eq!(
        got,
        vec![Some(b"1".to_vec()), None, Some(b"3".to_vec())],
        "{}",
        name(&p)
    );
    let removed = p
        .delete_multi(&keys(&["m1", "m2", "nope", "m3"]))
        .await
        .expect("delete_multi");
    assert_eq!(
        removed,
        2,
        "{}: delete_multi counted expired or missing keys",
        name(&p)
    );
    assert_eq!(
        p.get_multi(&keys(&["m1", "m3"])).await.expect("get"),
        vec![None, None]
    );
}

/// set_multi with one bad TTL stores nothing.
pub async fn set_multi_validates_before_storing(p: P) {
    let r = p
        .set_multi(&[
            Item::new("s1", b"1".to_vec(), None),
            Item::new("s2", b"2".to_vec(), Some(Duration::ZERO)),
        ])
        .await;
    assert!(r.is_err(), "{}", name(&p));
    assert_eq!(
        p.get("s1").await.expect("get"),
        None,
        "{}: partial set_multi",
        name(&p)
    );
}

/// Redis glob semantics: `*`, `?`, classes, negation, ranges, escapes.
pub async fn glob_patterns(p: P) {
    for k in [
        "hello", "hallo", "hxllo", "hllo", "heeeello", "user:1", "user:22", "a*b", "a?b",
    ] {
        p.set(k, b"v", None).await.expect("set");
    }
    let check = |pattern: &'static str, want: &'static [&'static str]| {
        let p = p.clone();
        async move {
            let mut want: Vec<String> = keys(want);
            want.sort();
            assert_eq!(
                scan_all(&p, pattern, 3).await,
                want,
                "{}: pattern {pattern}",
                name(&p)
            );
        }
    };
    check("h?llo", &["hello", "hallo", "hxllo"]).await;
    check("h*llo", &["hello", "hallo", "hxllo", "hllo", "heeeello"]).await;
    check("h[ae]llo", &["hello", "hallo"]).await;
    check("h[^e]llo", &["hallo", "hxllo"]).await;
    check("h[a-b]llo", &["hallo"]).await;
    check("user:?", &["user:1"]).await;
    check("user:*", &["user:1", "user:22"]).await;
    check(r"a\*b", &["a*b"]).await;
    check(r"a\?b", &["a?b"]).await;
    check("nothing*", &[]).await;
    assert_eq!(
        p.keys("user:*").await.expect("keys").len(),
        2,
        "{}",
        name(&p)
    );
}

/// 10,000 keys come back exactly once through pages of 100, and a pattern narrows them.
pub async fn scan_pages_10k_keys_exactly_once(p: P) {
    let mut all: Vec<String> = (0..10_000).map(|i| format!("key:{i:05}")).collect();
    for chunk in all.chunks(1000) {
        let items: Vec<Item> = chunk
            .iter()
            .map(|k| Item::new(k.clone(), k.as_bytes().to_vec(), None))
            .collect();
        p.set_multi(&items).await.expect("set_multi");
    }
    all.sort();
    assert_eq!(scan_all(&p, "*", 100).await, all, "{}: full scan", name(&p));
    let narrow: Vec<String> = all.iter().filter(|k| k.ends_with('7')).cloned().collect();
    assert_eq!(
        scan_all(&p, "key:*7", 100).await,
        narrow,
        "{}: narrowed scan",
        name(&p)
    );
    assert_eq!(
        scan_all(&p, "key:0000?", 0).await.len(),
        10,
        "{}: count 0",
        name(&p)
    );
}

/// A cursor the provider did not issue, and a malformed pattern, are `InvalidArgument`.
pub async fn scan_rejects_bad_cursor_and_pattern(p: P) {
    p.set("a", b"v", None).await.expect("set");
    let r = p.scan("*", Some("not a cursor"), 10).await;
    assert!(
        matches!(r, Err(Error::InvalidArgument(_))),
        "{}: cursor got {r:?}",
        name(&p)
    );
    let r = p.scan("[abc", None, 10).await;
    assert!(
        matches!(r, Err(Error::InvalidArgument(_))),
        "{}: pattern got {r:?}",
        name(&p)
    );
}

/// clear removes every key, and the provider keeps working.
pub async fn clear_removes_everything(p: P) {
    for i in 0..50 {
        p.set(&format!("c{i}"), b"v", None).await.expect("set");
    }
    p.clear().await.expect("clear");
    assert!(
        scan_all(&p, "*", 100).await.is_empty(),
        "{}: keys left",
        name(&p)
    );
    assert_eq!(p.get("c1").await.expect("get"), None, "{}", name(&p));
    assert_eq!(p.stats().await.expect("stats").keys, 0, "{}", name(&p));
    p.set("after", b"v", None).await.expect("set after clear");
    assert_eq!(
        p.get("after").await.expect("get"),
        Some(b"v".to_vec()),
        "{}",
        name(&p)
    );
}

/// Hits, misses, keys and bytes are counted.
pub async fn stats_count_hits_and_misses(p: P) {
    let before = p.stats().await.expect("stats");
    p.set("s1", b"12345", None).await.expect("set");
    p.set("s2", b"12345", None).await.expect("set");
    p.get("s1").await.expect("get");
    p.get("s2").await.expect("get");
    p.get("s3").await.expect("get");
    let after = p.stats().await.expect("stats");
    assert_eq!(after.hits - before.hits, 2, "{}: hits", name(&p));
    assert_eq!(after.misses - before.misses, 1, "{}: misses", name(&p));
    assert_eq!(after.keys, 2, "{}: keys", name(&p));
    assert!(after.bytes >= 10, "{}: bytes {}", name(&p), after.bytes);
}

/// ping answers and info names the provider and the contract.
pub async fn ping_and_info(p: P) {
    p.ping().await.expect("ping");
    let info = p.info();
    assert!(!info.name.is_empty() && !info.version.is_empty());
    assert_eq!(info.contract, byoc_common_contract(), "{}", info.name);
    assert!(
        info.native.contains(&byoc::Capability::Get),
        "{}",
        info.name
    );
}

fn byoc_common_contract() -> &'static str {
    "0.1.0"
}

/// A typed cache's tags on this provider: after `invalidate_tag`, every entry tagged with
/// it reads as a miss (through `get`, `get_many` and `get_or_load`); other entries stay.
pub async fn tagged_entries_miss_after_invalidation(p: P) {
    let cache = byoc::Contract::<String>::new("tags", Arc::clone(&p))
        .key_prefix("t:")
        .cache();
    let who = name(&p);
    for i in 0..20 {
        let tags: &[&str] = if i % 2 == 0 {
            &["even", "all"]
        } else {
            &["all"]
        };
        cache
            .set_with_tags(&format!("k{i}"), &format!("v{i}"), tags, None)
            .await
            .expect("set_with_tags");
    }
    cache
        .set("plain", &"p".to_owned(), None)
        .await
        .expect("set");
    assert_eq!(
        cache.get("k0").await.expect("get"),
        Some("v0".into()),
        "{who}"
    );
    cache.invalidate_tag("even").await.expect("invalidate");
    let keys: Vec<String> = (0..20).map(|i| format!("k{i}")).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let values = cache.get_many(&refs).await.expect("get_many");
    for (i, v) in values.iter().enumerate() {
        let want = (i % 2 == 1).then(|| format!("v{i}"));
        assert_eq!(*v, want, "{who}: k{i} after invalidating `even`");
        assert_eq!(
            cache.get(&keys[i]).await.expect("get"),
            want,
            "{who}: get k{i}"
        );
    }
    // A tag's invalidation covers entries written before it, not after (a write in the
    // same millisecond counts as before).
    tokio::time::sleep(Duration::from_millis(2)).await;
    cache
        .set_with_tags("k0", &"new".to_owned(), &["even", "all"], None)
        .await
        .expect("set_with_tags");
    tokio::time::sleep(Duration::from_millis(2)).await;
    assert_eq!(
        cache.get("k0").await.expect("get"),
        Some("new".into()),
        "{who}"
    );
    cache.invalidate_tag("all").await.expect("invalidate");
    for k in &refs {
        assert_eq!(
            cache.get(k).await.expect("get"),
            None,
            "{who}: {k} after `all`"
        );
    }
    let reloaded = cache
        .get_or_load("k1", || async {
            Ok::<_, byoc::Error>(byoc::Loaded::found("re".to_owned()))
        })
        .await
        .expect("get_or_load");
    assert_eq!(
        reloaded.map(|e| e.value),
        Some("re".into()),
        "{who}: reload"
    );
    assert_eq!(
        cache.get("plain").await.expect("get"),
        Some("p".into()),
        "{who}: untagged"
    );
}
