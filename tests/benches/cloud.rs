//! S3, DynamoDB and etcd through the BYOC adapters against a native client sending the
//! same requests (hyper over one kept-alive connection, signed with the same `byoc-sigv4`
//! code for S3 and DynamoDB), on the same server (moto; a private etcd), in the same run:
//! get and set of one key, and get_multi(100) (DynamoDB BatchGetItem, an etcd transaction
//! of 100 ranges; S3 has no multi-get, so 100 GetObjects). The native etcd client decodes
//! the JSON and base64 answers as the adapter does.
//!
//! `cargo bench -p byoc-tests --bench cloud`. Skips a server (prints why) when
//! `moto_server` or `etcd` is not on `PATH`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use byoc::{AdapterConfig, ConfigValue, Provider, Registry};
use byoc_sigv4::{Credentials, Scope};
use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::hint::black_box;
use std::sync::Arc;

const VALUE: &[u8] = &[7u8; 100];
const MULTI: usize = 100;
const KEY: &str = "AKIDBENCH";
const SECRET: &str = "bench-secret";

/// A native client: one HTTP/1.1 connection (opened again when the server closed it, as
/// moto does after every answer), every request signed but etcd's.
struct Native {
    authority: String,
    service: &'static str,
    sender: SendRequest<Full<Bytes>>,
}

async fn handshake(authority: &str) -> SendRequest<Full<Bytes>> {
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    sender
}

impl Native {
    async fn connect(endpoint: &str, service: &'static str) -> Native {
        let authority = endpoint.trim_start_matches("http://").to_owned();
        let sender = handshake(&authority).await;
        Native {
            authority,
            service,
            sender,
        }
    }

    /// POSTs JSON to etcd's gateway; the answer parsed.
    async fn etcd(&mut self, path: &str, body: &serde_json::Value) -> serde_json::Value {
        let body = serde_json::to_vec(body).expect("json");
        let answer = self
            .send("POST", path, &[("content-type", "application/json")], &body)
            .await;
        serde_json::from_slice(&answer).expect("json answer")
    }

    async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Vec<u8> {
        let payload = byoc_sigv4::sha256_hex(body);
        let mut all: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        if self.service != "etcd" {
            self.sign(method, path, &payload, &mut all);
        }
        let build = || {
            let mut request = hyper::Request::builder()
                .method(method)
                .uri(path)
                .header("host", &self.authority);
            for (n, v) in &all {
                request = request.header(n.as_str(), v.as_str());
            }
            request
                .body(Full::new(Bytes::copy_from_slice(body)))
                .expect("request")
        };
        let request = build();
        if self.sender.ready().await.is_err() {
            self.sender = handshake(&self.authority).await;
        }
        let response = match self.sender.send_request(request).await {
            Ok(response) => response,
            // Closed by the server between the check and the send.
            Err(_) => {
                let request = build();
                self.sender = handshake(&self.authority).await;
                self.sender.send_request(request).await.expect("send")
            }
        };
        assert!(response.status().is_success(), "{}", response.status());
        response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec()
    }

    fn sign(&self, method: &str, path: &str, payload: &str, all: &mut Vec<(String, String)>) {
        if self.service == "s3" {
            all.push(("x-amz-content-sha256".into(), payload.to_owned()));
        }
        let mut to_sign = all.clone();
        to_sign.push(("host".into(), self.authority.clone()));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let signed = byoc_sigv4::sign(
            &Credentials {
                access_key_id: KEY.into(),
                secret_access_key: SECRET.into(),
                session_token: None,
            },
            &Scope {
                region: "us-east-1",
                service: self.service,
            },
            &byoc_sigv4::amz_date(now),
            &byoc_sigv4::Request {
                method,
                path,
                query: &[],
                headers: &to_sign,
                payload_sha256: payload,
            },
        );
        all.extend(signed.headers());
    }
}

