//! Builds the repository's adapters (`adapters/*`) as WebAssembly components, so that a
//! plain `cargo build` produces a host with its adapters embedded.
//!
//! The adapters are built by nested `cargo build --target <target> --profile adapter`
//! runs into `<target>/wasm-adapters`, a target directory of their own (the outer cargo
//! holds the lock on the main one). The paths of the built components reach the crate as
//! `BYOC_ADAPTER_<NAME>_WASM` environment variables.
//!
//! Most adapters are built for `wasm32-wasip2`. The memory adapter, which needs nothing
//! from WASI but a wall clock and a random seed (read directly through the `wasi` crate),
//! is built for `wasm32-unknown-unknown` and linked by rustc's own `wasm-component-ld`
//! (the linker of `wasm32-wasip2`), so it is a component as well, but one without the 13
//! WASI interfaces that std's WASI support imports (streams, stdio, terminals,
//! environment, exit, ...). A smaller component loads faster from the compiled-code cache
//! and has fewer imports to wire at each instantiation.
//!
//! The SQLite adapter compiles SQLite's C source, so it needs clang with the wasi-libc
//! sysroot (Debian: `clang`, `lld`, `wasi-libc`). It is built in a nested run of its own,
//! with the C compiler's settings; without the tool chain the host is still built, and the
//! `sqlite` provider reports at load time why it is missing ([`c_toolchain`]).

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Adapters to build and the target of each: `adapters/<name>`, package
/// `byoc-adapter-<name>`, component path in `BYOC_ADAPTER_<NAME>_WASM`.
const ADAPTERS: &[(&str, &str)] = &[
    ("memory", LEAN),
    ("hostile", TARGET),
    ("hostile-net", TARGET),
    ("encryption", TARGET),
    ("compression", TARGET),
    ("tiered", TARGET),
    ("fallback", TARGET),
    ("redis", TARGET),
    ("filesystem", TARGET),
    ("http", TARGET),
    ("redb", TARGET),
    // `sqlite` is built separately, when a C compiler is found (`build_sqlite`).
    // Not an adapter: the wasi:keyvalue test application (a command component).
    ("keyvalue-app", TARGET),
    // wasi:keyvalue over an adapter, for composition (imports only wasi:cli/environment).
    ("keyvalue-shim", LEAN),
    ("migration", TARGET),
    ("multi-region", TARGET),
    ("s3", TARGET),
    ("dynamodb", TARGET),
    ("etcd", TARGET),
    ("memcached", TARGET),
    ("postgres", TARGET),
];

/// The target of adapters that use std's WASI support.
const TARGET: &str = "wasm32-wasip2";

/// The target of adapters that import only what they name (see the module doc).
const LEAN: &str = "wasm32-unknown-unknown";

fn main() {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .ancestors()
        .nth(2)
        .expect("host/byoc/ is two levels below the repository root")
        .to_path_buf();
    for dir in ["wit", "guest-sdk", "adapters", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");
    println!("cargo:rerun-if-changed=build.rs");

    let sysroot = sysroot();
    for target in [TARGET, LEAN] {
        ensure_target_installed(sysroot.as_deref(), target);
    }

    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|d| if d.is_relative() { root.join(d) } else { d })
        .unwrap_or_else(|| root.join("target"))
        .join("wasm-adapters");

    let packages = |target: &str| -> Vec<&str> {
        ADAPTERS
            .iter()
            .filter(|(_, t)| *t == target)
            .map(|(name, _)| *name)
            .collect()
    };
    build(&root, &target_dir, TARGET, None, &packages(TARGET), &[]);
    let linker = component_linker(sysroot.as_deref());
    build(
        &root,
        &target_dir,
        LEAN,
        linker.as_deref(),
        &packages(LEAN),
        &[],
    );
    let sqlite = build_sqlite(&root, &target_dir);

    // SHA-256 of each component, so loading a built-in adapter needs no hashing at run time.
    let mut hashes = String::new();
    for &(name, target) in ADAPTERS {
        let path = target_dir
            .join(target)
            .join("adapter")
            .join(format!("byoc_adapter_{}.wasm", name.replace('-', "_")));
        let var = format!(
            "BYOC_ADAPTER_{}_WASM",
            name.replace('-', "_").to_uppercase()
        );
        assert!(
            path.exists(),
            "adapter component {} is missing",
            path.display()
        );
        println!("cargo:rustc-env={var}={}", path.display());
        let bytes = std::fs::read(&path).expect("read the adapter component");
        let digest: [u8; 32] = Sha256::digest(&bytes).into();
        hashes.push_str(&format!(
            "/// SHA-256 of the `{name}` adapter component, computed at build time.\n\
             #[allow(dead_code)]\n\
             pub const {}_SHA256: [u8; 32] = {digest:?};\n",
            name.replace('-', "_").to_uppercase()
        ));
    }
    hashes.push_str(&sqlite);
    let out = PathBuf::from(env("OUT_DIR")).join("adapter_hashes.rs");
    std::fs::write(out, hashes).expect("write adapter_hashes.rs");
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("cargo sets {name}"))
}

