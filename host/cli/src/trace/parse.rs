//! Block traces: parsing text files into a sequence of keys.

use crate::{Error, Result};
use std::collections::HashMap;
use std::path::Path;

/// Keys that are not numbers get ids from here up, so they never meet a block number.
const INTERNED_BASE: u64 = 1 << 63;

/// A sequence of accesses, each to a key (a block number or an interned name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    keys: Vec<u64>,
}

impl Trace {
    /// A trace of these keys, in order.
    pub fn from_keys(keys: Vec<u64>) -> Trace {
        Trace { keys }
    }

    /// Parses a trace. Each non-blank line that does not start with `#` is either one key
    /// (a number is a block number; any other word is a name, given an id of its own), or
    /// an ARC `.lis` record `start count [ignored...]`: `count` accesses to the blocks
    /// `start`, `start + 1`, …
    ///
    /// A malformed line is an [`Error::InvalidArgument`] naming its line number.
    pub fn parse(text: &str) -> Result<Trace> {
        let mut keys = Vec::new();
        let mut names: HashMap<&str, u64> = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |why: &str| Error::InvalidArgument(format!("trace line {}: {why}", n + 1));
            let mut fields = line.split_whitespace();
            let first = fields.next().unwrap_or_default();
            match fields.next() {
                None => match first.parse::<u64>() {
                    Ok(block) if block < INTERNED_BASE => keys.push(block),
                    Ok(_) => return Err(bad("block number too large")),
                    Err(_) => {
                        let next = INTERNED_BASE + names.len() as u64;
                        keys.push(*names.entry(first).or_insert(next));
                    }
                },
                Some(count) => {
                    let start: u64 = first
                        .parse()
                        .map_err(|_| bad("`start count ...` needs a numeric start"))?;
                    let count: u64 = count
                        .parse()
                        .map_err(|_| bad("`start count ...` needs a numeric count"))?;
                    let end = start
                        .checked_add(count)
                        .filter(|&end| end <= INTERNED_BASE)
                        .ok_or_else(|| bad("block range too large"))?;
                    keys.extend(start..end);
                }
            }
        }
        Ok(Trace { keys })
    }

    /// Reads and parses the trace file at `path` (see [`Trace::parse`]).
    pub fn load(path: impl AsRef<Path>) -> Result<Trace> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::InvalidArgument(format!("cannot read trace {}: {e}", path.display()))
        })?;
        Trace::parse(&text)
    }

    /// The keys, in access order.
    pub fn keys(&self) -> &[u64] {
        &self.keys
    }

    /// Number of accesses.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the trace has no access.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Number of distinct keys.
    pub fn distinct(&self) -> usize {
        let mut seen = std::collections::HashSet::with_capacity(self.keys.len() / 4);
        self.keys.iter().filter(|k| seen.insert(**k)).count()
    }
}

#[cfg(test)]
mod tests {
    use super::Trace;
    use crate::Error;

    #[test]
    fn keys_names_and_lis_ranges() {
        let t = Trace::parse("# comment\n5\n\nfoo\n10 3 0 1\nfoo\n7 1\n").expect("parse");
        let foo = 1 << 63;
        assert_eq!(t.keys(), [5, foo, 10, 11, 12, foo, 7]);
        assert_eq!(t.distinct(), 6);
    }

    #[test]
    fn malformed_lines_are_typed_errors() {
        for bad in ["1 x\n", "x 2\n", "18446744073709551615 2\n"] {
            let e = Trace::parse(bad).expect_err(bad);
            assert!(
                matches!(&e, Error::InvalidArgument(m) if m.contains("line 1")),
                "{e}"
            );
        }
        assert!(matches!(
            Trace::load("/nonexistent/trace"),
            Err(Error::InvalidArgument(_))
        ));
    }
}
