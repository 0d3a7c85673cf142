//! [`Layer`]: a provider built over another one, forwarding every call it does not change.
//!
//! A layer names the provider below ([`Layer::below`]) and overrides only what it adds:
//! hooks run before and after every forwarded call ([`Layer::before`], [`Layer::after`]),
//! one wraps the whole call ([`Layer::around`]), and any operation can be replaced
//! outright (a near cache answers `get` itself). Every type that implements `Layer` is a
//! [`Provider`]. Calls are described by [`Call`]: the [`Op`] and the keys it touches.
//!
//! Cost: the hooks are statically dispatched and their defaults are ready futures, so a
//! forwarded call allocates exactly what the provider below allocates, plus the one box
//! `async_trait` makes for the layer's own `Provider` method (as a hand-written wrapper
//! does). Nothing here locks.
//!
//! Adding an operation to [`Provider`]: one line in the `ops!` list below, one default
//! method in [`Layer`] and one forwarding method in the blanket `Provider` impl.

use crate::{Capability, Item, KeyTtl, Provider, ProviderInfo, Result, ScanPage, Stats};
use bytes::Bytes;
use std::future::{Future, ready};
use std::ops::Deref;
use std::time::Duration;

/// What an operation does to the keys it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OpKind {
    /// Reads keys or values and changes nothing.
    Read,
    /// Changes (or removes) the keys it names; [`Keys::All`] for every key.
    Write,
    /// Touches no key: counters, health.
    Other,
}

