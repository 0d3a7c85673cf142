//! One sandboxed adapter instance: its store, its limits, and what happens when it traps.

use super::bindings::atomics::Guest as AtomicsGuest;
use super::bindings::bulk::Guest as BulkGuest;
use super::bindings::byoc::cache::types::{AdapterDescription, Error as WitError};
use super::bindings::{Adapter, ConfigEntry, sync};
use super::grants::Grants;
use super::http::GrantedHttp;
use super::limits::{Limits, WALL_CLOCK_GRACE};
use super::quarantine::QuarantineState;
use super::runtime::{AdapterComponent, SyncExports};
use super::state::HostState;
use crate::{Error, Provider, Result};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store, StoreLimitsBuilder, Trap, UpdateDeadline};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi_http::WasiHttpCtx;

/// How many of the last bytes a guest wrote to stderr are kept.
pub(crate) const STDERR_TAIL_BYTES: usize = 2048;

/// The guest's stderr: keeps only the last [`STDERR_TAIL_BYTES`] bytes written, so a
/// guest writing without end costs bounded memory and never blocks or fails a write.
#[derive(Clone, Default)]
pub(crate) struct StderrTail(Arc<std::sync::Mutex<std::collections::VecDeque<u8>>>);

impl StderrTail {
    fn push(&self, bytes: &[u8]) {
        let mut buf = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let keep = &bytes[bytes.len().saturating_sub(STDERR_TAIL_BYTES)..];
        let len = buf.len();
        let over = (len + keep.len()).saturating_sub(STDERR_TAIL_BYTES);
        buf.drain(..over.min(len));
        buf.extend(keep);
    }

    /// The tail as one line of text (control characters, newlines included, shown as
    /// spaces or `\u{..}`, so a guest cannot forge log lines), or `None` if empty.
    pub(crate) fn text(&self) -> Option<String> {
        let buf = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let bytes: Vec<u8> = buf.iter().copied().collect();
        let text = String::from_utf8_lossy(&bytes);
        let line: String = text
            .split(['\n', '\r'])
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" | ")
            .chars()
            .flat_map(|c| {
                if c.is_control() {
                    c.escape_unicode().collect::<Vec<_>>()
                } else {
                    vec![c]
                }
            })
            .collect();
        (!line.is_empty()).then_some(line)
    }
}

