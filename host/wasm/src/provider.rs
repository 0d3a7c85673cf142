//! [`WasmProvider`]: the provider trait over instances of a component.

use super::bindings::bulk::PackedAnswer;
use super::bindings::byoc::cache::types::PackedKeys;
use super::bindings::{self, WitItem};
use super::coalesce::Coalescer;
use super::grants::Grants;
use super::http::GrantedHttp;
use super::instance::{Exports, Live, Shared};
use super::limits::Limits;
use super::pool::{FreeSlots, Slot, SlotGuard};
use super::quarantine::QuarantineState;
use super::runtime::{AdapterComponent, Runtime};
use crate::{
    AdapterConfig, Capability, ConfigField, Error, Item, KeyTtl, Provider, ProviderInfo, Result,
    ScanPage, Stats,
};
use async_trait::async_trait;
use byoc_common::packed::{self, PackError};
use byoc_common::{glob_match, validate_key, validate_pattern};
use byoc_core::provider::{MultiValue, expire_ttl_ms, set_ttl_ms};
use bytes::Bytes;
use futures_util::lock::MutexGuard;
use std::borrow::Cow;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// Most partitions a provider may have.
pub const MAX_PARTITIONS: usize = 64;

/// Most instances a [pooled](WasmProviderBuilder::pooled) provider may have.
pub const MAX_POOLED_INSTANCES: usize = 1024;

/// A provider served by a sandboxed WebAssembly component.
///
/// # Instances and concurrency
///
/// The provider runs `partitions` instances of the component, each in its own store
/// (own linear memory, own limits) behind its own lock. A key always goes to the same
/// instance, chosen by a hash of the key, so stateful adapters (memory) stay consistent
/// while calls on different partitions run in parallel; there is no global lock.
/// Operations on many keys are split by partition; `scan`, `clear`, `stats` and `ping`
/// visit every partition. The default is one partition per available core.
///
/// Limits given in an adapter's configuration apply per instance, except where the
/// registry's factory divides them (the `memory` factory divides `max-bytes` and
/// `max-entries` among partitions).
///
/// # Pooled instances
///
/// With [`WasmProviderBuilder::pooled`] the instances are interchangeable instead: any free
/// instance serves any call, and a call waits only when every instance is busy. This is
/// for adapters whose state lives outside the instance (Redis, HTTP): calls from many
/// tasks then run concurrently (their host imports overlap) instead of queueing behind one
/// instance. Operations on many keys go to one instance whole; `scan`, `clear` and `ping`
/// are answered by one instance (they would repeat the same external work on each), and
/// so is `stats` (keys, bytes, evictions, expirations and extras: for Redis one scan of
/// the namespace, not one per live instance). A pool's hits and misses are counted by the
/// host from the answers of `get`, `exists` and `get_multi`, the way the guest SDK counts
/// them: instances come and go (on demand, after a trap), so their own counters would
/// miss the reads of the ones gone, and adding them up would cost a call into every one.
///
/// # Coalesced reads
///
/// A pooled provider built with [`WasmProviderBuilder::batch_reads`] (the `redis`
/// provider is) answers concurrent `get`s in batches: a `get` that finds no read in
/// flight makes its own call; `get`s arriving while reads are in flight queue behind a
/// leader, which yields to the runtime once and sends the queue into one instance as one
/// `get-multi` (through the packed `bulk` export when the adapter has it), with up to
/// sixteen reads in flight. A key asked by several queued callers is read once. A batch that fails with `unavailable` fails each of its
/// callers; any other failure of a batch (a trap, a deadline, an answer too large) has
/// each caller read its key alone, so a bad key affects no other caller. A queued `get`
/// arms no timer: the batch's leader waits at most 10 ms for a read in flight to end
/// before it sends the batch anyway, so stalled reads do not hold the queue until their
/// deadline.
///
/// # Traps
///
/// A trap or an exceeded deadline fails the call with [`Error::Trapped`] or
/// [`Error::DeadlineExceeded`]; the instance is dropped (with what it held) and the next
/// call on that partition starts a fresh one. Other partitions are not affected. So is an
/// instance whose call its caller dropped mid-way (a timeout around it): wasmtime would
/// refuse to enter it again, so the next call replaces it ([`WasmProvider::abandoned`]).
pub struct WasmProvider {
    shared: Arc<Shared>,
    partitions: Box<[Slot]>,
    /// Pooled mode: any instance serves any call (see the type's docs).
    pooled: bool,
    /// Pooled mode: the free instance slots.
    free: FreeSlots,
    /// Pooled mode: hits and misses of the pool (see [Pooled instances](Self#pooled-instances)).
    reads: ReadCounts,
    /// Pooled mode with [`WasmProviderBuilder::batch_reads`]: concurrent `get`s coalesced.
    coalescer: Option<Coalescer>,
    /// Chooses a key's partition (fast, seeded per provider).
    hasher: foldhash::fast::RandomState,
    info: ProviderInfo,
    config_fields: Vec<ConfigField>,
}

