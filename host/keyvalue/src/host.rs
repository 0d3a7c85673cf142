//! The host functions: each bucket call becomes a call on the bucket's provider.

use crate::bindings::wasi::keyvalue::{atomics, batch, store};
use crate::{Bucket, KeyValue, LIST_PAGE, MAX_CURSORS};
use byoc::Item;
use std::collections::BTreeMap;
use wasmtime::component::Resource;

type Answer<T> = wasmtime::Result<Result<T, store::Error>>;

/// A bucket the application opened: its cache and the `list-keys` cursors issued.
pub struct OpenBucket {
    bucket: Bucket,
    /// Cursor number given to the application → the provider's scan cursor.
    cursors: BTreeMap<u64, String>,
    next_cursor: u64,
}

impl OpenBucket {
    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.bucket.key_prefix)
    }

    fn remember(&mut self, scan_cursor: String) -> u64 {
        self.next_cursor += 1;
        self.cursors.insert(self.next_cursor, scan_cursor);
        while self.cursors.len() > MAX_CURSORS {
            self.cursors.pop_first();
        }
        self.next_cursor
    }
}

/// A provider error as the application sees it: `other`, with the error's text (errors
/// never carry secrets).
fn other(e: byoc::Error) -> store::Error {
    store::Error::Other(e.to_string())
}

/// `pattern` matching `text` literally (Redis glob escapes).
fn escape_glob(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl KeyValue<'_> {
    fn open_bucket(&mut self, bucket: &Resource<OpenBucket>) -> wasmtime::Result<&mut OpenBucket> {
        Ok(self.table.get_mut(bucket)?)
    }
}

impl store::Host for KeyValue<'_> {
    async fn open(&mut self, identifier: String) -> Answer<Resource<OpenBucket>> {
        let Some(bucket) = self.ctx.buckets.get(&identifier) else {
            return Ok(Err(store::Error::NoSuchStore));
        };
        let open = OpenBucket {
            bucket: bucket.clone(),
            cursors: BTreeMap::new(),
            next_cursor: 0,
        };
        Ok(Ok(self.table.push(open)?))
    }
}

impl store::HostBucket for KeyValue<'_> {
    async fn get(&mut self, bucket: Resource<OpenBucket>, key: String) -> Answer<Option<Vec<u8>>> {
        let b = self.open_bucket(&bucket)?;
        Ok(b.bucket.provider.get(&b.key(&key)).await.map_err(other))
    }

    async fn set(
        &mut self,
        bucket: Resource<OpenBucket>,
        key: String,
        value: Vec<u8>,
    ) -> Answer<()> {
        let b = self.open_bucket(&bucket)?;
        let ttl = b.bucket.default_ttl;
        Ok(b.bucket
            .provider
            .set(&b.key(&key), &value, ttl)
            .await
            .map_err(other))
    }

    async fn delete(&mut self, bucket: Resource<OpenBucket>, key: String) -> Answer<()> {
        let b = self.open_bucket(&bucket)?;
        Ok(b.bucket
            .provider
            .delete(&b.key(&key))
            .await
            .map(drop)
            .map_err(other))
    }

    async fn exists(&mut self, bucket: Resource<OpenBucket>, key: String) -> Answer<bool> {
        let b = self.open_bucket(&bucket)?;
        Ok(b.bucket.provider.exists(&b.key(&key)).await.map_err(other))
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<OpenBucket>,
        cursor: Option<u64>,
    ) -> Answer<store::KeyResponse> {
        let b = self.open_bucket(&bucket)?;
        let scan_cursor = match cursor {
            None => None,
            Some(n) => match b.cursors.get(&n) {
                Some(c) => Some(c.clone()),
                None => {
                    return Ok(Err(store::Error::Other(format!(
                        "list-keys: cursor {n} was not issued by this bucket or has expired"
                    ))));
                }
            },
        };
        let prefix = b.bucket.key_prefix.clone();
        let pattern = format!("{}*", escape_glob(&prefix));
        let page = match b
            .bucket
            .provider
            .scan(&pattern, scan_cursor.as_deref(), LIST_PAGE)
            .await
        {
            Ok(page) => page,
            Err(e) => return Ok(Err(other(e))),
        };
        let keys = page
            .keys
            .into_iter()
            .filter_map(|k| k.strip_prefix(&prefix).map(str::to_owned))
            .collect();
        let cursor = page.cursor.map(|c| b.remember(c));
        Ok(Ok(store::KeyResponse { keys, cursor }))
    }

    async fn drop(&mut self, bucket: Resource<OpenBucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for KeyValue<'_> {
    async fn increment(
        &mut self,
        bucket: Resource<OpenBucket>,
        key: String,
        delta: u64,
    ) -> Answer<u64> {
        let b = self.open_bucket(&bucket)?;
        let Ok(delta) = i64::try_from(delta) else {
            return Ok(Err(store::Error::Other(
                "increment: a delta above 2^63-1 is not supported".into(),
            )));
        };
        let ttl = b.bucket.default_ttl;
        let value = match b.bucket.provider.increment(&b.key(&key), delta, ttl).await {
            Ok(v) => v,
            Err(e) => return Ok(Err(other(e))),
        };
        Ok(u64::try_from(value).map_err(|_| {
            store::Error::Other(format!(
                "increment: the stored value {value} is negative (not a u64)"
            ))
        }))
    }
}

impl batch::Host for KeyValue<'_> {
    async fn get_many(
        &mut self,
        bucket: Resource<OpenBucket>,
        keys: Vec<String>,
    ) -> Answer<Vec<Option<(String, Vec<u8>)>>> {
        let b = self.open_bucket(&bucket)?;
        let full: Vec<String> = keys.iter().map(|k| b.key(k)).collect();
        let values = match b.bucket.provider.get_multi(&full).await {
            Ok(v) => v,
            Err(e) => return Ok(Err(other(e))),
        };
        Ok(Ok(keys
            .into_iter()
            .zip(values)
            .map(|(k, v)| v.map(|v| (k, v)))
            .collect()))
    }

    async fn set_many(
        &mut self,
        bucket: Resource<OpenBucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Answer<()> {
        let b = self.open_bucket(&bucket)?;
        let ttl = b.bucket.default_ttl;
        let items: Vec<Item> = key_values
            .into_iter()
            .map(|(k, v)| Item::new(b.key(&k), v, ttl))
            .collect();
        Ok(b.bucket.provider.set_multi(&items).await.map_err(other))
    }

    async fn delete_many(&mut self, bucket: Resource<OpenBucket>, keys: Vec<String>) -> Answer<()> {
        let b = self.open_bucket(&bucket)?;
        let full: Vec<String> = keys.iter().map(|k| b.key(k)).collect();
        Ok(b.bucket
            .provider
            .delete_multi(&full)
            .await
            .map(drop)
            .map_err(other))
    }
}
