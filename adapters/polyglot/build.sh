#!/usr/bin/env bash
# Builds the adapters written in JavaScript and C into components:
#
#   target/polyglot/js.wasm         adapters/js-memory  (componentize-js, npm)
#   target/polyglot/c.wasm          adapters/c-memory   (wit-bindgen c + clang + wasm-tools)
#   target/polyglot/c-sockets.wasm  the C adapter with a wasi:sockets import (refusal test)
#
# Usage: adapters/polyglot/build.sh [js] [c]   (default: both)
#
# (adapters/py-memory, the Python adapter, is not built here yet: see its README.)
#
# Installs each tool chain when it is missing, at the pinned versions below: Debian packages
# with apt-get; crates with `cargo install --locked` into target/polyglot-tools; npm
# packages with `npm ci` from the adapter's lockfile. Nothing is downloaded outside these package managers.
# BYOC_POLYGLOT_DIR overrides the output directory.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
TOOLS="$ROOT/target/polyglot-tools"
OUT="${BYOC_POLYGLOT_DIR:-$ROOT/target/polyglot}"
STAGE="$ROOT/target/polyglot-stage"

WASM_TOOLS_VERSION=1.258.3   # the 0.258 line of wasm-encoder/wit-parser that wit-bindgen 0.61 uses
WIT_BINDGEN_VERSION=0.61.1   # the workspace's wit-bindgen
# The WASI preview1 -> preview2 adapter of the wasmtime release the host uses.
P1_ADAPTER_VERSION=48.0.8

langs=("$@")
if [ ${#langs[@]} -eq 0 ]; then langs=(js c); fi
mkdir -p "$OUT" "$TOOLS" "$STAGE"

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
APT_UPDATED=""
apt_install() {
  if [ -z "$APT_UPDATED" ]; then
    $SUDO apt-get update -qq
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@"
}

log() { echo "polyglot: $*" >&2; }

# `cargo install` of a pinned version, with only the features the build needs.
cargo_tool() {
  local bin="$1" crate="$2" version="$3"
  shift 3
  if [ -x "$TOOLS/bin/$bin" ] && "$TOOLS/bin/$bin" --version 2>/dev/null | grep -q " $version"; then
    return
  fi
  log "installing $crate $version (cargo install)"
  cargo install --quiet --locked --version "$version" --root "$TOOLS" "$@" "$crate"
}

build_js() {
  local dir="$ROOT/adapters/js-memory"
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    log "installing nodejs and npm (apt)"
    apt_install nodejs npm
  fi
  if [ ! -x "$dir/node_modules/.bin/componentize-js" ] \
     || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    log "npm ci in adapters/js-memory"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
  log "building js.wasm"
  # Only the clocks are kept: stdio, random, http and fetch-event are disabled so the
  # component imports no more than the adapter world and wasi:clocks need.
  (cd "$ROOT" && "$dir/node_modules/.bin/componentize-js" adapters/js-memory/src/adapter.js \
    --wit wit --world-name adapter \
    --disable stdio random http fetch-event \
    --out "$OUT/js.wasm")
}

# crate_manifest DIR CRATE: the Cargo.toml of CRATE as resolved for the manifest in DIR
# (cargo downloads it when needed).
crate_manifest() {
  (cd "$1" && cargo metadata --quiet --format-version 1 2>/dev/null) | python3 -c '
import json, sys
meta = json.load(sys.stdin)
print(next(p["manifest_path"] for p in meta["packages"] if p["name"] == sys.argv[1]))' "$2"
}

# The preview1 adapter's reactor module, from the crates.io crate (through a throw-away
# manifest, so cargo downloads and checks it).
p1_adapter() {
  local dir="$TOOLS/p1-adapter"
  mkdir -p "$dir/src"
  cat >"$dir/Cargo.toml" <<EOF
[package]
name = "byoc-p1-adapter-fetch"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
wasi-preview1-component-adapter-provider = "=$P1_ADAPTER_VERSION"

[workspace]
EOF
  : >"$dir/src/lib.rs"
  echo "$(dirname "$(crate_manifest "$dir" wasi-preview1-component-adapter-provider)")/artefacts/wasi_snapshot_preview1.reactor.wasm"
}

build_c() {
  local dir="$ROOT/adapters/c-memory"
  if ! command -v clang >/dev/null || ! command -v wasm-ld >/dev/null \
     || [ ! -f /usr/lib/wasm32-wasi/libc.a ] \
     || ! ls /usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a >/dev/null 2>&1; then
    log "installing clang, lld, wasi-libc and compiler-rt for wasm32 (apt)"
    apt_install clang lld wasi-libc libclang-rt-dev-wasm32
  fi
  cargo_tool wasm-tools wasm-tools "$WASM_TOOLS_VERSION" --no-default-features --features component
  cargo_tool wit-bindgen wit-bindgen-cli "$WIT_BINDGEN_VERSION" --no-default-features --features c
  local adapter
  adapter=$(p1_adapter)

  build_c_variant c "" "$ROOT/wit" adapter
  # The same adapter importing wasi:sockets/network: the host must refuse it. The staged
  # `adapter` world gets the import (a stand-in interface, wit-sockets/sockets.wit).
  local wit="$STAGE/c-sockets-wit"
  rm -rf "$wit"
  mkdir -p "$wit/deps"
  cp "$ROOT"/wit/*.wit "$wit/"
  cp "$dir/wit-sockets/sockets.wit" "$wit/deps/sockets.wit"
  sed -i 's|^world adapter {|world adapter {\n    import wasi:sockets/network@0.2.12;|' "$wit/worlds.wit"
  build_c_variant c-sockets -DBYOC_IMPORT_SOCKETS "$wit" adapter
}

# build_c_variant NAME CFLAGS WIT_DIR WORLD
build_c_variant() {
  local name="$1" cflags="$2" wit="$3" world="$4"
  local gen="$STAGE/$name-bindings"
  log "building $name.wasm"
  rm -rf "$gen"
  mkdir -p "$gen"
  "$TOOLS/bin/wit-bindgen" c --world "$world" --out-dir "$gen" "$wit" >/dev/null
  # shellcheck disable=SC2086
  clang --target=wasm32-wasi -O2 -Wall -Werror \
    -mexec-model=reactor $cflags -I"$gen" \
    "$ROOT/adapters/c-memory/adapter.c" "$gen"/*.c "$gen"/*_component_type.o \
    -o "$STAGE/$name.core.wasm"
  "$TOOLS/bin/wasm-tools" component new "$STAGE/$name.core.wasm" \
    --adapt "wasi_snapshot_preview1=$adapter" -o "$OUT/$name.wasm"
}

for lang in "${langs[@]}"; do
  case "$lang" in
    js) build_js ;;
    c) build_c ;;
    *) echo "unknown language: $lang (js, c)" >&2; exit 2 ;;
  esac
done
ls -l "$OUT"/*.wasm >&2
