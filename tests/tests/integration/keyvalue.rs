//! `wasi:keyvalue` applications on BYOC caches: the keyvalue test application
//! (`adapters/keyvalue-app`) runs its checks on memory, filesystem and Redis caches
//! through the host's bucket mapping; unmapped buckets, key prefixes and a provider
//! without atomics. Composed with the keyvalue shim and the memory, filesystem or Redis
//! adapter (composed and compiled once per process), it passes the same checks given
//! only the grants its adapter needs, and is refused or denied without them.

use crate::compose::plug;
use byoc::redis::{RedisGrant, RedisTarget, WithRedis};
use byoc::{Caches, ConfigFile, DirAccess, Grants, Registry};
use byoc_keyvalue::app::{App, Outcome, RunOptions};
use byoc_keyvalue::{Bucket, Buckets};
use byoc_tests::service::{self, Service};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// The test application, compiled once for the whole test process.
fn app() -> &'static App {
    static APP: OnceLock<App> = OnceLock::new();
    APP.get_or_init(|| {
        let bytes = std::fs::read(byoc::builtin::KEYVALUE_APP_PATH).expect("the keyvalue app");
        App::load(&bytes).expect("compile the keyvalue app")
    })
}

async fn run(buckets: Buckets, args: &[&str]) -> Outcome {
    run_with(app(), buckets, RunOptions::default(), args).await
}

/// Runs `app` with `options`, its output captured, with the arguments `app <args>`.
async fn run_with(app: &App, buckets: Buckets, options: RunOptions, args: &[&str]) -> Outcome {
    let args = std::iter::once("app").chain(args.iter().copied());
    app.run(buckets, &options.args(args).capture_output(true))
        .await
        .expect("the app runs")
}

/// The URL of a private `redis-server` shared by this module's tests (each uses its own
/// namespace); `None` (skipped) without `redis-server`.
fn redis_url(test: &str) -> Option<String> {
    static SHARED: OnceLock<Option<Mutex<Service>>> = OnceLock::new();
    let server = service::shared(&SHARED, || {
        byoc_tests::redis_server::redis_available(test).then(|| {
            Service::start(
                "redis-server",
                Duration::from_secs(10),
                Box::new(|dir, port| {
                    let mut cmd = Command::new("redis-server");
                    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                        .args(["--save", "", "--appendonly", "no"])
                        .arg("--dir")
                        .arg(dir);
                    cmd
                }),
            )
        })
    })?;
    let addr = server.lock().unwrap_or_else(|p| p.into_inner()).addr();
    Some(format!("redis://{addr}"))
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
    assert_all_checks_passed(&run(buckets, &["check", "default"]).await);
}

/// `out` is a run of `app check` that passed every check.
fn assert_all_checks_passed(out: &Outcome) {
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
    let Some(url) = redis_url("keyvalue on redis") else {
        return;
    };
    passes_checks(&format!(
        "  - name: kv\n    provider: redis\n    config: {{ url: \"{url}\", namespace: \"kv:\" }}\n"
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

/// The built-in adapters the tests compose with the shim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Adapter {
    Memory,
    Filesystem,
    Redis,
}

/// The test application composed with the shim and `adapter` (`wac plug` twice), compiled;
/// composed and compiled once per process (both are slow in a debug build).
fn composed(adapter: Adapter) -> &'static App {
    static WITH_SHIM: OnceLock<Vec<u8>> = OnceLock::new();
    static APPS: [OnceLock<App>; 3] = [const { OnceLock::new() }; 3];
    let read = |path: &str| std::fs::read(path).expect("component");
    APPS[adapter as usize].get_or_init(|| {
        let with_shim = WITH_SHIM.get_or_init(|| {
            plug(
                &read(byoc::builtin::KEYVALUE_APP_PATH),
                &read(byoc::builtin::KEYVALUE_SHIM_PATH),
            )
        });
        let name = format!("{adapter:?}").to_lowercase();
        let path = byoc::builtin::COMPONENT_PATHS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, path)| *path)
            .expect("built-in adapter");
        App::load(&plug(with_shim, &read(path))).expect("the composed component")
    })
}

/// A Redis grant on the shared server under `namespace`, if there is a server.
fn redis_grant(test: &str, namespace: &str) -> Option<Grants> {
    let url = redis_url(test)?;
    let grant = RedisGrant::new(RedisTarget::Single(url), namespace).expect("grant");
    Some(Grants::none().with_redis(grant))
}

/// The application composed with the shim and the memory adapter is one component that
/// imports neither `wasi:keyvalue` nor BYOC's interfaces, and passes every check when the
/// host runs it with no bucket and no grant at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_pass_through_the_composed_shim() {
    let app = composed(Adapter::Memory);
    let imports = app.imports();
    assert!(
        !imports.iter().any(|i| i.starts_with("wasi:keyvalue/")
            || (i.starts_with("byoc:cache/") && !i.starts_with("byoc:cache/types@"))),
        "{imports:?}"
    );
    let out = run_with(
        app,
        Buckets::new(),
        RunOptions::default(),
        &["check", "default"],
    )
    .await;
    assert_all_checks_passed(&out);
    // The shim serves `default` only: any other bucket is the standard error.
    for bucket in ["other", "kv", ""] {
        let out = run_with(
            app,
            Buckets::new(),
            RunOptions::default(),
            &["open", bucket],
        )
        .await;
        assert_eq!(
            text(&out.stdout).trim(),
            "no-such-store",
            "bucket {bucket:?}"
        );
    }
}

