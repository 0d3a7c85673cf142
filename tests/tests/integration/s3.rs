//! The S3 adapter: conformance and the model against moto, interop with a plain signed
//! HTTP client against moto and s3rver, `denied` on a rejected signature, the grant, and
//! faults (down, slow, 5xx) from a scripted listener. (s3rver stopped answering during
//! the conformance suite, so it is the cross-check for interop only.)

use byoc::{AdapterConfig, ConfigValue, Error, Provider, Registry, builtin};
use byoc_tests::cloud::{self, ANY_ACCESS_KEY, ANY_SECRET, S3RVER_KEY, Signer, scripted};
use std::sync::Arc;
use std::time::Duration;

fn text(v: &str) -> ConfigValue {
    ConfigValue::Text(v.into())
}

/// A config for a fresh bucket on `endpoint` with `key` / `secret`.
fn config(endpoint: &str, bucket: &str, key: &str, secret: &str) -> AdapterConfig {
    cloud::aws_config(endpoint, key, secret)
        .with("bucket", text(bucket))
        .with("prefix", text("cache/"))
        .with("create-bucket", ConfigValue::Boolean(true))
}

async fn create(config: AdapterConfig) -> byoc::Result<Arc<dyn Provider>> {
    Registry::new()?.create("s3", config).await
}

/// A provider on a fresh bucket of the shared moto server, or `None` (skipped).
/// (No prefix: the suite's 1024-byte key is S3's longest object name.)
async fn on_moto() -> Option<Arc<dyn Provider>> {
    let endpoint = cloud::moto("s3")?;
    let bucket = cloud::unique("byoc");
    Some(
        create(config(&endpoint, &bucket, ANY_ACCESS_KEY, ANY_SECRET).with("prefix", text("")))
            .await
            .expect("s3 on moto"),
    )
}

/// Every case but `scan_pages_10k_keys_exactly_once`: S3 has no batch write, and 10k
/// sequential PUTs exceed the call deadline and CI's time (scans page in `interop`).
macro_rules! s3_conformance {
    ($factory:expr) => {
        byoc_tests::conformance_tests!(@cases $factory;
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
            scan_rejects_bad_cursor_and_pattern,
            clear_removes_everything,
            stats_count_hits_and_misses,
            ping_and_info,
            atomics_increment,
            atomics_compare_and_swap,
            atomics_concurrent
        );
    };
}

mod conformance_moto {
    s3_conformance!(super::on_moto);
}

/// Random operation sequences against the model (`BYOC_CLOUD_MODEL_CASES`).
#[test]
fn moto_matches_the_model() {
    cloud::run_model(cloud::model_cases(), on_moto());
}

