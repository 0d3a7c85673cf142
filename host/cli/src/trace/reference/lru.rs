//! Exact LRU.

use super::Simulated;
use super::order::Order;

/// Least recently used: on a miss with `capacity` keys cached, the key accessed longest
/// ago goes.
pub struct Lru {
    capacity: usize,
    order: Order,
}

impl Lru {
    /// An empty LRU cache of `capacity` keys.
    pub fn new(capacity: usize) -> Lru {
        Lru {
            capacity,
            order: Order::default(),
        }
    }
}

impl Simulated for Lru {
    fn access(&mut self, key: u64) -> bool {
        let hit = self.order.contains(key);
        if !hit {
            if self.capacity == 0 {
                return false;
            }
            if self.order.len() >= self.capacity {
                self.order.pop_lru();
            }
        }
        self.order.push_mru(key);
        hit
    }
}

#[cfg(test)]
mod tests {
    use super::{Lru, Simulated};

    fn run(capacity: usize, keys: &[u64]) -> Vec<bool> {
        let mut lru = Lru::new(capacity);
        keys.iter().map(|&k| lru.access(k)).collect()
    }

    #[test]
    fn evicts_least_recent() {
        // 1 2 1 3 (evicts 2) 2 (miss, evicts 1) 1 (miss) 3 (miss: 3 went for 1)
        assert_eq!(
            run(2, &[1, 2, 1, 3, 2, 1, 3]),
            [false, false, true, false, false, false, false]
        );
        assert_eq!(
            run(3, &[1, 2, 3, 1, 2, 3]),
            [false, false, false, true, true, true]
        );
        // A loop one larger than the cache never hits.
        assert!(run(3, &[1, 2, 3, 4, 1, 2, 3, 4]).iter().all(|h| !h));
        assert!(run(0, &[1, 1]).iter().all(|h| !h));
    }
}
