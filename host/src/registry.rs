//! Providers by name: built-ins and the factories applications add.

use crate::builtin::{self, ENCRYPTION_WRAPPER, FALLBACK_WRAPPER, MEMORY_ADAPTER, TIERED_WRAPPER};
use crate::config_file::LimitsConfig;
use crate::wasm::{Grants, Limits, Runtime, WasmProvider, default_partitions};
use crate::{
    AdapterConfig, ConfigField, ConfigKind, ConfigValue, Error, NativeMemoryConfig,
    NativeMemoryProvider, Provider, Result,
};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What a factory returns.
pub type FactoryFuture = Pin<Box<dyn Future<Output = Result<Arc<dyn Provider>>> + Send>>;

/// What a factory gets.
#[derive(Clone)]
#[non_exhaustive]
pub struct FactoryInput {
    /// The runtime to create wasm providers on.
    pub runtime: Runtime,
    /// The provider's typed configuration.
    pub config: AdapterConfig,
    /// The providers below it, for a wrapper (layer 0 first); empty otherwise.
    pub layers: Vec<Arc<dyn Provider>>,
    /// Limit overrides from configuration, applied on the factory's own defaults by
    /// factories of wasm providers. A native factory fails if any is set.
    pub limits: LimitsConfig,
}

/// Creates a provider from its input, on the registry's runtime.
pub type Factory = Arc<dyn Fn(FactoryInput) -> FactoryFuture + Send + Sync>;

/// Name of the built-in wasm memory adapter.
pub const MEMORY: &str = "memory";
/// Name of the built-in moka provider.
pub const NATIVE_MEMORY: &str = "native-memory";
/// Name of the built-in encryption wrapper.
pub const ENCRYPTION: &str = "encryption";
/// Name of the built-in two-tier wrapper.
pub const TIERED: &str = "tiered";
/// Name of the built-in fallback wrapper.
pub const FALLBACK: &str = "fallback";

/// A provider and, for a wrapper, the stack below it: what a cache's configuration
/// describes with nested `inner:` entries.
///
/// ```
/// # async fn demo() -> byoc::Result<()> {
/// use byoc::{AdapterConfig, ConfigValue, Registry, StackSpec};
///
/// let key = format!("k1:{}", "ab".repeat(32));
/// let stack = StackSpec::new("encryption")
///     .config(AdapterConfig::new().with("keys", ConfigValue::TextList(vec![key])))
///     .inner(StackSpec::new("tiered")
///         .inner(StackSpec::new("memory"))
///         .inner(StackSpec::new("native-memory")));
/// let provider = Registry::new()?.build(&stack).await?;
/// assert_eq!(provider.info().stack(), "encryption(tiered(memory, native-memory))");
/// provider.set("k", b"secret", None).await?;
/// assert_eq!(provider.get("k").await?, Some(b"secret".to_vec()));
/// # Ok(()) }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo()).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct StackSpec {
    /// A registered provider name.
    pub provider: String,
    /// Its configuration.
    pub config: AdapterConfig,
    /// The layers below it (for wrappers), layer 0 first.
    pub inner: Vec<StackSpec>,
    /// For a component file: the sha256 it must have (lowercase hex).
    pub sha256: Option<String>,
    /// For a component file: its capabilities (registered providers derive theirs from
    /// their configuration).
    pub grants: Grants,
    /// Limit overrides on the provider's defaults.
    pub limits: LimitsConfig,
    /// For a component file: instances the keys are spread over (default 1; more only
    /// for adapters whose state lives in the instance).
    pub partitions: Option<usize>,
    /// For a component file: call it synchronously (default false; see
    /// [`WasmProviderBuilder::sync_calls`](crate::wasm::WasmProviderBuilder::sync_calls)).
    /// Building fails if the component imports anything that can wait.
    pub sync_calls: bool,
}

impl StackSpec {
    /// The provider `name` with an empty configuration and nothing below it.
    pub fn new(name: impl Into<String>) -> Self {
        StackSpec {
            provider: name.into(),
            config: AdapterConfig::new(),
            inner: Vec::new(),
            sha256: None,
            grants: Grants::none(),
            limits: LimitsConfig::default(),
            partitions: None,
            sync_calls: false,
        }
    }

    /// A component file as the provider (see [`Registry::build`]), optionally pinned.
    pub fn component(path: impl AsRef<std::path::Path>, sha256: Option<&str>) -> Self {
        let mut spec = StackSpec::new(path.as_ref().display().to_string());
        spec.sha256 = sha256.map(str::to_ascii_lowercase);
        spec
    }

    /// Sets the grants of a component file.
    pub fn grants(mut self, grants: Grants) -> Self {
        self.grants = grants;
        self
    }

    /// Sets limit overrides.
    pub fn limits(mut self, limits: LimitsConfig) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the configuration.
    pub fn config(mut self, config: AdapterConfig) -> Self {
        self.config = config;
        self
    }

    /// Adds a layer below (layer 0 first).
    pub fn inner(mut self, layer: StackSpec) -> Self {
        self.inner.push(layer);
        self
    }
}

