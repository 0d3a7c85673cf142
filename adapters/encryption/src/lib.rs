//! The BYOC encryption wrapper: values are sealed with XChaCha20-Poly1305 before they
//! reach the layer below, and opened on the way back.
//!
//! Keys come from this wrapper's configuration (`keys`: `ID:HEX` entries; `current`: the id
//! new values are sealed with; any listed key opens, which allows rotation), never from the
//! inner provider. The cache key and the key id are associated data, so a value copied to
//! another key fails to open. A value that fails to open is an `internal` error
//! (`on-tamper: error`, the default) or a miss (`on-tamper: miss`), never garbage, and is
//! counted as `encryption.open-failures`. Key names, TTLs and sizes are not encrypted;
//! `scan`, `ttl`, `expire`, `delete` and `clear` pass through. The envelope's format:
//! `docs/internals.md`, "Encryption envelope".
//! Atomics (when the layer has them) compare plaintexts: `compare-and-swap` opens the stored
//! envelope, then swaps with the layer's own compare-and-swap expecting exactly that envelope.

use byoc_guest_sdk::{
    Capabilities, Config, ConfigField, ConfigKind, Error, Item, Result, Stat, Stats, Wrapper,
    atomic, inner,
};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

const VERSION_BYTE: u8 = 0xE1;
const NONCE_LEN: usize = 24;
const AAD_LABEL: &[u8] = b"byoc:encryption:v1\0";

/// One configured key.
struct SealingKey {
    id: String,
    cipher: XChaCha20Poly1305,
}

/// The encryption wrapper's state.
pub struct Encryption {
    keys: Vec<SealingKey>,
    current: usize,
    tamper_is_miss: bool,
    open_failures: u64,
}

fn aad(key: &str, id: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_LABEL.len() + key.len() + 1 + id.len());
    aad.extend_from_slice(AAD_LABEL);
    aad.extend_from_slice(key.as_bytes());
    aad.push(0);
    aad.extend_from_slice(id.as_bytes());
    aad
}

/// Parses the `index`th (from 0) `keys` entry. An error names the entry by its position,
/// never by any of its characters: part of a key is still a secret.
fn parse_key(index: usize, entry: &str) -> Result<SealingKey> {
    let bad =
        |why: &str| Error::InvalidConfig(format!("keys: entry {} of the list: {why}", index + 1));
    let (id, hex_key) = entry
        .split_once(':')
        .ok_or_else(|| bad("expected ID:HEX"))?;
    if id.is_empty() || id.len() > 255 {
        return Err(bad("the key id must be 1 to 255 bytes"));
    }
    let bytes = hex::decode(hex_key).map_err(|_| bad("the key is not hex"))?;
    let cipher = XChaCha20Poly1305::new_from_slice(&bytes)
        .map_err(|_| bad("the key must be 32 bytes (64 hex digits)"))?;
    Ok(SealingKey {
        id: id.to_owned(),
        cipher,
    })
}

impl Encryption {
    fn seal(&self, key: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
        let sealing = &self.keys[self.current];
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce)
            .map_err(|e| Error::Unavailable(format!("no randomness for a nonce: {e}")))?;
        let aad = aad(key, &sealing.id);
        let sealed = sealing
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| Error::Internal("encryption failed".into()))?;
        let mut out = Vec::with_capacity(2 + sealing.id.len() + NONCE_LEN + sealed.len());
        out.push(VERSION_BYTE);
        out.push(sealing.id.len() as u8);
        out.extend_from_slice(sealing.id.as_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    fn try_open(&self, key: &str, envelope: &[u8]) -> Option<Vec<u8>> {
        let [VERSION_BYTE, id_len, rest @ ..] = envelope else {
            return None;
        };
        let (id, rest) = rest.split_at_checked(usize::from(*id_len))?;
        let id = std::str::from_utf8(id).ok()?;
        let (nonce, sealed) = rest.split_at_checked(NONCE_LEN)?;
        let sealing = self.keys.iter().find(|k| k.id == id)?;
        let aad = aad(key, id);
        sealing
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .ok()
    }

    /// Opens a stored value for an atomic operation: a value that fails to open is an
    /// error whatever `on-tamper` says (a counter or a comparison cannot go on from a
    /// value it cannot read). Not counted: `&self` only.
    fn open_strict(&self, key: &str, envelope: &[u8]) -> Result<Vec<u8>> {
        self.try_open(key, envelope).ok_or_else(|| {
            Error::Internal(format!(
                "the value under `{key}` failed authentication (tampered, moved, truncated \
                 or sealed with an unknown key)"
            ))
        })
    }

    /// Opens a stored value: `Ok(None)` for a tampered value when configured as a miss.
    fn open(&mut self, key: &str, stored: Option<Vec<u8>>) -> Result<Option<Vec<u8>>> {
        let Some(envelope) = stored else {
            return Ok(None);
        };
        match self.try_open(key, &envelope) {
            Some(plain) => Ok(Some(plain)),
            None => {
                self.open_failures += 1;
                if self.tamper_is_miss {
                    Ok(None)
                } else {
                    Err(Error::Internal(format!(
                        "the value under `{key}` failed authentication (tampered, moved, \
                         truncated or sealed with an unknown key)"
                    )))
                }
            }
        }
    }
}

