//! Typed caches: [`Contract<T>`] defines one, [`Cache<T>`] uses it.

use crate::serializer::{Postcard, Serializer};
use crate::swap::SwapPoint;
use crate::{Item, KeyTtl, Provider, Result, ScanPage, Stats};
use byoc_common::escape_glob;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Name of the extra stats counter of entries that no longer decoded as `T`.
pub const DECODE_FAILURES: &str = "cache.decode-failures";

/// The definition of a typed cache: a name, a provider, and the options every operation
/// uses (key prefix, default TTL, serializer). Build one, then call [`cache`](Contract::cache).
///
/// Each contract is bound to one type `T` at compile time: a `Cache<User>` only takes and
/// returns `User`s.
///
/// ```
/// # async fn demo() -> byoc_core::Result<()> {
/// use byoc_core::{Contract, Json, NativeMemoryProvider};
/// use serde::{Deserialize, Serialize};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// #[derive(Serialize, Deserialize, PartialEq, Debug)]
/// struct Session { user: u64 }
///
/// let provider = Arc::new(NativeMemoryProvider::new(Default::default()));
/// let sessions = Contract::<Session>::new("sessions", provider)
///     .key_prefix("session:")
///     .default_ttl(Duration::from_secs(1800))
///     .serializer(Json)
///     .cache();
/// sessions.set("abc", &Session { user: 7 }, None).await?;
/// assert_eq!(sessions.get("abc").await?, Some(Session { user: 7 }));
/// # Ok(()) }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo()).unwrap();
/// ```
#[must_use]
pub struct Contract<T> {
    name: String,
    provider: Arc<dyn Provider>,
    key_prefix: String,
    default_ttl: Option<Duration>,
    serializer: Arc<dyn Serializer<T>>,
    /// Get-or-load, fail-safe, refresh-ahead... options (builder methods in `load.rs`).
    pub(crate) sem: crate::load::Options,
}

impl<T: Serialize + DeserializeOwned + Send + Sync + 'static> Contract<T> {
    /// A contract named `name` over `provider`: no key prefix, no default TTL (entries
    /// never expire unless a TTL is given), postcard serialization.
    pub fn new(name: impl Into<String>, provider: Arc<dyn Provider>) -> Self {
        Contract {
            name: name.into(),
            provider,
            key_prefix: String::new(),
            default_ttl: None,
            serializer: Arc::new(Postcard),
            sem: Default::default(),
        }
    }

    /// Prepended to every key in the provider; `keys`, `scan` and `clear` see only keys
    /// with this prefix, and report them without it.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// The TTL of `set` calls that give none. A zero duration is rejected when used.
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = Some(ttl);
        self
    }

    /// How values are encoded (default [`Postcard`]).
    pub fn serializer(mut self, serializer: impl Serializer<T>) -> Self {
        self.serializer = Arc::new(serializer);
        self
    }

    /// The cache handle. Cheap to clone; clones share the provider, so a
    /// [`swap_provider`](Cache::swap_provider) on one is seen by all.
    pub fn cache(self) -> Cache<T> {
        Cache {
            inner: Arc::new(Inner {
                name: self.name,
                provider: SwapPoint::new(self.provider),
                key_prefix: self.key_prefix,
                default_ttl: self.default_ttl,
                serializer: self.serializer,
                decode_failures: AtomicU64::new(0),
                sem: crate::load::State::new(self.sem),
            }),
            _type: PhantomData,
        }
    }
}

pub(crate) struct Inner<T> {
    pub(crate) name: String,
    provider: SwapPoint,
    pub(crate) key_prefix: String,
    default_ttl: Option<Duration>,
    pub(crate) serializer: Arc<dyn Serializer<T>>,
    pub(crate) decode_failures: AtomicU64,
    pub(crate) sem: crate::load::State<T>,
}

/// A typed cache; see [`Contract`]. Every key given to it is prefixed with the contract's
/// key prefix before it reaches the provider.
///
/// A cache is bound to its type at compile time: a `Cache<User>` neither takes nor
/// returns any other type.
///
/// ```compile_fail
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize)] struct User { id: u64 }
/// # #[derive(Serialize, Deserialize)] struct Session { token: String }
/// async fn mix_up(users: byoc_core::Cache<User>) -> byoc_core::Result<()> {
///     users.set("s", &Session { token: "t".into() }, None).await // error: expected `&User`
/// }
/// ```
///
/// ```compile_fail
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize)] struct User { id: u64 }
/// # #[derive(Serialize, Deserialize)] struct Session { token: String }
/// async fn mix_up(users: byoc_core::Cache<User>) -> byoc_core::Result<Option<Session>> {
///     users.get("s").await // error: expected `Option<Session>`, found `Option<User>`
/// }
/// ```
pub struct Cache<T> {
    pub(crate) inner: Arc<Inner<T>>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for Cache<T> {
    fn clone(&self) -> Self {
        Cache {
            inner: Arc::clone(&self.inner),
            _type: PhantomData,
        }
    }
}

impl<T: 'static> std::fmt::Debug for Cache<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("name", &self.inner.name)
            .field("provider", &self.inner.provider.load().info().name)
            .field("key_prefix", &self.inner.key_prefix)
            .field("default_ttl", &self.inner.default_ttl)
            .field("serializer", &self.inner.serializer.name())
            .finish()
    }
}

