//! The layers below a wrapper (the WIT `inner` import), as plain functions.
//!
//! Layer 0 is the first provider in the wrapper's `inner:` configuration. Calling these
//! from an adapter (not a wrapper) makes the component import `byoc:cache/inner`, which
//! the host then satisfies with zero layers (every call fails with `invalid-argument`).

use crate::bindings::byoc::cache::inner as wit;
use crate::{Error, Item, KeyTtl, ProviderInfo, Result, ScanPage, Stats};

/// How many layers the host gave this wrapper.
pub fn layers() -> u32 {
    wit::layers()
}

/// Checks, in a two-layer wrapper's `open`, that the host gave it exactly two layers:
/// otherwise `invalid-config` naming `wrapper` and its layers' roles (`first`, `second`).
pub fn expect_two_layers(wrapper: &str, first: &str, second: &str) -> Result<()> {
    match layers() {
        2 => Ok(()),
        n => Err(Error::InvalidConfig(format!(
            "{wrapper} needs exactly two inner layers ({first}, {second}), got {n}"
        ))),
    }
}

/// `get` on `layer`.
pub fn get(layer: u32, key: &str) -> Result<Option<Vec<u8>>> {
    wit::get(layer, key)
}

/// `set` on `layer` (`ttl` in ms, `None`: no expiry).
pub fn set(layer: u32, key: &str, value: &[u8], ttl: Option<u64>) -> Result<()> {
    wit::set(layer, key, value, ttl)
}

/// `delete` on `layer`.
pub fn delete(layer: u32, key: &str) -> Result<bool> {
    wit::delete(layer, key)
}

/// `exists` on `layer`.
pub fn exists(layer: u32, key: &str) -> Result<bool> {
    wit::exists(layer, key)
}

/// `get-multi` on `layer`.
pub fn get_multi(layer: u32, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
    wit::get_multi(layer, keys)
}

/// `set-multi` on `layer`.
pub fn set_multi(layer: u32, items: &[Item]) -> Result<()> {
    wit::set_multi(layer, items)
}

/// `delete-multi` on `layer`.
pub fn delete_multi(layer: u32, keys: &[String]) -> Result<u64> {
    wit::delete_multi(layer, keys)
}

/// `scan` on `layer`.
pub fn scan(layer: u32, pattern: &str, cursor: Option<&str>, count: u32) -> Result<ScanPage> {
    wit::scan(layer, pattern, cursor, count)
}

/// `ttl` on `layer`.
pub fn ttl(layer: u32, key: &str) -> Result<KeyTtl> {
    wit::ttl(layer, key)
}

/// `expire` on `layer`.
pub fn expire(layer: u32, key: &str, ttl: Option<u64>) -> Result<bool> {
    wit::expire(layer, key, ttl)
}

/// `clear` on `layer`.
pub fn clear(layer: u32) -> Result<()> {
    wit::clear(layer)
}

/// `stats` on `layer`.
pub fn stats(layer: u32) -> Result<Stats> {
    wit::stats(layer)
}

/// `ping` on `layer`.
pub fn ping(layer: u32) -> Result<()> {
    wit::ping(layer)
}

/// `info` on `layer`.
pub fn info(layer: u32) -> Result<ProviderInfo> {
    wit::info(layer)
}

/// Whether `layer` implements the optional atomics (`increment`, `compare-and-swap`).
pub fn atomics_supported(layer: u32) -> bool {
    wit::atomics_supported(layer)
}

/// `increment` on `layer` (`ttl` in ms for a key it creates).
pub fn increment(layer: u32, key: &str, delta: i64, ttl: Option<u64>) -> Result<i64> {
    wit::increment(layer, key, delta, ttl)
}

/// `compare-and-swap` on `layer`.
pub fn compare_and_swap(
    layer: u32,
    key: &str,
    expected: Option<&[u8]>,
    new: &[u8],
    ttl: Option<u64>,
) -> Result<bool> {
    wit::compare_and_swap(layer, key, expected, new, ttl)
}