impl wasmtime_wasi::cli::IsTerminal for StderrTail {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdoutStream for StderrTail {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn wasmtime_wasi::p2::OutputStream> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl wasmtime_wasi::p2::Pollable for StderrTail {
    async fn ready(&mut self) {}
}

impl wasmtime_wasi::p2::OutputStream for StderrTail {
    fn write(&mut self, bytes: bytes::Bytes) -> wasmtime_wasi::p2::StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> wasmtime_wasi::p2::StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> wasmtime_wasi::p2::StreamResult<usize> {
        Ok(64 << 10)
    }
}

impl tokio::io::AsyncWrite for StderrTail {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.push(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// A live instance.
pub(crate) struct Live {
    pub(crate) store: Store<HostState>,
    pub(crate) exports: Exports,
    /// Set while a call runs on a fiber: still set when the next call finds the
    /// instance, the caller dropped that call mid-way (see [`Shared::ensure`]).
    pub(crate) entered: bool,
}

/// An instance's exports, bound for the way it is called. `bulk` and `atomics` are the
/// optional exports of those names, when the component has them with the contract's types.
pub(crate) enum Exports {
    /// Called on a fiber (`call_async`): the guest may wait in host imports.
    Fiber {
        adapter: Adapter,
        bulk: Option<BulkGuest>,
        atomics: Option<AtomicsGuest>,
    },
    /// Called on the caller's thread ([`Shared::sync`]).
    Sync {
        adapter: sync::Adapter,
        bulk: Option<sync::bulk::Guest>,
        atomics: Option<sync::atomics::Guest>,
    },
}

impl Live {
    /// Starts the deadline of a call. It is measured from the first epoch tick the call
    /// sees, so it may end up to one tick ([`RuntimeConfig::epoch_tick`]) later than
    /// `call_deadline` after the call began.
    ///
    /// [`RuntimeConfig::epoch_tick`]: super::RuntimeConfig::epoch_tick
    pub(crate) fn arm(&mut self) {
        self.store.data_mut().deadline_at = None;
        self.store.set_epoch_deadline(1);
    }

    /// The adapter's `describe`.
    async fn describe(&mut self) -> wasmtime::Result<AdapterDescription> {
        match &self.exports {
            Exports::Fiber { adapter, .. } => {
                let lifecycle = adapter.byoc_cache_lifecycle();
                lifecycle.call_describe(&mut self.store).await
            }
            Exports::Sync { adapter, .. } => adapter
                .byoc_cache_lifecycle()
                .call_describe(&mut self.store),
        }
    }

    /// The optional `atomics.supported` (false without the export).
    async fn atomics_supported(&mut self) -> wasmtime::Result<bool> {
        match &self.exports {
            Exports::Fiber {
                atomics: Some(atomics),
                ..
            } => atomics.call_supported(&mut self.store).await,
            Exports::Sync {
                atomics: Some(atomics),
                ..
            } => atomics.call_supported(&mut self.store),
            _ => Ok(false),
        }
    }

    /// The adapter's `init` with `config`.
    async fn init(&mut self, config: &[ConfigEntry]) -> wasmtime::Result<Result<(), WitError>> {
        match &self.exports {
            Exports::Fiber { adapter, .. } => {
                let lifecycle = adapter.byoc_cache_lifecycle();
                lifecycle.call_init(&mut self.store, config).await
            }
            Exports::Sync { adapter, .. } => adapter
                .byoc_cache_lifecycle()
                .call_init(&mut self.store, config),
        }
    }
}

/// What every instance of one wasm provider shares.
pub(crate) struct Shared {
    pub(crate) component: AdapterComponent,
    pub(crate) engine: Engine,
    /// The adapter configuration, set once it has been checked against the schema.
    pub(crate) config: std::sync::OnceLock<Vec<ConfigEntry>>,
    pub(crate) limits: Limits,
    pub(crate) grants: Grants,
    /// The `wasi:http` hooks every store starts from: the grant and the provider's one
    /// connection pool.
    pub(crate) http: GrantedHttp,
    pub(crate) layers: Vec<Arc<dyn Provider>>,
    pub(crate) traps: AtomicU64,
    pub(crate) quarantine: QuarantineState,
    pub(crate) instantiations: AtomicU64,
    /// Instances dropped because a call on them was abandoned mid-way.
    pub(crate) abandoned: AtomicU64,
    /// Set when instances are called synchronously (see
    /// [`WasmProviderBuilder::sync_calls`](super::WasmProviderBuilder::sync_calls)).
    pub(crate) sync: Option<Arc<SyncExports>>,
}

impl Shared {
    pub(crate) fn name(&self) -> &str {
        &self.component.name
    }

    /// A fresh store: only the grants' capabilities (see [`Grants`]), memory and
    /// call-time limits applied.
    fn store(&self) -> Result<Store<HostState>> {
        let limits = StoreLimitsBuilder::new()
            .memory_size(self.limits.memory_bytes)
            .table_elements(self.limits.table_elements)
            .instances(64)
            .tables(64)
            .memories(16)
            .build();
        let mut wasi = WasiCtx::builder();
        self.grants.apply(&mut wasi)?;
        let stderr = StderrTail::default();
        wasi.stderr(stderr.clone());
        let mut store = Store::new(
            &self.engine,
            HostState {
                wasi: wasi.build(),
                table: ResourceTable::new(),
                limits,
                layers: self.layers.clone(),
                call_deadline: self.limits.call_deadline,
                deadline_at: None,
                yields: self.sync.is_none(),
                extensions: self.grants.store_extensions(),
                http: WasiHttpCtx::new(),
                http_hooks: self.http.clone(),
                tcp: self.grants.tcp.clone().map(Arc::new),
                stderr,
            },
        );
        store.limiter(|state| &mut state.limits);
        // At an epoch tick that finds wasm running, yield to the executor (so a busy
        // guest cannot hold a worker thread), or interrupt the call once its deadline
        // has passed. A synchronous call cannot yield: it runs on until its deadline.
        // The first tick a fiber call meets in a poll does neither (`first_tick_of_poll`):
        // it may have passed while the call waited in an import or for a worker, and
        // says nothing of the guest; the guest runs on to the next tick.
        store.epoch_deadline_callback(|mut ctx| {
            let now = Instant::now();
            let state = ctx.data_mut();
            let deadline_at = *state.deadline_at.get_or_insert(now + state.call_deadline);
            Ok(if state.yields && super::deadline::first_tick_of_poll() {
                UpdateDeadline::Continue(1)
            } else if now >= deadline_at {
                UpdateDeadline::Interrupt
            } else if state.yields {
                UpdateDeadline::Yield(1)
            } else {
                UpdateDeadline::Continue(1)
            })
        });
        store.set_epoch_deadline(1);
        Ok(store)
    }

    /// Instantiates the component in a fresh store without initialising it.
    pub(crate) async fn instantiate(&self) -> Result<Live> {
        let mut store = self.store()?;
        let stderr = store.data().stderr.clone();
        let trapped = |e| self.trapped(e, &stderr);
        let bulk_mismatch = |e: wasmtime::Error| Error::Load {
            component: self.name().to_owned(),
            reason: format!("its `byoc:cache/bulk` export does not match the contract: {e:#}"),
        };
        let atomics_mismatch = |e: wasmtime::Error| Error::Load {
            component: self.name().to_owned(),
            reason: format!("its `byoc:cache/atomics` export does not match the contract: {e:#}"),
        };
        let exports = match &self.sync {
            Some(sync) => {
                let instance = sync.pre.instantiate(&mut store);
                let instance = instance.map_err(trapped)?;
                let adapter = sync.indices.load(&mut store, &instance);
                let adapter = adapter.map_err(trapped)?;
                let bulk = sync.bulk.as_ref().map(|b| b.load(&mut store, &instance));
                let bulk = bulk.transpose().map_err(bulk_mismatch)?;
                let atomics = sync.atomics.as_ref().map(|a| a.load(&mut store, &instance));
                let atomics = atomics.transpose().map_err(atomics_mismatch)?;
                Exports::Sync {
                    adapter,
                    bulk,
                    atomics,
                }
            }
            None => {
                let instance = self.component.pre.instantiate_async(&mut store).await;
                let instance = instance.map_err(trapped)?;
                let adapter = self.component.indices.load(&mut store, &instance);
                let adapter = adapter.map_err(trapped)?;
                let bulk = self.component.bulk.as_ref();
                let bulk = bulk.map(|b| b.load(&mut store, &instance));
                let bulk = bulk.transpose().map_err(bulk_mismatch)?;
                let atomics = self.component.atomics.as_ref();
                let atomics = atomics.map(|a| a.load(&mut store, &instance));
                let atomics = atomics.transpose().map_err(atomics_mismatch)?;
                Exports::Fiber {
                    adapter,
                    bulk,
                    atomics,
                }
            }
        };
        self.instantiations.fetch_add(1, Ordering::Relaxed);
        Ok(Live {
            store,
            exports,
            entered: false,
        })
    }

    /// The adapter's `describe`, on `live`.
    pub(crate) async fn describe(&self, live: &mut Live) -> Result<AdapterDescription> {
        live.arm();
        let stderr = live.store.data().stderr.clone();
        live.describe().await.map_err(|e| self.trapped(e, &stderr))
    }

    /// Whether the instance `live` implements the optional `atomics` export.
    pub(crate) async fn atomics_supported(&self, live: &mut Live) -> Result<bool> {
        live.arm();
        live.atomics_supported()
            .await
            .map_err(|e| self.trap_error(e))
    }

    /// Instantiates and initialises a new instance.
    pub(crate) async fn start(&self) -> Result<Live> {
        let started = async {
            let live = self.instantiate().await?;
            self.init(live).await
        };
        match super::deadline::within(self.wall_deadline(), std::pin::pin!(started)).await {
            Some(live) => live,
            None => Err(self.wall_clock_expired()),
        }
    }

    /// Initialises an instantiated instance with the provider's configuration.
    pub(crate) async fn init(&self, mut live: Live) -> Result<Live> {
        live.arm();
        let result = live
            .init(self.config.get().map_or(&[], Vec::as_slice))
            .await;
        match result {
            Ok(Ok(())) => Ok(live),
            Ok(Err(e)) => Err(e.into()),
            Err(e) => Err(self.trapped(e, &live.store.data().stderr)),
        }
    }

    /// The live instance in `slot`, started if there is none (first use, or the previous
    /// one trapped). Arms the call deadline.
    pub(crate) async fn ensure<'a>(&self, slot: &'a mut Option<Live>) -> Result<&'a mut Live> {
        if slot.as_ref().is_some_and(|live| live.entered) {
            // Its caller dropped the last call mid-way (a timeout around it, a cancelled
            // task): wasmtime refuses to enter the instance again, and its state is
            // unknown. Dropped with what it held, like a trapped one.
            *slot = None;
            self.abandoned.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(
                adapter = self.name(),
                "instance of an abandoned call replaced"
            );
        }
        let live = match slot {
            Some(live) => live,
            // Boxed: the start's large future stays out of every call's future.
            None => slot.insert(Box::pin(self.start()).await?),
        };
        live.arm();
        Ok(live)
    }

