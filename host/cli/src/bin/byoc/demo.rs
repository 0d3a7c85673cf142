//! `byoc demo`: the main job on the embedded default, step by step.

use anyhow::{Context, Result, bail};
use byoc::builtin::HOSTILE_ADAPTER_PATH;
use byoc::{AdapterConfig, ConfigValue, Contract, Error, KeyTtl, Registry, WasmProvider};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
    email: String,
}

fn step(title: &str) {
    println!("\n== {title}");
}

pub async fn run() -> Result<()> {
    let started = Instant::now();
    let registry = Registry::new()?;
    let provider = registry
        .create("memory", AdapterConfig::new())
        .await
        .context("starting the memory adapter")?;
    let info = provider.info();
    println!(
        "provider: {} {} (contract {}), native operations: {:?}",
        info.name, info.version, info.contract, info.native
    );
    println!(
        "started in {:?} (compiled, or loaded from the code cache)",
        started.elapsed()
    );

    let users = Contract::<User>::new("users", provider.clone())
        .key_prefix("user:")
        .default_ttl(Duration::from_secs(3600))
        .cache();

    step("typed set and get");
    let ada = User {
        id: 42,
        name: "Ada Lovelace".into(),
        email: "ada@example.org".into(),
    };
    users.set("42", &ada, None).await?;
    let hit = users.get("42").await?;
    println!("get user:42 -> {hit:?}");
    if hit.as_ref() != Some(&ada) {
        bail!("the stored user did not come back");
    }
    println!("get user:43 -> {:?} (a miss)", users.get("43").await?);
    println!(
        "ttl user:42 -> {:?} (the contract's default TTL)",
        users.ttl("42").await?
    );

    step("TTL expiry");
    let grace = User {
        id: 7,
        name: "Grace Hopper".into(),
        email: "grace@example.org".into(),
    };
    users
        .set("7", &grace, Some(Duration::from_millis(300)))
        .await?;
    println!(
        "set user:7 with a 300 ms TTL; ttl -> {:?}",
        users.ttl("7").await?
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let after = users.get("7").await?;
    println!(
        "after 400 ms: get user:7 -> {after:?}, ttl -> {:?}",
        users.ttl("7").await?
    );
    if after.is_some() || users.ttl("7").await? != KeyTtl::Missing {
        bail!("user:7 did not expire");
    }

    step("key scan");
    for id in 100..110u64 {
        let user = User {
            id,
            name: format!("user {id}"),
            email: format!("u{id}@example.org"),
        };
        users.set(&id.to_string(), &user, None).await?;
    }
    let mut keys = users.keys("10?").await?;
    keys.sort();
    println!("keys matching `10?` -> {keys:?}");

    step("corrupt value reads as a miss");
    users
        .set_raw("broken", b"\xff\xff\xff not a user", None)
        .await?;
    println!("get user:broken -> {:?}", users.get("broken").await?);

    step("stats");
    let stats = users.stats().await?;
    println!(
        "hits {} misses {} keys {} bytes {} expirations {} decode failures {}",
        stats.hits,
        stats.misses,
        stats.keys,
        stats.bytes,
        stats.expirations,
        stats.extra(byoc::DECODE_FAILURES).unwrap_or(0)
    );
    println!(
        "sandbox: {} partitions, {} instances started, {} traps",
        stats.extra("host.partitions").unwrap_or(0),
        stats.extra("host.instantiations").unwrap_or(0),
        stats.extra("host.traps").unwrap_or(0)
    );

    step("invalid input is a typed error");
    match users.get("bad\nkey").await {
        Err(e @ Error::InvalidKey(_)) => println!("get \"user:bad\\nkey\" -> {e}"),
        other => bail!("expected an invalid-key error, got {other:?}"),
    }

    step("the sandbox denies what was not granted");
    let runtime = registry.runtime();
    let component = runtime.load_file(HOSTILE_ADAPTER_PATH)?;
    let probe = WasmProvider::builder(runtime, component)
        .config(
            AdapterConfig::new()
                .with("behaviour", ConfigValue::Text("read-file".into()))
                .with("path", ConfigValue::Text("/etc/passwd".into())),
        )
        .partitions(1)
        .build()
        .await?;
    use byoc::Provider;
    match probe.get("hostile:read /etc/passwd").await {
        Err(e @ Error::Denied(_)) => println!("an adapter reading /etc/passwd -> {e}"),
        Ok(Some(_)) => bail!("the adapter read /etc/passwd: the sandbox leaked"),
        other => bail!("expected a denied error, got {other:?}"),
    }

    other_adapters(&registry).await?;

    println!("\ndemo finished in {:?}", started.elapsed());
    Ok(())
}

/// The filesystem adapter on a scratch directory, and the HTTP adapter against an
/// in-process `byoc serve`, each with only its grant.
async fn other_adapters(registry: &Registry) -> Result<()> {
    use byoc::Provider;
    use byoc_cli::serve::{ServeConfig, Server};

    step("filesystem adapter: one granted directory");
    let dir = std::env::temp_dir().join(format!("byoc-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).context("creating the demo directory")?;
    let files = registry
        .create(
            "filesystem",
            AdapterConfig::new().with("dir", ConfigValue::Text(dir.display().to_string())),
        )
        .await
        .context("starting the filesystem adapter")?;
    files.set("../../etc/passwd", b"just a key", None).await?;
    println!(
        "set \"../../etc/passwd\" -> stored inside {} as {:?}",
        dir.display(),
        std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect::<Vec<_>>()
    );
    println!(
        "get it back -> {:?}",
        files
            .get("../../etc/passwd")
            .await?
            .map(|v| String::from_utf8_lossy(&v).into_owned())
    );
    let read_only = registry
        .create(
            "filesystem",
            AdapterConfig::new()
                .with("dir", ConfigValue::Text(dir.display().to_string()))
                .with("read-only", ConfigValue::Boolean(true)),
        )
        .await?;
    match read_only.set("k", b"v", None).await {
        Err(e @ Error::Denied(_)) => println!("a write through a read-only grant -> {e}"),
        other => bail!("expected a denied error, got {other:?}"),
    }
    files.clear().await?;
    std::fs::remove_dir(&dir).context("removing the demo directory")?;

    step("HTTP adapter: byoc serve on loopback, one granted origin");
    let backend = registry.create("memory", AdapterConfig::new()).await?;
    let server = Server::bind(
        "127.0.0.1:0".parse()?,
        backend,
        ServeConfig {
            token: Some("demo-token".into()),
            ..ServeConfig::default()
        },
    )
    .await?;
    let remote = registry
        .create(
            "http",
            AdapterConfig::new()
                .with("url", ConfigValue::Text(server.url()))
                .with("token", ConfigValue::Text("demo-token".into())),
        )
        .await
        .context("starting the HTTP adapter")?;
    remote
        .set("greeting", b"hello over wasi:http", None)
        .await?;
    println!(
        "server {} -> get greeting -> {:?}",
        server.url(),
        remote
            .get("greeting")
            .await?
            .map(|v| String::from_utf8_lossy(&v).into_owned())
    );
    // Point the adapter at a port its grant does not cover.
    let component = registry
        .runtime()
        .load("http", byoc::builtin::HTTP_ADAPTER)?;
    let stray = WasmProvider::builder(registry.runtime(), component)
        .config(AdapterConfig::new().with("url", ConfigValue::Text("http://127.0.0.1:9".into())))
        .grants(byoc::Grants::none().http(byoc::HttpGrant::new([server.url()])?))
        .partitions(1)
        .build()
        .await?;
    match stray.ping().await {
        Err(e @ Error::Denied(_)) => println!("a request to an origin not granted -> {e}"),
        other => bail!("expected a denied error, got {other:?}"),
    }
    server.shutdown().await;
    Ok(())
}
