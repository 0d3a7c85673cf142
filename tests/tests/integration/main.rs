//! BYOC's integration tests, in one test binary.
//!
//! Each module was its own test binary; every one of them linked the whole host (wasmtime,
//! cranelift, redis, hyper), so together they took gigabytes of `target/` and most of the
//! link time of `cargo test`. One binary links once. Run one module with a filter, e.g.
//! `cargo test -p byoc-tests --test integration sandbox::`.

mod abandoned;
mod compose;
mod compression;
mod config_example;
mod config_file;
mod config_reload;
mod conformance;
mod dynamodb;
mod etcd;
mod filesystem;
mod hit_ratio;
mod hot_swap;
mod http;
mod keyvalue;
mod memcached;
mod memory_adapter;
mod migration;
mod model;
mod multi_region;
mod near;
mod near_redis;
mod otel;
mod polyglot;
mod postgres;
mod prometheus;
mod redb;
mod redis;
mod redis_tls;
mod s3;
mod sandbox;
mod semantics;
mod sqlite;
mod stores;
mod tcp_grant;
mod typed_cache;
mod warm;
mod wrappers;

/// A fresh directory under the target's temporary directory, removed when dropped.
fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir")
}
