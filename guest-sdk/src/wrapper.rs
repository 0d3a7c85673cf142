//! Wrappers: providers over the providers below them.

use crate::bindings::byoc::cache::types::{AdapterDescription, ConfigEntry};
use crate::bindings::exports::byoc::cache::{lifecycle, provider};
use crate::bridge::{key, ttl_arg};
use crate::{
    Capabilities, Config, ConfigField, Error, Item, KeyTtl, ProviderInfo, Result, ScanPage, Stats,
    inner,
};
use byoc_common::{CONTRACT_VERSION, validate_pattern};
use std::any::Any;
use std::cell::RefCell;
use std::marker::PhantomData;

/// A wrapper over the layers the host links below it (see [`inner`]).
///
/// Every provided method forwards to layer 0 unchanged: override the operations your
/// wrapper changes. Forwarding is explicit — no default skips the inner provider — so a
/// wrapper that overrides `get` but forgets `get_multi` still reaches the inner layer,
/// through the unchanged path; override both when the transformation must apply to both.
/// Keys, TTLs and patterns are validated by the SDK before your methods run.
pub trait Wrapper: Sized + 'static {
    /// Short stable name reported in `info`, e.g. `"encryption"`.
    const NAME: &'static str;
    /// The wrapper's version reported in `info`.
    const VERSION: &'static str;
    /// Operations the wrapper implements itself (the rest are forwarded as they are).
    const NATIVE: Capabilities = Capabilities::empty();

    /// The configuration fields `open` accepts (checked by the SDK before `open`).
    fn config_fields() -> Vec<ConfigField> {
        Vec::new()
    }

    /// Creates the wrapper from its validated configuration.
    fn open(config: &Config) -> Result<Self>;

    /// `get`; forwards to layer 0.
    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
        inner::get(0, key)
    }
    /// `set`; forwards to layer 0.
    fn set(&mut self, key: &str, value: Vec<u8>, ttl: Option<u64>) -> Result<()> {
        inner::set(0, key, &value, ttl)
    }
    /// `delete`; forwards to layer 0.
    fn delete(&mut self, key: &str) -> Result<bool> {
        inner::delete(0, key)
    }
    /// `exists`; forwards to layer 0.
    fn exists(&mut self, key: &str) -> Result<bool> {
        inner::exists(0, key)
    }
    /// `get-multi`; forwards to layer 0.
    fn get_multi(&mut self, keys: Vec<String>) -> Result<Vec<Option<Vec<u8>>>> {
        inner::get_multi(0, &keys)
    }
    /// `set-multi`; forwards to layer 0.
    fn set_multi(&mut self, items: Vec<Item>) -> Result<()> {
        inner::set_multi(0, &items)
    }
    /// `delete-multi`; forwards to layer 0.
    fn delete_multi(&mut self, keys: Vec<String>) -> Result<u64> {
        inner::delete_multi(0, &keys)
    }
    /// `scan`; forwards to layer 0.
    fn scan(&mut self, pattern: &str, cursor: Option<&str>, count: u32) -> Result<ScanPage> {
        inner::scan(0, pattern, cursor, count)
    }
    /// `ttl`; forwards to layer 0.
    fn ttl(&mut self, key: &str) -> Result<KeyTtl> {
        inner::ttl(0, key)
    }
    /// `expire`; forwards to layer 0.
    fn expire(&mut self, key: &str, ttl: Option<u64>) -> Result<bool> {
        inner::expire(0, key, ttl)
    }
    /// `clear`; forwards to layer 0.
    fn clear(&mut self) -> Result<()> {
        inner::clear(0)
    }
    /// `stats`; forwards to layer 0.
    fn stats(&mut self) -> Result<Stats> {
        inner::stats(0)
    }
    /// `ping`; forwards to layer 0.
    fn ping(&mut self) -> Result<()> {
        inner::ping(0)
    }

    /// Whether this wrapper implements `increment` and `compare-and-swap` (asked once,
    /// after `open`, so it may depend on the layers: [`inner::atomics_supported`]). The
    /// default is false and both answer `unsupported`: unlike the other operations they
    /// are not forwarded by default, since forwarding them past a wrapper that transforms
    /// values (encryption, compression) would compare or add the transformed bytes.
    fn atomics_supported(&mut self) -> bool {
        false
    }
    /// `increment` (see `wit/atomics.wit`; `ttl` in ms); `unsupported` by default.
    fn increment(&mut self, key: &str, delta: i64, ttl: Option<u64>) -> Result<i64> {
        let _ = (key, delta, ttl);
        Err(Error::Unsupported(format!(
            "{} has no increment",
            Self::NAME
        )))
    }
    /// `compare-and-swap` (see `wit/atomics.wit`); `unsupported` by default.
    fn compare_and_swap(
        &mut self,
        key: &str,
        expected: Option<&[u8]>,
        new: Vec<u8>,
        ttl: Option<u64>,
    ) -> Result<bool> {
        let _ = (key, expected, new, ttl);
        Err(Error::Unsupported(format!(
            "{} has no compare-and-swap",
            Self::NAME
        )))
    }
}