/// Composed with the filesystem adapter, the application passes every check in the
/// directory granted at `/data`, with the adapter's configuration from the environment
/// (its `namespace` field: every file it writes is named after it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_pass_through_the_shim_on_a_granted_directory() {
    let app = composed(Adapter::Filesystem);
    let dir = crate::temp_dir();
    let options = RunOptions::default()
        .grants(Grants::none().dir(dir.path(), "/data", DirAccess::ReadWrite))
        .env("BYOC_ADAPTER_NAMESPACE", "kvshim");
    let out = run_with(app, Buckets::new(), options.clone(), &["check", "default"]).await;
    assert_all_checks_passed(&out);
    let out = run_with(
        app,
        Buckets::new(),
        options.clone(),
        &["set", "default", "k", "v"],
    )
    .await;
    assert_eq!(out.exit_code, 0, "{}", text(&out.stderr));
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.is_empty());
    assert!(names.iter().all(|n| n.starts_with("kvshim.")), "{names:?}");
    // The data outlives the run: a second run reads it from the directory.
    let out = run_with(app, Buckets::new(), options, &["get", "default", "k"]).await;
    assert_eq!(text(&out.stdout).trim(), "v");
    // A value the adapter cannot parse is a clear error, not a silent default.
    let options = RunOptions::default()
        .grants(Grants::none().dir(dir.path(), "/data", DirAccess::ReadWrite))
        .env("BYOC_ADAPTER_FSYNC", "maybe");
    let out = run_with(app, Buckets::new(), options, &["open", "default"]).await;
    let stdout = text(&out.stdout);
    assert!(stdout.contains("BYOC_ADAPTER_FSYNC"), "{stdout}");
}

/// Without a directory grant, the composed filesystem adapter reaches no file: opening the
/// bucket is `access-denied`, and nothing is written anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_composed_filesystem_adapter_without_a_grant_is_denied() {
    let app = composed(Adapter::Filesystem);
    let out = run_with(
        app,
        Buckets::new(),
        RunOptions::default(),
        &["open", "default"],
    )
    .await;
    assert_eq!(text(&out.stdout).trim(), "access-denied");
    let out = run_with(
        app,
        Buckets::new(),
        RunOptions::default(),
        &["set", "default", "k", "v"],
    )
    .await;
    assert_ne!(out.exit_code, 0);
    assert!(
        text(&out.stderr).contains("access-denied"),
        "{}",
        text(&out.stderr)
    );
    // A directory granted elsewhere than where the adapter looks is no grant either.
    let dir = crate::temp_dir();
    let options = RunOptions::default().grants(Grants::none().dir(
        dir.path(),
        "/elsewhere",
        DirAccess::ReadWrite,
    ));
    let out = run_with(app, Buckets::new(), options, &["open", "default"]).await;
    assert_eq!(text(&out.stdout).trim(), "access-denied");
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
}

/// Composed with the Redis adapter, the application passes every check on the granted
/// server, inside the grant's namespace (a `redis` cache on the same namespace sees its
/// keys; one on another namespace does not).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_pass_through_the_shim_on_a_redis_grant() {
    let Some(grants) = redis_grant("keyvalue shim on redis", "kvshim:") else {
        return;
    };
    let app = composed(Adapter::Redis);
    assert!(app.needs_redis());
    let options = RunOptions::default().grants(grants);
    let out = run_with(app, Buckets::new(), options.clone(), &["check", "default"]).await;
    assert_all_checks_passed(&out);
    let out = run_with(
        app,
        Buckets::new(),
        options,
        &["set", "default", "shim-key", "v"],
    )
    .await;
    assert_eq!(out.exit_code, 0, "{}", text(&out.stderr));
    let url = redis_url("keyvalue shim on redis").expect("server");
    let cache = |name: &str, ns: &str| {
        format!(
            "  - name: {name}\n    provider: redis\n    config: {{ url: \"{url}\", namespace: \"{ns}\" }}\n"
        )
    };
    let yaml = format!(
        "caches:\n{}{}",
        cache("same", "kvshim:"),
        cache("other", "kvother:")
    );
    let (caches, _) = open(&yaml).await;
    let same = caches.provider("same").expect("cache");
    assert_eq!(
        same.get("shim-key").await.expect("get").as_deref(),
        Some(&b"v"[..])
    );
    let other = caches.provider("other").expect("cache");
    assert_eq!(other.get("shim-key").await.expect("get"), None);
}

/// A component holding the Redis adapter is refused before it starts without a Redis
/// grant, with an error that names the missing grant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_composed_redis_adapter_without_a_grant_is_refused() {
    let app = composed(Adapter::Redis);
    let options = RunOptions::default()
        .args(["app", "check", "default"])
        .capture_output(true);
    let err = app
        .run(Buckets::new(), &options)
        .await
        .expect_err("no Redis grant");
    assert!(matches!(err, byoc_keyvalue::Error::Denied(_)), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("byoc:cache/redis") && msg.contains("--redis"),
        "{msg}"
    );
    // A directory grant is not a Redis grant.
    let dir = crate::temp_dir();
    let options = options.grants(Grants::none().dir(dir.path(), "/data", DirAccess::ReadWrite));
    let err = app
        .run(Buckets::new(), &options)
        .await
        .expect_err("no Redis grant");
    assert!(matches!(err, byoc_keyvalue::Error::Denied(_)), "{err:?}");
}
