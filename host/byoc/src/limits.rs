//! The `limits:` section of a cache: overrides on a provider's default [`Limits`].

use crate::text::{DurationText, SizeText};
use crate::wasm::{Limits, Quarantine};
use serde::Deserialize;

/// Limits a configuration sets for a wasm provider; each field left out keeps the
/// provider's own default (see [`crate::wasm::Limits`] for the defaults).
///
/// ```yaml
/// limits:
///   memory: 64MiB          # linear memory per instance
///   table-elements: 10000
///   call-deadline: 2s
///   max-value-size: 1MiB
///   max-response-size: 16MiB
///   max-scan-count: 1000
///   quarantine: { traps: 5, window: 60s, backoff: 30s, max-backoff: 15m }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[non_exhaustive]
pub struct LimitsConfig {
    /// [`Limits::memory_bytes`].
    pub memory: Option<SizeText>,
    /// [`Limits::table_elements`].
    pub table_elements: Option<u64>,
    /// [`Limits::call_deadline`].
    pub call_deadline: Option<DurationText>,
    /// [`Limits::max_value_bytes`].
    pub max_value_size: Option<SizeText>,
    /// [`Limits::max_response_bytes`].
    pub max_response_size: Option<SizeText>,
    /// [`Limits::max_scan_count`].
    pub max_scan_count: Option<u32>,
    /// [`Limits::quarantine`].
    pub quarantine: Option<QuarantineConfig>,
}

/// The `quarantine:` part of [`LimitsConfig`]; fields left out keep the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[non_exhaustive]
pub struct QuarantineConfig {
    /// [`Quarantine::traps`] (0 disables quarantine).
    pub traps: Option<u32>,
    /// [`Quarantine::window`].
    pub window: Option<DurationText>,
    /// [`Quarantine::backoff`].
    pub backoff: Option<DurationText>,
    /// [`Quarantine::max_backoff`].
    pub max_backoff: Option<DurationText>,
}

fn usize_of(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

impl LimitsConfig {
    /// Whether nothing is overridden.
    pub fn is_empty(&self) -> bool {
        *self == LimitsConfig::default()
    }

    /// `base` with this configuration's overrides applied.
    pub fn apply(&self, base: Limits) -> Limits {
        let mut limits = base;
        if let Some(SizeText(n)) = self.memory {
            limits.memory_bytes = usize_of(n);
        }
        if let Some(n) = self.table_elements {
            limits.table_elements = usize_of(n);
        }
        if let Some(DurationText(d)) = self.call_deadline {
            limits.call_deadline = d;
        }
        if let Some(SizeText(n)) = self.max_value_size {
            limits.max_value_bytes = usize_of(n);
        }
        if let Some(SizeText(n)) = self.max_response_size {
            limits.max_response_bytes = usize_of(n);
        }
        if let Some(n) = self.max_scan_count {
            limits.max_scan_count = n;
        }
        if let Some(q) = &self.quarantine {
            let mut quarantine: Quarantine = limits.quarantine.clone();
            if let Some(n) = q.traps {
                quarantine.traps = n;
            }
            if let Some(DurationText(d)) = q.window {
                quarantine.window = d;
            }
            if let Some(DurationText(d)) = q.backoff {
                quarantine.backoff = d;
            }
            if let Some(DurationText(d)) = q.max_backoff {
                quarantine.max_backoff = d;
            }
            limits.quarantine = quarantine;
        }
        limits
    }

    /// Checks the values are usable: a zero deadline, memory below one wasm page or a
    /// zero scan count would make every call fail.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.call_deadline.is_some_and(|d| d.0.is_zero()) {
            return Err("`call-deadline` must be above zero".into());
        }
        if self.memory.is_some_and(|m| m.0 < 64 * 1024) {
            return Err("`memory` must be at least one wasm page (64KiB)".into());
        }
        if self.max_scan_count == Some(0) {
            return Err("`max-scan-count` must be at least 1".into());
        }
        Ok(())
    }
}
