//! `byoc bench`: ops/s and latency percentiles of configured caches.

use crate::Failure;
use anyhow::{Context, anyhow};
use byoc::{Caches, ConfigFile, Provider, Registry};
use clap::Args;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Arguments of `bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// Caches to measure (default: every cache of the configuration).
    caches: Vec<String>,
    /// Operations per cache.
    #[arg(long, default_value_t = 100_000)]
    ops: u64,
    /// Concurrent tokio tasks.
    #[arg(long, default_value_t = 16)]
    tasks: u64,
    /// Distinct keys (written once before measuring).
    #[arg(long, default_value_t = 10_000)]
    keys: u64,
    /// Bytes per value.
    #[arg(long, default_value_t = 64)]
    value_size: usize,
    /// Share of operations that are reads (the rest are writes), 0.0 to 1.0.
    #[arg(long, default_value_t = 0.9)]
    read_ratio: f64,
    /// Hide the progress bar.
    #[arg(long)]
    quiet: bool,
    /// Instead of measuring caches: replay this block trace (one key per line, or ARC
    /// `.lis` lines `start count ...`) and print the hit ratio of the memory adapter's
    /// policies, an exact LRU, ARC and moka at each `--capacity`.
    #[arg(long, value_name = "FILE", conflicts_with = "caches")]
    trace: Option<std::path::PathBuf>,
    /// Cache capacities (entries) for `--trace`; repeatable.
    #[arg(long, value_name = "ENTRIES", requires = "trace", default_values_t = [1000u64])]
    capacity: Vec<u64>,
}

/// `bench --trace`: hit ratios of every policy on a trace file.
async fn hit_ratios(path: &Path, capacities: &[u64]) -> Result<(), Failure> {
    use byoc_cli::trace::{Policy, Trace, compare, format_table};
    let trace = Trace::load(path)?;
    println!(
        "{}: {} accesses, {} distinct keys",
        path.display(),
        trace.len(),
        trace.distinct()
    );
    let registry = Registry::new()?;
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut rows = Vec::new();
    for &capacity in capacities {
        let capacity = usize::try_from(capacity).unwrap_or(usize::MAX).max(1);
        let comparison = compare(registry.runtime(), &trace, capacity, &Policy::standard()).await?;
        rows.push((name.clone(), comparison));
    }
    print!("{}", format_table(&rows));
    Ok(())
}

/// Latency percentiles of one run.
struct Report {
    errors: u64,
    elapsed: Duration,
    /// Latencies in ns: a fixed-size histogram (3 significant digits, up to
    /// [`MAX_LATENCY_NS`]) whatever the number of operations.
    latencies: Histogram<u64>,
}

/// The longest latency the histogram tells apart; longer ones are counted as this.
const MAX_LATENCY_NS: u64 = 3_600_000_000_000;

/// Samples a task gathers before adding them to the shared histogram.
const SAMPLE_BATCH: usize = 1024;

fn histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).context("creating the latency histogram")
}

impl Report {
    fn ops(&self) -> u64 {
        self.latencies.len()
    }

    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        Duration::from_nanos(self.latencies.value_at_quantile(p / 100.0))
    }
}

/// Adds `samples` to the shared histogram and empties them.
fn flush(shared: &Mutex<Histogram<u64>>, samples: &mut Vec<u64>) {
    let mut h = shared.lock().unwrap_or_else(|p| p.into_inner());
    for &ns in samples.iter() {
        h.saturating_record(ns.clamp(1, MAX_LATENCY_NS));
    }
    samples.clear();
}

pub async fn run(config: &Path, args: BenchArgs) -> Result<(), Failure> {
    if let Some(trace) = &args.trace {
        return hit_ratios(trace, &args.capacity).await;
    }
    if !(0.0..=1.0).contains(&args.read_ratio) || args.tasks == 0 || args.keys == 0 {
        return Err(Failure::new(
            crate::exit::USAGE,
            anyhow!("--read-ratio must be within 0..=1; --tasks and --keys at least 1"),
        ));
    }
    let mut file = ConfigFile::load(config)?;
    if !args.caches.is_empty() {
        for name in &args.caches {
            if file.cache(name).is_none() {
                // The same mistake as `get` with an unknown cache, so the same exit code.
                return Err(Failure::new(
                    crate::exit::CONFIG,
                    anyhow!("no cache named `{name}` in {}", config.display()),
                ));
            }
        }
        file.caches.retain(|c| args.caches.contains(&c.name));
    }
    let caches = Caches::open(&file, Registry::new()?).await?;
    println!(
        "{} ops per cache, {} tasks, {} keys, {} B values, {:.0}% reads",
        args.ops,
        args.tasks,
        args.keys,
        args.value_size,
        args.read_ratio * 100.0
    );
    println!(
        "{:<16} {:>12} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8}",
        "cache", "ops/s", "p50", "p90", "p99", "p99.9", "max", "errors"
    );
    for name in caches.names() {
        let provider = caches.provider(&name)?;
        let report = measure(&name, provider, &args).await?;
        println!(
            "{:<16} {:>12.0} {:>10.2?} {:>10.2?} {:>10.2?} {:>10.2?} {:>10.2?} {:>8}",
            name,
            report.ops() as f64 / report.elapsed.as_secs_f64(),
            report.percentile(50.0),
            report.percentile(90.0),
            report.percentile(99.0),
            report.percentile(99.9),
            report.percentile(100.0),
            report.errors,
        );
    }
    Ok(())
}

fn key(i: u64) -> String {
    format!("bench:{i:08}")
}

async fn measure(
    name: &str,
    provider: Arc<dyn Provider>,
    args: &BenchArgs,
) -> anyhow::Result<Report> {
    let value = vec![0xA5u8; args.value_size];
    for chunk in (0..args.keys).collect::<Vec<_>>().chunks(500) {
        let items: Vec<byoc::Item> = chunk
            .iter()
            .map(|&i| byoc::Item::new(key(i), value.clone(), None))
            .collect();
        provider
            .set_multi(&items)
            .await
            .with_context(|| format!("writing the {} keys of cache `{name}`", args.keys))?;
    }
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(args.ops)
    };
    bar.set_style(
        ProgressStyle::with_template("{prefix:<16} [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(name.to_owned());
    let per_task = args.ops / args.tasks;
    let shared = Arc::new(Mutex::new(histogram()?));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..args.tasks {
        let provider = Arc::clone(&provider);
        let value = value.clone();
        let bar = bar.clone();
        let shared = Arc::clone(&shared);
        let (keys, read_ratio) = (args.keys, args.read_ratio);
        tasks.push(tokio::spawn(async move {
            // A per-task xorshift stream: cheap and reproducible.
            let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ (t + 1);
            let mut next = move || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state
            };
            let mut samples = Vec::with_capacity(SAMPLE_BATCH);
            let mut errors = 0u64;
            for i in 0..per_task {
                let k = key(next() % keys);
                let read = (next() % 10_000) as f64 / 10_000.0 < read_ratio;
                let start = Instant::now();
                let ok = if read {
                    provider.get(&k).await.is_ok()
                } else {
                    provider.set(&k, &value, None).await.is_ok()
                };
                samples.push(u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX));
                if samples.len() == SAMPLE_BATCH {
                    flush(&shared, &mut samples);
                }
                errors += u64::from(!ok);
                if i % 256 == 255 {
                    bar.inc(256);
                }
            }
            flush(&shared, &mut samples);
            errors
        }));
    }
    let mut errors = 0;
    for task in tasks {
        errors += task.await.context("a bench task panicked")?;
    }
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    let latencies = std::mem::replace(
        &mut *shared.lock().unwrap_or_else(|p| p.into_inner()),
        histogram()?,
    );
    Ok(Report {
        errors,
        elapsed,
        latencies,
    })
}
