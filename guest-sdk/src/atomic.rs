//! The optional `atomics` export (`wit/atomics.wit`): `increment` and `compare-and-swap`,
//! and their derivation from `get` and `set` for adapters whose state only their own
//! instance touches.

use crate::bindings::exports::byoc::cache::atomics;
use crate::bridge::{key, ttl_arg, with};
use crate::{Adapter, Bridge, Entry, Error, Result, Wrapper, WrapperBridge, now_ms};

/// The counter stored in `value`: decimal ASCII, an optional `-` then digits without a
/// leading zero (Redis' rule, so every backend accepts the same values).
pub fn parse_counter(value: &[u8]) -> Result<i64> {
    let bad = || Error::InvalidArgument("the value is not an integer or out of range".into());
    let digits = value.strip_prefix(b"-").unwrap_or(value);
    let canonical = match digits {
        [] => false,
        [b'0'] => value.len() == 1,
        [first, rest @ ..] => (b'1'..=b'9').contains(first) && rest.iter().all(u8::is_ascii_digit),
    };
    if !canonical {
        return Err(bad());
    }
    std::str::from_utf8(value)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(bad)
}

/// `current + delta`, or `invalid-argument` on overflow.
pub fn add_counter(current: i64, delta: i64) -> Result<i64> {
    current
        .checked_add(delta)
        .ok_or_else(|| Error::InvalidArgument("increment or decrement would overflow".into()))
}

/// [`Adapter::increment`] from `get` and `set`. Atomic only when nothing else can change
/// the adapter's state between the two (state private to the instance, as the memory
/// adapter's).
pub fn increment<A: Adapter>(
    adapter: &mut A,
    key: &str,
    delta: i64,
    expires_at: Option<u64>,
    now: u64,
) -> Result<i64> {
    let (current, expires_at) = match adapter.get(key)? {
        Some(entry) if entry.is_live(now) => (parse_counter(&entry.value)?, entry.expires_at),
        _ => (0, expires_at),
    };
    let next = add_counter(current, delta)?;
    let entry = Entry {
        value: next.to_string().into_bytes(),
        expires_at,
    };
    adapter.set(key, entry)?;
    Ok(next)
}

/// [`Adapter::compare_and_swap`] from `get` and `set`, atomic under the same condition as
/// [`increment`].
pub fn compare_and_swap<A: Adapter>(
    adapter: &mut A,
    key: &str,
    expected: Option<&[u8]>,
    new: Vec<u8>,
    expires_at: Option<u64>,
    now: u64,
) -> Result<bool> {
    let current = adapter.get(key)?.filter(|e| e.is_live(now));
    if current.as_ref().map(|e| e.value.as_slice()) != expected {
        return Ok(false);
    }
    adapter.set(
        key,
        Entry {
            value: new,
            expires_at,
        },
    )?;
    Ok(true)
}

/// Most rounds of [`transformed_increment`] lost to concurrent writers before it answers
/// `unavailable`.
const MAX_ROUNDS: usize = 64;

/// `compare-and-swap` for a wrapper that stores its values transformed in `layer`
/// (compressed, encrypted): `decode` turns stored bytes back into the value and `encode`
/// a value into what is stored. The stored bytes are read and decoded for the comparison;
/// the swap is the layer's own compare-and-swap expecting exactly those stored bytes, so
/// it is atomic whatever the encoding (random nonces included).
pub fn transformed_compare_and_swap(
    layer: u32,
    key: &str,
    expected: Option<&[u8]>,
    new: &[u8],
    ttl: Option<u64>,
    mut decode: impl FnMut(&[u8]) -> Result<Vec<u8>>,
    encode: impl FnOnce(&[u8]) -> Result<Vec<u8>>,
) -> Result<bool> {
    let stored = match expected {
        None => None,
        Some(expected) => match crate::inner::get(layer, key)? {
            Some(stored) if decode(&stored)? == expected => Some(stored),
            _ => return Ok(false),
        },
    };
    let new = encode(new)?;
    crate::inner::compare_and_swap(layer, key, stored.as_deref(), &new, ttl)
}