impl std::fmt::Debug for WasmProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmProvider")
            .field("adapter", &self.shared.name())
            .field("partitions", &self.partitions.len())
            .field("pooled", &self.pooled)
            .field("coalescer", &self.coalescer)
            .field("limits", &self.shared.limits)
            .finish_non_exhaustive()
    }
}

/// A pool's read counters.
#[derive(Default)]
struct ReadCounts {
    hits: Counter,
    misses: Counter,
}

/// Slots of a [`Counter`]: threads pick one by their order of first use.
const COUNTER_SLOTS: usize = 8;

/// A counter split over cache lines: threads reading at once would otherwise all write
/// one line, passed between cores on every read. The sum is exact.
#[derive(Default)]
struct Counter([CounterSlot; COUNTER_SLOTS]);

/// One slot of a [`Counter`], alone on its cache lines (128 bytes: CPUs that fetch lines
/// in pairs).
#[derive(Default)]
#[repr(align(128))]
struct CounterSlot(AtomicU64);

impl Counter {
    fn add(&self, n: u64) {
        if n == 0 {
            return;
        }
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static SLOT: usize = NEXT.fetch_add(1, Ordering::Relaxed) % COUNTER_SLOTS;
        }
        let slot = SLOT.with(|s| *s);
        self.0[slot].0.fetch_add(n, Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.iter().map(|s| s.0.load(Ordering::Relaxed)).sum()
    }
}

/// Builds a [`WasmProvider`]; see [`WasmProvider::builder`].
#[must_use]
pub struct WasmProviderBuilder {
    runtime: Runtime,
    component: AdapterComponent,
    config: AdapterConfig,
    limits: Limits,
    grants: Grants,
    layers: Vec<Arc<dyn Provider>>,
    partitions: usize,
    pooled: bool,
    read_batch: usize,
    sync_calls: bool,
}

impl std::fmt::Debug for WasmProviderBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmProviderBuilder")
            .field("component", &self.component)
            .field("config", &self.config)
            .field("limits", &self.limits)
            .field("grants", &self.grants)
            .field(
                "layers",
                &self
                    .layers
                    .iter()
                    .map(|l| l.info().stack())
                    .collect::<Vec<_>>(),
            )
            .field("partitions", &self.partitions)
            .field("pooled", &self.pooled)
            .field("read_batch", &self.read_batch)
            .field("sync_calls", &self.sync_calls)
            .finish()
    }
}

/// The default partition count: the available parallelism.
pub fn default_partitions() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_PARTITIONS)
}

impl WasmProviderBuilder {
    /// The adapter's configuration (default: empty, every field at its default).
    pub fn config(mut self, config: AdapterConfig) -> Self {
        self.config = config;
        self
    }

    /// Per-instance limits (default [`Limits::default`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The capabilities every instance gets (default: none; see [`Grants`]).
    pub fn grants(mut self, grants: Grants) -> Self {
        self.grants = grants;
        self
    }

    /// The providers below this one, for a wrapper component (layer 0 first). The
    /// wrapper reaches them through its `inner` import; `info().layers` lists them.
    pub fn layers(mut self, layers: Vec<Arc<dyn Provider>>) -> Self {
        self.layers = layers;
        self
    }

    /// Number of instances (default [`default_partitions`]; clamped to 1..=64), each
    /// owning the keys that hash to it.
    pub fn partitions(mut self, partitions: usize) -> Self {
        self.partitions = partitions.clamp(1, MAX_PARTITIONS);
        self.pooled = false;
        self
    }

    /// Up to `instances` interchangeable instances (clamped to 1..=[`MAX_POOLED_INSTANCES`];
    /// started on demand when every running one is busy), for adapters whose state lives
    /// outside the instance. See [Pooled instances](WasmProvider#pooled-instances).
    pub fn pooled(mut self, instances: usize) -> Self {
        self.partitions = instances.clamp(1, MAX_POOLED_INSTANCES);
        self.pooled = true;
        self
    }

    /// For a [pooled](Self::pooled) provider: concurrent `get`s beyond a few in flight are
    /// coalesced into multi-key reads (`get-multi`) of up to `max` keys, one call into one
    /// instance for many callers (see [Coalesced reads](WasmProvider#coalesced-reads)).
    /// Default 1: off. Take it for adapters whose `get-multi` is one round trip of the
    /// backend (Redis' MGET), not for those that read key by key (it would serialise
    /// concurrent reads). Ignored for partitioned providers.
    pub fn batch_reads(mut self, max: usize) -> Self {
        self.read_batch = max;
        self
    }

