//! ARC, the Adaptive Replacement Cache (Megiddo and Modha, FAST 2003, figure 4).

use super::Simulated;
use super::order::Order;

/// ARC: `t1` holds keys seen once recently, `t2` keys seen at least twice; the ghost
/// lists `b1` and `b2` remember keys recently evicted from each, and a hit in a ghost
/// list moves the target size `p` of `t1` towards the list that would have hit.
pub struct Arc {
    c: usize,
    p: usize,
    t1: Order,
    t2: Order,
    b1: Order,
    b2: Order,
}

impl Arc {
    /// An empty ARC cache of `capacity` keys.
    pub fn new(capacity: usize) -> Arc {
        Arc {
            c: capacity,
            p: 0,
            t1: Order::default(),
            t2: Order::default(),
            b1: Order::default(),
            b2: Order::default(),
        }
    }

    /// The target size of `t1` (for tests).
    pub fn target(&self) -> usize {
        self.p
    }

    /// REPLACE(x, p): evicts the LRU of `t1` or `t2` into its ghost list.
    fn replace(&mut self, in_b2: bool) {
        let t1 = self.t1.len();
        if t1 >= 1 && ((in_b2 && t1 == self.p) || t1 > self.p) {
            if let Some(k) = self.t1.pop_lru() {
                self.b1.push_mru(k);
            }
        } else if let Some(k) = self.t2.pop_lru() {
            self.b2.push_mru(k);
        } else if let Some(k) = self.t1.pop_lru() {
            self.b1.push_mru(k);
        }
    }
}

impl Simulated for Arc {
    fn access(&mut self, x: u64) -> bool {
        if self.c == 0 {
            return false;
        }
        // Case I: a hit.
        if self.t1.remove(x) || self.t2.contains(x) {
            self.t2.push_mru(x);
            return true;
        }
        // Case II: a ghost hit in b1 — favour recency.
        if self.b1.contains(x) {
            let delta = (self.b2.len() / self.b1.len()).max(1);
            self.p = (self.p + delta).min(self.c);
            self.replace(false);
            self.b1.remove(x);
            self.t2.push_mru(x);
            return false;
        }
        // Case III: a ghost hit in b2 — favour frequency.
        if self.b2.contains(x) {
            let delta = (self.b1.len() / self.b2.len()).max(1);
            self.p = self.p.saturating_sub(delta);
            self.replace(true);
            self.b2.remove(x);
            self.t2.push_mru(x);
            return false;
        }
        // Case IV: a complete miss.
        let l1 = self.t1.len() + self.b1.len();
        if l1 == self.c {
            if self.t1.len() < self.c {
                self.b1.pop_lru();
                self.replace(false);
            } else {
                self.t1.pop_lru();
            }
        } else {
            let total = l1 + self.t2.len() + self.b2.len();
            if total >= self.c {
                if total == 2 * self.c {
                    self.b2.pop_lru();
                }
                self.replace(false);
            }
        }
        self.t1.push_mru(x);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::{Arc, Simulated};

    #[test]
    fn hand_made_sequences() {
        let mut arc = Arc::new(2);
        let out: Vec<bool> = [1, 2, 1, 3, 1, 2, 3, 1]
            .iter()
            .map(|&k| arc.access(k))
            .collect();
        // 1 2 | 1 hit (→t2) | 3: t1's LRU (2) goes to b1 | 1 hit | 2: ghost hit in b1,
        // p → 1, |t1| = p so t2's LRU (1) goes to b2 | 3 hit in t1 (→t2) | 1: ghost hit
        // in b2, p → 0, t2's LRU (2) goes to b2.
        assert_eq!(out, [false, false, true, false, true, false, true, false]);
        assert_eq!(arc.target(), 0);
        assert!(arc.access(3) && arc.access(1) && !arc.access(2));

        // A frequently used pair survives a one-pass scan, unlike under LRU.
        let mut arc = Arc::new(4);
        for _ in 0..3 {
            arc.access(100);
            arc.access(200);
        }
        for k in 0..50 {
            arc.access(k);
        }
        assert!(arc.access(100) && arc.access(200));

        // The cache never holds more than c keys, ghosts never more than 2c in total.
        let mut arc = Arc::new(8);
        let mut x = 7u64;
        for _ in 0..10_000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            arc.access((x >> 40) % 40);
            assert!(arc.t1.len() + arc.t2.len() <= 8);
            assert!(arc.t1.len() + arc.t2.len() + arc.b1.len() + arc.b2.len() <= 16);
        }
    }
}
