//! The `byoc` command's library: the HTTP server of `byoc serve` ([`serve`]) and the
//! hit-ratio tool ([`trace`]). Applications embed the `byoc` crate, which needs none of
//! this (no clap, hyper server, indicatif or tracing-subscriber).
#![deny(unsafe_code)]

#[cfg(feature = "otel")]
pub mod otel;
pub mod prometheus;
pub mod serve;
pub mod trace;

// The `byoc` items the moved modules expect at the crate root (`crate::Error`, ...).
use byoc::{
    AdapterConfig, ConfigValue, Error, Item, KeyTtl, Provider, Result, Runtime, Stats,
    WasmProvider, builtin,
};
