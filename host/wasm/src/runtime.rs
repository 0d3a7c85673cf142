//! The process's wasmtime engine, its epoch ticker and the compiled-component cache.

use super::bindings::{AdapterIndices, atomics, bulk, sync};
use super::state::HostState;
use crate::{Error, Result};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, InstancePre, Linker};
use wasmtime::{Config, Engine};

/// Default [`RuntimeConfig::epoch_tick`]: 10 ms.
pub const DEFAULT_EPOCH_TICK: Duration = Duration::from_millis(10);

/// Default [`RuntimeConfig::max_wasm_stack`]: 512 KiB.
pub const DEFAULT_MAX_WASM_STACK: usize = 512 << 10;

/// Where compiled machine code of components is kept between processes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CodeCache {
    /// `$BYOC_CACHE_DIR`, else `$XDG_CACHE_HOME/byoc`, else `$HOME/.cache/byoc` (entries
    /// in its `components/`); disabled if none is set or the directory cannot be created
    /// or is writable by group or others.
    #[default]
    Default,
    /// This directory (entries in its `components/`).
    Dir(PathBuf),
    /// Compile every component in every process.
    Disabled,
}

/// A host import linked into a runtime's linker ([`Runtime::link`]; see
/// [`crate::extension`]).
pub trait HostImport: Send + Sync + 'static {
    /// The interface it serves (`package/name`, e.g. `byoc:cache/redis`); a runtime links
    /// each interface once.
    fn interface(&self) -> &'static str;

    /// Adds the import's functions to `linker`.
    fn add_to_linker(&self, linker: &mut Linker<HostState>) -> Result<()>;
}

/// Settings of a [`Runtime`].
#[derive(Debug, Clone)]
#[must_use]
pub struct RuntimeConfig {
    /// Compiled-code cache (default [`CodeCache::Default`]): uncompressed machine code,
    /// mapped from the file on a hit. Keyed on the component's SHA-256 and wasmtime's
    /// engine-compatibility hash, so a changed component or engine never loads stale
    /// code. Entries unused for 30 days are removed when a new one is written.
    pub code_cache: CodeCache,
    /// Granularity of call deadlines: a background thread advances the engine's epoch this
    /// often (default [`DEFAULT_EPOCH_TICK`]). A deadline fires at most two ticks late, or
    /// three for a call on a fiber: the first tick such a call meets in each poll of it
    /// neither yields nor interrupts it (it may have passed while the call waited).
    pub epoch_tick: Duration,
    /// Maximum wasm stack of a call (default [`DEFAULT_MAX_WASM_STACK`]); deeper recursion
    /// traps.
    pub max_wasm_stack: usize,
    /// `Some(n)`: allocate instances from wasmtime's pooling allocator, sized for `n`
    /// instances alive at once (their memories, tables and fiber stacks are reserved up
    /// front and reused, which makes instantiation cheaper; the first 64 KiB of each
    /// memory and table are zeroed in place on reuse rather than returned to the
    /// kernel, saving page faults); starting an instance beyond
    /// `n` fails with [`Error::Trapped`], so size `n` for every instance of every provider
    /// on the runtime: partitions, and pooled instances up to their maximum (the `redis`
    /// provider's is 256 by default). `None` (default): allocate on demand.
    pub pooling_allocator: Option<u32>,
    /// Whether compiled code checks the epoch (default `true`). The epoch is what stops a
    /// guest that computes past its call deadline; with `false` only the wall-clock
    /// deadline at host await points remains, which cannot stop a spinning guest. Turn
    /// it off only for trusted adapters (it exists to measure its cost).
    pub epoch_interruption: bool,
    /// Whether compiled code carries native unwind tables (`.eh_frame`; default `false`).
    /// Only tools that unwind the native stack through wasm frames need them: `perf
    /// --call-graph dwarf`, a debugger, the `backtrace` crate. BYOC's own errors do not:
    /// traps, wasm backtraces and host panics work the same without them. Leaving them
    /// out makes every load cheaper (they are registered with the system unwinder
    /// function by function, a measurable share of a load from the code cache). Code cached
    /// with one setting is recompiled, not reused, under the other.
    pub native_unwind_info: bool,
    /// Whether wasmtime names every function it compiles or loads for this runtime in
    /// `/tmp/perf-<pid>.map` (default `false`), where `perf report` looks up the names of
    /// JIT code: with it, samples in guests are attributed to their wasm functions
    /// (`wasm[M]::function[N]`, M the core module, when a component carries no names)
    /// instead of unknown addresses. Each load appends to the file, which is never
    /// trimmed, so turn it on only to profile. Unix only: elsewhere [`Runtime::new`] fails with
    /// [`Error::Internal`].
    pub perf_map: bool,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            code_cache: CodeCache::Default,
            epoch_tick: DEFAULT_EPOCH_TICK,
            max_wasm_stack: DEFAULT_MAX_WASM_STACK,
            pooling_allocator: None,
            epoch_interruption: true,
            native_unwind_info: false,
            perf_map: false,
        }
    }
}

