//! `docs/examples/grants.yaml` describes real, working caches: it is loaded here, with
//! its directory and URL pointed at a temporary directory and a private `byoc serve`.

use byoc::{AdapterConfig, Caches, ConfigFile, Registry};
use byoc_cli::serve::{ServeConfig, Server};
use std::collections::BTreeMap;

const EXAMPLE: &str = include_str!("../../../docs/examples/grants.yaml");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grants_example_works() {
    let dir = crate::temp_dir();
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

    let env = BTreeMap::from([
        ("SESSIONS_DIR".to_owned(), dir.path().display().to_string()),
        ("SHARED_URL".to_owned(), server.url()),
        ("SHARED_TOKEN".to_owned(), "s3cret".to_owned()),
    ]);
    let file = ConfigFile::parse_with_env(EXAMPLE, "grants.yaml", dir.path(), env)
        .expect("valid configuration");
    assert_eq!(file.caches.len(), 2);
    // The token came from the environment: it is never printed.
    let described = file.describe();
    assert!(!described.contains("s3cret"), "{described}");
    assert!(described.contains("token: ***"), "{described}");

    let caches = Caches::open(&file, Registry::new().expect("registry"))
        .await
        .expect("caches");
    for name in ["sessions", "shared"] {
        let cache = caches.provider(name).expect("configured");
        cache.set("k", name.as_bytes(), None).await.expect("set");
        assert_eq!(
            cache.get("k").await.expect("get"),
            Some(name.as_bytes().to_vec())
        );
    }
}
