//! The host side of the `inner` import: a wrapper's calls to the layers below it.
//!
//! Each layer is an `Arc<dyn Provider>` — a wasm adapter in its own stores, another
//! wrapper, or a native provider — so stacks compose to any depth, each component in its
//! own sandbox. The wrapper never holds a reference into another instance's memory: values
//! are copied out of one store and into the other by the host.

use super::bindings::{CAPABILITY_FLAGS, byoc::cache::inner, byoc::cache::types as wit};
use super::state::HostState;
use crate::{Capability, Error, Item, KeyTtl, Provider, ProviderInfo, ScanPage, Stats};
use std::sync::Arc;
use std::time::Duration;

type WitResult<T> = Result<T, wit::Error>;

impl HostState {
    fn layer(&self, layer: u32) -> WitResult<Arc<dyn Provider>> {
        usize::try_from(layer)
            .ok()
            .and_then(|i| self.layers.get(i))
            .cloned()
            .ok_or_else(|| {
                wit::Error::InvalidArgument(format!(
                    "layer {layer} does not exist; this wrapper has {} layer(s)",
                    self.layers.len()
                ))
            })
    }
}

fn ttl(ms: Option<u64>) -> Option<Duration> {
    ms.map(Duration::from_millis)
}

fn lift<T>(r: crate::Result<T>) -> WitResult<T> {
    r.map_err(Into::into)
}

fn to_wit_ttl(t: KeyTtl) -> wit::KeyTtl {
    match t {
        KeyTtl::Missing => wit::KeyTtl::Missing,
        KeyTtl::Persistent => wit::KeyTtl::Persistent,
        KeyTtl::ExpiresIn(d) => {
            wit::KeyTtl::ExpiresIn(byoc_core::provider::duration_ms_ceil(d).max(1))
        }
    }
}

fn to_wit_stats(s: Stats) -> wit::CacheStats {
    wit::CacheStats {
        hits: s.hits,
        misses: s.misses,
        keys: s.keys,
        bytes: s.bytes,
        evictions: s.evictions,
        expirations: s.expirations,
        extra: s
            .extra
            .into_iter()
            .map(|(name, value)| wit::Stat { name, value })
            .collect(),
    }
}

fn to_wit_info(i: ProviderInfo) -> wit::ProviderInfo {
    let native = CAPABILITY_FLAGS
        .into_iter()
        .filter(|(_, cap)| i.native.contains(cap))
        .fold(wit::Capabilities::empty(), |acc, (flag, _)| acc | flag);
    wit::ProviderInfo {
        name: i.stack(),
        version: i.version,
        contract: i.contract,
        native,
    }
}

fn to_wit_page(p: ScanPage) -> wit::ScanPage {
    wit::ScanPage {
        keys: p.keys,
        cursor: p.cursor,
    }
}

impl inner::Host for HostState {
    async fn layers(&mut self) -> u32 {
        u32::try_from(self.layers.len()).unwrap_or(u32::MAX)
    }

    async fn get(&mut self, layer: u32, key: String) -> WitResult<Option<Vec<u8>>> {
        lift(self.layer(layer)?.get(&key).await)
    }

    async fn set(
        &mut self,
        layer: u32,
        key: String,
        value: Vec<u8>,
        ttl_ms: Option<u64>,
    ) -> WitResult<()> {
        if ttl_ms == Some(0) {
            return Err(
                Error::InvalidArgument("a TTL of 0 ms is not allowed in set".into()).into(),
            );
        }
        lift(self.layer(layer)?.set(&key, &value, ttl(ttl_ms)).await)
    }

    async fn delete(&mut self, layer: u32, key: String) -> WitResult<bool> {
        lift(self.layer(layer)?.delete(&key).await)
    }

    async fn exists(&mut self, layer: u32, key: String) -> WitResult<bool> {
        lift(self.layer(layer)?.exists(&key).await)
    }

    async fn get_multi(
        &mut self,
        layer: u32,
        keys: Vec<String>,
    ) -> WitResult<Vec<Option<Vec<u8>>>> {
        lift(self.layer(layer)?.get_multi(&keys).await)
    }

    async fn set_multi(&mut self, layer: u32, items: Vec<wit::Item>) -> WitResult<()> {
        if items.iter().any(|i| i.ttl == Some(0)) {
            return Err(
                Error::InvalidArgument("a TTL of 0 ms is not allowed in set".into()).into(),
            );
        }
        let items: Vec<Item> = items
            .into_iter()
            .map(|i| Item::new(i.key, i.value, ttl(i.ttl)))
            .collect();
        lift(self.layer(layer)?.set_multi(&items).await)
    }

    async fn delete_multi(&mut self, layer: u32, keys: Vec<String>) -> WitResult<u64> {
        lift(self.layer(layer)?.delete_multi(&keys).await)
    }

    async fn scan(
        &mut self,
        layer: u32,
        pattern: String,
        cursor: Option<String>,
        count: u32,
    ) -> WitResult<wit::ScanPage> {
        let page = self
            .layer(layer)?
            .scan(&pattern, cursor.as_deref(), count)
            .await;
        lift(page).map(to_wit_page)
    }

    async fn ttl(&mut self, layer: u32, key: String) -> WitResult<wit::KeyTtl> {
        lift(self.layer(layer)?.ttl(&key).await).map(to_wit_ttl)
    }

    async fn expire(&mut self, layer: u32, key: String, ttl_ms: Option<u64>) -> WitResult<bool> {
        lift(self.layer(layer)?.expire(&key, ttl(ttl_ms)).await)
    }

    async fn clear(&mut self, layer: u32) -> WitResult<()> {
        lift(self.layer(layer)?.clear().await)
    }

    async fn stats(&mut self, layer: u32) -> WitResult<wit::CacheStats> {
        lift(self.layer(layer)?.stats().await).map(to_wit_stats)
    }

    async fn ping(&mut self, layer: u32) -> WitResult<()> {
        lift(self.layer(layer)?.ping().await)
    }

    async fn info(&mut self, layer: u32) -> WitResult<wit::ProviderInfo> {
        Ok(to_wit_info(self.layer(layer)?.info()))
    }

    async fn atomics_supported(&mut self, layer: u32) -> bool {
        self.layer(layer)
            .is_ok_and(|l| l.info().native.contains(&Capability::Atomics))
    }

    async fn increment(
        &mut self,
        layer: u32,
        key: String,
        delta: i64,
        ttl_ms: Option<u64>,
    ) -> WitResult<i64> {
        if ttl_ms == Some(0) {
            return Err(
                Error::InvalidArgument("a TTL of 0 ms is not allowed in increment".into()).into(),
            );
        }
        lift(self.layer(layer)?.increment(&key, delta, ttl(ttl_ms)).await)
    }

    async fn compare_and_swap(
        &mut self,
        layer: u32,
        key: String,
        expected: Option<Vec<u8>>,
        new: Vec<u8>,
        ttl_ms: Option<u64>,
    ) -> WitResult<bool> {
        if ttl_ms == Some(0) {
            return Err(Error::InvalidArgument(
                "a TTL of 0 ms is not allowed in compare-and-swap".into(),
            )
            .into());
        }
        let layer = self.layer(layer)?;
        let swapped = layer.compare_and_swap(&key, expected.as_deref(), &new, ttl(ttl_ms));
        lift(swapped.await)
    }
}

impl wit::Host for HostState {}
