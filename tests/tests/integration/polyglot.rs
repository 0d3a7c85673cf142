//! Adapters written in JavaScript, C and Python (`adapters/{js,c,py}-memory`), built by
//! `adapters/polyglot/build.sh` into `target/polyglot/<lang>.wasm` (or `$BYOC_POLYGLOT_DIR`).
//!
//! Each is loaded the way a third party would bring one — a component file named as the
//! provider in configuration (`provider: path/to/adapter.wasm`, built by
//! [`Registry::build`]) — and runs the whole conformance suite. A missing component skips
//! with a message, or fails under `BYOC_REQUIRE_SERVICES=1`.
//!
//! `external` runs the suite on any component: `BYOC_CONFORMANCE_WASM=path/to/adapter.wasm
//! cargo test --workspace --test integration polyglot::external`.

use byoc::wasm::ALLOWED_IMPORTS;
use byoc::{AdapterConfig, Error, Provider, Registry, StackSpec};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Where build.sh puts the components.
fn polyglot_dir() -> PathBuf {
    match std::env::var_os("BYOC_POLYGLOT_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/polyglot"),
    }
}

/// The component of `lang`, or `None` (after a skip message) when it was not built.
fn component(lang: &str) -> Option<PathBuf> {
    let path = polyglot_dir().join(format!("{lang}.wasm"));
    if path.is_file() {
        return Some(path);
    }
    let msg = format!(
        "{} is missing: build the polyglot adapters with `bash adapters/polyglot/build.sh`",
        path.display()
    );
    assert!(
        !byoc_tests::services_required(),
        "{msg} (BYOC_REQUIRE_SERVICES=1: not skipping)"
    );
    eprintln!("skipping the {lang} adapter test: {msg}");
    None
}

/// A provider from the component file at `path` with `config`, built by the registry as
/// a configuration's `provider: path.wasm` is.
async fn build(path: &Path, config: AdapterConfig) -> byoc::Result<Arc<dyn Provider>> {
    Registry::new()
        .expect("runtime")
        .build(&StackSpec::component(path, None).config(config))
        .await
}

/// A fresh provider from the component file at `path`; `name` in panics.
async fn from_file(name: &str, path: PathBuf) -> Arc<dyn Provider> {
    let registry = Registry::new().expect("runtime");
    warm(&registry, &path);
    build(&path, AdapterConfig::new())
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Compiles `path` once on the shared runtime before the cases that run in parallel ask
/// for it, so they find it compiled instead of each compiling the same 10-20 MB component
/// (with a cold code cache, every test of this file would otherwise compile it at once).
fn warm(registry: &Registry, path: &Path) {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _guard = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // A failure shows again, with its message, in the factory.
    let _ = registry.runtime().load_file(path);
}

async fn polyglot(lang: &str) -> Option<Arc<dyn Provider>> {
    let path = component(lang)?;
    Some(from_file(&format!("{lang}-memory"), path).await)
}

/// [`component`], compiled on the shared runtime (which [`Registry::new`] uses) first.
fn warmed(lang: &str) -> Option<PathBuf> {
    let path = component(lang)?;
    warm(&Registry::new().expect("runtime"), &path);
    Some(path)
}

mod js {
    byoc_tests::conformance_tests!(|| async { super::polyglot("js").await });
}

mod c {
    byoc_tests::conformance_tests!(|| async { super::polyglot("c").await });
}

mod py {
    byoc_tests::conformance_tests!(|| async { super::polyglot("py").await });
}

/// The conformance suite on the component named by `BYOC_CONFORMANCE_WASM` (skipped when
/// the variable is unset; it is for adapter authors, see docs/writing-adapters.md).
mod external {
    byoc_tests::conformance_tests!(|| async {
        match std::env::var_os("BYOC_CONFORMANCE_WASM").filter(|p| !p.is_empty()) {
            Some(path) => Some(super::from_file("external", path.into()).await),
            None => {
                eprintln!("skipping: set BYOC_CONFORMANCE_WASM=path/to/adapter.wasm to run");
                None
            }
        }
    });
}

/// What each component imports: exactly these interfaces (a tool chain upgrade that pulls
/// in more shows up here), all inside the allow-list.
fn expected_imports(lang: &str) -> &'static [&'static str] {
    match lang {
        // StarlingMonkey with stdio, random, http and fetch-event disabled: the clocks, the
        // wasi:io types they mention, and stderr (the engine's error reports).
        "js" => &[
            "byoc:cache/types",
            "wasi:cli/stderr",
            "wasi:clocks/monotonic-clock",
            "wasi:clocks/wall-clock",
            "wasi:io/error",
            "wasi:io/poll",
            "wasi:io/streams",
        ],
        // wasi-libc through the preview1 adapter: the clock, plus what libc's start-up
        // (preopens, stdio) asks for — nothing a grant does not control.
        "c" => &[
            "byoc:cache/types",
            "wasi:cli/stderr",
            "wasi:cli/stdin",
            "wasi:cli/stdout",
            "wasi:clocks/monotonic-clock",
            "wasi:clocks/wall-clock",
            "wasi:filesystem/preopens",
            "wasi:filesystem/types",
            "wasi:io/error",
            "wasi:io/streams",
        ],
        // CPython on wasi-libc (componentize-py): what its runtime asks for at start-up
        // (environment, stdio and terminals, preopens, random for hash seeds, the clocks).
        // Its wasi:sockets imports are satisfied inside the component by a stub that traps
        // (build.sh, `wac plug`), so they are not imports any more.
        "py" => &[
            "byoc:cache/types",
            "wasi:cli/environment",
            "wasi:cli/exit",
            "wasi:cli/stderr",
            "wasi:cli/stdin",
            "wasi:cli/stdout",
            "wasi:cli/terminal-input",
            "wasi:cli/terminal-output",
            "wasi:cli/terminal-stderr",
            "wasi:cli/terminal-stdin",
            "wasi:cli/terminal-stdout",
            "wasi:clocks/monotonic-clock",
            "wasi:clocks/wall-clock",
            "wasi:filesystem/preopens",
            "wasi:filesystem/types",
            "wasi:io/error",
            "wasi:io/poll",
            "wasi:io/streams",
            "wasi:random/random",
        ],
        _ => &[],
    }
}

