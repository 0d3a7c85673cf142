//! Providers by name: built-ins and the factories applications add.

use crate::factories::{Factory, FactoryInput};
use crate::limits::LimitsConfig;
use crate::stack::StackSpec;
use crate::wasm::{Grants, Runtime};
use crate::{AdapterConfig, Error, Provider, Result};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Providers by name. [`Registry::new`] holds the built-ins:
///
/// - `memory`: the embedded wasm memory adapter, partitioned over the available cores.
///   `max-bytes` (default 64 MiB) and `max-entries` bound the whole provider: the factory
///   divides them among partitions. Also `eviction` (`lru`, `lfu`, `ttl`, `tinylfu`).
///   Called synchronously, as it never waits (see
///   [`WasmProviderBuilder::sync_calls`](crate::wasm::WasmProviderBuilder::sync_calls)).
/// - `native-memory`: [`NativeMemoryProvider`](crate::NativeMemoryProvider); field `max-bytes` (size, default 64 MiB).
/// - `encryption` (wrapper, one layer), `tiered` (wrapper: L1, L2) and `fallback`
///   (wrapper: primary, fallback): the embedded wrapper components; see
///   `adapters/*/src/lib.rs` for their fields. Wrappers run one instance each.
/// - `redis`: the embedded Redis adapter over the host's native Redis; its configuration
///   is the grant (see [`crate::redis::grant_from_config`]): `url` or `cluster-urls`,
///   `namespace`, and optional timeouts.
/// - `filesystem`: the embedded filesystem adapter on a granted directory: `dir` (text,
///   required), `read-only` (boolean), `namespace` (text), `fsync` (boolean), `create` (boolean),
///   `mode` (octal text: a created directory's permissions, default 0700), `offload-io`.
/// - `redb`: the embedded redb store adapter on a granted directory: `dir` (text,
///   required), `read-only`, `create` (booleans), `file`, `durability`, `lock-stale`,
///   `cache-size`, `max-bytes`, `max-entries` (see `adapters/redb`).
/// - `sqlite`: the embedded SQLite store adapter, granted as `redb` is; `file`, `journal`,
///   `synchronous`, `lock-stale`, `max-bytes`, `max-entries` (see `adapters/sqlite`).
/// - `postgres`: the embedded PostgreSQL adapter, granted TCP to its `host`:`port` only:
///   `user`, `namespace` (required), `password`, `database`, `instances`, `deadline` (see
///   `docs/adapters.md`).
/// - `http`: the embedded HTTP adapter, granted the origin of its `url` (text, required);
///   `token` (text), `headers` (text list), `timeout` (duration, default 5 s).
/// - `s3`: the embedded S3 adapter, granted the origin of its `endpoint`: `bucket`
///   (required), `region`, `prefix`, `addressing`, credentials, `timeout`,
///   `create-bucket` (see `docs/cloud.md`).
/// - `dynamodb`: the embedded DynamoDB adapter, granted the origin of its `endpoint`:
///   `table` (required), `region`, `namespace`, credentials, `timeout`, `create-table`.
/// - `etcd`: the embedded etcd adapter, granted the origin of its `endpoint` (required):
///   `namespace`, `user`, `password`, `timeout`, `lease-bucket` (see `docs/cloud.md`).
/// - `memcached`: the embedded memcached adapter, granted TCP to its `servers` (text
///   list of `host:port`, ketama over several); `namespace` (text, required), `instances`
///   (integer, default 64, pooled). It cannot scan or clear (see `docs/adapters.md`).
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
        for (name, factory) in crate::factories::builtins() {
            registry.replace(name, factory);
        }
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
