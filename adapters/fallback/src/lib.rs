//! The BYOC fallback wrapper: a primary provider (layer 0) and a fallback (layer 1) that
//! serves any call the primary answers with `unavailable` (down, overloaded, trapped).
//!
//! Every other answer of the primary — a value, a miss, or another error such as
//! `invalid-key` — is final. Writes made while the primary is unavailable go to the
//! fallback only; nothing is copied back when the primary returns. `stats` reports the
//! primary's counters when it answers (else the fallback's), plus `fallback.primary-served`
//! and `fallback.fallback-served`.
//!
//! Atomics are reported when the primary has them and follow the same rule: atomic within
//! the layer that answers, so a counter written during an outage of the primary counts on
//! in the fallback, apart from the primary's.

use byoc_guest_sdk::{
    Capabilities, Config, Error, Item, KeyTtl, Result, ScanPage, Stat, Stats, Wrapper, inner,
};

const PRIMARY: u32 = 0;
const FALLBACK: u32 = 1;

/// The fallback wrapper's state.
pub struct Fallback {
    primary_served: u64,
    fallback_served: u64,
}

impl Fallback {
    /// Runs `op` on the primary, and on the fallback if the primary is unavailable.
    fn either<T>(&mut self, op: impl Fn(u32) -> Result<T>) -> Result<T> {
        match op(PRIMARY) {
            Err(Error::Unavailable(_)) => {
                self.fallback_served += 1;
                op(FALLBACK)
            }
            other => {
                self.primary_served += 1;
                other
            }
        }
    }
}

impl Wrapper for Fallback {
    const NAME: &'static str = "fallback";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const NATIVE: Capabilities = Capabilities::all();

    fn open(_config: &Config) -> Result<Self> {
        inner::expect_two_layers("fallback", "primary", "fallback")?;
        Ok(Fallback {
            primary_served: 0,
            fallback_served: 0,
        })
    }

    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
        self.either(|l| inner::get(l, key))
    }

    fn set(&mut self, key: &str, value: Vec<u8>, ttl: Option<u64>) -> Result<()> {
        self.either(|l| inner::set(l, key, &value, ttl))
    }

    fn delete(&mut self, key: &str) -> Result<bool> {
        self.either(|l| inner::delete(l, key))
    }

    fn exists(&mut self, key: &str) -> Result<bool> {
        self.either(|l| inner::exists(l, key))
    }

    fn get_multi(&mut self, keys: Vec<String>) -> Result<Vec<Option<Vec<u8>>>> {
        self.either(|l| inner::get_multi(l, &keys))
    }

    fn set_multi(&mut self, items: Vec<Item>) -> Result<()> {
        self.either(|l| inner::set_multi(l, &items))
    }

    fn delete_multi(&mut self, keys: Vec<String>) -> Result<u64> {
        self.either(|l| inner::delete_multi(l, &keys))
    }

    fn scan(&mut self, pattern: &str, cursor: Option<&str>, count: u32) -> Result<ScanPage> {
        self.either(|l| inner::scan(l, pattern, cursor, count))
    }

    fn ttl(&mut self, key: &str) -> Result<KeyTtl> {
        self.either(|l| inner::ttl(l, key))
    }

    fn expire(&mut self, key: &str, ttl: Option<u64>) -> Result<bool> {
        self.either(|l| inner::expire(l, key, ttl))
    }

    fn clear(&mut self) -> Result<()> {
        self.either(inner::clear)
    }

    fn stats(&mut self) -> Result<Stats> {
        let mut stats = self.either(inner::stats)?;
        stats.extra.push(Stat {
            name: "fallback.primary-served".into(),
            value: self.primary_served,
        });
        stats.extra.push(Stat {
            name: "fallback.fallback-served".into(),
            value: self.fallback_served,
        });
        Ok(stats)
    }

    fn ping(&mut self) -> Result<()> {
        self.either(inner::ping)
    }

    fn atomics_supported(&mut self) -> bool {
        inner::atomics_supported(PRIMARY)
    }

    fn increment(&mut self, key: &str, delta: i64, ttl: Option<u64>) -> Result<i64> {
        self.either(|l| inner::increment(l, key, delta, ttl))
    }

    fn compare_and_swap(
        &mut self,
        key: &str,
        expected: Option<&[u8]>,
        new: Vec<u8>,
        ttl: Option<u64>,
    ) -> Result<bool> {
        self.either(|l| inner::compare_and_swap(l, key, expected, &new, ttl))
    }
}

byoc_guest_sdk::export_wrapper!(Fallback);
