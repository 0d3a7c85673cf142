# BYOC recipes: thin wrappers over cargo. `just --list` shows them.

# Build the host and (through its build script) every wasm adapter.
build:
    cargo build --workspace

# Build only the wasm adapters into target/wasm-adapters.
adapters:
    cargo build --target wasm32-wasip2 --profile adapter --target-dir target/wasm-adapters -p byoc-adapter-memory -p byoc-adapter-filesystem -p byoc-adapter-http -p byoc-adapter-redis -p byoc-adapter-encryption -p byoc-adapter-tiered -p byoc-adapter-fallback -p byoc-adapter-hostile -p byoc-adapter-hostile-net

# Run every test (the README's test command).
test:
    cargo test --workspace

# The end-to-end demo on the embedded memory adapter.
demo:
    cargo run -p byoc -- demo

# Serve the memory adapter over the HTTP cache protocol (token from BYOC_SERVE_TOKEN).
serve:
    cargo run -p byoc -- serve --listen 127.0.0.1:7070

# Formatting and lints, as CI checks them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Everything CI runs.
ci:
    bash .ci/run

# Longer model-based property runs (random operation sequences per provider).
model cases="20000":
    BYOC_MODEL_CASES={{cases}} cargo test -p byoc-tests --test model --release

# Criterion benchmarks (bench profile): memory/filesystem baselines, component start and
# epoch cost, typed cache and near cache, Redis (latency, throughput, MGET).
bench:
    cargo bench -p byoc-tests --bench memory
    cargo bench -p byoc-tests --bench start
    cargo bench -p byoc-tests --bench layers
    cargo bench -p byoc-tests --bench redis