fn text(v: &str) -> ConfigValue {
    ConfigValue::Text(v.into())
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio");
    let registry = Registry::new().expect("runtime");
    if let Some(endpoint) = byoc_tests::cloud::moto("cloud benchmark") {
        aws(c, &rt, &registry, &endpoint);
    }
    if let Some(endpoint) = byoc_tests::cloud::etcd("cloud benchmark") {
        etcd(c, &rt, &registry, &endpoint);
    }
}

fn etcd(c: &mut Criterion, rt: &tokio::runtime::Runtime, registry: &Registry, endpoint: &str) {
    let p: Arc<dyn Provider> = rt
        .block_on(
            registry.create(
                "etcd",
                AdapterConfig::new()
                    .with("endpoint", text(endpoint))
                    .with("namespace", text("bench/")),
            ),
        )
        .expect("etcd provider");
    let keys: Vec<String> = (0..MULTI).map(|i| format!("k{i}")).collect();
    rt.block_on(async {
        for k in &keys {
            p.set(k, VALUE, None).await.expect("seed etcd");
        }
    });
    let mut native = rt.block_on(Native::connect(endpoint, "etcd"));
    let key = |k: &str| B64.encode(format!("bench/{k}"));
    let value = |kv: &serde_json::Value| {
        B64.decode(kv["value"].as_str().unwrap_or_default())
            .expect("base64")
    };
    let range = serde_json::json!({ "key": key("k1") });
    let put = serde_json::json!({ "key": key("k1"), "value": B64.encode(VALUE) });
    let txn = serde_json::json!({
        "success": keys
            .iter()
            .map(|k| serde_json::json!({ "request_range": { "key": key(k) } }))
            .collect::<Vec<_>>(),
    });

    let mut group = c.benchmark_group("cloud");
    group.bench_function("etcd/get/byoc", |b| {
        b.to_async(rt)
            .iter(|| async { black_box(p.get("k1").await.expect("get")) })
    });
    group.bench_function("etcd/get/native", |b| {
        b.iter(|| {
            let answer = rt.block_on(native.etcd("/v3/kv/range", &range));
            black_box(value(&answer["kvs"][0]))
        })
    });
    group.bench_function("etcd/set/byoc", |b| {
        b.to_async(rt)
            .iter(|| async { p.set("k1", VALUE, None).await.expect("set") })
    });
    group.bench_function("etcd/set/native", |b| {
        b.iter(|| black_box(rt.block_on(native.etcd("/v3/kv/put", &put))))
    });
    group.bench_function("etcd/get_multi_100/byoc", |b| {
        b.to_async(rt)
            .iter(|| async { black_box(p.get_multi(&keys).await.expect("get_multi")) })
    });
    group.bench_function("etcd/get_multi_100/native", |b| {
        b.iter(|| {
            let answer = rt.block_on(native.etcd("/v3/kv/txn", &txn));
            let values: Vec<Vec<u8>> = answer["responses"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| value(&r["response_range"]["kvs"][0]))
                .collect();
            black_box(values)
        })
    });
    group.finish();
}

