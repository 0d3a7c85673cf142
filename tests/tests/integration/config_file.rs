//! The YAML configuration file: the example loads and works; every class of mistake is a
//! typed [`byoc::Error::Config`] naming the cache, the field and (where the parser gives
//! it) the line; component files load by path, pinned, checked against their grants.

use byoc::{Caches, ConfigFile, Error, Provider, Registry};
use std::collections::BTreeMap;
use std::path::Path;

const EXAMPLE: &str = include_str!("../../../docs/examples/byoc.yaml");
const KEY_HEX: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn parse(text: &str) -> byoc::Result<ConfigFile> {
    ConfigFile::parse_with_env(text, "test.yaml", Path::new("."), env(&[("SET", "yes")]))
}

/// The parts of a config error, for assertions.
#[derive(Debug)]
struct Where {
    cache: Option<String>,
    field: Option<String>,
    line: Option<usize>,
    message: String,
}

fn config_error(e: Error) -> Where {
    let text = e.to_string();
    match e {
        Error::Config {
            cache,
            field,
            line,
            message,
            ..
        } => {
            assert!(text.starts_with("test.yaml"), "{text}");
            Where {
                cache,
                field,
                line,
                message,
            }
        }
        other => panic!("expected a config error, got {other:?}"),
    }
}

fn parse_err(text: &str) -> Where {
    config_error(parse(text).expect_err("must be refused"))
}

