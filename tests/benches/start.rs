//! Component start and epoch interruption, each against its baseline in the same run:
//!
//! - `start/compile`: `Runtime::load` of the memory adapter with no code cache (a
//!   full Cranelift compile), against `start/runtime_new` (the fresh runtime every
//!   iteration also pays);
//! - `start/load_cached`: the same load served by the on-disk compiled-code cache
//!   (`Runtime::load` hashes the component first); `start/load_cached_builtin`: the
//!   same through `builtin::load_memory_adapter` (hash computed at build time), the path
//!   the registry's built-in providers take;
//! - `start/instantiate` and `start/instantiate_pooling`: one instance from the
//!   pre-instantiated component (`Runtime::instantiate_probe`) with the on-demand and the
//!   pooling instance allocator; `start/instantiate_sync*`: the same, linked and started
//!   for synchronous calls (no fiber), as the registry's `memory` provider does;
//! - `epoch/get_hit_64B`: a 64 B hit through the wasm memory adapter with epoch
//!   interruption on (the default) and off.
//!
//! `cargo bench -p byoc-tests --bench start`; figures go to BENCHMARKS.md.

use byoc::wasm::CodeCache;
use byoc::{Provider, Registry, Runtime, RuntimeConfig};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

fn config(code_cache: CodeCache) -> RuntimeConfig {
    RuntimeConfig {
        code_cache,
        ..RuntimeConfig::default()
    }
}

fn start(c: &mut Criterion) {
    let rt = byoc_tests::bench::runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let cached = CodeCache::Dir(dir.path().to_owned());
    // Fill the on-disk cache once.
    Runtime::new(config(cached.clone()))
        .expect("runtime")
        .load("memory", byoc::builtin::MEMORY_ADAPTER)
        .expect("load");

    let mut group = c.benchmark_group("start");
    group.sample_size(10);
    group.bench_function("runtime_new", |b| {
        b.iter(|| black_box(Runtime::new(config(CodeCache::Disabled)).expect("runtime")))
    });
    group.bench_function("compile", |b| {
        b.iter_batched(
            || Runtime::new(config(CodeCache::Disabled)).expect("runtime"),
            |runtime| {
                runtime
                    .load("memory", byoc::builtin::MEMORY_ADAPTER)
                    .expect("load")
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();

    let mut group = c.benchmark_group("start");
    // A fresh runtime per iteration (so its in-memory map of compiled components is
    // empty and the on-disk cache serves the load), dropped outside the timing: what is
    // timed is the load alone, not the teardown of the runtime's engine and linker.
    group.bench_function("load_cached", |b| {
        b.iter_batched_ref(
            || Runtime::new(config(cached.clone())).expect("runtime"),
            |runtime| {
                runtime
                    .load("memory", byoc::builtin::MEMORY_ADAPTER)
                    .expect("load")
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("load_cached_builtin", |b| {
        b.iter_batched_ref(
            || Runtime::new(config(cached.clone())).expect("runtime"),
            |runtime| byoc::builtin::load_memory_adapter(runtime).expect("load"),
            BatchSize::PerIteration,
        )
    });
    for (name, pooling, sync) in [
        ("instantiate", None, false),
        ("instantiate_pooling", Some(64), false),
        ("instantiate_sync", None, true),
        ("instantiate_sync_pooling", Some(64), true),
    ] {
        let runtime = Runtime::new(RuntimeConfig {
            pooling_allocator: pooling,
            ..config(cached.clone())
        })
        .expect("runtime");
        let component = runtime
            .load("memory", byoc::builtin::MEMORY_ADAPTER)
            .expect("load");
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| async {
                runtime
                    .instantiate_probe(&component, sync)
                    .await
                    .expect("instantiate")
            })
        });
    }
    group.finish();
}

fn epoch(c: &mut Criterion) {
    let rt = byoc_tests::bench::runtime();
    let mut group = c.benchmark_group("epoch");
    for (name, on) in [("on", true), ("off", false)] {
        let runtime = Runtime::new(RuntimeConfig {
            epoch_interruption: on,
            ..RuntimeConfig::default()
        })
        .expect("runtime");
        let provider: Arc<dyn Provider> = rt
            .block_on(Registry::with_runtime(runtime).create("memory", Default::default()))
            .expect("memory");
        rt.block_on(provider.set("k", &[7u8; 64], None))
            .expect("set");
        group.bench_function(format!("get_hit_64B/{name}"), |b| {
            b.to_async(&rt)
                .iter(|| async { black_box(provider.get(black_box("k")).await) })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = start, epoch
}
criterion_main!(benches);
