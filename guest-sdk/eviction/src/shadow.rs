//! A miniature simulation that picks the W-TinyLFU window's share (after Waldspurger et
//! al., "Cache Modeling and Optimization using Miniature Simulations", 2017): a sample of
//! the keys (by hash) is replayed against a few small caches, each with a fixed window
//! share, scaled down by the sampling rate; the share whose small cache hits most lately
//! is the one the real cache takes.
//!
//! Only sampled accesses do work here (one access to each small cache), so the cost per
//! access of a large cache is a small fraction of the policy's own; a small cache is
//! simulated at full size.

use crate::WTinyLfu;

/// Window shares simulated: frequency-heavy (Caffeine's 1%), mixed, recency-heavy
/// (LRU-like; the main space keeps its floor).
pub(crate) const SHARES: [f64; 4] = [0.01, 0.20, 0.50, 0.995];
/// The share the real cache starts with (the frequency-friendly default).
pub(crate) const INITIAL: usize = 0;

/// Each small cache expects at least this many entries: the sampling rate is the cache's
/// expected entries over this (a smaller cache is simulated whole, at its own size).
const MIN_ENTRIES: u64 = 512;
/// An epoch lasts this many times the small caches' expected entries, in sampled accesses
/// (enough for a loop or scan the size of the cache to show in the counts) ...
const EPOCH_PER_ENTRY: u64 = 4;
/// ... and at least this many.
const EPOCH_MIN: u64 = 256;
/// Past epochs' hits fade by 1/2^this per epoch (a quarter): the last few epochs decide.
const DECAY_SHIFT: u32 = 2;
/// The window moves only when another share's score beats the current one's by more
/// than this share of an epoch's accesses (per mille): near-ties do not flip it back and
/// forth, each move costing the entries it displaces.
const HYSTERESIS_PERMILLE: u64 = 10;

/// The small caches and their recent hit counts.
pub(crate) struct Shadow {
    sims: Vec<WTinyLfu<u64>>,
    /// Decayed hits of each small cache over past epochs, plus the current epoch's.
    scores: [u64; SHARES.len()],
    /// A key is sampled when its hash's top 32 bits are below this.
    threshold: u64,
    epoch: u64,
    accesses: u64,
    chosen: usize,
}

impl Shadow {
    /// A simulation for a cache of `maximum` weight expecting about `entries` entries.
    pub(crate) fn new(maximum: u64, entries: u64) -> Self {
        let rate = (entries / MIN_ENTRIES).max(1);
        let sim_max = (maximum / rate).max(1);
        let sim_entries = (entries / rate).max(1);
        let sims = SHARES
            .iter()
            .map(|&share| WTinyLfu::simulation(sim_max, sim_entries as usize, share))
            .collect();
        Shadow {
            sims,
            scores: [0; SHARES.len()],
            threshold: (1u64 << 32) / rate,
            epoch: sim_entries.saturating_mul(EPOCH_PER_ENTRY).max(EPOCH_MIN),
            accesses: 0,
            chosen: INITIAL,
        }
    }

    /// Replays an access to the key with `hash` and `weight` if the key is sampled;
    /// returns the window share to take when it changes.
    #[inline]
    pub(crate) fn access(&mut self, hash: u64, weight: u64) -> Option<f64> {
        if hash >> 32 >= self.threshold {
            return None;
        }
        self.replay(hash, weight)
    }

    fn replay(&mut self, hash: u64, weight: u64) -> Option<f64> {
        for (sim, score) in self.sims.iter_mut().zip(&mut self.scores) {
            if sim.access(&hash) {
                *score += 1;
            } else {
                sim.insert_quietly(hash, weight);
            }
        }
        self.accesses += 1;
        if self.accesses < self.epoch {
            return None;
        }
        self.accesses = 0;
        let (best, &top) = self
            .scores
            .iter()
            .enumerate()
            .max_by_key(|&(i, s)| (*s, i == self.chosen))?;
        let current = self.scores[self.chosen];
        let margin = self.epoch * HYSTERESIS_PERMILLE / 1000;
        for s in &mut self.scores {
            *s -= *s >> DECAY_SHIFT;
        }
        if best != self.chosen && top > current + margin {
            self.chosen = best;
            return Some(SHARES[best]);
        }
        None
    }

    /// Forgets the small caches' contents and scores (the policy was cleared).
    pub(crate) fn clear(&mut self) {
        for sim in &mut self.sims {
            sim.clear();
        }
        self.scores = [0; SHARES.len()];
        self.accesses = 0;
        self.chosen = INITIAL;
    }
}
