//! Test support for BYOC: the provider conformance suite and shared helpers.
//!
//! Every provider — wasm adapters, native providers, wrappers — runs the same suite:
//!
//! ```ignore
//! byoc_tests::conformance_tests!(|| async { make_a_fresh_provider().await });
//! ```
//!
//! expands to one `#[tokio::test]` per case in [`conformance`], each on a fresh provider.

pub mod bench;
pub mod cloud;
pub mod conformance;
mod hooked;
pub mod model;
pub mod postgres_server;
pub mod redis_server;
pub mod service;
pub mod wat_hostile;

pub use hooked::{Guard, Holding, Hook, Hooked, Op, without_atomics};

/// Whether tests must fail instead of skipping when an external service is missing
/// (`BYOC_REQUIRE_SERVICES=1`, set by `.ci/run`).
pub fn services_required() -> bool {
    std::env::var("BYOC_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// What a conformance factory may return: a provider, or `None` when the test is skipped
/// (a missing external service; the factory prints why).
pub trait MaybeProvider {
    /// The provider, if any.
    fn provider(self) -> Option<std::sync::Arc<dyn byoc::Provider>>;
}

impl MaybeProvider for std::sync::Arc<dyn byoc::Provider> {
    fn provider(self) -> Option<std::sync::Arc<dyn byoc::Provider>> {
        Some(self)
    }
}

impl MaybeProvider for Option<std::sync::Arc<dyn byoc::Provider>> {
    fn provider(self) -> Option<std::sync::Arc<dyn byoc::Provider>> {
        self
    }
}

/// Expands to one test per conformance case. `$factory` is an expression yielding a
/// closure that returns a future of a fresh `Arc<dyn Provider>` (or of an
/// `Option<Arc<dyn Provider>>`, `None` skipping the case).
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr) => {
        $crate::conformance_tests!(@cases $factory;
            get_set_roundtrip,
            overwrite_and_delete,
            exists_tracks_liveness,
            empty_value_is_not_missing,
            binary_values_every_byte,
            one_mib_value,
            unicode_keys,
            longest_key_is_accepted,
            invalid_keys_are_typed_errors,
            oversized_value_is_rejected_and_keeps_old,
            ttl_expiry_is_observed,
            ttl_decreases,
            zero_ttl_is_rejected,
            expire_changes_lifetime,
            multi_ops_with_partial_hits,
            set_multi_validates_before_storing,
            glob_patterns,
            tagged_entries_miss_after_invalidation,
            scan_pages_10k_keys_exactly_once,
            scan_rejects_bad_cursor_and_pattern,
            clear_removes_everything,
            stats_count_hits_and_misses,
            ping_and_info,
            atomics_increment,
            atomics_compare_and_swap,
            atomics_concurrent
        );
    };
    (@cases $factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let factory = $factory;
                let Some(provider) = $crate::MaybeProvider::provider(factory().await) else {
                    return; // skipped (the factory printed why)
                };
                $crate::conformance::$case(provider).await;
            }
        )*
    };
}
