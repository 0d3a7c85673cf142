//! Private bindings of the `wrapper` world (the `adapter` world plus the `inner` import),
//! and conversions to the host's types.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "wrapper",
    imports: { default: async },
    exports: { default: async },
});

/// Any component exporting `lifecycle` and `provider` (adapters and wrappers alike).
pub(crate) type Adapter = Wrapper;
/// Where [`Adapter`]'s exports are in a component, looked up once per component.
pub(crate) type AdapterIndices = WrapperIndices;

/// Private bindings of the optional `bulk` export (world `bulk-exports`), looked up next
/// to `provider` in every adapter.
pub(crate) mod bulk {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "bulk-exports",
        exports: { default: async },
        with: {
            "byoc:cache/types": crate::bindings::byoc::cache::types,
        },
    });

    pub(crate) use self::exports::byoc::cache::bulk::{Guest, GuestIndices, PackedAnswer};
}

/// Private bindings of the optional `atomics` export (world `atomics-exports`), looked up
/// next to `provider` in every adapter.
pub(crate) mod atomics {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "atomics-exports",
        exports: { default: async },
        with: {
            "byoc:cache/types": crate::bindings::byoc::cache::types,
        },
    });

    pub(crate) use self::exports::byoc::cache::atomics::{Guest, GuestIndices};
}

/// Synchronous bindings of the same exports, for instances called on the caller's thread
/// ([`WasmProviderBuilder::sync_calls`](super::WasmProviderBuilder::sync_calls)). Their
/// types are the asynchronous bindings' own, except `bulk`'s answer (converted).
pub(crate) mod sync {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "adapter",
        with: {
            "byoc:cache/types": crate::bindings::byoc::cache::types,
        },
    });

    /// The optional `bulk` export, called synchronously.
    pub(crate) mod bulk {
        wasmtime::component::bindgen!({
            path: "../../wit",
            world: "bulk-exports",
            with: {
                "byoc:cache/types": crate::bindings::byoc::cache::types,
            },
        });

        pub(crate) use self::exports::byoc::cache::bulk::{Guest, GuestIndices, PackedAnswer};
    }

    /// The optional `atomics` export, called synchronously.
    pub(crate) mod atomics {
        wasmtime::component::bindgen!({
            path: "../../wit",
            world: "atomics-exports",
            with: {
                "byoc:cache/types": crate::bindings::byoc::cache::types,
            },
        });

        pub(crate) use self::exports::byoc::cache::atomics::{Guest, GuestIndices};
    }

    impl From<bulk::PackedAnswer> for super::bulk::PackedAnswer {
        fn from(answer: bulk::PackedAnswer) -> Self {
            match answer {
                bulk::PackedAnswer::Values(values) => Self::Values(values),
                bulk::PackedAnswer::Held => Self::Held,
            }
        }
    }
}

use self::byoc::cache::types as wit;
use crate::{Capability, ConfigField, ConfigKind, ConfigValue, Error, KeyTtl, ProviderInfo, Stats};
use std::time::Duration;

pub(crate) use self::byoc::cache::types::{ConfigEntry, Item as WitItem};

impl From<wit::Error> for Error {
    fn from(e: wit::Error) -> Self {
        match e {
            wit::Error::InvalidKey(m) => Error::InvalidKey(m),
            wit::Error::ValueTooLarge(m) => Error::ValueTooLarge(m),
            wit::Error::InvalidArgument(m) => Error::InvalidArgument(m),
            wit::Error::InvalidConfig(m) => Error::InvalidConfig(m),
            wit::Error::Unavailable(m) => Error::Unavailable(m),
            wit::Error::Denied(m) => Error::Denied(m),
            wit::Error::Unsupported(m) => Error::Unsupported(m),
            wit::Error::Internal(m) => Error::Internal(m),
        }
    }
}