/// Entries written by BYOC are plain objects a signed GetObject reads, with the expiry in
/// the object's metadata; objects a plain PutObject writes are entries BYOC reads.
async fn interop(endpoint: &str, key: &str, secret: &str) {
    let bucket = cloud::unique("byoc");
    let p = create(config(endpoint, &bucket, key, secret))
        .await
        .expect("provider");
    p.set("user:1", b"hello", None).await.expect("set");
    p.set("short", b"x", Some(Duration::from_secs(60)))
        .await
        .expect("set ttl");
    let signer = Signer::new("s3", key, secret);
    let endpoint = endpoint.to_owned();
    let (plain, meta, put) = tokio::task::spawn_blocking(move || {
        let get = |object: &str| {
            cloud::send(
                &endpoint,
                Some(&signer),
                "GET",
                &format!("/{bucket}/{}", byoc_sigv4::uri_encode(object, false)),
                &[],
                &[],
                b"",
            )
            .expect("plain GET")
        };
        let plain = get("cache/user%3A1");
        let meta = get("cache/short");
        let put = cloud::send(
            &endpoint,
            Some(&signer),
            "PUT",
            &format!(
                "/{bucket}/{}",
                byoc_sigv4::uri_encode("cache/from%20plain", false)
            ),
            &[],
            &[],
            b"written by hand",
        )
        .expect("plain PUT");
        (plain, meta, put)
    })
    .await
    .expect("join");
    assert_eq!(plain.status, 200, "{plain:?}");
    assert_eq!(plain.body, b"hello");
    let expires: u64 = meta
        .header("x-amz-meta-byoc-expires-at")
        .expect("expiry metadata")
        .parse()
        .expect("number");
    assert!(expires > 0);
    assert_eq!(put.status, 200, "{put:?}");
    assert_eq!(
        p.get("from plain").await.expect("get"),
        Some(b"written by hand".to_vec())
    );
    let mut keys = p.keys("*").await.expect("keys");
    keys.sort();
    assert_eq!(keys, ["from plain", "short", "user:1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_with_a_plain_client_on_moto() {
    if let Some(endpoint) = cloud::moto("s3") {
        interop(&endpoint, ANY_ACCESS_KEY, ANY_SECRET).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_with_a_plain_client_on_s3rver() {
    if let Some(endpoint) = cloud::s3rver("s3") {
        interop(&endpoint, S3RVER_KEY, S3RVER_KEY).await;
    }
}

/// A store that rejects the signature (as S3 does for a wrong secret) gives `denied` for
/// reads of present and missing keys alike, never a miss. (s3rver, which claims to check
/// signatures, accepted a wrong secret here, so a scripted listener answers as S3 does.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_denied() {
    let (endpoint, _) = scripted(Some(
        "HTTP/1.1 403 Forbidden\r\ncontent-type: application/xml\r\ncontent-length: 70\r\n\r\n<Error><Code>SignatureDoesNotMatch</Code><Message>no</Message></Error>",
    ))
    .await;
    let p = unchecked(&endpoint, 2000).await;
    for (what, r) in [
        ("get", p.get("k").await.map(drop)),
        ("exists", p.exists("k").await.map(drop)),
        ("set", p.set("k", b"w", None).await.map(drop)),
    ] {
        assert!(matches!(r, Err(Error::Denied(_))), "{what}: {r:?}");
    }
}

/// A provider for `endpoint` that does not touch the store when opened.
async fn unchecked(endpoint: &str, timeout_ms: u64) -> Arc<dyn Provider> {
    create(
        config(endpoint, "bucket", ANY_ACCESS_KEY, ANY_SECRET)
            .with("create-bucket", ConfigValue::Boolean(false))
            .with("timeout", ConfigValue::DurationMs(timeout_ms)),
    )
    .await
    .expect("provider")
}

byoc_tests::cloud_fault_tests!(
    open: unchecked,
    errors: [
        "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n",
        "HTTP/1.1 503 Slow Down\r\ncontent-length: 47\r\n\r\n<Error><Code>SlowDown</Code><Message/></Error>\n",
    ],
    ungranted: ("s3", builtin::S3_ADAPTER, |target: &str| {
        config(target, "bucket", ANY_ACCESS_KEY, ANY_SECRET)
            .with("create-bucket", ConfigValue::Boolean(false))
    }),
);

/// Requests reuse pooled connections (counted by a proxy in front of s3rver; moto closes
/// every connection after one answer). One caller: s3rver fails requests under 32
/// concurrent callers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_reused() {
    let Some(endpoint) = cloud::s3rver("s3") else {
        return;
    };
    let proxy = cloud::CountingProxy::start(&endpoint).await;
    let bucket = cloud::unique("byoc");
    let p = create(config(&proxy.url, &bucket, S3RVER_KEY, S3RVER_KEY))
        .await
        .expect("provider");
    cloud::assert_connections_reused(p, &proxy, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_errors_are_clear() {
    for (field, value) in [("bucket", "No_Such"), ("addressing", "sideways")] {
        let r = create(
            config("http://127.0.0.1:1", "bucket", "a", "b")
                .with("create-bucket", ConfigValue::Boolean(false))
                .with(field, text(value)),
        )
        .await;
        assert!(
            matches!(r, Err(Error::InvalidConfig(ref m)) if m.contains(value)),
            "{field}: {:?}",
            r.err()
        );
    }
    let r = create(
        AdapterConfig::new()
            .with("bucket", text("bucket"))
            .with("access-key-id", text("only-the-id")),
    )
    .await;
    assert!(matches!(r, Err(Error::InvalidConfig(_))), "{:?}", r.err());
}
