//! The one error type of the BYOC host.

use std::time::Duration;

/// Result of BYOC operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in BYOC. The first eight variants mirror the WIT contract's
/// `error` variant (an adapter answers with them); the others arise in the host.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The key is empty, longer than 1024 bytes or contains a control character.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// The value is larger than the cache or adapter accepts; nothing was stored.
    #[error("value too large: {0}")]
    ValueTooLarge(String),
    /// An argument other than the key is out of range (TTL 0, bad pattern, bad cursor).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A configuration is wrong: unknown field, wrong type, out-of-range value.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The backend cannot be reached or is overloaded; a retry may succeed.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The adapter's grant does not allow this.
    #[error("denied: {0}")]
    Denied(String),
    /// The provider does not implement this operation.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A bug or corrupted state inside a provider.
    #[error("internal error: {0}")]
    Internal(String),
    /// The adapter trapped (crashed); its instance was discarded and a fresh one serves the
    /// next call.
    #[error("adapter `{adapter}` trapped: {reason}")]
    Trapped {
        /// The adapter's name.
        adapter: String,
        /// The trap, as wasmtime describes it.
        reason: String,
    },
    /// The adapter ran past its per-call deadline and was interrupted; its instance was
    /// discarded and a fresh one serves the next call.
    #[error("adapter `{adapter}` exceeded its call deadline of {deadline:?}")]
    DeadlineExceeded {
        /// The adapter's name.
        adapter: String,
        /// The deadline that passed.
        deadline: Duration,
    },
    /// A component could not be loaded: invalid wasm, wrong world, missing imports.
    #[error("cannot load component `{component}`: {reason}")]
    Load {
        /// The component's name or path.
        component: String,
        /// Why, as wasmtime describes it.
        reason: String,
    },
    /// No provider is registered under this name.
    #[error("unknown provider `{name}` (registered: {known})")]
    UnknownProvider {
        /// The name asked for.
        name: String,
        /// The registered names, comma-separated.
        known: String,
    },
    /// A value could not be serialized for storage.
    #[error("cannot serialize value: {0}")]
    Serialize(String),
    /// A configuration file is wrong; the message names where.
    #[error("{}", config_message(origin, *line, cache.as_deref(), field.as_deref(), message))]
    Config {
        /// The file (or the name given to the parser).
        origin: String,
        /// The cache the error is in, when known.
        cache: Option<String>,
        /// The field, as a path inside the cache (`inner[0].config.dir`), when known.
        field: Option<String>,
        /// The 1-based line, when the YAML parser reports it.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
}

/// `file:line: cache `c`, field `f`: message`, leaving out what is unknown.
fn config_message(
    origin: &str,
    line: Option<usize>,
    cache: Option<&str>,
    field: Option<&str>,
    message: &str,
) -> String {
    let mut out = origin.to_owned();
    if let Some(line) = line {
        out.push_str(&format!(":{line}"));
    }
    out.push_str(": ");
    match (cache, field) {
        (Some(c), Some(f)) => out.push_str(&format!("cache `{c}`, field `{f}`: ")),
        (Some(c), None) => out.push_str(&format!("cache `{c}`: ")),
        (None, Some(f)) => out.push_str(&format!("field `{f}`: ")),
        (None, None) => {}
    }
    out.push_str(message);
    out
}

impl Error {
    /// Whether the error came from the sandbox giving up on an instance (trap or deadline).
    pub fn is_trap(&self) -> bool {
        matches!(self, Error::Trapped { .. } | Error::DeadlineExceeded { .. })
    }
}

impl From<byoc_common::KeyError> for Error {
    fn from(e: byoc_common::KeyError) -> Self {
        Error::InvalidKey(e.to_string())
    }
}
