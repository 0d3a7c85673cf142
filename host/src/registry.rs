//! Providers by name: built-ins and the factories applications add.

use crate::builtin::MEMORY_ADAPTER;
use crate::wasm::{Runtime, WasmProvider, default_partitions};
use crate::{
    AdapterConfig, ConfigValue, Error, NativeMemoryConfig, NativeMemoryProvider, Provider, Result,
};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What a factory returns.
pub type FactoryFuture = Pin<Box<dyn Future<Output = Result<Arc<dyn Provider>>> + Send>>;

/// Creates a provider from a typed configuration, on the registry's runtime.
pub type Factory = Arc<dyn Fn(Runtime, AdapterConfig) -> FactoryFuture + Send + Sync>;

/// Name of the built-in wasm memory adapter.
pub const MEMORY: &str = "memory";
/// Name of the built-in moka provider.
pub const NATIVE_MEMORY: &str = "native-memory";

/// Providers by name. [`Registry::new`] holds the built-ins:
///
/// - `memory`: the embedded wasm memory adapter, partitioned over the available cores.
///   `max-bytes` (default 64 MiB) and `max-entries` bound the whole provider: the factory
///   divides them among partitions. Also `eviction` (`lru`, `lfu`, `ttl`).
/// - `native-memory`: [`NativeMemoryProvider`]; field `max-bytes` (size, default 64 MiB).
/// - `filesystem`: the embedded filesystem adapter on a granted directory: `dir` (text,
///   required), `read-only` (boolean), `namespace` (text), `fsync` (boolean).
/// - `http`: the embedded HTTP adapter, granted the origin of its `url` (text, required);
///   `token` (text), `headers` (text list), `timeout` (duration, default 5 s).
///
/// ```
/// # async fn demo() -> byoc::Result<()> {
/// use byoc::{AdapterConfig, ConfigValue, Registry};
///
/// let registry = Registry::new()?;
/// let provider = registry
///     .create("memory", AdapterConfig::new().with("eviction", ConfigValue::Text("lfu".into())))
///     .await?;
/// provider.set("k", b"v", None).await?;
/// assert!(registry.create("nope", AdapterConfig::new()).await.is_err());
/// # Ok(()) }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo()).unwrap();
/// ```
#[derive(Clone)]
pub struct Registry {
    runtime: Runtime,
    factories: BTreeMap<String, Factory>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("names", &self.factories.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// The built-ins on the process-wide [`Runtime::shared`].
    pub fn new() -> Result<Registry> {
        Ok(Registry::with_runtime(Runtime::shared()?))
    }

    /// The built-ins on `runtime`.
    pub fn with_runtime(runtime: Runtime) -> Registry {
        let mut registry = Registry {
            runtime,
            factories: BTreeMap::new(),
        };
        registry.replace(MEMORY, Arc::new(|rt, config| Box::pin(memory(rt, config))));
        registry.replace(
            NATIVE_MEMORY,
            Arc::new(|_, config| Box::pin(async move { native_memory(config) })),
        );
        registry.replace(
            crate::FILESYSTEM,
            Arc::new(|rt, config| Box::pin(crate::factories::filesystem(rt, config))),
        );
        registry.replace(
            crate::HTTP,
            Arc::new(|rt, config| Box::pin(crate::factories::http(rt, config))),
        );
        registry
    }

    /// The runtime wasm providers are created on.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Adds a factory under a new name; a name already registered is an error.
    pub fn register(&mut self, name: &str, factory: Factory) -> Result<()> {
        if self.factories.contains_key(name) {
            return Err(Error::InvalidConfig(format!(
                "provider `{name}` is already registered"
            )));
        }
        self.factories.insert(name.to_owned(), factory);
        Ok(())
    }

    /// Adds or replaces the factory under `name`; returns the one it replaced.
    pub fn replace(&mut self, name: &str, factory: Factory) -> Option<Factory> {
        self.factories.insert(name.to_owned(), factory)
    }

    /// The registered names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.factories.keys().map(String::as_str).collect()
    }

    /// Creates the provider registered under `name` with `config`.
    pub async fn create(&self, name: &str, config: AdapterConfig) -> Result<Arc<dyn Provider>> {
        let factory = self
            .factories
            .get(name)
            .ok_or_else(|| Error::UnknownProvider {
                name: name.to_owned(),
                known: self.names().join(", "),
            })?;
        factory(self.runtime.clone(), config).await
    }
}

/// The `memory` factory: the embedded component, bounds divided among partitions.
async fn memory(runtime: Runtime, mut config: AdapterConfig) -> Result<Arc<dyn Provider>> {
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
    let component = runtime.load(MEMORY, MEMORY_ADAPTER)?;
    let provider = WasmProvider::builder(&runtime, component)
        .config(config)
        .partitions(partitions)
        .build()
        .await?;
    Ok(Arc::new(provider))
}

/// The `native-memory` factory.
fn native_memory(config: AdapterConfig) -> Result<Arc<dyn Provider>> {
    let mut native = NativeMemoryConfig::default();
    for (name, value) in config.iter() {
        match (name, value) {
            ("max-bytes", ConfigValue::Size(n)) => native.max_bytes = *n,
            ("max-bytes", other) => {
                return Err(Error::InvalidConfig(format!(
                    "provider `native-memory`: field `max-bytes` takes a Size value, got a {:?}",
                    other.kind()
                )));
            }
            (other, _) => {
                return Err(Error::InvalidConfig(format!(
                    "provider `native-memory`: unknown field `{other}` (known fields: max-bytes)"
                )));
            }
        }
    }
    Ok(Arc::new(NativeMemoryProvider::new(native)))
}