/// The exported component of a [`Wrapper`]; used through
/// [`export_wrapper!`](crate::export_wrapper).
pub struct WrapperBridge<W>(PhantomData<W>);

thread_local! {
    static WRAPPER: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

pub(crate) fn with<W: Wrapper, R>(f: impl FnOnce(&mut W) -> Result<R>) -> Result<R> {
    WRAPPER.with(|state| {
        let mut state = state.borrow_mut();
        match state.as_mut().and_then(|s| s.downcast_mut::<W>()) {
            Some(w) => f(w),
            None => Err(Error::Internal(
                "wrapper used before lifecycle.init succeeded".into(),
            )),
        }
    })
}

fn info<W: Wrapper>() -> ProviderInfo {
    ProviderInfo {
        name: W::NAME.to_owned(),
        version: W::VERSION.to_owned(),
        contract: CONTRACT_VERSION.to_owned(),
        native: W::NATIVE,
    }
}

impl<W: Wrapper> lifecycle::Guest for WrapperBridge<W> {
    fn describe() -> AdapterDescription {
        AdapterDescription {
            info: info::<W>(),
            config: W::config_fields(),
        }
    }

    fn init(config: Vec<ConfigEntry>) -> Result<()> {
        let config = Config::validate(config, &W::config_fields())?;
        let wrapper = W::open(&config)?;
        WRAPPER.with(|state| *state.borrow_mut() = Some(Box::new(wrapper)));
        Ok(())
    }
}

impl<W: Wrapper> provider::Guest for WrapperBridge<W> {
    fn get(k: String) -> Result<Option<Vec<u8>>> {
        key(&k)?;
        with::<W, _>(|w| w.get(&k))
    }

    fn set(k: String, value: Vec<u8>, ttl: Option<u64>) -> Result<()> {
        key(&k)?;
        let ttl = ttl_arg(ttl)?;
        with::<W, _>(|w| w.set(&k, value, ttl))
    }

    fn delete(k: String) -> Result<bool> {
        key(&k)?;
        with::<W, _>(|w| w.delete(&k))
    }

    fn exists(k: String) -> Result<bool> {
        key(&k)?;
        with::<W, _>(|w| w.exists(&k))
    }

    fn get_multi(keys: Vec<String>) -> Result<Vec<Option<Vec<u8>>>> {
        keys.iter().try_for_each(|k| key(k))?;
        with::<W, _>(|w| w.get_multi(keys))
    }

    fn set_multi(items: Vec<Item>) -> Result<()> {
        for item in &items {
            key(&item.key)?;
            ttl_arg(item.ttl)?;
        }
        with::<W, _>(|w| w.set_multi(items))
    }

    fn delete_multi(keys: Vec<String>) -> Result<u64> {
        keys.iter().try_for_each(|k| key(k))?;
        with::<W, _>(|w| w.delete_multi(keys))
    }

    fn scan(pattern: String, cursor: Option<String>, count: u32) -> Result<ScanPage> {
        validate_pattern(&pattern).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        with::<W, _>(|w| w.scan(&pattern, cursor.as_deref(), count))
    }

    fn ttl(k: String) -> Result<KeyTtl> {
        key(&k)?;
        with::<W, _>(|w| w.ttl(&k))
    }

    fn expire(k: String, ttl: Option<u64>) -> Result<bool> {
        key(&k)?;
        with::<W, _>(|w| w.expire(&k, ttl))
    }

    fn clear() -> Result<()> {
        with::<W, _>(|w| w.clear())
    }

    fn stats() -> Result<Stats> {
        with::<W, _>(|w| w.stats())
    }

    fn ping() -> Result<()> {
        with::<W, _>(|w| w.ping())
    }

    fn info() -> ProviderInfo {
        info::<W>()
    }
}
