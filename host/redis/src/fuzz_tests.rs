//! Property tests of the `redis` import's argument handling: random sequences of calls
//! with arbitrary keys, patterns, cursors, counts, TTLs and increments, run on a private
//! `redis-server` (skipped without one, unless `BYOC_REQUIRE_SERVICES=1`).
//!
//! Each call must answer (never panic), with the typed error the contract names for bad
//! input (`invalid-key`, `invalid-argument`) and never `internal`, `unavailable` or
//! `denied`. Scans answer only valid keys of the namespace that match the pattern. After
//! each sequence, keys outside the namespace (a sentinel namespace that shares its
//! prefix, and un-namespaced keys) are unchanged and every other key lies inside it.
//! `BYOC_FUZZ_CASES` sets the number of sequences (default 256).

use super::RedisSlot;
use super::bindings::byoc::cache::redis::Host;
use super::ops::server_tests::{server, slot};
use byoc_common::{glob_match, validate_key, validate_pattern};
use byoc_wasm::bindings::byoc::cache::types::{Error as WitError, Item};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// The namespace under test: glob and hash-tag characters, so escaping matters.
const NAMESPACE: &str = "fz*[?]\\{t}:";
/// Keys outside the namespace, set before the run and checked after each sequence.
/// `fz` and `fzA:` share the namespace's first bytes; a glob-unescaped namespace
/// (`fz*...`) would match them.
const SENTINELS: [&str; 5] = ["fz", "fzA:secret", "fz*[?]\\{t}", "other:key", "*"];

fn cases() -> u32 {
    std::env::var("BYOC_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// Keys and patterns: a pool of awkward valid and invalid ones, strings over an alphabet
/// of glob, escape, hash-tag and control characters, and arbitrary strings.
fn text() -> impl Strategy<Value = String> {
    let pool = prop::sample::select(vec![
        String::new(),
        "a".into(),
        "*".into(),
        "?".into(),
        "[".into(),
        "[a-".into(),
        "[]".into(),
        "\\".into(),
        "a\\".into(),
        "{t}".into(),
        "../other:key".into(),
        "fzA:secret".into(),
        "\u{0}".into(),
        "a\nb".into(),
        "\u{7f}".into(),
        "ключ".into(),
        "k".repeat(1024),
        "k".repeat(1025),
        format!("{}é", "k".repeat(1022)),
    ]);
    let alphabet = prop::sample::select(vec![
        'a', 'b', ':', '*', '?', '[', ']', '^', '!', '-', '\\', '{', '}', 'é', '\u{1}', ' ',
    ]);
    prop_oneof![
        3 => pool,
        4 => prop::collection::vec(alphabet, 0..12).prop_map(|c| c.into_iter().collect()),
        1 => any::<String>(),
    ]
}

/// TTLs: absent, zero, ordinary, and around the largest Redis accepts.
fn ttl() -> impl Strategy<Value = Option<u64>> {
    prop_oneof![
        2 => Just(None),
        1 => Just(Some(0)),
        2 => (1u64..10_000_000).prop_map(Some),
        1 => prop::sample::select(vec![
            super::ops::MAX_TTL_MS,
            super::ops::MAX_TTL_MS + 1,
            i64::MAX as u64,
            u64::MAX,
        ])
        .prop_map(Some),
        1 => any::<u64>().prop_map(Some),
    ]
}

/// Cursors: absent, arbitrary text, and well-formed ones with arbitrary numbers.
fn cursor() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        3 => Just(None),
        1 => text().prop_map(Some),
        2 => (0u32..20_000, any::<u64>()).prop_map(|(s, c)| Some(format!("{s}:{c}"))),
        1 => any::<u64>().prop_map(|c| Some(format!("0:{}", c % 64))),
    ]
}

#[derive(Debug, Clone)]
enum Call {
    Get(String),
    Set(String, Vec<u8>, Option<u64>),
    Del(Vec<String>),
    Exists(String),
    Mget(Vec<String>),
    Mset(Vec<(String, Option<u64>)>),
    Scan(String, Option<String>, u32),
    Pttl(String),
    Pexpire(String, Option<u64>),
    Incr(String, i64),
    Publish(String),
    UnlinkNamespace,
}

