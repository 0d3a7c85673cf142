//! `byoc warm CACHE --from FILE|CACHE`: fill a cache from an entries file or another
//! cache of the configuration.

use crate::{Failure, exit};
use anyhow::{Context, anyhow};
use base64::Engine as _;
use byoc::{Caches, ConfigFile, Item, Registry, WarmOptions, WarmSource};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `warm`.
#[derive(Args)]
pub struct WarmArgs {
    /// The cache filled.
    cache: String,
    /// Another cache of the configuration (its entries are copied with their remaining
    /// TTLs), or else an entries file: JSON lines
    /// `{"key": "k", "value": "text"}` (or `"value-base64"`, and `"ttl": "30s"`).
    #[arg(long, value_name = "CACHE|FILE")]
    from: String,
    /// With `--from CACHE`: copy only the keys listed in this file (one per line).
    #[arg(long, value_name = "FILE")]
    keys: Option<PathBuf>,
    /// Batches in flight at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Keys per batch.
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Replace entries the cache already holds.
    #[arg(long)]
    overwrite: bool,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

/// One line of an entries file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Line {
    key: String,
    value: Option<String>,
    value_base64: Option<String>,
    ttl: Option<String>,
}

fn read_entries(path: &Path) -> anyhow::Result<Vec<Item>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the entries file {}", path.display()))?;
    let mut items = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{}:{}", path.display(), n + 1);
        let line: Line = serde_json::from_str(line).with_context(at)?;
        let value = match (line.value, line.value_base64) {
            (Some(text), None) => text.into_bytes(),
            (None, Some(b64)) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .with_context(at)?,
            _ => return Err(anyhow!("{}: give one of `value`, `value-base64`", at())),
        };
        let ttl = match line.ttl {
            None => None,
            Some(t) => Some(
                byoc::units::parse_duration(&t)
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| anyhow!("{}: `{t}` is not a duration above zero", at()))?,
            ),
        };
        items.push(Item {
            key: line.key,
            value,
            ttl,
        });
    }
    Ok(items)
}

pub async fn run(config: &Path, args: WarmArgs) -> Result<(), Failure> {
    let mut file = ConfigFile::load(config)?;
    if file.cache(&args.cache).is_none() {
        return Err(Failure::new(
            exit::CONFIG,
            anyhow!("{}: no cache named `{}`", config.display(), args.cache),
        ));
    }
    let from_cache = file.cache(&args.from).is_some();
    let (source, total) = if from_cache {
        match &args.keys {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading the keys file {}", path.display()))?;
                let keys: Vec<String> = text
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect();
                let total = keys.len() as u64;
                (
                    WarmSource::CacheKeys {
                        cache: args.from.clone(),
                        keys,
                    },
                    Some(total),
                )
            }
            None => (WarmSource::Cache(args.from.clone()), None),
        }
    } else {
        if args.keys.is_some() {
            return Err(Failure::new(
                exit::USAGE,
                anyhow!("--keys needs --from CACHE (`{}` is no cache)", args.from),
            ));
        }
        let items = read_entries(Path::new(&args.from))?;
        let total = items.len() as u64;
        (WarmSource::Entries(items), Some(total))
    };
    // Only the caches involved are started.
    file.caches
        .retain(|c| c.name == args.cache || (from_cache && c.name == args.from));
    let caches = Caches::open(&file, Registry::new()?).await?;

    let bar = match (args.quiet, total) {
        (true, _) => ProgressBar::hidden(),
        (false, Some(n)) => ProgressBar::new(n),
        (false, None) => ProgressBar::new_spinner(),
    };
    let template = if total.is_some() {
        "{prefix} [{bar:40}] {pos}/{len} {per_sec} eta {eta}"
    } else {
        "{prefix} {spinner} {pos} keys {per_sec}"
    };
    bar.set_style(
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(args.cache.clone());
    bar.enable_steady_tick(Duration::from_millis(200));
    let shown = bar.clone();
    let mut options = WarmOptions::default();
    options.concurrency = args.concurrency;
    options.batch = args.batch;
    options.overwrite = args.overwrite;
    options.progress = Some(Arc::new(move |done| shown.set_position(done)));
    let report = caches
        .warm(&args.cache, source, options)
        .await
        .with_context(|| format!("warming cache `{}`", args.cache))?;
    bar.finish_and_clear();
    println!(
        "{}: {} copied, {} already held, {} missing",
        args.cache, report.copied, report.skipped, report.missing
    );
    Ok(())
}
