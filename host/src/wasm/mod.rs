//! Running adapters as sandboxed WebAssembly components.

mod bindings;
mod grants;
mod http;
mod instance;
mod provider;
mod runtime;

pub use grants::{
    DEFAULT_HTTP_MAX_TIMEOUT, DirAccess, DirGrant, Grants, HttpGrant, normalize_origin,
};
pub use instance::{
    DEFAULT_CALL_DEADLINE, DEFAULT_MAX_VALUE_BYTES, DEFAULT_MEMORY_BYTES, HostState, Limits,
};
pub use provider::{MAX_PARTITIONS, WasmProvider, WasmProviderBuilder, default_partitions};
pub use runtime::{
    AdapterComponent, CodeCache, DEFAULT_EPOCH_TICK, DEFAULT_MAX_WASM_STACK, Runtime, RuntimeConfig,
};
