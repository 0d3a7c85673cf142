//! Deadlines of the `redis` import against a server that hangs (a proxy in front of a
//! private `redis-server` that stops passing bytes on, its connections left open): lone,
//! leading and queued callers all fail with `unavailable` within their deadline plus a
//! small slack, the response timeout is enforced without redis-rs' own timer, the wasm
//! call's deadline bounds the import, and callers that give up leave the batcher idle.

use super::bindings::byoc::cache::redis::Host;
use super::ops::server_tests::{Server, answers_again, server, slot_of};
use super::{RedisGrant, RedisLink, RedisTarget};
use byoc_wasm::bindings::byoc::cache::types::Error as WitError;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// How late past its deadline a call may answer here: the timer's resolution and a few
/// task wake-ups, with room for a loaded 2-core machine running debug builds.
const SLACK: Duration = Duration::from_millis(250);

/// A TCP proxy to a server that holds every byte while frozen.
struct Freezer {
    port: u16,
    frozen: Arc<AtomicBool>,
}

impl Freezer {
    async fn start(server: &Server) -> Freezer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        let upstream = server.1;
        let frozen = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&frozen);
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(outbound) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                else {
                    continue;
                };
                let (from_client, to_client) = inbound.into_split();
                let (from_server, to_server) = outbound.into_split();
                tokio::spawn(pass(from_client, to_server, Arc::clone(&flag)));
                tokio::spawn(pass(from_server, to_client, Arc::clone(&flag)));
            }
        });
        Freezer { port, frozen }
    }

    fn freeze(&self, frozen: bool) {
        self.frozen.store(frozen, Ordering::SeqCst);
    }

    /// Stores `k` = `v` through `link`, then hangs the server.
    async fn seed_and_freeze(&self, link: &RedisLink) {
        slot_of(link)
            .set("k".into(), b"v".to_vec(), None)
            .await
            .expect("set");
        self.freeze(true);
    }

    fn link(&self, ns: &str, tune: impl FnOnce(RedisGrant) -> RedisGrant) -> RedisLink {
        let url = format!("redis://127.0.0.1:{}", self.port);
        RedisLink::new(tune(
            RedisGrant::new(RedisTarget::Single(url), ns).expect("grant"),
        ))
    }
}

async fn pass(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, frozen: Arc<AtomicBool>) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while frozen.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

fn idle(link: &RedisLink) -> bool {
    link.0.batcher.as_ref().is_none_or(|b| b.idle())
}

#[track_caller]
fn assert_late<T: std::fmt::Debug>(r: &Result<T, WitError>, took: Duration, deadline: Duration) {
    assert!(matches!(r, Err(WitError::Unavailable(_))), "{r:?}");
    assert!(
        took >= deadline.saturating_sub(Duration::from_millis(2)),
        "answered after {took:?}, before its deadline {deadline:?}"
    );
    assert!(
        took < deadline + SLACK,
        "answered after {took:?}, deadline {deadline:?}"
    );
}

/// A hung server: a lone caller, then 64 callers arriving over ~100 ms (four lead
/// batches, the rest queue without timers of their own and are answered by the leaders'
/// timers) all fail with `unavailable` at their deadline (the response timeout is far
/// off), nothing is left in the batcher, and the connection works once the server
/// answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_server_fails_lone_leading_and_queued_callers_in_time() {
    let Some(server) = server() else { return };
    let proxy = Freezer::start(&server).await;
    let deadline = Duration::from_millis(300);
    let link = proxy.link("hung:", |g| {
        g.deadline(deadline)
            .response_timeout(Duration::from_secs(30))
    });
    proxy.seed_and_freeze(&link).await;

    let started = Instant::now();
    let lone = slot_of(&link).get("k".into()).await;
    assert_late(&lone, started.elapsed(), deadline);
    assert!(idle(&link));
    let started = Instant::now();
    let set = slot_of(&link).set("k".into(), b"w".to_vec(), None).await;
    assert_late(&set, started.elapsed(), deadline);

    let tasks: Vec<_> = (0..64u64)
        .map(|i| {
            let mut s = slot_of(&link);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_micros(1500 * i)).await;
                let started = Instant::now();
                let r = if i % 4 == 3 {
                    s.exists("k".into()).await.map(|_| ())
                } else {
                    s.get(format!("k{}", i % 7)).await.map(|_| ())
                };
                (r, started.elapsed())
            })
        })
        .collect();
    for t in tasks {
        let (r, took) = t.await.expect("task");
        assert_late(&r, took, deadline);
    }
    assert!(idle(&link), "the batcher kept leaders or queued reads");
    proxy.freeze(false);
    assert!(answers_again(&link, "k").await.is_some());
}