/// Providers by name. [`Registry::new`] holds the built-ins:
///
/// - `memory`: the embedded wasm memory adapter, partitioned over the available cores.
///   `max-bytes` (default 64 MiB) and `max-entries` bound the whole provider: the factory
///   divides them among partitions. Also `eviction` (`lru`, `lfu`, `ttl`, `tinylfu`).
///   Called synchronously, as it never waits (see
///   [`WasmProviderBuilder::sync_calls`](crate::wasm::WasmProviderBuilder::sync_calls)).
/// - `native-memory`: [`NativeMemoryProvider`]; field `max-bytes` (size, default 64 MiB).
/// - `encryption` (wrapper, one layer), `tiered` (wrapper: L1, L2) and `fallback`
///   (wrapper: primary, fallback): the embedded wrapper components; see
///   `adapters/*/src/lib.rs` for their fields. Wrappers run one instance each.
/// - `redis`: the embedded Redis adapter over the host's native Redis; its configuration
///   is the grant (see [`crate::redis::grant_from_config`]): `url` or `cluster-urls`,
///   `namespace`, and optional timeouts.
/// - `filesystem`: the embedded filesystem adapter on a granted directory: `dir` (text,
///   required), `read-only` (boolean), `namespace` (text), `fsync` (boolean), `create` (boolean).
/// - `redb`: the embedded redb store adapter on a granted directory: `dir` (text,
///   required), `read-only`, `create` (booleans), `file`, `durability`, `lock-stale`,
///   `cache-size` (see `adapters/redb`).
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
        registry.replace(MEMORY, Arc::new(|input| Box::pin(memory(input))));
        registry.replace(
            crate::redis::REDIS,
            Arc::new(|input| {
                Box::pin(async move {
                    no_layers(crate::redis::REDIS, &input)?;
                    crate::redis::factory(input.runtime, input.config, &input.limits).await
                })
            }),
        );
        registry.replace(
            NATIVE_MEMORY,
            Arc::new(|input| Box::pin(async move { native_memory(input) })),
        );
        for (name, bytes, sha256) in [
            (ENCRYPTION, ENCRYPTION_WRAPPER, builtin::ENCRYPTION_SHA256),
            (TIERED, TIERED_WRAPPER, builtin::TIERED_SHA256),
            (FALLBACK, FALLBACK_WRAPPER, builtin::FALLBACK_SHA256),
        ] {
            registry.replace(
                name,
                Arc::new(move |input| Box::pin(wasm_wrapper(name, bytes, sha256, input))),
            );
        }
        registry.replace(
            crate::FILESYSTEM,
            Arc::new(|input| {
                Box::pin(async move {
                    no_layers(crate::FILESYSTEM, &input)?;
                    crate::factories::filesystem(input.runtime, input.config, &input.limits).await
                })
            }),
        );
        // Embedded store built-ins.
        registry.replace(
            crate::REDB,
            Arc::new(|input| {
                Box::pin(async move {
                    no_layers(crate::REDB, &input)?;
                    crate::store_factory::redb(input.runtime, input.config, &input.limits).await
                })
            }),
        );
        registry.replace(
            crate::HTTP,
            Arc::new(|input| {
                Box::pin(async move {
                    no_layers(crate::HTTP, &input)?;
                    crate::factories::http(input.runtime, input.config, &input.limits).await
                })
            }),
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

    /// Creates the provider registered under `name` with `config` (no layers below).
    pub async fn create(&self, name: &str, config: AdapterConfig) -> Result<Arc<dyn Provider>> {
        self.create_with_layers(name, config, Vec::new(), LimitsConfig::default())
            .await
    }

    /// Creates a whole stack: every layer first (bottom up), then the wrappers over them.
    ///
    /// A provider name ending in `.wasm` is a component file: it is read, checked against
    /// `spec.sha256` when given, compiled (or taken from the compiled-code cache), checked
    /// against the grants (see [`crate::components::check_grants`]) and instantiated with
    /// `spec.grants`, `spec.limits` and `spec.partitions`.
    pub async fn build(&self, spec: &StackSpec) -> Result<Arc<dyn Provider>> {
        let mut layers = Vec::with_capacity(spec.inner.len());
        for layer in &spec.inner {
            layers.push(Box::pin(self.build(layer)).await?);
        }
        if crate::config_file::is_component_path(&spec.provider) {
            return crate::components::build(&self.runtime, spec, layers).await;
        }
        if spec.sha256.is_some()
            || spec.grants != Grants::none()
            || spec.partitions.is_some()
            || spec.sync_calls
        {
            return Err(Error::InvalidConfig(format!(
                "provider `{}`: sha256, grants, partitions and sync-calls apply to component \
                 files only",
                spec.provider
            )));
        }
        self.create_with_layers(
            &spec.provider,
            spec.config.clone(),
            layers,
            spec.limits.clone(),
        )
        .await
    }

    async fn create_with_layers(
        &self,
        name: &str,
        config: AdapterConfig,
        layers: Vec<Arc<dyn Provider>>,
        limits: LimitsConfig,
    ) -> Result<Arc<dyn Provider>> {
        let factory = self
            .factories
            .get(name)
            .ok_or_else(|| Error::UnknownProvider {
                name: name.to_owned(),
                known: self.names().join(", "),
            })?;
        factory(FactoryInput {
            runtime: self.runtime.clone(),
            config,
            layers,
            limits,
        })
        .await
    }
}

/// Fails when a provider that takes no layers is given some.
fn no_layers(name: &str, input: &FactoryInput) -> Result<()> {
    if input.layers.is_empty() {
        Ok(())
    } else {
        Err(Error::InvalidConfig(format!(
            "provider `{name}` is not a wrapper and takes no inner providers (got {})",
            input.layers.len()
        )))
    }
}

/// A wrapper component over `input.layers`: one instance, as its state (counters) and
/// whole-cache operations (scan, clear, stats) go through the layers below.
async fn wasm_wrapper(
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

/// The `memory` factory: the embedded component, bounds divided among partitions.
async fn memory(input: FactoryInput) -> Result<Arc<dyn Provider>> {
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

/// The `native-memory` factory.
fn native_memory(input: FactoryInput) -> Result<Arc<dyn Provider>> {
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
