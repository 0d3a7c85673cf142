//! The DynamoDB adapter against moto and dynalite: conformance, the model, interop with a
//! plain signed HTTP client, the grant, and faults (throttling, 5xx, down, slow) from a
//! scripted listener.

use byoc::{AdapterConfig, ConfigValue, Error, Provider, Registry, builtin};
use byoc_tests::cloud::{self, ANY_ACCESS_KEY, ANY_SECRET, Signer};
use std::sync::Arc;
use std::time::Duration;

fn text(v: &str) -> ConfigValue {
    ConfigValue::Text(v.into())
}

/// A config for a fresh table on `endpoint`.
fn config(endpoint: &str, table: &str) -> AdapterConfig {
    cloud::aws_config(endpoint, ANY_ACCESS_KEY, ANY_SECRET)
        .with("table", text(table))
        .with("namespace", text("cache:"))
        .with("create-table", ConfigValue::Boolean(true))
}

async fn create(config: AdapterConfig) -> byoc::Result<Arc<dyn Provider>> {
    Registry::new()?.create("dynamodb", config).await
}

async fn on(endpoint: Option<String>) -> Option<Arc<dyn Provider>> {
    let endpoint = endpoint?;
    let table = cloud::unique("byoc");
    Some(
        create(config(&endpoint, &table))
            .await
            .expect("dynamodb provider"),
    )
}

async fn on_moto() -> Option<Arc<dyn Provider>> {
    on(cloud::moto("dynamodb")).await
}

async fn on_dynalite() -> Option<Arc<dyn Provider>> {
    on(cloud::dynalite("dynamodb")).await
}