    /// Calls instances synchronously, on the caller's thread, when the component allows it
    /// (default: off; the registry's `memory` provider turns it on).
    ///
    /// A call into wasm normally runs on a fiber (wasmtime's `call_async`): the guest may
    /// wait in a host import, and a busy guest yields to the executor within about two
    /// epoch ticks.
    /// A synchronous call skips the fiber, a large share of a small in-memory hit
    /// (BENCHMARKS.md), but holds the caller's worker thread until it
    /// returns or its [deadline](Limits::call_deadline) traps it. So take it only for
    /// adapters trusted to answer quickly, as the built-in `memory` adapter does.
    ///
    /// A component can be called this way when it imports nothing that waits: clocks,
    /// randomness, `wasi:cli` and `wasi:io` only (the streams an instance has never make
    /// it wait; a function that would wait traps instead). Any other import (files,
    /// sockets, HTTP, Redis, a wrapper's `inner`) keeps the provider on fibers, whatever
    /// this setting; [`WasmProvider::sync_calls`] tells which way it went.
    pub fn sync_calls(mut self, on: bool) -> Self {
        self.sync_calls = on;
        self
    }

    /// Checks the configuration against the adapter's declared fields, then starts the
    /// first instance (so a bad configuration fails here, not on the first call).
    pub async fn build(self) -> Result<WasmProvider> {
        super::imports::check_grants(&self.component, &self.grants)?;
        let (partitions, pooled, read_batch) = (self.partitions, self.pooled, self.read_batch);
        let (shared, config) = self.into_shared()?;
        let (probe, mut info, config_fields) = described(&shared).await?;
        let config = config.checked(shared.name(), &config_fields)?;
        let entries = config
            .iter()
            .map(|(n, v)| bindings::config_entry(n, v))
            .collect();
        let _ = shared.config.set(entries);
        info.layers = shared.layers.iter().map(|l| l.info()).collect();
        if info.contract.split('.').next() != byoc_common::CONTRACT_VERSION.split('.').next()
            || info.contract.split('.').nth(1) != byoc_common::CONTRACT_VERSION.split('.').nth(1)
        {
            return Err(Error::Load {
                component: shared.name().to_owned(),
                reason: format!(
                    "built against contract {}, the host implements {}",
                    info.contract,
                    byoc_common::CONTRACT_VERSION
                ),
            });
        }
        let shared = Arc::new(shared);
        let mut first = shared.init(probe).await?;
        // Asked after `init`: a wrapper's answer depends on its layers.
        if shared.atomics_supported(&mut first).await? {
            info.native.push(Capability::Atomics);
        }
        let slots: Vec<Slot> = std::iter::once(Slot::holding(first))
            .chain((1..partitions).map(|_| Slot::empty()))
            .collect();
        Ok(WasmProvider {
            shared,
            partitions: slots.into_boxed_slice(),
            pooled,
            free: FreeSlots::new(if pooled { partitions } else { 0 }),
            reads: ReadCounts::default(),
            coalescer: if pooled {
                Coalescer::new(read_batch)
            } else {
                None
            },
            hasher: foldhash::fast::RandomState::default(),
            info,
            config_fields,
        })
    }

    /// Instantiates the component once (with this builder's grants and limits), asks it
    /// to describe itself and drops the instance: what `byoc inspect` prints. Nothing is
    /// initialised or configured.
    pub async fn describe(self) -> Result<(ProviderInfo, Vec<ConfigField>)> {
        let (shared, _) = self.into_shared()?;
        let (_, info, fields) = described(&shared).await?;
        Ok((info, fields))
    }

    /// The state every instance shares, and the configuration still to check.
    fn into_shared(self) -> Result<(Shared, AdapterConfig)> {
        let sync = self
            .sync_calls
            .then(|| self.runtime.sync_exports(&self.component).ok());
        let shared = Shared {
            sync: sync.flatten(),
            engine: self.runtime.inner().engine.clone(),
            config: std::sync::OnceLock::new(),
            component: self.component,
            quarantine: QuarantineState::new(self.limits.quarantine.clone()),
            limits: self.limits,
            http: GrantedHttp::new(self.grants.http.as_ref())?,
            grants: self.grants,
            layers: self.layers,
            traps: AtomicU64::new(0),
            instantiations: AtomicU64::new(0),
            abandoned: AtomicU64::new(0),
        };
        Ok((shared, self.config))
    }
}

/// A first instance and what it says of itself (`describe`): its info and its
/// configuration schema.
async fn described(shared: &Shared) -> Result<(Live, ProviderInfo, Vec<ConfigField>)> {
    let mut probe = shared.instantiate().await?;
    let description = shared.describe(&mut probe).await?;
    let fields = description.config.into_iter().map(Into::into).collect();
    Ok((probe, description.info.into(), fields))
}

