//! Adapter configuration, checked against the adapter's declared fields.

use crate::bindings::byoc::cache::types::ConfigEntry;
use crate::{ConfigField, ConfigKind, ConfigValue, Error, Result};

/// The configuration an adapter was initialised with. Every field in it was declared by
/// [`Adapter::config_fields`](crate::Adapter::config_fields) and has the declared kind.
#[derive(Debug, Clone, Default)]
pub struct Config {
    entries: Vec<ConfigEntry>,
}

fn kind_of(value: &ConfigValue) -> ConfigKind {
    match value {
        ConfigValue::Boolean(_) => ConfigKind::Boolean,
        ConfigValue::Integer(_) => ConfigKind::Integer,
        ConfigValue::Text(_) => ConfigKind::Text,
        ConfigValue::Size(_) => ConfigKind::Size,
        ConfigValue::DurationMs(_) => ConfigKind::DurationMs,
        ConfigValue::TextList(_) => ConfigKind::TextList,
    }
}

impl Config {
    /// Checks `entries` against `fields`: no unknown or repeated field, each of its
    /// declared kind, every required field present.
    pub(crate) fn validate(entries: Vec<ConfigEntry>, fields: &[ConfigField]) -> Result<Self> {
        for (i, entry) in entries.iter().enumerate() {
            let Some(field) = fields.iter().find(|f| f.name == entry.name) else {
                let known: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
                return Err(Error::InvalidConfig(format!(
                    "unknown field `{}` (known fields: {})",
                    entry.name,
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                )));
            };
            if kind_of(&entry.value) != field.kind {
                return Err(Error::InvalidConfig(format!(
                    "field `{}` takes a {:?}, got a {:?}",
                    entry.name,
                    field.kind,
                    kind_of(&entry.value)
                )));
            }
            if entries[..i].iter().any(|e| e.name == entry.name) {
                return Err(Error::InvalidConfig(format!(
                    "field `{}` given twice",
                    entry.name
                )));
            }
        }
        if let Some(missing) = fields
            .iter()
            .find(|f| f.required && !entries.iter().any(|e| e.name == f.name))
        {
            return Err(Error::InvalidConfig(format!(
                "required field `{}` is missing",
                missing.name
            )));
        }
        Ok(Config { entries })
    }

    fn value(&self, name: &str) -> Option<&ConfigValue> {
        self.entries
            .iter()
            .find(|e| e.name == name)
            .map(|e| &e.value)
    }

    /// A `boolean` field.
    pub fn boolean(&self, name: &str) -> Option<bool> {
        match self.value(name) {
            Some(ConfigValue::Boolean(v)) => Some(*v),
            _ => None,
        }
    }

    /// An `integer` field.
    pub fn integer(&self, name: &str) -> Option<i64> {
        match self.value(name) {
            Some(ConfigValue::Integer(v)) => Some(*v),
            _ => None,
        }
    }

    /// A `text` field.
    pub fn text(&self, name: &str) -> Option<&str> {
        match self.value(name) {
            Some(ConfigValue::Text(v)) => Some(v),
            _ => None,
        }
    }

    /// A `text` field that is set and not empty, owned.
    pub fn filled_text(&self, name: &str) -> Option<String> {
        self.text(name).filter(|t| !t.is_empty()).map(str::to_owned)
    }

    /// A `text` field that must be set and not empty: its value, or
    /// [`Error::InvalidConfig`] naming the field.
    pub fn required_text(&self, name: &str) -> Result<String> {
        self.filled_text(name)
            .ok_or_else(|| Error::InvalidConfig(format!("field `{name}` is required")))
    }

    /// A `size` field, in bytes.
    pub fn size(&self, name: &str) -> Option<u64> {
        match self.value(name) {
            Some(ConfigValue::Size(v)) => Some(*v),
            _ => None,
        }
    }

    /// A `duration-ms` field, in milliseconds.
    pub fn duration_ms(&self, name: &str) -> Option<u64> {
        match self.value(name) {
            Some(ConfigValue::DurationMs(v)) => Some(*v),
            _ => None,
        }
    }

    /// A `text-list` field.
    pub fn text_list(&self, name: &str) -> Option<&[String]> {
        match self.value(name) {
            Some(ConfigValue::TextList(v)) => Some(v),
            _ => None,
        }
    }
}

impl ConfigField {
    /// A field declaration, for [`Adapter::config_fields`](crate::Adapter::config_fields).
    pub fn new(name: &str, kind: ConfigKind, required: bool, doc: &str) -> Self {
        ConfigField {
            name: name.to_owned(),
            kind,
            required,
            doc: doc.to_owned(),
        }
    }
}
