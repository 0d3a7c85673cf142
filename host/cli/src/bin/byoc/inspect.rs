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
    if inspect_app(&bytes) {
        return Ok(());
    }
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
    let atomics = component
        .exports()
        .iter()
        .any(|e| unversioned(e) == "byoc:cache/atomics");
    println!(
        "atomics (byoc:cache/atomics): {}",
        if atomics {
            "exported (whether they are supported, the adapter says once configured)"
        } else {
            "not exported (increment and compare-and-swap unsupported)"
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

/// Describes `bytes` if it is an application (a `wasi:cli` command, which `byoc run`
/// runs) rather than an adapter; whether it was one.
fn inspect_app(bytes: &[u8]) -> bool {
    let Ok(app) = byoc_keyvalue::app::App::load(bytes) else {
        return false;
    };
    let exports = app.exports();
    let is_command = exports.iter().any(|e| unversioned(e) == "wasi:cli/run");
    let is_adapter = exports
        .iter()
        .any(|e| unversioned(e) == "byoc:cache/provider");
    if !is_command || is_adapter {
        return false;
    }
    println!("world: wasi:cli command (an application: `byoc run`)");
    let imports = app.imports();
    println!("imports:");
    for name in &imports {
        println!("  {name}");
    }
    println!("exports:");
    for name in &exports {
        println!("  {name}");
    }
    let keyvalue = app.keyvalue_imports();
    println!("needs:");
    if keyvalue.is_empty() {
        println!("  no wasi:keyvalue bucket");
    } else {
        println!(
            "  wasi:keyvalue ({}): keyvalue.buckets in the configuration, a cache for each \
             bucket it opens (any other bucket is no-such-store)",
            keyvalue.join(", ")
        );
    }
    if app.needs_redis() {
        println!(
            "  a Redis grant (`byoc run --redis URL --redis-namespace NS`): it imports \
             byoc:cache/redis (it holds the Redis adapter); without the grant it is refused"
        );
    }
    if imports
        .iter()
        .any(|i| unversioned(i) == "wasi:filesystem/preopens")
    {
        println!(
            "  a directory grant (`byoc run --dir HOST[:GUEST]`) if it opens files: it imports \
             wasi:filesystem (as every Rust std application does; a composed filesystem \
             adapter looks at /data and answers access-denied without it); none by default"
        );
    }
    let offered = |i: &str| {
        [
            "wasi:cli/",
            "wasi:io/",
            "wasi:clocks/",
            "wasi:random/",
            "wasi:filesystem/",
            "wasi:sockets/",
            "wasi:keyvalue/",
            "byoc:cache/redis@",
        ]
        .iter()
        .any(|p| i.starts_with(p))
    };
    for name in imports.iter().filter(|i| !offered(i)) {
        println!("  {name}: not offered by `byoc run` (the application cannot start)");
    }
    println!(
        "  nothing else: it gets stdio, clocks and randomness; environment variables only \
         from `--adapter-config`; no network"
    );
    true
}