/// Runs one export on the partition `$part`: start the instance if needed, arm the
/// deadline, call, settle (a trap drops the instance). `provider` functions by default;
/// `bulk: method(..)` calls the optional `bulk` export (only for a component that has it),
/// `atomics: method(..)` the optional `atomics` export (`unsupported` without it).
macro_rules! call {
    ($self:ident, $part:expr, $($call:tt)*) => {{
        $self.shared.admit()?;
        let slot = $self.lock($part).await;
        call_in!($self, slot, $($call)*)
    }};
}

/// Like `call!`, on an instance slot the caller has locked.
macro_rules! call_in {
    ($self:ident, $slot:expr, bulk: $method:ident ( $($arg:expr),* )) => {
        call_in!(@on $self, $slot, |_adapter, bulk, _atomics| bulk.as_ref().ok_or_else(|| Error::Internal(
            format!("adapter `{}` has no `bulk` export", $self.shared.name())
        ))?, PackedAnswer::from, $method($($arg),*))
    };
    ($self:ident, $slot:expr, atomics: $method:ident ( $($arg:expr),* )) => {
        call_in!(@on $self, $slot, |_adapter, _bulk, atomics| atomics.as_ref().ok_or_else(|| Error::Unsupported(
            format!("adapter `{}` has no `atomics` export", $self.shared.name())
        ))?, std::convert::identity, $method($($arg),*))
    };
    ($self:ident, $slot:expr, $method:ident ( $($arg:expr),* )) => {
        call_in!(@on $self, $slot, |adapter, _bulk, _atomics| adapter.byoc_cache_provider(),
            std::convert::identity, $method($($arg),*))
    };
    // `$guest` names the export from the instance's `$adapter`, `$bulk` and `$atomics`
    // (bound either way); `$answer` turns a synchronous binding's answer into the fiber
    // binding's type.
    (@on $self:ident, $slot:expr, |$adapter:ident, $bulk:ident, $atomics:ident| $guest:expr,
        $answer:expr, $method:ident ( $($arg:expr),* )) => {{
        let mut slot = $slot;
        let live = $self.shared.ensure(&mut slot).await?;
        match &live.exports {
            Exports::Sync { adapter: $adapter, bulk: $bulk, atomics: $atomics } => {
                let outcome = $guest.$method(&mut live.store $(, $arg)*);
                $self.shared.settle(&mut slot, outcome.map(|answer| answer.map($answer)))
            }
            Exports::Fiber { adapter: $adapter, bulk: $bulk, atomics: $atomics } => {
                // Chosen first: a missing export returns before the call is entered.
                let guest = $guest;
                // Cleared only when the call ends here: a caller dropping this future
                // mid-call leaves it set, and the next call replaces the instance.
                live.entered = true;
                let outcome = {
                    let call = std::pin::pin!(guest.$method(&mut live.store $(, $arg)*));
                    super::deadline::within($self.shared.wall_deadline(), call).await
                };
                live.entered = false;
                match outcome {
                    Some(outcome) => $self.shared.settle(&mut slot, outcome),
                    None => {
                        // Abandoned inside a host import: the instance's state is unknown.
                        *slot = None;
                        Err($self.shared.wall_clock_expired())
                    }
                }
            }
        }
    }};
}

impl WasmProvider {
    /// A builder for a provider over `component`, using `runtime`'s engine.
    pub fn builder(runtime: &Runtime, component: AdapterComponent) -> WasmProviderBuilder {
        WasmProviderBuilder {
            runtime: runtime.clone(),
            component,
            config: AdapterConfig::new(),
            limits: Limits::default(),
            grants: Grants::none(),
            layers: Vec::new(),
            partitions: default_partitions(),
            pooled: false,
            read_batch: 1,
            sync_calls: false,
        }
    }

    /// Whether calls run synchronously on the caller's thread (see
    /// [`WasmProviderBuilder::sync_calls`]): asked for, and the component allows it.
    pub fn sync_calls(&self) -> bool {
        self.shared.sync.is_some()
    }

    /// The configuration fields the adapter declared.
    pub fn config_fields(&self) -> &[ConfigField] {
        &self.config_fields
    }

    /// How many times an instance trapped or ran past its deadline.
    pub fn traps(&self) -> u64 {
        self.shared.traps.load(Ordering::Relaxed)
    }

    /// How many instances were started (the first of each partition, and one after each
    /// trap).
    pub fn instantiations(&self) -> u64 {
        self.shared.instantiations.load(Ordering::Relaxed)
    }

