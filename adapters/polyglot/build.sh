#!/usr/bin/env bash
# Builds the adapters written in JavaScript, C and Python into components:
#
#   target/polyglot/js.wasm         adapters/js-memory  (componentize-js, npm)
#   target/polyglot/c.wasm          adapters/c-memory   (wit-bindgen c + clang + wasm-tools)
#   target/polyglot/c-sockets.wasm  the C adapter with a wasi:sockets import (refusal test)
#   target/polyglot/py.wasm         adapters/py-memory  (componentize-py, PyPI; wac plug)
#
# Usage: adapters/polyglot/build.sh [js] [c] [py]   (default: all three)
#
# Installs each tool chain when it is missing, at the pinned versions below: Debian packages
# with apt-get; crates with `cargo install --locked` into target/polyglot-tools; npm
# packages with `npm ci` from the adapter's lockfile; PyPI packages with pip, from the
# adapter's requirements.txt, into the virtualenv target/polyglot-tools/venv. Nothing is
# downloaded outside these package managers.
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
WAC_VERSION=0.12.0           # wac-cli, for `wac plug` (the Python adapter's socket stub)

langs=("$@")
if [ ${#langs[@]} -eq 0 ]; then langs=(js c py); fi
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

# `cargo install` of a pinned version, with only the features the build needs. Built in
# the dev profile without debug info, all of them in one target dir (they share many of
# the wasm-tools crates), which is removed once the tools are in place: building them
# optimised took a large share of a CI run, for tools that run for a few seconds in all
# (BENCHMARKS.md, "Design choices").
cargo_tool() {
  local bin="$1" crate="$2" version="$3"
  shift 3
  if [ -x "$TOOLS/bin/$bin" ] && "$TOOLS/bin/$bin" --version 2>/dev/null | grep -q " $version"; then
    return
  fi
  log "installing $crate $version (cargo install)"
  CARGO_TARGET_DIR="$TOOLS/build" CARGO_PROFILE_DEV_DEBUG=false CARGO_INCREMENTAL=0 \
    cargo install --quiet --locked --debug --version "$version" --root "$TOOLS" "$@" "$crate"
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

# The Python adapter. componentize-py links CPython and its wasi-libc, which import
# wasi:sockets/* whether or not the app opens a socket, and the host refuses a component
# importing them (byoc::wasm::ALLOWED_IMPORTS). `--stub-wasi` would stub every WASI import,
# the monotonic clock the adapter's TTLs need included, and `--intersect-world` leaves the
# runtime's own imports alone. So the component is built with its full imports
# (py-raw.wasm), then only the socket imports are satisfied, inside the component, by a stub
# whose functions trap (`wasm-tools component embed --dummy` on a world exporting exactly
# the wasi:sockets interfaces py-raw.wasm imports, at its versions), composed in with
# `wac plug`. The app never calls them: they would trap only if Python code used a socket.
build_py() {
  local dir="$ROOT/adapters/py-memory" venv="$TOOLS/venv"
  if ! command -v python3 >/dev/null || ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    log "installing python3 and python3-venv (apt)"
    apt_install python3 python3-venv
  fi
  # (Re)created when missing, moved (its scripts name their path) or out of date.
  if ! "$venv/bin/componentize-py" --version >/dev/null 2>&1 \
     || ! cmp -s "$dir/requirements.txt" "$venv/byoc-requirements.txt"; then
    log "pip install -r adapters/py-memory/requirements.txt (into target/polyglot-tools/venv)"
    python3 -m venv --clear "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      -r "$dir/requirements.txt"
    cp "$dir/requirements.txt" "$venv/byoc-requirements.txt"
  fi
  cargo_tool wasm-tools wasm-tools "$WASM_TOOLS_VERSION" --no-default-features --features component
  cargo_tool wac wac-cli "$WAC_VERSION" --no-default-features

  log "building py.wasm"
  # World `adapter` of the project's wit/: no WASI WIT is needed, the app reads the clock
  # through Python's `time` module (wasi-libc imports wasi:clocks itself).
  (cd "$dir" && "$venv/bin/componentize-py" -d "$ROOT/wit" -w adapter \
    componentize app -p "$dir" -o "$STAGE/py-raw.wasm" >/dev/null)

  # The stub's world: py-raw.wasm's own WIT (every package it uses, at the versions it
  # uses), its root world replaced by one exporting the wasi:sockets interfaces it imports.
  "$TOOLS/bin/wasm-tools" component wit "$STAGE/py-raw.wasm" \
    | python3 "$ROOT/adapters/polyglot/sockets_stub_wit.py" >"$STAGE/py-sockets-stub.wit"
  "$TOOLS/bin/wasm-tools" component embed --dummy --world sockets-stub \
    "$STAGE/py-sockets-stub.wit" -o "$STAGE/py-sockets-stub.core.wasm"
  "$TOOLS/bin/wasm-tools" component new "$STAGE/py-sockets-stub.core.wasm" \
    -o "$STAGE/py-sockets-stub.wasm"
  "$TOOLS/bin/wac" plug "$STAGE/py-raw.wasm" --plug "$STAGE/py-sockets-stub.wasm" \
    -o "$STAGE/py.wasm"
  if "$TOOLS/bin/wasm-tools" component wit "$STAGE/py.wasm" | grep -q '^  import wasi:sockets/'; then
    echo "py.wasm still imports wasi:sockets after wac plug" >&2
    exit 1
  fi
  mv "$STAGE/py.wasm" "$OUT/py.wasm"
}

for lang in "${langs[@]}"; do
  case "$lang" in
    js) build_js ;;
    c) build_c ;;
    py) build_py ;;
    *) echo "unknown language: $lang (js, c, py)" >&2; exit 2 ;;
  esac
done
rm -rf "$TOOLS/build"
ls -l "$OUT"/*.wasm >&2
