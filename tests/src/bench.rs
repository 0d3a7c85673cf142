//! Set-up shared by the benches (`tests/benches`).

use byoc::{AdapterConfig, ConfigValue, Provider, Registry};
use std::sync::Arc;

/// The runtime the benches call providers on: multi-threaded with one worker, and
/// entered with `block_on`, so an async call runs on the bench's own thread.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio")
}

/// The providers whose hits the benches compare with moka.
pub struct HitProviders {
    /// The `memory` adapter with its default eviction.
    pub wasm: Arc<dyn Provider>,
    /// The `memory` adapter with `eviction: lru`.
    pub lru: Arc<dyn Provider>,
    /// The `native-memory` provider (moka behind the `Provider` trait).
    pub native: Arc<dyn Provider>,
}

impl HitProviders {
    /// Creates the three providers from `registry` on `rt`.
    pub fn create(rt: &tokio::runtime::Runtime, registry: &Registry) -> Self {
        let create = |name: &str, config: AdapterConfig| {
            rt.block_on(registry.create(name, config))
                .unwrap_or_else(|e| panic!("{name}: {e}"))
        };
        HitProviders {
            wasm: create("memory", AdapterConfig::new()),
            lru: create(
                "memory",
                AdapterConfig::new().with("eviction", ConfigValue::Text("lru".into())),
            ),
            native: create("native-memory", AdapterConfig::new()),
        }
    }

    /// Stores `value` under `key` in all three.
    pub fn set(&self, rt: &tokio::runtime::Runtime, key: &str, value: &[u8]) {
        for p in [&self.wasm, &self.lru, &self.native] {
            rt.block_on(p.set(key, value, None)).expect("set");
        }
    }
}