    /// How many instances were dropped because their caller abandoned a call on them
    /// mid-way (a timeout around the call, a cancelled task): the next call on that
    /// partition or pool slot starts a fresh instance.
    pub fn abandoned(&self) -> u64 {
        self.shared.abandoned.load(Ordering::Relaxed)
    }

    /// How many ways keys and whole-cache operations are split: the partitions, or one
    /// for a pool.
    fn routes(&self) -> usize {
        if self.pooled {
            1
        } else {
            self.partitions.len()
        }
    }

    fn partition(&self, key: &str) -> usize {
        let routes = self.routes();
        if routes == 1 {
            return 0;
        }
        (self.hasher.hash_one(key) % routes as u64) as usize
    }

    /// The instance slot for route `part`: that partition, or in a pool the most recently
    /// freed slot (waiting, first come first served, while every instance is busy).
    async fn lock(&self, part: usize) -> SlotGuard<'_> {
        if self.pooled {
            self.free.take(&self.partitions).await
        } else {
            // The mutex takes no part in tokio's cooperative scheduling: spend the
            // budget here, or a task whose calls never wait would never yield.
            tokio::task::consume_budget().await;
            // Uncontended, `try_lock` takes the lock without building the wait future.
            let slot = &self.partitions[part];
            SlotGuard::partition(match slot.try_lock() {
                Some(guard) => guard,
                None => slot.lock().await,
            })
        }
    }

    /// Fails with [`Error::Unsupported`] unless the adapter reported `atomics` support.
    fn check_atomics(&self, op: &str) -> Result<()> {
        if self.info.native.contains(&Capability::Atomics) {
            return Ok(());
        }
        Err(Error::Unsupported(format!(
            "adapter `{}` does not implement {op}",
            self.shared.name()
        )))
    }

    fn check_value(&self, value: &[u8]) -> Result<()> {
        let limit = self.shared.limits.max_value_bytes;
        if value.len() > limit {
            return Err(Error::ValueTooLarge(format!(
                "value of {} bytes exceeds the limit of {limit} bytes of adapter `{}`",
                value.len(),
                self.shared.name()
            )));
        }
        Ok(())
    }

    /// Fails when an adapter answered more value bytes than the limit allows.
    fn check_response<'v>(&self, values: impl Iterator<Item = &'v Option<Vec<u8>>>) -> Result<()> {
        self.check_response_bytes(values.map(|v| v.as_ref().map_or(0, Vec::len)).sum())
    }

    /// Fails when an adapter answered `total` bytes of values, more than the limit allows.
    fn check_response_bytes(&self, total: usize) -> Result<()> {
        let limit = self.shared.limits.max_response_bytes;
        if total > limit {
            return Err(Error::Internal(format!(
                "adapter `{}` answered {total} bytes of values, over the limit of {limit}",
                self.shared.name()
            )));
        }
        Ok(())
    }

    /// An adapter's answer to `get_multi` of `keys` keys, checked: one value per key, and
    /// no more value bytes than the limit.
    fn checked_values(
        &self,
        values: Vec<Option<Vec<u8>>>,
        keys: usize,
    ) -> Result<Vec<Option<Vec<u8>>>> {
        self.check_response(values.iter())?;
        self.check_count(values.len(), keys)?;
        Ok(values)
    }

    /// Fails unless an adapter answered one value per key.
    fn check_count(&self, values: usize, keys: usize) -> Result<()> {
        if values != keys {
            return Err(Error::Internal(format!(
                "adapter `{}` answered {values} values for {keys} keys",
                self.shared.name(),
            )));
        }
        Ok(())
    }

    /// `get_multi` of `keys` through the adapter's `bulk` export: keys and values cross the
    /// sandbox packed, one buffer each way per route. Each route's keys are packed straight
    /// from `keys` (no copy of a route's share). Answers are checked like
    /// [`checked_values`](Self::checked_values); a packing that does not add up is an error
    /// of the adapter.
    async fn get_multi_packed<V: MultiValue>(&self, keys: &[String]) -> Result<Vec<Option<V>>> {
        let bad = |e: PackError| {
            Error::Internal(format!(
                "adapter `{}` answered a malformed packed get-multi: {e}",
                self.shared.name()
            ))
        };
        let mut out = vec![None; keys.len()];
        for (part, indices) in self
            .split(keys.iter().map(String::as_str))
            .into_iter()
            .enumerate()
        {
            if indices.is_empty() {
                continue;
            }
            let (text, lengths) = packed::pack_keys(indices.iter().map(|&i| keys[i].as_str()))
                .map_err(|e| Error::InvalidArgument(e.to_string()))?;
            let group = PackedKeys { text, lengths };
            self.shared.admit()?;
            let mut slot = self.lock(part).await;
            let answer = call_in!(self, &mut *slot, bulk: call_get_multi_packed(&group));
            // Whatever the answer, a held one is dropped with the call that made it.
            let held = slot
                .as_mut()
                .and_then(|live| live.store.data_mut().take_held());
            drop(slot);
            match answer? {
                PackedAnswer::Values(answer) => {
                    self.check_response_bytes(answer.data.len())?;
                    self.check_count(answer.lengths.len(), indices.len())?;
                    let data = Bytes::from(answer.data);
                    let values = packed::unpack_values(&data, &answer.lengths).map_err(bad)?;
                    for (i, value) in indices.into_iter().zip(values) {
                        out[i] = value.map(|v| V::from_shared(&data, v));
                    }
                }
                // The values never entered the sandbox: moved out of the host's answer.
                PackedAnswer::Held => {
                    let values = held.ok_or_else(|| {
                        Error::Internal(format!(
                            "adapter `{}` answered a held get-multi with nothing held",
                            self.shared.name()
                        ))
                    })?;
                    self.check_count(values.len(), indices.len())?;
                    self.check_response(values.iter())?;
                    for (i, value) in indices.into_iter().zip(values) {
                        out[i] = value.map(V::from_vec);
                    }
                }
            }
        }
        Ok(out)
    }

    /// `get_multi` answering `V`, with a pool's reads counted.
    async fn get_multi_as<V: MultiValue>(&self, keys: &[String]) -> Result<Vec<Option<V>>> {
        let out = self.read_multi::<V>(keys).await?;
        let hits = out.iter().filter(|v| v.is_some()).count();
        self.count_reads(hits, out.len() - hits);
        Ok(out)
    }

    /// `get_multi` answering `V` (reads not counted): through the packed `bulk` export
    /// when the adapter has it (values are then slices of one buffer), else through
    /// `get-multi`.
    async fn read_multi<V: MultiValue>(&self, keys: &[String]) -> Result<Vec<Option<V>>> {
        keys.iter().try_for_each(|k| validate_key(k))?;
        let out = if self.shared.component.bulk.is_some() {
            self.get_multi_packed(keys).await?
        } else {
            let mut out = vec![None; keys.len()];
            for (part, indices, group) in self.key_groups(keys) {
                let values = call!(self, part, call_get_multi(&group))?;
                let values = self.checked_values(values, group.len())?;
                for (i, value) in indices.into_iter().zip(values) {
                    out[i] = value.map(V::from_vec);
                }
            }
            out
        };
        Ok(out)
    }

    /// `get` on the caller's thread (see [`Provider::get_now`]): for a partitioned provider
    /// called synchronously whose partition is free and has a live instance. Otherwise
    /// (a pool, fibers, a busy partition, an instance to start) `None`.
    fn get_sync(&self, key: &str) -> Option<Result<Option<Vec<u8>>>> {
        if self.pooled || self.shared.sync.is_none() {
            return None;
        }
        if let Err(e) = validate_key(key)
            .map_err(Error::from)
            .and(self.shared.admit())
        {
            return Some(Err(e));
        }
        let mut slot = try_lock_spinning(&self.partitions[self.partition(key)])?;
        let live = slot.as_mut()?;
        live.arm();
        let Exports::Sync { adapter, .. } = &live.exports else {
            return None;
        };
        let outcome = adapter.byoc_cache_provider().call_get(&mut live.store, key);
        let value = self.shared.settle(&mut slot, outcome);
        drop(slot);
        Some(value.and_then(|value| {
            self.check_response(std::iter::once(&value))?;
            Ok(value)
        }))
    }

    /// `get` of `key` as its own call (reads not counted).
    async fn get_alone(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let value = call!(self, self.partition(key), call_get(key))?;
        self.check_response(std::iter::once(&value))?;
        Ok(value)
    }

    /// A pool's stats: one instance's answer (any free one, the most recently used
    /// first), with the pool's hits and misses as the host counted them.
    async fn pool_stats(&self) -> Result<Stats> {
        let mut stats: Stats = call!(self, 0, call_stats())?.into();
        stats.hits = self.reads.hits.get();
        stats.misses = self.reads.misses.get();
        Ok(stats)
    }

    /// Counts reads of a pool (`hits` found, `misses` not); nothing for partitions, whose
    /// instances count their own.
    fn count_reads(&self, hits: usize, misses: usize) {
        if self.pooled {
            self.reads.hits.add(hits as u64);
            self.reads.misses.add(misses as u64);
        }
    }

    /// The keys of each route that has any: the route, the keys' indices in `keys`, and
    /// the keys themselves — `keys` as given when one route takes them all (a pool, one
    /// partition, or keys that happen to share one), a copy of its share otherwise.
    fn key_groups<'k>(
        &self,
        keys: &'k [String],
    ) -> impl Iterator<Item = (usize, Vec<usize>, Cow<'k, [String]>)> {
        self.split(keys.iter().map(String::as_str))
            .into_iter()
            .enumerate()
            .filter(|(_, indices)| !indices.is_empty())
            .map(move |(part, indices)| {
                let group = if indices.len() == keys.len() {
                    Cow::Borrowed(keys)
                } else {
                    Cow::Owned(indices.iter().map(|&i| keys[i].clone()).collect())
                };
                (part, indices, group)
            })
    }

    /// Groups the indices of `keys` by partition.
    fn split<'k>(&self, keys: impl Iterator<Item = &'k str>) -> Vec<Vec<usize>> {
        let mut groups = vec![Vec::new(); self.routes()];
        for (i, key) in keys.enumerate() {
            groups[self.partition(key)].push(i);
        }
        groups
    }
}

