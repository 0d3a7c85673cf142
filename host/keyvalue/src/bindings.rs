//! Host bindings of the vendored `wasi:keyvalue/imports` world.

wasmtime::component::bindgen!({
    path: "../../wit/keyvalue",
    world: "wasi:keyvalue/imports",
    imports: { default: async | trappable },
    with: {
        "wasi:keyvalue/store.bucket": crate::host::OpenBucket,
    },
});
