//! The eviction order of the `lru`, `lfu` and `ttl` policies.

use std::collections::{BTreeSet, VecDeque};
use std::rc::Rc;

/// Position in the eviction queue: the smallest rank is evicted first. Its second part
/// (or, for `lru`, its first) is a tick unique to each use, so no two entries tie.
pub(crate) type Rank = (u64, u64);

/// The eviction order.
///
/// `lru` keeps a lazy recency log: a use appends `(tick, key)` in O(1) and removes
/// nothing; a record is live while its tick is still its entry's rank. Eviction pops
/// from the front, skipping dead records, and the log is compacted whenever it holds more
/// than twice the entries (amortised O(1) per use). `lfu` and `ttl` order entries by a
/// rank that does not grow with time alone, so they keep an ordered set (O(log n)).
pub(crate) enum Queue {
    Ranked(BTreeSet<(Rank, Rc<str>)>),
    Recency(VecDeque<(u64, Rc<str>)>),
}

/// Dead records the log may hold beyond twice the live entries before it is compacted.
const SLACK: usize = 64;

impl Queue {
    /// An empty queue: the recency log for `lru`, an ordered set otherwise.
    pub(crate) fn new(recency: bool) -> Queue {
        if recency {
            Queue::Recency(VecDeque::new())
        } else {
            Queue::Ranked(BTreeSet::new())
        }
    }

    /// A new entry at `rank` (not yet among the `entries` that `live` knows).
    pub(crate) fn insert(
        &mut self,
        rank: Rank,
        key: Rc<str>,
        entries: usize,
        live: impl Fn(u64, &str) -> bool,
    ) {
        match self {
            Queue::Ranked(set) => {
                set.insert((rank, key));
            }
            Queue::Recency(log) => {
                // Compact first: `live` does not know the new entry yet.
                compact(log, entries + 1, live);
                log.push_back((rank.0, key));
            }
        }
    }

    /// The entry `key` moved from rank `old` to `new`. `live` tells whether a recency
    /// record is still its entry's (for compaction); `entries` is how many entries live.
    pub(crate) fn moved(
        &mut self,
        old: Rank,
        new: Rank,
        key: &Rc<str>,
        entries: usize,
        live: impl Fn(u64, &str) -> bool,
    ) {
        match self {
            Queue::Ranked(set) => {
                if let Some((_, key)) = set.take(&(old, Rc::clone(key))) {
                    set.insert((new, key));
                }
            }
            Queue::Recency(log) => {
                log.push_back((new.0, Rc::clone(key)));
                compact(log, entries, live);
            }
        }
    }

    /// The entry `key` at `rank` is gone. (A recency record dies with its entry.)
    pub(crate) fn remove(&mut self, rank: Rank, key: &Rc<str>) {
        if let Queue::Ranked(set) = self {
            set.remove(&(rank, Rc::clone(key)));
        }
    }

    /// The entry to evict first (the caller removes it).
    pub(crate) fn victim(&mut self, live: impl Fn(u64, &str) -> bool) -> Option<Rc<str>> {
        match self {
            Queue::Ranked(set) => set.first().map(|(_, key)| Rc::clone(key)),
            Queue::Recency(log) => {
                while let Some((tick, key)) = log.pop_front() {
                    if live(tick, &key) {
                        return Some(key);
                    }
                }
                None
            }
        }
    }

    /// Empties the queue.
    pub(crate) fn clear(&mut self) {
        match self {
            Queue::Ranked(set) => set.clear(),
            Queue::Recency(log) => log.clear(),
        }
    }
}

/// Drops the dead records once the log holds more than twice `entries` (plus slack).
fn compact(log: &mut VecDeque<(u64, Rc<str>)>, entries: usize, live: impl Fn(u64, &str) -> bool) {
    if log.len() > 2 * entries + SLACK {
        log.retain(|(tick, key)| live(*tick, key));
    }
}
