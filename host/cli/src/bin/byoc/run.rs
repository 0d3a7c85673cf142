//! `byoc run`: run a `wasi:cli` command component whose `wasi:keyvalue` buckets are the
//! configuration's caches (`keyvalue: { buckets: { ... } }`), or one composed with the
//! keyvalue shim and an adapter, given the grants its adapter needs on the command line
//! (`--dir`, `--redis`; nothing by default) and its configuration (`--adapter-config`).

use crate::{Failure, exit};
use anyhow::anyhow;
use byoc::redis::{RedisGrant, RedisTarget, WithRedis};
use byoc::{Caches, ConfigFile, DirAccess, Grants, Registry};
use byoc_keyvalue::Buckets;
use byoc_keyvalue::app::{App, RunOptions};
use clap::Args;
use std::path::{Path, PathBuf};

/// Arguments of `run`.
#[derive(Args)]
pub struct RunArgs {
    /// The application: a `wasi:cli` command component (`.wasm`).
    app: PathBuf,
    /// Grants a host directory, read-write, at a guest path (default `/data`, where the
    /// filesystem adapter looks): `HOST` or `HOST:GUEST`. Repeatable.
    #[arg(long = "dir", value_name = "HOST[:GUEST]")]
    dirs: Vec<String>,
    /// Grants the host's Redis import on this server (`redis://…`, `rediss://…`), for a
    /// component composed with the Redis adapter; needs `--redis-namespace`.
    #[arg(long, value_name = "URL", requires = "redis_namespace")]
    redis: Option<String>,
    /// The namespace every key of the Redis grant lives under (ends with `:`).
    #[arg(long, value_name = "NS", requires = "redis")]
    redis_namespace: Option<String>,
    /// A configuration field of the composed adapter, given to the component as the
    /// environment variable `BYOC_ADAPTER_<NAME>` (the keyvalue shim reads it). Repeatable.
    #[arg(long = "adapter-config", value_name = "NAME=VALUE")]
    adapter_config: Vec<String>,
    /// Arguments for the application (after `--`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

pub async fn run(config: &Path, args: RunArgs) -> Result<(), Failure> {
    let bytes = byoc::wasm::read_component_file(&args.app)?;
    let app = App::load(&bytes).map_err(|e| Failure::new(exit::CONFIG, e.into()))?;
    // The caches are opened only for an application that can use them.
    let buckets = if app.keyvalue_imports().is_empty() {
        Buckets::new()
    } else {
        let file = ConfigFile::load(config)?;
        if file.keyvalue.buckets.is_empty() {
            return Err(Failure::new(
                exit::CONFIG,
                anyhow!(
                    "{}: the application imports wasi:keyvalue, but the configuration maps \
                     no bucket (keyvalue: {{ buckets: {{ <bucket>: <cache> }} }})",
                    config.display()
                ),
            ));
        }
        let caches = Caches::open(&file, Registry::new()?).await?;
        Buckets::from_caches(&caches, &file.keyvalue)
            .map_err(|e| Failure::new(exit::CONFIG, e.into()))?
    };
    let name = args.app.display().to_string();
    let mut options = RunOptions::default()
        .args(std::iter::once(name).chain(args.args))
        .grants(grants(
            &args.dirs,
            args.redis.as_deref(),
            args.redis_namespace.as_deref(),
        )?);
    for entry in &args.adapter_config {
        let Some((field, value)) = entry.split_once('=') else {
            return Err(Failure::new(
                exit::CONFIG,
                anyhow!("--adapter-config `{entry}`: write it as NAME=VALUE"),
            ));
        };
        options = options.env(adapter_env_name(field), value);
    }
    let outcome = app
        .run(buckets, &options)
        .await
        .map_err(|e| Failure::new(exit::FAILED, e.into()))?;
    match outcome.exit_code {
        0 => Ok(()),
        code => Err(Failure::new(
            u8::try_from(code).unwrap_or(exit::FAILED),
            anyhow!("the application exited with code {code}"),
        )),
    }
}

/// The grants of the command line: the directories and the Redis server.
fn grants(
    dirs: &[String],
    redis: Option<&str>,
    namespace: Option<&str>,
) -> Result<Grants, Failure> {
    let mut grants = Grants::none();
    for dir in dirs {
        let (host, guest) = dir.split_once(':').unwrap_or((dir, "/data"));
        if host.is_empty() || !guest.starts_with('/') {
            return Err(Failure::new(
                exit::CONFIG,
                anyhow!("--dir `{dir}`: write it as HOST or HOST:/GUEST"),
            ));
        }
        grants = grants.dir(host, guest, DirAccess::ReadWrite);
    }
    if let (Some(url), Some(namespace)) = (redis, namespace) {
        let grant = RedisGrant::new(RedisTarget::Single(url.to_owned()), namespace)
            .map_err(|e| Failure::new(exit::CONFIG, anyhow!("--redis: {e}")))?;
        grants = grants.with_redis(grant);
    }
    Ok(grants)
}

/// The environment variable of an adapter's configuration field, as the keyvalue shim
/// reads it: `BYOC_ADAPTER_` and the name in upper case, `-` as `_`.
fn adapter_env_name(field: &str) -> String {
    let field: String = field
        .chars()
        .map(|c| {
            if c == '-' {
                '_'
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect();
    format!("BYOC_ADAPTER_{field}")
}
