//! What every store of one provider shares: the connection and, on a single server, the
//! batcher of concurrent reads (kept apart so that the batcher depends on the connection
//! and not the other way round).

use super::batch::Batcher;
use super::conn::Connection;
use super::grant::{RedisGrant, RedisTarget};
use std::sync::Arc;

/// A granted connection and its batcher; reads as its [`Connection`].
pub(crate) struct Shared {
    conn: Connection,
    /// Batches concurrent single-key reads (single server with a batch limit above 1).
    pub(crate) batcher: Option<Batcher>,
}

impl Shared {
    pub(crate) fn new(grant: RedisGrant) -> Arc<Shared> {
        let batcher = match grant.target {
            RedisTarget::Single(_) if grant.max_batch > 1 => Some(Batcher::new(grant.max_batch)),
            _ => None,
        };
        Arc::new(Shared {
            conn: Connection::new(grant),
            batcher,
        })
    }
}

impl std::ops::Deref for Shared {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.conn
    }
}