fn call() -> impl Strategy<Value = Call> {
    let keys = || prop::collection::vec(text(), 0..4);
    prop_oneof![
        3 => text().prop_map(Call::Get),
        4 => (text(), prop::collection::vec(any::<u8>(), 0..8), ttl())
            .prop_map(|(k, v, t)| Call::Set(k, v, t)),
        1 => keys().prop_map(Call::Del),
        1 => text().prop_map(Call::Exists),
        1 => keys().prop_map(Call::Mget),
        2 => prop::collection::vec((text(), ttl()), 0..4).prop_map(Call::Mset),
        4 => (text(), cursor(), any::<u32>()).prop_map(|(p, c, n)| Call::Scan(p, c, n)),
        1 => text().prop_map(Call::Pttl),
        2 => (text(), ttl()).prop_map(|(k, t)| Call::Pexpire(k, t)),
        2 => (text(), any::<i64>()).prop_map(|(k, by)| Call::Incr(k, by)),
        1 => text().prop_map(Call::Publish),
        1 => Just(Call::UnlinkNamespace),
    ]
}

fn key_ok(key: &str) -> bool {
    validate_key(key).is_ok()
}

/// Zero is the only TTL `set` refuses; longer ones than Redis takes are clamped.
fn ttl_ok(ttl: Option<u64>) -> bool {
    ttl != Some(0)
}

/// What a call must answer given its arguments: `Ok(())` when every argument is valid
/// (the call must succeed or fail only on the data: a non-integer for `incr`, an
/// overflow), else the error kind named for the first bad argument.
#[derive(Debug, PartialEq)]
enum Want {
    Ok,
    InvalidKey,
    InvalidArgument,
}

fn want(call: &Call) -> Want {
    let key = |k: &str| {
        if key_ok(k) {
            Want::Ok
        } else {
            Want::InvalidKey
        }
    };
    let keys = |ks: &[String]| {
        if ks.iter().all(|k| key_ok(k)) {
            Want::Ok
        } else {
            Want::InvalidKey
        }
    };
    match call {
        Call::Get(k)
        | Call::Exists(k)
        | Call::Pttl(k)
        | Call::Pexpire(k, _)
        | Call::Incr(k, _)
        | Call::Publish(k) => key(k),
        Call::Set(k, _, t) => match key(k) {
            Want::Ok if !ttl_ok(*t) => Want::InvalidArgument,
            w => w,
        },
        Call::Del(ks) | Call::Mget(ks) => keys(ks),
        Call::Mset(items) => items
            .iter()
            .find_map(|(k, t)| {
                if !key_ok(k) {
                    Some(Want::InvalidKey)
                } else if !ttl_ok(*t) {
                    Some(Want::InvalidArgument)
                } else {
                    None
                }
            })
            .unwrap_or(Want::Ok),
        Call::Scan(p, c, _) => {
            let cursor_ok = c.as_deref().is_none_or(|c| {
                c.split_once(':').is_some_and(|(s, n)| {
                    s.parse::<u16>().is_ok_and(|s| s < 16384) && n.parse::<u64>().is_ok()
                })
            });
            if validate_pattern(p).is_ok() && cursor_ok {
                Want::Ok
            } else {
                Want::InvalidArgument
            }
        }
        Call::UnlinkNamespace => Want::Ok,
    }
}

/// Runs `call` on `s`; the error (if any) and, for a scan, the keys answered.
async fn run(s: &mut RedisSlot, call: &Call) -> (Result<(), WitError>, Vec<String>) {
    fn unit<T>(r: Result<T, WitError>) -> Result<(), WitError> {
        r.map(drop)
    }
    match call.clone() {
        Call::Get(k) => (unit(s.get(k).await), Vec::new()),
        Call::Set(k, v, t) => (s.set(k, v, t).await, Vec::new()),
        Call::Del(ks) => (unit(s.del(ks).await), Vec::new()),
        Call::Exists(k) => (unit(s.exists(k).await), Vec::new()),
        Call::Mget(ks) => {
            let n = ks.len();
            match s.mget(ks).await {
                Ok(values) if values.len() != n => (
                    Err(WitError::Internal(format!(
                        "{} values for {n} keys",
                        values.len()
                    ))),
                    Vec::new(),
                ),
                r => (unit(r), Vec::new()),
            }
        }
        Call::Mset(items) => {
            let items = items
                .into_iter()
                .map(|(key, ttl)| Item {
                    key,
                    value: b"v".to_vec(),
                    ttl,
                })
                .collect();
            (s.mset(items).await, Vec::new())
        }
        Call::Scan(p, c, n) => match s.scan(p, c, n).await {
            Ok(batch) => (Ok(()), batch.keys),
            Err(e) => (Err(e), Vec::new()),
        },
        Call::Pttl(k) => (unit(s.pttl(k).await), Vec::new()),
        Call::Pexpire(k, t) => (unit(s.pexpire(k, t).await), Vec::new()),
        Call::Incr(k, by) => (unit(s.incr(k, by).await), Vec::new()),
        Call::Publish(k) => (unit(s.publish(k, b"m".to_vec()).await), Vec::new()),
        Call::UnlinkNamespace => (unit(s.unlink_namespace().await), Vec::new()),
    }
}