/// `increment` for a wrapper that stores its values transformed (see
/// [`transformed_compare_and_swap`]): read, decode, add, encode, then the layer's
/// compare-and-swap of exactly the bytes read, again until no other writer came between.
/// An existing key keeps its expiry (read with the layer's `ttl` just before the swap).
pub fn transformed_increment(
    layer: u32,
    key: &str,
    delta: i64,
    ttl: Option<u64>,
    mut decode: impl FnMut(&[u8]) -> Result<Vec<u8>>,
    mut encode: impl FnMut(&[u8]) -> Result<Vec<u8>>,
) -> Result<i64> {
    for _ in 0..MAX_ROUNDS {
        let stored = crate::inner::get(layer, key)?;
        let (current, keep) = match &stored {
            Some(bytes) => {
                let keep = match crate::inner::ttl(layer, key)? {
                    crate::KeyTtl::ExpiresIn(ms) => Some(ms.max(1)),
                    crate::KeyTtl::Persistent => None,
                    // Gone since the read: look again.
                    crate::KeyTtl::Missing => continue,
                };
                (parse_counter(&decode(bytes)?)?, keep)
            }
            None => (0, ttl),
        };
        let next = add_counter(current, delta)?;
        let new = encode(next.to_string().as_bytes())?;
        if crate::inner::compare_and_swap(layer, key, stored.as_deref(), &new, keep)? {
            return Ok(next);
        }
    }
    Err(Error::Unavailable(format!(
        "increment of `{key}` lost to concurrent writers {MAX_ROUNDS} times"
    )))
}

fn unsupported(op: &str, name: &str) -> Error {
    Error::Unsupported(format!("adapter `{name}` does not implement {op}"))
}

impl<A: Adapter> atomics::Guest for Bridge<A> {
    fn supported() -> bool {
        A::ATOMICS
    }

    fn increment(k: String, delta: i64, ttl: Option<u64>) -> Result<i64> {
        key(&k)?;
        let ttl = ttl_arg(ttl)?;
        if !A::ATOMICS {
            return Err(unsupported("increment", A::NAME));
        }
        let now = now_ms();
        let expires_at = ttl.map(|t| now.saturating_add(t));
        with::<A, _>(|rt| rt.adapter.increment(&k, delta, expires_at, now))
    }

    fn compare_and_swap(
        k: String,
        expected: Option<Vec<u8>>,
        new: Vec<u8>,
        ttl: Option<u64>,
    ) -> Result<bool> {
        key(&k)?;
        let ttl = ttl_arg(ttl)?;
        if !A::ATOMICS {
            return Err(unsupported("compare-and-swap", A::NAME));
        }
        let now = now_ms();
        let expires_at = ttl.map(|t| now.saturating_add(t));
        with::<A, _>(|rt| {
            rt.adapter
                .compare_and_swap(&k, expected.as_deref(), new, expires_at, now)
        })
    }
}

impl<W: Wrapper> atomics::Guest for WrapperBridge<W> {
    fn supported() -> bool {
        crate::wrapper::with::<W, _>(|w| Ok(w.atomics_supported())).unwrap_or(false)
    }

    fn increment(k: String, delta: i64, ttl: Option<u64>) -> Result<i64> {
        key(&k)?;
        let ttl = ttl_arg(ttl)?;
        crate::wrapper::with::<W, _>(|w| w.increment(&k, delta, ttl))
    }

    fn compare_and_swap(
        k: String,
        expected: Option<Vec<u8>>,
        new: Vec<u8>,
        ttl: Option<u64>,
    ) -> Result<bool> {
        key(&k)?;
        let ttl = ttl_arg(ttl)?;
        crate::wrapper::with::<W, _>(|w| w.compare_and_swap(&k, expected.as_deref(), new, ttl))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_parse_as_redis_does() {
        assert_eq!(parse_counter(b"0").ok(), Some(0));
        assert_eq!(parse_counter(b"42").ok(), Some(42));
        assert_eq!(parse_counter(b"-17").ok(), Some(-17));
        assert_eq!(parse_counter(b"9223372036854775807").ok(), Some(i64::MAX));
        assert_eq!(parse_counter(b"-9223372036854775808").ok(), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"1.0",
            b"abc",
            b"9223372036854775808",
        ] {
            assert!(
                matches!(parse_counter(bad), Err(Error::InvalidArgument(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            add_counter(i64::MAX, 1),
            Err(Error::InvalidArgument(_))
        ));
        assert_eq!(add_counter(-5, 7).ok(), Some(2));
    }
}
