//! Operations derived from an adapter's single-key operations.

use crate::{Adapter, Result, ScanCursor, ScanPage, Usage};

pub(crate) fn exists<A: Adapter>(adapter: &mut A, key: &str, now: u64) -> Result<bool> {
    Ok(adapter.get(key)?.is_some_and(|e| e.is_live(now)))
}

pub(crate) fn scan<A: Adapter>(
    adapter: &mut A,
    pattern: &str,
    cursor: Option<ScanCursor>,
    count: u32,
    now: u64,
) -> Result<ScanPage> {
    let mut keys = adapter.keys()?;
    keys.sort_unstable();
    let start = match &cursor {
        Some(c) => keys.partition_point(|k| k.as_str() <= c.after.as_str()),
        None => 0,
    };
    Ok(crate::sorted_page(
        keys[start..].iter().map(String::as_str),
        pattern,
        count,
        |key| matches!(adapter.get(key), Ok(Some(e)) if e.is_live(now)),
    ))
}

pub(crate) fn expire<A: Adapter>(
    adapter: &mut A,
    key: &str,
    expires_at: Option<u64>,
    now: u64,
) -> Result<bool> {
    match adapter.get(key)? {
        Some(mut entry) if entry.is_live(now) => {
            entry.expires_at = expires_at;
            adapter.set(key, entry)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

pub(crate) fn clear<A: Adapter>(adapter: &mut A) -> Result<()> {
    for key in adapter.keys()? {
        adapter.delete(&key)?;
    }
    Ok(())
}

pub(crate) fn usage<A: Adapter>(adapter: &mut A) -> Result<Usage> {
    let keys = adapter.keys()?;
    let mut bytes = 0u64;
    for key in &keys {
        if let Some(entry) = adapter.get(key)? {
            bytes += (key.len() + entry.value.len()) as u64;
        }
    }
    Ok(Usage {
        keys: keys.len() as u64,
        bytes,
        ..Usage::default()
    })
}
