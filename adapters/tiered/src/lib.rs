//! The BYOC two-tier wrapper: a fast L1 (layer 0) in front of an authoritative L2
//! (layer 1), e.g. memory in front of Redis or a filesystem.
//!
//! - **Reads** try L1; on a miss they read L2 and promote the value into L1 with L2's
//!   remaining TTL (capped by `l1-ttl`). A failed promotion is counted, not an error.
//! - **Writes** go to L2 first and count as done only when L2 confirms; then L1 is updated
//!   (no write-behind). If L1 cannot be updated, its copy is deleted so it cannot serve a
//!   stale value; if even that fails the call fails with `unavailable` (the value is in L2).
//! - **Deletes** and `clear` hit both tiers; `expire` applies to L2 and drops the L1 copy
//!   (the next read promotes it with the new lifetime).
//! - `scan`, `ttl` and the key/byte counts of `stats` come from L2, the authoritative tier.
//! - **Atomics** (`increment`, `compare-and-swap`, when L2 has them) run on L2 alone, and
//!   a write drops L1's copy: L2's atomicity is the wrapper's.
//!
//! L1 may serve a value other processes have since changed in L2 for at most `l1-ttl`
//! (default: no bound — set it when several hosts share L2).

use byoc_guest_sdk::{
    Capabilities, Config, ConfigField, ConfigKind, Error, Item, KeyTtl, Result, Stat, Stats,
    Wrapper, inner,
};

const L1: u32 = 0;
const L2: u32 = 1;

/// The tiered wrapper's state.
pub struct Tiered {
    l1_ttl: Option<u64>,
    l1_hits: u64,
    l2_hits: u64,
    misses: u64,
    promotions: u64,
    promotion_failures: u64,
}

impl Tiered {
    /// The L1 lifetime for a value whose L2 lifetime is `l2`.
    fn l1_ttl(&self, l2: Option<u64>) -> Option<u64> {
        match (l2, self.l1_ttl) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn promote(&mut self, key: &str, value: &[u8]) {
        let remaining = match inner::ttl(L2, key) {
            Ok(KeyTtl::ExpiresIn(ms)) => Some(ms),
            Ok(KeyTtl::Persistent) => None,
            // Gone or unreadable since: do not promote.
            Ok(KeyTtl::Missing) | Err(_) => return,
        };
        match inner::set(L1, key, value, self.l1_ttl(remaining)) {
            Ok(()) => self.promotions += 1,
            Err(_) => self.promotion_failures += 1,
        }
    }

    /// After an atomic write to L2: L1's copy is dropped (the next read promotes the new
    /// value); if even that fails the call fails with `unavailable`, as `set` does.
    fn drop_l1(&self, key: &str) -> Result<()> {
        inner::delete(L1, key).map(drop).map_err(|e| {
            Error::Unavailable(format!(
                "written in L2, but L1's copy could not be dropped: {e:?}"
            ))
        })
    }

    /// After L2 accepted a write: make sure L1 holds the new value or nothing.
    fn settle_l1(&self, outcome: Result<()>, keys: &[String]) -> Result<()> {
        if outcome.is_ok() {
            return Ok(());
        }
        inner::delete_multi(L1, keys).map(drop).map_err(|e| {
            Error::Unavailable(format!(
                "stored in L2, but L1 could neither be updated nor invalidated: {e:?}"
            ))
        })
    }
}

impl Wrapper for Tiered {
    const NAME: &'static str = "tiered";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const NATIVE: Capabilities = Capabilities::all();

    fn config_fields() -> Vec<ConfigField> {
        vec![ConfigField::new(
            "l1-ttl",
            ConfigKind::DurationMs,
            false,
            "Longest time a value lives in L1 (default: as long as in L2).",
        )]
    }

    fn open(config: &Config) -> Result<Self> {
        inner::expect_two_layers("tiered", "L1", "L2")?;
        Ok(Tiered {
            l1_ttl: config.duration_ms("l1-ttl").filter(|ms| *ms > 0),
            l1_hits: 0,
            l2_hits: 0,
            misses: 0,
            promotions: 0,
            promotion_failures: 0,
        })
    }

    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
        if let Some(value) = inner::get(L1, key)? {
            self.l1_hits += 1;
            return Ok(Some(value));
        }
        match inner::get(L2, key)? {
            Some(value) => {
                self.l2_hits += 1;
                self.promote(key, &value);
                Ok(Some(value))
            }
            None => {
                self.misses += 1;
                Ok(None)
            }
        }
    }