impl From<Error> for wit::Error {
    /// How a layer's error reaches the wrapper above it. Sandbox failures of the layer
    /// (trap, deadline) are `unavailable`: a fresh instance may answer the next call.
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidKey(m) => wit::Error::InvalidKey(m),
            Error::ValueTooLarge(m) => wit::Error::ValueTooLarge(m),
            Error::InvalidArgument(m) => wit::Error::InvalidArgument(m),
            Error::InvalidConfig(m) => wit::Error::InvalidConfig(m),
            Error::Unavailable(m) => wit::Error::Unavailable(m),
            Error::Denied(m) => wit::Error::Denied(m),
            Error::Unsupported(m) => wit::Error::Unsupported(m),
            Error::Internal(m) => wit::Error::Internal(m),
            e @ (Error::Trapped { .. } | Error::DeadlineExceeded { .. }) => {
                wit::Error::Unavailable(e.to_string())
            }
            other => wit::Error::Internal(other.to_string()),
        }
    }
}

impl From<wit::KeyTtl> for KeyTtl {
    fn from(t: wit::KeyTtl) -> Self {
        match t {
            wit::KeyTtl::Missing => KeyTtl::Missing,
            wit::KeyTtl::Persistent => KeyTtl::Persistent,
            wit::KeyTtl::ExpiresIn(ms) => KeyTtl::ExpiresIn(Duration::from_millis(ms.max(1))),
        }
    }
}

impl From<wit::CacheStats> for Stats {
    fn from(s: wit::CacheStats) -> Self {
        Stats {
            hits: s.hits,
            misses: s.misses,
            keys: s.keys,
            bytes: s.bytes,
            evictions: s.evictions,
            expirations: s.expirations,
            extra: s.extra.into_iter().map(|s| (s.name, s.value)).collect(),
        }
    }
}

/// Each WIT capability flag with its host counterpart.
pub(crate) const CAPABILITY_FLAGS: [(wit::Capabilities, Capability); 12] = [
    (wit::Capabilities::GET, Capability::Get),
    (wit::Capabilities::SET, Capability::Set),
    (wit::Capabilities::DELETE, Capability::Delete),
    (wit::Capabilities::EXISTS, Capability::Exists),
    (wit::Capabilities::GET_MULTI, Capability::GetMulti),
    (wit::Capabilities::SET_MULTI, Capability::SetMulti),
    (wit::Capabilities::DELETE_MULTI, Capability::DeleteMulti),
    (wit::Capabilities::SCAN, Capability::Scan),
    (wit::Capabilities::TTL, Capability::Ttl),
    (wit::Capabilities::EXPIRE, Capability::Expire),
    (wit::Capabilities::CLEAR, Capability::Clear),
    (wit::Capabilities::STATS, Capability::Stats),
];

impl From<wit::ProviderInfo> for ProviderInfo {
    fn from(i: wit::ProviderInfo) -> Self {
        let flags = CAPABILITY_FLAGS;
        ProviderInfo {
            name: i.name,
            version: i.version,
            contract: i.contract,
            native: flags
                .into_iter()
                .filter(|(flag, _)| i.native.contains(*flag))
                .map(|(_, cap)| cap)
                .collect(),
            layers: Vec::new(),
        }
    }
}

impl From<wit::ConfigKind> for ConfigKind {
    fn from(k: wit::ConfigKind) -> Self {
        match k {
            wit::ConfigKind::Boolean => ConfigKind::Boolean,
            wit::ConfigKind::Integer => ConfigKind::Integer,
            wit::ConfigKind::Text => ConfigKind::Text,
            wit::ConfigKind::Size => ConfigKind::Size,
            wit::ConfigKind::DurationMs => ConfigKind::DurationMs,
            wit::ConfigKind::TextList => ConfigKind::TextList,
        }
    }
}

impl From<wit::ConfigField> for ConfigField {
    fn from(f: wit::ConfigField) -> Self {
        ConfigField {
            name: f.name,
            kind: f.kind.into(),
            required: f.required,
            doc: f.doc,
        }
    }
}

pub(crate) fn config_entry(name: &str, value: &ConfigValue) -> ConfigEntry {
    let value = match value {
        ConfigValue::Boolean(v) => wit::ConfigValue::Boolean(*v),
        ConfigValue::Integer(v) => wit::ConfigValue::Integer(*v),
        ConfigValue::Text(v) => wit::ConfigValue::Text(v.clone()),
        ConfigValue::Size(v) => wit::ConfigValue::Size(*v),
        ConfigValue::DurationMs(v) => wit::ConfigValue::DurationMs(*v),
        ConfigValue::TextList(v) => wit::ConfigValue::TextList(v.clone()),
    };
    ConfigEntry {
        name: name.to_owned(),
        value,
    }
}