/// Rounds of [`try_lock_spinning`]; the pause between two tries doubles each round
/// (1, 2, 4, ... 64 spin hints, about 250 in all).
const SPIN_ROUNDS: u32 = 8;

/// Locks a partition of a synchronous provider, spinning a little while it is taken.
/// Whoever holds it is running one synchronous call into its instance on another thread
/// (the only other holders are rare: an instance starting, `stats`), which ends within
/// about the time of a hit; spinning that long is far cheaper than the asynchronous
/// wait (a parked thread, a wake-up through the kernel). `None` after the last round:
/// the caller waits asynchronously instead.
fn try_lock_spinning(slot: &Slot) -> Option<MutexGuard<'_, Option<Live>>> {
    if let Some(guard) = slot.try_lock() {
        return Some(guard);
    }
    for round in 0..SPIN_ROUNDS {
        for _ in 0..1u32 << round {
            std::hint::spin_loop();
        }
        if let Some(guard) = slot.try_lock() {
            return Some(guard);
        }
    }
    None
}

/// A host-issued scan cursor: the partition and the adapter's own cursor in it.
fn parse_cursor(cursor: &str, partitions: usize) -> Result<(usize, Option<String>)> {
    let bad = || Error::InvalidArgument(format!("unknown scan cursor `{cursor}`"));
    let (part, inner) = cursor.split_once(':').ok_or_else(bad)?;
    let part: usize = part.parse().map_err(|_| bad())?;
    if part >= partitions {
        return Err(bad());
    }
    Ok((part, (!inner.is_empty()).then(|| inner.to_owned())))
}

