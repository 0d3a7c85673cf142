//! The provider conformance suite: each function checks one part of the
//! [`Provider`] contract on a fresh, empty provider, and panics with a message naming the
//! provider when it fails.
//!
//! Capability-aware: a provider that declares it cannot do something (atomics not in its
//! native operations; `scan` not native and answering `unsupported`, as memcached does)
//! has those checks replaced by a check that it answers `unsupported`, with a line on
//! stderr and a count ([`atomics_skipped`], [`scan_skipped`]); never silently.

use byoc::{Error, Item, KeyTtl, Provider};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// How many cases (or parts of cases) were skipped because the provider declares it
/// cannot scan; see [`scan_skipped`].
static SCAN_SKIPPED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How many scan checks this process skipped for lack of the capability.
pub fn scan_skipped() -> usize {
    SCAN_SKIPPED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Whether `p` can scan (and so list, count and clear its keys). A provider declares it
/// cannot by leaving `scan` out of its native operations and answering `unsupported`;
/// then `keys` and `clear` must answer `unsupported` too. Says so on stderr and counts
/// the skip of `what`.
async fn declares_scan(p: &P, what: &str) -> bool {
    if p.info().native.contains(&byoc::Capability::Scan) {
        return true;
    }
    match p.scan("*", None, 10).await {
        Err(Error::Unsupported(_)) => {}
        Err(e) => panic!("{}: scan failed: {e}", name(p)),
        Ok(_) => return true,
    }
    assert!(
        matches!(p.keys("*").await, Err(Error::Unsupported(_))),
        "{}: keys without scan must be unsupported",
        name(p)
    );
    assert!(
        matches!(p.clear().await, Err(Error::Unsupported(_))),
        "{}: clear without scan must be unsupported",
        name(p)
    );
    SCAN_SKIPPED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "skipped {what}: {} declares it cannot scan (scan, keys and clear answer unsupported)",
        name(p)
    );
    false
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
    if declares_scan(&p, "unicode_keys: scan").await {
        assert_eq!(
            scan_all(&p, "cl?-*", 10).await,
            vec!["clé-🔑".to_string()],
            "{}",
            name(&p)
        );
    }
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
    if declares_scan(&p, "invalid_keys_are_typed_errors: scan").await {
        assert!(
            scan_all(&p, "*", 100).await.is_empty(),
            "{}: something was stored",
            name(&p)
        );
    }
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
    if declares_scan(&p, "ttl_expiry_is_observed: scan").await {
        assert_eq!(
            scan_all(&p, "*", 10).await,
            keys(&["long"]),
            "{}: scan",
            name(&p)
        );
    }
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

/// expire sets, removes and zeroes lifetimes; on a missing key it reports false. (Half a
/// second of TTL: a store under the rest of the suite's load, moto for one, can take
/// longer than 150 ms to answer the `ttl` that follows.)
pub async fn expire_changes_lifetime(p: P) {
    p.set("x", b"v", None).await.expect("set");
    assert!(
        p.expire("x", Some(Duration::from_millis(500)))
            .await
            .expect("expire")
    );
    assert!(
        matches!(p.ttl("x").await.expect("ttl"), KeyTtl::ExpiresIn(_)),
        "{}",
        name(&p)
    );
    p.set("y", b"v", Some(Duration::from_millis(500)))
        .await
        .expect("set");
    assert!(p.expire("y", None).await.expect("persist"), "{}", name(&p));
    assert_eq!(
        p.ttl("y").await.expect("ttl"),
        KeyTtl::Persistent,
        "{}",
        name(&p)
    );
    tokio::time::sleep(Duration::from_millis(650)).await;
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
    let m2_ttl = Duration::from_millis(100);
    let written = Instant::now();
    p.set_multi(&[
        Item::new("m1", b"1".to_vec(), None),
        Item::new("m2", b"2".to_vec(), Some(m2_ttl)),
        Item::new("m3", b"3".to_vec(), Some(Duration::from_secs(60))),
    ])
    .await
    .expect("set_multi");
    let ks = keys(&["m3", "nope", "m1", "m2", "m1"]);
    // `m2` must be live in an answer that came within its TTL; on a machine so loaded that
    // the TTL passed before the answer, either answer is right for it.
    let check = |got: &[Option<Vec<u8>>], within: bool, what: &str| {
        let mut want = vec![
            Some(b"3".to_vec()),
            None,
            Some(b"1".to_vec()),
            Some(b"2".to_vec()),
            Some(b"1".to_vec()),
        ];
        if !within && got.get(3) == Some(&None) {
            want[3] = None;
        }
        assert_eq!(got, want, "{}: {what}", name(&p));
    };
    let got = p.get_multi(&ks).await.expect("get_multi");
    check(&got, written.elapsed() < m2_ttl, "get_multi");
    // The zero-copy variant answers the same.
    let shared = p.get_multi_bytes(&ks).await.expect("get_multi_bytes");
    let shared: Vec<Option<Vec<u8>>> = shared.into_iter().map(|v| v.map(Vec::from)).collect();
    check(&shared, written.elapsed() < m2_ttl, "get_multi_bytes");
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
    if !declares_scan(&p, "glob_patterns").await {
        return;
    }
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
    if !declares_scan(&p, "scan_pages_10k_keys_exactly_once").await {
        return;
    }
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
    if !declares_scan(&p, "scan_rejects_bad_cursor_and_pattern").await {
        return;
    }
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
    if !declares_scan(&p, "clear_removes_everything").await {
        return;
    }
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
    // Key and byte counts need a provider that can list its keys.
    if declares_scan(&p, "stats_count_hits_and_misses: keys and bytes").await {
        assert_eq!(after.keys, 2, "{}: keys", name(&p));
        assert!(after.bytes >= 10, "{}: bytes {}", name(&p), after.bytes);
    }
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

/// How many atomics cases were skipped because the provider does not declare
/// [`Capability::Atomics`](byoc::Capability::Atomics) (they still check that it answers
/// `unsupported`); see [`atomics_skipped`].
static ATOMICS_SKIPPED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How many atomics cases this process skipped for lack of the capability.
pub fn atomics_skipped() -> usize {
    ATOMICS_SKIPPED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Whether `p` declares atomics. When it does not, checks that both operations answer
/// `unsupported` (and change nothing), says so on stderr, and counts the skip.
async fn declares_atomics(p: &P, case: &str) -> bool {
    if p.info().native.contains(&byoc::Capability::Atomics) {
        return true;
    }
    assert!(
        matches!(
            p.increment("atomics-k", 1, None).await,
            Err(Error::Unsupported(_))
        ),
        "{}: increment without the atomics capability must be unsupported",
        name(p)
    );
    assert!(
        matches!(
            p.compare_and_swap("atomics-k", None, b"v", None).await,
            Err(Error::Unsupported(_))
        ),
        "{}: compare-and-swap without the atomics capability must be unsupported",
        name(p)
    );
    assert_eq!(p.get("atomics-k").await.expect("get"), None, "{}", name(p));
    ATOMICS_SKIPPED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "skipped {case}: {} does not declare the atomics capability (it answers unsupported)",
        name(p)
    );
    false
}

/// `increment`: a missing key starts at 0 and gets the TTL, an existing one keeps its
/// TTL, values are decimal text, a non-integer or an overflow is `invalid-argument` and
/// changes nothing.
pub async fn atomics_increment(p: P) {
    if !declares_atomics(&p, "atomics_increment").await {
        return;
    }
    let n = name(&p);
    assert_eq!(
        p.increment("c", 5, None).await.expect("increment"),
        5,
        "{n}"
    );
    assert_eq!(
        p.increment("c", -7, None).await.expect("increment"),
        -2,
        "{n}"
    );
    assert_eq!(p.get("c").await.expect("get"), Some(b"-2".to_vec()), "{n}");
    assert_eq!(p.ttl("c").await.expect("ttl"), KeyTtl::Persistent, "{n}");
    // A TTL applies to a key the call creates, not to an existing one.
    assert_eq!(
        p.increment("c", 1, Some(Duration::from_secs(60)))
            .await
            .expect("increment"),
        -1,
        "{n}"
    );
    assert_eq!(p.ttl("c").await.expect("ttl"), KeyTtl::Persistent, "{n}");
    let long = Duration::from_secs(600);
    assert_eq!(p.increment("t", 3, Some(long)).await.expect("increment"), 3);
    match p.ttl("t").await.expect("ttl") {
        KeyTtl::ExpiresIn(d) => assert!(d <= long && d > long / 2, "{n}: ttl {d:?}"),
        other => panic!("{n}: a created counter's ttl is {other:?}"),
    }
    // An expired counter starts again from 0.
    p.increment("e", 10, Some(Duration::from_millis(50)))
        .await
        .expect("increment");
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(
        p.increment("e", 1, None).await.expect("increment"),
        1,
        "{n}"
    );
    // Set values count when they are integers in Redis' notation.
    p.set("s", b"41", None).await.expect("set");
    assert_eq!(
        p.increment("s", 1, None).await.expect("increment"),
        42,
        "{n}"
    );
    for bad in [&b"x"[..], b"", b"1.5", b" 1", b"01"] {
        p.set("bad", bad, None).await.expect("set");
        assert!(
            matches!(
                p.increment("bad", 1, None).await,
                Err(Error::InvalidArgument(_))
            ),
            "{n}: increment of {bad:?}"
        );
        assert_eq!(p.get("bad").await.expect("get"), Some(bad.to_vec()), "{n}");
    }
    p.set("max", i64::MAX.to_string().as_bytes(), None)
        .await
        .expect("set");
    assert!(
        matches!(
            p.increment("max", 1, None).await,
            Err(Error::InvalidArgument(_))
        ),
        "{n}: overflow"
    );
    assert_eq!(
        p.get("max").await.expect("get"),
        Some(i64::MAX.to_string().into_bytes()),
        "{n}"
    );
    assert!(matches!(
        p.increment("c", 1, Some(Duration::ZERO)).await,
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        p.increment("", 1, None).await,
        Err(Error::InvalidKey(_))
    ));
}

/// `compare-and-swap`: stores only over the expected value (`None`: a missing or expired
/// key), with the TTL given, and answers whether it stored.
pub async fn atomics_compare_and_swap(p: P) {
    if !declares_atomics(&p, "atomics_compare_and_swap").await {
        return;
    }
    let n = name(&p);
    let cas = |expected: Option<&'static [u8]>, new: &'static [u8]| {
        let p = p.clone();
        async move {
            p.compare_and_swap("k", expected, new, None)
                .await
                .expect("compare-and-swap")
        }
    };
    assert!(cas(None, b"one").await, "{n}: create over a missing key");
    assert!(!cas(None, b"two").await, "{n}: create over an existing key");
    assert!(
        !cas(Some(b"two"), b"three").await,
        "{n}: wrong expected value"
    );
    assert_eq!(p.get("k").await.expect("get"), Some(b"one".to_vec()), "{n}");
    assert!(cas(Some(b"one"), b"").await, "{n}: swap to the empty value");
    assert!(
        !cas(None, b"x").await,
        "{n}: the empty value is not missing"
    );
    assert!(
        cas(Some(b""), b"four").await,
        "{n}: swap from the empty value"
    );
    assert_eq!(
        p.get("k").await.expect("get"),
        Some(b"four".to_vec()),
        "{n}"
    );
    // The TTL is the swap's; an expired key is missing.
    assert!(
        p.compare_and_swap("k", Some(b"four"), b"five", Some(Duration::from_millis(50)))
            .await
            .expect("compare-and-swap"),
        "{n}"
    );
    assert!(matches!(
        p.ttl("k").await.expect("ttl"),
        KeyTtl::ExpiresIn(_)
    ));
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert!(
        !cas(Some(b"five"), b"six").await,
        "{n}: an expired value is not current"
    );
    assert!(cas(None, b"seven").await, "{n}: an expired key is missing");
    assert!(matches!(
        p.compare_and_swap("k", None, b"v", Some(Duration::ZERO))
            .await,
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        p.compare_and_swap("", None, b"v", None).await,
        Err(Error::InvalidKey(_))
    ));
}

/// A small concurrent run for every provider that declares atomics: 8 tasks x 50
/// increments give exactly 400, and each of 10 compare-and-swap rounds has exactly one
/// winner among 8 tasks.
pub async fn atomics_concurrent(p: P) {
    if !declares_atomics(&p, "atomics_concurrent").await {
        return;
    }
    concurrent_increments(&p, 8, 50).await;
    one_winner_per_round(&p, 8, 10).await;
}

/// `tasks` tasks each increment one counter `per_task` times (by 1, and a few by -1 then
/// +1 again): the counter ends at exactly `tasks * per_task`, and every returned value is
/// distinct (no two increments saw the same state).
pub async fn concurrent_increments(p: &P, tasks: usize, per_task: usize) {
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let p = p.clone();
        handles.push(tokio::spawn(async move {
            let mut seen = Vec::with_capacity(per_task);
            for _ in 0..per_task {
                seen.push(p.increment("counter", 1, None).await.expect("increment"));
            }
            seen
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.expect("task"));
    }
    let total = (tasks * per_task) as i64;
    all.sort_unstable();
    all.dedup();
    assert_eq!(
        all.len() as i64,
        total,
        "{}: two increments returned the same value",
        name(p)
    );
    assert_eq!(all.last().copied(), Some(total), "{}", name(p));
    assert_eq!(
        p.get("counter").await.expect("get"),
        Some(total.to_string().into_bytes()),
        "{}",
        name(p)
    );
}

/// In each of `rounds` rounds, `tasks` tasks race to swap the round's value for their
/// own: exactly one wins, and the value is the winner's.
pub async fn one_winner_per_round(p: &P, tasks: usize, rounds: usize) {
    p.set("race", b"round-0", None).await.expect("set");
    for round in 0..rounds {
        let expected = format!("round-{round}").into_bytes();
        let barrier = Arc::new(tokio::sync::Barrier::new(tasks));
        let mut handles = Vec::new();
        for task in 0..tasks {
            let (p, expected, barrier) = (p.clone(), expected.clone(), barrier.clone());
            handles.push(tokio::spawn(async move {
                let mine = format!("round-{}-task-{task}", round + 1).into_bytes();
                barrier.wait().await;
                let won = p
                    .compare_and_swap("race", Some(&expected), &mine, None)
                    .await
                    .expect("compare-and-swap");
                (won, mine)
            }));
        }
        let mut winners = Vec::new();
        for h in handles {
            let (won, mine) = h.await.expect("task");
            if won {
                winners.push(mine);
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "{}: round {round} had {} winners",
            name(p),
            winners.len()
        );
        assert_eq!(
            p.get("race").await.expect("get").as_ref(),
            Some(&winners[0]),
            "{}",
            name(p)
        );
        // The next round expects the name the harness gives it.
        p.set("race", format!("round-{}", round + 1).as_bytes(), None)
            .await
            .expect("set");
    }
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
