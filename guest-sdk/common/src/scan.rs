//! Paged scans over keys in sorted order, shared by every sorted-scan implementation.

use crate::glob_match;

/// How many keys a page may examine per key it may return, so that a rare pattern over a
/// large key set still answers each page in bounded time.
pub const EXAMINE_PER_RESULT: usize = 16;

const PREFIX: &str = "after:";

/// A position in a sorted scan: the scan resumes strictly after `after`. Its opaque string
/// form, handed to callers, is `after:<key>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanCursor {
    /// The last key the previous page examined.
    pub after: String,
}

/// One page of a sorted scan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SortedPage {
    /// Matching live keys, ascending.
    pub keys: Vec<String>,
    /// Where to resume; `None` when the scan is complete.
    pub cursor: Option<ScanCursor>,
}

impl ScanCursor {
    /// Parses the string form; `None` if `cursor` was not issued by [`ScanCursor::encode`].
    pub fn parse(cursor: &str) -> Option<Self> {
        cursor.strip_prefix(PREFIX).map(|after| ScanCursor {
            after: after.to_owned(),
        })
    }

    /// The opaque string form handed to callers.
    pub fn encode(&self) -> String {
        format!("{PREFIX}{}", self.after)
    }

    /// Builds one page from `sorted`, an ascending iterator of the keys strictly after
    /// this scan's position. `live` is asked only about keys that match `pattern`. Takes at
    /// most `count` (0 counts as 1) matching live keys and examines at most
    /// `count * EXAMINE_PER_RESULT` keys, so a page may be short or empty before the end.
    ///
    /// ```
    /// # use byoc_common::ScanCursor;
    /// let keys = ["a1", "a2", "b1", "a3"].map(String::from);
    /// let mut sorted = keys.to_vec();
    /// sorted.sort();
    /// let page = ScanCursor::page(sorted.iter().map(String::as_str), "a*", 2, |_| true);
    /// assert_eq!(page.keys, ["a1", "a2"]);
    /// let after = page.cursor.unwrap().after;
    /// let rest = sorted.iter().map(String::as_str).filter(|k| *k > after.as_str());
    /// let page = ScanCursor::page(rest, "a*", 2, |_| true);
    /// assert_eq!(page.keys, ["a3"]);
    /// assert!(page.cursor.is_none());
    /// ```
    pub fn page<'a>(
        sorted: impl Iterator<Item = &'a str>,
        pattern: &str,
        count: u32,
        mut live: impl FnMut(&str) -> bool,
    ) -> SortedPage {
        let count = count.max(1) as usize;
        let budget = count.saturating_mul(EXAMINE_PER_RESULT);
        let mut keys = Vec::new();
        let mut last = None;
        let mut sorted = sorted.peekable();
        let mut examined = 0;
        for key in sorted.by_ref() {
            examined += 1;
            if glob_match(pattern, key) && live(key) {
                keys.push(key.to_owned());
            }
            last = Some(key);
            if keys.len() >= count || examined >= budget {
                break;
            }
        }
        let cursor = match (sorted.peek().is_some(), last) {
            (true, Some(key)) => Some(ScanCursor {
                after: key.to_owned(),
            }),
            _ => None,
        };
        SortedPage { keys, cursor }
    }
}