/// First byte of every typed entry.
const MAGIC: u8 = 0xB7;
/// Version of the typed-entry header.
const HEADER_VERSION: u8 = 1;
/// Bytes of the header: magic, version, serializer id, 4-byte type tag.
pub(crate) const HEADER_LEN: usize = 7;

/// If `bytes` is an entry written by a typed [`Cache`], the id of its serializer (1
/// postcard, 2 JSON, 128 and up custom) and its payload; `None` for any other bytes.
/// What `byoc get` uses to show typed entries.
///
/// ```
/// # async fn demo() -> byoc_core::Result<()> {
/// use byoc_core::{Contract, Json, NativeMemoryProvider, Provider, typed_payload};
/// use std::sync::Arc;
///
/// let provider = Arc::new(NativeMemoryProvider::new(Default::default()));
/// let cache = Contract::<Vec<u32>>::new("c", provider.clone()).serializer(Json).cache();
/// cache.set("k", &vec![1, 2], None).await?;
/// let raw = provider.get("k").await?.expect("stored");
/// assert_eq!(typed_payload(&raw), Some((2, &b"[1,2]"[..])));
/// assert_eq!(typed_payload(b"plain"), None);
/// # Ok(()) }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo()).unwrap();
/// ```
///
/// For an entry with an envelope (logical expiry, tags; see `docs/cache-semantics.md`),
/// the payload is the serialized value after the envelope (empty for a cached "not
/// found").
pub fn typed_payload(bytes: &[u8]) -> Option<(u8, &[u8])> {
    let (header, payload) = bytes.split_at_checked(HEADER_LEN)?;
    if header[0] != MAGIC {
        return None;
    }
    match header[1] {
        HEADER_VERSION => Some((header[2], payload)),
        crate::entry::ENVELOPE_VERSION => Some((header[2], crate::entry::read(payload)?.value)),
        _ => None,
    }
}

/// A 32-bit FNV-1a hash of `T`'s type name: entries written for another type read as
/// misses. (A type renamed or moved, or a compiler that names it differently, also turns
/// old entries into misses — harmless for a cache.)
fn type_tag<T>() -> [u8; 4] {
    let mut hash: u32 = 0x811c_9dc5;
    for b in std::any::type_name::<T>().bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash.to_le_bytes()
}

