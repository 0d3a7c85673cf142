//! The SQLite adapter: conformance, scans with glob metacharacters, the file read and
//! written by the `sqlite3` command-line tool, and the tests every store in a granted
//! directory shares (`stores.rs`).
//!
//! A host built without a C compiler for the adapter has no `sqlite` provider: its tests
//! print `SKIPPED` (and fail under `BYOC_REQUIRE_SERVICES=1`).

use crate::stores::{self, Opening, Store, config};
use crate::temp_dir;
use byoc::{AdapterConfig, ConfigValue, Error, Provider, Registry};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

/// The provider, or `None` (after a skip line) when this host was built without it.
async fn create(config: AdapterConfig) -> Option<Arc<dyn Provider>> {
    match Registry::new()
        .expect("registry")
        .create("sqlite", config)
        .await
    {
        Ok(p) => Some(p),
        Err(Error::Unsupported(why)) => {
            assert!(
                !byoc_tests::services_required(),
                "the sqlite provider is missing and BYOC_REQUIRE_SERVICES=1: {why}"
            );
            eprintln!("SKIPPED sqlite: {why}");
            None
        }
        Err(e) => panic!("sqlite adapter: {e}"),
    }
}

/// Whether this host has the provider (skip line otherwise).
fn built() -> bool {
    if byoc::builtin::SQLITE_ADAPTER.is_some() {
        return true;
    }
    assert!(
        !byoc_tests::services_required(),
        "the sqlite provider is missing and BYOC_REQUIRE_SERVICES=1: {}",
        byoc::builtin::SQLITE_MISSING
    );
    eprintln!("SKIPPED sqlite: {}", byoc::builtin::SQLITE_MISSING);
    false
}

/// A provider on a fresh directory, removed when the test drops it.
async fn on_fresh_dir(synchronous: &str) -> Option<Arc<dyn Provider>> {
    let dir = temp_dir();
    let provider =
        create(config(dir.path()).with("synchronous", ConfigValue::Text(synchronous.into())))
            .await?;
    Some(Arc::new(byoc_tests::Holding::new(provider, dir)))
}

// `synchronous` changes no answer, only when commits reach the disk (the crash test below
// covers `full`); with `off`, a loaded machine's slow syncs cannot outlast the suite's
// short TTLs.
mod conformance {
    byoc_tests::conformance_tests!(|| super::on_fresh_dir("off"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_escape_glob_metacharacters() {
    let Some(p) = on_fresh_dir("off").await else {
        return;
    };
    for key in ["a*b", "a?b", "a[b", "axb", "a]b", "a\\b"] {
        p.set(key, b"v", None).await.expect("set");
    }
    for (pattern, expected) in [
        (r"a\*b", &["a*b"][..]),
        (r"a\?b", &["a?b"]),
        (r"a\[b", &["a[b"]),
        ("a]b", &["a]b"]),
        (r"a\\b", &["a\\b"]),
        ("a[*x]b", &["a*b", "axb"]),
        ("a[^*?x]b", &["a[b", "a\\b", "a]b"]),
        ("a?b", &["a*b", "a?b", "a[b", "a\\b", "a]b", "axb"]),
    ] {
        let mut keys = p.keys(pattern).await.expect("keys");
        keys.sort();
        let mut expected = expected.to_vec();
        expected.sort();
        assert_eq!(keys, expected, "{pattern}");
    }
}

/// A file written through BYOC reads in the `sqlite3` tool, and rows it writes read
/// through BYOC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite3_tool_reads_and_writes_the_file() {
    if !built()
        || !byoc_tests::service::available(
            "sqlite interop",
            &["sqlite3"],
            "apt-get install sqlite3",
        )
    {
        return;
    }
    let dir = temp_dir();
    let file = dir.path().join("byoc.sqlite");
    const STALE: u64 = 200;
    let stale = ConfigValue::DurationMs(STALE);
    let p = create(config(dir.path()).with("lock-stale", stale.clone()))
        .await
        .expect("built");
    p.set("greeting", b"hello", None).await.expect("set");
    p.set("later", b"x", Some(Duration::from_secs(3600)))
        .await
        .expect("set");
    // The instance keeps its lock file: a component has no exit hook, so it goes stale.
    drop(p);
    let sqlite3 = |sql: &str| {
        let out = Command::new("sqlite3")
            .arg(&file)
            .arg(sql)
            .output()
            .expect("run sqlite3");
        assert!(
            out.status.success(),
            "sqlite3 {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(sqlite3("PRAGMA integrity_check"), "ok\n");
    assert_eq!(
        sqlite3("SELECT key, CAST(value AS TEXT), expires_at IS NULL FROM entries ORDER BY key"),
        "greeting|hello|1\nlater|x|0\n"
    );
    sqlite3(
        "INSERT INTO entries (key, value, expires_at, accessed_at) \
         VALUES ('from-cli', CAST('made by sqlite3' AS BLOB), NULL, 0)",
    );
    tokio::time::sleep(Duration::from_millis(STALE + 100)).await;
    let p = create(config(dir.path()).with("lock-stale", stale))
        .await
        .expect("built");
    assert_eq!(
        p.get("from-cli").await.expect("get"),
        Some(b"made by sqlite3".to_vec())
    );
    assert_eq!(
        p.get("greeting").await.expect("get"),
        Some(b"hello".to_vec())
    );
}

fn open(config: AdapterConfig) -> Opening {
    Box::pin(create(config))
}

/// Opens the file with native SQLite (rolling back a hot journal, as the adapter would),
/// checks its integrity and reads each key's value.
fn read_natively(file: &Path, keys: &[String]) -> Vec<Vec<u8>> {
    let conn = rusqlite::Connection::open(file).expect("the database opens after the kill");
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity check");
    assert_eq!(check, "ok");
    keys.iter()
        .map(|key| {
            conn.query_row("SELECT value FROM entries WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .unwrap_or_else(|e| panic!("{key}: {e}"))
        })
        .collect()
}

const SQLITE: Store = Store {
    name: "sqlite",
    file: "byoc.sqlite",
    open,
    fast: &[("synchronous", "off")],
    read_natively,
    built,
    bad_fields: &[
        ("journal", "wal"),
        ("journal", "sometimes"),
        ("synchronous", "always"),
    ],
};

stores::store_tests!(SQLITE, take_over: false);
