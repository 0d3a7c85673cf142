//! Stored entries and the clock that expires them.

use crate::{Error, Result};

/// A value with its absolute expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The stored bytes.
    pub value: Vec<u8>,
    /// When the entry expires, in ms since the UNIX epoch (wall clock); `None`: never.
    pub expires_at: Option<u64>,
}

/// Version byte of [`Entry::encode`]'s format.
const FORMAT_V1: u8 = 1;

impl Entry {
    /// An entry that expires `ttl_ms` after `now` (or never, for `None`).
    pub fn new(value: Vec<u8>, ttl_ms: Option<u64>, now: u64) -> Self {
        Entry {
            value,
            expires_at: ttl_ms.map(|ttl| now.saturating_add(ttl)),
        }
    }

    /// Whether the entry is still live at `now`.
    pub fn is_live(&self, now: u64) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }

    /// Milliseconds left at `now` (`None`: no expiry; `Some(0)`: expired).
    pub fn remaining(&self, now: u64) -> Option<u64> {
        self.expires_at.map(|at| at.saturating_sub(now))
    }

    /// Encodes the entry as bytes, for adapters whose backend stores blobs only:
    /// a version byte, the expiry as 8 bytes little-endian (`u64::MAX` for none), the value.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(9 + self.value.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&self.expires_at.unwrap_or(u64::MAX).to_le_bytes());
        out.extend_from_slice(&self.value);
        out
    }

    /// Decodes what [`encode`](Entry::encode) wrote; anything else is `Error::Internal`.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        match bytes {
            [FORMAT_V1, rest @ ..] if rest.len() >= 8 => {
                let (at, value) = rest.split_at(8);
                let mut raw = [0u8; 8];
                raw.copy_from_slice(at);
                let at = u64::from_le_bytes(raw);
                Ok(Entry {
                    value: value.to_vec(),
                    expires_at: (at != u64::MAX).then_some(at),
                })
            }
            _ => Err(Error::Internal("stored entry has an unknown format".into())),
        }
    }
}

/// The wall clock in ms since the UNIX epoch: `wasi:clocks/wall-clock` inside a component,
/// read directly rather than through std's `SystemTime` so that an adapter built for
/// `wasm32-unknown-unknown` (no std WASI support, fewer imports) has a clock too; std's
/// `SystemTime` elsewhere.
pub fn now_ms() -> u64 {
    #[cfg(target_arch = "wasm32")]
    {
        let now = wasi::clocks::wall_clock::now();
        now.seconds
            .saturating_mul(1000)
            .saturating_add(u64::from(now.nanoseconds / 1_000_000))
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        use std::time::{SystemTime, UNIX_EPOCH};
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}
