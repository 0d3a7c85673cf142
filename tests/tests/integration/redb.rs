//! The redb adapter: conformance, its directory grant, the lock file between two
//! processes, and crash safety under SIGKILL.

use crate::stores::{self, Opening, Store, config};
use crate::temp_dir;
use byoc::{AdapterConfig, ConfigValue, Error, Provider, Registry};
use std::path::Path;
use std::sync::Arc;

async fn create(config: AdapterConfig) -> byoc::Result<Arc<dyn Provider>> {
    Registry::new()?.create("redb", config).await
}

/// A provider on a fresh directory, removed when the test drops it.
async fn on_fresh_dir(durability: &str) -> Arc<dyn Provider> {
    let dir = temp_dir();
    let provider =
        create(config(dir.path()).with("durability", ConfigValue::Text(durability.into())))
            .await
            .expect("redb adapter");
    Arc::new(byoc_tests::Holding::new(provider, dir))
}

mod conformance {
    byoc_tests::conformance_tests!(|| super::on_fresh_dir("immediate"));
}

mod conformance_eventual {
    byoc_tests::conformance_tests!(|| super::on_fresh_dir("eventual"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_errors_are_clear() {
    let registry = Registry::new().expect("registry");
    let missing = registry.create("redb", AdapterConfig::new()).await.err();
    assert!(
        matches!(missing, Some(Error::InvalidConfig(_))),
        "{missing:?}"
    );
    let dir = temp_dir();
    for (field, value) in [
        ("file", "../escape.redb"),
        ("file", ".hidden"),
        ("durability", "sometimes"),
    ] {
        let bad = registry
            .create(
                "redb",
                config(dir.path()).with(field, ConfigValue::Text(value.into())),
            )
            .await
            .err();
        assert!(
            matches!(bad, Some(Error::InvalidConfig(ref m)) if m.contains(value)),
            "{field}={value}: {bad:?}"
        );
    }
}

fn open(config: AdapterConfig) -> Opening {
    Box::pin(async move { Some(create(config).await.expect("redb adapter")) })
}

/// Opens the database file with native redb (repairing it after a crash, as the adapter
/// would) and reads each key's value.
fn read_natively(file: &Path, keys: &[String]) -> Vec<Vec<u8>> {
    let db = redb::Database::create(file).expect("the database opens after the kill");
    let txn = redb::ReadableDatabase::begin_read(&db).expect("read");
    let table = txn
        .open_table(redb::TableDefinition::<&str, &[u8]>::new("entries"))
        .expect("entries table");
    keys.iter()
        .map(|key| {
            let stored = redb::ReadableTable::get(&table, key.as_str())
                .expect("get")
                .unwrap_or_else(|| panic!("{key} is missing"));
            // The SDK's entry encoding: format byte, expiry (8 bytes), then the value.
            stored.value()[9..].to_vec()
        })
        .collect()
}

const REDB: Store = Store {
    name: "redb",
    file: "byoc.redb",
    open,
    fast: &[],
    read_natively,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_grant_reads_but_denies_writes() {
    stores::read_only_grant_reads_but_denies_writes(&REDB).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_grant_on_an_empty_directory_misses() {
    stores::read_only_grant_on_an_empty_directory_misses(&REDB).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_entries_are_purged_by_writes() {
    stores::expired_entries_are_purged_by_writes(&REDB).await;
}

/// The second process is refused while the first heartbeats; a third takes over once
/// the first is killed and its lock goes stale.
#[test]
fn a_second_process_is_refused_until_the_lock_is_stale() {
    stores::a_second_process_is_refused(&REDB, true);
}

#[test]
fn killed_writers_lose_no_acknowledged_write() {
    stores::killed_writers_lose_no_acknowledged_write(&REDB);
}
