//! Auto-pipelining of concurrent single-key reads (`get`, `exists`, `pttl`) on one server.
//!
//! Every read joins a queue. A caller that finds room for another batch (up to
//! [`MAX_IN_FLIGHT`] are in flight) leads one: it yields to the runtime once, then sends
//! everything queued (at most [`max_batch`](super::RedisGrant::max_batch)) as one command,
//! an MGET or one pipeline, and gives each caller its answer by position. A caller alone
//! sends its read at once as its own command. Writes, multi-key calls and clusters are not
//! batched. Keys are namespaced before they are queued; a failed batch fails each caller
//! with the same typed error (retried once, as every read is idempotent); a leader dropped
//! mid-batch hands its waiters their keys back. The leader's one timer answers every caller
//! whose deadline has passed, so a queued caller arms no timer of its own.
//!
//! Why each rule, linearizability and the deadline argument: `docs/internals.md`, "Redis
//! auto-pipelining".

use super::conn::{Connection, RunError};
use byoc_core::batching::{Batching, Lanes, Successor, Waiter as Queued, distinct};
use byoc_wasm::bindings::byoc::cache::types::Error as WitError;
use std::sync::{Arc, MutexGuard};
use std::time::Instant;
use tokio::sync::oneshot;

/// Batches in flight at once on the connection. While some are on the wire (and Redis
/// works on them), the next one collects reads and is sent when the runtime has nothing
/// else to run, so the host's work overlaps the round trip. Four, measured: with two, 16
/// concurrent readers waited behind two round trips; with eight, 256 readers sent smaller
/// batches; four kept both near their best (figures in BENCHMARKS.md).
const MAX_IN_FLIGHT: usize = 4;

/// A single-key read that can be batched.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) enum Read {
    /// GET: the value.
    Get,
    /// EXISTS: whether the key exists.
    Exists,
    /// PTTL: the remaining lifetime in ms (-2 missing, -1 persistent).
    Pttl,
}

/// The answer to one [`Read`].
#[derive(Clone, Debug)]
pub(crate) enum Answer {
    /// Of a GET.
    Value(Option<Vec<u8>>),
    /// Of an EXISTS.
    Exists(bool),
    /// Of a PTTL.
    Pttl(i64),
}

/// A read as its caller asks it.
struct Ask {
    read: Read,
    /// The namespaced key.
    key: Vec<u8>,
    /// When its caller began and when it must be answered.
    started: Instant,
    deadline: Instant,
}

/// A queued read and where its answer goes.
type Pending = Queued<Ask, Msg>;

/// A caller of a batch in flight, until it is answered.
struct Waiter {
    tx: Option<oneshot::Sender<Msg>>,
    started: Instant,
    deadline: Instant,
}

/// What a queued caller receives.
enum Msg {
    /// Its answer.
    Done(Result<Answer, WitError>),
    /// It leads the next batch (its key given back).
    Lead(Leadership, Vec<u8>),
    /// Its batch was abandoned by its leader (cancelled, or past its own deadline): queue
    /// again (its key given back).
    Retry(Vec<u8>),
}

/// What a caller does with its read.
enum Role {
    /// Lead a batch while no other is in flight: nobody can be queued, so the read is
    /// sent on its own.
    Alone(Leadership, Vec<u8>),
    /// Lead a batch while others are in flight.
    Lead(Leadership, Vec<u8>),
    /// Wait in the queue for a leader's batch; `true` when a leader in flight answers it
    /// by its deadline (it needs no timer).
    Queued(oneshot::Receiver<Msg>, bool),
}

/// The batching state of one grant's connection.
pub(crate) struct Batcher {
    shared: Arc<Shared>,
}

/// [`Batching`] with `in_flight` counting batches in flight (leaders holding a
/// [`Leadership`]); `leading` is not used.
struct Shared {
    lanes: Batching<Ask, Msg, Extra>,
}

/// The state behind the batcher's lock.
type State = Lanes<Ask, Msg, Extra>;

