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

/// CPU time the calling thread has run so far (Linux: `/proc/thread-self/schedstat`);
/// `None` where that is not available. On a machine shared with other work, hits per CPU
/// second hold where hits per wall-clock second follow the machine's load.
pub fn thread_cpu() -> Option<std::time::Duration> {
    schedstat("/proc/thread-self/schedstat")
}

/// CPU time run so far by this process's threads whose name starts with `prefix`
/// (`/proc/self/task/*/comm`); `None` where that is not available.
pub fn threads_cpu(prefix: &str) -> Option<std::time::Duration> {
    let mut total = std::time::Duration::ZERO;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let dir = task.path();
        let Ok(name) = std::fs::read_to_string(dir.join("comm")) else {
            continue;
        };
        if name.starts_with(prefix) {
            total += schedstat(&dir.join("schedstat").to_string_lossy()).unwrap_or_default();
        }
    }
    Some(total)
}

fn schedstat(path: &str) -> Option<std::time::Duration> {
    let text = std::fs::read_to_string(path).ok()?;
    let ns = text.split_whitespace().next()?.parse().ok()?;
    Some(std::time::Duration::from_nanos(ns))
}
