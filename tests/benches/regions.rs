//! The migration and multi-region wrappers against their layers, in the same run: `get`
//! and `set` of a 100-byte value through `migration` (dual-write, read-new) and
//! `multi-region` (primary-backup sync, nearest) over the wasm memory adapter and native
//! memory, against the wasm memory adapter alone and native memory (moka) alone.
//!
//! `cargo bench -p byoc-tests --bench regions`; figures go to BENCHMARKS.md.

use byoc::{AdapterConfig, ConfigValue, Provider, Registry, StackSpec};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;

fn two_layers(name: &str, config: AdapterConfig) -> StackSpec {
    StackSpec::new(name)
        .config(config)
        .inner(StackSpec::new("memory"))
        .inner(StackSpec::new("native-memory"))
}

fn regions(c: &mut Criterion) {
    let rt = byoc_tests::bench::runtime();
    let registry = Registry::new().expect("runtime");
    let text = |s: &str| ConfigValue::Text(s.into());
    let regions = || ConfigValue::TextList(vec!["a".into(), "b".into()]);
    let specs = [
        ("native-memory", StackSpec::new("native-memory")),
        ("memory", StackSpec::new("memory")),
        (
            "migration/dual-write",
            two_layers(
                "migration",
                AdapterConfig::new().with("mode", text("dual-write")),
            ),
        ),
        (
            "migration/read-new",
            two_layers(
                "migration",
                AdapterConfig::new().with("mode", text("read-new")),
            ),
        ),
        (
            "multi-region/primary-backup",
            two_layers(
                "multi-region",
                AdapterConfig::new().with("regions", regions()),
            ),
        ),
        (
            "multi-region/nearest",
            two_layers(
                "multi-region",
                AdapterConfig::new()
                    .with("regions", regions())
                    .with("mode", text("nearest")),
            ),
        ),
    ];
    let value = vec![0x5Au8; 100];
    let mut group = c.benchmark_group("regions");
    for (name, spec) in specs {
        let provider: Arc<dyn Provider> = rt.block_on(registry.build(&spec)).expect("stack");
        rt.block_on(provider.set("k", &value, None)).expect("set");
        group.bench_function(format!("get/{name}"), |b| {
            b.to_async(&rt)
                .iter(|| async { black_box(provider.get("k").await.expect("get")) })
        });
        group.bench_function(format!("set/{name}"), |b| {
            b.to_async(&rt)
                .iter(|| async { provider.set("k", &value, None).await.expect("set") })
        });
    }
    group.finish();
}

criterion_group!(benches, regions);
criterion_main!(benches);