impl<T: Serialize + DeserializeOwned + Send + Sync + 'static> Cache<T> {
    pub(crate) fn provider(&self) -> Arc<dyn Provider> {
        self.inner.provider.load()
    }

    pub(crate) fn key(&self, key: &str) -> String {
        let mut full = String::with_capacity(self.inner.key_prefix.len() + key.len());
        full.push_str(&self.inner.key_prefix);
        full.push_str(key);
        full
    }

    fn strip<'k>(&self, key: &'k str) -> &'k str {
        key.strip_prefix(self.inner.key_prefix.as_str())
            .unwrap_or(key)
    }

    /// `ttl`, or the default; lengthened by the contract's TTL jitter, if any.
    pub(crate) fn ttl_or_default(&self, ttl: Option<Duration>) -> Option<Duration> {
        self.jitter(ttl.or(self.inner.default_ttl))
    }

    /// The header every typed entry of this cache starts with.
    pub(crate) fn header(&self) -> [u8; HEADER_LEN] {
        let tag = type_tag::<T>();
        let id = self.inner.serializer.id();
        [MAGIC, HEADER_VERSION, id, tag[0], tag[1], tag[2], tag[3]]
    }

    pub(crate) fn encode(&self, value: &T) -> Result<Vec<u8>> {
        let payload = self.inner.serializer.encode(value)?;
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
        out.extend_from_slice(&self.header());
        out.extend_from_slice(&payload);
        Ok(out)
    }

    pub(crate) fn decode(&self, bytes: Option<&[u8]>) -> Option<T> {
        let bytes = bytes?;
        let decoded = match bytes.split_at_checked(HEADER_LEN) {
            Some((header, payload)) if header == self.header() => {
                self.inner.serializer.decode(payload).ok()
            }
            _ => None,
        };
        if decoded.is_none() {
            self.inner.decode_failures.fetch_add(1, Ordering::Relaxed);
        }
        decoded
    }

    /// The cache's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The value under `key`. A missing or expired key, or a stored value that does not
    /// decode as `T`, is `None` (the latter counted in [`stats`](Cache::stats) as
    /// [`DECODE_FAILURES`]).
    ///
    /// Typed entries are stored as a 7-byte header (a magic byte, a format version, the
    /// serializer's [`id`](Serializer::id) and a tag of `T`'s type name) followed by the
    /// serialized value, so a value written by another serializer or for another type,
    /// or raw bytes, read as misses instead of decoding into garbage.
    ///
    /// Entries of a cache with semantics options (fail-safe, refresh-ahead, negative
    /// caching) or written with tags carry an envelope (see `docs/cache-semantics.md`):
    /// one past its logical TTL, a cached "not found", or one whose tag was invalidated
    /// reads as `None`.
    pub async fn get(&self, key: &str) -> Result<Option<T>> {
        let bytes = self.read(&self.key(key)).await?;
        match bytes.as_deref() {
            Some(b) if Self::is_enveloped(b) => self.read_enveloped(b).await,
            b => Ok(self.decode(b)),
        }
    }

    /// Stores `value` under `key`; `ttl: None` uses the contract's default TTL (and no
    /// expiry if it has none).
    pub async fn set(&self, key: &str, value: &T, ttl: Option<Duration>) -> Result<()> {
        let (bytes, ttl) = self.encode_entry(Some(value), self.ttl_or_default(ttl), &[])?;
        self.provider().set(&self.key(key), &bytes, ttl).await
    }

    /// The values of `keys`, in order (`None` as in [`get`](Cache::get)), in one provider
    /// call ([`Provider::get_multi_bytes`]: decoded from the provider's buffer, no copy
    /// of each value first).
    pub async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<T>>> {
        let full: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        let values = self.provider().get_multi_bytes(&full).await?;
        if values.iter().flatten().any(|v| Self::is_enveloped(v)) {
            let slices: Vec<Option<&[u8]>> = values.iter().map(|v| v.as_deref()).collect();
            return self.read_enveloped_many(&slices).await;
        }
        Ok(values.iter().map(|v| self.decode(v.as_deref())).collect())
    }

    /// Stores every `(key, value)` with the same TTL (`None`: the default), in one provider
    /// call.
    pub async fn set_many(&self, entries: &[(&str, &T)], ttl: Option<Duration>) -> Result<()> {
        let items = entries
            .iter()
            .map(|(k, v)| {
                let (bytes, ttl) = self.encode_entry(Some(v), self.ttl_or_default(ttl), &[])?;
                Ok(Item::new(self.key(k), bytes, ttl))
            })
            .collect::<Result<Vec<_>>>()?;
        self.provider().set_multi(&items).await
    }

    /// Atomically adds `delta` to the counter under `key` and returns the new value
    /// ([`Provider::increment`]); a missing key starts at 0 and is created with `ttl`
    /// (`None`: the contract's default TTL), an existing one keeps its TTL.
    ///
    /// A counter is not a typed entry: it is stored as decimal text (as Redis `INCRBY`
    /// keeps it, so other clients of the backend read it), without the typed header, so
    /// [`get`](Cache::get) reads it as a miss and [`get_raw`](Cache::get_raw) shows it.
    /// A provider without atomics answers [`Error::Unsupported`](crate::Error::Unsupported).
    pub async fn increment(&self, key: &str, delta: i64, ttl: Option<Duration>) -> Result<i64> {
        self.provider()
            .increment(&self.key(key), delta, self.ttl_or_default(ttl))
            .await
    }

    /// Atomically stores `new` under `key` if the current value is `expected` (`None`:
    /// the key is missing or expired) and answers whether it stored
    /// ([`Provider::compare_and_swap`]); `ttl: None` uses the contract's default TTL.
    ///
    /// The comparison is of the serialized bytes (header included), not of `T` values:
    /// it matches when `expected` serializes exactly as the stored value did, which holds
    /// for a value read from this cache and for types whose serialization is canonical
    /// (not, for example, a `HashMap` under JSON, whose field order may vary).
    pub async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&T>,
        new: &T,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        let expected = expected.map(|v| self.encode(v)).transpose()?;
        let new = self.encode(new)?;
        self.provider()
            .compare_and_swap(
                &self.key(key),
                expected.as_deref(),
                &new,
                self.ttl_or_default(ttl),
            )
            .await
    }

    /// The raw bytes under `key`, without decoding (typed entries include their header).
    pub async fn get_raw(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.read(&self.key(key)).await
    }

    /// The provider's bytes under the namespaced key `full`. A provider that answers at
    /// once (an in-memory one) skips the async call and its boxed future.
    pub(crate) async fn read(&self, full: &str) -> Result<Option<Vec<u8>>> {
        // A provider that answers at once (an in-memory one) skips the async call, and
        // the provider's reference count (see `SwapPoint::get_now`).
        match self.inner.provider.get_now(full) {
            Some(answer) => {
                // An answer at once never yields by itself: tokio's cooperative budget
                // makes a task that loops over hits give way to others now and then.
                tokio::task::consume_budget().await;
                answer
            }
            None => self.provider().get(full).await,
        }
    }

    /// Stores raw bytes under `key` (`ttl: None`: the default TTL). A later
    /// [`get`](Cache::get) reads them as a miss unless they are a typed entry of this
    /// cache (as [`get_raw`](Cache::get_raw) returns them).
    pub async fn set_raw(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        self.provider()
            .set(&self.key(key), value, self.ttl_or_default(ttl))
            .await
    }

    /// Removes `key`; whether a live key was removed.
    pub async fn delete(&self, key: &str) -> Result<bool> {
        self.provider().delete(&self.key(key)).await
    }

    /// Whether `key` holds a live value (whether or not it decodes).
    pub async fn exists(&self, key: &str) -> Result<bool> {
        self.provider().exists(&self.key(key)).await
    }

    /// The remaining lifetime of `key`.
    pub async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        self.provider().ttl(&self.key(key)).await
    }

    /// Changes the lifetime of `key` (`Some(ZERO)` deletes it, `None` removes the expiry);
    /// whether it existed.
    pub async fn expire(&self, key: &str, ttl: Option<Duration>) -> Result<bool> {
        self.provider().expire(&self.key(key), ttl).await
    }

    /// One page of this cache's keys matching `pattern` (without the prefix).
    pub async fn scan(&self, pattern: &str, cursor: Option<&str>, count: u32) -> Result<ScanPage> {
        let pattern = format!("{}{pattern}", escape_glob(&self.inner.key_prefix));
        let mut page = self.provider().scan(&pattern, cursor, count).await?;
        for key in &mut page.keys {
            *key = self.strip(key).to_owned();
        }
        Ok(page)
    }

    /// Every key of this cache matching `pattern` (without the prefix).
    pub async fn keys(&self, pattern: &str) -> Result<Vec<String>> {
        let pattern = format!("{}{pattern}", escape_glob(&self.inner.key_prefix));
        let keys = self.provider().keys(&pattern).await?;
        Ok(keys.iter().map(|k| self.strip(k).to_owned()).collect())
    }

    /// Removes every key of this cache: with a key prefix, only the keys under it (scanned
    /// and deleted in pages); without one, everything in the provider.
    pub async fn clear(&self) -> Result<()> {
        let provider = self.provider();
        if self.inner.key_prefix.is_empty() {
            return provider.clear().await;
        }
        let pattern = format!("{}*", escape_glob(&self.inner.key_prefix));
        // Collect first: deleting while scanning may skip keys in some providers.
        let keys = provider.keys(&pattern).await?;
        for chunk in keys.chunks(crate::provider::KEYS_PAGE as usize) {
            provider.delete_multi(chunk).await?;
        }
        Ok(())
    }

    /// The provider's counters, plus [`DECODE_FAILURES`] and this handle's semantics
    /// counters ([`LOADS`](crate::LOADS), [`LOAD_JOINS`](crate::LOAD_JOINS),
    /// [`STALE_SERVED`](crate::STALE_SERVED), [`REFRESHES`](crate::REFRESHES),
    /// [`TAG_CHECKS`](crate::TAG_CHECKS) and the others in `byoc`'s constants).
    pub async fn stats(&self) -> Result<Stats> {
        let mut stats = self.provider().stats().await?;
        stats.extra.push((
            DECODE_FAILURES.to_owned(),
            self.inner.decode_failures.load(Ordering::Relaxed),
        ));
        stats.extra.extend(self.inner.sem.extras());
        Ok(stats)
    }

    /// Checks that the provider answers.
    pub async fn ping(&self) -> Result<()> {
        self.provider().ping().await
    }

    /// Replaces the provider. Calls already running finish on the old provider; calls
    /// started afterwards use the new one. Returns the old provider. Entries are not
    /// copied. (The cache swaps through a [`SwapPoint`], as
    /// [`SwapProvider`](crate::SwapProvider) does.)
    pub fn swap_provider(&self, provider: Arc<dyn Provider>) -> Arc<dyn Provider> {
        self.inner.provider.swap(provider)
    }

    /// The provider in use now.
    pub fn current_provider(&self) -> Arc<dyn Provider> {
        self.provider()
    }
}
