//! The wall-clock deadline around a call, paid for only by calls that wait, and by a timer
//! only when what they wait for is not bounded already.
//!
//! [`within`] starts the deadline at the first poll that returns `Pending` (a call that
//! never waits cannot hang in a host import; a guest that computes is stopped by epoch
//! interruption). While it polls, the call's deadline is visible to host imports on the
//! same thread ([`call_deadline`]); an import that will wake its caller by then says so
//! with [`wakes_by`], and [`within`] arms a timer only for waits that made no such promise.
//! The first epoch tick a guest meets in a poll neither yields nor interrupts it
//! ([`first_tick_of_poll`]): it may have passed while the call waited, and says nothing of
//! the guest. The scope is a thread-local set for one poll; nested calls set their own.
//!
//! The full reasoning: `docs/internals.md`, "Call deadlines".

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use super::limits::WALL_CLOCK_GRACE;

/// The call being polled on this thread.
#[derive(Clone, Copy)]
struct Scope {
    /// How long the call may wait, from its first wait.
    limit: Duration,
    /// When its first wait began (`None` until a wait begins).
    started: Option<Instant>,
    /// The latest wake-up promised by what returned `Pending` in this poll.
    wakes_by: Option<Instant>,
    /// Whether the guest met an epoch tick in this poll ([`first_tick_of_poll`]).
    ticked: bool,
}

thread_local! {
    static SCOPE: Cell<Option<Scope>> = const { Cell::new(None) };
}

/// By when a host import polled on this thread must return to the call around it, if
/// there is one: the call's wall-clock deadline less the grace a guest has to finish
/// after an import ([`WALL_CLOCK_GRACE`], at most half the limit). An import that
/// returns exactly at the wall-clock deadline would leave the guest no time to answer:
/// its next wait (an epoch yield) would find the deadline passed and the call would be
/// abandoned.
///
/// `now` is the caller's reading of the clock; it starts the call's deadline if the call
/// has not waited yet (the caller is about to wait).
pub fn call_deadline(now: Instant) -> Option<Instant> {
    SCOPE.with(|cell| {
        let mut scope = cell.get()?;
        let started = *scope.started.get_or_insert(now);
        cell.set(Some(scope));
        let grace = WALL_CLOCK_GRACE.min(scope.limit / 2);
        Some(started + (scope.limit - grace))
    })
}

/// Promises the call polled on this thread that the future which is about to return
/// `Pending` will be woken no later than `at` (plus a timer's resolution).
///
/// Only a promise that is kept by construction may be made: a timer armed at `at`, or a
/// wait that someone else's timer ends by `at`.
pub(crate) fn wakes_by(at: Instant) {
    SCOPE.with(|cell| {
        if let Some(mut scope) = cell.get() {
            scope.wakes_by = Some(scope.wakes_by.map_or(at, |w| w.max(at)));
            cell.set(Some(scope));
        }
    });
}

/// Whether the epoch tick a guest polled on this thread meets is the first of this poll
/// (see the module doc); each call of this counts as the guest meeting a tick. Outside
/// a call (no scope): `false`.
pub(crate) fn first_tick_of_poll() -> bool {
    SCOPE.with(|cell| match cell.get() {
        Some(mut scope) if !scope.ticked => {
            scope.ticked = true;
            cell.set(Some(scope));
            true
        }
        _ => false,
    })
}

/// Runs `fut`; `None` when it is still pending `limit` after its first wait began.
///
/// Takes the future pinned where the caller built it: a call's future is large, and
/// moving it in here would copy it on every call.
pub async fn within<F: Future + ?Sized>(
    limit: Duration,
    mut fut: Pin<&mut F>,
) -> Option<F::Output> {
    let mut started: Option<Instant> = None;
    let mut timer: Option<Pin<Box<tokio::time::Sleep>>> = None;
    std::future::poll_fn(|cx| {
        let first_wait = started.is_none();
        // The poll's output stays in this frame (no return through a helper): it is large
        // for a wasm call, and this is the hit path of every call.
        let entered = Entered::enter(Scope {
            limit,
            started,
            wakes_by: None,
            ticked: false,
        });
        let polled = fut.as_mut().poll(cx);
        let scope = entered.leave();
        if let Poll::Ready(out) = polled {
            return Poll::Ready(Some(out));
        }
        // A first wait that an import started has read the clock already.
        let now = match (first_wait, scope.started) {
            (true, Some(at)) => at,
            _ => Instant::now(),
        };
        let began = *started.get_or_insert(now);
        let deadline = began + limit;
        if now >= deadline {
            return Poll::Ready(None);
        }
        let promised = scope.wakes_by.is_some_and(|at| at <= deadline);
        if timer.is_none() && promised {
            wakes_by(deadline);
            return Poll::Pending;
        }
        let timer =
            timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline.into())));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(None),
            Poll::Pending => {
                wakes_by(deadline);
                Poll::Pending
            }
        }
    })
    .await
}

/// A call's scope set on this thread for one poll; the scope around it (a caller's call)
/// is put back by [`leave`](Entered::leave), or on drop if the poll panics.
struct Entered {
    mine: Scope,
    outer: Option<Scope>,
}

impl Entered {
    #[inline]
    fn enter(mine: Scope) -> Entered {
        let outer = SCOPE.with(|cell| cell.replace(Some(mine)));
        Entered { mine, outer }
    }

    /// The scope as the poll left it.
    #[inline]
    fn leave(self) -> Scope {
        // `self` drops after this, putting the outer scope back.
        SCOPE.with(Cell::get).unwrap_or(self.mine)
    }
}

