//! The PostgreSQL adapter against a private PostgreSQL server (SCRAM-SHA-256 login):
//! its guest code run natively (wire protocol, SQL, scans through `LIKE`), the provider
//! through the sandbox and its TCP grant (conformance suite, model, interop with `psql`
//! both ways), and faults (server killed and restarted, a server that never answers).
//!
//! One server for the process (`postgres_server::shared`), a table per test; skipped with a
//! message when PostgreSQL is not installed (fails under `BYOC_REQUIRE_SERVICES=1`).

use byoc::{AdapterConfig, ConfigValue, Provider, Registry};
use byoc_adapter_postgres::{Postgres, Target};
use byoc_guest_sdk::{Adapter, Entry, Error, now_ms};
use byoc_tests::model::{check_sequence, sequence};
use byoc_tests::postgres_server::{self, DATABASE, PASSWORD, USER, psql};
use proptest::test_runner::TestRunner;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

type P = Arc<dyn Provider>;

/// The shared server's port; `None` when skipped.
fn port(test: &str) -> Option<u16> {
    let server = postgres_server::shared(test)?;
    let port = server.lock().unwrap_or_else(|e| e.into_inner()).port();
    Some(port)
}

fn target(port: u16, password: &str) -> Target {
    Target {
        host: "127.0.0.1".into(),
        port,
        user: USER.into(),
        password: Some(password.into()),
        database: DATABASE.into(),
    }
}

fn entry(value: &[u8], ttl_ms: Option<u64>) -> Entry {
    Entry::new(value.to_vec(), ttl_ms, now_ms())
}

/// The guest code, run natively: every operation over the wire protocol, binary values,
/// expiry filtered on read, scans with `LIKE` metacharacters in keys and globs.
#[test]
fn guest_code_over_the_wire() {
    let Some(port) = port("postgres guest code") else {
        return;
    };
    let mut pg = Postgres::new(target(port, PASSWORD), "native").expect("adapter");
    pg.clear().expect("clear");
    let every_byte: Vec<u8> = (0..=255).collect();
    pg.set("bin", entry(&every_byte, None)).expect("set");
    assert_eq!(
        pg.get("bin").expect("get").map(|e| e.value),
        Some(every_byte)
    );
    pg.set("empty", entry(b"", None)).expect("set empty");
    assert_eq!(pg.get("empty").expect("get").map(|e| e.value), Some(vec![]));
    assert_eq!(pg.get("missing").expect("get"), None);

    // Upsert, TTLs, expiry filtered on read.
    pg.set("k", entry(b"1", None)).expect("set");
    pg.set("k", entry(b"2", Some(60_000))).expect("overwrite");
    let got = pg.get("k").expect("get").expect("present");
    assert_eq!(got.value, b"2");
    assert!(got.expires_at.is_some_and(|at| at > now_ms() + 50_000));
    pg.set(
        "gone",
        Entry {
            value: b"x".to_vec(),
            expires_at: Some(now_ms() - 1),
        },
    )
    .expect("set expired");
    assert_eq!(pg.get("gone").expect("get"), None);
    assert!(!pg.exists("gone", now_ms()).expect("exists"));
    assert!(pg.exists("k", now_ms()).expect("exists"));
    assert!(pg.expire("k", None, now_ms()).expect("expire"));
    assert_eq!(pg.get("k").expect("get").and_then(|e| e.expires_at), None);
    assert!(!pg.expire("gone", None, now_ms()).expect("expire expired"));

    // Multi-key operations, a repeated key in one set (the last one wins).
    let items: Vec<(String, Entry)> = (0..100)
        .map(|i| (format!("m{i}"), entry(format!("v{i}").as_bytes(), None)))
        .chain([("m0".to_owned(), entry(b"last", None))])
        .collect();
    pg.set_multi(items).expect("set_multi");
    let keys: Vec<String> = ["m0", "m1", "nope", "m99", "gone"]
        .map(String::from)
        .to_vec();
    let values: Vec<Option<Vec<u8>>> = pg
        .get_multi(&keys)
        .expect("get_multi")
        .into_iter()
        .map(|e| e.map(|e| e.value))
        .collect();
    assert_eq!(
        values,
        [
            Some(b"last".to_vec()),
            Some(b"v1".to_vec()),
            None,
            Some(b"v99".to_vec()),
            None
        ]
    );
    // Removes m0, m1 (live) and `gone` (expired, not counted).
    let removed = pg
        .delete_multi(&["m0", "m1", "gone", "nope"].map(String::from), now_ms())
        .expect("delete_multi");
    assert_eq!(removed, 2);
    assert!(pg.delete("m2").expect("delete"));
    assert!(!pg.delete("m2").expect("delete again"));

    // Scans: `%`, `_` and `\` in keys are literal to the glob; classes are checked in the
    // guest after LIKE.
    pg.clear().expect("clear");
    for k in ["a%b", "axb", "a_b", "a\\b", "ab", "b1", "b2", "ключ"] {
        pg.set(k, entry(b"v", None)).expect("set");
    }
    let scan_all = |pg: &mut Postgres, pattern: &str, count: u32| -> Vec<String> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = pg.scan(pattern, cursor, count, now_ms()).expect("scan");
            out.extend(page.keys);
            match page.cursor {
                Some(c) => cursor = Some(byoc_guest_sdk::ScanCursor::parse(&c).expect("cursor")),
                None => return out,
            }
        }
    };
    assert_eq!(scan_all(&mut pg, "a%b", 10), ["a%b"]);
    assert_eq!(scan_all(&mut pg, "a_b", 10), ["a_b"]);
    assert_eq!(scan_all(&mut pg, "a\\\\b", 10), ["a\\b"]);
    assert_eq!(scan_all(&mut pg, "a?b", 10), ["a%b", "a\\b", "a_b", "axb"]);
    assert_eq!(scan_all(&mut pg, "a[x_]b", 1), ["a_b", "axb"]);
    assert_eq!(scan_all(&mut pg, "b*", 1), ["b1", "b2"]);
    assert_eq!(scan_all(&mut pg, "клю?", 3), ["ключ"]);
    assert_eq!(scan_all(&mut pg, "*", 3).len(), 8);
    let usage = pg.usage().expect("usage");
    assert_eq!(usage.keys, 8);
    pg.clear().expect("clear");
    assert_eq!(pg.usage().expect("usage").keys, 0);
    pg.ping().expect("ping");
}

