//! Eviction policies of the BYOC memory adapter, as plain Rust.
//!
//! The memory adapter (compiled to WebAssembly) and the host's hit-ratio tool (native)
//! both use this crate, so a trace replayed natively makes exactly the decisions the
//! adapter makes.
//!
//! [`WTinyLfu`] is W-TinyLFU with an adaptive window, after Caffeine: new entries enter a
//! small LRU *window*; an entry leaving the window must beat the *probation* segment's
//! least recent entry on estimated frequency ([`FrequencySketch`]: a count-min sketch with
//! a doorkeeper and periodic aging) to stay; entries used again in probation move to a
//! *protected* segment. The window is sized from ghost hits, as ARC sizes its recency
//! list: misses on keys the window recently rejected argue for growing it, misses on keys
//! the main space recently evicted for shrinking it; they are judged in samples by a sign
//! test, so recency-heavy workloads get a large window (LRU-like), frequency-heavy ones a
//! small one, and a stationary load does not make it wander. When the hit rate drops
//! sharply from one period to the next (the load changed), the window restarts from its
//! start size, which escapes states a local search cannot leave. Caffeine's hit-rate hill climber was
//! replaced because on this project's synthetic suite it followed sampling noise on
//! stationary traces and moved too slowly on recency-heavy ones (BENCHMARKS.md).
//!
//! ```
//! use byoc_eviction::WTinyLfu;
//!
//! let mut cache = WTinyLfu::new(2);
//! assert!(cache.insert("a", 1).is_empty());
//! assert!(cache.insert("b", 1).is_empty());
//! cache.access(&"a");
//! cache.access(&"a");
//! // The cache is full: a newcomer seen once does not displace a frequent entry.
//! let evicted = cache.insert("c", 1);
//! assert_eq!(evicted.len(), 1);
//! assert!(cache.contains(&"a"));
//! ```
#![forbid(unsafe_code)]

mod ghost;
mod hash;
mod list;
mod sizer;
mod sketch;
mod tinylfu;

pub use hash::stable_hash;
pub use sketch::FrequencySketch;
pub use tinylfu::{Segment, WTinyLfu};
