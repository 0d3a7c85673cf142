//! A writer for the embedded stores' crash and lock tests: stores generation after
//! generation of values under a few keys through the `redb` provider (durability
//! `immediate`) or the `sqlite` one (`synchronous: full`) until it is killed, printing each
//! acknowledged write.
//!
//! Usage: `store_writer <redb|sqlite> <dir> <keys> <value-bytes> <lock-stale-ms>
//! [wait|no-wait]`. Prints
//! `ready` once the first generation is stored, then `ack <key index> <generation>` after
//! each acknowledged `set`. A value is the generation (8 bytes, little-endian) followed by
//! copies of one byte derived from it, so a torn value shows. While another process holds
//! the database's lock file, `wait` (the default) retries; `no-wait` prints
//! `locked: <error>` and exits with status 3.

use byoc::{AdapterConfig, ConfigValue, Error, Registry};
use std::io::Write;
use std::time::Duration;

/// The value of `generation`, `size` bytes long (at least 8).
fn value(generation: u64, size: usize) -> Vec<u8> {
    let mut v = generation.to_le_bytes().to_vec();
    v.resize(size.max(8), (generation % 250 + 1) as u8);
    v
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (provider, dir, keys, size, stale, wait) = match args.as_slice() {
        [p, dir, keys, size, stale] => (p, dir, keys, size, stale, true),
        [p, dir, keys, size, stale, mode] => (p, dir, keys, size, stale, mode != "no-wait"),
        _ => anyhow::bail!(
            "usage: store_writer <redb|sqlite> <dir> <keys> <value-bytes> <lock-stale-ms> \
             [wait|no-wait]"
        ),
    };
    let (field, durable) = match provider.as_str() {
        "redb" => ("durability", "immediate"),
        "sqlite" => ("synchronous", "full"),
        other => anyhow::bail!("unknown provider `{other}` (redb, sqlite)"),
    };
    let keys: u64 = keys.parse()?;
    let size: usize = size.parse()?;
    let stale: u64 = stale.parse()?;
    let provider = Registry::new()?
        .create(
            provider,
            AdapterConfig::new()
                .with("dir", ConfigValue::Text(dir.clone()))
                .with(field, ConfigValue::Text(durable.into()))
                .with("lock-stale", ConfigValue::DurationMs(stale)),
        )
        .await?;
    let mut out = std::io::stdout().lock();
    let mut generation: u64 = 0;
    loop {
        generation += 1;
        for k in 0..keys {
            loop {
                match provider
                    .set(&format!("key-{k}"), &value(generation, size), None)
                    .await
                {
                    Ok(()) => break,
                    Err(Error::Unavailable(_)) if wait => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(Error::Unavailable(e)) => {
                        writeln!(out, "locked: {e}")?;
                        out.flush()?;
                        std::process::exit(3);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            if generation == 1 && k == keys - 1 {
                writeln!(out, "ready")?;
            }
            writeln!(out, "ack {k} {generation}")?;
            out.flush()?;
        }
    }
}
