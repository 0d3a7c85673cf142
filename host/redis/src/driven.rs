//! A connection to one Redis server (plain TCP) whose socket is driven by its callers.
//!
//! redis-rs' multiplexed connection hands every request to a task of its own, which writes
//! it, reads the answer and hands it back: two task hand-overs per request, across threads
//! when the caller is not on that task's worker. Here the same connection (redis-rs'
//! encoder, pipelining and reply matching, without its task) is driven by whoever waits
//! for an answer: a request polls the connection's driver itself, so a lone caller writes
//! its command and reads its answer in its own task. A request made while others are in
//! flight yields once first, so that the commands of the tasks ready to run go out in
//! one write (as the connection's task would send them). Callers waiting together take turns:
//! the driver wakes the caller that polled it last, and that caller, when it leaves
//! (answered or dropped), wakes another waiting one to drive on, so no waiter is left
//! without a driver. A connection that closed is replaced by the next request, within the
//! connect timeout (as redis-rs' `ConnectionManager` would).

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{Cmd, ConnectionAddr, ConnectionInfo, ErrorKind, Pipeline, RedisError};
use redis::{RedisFuture, RedisResult, Value};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// redis-rs' connection driver (reads and writes the socket when polled).
type Driver = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A reconnecting connection driven by its callers (cheap to clone).
#[derive(Clone)]
pub(crate) struct Driven(Arc<Target>);

struct Target {
    info: ConnectionInfo,
    connect_timeout: Duration,
    /// The connection in use; replaced once it has closed.
    current: Mutex<Option<Arc<Live>>>,
    /// Held while connecting, so concurrent callers make one connection.
    connecting: tokio::sync::Mutex<()>,
}

/// One open connection.
struct Live {
    conn: MultiplexedConnection,
    drive: Mutex<Drive>,
    /// Set once the driver has ended (the connection is closed).
    closed: AtomicBool,
}

struct Drive {
    /// `None` once the connection has closed.
    driver: Option<Driver>,
    /// Requests waiting for their answer: their id and waker.
    waiting: Vec<(u64, Waker)>,
    /// The request whose waker the driver holds (it polled the driver last), if still
    /// waiting.
    driven_by: Option<u64>,
    next_id: u64,
}

impl Driven {
    /// Whether `info` is a server this connection can reach (plain TCP).
    pub(crate) fn supports(info: &ConnectionInfo) -> bool {
        matches!(info.addr(), ConnectionAddr::Tcp(..))
    }

    /// Connects to `info` (plain TCP, see [`supports`](Self::supports)) within
    /// `connect_timeout`.
    pub(crate) async fn connect(
        info: ConnectionInfo,
        connect_timeout: Duration,
    ) -> RedisResult<Driven> {
        let target = Target {
            info,
            connect_timeout,
            current: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
        };
        let live = target.open().await?;
        *target.slot() = Some(live);
        Ok(Driven(Arc::new(target)))
    }
}

impl Target {
    fn slot(&self) -> MutexGuard<'_, Option<Arc<Live>>> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The open connection, if it has not closed.
    fn open_now(&self) -> Option<Arc<Live>> {
        self.slot()
            .as_ref()
            .filter(|l| !l.closed.load(Ordering::Acquire))
            .cloned()
    }

    /// The open connection, connecting again if it has closed.
    async fn live(&self) -> RedisResult<Arc<Live>> {
        if let Some(live) = self.open_now() {
            return Ok(live);
        }
        let _connecting = self.connecting.lock().await;
        if let Some(live) = self.open_now() {
            return Ok(live);
        }
        let live = self.open().await?;
        *self.slot() = Some(Arc::clone(&live));
        Ok(live)
    }

