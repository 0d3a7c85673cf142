//! Builds the repository's adapters (`adapters/*`) as WebAssembly components, so that a
//! plain `cargo build` produces a host with its adapters embedded.
//!
//! The adapters are built by a nested `cargo build --target wasm32-wasip2 --profile
//! adapter` into `<target>/wasm-adapters`, a target directory of their own (the outer
//! cargo holds the lock on the main one). The paths of the built components reach the
//! crate as `BYOC_ADAPTER_<NAME>_WASM` environment variables.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Adapters to build: `adapters/<name>`, package `byoc-adapter-<name>`, component
/// path in `BYOC_ADAPTER_<NAME>_WASM`.
const ADAPTERS: &[&str] = &[
    "memory",
    "hostile",
    "hostile-net",
    "encryption",
    "tiered",
    "fallback",
    "redis",
    "filesystem",
    "http",
];

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .parent()
        .expect("host/ has a parent")
        .to_path_buf();
    for dir in ["wit", "guest-sdk", "adapters", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");
    println!("cargo:rerun-if-changed=build.rs");

    check_target_installed();

    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|d| if d.is_relative() { root.join(d) } else { d })
        .unwrap_or_else(|| root.join("target"))
        .join("wasm-adapters");

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args([
            "build",
            "--target",
            TARGET,
            "--profile",
            "adapter",
            "--target-dir",
        ])
        .arg(&target_dir);
    for name in ADAPTERS {
        cmd.args(["-p", &format!("byoc-adapter-{name}")]);
    }
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
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("could not run cargo to build the wasm adapters: {e}"));
    if !status.success() {
        panic!("building the wasm adapters failed ({status}); see the cargo output above");
    }

    // SHA-256 of each component, so loading a built-in adapter needs no hashing at run time.
    let mut hashes = String::new();
    for name in ADAPTERS {
        let path = target_dir
            .join(TARGET)
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
             pub(crate) const {}_SHA256: [u8; 32] = {digest:?};\n",
            name.replace('-', "_").to_uppercase()
        ));
    }
    let out = PathBuf::from(env("OUT_DIR")).join("adapter_hashes.rs");
    std::fs::write(out, hashes).expect("write adapter_hashes.rs");
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("cargo sets {name}"))
}

/// Fails with one clear message when the wasm target's standard library is missing.
fn check_target_installed() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let Some(sysroot) = sysroot else {
        return; // Cannot tell; the nested build will report what is wrong.
    };
    let lib = Path::new(&sysroot).join("lib/rustlib").join(TARGET);
    if !lib.exists() {
        panic!(
            "\n\nThe Rust target `{TARGET}` is not installed, and BYOC's adapters are built \
             for it.\nInstall it with:\n\n    rustup target add {TARGET}\n\n(rustup installs it \
             by itself from rust-toolchain.toml when the toolchain is first used.)\n"
        );
    }
}
