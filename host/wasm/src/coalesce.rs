//! Coalescing of concurrent `get`s of a pooled provider into multi-key reads.
//!
//! A `get` that finds no read in flight runs at once, as its own call. A caller arriving
//! while reads are in flight leads the next batch: it yields to the runtime once, so the
//! callers ready to run queue behind it, then takes the queue (at most the batch's size,
//! distinct keys once) into one instance as one multi-key read as soon as fewer than
//! [`MAX_IN_FLIGHT`] reads are in flight, and each caller gets its own value by position.
//! A batch that fails `unavailable` fails each caller; any other failure has each caller
//! read its key alone, so a bad key affects no one else. A queued caller arms no timer; a
//! leader waits at most [`MAX_SLOT_WAIT`] for a slot.
//!
//! Why, and why this is linearizable: `docs/internals.md`, "Coalesced gets".

use crate::{Error, Result};
use byoc_core::batching::{Batching, Lanes, Successor, Waiter, distinct};
use byoc_core::provider::MultiValue;
use bytes::Bytes;
use std::sync::MutexGuard;
use tokio::sync::{Notify, oneshot};

/// Reads (lone or batched) in flight at once; a leader that finds this many waits for one
/// to end. Only a caller that finds none in flight reads alone, so the slots bound the
/// batches on the wire, not how many callers go unbatched: a multiplexed connection
/// pipelines them, and a low bound left the CPU idle while a leader waited for a slot.
pub(crate) const MAX_IN_FLIGHT: usize = 16;

/// The longest a leader waits for a read in flight to end before it sends its batch
/// anyway (beyond [`MAX_IN_FLIGHT`]). Reads take about a round trip, far less than this,
/// so this only fires when the backend stalls: a queued caller then waits at most this
/// long before its batch is sent, not for the stalled reads' deadline.
pub(crate) const MAX_SLOT_WAIT: std::time::Duration = std::time::Duration::from_millis(10);

/// The coalescing state of one pooled provider: [`Batching`] with `in_flight` counting
/// reads in flight (lone `get`s and batches) and `leading` set while a caller leads the
/// next batch (invariant: callers queue only while one leads). Queued callers ask a key.
pub(crate) struct Coalescer {
    lanes: Batching<String, Reply>,
    /// Wakes the leader when a read in flight finishes.
    slot_freed: Notify,
}

/// The state behind the coalescer's lock.
type State = Lanes<String, Reply, ()>;

/// What a caller does on arrival.
enum Turn {
    /// Read alone, in a free slot (taken).
    Alone,
    /// Wait in the queue for this answer.
    Queued(oneshot::Receiver<Reply>),
    /// Lead the next batch.
    Lead,
}

/// What a queued caller is told.
enum Reply {
    /// Its value (or the batch's shared failure).
    Answer(Result<Option<Bytes>>),
    /// It leads the next batch.
    Lead,
    /// The batch failed in a way that may be another key's: read alone.
    Alone,
}

impl std::fmt::Debug for Coalescer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coalescer")
            .field("max_batch", &self.lanes.max_batch())
            .finish_non_exhaustive()
    }
}

