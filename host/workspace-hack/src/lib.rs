//! Feature unification for the workspace's builds (the "workspace hack" pattern).
//!
//! Cargo resolves the features of a dependency per command: `cargo run -p byoc-cli` (the
//! demo), `cargo test --workspace`, `cargo clippy --all-targets` and `cargo doc` would
//! each enable a slightly different set (tokio `full`, regex `unicode`, …), and every
//! such difference rebuilds the crate and everything above it — wasmtime and cranelift
//! included. This crate has no code: its manifest enables, for each dependency whose
//! features differ between those builds, the union of them, and `byoc-cli` depends on it,
//! so all of them share one build. `just unify` regenerates the manifest.
