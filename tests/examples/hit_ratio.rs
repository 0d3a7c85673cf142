//! Hit-ratio tool: replays block traces against the memory adapter's policies (the real
//! wasm component), an exact LRU, ARC and moka, and prints a Markdown table of hit ratios.
//!
//! ```text
//! cargo run --release -p byoc-tests --example hit_ratio -- FILE CAPACITY... [--native] [--check]
//! cargo run --release -p byoc-tests --example hit_ratio -- --synthetic [--small] [--native] [--check]
//! cargo run --release -p byoc-tests --example hit_ratio -- --holdout [--small] [--native] [--check]
//! ```
//!
//! A FILE has one key per line, or ARC `.lis` records `start count ...` (see
//! `byoc_cli::trace::Trace::parse`). `--synthetic` replays the documented synthetic suite
//! (`byoc_cli::trace::synth::suite`), `--holdout` the held-out set the policy is not tuned on
//! (`byoc_cli::trace::synth::holdout`); `--native` replays the adapter's `tinylfu` natively
//! (the same `byoc-eviction` code, hit for hit; much faster) instead of the wasm adapter's
//! `lru`, `lfu` and `tinylfu`; `--check` exits with status 1 if `tinylfu` is more than 0.5
//! points below the best of LRU, ARC and moka anywhere. `--only=lru,arc` (names: `tinylfu`,
//! `lru`, `arc`, `moka`; implies `--native`) replays only those, e.g. moka in its own
//! process on a long trace.

use anyhow::{Context, bail};
use byoc::Registry;
use byoc_cli::trace::{Comparison, Policy, Trace, compare, format_table, synth};

/// How far below the best of LRU, ARC and moka the adaptive policy may be (points).
const TOLERANCE_POINTS: f64 = 0.5;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let registry = Registry::new()?;
    let runtime = registry.runtime();
    let flag = |name: &str| args.iter().any(|a| a == name);
    let only = args.iter().find_map(|a| a.strip_prefix("--only="));
    let (policies, adaptive) = if let Some(only) = only {
        let mut policies = Vec::new();
        for name in only.split(',') {
            policies.push(match name {
                "tinylfu" => Policy::TinyLfuNative,
                "lru" => Policy::Lru,
                "arc" => Policy::Arc,
                "moka" => Policy::Moka,
                other => bail!("--only: unknown policy `{other}` (tinylfu, lru, arc, moka)"),
            });
        }
        (policies, Policy::TinyLfuNative.name())
    } else if flag("--native") {
        let policies = vec![
            Policy::TinyLfuNative,
            Policy::Lru,
            Policy::Arc,
            Policy::Moka,
        ];
        (policies, Policy::TinyLfuNative.name())
    } else {
        (Policy::standard(), Policy::Adapter("tinylfu".into()).name())
    };
    let mut rows: Vec<(String, Comparison)> = Vec::new();

    let set = match args.first().map(String::as_str) {
        Some("--synthetic") => Some(synth::suite(flag("--small"))),
        Some("--holdout") => Some(synth::holdout(flag("--small"))),
        _ => None,
    };
    if let Some(set) = set {
        for w in set {
            eprintln!(
                "{}: {} ({} accesses, {} keys)",
                w.name,
                w.description,
                w.trace.len(),
                w.trace.distinct()
            );
            for &capacity in &w.capacities {
                let started = std::time::Instant::now();
                let c = compare(runtime, &w.trace, capacity, &policies).await?;
                let ratios: Vec<String> = c
                    .ratios
                    .iter()
                    .map(|(n, r)| format!("{n} {:.2}", r * 100.0))
                    .collect();
                eprintln!(
                    "  capacity {capacity} ({:.1?}): {}",
                    started.elapsed(),
                    ratios.join(", ")
                );
                rows.push((w.name.to_string(), c));
            }
        }
    } else {
        let positional: Vec<String> = args
            .iter()
            .filter(|a| !a.starts_with("--"))
            .cloned()
            .collect();
        let [file, capacities @ ..] = positional.as_slice() else {
            bail!(
                "usage: hit_ratio FILE CAPACITY... [--native] [--check] | hit_ratio --synthetic|--holdout [--small] [--native] [--check]"
            );
        };
        if capacities.is_empty() {
            bail!("give at least one capacity (in entries)");
        }
        let trace = Trace::load(file)?;
        eprintln!(
            "{file}: {} accesses, {} keys",
            trace.len(),
            trace.distinct()
        );
        let name = std::path::Path::new(file)
            .file_name()
            .map_or_else(|| file.clone(), |n| n.to_string_lossy().into_owned());
        for capacity in capacities {
            let capacity: usize = capacity
                .parse()
                .with_context(|| format!("capacity `{capacity}` is not a number"))?;
            rows.push((
                name.clone(),
                compare(runtime, &trace, capacity, &policies).await?,
            ));
        }
    }

    println!("{}", format_table(&rows));
    let mut missed = 0;
    println!("| trace | capacity | {adaptive} − best of lru/arc/moka (points) |");
    println!("| --- | ---: | ---: |");
    for (trace, c) in &rows {
        let (Some(adaptive), Some(best)) = (c.ratio(&adaptive), c.best_of(&["lru", "arc", "moka"]))
        else {
            continue;
        };
        let delta = (adaptive - best) * 100.0;
        if delta < -TOLERANCE_POINTS {
            missed += 1;
        }
        println!("| {trace} | {} | {delta:+.2} |", c.capacity);
    }
    println!(
        "\n{missed} of {} rows more than {TOLERANCE_POINTS} points below the best",
        rows.len()
    );
    if missed > 0 && flag("--check") {
        std::process::exit(1);
    }
    Ok(())
}
