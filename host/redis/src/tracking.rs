//! Server-assisted invalidation of a near cache in front of the `redis` provider.
//!
//! [`RedisInvalidation`] opens its own RESP3 connection to the grant's server and turns on
//! client tracking in broadcasting mode for the grant's namespace (`CLIENT TRACKING ON
//! BCAST PREFIX <namespace>`). From then on the server pushes the name of every key under
//! the namespace that any client changes (writes, deletes, expiries, evictions); the
//! listener strips the namespace and invalidates that key in the near cache, so a write
//! made by another process is seen within about one network delay instead of after the
//! near cache's staleness bound.
//!
//! When the tracking connection drops, invalidations may be lost: the near cache is
//! emptied and stops filling ([`NearInvalidator::pause`]) until tracking is back on, then
//! emptied again ([`NearInvalidator::resume`]). Reads keep working meanwhile; they go to
//! Redis.
//!
//! Single servers only: a Redis Cluster would need tracking on every master (refused with
//! [`Error::Unsupported`]).

use super::grant::{RedisGrant, RedisTarget};
use crate::{Error, Result};
use byoc_core::NearInvalidator;
use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind, Value,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

/// Longest wait between two attempts to turn tracking back on: 1 s.
pub const TRACKING_RETRY_MAX: Duration = Duration::from_secs(1);

/// Keeps a near cache coherent with writes made to its Redis namespace by any client.
/// Tracking stops when this is dropped.
///
/// Start it before the near cache serves reads: an entry filled before tracking was on
/// would not be invalidated (`start` empties the near cache once tracking is on).
#[must_use = "tracking stops when the handle is dropped"]
pub struct RedisInvalidation {
    task: tokio::task::JoinHandle<()>,
    state: Arc<State>,
}

#[derive(Default)]
struct State {
    tracking: AtomicBool,
    invalidations: AtomicU64,
    reconnects: AtomicU64,
}

impl std::fmt::Debug for RedisInvalidation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisInvalidation")
            .field("tracking", &self.is_tracking())
            .field("invalidations", &self.invalidations())
            .finish_non_exhaustive()
    }
}

impl Drop for RedisInvalidation {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RedisInvalidation {
    /// Turns tracking on for `grant`'s namespace and starts invalidating `near`'s entries.
    /// Fails when the server cannot be reached now (or `grant` is a cluster); after a
    /// successful start, lost connections are retried in the background.
    pub async fn start(grant: &RedisGrant, near: NearInvalidator) -> Result<RedisInvalidation> {
        let RedisTarget::Single(url) = grant.target() else {
            return Err(Error::Unsupported(
                "near-cache invalidation from Redis needs a single server, not a cluster".into(),
            ));
        };
        let state = Arc::new(State::default());
        let tracked = track(url, grant).await.map_err(|e| {
            Error::Unavailable(format!("redis client tracking could not be turned on: {e}"))
        })?;
        state.tracking.store(true, Ordering::SeqCst);
        near.resume();
        let task = tokio::spawn(listen(
            url.clone(),
            grant.clone(),
            near,
            Arc::clone(&state),
            tracked,
        ));
        Ok(RedisInvalidation { task, state })
    }

    /// Whether tracking is on now (false while reconnecting).
    pub fn is_tracking(&self) -> bool {
        self.state.tracking.load(Ordering::SeqCst)
    }

    /// Keys invalidated so far (a flush counts once).
    pub fn invalidations(&self) -> u64 {
        self.state.invalidations.load(Ordering::Relaxed)
    }

    /// Times tracking was turned back on after its connection dropped.
    pub fn reconnects(&self) -> u64 {
        self.state.reconnects.load(Ordering::Relaxed)
    }
}

/// A RESP3 connection with broadcasting tracking on for the grant's namespace; its push
/// messages arrive on the returned channel.
async fn track(url: &str, grant: &RedisGrant) -> redis::RedisResult<Tracked> {
    let info = url.into_connection_info()?;
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    let client = grant.client(info.set_redis_settings(settings))?;
    let (tx, rx) = unbounded_channel();
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(grant.connect_timeout))
        .set_response_timeout(Some(grant.response_timeout))
        .set_push_sender(tx);
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    redis::cmd("CLIENT")
        .arg("TRACKING")
        .arg("ON")
        .arg("BCAST")
        .arg("PREFIX")
        .arg(grant.namespace())
        .query_async::<()>(&mut conn)
        .await?;
    Ok((conn, rx))
}

/// The tracking connection (its driver runs while a handle lives) and its pushes.
type Tracked = (MultiplexedConnection, UnboundedReceiver<PushInfo>);

async fn listen(
    url: String,
    grant: RedisGrant,
    near: NearInvalidator,
    state: Arc<State>,
    mut tracked: Tracked,
) {
    loop {
        while let Some(push) = tracked.1.recv().await {
            match push.kind {
                PushKind::Invalidate => apply(&push.data, &grant, &near, &state),
                PushKind::Disconnection => break,
                _ => {}
            }
        }
        // Disconnected (or the connection is gone): nothing tells us about writes now.
        state.tracking.store(false, Ordering::SeqCst);
        near.pause();
        let mut wait = Duration::from_millis(50);
        tracked = loop {
            tokio::time::sleep(wait).await;
            if let Ok(again) = track(&url, &grant).await {
                break again;
            }
            wait = (wait * 2).min(TRACKING_RETRY_MAX);
        };
        state.reconnects.fetch_add(1, Ordering::Relaxed);
        state.tracking.store(true, Ordering::SeqCst);
        near.resume();
    }
}

/// One `invalidate` push: an array of keys, or nil when the server was flushed.
fn apply(data: &[Value], grant: &RedisGrant, near: &NearInvalidator, state: &State) {
    for value in data {
        match value {
            Value::Array(keys) | Value::Set(keys) => {
                for key in keys {
                    if let Value::BulkString(bytes) = key
                        && let Some(rest) = bytes.strip_prefix(grant.namespace().as_bytes())
                        && let Ok(key) = std::str::from_utf8(rest)
                    {
                        near.invalidate(key);
                        state.invalidations.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Value::Nil => {
                near.invalidate_all();
                state.invalidations.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}
