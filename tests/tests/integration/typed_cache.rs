//! `Contract<T>` / `Cache<T>`: typing, prefixes, default TTL, serializers, swapping.

use byoc::{Contract, Json, KeyTtl, NativeMemoryProvider, Provider, Registry};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Session {
    token: String,
    user: u64,
    scopes: Vec<String>,
}

fn ada() -> User {
    User {
        id: 1,
        name: "Ada".into(),
    }
}

async fn wasm_memory() -> Arc<dyn Provider> {
    Registry::new()
        .expect("runtime")
        .create("memory", Default::default())
        .await
        .expect("memory")
}

#[tokio::test]
async fn typed_roundtrip_on_the_wasm_adapter() {
    let users = Contract::<User>::new("users", wasm_memory().await).cache();
    users.set("1", &ada(), None).await.expect("set");
    assert_eq!(users.get("1").await.expect("get"), Some(ada()));
    assert_eq!(users.get("2").await.expect("get"), None);
    users
        .set_many(
            &[
                (
                    "2",
                    &User {
                        id: 2,
                        name: "Bo".into(),
                    },
                ),
                ("3", &ada()),
            ],
            None,
        )
        .await
        .expect("set_many");
    let got = users.get_many(&["3", "nope", "2"]).await.expect("get_many");
    assert_eq!(
        got,
        vec![
            Some(ada()),
            None,
            Some(User {
                id: 2,
                name: "Bo".into()
            })
        ]
    );
}

#[tokio::test]
async fn corrupt_or_foreign_values_read_as_misses() {
    let provider = wasm_memory().await;
    let users = Contract::<User>::new("users", provider.clone()).cache();
    users
        .set_raw("junk", &[0xff; 3], None)
        .await
        .expect("set_raw");
    assert_eq!(
        users
            .get("junk")
            .await
            .expect("a corrupt value is not an error"),
        None
    );
    // A value written as another type by another contract on the same provider.
    let sessions = Contract::<Session>::new("sessions", provider)
        .serializer(Json)
        .cache();
    let s = Session {
        token: "t".into(),
        user: 1,
        scopes: vec!["a".into()],
    };
    sessions.set("s", &s, None).await.expect("set");
    assert_eq!(users.get("s").await.expect("get"), None);
    assert!(
        users.exists("junk").await.expect("exists"),
        "the raw value is still stored"
    );
    let stats = users.stats().await.expect("stats");
    assert_eq!(stats.extra(byoc::DECODE_FAILURES), Some(2));
    assert_eq!(sessions.get("s").await.expect("get"), Some(s));
}

#[tokio::test]
async fn default_ttl_applies_and_explicit_ttl_wins() {
    let users = Contract::<User>::new("users", wasm_memory().await)
        .default_ttl(Duration::from_millis(150))
        .cache();
    users.set("default", &ada(), None).await.expect("set");
    users
        .set("explicit", &ada(), Some(Duration::from_secs(60)))
        .await
        .expect("set");
    let KeyTtl::ExpiresIn(d) = users.ttl("default").await.expect("ttl") else {
        panic!("no default TTL applied");
    };
    assert!(d <= Duration::from_millis(150));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(users.get("default").await.expect("get"), None);
    assert_eq!(users.get("explicit").await.expect("get"), Some(ada()));
}

#[tokio::test]
async fn prefixes_isolate_contracts_on_one_provider() {
    let provider = wasm_memory().await;
    let a = Contract::<User>::new("a", provider.clone())
        .key_prefix("a:")
        .cache();
    // A prefix with glob metacharacters matches only itself.
    let b = Contract::<User>::new("b", provider.clone())
        .key_prefix("b*[x]:")
        .cache();
    a.set("1", &ada(), None).await.expect("set");
    a.set("2", &ada(), None).await.expect("set");
    b.set("1", &ada(), None).await.expect("set");
    provider.set("b-other:1", b"x", None).await.expect("set");
    let mut keys = a.keys("*").await.expect("keys");
    keys.sort();
    assert_eq!(keys, ["1", "2"]);
    assert_eq!(b.keys("*").await.expect("keys"), ["1"]);
    b.clear().await.expect("clear");
    assert_eq!(b.keys("*").await.expect("keys"), Vec::<String>::new());
    assert_eq!(
        a.keys("*").await.expect("keys").len(),
        2,
        "clear of b removed a's keys"
    );
    assert!(provider.exists("b-other:1").await.expect("exists"));
}

#[tokio::test]
async fn swap_provider_moves_new_calls_to_the_new_backend() {
    let old = wasm_memory().await;
    let users = Contract::<User>::new("users", old.clone()).cache();
    users.set("1", &ada(), None).await.expect("set");
    let new: Arc<dyn Provider> = Arc::new(NativeMemoryProvider::new(Default::default()));
    let previous = users.swap_provider(new.clone());
    assert_eq!(previous.info().name, "memory");
    assert_eq!(
        users.get("1").await.expect("get"),
        None,
        "entries are not copied"
    );
    users.set("2", &ada(), None).await.expect("set");
    assert!(new.exists("2").await.expect("exists"));
    assert!(!old.exists("2").await.expect("exists"));
    assert_eq!(users.current_provider().info().name, "native-memory");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapping_under_load_fails_no_call() {
    let users = Contract::<User>::new("users", wasm_memory().await).cache();
    let mut tasks = Vec::new();
    for t in 0..4 {
        let users = users.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..300 {
                let key = format!("{t}:{i}");
                users
                    .set(&key, &ada(), None)
                    .await
                    .expect("set during swaps");
                users.get(&key).await.expect("get during swaps");
            }
        }));
    }
    for i in 0..20 {
        let next: Arc<dyn Provider> = if i % 2 == 0 {
            Arc::new(NativeMemoryProvider::new(Default::default()))
        } else {
            wasm_memory().await
        };
        users.swap_provider(next);
        tokio::task::yield_now().await;
    }
    for task in tasks {
        task.await.expect("no call failed");
    }
}

