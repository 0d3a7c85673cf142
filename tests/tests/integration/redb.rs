//! The redb adapter: conformance in both durabilities, and the tests every store in a
//! granted directory shares (`stores.rs`).

use crate::stores::{self, Opening, Store, config};
use crate::temp_dir;
use byoc::{AdapterConfig, ConfigValue, Provider, Registry};
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
    built: || true,
    bad_fields: &[("durability", "sometimes")],
};

stores::store_tests!(REDB, take_over: true);