#[derive(Default)]
struct Extra {
    /// The latest deadline of the callers that took part since the batcher was last idle.
    latest: Option<Instant>,
    /// Tests: how many times a read joined (leading or queued), to order test steps.
    #[cfg(test)]
    arrivals: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.lanes.lock()
    }

    /// A batch is over: the newest queued caller leads the next one, or, with nobody
    /// queued, the slot is free again.
    fn hand_over(self: &Arc<Self>) {
        let mut state = self.lock();
        let handed = state.hand_over(
            Successor::Newest,
            |ask| {
                let token = Leadership {
                    shared: Arc::clone(self),
                    armed: true,
                };
                Msg::Lead(token, ask.key)
            },
            // That caller gave up: the next one, without running this token's drop.
            |msg| {
                if let Msg::Lead(mut token, _) = msg {
                    token.armed = false;
                }
            },
        );
        if !handed {
            state.in_flight = state.in_flight.saturating_sub(1);
            if state.in_flight == 0 {
                state.extra.latest = None;
            }
        }
    }
}

/// The right (and duty) to send one batch; handed over when dropped, however the leader's
/// call ends.
struct Leadership {
    shared: Arc<Shared>,
    armed: bool,
}

impl Drop for Leadership {
    fn drop(&mut self) {
        if self.armed {
            self.shared.hand_over();
        }
    }
}

/// A batch on the wire: its reads, and their callers (the leader first); if dropped
/// before it is answered (the leader's call was cancelled, or its deadline passed) every
/// caller not answered yet gets its key back to queue again.
struct InFlight {
    reads: Vec<(Read, Vec<u8>)>,
    waiters: Vec<Waiter>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        for ((_, key), w) in self.reads.drain(..).zip(self.waiters.drain(..)) {
            if let Some(tx) = w.tx {
                let _ = tx.send(Msg::Retry(key));
            }
        }
    }
}

impl Batcher {
    /// A batcher sending at most `max_batch` reads per batch.
    pub(crate) fn new(max_batch: usize) -> Batcher {
        Batcher {
            shared: Arc::new(Shared {
                lanes: Batching::new(max_batch),
            }),
        }
    }

    /// `read` of the namespaced `key` on `c`, batched with concurrent reads; answers within
    /// the grant's deadline (clamped to the wasm call's, see the module doc).
    pub(crate) async fn read(
        &self,
        c: &Connection,
        read: Read,
        key: Vec<u8>,
    ) -> Result<Answer, WitError> {
        let (started, deadline) = c.bound(c.grant.deadline);
        byoc_wasm::deadline::bounded_by(deadline, self.read_by(c, read, key, started, deadline))
            .await
    }

    async fn read_by(
        &self,
        c: &Connection,
        read: Read,
        key: Vec<u8>,
        started: Instant,
        deadline: Instant,
    ) -> Result<Answer, WitError> {
        let mut key = key;
        let mut now = started;
        let mut sent_round = false;
        loop {
            if now >= deadline {
                return Err(c.late(started, deadline));
            }
            let role = {
                let mut state = self.shared.lock();
                #[cfg(test)]
                {
                    state.extra.arrivals += 1;
                }
                let latest = &mut state.extra.latest;
                let covered = !sent_round && latest.is_none_or(|l| deadline >= l);
                *latest = Some(latest.map_or(deadline, |l| l.max(deadline)));
                if state.in_flight < MAX_IN_FLIGHT {
                    let alone = state.in_flight == 0;
                    state.in_flight += 1;
                    let token = Leadership {
                        shared: Arc::clone(&self.shared),
                        armed: true,
                    };
                    if alone {
                        Role::Alone(token, key)
                    } else {
                        Role::Lead(token, key)
                    }
                } else {
                    let rx = state.enqueue(Ask {
                        read,
                        key,
                        started,
                        deadline,
                    });
                    Role::Queued(rx, covered)
                }
            };
            let msg = match role {
                // No batch in flight, so nobody is queued: the read is sent as it is,
                // with no channel, and leadership passes on once it is answered.
                Role::Alone(token, key) => {
                    let answer = single(c, read, &key, started, deadline).await;
                    drop(token);
                    return answer;
                }
                Role::Lead(token, key) => {
                    let (mine, rx) = pending(read, key, started, deadline);
                    self.lead(c, token, mine).await;
                    rx.await
                }
                Role::Queued(rx, true) => rx.await,
                Role::Queued(rx, false) => {
                    match tokio::time::timeout_at(deadline.into(), rx).await {
                        Err(_) => return Err(c.late(started, deadline)),
                        Ok(msg) => msg,
                    }
                }
            };
            match msg {
                Ok(Msg::Done(answer)) => return answer,
                Ok(Msg::Retry(back)) => {
                    key = back;
                    sent_round = true;
                    now = Instant::now();
                }
                Ok(Msg::Lead(token, back)) => {
                    let (mine, rx) = pending(read, back, started, deadline);
                    self.lead(c, token, mine).await;
                    match rx.await {
                        Ok(Msg::Done(answer)) => return answer,
                        Ok(Msg::Retry(back)) => {
                            key = back;
                            sent_round = true;
                            now = Instant::now();
                        }
                        _ => {
                            return Err(WitError::Internal(
                                "a redis batch lost its leader's answer".into(),
                            ));
                        }
                    }
                }
                Err(_) => {
                    return Err(WitError::Internal(
                        "a redis batch dropped a queued read".into(),
                    ));
                }
            }
        }
    }