    /// Turns a call's outcome into the caller's result. A trap discards the instance.
    pub(crate) fn settle<R>(
        &self,
        slot: &mut Option<Live>,
        outcome: wasmtime::Result<Result<R, super::bindings::byoc::cache::types::Error>>,
    ) -> Result<R> {
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(e.into()),
            Err(e) => match slot.take() {
                Some(live) => Err(self.trapped(e, &live.store.data().stderr)),
                None => Err(self.trap_error(e)),
            },
        }
    }

    /// Fails fast while the provider is quarantined.
    pub(crate) fn admit(&self) -> Result<()> {
        match self.quarantine.remaining() {
            None => Ok(()),
            Some(left) => Err(Error::Unavailable(format!(
                "adapter `{}` is quarantined for another {left:.1?} after repeated traps",
                self.name()
            ))),
        }
    }

    /// How long a whole call (host imports included) may take.
    pub(crate) fn wall_deadline(&self) -> Duration {
        self.limits.call_deadline + WALL_CLOCK_GRACE
    }

    /// A call abandoned at the wall-clock deadline (its instance is dropped by the caller).
    pub(crate) fn wall_clock_expired(&self) -> Error {
        self.traps.fetch_add(1, Ordering::Relaxed);
        self.quarantine.record_trap();
        Error::DeadlineExceeded {
            adapter: self.name().to_owned(),
            deadline: self.limits.call_deadline,
        }
    }

