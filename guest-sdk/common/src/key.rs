//! Key validation.

use std::fmt;

/// The longest key, in bytes of UTF-8, that the contract accepts.
pub const MAX_KEY_LEN: usize = 1024;

/// Why a key is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The key is the empty string.
    Empty,
    /// The key is longer than [`MAX_KEY_LEN`] bytes (the length is given).
    TooLong(usize),
    /// The key contains an ASCII control character at this byte offset.
    ControlCharacter(usize),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Empty => write!(f, "key is empty"),
            KeyError::TooLong(len) => {
                write!(f, "key is {len} bytes long; the limit is {MAX_KEY_LEN}")
            }
            KeyError::ControlCharacter(at) => {
                write!(f, "key contains a control character at byte {at}")
            }
        }
    }
}

impl std::error::Error for KeyError {}

/// Checks a key against the contract: 1 to [`MAX_KEY_LEN`] bytes, no ASCII control
/// character (U+0000..=U+001F, U+007F). Any other Unicode is allowed.
///
/// ```
/// # use byoc_common::{validate_key, KeyError};
/// assert_eq!(validate_key("naïve-ключ-🔑"), Ok(()));
/// assert_eq!(validate_key("a\nb"), Err(KeyError::ControlCharacter(1)));
/// ```
pub fn validate_key(key: &str) -> Result<(), KeyError> {
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    if key.len() > MAX_KEY_LEN {
        return Err(KeyError::TooLong(key.len()));
    }
    match key.bytes().position(|b| b < 0x20 || b == 0x7f) {
        Some(at) => Err(KeyError::ControlCharacter(at)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        assert_eq!(validate_key(&"k".repeat(MAX_KEY_LEN)), Ok(()));
        assert_eq!(
            validate_key(&"k".repeat(MAX_KEY_LEN + 1)),
            Err(KeyError::TooLong(MAX_KEY_LEN + 1))
        );
        assert_eq!(validate_key("\u{7f}"), Err(KeyError::ControlCharacter(0)));
        assert_eq!(validate_key("tab\tkey"), Err(KeyError::ControlCharacter(3)));
        assert_eq!(validate_key(" spaced key "), Ok(()));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn valid_exactly_when_the_rules_say(key in "\\PC{0,8}|[\\x00-\\x7f]{0,8}|.{1020,1030}") {
            let expected = !key.is_empty()
                && key.len() <= MAX_KEY_LEN
                && !key.bytes().any(|b| b < 0x20 || b == 0x7f);
            prop_assert_eq!(validate_key(&key).is_ok(), expected);
        }
    }
}
