//! Rules of the BYOC provider contract that both sides of the sandbox apply the same way.
//!
//! The host validates keys before a call enters an adapter, and the guest SDK validates them
//! again inside it (an adapter may be driven by another host). Both use this crate, so the
//! two can never disagree.
//!
//! ```
//! use byoc_common::{glob_match, validate_key};
//!
//! assert!(validate_key("user:42").is_ok());
//! assert!(validate_key("").is_err());
//! assert!(glob_match("user:*", "user:42"));
//! assert!(!glob_match("user:?", "user:42"));
//! ```
#![forbid(unsafe_code)]

mod glob;
mod key;
pub mod packed;
mod scan;
mod seed;

pub use glob::{GlobError, MAX_PATTERN_LEN, escape_glob, glob_match, validate_pattern};
pub use key::{KeyError, MAX_KEY_LEN, validate_key};
pub use packed::PackError;
pub use scan::{EXAMINE_PER_RESULT, ScanCursor, SortedPage};
pub use seed::hash_seed;

/// The version of the WIT package `byoc:cache` this code implements.
pub const CONTRACT_VERSION: &str = "0.1.0";