/// The wasmtime side of BYOC: one engine, its linker, an epoch ticker and the components
/// compiled so far. Cheap to clone (clones share everything); one per process is the
/// intent, see [`Runtime::shared`].
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) engine: Engine,
    /// The linker, and the interfaces host imports added to it ([`Runtime::link`]).
    linker: RwLock<(Linker<HostState>, Vec<&'static str>)>,
    code_cache: Option<super::code_cache::CodeDir>,
    pub(crate) epoch_tick: Duration,
    compiled: Mutex<HashMap<[u8; 32], AdapterComponent>>,
    /// The linker of synchronously called instances (see `nowait`), made on first use.
    sync_linker: OnceLock<std::result::Result<Linker<HostState>, String>>,
    stop: Arc<AtomicBool>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("epoch_tick", &self.inner.epoch_tick)
            .finish_non_exhaustive()
    }
}

/// A component linked for synchronous calls (see
/// [`WasmProviderBuilder::sync_calls`](super::WasmProviderBuilder::sync_calls)).
pub(crate) struct SyncExports {
    pub(crate) pre: InstancePre<HostState>,
    pub(crate) indices: sync::AdapterIndices,
    pub(crate) bulk: Option<sync::bulk::GuestIndices>,
    pub(crate) atomics: Option<sync::atomics::GuestIndices>,
}

/// A compiled component, linked and ready to instantiate. Cheap to clone.
#[derive(Clone)]
pub struct AdapterComponent {
    pub(crate) name: Arc<str>,
    pub(crate) pre: InstancePre<HostState>,
    /// Where the `lifecycle` and `provider` exports are.
    pub(crate) indices: Arc<AdapterIndices>,
    /// Where the optional `bulk` export is, if the component has one.
    pub(crate) bulk: Option<Arc<bulk::GuestIndices>>,
    /// Where the optional `atomics` export is, if the component has one.
    pub(crate) atomics: Option<Arc<atomics::GuestIndices>>,
    /// Imported and exported interfaces, with versions (`wasi:io/poll@0.2.6`).
    interfaces: Arc<(Vec<String>, Vec<String>)>,
    /// The component linked for synchronous calls, or why it cannot take them; made on
    /// first use.
    sync: Arc<OnceLock<std::result::Result<Arc<SyncExports>, Arc<str>>>>,
}

impl std::fmt::Debug for AdapterComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdapterComponent")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl AdapterComponent {
    /// The name the component was loaded under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The interfaces the component imports, with versions (`wasi:io/poll@0.2.6`).
    pub fn imports(&self) -> &[String] {
        &self.interfaces.0
    }

    /// The interfaces the component exports, with versions.
    pub fn exports(&self) -> &[String] {
        &self.interfaces.1
    }

    /// Whether the component imports `interface` (`package/name`, any version).
    pub fn imports_interface(&self, interface: &str) -> bool {
        self.imports()
            .iter()
            .any(|i| i.split_once('@').map_or(i.as_str(), |(n, _)| n) == interface)
    }
}

fn default_cache_dir() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("BYOC_CACHE_DIR")
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("byoc")))
        .or_else(|| env("HOME").map(|d| d.join(".cache").join("byoc")))
}

