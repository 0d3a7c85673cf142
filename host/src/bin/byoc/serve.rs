//! `byoc serve`: a configured cache over the HTTP cache protocol.

use anyhow::{Context, Result, bail};
use byoc::serve::{ServeConfig, Server};
use byoc::{AdapterConfig, ConfigValue, Registry};
use std::net::SocketAddr;

pub const USAGE: &str = "\
byoc serve [--listen ADDR] [--provider NAME] [--set FIELD=VALUE]... [--max-body BYTES]

    --listen ADDR       address to listen on (default 127.0.0.1:7070)
    --provider NAME     registered provider to serve (default memory)
    --set FIELD=VALUE   provider configuration field; VALUE true/false is a boolean,
                        digits an integer, anything else text (repeatable)
    --max-body BYTES    largest request body (default 64 MiB)

The bearer token is read from the BYOC_SERVE_TOKEN environment variable (not from the
command line, where other users could see it); without it, requests need no token.
";

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

pub async fn run(args: &[String]) -> Result<()> {
    let mut listen: SocketAddr = "127.0.0.1:7070".parse().context("default address")?;
    let mut provider = "memory".to_owned();
    let mut config = AdapterConfig::new();
    let mut serve = ServeConfig {
        token: std::env::var("BYOC_SERVE_TOKEN")
            .ok()
            .filter(|t| !t.is_empty()),
        ..ServeConfig::default()
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut next = || it.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--listen" => listen = next()?.parse().context("--listen takes ADDR:PORT")?,
            "--provider" => provider = next()?.clone(),
            "--set" => {
                let (field, v) = next()?.split_once('=').context("--set takes FIELD=VALUE")?;
                config.set(field, value(v));
            }
            "--max-body" => serve.max_body_bytes = next()?.parse().context("--max-body")?,
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown option `{other}`\n\n{USAGE}"),
        }
    }
    let registry = Registry::new()?;
    let cache = registry
        .create(&provider, config)
        .await
        .with_context(|| format!("starting provider `{provider}`"))?;
    let auth = if serve.token.is_some() {
        "bearer token required"
    } else {
        "no token (set BYOC_SERVE_TOKEN to require one)"
    };
    let server = Server::bind(listen, cache, serve).await?;
    println!("serving provider `{provider}` on {} ({auth})", server.url());
    server.wait().await;
    Ok(())
}
