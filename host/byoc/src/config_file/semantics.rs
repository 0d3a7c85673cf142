//! The `semantics:` section of a cache: get-or-load, fail-safe, refresh-ahead, timeouts,
//! TTL jitter, negative caching and cross-process single-flight of its typed cache.

use super::DurationText;
use crate::Contract;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Cache semantics of a cache's typed handle ([`crate::Caches::cache`]); every field is
/// optional and off when left out. See the matching [`Contract`] methods.
///
/// ```yaml
/// semantics:
///   max-stale: 1h          # fail-safe: serve values up to 1 h past their TTL on failure
///   refresh-ahead: 0.8     # reload in the background after 80 % of the TTL
///   soft-timeout: 100ms    # with a stale value at hand, stop waiting for the loader
///   hard-timeout: 2s       # drop a load that takes longer
///   ttl-jitter: 10         # lengthen every TTL by a random 0-10 %
///   negative-ttl: 30s      # cache "not found" for 30 s
///   lock-ttl: 5s           # single-flight across processes through the backend
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[non_exhaustive]
pub struct SemanticsConfig {
    /// [`Contract::fail_safe`].
    pub max_stale: Option<DurationText>,
    /// [`Contract::refresh_ahead`]: a fraction of the TTL, above 0 and below 1.
    pub refresh_ahead: Option<f64>,
    /// [`Contract::soft_timeout`].
    pub soft_timeout: Option<DurationText>,
    /// [`Contract::hard_timeout`].
    pub hard_timeout: Option<DurationText>,
    /// [`Contract::ttl_jitter`]: a percentage, 0 to 100.
    pub ttl_jitter: Option<f64>,
    /// [`Contract::negative_ttl`].
    pub negative_ttl: Option<DurationText>,
    /// [`Contract::shared_single_flight`]: the lock entry's TTL.
    pub lock_ttl: Option<DurationText>,
    /// [`Contract::fail_safe_copies`].
    pub fail_safe_copies: Option<usize>,
}

impl SemanticsConfig {
    /// What is wrong with the section, as (field, message).
    pub(super) fn check(&self) -> Result<(), (&'static str, &'static str)> {
        let durations = [
            ("semantics.max-stale", self.max_stale),
            ("semantics.soft-timeout", self.soft_timeout),
            ("semantics.hard-timeout", self.hard_timeout),
            ("semantics.negative-ttl", self.negative_ttl),
            ("semantics.lock-ttl", self.lock_ttl),
        ];
        for (field, d) in durations {
            if d.is_some_and(|d| d.0.is_zero()) {
                return Err((field, "must be above zero"));
            }
        }
        if self
            .refresh_ahead
            .is_some_and(|f| f.is_nan() || f <= 0.0 || f >= 1.0)
        {
            return Err((
                "semantics.refresh-ahead",
                "must be a fraction of the TTL above 0 and below 1, such as 0.8",
            ));
        }
        if self
            .ttl_jitter
            .is_some_and(|p| p.is_nan() || !(0.0..=100.0).contains(&p))
        {
            return Err(("semantics.ttl-jitter", "must be a percentage from 0 to 100"));
        }
        if let (Some(soft), Some(hard)) = (self.soft_timeout, self.hard_timeout)
            && soft.0 >= hard.0
        {
            return Err((
                "semantics.soft-timeout",
                "must be shorter than hard-timeout",
            ));
        }
        Ok(())
    }

    /// `contract` with these options.
    pub fn apply<T>(&self, mut contract: Contract<T>) -> Contract<T>
    where
        T: serde::Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        if let Some(d) = self.max_stale {
            contract = contract.fail_safe(d.0);
        }
        if let Some(f) = self.refresh_ahead {
            contract = contract.refresh_ahead(f);
        }
        if let Some(d) = self.soft_timeout {
            contract = contract.soft_timeout(d.0);
        }
        if let Some(d) = self.hard_timeout {
            contract = contract.hard_timeout(d.0);
        }
        if let Some(p) = self.ttl_jitter {
            contract = contract.ttl_jitter(p);
        }
        if let Some(d) = self.negative_ttl {
            contract = contract.negative_ttl(d.0);
        }
        if let Some(d) = self.lock_ttl {
            contract = contract.shared_single_flight(d.0);
        }
        if let Some(n) = self.fail_safe_copies {
            contract = contract.fail_safe_copies(n);
        }
        contract
    }
}
