//! Redis-style glob patterns over Unicode characters.
//!
//! Syntax (as Redis `KEYS`/`SCAN MATCH`): `*` matches any run of characters (also none),
//! `?` exactly one character, `[abc]` one of a set, `[^abc]` or `[!abc]` one character not
//! in it, `[a-z]` a range (a reversed range `[z-a]` is the same range), and `\` makes the
//! next character literal, inside or outside a class. Unlike Redis, which matches bytes,
//! `?` and classes match one Unicode character.
//!
//! Matching runs in O(pattern × key) time whatever the pattern: runs of `*` cannot make it
//! exponential.

use std::fmt;

/// The longest pattern accepted, in bytes.
pub const MAX_PATTERN_LEN: usize = 4096;

/// Why a pattern is rejected by [`validate_pattern`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GlobError {
    /// A `[` class has no closing `]`; the byte offset of the `[` is given.
    UnterminatedClass(usize),
    /// The pattern is longer than [`MAX_PATTERN_LEN`] bytes.
    TooLong(usize),
}

impl fmt::Display for GlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GlobError::UnterminatedClass(at) => {
                write!(f, "glob pattern has an unterminated '[' at byte {at}")
            }
            GlobError::TooLong(len) => write!(
                f,
                "glob pattern is {len} bytes long; the limit is {MAX_PATTERN_LEN}"
            ),
        }
    }
}

impl std::error::Error for GlobError {}

