//! Typed adapter configuration, as passed once to an adapter's `init`.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A typed configuration value (the WIT `config-value`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConfigValue {
    /// A flag.
    Boolean(bool),
    /// A signed integer.
    Integer(i64),
    /// Text.
    Text(String),
    /// A size in bytes.
    Size(u64),
    /// A duration, carried as whole milliseconds.
    DurationMs(u64),
    /// A list of strings.
    TextList(Vec<String>),
}

impl ConfigValue {
    /// The name of this value's kind, as adapters declare it.
    pub fn kind(&self) -> ConfigKind {
        match self {
            ConfigValue::Boolean(_) => ConfigKind::Boolean,
            ConfigValue::Integer(_) => ConfigKind::Integer,
            ConfigValue::Text(_) => ConfigKind::Text,
            ConfigValue::Size(_) => ConfigKind::Size,
            ConfigValue::DurationMs(_) => ConfigKind::DurationMs,
            ConfigValue::TextList(_) => ConfigKind::TextList,
        }
    }

    /// A duration value (rounded up to whole milliseconds).
    pub fn duration(d: Duration) -> Self {
        ConfigValue::DurationMs(crate::provider::duration_ms_ceil(d))
    }
}

/// The kind of value a configuration field takes (the WIT `config-kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConfigKind {
    /// [`ConfigValue::Boolean`]
    Boolean,
    /// [`ConfigValue::Integer`]
    Integer,
    /// [`ConfigValue::Text`]
    Text,
    /// [`ConfigValue::Size`]
    Size,
    /// [`ConfigValue::DurationMs`]
    DurationMs,
    /// [`ConfigValue::TextList`]
    TextList,
}

/// One field an adapter accepts, from its `describe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigField {
    /// Field name, e.g. `max-bytes`.
    pub name: String,
    /// The kind of value it takes.
    pub kind: ConfigKind,
    /// Whether `init` fails without it.
    pub required: bool,
    /// What it means and its default.
    pub doc: String,
}

impl ConfigField {
    /// A field declaration.
    pub fn new(name: &str, kind: ConfigKind, required: bool, doc: &str) -> Self {
        ConfigField {
            name: name.to_owned(),
            kind,
            required,
            doc: doc.to_owned(),
        }
    }
}

/// An adapter's configuration: named, typed values, checked against the adapter's
/// declared fields before its `init` runs.
///
/// ```
/// use byoc_core::{AdapterConfig, ConfigValue};
///
/// let config = AdapterConfig::new()
///     .with("max-bytes", ConfigValue::Size(16 << 20))
///     .with("eviction", ConfigValue::Text("lfu".into()));
/// assert_eq!(config.get("eviction"), Some(&ConfigValue::Text("lfu".into())));
/// let login = AdapterConfig::new().with("password", ConfigValue::Text("hunter2".into()));
/// assert!(!format!("{login:?}").contains("hunter2"));
/// ```
///
/// Its `Debug` form prints the value of a field named like a secret (`password`, `token`,
/// `key`, …) as `***`.
#[derive(Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct AdapterConfig {
    entries: Vec<(String, ConfigValue)>,
}

impl std::fmt::Debug for AdapterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = |name: &str| {
            matches!(name, "key" | "keys" | "auth" | "headers")
                || ["password", "secret", "token", "credential"]
                    .iter()
                    .any(|s| name.contains(s))
        };
        let mut map = f.debug_map();
        for (name, value) in &self.entries {
            if secret(name) {
                map.entry(name, &"***");
            } else {
                map.entry(name, value);
            }
        }
        map.finish()
    }
}

impl AdapterConfig {
    /// An empty configuration: every field takes its default.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name` to `value`, replacing an earlier value of the same name.
    pub fn with(mut self, name: impl Into<String>, value: ConfigValue) -> Self {
        self.set(name, value);
        self
    }

