# BYOC recipes: thin wrappers over cargo. `just --list` shows them.

# Build the host and (through its build script) every wasm adapter.
build:
    cargo build --workspace

# Build the wasm adapters into target/wasm-adapters (the host's build script does it, each
# for its target: see host/byoc/build.rs).
adapters:
    cargo build -p byoc

# Build the JavaScript, C and Python adapters into target/polyglot (installs their tool chains).
polyglot:
    bash adapters/polyglot/build.sh

# The conformance suite on any adapter component: `just conformance path/to/adapter.wasm`.
# `--workspace` keeps the feature set of `cargo test --workspace`, so its build is reused
# (with `-p byoc-tests` cargo unifies other features and rebuilds wasmtime and the host).
conformance wasm:
    BYOC_CONFORMANCE_WASM="$(realpath {{wasm}})" cargo test --workspace --test integration polyglot::external

# Run every test (the README's test command).
test:
    cargo test --workspace

# The end-to-end demo on the embedded memory adapter.
demo:
    cargo run -p byoc-cli -- demo

# Serve the memory adapter over the HTTP cache protocol (token from BYOC_SERVE_TOKEN).
serve:
    cargo run -p byoc-cli -- serve --listen 127.0.0.1:7070

# Formatting and lints, as CI checks them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Everything CI runs.
ci:
    bash .ci/run

# Longer model-based property runs (random operation sequences per provider).
model cases="20000":
    BYOC_MODEL_CASES={{cases}} cargo test -p byoc-tests --test integration --release model::

# Longer property runs of the host's Redis import (arbitrary arguments; needs redis-server).
fuzz-redis cases="20000":
    BYOC_FUZZ_CASES={{cases}} cargo test -p byoc-redis --lib fuzz_tests --release

# Criterion benchmarks (bench profile): memory/filesystem baselines, component start and
# epoch cost, typed cache and near cache, Redis (latency, throughput, MGET), after the hits
# of BYOC and moka measured in alternation (`paired`). glibc's `rep movsb` memcpy is not
# used: on some AMD CPUs it makes large copies many times slower, at random per run and
# per code path (BENCHMARKS.md, Method).
no_rep_movsb := "GLIBC_TUNABLES=glibc.cpu.x86_rep_movsb_threshold=1073741824"
bench:
    {{no_rep_movsb}} cargo bench -p byoc-tests --bench paired
    {{no_rep_movsb}} cargo bench -p byoc-tests --bench memory
    {{no_rep_movsb}} cargo bench -p byoc-tests --bench start
    {{no_rep_movsb}} cargo bench -p byoc-tests --bench layers
    {{no_rep_movsb}} cargo bench -p byoc-tests --bench redis
    {{no_rep_movsb}} cargo bench -p byoc-tests --bench redis_paired
    {{no_rep_movsb}} cargo bench -p byoc-tests --bench polyglot
    {{no_rep_movsb}} cargo bench -p byoc-tests --bench serve
    {{no_rep_movsb}} cargo bench -p byoc-tests --bench scaling

# Hit ratios of the memory adapter's policies, exact LRU, ARC and moka on the synthetic
# suite (release build); `just hit-ratio-file FILE 1000 10000` replays a trace file.
hit-ratio:
    cargo run --release -p byoc-tests --example hit_ratio -- --synthetic

hit-ratio-file file +capacities:
    cargo run --release -p byoc-tests --example hit_ratio -- {{file}} {{capacities}}

# Rewrite host/workspace-hack/Cargo.toml after changing dependencies or features, so the
# demo, tests, clippy and rustdoc share one build of every dependency.
unify:
    python3 host/workspace-hack/generate.py

# Fetch the public block traces of BENCHMARKS.md "Hit ratio" into target/traces (git, zstd,
# python3), then replay one: `cargo run --release -p byoc-tests --example hit_ratio --
# target/traces/OLTP.lis 1000 5000 --native`.
traces dir="target/traces":
    bash tests/data/traces/fetch.sh {{dir}}