/// `text` with every glob metacharacter escaped, so the pattern matches only `text`.
///
/// ```
/// # use byoc_common::{escape_glob, glob_match};
/// assert_eq!(escape_glob("a*b"), r"a\*b");
/// assert!(glob_match(&escape_glob("[x]?"), "[x]?"));
/// ```
pub fn escape_glob(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Checks that `pattern` is well formed: every `[` closed, at most [`MAX_PATTERN_LEN`] bytes.
///
/// ```
/// # use byoc_common::validate_pattern;
/// assert!(validate_pattern("user:[0-9]*").is_ok());
/// assert!(validate_pattern("user:[0-9").is_err());
/// ```
pub fn validate_pattern(pattern: &str) -> Result<(), GlobError> {
    if pattern.len() > MAX_PATTERN_LEN {
        return Err(GlobError::TooLong(pattern.len()));
    }
    let mut chars = pattern.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '[' => {
                let mut closed = false;
                while let Some((_, c)) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        ']' => {
                            closed = true;
                            break;
                        }
                        _ => {}
                    }
                }
                if !closed {
                    return Err(GlobError::UnterminatedClass(at));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether `key` matches the glob `pattern` (see the module docs for the syntax).
///
/// A malformed pattern never panics: an unterminated class extends to the end of the
/// pattern, as in Redis. Use [`validate_pattern`] to reject such patterns up front.
///
/// ```
/// # use byoc_common::glob_match;
/// assert!(glob_match("h?llo", "hello"));
/// assert!(glob_match("h[^e]llo", "hallo"));
/// assert!(glob_match("h[a-b]llo", "hbllo"));
/// assert!(glob_match(r"literal\*", "literal*"));
/// assert!(!glob_match(r"literal\*", "literally"));
/// ```
pub fn glob_match(pattern: &str, key: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = key.chars().collect();
    let (mut pi, mut si) = (0usize, 0usize);
    // Where to resume after the last `*`: (pattern index after it, key index it covers to).
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    while pi < p.len() && p[pi] == '*' {
                        pi += 1;
                    }
                    star = Some((pi, si));
                    continue;
                }
                '?' => {
                    pi += 1;
                    si += 1;
                    continue;
                }
                '[' => {
                    let (matched, next) = match_class(&p, pi + 1, s[si]);
                    if matched {
                        pi = next;
                        si += 1;
                        continue;
                    }
                }
                '\\' if pi + 1 < p.len() => {
                    if p[pi + 1] == s[si] {
                        pi += 2;
                        si += 1;
                        continue;
                    }
                }
                c => {
                    if c == s[si] {
                        pi += 1;
                        si += 1;
                        continue;
                    }
                }
            }
        }
        match star.as_mut() {
            Some((star_pi, star_si)) => {
                *star_si += 1;
                si = *star_si;
                pi = *star_pi;
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Matches `c` against the class starting at `p[start]` (just after `[`). Returns whether it
/// matched and the pattern index just after the closing `]` (or the end of the pattern).
fn match_class(p: &[char], start: usize, c: char) -> (bool, usize) {
    let mut i = start;
    let negate = i < p.len() && (p[i] == '^' || p[i] == '!');
    if negate {
        i += 1;
    }
    let mut matched = false;
    while i < p.len() && p[i] != ']' {
        let mut lo = p[i];
        if lo == '\\' && i + 1 < p.len() {
            i += 1;
            lo = p[i];
        }
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            let mut hi = p[i + 2];
            let mut skip = 3;
            if hi == '\\' && i + 3 < p.len() {
                hi = p[i + 3];
                skip = 4;
            }
            let (a, b) = if lo <= hi { (lo, hi) } else { (hi, lo) };
            matched |= (a..=b).contains(&c);
            i += skip;
        } else {
            matched |= lo == c;
            i += 1;
        }
    }
    // Step over the closing `]` if there is one.
    let next = if i < p.len() { i + 1 } else { i };
    (matched != negate, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_examples() {
        // The examples of the Redis KEYS documentation.
        assert!(glob_match("h?llo", "hello"));
        assert!(glob_match("h?llo", "hallo"));
        assert!(glob_match("h?llo", "hxllo"));
        assert!(glob_match("h*llo", "hllo"));
        assert!(glob_match("h*llo", "heeeello"));
        assert!(glob_match("h[ae]llo", "hello"));
        assert!(glob_match("h[ae]llo", "hallo"));
        assert!(!glob_match("h[ae]llo", "hillo"));
        assert!(glob_match("h[^e]llo", "hallo"));
        assert!(!glob_match("h[^e]llo", "hello"));
        assert!(glob_match("h[a-b]llo", "hallo"));
        assert!(glob_match("h[a-b]llo", "hbllo"));
        assert!(!glob_match("h[a-b]llo", "hcllo"));
    }

    #[test]
    fn stars_and_edges() {
        assert!(glob_match("*", ""));
        assert!(glob_match("", ""));
        assert!(!glob_match("", "a"));
        assert!(glob_match("a*b*c", "aXbYc"));
        assert!(!glob_match("a*b*c", "aXbY"));
        assert!(glob_match("*:*:*", "a:b:c"));
        assert!(glob_match("**x", "aaax"));
        assert!(glob_match("[z-a]", "m"));
        assert!(glob_match(r"[\]]", "]"));
        assert!(glob_match(r"\?", "?"));
        assert!(!glob_match(r"\?", "a"));
        assert!(glob_match("ключ:?", "ключ:я"));
        assert!(glob_match("[!a]", "b"));
        // Unterminated class: runs to the end of the pattern, no panic.
        assert!(glob_match("[ab", "a"));
    }

    #[test]
    fn pathological_patterns_are_fast() {
        let key = "a".repeat(2000);
        let pattern = format!("{}b", "*a".repeat(200));
        assert!(!glob_match(&pattern, &key));
    }

    #[test]
    fn validation() {
        assert_eq!(
            validate_pattern("[abc"),
            Err(GlobError::UnterminatedClass(0))
        );
        assert_eq!(validate_pattern(r"x\[abc"), Ok(()));
        assert!(validate_pattern(&"*".repeat(MAX_PATTERN_LEN + 1)).is_err());
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    use super::escape_glob as escape;

    proptest! {
        #[test]
        fn never_panics(pattern in "\\PC{0,20}", key in "\\PC{0,20}") {
            let _ = glob_match(&pattern, &key);
            let _ = validate_pattern(&pattern);
        }

        #[test]
        fn an_escaped_key_matches_exactly_itself(key in "\\PC{0,16}", other in "\\PC{0,16}") {
            let pattern = escape(&key);
            prop_assert!(glob_match(&pattern, &key));
            prop_assert_eq!(glob_match(&pattern, &other), key == other);
        }

        #[test]
        fn star_matches_everything_and_prefix_star_matches_prefixes(
            prefix in "[a-z:]{0,6}", rest in "\\PC{0,10}"
        ) {
            let key = format!("{prefix}{rest}");
            let prefix_star = format!("{}*", escape(&prefix));
            prop_assert!(glob_match("*", &key));
            prop_assert!(glob_match(&prefix_star, &key));
        }

        #[test]
        fn question_marks_count_characters(key in "\\PC{0,12}") {
            let n = key.chars().count();
            prop_assert!(glob_match(&"?".repeat(n), &key));
            prop_assert!(!glob_match(&"?".repeat(n + 1), &key));
        }
    }
}
