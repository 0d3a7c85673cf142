//! The envelope of entries that carry cache semantics: a logical expiry, the write time,
//! a "not found" mark and tags, between the typed-entry header and the serialized value.
//!
//! A plain typed entry is `[magic, 1, serializer id, type tag × 4] value`. An enveloped
//! entry has version 2 and, after the same 7 bytes:
//!
//! ```text
//! flags: u8            bit 0: "not found" (negative entry, no value); bit 1: tags follow
//! stored_at: u64 LE    write time, milliseconds since the Unix epoch
//! fresh_until: u64 LE  logical expiry in the same unit (0: none)
//! [tags]               if bit 1: a count (u8), then each tag as a length (u8) and UTF-8
//! value                the serializer's bytes (empty for a negative entry)
//! ```
//!
//! Times are wall-clock so that every host sharing a backend reads them alike.

use crate::{Error, Result};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Format version of an enveloped entry (a plain typed entry is version 1).
pub(crate) const ENVELOPE_VERSION: u8 = 2;
/// Bytes of the envelope before its tags: flags, stored-at, fresh-until.
const FIXED_LEN: usize = 1 + 8 + 8;
const NEGATIVE: u8 = 1;
const TAGGED: u8 = 2;
/// Most tags one entry carries, and most bytes of one tag.
pub const MAX_TAGS: usize = 255;
/// Most bytes of one tag.
pub const MAX_TAG_LEN: usize = 255;

/// Milliseconds since the Unix epoch now (0 if the clock is before it).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `d` in whole milliseconds, saturating.
pub(crate) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// One decoded envelope; `value` borrows the serialized value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Envelope<'a> {
    pub negative: bool,
    pub stored_at: u64,
    /// 0: never stale.
    pub fresh_until: u64,
    pub tags: Vec<&'a str>,
    pub value: &'a [u8],
}

impl Envelope<'_> {
    /// Whether the entry is within its logical TTL at `now` (ms).
    pub fn is_fresh(&self, now: u64) -> bool {
        self.fresh_until == 0 || now < self.fresh_until
    }
}

/// Checks tags before they are stored.
pub(crate) fn check_tags(tags: &[&str]) -> Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(Error::InvalidArgument(format!(
            "{} tags on one entry; at most {MAX_TAGS}",
            tags.len()
        )));
    }
    for tag in tags {
        if tag.is_empty() || tag.len() > MAX_TAG_LEN || tag.chars().any(char::is_control) {
            return Err(Error::InvalidArgument(format!(
                "a tag must be 1..={MAX_TAG_LEN} bytes without control characters (got {} bytes)",
                tag.len()
            )));
        }
    }
    Ok(())
}

/// Appends the envelope (without the 7-byte header) and `value` to `out`. Tags must have
/// passed [`check_tags`].
pub(crate) fn write(
    out: &mut Vec<u8>,
    negative: bool,
    stored_at: u64,
    fresh_until: u64,
    tags: &[&str],
    value: &[u8],
) {
    let mut flags = 0;
    if negative {
        flags |= NEGATIVE;
    }
    if !tags.is_empty() {
        flags |= TAGGED;
    }
    out.push(flags);
    out.extend_from_slice(&stored_at.to_le_bytes());
    out.extend_from_slice(&fresh_until.to_le_bytes());
    if !tags.is_empty() {
        // check_tags bounds both counts to 255.
        out.push(u8::try_from(tags.len()).unwrap_or(u8::MAX));
        for tag in tags {
            out.push(u8::try_from(tag.len()).unwrap_or(u8::MAX));
            out.extend_from_slice(tag.as_bytes());
        }
    }
    out.extend_from_slice(value);
}

/// Parses the envelope after the 7-byte header; `None` if the bytes are not one.
pub(crate) fn read(bytes: &[u8]) -> Option<Envelope<'_>> {
    let (fixed, mut rest) = bytes.split_at_checked(FIXED_LEN)?;
    let flags = fixed[0];
    if flags & !(NEGATIVE | TAGGED) != 0 {
        return None;
    }
    let stored_at = u64::from_le_bytes(fixed[1..9].try_into().ok()?);
    let fresh_until = u64::from_le_bytes(fixed[9..17].try_into().ok()?);
    let mut tags = Vec::new();
    if flags & TAGGED != 0 {
        let (&count, after) = rest.split_first()?;
        rest = after;
        for _ in 0..count {
            let (&len, after) = rest.split_first()?;
            let (tag, after) = after.split_at_checked(usize::from(len))?;
            tags.push(std::str::from_utf8(tag).ok()?);
            rest = after;
        }
    }
    let negative = flags & NEGATIVE != 0;
    if negative && !rest.is_empty() {
        return None;
    }
    Some(Envelope {
        negative,
        stored_at,
        fresh_until,
        tags,
        value: rest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let mut out = Vec::new();
        write(&mut out, false, 5, 9, &["a", "bc"], b"xyz");
        let e = read(&out).expect("envelope");
        assert_eq!(e.tags, vec!["a", "bc"]);
        assert_eq!((e.stored_at, e.fresh_until, e.value), (5, 9, &b"xyz"[..]));
        assert!(e.is_fresh(8) && !e.is_fresh(9));
        let mut neg = Vec::new();
        write(&mut neg, true, 1, 0, &[], b"");
        assert!(read(&neg).expect("negative").negative);
        // Truncations and unknown flags are not envelopes, never a panic.
        for cut in 0..out.len() - 3 {
            let _ = read(&out[..cut]);
        }
        assert_eq!(read(&[0x80; 20]), None);
        assert!(check_tags(&["ok"]).is_ok());
        assert!(check_tags(&[""]).is_err());
        assert!(check_tags(&["a\nb"]).is_err());
    }
}
