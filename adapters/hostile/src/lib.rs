//! A deliberately misbehaving adapter for the host's sandbox tests. Never use it to cache.
//!
//! It stores entries in memory like a minimal adapter, but a `get` of a key that starts
//! with `hostile:` performs the configured `behaviour`:
//! - `trap`: aborts (executes `unreachable` in wasm);
//! - `panic`: a Rust panic (an abort in wasm);
//! - `loop`: spins forever (only the host's deadline stops it);
//! - `grow`: allocates memory until the host's memory limit stops it;
//! - `recurse`: unbounded recursion until the wasm stack overflows;
//! - `read-file`: tries to read the file named by `path` and answers with what happened
//!   (`denied` when the sandbox refused, the file's bytes if it was readable).

use byoc_guest_sdk::{Adapter, Config, ConfigField, ConfigKind, Entry, Error, Result};
use std::collections::HashMap;

/// The hostile adapter's state.
pub struct Hostile {
    behaviour: String,
    path: String,
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

    fn config_fields() -> Vec<ConfigField> {
        vec![
            ConfigField::new(
                "behaviour",
                ConfigKind::Text,
                true,
                "trap, panic, loop, grow, recurse or read-file.",
            ),
            ConfigField::new("path", ConfigKind::Text, false, "File for read-file."),
        ]
    }

    fn open(config: &Config) -> Result<Self> {
        Ok(Hostile {
            behaviour: config.text("behaviour").unwrap_or_default().to_owned(),
            path: config.text("path").unwrap_or("/etc/passwd").to_owned(),
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
        self.entries.insert(key.to_owned(), entry);
        Ok(())
    }

    fn delete(&mut self, key: &str) -> Result<bool> {
        Ok(self.entries.remove(key).is_some())
    }

    fn keys(&mut self) -> Result<Vec<String>> {
        Ok(self.entries.keys().cloned().collect())
    }
}

byoc_guest_sdk::export_adapter!(Hostile);