macro_rules! ops {
    ($($(#[$doc:meta])* $variant:ident = $name:literal, $kind:ident, $cap:expr;)*) => {
        /// One operation of the [`Provider`] contract, as layers, metrics and test
        /// doubles see it. `get_multi_bytes` is [`Op::GetMulti`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Op {
            $($(#[$doc])* $variant,)*
        }

        impl Op {
            /// Every operation, in contract order ([`Op::index`] is the position here).
            pub const ALL: [Op; [$(Op::$variant),*].len()] = [$(Op::$variant),*];

            /// The operation's name, as in the WIT interface and metric labels (`get`,
            /// `get_multi`, ...).
            pub const fn name(self) -> &'static str {
                match self {
                    $(Op::$variant => $name,)*
                }
            }

            /// Whether it reads, writes or touches no key.
            pub const fn kind(self) -> OpKind {
                match self {
                    $(Op::$variant => OpKind::$kind,)*
                }
            }

            /// The capability a provider may implement natively for it (`ping` has none).
            pub const fn capability(self) -> Option<Capability> {
                match self {
                    $(Op::$variant => $cap,)*
                }
            }
        }
    };
}

ops! {
    /// `get`
    Get = "get", Read, Some(Capability::Get);
    /// `set`
    Set = "set", Write, Some(Capability::Set);
    /// `delete`
    Delete = "delete", Write, Some(Capability::Delete);
    /// `exists`
    Exists = "exists", Read, Some(Capability::Exists);
    /// `get_multi` and `get_multi_bytes`
    GetMulti = "get_multi", Read, Some(Capability::GetMulti);
    /// `set_multi`
    SetMulti = "set_multi", Write, Some(Capability::SetMulti);
    /// `delete_multi`
    DeleteMulti = "delete_multi", Write, Some(Capability::DeleteMulti);
    /// `scan`
    Scan = "scan", Read, Some(Capability::Scan);
    /// `ttl`
    Ttl = "ttl", Read, Some(Capability::Ttl);
    /// `expire`
    Expire = "expire", Write, Some(Capability::Expire);
    /// `clear`
    Clear = "clear", Write, Some(Capability::Clear);
    /// `stats`
    Stats = "stats", Other, Some(Capability::Stats);
    /// `ping`
    Ping = "ping", Other, None;
    /// `increment`
    Increment = "increment", Write, Some(Capability::Atomics);
    /// `compare_and_swap`
    CompareAndSwap = "compare_and_swap", Write, Some(Capability::Atomics);
}

impl Op {
    /// Position in [`Op::ALL`]: an index into a per-operation table.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Whether it changes the keys it names ([`OpKind::Write`]).
    pub const fn is_write(self) -> bool {
        matches!(self.kind(), OpKind::Write)
    }
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The keys one call names.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Keys<'a> {
    /// None (`scan`, `stats`, `ping`).
    None,
    /// One key.
    One(&'a str),
    /// Several keys (`get_multi`, `delete_multi`).
    Many(&'a [String]),
    /// The keys of these items (`set_multi`).
    Items(&'a [Item]),
    /// Every key (`clear`).
    All,
}

impl<'a> Keys<'a> {
    /// The keys named one by one (none for [`Keys::All`]).
    pub fn iter(self) -> impl Iterator<Item = &'a str> + 'a {
        let (one, many, items) = match self {
            Keys::One(k) => (Some(k), &[][..], &[][..]),
            Keys::Many(ks) => (None, ks, &[][..]),
            Keys::Items(items) => (None, &[][..], items),
            Keys::None | Keys::All => (None, &[][..], &[][..]),
        };
        one.into_iter()
            .chain(many.iter().map(String::as_str))
            .chain(items.iter().map(|i| i.key.as_str()))
    }
}

/// One call as a layer's hooks see it: the operation and the keys it names.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    op: Op,
    keys: Keys<'a>,
}

impl<'a> Call<'a> {
    /// A call of `op` naming `keys`.
    pub const fn new(op: Op, keys: Keys<'a>) -> Self {
        Call { op, keys }
    }

    /// The operation.
    pub const fn op(&self) -> Op {
        self.op
    }

    /// The keys it names.
    pub const fn keys(&self) -> Keys<'a> {
        self.keys
    }
}

/// A successful answer of some operation, as [`Layer::around`] and [`Layer::after`] see
/// it: opaque but for what reads found.
pub trait Answer: Send + Sync {
    /// For a read of values (`get`, `get_multi`): how many keys were found and how many
    /// were missing. `None` for every other answer.
    fn found(&self) -> Option<(u64, u64)> {
        None
    }
}

impl<V: Send + Sync> Answer for Option<V> {
    fn found(&self) -> Option<(u64, u64)> {
        Some(if self.is_some() { (1, 0) } else { (0, 1) })
    }
}

impl<V: Send + Sync> Answer for Vec<Option<V>> {
    fn found(&self) -> Option<(u64, u64)> {
        let hits = self.iter().filter(|v| v.is_some()).count() as u64;
        Some((hits, self.len() as u64 - hits))
    }
}

impl Answer for () {}
impl Answer for bool {}
impl Answer for u64 {}
impl Answer for i64 {}
impl Answer for ScanPage {}
impl Answer for KeyTtl {}
impl Answer for Stats {}

/// The default body of a forwarded operation: hooks around the call below.
macro_rules! forward {
    ($layer:ident, $op:ident, $keys:expr, |$p:ident| $call:expr) => {{
        let call = Call::new(Op::$op, $keys);
        $layer.around(call, async move {
            $layer.before(call).await?;
            let out = {
                let $p = $layer.below();
                $call.await
            };
            $layer.after(call, &out).await;
            out
        })
    }};
}

/// A provider built over another one; every `Layer` is a [`Provider`].
///
/// Every operation has a default that forwards to [`below`](Layer::below) inside the
/// hooks: `around(call, { before(call)?; below.op(..); after(call, answer) })`. A layer
/// overrides the hooks to add behaviour to every call, and an operation to replace it
/// (an override runs no hook unless it calls them). `info` and `call_deadline` forward.
///
/// ```
/// # async fn demo() -> byoc_core::Result<()> {
/// use byoc_core::layer::{Answer, Call, Layer};
/// use byoc_core::{NativeMemoryProvider, Provider, Result};
/// use std::sync::{Arc, atomic::{AtomicU64, Ordering}};
///
/// /// Counts writes.
/// struct Writes(Arc<dyn Provider>, AtomicU64);
///
/// impl Layer for Writes {
///     type Below<'a> = &'a dyn Provider;
///     fn below(&self) -> &dyn Provider {
///         &*self.0
///     }
///     async fn after<T: Answer>(&self, call: Call<'_>, _answer: &Result<T>) {
///         if call.op().is_write() {
///             self.1.fetch_add(1, Ordering::Relaxed);
///         }
///     }
/// }
///
/// let below = Arc::new(NativeMemoryProvider::new(Default::default()));
/// let writes = Arc::new(Writes(below, AtomicU64::new(0)));
/// // A layer is a provider. (Call it as one: its `Layer` methods have the same names.)
/// let cache: Arc<dyn Provider> = writes.clone();
/// cache.set("k", b"v", None).await?;
/// assert_eq!(cache.get("k").await?, Some(b"v".to_vec()));
/// assert_eq!(writes.1.load(Ordering::Relaxed), 1);
/// # Ok(()) }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo()).unwrap();
/// ```
pub trait Layer: Send + Sync + 'static {
    /// How the provider below is held during one call: a reference, or an `Arc` for a
    /// provider that can be replaced meanwhile.
    type Below<'a>: Deref<Target = dyn Provider> + Send
    where
        Self: 'a;

    /// The provider a call that starts now goes to.
    fn below(&self) -> Self::Below<'_>;

    /// Wraps a whole forwarded call (its hooks included). Default: nothing.
    fn around<T, F>(&self, call: Call<'_>, inner: F) -> impl Future<Output = Result<T>> + Send
    where
        T: Answer,
        F: Future<Output = Result<T>> + Send,
    {
        let _ = call;
        inner
    }

    /// Runs before a forwarded call reaches the provider below; an error is the call's
    /// answer and the provider below is not called. Default: nothing.
    fn before(&self, call: Call<'_>) -> impl Future<Output = Result<()>> + Send {
        let _ = call;
        ready(Ok(()))
    }

    /// Runs once the provider below has answered a forwarded call (either way), before
    /// the answer is returned. Default: nothing.
    fn after<T: Answer>(
        &self,
        call: Call<'_>,
        answer: &Result<T>,
    ) -> impl Future<Output = ()> + Send {
        let _ = (call, answer);
        ready(())
    }

    /// [`Provider::get`].
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<Vec<u8>>>> + Send {
        forward!(self, Get, Keys::One(key), |p| p.get(key))
    }

    /// [`Provider::set`].
    fn set(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> impl Future<Output = Result<()>> + Send {
        forward!(self, Set, Keys::One(key), |p| p.set(key, value, ttl))
    }

    /// [`Provider::delete`].
    fn delete(&self, key: &str) -> impl Future<Output = Result<bool>> + Send {
        forward!(self, Delete, Keys::One(key), |p| p.delete(key))
    }

    /// [`Provider::exists`].
    fn exists(&self, key: &str) -> impl Future<Output = Result<bool>> + Send {
        forward!(self, Exists, Keys::One(key), |p| p.exists(key))
    }

    /// [`Provider::get_multi`].
    fn get_multi(
        &self,
        keys: &[String],
    ) -> impl Future<Output = Result<Vec<Option<Vec<u8>>>>> + Send {
        forward!(self, GetMulti, Keys::Many(keys), |p| p.get_multi(keys))
    }

    /// [`Provider::get_multi_bytes`] (hooks see [`Op::GetMulti`]).
    fn get_multi_bytes(
        &self,
        keys: &[String],
    ) -> impl Future<Output = Result<Vec<Option<Bytes>>>> + Send {
        forward!(self, GetMulti, Keys::Many(keys), |p| p
            .get_multi_bytes(keys))
    }

    /// [`Provider::set_multi`].
    fn set_multi(&self, items: &[Item]) -> impl Future<Output = Result<()>> + Send {
        forward!(self, SetMulti, Keys::Items(items), |p| p.set_multi(items))
    }

    /// [`Provider::delete_multi`].
    fn delete_multi(&self, keys: &[String]) -> impl Future<Output = Result<u64>> + Send {
        forward!(self, DeleteMulti, Keys::Many(keys), |p| p
            .delete_multi(keys))
    }

    /// [`Provider::scan`].
    fn scan(
        &self,
        pattern: &str,
        cursor: Option<&str>,
        count: u32,
    ) -> impl Future<Output = Result<ScanPage>> + Send {
        forward!(self, Scan, Keys::None, |p| p.scan(pattern, cursor, count))
    }

    /// [`Provider::ttl`].
    fn ttl(&self, key: &str) -> impl Future<Output = Result<KeyTtl>> + Send {
        forward!(self, Ttl, Keys::One(key), |p| p.ttl(key))
    }

    /// [`Provider::expire`].
    fn expire(
        &self,
        key: &str,
        ttl: Option<Duration>,
    ) -> impl Future<Output = Result<bool>> + Send {
        forward!(self, Expire, Keys::One(key), |p| p.expire(key, ttl))
    }

    /// [`Provider::clear`].
    fn clear(&self) -> impl Future<Output = Result<()>> + Send {
        forward!(self, Clear, Keys::All, |p| p.clear())
    }

    /// [`Provider::stats`].
    fn stats(&self) -> impl Future<Output = Result<Stats>> + Send {
        forward!(self, Stats, Keys::None, |p| p.stats())
    }

    /// [`Provider::ping`].
    fn ping(&self) -> impl Future<Output = Result<()>> + Send {
        forward!(self, Ping, Keys::None, |p| p.ping())
    }

    /// [`Provider::increment`].
    fn increment(
        &self,
        key: &str,
        delta: i64,
        ttl: Option<Duration>,
    ) -> impl Future<Output = Result<i64>> + Send {
        forward!(self, Increment, Keys::One(key), |p| p
            .increment(key, delta, ttl))
    }

    /// [`Provider::compare_and_swap`].
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Option<Duration>,
    ) -> impl Future<Output = Result<bool>> + Send {
        forward!(self, CompareAndSwap, Keys::One(key), |p| p
            .compare_and_swap(key, expected, new, ttl))
    }

    /// [`Provider::info`]: the provider below's.
    fn info(&self) -> ProviderInfo {
        self.below().info()
    }

    /// [`Provider::call_deadline`]: the provider below's.
    fn call_deadline(&self) -> Option<Duration> {
        self.below().call_deadline()
    }
}

// `async_trait` boxes each method's future, as it does for any provider; the layer's own
// future is stored inline in that box.
#[async_trait::async_trait]
impl<L: Layer> Provider for L {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Layer::get(self, key).await
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        Layer::set(self, key, value, ttl).await
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        Layer::delete(self, key).await
    }

    async fn exists(&self, key: &str) -> Result<bool> {
        Layer::exists(self, key).await
    }

    async fn get_multi(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        Layer::get_multi(self, keys).await
    }

    async fn get_multi_bytes(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>> {
        Layer::get_multi_bytes(self, keys).await
    }

    async fn set_multi(&self, items: &[Item]) -> Result<()> {
        Layer::set_multi(self, items).await
    }

    async fn delete_multi(&self, keys: &[String]) -> Result<u64> {
        Layer::delete_multi(self, keys).await
    }

    async fn scan(&self, pattern: &str, cursor: Option<&str>, count: u32) -> Result<ScanPage> {
        Layer::scan(self, pattern, cursor, count).await
    }

    async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        Layer::ttl(self, key).await
    }

    async fn expire(&self, key: &str, ttl: Option<Duration>) -> Result<bool> {
        Layer::expire(self, key, ttl).await
    }

    async fn clear(&self) -> Result<()> {
        Layer::clear(self).await
    }

    async fn stats(&self) -> Result<Stats> {
        Layer::stats(self).await
    }

    async fn ping(&self) -> Result<()> {
        Layer::ping(self).await
    }

    async fn increment(&self, key: &str, delta: i64, ttl: Option<Duration>) -> Result<i64> {
        Layer::increment(self, key, delta, ttl).await
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool> {
        Layer::compare_and_swap(self, key, expected, new, ttl).await
    }

    fn info(&self) -> ProviderInfo {
        Layer::info(self)
    }

    fn call_deadline(&self) -> Option<Duration> {
        Layer::call_deadline(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, NativeMemoryProvider};
    use std::sync::{Arc, Mutex};

    /// Records each hook as `(hook, op, keys)`; `before` refuses `delete`.
    struct Recorder {
        below: Arc<dyn Provider>,
        seen: Mutex<Vec<(&'static str, Op, Vec<String>)>>,
    }

    impl Recorder {
        fn note(&self, hook: &'static str, call: Call<'_>) {
            let keys = call.keys().iter().map(str::to_owned).collect();
            self.seen
                .lock()
                .expect("lock")
                .push((hook, call.op(), keys));
        }

        fn take(&self) -> Vec<(&'static str, Op, Vec<String>)> {
            std::mem::take(&mut *self.seen.lock().expect("lock"))
        }
    }

    impl Layer for Recorder {
        type Below<'a> = &'a dyn Provider;

        fn below(&self) -> &dyn Provider {
            &*self.below
        }

        async fn around<T, F>(&self, call: Call<'_>, inner: F) -> Result<T>
        where
            T: Answer,
            F: Future<Output = Result<T>> + Send,
        {
            self.note("around", call);
            let out = inner.await;
            if let Ok(answer) = &out
                && let Some((hits, misses)) = answer.found()
            {
                self.note(
                    "found",
                    Call::new(call.op(), Keys::One(&format!("{hits}/{misses}"))),
                );
            }
            out
        }

        async fn before(&self, call: Call<'_>) -> Result<()> {
            self.note("before", call);
            match call.op() {
                Op::Delete => Err(Error::Denied("no deletes here".into())),
                _ => Ok(()),
            }
        }

        async fn after<T: Answer>(&self, call: Call<'_>, _answer: &Result<T>) {
            self.note("after", call);
        }
    }

    fn keys(ks: &[&str]) -> Vec<String> {
        ks.iter().map(|k| (*k).to_owned()).collect()
    }

    #[tokio::test]
    async fn every_operation_forwards_inside_its_hooks() {
        let layer = Arc::new(Recorder {
            below: Arc::new(NativeMemoryProvider::new(Default::default())),
            seen: Mutex::new(Vec::new()),
        });
        let p: Arc<dyn Provider> = layer.clone();
        p.set("a", b"1", None).await.expect("set");
        assert_eq!(
            layer.take(),
            [
                ("around", Op::Set, keys(&["a"])),
                ("before", Op::Set, keys(&["a"])),
                ("after", Op::Set, keys(&["a"])),
            ]
        );
        let values = p.get_multi_bytes(&keys(&["a", "b"])).await.expect("get");
        assert_eq!(values, [Some(Bytes::from_static(b"1")), None]);
        assert_eq!(
            layer.take(),
            [
                ("around", Op::GetMulti, keys(&["a", "b"])),
                ("before", Op::GetMulti, keys(&["a", "b"])),
                ("after", Op::GetMulti, keys(&["a", "b"])),
                ("found", Op::GetMulti, keys(&["1/1"])),
            ]
        );
        // `before` refusing: the answer, and the provider below is not called.
        assert!(matches!(p.delete("a").await, Err(Error::Denied(_))));
        assert_eq!(p.get("a").await.expect("get"), Some(b"1".to_vec()));
        let seen: Vec<(&str, Op)> = layer.take().into_iter().map(|(h, op, _)| (h, op)).collect();
        assert_eq!(
            seen,
            [
                ("around", Op::Delete),
                ("before", Op::Delete),
                ("around", Op::Get),
                ("before", Op::Get),
                ("after", Op::Get),
                ("found", Op::Get),
            ]
        );
        p.clear().await.expect("clear");
        let items = [
            Item::new("x", b"1".to_vec(), None),
            Item::new("y", b"2".to_vec(), None),
        ];
        p.set_multi(&items).await.expect("set_multi");
        p.ping().await.expect("ping");
        let seen: Vec<(Op, Vec<String>)> = layer
            .take()
            .into_iter()
            .filter(|(h, ..)| *h == "before")
            .map(|(_, op, k)| (op, k))
            .collect();
        assert_eq!(
            seen,
            [
                (Op::Clear, vec![]),
                (Op::SetMulti, keys(&["x", "y"])),
                (Op::Ping, vec![]),
            ]
        );
        assert_eq!(p.info().name, "native-memory");
    }

    #[test]
    fn the_op_table_is_consistent() {
        for (i, op) in Op::ALL.iter().enumerate() {
            assert_eq!(op.index(), i);
            assert_eq!(op.to_string(), op.name());
        }
        // Both atomic operations are the one `Atomics` capability.
        let mut caps: Vec<Capability> = Op::ALL.iter().filter_map(|op| op.capability()).collect();
        caps.dedup();
        assert_eq!(caps, Capability::ALL);
        let writes: Vec<&str> = Op::ALL
            .iter()
            .filter(|op| op.is_write())
            .map(|op| op.name())
            .collect();
        assert_eq!(
            writes,
            [
                "set",
                "delete",
                "set_multi",
                "delete_multi",
                "expire",
                "clear",
                "increment",
                "compare_and_swap"
            ]
        );
        assert_eq!(Keys::All.iter().count(), 0, "every key is not a list");
    }
}
