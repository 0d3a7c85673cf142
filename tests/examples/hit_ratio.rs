//! Hit-ratio tool: replays block traces against the memory adapter's policies (the real
//! wasm component), an exact LRU, ARC and moka, and prints a Markdown table of hit ratios.
//!
//! ```text
//! cargo run --release -p byoc-tests --example hit_ratio -- FILE CAPACITY...
//! cargo run --release -p byoc-tests --example hit_ratio -- --synthetic [--small] [--check]
//! ```
//!
//! A FILE has one key per line, or ARC `.lis` records `start count ...` (see
//! `byoc::trace::Trace::parse`). `--synthetic` replays the documented synthetic suite
//! (`byoc::trace::synth::suite`); `--check` exits with status 1 if the adapter's `tinylfu`
//! is more than 0.5 points below the best of LRU, ARC and moka anywhere.

use anyhow::{Context, bail};
use byoc::Registry;
use byoc::trace::{Comparison, Policy, Trace, compare, format_table, synth};

/// How far below the best of LRU, ARC and moka the adaptive policy may be (points).
const TOLERANCE_POINTS: f64 = 0.5;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let registry = Registry::new()?;
    let runtime = registry.runtime();
    let policies = Policy::standard();
    let mut rows: Vec<(String, Comparison)> = Vec::new();

    if args.first().map(String::as_str) == Some("--synthetic") {
        let small = args.iter().any(|a| a == "--small");
        for w in synth::suite(small) {
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
        let [file, capacities @ ..] = args.as_slice() else {
            bail!("usage: hit_ratio FILE CAPACITY... | hit_ratio --synthetic [--small] [--check]");
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
    println!("| trace | capacity | adapter tinylfu − best of lru/arc/moka (points) |");
    println!("| --- | ---: | ---: |");
    for (trace, c) in &rows {
        let (Some(adaptive), Some(best)) = (
            c.ratio("adapter tinylfu"),
            c.best_of(&["lru", "arc", "moka"]),
        ) else {
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
    if missed > 0 && args.iter().any(|a| a == "--check") {
        std::process::exit(1);
    }
    Ok(())
}
