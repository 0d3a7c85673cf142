//! The BYOC migration wrapper: moves a cache from an old backend (layer 0) to a new one
//! (layer 1) while it serves, in the steps its `mode` names.
//!
//! - `old-only` (default): everything on old.
//! - `dual-write`: writes go to old, then new; reads come from old.
//! - `read-new`: reads come from new; a key new lacks is read from old and copied into
//!   new with its remaining TTL (set-if-absent where new has atomics, so a copy never
//!   replaces a value written meanwhile); writes go to new, then old (old stays a
//!   complete rollback target).
//! - `new-only`: everything on new; removals (`delete`, `expire`, `clear`) also reach
//!   old, so a `read-new` call still running cannot copy a removed key back.
//!
//! A write is acknowledged when the layer reads come from accepted it; if the other layer
//! then fails, its copy of the key is deleted (or the call fails `unavailable`), so it never
//! keeps an older value. The mode changes by rebuilding the wrapper (a configuration reload
//! or a hot swap over the same layers). `stats` adds `migration.*` counters.

use byoc_guest_sdk::{
    Capabilities, Config, ConfigField, ConfigKind, Error, Item, KeyTtl, Result, ScanPage, Stat,
    Stats, Wrapper, inner,
};

const OLD: u32 = 0;
const NEW: u32 = 1;

/// A migration step.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    OldOnly,
    DualWrite,
    ReadNew,
    NewOnly,
}

impl Mode {
    fn parse(text: &str) -> Result<Mode> {
        Ok(match text {
            "old-only" => Mode::OldOnly,
            "dual-write" => Mode::DualWrite,
            "read-new" => Mode::ReadNew,
            "new-only" => Mode::NewOnly,
            other => {
                return Err(Error::InvalidConfig(format!(
                    "mode `{other}` is not one of old-only, dual-write, read-new, new-only"
                )));
            }
        })
    }

    /// The layer reads come from, which acknowledges writes.
    fn primary(self) -> u32 {
        match self {
            Mode::OldOnly | Mode::DualWrite => OLD,
            Mode::ReadNew | Mode::NewOnly => NEW,
        }
    }

    /// The layer that also receives writes, if any.
    fn secondary(self) -> Option<u32> {
        match self {
            Mode::OldOnly | Mode::NewOnly => None,
            Mode::DualWrite => Some(NEW),
            Mode::ReadNew => Some(OLD),
        }
    }

    /// The layers a removal (`delete`, `expire`, `clear`) goes to, in order. Old comes
    /// first, so a `read-new` reader that finds new without the key and then reads old
    /// (and would copy what it finds) sees the removal there. In `new-only` old still
    /// gets removals: a `read-new` call still running at the switch (or a process not
    /// switched yet) must not copy a deleted key back into new.
    fn removal_layers(self) -> &'static [u32] {
        match self {
            Mode::OldOnly => &[OLD],
            Mode::DualWrite | Mode::ReadNew | Mode::NewOnly => &[OLD, NEW],
        }
    }
}

/// The migration wrapper's state.
pub struct Migration {
    mode: Mode,
    /// Whether `new` has compare-and-swap, for set-if-absent copies.
    new_atomics: bool,
    old_reads: u64,
    copied: u64,
    copy_conflicts: u64,
    copy_failures: u64,
}

fn remaining(ttl: KeyTtl) -> Option<Option<u64>> {
    match ttl {
        KeyTtl::ExpiresIn(ms) => Some(Some(ms.max(1))),
        KeyTtl::Persistent => Some(None),
        KeyTtl::Missing => None,
    }
}

impl Migration {
    /// After the primary accepted a write of `keys`: `outcome` is the secondary's answer;
    /// on failure its copies are dropped so it never keeps an older value.
    fn settle(&self, layer: u32, outcome: Result<()>, keys: &[String]) -> Result<()> {
        if outcome.is_ok() {
            return Ok(());
        }
        inner::delete_multi(layer, keys).map(drop).map_err(|e| {
            Error::Unavailable(format!(
                "written to layer {}, but layer {layer} could neither be written nor \
                 invalidated: {e:?}",
                self.mode.primary()
            ))
        })
    }

