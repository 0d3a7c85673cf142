//! Components built from this repository's `adapters/` by the build script.

/// The memory adapter component (`adapters/memory`), embedded in the host: the default
/// provider, usable with no file on disk.
pub const MEMORY_ADAPTER: &[u8] = include_bytes!(env!("BYOC_ADAPTER_MEMORY_WASM"));

/// The filesystem adapter component (`adapters/filesystem`): one file per entry in a
/// granted directory.
pub const FILESYSTEM_ADAPTER: &[u8] = include_bytes!(env!("BYOC_ADAPTER_FILESYSTEM_WASM"));

/// The HTTP adapter component (`adapters/http`): a remote cache spoken to over
/// `wasi:http` (protocol in `docs/http-protocol.md`).
pub const HTTP_ADAPTER: &[u8] = include_bytes!(env!("BYOC_ADAPTER_HTTP_WASM"));

/// Path of the deliberately hostile test adapter (`adapters/hostile`) built next to the
/// host. For the sandbox's tests and demo only; it is not embedded.
#[doc(hidden)]
pub const HOSTILE_ADAPTER_PATH: &str = env!("BYOC_ADAPTER_HOSTILE_WASM");
