//! `docs/examples/caches.toml` describes real, working caches: it is loaded here, with its
//! directory and URL pointed at a temporary directory and a private `byoc serve`.

use byoc::serve::{ServeConfig, Server};
use byoc::{AdapterConfig, ConfigValue, Registry};

const EXAMPLE: &str = include_str!("../../docs/examples/caches.toml");

/// A TOML value as a typed configuration value: strings like `2s` / `250ms` are durations.
fn config_value(value: &toml::Value) -> ConfigValue {
    match value {
        toml::Value::Boolean(b) => ConfigValue::Boolean(*b),
        toml::Value::Integer(n) => ConfigValue::Integer(*n),
        toml::Value::Array(items) => ConfigValue::TextList(
            items
                .iter()
                .map(|v| v.as_str().expect("text list").to_owned())
                .collect(),
        ),
        toml::Value::String(s) => {
            if let Some(ms) = s.strip_suffix("ms").and_then(|n| n.parse::<u64>().ok()) {
                ConfigValue::DurationMs(ms)
            } else if let Some(secs) = s.strip_suffix('s').and_then(|n| n.parse::<u64>().ok()) {
                ConfigValue::DurationMs(secs * 1000)
            } else {
                ConfigValue::Text(s.clone())
            }
        }
        other => panic!("unsupported value {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_configuration_works() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let backend = Registry::new()
        .expect("registry")
        .create("memory", AdapterConfig::new())
        .await
        .expect("memory");
    let server = Server::bind(
        "127.0.0.1:0".parse().expect("addr"),
        backend,
        ServeConfig {
            token: Some("s3cret".into()),
            ..ServeConfig::default()
        },
    )
    .await
    .expect("serve");

    let doc: toml::Table = EXAMPLE.parse().expect("valid TOML");
    let caches = doc["caches"].as_table().expect("[caches]");
    assert_eq!(caches.len(), 2);
    let registry = Registry::new().expect("registry");
    for (name, table) in caches {
        let table = table.as_table().expect("table");
        let provider = table["provider"].as_str().expect("provider");
        let mut config = AdapterConfig::new();
        for (field, value) in table.iter().filter(|(f, _)| *f != "provider") {
            let value = match field.as_str() {
                "dir" => ConfigValue::Text(dir.path().display().to_string()),
                "url" => ConfigValue::Text(server.url()),
                _ => config_value(value),
            };
            config.set(field.as_str(), value);
        }
        let cache = registry
            .create(provider, config)
            .await
            .unwrap_or_else(|e| panic!("cache {name}: {e}"));
        cache.set("k", name.as_bytes(), None).await.expect("set");
        assert_eq!(
            cache.get("k").await.expect("get"),
            Some(name.as_bytes().to_vec())
        );
    }
}