/// Values written by the adapter are read by `psql`, and the reverse; the table is
/// UNLOGGED.
#[test]
fn psql_reads_and_writes_the_table() {
    let Some(port) = port("postgres psql interop") else {
        return;
    };
    let mut pg = Postgres::new(target(port, PASSWORD), "interop").expect("adapter");
    pg.clear().expect("clear");
    pg.set("from-byoc", entry(b"\x00bin\xff", Some(60_000)))
        .expect("set");
    let row = psql(
        port,
        "SELECT encode(value, 'hex'), expires_at > extract(epoch from now()) * 1000 \
         FROM byoc_interop WHERE key = 'from-byoc'",
    );
    assert_eq!(row.trim(), "0062696eff|t");
    psql(
        port,
        "INSERT INTO byoc_interop (key, value, expires_at) VALUES \
         ('from-psql', '\\x68656c6c6f', NULL)",
    );
    let got = pg.get("from-psql").expect("get").expect("written by psql");
    assert_eq!(got.value, b"hello");
    assert_eq!(got.expires_at, None);
    let persistence = psql(
        port,
        "SELECT relpersistence FROM pg_class WHERE relname = 'byoc_interop'",
    );
    assert_eq!(persistence.trim(), "u", "the table is UNLOGGED");
}

/// A wrong password is `denied` (never echoed); a bad namespace never reaches SQL.
#[test]
fn wrong_password_and_bad_namespace() {
    let Some(port) = port("postgres auth") else {
        return;
    };
    let mut pg = Postgres::new(target(port, "not-the-password"), "auth").expect("adapter");
    let err = pg.get("k").expect_err("wrong password");
    assert!(
        matches!(&err, Error::Denied(m) if !m.contains("not-the-password")),
        "{err:?}"
    );
    let mut debug = format!("{:?}", target(port, "hunter2"));
    assert!(
        !debug.contains("hunter2") && debug.contains("***"),
        "{debug}"
    );
    debug.clear();
    for bad in ["x; DROP TABLE t", "A", "", "a-b"] {
        assert!(matches!(
            Postgres::new(target(port, PASSWORD), bad),
            Err(Error::InvalidConfig(_))
        ));
    }
}

/// The `postgres` provider on the shared server, in a namespace of its own.
fn config(port: u16, namespace: &str) -> AdapterConfig {
    AdapterConfig::new()
        .with("port", ConfigValue::Integer(i64::from(port)))
        .with("user", ConfigValue::Text(USER.into()))
        .with("password", ConfigValue::Text(PASSWORD.into()))
        .with("database", ConfigValue::Text(DATABASE.into()))
        .with("namespace", ConfigValue::Text(namespace.into()))
}