impl Coalescer {
    /// Batches of at most `max_batch` callers (`None` below 2: nothing to coalesce).
    pub(crate) fn new(max_batch: usize) -> Option<Coalescer> {
        (max_batch >= 2).then(|| Coalescer {
            lanes: Batching::new(max_batch),
            slot_freed: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.lanes.lock()
    }

    /// The value of `key`: read by `alone()` when few reads are in flight, else from a
    /// batch read by `batch(keys)` (distinct keys; one value per key, in order).
    pub(crate) async fn read<V, A, AF, B, BF>(
        &self,
        key: &str,
        alone: A,
        batch: B,
    ) -> Result<Option<V>>
    where
        V: MultiValue,
        A: FnOnce() -> AF,
        AF: Future<Output = Result<Option<V>>>,
        B: FnOnce(Vec<String>) -> BF,
        BF: Future<Output = Result<Vec<Option<Bytes>>>>,
    {
        let turn = {
            let mut state = self.lock();
            if !state.leading && state.in_flight == 0 {
                state.in_flight += 1;
                Turn::Alone
            } else if state.leading {
                Turn::Queued(state.enqueue(key.to_owned()))
            } else {
                state.leading = true;
                Turn::Lead
            }
        };
        if let Turn::Alone = turn {
            let _slot = InFlight(self);
            return alone().await;
        }
        if let Turn::Queued(answer) = turn {
            match answer.await {
                Ok(Reply::Answer(value)) => {
                    return value.map(|v| v.map(|b| V::from_shared(&b, &b)));
                }
                Ok(Reply::Lead) => {}
                // Alone, or the leader was dropped mid-batch.
                Ok(Reply::Alone) | Err(_) => return alone().await,
            }
        }
        self.lead(key, alone, batch).await
    }

    /// Leads the next batch: waits for a free slot, takes the queue and reads it with
    /// `key` (first) in one `batch` call, then answers every caller.
    async fn lead<V, A, AF, B, BF>(&self, key: &str, alone: A, batch: B) -> Result<Option<V>>
    where
        V: MultiValue,
        A: FnOnce() -> AF,
        AF: Future<Output = Result<Option<V>>>,
        B: FnOnce(Vec<String>) -> BF,
        BF: Future<Output = Result<Vec<Option<Bytes>>>>,
    {
        let leadership = Leadership(self);
        // The callers ready to run (those just answered, new arrivals) queue meanwhile.
        tokio::task::yield_now().await;
        let mut until = None;
        let mut overdue = false;
        let waiters: Vec<Waiter<String, Reply>> = loop {
            let freed = self.slot_freed.notified();
            {
                let mut state = self.lock();
                if state.in_flight < MAX_IN_FLIGHT || overdue {
                    state.in_flight += 1;
                    let waiters = state.take(self.lanes.max_batch() - 1).collect();
                    hand_over(&mut state);
                    std::mem::forget(leadership);
                    break waiters;
                }
            }
            // One timer per waiting leader (none while slots are free): reads in flight
            // that hang do not hold the queue past the slot wait.
            let until = *until.get_or_insert_with(|| tokio::time::Instant::now() + MAX_SLOT_WAIT);
            overdue = tokio::time::timeout_at(until, freed).await.is_err();
        };
        let slot = InFlight(self);
        if waiters.is_empty() {
            return alone().await;
        }
        // Distinct keys, and each caller's position among them (the leader's is 0).
        let (keys, at) = distinct(
            std::iter::once(key).chain(waiters.iter().map(|w| w.ask.as_str())),
            waiters.len() + 1,
        );
        let keys: Vec<String> = keys.into_iter().map(str::to_owned).collect();
        let distinct = keys.len();
        let answer = batch(keys).await;
        drop(slot);
        match answer {
            // One value per distinct key, or the batch is treated as failed.
            Ok(values) if values.len() == distinct => {
                for (w, i) in waiters.into_iter().zip(at.into_iter().skip(1)) {
                    let _gone = w.reply.send(Reply::Answer(Ok(values[i].clone())));
                }
                Ok(values
                    .into_iter()
                    .next()
                    .flatten()
                    .map(|b| V::from_shared(&b, &b)))
            }
            Err(Error::Unavailable(m)) => {
                for w in waiters {
                    let _gone = w
                        .reply
                        .send(Reply::Answer(Err(Error::Unavailable(m.clone()))));
                }
                Err(Error::Unavailable(m))
            }
            _ => {
                for w in waiters {
                    let _gone = w.reply.send(Reply::Alone);
                }
                alone().await
            }
        }
    }
}

/// Passes leadership to the oldest queued caller still waiting, or ends it when none is.
fn hand_over(state: &mut State) {
    if !state.hand_over(Successor::Oldest, |_| Reply::Lead, drop) {
        state.leading = false;
    }
}

/// A read in flight; frees its slot (and wakes the leader) when dropped.
struct InFlight<'a>(&'a Coalescer);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.in_flight -= 1;
        let leading = state.leading;
        drop(state);
        if leading {
            self.0.slot_freed.notify_one();
        }
    }
}

/// A leader still waiting for a slot; if it is dropped there (its caller gave up), the
/// leadership passes on.
struct Leadership<'a>(&'a Coalescer);

