//! Eviction policies of the BYOC memory adapter, as plain Rust.
//!
//! The memory adapter (compiled to WebAssembly) and the host's hit-ratio tool (native) both
//! use this crate, so a trace replayed natively makes exactly the decisions the adapter
//! makes.
//!
//! [`WTinyLfu`] is W-TinyLFU with an adaptive window, after Caffeine: new entries enter a
//! small LRU window; one leaving it must beat the probation segment's least recent entry on
//! estimated frequency ([`FrequencySketch`]) to stay; entries used again move to a
//! protected segment. The window's share is picked by a miniature simulation (a hash sample
//! of the keys replayed against small caches with fixed shares) when the cache is bounded
//! by entries, and sized from ghost hits when it is bounded by weight. Why each choice:
//! `docs/internals.md`, "The eviction policy".
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
mod shadow;
mod sizer;
mod sketch;
mod tinylfu;

pub use hash::stable_hash;
pub use sketch::FrequencySketch;
pub use tinylfu::{Segment, WTinyLfu};
