//! Scalar types of the configuration file: text with `${ENV}` interpolation, durations
//! and sizes with units. Each parses while the YAML is read, so its errors carry the
//! file's line and column.

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// A string from the file after `${NAME}` interpolation.
///
/// - `${NAME}`: the environment variable `NAME`; unset is an error.
/// - `${NAME:-default}`: `NAME`, or `default` when unset or empty.
/// - `$$`: a literal `$`. A `$` not followed by `{` or `$` is kept as is.
///
/// A value that took anything from the environment is treated as a secret: it is
/// never printed (see [`Text::display`]).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Text {
    value: String,
    from_env: bool,
}

impl Text {
    /// Text taken literally (no interpolation), not secret.
    pub fn literal(value: impl Into<String>) -> Text {
        Text {
            value: value.into(),
            from_env: false,
        }
    }

    /// The value.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// Whether any part came from the environment.
    pub fn from_env(&self) -> bool {
        self.from_env
    }

    /// The value for printing: `***` when it came from the environment.
    pub fn display(&self) -> &str {
        if self.from_env { "***" } else { &self.value }
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.display())
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Interpolate inside the visitor, so an error carries the value's position.
        struct V;
        impl Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("text")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                interpolate(v, &lookup).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

thread_local! {
    /// Variables [`with_env`] puts in place of the process environment while a file is
    /// parsed on this thread.
    static ENV: RefCell<Option<BTreeMap<String, String>>> = const { RefCell::new(None) };
}

/// Looks `name` up in the environment of the parse running on this thread.
pub(crate) fn lookup(name: &str) -> Option<String> {
    ENV.with_borrow(|env| match env {
        Some(vars) => vars.get(name).cloned(),
        None => std::env::var(name).ok(),
    })
}

/// Runs `f` with `vars` as the environment `${NAME}` reads (instead of the process's).
pub(crate) fn with_env<R>(vars: BTreeMap<String, String>, f: impl FnOnce() -> R) -> R {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            ENV.set(None);
        }
    }
    ENV.set(Some(vars));
    let _reset = Reset;
    f()
}

/// Expands `${NAME}`, `${NAME:-default}` and `$$` in `raw`, looking names up with `env`.
pub fn interpolate(raw: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Text, String> {
    let mut out = String::with_capacity(raw.len());
    let mut from_env = false;
    let mut rest = raw;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                // The value is not echoed: it may hold a secret written in place.
                .ok_or_else(|| {
                    format!(
                        "unclosed `${{` at byte {} of the value",
                        raw.len() - after.len() - 1
                    )
                })?;
            let expr = &body[..end];
            let (name, default) = match expr.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (expr, None),
            };
            let valid = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!(
                    "`${{{expr}}}` is not a variable reference (write ${{NAME}} or \
                     ${{NAME:-default}}; $$ is a literal $)"
                ));
            }
            match (
                env(name).filter(|v| !v.is_empty() || default.is_none()),
                default,
            ) {
                (Some(v), _) => {
                    out.push_str(&v);
                    from_env = true;
                }
                (None, Some(d)) => out.push_str(d),
                (None, None) => {
                    return Err(format!("environment variable `{name}` is not set"));
                }
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(Text {
        value: out,
        from_env,
    })
}

/// A duration written with a unit (`250ms`, `5s`, `30m`, `1h`, `1d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationText(pub Duration);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DurationText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration with a unit, such as 250ms, 5s, 30m or 1h")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DurationText, E> {
                crate::units::parse_duration(v)
                    .map(DurationText)
                    .ok_or_else(|| {
                        E::custom(format!(
                            "invalid duration {v:?}: write a number and a unit (ms, s, m, h, \
                             d), such as 250ms or 30s"
                        ))
                    })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<DurationText, E> {
                Err(E::custom(format!(
                    "invalid duration {v}: a unit is required, e.g. {v}s or {v}ms"
                )))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<DurationText, E> {
                Err(E::custom(format!(
                    "invalid duration {v}: a unit is required, e.g. {v}s or {v}ms"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

/// A size in bytes: an integer, or text with a unit (`512`, `64KiB`, `1MB`, `2GiB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeText(pub u64);

impl<'de> Deserialize<'de> for SizeText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SizeText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size in bytes, such as 65536 or 64KiB")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SizeText, E> {
                crate::units::parse_size(v).map(SizeText).ok_or_else(|| {
                    E::custom(format!(
                        "invalid size {v:?}: write bytes or a number and a unit \
                         (B, KB, KiB, MB, MiB, GB, GiB), such as 64MiB"
                    ))
                })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<SizeText, E> {
                Ok(SizeText(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SizeText, E> {
                u64::try_from(v)
                    .map(SizeText)
                    .map_err(|_| E::custom(format!("invalid size {v}: must not be negative")))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "KEY" => Some("s3cret".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn interpolation() {
        let t = interpolate("a-${KEY}-b", &env).expect("ok");
        assert_eq!(t.as_str(), "a-s3cret-b");
        assert!(t.from_env());
        assert_eq!(format!("{t:?}"), "\"***\"");
        let t = interpolate("${NOPE:-dflt} $$ $x", &env).expect("ok");
        assert_eq!(t.as_str(), "dflt $ $x");
        assert!(!t.from_env());
        assert_eq!(interpolate("${EMPTY:-d}", &env).expect("ok").as_str(), "d");
        assert_eq!(interpolate("${EMPTY}", &env).expect("ok").as_str(), "");
        assert!(
            interpolate("${NOPE}", &env)
                .expect_err("must fail")
                .contains("`NOPE` is not set")
        );
        assert!(
            interpolate("${KEY", &env)
                .expect_err("must fail")
                .contains("unclosed")
        );
        let e = interpolate("k1:5ec2e7a9${KEY", &env).expect_err("must fail");
        assert!(e.contains("at byte 11") && !e.contains("5ec2"), "{e}");
        assert!(
            interpolate("${1X}", &env)
                .expect_err("must fail")
                .contains("not a variable")
        );
    }
}