    /// Sends `mine` and everything queued (up to the batch limit) as one command, delivers
    /// every answer, then hands leadership on. The leader (another batch is in flight, or
    /// it was handed leadership) first yields once, so that the tasks ready to run
    /// (callers just answered, new callers) queue their reads into this batch. (A caller
    /// alone does not come here: see [`Role::Alone`].) Callers whose deadline passes are
    /// answered `unavailable` on the way (see the module doc).
    async fn lead(&self, c: &Connection, token: Leadership, mine: Pending) {
        tokio::task::yield_now().await;
        let now = Instant::now();
        if now >= mine.ask.deadline {
            // Handed leadership too late to send anything: the next caller leads.
            let late = c.late(mine.ask.started, mine.ask.deadline);
            let _ = mine.reply.send(Msg::Done(Err(late)));
            drop(token);
            return;
        }
        let mut flight = InFlight {
            reads: Vec::with_capacity(1),
            waiters: Vec::with_capacity(1),
        };
        let mut admit = |p: Pending| {
            flight.reads.push((p.ask.read, p.ask.key));
            flight.waiters.push(Waiter {
                tx: Some(p.reply),
                started: p.ask.started,
                deadline: p.ask.deadline,
            });
        };
        admit(mine);
        let first_queued = {
            let mut state = self.shared.lock();
            let n = self.shared.lanes.max_batch() - 1;
            for p in state.take(n) {
                // Callers that gave up are dropped here, not sent; callers past their
                // deadline are answered.
                if p.reply.is_closed() {
                    continue;
                }
                if now >= p.ask.deadline {
                    let late = c.late(p.ask.started, p.ask.deadline);
                    let _ = p.reply.send(Msg::Done(Err(late)));
                    continue;
                }
                admit(p);
            }
            state.queue.front().map(|p| p.ask.deadline)
        };
        let until = next_deadline(&flight.waiters, first_queued);
        let InFlight { reads, waiters } = &mut flight;
        let answers = execute(c, reads, until, |now| self.expire(c, waiters, now)).await;
        let mut waiters = std::mem::take(&mut flight.waiters);
        let own_expired = waiters.first().is_none_or(|w| w.tx.is_none());
        if own_expired {
            // The leader's deadline passed: the callers not answered yet go round again
            // (the drop of `flight`), the next caller leads.
            flight.waiters = waiters;
            drop(flight);
            drop(token);
            return;
        }
        flight.reads.clear();
        match answers {
            Ok(answers) => {
                for (w, answer) in waiters.iter_mut().zip(answers) {
                    if let Some(tx) = w.tx.take() {
                        let _ = tx.send(Msg::Done(Ok(answer)));
                    }
                }
            }
            Err(e) => {
                for w in &mut waiters {
                    if let Some(tx) = w.tx.take() {
                        let _ = tx.send(Msg::Done(Err(e.clone())));
                    }
                }
            }
        }
        drop(token);
    }

