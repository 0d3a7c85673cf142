//! Components built from this repository's `adapters/` by the build script.

use crate::wasm::AdapterComponent;
use crate::{Result, Runtime};

/// The memory adapter component (`adapters/memory`), embedded in the host: the default
/// provider, usable with no file on disk.
pub const MEMORY_ADAPTER: &[u8] = include_bytes!(env!("BYOC_ADAPTER_MEMORY_WASM"));

/// The encryption wrapper component (`adapters/encryption`): XChaCha20-Poly1305 over one
/// inner layer.
pub const ENCRYPTION_WRAPPER: &[u8] = include_bytes!(env!("BYOC_ADAPTER_ENCRYPTION_WASM"));

/// The compression wrapper component (`adapters/compression`): LZ4 over one inner layer.
pub const COMPRESSION_WRAPPER: &[u8] = include_bytes!(env!("BYOC_ADAPTER_COMPRESSION_WASM"));

/// The two-tier wrapper component (`adapters/tiered`): L1 over L2.
pub const TIERED_WRAPPER: &[u8] = include_bytes!(env!("BYOC_ADAPTER_TIERED_WASM"));

/// The fallback wrapper component (`adapters/fallback`): a primary and a fallback.
pub const FALLBACK_WRAPPER: &[u8] = include_bytes!(env!("BYOC_ADAPTER_FALLBACK_WASM"));
/// The migration wrapper component (`adapters/migration`): an old and a new layer.
pub const MIGRATION_WRAPPER: &[u8] = include_bytes!(env!("BYOC_ADAPTER_MIGRATION_WASM"));

/// The multi-region wrapper component (`adapters/multi-region`): one layer per region.
pub const MULTI_REGION_WRAPPER: &[u8] = include_bytes!(env!("BYOC_ADAPTER_MULTI_REGION_WASM"));

/// The filesystem adapter component (`adapters/filesystem`): one file per entry in a
/// granted directory.
pub const FILESYSTEM_ADAPTER: &[u8] = include_bytes!(env!("BYOC_ADAPTER_FILESYSTEM_WASM"));

/// The HTTP adapter component (`adapters/http`): a remote cache spoken to over
/// `wasi:http` (protocol in `docs/http-protocol.md`).
pub const HTTP_ADAPTER: &[u8] = include_bytes!(env!("BYOC_ADAPTER_HTTP_WASM"));

/// The redb adapter component (`adapters/redb`): a persistent cache in one redb database
/// file in a granted directory.
pub const REDB_ADAPTER: &[u8] = include_bytes!(env!("BYOC_ADAPTER_REDB_WASM"));

// `SQLITE_ADAPTER` and `SQLITE_MISSING` (in the build script's output, included below):
// the SQLite adapter component (`adapters/sqlite`), built only where a C compiler for
// wasm32-wasi was found.
/// The S3 adapter component (`adapters/s3`): one object per entry in a bucket, requests
/// signed with AWS Signature V4.
pub const S3_ADAPTER: &[u8] = include_bytes!(env!("BYOC_ADAPTER_S3_WASM"));

/// The DynamoDB adapter component (`adapters/dynamodb`): one item per entry in a table,
/// requests signed with AWS Signature V4.
pub const DYNAMODB_ADAPTER: &[u8] = include_bytes!(env!("BYOC_ADAPTER_DYNAMODB_WASM"));

/// The etcd adapter component (`adapters/etcd`): one etcd key per entry over etcd's v3
/// JSON gateway, TTLs through shared leases.
pub const ETCD_ADAPTER: &[u8] = include_bytes!(env!("BYOC_ADAPTER_ETCD_WASM"));
/// The memcached adapter component (`adapters/memcached`): memcached's meta protocol
/// over a TCP grant.
pub const MEMCACHED_ADAPTER: &[u8] = include_bytes!(env!("BYOC_ADAPTER_MEMCACHED_WASM"));
/// The PostgreSQL adapter component (`adapters/postgres`): a cache in an UNLOGGED table,
/// spoken to over a TCP grant.
pub const POSTGRES_ADAPTER: &[u8] = include_bytes!(env!("BYOC_ADAPTER_POSTGRES_WASM"));

/// Path of the deliberately hostile test adapter (`adapters/hostile`) built next to the
/// host. For the sandbox's tests and demo only; it is not embedded.
#[doc(hidden)]
pub const HOSTILE_ADAPTER_PATH: &str = env!("BYOC_ADAPTER_HOSTILE_WASM");

/// Path of a test adapter that imports `wasi:sockets` and connects where it is told (the
/// host starts it only with a TCP grant).
#[doc(hidden)]
pub const HOSTILE_NET_ADAPTER_PATH: &str = env!("BYOC_ADAPTER_HOSTILE_NET_WASM");

/// Path of the `wasi:keyvalue` test application (`adapters/keyvalue-app`, a `wasi:cli`
/// command, not an adapter) built next to the host. For tests and examples only.
#[doc(hidden)]
pub const KEYVALUE_APP_PATH: &str = env!("BYOC_ADAPTER_KEYVALUE_APP_WASM");

