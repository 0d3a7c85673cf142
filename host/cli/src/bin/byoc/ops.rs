//! `byoc get/set/del/keys/ttl/stats/clear`: one operation on one configured cache.
//!
//! Keys are the application's keys: the cache's key prefix is added (and stripped from
//! listed keys). Values are bytes: `set` stores them as given (a typed `Cache<T>` reads
//! such foreign bytes as a miss), `get` prints them as stored, or, for an entry a typed
//! cache wrote, its payload (JSON as text, postcard as hex) unless `--raw`.

use crate::{Failure, exit};
use anyhow::{Context, anyhow};
use byoc::{Cache, Caches, ConfigFile, KeyTtl, Registry};
use clap::Args;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

/// Opens only cache `name` of the file at `path` (other caches are not started, so a
/// down backend of one cache does not block work on another).
pub async fn open(path: &Path, name: &str) -> Result<Cache<()>, Failure> {
    let mut file = ConfigFile::load(path)?;
    if file.cache(name).is_none() {
        let names: Vec<&str> = file.caches.iter().map(|c| c.name.as_str()).collect();
        return Err(Failure::new(
            exit::CONFIG,
            anyhow!(
                "{}: no cache named `{name}` (configured: {})",
                path.display(),
                names.join(", ")
            ),
        ));
    }
    file.caches.retain(|c| c.name == name);
    let caches = Caches::open(&file, Registry::new()?).await?;
    Ok(caches.cache::<()>(name)?)
}

fn parse_ttl(text: &str) -> Result<Duration, String> {
    byoc::units::parse_duration(text)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("`{text}` is not a duration above zero (e.g. 30s, 5m, 1h)"))
}

/// A cache name.
#[derive(Args)]
pub struct CacheArgs {
    /// The cache's name in the configuration.
    cache: String,
}

/// A cache and a key.
#[derive(Args)]
pub struct KeyArgs {
    /// The cache's name in the configuration.
    cache: String,
    /// The key (without the cache's key prefix).
    key: String,
}

/// Arguments of `get`.
#[derive(Args)]
pub struct GetArgs {
    #[command(flatten)]
    at: KeyArgs,
    /// Print the bytes exactly as stored (typed entries with their header).
    #[arg(long)]
    raw: bool,
}

/// Arguments of `set`.
#[derive(Args)]
pub struct SetArgs {
    #[command(flatten)]
    at: KeyArgs,
    /// The value; `-` reads it from stdin.
    value: String,
    /// Time to live (e.g. 30s, 5m); default: the cache's default TTL, else none.
    #[arg(long, value_parser = parse_ttl)]
    ttl: Option<Duration>,
}

/// Arguments of `del`.
#[derive(Args)]
pub struct DelArgs {
    /// The cache's name in the configuration.
    cache: String,
    /// Keys to delete.
    #[arg(required = true)]
    keys: Vec<String>,
}

/// Arguments of `keys`.
#[derive(Args)]
pub struct KeysArgs {
    /// The cache's name in the configuration.
    cache: String,
    /// Glob pattern (default `*`).
    #[arg(default_value = "*")]
    pattern: String,
}

/// Arguments of `clear`.
#[derive(Args)]
pub struct ClearArgs {
    /// The cache's name in the configuration.
    cache: String,
    /// Required: clearing cannot be undone.
    #[arg(long)]
    yes: bool,
}

pub async fn get(config: &Path, args: GetArgs) -> Result<(), Failure> {
    let cache = open(config, &args.at.cache).await?;
    let Some(bytes) = cache.get_raw(&args.at.key).await? else {
        return Err(Failure::new(exit::NOT_FOUND, anyhow!("not found")));
    };
    let mut out = std::io::stdout().lock();
    let shown = match byoc::typed_payload(&bytes) {
        Some((2, json)) if !args.raw => json.to_vec(),
        Some((id, payload)) if !args.raw => {
            eprintln!("(typed entry, serializer {id}; payload as hex; --raw prints the bytes)");
            let mut hex = hex::encode(payload).into_bytes();
            hex.push(b'\n');
            hex
        }
        _ => bytes,
    };
    out.write_all(&shown).context("writing to stdout")?;
    if std::io::IsTerminal::is_terminal(&out) && !shown.ends_with(b"\n") {
        out.write_all(b"\n").context("writing to stdout")?;
    }
    Ok(())
}

pub async fn set(config: &Path, args: SetArgs) -> Result<(), Failure> {
    let cache = open(config, &args.at.cache).await?;
    let value = if args.value == "-" {
        // At most one byte past the cache's value limit is read: a larger value is
        // refused without holding all of stdin.
        let limit = ConfigFile::load(config)?.cache(&args.at.cache).map_or(
            byoc::Limits::default().max_value_bytes,
            |c| {
                c.stack
                    .limits
                    .apply(byoc::Limits::default())
                    .max_value_bytes
            },
        );
        let mut buf = Vec::new();
        std::io::stdin()
            .take(limit as u64 + 1)
            .read_to_end(&mut buf)
            .context("reading the value from stdin")?;
        if buf.len() > limit {
            return Err(byoc::Error::ValueTooLarge(format!(
                "the value on stdin is larger than the cache's limit of {limit} bytes"
            ))
            .into());
        }
        buf
    } else {
        args.value.into_bytes()
    };
    cache.set_raw(&args.at.key, &value, args.ttl).await?;
    Ok(())
}

pub async fn del(config: &Path, args: DelArgs) -> Result<(), Failure> {
    let cache = open(config, &args.cache).await?;
    let mut removed = 0u64;
    for key in &args.keys {
        removed += u64::from(cache.delete(key).await?);
    }
    println!("{removed}");
    Ok(())
}

pub async fn keys(config: &Path, args: KeysArgs) -> Result<(), Failure> {
    let cache = open(config, &args.cache).await?;
    let mut keys = cache.keys(&args.pattern).await?;
    keys.sort();
    let mut out = std::io::stdout().lock();
    for key in keys {
        writeln!(out, "{key}").context("writing to stdout")?;
    }
    Ok(())
}

pub async fn ttl(config: &Path, args: KeyArgs) -> Result<(), Failure> {
    let cache = open(config, &args.cache).await?;
    match cache.ttl(&args.key).await? {
        KeyTtl::Missing => Err(Failure::new(exit::NOT_FOUND, anyhow!("not found"))),
        KeyTtl::Persistent => {
            println!("persistent");
            Ok(())
        }
        KeyTtl::ExpiresIn(d) => {
            println!("{}ms", d.as_millis());
            Ok(())
        }
    }
}

pub async fn stats(config: &Path, args: CacheArgs) -> Result<(), Failure> {
    let cache = open(config, &args.cache).await?;
    let stats = cache.stats().await?;
    let info = cache.current_provider().info();
    println!("cache: {}", args.cache);
    println!("stack: {} (contract {})", info.stack(), info.contract);
    println!("hits: {}", stats.hits);
    println!("misses: {}", stats.misses);
    println!("keys: {}", stats.keys);
    println!("bytes: {}", stats.bytes);
    println!("evictions: {}", stats.evictions);
    println!("expirations: {}", stats.expirations);
    for (name, value) in stats.extra {
        println!("{name}: {value}");
    }
    Ok(())
}

pub async fn clear(config: &Path, args: ClearArgs) -> Result<(), Failure> {
    if !args.yes {
        return Err(Failure::new(
            exit::USAGE,
            anyhow!("clearing `{}` cannot be undone: add --yes", args.cache),
        ));
    }
    let cache = open(config, &args.cache).await?;
    cache.clear().await?;
    Ok(())
}
