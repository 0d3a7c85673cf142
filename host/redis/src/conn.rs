//! The shared Redis connection of one grant: connected on first use, reconnected after a
//! loss, every call bounded by the grant's deadline.
//!
//! Timers: a call arms **one** tokio timer for its deadline and its response timeout
//! together (see [`Connection::attempt_until`]). On a single server the connection has
//! no response timeout of its own (redis-rs would arm a timer per request): every request
//! sent through [`Conn`] is counted on the polling thread, and the call's timer is moved to
//! `response_timeout` after the newest request it sent, or its deadline if that is
//! earlier. A request not answered in time is retried once like any transient failure,
//! as redis-rs' own response timeout was. A cluster connection keeps redis-rs' response
//! timeout (it retries across nodes by itself); there the call's timer is its deadline.
//!
//! The deadline is the grant's, clamped to the deadline of the wasm call the import runs
//! in ([`byoc_wasm::deadline`]), and promised to that call, so a Redis call that waits
//! costs the wasm call no timer of its own.

use super::RedisGrant;
use super::driven::Driven;
use super::grant::RedisTarget;
use byoc_wasm::bindings::byoc::cache::types::Error as WitError;
use byoc_wasm::deadline::bounded_by;
use redis::aio::{ConnectionManager, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, ConnectionAddr, FromRedisValue, IntoConnectionInfo, RedisError, Value};
use std::cell::Cell;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

thread_local! {
    /// Requests sent to a single server by futures polled on this thread: an attempt
    /// compares it before and after polling its operation to see a request start.
    static REQUESTS: Cell<u64> = const { Cell::new(0) };
}

/// Counts a request sent to a single server (see [`REQUESTS`]).
fn request_sent() {
    REQUESTS.with(|n| n.set(n.get().wrapping_add(1)));
}

fn requests() -> u64 {
    REQUESTS.with(Cell::get)
}

/// A connection: to one server (reconnecting by itself) or to a cluster.
///
/// Requests to one server have no response timeout of their own: send them only inside
/// [`Connection::attempt_until`] (every import does, through `run` and `attempt`), which
/// times them.
#[derive(Clone)]
pub(crate) enum Conn {
    Single(Single),
    Cluster(ClusterConnection),
}

/// The connection to one server: driven by its callers over plain TCP (see
/// [`Driven`]), or redis-rs' `ConnectionManager` (TLS, Unix sockets).
#[derive(Clone)]
pub(crate) enum Single {
    Driven(Driven),
    Managed(ConnectionManager),
}