/// Builds the adapters `names` for `target` with the `adapter` profile into `target_dir`,
/// with `linker` as the target's linker when given and `vars` set.
fn build(
    root: &Path,
    target_dir: &Path,
    target: &str,
    linker: Option<&Path>,
    names: &[&str],
    vars: &[(String, String)],
) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args([
            "build",
            "--target",
            target,
            "--profile",
            "adapter",
            "--target-dir",
        ])
        .arg(target_dir);
    for name in names {
        cmd.args(["-p", &format!("byoc-adapter-{name}")]);
    }
    cmd.envs(vars.iter().map(|(k, v)| (k, v)));
    // Settings meant for the outer (native) build must not leak into the wasm build.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cmd.env_remove(var);
    }
    if let Some(linker) = linker {
        let var = format!(
            "CARGO_TARGET_{}_LINKER",
            target.replace('-', "_").to_uppercase()
        );
        cmd.env(var, linker);
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("could not run cargo to build the wasm adapters: {e}"));
    if !status.success() {
        panic!(
            "building the wasm adapters for {target} failed ({status}); see the cargo output above"
        );
    }
}

/// Builds the SQLite adapter when [`c_toolchain`] finds a C compiler for it. Returns the
/// Rust source declaring `SQLITE_ADAPTER` (the component and its hash, or `None`) and
/// `SQLITE_MISSING` (why it was not built).
fn build_sqlite(root: &Path, target_dir: &Path) -> String {
    for var in [
        "CC_wasm32_wasip2",
        "AR_wasm32_wasip2",
        "CFLAGS_wasm32_wasip2",
        "PATH",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let declare = |component: Option<(&Path, [u8; 32])>, missing: &str| {
        let value = match component {
            Some((path, digest)) => format!(
                "Some((include_bytes!({:?}), {digest:?}))",
                path.display().to_string()
            ),
            None => "None".to_owned(),
        };
        format!(
            "/// The SQLite adapter component (`adapters/sqlite`) and its SHA-256, if the \
             build found a C compiler for it.\n\
             pub const SQLITE_ADAPTER: Option<(&[u8], [u8; 32])> = {value};\n\
             /// Why [`SQLITE_ADAPTER`] is `None` (empty when it was built).\n\
             pub const SQLITE_MISSING: &str = {missing:?};\n"
        )
    };
    let vars = match c_toolchain() {
        Ok(vars) => vars,
        Err(why) => {
            println!("cargo:warning=the sqlite adapter is not built: {why}");
            return declare(None, &why);
        }
    };
    build(root, target_dir, TARGET, None, &["sqlite"], &vars);
    let path = target_dir
        .join(TARGET)
        .join("adapter")
        .join("byoc_adapter_sqlite.wasm");
    let bytes = std::fs::read(&path).expect("read the sqlite adapter component");
    let digest: [u8; 32] = Sha256::digest(&bytes).into();
    println!(
        "cargo:rustc-env=BYOC_ADAPTER_SQLITE_WASM={}",
        path.display()
    );
    declare(Some((&path, digest)), "")
}

/// The C compiler settings of the SQLite adapter's nested build: those of the environment
/// when `CC_wasm32_wasip2` is set (a WASI SDK, say), else clang for `wasm32-wasi` with the
/// system's wasi-libc (clang before 17 does not know the `wasm32-wasip2` triple the `cc`
/// crate passes, so the flags name `wasm32-wasi`, which comes after it and wins), after a
/// test compile. `Err`: what is missing and how to install it.
fn c_toolchain() -> Result<Vec<(String, String)>, String> {
    if std::env::var_os("CC_wasm32_wasip2").is_some() {
        return Ok(Vec::new());
    }
    const INSTALL: &str = "install clang, llvm, lld and wasi-libc (Debian: apt-get install clang llvm lld \
                           wasi-libc), or set CC_wasm32_wasip2 to a WASI SDK's clang";
    let out = PathBuf::from(env("OUT_DIR"));
    let probe = out.join("wasi-probe.c");
    std::fs::write(
        &probe,
        "#include <stdio.h>\nint probe(void) { return BUFSIZ; }\n",
    )
    .map_err(|e| format!("cannot write {}: {e}", probe.display()))?;
    let compiled = Command::new("clang")
        .args(["--target=wasm32-wasi", "-c"])
        .arg(&probe)
        .arg("-o")
        .arg(out.join("wasi-probe.o"))
        .output();
    match compiled {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            let stderr = String::from_utf8_lossy(&o.stderr);
            let first = stderr.lines().next().unwrap_or("no message");
            return Err(format!(
                "clang cannot compile for wasm32-wasi ({first}): {INSTALL}"
            ));
        }
        Err(e) => return Err(format!("clang is not on the PATH ({e}): {INSTALL}")),
    }
    // `llvm-ar`, or a versioned one (Debian installs `llvm-ar-<major>` with clang).
    let ar = std::iter::once("llvm-ar".to_owned())
        .chain(
            std::fs::read_dir("/usr/bin")
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("llvm-ar-")),
        )
        .find(|ar| {
            Command::new(ar)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .ok_or_else(|| format!("no llvm-ar on the PATH: {INSTALL}"))?;
    Ok(vec![
        ("CC_wasm32_wasip2".into(), "clang".into()),
        ("AR_wasm32_wasip2".into(), ar),
        ("CFLAGS_wasm32_wasip2".into(), "--target=wasm32-wasi".into()),
    ])
}

/// The toolchain's sysroot, if rustc tells.
fn sysroot() -> Option<PathBuf> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
}

