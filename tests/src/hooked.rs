//! [`Hooked`]: one provider that forwards every call to another, for test doubles that
//! change one thing (fail while switched off, pause after a read, keep a server alive).

use async_trait::async_trait;
use byoc::{Capability, Item, KeyTtl, Provider, ProviderInfo, Result, ScanPage, Stats};
use std::sync::Arc;
use std::time::Duration;

/// The provider call a [`Hook`] is told about: one of the contract's operations, or
/// `ping`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// The operation of this capability (`get`, `set`, ...).
    Call(Capability),
    /// `ping`.
    Ping,
}

/// What a test double adds around each call of the provider it wraps. Both default to
/// nothing, so a hook overrides only what its test needs.
#[async_trait]
pub trait Hook: Send + Sync + 'static {
    /// Runs before the call reaches the inner provider; an error is the call's answer
    /// and the inner provider is not called.
    async fn before(&self, _op: Op) -> Result<()> {
        Ok(())
    }

    /// Runs once the inner provider has answered (either way), before the answer is
    /// returned.
    async fn after(&self, _op: Op) {}
}

/// A provider that forwards every call (and `info`, `call_deadline`) to `inner`, with
/// `hook` around each call.
pub struct Hooked<H> {
    inner: Arc<dyn Provider>,
    hook: H,
}

impl<H: Hook> Hooked<H> {
    /// `inner` with `hook` around each call.
    pub fn around(inner: Arc<dyn Provider>, hook: H) -> Self {
        Hooked { inner, hook }
    }

    async fn call<T>(&self, op: Op, call: impl Future<Output = Result<T>>) -> Result<T> {
        self.hook.before(op).await?;
        let answer = call.await;
        self.hook.after(op).await;
        answer
    }
}

impl<H> Hooked<H> {
    /// The provider calls are forwarded to (calling it directly skips the hook).
    pub fn inner(&self) -> &Arc<dyn Provider> {
        &self.inner
    }

    /// The hook.
    pub fn hook(&self) -> &H {
        &self.hook
    }
}

/// A [`Hook`] that changes nothing and keeps `G` alive: a private server, or the
/// temporary directory a provider stores into.
pub struct Guard<G>(pub G);

impl<G: Send + Sync + 'static> Hook for Guard<G> {}

/// A provider that keeps something alive as long as it lives: a private server, or the
/// temporary directory a provider stores into (removed when the test drops the provider).
pub type Holding<G> = Hooked<Guard<G>>;

impl<G: Send + Sync + 'static> Holding<G> {
    /// `inner`, keeping `guard` until it is dropped.
    pub fn new(inner: Arc<dyn Provider>, guard: G) -> Self {
        Hooked::around(inner, Guard(guard))
    }
}

#[async_trait]
impl<H: Hook> Provider for Hooked<H> {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.call(Op::Call(Capability::Get), self.inner.get(key))
            .await
    }
    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        self.call(Op::Call(Capability::Set), self.inner.set(key, value, ttl))
            .await
    }
    async fn delete(&self, key: &str) -> Result<bool> {
        self.call(Op::Call(Capability::Delete), self.inner.delete(key))
            .await
    }
    async fn exists(&self, key: &str) -> Result<bool> {
        self.call(Op::Call(Capability::Exists), self.inner.exists(key))
            .await
    }
    async fn get_multi(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        self.call(Op::Call(Capability::GetMulti), self.inner.get_multi(keys))
            .await
    }
    async fn set_multi(&self, items: &[Item]) -> Result<()> {
        self.call(Op::Call(Capability::SetMulti), self.inner.set_multi(items))
            .await
    }
    async fn delete_multi(&self, keys: &[String]) -> Result<u64> {
        self.call(
            Op::Call(Capability::DeleteMulti),
            self.inner.delete_multi(keys),
        )
        .await
    }
    async fn scan(&self, pattern: &str, cursor: Option<&str>, count: u32) -> Result<ScanPage> {
        self.call(
            Op::Call(Capability::Scan),
            self.inner.scan(pattern, cursor, count),
        )
        .await
    }
    async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        self.call(Op::Call(Capability::Ttl), self.inner.ttl(key))
            .await
    }
    async fn expire(&self, key: &str, ttl: Option<Duration>) -> Result<bool> {
        self.call(Op::Call(Capability::Expire), self.inner.expire(key, ttl))
            .await
    }
    async fn clear(&self) -> Result<()> {
        self.call(Op::Call(Capability::Clear), self.inner.clear())
            .await
    }
    async fn stats(&self) -> Result<Stats> {
        self.call(Op::Call(Capability::Stats), self.inner.stats())
            .await
    }
    async fn ping(&self) -> Result<()> {
        self.call(Op::Ping, self.inner.ping()).await
    }
    async fn increment(&self, key: &str, delta: i64, ttl: Option<Duration>) -> Result<i64> {
        let call = self.inner.increment(key, delta, ttl);
        self.call(Op::Call(Capability::Atomics), call).await
    }
    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool> {
        let call = self.inner.compare_and_swap(key, expected, new, ttl);
        self.call(Op::Call(Capability::Atomics), call).await
    }
    fn info(&self) -> ProviderInfo {
        self.inner.info()
    }
    fn call_deadline(&self) -> Option<Duration> {
        self.inner.call_deadline()
    }
}
