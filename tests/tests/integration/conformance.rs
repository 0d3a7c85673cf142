//! The conformance suite against every provider this repository builds.

mod wasm_memory {
    byoc_tests::conformance_tests!(|| async {
        byoc::Registry::new()
            .expect("runtime")
            .create("memory", byoc::AdapterConfig::new())
            .await
            .expect("memory adapter")
    });
}

mod wasm_memory_one_partition {
    byoc_tests::conformance_tests!(|| async {
        let registry = byoc::Registry::new().expect("runtime");
        let runtime = registry.runtime();
        let component = runtime
            .load("memory", byoc::builtin::MEMORY_ADAPTER)
            .expect("load");
        let provider = byoc::WasmProvider::builder(runtime, component)
            .partitions(1)
            .build()
            .await
            .expect("memory adapter");
        std::sync::Arc::new(provider) as std::sync::Arc<dyn byoc::Provider>
    });
}

/// A component file named in configuration: loaded by path (and pinned) through the
/// registry, as a third party's adapter would be, behind the swap and metrics layers a
/// configured cache gets.
mod component_file {
    byoc_tests::conformance_tests!(|| async {
        let dir = crate::temp_dir();
        std::fs::write(
            dir.path().join("memory.wasm"),
            byoc::builtin::MEMORY_ADAPTER,
        )
        .expect("write");
        let sha = byoc::wasm::sha256_hex(byoc::builtin::MEMORY_ADAPTER);
        let text = format!(
            "caches:\n  - name: c\n    provider: memory.wasm\n    sha256: {sha}\n    partitions: 2\n"
        );
        let file = byoc::ConfigFile::parse_with_env(
            &text,
            "conformance.yaml",
            dir.path(),
            Default::default(),
        )
        .expect("config");
        let caches = byoc::Caches::open(&file, byoc::Registry::new().expect("runtime"))
            .await
            .expect("caches");
        caches.provider("c").expect("cache")
    });
}

mod native_memory {
    byoc_tests::conformance_tests!(|| async {
        byoc::Registry::new()
            .expect("runtime")
            .create("native-memory", byoc::AdapterConfig::new())
            .await
            .expect("native provider")
    });
}

/// The memory adapter on a runtime with the pooling instance allocator (one runtime,
/// shared by every case).
mod wasm_memory_pooling_allocator {
    fn runtime() -> byoc::Runtime {
        static RUNTIME: std::sync::OnceLock<byoc::Runtime> = std::sync::OnceLock::new();
        RUNTIME
            .get_or_init(|| {
                byoc::Runtime::new(byoc::RuntimeConfig {
                    pooling_allocator: Some(256),
                    ..Default::default()
                })
                .expect("pooling runtime")
            })
            .clone()
    }

    byoc_tests::conformance_tests!(|| async {
        byoc::Registry::with_runtime(runtime())
            .create("memory", byoc::AdapterConfig::new())
            .await
            .expect("memory adapter")
    });

    /// Slots of the pool are reused with their first pages kept resident (zeroed in
    /// place): an instance in a reused slot sees none of its predecessor's data.
    #[tokio::test]
    async fn a_reused_slot_starts_empty() {
        use byoc::Provider;
        let runtime = byoc::Runtime::new(byoc::RuntimeConfig {
            pooling_allocator: Some(1),
            ..Default::default()
        })
        .expect("pooling runtime of one slot");
        let component = byoc::builtin::load_memory_adapter(&runtime).expect("component");
        for round in 0..3 {
            // One slot: each provider's instance takes the slot its predecessor freed.
            let p = byoc::WasmProvider::builder(&runtime, component.clone())
                .partitions(1)
                .build()
                .await
                .expect("memory adapter");
            assert_eq!(p.get("secret").await.expect("get"), None, "round {round}");
            assert_eq!(p.stats().await.expect("stats").keys, 0, "round {round}");
            p.set("secret", &[0xAB; 48 * 1024], None)
                .await
                .expect("set");
            assert!(p.get("secret").await.expect("get").is_some());
        }
    }
}
