//! The built-in wrappers `encryption`, `compression`, `tiered`, `fallback`, `migration`
//! and `multi-region`: embedded wrapper components over the layers below them (one
//! factory, one component each).

use super::FactoryInput;
use crate::wasm::{Limits, WasmProvider};
use crate::{Error, Provider, Result};
use std::sync::Arc;

/// Name of the built-in encryption wrapper.
pub const ENCRYPTION: &str = "encryption";
/// Name of the built-in compression wrapper.
pub const COMPRESSION: &str = "compression";
/// Name of the built-in two-tier wrapper.
pub const TIERED: &str = "tiered";
/// Name of the built-in fallback wrapper.
pub const FALLBACK: &str = "fallback";
/// Name of the built-in migration wrapper (old and new layer, modes).
pub const MIGRATION: &str = "migration";
/// Name of the built-in multi-region wrapper (one layer per region).
pub const MULTI_REGION: &str = "multi-region";

/// A wrapper component over `input.layers`: one instance, as its state (counters) and
/// whole-cache operations (scan, clear, stats) go through the layers below.
pub(crate) async fn wasm_wrapper(
    name: &'static str,
    bytes: &'static [u8],
    sha256: [u8; 32],
    input: FactoryInput,
) -> Result<Arc<dyn Provider>> {
    if input.layers.is_empty() {
        return Err(Error::InvalidConfig(format!(
            "wrapper `{name}` needs at least one inner provider"
        )));
    }
    let component = input.runtime.load_hashed(name, bytes, sha256)?;
    let provider = WasmProvider::builder(&input.runtime, component)
        .config(input.config)
        .limits(input.limits.apply(Limits::for_wrapper_over(&input.layers)))
        .layers(input.layers)
        .partitions(1)
        .build()
        .await?;
    Ok(Arc::new(provider))
}

#[cfg(test)]
mod tests {
    use crate::Registry;
    use crate::wasm::Limits;
    use std::time::Duration;

    /// A wrapper's default deadline covers the layer below it (see
    /// [`Limits::for_wrapper_over`]).
    #[tokio::test]
    async fn wrapper_deadline_covers_the_memory_layer() {
        let registry = Registry::new().expect("registry");
        let memory = registry
            .create("memory", Default::default())
            .await
            .expect("memory");
        assert_eq!(memory.call_deadline(), Some(Duration::from_secs(1)));
        let limits = Limits::for_wrapper_over(&[memory]);
        assert_eq!(limits.call_deadline, Duration::from_secs(2));
        assert_eq!(Limits::for_wrapper_over(&[]), Limits::default());
    }
}
