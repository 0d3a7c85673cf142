//! Resource limits of wasm adapters, with every default in one place.
//!
//! | limit | default | enforced by |
//! | --- | --- | --- |
//! | linear memory per instance | 256 MiB | `StoreLimits`: a failed `memory.grow` makes the guest's allocator trap |
//! | table elements per table | 65,536 | `StoreLimits` |
//! | core instances / tables / memories per store | 64 / 64 / 16 | `StoreLimits` (a component is several core instances) |
//! | call deadline | 1 s; a wrapper's: 1 s beyond its slowest layer's ([`Limits::for_wrapper_over`]) | epoch interruption while wasm runs (tick 10 ms), and a wall-clock timeout of the deadline plus 100 ms around the whole call (host imports included) |
//! | wasm stack | 512 KiB | `RuntimeConfig::max_wasm_stack`, per runtime (an engine setting) |
//! | largest value sent to an adapter | 16 MiB | checked by the host before the call |
//! | bytes of values answered by one call | 64 MiB | checked by the host after the call |
//! | keys asked for in one scan page | 10,000 | the host clamps `count` |
//! | quarantine | 5 traps within 60 s ⇒ 30 s of fast `unavailable`, doubling on each repeat up to 15 min | [`Quarantine`] |
//!
//! A trap or a deadline drops the instance (and what it held); the next call starts a
//! fresh one.

use crate::Provider;
use std::sync::Arc;
use std::time::Duration;

/// Default [`Limits::memory_bytes`]: 256 MiB.
pub const DEFAULT_MEMORY_BYTES: usize = 256 << 20;
/// Default [`Limits::call_deadline`]: 1 s.
pub const DEFAULT_CALL_DEADLINE: Duration = Duration::from_secs(1);
/// Extra wall-clock time, beyond the call deadline, before a call blocked in a host
/// import is abandoned.
pub const WALL_CLOCK_GRACE: Duration = Duration::from_millis(100);
/// Default [`Limits::max_value_bytes`]: 16 MiB.
pub const DEFAULT_MAX_VALUE_BYTES: usize = 16 << 20;
/// Default [`Limits::max_response_bytes`]: 64 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 << 20;
/// Default [`Limits::max_scan_count`]: 10,000.
pub const DEFAULT_MAX_SCAN_COUNT: u32 = 10_000;
/// Default [`Limits::table_elements`]: 65,536.
pub const DEFAULT_TABLE_ELEMENTS: usize = 1 << 16;

/// Resource limits of each instance of a wasm adapter (see the module docs for the
/// defaults and how each is enforced).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct Limits {
    /// Linear memory of one instance (default [`DEFAULT_MEMORY_BYTES`]). A guest that
    /// needs more fails its allocation, which traps.
    pub memory_bytes: usize,
    /// Elements of one table (default [`DEFAULT_TABLE_ELEMENTS`]): `table.grow` past it
    /// answers -1 to the guest (which usually traps), and a component declaring a larger
    /// table fails to start with [`Error::Trapped`](crate::Error::Trapped).
    pub table_elements: usize,
    /// Time one call may take (default [`DEFAULT_CALL_DEADLINE`]): wasm execution is
    /// interrupted by the epoch at this deadline (at an epoch tick the guest meets while
    /// it computes, so up to three ticks later, see
    /// [`RuntimeConfig::epoch_tick`](super::RuntimeConfig::epoch_tick)), and the whole
    /// call, host imports included, is abandoned [`WALL_CLOCK_GRACE`] later. Either fails
    /// with [`Error::DeadlineExceeded`](crate::Error::DeadlineExceeded).
    pub call_deadline: Duration,
    /// Largest value the host passes to the adapter (default [`DEFAULT_MAX_VALUE_BYTES`]);
    /// a larger one fails with [`Error::ValueTooLarge`](crate::Error::ValueTooLarge)
    /// without reaching the guest.
    pub max_value_bytes: usize,
    /// Most bytes of values one call may answer (default [`DEFAULT_MAX_RESPONSE_BYTES`]);
    /// an adapter answering more fails the call with
    /// [`Error::Internal`](crate::Error::Internal).
    pub max_response_bytes: usize,
    /// Largest scan page the host asks an adapter for (default
    /// [`DEFAULT_MAX_SCAN_COUNT`]); larger counts are clamped.
    pub max_scan_count: u32,
    /// When an adapter that keeps trapping is taken out of service.
    pub quarantine: Quarantine,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: DEFAULT_MEMORY_BYTES,
            table_elements: DEFAULT_TABLE_ELEMENTS,
            call_deadline: DEFAULT_CALL_DEADLINE,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_scan_count: DEFAULT_MAX_SCAN_COUNT,
            quarantine: Quarantine::default(),
        }
    }
}

