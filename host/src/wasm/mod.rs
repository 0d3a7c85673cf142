//! Running adapters as sandboxed WebAssembly components.

pub(crate) mod bindings;
mod coalesce;
#[allow(unsafe_code)]
mod code_cache;
pub(crate) mod deadline;
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

pub use grants::{
    DEFAULT_HTTP_MAX_TIMEOUT, DirAccess, DirGrant, Grants, HttpGrant, normalize_origin,
};
pub use imports::{ALLOWED_IMPORTS, imported_interfaces};
pub use instance::HostState;
pub use limits::{
    DEFAULT_CALL_DEADLINE, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_MAX_SCAN_COUNT,
    DEFAULT_MAX_VALUE_BYTES, DEFAULT_MEMORY_BYTES, DEFAULT_TABLE_ELEMENTS, Limits, Quarantine,
    WALL_CLOCK_GRACE,
};
pub use provider::{
    MAX_PARTITIONS, MAX_POOLED_INSTANCES, WasmProvider, WasmProviderBuilder, default_partitions,
};
pub use runtime::{
    AdapterComponent, CodeCache, DEFAULT_EPOCH_TICK, DEFAULT_MAX_WASM_STACK,
    MAX_COMPONENT_FILE_BYTES, Runtime, RuntimeConfig, read_component_file, sha256_hex,
};