    /// `read-new`: copies `value`, just read from old, into new with old's remaining TTL;
    /// answers the value to serve (new's, if a write reached new meanwhile).
    fn copy_up(&mut self, key: &str, value: Vec<u8>) -> Vec<u8> {
        self.old_reads += 1;
        let ttl = match inner::ttl(OLD, key).map(remaining) {
            Ok(Some(ttl)) => ttl,
            // Expired or deleted since the read: serve what was read, copy nothing.
            Ok(None) => return value,
            Err(_) => {
                self.copy_failures += 1;
                return value;
            }
        };
        let stored = if self.new_atomics {
            inner::compare_and_swap(NEW, key, None, &value, ttl)
        } else {
            inner::set(NEW, key, &value, ttl).map(|()| true)
        };
        match stored {
            Ok(true) => {
                self.copied += 1;
                value
            }
            Ok(false) => {
                // New got a value after our read: it is the newer one.
                self.copy_conflicts += 1;
                match inner::get(NEW, key) {
                    Ok(Some(newer)) => newer,
                    _ => value,
                }
            }
            Err(_) => {
                self.copy_failures += 1;
                value
            }
        }
    }

    /// After an atomic operation on the primary: the secondary gets the primary's value
    /// and remaining TTL for `key` (or loses the key).
    fn mirror(&self, key: &str) -> Result<()> {
        let Some(secondary) = self.mode.secondary() else {
            return Ok(());
        };
        let primary = self.mode.primary();
        let outcome = (|| {
            let value = inner::get(primary, key)?;
            let ttl = remaining(inner::ttl(primary, key)?);
            match (value, ttl) {
                (Some(v), Some(ttl)) => inner::set(secondary, key, &v, ttl),
                _ => inner::delete(secondary, key).map(drop),
            }
        })();
        self.settle(secondary, outcome, &[key.to_owned()])
    }
}

impl Wrapper for Migration {
    const NAME: &'static str = "migration";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const NATIVE: Capabilities = Capabilities::all();

    fn config_fields() -> Vec<ConfigField> {
        vec![ConfigField::new(
            "mode",
            ConfigKind::Text,
            false,
            "old-only (default), dual-write, read-new or new-only.",
        )]
    }