fn aws(c: &mut Criterion, rt: &tokio::runtime::Runtime, registry: &Registry, endpoint: &str) {
    let endpoint = endpoint.to_owned();
    let s3: Arc<dyn Provider> = rt
        .block_on(
            registry.create(
                "s3",
                AdapterConfig::new()
                    .with("endpoint", text(&endpoint))
                    .with("bucket", text("byoc-bench"))
                    .with("access-key-id", text(KEY))
                    .with("secret-access-key", text(SECRET))
                    .with("create-bucket", ConfigValue::Boolean(true)),
            ),
        )
        .expect("s3 provider");
    let dynamo: Arc<dyn Provider> = rt
        .block_on(
            registry.create(
                "dynamodb",
                AdapterConfig::new()
                    .with("endpoint", text(&endpoint))
                    .with("table", text("byoc-bench"))
                    .with("access-key-id", text(KEY))
                    .with("secret-access-key", text(SECRET))
                    .with("create-table", ConfigValue::Boolean(true)),
            ),
        )
        .expect("dynamodb provider");
    let keys: Vec<String> = (0..MULTI).map(|i| format!("k{i}")).collect();
    rt.block_on(async {
        for k in &keys {
            s3.set(k, VALUE, None).await.expect("seed s3");
            dynamo.set(k, VALUE, None).await.expect("seed dynamodb");
        }
    });
    let mut native_s3 = rt.block_on(Native::connect(&endpoint, "s3"));
    let mut native_dynamo = rt.block_on(Native::connect(&endpoint, "dynamodb"));
    let get_item = r#"{"TableName":"byoc-bench","Key":{"pk":{"S":"k1"}},"ConsistentRead":true}"#;
    let put_item = r#"{"TableName":"byoc-bench","Item":{"pk":{"S":"k1"},"val":{"B":"BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBw=="}}}"#;
    let batch_get = format!(
        r#"{{"RequestItems":{{"byoc-bench":{{"Keys":[{}],"ConsistentRead":true}}}}}}"#,
        keys.iter()
            .map(|k| format!(r#"{{"pk":{{"S":"{k}"}}}}"#))
            .collect::<Vec<_>>()
            .join(",")
    );
    let json = |target: &'static str| {
        [
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", target),
        ]
    };

    let mut group = c.benchmark_group("cloud");
    group.bench_function("s3/get/byoc", |b| {
        b.to_async(rt)
            .iter(|| async { black_box(s3.get("k1").await.expect("get")) })
    });
    group.bench_function("s3/get/native", |b| {
        b.iter(|| black_box(rt.block_on(native_s3.send("GET", "/byoc-bench/k1", &[], b""))))
    });
    group.bench_function("s3/set/byoc", |b| {
        b.to_async(rt)
            .iter(|| async { s3.set("k1", VALUE, None).await.expect("set") })
    });
    group.bench_function("s3/set/native", |b| {
        b.iter(|| rt.block_on(native_s3.send("PUT", "/byoc-bench/k1", &[], VALUE)))
    });
    group.bench_function("s3/get_multi_100/byoc", |b| {
        b.to_async(rt)
            .iter(|| async { black_box(s3.get_multi(&keys).await.expect("get_multi")) })
    });
    group.bench_function("s3/get_multi_100/native", |b| {
        b.iter(|| {
            rt.block_on(async {
                for k in &keys {
                    black_box(
                        native_s3
                            .send("GET", &format!("/byoc-bench/{k}"), &[], b"")
                            .await,
                    );
                }
            })
        })
    });
    group.bench_function("dynamodb/get/byoc", |b| {
        b.to_async(rt)
            .iter(|| async { black_box(dynamo.get("k1").await.expect("get")) })
    });
    group.bench_function("dynamodb/get/native", |b| {
        b.iter(|| {
            black_box(rt.block_on(native_dynamo.send(
                "POST",
                "/",
                &json("DynamoDB_20120810.GetItem"),
                get_item.as_bytes(),
            )))
        })
    });
    group.bench_function("dynamodb/set/byoc", |b| {
        b.to_async(rt)
            .iter(|| async { dynamo.set("k1", VALUE, None).await.expect("set") })
    });
    group.bench_function("dynamodb/set/native", |b| {
        b.iter(|| {
            rt.block_on(native_dynamo.send(
                "POST",
                "/",
                &json("DynamoDB_20120810.PutItem"),
                put_item.as_bytes(),
            ))
        })
    });
    group.bench_function("dynamodb/get_multi_100/byoc", |b| {
        b.to_async(rt)
            .iter(|| async { black_box(dynamo.get_multi(&keys).await.expect("get_multi")) })
    });
    group.bench_function("dynamodb/get_multi_100/native", |b| {
        b.iter(|| {
            black_box(rt.block_on(native_dynamo.send(
                "POST",
                "/",
                &json("DynamoDB_20120810.BatchGetItem"),
                batch_get.as_bytes(),
            )))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
