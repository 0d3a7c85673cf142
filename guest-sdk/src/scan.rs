//! Scan cursors for adapters: the shared sorted-scan rules, answered in WIT types.

use crate::{Error, Result, ScanPage};
pub use byoc_common::ScanCursor;
use byoc_common::SortedPage;

/// Parses a cursor a caller passed back; one the SDK did not issue is `invalid-argument`.
pub(crate) fn parse(cursor: &str) -> Result<ScanCursor> {
    ScanCursor::parse(cursor)
        .ok_or_else(|| Error::InvalidArgument(format!("unknown scan cursor `{cursor}`")))
}

/// One page of a scan over keys in ascending order (see [`ScanCursor::page`]).
pub fn sorted_page<'a>(
    sorted: impl Iterator<Item = &'a str>,
    pattern: &str,
    count: u32,
    live: impl FnMut(&str) -> bool,
) -> ScanPage {
    let SortedPage { keys, cursor } = ScanCursor::page(sorted, pattern, count, live);
    ScanPage {
        keys,
        cursor: cursor.map(|c| c.encode()),
    }
}
