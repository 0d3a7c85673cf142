//! The wall-clock deadline around a call, paid for only by calls that wait.
//!
//! `tokio::time::timeout` reads the clock and registers a timer on every call, which is
//! a measurable share of a ~1 µs in-memory hit. Most calls into an in-memory adapter
//! finish in their first poll: they never wait, so they cannot hang in a host import and
//! need no timer. [`within`] starts the timer at the first poll that returns `Pending`.
//! A guest that computes without waiting is stopped by epoch interruption instead.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

/// Runs `fut`; `None` when it is still pending `limit` after its first wait began.
///
/// Takes the future pinned where the caller built it: a call's future is large, and
/// moving it in here would copy it on every call.
pub(crate) async fn within<F: Future + ?Sized>(
    limit: Duration,
    mut fut: Pin<&mut F>,
) -> Option<F::Output> {
    let mut timer: Option<Pin<Box<tokio::time::Sleep>>> = None;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        let timer = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        timer.as_mut().poll(cx).map(|()| None)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::within;
    use std::time::Duration;

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
}
