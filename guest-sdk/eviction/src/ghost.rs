//! Ghost lists: the hashes of the keys most recently dropped by one side of the policy,
//! without their values (as ARC's B1 and B2).

use std::collections::HashMap;

/// A FIFO of at most `capacity` key hashes with O(1) membership, removal and insertion.
///
/// The ring and the index are allocated once (the index holds at most `capacity`
/// entries), so a ghost costs no allocation per access.
#[derive(Debug, Clone)]
pub(crate) struct Ghost {
    ring: Vec<u64>,
    /// Next slot of `ring` to overwrite.
    next: usize,
    /// Hash → the ring slot that holds it (a removed hash leaves a stale slot behind).
    index: HashMap<u64, usize, crate::hash::IndexHasher>,
}

impl Ghost {
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Ghost {
            ring: Vec::with_capacity(capacity),
            next: 0,
            // Twice the room it ever holds: removals leave tombstones, and with this much
            // room the table is rehashed in place instead of reallocated.
            index: HashMap::with_capacity_and_hasher(
                capacity.saturating_mul(2),
                crate::hash::index_hasher(),
            ),
        }
    }

    /// Remembers `hash`, forgetting the oldest one when full.
    pub(crate) fn push(&mut self, hash: u64) {
        if self.ring.len() < self.ring.capacity() {
            self.index.insert(hash, self.ring.len());
            self.ring.push(hash);
            return;
        }
        let slot = self.next;
        let old = self.ring[slot];
        if self.index.get(&old) == Some(&slot) {
            self.index.remove(&old);
        }
        self.ring[slot] = hash;
        self.index.insert(hash, slot);
        self.next = (slot + 1) % self.ring.len();
    }

    /// Forgets `hash`; returns whether it was remembered.
    pub(crate) fn take(&mut self, hash: u64) -> bool {
        self.index.remove(&hash).is_some()
    }

    /// Forgets everything.
    pub(crate) fn clear(&mut self) {
        self.ring.clear();
        self.next = 0;
        self.index.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::Ghost;

    #[test]
    fn remembers_the_most_recent() {
        let mut g = Ghost::new(3);
        for h in 1..=5 {
            g.push(h);
        }
        // 3, 4 and 5 remain.
        assert!(!g.take(1) && !g.take(2));
        assert!(g.take(4));
        assert!(!g.take(4), "taken once");
        // 6 overwrites 3's slot, 7 the stale slot 4 left.
        g.push(6);
        g.push(7);
        assert!(!g.take(3));
        assert!(g.take(5) && g.take(6) && g.take(7));
        g.push(8);
        g.clear();
        assert!(!g.take(8));
    }

    #[test]
    fn a_pushed_again_hash_survives_its_old_slot() {
        let mut g = Ghost::new(2);
        g.push(1);
        g.push(1);
        // Overwriting the first slot of 1 must not forget the newer one.
        g.push(2);
        assert!(g.take(1));
    }
}
