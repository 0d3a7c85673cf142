//! Connects an [`Adapter`] to the generated export traits.

use crate::bindings::byoc::cache::types::{AdapterDescription, ConfigEntry};
use crate::bindings::exports::byoc::cache::{lifecycle, provider};
use crate::{
    Adapter, Capabilities, Config, Entry, Error, Item, KeyTtl, ProviderInfo, Result, ScanPage,
    Stat, Stats, now_ms,
};
use byoc_common::{CONTRACT_VERSION, validate_key, validate_pattern};
use std::any::Any;
use std::cell::RefCell;
use std::marker::PhantomData;

/// The exported component: forwards every WIT function to the adapter `A`, deriving what
/// `A` does not implement. Used through [`export_adapter!`](crate::export_adapter).
pub struct Bridge<A>(PhantomData<A>);

/// Per-instance state: the adapter and the counters the SDK keeps for it.
pub(crate) struct Runtime<A> {
    pub(crate) adapter: A,
    hits: u64,
    misses: u64,
    expirations: u64,
}

thread_local! {
    // A component instance is single-threaded; the state lives for the instance.
    static STATE: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

pub(crate) fn with<A: Adapter, R>(f: impl FnOnce(&mut Runtime<A>) -> Result<R>) -> Result<R> {
    STATE.with(|state| {
        let mut state = state.borrow_mut();
        match state.as_mut().and_then(|s| s.downcast_mut::<Runtime<A>>()) {
            Some(runtime) => f(runtime),
            None => Err(Error::Internal(
                "adapter used before lifecycle.init succeeded".into(),
            )),
        }
    })
}

pub(crate) fn key(key: &str) -> Result<()> {
    validate_key(key).map_err(|e| Error::InvalidKey(e.to_string()))
}

pub(crate) fn ttl_arg(ttl: Option<u64>) -> Result<Option<u64>> {
    match ttl {
        Some(0) => Err(Error::InvalidArgument(
            "a TTL of 0 ms is not allowed in set; omit the TTL to store without expiry".into(),
        )),
        other => Ok(other),
    }
}

fn info<A: Adapter>() -> ProviderInfo {
    ProviderInfo {
        name: A::NAME.to_owned(),
        version: A::VERSION.to_owned(),
        contract: CONTRACT_VERSION.to_owned(),
        native: A::NATIVE | Capabilities::GET | Capabilities::SET | Capabilities::DELETE,
    }
}

/// The clock, read at most once and only when an entry with a TTL needs it (a WASI clock
/// read is a host call: on the hit path of an entry without TTL it is skipped).
struct LazyNow(Option<u64>);

impl LazyNow {
    fn get(&mut self) -> u64 {
        *self.0.get_or_insert_with(now_ms)
    }
}

impl<A: Adapter> Runtime<A> {
    /// The live entry under `key`; an expired one is deleted and counted.
    fn live(&mut self, key: &str, now: u64) -> Result<Option<Entry>> {
        self.live_lazy(key, &mut LazyNow(Some(now)))
    }

    fn live_lazy(&mut self, key: &str, now: &mut LazyNow) -> Result<Option<Entry>> {
        match self.adapter.get(key)? {
            Some(entry) if entry.expires_at.is_none_or(|at| at > now.get()) => Ok(Some(entry)),
            Some(_) => {
                self.expire_lazily(key);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// Deletes the expired entry under `key`, counting it. Best effort: a read of an
    /// expired entry is a miss even where the delete fails (a read-only directory); the
    /// entry stays expired and reads as missing.
    fn expire_lazily(&mut self, key: &str) {
        if let Ok(true) = self.adapter.delete(key) {
            self.expirations += 1;
        }
    }

    fn read(&mut self, key: &str, now: &mut LazyNow) -> Result<Option<Vec<u8>>> {
        let value = self.live_lazy(key, now)?.map(|e| e.value);
        self.count(value.is_some());
        Ok(value)
    }

    /// Filters a fetched entry of `key`: an expired one is deleted and counted.
    fn settle(&mut self, key: &str, entry: Option<Entry>, now: u64) -> Result<Option<Vec<u8>>> {
        let value = match entry {
            Some(entry) if entry.is_live(now) => Some(entry.value),
            Some(_) => {
                self.expire_lazily(key);
                None
            }
            None => None,
        };
        self.count(value.is_some());
        Ok(value)
    }

    fn count(&mut self, hit: bool) {
        if hit {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
    }
}

impl<A: Adapter> Bridge<A> {
    /// `get-multi` of borrowed keys. An adapter without a native `get_multi` is read key
    /// by key, with no copy of the keys.
    pub(crate) fn get_multi_borrowed(keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>> {
        if A::NATIVE.contains(Capabilities::GET_MULTI) {
            let keys = keys.iter().map(|&k| k.to_owned()).collect();
            return <Self as provider::Guest>::get_multi(keys);
        }
        keys.iter().try_for_each(|k| key(k))?;
        let now = now_ms();
        with::<A, _>(|rt| {
            keys.iter()
                .map(|&k| {
                    let entry = rt.adapter.get(k)?;
                    rt.settle(k, entry, now)
                })
                .collect()
        })
    }
}

impl<A: Adapter> lifecycle::Guest for Bridge<A> {
    fn describe() -> AdapterDescription {
        AdapterDescription {
            info: info::<A>(),
            config: A::config_fields(),
        }
    }

    fn init(config: Vec<ConfigEntry>) -> Result<()> {
        let config = Config::validate(config, &A::config_fields())?;
        let adapter = A::open(&config)?;
        let runtime = Runtime {
            adapter,
            hits: 0,
            misses: 0,
            expirations: 0,
        };
        STATE.with(|state| *state.borrow_mut() = Some(Box::new(runtime)));
        Ok(())
    }
}

impl<A: Adapter> provider::Guest for Bridge<A> {
    fn get(k: String) -> Result<Option<Vec<u8>>> {
        key(&k)?;
        with::<A, _>(|rt| rt.read(&k, &mut LazyNow(None)))
    }

    fn set(k: String, value: Vec<u8>, ttl: Option<u64>) -> Result<()> {
        key(&k)?;
        let ttl = ttl_arg(ttl)?;
        with::<A, _>(|rt| rt.adapter.set(&k, Entry::new(value, ttl, now_ms())))
    }

    fn delete(k: String) -> Result<bool> {
        key(&k)?;
        let now = now_ms();
        with::<A, _>(|rt| rt.adapter.delete_live(&k, now))
    }

    fn exists(k: String) -> Result<bool> {
        key(&k)?;
        with::<A, _>(|rt| {
            let hit = rt.adapter.exists(&k, now_ms())?;
            rt.count(hit);
            Ok(hit)
        })
    }

    fn get_multi(keys: Vec<String>) -> Result<Vec<Option<Vec<u8>>>> {
        keys.iter().try_for_each(|k| key(k))?;
        let now = now_ms();
        with::<A, _>(|rt| {
            let entries = rt.adapter.get_multi(&keys)?;
            if entries.len() != keys.len() {
                return Err(Error::Internal(format!(
                    "get-multi of {} keys returned {} entries",
                    keys.len(),
                    entries.len()
                )));
            }
            keys.iter()
                .zip(entries)
                .map(|(k, entry)| rt.settle(k, entry, now))
                .collect()
        })
    }

    fn set_multi(items: Vec<Item>) -> Result<()> {
        for item in &items {
            key(&item.key)?;
            ttl_arg(item.ttl)?;
        }
        let now = now_ms();
        let items = items
            .into_iter()
            .map(|item| (item.key, Entry::new(item.value, item.ttl, now)))
            .collect();
        with::<A, _>(|rt| rt.adapter.set_multi(items))
    }

    fn delete_multi(keys: Vec<String>) -> Result<u64> {
        keys.iter().try_for_each(|k| key(k))?;
        let now = now_ms();
        with::<A, _>(|rt| rt.adapter.delete_multi(&keys, now))
    }

    fn scan(pattern: String, cursor: Option<String>, count: u32) -> Result<ScanPage> {
        validate_pattern(&pattern).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let cursor = cursor.as_deref().map(crate::scan::parse).transpose()?;
        with::<A, _>(|rt| rt.adapter.scan(&pattern, cursor, count, now_ms()))
    }

    fn ttl(k: String) -> Result<KeyTtl> {
        key(&k)?;
        let now = now_ms();
        if A::NATIVE.contains(Capabilities::TTL) {
            return with::<A, _>(|rt| rt.adapter.ttl(&k, now));
        }
        with::<A, _>(|rt| {
            Ok(match rt.live(&k, now)? {
                None => KeyTtl::Missing,
                Some(entry) => match entry.remaining(now) {
                    None => KeyTtl::Persistent,
                    Some(ms) => KeyTtl::ExpiresIn(ms.max(1)),
                },
            })
        })
    }

    fn expire(k: String, ttl: Option<u64>) -> Result<bool> {
        key(&k)?;
        let now = now_ms();
        with::<A, _>(|rt| match ttl {
            Some(0) => rt.adapter.delete_live(&k, now),
            ttl => rt
                .adapter
                .expire(&k, ttl.map(|t| now.saturating_add(t)), now),
        })
    }

    fn clear() -> Result<()> {
        with::<A, _>(|rt| rt.adapter.clear())
    }

    fn stats() -> Result<Stats> {
        with::<A, _>(|rt| {
            let usage = rt.adapter.usage()?;
            Ok(Stats {
                hits: rt.hits,
                misses: rt.misses,
                keys: usage.keys,
                bytes: usage.bytes,
                evictions: usage.evictions,
                expirations: usage.expirations + rt.expirations,
                extra: usage
                    .extra
                    .into_iter()
                    .map(|(name, value)| Stat { name, value })
                    .collect(),
            })
        })
    }

    fn ping() -> Result<()> {
        with::<A, _>(|rt| rt.adapter.ping())
    }

    fn info() -> ProviderInfo {
        info::<A>()
    }
}