    fn set(&mut self, key: &str, value: Vec<u8>, ttl: Option<u64>) -> Result<()> {
        inner::set(L2, key, &value, ttl)?;
        let outcome = inner::set(L1, key, &value, self.l1_ttl(ttl));
        self.settle_l1(outcome, &[key.to_owned()])
    }

    fn delete(&mut self, key: &str) -> Result<bool> {
        let in_l2 = inner::delete(L2, key)?;
        let in_l1 = inner::delete(L1, key)?;
        Ok(in_l2 || in_l1)
    }

    fn exists(&mut self, key: &str) -> Result<bool> {
        Ok(inner::exists(L1, key)? || inner::exists(L2, key)?)
    }

    fn get_multi(&mut self, keys: Vec<String>) -> Result<Vec<Option<Vec<u8>>>> {
        let mut values = inner::get_multi(L1, &keys)?;
        let missing: Vec<usize> = (0..keys.len()).filter(|&i| values[i].is_none()).collect();
        self.l1_hits += (keys.len() - missing.len()) as u64;
        if missing.is_empty() {
            return Ok(values);
        }
        let lookup: Vec<String> = missing.iter().map(|&i| keys[i].clone()).collect();
        let found = inner::get_multi(L2, &lookup)?;
        for (i, value) in missing.into_iter().zip(found) {
            match &value {
                Some(v) => {
                    self.l2_hits += 1;
                    self.promote(&keys[i], v);
                }
                None => self.misses += 1,
            }
            values[i] = value;
        }
        Ok(values)
    }

    fn set_multi(&mut self, items: Vec<Item>) -> Result<()> {
        inner::set_multi(L2, &items)?;
        let keys: Vec<String> = items.iter().map(|i| i.key.clone()).collect();
        let l1_items: Vec<Item> = items
            .into_iter()
            .map(|i| Item {
                ttl: self.l1_ttl(i.ttl),
                ..i
            })
            .collect();
        let outcome = inner::set_multi(L1, &l1_items);
        self.settle_l1(outcome, &keys)
    }

    fn delete_multi(&mut self, keys: Vec<String>) -> Result<u64> {
        let removed = inner::delete_multi(L2, &keys)?;
        inner::delete_multi(L1, &keys)?;
        Ok(removed)
    }

    fn expire(&mut self, key: &str, ttl: Option<u64>) -> Result<bool> {
        let existed = inner::expire(L2, key, ttl)?;
        inner::delete(L1, key)?;
        Ok(existed)
    }

    fn scan(
        &mut self,
        pattern: &str,
        cursor: Option<&str>,
        count: u32,
    ) -> Result<byoc_guest_sdk::ScanPage> {
        inner::scan(L2, pattern, cursor, count)
    }

    fn ttl(&mut self, key: &str) -> Result<KeyTtl> {
        inner::ttl(L2, key)
    }

    fn clear(&mut self) -> Result<()> {
        inner::clear(L2)?;
        inner::clear(L1)
    }

    fn stats(&mut self) -> Result<Stats> {
        let l2 = inner::stats(L2)?;
        let counters = [
            ("tiered.l1-hits", self.l1_hits),
            ("tiered.l2-hits", self.l2_hits),
            ("tiered.promotions", self.promotions),
            ("tiered.promotion-failures", self.promotion_failures),
        ];
        Ok(Stats {
            hits: self.l1_hits + self.l2_hits,
            misses: self.misses,
            extra: counters
                .into_iter()
                .map(|(name, value)| Stat {
                    name: name.into(),
                    value,
                })
                .collect(),
            ..l2
        })
    }

    fn ping(&mut self) -> Result<()> {
        inner::ping(L1)?;
        inner::ping(L2)
    }

    fn atomics_supported(&mut self) -> bool {
        inner::atomics_supported(L2)
    }

    fn increment(&mut self, key: &str, delta: i64, ttl: Option<u64>) -> Result<i64> {
        let value = inner::increment(L2, key, delta, ttl)?;
        self.drop_l1(key)?;
        Ok(value)
    }

    fn compare_and_swap(
        &mut self,
        key: &str,
        expected: Option<&[u8]>,
        new: Vec<u8>,
        ttl: Option<u64>,
    ) -> Result<bool> {
        let swapped = inner::compare_and_swap(L2, key, expected, &new, ttl)?;
        if swapped {
            self.drop_l1(key)?;
        }
        Ok(swapped)
    }
}

byoc_guest_sdk::export_wrapper!(Tiered);
