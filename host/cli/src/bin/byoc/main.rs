//! The `byoc` command line.

mod bench;
mod check;
mod demo;
mod inspect;
mod migrate;
mod ops;
mod run;
mod serve;
mod warm;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit codes (also in `byoc --help`).
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// The key (or cache entry) asked for does not exist.
    pub const NOT_FOUND: u8 = 1;
    /// Bad command line (clap's own code).
    pub const USAGE: u8 = 2;
    /// Bad configuration: the file, a provider's fields, a component or a grant.
    pub const CONFIG: u8 = 3;
    /// A cache operation failed (provider unavailable, trap, deadline, invalid key...).
    pub const FAILED: u8 = 4;
}

/// How often metrics are pushed over OTLP.
#[cfg(feature = "otel")]
const OTLP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// How long the CLI waits at exit for work still on the runtime's threads.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_millis(200);

/// BYOC — Bring Your Own Cache: typed caches over sandboxed WebAssembly backends.
#[derive(Parser)]
#[command(
    name = "byoc",
    version,
    after_help = "Exit codes: 0 success, 1 key not found, 2 usage error, 3 configuration \
                  error, 4 operation failed.\nThe configuration file is --config, else \
                  $BYOC_CONFIG, else ./byoc.yaml. Set RUST_LOG=byoc=debug to trace every call."
)]
struct Cli {
    /// The configuration file (YAML).
    #[arg(
        short,
        long,
        global = true,
        env = "BYOC_CONFIG",
        default_value = "byoc.yaml"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the end-to-end demo on the embedded memory adapter (no configuration needed).
    Demo,
    /// Validate the configuration, build every cache and print the resolved stacks.
    Check,
    /// Print a cache entry's value to stdout (exit 1 when missing).
    Get(ops::GetArgs),
    /// Store a value (from the argument or, with `-`, from stdin).
    Set(ops::SetArgs),
    /// Delete keys; prints how many existed.
    Del(ops::DelArgs),
    /// List the keys matching a glob pattern (`*`, `?`, `[a-z]`, `\` escapes).
    Keys(ops::KeysArgs),
    /// Print a key's remaining time to live (exit 1 when missing).
    Ttl(ops::KeyArgs),
    /// Print a cache's counters.
    Stats(ops::CacheArgs),
    /// Remove every entry of a cache (its key prefix only, when it has one).
    Clear(ops::ClearArgs),
    /// Describe a component file: world, imports, exports, info, configuration and the
    /// grants it needs.
    Inspect(inspect::InspectArgs),
    /// Measure ops/s and latency percentiles of configured caches.
    Bench(bench::BenchArgs),
    /// Serve a cache over the HTTP cache protocol (docs/http-protocol.md).
    Serve(serve::ServeArgs),
    /// Fill a cache from an entries file or another cache (bounded concurrency).
    Warm(warm::WarmArgs),
    /// Run a wasi:cli command component whose wasi:keyvalue buckets are the configured
    /// caches (`keyvalue: { buckets: ... }`), or one composed with the keyvalue shim and an
    /// adapter, given `--dir` / `--redis` grants (docs/keyvalue.md). Exits with its code.
    Run(run::RunArgs),
    /// Copy every key of one cache into another with its remaining TTL (resumable).
    Migrate(migrate::MigrateArgs),
}

/// An error with the exit code it maps to.
pub struct Failure {
    code: u8,
    error: anyhow::Error,
}

impl Failure {
    /// A failure with an explicit code.
    pub fn new(code: u8, error: anyhow::Error) -> Failure {
        Failure { code, error }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Failure {
        let code = match error.downcast_ref::<byoc::Error>() {
            Some(
                byoc::Error::Config { .. }
                | byoc::Error::InvalidConfig(_)
                | byoc::Error::UnknownProvider { .. }
                | byoc::Error::Load { .. },
            ) => exit::CONFIG,
            _ => exit::FAILED,
        };
        Failure { code, error }
    }
}

impl From<byoc::Error> for Failure {
    fn from(error: byoc::Error) -> Failure {
        anyhow::Error::from(error).into()
    }
}

fn main() -> ExitCode {
    #[allow(unused_mut, reason = "set up by the `otel` feature")]
    let mut cli = Cli::parse();
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::{EnvFilter, Layer as _};
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")));
    let registry = tracing_subscriber::registry().with(logs);
    #[cfg(feature = "otel")]
    let registry = {
        // Built before the async runtime: the OTLP client has its own threads.
        let otel = match &mut cli.command {
            Command::Serve(a) => match a.otlp.as_deref() {
                Some(url) => match byoc_cli::otel::Otel::otlp(url, OTLP_INTERVAL) {
                    Ok(otel) => {
                        a.otel = Some(otel.clone());
                        Some(otel)
                    }
                    Err(e) => {
                        eprintln!("error: cannot export to {url}: {e}");
                        return ExitCode::from(exit::USAGE);
                    }
                },
                None => None,
            },
            _ => None,
        };
        registry.with(otel.map(|o| {
            o.layer()
                .with_filter(EnvFilter::new("byoc_core::instrument=debug"))
        }))
    };
    registry.init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let config = cli.config;
    let outcome: Result<(), Failure> = runtime.block_on(async move {
        match cli.command {
            Command::Demo => demo::run().await.map_err(Failure::from),
            Command::Check => check::run(&config).await,
            Command::Get(a) => ops::get(&config, a).await,
            Command::Set(a) => ops::set(&config, a).await,
            Command::Del(a) => ops::del(&config, a).await,
            Command::Keys(a) => ops::keys(&config, a).await,
            Command::Ttl(a) => ops::ttl(&config, a).await,
            Command::Stats(a) => ops::stats(&config, a).await,
            Command::Clear(a) => ops::clear(&config, a).await,
            Command::Inspect(a) => inspect::run(a).await,
            Command::Bench(a) => bench::run(&config, a).await,
            Command::Serve(a) => serve::run(&config, a).await,
            Command::Warm(a) => warm::run(&config, a).await,
            Command::Run(a) => run::run(&config, a).await,
            Command::Migrate(a) => migrate::run(&config, a).await,
        }
    });
    // A file operation offloaded to the blocking pool and stuck in the kernel (a FIFO, a
    // hung network mount) outlives the call that gave up on it; dropping the runtime
    // would wait for that thread forever. The outcome is known: wait briefly, then exit.
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure { code, error }) => {
            if code != exit::NOT_FOUND {
                eprintln!("error: {error:#}");
            }
            ExitCode::from(code)
        }
    }
}
