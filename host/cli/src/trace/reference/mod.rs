//! Reference cache policies for the hit-ratio tool, written for clarity: an exact LRU and
//! ARC. They track keys only (a hit is a key present at access time).

mod arc;
mod lru;
mod order;

pub use arc::Arc;
pub use lru::Lru;

/// A cache policy replayed access by access.
pub trait Simulated {
    /// Accesses `key` (inserting it on a miss, evicting as the policy says); returns
    /// whether it was a hit.
    fn access(&mut self, key: u64) -> bool;
}