    fn open(config: &Config) -> Result<Self> {
        inner::expect_two_layers("migration", "old", "new")?;
        Ok(Migration {
            mode: Mode::parse(config.text("mode").unwrap_or("old-only"))?,
            new_atomics: inner::atomics_supported(NEW),
            old_reads: 0,
            copied: 0,
            copy_conflicts: 0,
            copy_failures: 0,
        })
    }

    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
        let found = inner::get(self.mode.primary(), key)?;
        if found.is_some() || self.mode != Mode::ReadNew {
            return Ok(found);
        }
        Ok(inner::get(OLD, key)?.map(|v| self.copy_up(key, v)))
    }

    fn set(&mut self, key: &str, value: Vec<u8>, ttl: Option<u64>) -> Result<()> {
        inner::set(self.mode.primary(), key, &value, ttl)?;
        match self.mode.secondary() {
            Some(layer) => {
                let outcome = inner::set(layer, key, &value, ttl);
                self.settle(layer, outcome, &[key.to_owned()])
            }
            None => Ok(()),
        }
    }

    fn delete(&mut self, key: &str) -> Result<bool> {
        let mut existed = false;
        for &layer in self.mode.removal_layers() {
            let removed = inner::delete(layer, key)?;
            // What the caller sees is the layer reads come from.
            existed |= removed && (layer == self.mode.primary() || self.mode != Mode::NewOnly);
        }
        Ok(existed)
    }

    fn exists(&mut self, key: &str) -> Result<bool> {
        Ok(inner::exists(self.mode.primary(), key)?
            || (self.mode == Mode::ReadNew && inner::exists(OLD, key)?))
    }

    fn get_multi(&mut self, keys: Vec<String>) -> Result<Vec<Option<Vec<u8>>>> {
        let mut values = inner::get_multi(self.mode.primary(), &keys)?;
        if self.mode != Mode::ReadNew {
            return Ok(values);
        }
        let missing: Vec<usize> = (0..keys.len()).filter(|&i| values[i].is_none()).collect();
        if missing.is_empty() {
            return Ok(values);
        }
        let lookup: Vec<String> = missing.iter().map(|&i| keys[i].clone()).collect();
        let found = inner::get_multi(OLD, &lookup)?;
        for (i, value) in missing.into_iter().zip(found) {
            values[i] = value.map(|v| self.copy_up(&keys[i], v));
        }
        Ok(values)
    }

    fn set_multi(&mut self, items: Vec<Item>) -> Result<()> {
        inner::set_multi(self.mode.primary(), &items)?;
        match self.mode.secondary() {
            Some(layer) => {
                let outcome = inner::set_multi(layer, &items);
                let keys: Vec<String> = items.into_iter().map(|i| i.key).collect();
                self.settle(layer, outcome, &keys)
            }
            None => Ok(()),
        }
    }

    fn delete_multi(&mut self, keys: Vec<String>) -> Result<u64> {
        let mut removed = 0;
        for &layer in self.mode.removal_layers() {
            let n = inner::delete_multi(layer, &keys)?;
            if layer == self.mode.primary() || self.mode != Mode::NewOnly {
                removed = removed.max(n);
            }
        }
        Ok(removed)
    }

    fn scan(&mut self, pattern: &str, cursor: Option<&str>, count: u32) -> Result<ScanPage> {
        inner::scan(self.mode.primary(), pattern, cursor, count)
    }

    fn ttl(&mut self, key: &str) -> Result<KeyTtl> {
        match inner::ttl(self.mode.primary(), key)? {
            KeyTtl::Missing if self.mode == Mode::ReadNew => inner::ttl(OLD, key),
            ttl => Ok(ttl),
        }
    }

    fn expire(&mut self, key: &str, ttl: Option<u64>) -> Result<bool> {
        let mut existed = false;
        for &layer in self.mode.removal_layers() {
            let found = inner::expire(layer, key, ttl)?;
            existed |= found && (layer == self.mode.primary() || self.mode != Mode::NewOnly);
        }
        Ok(existed)
    }

    fn clear(&mut self) -> Result<()> {
        for &layer in self.mode.removal_layers() {
            inner::clear(layer)?;
        }
        Ok(())
    }

    fn stats(&mut self) -> Result<Stats> {
        let mut stats = inner::stats(self.mode.primary())?;
        let mode = match self.mode {
            Mode::OldOnly => 0,
            Mode::DualWrite => 1,
            Mode::ReadNew => 2,
            Mode::NewOnly => 3,
        };
        for (name, value) in [
            ("migration.mode", mode),
            ("migration.old-reads", self.old_reads),
            ("migration.copied", self.copied),
            ("migration.copy-conflicts", self.copy_conflicts),
            ("migration.copy-failures", self.copy_failures),
        ] {
            stats.extra.push(Stat {
                name: name.into(),
                value,
            });
        }
        Ok(stats)
    }

    fn ping(&mut self) -> Result<()> {
        inner::ping(self.mode.primary())?;
        match self.mode.secondary() {
            Some(layer) => inner::ping(layer),
            None => Ok(()),
        }
    }

    fn atomics_supported(&mut self) -> bool {
        inner::atomics_supported(self.mode.primary())
    }

    fn increment(&mut self, key: &str, delta: i64, ttl: Option<u64>) -> Result<i64> {
        if self.mode == Mode::ReadNew {
            // A counter that only old has yet continues from old's value.
            self.get(key)?;
        }
        let value = inner::increment(self.mode.primary(), key, delta, ttl)?;
        self.mirror(key)?;
        Ok(value)
    }

    fn compare_and_swap(
        &mut self,
        key: &str,
        expected: Option<&[u8]>,
        new: Vec<u8>,
        ttl: Option<u64>,
    ) -> Result<bool> {
        if self.mode == Mode::ReadNew {
            self.get(key)?;
        }
        let swapped = inner::compare_and_swap(self.mode.primary(), key, expected, &new, ttl)?;
        if swapped {
            self.mirror(key)?;
        }
        Ok(swapped)
    }
}

byoc_guest_sdk::export_wrapper!(Migration);