impl Runtime {
    /// A runtime with its own engine and epoch ticker thread (stopped when the last clone
    /// is dropped).
    pub fn new(config: RuntimeConfig) -> Result<Runtime> {
        let mut wasm = Config::new();
        wasm.epoch_interruption(config.epoch_interruption)
            // BYOC's guests are WASIp2 components; the p3 concurrency machinery costs
            // time on every call and is not needed.
            .concurrency_support(false)
            .max_wasm_stack(config.max_wasm_stack)
            // A fiber's stack holds its guest's wasm, the host's frames, and a synchronous
            // call made from a host import (a wrapper's `inner` reaching a layer called
            // synchronously: its wasm stack starts where the import is): room for two
            // wasm stacks and 1 MiB of host frames (2 MiB, wasmtime's default, at the
            // default `max_wasm_stack`).
            .async_stack_size(
                config
                    .max_wasm_stack
                    .saturating_mul(2)
                    .saturating_add(1 << 20),
            )
            .native_unwind_info(config.native_unwind_info);
        if config.perf_map {
            wasm.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        if let Some(n) = config.pooling_allocator {
            wasm.allocation_strategy(super::pooling::strategy(n));
        }
        let dir = match &config.code_cache {
            CodeCache::Default => default_cache_dir(),
            CodeCache::Dir(dir) => Some(dir.clone()),
            CodeCache::Disabled => None,
        };
        let engine =
            Engine::new(&wasm).map_err(|e| Error::Internal(format!("wasmtime engine: {e:#}")))?;
        // An unusable cache directory costs compile time, never correctness.
        let code_cache =
            dir.and_then(|dir| super::code_cache::CodeDir::open(&dir.join("components"), &engine));
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| Error::Internal(format!("linking WASI: {e:#}")))?;
        // Name lookups and socket creation checked against the store's TCP grant.
        super::tcp::add_to_linker(&mut linker)?;
        super::bindings::byoc::cache::inner::add_to_linker::<_, HasSelf<HostState>>(
            &mut linker,
            |state| state,
        )
        .map_err(|e| Error::Internal(format!("linking byoc:cache/inner: {e:#}")))?;
        // wasi:http is linked for every adapter; requests are refused unless granted.
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| Error::Internal(format!("linking wasi:http: {e:#}")))?;

