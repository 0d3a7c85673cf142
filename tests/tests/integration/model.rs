//! Random operation sequences against every provider, compared with a reference model.
//! The HTTP adapter runs over `byoc serve`, in process on a loopback port.
//! `BYOC_MODEL_CASES` sets the number of sequences per provider (default 1000; `just
//! model` runs more).

use byoc::{AdapterConfig, ConfigValue, Provider, Registry, StackSpec};
use byoc_tests::model::{check_sequence, sequence};
use proptest::test_runner::{Config, TestRunner};
use std::sync::Arc;

fn cases() -> u32 {
    std::env::var("BYOC_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

fn run(make: impl std::future::Future<Output = Arc<dyn Provider>>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let provider = rt.block_on(make);
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&sequence(40), |ops| {
        rt.block_on(check_sequence(&provider, &ops));
        Ok(())
    });
    if let Err(e) = result {
        panic!("{}: {e}", provider.info().name);
    }
}

fn registry() -> Registry {
    Registry::new().expect("runtime")
}

#[test]
fn wasm_memory_matches_the_model() {
    run(async {
        registry()
            .create("memory", AdapterConfig::new())
            .await
            .expect("memory")
    });
}

#[test]
fn native_memory_matches_the_model() {
    run(async {
        registry()
            .create("native-memory", AdapterConfig::new())
            .await
            .expect("native")
    });
}

#[test]
fn encryption_over_memory_matches_the_model() {
    run(async {
        let key = format!("k:{}", "5a".repeat(32));
        registry()
            .build(
                &StackSpec::new("encryption")
                    .config(AdapterConfig::new().with("keys", ConfigValue::TextList(vec![key])))
                    .inner(StackSpec::new("memory")),
            )
            .await
            .expect("stack")
    });
}

#[test]
fn tiered_matches_the_model() {
    run(async {
        registry()
            .build(
                &StackSpec::new("tiered")
                    .inner(StackSpec::new("memory"))
                    .inner(StackSpec::new("native-memory")),
            )
            .await
            .expect("stack")
    });
}

/// The provider `name` with `config` and a fresh temporary directory as its `dir`, which
/// it owns (the directory is removed when the test drops the provider).
async fn in_temp_dir(name: &str, config: AdapterConfig) -> Arc<dyn Provider> {
    let dir = crate::temp_dir();
    let config = config.with("dir", ConfigValue::Text(dir.path().display().to_string()));
    let provider = registry().create(name, config).await.expect(name);
    Arc::new(byoc_tests::Holding::new(provider, dir))
}

#[test]
fn filesystem_matches_the_model() {
    run(async { in_temp_dir("filesystem", AdapterConfig::new()).await });
}

#[test]
fn redb_matches_the_model() {
    run(async {
        in_temp_dir(
            "redb",
            AdapterConfig::new()
                // Durability does not change what reads see; `eventual` keeps 40 000
                // writes from syncing one by one.
                .with("durability", ConfigValue::Text("eventual".into())),
        )
        .await
    });
}

#[test]
fn sqlite_matches_the_model() {
    if byoc::builtin::SQLITE_ADAPTER.is_none() {
        assert!(
            !byoc_tests::services_required(),
            "the sqlite provider is missing: {}",
            byoc::builtin::SQLITE_MISSING
        );
        eprintln!("SKIPPED sqlite model: {}", byoc::builtin::SQLITE_MISSING);
        return;
    }
    run(async {
        in_temp_dir(
            "sqlite",
            AdapterConfig::new()
                // `synchronous` does not change what reads see; `off` keeps the
                // writes from syncing one by one.
                .with("synchronous", ConfigValue::Text("off".into())),
        )
        .await
    });
}

/// The size bound's eviction and access tracking change nothing the model sees while the
/// bound is never reached.
#[test]
fn bounded_redb_matches_the_model() {
    run(async {
        in_temp_dir(
            "redb",
            AdapterConfig::new()
                .with("durability", ConfigValue::Text("eventual".into()))
                .with("max-entries", ConfigValue::Integer(1_000_000)),
        )
        .await
    });
}

#[test]
fn redis_matches_the_model() {
    let Some(server) = byoc_tests::redis_server::RedisServer::start("redis model") else {
        return;
    };
    let url = server.url();
    run(async move {
        let provider = registry()
            .create(
                "redis",
                AdapterConfig::new()
                    .with("url", ConfigValue::Text(url))
                    .with("namespace", ConfigValue::Text("model:".into())),
            )
            .await
            .expect("redis");
        Arc::new(byoc_tests::Holding::new(provider, server)) as Arc<dyn Provider>
    });
}

/// The HTTP adapter against `byoc serve` (in process, on a free loopback port, with a
/// bearer token) over the wasm memory adapter.
#[test]
fn http_over_serve_matches_the_model() {
    run(async {
        let backend = registry()
            .create("memory", AdapterConfig::new())
            .await
            .expect("memory");
        let config = byoc_cli::serve::ServeConfig {
            token: Some("model-token".into()),
            ..byoc_cli::serve::ServeConfig::default()
        };
        let loopback = "127.0.0.1:0".parse().expect("address");
        let server = byoc_cli::serve::Server::bind(loopback, backend, config)
            .await
            .expect("serve");
        let provider = registry()
            .create(
                "http",
                AdapterConfig::new()
                    .with("url", ConfigValue::Text(server.url()))
                    .with("token", ConfigValue::Text("model-token".into())),
            )
            .await
            .expect("http adapter");
        Arc::new(byoc_tests::Holding::new(provider, server)) as Arc<dyn Provider>
    });
}
