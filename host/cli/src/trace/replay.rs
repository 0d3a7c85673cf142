//! Replaying a trace against a policy, and comparing policies.

use super::Trace;
use super::reference::{Arc, Lru, Simulated};
use crate::{AdapterConfig, ConfigValue, Error, Provider, Result, Runtime, WasmProvider};
use byoc_eviction::WTinyLfu;
use std::fmt::Write as _;

/// `max-bytes` given to the adapter in a replay: large enough that only `max-entries`
/// bounds it.
const ADAPTER_MAX_BYTES: u64 = 1 << 40;

/// A cache policy a trace can be replayed against. Capacities are in entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Policy {
    /// The exact LRU reference ([`super::reference::Lru`]).
    Lru,
    /// The ARC reference ([`super::reference::Arc`]).
    Arc,
    /// `moka::sync::Cache` with `max_capacity` = capacity (its default TinyLFU policy):
    /// `get`, and `insert` on a miss, pending maintenance run after every insert so that
    /// the bound is kept exactly.
    Moka,
    /// The memory adapter's `tinylfu` policy run natively: the same `byoc-eviction` code the
    /// adapter is built with, fed the same keys, so it decides exactly as the adapter does.
    TinyLfuNative,
    /// The real memory adapter (wasm, one partition) with this `eviction` value and
    /// `max-entries` = capacity: a miss is a `get` answering `None`, followed by a `set`.
    Adapter(String),
}

impl Policy {
    /// The policies the hit-ratio tool compares by default: the adapter's `lru`, `lfu` and
    /// `tinylfu`, then the exact LRU, ARC and moka.
    pub fn standard() -> Vec<Policy> {
        vec![
            Policy::Adapter("lru".into()),
            Policy::Adapter("lfu".into()),
            Policy::Adapter("tinylfu".into()),
            Policy::Lru,
            Policy::Arc,
            Policy::Moka,
        ]
    }

    /// A short name for tables: `lru`, `arc`, `moka`, `tinylfu (native)`, `adapter lru`, …
    pub fn name(&self) -> String {
        match self {
            Policy::Lru => "lru".into(),
            Policy::Arc => "arc".into(),
            Policy::Moka => "moka".into(),
            Policy::TinyLfuNative => "tinylfu (native)".into(),
            Policy::Adapter(e) => format!("adapter {e}"),
        }
    }
}

/// The outcome of every access of one replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcomes {
    /// The policy's [`Policy::name`].
    pub policy: String,
    /// For each access in order, whether it hit.
    pub hits: Vec<bool>,
}

impl Outcomes {
    /// Number of hits.
    pub fn hits(&self) -> usize {
        self.hits.iter().filter(|h| **h).count()
    }

    /// Hits divided by accesses (0 for an empty trace).
    pub fn hit_ratio(&self) -> f64 {
        if self.hits.is_empty() {
            0.0
        } else {
            self.hits() as f64 / self.hits.len() as f64
        }
    }
}

fn simulate(trace: &Trace, mut access: impl FnMut(u64) -> bool) -> Vec<bool> {
    trace.keys().iter().map(|&k| access(k)).collect()
}

/// Replays `trace` against a native policy with room for `capacity` entries.
/// [`Policy::Adapter`] needs a runtime: use [`replay_adapter`] (this returns
/// [`Error::InvalidArgument`] for it).
pub fn replay(trace: &Trace, capacity: usize, policy: &Policy) -> Result<Outcomes> {
    let hits = match policy {
        Policy::Lru => {
            let mut lru = Lru::new(capacity);
            simulate(trace, |k| lru.access(k))
        }
        Policy::Arc => {
            let mut arc = Arc::new(capacity);
            simulate(trace, |k| arc.access(k))
        }
        Policy::Moka => {
            let cache: moka::sync::Cache<u64, ()> = moka::sync::Cache::builder()
                .max_capacity(capacity as u64)
                .build();
            simulate(trace, |k| {
                // `get` on a miss too: moka counts both in its frequency sketch.
                if cache.get(&k).is_some() {
                    return true;
                }
                cache.insert(k, ());
                cache.run_pending_tasks();
                false
            })
        }
        Policy::TinyLfuNative => {
            let mut policy: WTinyLfu<String> = WTinyLfu::new(capacity as u64);
            simulate(trace, |k| {
                let key = k.to_string();
                if policy.access(key.as_str()) {
                    return true;
                }
                policy.insert(key, 1);
                false
            })
        }
        Policy::Adapter(_) => {
            return Err(Error::InvalidArgument(
                "the wasm adapter is replayed with replay_adapter".into(),
            ));
        }
    };
    Ok(Outcomes {
        policy: policy.name(),
        hits,
    })
}

