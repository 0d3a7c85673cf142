//! A deliberately misbehaving adapter for the host's sandbox tests. Never use it to cache.
//!
//! It stores entries in memory like a minimal adapter, but a `get` or `set` of a key that
//! starts with `hostile:` performs the configured `behaviour` (so a batch holding such a
//! key misbehaves halfway through):
//! - `trap`: aborts (executes `unreachable` in wasm);
//! - `panic`: a Rust panic (an abort in wasm);
//! - `loop`: spins forever (only the host's deadline stops it);
//! - `import-loop`: spins forever calling host imports (the wall clock);
//! - `random-loop`: spins forever drawing from WASI random;
//! - `sleep`: sleeps 60 s inside a host import (WASI poll), where no epoch can interrupt;
//! - `grow`: allocates memory until the host's memory limit stops it;
//! - `recurse`: unbounded recursion until the stack overflows;
//! - `huge-value`: answers a value of `size` bytes (default 16 MiB);
//! - `lie`: `scan` answers keys outside the pattern and more than asked for;
//! - `scan-echo`: `scan` answers exactly the `count` it was asked for, as keys
//!   `<count>:<i>` (which match `*`), so a test sees the count the host passed;
//! - `scan-overflow`: `scan` answers `count + 1` keys that match `*`;
//! - `read-file`: tries to read the file named by `path` and answers with what happened
//!   (`denied` when the sandbox refused, the file's bytes if it was readable);
//! - `env`: answers the environment variables it can see, as `NAME=value` lines.

use byoc_guest_sdk::{
    Adapter, Capabilities, Config, ConfigField, ConfigKind, Entry, Error, Result, ScanCursor,
    ScanPage,
};
use std::collections::HashMap;

/// The hostile adapter's state.
pub struct Hostile {
    behaviour: String,
    path: String,
    size: u64,
    entries: HashMap<String, Entry>,
}

#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let frame = [depth; 64];
    std::hint::black_box(&frame);
    recurse(depth + 1) + frame[0]
}

impl Hostile {
    fn misbehave(&self) -> Result<Option<Entry>> {
        match self.behaviour.as_str() {
            "trap" => std::process::abort(),
            "panic" => panic!("hostile adapter panicked on purpose"),
            "loop" => loop {
                std::hint::black_box(0u64);
            },
            "import-loop" => loop {
                std::hint::black_box(byoc_guest_sdk::now_ms());
            },
            "random-loop" => loop {
                let mut bytes = [0u8; 64];
                getrandom::fill(&mut bytes).map_err(|e| Error::Internal(format!("random: {e}")))?;
                std::hint::black_box(bytes);
            },
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_secs(60));
                Ok(None)
            }
            "huge-value" => Ok(Some(Entry::new(vec![7u8; self.size as usize], None, 0))),
            "env" => {
                let vars: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
                Ok(Some(Entry::new(vars.join("\n").into_bytes(), None, 0)))
            }
            "grow" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "recurse" => Ok(Some(Entry::new(recurse(0).to_le_bytes().to_vec(), None, 0))),
            "read-file" => match std::fs::read(&self.path) {
                Ok(bytes) => Ok(Some(Entry::new(bytes, None, 0))),
                Err(e) => Err(Error::Denied(format!("cannot read {}: {e}", self.path))),
            },
            other => Err(Error::InvalidConfig(format!("unknown behaviour `{other}`"))),
        }
    }
}

impl Adapter for Hostile {
    const NAME: &'static str = "hostile";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const NATIVE: Capabilities = Capabilities::SCAN;

    fn config_fields() -> Vec<ConfigField> {
        vec![
            ConfigField::new(
                "behaviour",
                ConfigKind::Text,
                true,
                "trap, panic, loop, import-loop, random-loop, sleep, grow, recurse, huge-value, lie, \
                 scan-echo, scan-overflow, read-file or env.",
            ),
            ConfigField::new("path", ConfigKind::Text, false, "File for read-file."),
            ConfigField::new(
                "size",
                ConfigKind::Size,
                false,
                "Value size for huge-value.",
            ),
        ]
    }

    fn open(config: &Config) -> Result<Self> {
        Ok(Hostile {
            behaviour: config.text("behaviour").unwrap_or_default().to_owned(),
            path: config.text("path").unwrap_or("/etc/passwd").to_owned(),
            size: config.size("size").unwrap_or(16 << 20),
            entries: HashMap::new(),
        })
    }

    fn get(&mut self, key: &str) -> Result<Option<Entry>> {
        if key.starts_with("hostile:") {
            return self.misbehave();
        }
        Ok(self.entries.get(key).cloned())
    }

    fn set(&mut self, key: &str, entry: Entry) -> Result<()> {
        if key.starts_with("hostile:") {
            self.misbehave()?;
        }
        self.entries.insert(key.to_owned(), entry);
        Ok(())
    }

    fn delete(&mut self, key: &str) -> Result<bool> {
        Ok(self.entries.remove(key).is_some())
    }

    fn keys(&mut self) -> Result<Vec<String>> {
        Ok(self.entries.keys().cloned().collect())
    }

    fn scan(
        &mut self,
        pattern: &str,
        cursor: Option<ScanCursor>,
        count: u32,
        _now: u64,
    ) -> Result<ScanPage> {
        if self.behaviour == "lie" {
            let keys = (0..u64::from(count) + 5)
                .map(|i| format!("not-{pattern}-{i}"))
                .collect();
            return Ok(ScanPage { keys, cursor: None });
        }
        if let Some(extra) = match self.behaviour.as_str() {
            "scan-echo" => Some(0),
            "scan-overflow" => Some(1),
            _ => None,
        } {
            let keys = (0..u64::from(count) + extra)
                .map(|i| format!("{count}:{i}"))
                .collect();
            return Ok(ScanPage { keys, cursor: None });
        }
        let mut keys = self.keys()?;
        keys.sort();
        let after = cursor.map(|c| c.after);
        let rest = keys
            .iter()
            .map(String::as_str)
            .filter(|k| after.as_deref().is_none_or(|a| *k > a));
        Ok(byoc_guest_sdk::sorted_page(rest, pattern, count, |_| true))
    }
}

byoc_guest_sdk::export_adapter!(Hostile);
