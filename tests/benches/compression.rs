//! The compression wrapper's cost and ratio: `get` and `set` of JSON-like values (1 KiB,
//! 16 KiB, 256 KiB) through `compression(memory)` against the memory adapter alone, and
//! of an incompressible 16 KiB value (stored raw after a failed attempt). The ratio of
//! each value (bytes stored by the layer below / value bytes) is printed once.
//!
//! `cargo bench -p byoc-tests --bench compression`; figures go to BENCHMARKS.md.

use byoc::{AdapterConfig, Provider, Registry, StackSpec};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;

/// Records with a counter in them, like a JSON list of users.
fn json_like(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut i = 0u64;
    while out.len() < len {
        out.extend_from_slice(
            format!(
                "{{\"id\":{i},\"name\":\"user-{}\",\"active\":true}},",
                i % 97
            )
            .as_bytes(),
        );
        i += 1;
    }
    out.truncate(len);
    out
}

/// A xorshift stream: nothing for LZ4 to find.
fn noise(len: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15_u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn compression(c: &mut Criterion) {
    let rt = byoc_tests::bench::runtime();
    let inner = rt
        .block_on(
            Registry::new()
                .expect("runtime")
                .create("memory", AdapterConfig::new()),
        )
        .expect("memory");
    let mut registry = Registry::new().expect("runtime");
    let given = Arc::clone(&inner);
    registry
        .register(
            "given",
            Arc::new(move |_| {
                let given = Arc::clone(&given);
                Box::pin(async move { Ok(given) })
            }),
        )
        .expect("register");
    let wrapped: Arc<dyn Provider> = rt
        .block_on(registry.build(&StackSpec::new("compression").inner(StackSpec::new("given"))))
        .expect("compression");
    let values = [
        ("json/1KiB", json_like(1 << 10)),
        ("json/16KiB", json_like(16 << 10)),
        ("json/256KiB", json_like(256 << 10)),
        ("noise/16KiB", noise(16 << 10)),
    ];
    for (name, value) in &values {
        rt.block_on(wrapped.set(&format!("c/{name}"), value, None))
            .expect("set");
        rt.block_on(inner.set(&format!("p/{name}"), value, None))
            .expect("set");
        let stored = rt
            .block_on(inner.get(&format!("c/{name}")))
            .expect("get")
            .map_or(0, |v| v.len());
        eprintln!(
            "compression ratio {name}: {stored} / {} bytes = {:.3}",
            value.len(),
            stored as f64 / value.len() as f64
        );
    }
    let mut group = c.benchmark_group("compression");
    for (name, value) in &values {
        for (kind, p) in [("compressed", &wrapped), ("plain", &inner)] {
            let key = format!("{}/{name}", &kind[..1]);
            group.bench_function(BenchmarkId::new(format!("get/{kind}"), name), |b| {
                b.to_async(&rt)
                    .iter(|| async { black_box(p.get(&key).await.expect("get")) })
            });
            group.bench_function(BenchmarkId::new(format!("set/{kind}"), name), |b| {
                b.to_async(&rt)
                    .iter(|| async { p.set(&key, value, None).await.expect("set") })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, compression);
criterion_main!(benches);
