//! `byoc migrate FROM TO`: copies every key of cache FROM into cache TO with its
//! remaining TTL ([`byoc::migrate`]), resumable from a cursor file.

use crate::{Failure, exit};
use anyhow::{Context, anyhow};
use byoc::migrate::{Copier, CopyCounts};
use byoc::{Caches, ConfigFile, Registry};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How many times a page is tried again after `unavailable`.
const RETRIES: u32 = 5;

/// Arguments of `migrate`.
#[derive(Args)]
pub struct MigrateArgs {
    /// The cache to copy from.
    from: String,
    /// The cache to copy into (keys it already has are left as they are).
    to: String,
    /// A file that records progress after every page; a run given an existing file
    /// resumes where it ended. Removed when the copy completes.
    #[arg(long)]
    cursor: Option<PathBuf>,
    /// Keys per scanned page.
    #[arg(long, default_value_t = 500)]
    page: u32,
    /// Keys copied at once.
    #[arg(long, default_value_t = 16)]
    parallel: usize,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

/// What the cursor file holds.
#[derive(Serialize, Deserialize, Default)]
struct Progress {
    from: String,
    to: String,
    /// The scan cursor of the next page.
    cursor: Option<String>,
    scanned: u64,
    copied: u64,
    present: u64,
    gone: u64,
}

impl Progress {
    fn counts(&self) -> CopyCounts {
        CopyCounts {
            scanned: self.scanned,
            copied: self.copied,
            present: self.present,
            gone: self.gone,
        }
    }
}

fn load_progress(path: &Path, args: &MigrateArgs) -> anyhow::Result<Option<Progress>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let progress: Progress = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a migrate cursor file", path.display()))?;
    if progress.from != args.from || progress.to != args.to {
        return Err(anyhow!(
            "{} records a copy from `{}` to `{}`, not from `{}` to `{}`",
            path.display(),
            progress.from,
            progress.to,
            args.from,
            args.to
        ));
    }
    Ok(Some(progress))
}

/// Writes the file whole or not at all (temporary file, then rename).
fn save_progress(path: &Path, progress: &Progress) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let text = serde_json::to_string(progress).context("encoding the cursor")?;
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

pub async fn run(config: &Path, args: MigrateArgs) -> Result<(), Failure> {
    if args.from == args.to {
        return Err(Failure::new(
            exit::USAGE,
            anyhow!("FROM and TO are the same cache"),
        ));
    }
    let mut file = ConfigFile::load(config)?;
    for name in [&args.from, &args.to] {
        if file.cache(name).is_none() {
            return Err(Failure::new(
                exit::CONFIG,
                anyhow!("{}: no cache named `{name}`", config.display()),
            ));
        }
    }
    file.caches
        .retain(|c| c.name == args.from || c.name == args.to);
    let prefix = |name: &str| {
        file.cache(name)
            .map(|c| c.key_prefix.clone())
            .unwrap_or_default()
    };
    let (from_prefix, to_prefix) = (prefix(&args.from), prefix(&args.to));
    let caches = Caches::open(&file, Registry::new()?).await?;
    let from = caches.cache::<()>(&args.from)?.current_provider();
    let to = caches.cache::<()>(&args.to)?.current_provider();

    let mut progress = match &args.cursor {
        Some(path) => load_progress(path, &args)?,
        None => None,
    };
    let resumed = progress.is_some();
    let mut progress = progress.take().unwrap_or_else(|| Progress {
        from: args.from.clone(),
        to: args.to.clone(),
        ..Progress::default()
    });
    // No total: counting a source's keys may cost a scan of its own (Redis).
    let bar = match args.quiet {
        true => ProgressBar::hidden(),
        false => ProgressBar::new_spinner(),
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {pos} keys scanned, {per_sec} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_position(progress.scanned);
    if resumed {
        bar.println(format!("resuming after {} keys", progress.scanned));
    }

    let copier = Copier::new(from, to)
        .prefixes(&from_prefix, &to_prefix)
        .parallel(args.parallel);
    let mut counts = progress.counts();
    loop {
        // A page is copied again as a whole after `unavailable` (copying is idempotent).
        let mut attempt = 0;
        let (page, next) = loop {
            match copier
                .copy_page(progress.cursor.as_deref(), args.page)
                .await
            {
                Err(byoc::Error::Unavailable(e)) if attempt < RETRIES => {
                    attempt += 1;
                    bar.println(format!("unavailable ({e}); retrying the page ({attempt})"));
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                }
                outcome => {
                    break outcome.with_context(|| {
                        format!("copying from `{}` to `{}`", args.from, args.to)
                    })?;
                }
            }
        };
        counts += page;
        bar.inc(page.scanned);
        let CopyCounts {
            scanned,
            copied,
            present,
            gone,
        } = counts;
        progress = Progress {
            cursor: next,
            scanned,
            copied,
            present,
            gone,
            ..progress
        };
        let done = progress.cursor.is_none();
        if let Some(path) = &args.cursor {
            if done {
                match std::fs::remove_file(path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(anyhow::Error::from(e)
                            .context(format!("removing {}", path.display()))
                            .into());
                    }
                    _ => {}
                }
            } else {
                save_progress(path, &progress)?;
            }
        }
        if done {
            break;
        }
    }
    bar.finish_and_clear();
    println!(
        "copied {} keys ({} already present, {} gone before they were read; {} scanned)",
        counts.copied, counts.present, counts.gone, counts.scanned
    );
    Ok(())
}