/// Every case but `one_mib_value`: DynamoDB items are at most 400 KB
/// (`values_over_the_item_limit_are_too_large` checks the error instead).
macro_rules! dynamo_conformance {
    ($factory:expr) => {
        byoc_tests::conformance_tests!(@cases $factory;
            get_set_roundtrip,
            overwrite_and_delete,
            exists_tracks_liveness,
            empty_value_is_not_missing,
            binary_values_every_byte,
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
}

mod conformance_moto {
    dynamo_conformance!(super::on_moto);
}

mod conformance_dynalite {
    dynamo_conformance!(super::on_dynalite);
}

#[test]
fn moto_matches_the_model() {
    cloud::run_model(cloud::model_cases(), on_moto());
}

#[test]
fn dynalite_matches_the_model() {
    cloud::run_model(cloud::model_cases(), on_dynalite());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_over_the_item_limit_are_too_large() {
    let Some(p) = on_moto().await else {
        return;
    };
    p.set("k", b"old", None).await.expect("set");
    let r = p.set("k", &vec![1u8; 1 << 20], None).await;
    assert!(matches!(r, Err(Error::ValueTooLarge(_))), "{r:?}");
    assert_eq!(p.get("k").await.expect("get"), Some(b"old".to_vec()));
    let big = vec![2u8; 300 << 10];
    p.set("big", &big, None).await.expect("300 KiB fits");
    assert_eq!(p.get("big").await.expect("get"), Some(big));
}

/// What BYOC writes is an item a plain GetItem reads (binary value, TTL attributes), and
/// an item a plain PutItem writes is an entry BYOC reads.
async fn interop(endpoint: &str) {
    let table = cloud::unique("byoc");
    let p = create(config(endpoint, &table)).await.expect("provider");
    p.set("user:1", b"hello", Some(Duration::from_secs(60)))
        .await
        .expect("set");
    let signer = Signer::new("dynamodb", ANY_ACCESS_KEY, ANY_SECRET);
    let endpoint = endpoint.to_owned();
    let t = table.clone();
    let (got, put) = tokio::task::spawn_blocking(move || {
        let call = |target: &str, body: String| {
            cloud::send(
                &endpoint,
                Some(&signer),
                "POST",
                "/",
                &[],
                &[
                    ("content-type", "application/x-amz-json-1.0"),
                    ("x-amz-target", &format!("DynamoDB_20120810.{target}")),
                ],
                body.as_bytes(),
            )
            .expect("plain request")
        };
        let got = call(
            "GetItem",
            format!(r#"{{"TableName":"{t}","Key":{{"pk":{{"S":"cache:user:1"}}}}}}"#),
        );
        // "d3JpdHRlbiBieSBoYW5k" is base64 of "written by hand".
        let put = call(
            "PutItem",
            format!(
                r#"{{"TableName":"{t}","Item":{{"pk":{{"S":"cache:from plain"}},"val":{{"B":"d3JpdHRlbiBieSBoYW5k"}}}}}}"#
            ),
        );
        (got, put)
    })
    .await
    .expect("join");
    assert_eq!(got.status, 200, "{got:?}");
    let body = String::from_utf8_lossy(&got.body);
    // "aGVsbG8=" is base64 of "hello".
    assert!(
        body.contains(r#""val": {"B": "aGVsbG8="}"#) || body.contains(r#""val":{"B":"aGVsbG8="}"#),
        "{body}"
    );
    assert!(body.contains("ttl_s") && body.contains("exp_ms"), "{body}");
    assert_eq!(put.status, 200, "{put:?}");
    assert_eq!(
        p.get("from plain").await.expect("get"),
        Some(b"written by hand".to_vec())
    );
    let mut keys = p.keys("*").await.expect("keys");
    keys.sort();
    assert_eq!(keys, ["from plain", "user:1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_with_a_plain_client_on_moto() {
    if let Some(endpoint) = cloud::moto("dynamodb") {
        interop(&endpoint).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_with_a_plain_client_on_dynalite() {
    if let Some(endpoint) = cloud::dynalite("dynamodb") {
        interop(&endpoint).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_share_a_table() {
    let Some(endpoint) = cloud::moto("dynamodb") else {
        return;
    };
    let table = cloud::unique("byoc");
    let a = create(config(&endpoint, &table)).await.expect("a");
    let b = create(config(&endpoint, &table).with("namespace", text("other:")))
        .await
        .expect("b");
    a.set("k", b"a", None).await.expect("set a");
    b.set("k", b"b", None).await.expect("set b");
    a.clear().await.expect("clear a");
    assert_eq!(a.get("k").await.expect("get a"), None);
    assert_eq!(b.get("k").await.expect("get b"), Some(b"b".to_vec()));
    assert_eq!(b.keys("*").await.expect("keys"), ["k"]);
}

/// Requests reuse pooled connections (counted by a proxy in front of dynalite; moto
/// closes every connection after one answer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_reused() {
    let Some(endpoint) = cloud::dynalite("dynamodb") else {
        return;
    };
    let proxy = cloud::CountingProxy::start(&endpoint).await;
    let table = cloud::unique("byoc");
    let p = create(config(&proxy.url, &table)).await.expect("provider");
    cloud::assert_connections_reused(p, &proxy, 32).await;
}

async fn unchecked(endpoint: &str, timeout_ms: u64) -> Arc<dyn Provider> {
    create(
        config(endpoint, "table")
            .with("create-table", ConfigValue::Boolean(false))
            .with("timeout", ConfigValue::DurationMs(timeout_ms)),
    )
    .await
    .expect("provider")
}

const THROTTLED: &str = "HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: 98\r\n\r\n{\"__type\":\"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException\",\"message\":\"x\"}";

byoc_tests::cloud_fault_tests!(
    open: unchecked,
    errors: [
        THROTTLED,
        "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n",
    ],
    ungranted: ("dynamodb", builtin::DYNAMODB_ADAPTER, |target: &str| {
        config(target, "table").with("create-table", ConfigValue::Boolean(false))
    }),
);

#[test]
fn the_throttling_answer_is_well_formed() {
    assert_eq!(THROTTLED.split("\r\n\r\n").nth(1).map(str::len), Some(98));
}