/// The response timeout is enforced by the call's own timer (the connection has none):
/// with a far deadline, a hung server fails a read and a write after two unanswered
/// tries of `response_timeout`, and the retry is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_response_timeout_is_kept_without_a_timer_per_request() {
    let Some(server) = server() else { return };
    let proxy = Freezer::start(&server).await;
    let response = Duration::from_millis(100);
    let link = proxy.link("rt:", |g| {
        g.deadline(Duration::from_secs(20))
            .response_timeout(response)
    });
    proxy.seed_and_freeze(&link).await;
    let retries = link.0.retries.load(Ordering::Relaxed);
    let started = Instant::now();
    let get = slot_of(&link).get("k".into()).await;
    assert_late(&get, started.elapsed(), 2 * response);
    let started = Instant::now();
    let set = slot_of(&link).set("k".into(), b"w".to_vec(), None).await;
    assert_late(&set, started.elapsed(), 2 * response);
    assert_eq!(link.0.retries.load(Ordering::Relaxed), retries + 2);
    // 32 concurrent reads: batches are timed the same way.
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let mut s = slot_of(&link);
            tokio::spawn(async move {
                let started = Instant::now();
                let r = s.get(format!("k{i}")).await;
                (r, started.elapsed())
            })
        })
        .collect();
    for t in tasks {
        let (r, took) = t.await.expect("task");
        assert!(matches!(r, Err(WitError::Unavailable(_))), "{r:?}");
        // A queued read may wait behind one batch's two tries before its own.
        assert!(took < 4 * response + SLACK, "took {took:?}");
    }
    assert!(idle(&link));
}

/// Inside a wasm call the import's deadline is the call's when that is earlier than the
/// grant's: lone, leading and queued callers fail with `unavailable` (the guest sees the
/// error; the call is not abandoned) at the call's deadline, less the grace the guest
/// has to answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_call_deadline_bounds_the_import() {
    let Some(server) = server() else { return };
    let proxy = Freezer::start(&server).await;
    let link = proxy.link("call:", |g| {
        g.deadline(Duration::from_secs(20))
            .response_timeout(Duration::from_secs(20))
    });
    proxy.seed_and_freeze(&link).await;
    // The call's wall-clock limit; the import must return the grace before it.
    let limit = Duration::from_millis(400);
    let import = limit - byoc_wasm::WALL_CLOCK_GRACE;
    let tasks: Vec<_> = (0..32u64)
        .map(|i| {
            let mut s = slot_of(&link);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(2 * i)).await;
                let started = Instant::now();
                let call = async { s.get("k".into()).await };
                let r = byoc_wasm::deadline::within(limit, std::pin::pin!(call)).await;
                (r, started.elapsed())
            })
        })
        .collect();
    for t in tasks {
        let (r, took) = t.await.expect("task");
        let r = r.expect("the import answered before the call was abandoned");
        assert_late(&r, took, import);
    }
    assert!(idle(&link));
}

/// Queued callers that give up (their futures dropped) while the server hangs leave the
/// batches consistent: the others get their own values once it answers, and the batcher
/// ends idle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_queued_callers_leave_the_batch_consistent() {
    let Some(server) = server() else { return };
    let proxy = Freezer::start(&server).await;
    let link = proxy.link("cq:", |g| g.deadline(Duration::from_secs(10)));
    for i in 0..16u8 {
        slot_of(&link)
            .set(format!("k{i}"), vec![i], None)
            .await
            .expect("set");
    }
    proxy.freeze(true);
    let call = |i: u8| {
        let mut s = slot_of(&link);
        async move { s.get(format!("k{i}")).await }
    };
    // Four batches in flight (the first caller alone, three leaders).
    let mut leaders = Vec::new();
    for i in 0..4u8 {
        leaders.push(tokio::spawn(call(i)));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Queued callers: every other one gives up after 40 ms.
    let mut stay = Vec::new();
    let mut quit = Vec::new();
    for i in 4..16u8 {
        if i % 2 == 0 {
            quit.push(tokio::spawn(tokio::time::timeout(
                Duration::from_millis(40),
                call(i),
            )));
        } else {
            stay.push((i, tokio::spawn(call(i))));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    for q in quit {
        assert!(
            q.await.expect("task").is_err(),
            "a queued call was answered"
        );
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    proxy.freeze(false);
    for (i, l) in leaders.into_iter().enumerate() {
        assert_eq!(l.await.expect("task").expect("leader"), Some(vec![i as u8]));
    }
    for (i, s) in stay {
        assert_eq!(s.await.expect("task").expect("queued"), Some(vec![i]));
    }
    assert!(idle(&link));
}
