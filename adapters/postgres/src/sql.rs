//! The SQL of the adapter: the table of a namespace, its statements, and the `LIKE`
//! pattern a glob is translated to.

/// The longest namespace: the table name `byoc_<namespace>` must fit PostgreSQL's 63-byte
/// identifiers, with room for the index name's suffix.
pub const MAX_NAMESPACE_LEN: usize = 48;

/// Whether `namespace` can name a table: 1 to [`MAX_NAMESPACE_LEN`] of `[a-z0-9_]`. Only
/// such names are ever put into SQL text (everything else is a bound parameter), and they
/// need no quoting.
pub fn valid_namespace(namespace: &str) -> bool {
    !namespace.is_empty()
        && namespace.len() <= MAX_NAMESPACE_LEN
        && namespace
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The table of `namespace` (validated by [`valid_namespace`]).
pub fn table_name(namespace: &str) -> String {
    format!("byoc_{namespace}")
}

/// The statements that create the namespace's table and its expiry index if missing.
/// UNLOGGED: a cache needs no write-ahead log (PostgreSQL empties such a table after a
/// crash, which a cache may forget). `key` collates as `C` so that its order is the byte
/// order of UTF-8, which scan cursors rely on, and so that `LIKE` prefixes use the index.
pub fn create(table: &str) -> [String; 2] {
    [
        format!(
            "CREATE UNLOGGED TABLE IF NOT EXISTS {table} (\
             key text COLLATE \"C\" PRIMARY KEY, \
             value bytea NOT NULL, \
             expires_at bigint)"
        ),
        format!(
            "CREATE INDEX IF NOT EXISTS {table}_expiry ON {table} (expires_at) \
             WHERE expires_at IS NOT NULL"
        ),
    ]
}

/// A prepared statement: its index in [`Statements::sql`] is its name on the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stmt {
    /// `$1` key, `$2` now → (value, expires_at) if live.
    Get,
    /// `$1` keys (text[]), `$2` now → (key, value, expires_at) of the live ones.
    GetMulti,
    /// `$1` key, `$2` value, `$3` expires_at: upsert.
    Set,
    /// `$1` keys, `$2` values, `$3` expiries (arrays of one length): one upsert.
    SetMulti,
    /// `$1` keys, `$2` now → (removed, of which live) counts.
    DeleteMulti,
    /// `$1` key, `$2` now → a row if live.
    Exists,
    /// `$1` key, `$2` new expires_at, `$3` now: changes a live key's expiry.
    Expire,
    /// `$1` after (cursor, `''` for the start), `$2` LIKE pattern, `$3` now, `$4` limit →
    /// keys in order.
    Scan,
    /// `$1` now, `$2` batch: removes up to a batch of expired rows.
    Purge,
    /// Removes every row.
    Clear,
    /// `$1` now → (live keys, their bytes).
    Usage,
    /// Every key (expired ones too).
    Keys,
}

/// Every statement in order; a statement's index is its prepared name.
pub const ALL: [Stmt; 12] = [
    Stmt::Get,
    Stmt::GetMulti,
    Stmt::Set,
    Stmt::SetMulti,
    Stmt::DeleteMulti,
    Stmt::Exists,
    Stmt::Expire,
    Stmt::Scan,
    Stmt::Purge,
    Stmt::Clear,
    Stmt::Usage,
    Stmt::Keys,
];

/// The parameter type OIDs PostgreSQL is told at parse time.
pub mod oid {
    /// `bytea`
    pub const BYTEA: u32 = 17;
    /// `int8`
    pub const INT8: u32 = 20;
    /// `text`
    pub const TEXT: u32 = 25;
    /// `text[]`
    pub const TEXT_ARRAY: u32 = 1009;
    /// `bytea[]`
    pub const BYTEA_ARRAY: u32 = 1001;
    /// `int8[]`
    pub const INT8_ARRAY: u32 = 1016;
}

/// The SQL text of every statement for one table.
#[derive(Debug, Clone)]
pub struct Statements {
    sql: Vec<String>,
}

const LIVE: &str = "(expires_at IS NULL OR expires_at > $2)";

