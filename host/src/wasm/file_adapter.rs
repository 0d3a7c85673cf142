//! Adapters brought as a `.wasm` file: a registry factory for a component on disk, in any
//! language, and the list of interfaces a loaded component imports.

use super::{AdapterComponent, Limits, WasmProvider};
use crate::{Factory, FactoryInput, Result};
use std::path::PathBuf;
use std::sync::Arc;

impl AdapterComponent {
    /// The interfaces this component imports, without versions (e.g. `wasi:clocks/wall-clock`),
    /// as checked against [`super::ALLOWED_IMPORTS`] when it was loaded.
    pub fn imports(&self) -> Vec<String> {
        let component = self.pre.instance_pre().component();
        super::imported_interfaces(component.engine(), component)
    }
}

/// A component file registered as a provider: what a third party's adapter (written in
/// Rust, JavaScript, Python, C, ...) becomes in a [`crate::Registry`].
///
/// ```no_run
/// # async fn demo() -> byoc::Result<()> {
/// use byoc::{AdapterConfig, Registry};
/// use byoc::wasm::FileAdapter;
///
/// let mut registry = Registry::new()?;
/// registry.register("js-memory", FileAdapter::new("target/polyglot/js.wasm").factory())?;
/// let provider = registry.create("js-memory", AdapterConfig::new()).await?;
/// provider.set("k", b"v", None).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct FileAdapter {
    path: PathBuf,
    partitions: usize,
    limits: Limits,
}

impl FileAdapter {
    /// The component at `path`, run as one instance with the default [`Limits`].
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileAdapter {
            path: path.into(),
            partitions: 1,
            limits: Limits::default(),
        }
    }

    /// Runs `n` instances, keys routed by hash (see [`super::WasmProviderBuilder::partitions`]).
    /// Only for adapters whose state is their own linear memory: an adapter over a shared
    /// backend must run as one instance.
    pub fn partitions(mut self, n: usize) -> Self {
        self.partitions = n;
        self
    }

    /// The sandbox limits of every instance.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The registry factory: each `create` reads the file (so a rebuilt component is picked
    /// up; unchanged bytes are compiled once per runtime and served from the code cache
    /// across processes), checks its imports, and builds a [`WasmProvider`] with the given
    /// configuration. Grants are not given: a file adapter runs with no capability.
    pub fn factory(self) -> Factory {
        let spec = Arc::new(self);
        Arc::new(move |input: FactoryInput| {
            let spec = Arc::clone(&spec);
            Box::pin(async move { spec.create(input).await })
        })
    }

    async fn create(&self, input: FactoryInput) -> Result<Arc<dyn crate::Provider>> {
        let component = input.runtime.load_file(&self.path)?;
        let provider = WasmProvider::builder(&input.runtime, component)
            .config(input.config)
            .limits(self.limits.clone())
            .layers(input.layers)
            .partitions(self.partitions)
            .build()
            .await?;
        Ok(Arc::new(provider))
    }
}
