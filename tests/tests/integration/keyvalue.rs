//! `wasi:keyvalue` applications on BYOC caches: the keyvalue test application
//! (`adapters/keyvalue-app`) runs its checks on memory, filesystem and Redis caches
//! through the host's bucket mapping; unmapped buckets, key prefixes and a provider
//! without atomics.

use byoc::{Caches, ConfigFile, Registry};
use byoc_keyvalue::app::{App, Outcome, RunOptions};
use byoc_keyvalue::{Bucket, Buckets};
use byoc_tests::redis_server::RedisServer;
use std::sync::OnceLock;

/// The test application, compiled once for the whole test process.
fn app() -> &'static App {
    static APP: OnceLock<App> = OnceLock::new();
    APP.get_or_init(|| {
        let bytes = std::fs::read(byoc::builtin::KEYVALUE_APP_PATH).expect("the keyvalue app");
        App::load(&bytes).expect("compile the keyvalue app")
    })
}

async fn run(buckets: Buckets, args: &[&str]) -> Outcome {
    let args = std::iter::once("app").chain(args.iter().copied());
    app()
        .run(
            buckets,
            &RunOptions::default().args(args).capture_output(true),
        )
        .await
        .expect("the app runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The caches of `yaml` and the buckets of its `keyvalue:` section.
async fn open(yaml: &str) -> (Caches, Buckets) {
    let file = ConfigFile::parse(yaml, "keyvalue.yaml").expect("config");
    let caches = Caches::open(&file, Registry::new().expect("registry"))
        .await
        .expect("caches");
    let buckets = Buckets::from_caches(&caches, &file.keyvalue).expect("buckets");
    (caches, buckets)
}

/// Runs every check of the app on bucket `default`, served by the cache of `cache_yaml`.
async fn passes_checks(cache_yaml: &str) {
    let yaml = format!("caches:\n{cache_yaml}keyvalue: {{ buckets: {{ default: kv }} }}\n");
    let (_caches, buckets) = open(&yaml).await;
    let out = run(buckets, &["check", "default"]).await;
    assert_eq!(
        out.exit_code,
        0,
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    for check in [
        "ok get/set/delete/exists",
        "ok list-keys paging",
        "ok increment",
        "ok batch",
        "ok unknown bucket",
        "keyvalue checks passed",
    ] {
        assert!(stdout.contains(check), "{check} missing from:\n{stdout}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_pass_on_memory() {
    passes_checks("  - name: kv\n    provider: memory\n").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_pass_on_filesystem() {
    let dir = crate::temp_dir();
    passes_checks(&format!(
        "  - name: kv\n    provider: filesystem\n    config: {{ dir: \"{}\" }}\n",
        dir.path().display()
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_pass_on_redis() {
    let Some(server) = RedisServer::start("keyvalue on redis") else {
        return;
    };
    passes_checks(&format!(
        "  - name: kv\n    provider: redis\n    config: {{ url: \"{}\", namespace: \"kv:\" }}\n",
        server.url()
    ))
    .await;
}

/// Through a key prefix: the bucket's keys live under the prefix, and `list-keys` sees
/// only them (another user of the same cache keeps its keys apart).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_pass_under_a_key_prefix() {
    let yaml = "caches:\n  - name: kv\n    provider: memory\n    key-prefix: \"app*[1]:\"\n\
                keyvalue: { buckets: { default: kv } }\n";
    let (caches, buckets) = open(yaml).await;
    let raw = caches.provider("kv").expect("cache");
    raw.set("other:key", b"not the bucket's", None)
        .await
        .expect("set");
    let out = run(buckets.clone(), &["check", "default"]).await;
    assert_eq!(out.exit_code, 0, "{}", text(&out.stderr));
    let out = run(buckets, &["set", "default", "k", "v"]).await;
    assert_eq!(out.exit_code, 0, "{}", text(&out.stderr));
    assert_eq!(
        raw.get("app*[1]:k").await.expect("get").as_deref(),
        Some(&b"v"[..])
    );
    assert_eq!(
        raw.get("other:key").await.expect("get").as_deref(),
        Some(&b"not the bucket's"[..])
    );
}

/// A bucket the configuration does not map is `no-such-store`, even when a cache has
/// that name; the mapped bucket's data stays its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmapped_bucket_is_no_such_store() {
    let yaml = "caches:\n  - name: public\n    provider: memory\n  - name: secrets\n    provider: memory\n\
                keyvalue: { buckets: { default: public } }\n";
    let (caches, buckets) = open(yaml).await;
    caches
        .provider("secrets")
        .expect("cache")
        .set("token", b"s3cr3t", None)
        .await
        .expect("set");
    for bucket in ["secrets", "public", "", "default/../secrets"] {
        let out = run(buckets.clone(), &["open", bucket]).await;
        assert_eq!(
            text(&out.stdout).trim(),
            "no-such-store",
            "bucket {bucket:?}"
        );
    }
    let out = run(buckets.clone(), &["open", "default"]).await;
    assert_eq!(text(&out.stdout).trim(), "opened");
    let out = run(buckets, &["get", "default", "token"]).await;
    assert_eq!(text(&out.stdout).trim(), "none");
}

/// A configuration naming a cache that does not exist is refused when read.
#[test]
fn a_bucket_of_an_unknown_cache_is_a_config_error() {
    let yaml =
        "caches:\n  - name: a\n    provider: memory\nkeyvalue: { buckets: { default: b } }\n";
    let err = ConfigFile::parse(yaml, "kv.yaml").expect_err("unknown cache");
    let msg = err.to_string();
    assert!(msg.contains("keyvalue.buckets.default"), "{msg}");
    assert!(msg.contains("no cache named `b`"), "{msg}");
    let yaml = "caches:\n  - name: a\n    provider: memory\nkeyvalue: { bucket: { default: a } }\n";
    assert!(ConfigFile::parse(yaml, "kv.yaml").is_err(), "unknown field");
}

/// A provider without atomics answers `increment` with an error naming it unsupported;
/// every other check passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn increment_without_atomics_is_an_error() {
    let memory = Registry::new()
        .expect("registry")
        .create("memory", Default::default())
        .await
        .expect("memory");
    let provider = byoc_tests::without_atomics(memory);
    let buckets = Buckets::new().with("default", Bucket::new(provider));
    let out = run(buckets, &["check", "default", "--no-atomics"]).await;
    assert_eq!(
        out.exit_code,
        0,
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// `App` lists the imports `byoc inspect` prints.
#[test]
fn the_app_imports_wasi_keyvalue() {
    let imports = app().keyvalue_imports();
    for interface in ["store", "atomics", "batch"] {
        let name = format!("wasi:keyvalue/{interface}@0.2.0-draft");
        assert!(imports.contains(&name), "{name} not in {imports:?}");
    }
}

/// `plug`'s exports plugged into `socket`'s imports: what `wac plug socket.wasm --plug
/// plug.wasm` does.
fn plug(socket: &[u8], plug: &[u8]) -> Vec<u8> {
    use wac_graph::types::Package;
    use wac_graph::{CompositionGraph, EncodeOptions};
    let mut graph = CompositionGraph::new();
    let socket = Package::from_bytes("test:socket", None, socket.to_vec(), graph.types_mut())
        .expect("socket");
    let socket = graph.register_package(socket).expect("register socket");
    let plug =
        Package::from_bytes("test:plug", None, plug.to_vec(), graph.types_mut()).expect("plug");
    let plug = graph.register_package(plug).expect("register plug");
    wac_graph::plug(&mut graph, vec![plug], socket).expect("plug");
    graph.encode(EncodeOptions::default()).expect("encode")
}

/// The application composed with the shim and the memory adapter is one component that
/// imports neither `wasi:keyvalue` nor BYOC's interfaces, and passes every check when the
/// host runs it with no bucket at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_pass_through_the_composed_shim() {
    let read = |path: &str| std::fs::read(path).expect("component");
    let memory = byoc::builtin::COMPONENT_PATHS
        .iter()
        .find(|(name, _)| *name == "memory")
        .map(|(_, path)| *path)
        .expect("memory adapter");
    let with_shim = plug(
        &read(byoc::builtin::KEYVALUE_APP_PATH),
        &read(byoc::builtin::KEYVALUE_SHIM_PATH),
    );
    let composed = plug(&with_shim, &read(memory));
    let app = App::load(&composed).expect("the composed component");
    let imports = app.imports();
    assert!(
        !imports
            .iter()
            .any(|i| i.starts_with("wasi:keyvalue/") || i.starts_with("byoc:cache/provider")),
        "{imports:?}"
    );
    let options = RunOptions::default()
        .args(["app", "check", "default"])
        .capture_output(true);
    let out = app.run(Buckets::new(), &options).await.expect("runs");
    assert_eq!(
        out.exit_code,
        0,
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("keyvalue checks passed"));
}
