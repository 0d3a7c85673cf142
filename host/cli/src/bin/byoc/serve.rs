//! `byoc serve`: a cache over the HTTP cache protocol.

use crate::{Failure, exit};
use anyhow::Context;
use byoc::{
    AdapterConfig, Caches, ConfigFile, ConfigValue, DEFAULT_WATCH_INTERVAL, Instrumented, Provider,
    Registry,
};
use byoc_cli::serve::{ServeConfig, Server};
use clap::Args;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

/// How often the stats gauges (`byoc_stats`) are refreshed when metrics are exported.
const STATS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// Arguments of `serve`. The bearer token is read from `BYOC_SERVE_TOKEN` (not from the
/// command line, where other users could see it); without it, requests need no token.
#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7070")]
    listen: SocketAddr,
    /// Serve this cache of the configuration file (the file and component files are
    /// watched and reloaded when they change). Without it, `--provider` is served.
    #[arg(long, conflicts_with_all = ["provider", "set"])]
    cache: Option<String>,
    /// Registered provider to serve when no `--cache` is given.
    #[arg(long, default_value = "memory")]
    provider: String,
    /// Provider configuration field FIELD=VALUE (true/false: boolean, digits: integer,
    /// anything else: text; sizes and durations as text, e.g. 64MiB, 5s). Repeatable.
    #[arg(long, value_name = "FIELD=VALUE")]
    set: Vec<String>,
    /// Largest batch request body in bytes.
    #[arg(long, default_value_t = ServeConfig::default().max_body_bytes)]
    max_body: usize,
    /// Expose the metrics (calls, hits, misses, errors, latency, swaps, reloads) in the
    /// Prometheus text format at http://ADDR/metrics.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// Export traces (a span per cache call) and metrics over OTLP/HTTP to this
    /// collector, e.g. http://127.0.0.1:4318.
    #[cfg(feature = "otel")]
    #[arg(long, value_name = "URL", conflicts_with = "metrics")]
    pub otlp: Option<String>,
    /// The export `--otlp` set up (main installs its tracing layer).
    #[cfg(feature = "otel")]
    #[arg(skip)]
    pub otel: Option<byoc_cli::otel::Otel>,
    /// Serve a non-loopback address without a token (`BYOC_SERVE_TOKEN`): anyone who can
    /// reach the address can read, write and clear the cache.
    #[arg(long)]
    insecure_no_auth: bool,
}

fn value(text: &str) -> ConfigValue {
    match text {
        "true" => ConfigValue::Boolean(true),
        "false" => ConfigValue::Boolean(false),
        t => match t.parse::<i64>() {
            Ok(n) => ConfigValue::Integer(n),
            Err(_) => ConfigValue::Text(t.to_owned()),
        },
    }
}

pub async fn run(config_path: &Path, args: ServeArgs) -> Result<(), Failure> {
    let mut serve = ServeConfig {
        token: std::env::var("BYOC_SERVE_TOKEN")
            .ok()
            .filter(|t| !t.is_empty()),
        max_body_bytes: args.max_body,
        ..ServeConfig::default()
    };
    if serve.token.is_none() && !args.listen.ip().is_loopback() && !args.insecure_no_auth {
        return Err(Failure::new(
            exit::USAGE,
            anyhow::anyhow!(
                "refusing to serve {} without a token: set BYOC_SERVE_TOKEN, listen on a \
                 loopback address, or pass --insecure-no-auth",
                args.listen
            ),
        ));
    }
    // Before any cache is built: metric handles are taken then.
    if let Some(addr) = args.metrics {
        let recorder = byoc_cli::prometheus::endpoint(addr)
            .with_context(|| format!("serving metrics on {addr}"))?;
        metrics::set_global_recorder(recorder)
            .map_err(|e| anyhow::anyhow!("installing the metrics recorder: {e}"))?;
        println!("metrics on http://{addr}/metrics");
    }
    #[cfg(feature = "otel")]
    if let Some(otel) = &args.otel {
        metrics::set_global_recorder(otel.recorder())
            .map_err(|e| anyhow::anyhow!("installing the metrics recorder: {e}"))?;
    }
    #[cfg(feature = "otel")]
    let exporting = args.metrics.is_some() || args.otel.is_some();
    #[cfg(not(feature = "otel"))]
    let exporting = args.metrics.is_some();
    let auth = if serve.token.is_some() {
        "bearer token required"
    } else {
        "no token (set BYOC_SERVE_TOKEN to require one)"
    };
    let (cache, what, _watch) = match &args.cache {
        Some(name) => {
            let file = ConfigFile::load(config_path)?;
            let Some(cache) = file.cache(name) else {
                return Err(Failure::new(
                    exit::CONFIG,
                    anyhow::anyhow!("no cache named `{name}` in {}", config_path.display()),
                ));
            };
            // A value the cache would refuse is refused before its body is read.
            serve.max_value_bytes = cache
                .stack
                .limits
                .apply(byoc::Limits::default())
                .max_value_bytes;
            // The file is watched: a new version of this cache is built and swapped in.
            let caches = Caches::load_one(config_path, Registry::new()?, name).await?;
            let watch = caches.watch(DEFAULT_WATCH_INTERVAL);
            if exporting {
                let caches = caches.clone();
                tokio::spawn(async move {
                    let mut tick = tokio::time::interval(STATS_INTERVAL);
                    loop {
                        tick.tick().await;
                        caches.record_stats().await;
                    }
                });
            }
            (
                caches.provider(name)?,
                format!("cache `{name}`"),
                Some(watch),
            )
        }
        None => {
            let mut config = AdapterConfig::new();
            for pair in &args.set {
                let (field, v) = pair
                    .split_once('=')
                    .with_context(|| format!("--set takes FIELD=VALUE, got `{pair}`"))?;
                config.set(field, value(v));
            }
            let provider = Registry::new()?
                .create(&args.provider, config)
                .await
                .with_context(|| format!("starting provider `{}`", args.provider))?;
            let provider: Arc<dyn Provider> = Arc::new(Instrumented::new(&args.provider, provider));
            (provider, format!("provider `{}`", args.provider), None)
        }
    };
    let server = Server::bind(args.listen, cache, serve).await?;
    println!("serving {what} on {} ({auth})", server.url());
    server.wait().await;
    #[cfg(feature = "otel")]
    if let Some(otel) = &args.otel {
        otel.shutdown()
            .map_err(|e| anyhow::anyhow!("flushing the OTLP export: {e}"))?;
    }
    Ok(())
}
