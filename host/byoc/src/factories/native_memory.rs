//! The built-in `native-memory` provider: moka in process.

use super::{FactoryInput, no_layers};
use crate::{
    ConfigField, ConfigKind, Error, NativeMemoryConfig, NativeMemoryProvider, Provider, Result,
};
use std::sync::Arc;

/// Name of the built-in moka provider.
pub const NATIVE_MEMORY: &str = "native-memory";
/// The `native-memory` factory.
pub(crate) fn create(input: FactoryInput) -> Result<Arc<dyn Provider>> {
    no_layers(NATIVE_MEMORY, &input)?;
    if !input.limits.is_empty() {
        return Err(Error::InvalidConfig(format!(
            "provider `{NATIVE_MEMORY}` runs in the host, not in a sandbox: `limits` do not apply"
        )));
    }
    let fields = [ConfigField::new(
        "max-bytes",
        ConfigKind::Size,
        false,
        "Bound on the bytes of keys and values (default 64 MiB).",
    )];
    let config = input.config.checked(NATIVE_MEMORY, &fields)?;
    let mut native = NativeMemoryConfig::default();
    if let Some(n) = config.size("max-bytes") {
        native.max_bytes = n;
    }
    Ok(Arc::new(NativeMemoryProvider::new(native)))
}
