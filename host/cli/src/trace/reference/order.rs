//! A set of keys in recency order.

use std::collections::{BTreeMap, HashMap};

/// Keys ordered from least to most recently pushed.
#[derive(Default)]
pub(crate) struct Order {
    tick: u64,
    by_key: HashMap<u64, u64>,
    by_tick: BTreeMap<u64, u64>,
}

impl Order {
    pub(crate) fn len(&self) -> usize {
        self.by_key.len()
    }

    pub(crate) fn contains(&self, key: u64) -> bool {
        self.by_key.contains_key(&key)
    }

    /// Removes `key`; returns whether it was present.
    pub(crate) fn remove(&mut self, key: u64) -> bool {
        match self.by_key.remove(&key) {
            Some(tick) => {
                self.by_tick.remove(&tick);
                true
            }
            None => false,
        }
    }

    /// Makes `key` the most recent (adding it if absent).
    pub(crate) fn push_mru(&mut self, key: u64) {
        self.remove(key);
        self.tick += 1;
        self.by_key.insert(key, self.tick);
        self.by_tick.insert(self.tick, key);
    }

    /// Removes and returns the least recent key.
    pub(crate) fn pop_lru(&mut self) -> Option<u64> {
        let (_, key) = self.by_tick.pop_first()?;
        self.by_key.remove(&key);
        Some(key)
    }
}