    /// The leader's timer fired at `now`: the callers of its batch and of the queue whose
    /// deadline has passed are answered `unavailable`. An error when the leader's own
    /// deadline has passed (its batch is abandoned), else when the timer fires next.
    fn expire(
        &self,
        c: &Connection,
        waiters: &mut [Waiter],
        now: Instant,
    ) -> Result<Instant, WitError> {
        for w in waiters.iter_mut() {
            if now >= w.deadline
                && let Some(tx) = w.tx.take()
            {
                let _ = tx.send(Msg::Done(Err(c.late(w.started, w.deadline))));
            }
        }
        let first_queued = {
            let mut state = self.shared.lock();
            let queue = std::mem::take(&mut state.queue);
            for p in queue {
                if p.reply.is_closed() {
                    continue;
                }
                if now >= p.ask.deadline {
                    let late = c.late(p.ask.started, p.ask.deadline);
                    let _ = p.reply.send(Msg::Done(Err(late)));
                    continue;
                }
                state.queue.push_back(p);
            }
            state.queue.front().map(|p| p.ask.deadline)
        };
        match waiters.first() {
            Some(own) if own.tx.is_some() => Ok(next_deadline(waiters, first_queued)),
            Some(own) => Err(c.late(own.started, own.deadline)),
            None => Err(WitError::Internal("a redis batch has no leader".into())),
        }
    }
}

#[cfg(test)]
impl Batcher {
    /// Whether no batch is in flight and nothing is queued.
    pub(crate) fn idle(&self) -> bool {
        let state = self.shared.lock();
        state.in_flight == 0 && state.queue.is_empty()
    }
}

/// A leader's own read, as a queued one, and the receiver of its answer.
fn pending(
    read: Read,
    key: Vec<u8>,
    started: Instant,
    deadline: Instant,
) -> (Pending, oneshot::Receiver<Msg>) {
    let (reply, rx) = oneshot::channel();
    let ask = Ask {
        read,
        key,
        started,
        deadline,
    };
    (Pending { ask, reply }, rx)
}

/// The earliest deadline of the callers of a batch not answered yet and of the oldest
/// queued caller.
fn next_deadline(waiters: &[Waiter], first_queued: Option<Instant>) -> Instant {
    waiters
        .iter()
        .filter(|w| w.tx.is_some())
        .map(|w| w.deadline)
        .chain(first_queued)
        .min()
        .unwrap_or_else(Instant::now)
}

/// Runs `batch` as one command (or one pipeline); one answer per entry, in order.
/// `until` and `horizon` time it (see [`Connection::attempt_until`]).
async fn execute(
    c: &Connection,
    batch: &[(Read, Vec<u8>)],
    until: Instant,
    horizon: impl FnMut(Instant) -> Result<Instant, WitError>,
) -> Result<Vec<Answer>, WitError> {
    // Distinct (read, key) pairs, in order of first appearance; each entry's pair.
    let (distinct, of) = distinct(
        batch.iter().map(|(read, key)| (*read, key.as_slice())),
        batch.len(),
    );
    let started = Instant::now();
    let mut answers = c
        .attempt_until(
            true,
            started,
            until,
            |mut conn| {
                let distinct = &distinct;
                async move {
                    if let [(read, key)] = distinct.as_slice() {
                        return Ok(vec![one(&mut conn, *read, key).await?]);
                    }
                    let gets: Vec<&[u8]> = distinct
                        .iter()
                        .filter(|(r, _)| *r == Read::Get)
                        .map(|(_, k)| *k)
                        .collect();
                    if gets.len() == distinct.len() {
                        let values: Vec<Option<Vec<u8>>> =
                            conn.query(redis::cmd("MGET").arg(&gets)).await?;
                        if values.len() != gets.len() {
                            return Err(RunError::Wit(mismatch(values.len(), gets.len())));
                        }
                        return Ok(values.into_iter().map(Answer::Value).collect());
                    }
                    let mut pipe = redis::pipe();
                    if !gets.is_empty() {
                        pipe.cmd("MGET").arg(&gets);
                    }
                    for (read, key) in distinct {
                        match read {
                            Read::Get => {}
                            Read::Exists => {
                                pipe.cmd("EXISTS").arg(*key);
                            }
                            Read::Pttl => {
                                pipe.cmd("PTTL").arg(*key);
                            }
                        }
                    }
                    let mut replies = conn.pipeline(0, &pipe).await?.into_iter();
                    let mut values = if gets.is_empty() {
                        Vec::new().into_iter()
                    } else {
                        let values: Vec<Option<Vec<u8>>> = parse(replies.next())?;
                        if values.len() != gets.len() {
                            return Err(RunError::Wit(mismatch(values.len(), gets.len())));
                        }
                        values.into_iter()
                    };
                    let mut answers = Vec::with_capacity(distinct.len());
                    for (read, _) in distinct {
                        answers.push(match read {
                            Read::Get => Answer::Value(values.next().flatten()),
                            Read::Exists => Answer::Exists(parse::<u64>(replies.next())? > 0),
                            Read::Pttl => Answer::Pttl(parse(replies.next())?),
                        });
                    }
                    Ok(answers)
                }
            },
            horizon,
        )
        .await?;
    // Each answer moves to its last caller; only callers sharing a key get copies.
    let mut uses = vec![0usize; answers.len()];
    for &i in &of {
        if let Some(n) = uses.get_mut(i) {
            *n += 1;
        }
    }
    of.into_iter()
        .map(|i| {
            let (Some(answer), Some(n)) = (answers.get_mut(i), uses.get_mut(i)) else {
                return Err(WitError::Internal("a redis batch lost an answer".into()));
            };
            *n -= 1;
            Ok(if *n == 0 {
                std::mem::replace(answer, Answer::Exists(false))
            } else {
                answer.clone()
            })
        })
        .collect()
}