        let stop = Arc::new(AtomicBool::new(false));
        spawn_ticker(engine.clone(), config.epoch_tick, Arc::clone(&stop))?;
        Ok(Runtime {
            inner: Arc::new(Inner {
                engine,
                linker: RwLock::new((linker, Vec::new())),
                code_cache,
                epoch_tick: config.epoch_tick,
                compiled: Mutex::new(HashMap::new()),
                sync_linker: OnceLock::new(),
                stop,
            }),
        })
    }

    /// The process-wide runtime with the default configuration, created on first use.
    pub fn shared() -> Result<Runtime> {
        static SHARED: OnceLock<std::result::Result<Runtime, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| Runtime::new(RuntimeConfig::default()).map_err(|e| e.to_string()))
            .clone()
            .map_err(Error::Internal)
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    /// Whether `component` can be called synchronously (see
    /// [`WasmProviderBuilder::sync_calls`](super::WasmProviderBuilder::sync_calls)): it
    /// imports nothing that can wait (clocks, randomness, `wasi:cli` and `wasi:io` only).
    /// If not, an [`Error::InvalidConfig`] naming the import that stands in the way.
    pub fn can_call_sync(&self, component: &AdapterComponent) -> Result<()> {
        self.linked_for_sync(component).map(drop)
    }

    /// [`Runtime::sync_exports`], refused as [`Runtime::can_call_sync`] says.
    pub(crate) fn linked_for_sync(&self, component: &AdapterComponent) -> Result<Arc<SyncExports>> {
        self.sync_exports(component).map_err(|why| {
            Error::InvalidConfig(format!(
                "component `{}`: `sync-calls` needs a component that imports nothing that \
                 can wait (clocks, randomness, wasi:cli and wasi:io only): {why}",
                component.name()
            ))
        })
    }

    /// `component` linked for synchronous calls, or why it cannot be (the first import
    /// the `nowait` linker does not serve). Linked once per component.
    pub(crate) fn sync_exports(
        &self,
        component: &AdapterComponent,
    ) -> std::result::Result<Arc<SyncExports>, Arc<str>> {
        let link = || {
            let linker = self.inner.sync_linker.get_or_init(|| {
                super::nowait::linker(&self.inner.engine).map_err(|e| format!("{e:#}"))
            });
            let linker = linker.as_ref().map_err(|e| e.as_str())?;
            let why = |e: wasmtime::Error| format!("{e:#}");
            let pre = linker
                .instantiate_pre(component.pre.component())
                .map_err(why)?;
            let indices = sync::AdapterIndices::new(&pre).map_err(why)?;
            let bulk = match component.bulk {
                Some(_) => Some(sync::bulk::GuestIndices::new(&pre).map_err(why)?),
                None => None,
            };
            let atomics = match component.atomics {
                Some(_) => Some(sync::atomics::GuestIndices::new(&pre).map_err(why)?),
                None => None,
            };
            Ok(Arc::new(SyncExports {
                pre,
                indices,
                bulk,
                atomics,
            }))
        };
        component
            .sync
            .get_or_init(|| link().map_err(|e: String| Arc::from(e)))
            .clone()
    }

    /// Compiles (or fetches from the caches) the component `bytes`, links it against the
    /// host and checks that it exports the `adapter` world. `name` is used in errors.
    ///
    /// The same bytes are compiled once per runtime; across processes the on-disk code
    /// cache serves them.
    pub fn load(&self, name: &str, bytes: &[u8]) -> Result<AdapterComponent> {
        self.load_hashed(name, bytes, super::code_cache::sha256(bytes))
    }

    /// Links a host import added by an extension (such as `byoc-redis`'s) into this
    /// runtime and every clone of it; a second import of the same interface is ignored.
    /// Components that import it load from then on. If linking fails, the runtime's
    /// linker may hold part of the import.
    pub fn link(&self, import: &dyn HostImport) -> Result<()> {
        let mut linked = self
            .inner
            .linker
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let (linker, interfaces) = &mut *linked;
        if interfaces.contains(&import.interface()) {
            return Ok(());
        }
        import.add_to_linker(linker)?;
        interfaces.push(import.interface());
        Ok(())
    }

    /// [`load`](Runtime::load) of a component whose SHA-256 is known (the built-in
    /// adapters': computed at build time).
    pub fn load_hashed(
        &self,
        name: &str,
        bytes: &[u8],
        hash: [u8; 32],
    ) -> Result<AdapterComponent> {
        let cached = self.lock_compiled().get(&hash).cloned();
        if let Some(found) = cached {
            return Ok(AdapterComponent {
                name: name.into(),
                ..found
            });
        }
        check_header(name, bytes)?;
        let load_err = |e: wasmtime::Error| Error::Load {
            component: name.to_owned(),
            reason: one_line(&format!("{e:#}")),
        };
        let engine = &self.inner.engine;
        let component = match &self.inner.code_cache {
            Some(cache) => cache.load(engine, &hash, bytes),
            None => Component::new(engine, bytes),
        }
        .map_err(load_err)?;
        super::imports::check(&self.inner.engine, &component, name)?;
        let instance_pre = self
            .inner
            .linker
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .instantiate_pre(&component)
            .map_err(load_err)?;
        let indices = AdapterIndices::new(&instance_pre).map_err(load_err)?;
        let bulk = bulk::GuestIndices::new(&instance_pre).ok().map(Arc::new);
        let atomics = atomics::GuestIndices::new(&instance_pre).ok().map(Arc::new);
        let ty = component.component_type();
        let names = |it: &mut dyn Iterator<Item = String>| it.collect::<Vec<String>>();
        let imports = names(&mut ty.imports(&self.inner.engine).map(|(n, _)| n.to_owned()));
        let exports = names(&mut ty.exports(&self.inner.engine).map(|(n, _)| n.to_owned()));
        let loaded = AdapterComponent {
            name: name.into(),
            pre: instance_pre,
            indices: Arc::new(indices),
            bulk,
            atomics,
            interfaces: Arc::new((imports, exports)),
            sync: Arc::default(),
        };
        self.lock_compiled().insert(hash, loaded.clone());
        Ok(loaded)
    }

    /// Like [`load`](Runtime::load), but only if the component's SHA-256 is `sha256`
    /// (64 hex digits): a component that changed on disk is refused.
    pub fn load_pinned(&self, name: &str, bytes: &[u8], sha256: &str) -> Result<AdapterComponent> {
        let hash = super::code_cache::sha256(bytes);
        let actual = hex::encode(hash);
        if !actual.eq_ignore_ascii_case(sha256.trim()) {
            return Err(Error::Load {
                component: name.to_owned(),
                reason: format!("its SHA-256 is {actual}, but the configuration pins {sha256}"),
            });
        }
        // Hashed once: the pin check's digest is the cache key too.
        self.load_hashed(name, bytes, hash)
    }

    /// Like [`load`](Runtime::load), reading the component from a file
    /// ([`read_component_file`]).
    pub fn load_file(&self, path: impl AsRef<std::path::Path>) -> Result<AdapterComponent> {
        let path = path.as_ref();
        let bytes = read_component_file(path)?;
        self.load(&path.display().to_string(), &bytes)
    }

    fn lock_compiled(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], AdapterComponent>> {
        // The map is only ever inserted into; a panic elsewhere cannot leave it torn.
        self.inner
            .compiled
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The largest component file [`read_component_file`] reads (the largest components, a
/// JavaScript or Python interpreter with its program, are 10-20 MB).
pub const MAX_COMPONENT_FILE_BYTES: u64 = 256 << 20;

/// The header of a WebAssembly binary: magic, then a 4-byte version/layer field.
const WASM_MAGIC: &[u8; 4] = b"\0asm";
/// Version and layer of a component (a core module has `01 00 00 00`).
const COMPONENT_VERSION: &[u8; 4] = &[0x0d, 0x00, 0x01, 0x00];

/// Refuses, in one line, bytes that are not a WebAssembly component, before the parser
/// (whose errors span lines) sees them.
fn check_header(name: &str, bytes: &[u8]) -> Result<()> {
    let bad = |reason: &str| {
        Err(Error::Load {
            component: name.to_owned(),
            reason: reason.to_owned(),
        })
    };
    match bytes.split_first_chunk::<4>() {
        Some((magic, rest)) if magic == WASM_MAGIC => match rest.first_chunk::<4>() {
            Some(v) if v == COMPONENT_VERSION => Ok(()),
            Some([1, 0, 0, 0]) => bad(
                "it is a core WebAssembly module, not a component (make one with \
                 `wasm-tools component new`)",
            ),
            _ => bad("it is not a WebAssembly component (unknown version)"),
        },
        _ => bad("it is not a WebAssembly component (no `\\0asm` header)"),
    }
}

/// An error text on one line: wasmparser's messages print byte arrays over many lines.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Reads a component file: a regular file of at most [`MAX_COMPONENT_FILE_BYTES`] whose
/// first bytes are a component's header. A FIFO or device is refused before it is opened
/// for reading (which could block); a large file that is not a component is refused
/// after its first 8 bytes.
pub fn read_component_file(path: &std::path::Path) -> Result<Vec<u8>> {
    use std::io::Read as _;
    let name = path.display().to_string();
    let fail = |reason: String| Error::Load {
        component: name.clone(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(format!("cannot read the file: {e}")))?;
    if !meta.is_file() {
        return Err(fail("it is not a regular file".into()));
    }
    if meta.len() > MAX_COMPONENT_FILE_BYTES {
        return Err(fail(format!(
            "the file has {} bytes, more than the {} a component may have",
            meta.len(),
            MAX_COMPONENT_FILE_BYTES
        )));
    }
    let file = std::fs::File::open(path).map_err(|e| fail(format!("cannot read the file: {e}")))?;
    let mut head = Vec::with_capacity(8);
    let mut reader = file.take(MAX_COMPONENT_FILE_BYTES + 1);
    (&mut reader)
        .take(8)
        .read_to_end(&mut head)
        .map_err(|e| fail(format!("cannot read the file: {e}")))?;
    check_header(&name, &head)?;
    let mut bytes = head;
    bytes.reserve(usize::try_from(meta.len()).unwrap_or(0).saturating_sub(8));
    reader
        .read_to_end(&mut bytes)
        .map_err(|e| fail(format!("cannot read the file: {e}")))?;
    if bytes.len() as u64 > MAX_COMPONENT_FILE_BYTES {
        return Err(fail(format!(
            "the file grew past the {MAX_COMPONENT_FILE_BYTES} bytes a component may have"
        )));
    }
    Ok(bytes)
}

/// The SHA-256 of `bytes` as 64 lowercase hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(super::code_cache::sha256(bytes))
}

fn spawn_ticker(engine: Engine, tick: Duration, stop: Arc<AtomicBool>) -> Result<()> {
    std::thread::Builder::new()
        .name("byoc-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(tick);
                engine.increment_epoch();
            }
        })
        .map(drop)
        .map_err(|e| Error::Internal(format!("cannot start the epoch thread: {e}")))
}