async fn check_imports(lang: &str) {
    let Some(path) = warmed(lang) else {
        return;
    };
    let loaded = Registry::new()
        .expect("runtime")
        .runtime()
        .load_file(&path)
        .expect("load");
    let mut imports: Vec<String> = loaded
        .imports()
        .iter()
        .map(|i| i.split_once('@').map_or(i.as_str(), |(n, _)| n).to_owned())
        .collect();
    imports.sort();
    for import in &imports {
        assert!(
            ALLOWED_IMPORTS.contains(&import.as_str()),
            "{lang}: imports {import}, outside the allow-list"
        );
    }
    let mut expected: Vec<String> = expected_imports(lang)
        .iter()
        .map(|s| s.to_string())
        .collect();
    expected.sort();
    assert_eq!(imports, expected, "{lang}: imports changed");
}

#[tokio::test]
async fn js_imports_only_what_it_uses() {
    check_imports("js").await;
}

#[tokio::test]
async fn c_imports_only_what_it_uses() {
    check_imports("c").await;
}

#[tokio::test]
async fn py_imports_only_what_it_uses() {
    check_imports("py").await;
}

/// `c-sockets.wasm` is the C adapter built with one extra import, `wasi:sockets/network`
/// (build.sh adds it with `-DBYOC_IMPORT_SOCKETS`): the host refuses it at load, naming it.
#[tokio::test]
async fn a_polyglot_component_importing_sockets_is_refused() {
    let Some(path) = component("c-sockets") else {
        return;
    };
    match build(&path, AdapterConfig::new()).await {
        Err(Error::Load { reason, .. }) => {
            assert!(reason.contains("wasi:sockets"), "{reason}");
        }
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("a component importing wasi:sockets was loaded"),
    }
}

/// The adapters declare every operation native and take their one configuration field.
#[tokio::test]
async fn adapters_describe_themselves_and_take_config() {
    for lang in ["js", "c", "py"] {
        let Some(path) = warmed(lang) else {
            continue;
        };
        let name = format!("{lang}-memory");
        let small = AdapterConfig::new().with("max-value-bytes", byoc::ConfigValue::Size(8));
        let p = build(&path, small).await.expect("create");
        assert_eq!(p.info().name, name);
        assert_eq!(p.info().native.len(), 12, "{name}: every operation native");
        p.set("k", b"12345678", None).await.expect("8 bytes fit");
        let r = p.set("k", b"123456789", None).await;
        assert!(matches!(r, Err(Error::ValueTooLarge(_))), "{name}: {r:?}");
        assert_eq!(p.get("k").await.expect("get"), Some(b"12345678".to_vec()));
        let bad = AdapterConfig::new().with("no-such-field", byoc::ConfigValue::Boolean(true));
        let r = build(&path, bad).await.map(|p| p.info());
        assert!(matches!(r, Err(Error::InvalidConfig(_))), "{name}: {r:?}");
    }
}

/// The same through a YAML configuration file, as `byoc check` / `Caches::open` load it.
#[tokio::test]
async fn polyglot_components_load_from_a_configuration_file() {
    for lang in ["js", "c", "py"] {
        let Some(path) = warmed(lang) else {
            continue;
        };
        let sha = byoc::wasm::sha256_hex(&std::fs::read(&path).expect("read"));
        let text = format!(
            "caches:\n  - name: poly\n    provider: {}\n    sha256: {sha}\n    key-prefix: \"p:\"\n",
            path.display()
        );
        let file = byoc::ConfigFile::parse(&text, "polyglot.yaml").expect("config");
        let caches = byoc::Caches::open(&file, Registry::new().expect("runtime"))
            .await
            .unwrap_or_else(|e| panic!("{lang}: {e}"));
        let cache = caches.cache::<String>("poly").expect("cache");
        cache.set("k", &lang.to_owned(), None).await.expect("set");
        assert_eq!(cache.get("k").await.expect("get"), Some(lang.to_owned()));
    }
}