async fn open_err(text: &str) -> Where {
    let file = parse(text).expect("parses");
    match Caches::open(&file, Registry::new().expect("registry")).await {
        Ok(_) => panic!("must be refused at open"),
        Err(e) => config_error(e),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_loads_and_every_cache_works() {
    let dir = crate::temp_dir();
    let data = dir.path().display().to_string();
    let file = ConfigFile::parse_with_env(
        EXAMPLE,
        "byoc.yaml",
        dir.path(),
        env(&[("BYOC_SECRET_KEY", KEY_HEX), ("BYOC_DATA_DIR", &data)]),
    )
    .expect("the example is valid");
    let names: Vec<&str> = file.caches.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["sessions", "files", "secrets"]);
    let described = file.describe();
    assert!(!described.contains(KEY_HEX), "{described}");
    assert!(described.contains("keys: ***"), "{described}");

    let caches = Caches::open(&file, Registry::new().expect("registry"))
        .await
        .expect("caches");
    let stacks: Vec<String> = caches
        .names()
        .iter()
        .map(|n| caches.provider(n).expect("cache").info().stack())
        .collect();
    // `names()` is sorted: files, secrets, sessions.
    assert_eq!(stacks, ["filesystem", "encryption(filesystem)", "memory"]);

    // The typed view applies the prefix, default TTL and serializer of the file.
    let sessions = caches.cache::<Vec<String>>("sessions").expect("sessions");
    sessions
        .set("s1", &vec!["ada".to_owned()], None)
        .await
        .expect("set");
    let raw = caches
        .provider("sessions")
        .expect("sessions")
        .get("session:s1")
        .await
        .expect("get")
        .expect("stored under the prefix");
    assert_eq!(byoc::typed_payload(&raw), Some((2, &br#"["ada"]"#[..])));
    match sessions.ttl("s1").await.expect("ttl") {
        byoc::KeyTtl::ExpiresIn(d) => assert!(d.as_secs() > 29 * 60, "{d:?}"),
        other => panic!("default TTL not applied: {other:?}"),
    }

    for name in ["files", "secrets"] {
        let cache = caches.cache::<String>(name).expect("cache");
        cache
            .set("note", &format!("plaintext-of-{name}"), None)
            .await
            .expect("set");
        assert_eq!(
            cache.get("note").await.expect("get"),
            Some(format!("plaintext-of-{name}"))
        );
    }
    // The encrypted cache's directory holds no plaintext.
    let secrets_dir = dir.path().join("secrets");
    let mut found_files = 0;
    for entry in walk(&secrets_dir) {
        found_files += 1;
        let bytes = std::fs::read(&entry).expect("read");
        assert!(
            !bytes
                .windows(b"plaintext-of-secrets".len())
                .any(|w| w == b"plaintext-of-secrets"),
            "plaintext in {}",
            entry.display()
        );
    }
    assert!(
        found_files > 0,
        "nothing written under {}",
        secrets_dir.display()
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn unknown_fields_name_the_line() {
    let w = parse_err("caches:\n  - name: a\n    provider: memory\n    ttl: 5s\n");
    assert_eq!(w.line, Some(4), "{w:?}");
    assert_eq!(w.cache.as_deref(), Some("a"), "{w:?}");
    assert!(w.message.contains("unknown field `ttl`"), "{w:?}");

    let w = parse_err("cache:\n  - name: a\n");
    assert_eq!(w.line, Some(1), "{w:?}");
    assert!(w.message.contains("unknown field `cache`"), "{w:?}");

    let w =
        parse_err("caches:\n  - name: a\n    provider: memory\n    limits:\n      memroy: 1MiB\n");
    assert_eq!(w.line, Some(5), "{w:?}");
    assert!(w.message.contains("unknown field `memroy`"), "{w:?}");
}

#[test]
fn bad_durations_and_sizes_name_the_line() {
    let w = parse_err("caches:\n  - name: a\n    provider: memory\n    default-ttl: 30\n");
    assert_eq!(w.line, Some(4), "{w:?}");
    assert!(w.message.contains("a unit is required"), "{w:?}");

    let w = parse_err("caches:\n  - name: a\n    provider: memory\n    default-ttl: soon\n");
    assert!(w.message.contains("invalid duration \"soon\""), "{w:?}");

    let w = parse_err("caches:\n  - name: a\n    provider: memory\n    limits: { memory: lots }\n");
    assert_eq!(w.line, Some(4), "{w:?}");
    assert!(w.message.contains("invalid size \"lots\""), "{w:?}");

    let w = parse_err("caches:\n  - name: a\n    provider: memory\n    default-ttl: 0s\n");
    assert_eq!(w.field.as_deref(), Some("default-ttl"), "{w:?}");

    let w = parse_err(
        "caches:\n  - name: a\n    provider: memory\n    limits: { call-deadline: 0ms }\n",
    );
    assert_eq!(w.field.as_deref(), Some("limits"), "{w:?}");
}

#[test]
fn environment_interpolation() {
    let file = parse(
        "caches:\n  - name: a\n    provider: memory\n    key-prefix: \"${SET}:$${x}:${UNSET:-d}\"\n",
    )
    .expect("valid");
    assert_eq!(file.caches[0].key_prefix, "yes:${x}:d");

    let w = parse_err("caches:\n  - name: a\n    provider: memory\n    key-prefix: ${NOPE}\n");
    assert_eq!(w.line, Some(4), "{w:?}");
    assert!(w.message.contains("`NOPE` is not set"), "{w:?}");

    let w = parse_err(
        "caches:\n  - name: a\n    provider: memory\n    config: { eviction: \"${NOPE}\" }\n",
    );
    assert_eq!(w.field.as_deref(), Some("config.eviction"), "{w:?}");
    assert!(w.message.contains("`NOPE` is not set"), "{w:?}");
}

#[test]
fn names_and_misplaced_fields() {
    let w = parse_err(
        "caches:\n  - name: a\n    provider: memory\n  - name: a\n    provider: memory\n",
    );
    assert_eq!(w.field.as_deref(), Some("name"), "{w:?}");
    assert!(w.message.contains("another cache has this name"), "{w:?}");

    let w = parse_err("caches:\n  - name: Bad Name\n    provider: memory\n");
    assert_eq!(w.field.as_deref(), Some("name"), "{w:?}");

    let w = parse_err(&format!(
        "caches:\n  - name: a\n    provider: memory\n    sha256: {}\n",
        "0".repeat(64)
    ));
    assert_eq!(w.field.as_deref(), Some("sha256"), "{w:?}");

    let w = parse_err(
        "caches:\n  - name: a\n    provider: memory\n    grants: { http: [\"http://x:1\"] }\n",
    );
    assert_eq!(w.field.as_deref(), Some("grants"), "{w:?}");

    let w = parse_err(
        "caches:\n  - name: a\n    provider: x.wasm\n    grants: { dirs: [{ path: /nonexistent-dir-xyz, guest: /data }] }\n",
    );
    assert_eq!(w.field.as_deref(), Some("grants.dirs[0].path"), "{w:?}");
    assert!(w.message.contains("is not a directory"), "{w:?}");

    let w = parse_err(
        "caches:\n  - name: a\n    provider: x.wasm\n    grants: { offload-file-io: true }\n",
    );
    assert_eq!(w.field.as_deref(), Some("grants.offload-file-io"), "{w:?}");
    assert!(w.message.contains("no `dirs`"), "{w:?}");

    let dir = env!("CARGO_TARGET_TMPDIR");
    for offload in [false, true] {
        let file = parse(&format!(
            "caches:\n  - name: a\n    provider: x.wasm\n    grants: {{ dirs: [{{ path: {dir}, guest: /data }}], offload-file-io: {offload} }}\n"
        ))
        .expect("a directory grant with offload-file-io");
        assert_eq!(file.caches[0].stack.grants.offload_file_io, offload);
    }

    let w =
        parse_err("caches:\n  - name: a\n    provider: memory\n    config: { max-bytes: 1.5 }\n");
    assert_eq!(w.field.as_deref(), Some("config.max-bytes"), "{w:?}");

    let w = parse_err("caches:\n  - name: a\n    provider: memory\n    sync-calls: true\n");
    assert_eq!(w.field.as_deref(), Some("sync-calls"), "{w:?}");
    assert!(w.message.contains("only a component file"), "{w:?}");
}

#[test]
fn key_prefixes_are_checked_at_load() {
    let prefix =
        |p: &str| format!("caches:\n  - name: a\n    provider: memory\n    key-prefix: {p}\n");
    let w = parse_err(&prefix("\"a\\0b\""));
    assert_eq!(w.field.as_deref(), Some("key-prefix"), "{w:?}");
    assert!(w.message.contains("control character"), "{w:?}");
    let w = parse_err(&prefix(&"p".repeat(1024)));
    assert_eq!(w.field.as_deref(), Some("key-prefix"), "{w:?}");
    assert!(w.message.contains("1024 bytes"), "{w:?}");
    let file = parse(&prefix(&"p".repeat(1023))).expect("a prefix leaving one byte");
    assert_eq!(file.caches[0].key_prefix.len(), 1023);
}

/// Nesting and size are bounded before the YAML parser runs, whose time grows with the
/// square of the depth (100,000 levels took over a minute).
#[test]
fn deep_or_huge_yaml_is_refused_quickly() {
    let started = std::time::Instant::now();
    for open in ["[", "{a: "] {
        let deep = format!("caches: {}", open.repeat(100_000));
        let w = parse_err(&deep);
        assert!(w.message.contains("nesting"), "{}", w.message);
        assert_eq!(w.line, Some(1), "{w:?}");
    }
    let block: String = (0..300).map(|i| format!("{}a:\n", " ".repeat(i))).collect();
    let w = parse_err(&format!("caches:\n{block}"));
    assert!(w.message.contains("nesting"), "{}", w.message);
    let huge = format!("caches: []\n# {}\n", "x".repeat(2 << 20));
    let w = parse_err(&huge);
    assert!(w.message.contains("larger than"), "{}", w.message);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    // Brackets inside quotes, comments and plain scalars are not nesting.
    let brackets = "[".repeat(40);
    let file = parse(&format!(
        "caches: # {brackets}\n  - name: a\n    provider: memory\n    key-prefix: \"{brackets}\"\n  \
         - name: b\n    provider: memory\n    key-prefix: x{brackets}\n  - name: c\n    \
         provider: memory\n    key-prefix: 'it''s{brackets}'\n"
    ))
    .expect("brackets that are not nesting");
    assert_eq!(file.caches[2].key_prefix, format!("it's{brackets}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_mistakes_are_reported_at_open_with_the_cache() {
    let w = open_err("caches:\n  - name: a\n    provider: nosuch\n").await;
    assert_eq!(w.cache.as_deref(), Some("a"), "{w:?}");
    assert!(w.message.contains("unknown provider `nosuch`"), "{w:?}");

    let w =
        open_err("caches:\n  - name: b\n    provider: memory\n    config: { bogus: 1 }\n").await;
    assert_eq!(w.cache.as_deref(), Some("b"), "{w:?}");
    assert!(w.message.contains("bogus"), "{w:?}");

    let w = open_err("caches:\n  - name: c\n    provider: encryption\n").await;
    assert!(
        w.message.contains("needs at least one inner provider"),
        "{w:?}"
    );

    let w = open_err(
        "caches:\n  - name: d\n    provider: native-memory\n    limits: { memory: 1MiB }\n",
    )
    .await;
    assert!(w.message.contains("`limits` do not apply"), "{w:?}");
}

/// The memory adapter's bytes with a custom section appended: a different file (and
/// sha256) that is still a valid component.
fn variant(n: u8) -> Vec<u8> {
    let mut bytes = byoc::builtin::MEMORY_ADAPTER.to_vec();
    let name = b"byoc-test";
    let payload = [n; 8];
    let size = 1 + name.len() + payload.len();
    bytes.push(0); // custom section id
    bytes.push(u8::try_from(size).expect("small"));
    bytes.push(u8::try_from(name.len()).expect("small"));
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(&payload);
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn component_files_load_pinned_and_checked_against_grants() {
    let dir = crate::temp_dir();
    let wasm = dir.path().join("mem.wasm");
    std::fs::write(&wasm, variant(1)).expect("write");
    let sha = byoc::wasm::sha256_hex(&variant(1));
    let base = dir.path();
    let load = |text: String| {
        ConfigFile::parse_with_env(&text, "test.yaml", base, BTreeMap::new()).expect("parses")
    };
    let registry = Registry::new().expect("registry");

    // Relative to the file's directory, pinned: loads and serves.
    let file = load(format!(
        "caches:\n  - name: m\n    provider: mem.wasm\n    sha256: {sha}\n    partitions: 2\n    sync-calls: true\n"
    ));
    let caches = Caches::open(&file, registry.clone()).await.expect("opens");
    let m = caches.provider("m").expect("m");
    m.set("k", b"v", None).await.expect("set");
    assert_eq!(m.get("k").await.expect("get"), Some(b"v".to_vec()));
    assert_eq!(m.info().name, "memory");

    // A wrapper component file over a built-in layer works.
    std::fs::write(
        dir.path().join("enc.wasm"),
        byoc::builtin::ENCRYPTION_WRAPPER,
    )
    .expect("write");
    let file = load(format!(
        "caches:\n  - name: e\n    provider: enc.wasm\n    config: {{ keys: [\"k1:{KEY_HEX}\"] }}\n    inner: [{{ provider: memory }}]\n"
    ));
    let caches = Caches::open(&file, registry.clone()).await.expect("opens");
    let e = caches.provider("e").expect("e");
    e.set("k", b"secret", None).await.expect("set");
    assert_eq!(e.get("k").await.expect("get"), Some(b"secret".to_vec()));

    std::fs::write(dir.path().join("redis.wasm"), byoc::builtin::REDIS_ADAPTER).expect("write");
    let refused = [
        (
            "another sha256",
            format!(
                "caches:\n  - name: m\n    provider: mem.wasm\n    sha256: {}\n",
                "ab".repeat(32)
            ),
            &["pins"][..],
        ),
        (
            "a Redis grant the component cannot use",
            "caches:\n  - name: m\n    provider: mem.wasm\n    grants: { redis: { url: \"redis://127.0.0.1:1\", namespace: \"m:\" } }\n".to_owned(),
            &["does not import byoc:cache/redis"],
        ),
        (
            "the Redis adapter without a Redis grant",
            "caches:\n  - name: r\n    provider: redis.wasm\n".to_owned(),
            &["no Redis server is granted"],
        ),
        (
            "a wrapper component without layers",
            "caches:\n  - name: e\n    provider: enc.wasm\n".to_owned(),
            &["needs at least one `inner` layer"],
        ),
        (
            "a wrapper called synchronously (its `inner` import waits)",
            format!(
                "caches:\n  - name: e\n    provider: enc.wasm\n    sync-calls: true\n    config: {{ keys: [\"k1:{KEY_HEX}\"] }}\n    inner: [{{ provider: memory }}]\n"
            ),
            &["`sync-calls` needs", "byoc:cache/inner"],
        ),
        (
            "a plain adapter given layers",
            "caches:\n  - name: e\n    provider: mem.wasm\n    inner: [{ provider: memory }]\n"
                .to_owned(),
            &["is not a wrapper"],
        ),
        (
            "a missing file",
            "caches:\n  - name: x\n    provider: missing.wasm\n".to_owned(),
            &["cannot read the file"],
        ),
    ];
    for (what, yaml, expected) in refused {
        let err = Caches::open(&load(yaml), registry.clone())
            .await
            .expect_err(what);
        let message = err.to_string();
        assert!(
            expected.iter().all(|part| message.contains(part)),
            "{what}: {message}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_reload_swaps_good_versions_and_refuses_bad_ones() {
    let dir = crate::temp_dir();
    let wasm = dir.path().join("mem.wasm");
    std::fs::write(&wasm, variant(1)).expect("write");
    let file = ConfigFile::parse_with_env(
        "caches:\n  - name: m\n    provider: mem.wasm\n    warm-up: 100\n",
        "test.yaml",
        dir.path(),
        BTreeMap::new(),
    )
    .expect("parses");
    let caches = Caches::open(&file, Registry::new().expect("registry"))
        .await
        .expect("opens");
    let m = caches.provider("m").expect("m");
    for i in 0..20 {
        m.set(&format!("k{i}"), b"v", None).await.expect("set");
    }
    for _ in 0..10 {
        for i in 0..20 {
            assert!(m.get(&format!("k{i}")).await.expect("get").is_some());
        }
    }
    assert!(caches.reload_changed().await.is_empty(), "nothing changed");

    // A new, valid version: reloaded, hot keys carried over.
    std::fs::write(&wasm, variant(2)).expect("write");
    let outcomes = caches.reload_changed().await;
    match outcomes.as_slice() {
        [byoc::ReloadOutcome::Reloaded { cache, warmed }] => {
            assert_eq!(cache, "m");
            assert!(*warmed > 0, "no hot key copied");
        }
        other => panic!("{other:?}"),
    }
    let stats = caches.swap_stats("m").expect("stats");
    assert_eq!((stats.swaps, stats.reloads, stats.rejected), (1, 1, 0));
    let still_there = futures_count(&m).await;
    assert!(still_there > 0, "warm-up copied nothing");

    // A broken version: refused, the running one keeps serving.
    std::fs::write(&wasm, b"\0asm not really").expect("write");
    match caches.reload_changed().await.as_slice() {
        [byoc::ReloadOutcome::Rejected { cache, reason }] => {
            assert_eq!(cache, "m");
            assert!(reason.contains("cannot load"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    m.set("after", b"ok", None).await.expect("still serving");
    assert_eq!(m.get("after").await.expect("get"), Some(b"ok".to_vec()));
    let stats = caches.swap_stats("m").expect("stats");
    assert_eq!((stats.reloads, stats.rejected), (1, 1));
    assert!(stats.last_error.is_some());
    // Not retried until it changes again.
    assert!(caches.reload_changed().await.is_empty());
}

async fn futures_count(m: &std::sync::Arc<dyn Provider>) -> usize {
    let mut n = 0;
    for i in 0..20 {
        n += usize::from(m.get(&format!("k{i}")).await.expect("get").is_some());
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_component_that_changes_is_refused() {
    let dir = crate::temp_dir();
    let wasm = dir.path().join("mem.wasm");
    std::fs::write(&wasm, variant(1)).expect("write");
    let sha = byoc::wasm::sha256_hex(&variant(1));
    let file = ConfigFile::parse_with_env(
        &format!("caches:\n  - name: m\n    provider: mem.wasm\n    sha256: {sha}\n"),
        "test.yaml",
        dir.path(),
        BTreeMap::new(),
    )
    .expect("parses");
    let caches = Caches::open(&file, Registry::new().expect("registry"))
        .await
        .expect("opens");
    std::fs::write(&wasm, variant(2)).expect("write");
    match caches.reload_changed().await.as_slice() {
        [byoc::ReloadOutcome::Rejected { reason, .. }] => {
            assert!(reason.contains("pins"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_near_cache_from_configuration_serves_repeated_reads() {
    let file = parse(
        "caches:\n  - name: n\n    provider: memory\n    near: { max-entries: 100, max-staleness: 5s }\n",
    )
    .expect("valid");
    let caches = Caches::open(&file, Registry::new().expect("registry"))
        .await
        .expect("opens");
    let n = caches.provider("n").expect("n");
    n.set("k", b"v", None).await.expect("set");
    for _ in 0..5 {
        assert_eq!(n.get("k").await.expect("get"), Some(b"v".to_vec()));
    }
    let stats = n.stats().await.expect("stats");
    let near_hits = stats
        .extra
        .iter()
        .find(|(name, _)| name == "near.hits")
        .map(|(_, v)| *v);
    assert!(near_hits.is_some_and(|h| h >= 4), "{stats:?}");
    // A local write invalidates the L1.
    n.set("k", b"w", None).await.expect("set");
    assert_eq!(n.get("k").await.expect("get"), Some(b"w".to_vec()));
    // Another provider swapped in: the L1 no longer answers for the old stack.
    let other = Registry::new()
        .expect("registry")
        .create("native-memory", byoc::AdapterConfig::new())
        .await
        .expect("other provider");
    other.set("k", b"other", None).await.expect("set");
    caches.swap("n", other).await.expect("swap");
    assert_eq!(n.get("k").await.expect("get"), Some(b"other".to_vec()));

    let w =
        parse_err("caches:\n  - name: n\n    provider: memory\n    near: { max-staleness: 0s }\n");
    assert_eq!(w.field.as_deref(), Some("near.max-staleness"), "{w:?}");
}

mod parser_fuzz {
    use super::*;
    use proptest::prelude::*;

    /// Any text: the parser answers a configuration or an `Error::Config`, never panics.
    fn check(text: &str) {
        match parse(text) {
            Ok(_) | Err(Error::Config { .. }) => {}
            Err(other) => panic!("not a config error: {other:?}"),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            check(&text);
        }

        /// The example with one line dropped, duplicated or cut short: still no panic,
        /// and an error always names the file.
        #[test]
        fn mutated_example_never_panics(line in 0usize..60, how in 0u8..3, cut in 0usize..40) {
            let mut lines: Vec<String> = EXAMPLE.lines().map(str::to_owned).collect();
            let i = line % lines.len();
            match how {
                0 => { lines.remove(i); }
                1 => { let l = lines[i].clone(); lines.insert(i, l); }
                _ => { let l = &mut lines[i]; let n = l.chars().count(); *l = l.chars().take(cut % (n + 1)).collect(); }
            }
            check(&lines.join("\n"));
        }

        /// Interpolation of arbitrary text never panics and never leaves `${` of a
        /// well-formed reference behind.
        #[test]
        fn interpolation_never_panics(text in "[a-z$\\{\\}:\\-_A-Z0-9]{0,40}") {
            let _ = byoc::config_file::interpolate(&text, &|name| (name == "SET").then(|| "v".to_owned()));
        }
    }
}
