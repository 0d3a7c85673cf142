//! `byoc inspect`: what a component file is and what it needs.

use crate::Failure;
use byoc::wasm::{Runtime, WasmProvider, sha256_hex};
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `inspect`.
#[derive(Args)]
pub struct InspectArgs {
    /// The component file (`.wasm`).
    component: PathBuf,
}

fn unversioned(name: &str) -> &str {
    name.split_once('@').map_or(name, |(n, _)| n)
}

pub async fn run(args: InspectArgs) -> Result<(), Failure> {
    let path = &args.component;
    let bytes = byoc::wasm::read_component_file(path)?;
    println!("file: {}", path.display());
    println!("size: {} bytes", bytes.len());
    println!("sha256: {}", sha256_hex(&bytes));
    let runtime = Runtime::shared()?;
    // A component may import the host's Redis: link it so that such a one loads too.
    byoc::redis::link(&runtime)?;
    let started = Instant::now();
    let component = runtime.load(&path.display().to_string(), &bytes)?;
    println!(
        "load: {:?} (compiled or from the code cache)",
        started.elapsed()
    );
    let imports = component.imports().to_vec();
    let has = |i: &str| imports.iter().any(|n| unversioned(n) == i);
    let world = if has("byoc:cache/redis") {
        "redis-adapter (byoc:cache/worlds.redis-adapter)"
    } else if has("byoc:cache/inner") {
        "wrapper (byoc:cache/worlds.wrapper)"
    } else {
        "adapter (byoc:cache/worlds.adapter)"
    };
    println!("world: {world}");
    let bulk = component
        .exports()
        .iter()
        .any(|e| unversioned(e) == "byoc:cache/bulk");
    println!(
        "packed get-multi (byoc:cache/bulk): {}",
        if bulk {
            "exported"
        } else {
            "not exported (get-multi per key)"
        }
    );
    match runtime.can_call_sync(&component) {
        Ok(()) => println!("synchronous calls (sync-calls): possible (imports nothing that waits)"),
        Err(e) => println!("synchronous calls (sync-calls): not possible ({e})"),
    }
    println!("imports:");
    for name in &imports {
        println!("  {name}");
    }
    println!("exports:");
    for name in component.exports() {
        println!("  {name}");
    }
    let (info, fields) = WasmProvider::builder(&runtime, component)
        .describe()
        .await?;
    println!(
        "info: {} {} (contract {})",
        info.name, info.version, info.contract
    );
    let native: Vec<String> = info.native.iter().map(|c| format!("{c:?}")).collect();
    println!("native operations: {}", native.join(", "));
    println!("configuration:");
    if fields.is_empty() {
        println!("  (none)");
    }
    for f in fields {
        let required = if f.required { ", required" } else { "" };
        println!("  {} ({:?}{required}): {}", f.name, f.kind, f.doc);
    }
    println!("needs:");
    let mut needs = Vec::new();
    if has("byoc:cache/redis") {
        needs.push("grants.redis: a Redis server and namespace");
    }
    if has("wasi:http/outgoing-handler") {
        needs.push("grants.http: the origins it may call");
    }
    let sockets = byoc::wasm::socket_imports(imports.iter().map(String::as_str));
    if !sockets.is_empty() {
        needs.push(
            "grants.tcp: the host:port endpoints it may connect to (it imports wasi:sockets; \
             without a TCP grant it is refused)",
        );
    }
    if has("wasi:filesystem/preopens") {
        needs.push("grants.dirs (optional): directories it may see; none by default");
    }
    if has("byoc:cache/inner") {
        needs.push("inner: the layers it wraps");
    }
    if needs.is_empty() {
        needs.push("nothing: it runs on its own memory");
    }
    for n in needs {
        println!("  {n}");
    }
    Ok(())
}
