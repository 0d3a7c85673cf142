//! The free list of a pooled [`WasmProvider`](super::WasmProvider): which instance slots
//! are free, and a fair wait when none is.
//!
//! Taking a slot is O(1) whatever the pool size (a semaphore permit, then a pop from a
//! stack of free slot indices), so a pool may hold hundreds of instances. The stack is
//! last-in first-out: a lightly used pool keeps reusing the same few instances (warm, and
//! the only ones ever started), and instances beyond them start only under concurrency.

use super::instance::Live;
use futures_util::lock::{Mutex, MutexGuard};
use std::ops::{Deref, DerefMut};
use std::sync::Mutex as StdMutex;
use tokio::sync::{Semaphore, SemaphorePermit};

/// An instance slot (a partition's or a pool's) alone on its cache lines: two threads
/// calling instances in neighbouring slots would otherwise write one line (a slot's lock
/// word sits next to the previous slot's instance handles) and pass it between cores on
/// every call. 128 bytes: CPUs that fetch lines in pairs.
#[repr(align(128))]
pub(crate) struct Slot(Mutex<Option<Live>>);

impl Slot {
    /// A slot without an instance.
    pub(crate) fn empty() -> Slot {
        Slot(Mutex::new(None))
    }

    /// A slot holding `live`.
    pub(crate) fn holding(live: Live) -> Slot {
        Slot(Mutex::new(Some(live)))
    }
}

impl Deref for Slot {
    type Target = Mutex<Option<Live>>;

    fn deref(&self) -> &Mutex<Option<Live>> {
        &self.0
    }
}

/// Free slot indices of a pool of `n` slots, and one permit per free slot.
pub(crate) struct FreeSlots {
    /// Free slot indices; the last is taken first.
    free: StdMutex<Vec<usize>>,
    /// One permit per index in `free`: a caller holding a permit is owed an index.
    permits: Semaphore,
}

impl FreeSlots {
    /// Every one of `n` slots free; slot 0 is taken first.
    pub(crate) fn new(n: usize) -> FreeSlots {
        FreeSlots {
            free: StdMutex::new((0..n).rev().collect()),
            permits: Semaphore::new(n),
        }
    }

    /// Waits (first come, first served) for a free slot of `slots` and locks it.
    pub(crate) async fn take<'a>(&'a self, slots: &'a [Slot]) -> SlotGuard<'a> {
        // The semaphore is never closed, so acquiring cannot fail.
        let permit = self.permits.acquire().await.ok();
        let index = self.lock_free().pop();
        // With a permit there is always a free index; this fallback only keeps the
        // code total.
        let index = index.unwrap_or(0);
        // Usually uncontended: only `stats` locks free slots without a permit.
        let guard = slots[index].lock().await;
        SlotGuard {
            guard,
            _release: Some(Release {
                pool: self,
                index,
                _permit: permit,
            }),
        }
    }

    fn lock_free(&self) -> std::sync::MutexGuard<'_, Vec<usize>> {
        // Only pushes and pops happen under this lock; a panic cannot leave it torn.
        self.free.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Gives a slot back to the free list when dropped: index first, then the permit.
struct Release<'a> {
    pool: &'a FreeSlots,
    index: usize,
    _permit: Option<SemaphorePermit<'a>>,
}

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.pool.lock_free().push(self.index);
    }
}

/// A locked instance slot; a pooled one returns to the free list when dropped (also when
/// the call holding it is cancelled).
pub(crate) struct SlotGuard<'a> {
    // Field order is drop order: the slot is unlocked before its index is given back.
    guard: MutexGuard<'a, Option<Live>>,
    _release: Option<Release<'a>>,
}

impl<'a> SlotGuard<'a> {
    /// A partition's slot (not pooled: nothing to give back).
    pub(crate) fn partition(guard: MutexGuard<'a, Option<Live>>) -> SlotGuard<'a> {
        SlotGuard {
            guard,
            _release: None,
        }
    }
}

impl Deref for SlotGuard<'_> {
    type Target = Option<Live>;

    fn deref(&self) -> &Option<Live> {
        &self.guard
    }
}

impl DerefMut for SlotGuard<'_> {
    fn deref_mut(&mut self) -> &mut Option<Live> {
        &mut self.guard
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    impl SlotGuard<'_> {
        fn index(&self) -> Option<usize> {
            self._release.as_ref().map(|r| r.index)
        }
    }

    fn slots(n: usize) -> Vec<Slot> {
        (0..n).map(|_| Slot::empty()).collect()
    }

    #[tokio::test]
    async fn the_most_recently_freed_slot_is_taken_first() {
        let (free, slots) = (FreeSlots::new(4), slots(4));
        let a = free.take(&slots).await;
        let b = free.take(&slots).await;
        assert_eq!((a.index(), b.index()), (Some(0), Some(1)));
        drop(a);
        // Slot 0 (free, above the never-used 2 and 3) is reused before a new one starts.
        let c = free.take(&slots).await;
        assert_eq!(c.index(), Some(0));
        drop((b, c));
        assert_eq!(free.take(&slots).await.index(), Some(0));
    }

    #[tokio::test]
    async fn a_full_pool_makes_callers_wait_then_serves_them() {
        let (free, slots) = (FreeSlots::new(2), slots(2));
        let a = free.take(&slots).await;
        let b = free.take(&slots).await;
        let waiting = tokio::time::timeout(Duration::from_millis(50), free.take(&slots)).await;
        assert!(
            waiting.is_err(),
            "a third caller got a slot of a pool of two"
        );
        drop(b);
        let c = tokio::time::timeout(Duration::from_secs(5), free.take(&slots))
            .await
            .expect("served once a slot is free");
        assert_eq!(c.index(), Some(1));
        assert_ne!(a.index(), c.index());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_never_share_a_slot() {
        let free = std::sync::Arc::new(FreeSlots::new(8));
        let slots = std::sync::Arc::new(slots(8));
        let busy: std::sync::Arc<[std::sync::atomic::AtomicBool]> = (0..8)
            .map(|_| std::sync::atomic::AtomicBool::new(false))
            .collect();
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let (free, slots, busy) = (free.clone(), slots.clone(), busy.clone());
                tokio::spawn(async move {
                    for _ in 0..200 {
                        let guard = free.take(&slots).await;
                        let i = guard.index().expect("pooled");
                        assert!(!busy[i].swap(true, std::sync::atomic::Ordering::SeqCst));
                        tokio::task::yield_now().await;
                        busy[i].store(false, std::sync::atomic::Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
        // Every slot is back: eight takes succeed at once.
        let mut all = Vec::new();
        for _ in 0..8 {
            let next = tokio::time::timeout(Duration::from_secs(5), free.take(&slots)).await;
            all.push(next.expect("a free slot"));
        }
        let mut indices: Vec<_> = all.iter().filter_map(SlotGuard::index).collect();
        indices.sort_unstable();
        assert_eq!(indices, (0..8).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_cancelled_call_gives_its_slot_back() {
        let (free, slots) = (FreeSlots::new(1), slots(1));
        let held = free.take(&slots).await;
        // A waiter cancelled while queued, and a holder dropped mid-call (cancellation).
        assert!(
            tokio::time::timeout(Duration::from_millis(20), free.take(&slots))
                .await
                .is_err()
        );
        drop(held);
        let again = tokio::time::timeout(Duration::from_secs(5), free.take(&slots)).await;
        assert_eq!(again.expect("slot given back").index(), Some(0));
    }
}