impl Wrapper for Encryption {
    const NAME: &'static str = "encryption";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const NATIVE: Capabilities = Capabilities::GET
        .union(Capabilities::SET)
        .union(Capabilities::GET_MULTI)
        .union(Capabilities::SET_MULTI)
        .union(Capabilities::STATS);

    fn config_fields() -> Vec<ConfigField> {
        vec![
            ConfigField::new(
                "keys",
                ConfigKind::TextList,
                true,
                "Keys as ID:HEX (32 bytes as 64 hex digits); every listed key can open values.",
            ),
            ConfigField::new(
                "current",
                ConfigKind::Text,
                false,
                "Id of the key new values are sealed with (default: the first listed).",
            ),
            ConfigField::new(
                "on-tamper",
                ConfigKind::Text,
                false,
                "What a value that fails to open reads as: error (default) or miss.",
            ),
        ]
    }

    fn open(config: &Config) -> Result<Self> {
        let keys = config
            .text_list("keys")
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, k)| parse_key(i, k))
            .collect::<Result<Vec<_>>>()?;
        if keys.is_empty() {
            return Err(Error::InvalidConfig(
                "keys: at least one key is needed".into(),
            ));
        }
        for (i, k) in keys.iter().enumerate() {
            if keys[..i].iter().any(|other| other.id == k.id) {
                return Err(Error::InvalidConfig(format!(
                    "keys: id `{}` given twice",
                    k.id
                )));
            }
        }
        let current = match config.text("current") {
            None => 0,
            Some(id) => keys.iter().position(|k| k.id == id).ok_or_else(|| {
                Error::InvalidConfig(format!("current: no key with id `{id}` in keys"))
            })?,
        };
        let tamper_is_miss = match config.text("on-tamper").unwrap_or("error") {
            "error" => false,
            "miss" => true,
            other => {
                return Err(Error::InvalidConfig(format!(
                    "on-tamper: `{other}` is not error or miss"
                )));
            }
        };
        Ok(Encryption {
            keys,
            current,
            tamper_is_miss,
            open_failures: 0,
        })
    }

    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
        let stored = inner::get(0, key)?;
        self.open(key, stored)
    }

    fn set(&mut self, key: &str, value: Vec<u8>, ttl: Option<u64>) -> Result<()> {
        let sealed = self.seal(key, &value)?;
        inner::set(0, key, &sealed, ttl)
    }

    fn get_multi(&mut self, keys: Vec<String>) -> Result<Vec<Option<Vec<u8>>>> {
        let stored = inner::get_multi(0, &keys)?;
        keys.iter()
            .zip(stored)
            .map(|(key, value)| self.open(key, value))
            .collect()
    }

    fn set_multi(&mut self, items: Vec<Item>) -> Result<()> {
        let sealed = items
            .into_iter()
            .map(|item| {
                Ok(Item {
                    value: self.seal(&item.key, &item.value)?,
                    ..item
                })
            })
            .collect::<Result<Vec<_>>>()?;
        inner::set_multi(0, &sealed)
    }

    fn atomics_supported(&mut self) -> bool {
        inner::atomics_supported(0)
    }

    fn increment(&mut self, key: &str, delta: i64, ttl: Option<u64>) -> Result<i64> {
        let this = &*self;
        atomic::transformed_increment(
            0,
            key,
            delta,
            ttl,
            |stored| this.open_strict(key, stored),
            |value| this.seal(key, value),
        )
    }

    fn compare_and_swap(
        &mut self,
        key: &str,
        expected: Option<&[u8]>,
        new: Vec<u8>,
        ttl: Option<u64>,
    ) -> Result<bool> {
        let this = &*self;
        atomic::transformed_compare_and_swap(
            0,
            key,
            expected,
            &new,
            ttl,
            |stored| this.open_strict(key, stored),
            |value| this.seal(key, value),
        )
    }

    fn stats(&mut self) -> Result<Stats> {
        let mut stats = inner::stats(0)?;
        stats.extra.push(Stat {
            name: "encryption.open-failures".into(),
            value: self.open_failures,
        });
        Ok(stats)
    }
}

byoc_guest_sdk::export_wrapper!(Encryption);