    /// Sets `name` to `value`, replacing an earlier value of the same name.
    pub fn set(&mut self, name: impl Into<String>, value: ConfigValue) {
        let name = name.into();
        match self.entries.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => *v = value,
            None => self.entries.push((name, value)),
        }
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&ConfigValue> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Every field with its value, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ConfigValue)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v))
    }

    /// Converts values written loosely (as a configuration file does) to the kinds the
    /// adapter declares: text such as `64MiB` or a non-negative integer to a size, text
    /// such as `5s` to a duration, one text to a one-element list. Values that cannot be
    /// converted are left for [`validate`](AdapterConfig::validate) to report.
    pub fn coerce(&mut self, fields: &[ConfigField]) {
        for (name, value) in &mut self.entries {
            let Some(field) = fields.iter().find(|f| f.name == *name) else {
                continue;
            };
            let converted = match (field.kind, &*value) {
                (ConfigKind::Size, ConfigValue::Text(t)) => {
                    crate::units::parse_size(t).map(ConfigValue::Size)
                }
                (ConfigKind::Size, ConfigValue::Integer(n)) => {
                    u64::try_from(*n).ok().map(ConfigValue::Size)
                }
                (ConfigKind::DurationMs, ConfigValue::Text(t)) => {
                    crate::units::parse_duration(t).map(ConfigValue::duration)
                }
                (ConfigKind::TextList, ConfigValue::Text(t)) => {
                    Some(ConfigValue::TextList(vec![t.clone()]))
                }
                _ => None,
            };
            if let Some(converted) = converted {
                *value = converted;
            }
        }
    }

    /// [`coerce`](AdapterConfig::coerce)s, then [`validate`](AdapterConfig::validate)s
    /// against `fields`: the one schema check of every factory and adapter.
    pub fn checked(mut self, provider: &str, fields: &[ConfigField]) -> crate::Result<Self> {
        self.coerce(fields);
        self.validate(provider, fields)?;
        Ok(self)
    }

    /// A text field.
    pub fn text(&self, name: &str) -> Option<&str> {
        match self.get(name) {
            Some(ConfigValue::Text(v)) => Some(v),
            _ => None,
        }
    }

    /// A boolean field.
    pub fn boolean(&self, name: &str) -> Option<bool> {
        match self.get(name) {
            Some(ConfigValue::Boolean(v)) => Some(*v),
            _ => None,
        }
    }

    /// A size field, in bytes.
    pub fn size(&self, name: &str) -> Option<u64> {
        match self.get(name) {
            Some(ConfigValue::Size(v)) => Some(*v),
            _ => None,
        }
    }

    /// A duration field.
    pub fn duration(&self, name: &str) -> Option<Duration> {
        match self.get(name) {
            Some(ConfigValue::DurationMs(v)) => Some(Duration::from_millis(*v)),
            _ => None,
        }
    }

    /// A text-list field.
    pub fn text_list(&self, name: &str) -> Option<&[String]> {
        match self.get(name) {
            Some(ConfigValue::TextList(v)) => Some(v),
            _ => None,
        }
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<ConfigValue> {
        let i = self.entries.iter().position(|(n, _)| n == name)?;
        Some(self.entries.remove(i).1)
    }

    /// Checks the configuration against an adapter's declared fields: no unknown field,
    /// each of its declared kind, every required field present. Errors name `adapter`.
    pub fn validate(&self, adapter: &str, fields: &[ConfigField]) -> crate::Result<()> {
        let invalid = |msg: String| {
            Err(crate::Error::InvalidConfig(format!(
                "adapter `{adapter}`: {msg}"
            )))
        };
        for (name, value) in self.iter() {
            let Some(field) = fields.iter().find(|f| f.name == name) else {
                let known: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
                let known = if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                };
                return invalid(format!("unknown field `{name}` (known fields: {known})"));
            };
            if value.kind() != field.kind {
                return invalid(format!(
                    "field `{name}` takes a {:?} value, got a {:?}",
                    field.kind,
                    value.kind()
                ));
            }
        }
        match fields
            .iter()
            .find(|f| f.required && self.get(&f.name).is_none())
        {
            Some(f) => invalid(format!("required field `{}` is missing: {}", f.name, f.doc)),
            None => Ok(()),
        }
    }
}