impl redis::aio::ConnectionLike for Single {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> redis::RedisFuture<'a, Value> {
        match self {
            Single::Driven(c) => c.req_packed_command(cmd),
            Single::Managed(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<Value>> {
        match self {
            Single::Driven(c) => c.req_packed_commands(pipeline, offset, count),
            Single::Managed(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Single::Driven(c) => c.get_db(),
            Single::Managed(c) => c.get_db(),
        }
    }
}

impl Conn {
    /// Runs `cmd`, routed by its key on a cluster.
    pub(crate) async fn query<T: FromRedisValue>(&mut self, cmd: &Cmd) -> redis::RedisResult<T> {
        match self {
            Conn::Single(c) => {
                request_sent();
                cmd.query_async(c).await
            }
            Conn::Cluster(c) => cmd.query_async(c).await,
        }
    }

    /// Runs `cmd` on the master that owns `slot` (the only server of a single Redis).
    pub(crate) async fn query_on<T: FromRedisValue>(
        &mut self,
        slot: u16,
        cmd: &Cmd,
    ) -> redis::RedisResult<T> {
        match self {
            Conn::Single(c) => {
                request_sent();
                cmd.query_async(c).await
            }
            Conn::Cluster(c) => {
                let route = SingleNodeRoutingInfo::SpecificNode(Route::new(slot, SlotAddr::Master));
                let value = c
                    .route_command(cmd.clone(), RoutingInfo::SingleNode(route))
                    .await?;
                T::from_redis_value(value).map_err(Into::into)
            }
        }
    }

    /// Runs the transaction `tx` (an atomic pipeline: MULTI, its commands, EXEC, written
    /// whole), routed by its keys on a cluster (they must share a slot); the answers of
    /// its commands not ignored.
    pub(crate) async fn transaction<T: FromRedisValue>(
        &mut self,
        tx: &redis::Pipeline,
    ) -> redis::RedisResult<T> {
        match self {
            Conn::Single(c) => {
                request_sent();
                tx.query_async(c).await
            }
            Conn::Cluster(c) => tx.query_async(c).await,
        }
    }

    /// Runs `pipe` on the master that owns `slot` (its keys must all live on that master).
    pub(crate) async fn pipeline(
        &mut self,
        slot: u16,
        pipe: &redis::Pipeline,
    ) -> redis::RedisResult<Vec<Value>> {
        match self {
            Conn::Single(c) => {
                request_sent();
                pipe.query_async(c).await
            }
            Conn::Cluster(c) => {
                let route = SingleNodeRoutingInfo::SpecificNode(Route::new(slot, SlotAddr::Master));
                c.route_pipeline(pipe.clone(), 0, pipe.len(), route).await
            }
        }
    }

    /// The slot ranges of the cluster with the first slot of their master, or `None` for
    /// a single server.
    pub(crate) async fn topology(&mut self) -> redis::RedisResult<Option<Topology>> {
        let Conn::Cluster(_) = self else {
            return Ok(None);
        };
        let ranges = self.slot_ranges().await?;
        let mut first: std::collections::HashMap<(String, i64), u16> = Default::default();
        for (start, _, node) in &ranges {
            let f = first.entry(node.clone()).or_insert(*start);
            *f = (*f).min(*start);
        }
        let mut ranges: Vec<(u16, u16, u16)> = ranges
            .into_iter()
            .map(|(s, e, node)| (s, e, first.get(&node).copied().unwrap_or(s)))
            .collect();
        ranges.sort_unstable();
        Ok(Some(Topology { ranges }))
    }

    /// A cluster's slot ranges (first slot, last slot) with their master's host and port,
    /// from CLUSTER SLOTS.
    async fn slot_ranges(&mut self) -> redis::RedisResult<Vec<(u16, u16, (String, i64))>> {
        let slots: Value = self.query(redis::cmd("CLUSTER").arg("SLOTS")).await?;
        let mut ranges: Vec<(u16, u16, (String, i64))> = Vec::new();
        if let Value::Array(items) = slots {
            for range in items {
                let Value::Array(parts) = range else { continue };
                let (Some(Value::Int(start)), Some(Value::Int(end)), Some(Value::Array(node))) =
                    (parts.first(), parts.get(1), parts.get(2))
                else {
                    continue;
                };
                let host = match node.first() {
                    Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
                    Some(Value::SimpleString(s)) => s.clone(),
                    _ => continue,
                };
                let Some(Value::Int(port)) = node.get(1) else {
                    continue;
                };
                let (Ok(start), Ok(end)) = (u16::try_from(*start), u16::try_from(*end)) else {
                    continue;
                };
                ranges.push((start, end, (host, *port)));
            }
        }
        if ranges.is_empty() {
            return Err(RedisError::from((
                redis::ErrorKind::Io,
                "CLUSTER SLOTS named no master",
            )));
        }
        Ok(ranges)
    }

    /// The first slot of each master, sorted (`[0]` for a single server).
    pub(crate) async fn masters(&mut self) -> redis::RedisResult<Vec<u16>> {
        Ok(match self.topology().await? {
            None => vec![0],
            Some(t) => t.masters(),
        })
    }
}

/// Slot ranges of a cluster: (first slot, last slot, first slot of the range's master).
pub(crate) struct Topology {
    ranges: Vec<(u16, u16, u16)>,
}

impl Topology {
    /// The first slot of each master, sorted.
    pub(crate) fn masters(&self) -> Vec<u16> {
        let mut m: Vec<u16> = self.ranges.iter().map(|r| r.2).collect();
        m.sort_unstable();
        m.dedup();
        m
    }

    /// The master (by its first slot) that serves `key`.
    pub(crate) fn master_of(&self, key: &[u8]) -> u16 {
        let slot = key_slot(key);
        self.ranges
            .iter()
            .find(|(s, e, _)| (*s..=*e).contains(&slot))
            .map_or(slot, |r| r.2)
    }
}

/// The cluster hash slot of `key` (CRC16/XMODEM of the key or its hash tag, mod 16384).
pub(crate) fn key_slot(key: &[u8]) -> u16 {
    let tagged = key.iter().position(|&b| b == b'{').and_then(|open| {
        let rest = &key[open + 1..];
        let close = rest.iter().position(|&b| b == b'}')?;
        (close > 0).then(|| &rest[..close])
    });
    let mut crc: u16 = 0;
    for &byte in tagged.unwrap_or(key) {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16384
}

/// The connection state shared by every store of one provider.
pub(crate) struct Connection {
    pub(crate) grant: RedisGrant,
    /// Set once by the first call that connects (the connection reconnects by itself);
    /// later calls clone it without taking a lock, so concurrent calls from pooled
    /// instances reach the multiplexed connection concurrently and it pipelines them.
    conn: tokio::sync::OnceCell<Conn>,
    pub(crate) failures: AtomicU64,
    pub(crate) retries: AtomicU64,
    /// Idle connections a call may take for itself (see [`Connection::compare_and_set`]),
    /// with the server they reach.
    exclusive: std::sync::Mutex<Vec<(String, MultiplexedConnection)>>,
}

/// Most idle exclusive connections kept for later calls.
const MAX_IDLE_EXCLUSIVE: usize = 8;

/// Most WATCH rounds of one compare-and-set whose EXEC concurrent writes keep aborting
/// while the value still matches.
const MAX_CAS_ROUNDS: usize = 64;

/// Whether retrying after a reconnect may help.
fn transient(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_unrecoverable_error()
        || e.is_cluster_error()
        || matches!(
            e.kind(),
            redis::ErrorKind::Server(
                redis::ServerErrorKind::TryAgain
                    | redis::ServerErrorKind::ClusterDown
                    | redis::ServerErrorKind::MasterDown
                    | redis::ServerErrorKind::BusyLoading
                    | redis::ServerErrorKind::ReadOnly
                    // A pipeline routed by a topology read just before a failover.
                    | redis::ServerErrorKind::Moved
                    | redis::ServerErrorKind::Ask
            )
        )
        // redis-rs splits a multi-slot command (MGET, DEL) per slot; when one part fails
        // during a failover it reports the combined answer as a client-side mismatch.
        || (e.kind() == redis::ErrorKind::Client && e.to_string().contains("multi-slot"))
}

/// A Redis error as the contract's error.
pub(crate) fn wit_error(e: &RedisError) -> WitError {
    let code = e.code().unwrap_or("");
    let detail = e.detail().unwrap_or("");
    if transient(e) || code == "OOM" {
        WitError::Unavailable(format!("redis: {e}"))
    } else if code == "NOPERM" || code == "NOAUTH" || code == "WRONGPASS" {
        WitError::Denied(format!("redis: {e}"))
    } else if code == "WRONGTYPE"
        || detail.contains("not an integer")
        || detail.contains("overflow")
    {
        WitError::InvalidArgument(format!("redis: {e}"))
    } else {
        WitError::Internal(format!("redis: {e}"))
    }
}

impl Connection {
    pub(crate) fn new(grant: RedisGrant) -> Connection {
        Connection {
            grant,
            conn: tokio::sync::OnceCell::new(),
            failures: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            exclusive: std::sync::Mutex::default(),
        }
    }

    /// The connection, established now if there is none yet.
    async fn conn(&self) -> Result<Conn, WitError> {
        if let Some(conn) = self.conn.get() {
            return Ok(conn.clone());
        }
        self.conn.get_or_try_init(|| self.connect()).await.cloned()
    }

    /// Connects to the grant's target within twice its connect timeout.
    async fn connect(&self) -> Result<Conn, WitError> {
        let grant = &self.grant;
        let connect = async {
            match &grant.target {
                RedisTarget::Single(url) => {
                    let client = grant.client(url.as_str())?;
                    let info = client.get_connection_info();
                    if Driven::supports(info) {
                        return Driven::connect(info.clone(), grant.connect_timeout)
                            .await
                            .map(|c| Conn::Single(Single::Driven(c)));
                    }
                    // No response timeout here: `attempt_until` enforces it with the
                    // call's one timer instead of one more timer per request.
                    let config = redis::aio::ConnectionManagerConfig::new()
                        .set_connection_timeout(Some(grant.connect_timeout))
                        .set_response_timeout(None)
                        .set_number_of_retries(1)
                        .set_max_delay(Duration::from_millis(100));
                    client
                        .get_connection_manager_with_config(config)
                        .await
                        .map(|c| Conn::Single(Single::Managed(c)))
                }
                RedisTarget::Cluster(urls) => {
                    let mut builder =
                        redis::cluster::ClusterClientBuilder::new(urls.iter().map(String::as_str));
                    if let Some(pem) = &grant.tls_ca {
                        builder = builder.certs(grant.tls_certificates(pem));
                    }
                    let client = builder
                        .connection_timeout(grant.connect_timeout)
                        .response_timeout(grant.response_timeout)
                        .retries(2)
                        .min_retry_wait(10)
                        .max_retry_wait(200)
                        .build()?;
                    client.get_async_connection().await.map(Conn::Cluster)
                }
            }
        };
        let conn = match tokio::time::timeout(grant.connect_timeout * 2, connect).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => {
                return Err(WitError::Unavailable(format!(
                    "cannot connect to redis {:?}: {e}",
                    grant.target
                )));
            }
            Err(_) => {
                return Err(WitError::Unavailable(format!(
                    "cannot connect to redis {:?} within {:?}",
                    grant.target,
                    grant.connect_timeout * 2
                )));
            }
        };
        Ok(conn)
    }

    /// Stores with `set` (a SET of `key`) if the value of `key` is `expected`; whether it
    /// stored. WATCH, GET, then MULTI/SET/EXEC, on a connection no other call uses while
    /// this one holds it (a WATCH belongs to its connection: on the shared, multiplexed
    /// one another call's write could slip into the transaction or reset it). On a
    /// cluster that is a connection to the key's master. An EXEC aborted by a concurrent
    /// write looks again. Bounded by the grant's deadline; not retried after a connection
    /// failure (the connection is then dropped instead of kept).
    pub(crate) async fn compare_and_set(
        &self,
        key: &[u8],
        expected: &[u8],
        set: &Cmd,
    ) -> Result<bool, WitError> {
        let (started, until) = self.bound(self.grant.deadline);
        let call = async {
            let (server, mut conn) = self.take_exclusive(key).await?;
            let swapped = watched_set(&mut conn, key, expected, set).await;
            if swapped.is_ok() {
                self.give_back(server, conn);
            }
            swapped.map_err(|e| wit_error(&e))
        };
        let result = match tokio::time::timeout_at(until.into(), call).await {
            Ok(result) => result,
            Err(_) => Err(self.late(started, until)),
        };
        self.counted(result)
    }

    /// An idle exclusive connection to the server of `key`, or a new one.
    async fn take_exclusive(
        &self,
        key: &[u8],
    ) -> Result<(String, MultiplexedConnection), WitError> {
        let unavailable = |e: RedisError| WitError::Unavailable(format!("redis: {e}"));
        let mut info = match &self.grant.target {
            RedisTarget::Single(url) => url.as_str().into_connection_info(),
            RedisTarget::Cluster(urls) => urls
                .first()
                .map(String::as_str)
                .unwrap_or_default()
                .into_connection_info(),
        }
        .map_err(unavailable)?;
        if let RedisTarget::Cluster(_) = self.grant.target {
            let mut shared = self.conn().await?;
            let slot = key_slot(key);
            let ranges = shared.slot_ranges().await.map_err(unavailable)?;
            let (_, _, (host, port)) = ranges
                .into_iter()
                .find(|(s, e, _)| (*s..=*e).contains(&slot))
                .ok_or_else(|| WitError::Unavailable(format!("no master serves slot {slot}")))?;
            let port = u16::try_from(port)
                .map_err(|_| WitError::Unavailable(format!("master port {port} out of range")))?;
            // The master's address, over TLS if the grant's URL is.
            let addr = match info.addr().clone() {
                ConnectionAddr::TcpTls {
                    host: _,
                    port: _,
                    insecure,
                    tls_params,
                } => ConnectionAddr::TcpTls {
                    host,
                    port,
                    insecure,
                    tls_params,
                },
                _ => ConnectionAddr::Tcp(host, port),
            };
            info = info.set_addr(addr);
        }
        let server = info.addr().to_string();
        {
            let mut idle = self.exclusive.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(i) = idle.iter().rposition(|(s, _)| *s == server) {
                let (server, conn) = idle.swap_remove(i);
                return Ok((server, conn));
            }
        }
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.grant.connect_timeout))
            .set_response_timeout(Some(self.grant.response_timeout));
        let client = self.grant.client(info).map_err(unavailable)?;
        let conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(unavailable)?;
        Ok((server, conn))
    }

    /// Keeps an exclusive connection for a later call (up to [`MAX_IDLE_EXCLUSIVE`]).
    fn give_back(&self, server: String, conn: MultiplexedConnection) {
        let mut idle = self.exclusive.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE_EXCLUSIVE {
            idle.push((server, conn));
        }
    }

    /// Runs `op` on the connection within `deadline`; an idempotent `op` that failed for a
    /// connection reason is retried once. A failure for lack of Redis is counted.
    pub(crate) async fn run<T, F, Fut>(
        &self,
        idempotent: bool,
        deadline: Duration,
        op: F,
    ) -> Result<T, WitError>
    where
        F: Fn(Conn) -> Fut,
        Fut: Future<Output = Result<T, RunError>>,
    {
        let result = self.attempt(idempotent, deadline, op).await;
        self.count(&result);
        result
    }

    /// Counts `result` in [`failures`](Self::failures) if Redis was unavailable.
    pub(crate) fn count<T>(&self, result: &Result<T, WitError>) {
        if matches!(result, Err(WitError::Unavailable(_))) {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `result`, counted (see [`count`](Self::count)).
    pub(crate) fn counted<T>(&self, result: Result<T, WitError>) -> Result<T, WitError> {
        self.count(&result);
        result
    }

    /// [`run`](Self::run) without counting the failure.
    pub(crate) async fn attempt<T, F, Fut>(
        &self,
        idempotent: bool,
        deadline: Duration,
        op: F,
    ) -> Result<T, WitError>
    where
        F: Fn(Conn) -> Fut,
        Fut: Future<Output = Result<T, RunError>>,
    {
        let (started, until) = self.bound(deadline);
        let attempt = self.attempt_until(idempotent, started, until, op, |_| {
            Err(self.late(started, until))
        });
        bounded_by(until, attempt).await
    }

    /// When a call started now with `deadline` must end: the grant's `deadline` from now,
    /// or the deadline of the wasm call the import runs in if that is earlier. Returns
    /// (now, that instant).
    pub(crate) fn bound(&self, deadline: Duration) -> (Instant, Instant) {
        let now = Instant::now();
        let mut until = now + deadline;
        if let Some(call) = byoc_wasm::deadline::call_deadline(now) {
            until = until.min(call);
        }
        (now, until)
    }

    /// The error of a call started at `started` that was not answered by `until`.
    pub(crate) fn late(&self, started: Instant, until: Instant) -> WitError {
        WitError::Unavailable(format!(
            "redis {:?} did not answer within {:?}",
            self.grant.target,
            until.saturating_duration_since(started)
        ))
    }

    /// Runs `op` (retried once after a connection failure if `idempotent`) until `until`,
    /// with one timer. When the timer fires at or after `until`, `horizon(now)` says what
    /// happens: an error ends the call with it, an instant is the new `until` (it must be
    /// later than `now`; a batch leader moves on to its next caller's deadline this way).
    /// On a single server the timer also ends a request after `response_timeout` (see the
    /// module doc). `started` is the caller's reading of the clock when it began.
    pub(crate) async fn attempt_until<T, F, Fut, H>(
        &self,
        idempotent: bool,
        started: Instant,
        until: Instant,
        op: F,
        mut horizon: H,
    ) -> Result<T, WitError>
    where
        F: Fn(Conn) -> Fut,
        Fut: Future<Output = Result<T, RunError>>,
        H: FnMut(Instant) -> Result<Instant, WitError>,
    {
        let response = match self.grant.target {
            RedisTarget::Single(_) => Some(self.grant.response_timeout),
            RedisTarget::Cluster(_) => None,
        };
        let once = || async {
            let conn = self.conn().await.map_err(RunError::Wit)?;
            op(conn).await
        };
        let mut current = std::pin::pin!(Some(once()));
        let mut retried = !idempotent;
        let mut until = until;
        // When the request in flight must be answered (single server).
        let mut answer_by: Option<Instant> = None;
        let mut clock = Some(started);
        let mut timer = std::pin::pin!(None::<tokio::time::Sleep>);
        std::future::poll_fn(|cx| {
            'op: loop {
                let sent = requests();
                let Some(fut) = current.as_mut().as_pin_mut() else {
                    return Poll::Ready(Err(WitError::Internal(
                        "a redis call was polled after it ended".into(),
                    )));
                };
                match fut.poll(cx) {
                    Poll::Ready(Ok(v)) => {
                        current.set(None);
                        return Poll::Ready(Ok(v));
                    }
                    Poll::Ready(Err(RunError::Redis(e))) if !retried && transient(&e) => {
                        retried = true;
                        self.retries.fetch_add(1, Ordering::Relaxed);
                        current.set(Some(once()));
                        answer_by = None;
                        continue 'op;
                    }
                    Poll::Ready(Err(e)) => {
                        current.set(None);
                        return Poll::Ready(Err(e.into_wit()));
                    }
                    Poll::Pending => {}
                }
                if let Some(limit) = response
                    && requests() != sent
                {
                    let now = clock.take().unwrap_or_else(Instant::now);
                    answer_by = Some(now + limit);
                }
                // The caller's clock reading is only as fresh as the first poll.
                clock = None;
                loop {
                    let at = answer_by.map_or(until, |a| a.min(until));
                    if timer.is_none() {
                        timer.set(Some(tokio::time::sleep_until(at.into())));
                    }
                    let Some(mut sleep) = timer.as_mut().as_pin_mut() else {
                        return Poll::Ready(Err(WitError::Internal(
                            "a redis call lost its timer".into(),
                        )));
                    };
                    if sleep.deadline() != at.into() {
                        sleep.as_mut().reset(at.into());
                    }
                    if sleep.poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    let now = Instant::now();
                    if now >= until {
                        match horizon(now) {
                            Ok(next) => until = next,
                            Err(e) => {
                                current.set(None);
                                return Poll::Ready(Err(e));
                            }
                        }
                    }
                    if let (Some(by), Some(limit)) = (answer_by, response)
                        && now >= by
                    {
                        answer_by = None;
                        if retried {
                            current.set(None);
                            return Poll::Ready(Err(WitError::Unavailable(format!(
                                "redis {:?} did not answer a request within {limit:?}",
                                self.grant.target
                            ))));
                        }
                        retried = true;
                        self.retries.fetch_add(1, Ordering::Relaxed);
                        current.set(Some(once()));
                        continue 'op;
                    }
                }
            }
        })
        .await
    }
}

/// The WATCH rounds of [`Connection::compare_and_set`] on `conn`, which no other call uses.
async fn watched_set(
    conn: &mut MultiplexedConnection,
    key: &[u8],
    expected: &[u8],
    set: &Cmd,
) -> redis::RedisResult<bool> {
    for _ in 0..MAX_CAS_ROUNDS {
        redis::cmd("WATCH").arg(key).exec_async(conn).await?;
        let current: Option<Vec<u8>> = redis::cmd("GET").arg(key).query_async(conn).await?;
        if current.as_deref() != Some(expected) {
            redis::cmd("UNWATCH").exec_async(conn).await?;
            return Ok(false);
        }
        let mut tx = redis::pipe();
        tx.atomic().add_command(set.clone());
        // EXEC answers nil when a write to the key since WATCH aborted it.
        let done: Option<Vec<Value>> = tx.query_async(conn).await?;
        if done.is_some() {
            return Ok(true);
        }
    }
    // Transient: answered as `unavailable`.
    Err(RedisError::from((
        redis::ErrorKind::Io,
        "compare-and-set kept losing to concurrent writes",
    )))
}

/// What an operation on the connection can fail with.
pub(crate) enum RunError {
    /// Redis failed (maybe transient).
    Redis(RedisError),
    /// The host refuses (bad argument, answer of an unexpected shape).
    Wit(WitError),
}

impl From<RedisError> for RunError {
    fn from(e: RedisError) -> Self {
        RunError::Redis(e)
    }
}

impl From<WitError> for RunError {
    fn from(e: WitError) -> Self {
        RunError::Wit(e)
    }
}

impl RunError {
    fn into_wit(self) -> WitError {
        match self {
            RunError::Redis(e) => wit_error(&e),
            RunError::Wit(e) => e,
        }
    }
}
