//! [`Hooked`]: one provider that forwards every call to another, for test doubles that
//! change one thing (fail while switched off, pause after a read, keep a server alive).
//! It is a [`Layer`]: the forwarding is the layer's default.

use async_trait::async_trait;
use byoc::layer::{Answer, Call, Layer};
use byoc::{Capability, Error, Provider, ProviderInfo, Result};
use std::sync::Arc;
use std::time::Duration;

pub use byoc::layer::Op;

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

impl<H: Hook> Layer for Hooked<H> {
    type Below<'a> = &'a dyn Provider;

    fn below(&self) -> &dyn Provider {
        &*self.inner
    }

    async fn before(&self, call: Call<'_>) -> Result<()> {
        self.hook.before(call.op()).await
    }

    async fn after<T: Answer>(&self, call: Call<'_>, _answer: &Result<T>) {
        self.hook.after(call.op()).await
    }
}

/// `below` without atomics: it neither declares [`Capability::Atomics`] nor runs
/// `increment`/`compare_and_swap` (both answer `Unsupported`); everything else forwards.
/// For tests of what callers do over a provider that lacks them.
pub fn without_atomics(below: Arc<dyn Provider>) -> Arc<dyn Provider> {
    Arc::new(WithoutAtomics(below))
}

struct WithoutAtomics(Arc<dyn Provider>);

impl Layer for WithoutAtomics {
    type Below<'a> = &'a dyn Provider;

    fn below(&self) -> &dyn Provider {
        &*self.0
    }

    async fn increment(&self, _key: &str, _delta: i64, _ttl: Option<Duration>) -> Result<i64> {
        Err(Error::Unsupported("increment".into()))
    }

    async fn compare_and_swap(
        &self,
        _key: &str,
        _expected: Option<&[u8]>,
        _new: &[u8],
        _ttl: Option<Duration>,
    ) -> Result<bool> {
        Err(Error::Unsupported("compare-and-swap".into()))
    }

    fn info(&self) -> ProviderInfo {
        let mut info = self.0.info();
        info.native.retain(|c| *c != Capability::Atomics);
        info
    }
}