/// `read` of `key` alone, as its own command, by `deadline`.
async fn single(
    c: &Connection,
    read: Read,
    key: &[u8],
    started: Instant,
    deadline: Instant,
) -> Result<Answer, WitError> {
    c.attempt_until(
        true,
        started,
        deadline,
        |mut conn| async move { one(&mut conn, read, key).await },
        |_| Err(c.late(started, deadline)),
    )
    .await
}

/// `read` of `key` as one command on `conn`.
async fn one(conn: &mut super::conn::Conn, read: Read, key: &[u8]) -> Result<Answer, RunError> {
    Ok(match read {
        Read::Get => Answer::Value(conn.query(redis::cmd("GET").arg(key)).await?),
        Read::Exists => Answer::Exists(conn.query::<u64>(redis::cmd("EXISTS").arg(key)).await? > 0),
        Read::Pttl => Answer::Pttl(conn.query(redis::cmd("PTTL").arg(key)).await?),
    })
}

/// One pipeline reply as `T` (a missing reply is a shape error).
fn parse<T: redis::FromRedisValue>(reply: Option<redis::Value>) -> Result<T, RunError> {
    let reply = reply.ok_or_else(|| {
        RunError::Wit(WitError::Internal(
            "redis answered fewer replies than commands in a pipeline".into(),
        ))
    })?;
    Ok(redis::from_redis_value(reply).map_err(redis::RedisError::from)?)
}

fn mismatch(got: usize, want: usize) -> WitError {
    WitError::Internal(format!("redis answered {got} values for {want} keys"))
}

/// Batching against a private `redis-server` (skipped when none is installed), through the
/// import's functions called directly by many concurrent tasks.
#[cfg(test)]
mod tests {
    use super::super::bindings::byoc::cache::redis::Host;
    use super::super::ops::server_tests::{Server, answers_again, server, slot_of};
    use super::super::{RedisGrant, RedisLink, RedisTarget};
    use super::*;
    use byoc_wasm::bindings::byoc::cache::types::KeyTtl;
    use std::collections::HashMap;
    use std::time::Duration;

    fn link(server: &Server, ns: &str, tune: impl FnOnce(RedisGrant) -> RedisGrant) -> RedisLink {
        let url = format!("redis://127.0.0.1:{}", server.1);
        RedisLink::new(tune(
            RedisGrant::new(RedisTarget::Single(url), ns).expect("grant"),
        ))
    }

    async fn raw(server: &Server) -> redis::aio::MultiplexedConnection {
        redis::Client::open(format!("redis://127.0.0.1:{}", server.1))
            .expect("url")
            .get_multiplexed_async_connection()
            .await
            .expect("raw connection")
    }

    /// Calls per command from `INFO commandstats`.
    async fn commands(conn: &mut redis::aio::MultiplexedConnection) -> HashMap<String, u64> {
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(conn)
            .await
            .expect("info");
        info.lines()
            .filter_map(|l| {
                let (name, stats) = l.strip_prefix("cmdstat_")?.split_once(':')?;
                let calls = stats
                    .strip_prefix("calls=")?
                    .split(',')
                    .next()?
                    .parse()
                    .ok()?;
                Some((name.to_owned(), calls))
            })
            .collect()
    }

