//! Copying every key of one provider into another with its remaining TTL, page by page,
//! resumable from the scan cursor ([`Copier::copy_page`]); `byoc migrate` runs it.
//!
//! An entry is written to the target only if the target lacks the key: with
//! compare-and-swap (`expected: None`) where the target has atomics, else by `exists`
//! then `set` (which a write landing between the two may lose to). So an entry the
//! application wrote into the target during the copy (say, through a `migration` wrapper
//! in `dual-write`) is never replaced by the older copy, and copying a page again after a
//! resume changes nothing.

use crate::{Error, KeyTtl, Provider, Result};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::task::JoinSet;

/// What one page (or a whole run, summed) did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyCounts {
    /// Keys the scan returned.
    pub scanned: u64,
    /// Entries written to the target.
    pub copied: u64,
    /// Keys the target already had (left as they were).
    pub present: u64,
    /// Keys gone from the source (expired or deleted) before they were read.
    pub gone: u64,
}

impl std::ops::AddAssign for CopyCounts {
    fn add_assign(&mut self, other: CopyCounts) {
        self.scanned += other.scanned;
        self.copied += other.copied;
        self.present += other.present;
        self.gone += other.gone;
    }
}

/// Copies between two providers; see the [module docs](self).
pub struct Copier {
    from: Arc<dyn Provider>,
    to: Arc<dyn Provider>,
    from_prefix: String,
    to_prefix: String,
    parallel: usize,
    /// Cleared when the target answered `unsupported` to compare-and-swap.
    atomics: Arc<AtomicBool>,
}

impl Copier {
    /// Copies from `from` into `to`, 16 keys at a time.
    pub fn new(from: Arc<dyn Provider>, to: Arc<dyn Provider>) -> Copier {
        Copier {
            from,
            to,
            from_prefix: String::new(),
            to_prefix: String::new(),
            parallel: 16,
            atomics: Arc::new(AtomicBool::new(true)),
        }
    }

    /// Copies only the source keys under `from` (a cache's key prefix), stored in the
    /// target under `to` instead.
    pub fn prefixes(mut self, from: &str, to: &str) -> Copier {
        self.from_prefix = from.to_owned();
        self.to_prefix = to.to_owned();
        self
    }

    /// How many keys are copied at once (at least 1).
    pub fn parallel(mut self, n: usize) -> Copier {
        self.parallel = n.max(1);
        self
    }

    /// The scan pattern of the source's keys.
    fn pattern(&self) -> String {
        let mut pattern = String::with_capacity(self.from_prefix.len() + 1);
        for c in self.from_prefix.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('*');
        pattern
    }

    /// Copies the page of at most `count` keys after `cursor` (`None`: the first page);
    /// answers what it did and the cursor of the next page (`None`: the scan is done).
    /// Every entry of the page is written (or found present) before it returns, so the
    /// returned cursor may be saved and passed back to resume.
    pub async fn copy_page(
        &self,
        cursor: Option<&str>,
        count: u32,
    ) -> Result<(CopyCounts, Option<String>)> {
        let page = self.from.scan(&self.pattern(), cursor, count).await?;
        let mut counts = CopyCounts {
            scanned: page.keys.len() as u64,
            ..CopyCounts::default()
        };
        let mut tasks = JoinSet::new();
        for key in page.keys {
            if tasks.len() >= self.parallel
                && let Some(done) = tasks.join_next().await
            {
                counts += joined(done)?;
            }
            let target = format!(
                "{}{}",
                self.to_prefix,
                key.strip_prefix(&self.from_prefix).unwrap_or(&key)
            );
            let (from, to, atomics) = (self.from.clone(), self.to.clone(), self.atomics.clone());
            tasks.spawn(async move { copy_one(&*from, &*to, &atomics, &key, &target).await });
        }
        while let Some(done) = tasks.join_next().await {
            counts += joined(done)?;
        }
        Ok((counts, page.cursor))
    }
}

fn joined(
    done: std::result::Result<Result<CopyCounts>, tokio::task::JoinError>,
) -> Result<CopyCounts> {
    done.map_err(|e| Error::Internal(format!("a copy task failed: {e}")))?
}

/// Copies `key` of `from` to `target` of `to` unless `to` has it.
async fn copy_one(
    from: &dyn Provider,
    to: &dyn Provider,
    atomics: &AtomicBool,
    key: &str,
    target: &str,
) -> Result<CopyCounts> {
    let gone = CopyCounts {
        gone: 1,
        ..CopyCounts::default()
    };
    let Some(value) = from.get(key).await? else {
        return Ok(gone);
    };
    // Read after the value: the remaining lifetime is then at most the value's.
    let ttl = match from.ttl(key).await? {
        KeyTtl::Missing => return Ok(gone),
        KeyTtl::Persistent => None,
        KeyTtl::ExpiresIn(left) => Some(left),
    };
    let stored = if atomics.load(Ordering::Relaxed) {
        match to.compare_and_swap(target, None, &value, ttl).await {
            Err(Error::Unsupported(_)) => {
                atomics.store(false, Ordering::Relaxed);
                None
            }
            other => Some(other?),
        }
    } else {
        None
    };
    let stored = match stored {
        Some(stored) => stored,
        None if to.exists(target).await? => false,
        None => {
            to.set(target, &value, ttl).await?;
            true
        }
    };
    Ok(if stored {
        CopyCounts {
            copied: 1,
            ..CopyCounts::default()
        }
    } else {
        CopyCounts {
            present: 1,
            ..CopyCounts::default()
        }
    })
}
