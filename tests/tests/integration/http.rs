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
    serve_with(ServeConfig {
        token: token.map(str::to_owned),
        ..ServeConfig::default()
    })
    .await
}

/// [`serve`] with `config`.
async fn serve_with(config: ServeConfig) -> Server {
    let backend = Registry::new()
        .expect("registry")
        .create("memory", AdapterConfig::new())
        .await
        .expect("memory adapter");
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
    let (other, contacted) = byoc_tests::cloud::listener(Some(
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
    let (addr, contacted) = byoc_tests::cloud::listener(Some(
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
    let (target, contacted) = byoc_tests::cloud::listener(Some(
        "HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n".into(),
    ))
    .await;
    let (redirector, _) = byoc_tests::cloud::listener(Some(format!(
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
    let (addr, _) = byoc_tests::cloud::listener(None).await;
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
    let (addr, _) = byoc_tests::cloud::listener(Some(
        "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\n\r\noops".into(),
    ))
    .await;
    let p = http_provider(url(&format!("http://{addr}")))
        .await
        .expect("provider");
    let r = p.set("k", b"v", None).await;
    assert!(matches!(r, Err(Error::Unavailable(_))), "{r:?}");
    let (addr, _) = byoc_tests::cloud::listener(Some(
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
    let server = serve_with(ServeConfig {
        max_body_bytes: 1024,
        ..ServeConfig::default()
    })
    .await;
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
    let server = serve_with(ServeConfig {
        max_value_bytes: 1000,
        ..ServeConfig::default()
    })
    .await;
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

/// A TCP proxy to `target` that counts the connections it accepts and the most open at
/// once.
struct CountingProxy {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

impl CountingProxy {
    async fn start(target: SocketAddr) -> CountingProxy {
        let listener = TcpListener::bind(loopback()).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (a, p) = (Arc::clone(&accepted), Arc::clone(&peak));
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                a.fetch_add(1, Ordering::SeqCst);
                let now = open.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(now, Ordering::SeqCst);
                let open = Arc::clone(&open);
                tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        CountingProxy {
            addr,
            accepted,
            peak,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

fn server_addr(server: &Server) -> SocketAddr {
    server
        .url()
        .trim_start_matches("http://")
        .parse()
        .expect("server address")
}

/// An `http` provider of `instances` pooled instances for `url`, with `grant`.
async fn pooled_http(url_: &str, grant: HttpGrant, instances: usize) -> WasmProvider {
    let registry = Registry::new().expect("registry");
    let runtime = registry.runtime();
    let component = runtime
        .load("http", byoc::builtin::HTTP_ADAPTER)
        .expect("load");
    WasmProvider::builder(runtime, component)
        .config(url(url_))
        .grants(Grants::none().http(grant))
        .limits(Limits::new().call_deadline(Duration::from_secs(10)))
        .pooled(instances)
        .build()
        .await
        .expect("provider")
}

/// Requests reuse pooled connections: many requests, few connections accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_reused() {
    let server = serve(None).await;
    let proxy = CountingProxy::start(server_addr(&server)).await;
    let p = http_provider(url(&proxy.url())).await.expect("provider");
    for i in 0..50 {
        let key = format!("k{i}");
        p.set(&key, b"v", None).await.expect("set");
        assert_eq!(p.get(&key).await.expect("get"), Some(b"v".to_vec()));
    }
    // One connection serves one caller; a second may be opened while the first is on its
    // way back to the pool.
    let sequential = proxy.accepted();
    assert!((1..=2).contains(&sequential), "{sequential} connections");
    // 32 callers: at most one connection per request in flight, and never more than
    // the grant's 32 open at once (none closes here, so that bounds every one accepted).
    let p = Arc::new(p);
    let tasks: Vec<_> = (0..32)
        .map(|t| {
            let p = Arc::clone(&p);
            tokio::spawn(async move {
                for i in 0..10 {
                    let key = format!("k{}", (t * 10 + i) % 50);
                    assert_eq!(p.get(&key).await.expect("get"), Some(b"v".to_vec()));
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    let total = proxy.accepted();
    assert!(
        total <= byoc::wasm::DEFAULT_HTTP_MAX_CONNECTIONS,
        "{total} connections for 420 requests"
    );
}

/// A grant's `max_connections` bounds the connections open to an origin at once, however
/// many instances and callers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_per_origin_are_bounded() {
    let server = serve(None).await;
    let proxy = CountingProxy::start(server_addr(&server)).await;
    let mut grant = HttpGrant::new([proxy.url()]).expect("grant");
    grant.max_connections = 2;
    let p = Arc::new(pooled_http(&proxy.url(), grant, 8).await);
    let tasks: Vec<_> = (0..16)
        .map(|t| {
            let p = Arc::clone(&p);
            tokio::spawn(async move {
                for i in 0..5 {
                    let key = format!("t{t}-{i}");
                    p.set(&key, &[t as u8; 1000], None).await.expect("set");
                    assert_eq!(p.get(&key).await.expect("get"), Some(vec![t as u8; 1000]));
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    let peak = proxy.peak.load(Ordering::SeqCst);
    assert!((1..=2).contains(&peak), "{peak} connections open at once");
}

/// A keep-alive HTTP/1.1 server that holds every `GET /v1/keys/…` until `gather` of
/// them have arrived (or 20 s have passed), then answers each `200` with the value `v`.
/// Returns its address and the most such requests it saw in flight at once.
async fn gathering_server(gather: usize) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind(loopback()).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let peak = Arc::new(AtomicUsize::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    // Arrivals only grow: a waiter woken late still sees the gate open.
    let (arrived, _) = tokio::sync::watch::channel(0usize);
    let (seen, arrived) = (Arc::clone(&peak), Arc::new(arrived));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (peak, in_flight, arrived) = (
                Arc::clone(&seen),
                Arc::clone(&in_flight),
                Arc::clone(&arrived),
            );
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") else {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                        continue;
                    };
                    let gathers = head.starts_with(b"GET /v1/keys/");
                    head.drain(..end + 4);
                    if gathers {
                        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        arrived.send_modify(|n| *n += 1);
                        let mut all = arrived.subscribe();
                        let _ = tokio::time::timeout(
                            Duration::from_secs(20),
                            all.wait_for(|&n| n >= gather),
                        )
                        .await;
                    }
                    let ok = "HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nv";
                    let written = stream.write_all(ok.as_bytes()).await;
                    if gathers {
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                    }
                    if written.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, peak)
}

/// Concurrent calls run concurrently: an `http` provider has many requests in flight at
/// once (a call holds its instance while its request is in flight, so too few instances
/// would cap them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_are_in_flight_at_once() {
    let callers = byoc::wasm::DEFAULT_HTTP_MAX_CONNECTIONS;
    let (addr, peak) = gathering_server(callers).await;
    // Instances start on demand, one by one: slow in a debug build, hence the timeout.
    let config = url(&format!("http://{addr}")).with("timeout", ConfigValue::DurationMs(30_000));
    let p = Arc::new(http_provider(config).await.expect("provider"));
    let started = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|i| {
            let p = Arc::clone(&p);
            tokio::spawn(async move { p.get(&format!("k{i}")).await })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.expect("task"));
    }
    let peak = peak.load(Ordering::SeqCst);
    assert_eq!(peak, callers, "requests in flight at once");
    for answer in answers {
        assert_eq!(answer.expect("get"), Some(b"v".to_vec()));
    }
    // Gathered, not timed out: every caller was in flight before any was answered.
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}

/// A provider granted A cannot reach B, not even while another provider holds pooled
/// connections to B: the grant is checked per request, before the pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grant_holds_with_warm_pooled_connections() {
    let a = serve(None).await;
    let b = serve(None).await;
    let proxy_b = CountingProxy::start(server_addr(&b)).await;
    let to_b = http_provider(url(&proxy_b.url())).await.expect("provider");
    to_b.set("warm", b"v", None).await.expect("set");
    let before = proxy_b.accepted();
    assert!(before >= 1);
    // Granted A, pointed at B; and granted A and B's host on another port.
    let grant = HttpGrant::new([a.url()]).expect("grant");
    let p = misgranted(&proxy_b.url(), Grants::none().http(grant)).await;
    let r = p.set("stolen", b"x", None).await;
    assert!(matches!(r, Err(Error::Denied(_))), "{r:?}");
    assert!(matches!(p.ping().await, Err(Error::Denied(_))));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(proxy_b.accepted(), before, "a connection to B was opened");
    assert_eq!(to_b.get("stolen").await.expect("get"), None);
}

/// A server that answers its connection's first request at once (keep-alive) and never
/// answers the next one: the next request, on the pooled connection, times out after
/// the first-byte timeout alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_connection_still_times_out() {
    let listener = TcpListener::bind(loopback()).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 << 10];
                if stream.read(&mut buf).await.is_err() {
                    return;
                }
                let ok = "HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n";
                if stream.write_all(ok.as_bytes()).await.is_err() {
                    return;
                }
                let _ = stream.read(&mut buf).await;
                tokio::time::sleep(Duration::from_secs(60)).await;
            });
        }
    });
    let p =
        http_provider(url(&format!("http://{addr}")).with("timeout", ConfigValue::DurationMs(500)))
            .await
            .expect("provider");
    p.ping().await.expect("first ping");
    let started = Instant::now();
    let r = p.ping().await;
    let took = started.elapsed();
    assert!(matches!(r, Err(Error::Unavailable(_))), "{r:?}");
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_millis(950),
        "took {took:?}"
    );
}

mod tls {
    use super::*;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use tokio_rustls::TlsAcceptor;

    /// A test CA (its PEM) and a server certificate it signed for 127.0.0.1.
    pub(super) struct TestPki {
        pub(super) ca_pem: String,
        cert: CertificateDer<'static>,
        key: PrivatePkcs8KeyDer<'static>,
    }

    impl TestPki {
        pub(super) fn new() -> TestPki {
            use rcgen::{
                BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair,
                KeyUsagePurpose,
            };
            let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
            ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            ca.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            let ca =
                CertifiedIssuer::self_signed(ca, KeyPair::generate().expect("key")).expect("CA");
            let key = KeyPair::generate().expect("key");
            let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
                .expect("params")
                .signed_by(&key, &ca)
                .expect("certificate");
            TestPki {
                ca_pem: ca.pem(),
                cert: cert.der().clone(),
                key: PrivatePkcs8KeyDer::from(key.serialize_der()),
            }
        }

        /// A TLS acceptor with this certificate, offering `alpn`.
        pub(super) fn acceptor(&self, alpn: &[&[u8]]) -> TlsAcceptor {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_no_client_auth()
                .with_single_cert(
                    vec![self.cert.clone()],
                    PrivateKeyDer::Pkcs8(self.key.clone_key()),
                )
                .expect("server config");
            config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
            TlsAcceptor::from(Arc::new(config))
        }
    }

    /// A TLS-terminating proxy (HTTP/1.1 only) to `target`, counting connections.
    async fn tls_proxy(pki: &TestPki, target: SocketAddr) -> (SocketAddr, Arc<AtomicUsize>) {
        let acceptor = pki.acceptor(&[b"http/1.1"]);
        let listener = TcpListener::bind(loopback()).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                seen.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut client) = acceptor.accept(client).await else {
                        return;
                    };
                    if let Ok(mut server) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        (addr, accepted)
    }

    fn https(addr: SocketAddr, ca_file: Option<&std::path::Path>) -> AdapterConfig {
        let config = url(&format!("https://{addr}"));
        match ca_file {
            Some(path) => config.with(
                "ca-file",
                ConfigValue::Text(path.to_string_lossy().into_owned()),
            ),
            None => config,
        }
    }

    /// `https` with the CA in the provider's `ca-file` works over few connections; with
    /// another CA it fails as a certificate error, and nothing is stored.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn https_is_verified_against_the_configured_ca() {
        let server = serve(None).await;
        let pki = TestPki::new();
        let (addr, accepted) = tls_proxy(&pki, server_addr(&server)).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, &pki.ca_pem).expect("write CA");
        let p = http_provider(https(addr, Some(&ca_file)))
            .await
            .expect("provider");
        for i in 0..20 {
            let key = format!("k{i}");
            p.set(&key, b"over tls", None).await.expect("set");
            assert_eq!(p.get(&key).await.expect("get"), Some(b"over tls".to_vec()));
        }
        let n = accepted.load(Ordering::SeqCst);
        assert!((1..=2).contains(&n), "{n} TLS connections for 40 requests");

        let other = TestPki::new();
        let wrong_ca = dir.path().join("other.pem");
        std::fs::write(&wrong_ca, &other.ca_pem).expect("write CA");
        let p = http_provider(https(addr, Some(&wrong_ca)))
            .await
            .expect("provider");
        let r = p.set("k-wrong", b"x", None).await;
        assert!(
            matches!(&r, Err(Error::Unavailable(m)) if m.contains("TlsCertificateError")),
            "{r:?}"
        );
        // Without a CA file the system's roots apply, which do not hold the test CA (or
        // there are none: then the provider cannot be created).
        match http_provider(https(addr, None)).await {
            Ok(p) => {
                let r = p.get("k0").await;
                assert!(
                    matches!(&r, Err(Error::Unavailable(m)) if m.contains("TlsCertificateError")),
                    "{r:?}"
                );
            }
            Err(e) => assert!(
                matches!(&e, Error::InvalidConfig(m) if m.contains("root certificate")),
                "{e:?}"
            ),
        }
        // A CA file that holds no certificate is refused at load.
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        let r = http_provider(https(addr, Some(&empty))).await;
        assert!(
            matches!(&r, Err(Error::InvalidConfig(m)) if m.contains("no certificate")),
            "{:?}",
            r.err()
        );
    }

    /// A component file's YAML grant: `http-ca-file` (relative to the file),
    /// `http-connections` and `http-idle-timeout` apply; mistakes are refused at parse.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn yaml_grant_with_a_ca_file() {
        use byoc::{Caches, ConfigFile};
        let server = serve(None).await;
        let pki = TestPki::new();
        let (addr, _) = tls_proxy(&pki, server_addr(&server)).await;
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("ca.pem"), &pki.ca_pem).expect("write CA");
        std::fs::write(dir.path().join("http.wasm"), byoc::builtin::HTTP_ADAPTER)
            .expect("write component");
        let parse = |grants: &str| {
            let text = format!(
                "caches:\n  - name: h\n    provider: http.wasm\n    config: {{ url: \"https://{addr}\" }}\n    grants: {grants}\n"
            );
            ConfigFile::parse_with_env(&text, "test.yaml", dir.path(), Default::default())
        };
        let file = parse(&format!(
            "{{ http: [\"https://{addr}\"], http-ca-file: ca.pem, http-connections: 4, http-idle-timeout: 5s }}"
        ))
        .expect("parses");
        let caches = Caches::open(&file, Registry::new().expect("registry"))
            .await
            .expect("opens");
        let h = caches.provider("h").expect("h");
        h.set("k", b"v", None).await.expect("set");
        assert_eq!(h.get("k").await.expect("get"), Some(b"v".to_vec()));

        let err = parse(&format!(
            "{{ http: [\"https://{addr}\"], http-connections: 0 }}"
        ))
        .expect_err("zero connections");
        assert!(err.to_string().contains("http-connections"), "{err}");
        let err = parse("{ http-ca-file: ca.pem }").expect_err("no origin");
        assert!(err.to_string().contains("no `http` origin"), "{err}");
    }

    /// A TLS server offering HTTP/2 gets HTTP/2, all requests on one connection.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn http2_where_the_server_offers_it() {
        use hyper::service::service_fn;
        use hyper_util::rt::{TokioExecutor, TokioIo};
        let pki = TestPki::new();
        let acceptor = pki.acceptor(&[b"h2"]);
        let listener = TcpListener::bind(loopback()).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let http2 = Arc::new(AtomicUsize::new(0));
        let (seen, h2) = (Arc::clone(&accepted), Arc::clone(&http2));
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                seen.fetch_add(1, Ordering::SeqCst);
                let (acceptor, h2) = (acceptor.clone(), Arc::clone(&h2));
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    // `ping` answers 204 with no body.
                    let service = service_fn(move |request: http::Request<_>| {
                        if request.version() == http::Version::HTTP_2 {
                            h2.fetch_add(1, Ordering::SeqCst);
                        }
                        async {
                            http::Response::builder()
                                .status(204)
                                .body(http_body_util::Empty::<bytes::Bytes>::new())
                        }
                    });
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        let dir = tempfile::tempdir().expect("tempdir");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, &pki.ca_pem).expect("write CA");
        let p = http_provider(https(addr, Some(&ca_file)))
            .await
            .expect("provider");
        for _ in 0..10 {
            p.ping().await.expect("ping");
        }
        assert!(http2.load(Ordering::SeqCst) >= 10);
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }
}