#[test]
fn arbitrary_stored_bytes_never_panic_and_decode_only_as_their_own_type() {
    use proptest::prelude::*;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let provider: Arc<dyn Provider> = Arc::new(NativeMemoryProvider::new(Default::default()));
    let users = Contract::<User>::new("users", provider.clone()).cache();
    let sessions = Contract::<Session>::new("sessions", provider).cache();
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases: 2000,
        failure_persistence: None,
        ..Default::default()
    });
    let strategy = (
        proptest::collection::vec(any::<u8>(), 0..64),
        any::<u64>(),
        "\\PC{0,12}",
    );
    runner
        .run(&strategy, |(bytes, id, name)| {
            rt.block_on(async {
                users.set_raw("raw", &bytes, None).await.expect("set_raw");
                // Random bytes are (almost surely) not a typed entry: a miss, never a panic.
                let got = users
                    .get("raw")
                    .await
                    .expect("get never fails on bad bytes");
                if let Some(user) = got {
                    // Only possible when the bytes are exactly a typed User entry.
                    users.set("check", &user, None).await.expect("set");
                    assert_eq!(
                        users.get_raw("check").await.expect("raw"),
                        Some(bytes.clone())
                    );
                }
                let user = User {
                    id,
                    name: name.clone(),
                };
                users.set("u", &user, None).await.expect("set");
                assert_eq!(users.get("u").await.expect("get"), Some(user));
                let raw = users.get_raw("u").await.expect("raw").expect("stored");
                sessions.set_raw("u", &raw, None).await.expect("set_raw");
                assert_eq!(
                    sessions.get("u").await.expect("get"),
                    None,
                    "a User read as a Session"
                );
            });
            Ok(())
        })
        .expect("property holds");
}

/// `Cache::increment` keeps a raw decimal counter under the prefixed key (a miss for
/// `get`, visible to `get_raw`), with the default TTL for a new one; `compare_and_swap`
/// compares serialized values, so a value read from the cache swaps and a stale one does
/// not. A provider without atomics answers unsupported.
#[tokio::test]
async fn atomics_on_a_typed_cache() {
    let provider = wasm_memory().await;
    let users = Contract::<User>::new("users", provider.clone())
        .key_prefix("user:")
        .default_ttl(Duration::from_secs(600))
        .cache();
    assert_eq!(users.increment("count", 5, None).await.expect("incr"), 5);
    assert_eq!(users.increment("count", -1, None).await.expect("incr"), 4);
    assert_eq!(
        users.get_raw("count").await.expect("raw"),
        Some(b"4".to_vec())
    );
    assert_eq!(users.get("count").await.expect("get"), None);
    assert!(matches!(
        provider.ttl("user:count").await.expect("ttl"),
        KeyTtl::ExpiresIn(_)
    ));

    assert!(
        users
            .compare_and_swap("a", None, &ada(), None)
            .await
            .expect("cas")
    );
    assert!(
        !users
            .compare_and_swap("a", None, &ada(), None)
            .await
            .expect("cas")
    );
    let read = users.get("a").await.expect("get").expect("stored");
    let renamed = User {
        name: "Lovelace".into(),
        ..read.clone()
    };
    assert!(
        users
            .compare_and_swap("a", Some(&read), &renamed, None)
            .await
            .expect("cas")
    );
    // `read` is stale now.
    assert!(
        !users
            .compare_and_swap("a", Some(&read), &ada(), None)
            .await
            .expect("cas")
    );
    assert_eq!(users.get("a").await.expect("get"), Some(renamed));

    let without =
        byoc_tests::without_atomics(Arc::new(NativeMemoryProvider::new(Default::default())));
    let without = Contract::<User>::new("n", without).cache();
    assert!(matches!(
        without.increment("c", 1, None).await,
        Err(byoc::Error::Unsupported(_))
    ));
}

/// A task that loops over hits answered at once still yields to the runtime's other tasks
/// (tokio's cooperative budget): through `Cache::get` on the wasm and the native memory
/// providers, and through the wasm provider's own `get` and `set`. On a single-threaded
/// runtime the spawned task must run while the loop goes on.
#[tokio::test(flavor = "current_thread")]
async fn a_loop_of_hits_gives_way_to_other_tasks() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let native: Arc<dyn Provider> = Arc::new(NativeMemoryProvider::new(Default::default()));
    for (provider, ops) in [
        (
            wasm_memory().await,
            &["cache get", "provider get", "provider set"][..],
        ),
        (native, &["cache get"][..]),
    ] {
        let users = Contract::<User>::new("users", provider.clone()).cache();
        users.set("1", &ada(), None).await.expect("set");
        for &op in ops {
            let ran = Arc::new(AtomicBool::new(false));
            let flag = ran.clone();
            tokio::spawn(async move { flag.store(true, Ordering::SeqCst) });
            let mut calls = 0u32;
            while !ran.load(Ordering::SeqCst) {
                match op {
                    "cache get" => assert!(users.get("1").await.expect("get").is_some()),
                    "provider get" => assert!(provider.get("k").await.expect("get").is_none()),
                    _ => provider.set("k2", b"v", None).await.expect("set"),
                }
                calls += 1;
                assert!(calls < 100_000, "{op}: the other task never ran");
            }
        }
    }
}