impl Statements {
    /// The statements of `table`.
    pub fn new(table: &str) -> Statements {
        let t = table;
        let sql = ALL
            .iter()
            .map(|s| match s {
                Stmt::Get => format!("SELECT value, expires_at FROM {t} WHERE key = $1 AND {LIVE}"),
                Stmt::GetMulti => format!(
                    "SELECT key, value, expires_at FROM {t} WHERE key = ANY($1) AND {LIVE}"
                ),
                Stmt::Set => format!(
                    "INSERT INTO {t} (key, value, expires_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (key) DO UPDATE \
                     SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at"
                ),
                Stmt::SetMulti => format!(
                    "INSERT INTO {t} (key, value, expires_at) \
                     SELECT * FROM unnest($1::text[], $2::bytea[], $3::int8[]) \
                     ON CONFLICT (key) DO UPDATE \
                     SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at"
                ),
                Stmt::DeleteMulti => format!(
                    "WITH gone AS (DELETE FROM {t} WHERE key = ANY($1) RETURNING expires_at) \
                     SELECT count(*), count(*) FILTER (WHERE {LIVE}) FROM gone"
                ),
                Stmt::Exists => format!("SELECT 1 FROM {t} WHERE key = $1 AND {LIVE}"),
                Stmt::Expire => format!(
                    "UPDATE {t} SET expires_at = $2 WHERE key = $1 \
                     AND (expires_at IS NULL OR expires_at > $3)"
                ),
                Stmt::Scan => format!(
                    "SELECT key FROM {t} WHERE key > $1 AND key LIKE $2 ESCAPE '\\' \
                     AND (expires_at IS NULL OR expires_at > $3) ORDER BY key LIMIT $4"
                ),
                Stmt::Purge => format!(
                    "DELETE FROM {t} WHERE key IN (SELECT key FROM {t} \
                     WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
                ),
                Stmt::Clear => format!("DELETE FROM {t}"),
                Stmt::Usage => format!(
                    "SELECT count(*), coalesce(sum(octet_length(key) + octet_length(value)), 0)::int8 \
                     FROM {t} WHERE (expires_at IS NULL OR expires_at > $1)"
                ),
                Stmt::Keys => format!("SELECT key FROM {t}"),
            })
            .collect();
        Statements { sql }
    }

    /// The SQL of `stmt`.
    pub fn sql(&self, stmt: Stmt) -> &str {
        &self.sql[stmt as usize]
    }
}

impl Stmt {
    /// The prepared statement's name on a connection.
    pub fn name(self) -> &'static str {
        const NAMES: [&str; 12] = [
            "byoc0", "byoc1", "byoc2", "byoc3", "byoc4", "byoc5", "byoc6", "byoc7", "byoc8",
            "byoc9", "byoc10", "byoc11",
        ];
        NAMES[self as usize]
    }

    /// The types of its parameters.
    pub fn param_types(self) -> &'static [u32] {
        use oid::*;
        match self {
            Stmt::Get | Stmt::Exists => &[TEXT, INT8],
            Stmt::GetMulti | Stmt::DeleteMulti => &[TEXT_ARRAY, INT8],
            Stmt::Set => &[TEXT, BYTEA, INT8],
            Stmt::SetMulti => &[TEXT_ARRAY, BYTEA_ARRAY, INT8_ARRAY],
            Stmt::Expire => &[TEXT, INT8, INT8],
            Stmt::Scan => &[TEXT, TEXT, INT8, INT8],
            Stmt::Purge => &[INT8, INT8],
            Stmt::Usage => &[INT8],
            Stmt::Clear | Stmt::Keys => &[],
        }
    }
}