/// Replays `trace` against the real memory adapter (wasm, on `runtime`, one partition)
/// with `eviction` and `max-entries` = `capacity`. Keys are the decimal block numbers.
pub async fn replay_adapter(
    runtime: &Runtime,
    trace: &Trace,
    capacity: usize,
    eviction: &str,
) -> Result<Outcomes> {
    let max_entries = i64::try_from(capacity)
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| Error::InvalidArgument(format!("capacity {capacity} out of range")))?;
    let component = runtime.load_hashed(
        "memory",
        crate::builtin::MEMORY_ADAPTER,
        crate::builtin::MEMORY_SHA256,
    )?;
    let provider = WasmProvider::builder(runtime, component)
        .config(
            AdapterConfig::new()
                .with("eviction", ConfigValue::Text(eviction.into()))
                .with("max-entries", ConfigValue::Integer(max_entries))
                .with("max-bytes", ConfigValue::Size(ADAPTER_MAX_BYTES)),
        )
        .partitions(1)
        .build()
        .await?;
    let mut hits = Vec::with_capacity(trace.len());
    let mut key = String::new();
    for &k in trace.keys() {
        key.clear();
        let _ = write!(key, "{k}");
        let hit = provider.get(&key).await?.is_some();
        if !hit {
            provider.set(&key, b"1", None).await?;
        }
        hits.push(hit);
    }
    Ok(Outcomes {
        policy: Policy::Adapter(eviction.into()).name(),
        hits,
    })
}

/// Hit ratios of several policies on one trace at one capacity.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// Cache size, in entries.
    pub capacity: usize,
    /// `(policy name, hit ratio)`, in the order the policies were given.
    pub ratios: Vec<(String, f64)>,
}

impl Comparison {
    /// The hit ratio of the policy named `name`.
    pub fn ratio(&self, name: &str) -> Option<f64> {
        self.ratios.iter().find(|(n, _)| n == name).map(|(_, r)| *r)
    }

    /// The best hit ratio among the policies named.
    pub fn best_of(&self, names: &[&str]) -> Option<f64> {
        names.iter().filter_map(|n| self.ratio(n)).reduce(f64::max)
    }
}

/// Replays `trace` at `capacity` against each policy (the adapter ones on `runtime`).
pub async fn compare(
    runtime: &Runtime,
    trace: &Trace,
    capacity: usize,
    policies: &[Policy],
) -> Result<Comparison> {
    let mut ratios = Vec::with_capacity(policies.len());
    for policy in policies {
        let outcomes = match policy {
            Policy::Adapter(eviction) => replay_adapter(runtime, trace, capacity, eviction).await?,
            other => replay(trace, capacity, other)?,
        };
        ratios.push((outcomes.policy.clone(), outcomes.hit_ratio()));
    }
    Ok(Comparison { capacity, ratios })
}

/// A Markdown table of hit ratios in percent: one row per `(trace name, comparison)`,
/// one column per policy (the policies of the first comparison).
pub fn format_table(rows: &[(String, Comparison)]) -> String {
    let Some((_, first)) = rows.first() else {
        return String::new();
    };
    let mut out = String::from("| trace | capacity |");
    for (name, _) in &first.ratios {
        let _ = write!(out, " {name} |");
    }
    out.push_str("\n| --- | ---: |");
    for _ in &first.ratios {
        out.push_str(" ---: |");
    }
    out.push('\n');
    for (trace, c) in rows {
        let _ = write!(out, "| {trace} | {} |", c.capacity);
        for (_, ratio) in &c.ratios {
            let _ = write!(out, " {:.2} |", ratio * 100.0);
        }
        out.push('\n');
    }
    out
}
