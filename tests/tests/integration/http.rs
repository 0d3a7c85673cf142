//! The HTTP adapter against `byoc serve`, its origin grant, and a misbehaving backend.

use byoc::{AdapterConfig, ConfigValue, Error, HttpGrant, Provider, Registry, WasmProvider};
use byoc::{Grants, Limits};
use byoc_cli::serve::{ServeConfig, Server};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const LOOPBACK: &str = "127.0.0.1:0";

fn loopback() -> SocketAddr {
    LOOPBACK.parse().expect("address")
}

/// `byoc serve` in process on a free loopback port, backed by the wasm memory adapter.
async fn serve(token: Option<&str>) -> Server {
    let backend = Registry::new()
        .expect("registry")
        .create("memory", AdapterConfig::new())
        .await
        .expect("memory adapter");
    let config = ServeConfig {
        token: token.map(str::to_owned),
        ..ServeConfig::default()
    };
    Server::bind(loopback(), backend, config)
        .await
        .expect("serve")
}

async fn http_provider(config: AdapterConfig) -> byoc::Result<Arc<dyn Provider>> {
    Registry::new()?.create("http", config).await
}

fn url(url: &str) -> AdapterConfig {
    AdapterConfig::new().with("url", ConfigValue::Text(url.to_owned()))
}

mod conformance {
    byoc_tests::conformance_tests!(|| async {
        // The server lives as long as the provider.
        let server = super::serve(Some("s3cret")).await;
        let provider = super::http_provider(
            super::url(&server.url()).with("token", byoc::ConfigValue::Text("s3cret".into())),
        )
        .await
        .expect("http adapter");
        std::sync::Arc::new(byoc_tests::Holding::new(provider, server))
            as std::sync::Arc<dyn byoc::Provider>
    });
}

/// A TCP listener that counts the connections it accepts and answers each with `answer`
/// (or never answers, for `None`).
async fn raw_server(answer: Option<String>) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind(loopback()).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            seen.fetch_add(1, Ordering::SeqCst);
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 << 10];
                let _ = stream.read(&mut buf).await;
                match answer {
                    Some(a) => {
                        let _ = stream.write_all(a.as_bytes()).await;
                        let _ = stream.shutdown().await;
                    }
                    None => tokio::time::sleep(Duration::from_secs(60)).await,
                }
            });
        }
    });
    (addr, count)
}

