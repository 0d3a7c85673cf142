//! A provider and the stack of layers below it, as configuration describes it.

use crate::AdapterConfig;
use crate::limits::LimitsConfig;
use crate::wasm::Grants;

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

    /// A component file as the provider (see [`Registry::build`](crate::Registry::build)), optionally pinned.
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