#[async_trait]
impl Provider for WasmProvider {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        if let Some(answer) = self.get_sync(key) {
            // Never waits, so it never yields: the cooperative budget does it now and then
            // (a task looping over hits would otherwise starve the runtime's others).
            tokio::task::consume_budget().await;
            return answer;
        }
        validate_key(key)?;
        let value = match &self.coalescer {
            // Boxed: the coalescing future is large, and every `get` future (an in-memory
            // hit included) would carry its size, measurably slowing every hit.
            Some(coalescer) => {
                let batch = |keys: Vec<String>| async move { self.read_multi(&keys).await };
                Box::pin(coalescer.read(key, || self.get_alone(key), batch)).await?
            }
            None => self.get_alone(key).await?,
        };
        self.count_reads(usize::from(value.is_some()), usize::from(value.is_none()));
        Ok(value)
    }

    fn get_now(&self, key: &str) -> Option<Result<Option<Vec<u8>>>> {
        self.get_sync(key)
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        validate_key(key)?;
        self.check_value(value)?;
        let ttl = set_ttl_ms(ttl)?;
        call!(self, self.partition(key), call_set(key, value, ttl))
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        validate_key(key)?;
        call!(self, self.partition(key), call_delete(key))
    }

    async fn exists(&self, key: &str) -> Result<bool> {
        validate_key(key)?;
        let found = call!(self, self.partition(key), call_exists(key))?;
        self.count_reads(usize::from(found), usize::from(!found));
        Ok(found)
    }

    async fn get_multi(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        self.get_multi_as(keys).await
    }

    async fn get_multi_bytes(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>> {
        self.get_multi_as(keys).await
    }

    async fn set_multi(&self, items: &[Item]) -> Result<()> {
        let mut wit_items = Vec::with_capacity(items.len());
        for item in items {
            validate_key(&item.key)?;
            self.check_value(&item.value)?;
            wit_items.push(WitItem {
                key: item.key.clone(),
                value: item.value.clone(),
                ttl: set_ttl_ms(item.ttl)?,
            });
        }
        let groups = self.split(items.iter().map(|i| i.key.as_str()));
        let mut wit_items: Vec<Option<WitItem>> = wit_items.into_iter().map(Some).collect();
        for (part, indices) in groups.into_iter().enumerate() {
            if indices.is_empty() {
                continue;
            }
            let group: Vec<WitItem> = indices
                .iter()
                .filter_map(|&i| wit_items[i].take())
                .collect();
            call!(self, part, call_set_multi(&group))?;
        }
        Ok(())
    }

    async fn delete_multi(&self, keys: &[String]) -> Result<u64> {
        keys.iter().try_for_each(|k| validate_key(k))?;
        let mut removed = 0;
        for (part, _, group) in self.key_groups(keys) {
            removed += call!(self, part, call_delete_multi(&group))?;
        }
        Ok(removed)
    }

    async fn scan(&self, pattern: &str, cursor: Option<&str>, count: u32) -> Result<ScanPage> {
        validate_pattern(pattern).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let count = count.clamp(1, self.shared.limits.max_scan_count.max(1));
        let (mut part, mut inner) = match cursor {
            None => (0, None),
            Some(c) => parse_cursor(c, self.routes())?,
        };
        let mut keys = Vec::new();
        loop {
            let want = count - u32::try_from(keys.len()).unwrap_or(count);
            let page = call!(self, part, call_scan(pattern, inner.as_deref(), want))?;
            if let Some(bad) = page
                .keys
                .iter()
                .find(|k| validate_key(k).is_err() || !glob_match(pattern, k))
            {
                return Err(Error::Internal(format!(
                    "adapter `{}` answered key {bad:?}, which does not match `{pattern}`",
                    self.shared.name()
                )));
            }
            if page.keys.len() > want as usize {
                return Err(Error::Internal(format!(
                    "adapter `{}` returned more keys than the {want} asked for",
                    self.shared.name()
                )));
            }
            keys.extend(page.keys);
            match page.cursor {
                Some(next) => {
                    return Ok(ScanPage {
                        keys,
                        cursor: Some(format!("{part}:{next}")),
                    });
                }
                None if part + 1 == self.routes() => {
                    return Ok(ScanPage { keys, cursor: None });
                }
                None => {
                    part += 1;
                    inner = None;
                    if keys.len() >= count as usize {
                        return Ok(ScanPage {
                            keys,
                            cursor: Some(format!("{part}:")),
                        });
                    }
                }
            }
        }
    }

    async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        validate_key(key)?;
        call!(self, self.partition(key), call_ttl(key)).map(Into::into)
    }

    async fn expire(&self, key: &str, ttl: Option<Duration>) -> Result<bool> {
        validate_key(key)?;
        let ttl = expire_ttl_ms(ttl);
        call!(self, self.partition(key), call_expire(key, ttl))
    }

    async fn clear(&self) -> Result<()> {
        for part in 0..self.routes() {
            call!(self, part, call_clear())?;
        }
        Ok(())
    }

    async fn stats(&self) -> Result<Stats> {
        let mut total = Stats::default();
        // While quarantined the adapter is not called; the host's counters still answer.
        if self.shared.quarantine.remaining().is_none() {
            if self.pooled {
                total.merge(self.pool_stats().await?);
            } else {
                for part in 0..self.partitions.len() {
                    total.merge(call!(self, part, call_stats())?.into());
                }
            }
        }
        total.merge(Stats {
            extra: vec![
                ("host.partitions".into(), self.partitions.len() as u64),
                ("host.pooled".into(), u64::from(self.pooled)),
                ("host.traps".into(), self.traps()),
                ("host.instantiations".into(), self.instantiations()),
                ("host.abandoned".into(), self.abandoned()),
                (
                    "host.quarantined".into(),
                    u64::from(self.shared.quarantine.remaining().is_some()),
                ),
                ("host.quarantines".into(), self.shared.quarantine.count()),
            ],
            ..Stats::default()
        });
        Ok(total)
    }

    async fn ping(&self) -> Result<()> {
        for part in 0..self.routes() {
            call!(self, part, call_ping())?;
        }
        Ok(())
    }

    async fn increment(&self, key: &str, delta: i64, ttl: Option<Duration>) -> Result<i64> {
        validate_key(key)?;
        let ttl = set_ttl_ms(ttl)?;
        self.check_atomics("increment")?;
        call!(self, self.partition(key), atomics: call_increment(key, delta, ttl))
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool> {
        validate_key(key)?;
        self.check_value(new)?;
        let ttl = set_ttl_ms(ttl)?;
        self.check_atomics("compare-and-swap")?;
        let part = self.partition(key);
        call!(self, part, atomics: call_compare_and_swap(key, expected, new, ttl))
    }

    fn info(&self) -> ProviderInfo {
        self.info.clone()
    }

    fn call_deadline(&self) -> Option<Duration> {
        Some(self.shared.limits.call_deadline)
    }
}
