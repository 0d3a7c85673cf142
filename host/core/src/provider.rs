//! The host-side provider trait every backend implements.

use crate::{Error, Item, KeyTtl, ProviderInfo, Result, ScanPage, Stats};
use async_trait::async_trait;
use bytes::Bytes;
use std::time::Duration;

/// Scan page size used by [`Provider::keys`].
pub const KEYS_PAGE: u32 = 1000;

/// A cache backend: the WIT `provider` interface as an async Rust trait.
///
/// Implemented by `byoc::WasmProvider` (a sandboxed component) and
/// [`NativeMemoryProvider`](crate::NativeMemoryProvider) (moka, in process). Object safe:
/// caches hold an `Arc<dyn Provider>`.
///
/// # Contract
///
/// Every implementation, native or wasm, behaves as follows; the conformance suite in
/// `tests/` checks each point.
///
/// - **Keys** are 1..=1024 bytes of UTF-8 without ASCII control characters
///   ([`byoc_common::validate_key`]); any other key fails with [`Error::InvalidKey`] and
///   the call has no effect.
/// - **Missing vs empty**: `get` of a missing or expired key is `Ok(None)`; the empty value
///   is a value.
/// - **TTL**: `None` means no expiry. A TTL is rounded up to whole milliseconds, so any
///   non-zero duration keeps the key at least 1 ms. `set` with a zero TTL fails with
///   [`Error::InvalidArgument`] (a zero TTL never means "forever"). `expire` with
///   `Some(Duration::ZERO)` deletes the key; `expire` with `None` removes the expiry.
///   An expired key is indistinguishable from a missing one.
/// - **Multi operations** keep the order of their input; `get_multi` answers `None` for
///   missing keys. `set_multi` validates every key and TTL before storing anything.
/// - **Scan** follows Redis `SCAN` with glob patterns (`*`, `?`, `[..]`, `\`): a key
///   present for the whole scan is returned exactly once; pages hold at most `count` keys
///   and may be empty before the cursor is `None`.
/// - **Values too large** for the provider fail with [`Error::ValueTooLarge`]; the
///   previous value, if any, is kept.
/// - A failed call leaves the cache as it was, except as the multi operations state.
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// The value under `key`, or `None` if missing or expired.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;

    /// [`get`](Provider::get) answered on the caller's thread, without an async frame,
    /// when the provider can answer at once (it never waits for it); `None` when it
    /// cannot this time (the answer would need a wait: call `get`). The same answer as
    /// `get` otherwise. Default: `None`.
    fn get_now(&self, key: &str) -> Option<Result<Option<Vec<u8>>>> {
        let _ = key;
        None
    }

    /// Stores `value` under `key` with an optional TTL (see the contract for zero).
    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()>;

    /// Removes `key`; whether a live key was removed.
    async fn delete(&self, key: &str) -> Result<bool>;

    /// Whether `key` holds a live value.
    async fn exists(&self, key: &str) -> Result<bool>;

    /// The values of `keys`, in order.
    async fn get_multi(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>>;

    /// [`get_multi`](Provider::get_multi) with values as [`Bytes`]: the same answer,
    /// without an allocation and a copy per value where the provider has the values in
    /// one buffer. A wasm adapter that exports the packed `bulk` interface answers in one
    /// buffer, and each value is a slice of it (so holding any one value keeps the whole
    /// answer's buffer alive: copy a small value you keep for long). The default wraps
    /// `get_multi`'s vectors (no copy). Wrappers forward it.
    async fn get_multi_bytes(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>> {
        let values = self.get_multi(keys).await?;
        Ok(values.into_iter().map(|v| v.map(Bytes::from)).collect())
    }

    /// Stores every item.
    async fn set_multi(&self, items: &[Item]) -> Result<()>;

    /// Removes every key; how many live keys were removed.
    async fn delete_multi(&self, keys: &[String]) -> Result<u64>;

    /// One page of the keys matching `pattern`; start with `cursor: None`.
    async fn scan(&self, pattern: &str, cursor: Option<&str>, count: u32) -> Result<ScanPage>;

    /// The remaining lifetime of `key`.
    async fn ttl(&self, key: &str) -> Result<KeyTtl>;

    /// Changes the lifetime of an existing key; whether it existed.
    async fn expire(&self, key: &str, ttl: Option<Duration>) -> Result<bool>;

    /// Removes every key of this provider.
    async fn clear(&self) -> Result<()>;

    /// Counters since the provider started.
    async fn stats(&self) -> Result<Stats>;

    /// Checks that the backend answers.
    async fn ping(&self) -> Result<()>;

    /// Atomically adds `delta` to the signed 64-bit integer stored under `key` as decimal
    /// ASCII text (as Redis `INCRBY` does) and returns the new value. A missing or expired
    /// key counts as 0 and is created with `ttl`; an existing key keeps its TTL. A value that
    /// is not such an integer, or an overflow, fails with [`Error::InvalidArgument`] and
    /// changes nothing. Default: [`Error::Unsupported`].
    async fn increment(&self, key: &str, delta: i64, ttl: Option<Duration>) -> Result<i64> {
        let _ = (key, delta, ttl);
        Err(Error::Unsupported("increment".into()))
    }

    /// Atomically stores `new` under `key` with `ttl` if the current value equals
    /// `expected` (`None`: the key is missing or expired); whether it stored. Default:
    /// [`Error::Unsupported`].
    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool> {
        let _ = (key, expected, new, ttl);
        Err(Error::Unsupported("compare-and-swap".into()))
    }

    /// Name, version and native capabilities.
    fn info(&self) -> ProviderInfo;

    /// The longest one call may take before it fails with [`Error::DeadlineExceeded`], if
    /// the provider bounds it: a wasm provider's
    /// `Limits::call_deadline`. A wrapper's default deadline
    /// is set beyond the longest of its layers' (see
    /// `Limits::for_wrapper_over`), so wrappers forward
    /// this. Default: `None` (not bounded by the provider, e.g. one in the host's memory).
    fn call_deadline(&self) -> Option<Duration> {
        None
    }

    /// Every key matching `pattern`, gathered from [`scan`](Provider::scan) pages of
    /// [`KEYS_PAGE`] keys. Prefer `scan` for large key sets.
    async fn keys(&self, pattern: &str) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.scan(pattern, cursor.as_deref(), KEYS_PAGE).await?;
            keys.extend(page.keys);
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(keys),
            }
        }
    }
}

