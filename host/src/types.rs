//! Plain data types of the provider contract, as the host sees them.

use std::time::Duration;

/// One entry of [`Provider::set_multi`](crate::Provider::set_multi).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The key.
    pub key: String,
    /// The value.
    pub value: Vec<u8>,
    /// `None`: no expiry. A zero duration is rejected with [`Error::InvalidArgument`](crate::Error::InvalidArgument).
    pub ttl: Option<Duration>,
}

impl Item {
    /// An item with the given TTL (`None`: no expiry).
    pub fn new(key: impl Into<String>, value: impl Into<Vec<u8>>, ttl: Option<Duration>) -> Self {
        Item {
            key: key.into(),
            value: value.into(),
            ttl,
        }
    }
}

/// The remaining lifetime of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyTtl {
    /// The key does not exist or has expired.
    Missing,
    /// The key exists without expiry.
    Persistent,
    /// The key expires after this long (at least 1 ms).
    ExpiresIn(Duration),
}

/// One page of a key scan; see [`Provider::scan`](crate::Provider::scan).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanPage {
    /// Matching keys, at most the count asked for.
    pub keys: Vec<String>,
    /// Pass this back to get the next page; `None` when the scan is complete.
    pub cursor: Option<String>,
}

/// Counters of a provider.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Reads that found a live key.
    pub hits: u64,
    /// Reads that found no live key.
    pub misses: u64,
    /// Keys stored now (may include expired keys not yet purged).
    pub keys: u64,
    /// Bytes of keys and values stored now.
    pub bytes: u64,
    /// Entries removed to make room.
    pub evictions: u64,
    /// Entries removed because their TTL passed.
    pub expirations: u64,
    /// Provider-specific counters (summed by name across partitions).
    pub extra: Vec<(String, u64)>,
}

impl Stats {
    /// Adds `other`'s counters to these.
    pub fn merge(&mut self, other: Stats) {
        self.hits += other.hits;
        self.misses += other.misses;
        self.keys += other.keys;
        self.bytes += other.bytes;
        self.evictions += other.evictions;
        self.expirations += other.expirations;
        for (name, value) in other.extra {
            match self.extra.iter_mut().find(|(n, _)| *n == name) {
                Some((_, v)) => *v += value,
                None => self.extra.push((name, value)),
            }
        }
    }

    /// The value of an extra counter.
    pub fn extra(&self, name: &str) -> Option<u64> {
        self.extra.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }
}

/// One operation of the contract, as a capability a provider may implement natively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Capability {
    /// `get`
    Get,
    /// `set`
    Set,
    /// `delete`
    Delete,
    /// `exists`
    Exists,
    /// `get-multi`
    GetMulti,
    /// `set-multi`
    SetMulti,
    /// `delete-multi`
    DeleteMulti,
    /// `scan`
    Scan,
    /// `ttl`
    Ttl,
    /// `expire`
    Expire,
    /// `clear`
    Clear,
    /// `stats`
    Stats,
    /// `atomics`: increment and compare-and-swap
    Atomics,
}

impl Capability {
    /// Every capability, in contract order.
    pub const ALL: [Capability; 13] = [
        Capability::Get,
        Capability::Set,
        Capability::Delete,
        Capability::Exists,
        Capability::GetMulti,
        Capability::SetMulti,
        Capability::DeleteMulti,
        Capability::Scan,
        Capability::Ttl,
        Capability::Expire,
        Capability::Clear,
        Capability::Stats,
        Capability::Atomics,
    ];
}

/// What a provider reports about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderInfo {
    /// Short stable name, e.g. `memory`.
    pub name: String,
    /// The provider's own version.
    pub version: String,
    /// The contract (WIT package) version it implements.
    pub contract: String,
    /// Operations implemented natively (the rest are derived).
    pub native: Vec<Capability>,
    /// For a wrapper, the providers below it, in layer order (each with its own layers);
    /// empty for a plain provider.
    pub layers: Vec<ProviderInfo>,
}

impl ProviderInfo {
    /// The stack as one line, e.g. `encryption(tiered(memory, filesystem))`.
    pub fn stack(&self) -> String {
        if self.layers.is_empty() {
            return self.name.clone();
        }
        let inner: Vec<String> = self.layers.iter().map(ProviderInfo::stack).collect();
        format!("{}({})", self.name, inner.join(", "))
    }
}