    /// [`trap_error`](Shared::trap_error) with the tail of the guest's stderr (a panic's
    /// message, for one) added to a trap's reason and logged.
    pub(crate) fn trapped(&self, e: wasmtime::Error, stderr: &StderrTail) -> Error {
        let error = self.trap_error(e);
        let Some(tail) = stderr.text() else {
            return error;
        };
        tracing::warn!(adapter = self.name(), stderr = %tail, "adapter failed: {error}");
        match error {
            Error::Trapped { adapter, reason } => Error::Trapped {
                adapter,
                reason: format!("{reason}; guest stderr: {tail}"),
            },
            other => other,
        }
    }

    /// Describes a wasmtime error of this adapter, counting it as a trap.
    pub(crate) fn trap_error(&self, e: wasmtime::Error) -> Error {
        self.traps.fetch_add(1, Ordering::Relaxed);
        self.quarantine.record_trap();
        match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => Error::DeadlineExceeded {
                adapter: self.name().to_owned(),
                deadline: self.limits.call_deadline,
            },
            Some(trap) => Error::Trapped {
                adapter: self.name().to_owned(),
                reason: trap.to_string(),
            },
            None => Error::Trapped {
                adapter: self.name().to_owned(),
                reason: format!("{e:#}"),
            },
        }
    }
}
