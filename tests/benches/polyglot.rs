//! The JavaScript, C and Python adapters (`target/polyglot/*.wasm`, built by
//! `adapters/polyglot/build.sh`) against the Rust memory adapter: first load (compile),
//! load from the on-disk code cache, instantiate + init, and `get`/`set` latency (on fibers,
//! and with synchronous calls where the component can take them).
//!
//! `cargo bench -p byoc-tests --bench polyglot`; figures go to BENCHMARKS.md. A component
//! that was not built is skipped with a message.

use byoc::wasm::{AdapterComponent, CodeCache, WasmProvider};
use byoc::{Provider, Runtime, RuntimeConfig};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const OPS: usize = 20_000;

// `RuntimeConfig` is `#[non_exhaustive]`: no struct literal from this crate.
#[allow(clippy::field_reassign_with_default)]
fn runtime_with(cache: CodeCache) -> Runtime {
    let mut config = RuntimeConfig::default();
    config.code_cache = cache;
    Runtime::new(config).expect("runtime")
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn us(d: Duration, n: usize) -> String {
    format!("{:.2} us", d.as_secs_f64() * 1e6 / n as f64)
}

async fn instance(
    runtime: &Runtime,
    component: AdapterComponent,
    sync: bool,
) -> (WasmProvider, Duration) {
    let start = Instant::now();
    let provider = WasmProvider::builder(runtime, component)
        .partitions(1)
        .sync_calls(sync)
        .build()
        .await
        .expect("instantiate");
    (provider, start.elapsed())
}

/// Mean `set` and `get` times over [`OPS`] calls each, after one unmeasured round (a fresh
/// instance's first calls fault pages in and warm the caches).
async fn latency(p: &dyn Provider) -> (Duration, Duration) {
    timed(p).await;
    timed(p).await
}

async fn timed(p: &dyn Provider) -> (Duration, Duration) {
    let value = vec![7u8; 64];
    let keys: Vec<String> = (0..1000).map(|i| format!("key-{i}")).collect();
    let start = Instant::now();
    for i in 0..OPS {
        p.set(&keys[i % keys.len()], &value, None)
            .await
            .expect("set");
    }
    let set = start.elapsed();
    let start = Instant::now();
    for i in 0..OPS {
        std::hint::black_box(p.get(&keys[i % keys.len()]).await.expect("get"));
    }
    (set, start.elapsed())
}

async fn measure(name: &str, bytes: &[u8], cache_dir: &Path) {
    // First load: nothing cached anywhere.
    let cold = runtime_with(CodeCache::Disabled);
    let start = Instant::now();
    cold.load(name, bytes).expect("load");
    let first = start.elapsed();
    // Cached load: a new runtime (as a new process would have) on a warm code cache.
    let dir = cache_dir.join(name);
    runtime_with(CodeCache::Dir(dir.clone()))
        .load(name, bytes)
        .expect("warm the cache");
    let runtime = runtime_with(CodeCache::Dir(dir));
    let start = Instant::now();
    let component = runtime.load(name, bytes).expect("load");
    let cached = start.elapsed();
    let (provider, instantiate) = instance(&runtime, component.clone(), false).await;
    let (set, get) = latency(&provider).await;
    let (sync, _) = instance(&runtime, component, true).await;
    let sync_get = match sync.sync_calls() {
        true => us(latency(&sync).await.1, OPS),
        false => "—".to_owned(),
    };
    println!(
        "| {name} | {:.1} MB | {} | {} | {} | {} | {} | {sync_get} |",
        bytes.len() as f64 / 1e6,
        ms(first),
        ms(cached),
        ms(instantiate),
        us(get, OPS),
        us(set, OPS),
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/polyglot");
    let cache = tempfile::tempdir().expect("tempdir");
    println!(
        "| adapter | size | first load | cached load | instantiate + init | get (64 B hit) | set (64 B) | get, sync calls |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    rt.block_on(measure(
        "rust-memory",
        byoc::builtin::MEMORY_ADAPTER,
        cache.path(),
    ));
    for lang in ["c", "js", "py"] {
        let path = dir.join(format!("{lang}.wasm"));
        match std::fs::read(&path) {
            Ok(bytes) => rt.block_on(measure(lang, &bytes, cache.path())),
            Err(e) => eprintln!(
                "skipping {lang}: {} ({e}); run adapters/polyglot/build.sh",
                path.display()
            ),
        }
    }
}
