//! Taking a provider whose instances keep trapping out of service for a while.

use super::limits::Quarantine;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The trap history and quarantine state of one provider.
pub(crate) struct QuarantineState {
    policy: Quarantine,
    /// Fast path: whether a quarantine may be in force (checked on every call).
    active: AtomicBool,
    quarantines: AtomicU64,
    inner: Mutex<History>,
}

struct History {
    traps: VecDeque<Instant>,
    until: Option<Instant>,
    last_backoff: Option<(Instant, Duration)>,
}

impl QuarantineState {
    pub(crate) fn new(policy: Quarantine) -> Self {
        QuarantineState {
            policy,
            active: AtomicBool::new(false),
            quarantines: AtomicU64::new(0),
            inner: Mutex::new(History {
                traps: VecDeque::new(),
                until: None,
                last_backoff: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, History> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Some(remaining)` while quarantined.
    pub(crate) fn remaining(&self) -> Option<Duration> {
        if !self.active.load(Ordering::Acquire) {
            return None;
        }
        let mut history = self.lock();
        let now = Instant::now();
        match history.until {
            Some(until) if until > now => Some(until - now),
            _ => {
                history.until = None;
                self.active.store(false, Ordering::Release);
                None
            }
        }
    }

    /// Records a trap; may start a quarantine.
    pub(crate) fn record_trap(&self) {
        if self.policy.traps == 0 {
            return;
        }
        let now = Instant::now();
        let mut history = self.lock();
        history.traps.push_back(now);
        while history
            .traps
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.policy.window)
        {
            history.traps.pop_front();
        }
        if history.traps.len() < self.policy.traps as usize {
            return;
        }
        let backoff = match history.last_backoff {
            Some((at, last)) if now.duration_since(at) < self.policy.max_backoff + last => {
                (last * 2).min(self.policy.max_backoff)
            }
            _ => self.policy.backoff,
        };
        history.traps.clear();
        history.until = Some(now + backoff);
        history.last_backoff = Some((now, backoff));
        self.quarantines.fetch_add(1, Ordering::Relaxed);
        self.active.store(true, Ordering::Release);
    }

    /// How many quarantines started so far.
    pub(crate) fn count(&self) -> u64 {
        self.quarantines.load(Ordering::Relaxed)
    }
}