/// A provider whose adapter is pointed at `target` while the grant allows only `granted`.
async fn misgranted(target: &str, grants: Grants) -> WasmProvider {
    let registry = Registry::new().expect("registry");
    let runtime = registry.runtime();
    let component = runtime
        .load("http", byoc::builtin::HTTP_ADAPTER)
        .expect("load");
    WasmProvider::builder(runtime, component)
        .config(url(target).with("timeout", ConfigValue::DurationMs(2000)))
        .grants(grants)
        .limits(Limits::new().call_deadline(Duration::from_secs(10)))
        .partitions(1)
        .build()
        .await
        .expect("provider")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ungranted_port_is_never_contacted() {
    let granted = serve(None).await;
    let (other, contacted) = raw_server(Some(
        "HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n".into(),
    ))
    .await;
    let grant = HttpGrant::new([granted.url()]).expect("grant");
    let p = misgranted(&format!("http://{other}"), Grants::none().http(grant)).await;
    let r = p.ping().await;
    assert!(matches!(r, Err(Error::Denied(_))), "{r:?}");
    let r = p.set("k", b"v", None).await;
    assert!(matches!(r, Err(Error::Denied(_))), "{r:?}");
    // Same host, other scheme: also not granted.
    let https = HttpGrant::new([format!("https://{other}")]).expect("grant");
    let p = misgranted(&format!("http://{other}"), Grants::none().http(https)).await;
    assert!(matches!(p.ping().await, Err(Error::Denied(_))));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        contacted.load(Ordering::SeqCst),
        0,
        "the host connected anyway"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_http_grant_every_request_is_denied() {
    let (addr, contacted) = raw_server(Some(
        "HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n".into(),
    ))
    .await;
    let p = misgranted(&format!("http://{addr}"), Grants::none()).await;
    let r = p.get("k").await;
    assert!(matches!(r, Err(Error::Denied(_))), "{r:?}");
    assert_eq!(contacted.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_to_another_origin_are_not_followed() {
    let (target, contacted) = raw_server(Some(
        "HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n".into(),
    ))
    .await;
    let (redirector, _) = raw_server(Some(format!(
        "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://{target}/v1/ping\r\ncontent-length: 0\r\n\r\n"
    )))
    .await;
    let p = http_provider(url(&format!("http://{redirector}")))
        .await
        .expect("provider");
    let r = p.ping().await;
    assert!(matches!(r, Err(Error::Denied(_))), "{r:?}");
    let r = p.get("k").await;
    assert!(matches!(r, Err(Error::Denied(_))), "{r:?}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        contacted.load(Ordering::SeqCst),
        0,
        "the redirect was followed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_backend_is_unavailable() {
    // Bind then drop, so nothing listens on the port.
    let addr = TcpListener::bind(loopback())
        .await
        .expect("bind")
        .local_addr()
        .expect("addr");
    let p = http_provider(url(&format!("http://{addr}")))
        .await
        .expect("provider");
    let started = Instant::now();
    let r = p.get("k").await;
    assert!(matches!(r, Err(Error::Unavailable(_))), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_backend_is_unavailable_within_the_timeout() {
    let (addr, _) = raw_server(None).await;
    let p =
        http_provider(url(&format!("http://{addr}")).with("timeout", ConfigValue::DurationMs(500)))
            .await
            .expect("provider");
    let started = Instant::now();
    let r = p.get("k").await;
    let took = started.elapsed();
    assert!(matches!(r, Err(Error::Unavailable(_))), "{r:?}");
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(3),
        "took {took:?}"
    );
    // The provider still works afterwards (no trap, no stuck instance).
    let r = p.get("k").await;
    assert!(matches!(r, Err(Error::Unavailable(_))), "{r:?}");
    // A large body to a server that stops reading: the write is cut off by the timeout.
    let started = Instant::now();
    let r = p.set("big", &vec![7u8; 8 << 20], None).await;
    let took = started.elapsed();
    assert!(matches!(r, Err(Error::Unavailable(_))), "{r:?}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_unavailable() {
    let (addr, _) = raw_server(Some(
        "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\n\r\noops".into(),
    ))
    .await;
    let p = http_provider(url(&format!("http://{addr}")))
        .await
        .expect("provider");
    let r = p.set("k", b"v", None).await;
    assert!(matches!(r, Err(Error::Unavailable(_))), "{r:?}");
    let (addr, _) = raw_server(Some(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n".into(),
    ))
    .await;
    let p = http_provider(url(&format!("http://{addr}")))
        .await
        .expect("provider");
    let r = p.get_multi(&["a".into(), "b".into()]).await;
    assert!(matches!(r, Err(Error::Unavailable(_))), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_headers() {
    let server = serve(Some("right")).await;
    let none = http_provider(url(&server.url())).await.expect("provider");
    let r = none.get("k").await;
    assert!(matches!(r, Err(Error::Denied(_))), "{r:?}");
    let wrong = http_provider(url(&server.url()).with("token", ConfigValue::Text("wrong".into())))
        .await
        .expect("provider");
    assert!(matches!(wrong.ping().await, Err(Error::Denied(_))));
    let right = http_provider(
        url(&server.url())
            .with("token", ConfigValue::Text("right".into()))
            .with(
                "headers",
                ConfigValue::TextList(vec!["X-Tenant: blue".into()]),
            ),
    )
    .await
    .expect("provider");
    right.set("k", b"v", None).await.expect("set");
    assert_eq!(right.get("k").await.expect("get"), Some(b"v".to_vec()));
    let bad = http_provider(
        url(&server.url()).with("headers", ConfigValue::TextList(vec!["nocolon".into()])),
    )
    .await;
    assert!(
        matches!(bad, Err(Error::InvalidConfig(_))),
        "{:?}",
        bad.err()
    );
    let unknown = http_provider(url(&server.url()).with("retries", ConfigValue::Integer(3))).await;
    assert!(
        matches!(&unknown, Err(Error::InvalidConfig(m)) if m.contains("retries")),
        "{:?}",
        unknown.err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_limits_body_size() {
    let backend = Registry::new()
        .expect("registry")
        .create("memory", AdapterConfig::new())
        .await
        .expect("memory");
    let server = Server::bind(
        loopback(),
        backend,
        ServeConfig {
            max_body_bytes: 1024,
            ..ServeConfig::default()
        },
    )
    .await
    .expect("serve");
    let p = http_provider(url(&server.url())).await.expect("provider");
    p.set("small", &[1; 100], None).await.expect("small set");
    let r = p.set("big", &[1; 4096], None).await;
    assert!(matches!(r, Err(Error::ValueTooLarge(_))), "{r:?}");
    assert_eq!(p.get("big").await.expect("get"), None);
}

/// A server whose answer body never ends: the adapter stops at its answer limit with
/// `unavailable`, below the instance's memory, so no call traps and the cache is never
/// quarantined.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_answer_is_unavailable_not_a_trap() {
    let listener = TcpListener::bind(loopback()).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 << 10];
                let _ = stream.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n\
                            connection: close\r\n\r\n";
                if stream.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = vec![b'x'; 1 << 20];
                while stream.write_all(&chunk).await.is_ok() {}
            });
        }
    });
    let p = http_provider(
        url(&format!("http://{addr}")).with("timeout", ConfigValue::DurationMs(20_000)),
    )
    .await
    .expect("provider");
    // More calls than the quarantine's trap threshold (5).
    for i in 0..6 {
        let r = p.get("k").await;
        assert!(
            matches!(&r, Err(Error::Unavailable(m)) if m.contains("too large")),
            "call {i}: {r:?}"
        );
    }
    let stats = p.stats().await;
    assert!(
        matches!(&stats, Err(Error::Unavailable(m)) if m.contains("too large")),
        "{stats:?}"
    );
}

/// A URL with a wrong base path: every operation fails as a configuration mistake, reads
/// included (a route the server does not have is no miss), and `ping` fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_base_path_is_an_error_not_a_miss() {
    let server = serve(None).await;
    let right = http_provider(url(&server.url())).await.expect("provider");
    right.set("k", b"v", None).await.expect("set");
    let p = http_provider(url(&format!("{}/wrong/base", server.url())))
        .await
        .expect("provider");
    let ping = p.ping().await;
    assert!(
        matches!(&ping, Err(Error::InvalidConfig(m)) if m.contains("base path")),
        "{ping:?}"
    );
    for key in ["k", "absent"] {
        let get = p.get(key).await;
        assert!(
            matches!(&get, Err(Error::InvalidConfig(m)) if m.contains("base path")),
            "{get:?}"
        );
        let exists = p.exists(key).await;
        assert!(matches!(exists, Err(Error::InvalidConfig(_))), "{exists:?}");
    }
    // The right base path still reads a missing key as a miss.
    assert_eq!(right.get("absent").await.expect("get"), None);
    assert!(!right.exists("absent").await.expect("exists"));
}

/// `byoc serve` refuses a value over its value limit before reading it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_refuses_values_over_its_value_limit() {
    let backend = Registry::new()
        .expect("registry")
        .create("memory", AdapterConfig::new())
        .await
        .expect("memory");
    let server = Server::bind(
        loopback(),
        backend,
        ServeConfig {
            max_value_bytes: 1000,
            ..ServeConfig::default()
        },
    )
    .await
    .expect("serve");
    let p = http_provider(url(&server.url())).await.expect("provider");
    p.set("ok", &[1; 1000], None)
        .await
        .expect("set at the limit");
    let r = p.set("big", &[1; 1001], None).await;
    assert!(matches!(r, Err(Error::ValueTooLarge(_))), "{r:?}");
    // A batch carries several values: it is bounded by the body limit, not the value's.
    let items: Vec<byoc::Item> = (0..3)
        .map(|i| byoc::Item::new(format!("b{i}"), vec![2; 900], None))
        .collect();
    p.set_multi(&items).await.expect("set_multi");
}