impl Limits {
    /// The defaults for a wrapper over `layers`: [`Limits::default`], with a call deadline
    /// of [`DEFAULT_CALL_DEADLINE`] (the wrapper's own work) beyond the longest
    /// [`Provider::call_deadline`] of its layers (a layer that reports none counts as
    /// zero; with no layers these are exactly the defaults). A wrapper's call includes
    /// its calls below, so with the plain default a
    /// wrapper over a filesystem provider (30 s) would fail, after 1 s, a batch the
    /// filesystem itself is allowed to finish; and a `fallback` wrapper over a Redis
    /// provider would be cut off before Redis' own timeouts answer `unavailable`, leaving
    /// no time for its second layer. The registry builds every
    /// wrapper with these (a `call-deadline` in its `limits` still overrides them).
    ///
    /// Over the `memory` provider (1 s) a wrapper gets 2 s (tested in `byoc`); over
    /// layers with no deadline of their own, the default:
    ///
    /// ```
    /// use byoc_core::{NativeMemoryProvider, Provider};
    /// use byoc_wasm::Limits;
    /// use std::sync::Arc;
    ///
    /// let native: Arc<dyn Provider> = Arc::new(NativeMemoryProvider::new(Default::default()));
    /// assert_eq!(native.call_deadline(), None);
    /// assert_eq!(Limits::for_wrapper_over(&[native]), Limits::default());
    /// assert_eq!(Limits::for_wrapper_over(&[]), Limits::default());
    /// ```
    pub fn for_wrapper_over(layers: &[Arc<dyn Provider>]) -> Limits {
        let slowest = layers
            .iter()
            .filter_map(|layer| layer.call_deadline())
            .max()
            .unwrap_or(Duration::ZERO);
        Limits::default().call_deadline(slowest.saturating_add(DEFAULT_CALL_DEADLINE))
    }

    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`memory_bytes`](Limits::memory_bytes).
    pub fn memory_bytes(mut self, bytes: usize) -> Self {
        self.memory_bytes = bytes;
        self
    }

    /// Sets [`table_elements`](Limits::table_elements).
    pub fn table_elements(mut self, elements: usize) -> Self {
        self.table_elements = elements;
        self
    }

    /// Sets [`call_deadline`](Limits::call_deadline).
    pub fn call_deadline(mut self, deadline: Duration) -> Self {
        self.call_deadline = deadline;
        self
    }

    /// Sets [`max_value_bytes`](Limits::max_value_bytes).
    pub fn max_value_bytes(mut self, bytes: usize) -> Self {
        self.max_value_bytes = bytes;
        self
    }

    /// Sets [`max_response_bytes`](Limits::max_response_bytes).
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// Sets [`max_scan_count`](Limits::max_scan_count).
    pub fn max_scan_count(mut self, count: u32) -> Self {
        self.max_scan_count = count;
        self
    }

    /// Sets [`quarantine`](Limits::quarantine).
    pub fn quarantine(mut self, quarantine: Quarantine) -> Self {
        self.quarantine = quarantine;
        self
    }
}

/// When a provider whose instances keep trapping is taken out of service: after
/// `traps` traps (or deadlines) within `window`, every call fails at once with
/// [`Error::Unavailable`](crate::Error::Unavailable) for `backoff`; each further
/// quarantine within `max_backoff` of the last doubles the back-off, up to `max_backoff`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Quarantine {
    /// Traps that trigger a quarantine (default 5; 0 disables quarantine).
    pub traps: u32,
    /// Window the traps are counted in (default 60 s).
    pub window: Duration,
    /// First back-off (default 30 s).
    pub backoff: Duration,
    /// Longest back-off (default 15 min).
    pub max_backoff: Duration,
}

impl Default for Quarantine {
    fn default() -> Self {
        Quarantine {
            traps: 5,
            window: Duration::from_secs(60),
            backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(15 * 60),
        }
    }
}

impl Quarantine {
    /// Never quarantine.
    pub fn disabled() -> Self {
        Quarantine {
            traps: 0,
            ..Quarantine::default()
        }
    }
}