    /// A new connection (no response timeout: the caller times its requests).
    async fn open(&self) -> RedisResult<Arc<Live>> {
        let ConnectionAddr::Tcp(host, port) = self.info.addr() else {
            return Err(RedisError::from((
                ErrorKind::InvalidClientConfig,
                "a driven connection needs a plain TCP address",
            )));
        };
        let open = async {
            let stream = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
            stream.set_nodelay(true)?;
            let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
            let (conn, driver) =
                MultiplexedConnection::new_with_config(self.info.redis_settings(), stream, config)
                    .await?;
            Ok::<_, RedisError>(Arc::new(Live {
                conn,
                drive: Mutex::new(Drive {
                    driver: Some(Box::pin(driver)),
                    waiting: Vec::new(),
                    driven_by: None,
                    next_id: 0,
                }),
                closed: AtomicBool::new(false),
            }))
        };
        match tokio::time::timeout(self.connect_timeout, open).await {
            Ok(live) => live,
            Err(_) => Err(RedisError::from((
                ErrorKind::Io,
                "connecting to redis timed out",
            ))),
        }
    }
}

impl Live {
    fn drive(&self) -> MutexGuard<'_, Drive> {
        self.drive.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A request on `live`, driving the connection while it waits (see the module doc).
struct Request<'l, F> {
    live: &'l Live,
    inner: Pin<&'l mut F>,
    /// Its id among the waiting requests, once it has polled the driver.
    id: Option<u64>,
    /// The waker its answer channel holds (see [`Quiet`]), once it has waited.
    quiet: Option<(Arc<Quiet>, Waker)>,
}

/// The waker a request gives its answer channel: its task's, muted while the request
/// itself polls the driver. The request looks at its answer right after that poll, so a
/// wake-up from delivering it would only poll the task once more for nothing. Only the
/// driver sends answers, and only under the driver's lock, so muting is exact.
struct Quiet {
    task: Mutex<Waker>,
    muted: AtomicBool,
}

impl std::task::Wake for Quiet {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.muted.load(Ordering::Acquire) {
            self.task
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .wake_by_ref();
        }
    }
}

impl<F: Future> Future for Request<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let (quiet, waker) = this.quiet.get_or_insert_with(|| {
            let quiet = Arc::new(Quiet {
                task: Mutex::new(cx.waker().clone()),
                muted: AtomicBool::new(false),
            });
            let waker = Waker::from(Arc::clone(&quiet));
            (quiet, waker)
        });
        quiet
            .task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone_from(cx.waker());
        let quiet = Arc::clone(quiet);
        let mut inner_cx = Context::from_waker(waker);
        if let Poll::Ready(v) = this.inner.as_mut().poll(&mut inner_cx) {
            this.leave();
            return Poll::Ready(v);
        }
        {
            let mut d = this.live.drive();
            let d = &mut *d;
            if this.id.is_none() && !d.waiting.is_empty() {
                // Requests are in flight: this one's command waits for the driver's next
                // write. It yields once (so the requests made by the tasks ready to run
                // meanwhile go in that write too), then drives.
                d.next_id = d.next_id.wrapping_add(1);
                this.id = Some(d.next_id);
                d.waiting.push((d.next_id, cx.waker().clone()));
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            if let Some(driver) = d.driver.as_mut() {
                quiet.muted.store(true, Ordering::Release);
                let ended = driver.as_mut().poll(cx).is_ready();
                quiet.muted.store(false, Ordering::Release);
                if ended {
                    // The connection closed: its requests are answered with an error
                    // (their answer channels dropped), and the next request connects again.
                    d.driver = None;
                    this.live.closed.store(true, Ordering::Release);
                }
            }
            let id = *this.id.get_or_insert_with(|| {
                d.next_id = d.next_id.wrapping_add(1);
                d.next_id
            });
            match d.waiting.iter_mut().find(|(i, _)| *i == id) {
                Some((_, w)) => w.clone_from(cx.waker()),
                None => d.waiting.push((id, cx.waker().clone())),
            }
            d.driven_by = Some(id);
        }
        if let Poll::Ready(v) = this.inner.as_mut().poll(&mut inner_cx) {
            this.leave();
            return Poll::Ready(v);
        }
        Poll::Pending
    }
}

impl<F> Request<'_, F> {
    /// No longer waiting: if the driver holds this request's waker (or nobody's), another
    /// waiting request is woken to drive it.
    fn leave(&mut self) {
        let Some(id) = self.id.take() else { return };
        let mut d = self.live.drive();
        if let Some(at) = d.waiting.iter().position(|(i, _)| *i == id) {
            d.waiting.swap_remove(at);
        }
        if d.driven_by.is_none_or(|by| by == id) {
            d.driven_by = None;
            if let Some((_, next)) = d.waiting.first() {
                next.wake_by_ref();
            }
        }
    }
}