/// rustc's `wasm-component-ld` (shipped with every toolchain that has `wasm32-wasip2`):
/// links a core module and turns it into a component. `None` when the sysroot is unknown
/// (the nested build then reports what is wrong).
fn component_linker(sysroot: Option<&Path>) -> Option<PathBuf> {
    let host = env("HOST");
    let exe = format!("wasm-component-ld{}", std::env::consts::EXE_SUFFIX);
    let path = sysroot?
        .join("lib/rustlib")
        .join(host)
        .join("bin")
        .join(exe);
    if !path.exists() {
        panic!(
            "\n\nrustc's `wasm-component-ld` is missing ({}): it links the adapters built \
             for {LEAN} into components. It comes with the toolchain (1.82 and later).\n",
            path.display()
        );
    }
    Some(path)
}

/// Makes sure a wasm target's standard library is installed: adds it with rustup when it is
/// missing (rustup installs the targets of `rust-toolchain.toml` only when it installs the
/// toolchain itself), and fails with the command to run where that is impossible.
fn ensure_target_installed(sysroot: Option<&Path>, target: &str) {
    let Some(sysroot) = sysroot else {
        return; // Cannot tell; the nested build will report what is wrong.
    };
    let lib = sysroot.join("lib/rustlib").join(target);
    if lib.exists() {
        return;
    }
    let toolchain = std::env::var("RUSTUP_TOOLCHAIN").ok();
    let mut cmd = Command::new("rustup");
    cmd.args(["target", "add"]);
    if let Some(toolchain) = &toolchain {
        cmd.args(["--toolchain", toolchain]);
    }
    cmd.arg(target);
    println!(
        "cargo:warning=the Rust target `{target}` was missing; installing it with `rustup target add{} {target}`",
        toolchain
            .as_deref()
            .map(|t| format!(" --toolchain {t}"))
            .unwrap_or_default()
    );
    let installed = match cmd.output() {
        Ok(out) if out.status.success() => lib.exists(),
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
            println!(
                "cargo:warning=rustup could not add `{target}`: {}",
                last.unwrap_or("no message")
            );
            false
        }
        Err(e) => {
            println!("cargo:warning=rustup is not on the PATH ({e})");
            false
        }
    };
    if !installed {
        panic!(
            "\n\nThe Rust target `{target}` is not installed, and BYOC's adapters are built \
             for it; adding it with rustup failed (see the warnings above).\nInstall it \
             with:\n\n    rustup target add {target}\n"
        );
    }
}
