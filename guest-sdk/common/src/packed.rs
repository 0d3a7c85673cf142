//! The packed encoding of many keys or many values (WIT `packed-keys` and
//! `packed-values`): one buffer and a list of lengths instead of one string or list per
//! element, so that a batch crosses the sandbox boundary in one copy each way.
//!
//! ```
//! use byoc_common::packed;
//!
//! let (text, lengths) = packed::pack_keys(["a", "bc"]).unwrap();
//! assert_eq!((text.as_str(), lengths.as_slice()), ("abc", &[1, 2][..]));
//! assert_eq!(packed::unpack_keys(&text, &lengths).unwrap(), ["a", "bc"]);
//!
//! let values = [Some(&b"xy"[..]), None, Some(&b""[..])];
//! let (data, lengths) = packed::pack_values(values).unwrap();
//! assert_eq!(lengths, [2, packed::MISSING, 0]);
//! let back: Vec<_> = packed::unpack_values(&data, &lengths).unwrap().collect();
//! assert_eq!(back, values);
//! ```

use std::fmt;

/// The length of a missing value in packed values (RESP's null bulk string is `$-1`).
pub const MISSING: i32 = -1;

/// Why a packed buffer cannot be read (or written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PackError {
    /// The lengths add up to `claimed` bytes, but the buffer holds `actual`.
    LengthMismatch {
        /// The sum of the lengths (saturated at `u64::MAX`).
        claimed: u64,
        /// The buffer's length.
        actual: u64,
    },
    /// Key `index` does not start and end at a character boundary of the text.
    NotCharBoundary {
        /// The element.
        index: usize,
    },
    /// Element `index` is longer than a packed length can say (4 GiB for a key, 2 GiB for
    /// a value).
    TooLong {
        /// The element.
        index: usize,
    },
    /// Value `index` has a negative length other than [`MISSING`].
    NegativeLength {
        /// The element.
        index: usize,
    },
}

impl fmt::Display for PackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PackError::LengthMismatch { claimed, actual } => write!(
                f,
                "packed lengths add up to {claimed} bytes but the buffer holds {actual}"
            ),
            PackError::NotCharBoundary { index } => {
                write!(
                    f,
                    "packed key {index} does not split the text at a character boundary"
                )
            }
            PackError::TooLong { index } => {
                write!(f, "element {index} is too long for a packed length")
            }
            PackError::NegativeLength { index } => {
                write!(
                    f,
                    "packed value {index} has a negative length other than -1"
                )
            }
        }
    }
}

impl std::error::Error for PackError {}

fn check_total(lengths: impl Iterator<Item = u32>, actual: usize) -> Result<(), PackError> {
    let claimed = lengths.fold(0u64, |sum, n| sum.saturating_add(u64::from(n)));
    if claimed != actual as u64 {
        return Err(PackError::LengthMismatch {
            claimed,
            actual: actual as u64,
        });
    }
    Ok(())
}

/// Packs `keys` into one text and their lengths in bytes.
pub fn pack_keys<'k>(
    keys: impl IntoIterator<Item = &'k str>,
) -> Result<(String, Vec<u32>), PackError> {
    let keys = keys.into_iter();
    let mut lengths = Vec::with_capacity(keys.size_hint().0);
    let mut text = String::new();
    for (index, key) in keys.enumerate() {
        lengths.push(u32::try_from(key.len()).map_err(|_| PackError::TooLong { index })?);
        text.push_str(key);
    }
    Ok((text, lengths))
}

/// Splits packed keys. Fails unless the lengths add up to the text's length and every
/// key starts and ends at a character boundary. (Keys are not checked against the key
/// rules here.)
pub fn unpack_keys<'t>(text: &'t str, lengths: &[u32]) -> Result<Vec<&'t str>, PackError> {
    check_total(lengths.iter().copied(), text.len())?;
    let mut at = 0usize;
    lengths
        .iter()
        .enumerate()
        .map(|(index, &n)| {
            let end = at + n as usize;
            let key = text
                .get(at..end)
                .ok_or(PackError::NotCharBoundary { index })?;
            at = end;
            Ok(key)
        })
        .collect()
}

/// Packs optional values into one buffer and their lengths ([`MISSING`] for `None`).
pub fn pack_values<V: AsRef<[u8]>>(
    values: impl IntoIterator<Item = Option<V>>,
) -> Result<(Vec<u8>, Vec<i32>), PackError> {
    let values = values.into_iter();
    let mut lengths = Vec::with_capacity(values.size_hint().0);
    let mut data = Vec::new();
    for (index, value) in values.enumerate() {
        lengths.push(match value {
            None => MISSING,
            Some(v) => {
                let v = v.as_ref();
                data.extend_from_slice(v);
                i32::try_from(v.len()).map_err(|_| PackError::TooLong { index })?
            }
        });
    }
    Ok((data, lengths))
}

/// Splits packed values, in order, once the lengths are checked: each is [`MISSING`] or
/// not negative, and the others add up to the buffer's length.
pub fn unpack_values<'d>(
    data: &'d [u8],
    lengths: &'d [i32],
) -> Result<impl ExactSizeIterator<Item = Option<&'d [u8]>> + 'd, PackError> {
    if let Some(index) = lengths.iter().position(|&n| n < MISSING) {
        return Err(PackError::NegativeLength { index });
    }
    let present = lengths.iter().filter_map(|&n| u32::try_from(n).ok());
    check_total(present, data.len())?;
    let mut at = 0usize;
    Ok(lengths.iter().map(move |&n| {
        usize::try_from(n).ok().map(|n| {
            // In bounds: the present lengths add up to `data.len()`.
            let value = &data[at..at + n];
            at += n;
            value
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn malformed_packings_are_refused() {
        assert_eq!(
            unpack_keys("abc", &[1, 1]),
            Err(PackError::LengthMismatch {
                claimed: 2,
                actual: 3
            })
        );
        assert_eq!(
            unpack_keys("é", &[1, 1]),
            Err(PackError::NotCharBoundary { index: 0 })
        );
        assert!(unpack_keys("ab", &[u32::MAX, 3]).is_err());
        assert!(matches!(
            unpack_values(b"ab", &[3]),
            Err(PackError::LengthMismatch { .. })
        ));
        assert!(unpack_values(b"ab", &[i32::MAX, i32::MAX]).is_err());
        assert_eq!(
            unpack_values(b"ab", &[2, -2]).err(),
            Some(PackError::NegativeLength { index: 1 })
        );
        assert_eq!(unpack_keys("", &[]), Ok(vec![]));
        assert_eq!(unpack_values(b"", &[MISSING]).map(|v| v.count()), Ok(1));
    }

    proptest! {
        #[test]
        fn keys_round_trip(keys in proptest::collection::vec(".{0,8}", 0..20)) {
            let (text, lengths) = pack_keys(keys.iter().map(String::as_str)).expect("packs");
            prop_assert_eq!(unpack_keys(&text, &lengths).expect("packs"), keys);
        }

        #[test]
        fn values_round_trip(
            values in proptest::collection::vec(
                proptest::option::of(proptest::collection::vec(any::<u8>(), 0..16)),
                0..20,
            )
        ) {
            let (data, lengths) = pack_values(values.iter().map(Option::as_ref)).expect("packs");
            let back: Vec<Option<Vec<u8>>> = unpack_values(&data, &lengths)
                .expect("packs")
                .map(|v| v.map(<[u8]>::to_vec))
                .collect();
            prop_assert_eq!(back, values);
        }
    }
}