impl Drop for Leadership<'_> {
    fn drop(&mut self) {
        hand_over(&mut self.0.lock());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    use tokio::sync::Semaphore;

    /// A backend whose reads wait for `gate` permits; `value(k)` is `k`'s bytes, except
    /// keys starting with `missing`. Counts lone and batched reads.
    #[derive(Default)]
    struct Backend {
        alone: AtomicUsize,
        batches: Mutex<Vec<Vec<String>>>,
    }

    fn value(key: &str) -> Option<Bytes> {
        (!key.starts_with("missing")).then(|| Bytes::copy_from_slice(key.as_bytes()))
    }

    struct Harness {
        co: Coalescer,
        backend: Backend,
        gate: Semaphore,
        /// The batch's answer: `Ok` values, or this error.
        fail_batch: Mutex<Option<Error>>,
        /// The next batch answers one value too few.
        short_batch: std::sync::atomic::AtomicBool,
    }

    impl Harness {
        fn new(max_batch: usize) -> Arc<Harness> {
            Arc::new(Harness {
                co: Coalescer::new(max_batch).expect("a batch of 2 or more"),
                backend: Backend::default(),
                gate: Semaphore::new(0),
                fail_batch: Mutex::new(None),
                short_batch: std::sync::atomic::AtomicBool::new(false),
            })
        }

        async fn get(self: &Arc<Self>, key: &str) -> Result<Option<Vec<u8>>> {
            let h = Arc::clone(self);
            let h2 = Arc::clone(self);
            self.co
                .read(
                    key,
                    || async move {
                        h.backend.alone.fetch_add(1, Ordering::SeqCst);
                        h.gate.acquire().await.expect("gate").forget();
                        tokio::task::yield_now().await;
                        Ok(value(key).map(|b| b.to_vec()))
                    },
                    |keys: Vec<String>| async move {
                        h2.backend.batches.lock().expect("lock").push(keys.clone());
                        h2.gate.acquire().await.expect("gate").forget();
                        tokio::task::yield_now().await;
                        let short = h2.short_batch.swap(false, Ordering::SeqCst);
                        match h2.fail_batch.lock().expect("lock").take() {
                            Some(e) => Err(e),
                            None => Ok(keys
                                .iter()
                                .skip(usize::from(short))
                                .map(|k| value(k))
                                .collect()),
                        }
                    },
                )
                .await
        }

        fn batches(&self) -> Vec<Vec<String>> {
            self.backend.batches.lock().expect("lock").clone()
        }

        fn queued(&self) -> usize {
            self.co.lock().queue.len()
        }
    }

    /// A spawned `get`.
    type Get = tokio::task::JoinHandle<Result<Option<Vec<u8>>>>;

    /// Spawns `get(key)` for each key; the handles answer in order.
    fn spawn_gets(h: &Arc<Harness>, keys: &[String]) -> Vec<Get> {
        keys.iter()
            .map(|k| {
                let (h, k) = (Arc::clone(h), k.clone());
                tokio::spawn(async move { h.get(&k).await })
            })
            .collect()
    }

    /// Takes every slot with a read held at the gate: `get`s of `direct0`.. spawned one at
    /// a time, so each finds no company and reads alone.
    async fn fill_slots(h: &Arc<Harness>) -> Vec<Get> {
        let mut handles = Vec::new();
        for k in keys("direct", MAX_IN_FLIGHT) {
            handles.extend(spawn_gets(h, &[k]));
            settle().await;
        }
        assert_eq!(h.co.lock().in_flight, MAX_IN_FLIGHT);
        handles
    }

    /// Awaits each `get` task, checking that it answered its key's value.
    async fn assert_answers(handles: Vec<Get>, keys: &[String]) {
        assert_eq!(handles.len(), keys.len());
        for (handle, k) in handles.into_iter().zip(keys) {
            let got = handle.await.expect("task").expect("get");
            assert_eq!(got, value(k).map(|b| b.to_vec()), "{k}");
        }
    }

    /// Gets: four lone reads held at the gate, a leader waiting for a slot, and three
    /// callers queued behind it (keys `q0`..`q2`).
    async fn leader_and_queue() -> (Arc<Harness>, Vec<Get>, Get, Vec<Get>, Vec<String>) {
        let h = Harness::new(64);
        let first = fill_slots(&h).await;
        let leader = spawn_gets(&h, &["lead".to_owned()])
            .pop()
            .expect("one task");
        settle().await;
        let queued_keys = keys("q", 3);
        let queued = spawn_gets(&h, &queued_keys);
        settle().await;
        (h, first, leader, queued, queued_keys)
    }

    /// Lets spawned tasks run until they wait.
    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }

    fn keys(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{prefix}{i}")).collect()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_lone_caller_reads_alone() {
        let h = Harness::new(64);
        h.gate.add_permits(1);
        assert_eq!(h.get("a").await.expect("get"), Some(b"a".to_vec()));
        assert_eq!(h.backend.alone.load(Ordering::SeqCst), 1);
        assert!(h.batches().is_empty());
        assert_eq!(h.co.lock().in_flight, 0);
    }

    /// Callers that arrive together while one read is in flight do not wait for it: the
    /// first leads, the others join its batch, and it is sent at once.
    #[tokio::test(flavor = "current_thread")]
    async fn callers_arriving_together_share_a_batch_sent_at_once() {
        let h = Harness::new(64);
        let lone = spawn_gets(&h, &keys("direct", 1));
        settle().await;
        let together = keys("t", 5);
        let batched = spawn_gets(&h, &together);
        settle().await;
        assert_eq!(
            h.batches(),
            vec![together.clone()],
            "sent while a read is in flight"
        );
        assert_eq!(h.backend.alone.load(Ordering::SeqCst), 1);
        assert_eq!(h.co.lock().in_flight, 2);
        h.gate.add_permits(100);
        assert_answers(batched, &together).await;
        assert_answers(lone, &keys("direct", 1)).await;
        let state = h.co.lock();
        assert_eq!((state.in_flight, state.leading), (0, false));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn callers_beyond_the_reads_in_flight_share_one_batch() {
        let h = Harness::new(64);
        let first = fill_slots(&h).await;
        assert_eq!(h.backend.alone.load(Ordering::SeqCst), MAX_IN_FLIGHT);
        // Ten more callers: distinct keys, a key twice, a missing key.
        let mut more = keys("k", 8);
        more.push("k3".into());
        more.push("missing-1".into());
        let queued = spawn_gets(&h, &more);
        settle().await;
        assert_eq!(h.queued(), more.len() - 1, "the first of them leads");
        assert!(h.batches().is_empty(), "no batch before a slot is free");
        // The lone reads finish: the first freed slot goes to the batch.
        h.gate.add_permits(MAX_IN_FLIGHT + 1);
        assert_answers(queued, &more).await;
        let batches = h.batches();
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].len(), 9, "k3 is read once: {:?}", batches[0]);
        assert_answers(first, &keys("direct", MAX_IN_FLIGHT)).await;
        assert_eq!(h.co.lock().in_flight, 0);
        assert!(!h.co.lock().leading);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn batches_hold_at_most_max_batch_callers_and_leadership_passes_on() {
        let h = Harness::new(8);
        let first = fill_slots(&h).await;
        let queued_keys = keys("q", 30);
        let queued = spawn_gets(&h, &queued_keys);
        settle().await;
        h.gate.add_permits(1000);
        assert_answers(queued, &queued_keys).await;
        assert_answers(first, &keys("direct", MAX_IN_FLIGHT)).await;
        let batches = h.batches();
        assert!(batches.iter().all(|b| b.len() <= 8), "{batches:?}");
        let mut read: Vec<String> = batches.concat();
        read.sort();
        let mut want = queued_keys.clone();
        want.sort();
        assert_eq!(read, want, "every queued key is read exactly once");
        assert_eq!(h.backend.alone.load(Ordering::SeqCst), MAX_IN_FLIGHT);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_unavailable_batch_fails_every_caller() {
        let h = Harness::new(64);
        let first = fill_slots(&h).await;
        *h.fail_batch.lock().expect("lock") = Some(Error::Unavailable("down".into()));
        let queued = spawn_gets(&h, &keys("q", 5));
        settle().await;
        h.gate.add_permits(100);
        for handle in queued {
            assert!(
                matches!(handle.await.expect("task"), Err(Error::Unavailable(m)) if m == "down")
            );
        }
        assert_eq!(h.backend.alone.load(Ordering::SeqCst), MAX_IN_FLIGHT);
        assert_answers(first, &keys("direct", MAX_IN_FLIGHT)).await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn any_other_batch_failure_has_each_caller_read_alone() {
        // A batch failing `internal`, and one answering a value too few.
        for short in [false, true] {
            let h = Harness::new(64);
            let first = fill_slots(&h).await;
            settle().await;
            if short {
                h.short_batch.store(true, Ordering::SeqCst);
            } else {
                *h.fail_batch.lock().expect("lock") =
                    Some(Error::Internal("one key's fault".into()));
            }
            let queued_keys = keys("q", 5);
            let queued = spawn_gets(&h, &queued_keys);
            settle().await;
            h.gate.add_permits(100);
            assert_answers(queued, &queued_keys).await;
            assert_eq!(h.batches().len(), 1);
            assert_eq!(
                h.backend.alone.load(Ordering::SeqCst),
                MAX_IN_FLIGHT + queued_keys.len()
            );
            assert_answers(first, &keys("direct", MAX_IN_FLIGHT)).await;
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_leader_sends_its_batch_when_the_reads_in_flight_stall() {
        let h = Harness::new(64);
        // The lone reads never end (no permit is given until the end).
        let first = fill_slots(&h).await;
        let queued_keys = keys("q", 3);
        let queued = spawn_gets(&h, &queued_keys);
        settle().await;
        assert!(h.batches().is_empty());
        tokio::time::sleep(MAX_SLOT_WAIT * 3).await;
        assert_eq!(h.batches().len(), 1, "sent after the slot wait");
        assert_eq!(h.co.lock().in_flight, MAX_IN_FLIGHT + 1);
        h.gate.add_permits(100);
        assert_answers(queued, &queued_keys).await;
        assert_answers(first, &keys("direct", MAX_IN_FLIGHT)).await;
        assert_eq!(h.co.lock().in_flight, 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_leader_dropped_while_waiting_passes_leadership_on() {
        let (h, first, leader, queued, queued_keys) = leader_and_queue().await;
        assert_eq!(h.queued(), 3);
        leader.abort();
        assert!(leader.await.expect_err("aborted").is_cancelled());
        assert_eq!(h.queued(), 2, "the oldest queued caller leads now");
        h.gate.add_permits(100);
        assert_answers(queued, &queued_keys).await;
        assert_answers(first, &keys("direct", MAX_IN_FLIGHT)).await;
        assert!(!h.co.lock().leading);
        assert_eq!(h.co.lock().in_flight, 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn callers_of_a_leader_dropped_mid_batch_read_alone() {
        let (h, first, leader, queued, queued_keys) = leader_and_queue().await;
        h.gate.add_permits(1); // one lone read ends: the batch starts and waits at the gate
        settle().await;
        assert_eq!(h.batches().len(), 1);
        leader.abort();
        assert!(leader.await.expect_err("aborted").is_cancelled());
        h.gate.add_permits(100);
        assert_answers(queued, &queued_keys).await;
        assert_answers(first, &keys("direct", MAX_IN_FLIGHT)).await;
        assert_eq!(h.co.lock().in_flight, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_concurrent_callers_each_get_their_own_value() {
        let h = Harness::new(16);
        h.gate.add_permits(1 << 20);
        let tasks: Vec<_> = (0..64)
            .map(|t| {
                let h = Arc::clone(&h);
                tokio::spawn(async move {
                    for i in 0..200 {
                        let k = if i % 7 == 0 {
                            format!("missing{t}")
                        } else {
                            format!("k{}", (t * 31 + i) % 50)
                        };
                        assert_eq!(h.get(&k).await.expect("get"), value(&k).map(|b| b.to_vec()));
                        if i % 16 == 0 {
                            tokio::time::sleep(Duration::from_micros(50)).await;
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
        assert!(!h.batches().is_empty(), "some reads were coalesced");
        let state = h.co.lock();
        assert_eq!(
            (state.in_flight, state.leading, state.queue.len()),
            (0, false, 0)
        );
    }

    #[test]
    fn a_batch_of_one_is_no_batch() {
        assert!(Coalescer::new(1).is_none());
        assert!(Coalescer::new(0).is_none());
        assert!(Coalescer::new(2).is_some());
    }
}
