//! The built-in `memory` provider: the embedded wasm memory adapter, partitioned.

use super::{FactoryInput, no_layers};
use crate::builtin::{self, MEMORY_ADAPTER};
use crate::wasm::{Limits, WasmProvider, default_partitions};
use crate::{ConfigField, ConfigKind, ConfigValue, Provider, Result};
use std::sync::Arc;

/// Name of the built-in wasm memory adapter.
pub const MEMORY: &str = "memory";
/// The `memory` factory: the embedded component, bounds divided among partitions.
pub(crate) async fn create(input: FactoryInput) -> Result<Arc<dyn Provider>> {
    no_layers(MEMORY, &input)?;
    let FactoryInput {
        runtime,
        mut config,
        limits,
        ..
    } = input;
    // Sizes may be written as text ("64MiB"): read them as the adapter will.
    config.coerce(&[ConfigField::new("max-bytes", ConfigKind::Size, false, "")]);
    let partitions = default_partitions();
    let share = |total: u64| total.div_ceil(partitions as u64).max(1);
    let max_bytes = match config.get("max-bytes") {
        None => 64 << 20,
        Some(ConfigValue::Size(n)) => *n,
        // Anything else is reported by the schema check in `build`.
        Some(_) => 0,
    };
    if max_bytes > 0 {
        config.set("max-bytes", ConfigValue::Size(share(max_bytes)));
    }
    if let Some(&ConfigValue::Integer(n)) = config.get("max-entries")
        && let Ok(n @ 1..) = u64::try_from(n)
    {
        let n = i64::try_from(share(n)).unwrap_or(i64::MAX);
        config.set("max-entries", ConfigValue::Integer(n));
    }
    let component = runtime.load_hashed(MEMORY, MEMORY_ADAPTER, builtin::MEMORY_SHA256)?;
    let provider = WasmProvider::builder(&runtime, component)
        .config(config)
        .limits(limits.apply(Limits::default()))
        .partitions(partitions)
        // BYOC's own adapter, answering from memory: no fiber per call.
        .sync_calls(true)
        .build()
        .await?;
    Ok(Arc::new(provider))
}