    fn reads(before: &HashMap<String, u64>, after: &HashMap<String, u64>) -> u64 {
        ["get", "mget"]
            .iter()
            .map(|c| after.get(*c).copied().unwrap_or(0) - before.get(*c).copied().unwrap_or(0))
            .sum()
    }

    /// 256 concurrent tasks, each reading its own key, a shared key and a missing key:
    /// every task gets its own value, misses stay misses, and the server sees far fewer
    /// commands than reads.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_gets_are_batched_and_correct() {
        let Some(server) = server() else { return };
        let link = link(&server, "b:", |g| g);
        let mut setup = slot_of(&link);
        for i in 0..256 {
            setup
                .set(format!("k{i}"), format!("v{i}").into_bytes(), None)
                .await
                .expect("set");
        }
        setup
            .set("shared".into(), b"s".to_vec(), Some(60_000))
            .await
            .expect("set");
        let mut raw = raw(&server).await;
        // Outside the namespace: must never be seen.
        let () = redis::cmd("SET")
            .arg("missing")
            .arg("outside")
            .query_async(&mut raw)
            .await
            .expect("raw set");
        let before = commands(&mut raw).await;
        let start = Arc::new(tokio::sync::Barrier::new(256));
        let tasks: Vec<_> = (0..256)
            .map(|i| {
                let mut s = slot_of(&link);
                let start = Arc::clone(&start);
                tokio::spawn(async move {
                    start.wait().await;
                    for round in 0..4 {
                        let own = s.get(format!("k{i}")).await.expect("get own");
                        assert_eq!(
                            own,
                            Some(format!("v{i}").into_bytes()),
                            "task {i} round {round}"
                        );
                        let shared = s.get("shared".into()).await.expect("get shared");
                        assert_eq!(shared.as_deref(), Some(&b"s"[..]));
                        assert_eq!(s.get("missing".into()).await.expect("get missing"), None);
                        assert!(s.exists(format!("k{i}")).await.expect("exists"));
                        assert!(!s.exists("missing".into()).await.expect("exists"));
                        assert!(matches!(
                            s.pttl("shared".into()).await.expect("pttl"),
                            KeyTtl::ExpiresIn(ms) if ms <= 60_000
                        ));
                        assert!(matches!(
                            s.pttl(format!("k{i}")).await.expect("pttl"),
                            KeyTtl::Persistent
                        ));
                        assert!(matches!(
                            s.pttl("missing".into()).await.expect("pttl"),
                            KeyTtl::Missing
                        ));
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
        let after = commands(&mut raw).await;
        let delta =
            |c: &str| after.get(c).copied().unwrap_or(0) - before.get(c).copied().unwrap_or(0);
        // 4096 GET calls on 256 + 2 distinct keys. EXISTS and PTTL go in pipelines (Redis
        // counts each command of a pipeline), deduplicated per batch.
        let gets = delta("get") + delta("mget");
        eprintln!(
            "256 tasks x 4 rounds: 4096 get calls took {gets} GET/MGET commands; 2048 exists \
             calls {} EXISTS; 3072 pttl calls {} PTTL",
            delta("exists"),
            delta("pttl")
        );
        assert!(gets > 0);
        assert!(
            gets * 8 < 4096,
            "4096 concurrent gets sent {gets} commands: not batched"
        );
        assert!(delta("exists") <= 2048 && delta("pttl") <= 3072);
    }

    /// A caller alone sends exactly what it would send unbatched: one GET, EXISTS or PTTL
    /// per read, no MGET and no pipeline, and leaves no batch behind.
    #[tokio::test]
    async fn a_lone_caller_sends_its_own_command() {
        let Some(server) = server() else { return };
        let link = link(&server, "lone:", |g| g);
        let mut s = slot_of(&link);
        s.set("k".into(), b"v".to_vec(), None).await.expect("set");
        let mut raw = raw(&server).await;
        let before = commands(&mut raw).await;
        for _ in 0..5 {
            assert_eq!(s.get("k".into()).await.expect("get"), Some(b"v".to_vec()));
            assert_eq!(s.get("missing".into()).await.expect("get"), None);
            assert!(s.exists("k".into()).await.expect("exists"));
            assert!(matches!(
                s.pttl("k".into()).await.expect("pttl"),
                KeyTtl::Persistent
            ));
        }
        let after = commands(&mut raw).await;
        let delta =
            |c: &str| after.get(c).copied().unwrap_or(0) - before.get(c).copied().unwrap_or(0);
        assert_eq!(
            (delta("get"), delta("mget"), delta("exists"), delta("pttl")),
            (10, 0, 5, 5)
        );
        let batcher = link.0.batcher.as_ref().expect("batched");
        let state = batcher.shared.lock();
        assert_eq!((state.in_flight, state.queue.len()), (0, 0));
    }

    /// A limit of 8 reads per batch: still correct, and at least 256 / 8 commands.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_respect_the_limit() {
        let Some(server) = server() else { return };
        let link = link(&server, "lim:", |g| g.max_batch(8));
        let mut setup = slot_of(&link);
        for i in 0..256 {
            setup
                .set(format!("k{i}"), vec![i as u8], None)
                .await
                .expect("set");
        }
        let mut raw = raw(&server).await;
        let before = commands(&mut raw).await;
        let tasks: Vec<_> = (0..256)
            .map(|i| {
                let mut s = slot_of(&link);
                tokio::spawn(async move {
                    assert_eq!(
                        s.get(format!("k{i}")).await.expect("get"),
                        Some(vec![i as u8])
                    );
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
        let sent = reads(&before, &commands(&mut raw).await);
        assert!(
            (32..=256).contains(&sent),
            "{sent} commands for 256 reads in batches of 8"
        );
    }

    /// Two namespaces reading the same adapter keys at once each get their own values.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn namespaces_stay_apart_in_batches() {
        let Some(server) = server() else { return };
        let a = link(&server, "a:", |g| g);
        let b = link(&server, "b:", |g| g);
        slot_of(&a)
            .set("k".into(), b"A".to_vec(), None)
            .await
            .expect("set");
        slot_of(&b)
            .set("k".into(), b"B".to_vec(), None)
            .await
            .expect("set");
        let tasks: Vec<_> = (0..128)
            .map(|i| {
                let (link, want) = if i % 2 == 0 { (&a, "A") } else { (&b, "B") };
                let mut s = slot_of(link);
                tokio::spawn(async move {
                    for _ in 0..8 {
                        assert_eq!(
                            s.get("k".into()).await.expect("get"),
                            Some(want.as_bytes().to_vec())
                        );
                        assert_eq!(s.get("b:k".into()).await.expect("get"), None);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
    }

    /// A server that stops answering mid-batch: every caller fails with `unavailable`
    /// within its deadline (none hangs), and later calls work again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stalled_batch_fails_every_caller_then_recovers() {
        let Some(server) = server() else { return };
        let deadline = Duration::from_millis(300);
        let link = link(&server, "f:", |g| {
            g.deadline(deadline)
                .response_timeout(Duration::from_millis(200))
        });
        slot_of(&link)
            .set("k".into(), b"v".to_vec(), None)
            .await
            .expect("set");
        let mut raw = raw(&server).await;
        let () = redis::cmd("CLIENT")
            .arg("PAUSE")
            .arg(1000)
            .arg("ALL")
            .query_async(&mut raw)
            .await
            .expect("pause");
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let mut s = slot_of(&link);
                tokio::spawn(async move {
                    let started = Instant::now();
                    let r = if i % 3 == 0 {
                        s.exists("k".into()).await.map(|_| ())
                    } else {
                        s.get(format!("k{}", i % 5)).await.map(|_| ())
                    };
                    (r, started.elapsed())
                })
            })
            .collect();
        for t in tasks {
            let (r, took) = t.await.expect("task");
            assert!(matches!(r, Err(WitError::Unavailable(_))), "{r:?}");
            assert!(
                took < deadline + Duration::from_millis(400),
                "took {took:?}"
            );
        }
        let failures = link.0.failures.load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            failures >= 64,
            "{failures} failures counted for 64 failed calls"
        );
        // The pause ends by itself (CLIENT UNPAUSE would wait behind it too).
        assert_eq!(answers_again(&link, "k").await, Some(b"v".to_vec()));
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let mut s = slot_of(&link);
                tokio::spawn(async move { s.get("k".into()).await })
            })
            .collect();
        for t in tasks {
            assert_eq!(
                t.await.expect("task").expect("get after recovery"),
                Some(b"v".to_vec())
            );
        }
    }

    /// Leaders whose calls are dropped leave no waiter behind: a leader dropped while its
    /// batch is queued behind it hands leadership on, one dropped mid-batch hands every
    /// caller of the batch its key back and they queue again under a new leader.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancelled_leaders_hand_over() {
        let Some(server) = server() else { return };
        let link = link(&server, "c:", |g| {
            g.deadline(Duration::from_secs(5))
                .response_timeout(Duration::from_secs(3))
        });
        for i in 0..32 {
            slot_of(&link)
                .set(format!("k{i}"), vec![i], None)
                .await
                .expect("set");
        }
        let mut raw = raw(&server).await;
        let before = commands(&mut raw).await;
        let () = redis::cmd("CLIENT")
            .arg("PAUSE")
            .arg(1500)
            .arg("ALL")
            .query_async(&mut raw)
            .await
            .expect("pause");
        let cancelled = |after: u64, key: &str| {
            let mut s = slot_of(&link);
            let key = key.to_owned();
            tokio::spawn(async move {
                tokio::time::timeout(Duration::from_millis(after), s.get(key)).await
            })
        };
        // Each step waits until every caller so far has joined the batcher (leading a
        // batch or queued), so the order holds however slowly tasks are scheduled.
        let batcher = link.0.batcher.as_ref().expect("batcher");
        let start = batcher.shared.lock().extra.arrivals;
        let taking_part = |n: usize| async move {
            for _ in 0..2000 {
                if batcher.shared.lock().extra.arrivals - start == n {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            panic!("the batcher never saw {n} callers");
        };
        // GETs that stall on the paused server take every batch slot: the first one's
        // call is dropped at 300 ms, the other three wait for the pause to end.
        let first = cancelled(300, "k0");
        taking_part(1).await;
        let stay: Vec<_> = (1..MAX_IN_FLIGHT)
            .map(|_| {
                let mut s = slot_of(&link);
                tokio::spawn(async move { s.get("k0".into()).await })
            })
            .collect();
        taking_part(MAX_IN_FLIGHT).await;
        assert_eq!(batcher.shared.lock().in_flight, MAX_IN_FLIGHT);
        // Let the leaders that joined last take the (empty) queue and send.
        tokio::time::sleep(Duration::from_millis(20)).await;
        // 31 waiters queue, then the newest caller, which is handed leadership when the
        // first leader is dropped and sends the 31 waiters' reads with its own; that batch
        // stalls too and its call is dropped at about 700 ms, mid-batch.
        let waiters: Vec<_> = (1..32u8)
            .map(|i| {
                let mut s = slot_of(&link);
                tokio::spawn(async move { (i, s.get(format!("k{i}")).await) })
            })
            .collect();
        taking_part(MAX_IN_FLIGHT + 31).await;
        let second = cancelled(700, "k0");
        taking_part(MAX_IN_FLIGHT + 32).await;
        assert!(
            first.await.expect("task").is_err(),
            "first leader not cancelled"
        );
        assert!(
            second.await.expect("task").is_err(),
            "second leader not cancelled"
        );
        for stays in stay {
            assert_eq!(stays.await.expect("task").expect("get"), Some(vec![0]));
        }
        for w in waiters {
            let (i, got) = w.await.expect("task");
            assert_eq!(got.expect("waiter"), Some(vec![i]));
        }
        let after = commands(&mut raw).await;
        let mgets =
            after.get("mget").copied().unwrap_or(0) - before.get("mget").copied().unwrap_or(0);
        assert!(
            mgets >= 2,
            "the abandoned batch was not sent again: {mgets} MGETs"
        );
        assert_eq!(
            link.0.batcher.as_ref().map(|b| b.shared.lock().in_flight),
            Some(0)
        );
    }

    /// `max_batch(1)` and cluster grants send one command per call.
    #[test]
    fn batching_is_off_when_limited_to_one_or_on_a_cluster() {
        let one = RedisGrant::new(RedisTarget::Single("redis://h:1".into()), "n:").expect("grant");
        assert!(RedisLink::new(one.clone()).0.batcher.is_some());
        assert!(RedisLink::new(one.max_batch(1)).0.batcher.is_none());
        let cluster =
            RedisGrant::new(RedisTarget::Cluster(vec!["redis://h:1".into()]), "n:").expect("grant");
        assert!(RedisLink::new(cluster).0.batcher.is_none());
    }
}
