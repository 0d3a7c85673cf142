//! How typed values become bytes: one trait, postcard and JSON implementations.

use crate::{Error, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Turns `T` into bytes and back. Object safe for a given `T`, so a cache can choose its
/// serializer at run time.
pub trait Serializer<T>: Send + Sync + 'static {
    /// Encodes a value.
    fn encode(&self, value: &T) -> Result<Vec<u8>>;
    /// Decodes bytes written by [`encode`](Serializer::encode). An error here makes the
    /// cache treat the entry as a miss.
    fn decode(&self, bytes: &[u8]) -> Result<T>;
    /// A short name, e.g. `postcard`.
    fn name(&self) -> &'static str;
    /// A byte identifying the format in stored entries (1 postcard, 2 JSON; custom
    /// serializers should use 128 and up). An entry written with another id reads as a
    /// miss.
    fn id(&self) -> u8;
}

/// Compact binary encoding with [postcard](https://docs.rs/postcard) (the default).
/// Not self-describing: changing `T`'s fields makes old entries undecodable (read as
/// misses), never wrongly decoded as long as the layout differs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Postcard;

/// JSON with serde_json: larger and slower, readable by other tools.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json;

impl<T: Serialize + DeserializeOwned> Serializer<T> for Postcard {
    fn encode(&self, value: &T) -> Result<Vec<u8>> {
        postcard::to_allocvec(value).map_err(|e| Error::Serialize(e.to_string()))
    }

    fn decode(&self, bytes: &[u8]) -> Result<T> {
        match postcard::take_from_bytes(bytes) {
            Ok((value, [])) => Ok(value),
            Ok((_, rest)) => Err(Error::Internal(format!(
                "postcard: {} bytes left over after the value",
                rest.len()
            ))),
            Err(e) => Err(Error::Internal(format!("postcard: {e}"))),
        }
    }

    fn name(&self) -> &'static str {
        "postcard"
    }

    fn id(&self) -> u8 {
        1
    }
}

impl<T: Serialize + DeserializeOwned> Serializer<T> for Json {
    fn encode(&self, value: &T) -> Result<Vec<u8>> {
        serde_json::to_vec(value).map_err(|e| Error::Serialize(e.to_string()))
    }

    fn decode(&self, bytes: &[u8]) -> Result<T> {
        serde_json::from_slice(bytes).map_err(|e| Error::Internal(format!("json: {e}")))
    }

    fn name(&self) -> &'static str {
        "json"
    }

    fn id(&self) -> u8 {
        2
    }
}