/// Path of the `wasi:keyvalue` shim (`adapters/keyvalue-shim`): exports `wasi:keyvalue`
/// over the adapter it is composed with (`docs/keyvalue.md`).
pub const KEYVALUE_SHIM_PATH: &str = env!("BYOC_ADAPTER_KEYVALUE_SHIM_WASM");
/// The Redis adapter component (`adapters/redis`), embedded in the host: the `redis`
/// provider's component. It imports the host's `redis` interface.
pub const REDIS_ADAPTER: &[u8] = include_bytes!(env!("BYOC_ADAPTER_REDIS_WASM"));

// `<NAME>_SHA256`: each component's SHA-256, computed by the build script, so loading a
// built-in adapter hashes nothing at run time.
/// Where the build wrote each adapter component (its name and file), for tools and tests
/// that read the files.
pub const COMPONENT_PATHS: &[(&str, &str)] = &[
    ("memory", env!("BYOC_ADAPTER_MEMORY_WASM")),
    ("filesystem", env!("BYOC_ADAPTER_FILESYSTEM_WASM")),
    ("http", env!("BYOC_ADAPTER_HTTP_WASM")),
    ("redb", env!("BYOC_ADAPTER_REDB_WASM")),
    ("s3", env!("BYOC_ADAPTER_S3_WASM")),
    ("dynamodb", env!("BYOC_ADAPTER_DYNAMODB_WASM")),
    ("etcd", env!("BYOC_ADAPTER_ETCD_WASM")),
    ("postgres", env!("BYOC_ADAPTER_POSTGRES_WASM")),
    ("redis", env!("BYOC_ADAPTER_REDIS_WASM")),
    ("memcached", env!("BYOC_ADAPTER_MEMCACHED_WASM")),
    ("encryption", env!("BYOC_ADAPTER_ENCRYPTION_WASM")),
    ("compression", env!("BYOC_ADAPTER_COMPRESSION_WASM")),
    ("tiered", env!("BYOC_ADAPTER_TIERED_WASM")),
    ("fallback", env!("BYOC_ADAPTER_FALLBACK_WASM")),
    ("migration", env!("BYOC_ADAPTER_MIGRATION_WASM")),
    ("multi-region", env!("BYOC_ADAPTER_MULTI_REGION_WASM")),
    ("hostile", env!("BYOC_ADAPTER_HOSTILE_WASM")),
    ("hostile-net", env!("BYOC_ADAPTER_HOSTILE_NET_WASM")),
];

include!(concat!(env!("OUT_DIR"), "/adapter_hashes.rs"));

/// Loads the embedded memory adapter ([`MEMORY_ADAPTER`]) on `runtime`: like
/// [`Runtime::load`], without hashing the component (its SHA-256 is computed at build
/// time), so a load served by the compiled-code cache is only a file mapping.
pub fn load_memory_adapter(runtime: &Runtime) -> Result<AdapterComponent> {
    // Named as the registry names it (`crate::MEMORY`).
    runtime.load_hashed("memory", MEMORY_ADAPTER, MEMORY_SHA256)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wasm::sha256_hex;

    #[test]
    fn build_time_hashes_match_the_components() {
        for (bytes, hash) in [
            (MEMORY_ADAPTER, MEMORY_SHA256),
            (ENCRYPTION_WRAPPER, ENCRYPTION_SHA256),
            (COMPRESSION_WRAPPER, COMPRESSION_SHA256),
            (TIERED_WRAPPER, TIERED_SHA256),
            (FALLBACK_WRAPPER, FALLBACK_SHA256),
            (MIGRATION_WRAPPER, MIGRATION_SHA256),
            (MULTI_REGION_WRAPPER, MULTI_REGION_SHA256),
            (FILESYSTEM_ADAPTER, FILESYSTEM_SHA256),
            (HTTP_ADAPTER, HTTP_SHA256),
            (REDIS_ADAPTER, REDIS_SHA256),
            (REDB_ADAPTER, REDB_SHA256),
            (MEMCACHED_ADAPTER, MEMCACHED_SHA256),
            (POSTGRES_ADAPTER, POSTGRES_SHA256),
        ] {
            assert_eq!(sha256_hex(bytes), hex::encode(hash));
        }
    }

    /// The memory adapter is built without std's WASI support (`host/byoc/build.rs`): it
    /// imports the contract's types, a wall clock and a hash seed, and nothing else. A
    /// change that pulls std's WASI imports back in (a `SystemTime`, a print) shows here.
    #[test]
    fn the_memory_adapter_imports_only_a_clock_and_a_seed() {
        let runtime = Runtime::new(crate::RuntimeConfig::default()).expect("runtime");
        let loaded = load_memory_adapter(&runtime).expect("load");
        let mut imports: Vec<&str> = loaded
            .imports()
            .iter()
            .map(|i| i.split_once('@').map_or(i.as_str(), |(name, _)| name))
            .collect();
        imports.sort_unstable();
        assert_eq!(
            imports,
            [
                "byoc:cache/types",
                "wasi:clocks/wall-clock",
                "wasi:random/insecure-seed"
            ]
        );
    }
}
