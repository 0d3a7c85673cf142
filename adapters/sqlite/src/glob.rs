//! Redis-style glob patterns as SQLite `GLOB` patterns, for scans.
//!
//! The translation matches every key the pattern matches and may match more: the exact
//! pattern is applied to what `GLOB` lets through. Escaped metacharacters become one-
//! character classes (SQLite's `GLOB` has no escape character: `[*]` is a literal `*`).
//! A class SQLite reads differently (escapes, ranges, an empty or `]`-first class) becomes
//! `?`, which matches any one character.

/// The `GLOB` pattern for `pattern`.
pub(crate) fn to_sqlite(pattern: &str) -> String {
    if byoc_common::validate_pattern(pattern).is_err() {
        return "*".into();
    }
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' | '?' => out.push(c),
            '\\' => match chars.next() {
                Some(lit) => push_literal(&mut out, lit),
                None => push_literal(&mut out, '\\'),
            },
            '[' => {
                let mut body = String::new();
                let mut plain = true;
                while let Some(c) = chars.next() {
                    match c {
                        ']' => break,
                        '\\' => {
                            plain = false;
                            chars.next();
                        }
                        '-' | '[' => plain = false,
                        _ => {}
                    }
                    body.push(c);
                }
                let negated = body.starts_with('^');
                let members = if negated { &body[1..] } else { &body[..] };
                if plain && !members.is_empty() {
                    out.push('[');
                    out.push_str(&body);
                    out.push(']');
                } else {
                    out.push('?');
                }
            }
            _ => push_literal(&mut out, c),
        }
    }
    out
}

/// Appends `c` to match itself only.
fn push_literal(out: &mut String, c: char) {
    if matches!(c, '*' | '?' | '[') {
        out.push('[');
        out.push(c);
        out.push(']');
    } else {
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::to_sqlite;

    #[test]
    fn translations() {
        for (redis, sqlite) in [
            ("*", "*"),
            ("user:*", "user:*"),
            ("a?c", "a?c"),
            (r"a\*b", "a[*]b"),
            (r"a\?b", "a[?]b"),
            (r"a\[b", "a[[]b"),
            (r"a\\b", r"a\b"),
            ("a]b", "a]b"),
            ("h[ae]llo", "h[ae]llo"),
            ("h[^e]llo", "h[^e]llo"),
            ("h[a-z]llo", "h?llo"),
            (r"h[\]]llo", "h?llo"),
            ("x[", "*"),
        ] {
            assert_eq!(to_sqlite(redis), sqlite, "{redis}");
        }
    }
}
