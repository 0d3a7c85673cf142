//! Running adapters as sandboxed WebAssembly components: the runtime, instances, grants,
//! limits and deadlines. Host imports beyond WASI and the contract's own plug in through
//! [`extension`] (the `redis` import of `byoc-redis` does).
// `unsafe` is denied everywhere but in `code_cache` (mapping compiled code from disk).
#![deny(unsafe_code)]

#[doc(hidden)]
pub mod bindings;
mod coalesce;
#[allow(unsafe_code)]
mod code_cache;
// Public for host-import crates (byoc-redis bounds its waits with it); not an API, so
// hidden, and its docs may name its private helpers.
#[doc(hidden)]
#[allow(rustdoc::private_intra_doc_links)]
pub mod deadline;
pub mod extension;
mod grants;
mod http;
mod imports;
mod instance;
mod layers;
mod limits;
mod nowait;
mod pool;
mod pooling;
mod probe;
mod provider;
mod quarantine;
mod runtime;
mod state;
mod tcp;

// The contract's items, where the moved modules expect them (`crate::Error`, ...).
use byoc_core::{
    AdapterConfig, Capability, ConfigField, ConfigKind, ConfigValue, Error, Item, KeyTtl, Provider,
    ProviderInfo, Result, ScanPage, Stats,
};

pub use grants::{
    DEFAULT_HTTP_MAX_TIMEOUT, DEFAULT_MAX_TCP_CONNECTIONS, DirAccess, DirGrant, Grants, HttpGrant,
    TcpEndpoint, TcpGrant, TcpHost, normalize_origin,
};
pub use imports::{ALLOWED_IMPORTS, TCP_GRANT_IMPORTS, imported_interfaces, socket_imports};
pub use limits::{
    DEFAULT_CALL_DEADLINE, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_MAX_SCAN_COUNT,
    DEFAULT_MAX_VALUE_BYTES, DEFAULT_MEMORY_BYTES, DEFAULT_TABLE_ELEMENTS, Limits, Quarantine,
    WALL_CLOCK_GRACE,
};
pub use provider::{
    MAX_PARTITIONS, MAX_POOLED_INSTANCES, WasmProvider, WasmProviderBuilder, default_partitions,
};
pub use runtime::{
    AdapterComponent, CodeCache, DEFAULT_EPOCH_TICK, DEFAULT_MAX_WASM_STACK, HostImport,
    MAX_COMPONENT_FILE_BYTES, Runtime, RuntimeConfig, read_component_file, sha256_hex,
};
pub use state::HostState;
