//! The host's native Redis (`byoc:cache/redis`, see `wit/redis.wit`), for adapters whose
//! grant names a Redis server or cluster. Enabled by the SDK's `redis` feature.
//!
//! Keys are the adapter's own: the host prefixes them with the grant's namespace. Without a
//! grant every function answers [`Error::Denied`](crate::Error::Denied). An adapter that
//! calls these functions imports `redis` as well as exporting the `adapter` world, so its
//! component's world is `redis-adapter`.

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "redis-client",
        with: {
            "byoc:cache/types@0.1.0": crate::bindings::byoc::cache::types,
        },
        type_section_suffix: "byoc-redis",
        runtime_path: "::byoc_guest_sdk::__wit_bindgen::rt",
    });
}

pub use bindings::byoc::cache::redis::{
    ScanBatch, ServerStats, cas, del, exists, get, incr, incr_ttl, mget, mget_held, mget_packed,
    mset, pexpire, ping, pttl, publish, scan, set, stats, unlink_namespace,
};