impl<F> Drop for Request<'_, F> {
    fn drop(&mut self) {
        self.leave();
    }
}

impl Driven {
    /// Runs `send` on the open connection, driving it until `send` is answered.
    async fn with<T, S, Fut>(&self, send: S) -> RedisResult<T>
    where
        S: FnOnce(MultiplexedConnection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let live = self.0.live().await?;
        let inner = std::pin::pin!(send(live.conn.clone()));
        Request {
            live: &live,
            inner,
            id: None,
            quiet: None,
        }
        .await
    }
}

impl ConnectionLike for Driven {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(self.with(move |mut conn| async move { conn.send_packed_command(cmd).await }))
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(self.with(move |mut conn| async move {
            conn.send_packed_commands(pipeline, offset, count).await
        }))
    }

    fn get_db(&self) -> i64 {
        self.0.info.redis_settings().db()
    }
}

/// Against a private `redis-server` (skipped when none is installed).
#[cfg(test)]
mod tests {
    use super::super::ops::server_tests::server;
    use super::*;
    use redis::IntoConnectionInfo;
    use std::time::Instant;

    async fn driven(port: u16) -> Driven {
        let info = format!("redis://127.0.0.1:{port}")
            .into_connection_info()
            .expect("url");
        assert!(Driven::supports(&info));
        Driven::connect(info, Duration::from_secs(2))
            .await
            .expect("connect")
    }

    /// Many tasks share the connection, a third of their requests dropped while they
    /// wait: every request that is not dropped gets its own answer (a dropped one hands
    /// the driver on, its late answer is skipped), and nothing hangs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_and_dropped_requests_get_their_own_answers() {
        let Some(server) = server() else { return };
        let c = driven(server.1).await;
        let mut setup = c.clone();
        for i in 0..64 {
            let () = redis::cmd("SET")
                .arg(format!("k{i}"))
                .arg(i)
                .query_async(&mut setup)
                .await
                .expect("set");
        }
        let started = Instant::now();
        let tasks: Vec<_> = (0..64)
            .map(|t| {
                let mut c = c.clone();
                tokio::spawn(async move {
                    for round in 0..50u64 {
                        let key = format!("k{}", (t + round as usize) % 64);
                        let mut cmd = redis::cmd("GET");
                        cmd.arg(&key);
                        let get = cmd.query_async::<Option<u64>>(&mut c);
                        if (t as u64 + round).is_multiple_of(3) {
                            // Dropped after a yield, mostly while it waits for its answer.
                            tokio::select! {
                                biased;
                                _ = get => {}
                                () = tokio::task::yield_now() => {}
                            }
                        } else {
                            let want = ((t + round as usize) % 64) as u64;
                            assert_eq!(get.await.expect("get"), Some(want), "{key}");
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
        assert!(started.elapsed() < Duration::from_secs(20));
        let mut c = c;
        let pong: String = redis::cmd("PING").query_async(&mut c).await.expect("ping");
        assert_eq!(pong, "PONG");
    }

    /// A connection the server closes is replaced by the next request.
    #[tokio::test]
    async fn a_closed_connection_is_replaced() {
        let Some(server) = server() else { return };
        let mut c = driven(server.1).await;
        let () = redis::cmd("CLIENT")
            .arg("SETNAME")
            .arg("driven-test")
            .query_async(&mut c)
            .await
            .expect("setname");
        let mut other = driven(server.1).await;
        let killed: u64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("SKIPME")
            .arg("yes")
            .arg("TYPE")
            .arg("normal")
            .query_async(&mut other)
            .await
            .expect("kill");
        assert!(killed >= 1);
        // The first request may meet the closed socket; the next one reconnects.
        let first = redis::cmd("PING").query_async::<String>(&mut c).await;
        if first.is_err() {
            let again: String = redis::cmd("PING").query_async(&mut c).await.expect("ping");
            assert_eq!(again, "PONG");
        }
        let name: Option<String> = redis::cmd("CLIENT")
            .arg("GETNAME")
            .query_async(&mut c)
            .await
            .expect("getname");
        assert_eq!(name, None, "a new connection");
    }
}