/// Checks one call's answer against [`want`].
fn check(call: &Call, result: &Result<(), WitError>, scanned: &[String]) -> Result<(), String> {
    let want = want(call);
    match (result, want) {
        (Ok(()), Want::Ok) => {}
        // Data errors of well-formed calls: INCRBY on a non-integer or past i64.
        (Err(WitError::InvalidArgument(m)), Want::Ok) if matches!(call, Call::Incr(..)) => {
            if !(m.contains("not an integer") || m.contains("overflow")) {
                return Err(format!("unexpected incr error {m}"));
            }
        }
        (Err(WitError::InvalidKey(_)), Want::InvalidKey) => {}
        (Err(WitError::InvalidArgument(_)), Want::InvalidArgument) => {}
        (r, w) => return Err(format!("wanted {w:?}, got {r:?}")),
    }
    if let Call::Scan(pattern, ..) = call
        && let Some(bad) = scanned
            .iter()
            .find(|k| !key_ok(k) || !glob_match(pattern, k))
    {
        return Err(format!("scan answered {bad:?}"));
    }
    Ok(())
}

/// Every key on the server: the sentinels unchanged, and every other key namespaced.
async fn check_confined(client: &mut redis::aio::MultiplexedConnection) -> Result<(), String> {
    let keys: Vec<Vec<u8>> = redis::cmd("KEYS")
        .arg("*")
        .query_async(client)
        .await
        .map_err(|e| e.to_string())?;
    for key in keys {
        let sentinel = SENTINELS.iter().any(|s| s.as_bytes() == key.as_slice());
        if !sentinel && !key.starts_with(NAMESPACE.as_bytes()) {
            return Err(format!(
                "key {:?} outside the namespace",
                String::from_utf8_lossy(&key)
            ));
        }
    }
    for s in SENTINELS {
        let value: Option<Vec<u8>> = redis::cmd("GET")
            .arg(s)
            .query_async(client)
            .await
            .map_err(|e| e.to_string())?;
        if value.as_deref() != Some(b"sentinel".as_slice()) {
            return Err(format!("sentinel {s:?} changed: {value:?}"));
        }
    }
    Ok(())
}

#[test]
fn arbitrary_arguments_are_typed_errors_and_stay_in_the_namespace() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let Some(server) = server() else { return };
    let url = format!("redis://127.0.0.1:{}", server.1);
    let client = rt.block_on(async {
        let mut client = redis::Client::open(url.as_str())
            .expect("url")
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        for s in SENTINELS {
            let _: () = redis::cmd("SET")
                .arg(s)
                .arg("sentinel")
                .query_async(&mut client)
                .await
                .expect("sentinel");
        }
        client
    });
    // One slot (one shared connection) for the whole run, as a provider's stores share one.
    let shared = slot(server.1, NAMESPACE);
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&prop::collection::vec(call(), 1..24), |calls| {
        rt.block_on(async {
            let mut s = shared.share();
            let mut client = client.clone();
            for (step, call) in calls.iter().enumerate() {
                let (result, scanned) = run(&mut s, call).await;
                check(call, &result, &scanned)
                    .map_err(|e| TestCaseError::fail(format!("step {step} {call:?}: {e}")))?;
            }
            check_confined(&mut client)
                .await
                .map_err(TestCaseError::fail)
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[tokio::test]
async fn ttls_beyond_what_redis_takes_are_clamped() {
    use byoc_wasm::bindings::byoc::cache::types::KeyTtl;
    let Some(server) = server() else { return };
    let mut s = slot(server.1, "clamp:");
    for ttl in [super::ops::MAX_TTL_MS + 1, i64::MAX as u64, u64::MAX] {
        s.set("k".into(), b"v".to_vec(), Some(ttl))
            .await
            .unwrap_or_else(|e| panic!("set with {ttl}: {e:?}"));
        let left = s.pttl("k".into()).await.expect("pttl");
        assert!(
            matches!(left, KeyTtl::ExpiresIn(ms) if ms > super::ops::MAX_TTL_MS - 60_000),
            "{ttl}: {left:?}"
        );
        assert_eq!(s.pexpire("k".into(), Some(ttl)).await.ok(), Some(true));
        let items = vec![Item {
            key: "m".into(),
            value: b"v".to_vec(),
            ttl: Some(ttl),
        }];
        s.mset(items).await.expect("mset");
        assert!(matches!(s.pttl("m".into()).await, Ok(KeyTtl::ExpiresIn(_))));
    }
}