/// A `LIKE` pattern (with `\` as its escape character) that matches every key the
/// Redis-style `glob` matches, and as few others as `LIKE` can say: `*` becomes `%`, `?`
/// and a character class `[…]` become `_` (one character; `LIKE` has no classes), an
/// escaped or plain literal character is itself, with `%`, `_` and `\` escaped. The
/// adapter checks every key `LIKE` returns against the glob itself, so the translation
/// only needs to let through a superset.
pub fn glob_to_like(glob: &str) -> String {
    let mut out = String::with_capacity(glob.len() + 8);
    let mut chars = glob.chars();
    let literal = |c: char, out: &mut String| {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    };
    while let Some(c) = chars.next() {
        match c {
            '*' => {
                if !out.ends_with('%') || out.ends_with("\\%") {
                    out.push('%');
                }
            }
            '?' => out.push('_'),
            '\\' => match chars.next() {
                Some(next) => literal(next, &mut out),
                // A trailing backslash matches itself (as the glob matcher has it).
                None => literal('\\', &mut out),
            },
            '[' => {
                // A class is one character. It ends at the first unescaped `]` after the
                // optional `^`/`!` (as the glob matcher reads it: `[]` is an empty class);
                // an unterminated class (rejected before the adapter runs) takes the rest.
                let mut rest = chars.clone();
                if let Some('^' | '!') = rest.clone().next() {
                    rest.next();
                }
                while let Some(m) = rest.next() {
                    match m {
                        '\\' => {
                            rest.next();
                        }
                        ']' => break,
                        _ => {}
                    }
                }
                chars = rest;
                out.push('_');
            }
            c => literal(c, &mut out),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use byoc_common::glob_match;

    /// A reference `LIKE` matcher (`%`, `_`, `\` escape), over characters.
    fn like(pattern: &str, key: &str) -> bool {
        fn go(p: &[char], k: &[char]) -> bool {
            match p.split_first() {
                None => k.is_empty(),
                Some(('%', rest)) => (0..=k.len()).any(|i| go(rest, &k[i..])),
                Some(('_', rest)) => !k.is_empty() && go(rest, &k[1..]),
                Some(('\\', rest)) => match rest.split_first() {
                    Some((c, rest)) => k.first() == Some(c) && go(rest, &k[1..]),
                    None => false,
                },
                Some((c, rest)) => k.first() == Some(c) && go(rest, &k[1..]),
            }
        }
        let p: Vec<char> = pattern.chars().collect();
        let k: Vec<char> = key.chars().collect();
        go(&p, &k)
    }

    #[test]
    fn translations() {
        assert_eq!(glob_to_like("*"), "%");
        assert_eq!(glob_to_like("user:*"), "user:%");
        assert_eq!(glob_to_like("a?c"), "a_c");
        assert_eq!(glob_to_like("100%_off"), "100\\%\\_off");
        assert_eq!(glob_to_like("a\\*b"), "a*b");
        assert_eq!(glob_to_like("a\\\\b"), "a\\\\b");
        assert_eq!(glob_to_like("[abc]x"), "_x");
        assert_eq!(glob_to_like("[]x"), "_x");
        assert_eq!(glob_to_like("[^\\]]z"), "_z");
        assert_eq!(glob_to_like("[!a-c]"), "_");
        assert_eq!(glob_to_like("**a**"), "%a%");
        assert_eq!(glob_to_like("\\%*"), "\\%%");
        assert_eq!(glob_to_like("ключ-?"), "ключ-_");
    }

    /// Every key the glob matches, `LIKE` matches too.
    #[test]
    fn like_lets_through_every_glob_match() {
        let keys = [
            "a",
            "ab",
            "abc",
            "a%c",
            "a_c",
            "a\\c",
            "a*c",
            "a?c",
            "[x]",
            "x]y",
            "é",
            "ключ-1",
            "%",
            "_",
            "\\",
            "user:1",
            "user:",
            "u",
            "]",
            "a]b",
            "ab]c",
        ];
        let globs = [
            "*",
            "a*",
            "a?c",
            "a%c",
            "a_c",
            "a\\\\c",
            "a\\*c",
            "a\\?c",
            "\\[x\\]",
            "[a-z]*",
            "[^a]*",
            "[!a]*",
            "?",
            "[]]",
            "a[]]b",
            "*]*",
            "user:*",
            "%",
            "_",
            "\\\\",
            "ключ-?",
            "[\\]]",
            "a[bc]c",
            "*c",
            "[é]",
        ];
        for glob in globs {
            let pattern = glob_to_like(glob);
            for key in keys {
                if glob_match(glob, key) {
                    assert!(
                        like(&pattern, key),
                        "glob {glob:?} matches {key:?}, LIKE {pattern:?} does not"
                    );
                }
            }
        }
        // And LIKE is exact where the glob has no class.
        for glob in ["a%c", "a_c", "a\\*c", "user:*", "\\\\", "?"] {
            let pattern = glob_to_like(glob);
            for key in keys {
                assert_eq!(
                    glob_match(glob, key),
                    like(&pattern, key),
                    "{glob:?} {key:?}"
                );
            }
        }
    }

    #[test]
    fn namespaces() {
        for good in ["a", "sessions", "tenant_1", "0"] {
            assert!(valid_namespace(good), "{good}");
        }
        let long = "a".repeat(MAX_NAMESPACE_LEN + 1);
        for bad in ["", "A", "a-b", "a;drop", "a b", "\"x\"", "é", long.as_str()] {
            assert!(!valid_namespace(bad), "{bad}");
        }
        assert_eq!(table_name("s"), "byoc_s");
    }
}
