//! Cache semantics against plain reads of the same cache, in the same run:
//!
//! - `get_or_load/*`: a `get_or_load` hit against a plain `get` hit, on the native moka
//!   provider and on the wasm memory adapter; plain caches and fail-safe caches (whose
//!   entries carry the envelope). The target: a `get_or_load` hit within 1.1x a `get` hit
//!   on the same provider.
//! - `tags/*`: a `get` of an untagged entry against one with one and with four tags (one
//!   extra batched read of the tags' stamps).
//!
//! `cargo bench -p byoc-tests --bench semantics`; figures go to BENCHMARKS.md.

use byoc::{Cache, Contract, Loaded, Provider, Registry};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

async fn loader() -> Result<Loaded<u64>, byoc::Error> {
    Ok(Loaded::found(1))
}

fn get_or_load(c: &mut Criterion) {
    let rt = byoc_tests::bench::runtime();
    let registry = Registry::new().expect("runtime");
    let providers: Vec<(&str, Arc<dyn Provider>)> = ["native-memory", "memory"]
        .into_iter()
        .map(|name| {
            let p = rt
                .block_on(registry.create(name, Default::default()))
                .expect("provider");
            (name, p)
        })
        .collect();
    let mut group = c.benchmark_group("get_or_load");
    for (name, provider) in &providers {
        let caches: [(&str, Cache<u64>); 2] = [
            (
                "plain",
                Contract::new("p", Arc::clone(provider))
                    .key_prefix("p:")
                    .cache(),
            ),
            (
                "fail_safe",
                Contract::new("f", Arc::clone(provider))
                    .key_prefix("f:")
                    .default_ttl(Duration::from_secs(3600))
                    .fail_safe(Duration::from_secs(3600))
                    .cache(),
            ),
        ];
        for (kind, cache) in &caches {
            rt.block_on(cache.set("k", &7, None)).expect("set");
            group.bench_function(format!("{name}/{kind}/get"), |b| {
                b.to_async(&rt)
                    .iter(|| async { black_box(cache.get("k").await.expect("get")) })
            });
            group.bench_function(format!("{name}/{kind}/get_or_load"), |b| {
                b.to_async(&rt).iter(|| async {
                    black_box(cache.get_or_load("k", loader).await.expect("hit"))
                })
            });
        }
    }
    group.finish();
}

fn tags(c: &mut Criterion) {
    let rt = byoc_tests::bench::runtime();
    let registry = Registry::new().expect("runtime");
    let mut group = c.benchmark_group("tags");
    for name in ["native-memory", "memory"] {
        let provider = rt
            .block_on(registry.create(name, Default::default()))
            .expect("provider");
        let cache = Contract::<u64>::new("t", provider).cache();
        rt.block_on(async {
            cache.set("untagged", &1, None).await?;
            cache.set_with_tags("one", &1, &["a"], None).await?;
            cache
                .set_with_tags("four", &1, &["a", "b", "c", "d"], None)
                .await?;
            cache.invalidate_tag("b").await
        })
        .expect("setup");
        // `four` was written before `b`'s invalidation: a miss, after the same check.
        for key in ["untagged", "one", "four"] {
            group.bench_function(format!("{name}/get/{key}"), |b| {
                b.to_async(&rt)
                    .iter(|| async { black_box(cache.get(key).await.expect("get")) })
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = get_or_load, tags
}
criterion_main!(benches);