impl Drop for Entered {
    #[inline]
    fn drop(&mut self) {
        SCOPE.with(|cell| cell.set(self.outer));
    }
}

/// Runs `fut`, promising (see [`wakes_by`]) at each of its waits that it is woken by `at`.
/// The caller guarantees that: `fut` ends by `at` by its own construction.
pub async fn bounded_by<F: Future>(at: Instant, fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| {
        let polled = fut.as_mut().poll(cx);
        if polled.is_pending() {
            wakes_by(at);
        }
        polled
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::{bounded_by, call_deadline, first_tick_of_poll, within};
    use std::time::{Duration, Instant};

    #[tokio::test]
    async fn ready_at_once_needs_no_timer() {
        // No time driver is needed for a future that is ready at its first poll.
        assert_eq!(
            within(Duration::ZERO, std::pin::pin!(async { 7 })).await,
            Some(7)
        );
    }

    #[tokio::test]
    async fn a_future_that_waits_past_the_limit_is_abandoned() {
        let started = std::time::Instant::now();
        let slow = tokio::time::sleep(Duration::from_secs(30));
        assert_eq!(
            within(Duration::from_millis(50), std::pin::pin!(slow)).await,
            None
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        let quick = tokio::time::sleep(Duration::from_millis(10));
        assert_eq!(
            within(Duration::from_secs(1), std::pin::pin!(quick)).await,
            Some(())
        );
    }

    /// A wait that an import bounds by the call's deadline needs no timer: on a runtime
    /// without a time driver, arming one would panic. (The wait here is ended by a
    /// thread.)
    #[test]
    fn a_bounded_wait_arms_no_timer() {
        let timerless = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
        let limit = Duration::from_secs(5);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            let _ = tx.send(3);
        });
        let call = async {
            let until = call_deadline(Instant::now()).expect("inside a call");
            bounded_by(until, rx).await.expect("answer")
        };
        let out = timerless.block_on(within(limit, std::pin::pin!(call)));
        assert_eq!(out, Some(3));
    }

    /// The deadline an import sees is the call's: started at the import's first wait.
    #[tokio::test]
    async fn imports_see_the_call_deadline() {
        assert!(call_deadline(Instant::now()).is_none(), "outside a call");
        let limit = Duration::from_millis(300);
        let call = async {
            let before = Instant::now();
            let until = call_deadline(before).expect("inside a call");
            assert_eq!(until, before + limit - super::WALL_CLOCK_GRACE);
            // Later reads keep the start.
            assert_eq!(call_deadline(before + limit).expect("same call"), until);
            tokio::time::sleep(Duration::from_millis(5)).await;
            assert_eq!(call_deadline(Instant::now()).expect("same call"), until);
            // A nested call has its own scope, and the outer one comes back after it.
            let inner = within(
                Duration::from_secs(9),
                std::pin::pin!(async {
                    let now = Instant::now();
                    call_deadline(now).map(|d| d.duration_since(now))
                }),
            )
            .await;
            assert_eq!(
                inner,
                Some(Some(Duration::from_secs(9) - super::WALL_CLOCK_GRACE))
            );
            assert_eq!(call_deadline(Instant::now()).expect("same call"), until);
            7
        };
        assert_eq!(within(limit, std::pin::pin!(call)).await, Some(7));
        assert!(call_deadline(Instant::now()).is_none(), "scope left behind");
    }

    /// A call that keeps waiting in bounded imports (each promising a wake-up before the
    /// deadline) is abandoned at its first poll past the deadline.
    #[tokio::test]
    async fn a_call_looping_on_bounded_waits_is_stopped() {
        let started = Instant::now();
        let call = async {
            loop {
                let at = Instant::now() + Duration::from_millis(10);
                bounded_by(at, tokio::time::sleep_until(at.into())).await;
            }
        };
        let out: Option<()> = within(Duration::from_millis(100), std::pin::pin!(call)).await;
        assert_eq!(out, None);
        let took = started.elapsed();
        assert!(
            (Duration::from_millis(100)..Duration::from_millis(400)).contains(&took),
            "took {took:?}"
        );
    }

    /// A promise later than the deadline does not count: the timer is armed.
    #[tokio::test]
    async fn a_late_promise_arms_the_timer() {
        let started = Instant::now();
        let call = async {
            let at = Instant::now() + Duration::from_secs(30);
            bounded_by(at, tokio::time::sleep_until(at.into())).await;
        };
        assert_eq!(
            within(Duration::from_millis(50), std::pin::pin!(call)).await,
            None
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    /// Each poll of a call has one first epoch tick; a nested call has its own, and the
    /// outer call's poll keeps its count across it. Outside a call there is none.
    #[tokio::test]
    async fn only_the_first_tick_of_a_poll_is_first() {
        assert!(!first_tick_of_poll(), "outside a call");
        let call = async {
            let mut seen = vec![first_tick_of_poll(), first_tick_of_poll()];
            tokio::task::yield_now().await;
            seen.push(first_tick_of_poll());
            let inner = async { (first_tick_of_poll(), first_tick_of_poll()) };
            let inner = within(Duration::from_secs(1), std::pin::pin!(inner)).await;
            assert_eq!(inner, Some((true, false)), "a nested call's own poll");
            seen.push(first_tick_of_poll());
            seen
        };
        let seen = within(Duration::from_secs(1), std::pin::pin!(call)).await;
        assert_eq!(seen, Some(vec![true, false, true, false]));
        assert!(!first_tick_of_poll(), "scope left behind");
    }
}
