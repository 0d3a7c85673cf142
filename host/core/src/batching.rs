//! Request batching: the leader/in-flight bookkeeping every batcher shares.
//!
//! A batcher lets a bounded number of reads (or batches) be in flight. Callers beyond
//! that queue, each with a one-shot reply channel, and one caller at a time *leads*: it
//! takes the oldest queued callers (at most a batch), sends their reads as one request,
//! and answers each of them. [`Batching`] holds that state (slots in flight, whether a
//! caller leads, the queue) under one short-held lock, queues callers, takes batches and
//! passes leadership on to a caller still waiting; [`distinct`] maps a batch to the
//! distinct keys it sends once, and each caller to its key's answer.
//!
//! Policy stays with each batcher: who leads and when, what timers run, what a failed
//! batch does (`wasm::coalesce`: one leader waiting for a slot per pooled provider;
//! `redis::batch`: one leader per batch on the wire, each caller with a deadline).

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};
use tokio::sync::oneshot;

/// The batching state of one batcher, behind its lock; see [`Batching::lock`].
pub struct Batching<A, R, X = ()> {
    state: Mutex<Lanes<A, R, X>>,
    max_batch: usize,
}

/// The state: `A` is what a queued caller asks, `R` what it is told, `X` the batcher's
/// own extra state.
pub struct Lanes<A, R, X> {
    /// Reads or batches in flight (the batcher decides which).
    pub in_flight: usize,
    /// Whether a caller leads the next batch.
    pub leading: bool,
    /// Callers waiting for a batch, oldest first.
    pub queue: VecDeque<Waiter<A, R>>,
    /// The batcher's own state.
    pub extra: X,
}

/// A queued caller: what it asks, and where its reply goes.
pub struct Waiter<A, R> {
    /// What it asks (a key, a read).
    pub ask: A,
    /// Where its reply goes.
    pub reply: oneshot::Sender<R>,
}

/// Which queued caller leadership passes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Successor {
    /// The one that waited longest (first come, first served).
    Oldest,
    /// The one that arrived last (the most time left before its deadline).
    Newest,
}

impl<A, R, X: Default> Batching<A, R, X> {
    /// Batches of at most `max_batch` callers (at least 1).
    pub fn new(max_batch: usize) -> Self {
        Batching {
            state: Mutex::new(Lanes {
                in_flight: 0,
                leading: false,
                queue: VecDeque::new(),
                extra: X::default(),
            }),
            max_batch: max_batch.max(1),
        }
    }
}

impl<A, R, X> Batching<A, R, X> {
    /// The state. Held for a few statements at a time, never across an `await`.
    pub fn lock(&self) -> MutexGuard<'_, Lanes<A, R, X>> {
        // The state is consistent between statements: a panic elsewhere cannot tear it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Most callers per batch.
    pub fn max_batch(&self) -> usize {
        self.max_batch
    }
}

impl<A, R, X> Lanes<A, R, X> {
    /// Queues a caller asking `ask`; its reply comes on the receiver.
    pub fn enqueue(&mut self, ask: A) -> oneshot::Receiver<R> {
        let (reply, answer) = oneshot::channel();
        self.queue.push_back(Waiter { ask, reply });
        answer
    }

    /// The `n` oldest queued callers (fewer if fewer wait), taken out of the queue.
    pub fn take(&mut self, n: usize) -> std::collections::vec_deque::Drain<'_, Waiter<A, R>> {
        let n = n.min(self.queue.len());
        self.queue.drain(..n)
    }

    /// Passes leadership to a queued caller still waiting, the `to` one first: it is told
    /// `lead(ask)`. A reply that finds its caller gone is given to `gone` (to disarm
    /// whatever it carries) and the next caller is tried. Whether a caller took it; when
    /// none did, the queue is empty.
    pub fn hand_over(
        &mut self,
        to: Successor,
        mut lead: impl FnMut(A) -> R,
        mut gone: impl FnMut(R),
    ) -> bool {
        loop {
            let next = match to {
                Successor::Oldest => self.queue.pop_front(),
                Successor::Newest => self.queue.pop_back(),
            };
            let Some(next) = next else { return false };
            match next.reply.send(lead(next.ask)) {
                Ok(()) => return true,
                Err(reply) => gone(reply),
            }
        }
    }
}

/// The distinct keys of a batch of `n` entries, in order of first appearance, and each
/// entry's index among them. A batch of one skips the map.
pub fn distinct<K: Hash + Eq + Copy>(
    entries: impl IntoIterator<Item = K>,
    n: usize,
) -> (Vec<K>, Vec<usize>) {
    let mut keys = Vec::with_capacity(n);
    let mut at = Vec::with_capacity(n);
    let mut index: Option<HashMap<K, usize, foldhash::fast::RandomState>> = None;
    for key in entries {
        if keys.is_empty() {
            keys.push(key);
            at.push(0);
            continue;
        }
        let index = index.get_or_insert_with(|| {
            let mut map = HashMap::with_capacity_and_hasher(n, Default::default());
            map.insert(keys[0], 0);
            map
        });
        let next = keys.len();
        let i = *index.entry(key).or_insert(next);
        if i == next {
            keys.push(key);
        }
        at.push(i);
    }
    (keys, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_keeps_first_appearance_order_and_maps_each_entry() {
        let (keys, at) = distinct(["b", "a", "b", "c", "a"], 5);
        assert_eq!(keys, ["b", "a", "c"]);
        assert_eq!(at, [0, 1, 0, 2, 1]);
        let (keys, at) = distinct(["only"], 1);
        assert_eq!((keys, at), (vec!["only"], vec![0]));
        let (keys, at) = distinct(std::iter::empty::<&str>(), 0);
        assert!(keys.is_empty() && at.is_empty());
    }

    #[test]
    fn leadership_passes_to_a_caller_still_waiting_in_the_order_asked() {
        for to in [Successor::Oldest, Successor::Newest] {
            let b: Batching<u32, u32> = Batching::new(8);
            let mut state = b.lock();
            let first = state.enqueue(1);
            let mut second = state.enqueue(2);
            let mut third = state.enqueue(3);
            let fourth = state.enqueue(4);
            // The callers at both ends gave up: skipped.
            drop((first, fourth));
            let mut skipped = Vec::new();
            assert!(state.hand_over(to, |ask| ask * 10, |r| skipped.push(r)));
            let (gone, led, told, still) = match to {
                Successor::Oldest => (10, &mut second, 20, &mut third),
                Successor::Newest => (40, &mut third, 30, &mut second),
            };
            assert_eq!(skipped, [gone]);
            assert_eq!(led.try_recv().ok(), Some(told));
            assert!(still.try_recv().is_err());
            assert_eq!(state.queue.len(), 2);
        }
    }

    #[test]
    fn nobody_to_lead_empties_the_queue() {
        let b: Batching<u32, u32> = Batching::new(8);
        let mut state = b.lock();
        drop(state.enqueue(1));
        let mut skipped = 0;
        assert!(!state.hand_over(Successor::Oldest, |a| a, |_| skipped += 1));
        assert_eq!(skipped, 1);
        assert!(state.queue.is_empty());
    }

    #[test]
    fn take_drains_the_oldest() {
        let b: Batching<u32, ()> = Batching::new(8);
        let mut state = b.lock();
        let _rx: Vec<_> = (0..5).map(|i| state.enqueue(i)).collect();
        let taken: Vec<u32> = state.take(3).map(|w| w.ask).collect();
        assert_eq!(taken, [0, 1, 2]);
        assert_eq!(state.take(10).count(), 2);
    }
}