async fn provider() -> Option<P> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let port = port("postgres conformance")?;
    let ns = format!("conf{}", N.fetch_add(1, Ordering::Relaxed));
    let p = Registry::new()
        .expect("runtime")
        .create("postgres", config(port, &ns))
        .await
        .expect("postgres provider");
    p.clear().await.expect("clear");
    Some(p)
}

mod conformance {
    byoc_tests::conformance_tests!(super::provider);
}

/// Random operation sequences against the model (`BYOC_PG_MODEL_CASES`, default 48).
#[test]
fn matches_the_model() {
    let Some(port) = port("postgres model") else {
        return;
    };
    let cases = std::env::var("BYOC_PG_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let provider = rt.block_on(async {
        Registry::new()
            .expect("runtime")
            .create("postgres", config(port, "model"))
            .await
            .expect("provider")
    });
    let mut runner = TestRunner::new(proptest::test_runner::Config {
        cases,
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    });
    let result = runner.run(&sequence(40), |ops| {
        rt.block_on(async {
            provider.clear().await.expect("clear");
            check_sequence(&provider, &ops).await;
        });
        Ok(())
    });
    if let Err(e) = result {
        panic!("postgres: {e}");
    }
}

/// Through the sandbox: what the provider writes `psql` reads, and the reverse; the
/// password never appears in the provider's errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_interop_with_psql() {
    let Some(port) = port("postgres provider interop") else {
        return;
    };
    let registry = Registry::new().expect("runtime");
    let p = registry
        .create("postgres", config(port, "sandboxed"))
        .await
        .expect("provider");
    p.set("k", b"\x01\x02", None).await.expect("set");
    let hex = psql(
        port,
        "SELECT encode(value, 'hex') FROM byoc_sandboxed WHERE key = 'k'",
    );
    assert_eq!(hex.trim(), "0102");
    psql(
        port,
        "INSERT INTO byoc_sandboxed VALUES ('p', '\\xff', NULL) \
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
    );
    assert_eq!(
        p.get("p").await.expect("get").as_deref(),
        Some(&b"\xff"[..])
    );
    let wrong = registry
        .create(
            "postgres",
            config(port, "sandboxed").with("password", ConfigValue::Text("hunter2-wrong".into())),
        )
        .await
        .expect("provider");
    let err = wrong.get("k").await.expect_err("wrong password");
    assert!(matches!(&err, byoc::Error::Denied(_)), "{err:?}");
    assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");
}

/// A server that accepts connections and never answers: calls end at their deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_server_ends_calls_at_the_deadline() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let p = Registry::new()
        .expect("runtime")
        .create(
            "postgres",
            config(port, "silent").with("deadline", ConfigValue::DurationMs(500)),
        )
        .await
        .expect("provider");
    for _ in 0..2 {
        let started = Instant::now();
        let err = p.get("k").await.expect_err("no answer");
        let took = started.elapsed();
        assert!(
            matches!(
                err,
                byoc::Error::DeadlineExceeded { .. } | byoc::Error::Unavailable(_)
            ),
            "{err:?}"
        );
        assert!(took < Duration::from_millis(1500), "took {took:?}");
    }
}

/// A server killed under load: calls fail `unavailable` within their deadline, and the
/// provider recovers once the server is back, without a new provider. Prints the time
/// from restart to the first successful call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_killed_and_restarted() {
    let Some(mut server) = postgres_server::start("postgres faults") else {
        return;
    };
    let port = server.port();
    let p = Registry::new()
        .expect("runtime")
        .create(
            "postgres",
            config(port, "faults")
                .with("deadline", ConfigValue::DurationMs(2000))
                .with("instances", ConfigValue::Integer(4)),
        )
        .await
        .expect("provider");
    p.set("k", b"v", None).await.expect("set");
    postgres_server::kill(&mut server);
    for _ in 0..3 {
        let started = Instant::now();
        let err = p.get("k").await.expect_err("server is down");
        assert!(matches!(err, byoc::Error::Unavailable(_)), "{err:?}");
        assert!(started.elapsed() < Duration::from_millis(2500));
    }
    std::thread::sleep(Duration::from_millis(300));
    server.restart();
    // Measured from the moment the server listens again.
    let restarted = Instant::now();
    let mut last = None;
    while restarted.elapsed() < Duration::from_secs(20) {
        match p.set("k2", b"v2", None).await {
            Ok(()) => {
                last = None;
                break;
            }
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(last.is_none(), "no recovery: {last:?}");
    eprintln!(
        "postgres recovered {:?} after the restart",
        restarted.elapsed()
    );
    assert_eq!(p.get("k2").await.expect("get").as_deref(), Some(&b"v2"[..]));
}