/// A TTL for `set` in whole milliseconds, rounded up; zero is rejected.
pub fn set_ttl_ms(ttl: Option<Duration>) -> Result<Option<u64>> {
    match ttl {
        None => Ok(None),
        Some(d) if d.is_zero() => Err(Error::InvalidArgument(
            "a TTL of zero is not allowed; pass None to store without expiry".into(),
        )),
        Some(d) => Ok(Some(duration_ms_ceil(d))),
    }
}

/// A TTL for `expire` in whole milliseconds, rounded up; zero stays zero (delete now).
pub fn expire_ttl_ms(ttl: Option<Duration>) -> Option<u64> {
    ttl.map(duration_ms_ceil)
}

/// `d` in whole milliseconds, rounded up (so no non-zero duration becomes 0).
pub fn duration_ms_ceil(d: Duration) -> u64 {
    let micros = d.as_micros();
    u64::try_from(micros.div_ceil(1000)).unwrap_or(u64::MAX)
}

/// A multi-key read in flight (the future an `async_trait` method returns).
pub type MultiRead<'a, V> =
    std::pin::Pin<Box<dyn Future<Output = Result<Vec<Option<V>>>> + Send + 'a>>;

/// What a multi-key read answers with: owned vectors ([`Provider::get_multi`]) or shared
/// [`Bytes`] ([`Provider::get_multi_bytes`]). Lets one implementation serve both.
pub trait MultiValue: AsRef<[u8]> + Sized + Clone + Send + 'static {
    /// From an owned vector (no copy).
    fn from_vec(v: Vec<u8>) -> Self;
    /// `part`, which is a slice of `buf` (a copy for a vector, a shared slice for `Bytes`).
    fn from_shared(buf: &Bytes, part: &[u8]) -> Self;
    /// `p`'s multi-key read of this value type.
    fn get_multi<'a>(p: &'a dyn Provider, keys: &'a [String]) -> MultiRead<'a, Self>;
}

impl MultiValue for Vec<u8> {
    fn from_vec(v: Vec<u8>) -> Self {
        v
    }
    fn from_shared(_buf: &Bytes, part: &[u8]) -> Self {
        part.to_vec()
    }
    fn get_multi<'a>(p: &'a dyn Provider, keys: &'a [String]) -> MultiRead<'a, Self> {
        p.get_multi(keys)
    }
}

impl MultiValue for Bytes {
    fn from_vec(v: Vec<u8>) -> Self {
        Bytes::from(v)
    }
    fn from_shared(buf: &Bytes, part: &[u8]) -> Self {
        buf.slice_ref(part)
    }
    fn get_multi<'a>(p: &'a dyn Provider, keys: &'a [String]) -> MultiRead<'a, Self> {
        p.get_multi_bytes(keys)
    }
}
