//! S3, DynamoDB and etcd test servers (moto, s3rver, dynalite, etcd), shared by every test
//! of the process, a plain HTTP/1.1 client that signs with the same SigV4 code, for interop
//! checks and as the benchmarks' native baseline, a proxy counting connections, and a
//! scripted listener for fault tests.

use crate::service::{self, Service};
use byoc_sigv4::{Credentials, Scope};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Credentials moto and dynalite accept (they do not check signatures).
pub const ANY_ACCESS_KEY: &str = "AKIDTEST";
/// Secret paired with [`ANY_ACCESS_KEY`].
pub const ANY_SECRET: &str = "secret-for-tests";
/// s3rver's built-in credentials (it checks signatures).
pub const S3RVER_KEY: &str = "S3RVER";

const MOTO_INSTALL: &str = "pip install 'moto[server]' (a virtualenv on PATH)";
const NPM_INSTALL: &str = "npm install s3rver dynalite (node_modules/.bin on PATH)";

fn start(
    cell: &'static OnceLock<Option<Mutex<Service>>>,
    test: &str,
    program: &'static str,
    install: &str,
    args: fn(&std::path::Path, u16) -> Vec<String>,
) -> Option<String> {
    let service = service::shared(cell, || {
        service::available(test, &[program], install).then(|| {
            Service::start(
                program,
                Duration::from_secs(30),
                Box::new(move |dir, port| {
                    let mut cmd = std::process::Command::new(program);
                    cmd.args(args(dir, port));
                    cmd
                }),
            )
        })
    })?;
    let port = service.lock().unwrap_or_else(|e| e.into_inner()).port();
    Some(format!("http://127.0.0.1:{port}"))
}

/// The endpoint of the process's moto server (S3 and DynamoDB), or `None` (skipped).
pub fn moto(test: &str) -> Option<String> {
    static CELL: OnceLock<Option<Mutex<Service>>> = OnceLock::new();
    start(&CELL, test, "moto_server", MOTO_INSTALL, |_, port| {
        vec![
            "-H".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
        ]
    })
}

/// The endpoint of the process's s3rver (checks SigV4 signatures), or `None` (skipped).
pub fn s3rver(test: &str) -> Option<String> {
    static CELL: OnceLock<Option<Mutex<Service>>> = OnceLock::new();
    start(&CELL, test, "s3rver", NPM_INSTALL, |dir, port| {
        vec![
            "-d".into(),
            dir.display().to_string(),
            "-a".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
            "-s".into(),
        ]
    })
}

/// The endpoint of the process's dynalite (DynamoDB in memory), or `None` (skipped).
pub fn dynalite(test: &str) -> Option<String> {
    static CELL: OnceLock<Option<Mutex<Service>>> = OnceLock::new();
    start(&CELL, test, "dynalite", NPM_INSTALL, |_, port| {
        vec![
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string(),
            "--createTableMs".into(),
            "0".into(),
        ]
    })
}

const ETCD_INSTALL: &str = "apt-get install etcd-server (Debian), or etcd from its releases";

/// Starts a private single-member etcd on free loopback ports with its data in the
/// service's directory, and waits until it serves (a leader is elected). `None` when
/// `etcd` is not on PATH (skipped).
pub fn etcd_service(test: &str) -> Option<Service> {
    if !service::available(test, &["etcd"], ETCD_INSTALL) {
        return None;
    }
    // The peer port stays the same across restarts (it is in the member's data).
    let peer = format!("http://127.0.0.1:{}", service::free_port());
    let service = Service::start(
        "etcd",
        Duration::from_secs(30),
        Box::new(move |dir, port| {
            let client = format!("http://127.0.0.1:{port}");
            let mut cmd = std::process::Command::new("etcd");
            cmd.arg("--name=byoc")
                .arg(format!("--data-dir={}", dir.join("data").display()))
                .arg(format!("--listen-client-urls={client}"))
                .arg(format!("--advertise-client-urls={client}"))
                .arg(format!("--listen-peer-urls={peer}"))
                .arg(format!("--initial-advertise-peer-urls={peer}"))
                .arg(format!("--initial-cluster=byoc={peer}"))
                // A single member elects itself after one election timeout.
                .args(["--heartbeat-interval=20", "--election-timeout=200"]);
            cmd
        }),
    );
    let endpoint = format!("http://127.0.0.1:{}", service.port());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let ready = send(
            &endpoint,
            None,
            "POST",
            "/v3/kv/range",
            &[],
            &[],
            b"{\"key\":\"AA==\"}",
        )
        .is_ok_and(|a| a.status == 200);
        if ready {
            return Some(service);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "etcd on {endpoint} did not serve within 20 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The endpoint of the process's shared etcd, or `None` (skipped).
pub fn etcd(test: &str) -> Option<String> {
    static CELL: OnceLock<Option<Mutex<Service>>> = OnceLock::new();
    let service = service::shared(&CELL, || etcd_service(test))?;
    let port = service.lock().unwrap_or_else(|e| e.into_inner()).port();
    Some(format!("http://127.0.0.1:{port}"))
}

/// A TCP proxy on a free loopback port to `target` (`http://host:port`) that counts the
/// connections it accepts; it runs on the current tokio runtime.
#[derive(Debug, Clone)]
pub struct CountingProxy {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    accepted: std::sync::Arc<AtomicU64>,
}

impl CountingProxy {
    /// Starts the proxy.
    pub async fn start(target: &str) -> CountingProxy {
        let target = target
            .strip_prefix("http://")
            .unwrap_or(target)
            .trim_end_matches('/')
            .to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let accepted = std::sync::Arc::new(AtomicU64::new(0));
        let seen = std::sync::Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                seen.fetch_add(1, Ordering::SeqCst);
                let target = target.clone();
                tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        CountingProxy { url, accepted }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Checks that `provider` reuses its connections: 50 sequential set + get pairs open at
/// most 2, and `callers` concurrent callers (10 gets each) at most 16 in all, as counted
/// by `proxy`, which the provider's endpoint points at.
pub async fn assert_connections_reused(
    provider: std::sync::Arc<dyn byoc::Provider>,
    proxy: &CountingProxy,
    callers: usize,
) {
    for i in 0..50 {
        let key = format!("reuse{i}");
        provider.set(&key, b"v", None).await.expect("set");
        assert_eq!(provider.get(&key).await.expect("get"), Some(b"v".to_vec()));
    }
    let sequential = proxy.accepted();
    assert!(
        (1..=2).contains(&sequential),
        "{}: {sequential} connections for 100 sequential requests",
        provider.info().name
    );
    let tasks: Vec<_> = (0..callers)
        .map(|t| {
            let p = std::sync::Arc::clone(&provider);
            tokio::spawn(async move {
                for i in 0..10 {
                    let key = format!("reuse{}", (t * 10 + i) % 50);
                    assert_eq!(p.get(&key).await.expect("get"), Some(b"v".to_vec()));
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    // One instance per granted connection, each holding its request's connection while
    // in flight: never more connections than the grant allows, however many requests.
    let total = proxy.accepted();
    assert!(
        total <= byoc::wasm::DEFAULT_HTTP_MAX_CONNECTIONS as u64,
        "{}: {total} connections for {} requests",
        provider.info().name,
        100 + callers * 10
    );
}

/// A name no other test of this process uses: `<prefix>-<pid>-<n>` (lowercase).
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// An answer of [`send`].
#[derive(Debug, Clone)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Headers, lowercase names.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Answer {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What to sign a request for.
#[derive(Debug, Clone)]
pub struct Signer {
    /// Credentials.
    pub credentials: Credentials,
    /// Region.
    pub region: String,
    /// Service (`s3`, `dynamodb`).
    pub service: String,
}

impl Signer {
    /// A signer for `service` in `us-east-1` with `key` / `secret`.
    pub fn new(service: &str, key: &str, secret: &str) -> Signer {
        Signer {
            credentials: Credentials {
                access_key_id: key.into(),
                secret_access_key: secret.into(),
                session_token: None,
            },
            region: "us-east-1".into(),
            service: service.into(),
        }
    }
}

/// Sends one request over a new connection to `endpoint` (`http://host:port`) and reads
/// the answer (`Connection: close`). `path` is already encoded; `query` is raw. Signed
/// with `signer` (S3 style: `x-amz-content-sha256` is sent) when given.
pub fn send(
    endpoint: &str,
    signer: Option<&Signer>,
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Answer> {
    let authority = endpoint
        .strip_prefix("http://")
        .unwrap_or(endpoint)
        .trim_end_matches('/');
    let mut all: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), (*v).to_owned()))
        .collect();
    let payload = byoc_sigv4::sha256_hex(body);
    if let Some(signer) = signer {
        if signer.service == "s3" {
            all.push(("x-amz-content-sha256".into(), payload.clone()));
        }
        let mut to_sign = all.clone();
        to_sign.push(("host".into(), authority.to_owned()));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let signed = byoc_sigv4::sign(
            &signer.credentials,
            &Scope {
                region: &signer.region,
                service: &signer.service,
            },
            &byoc_sigv4::amz_date(now),
            &byoc_sigv4::Request {
                method,
                path,
                query,
                headers: &to_sign,
                payload_sha256: &payload,
            },
        );
        all.extend(signed.headers());
    }
    let query = byoc_sigv4::canonical_query(query);
    let target = if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    };
    let mut stream = TcpStream::connect(authority)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nhost: {authority}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (n, v) in &all {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    read_answer(stream, method == "HEAD")
}

fn read_answer(stream: TcpStream, head_only: bool) -> std::io::Result<Answer> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("status line"))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((n, v)) = l.split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let mut body = Vec::new();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    if head_only || status == 204 || status == 304 {
    } else if chunked {
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim(), 16).map_err(|_| bad("chunk size"))?;
            if size == 0 {
                break;
            }
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(len) = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        body.resize(len, 0);
        reader.read_exact(&mut body)?;
    } else {
        reader.read_to_end(&mut body)?;
    }
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// Runs `cases` random operation sequences against the provider `make` builds (none when
/// it answers `None`: skipped), comparing each with the reference model.
pub fn run_model(
    cases: u32,
    make: impl std::future::Future<Output = Option<std::sync::Arc<dyn byoc::Provider>>>,
) {
    use proptest::test_runner::{Config, TestRunner};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let Some(provider) = rt.block_on(make) else {
        return;
    };
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&crate::model::sequence(40), |ops| {
        rt.block_on(crate::model::check_sequence(&provider, &ops));
        Ok(())
    });
    if let Err(e) = result {
        panic!("{}: {e}", provider.info().name);
    }
}

/// Model cases for the cloud adapters: `BYOC_CLOUD_MODEL_CASES`, default 10 (each case
/// is a few hundred requests).
pub fn model_cases() -> u32 {
    std::env::var("BYOC_CLOUD_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
}

/// A scripted HTTP listener on a free loopback port: counts the connections it accepts
/// and answers each request with `answer` (or never answers, for `None`). Returns its
/// `http://` endpoint and the count.
pub async fn scripted(answer: Option<&'static str>) -> (String, Arc<AtomicUsize>) {
    let (addr, count) = listener(answer.map(str::to_owned)).await;
    (format!("http://{addr}"), count)
}

/// The listener behind [`scripted`], answering an owned `answer`: its address and the
/// count of connections it accepted.
pub async fn listener(answer: Option<String>) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
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

/// `set` on the provider `open(endpoint, timeout_ms)` makes for a scripted listener that
/// answers every request with `answer` (a 5xx or a throttling error): `unavailable`
/// within 3 s, after 2 or 3 tries (the SDK client's bounded retries).
pub async fn retried_then_unavailable(
    answer: &'static str,
    open: impl AsyncFn(&str, u64) -> Arc<dyn byoc::Provider>,
) {
    let (endpoint, count) = scripted(Some(answer)).await;
    let p = open(&endpoint, 2000).await;
    let started = std::time::Instant::now();
    let r = p.set("k", b"v", None).await;
    assert!(matches!(r, Err(byoc::Error::Unavailable(_))), "{r:?}");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "took {took:?}");
    let tries = count.load(Ordering::SeqCst);
    assert!((2..=3).contains(&tries), "{tries} tries");
}

/// A server that is down (nothing listens) and one that never answers: `get` and
/// `get_multi` on the providers `open(endpoint, timeout_ms)` makes for them are
/// `unavailable` within about the timeout, and the slow one is asked once (a timeout is
/// not retried).
pub async fn down_or_slow_is_unavailable(open: impl AsyncFn(&str, u64) -> Arc<dyn byoc::Provider>) {
    let down = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    let p = open(&format!("http://{down}"), 1000).await;
    let started = std::time::Instant::now();
    let r = p.get("k").await;
    assert!(matches!(r, Err(byoc::Error::Unavailable(_))), "down: {r:?}");
    assert!(started.elapsed() < Duration::from_secs(2), "down: too slow");

    let (endpoint, count) = scripted(None).await;
    let p = open(&endpoint, 500).await;
    let started = std::time::Instant::now();
    let r = p.get_multi(&["a".into(), "b".into()]).await;
    let took = started.elapsed();
    assert!(matches!(r, Err(byoc::Error::Unavailable(_))), "slow: {r:?}");
    assert!(took < Duration::from_secs(2), "slow: took {took:?}");
    assert_eq!(count.load(Ordering::SeqCst), 1, "a timeout is not retried");
}

/// The adapter `component` (named `name`) configured by `config` for endpoint B but
/// granted only A: every call is `denied` and B sees 0 connections.
pub async fn ungranted_is_never_contacted(
    name: &str,
    component: &[u8],
    config: impl Fn(&str) -> byoc::AdapterConfig,
) {
    use byoc::{Grants, HttpGrant, Limits, Provider, WasmProvider};
    let (target, contacted) =
        scripted(Some("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")).await;
    let (granted, _) = scripted(None).await;
    let registry = byoc::Registry::new().expect("registry");
    let runtime = registry.runtime();
    let component = runtime.load(name, component).expect("load");
    let p = WasmProvider::builder(runtime, component)
        .config(config(&target))
        .grants(Grants::none().http(HttpGrant::new([granted.as_str()]).expect("grant")))
        .limits(Limits::new().call_deadline(Duration::from_secs(10)))
        .partitions(1)
        .build()
        .await
        .expect("provider");
    for _ in 0..3 {
        let r = p.get("k").await;
        assert!(matches!(r, Err(byoc::Error::Denied(_))), "{r:?}");
    }
    assert_eq!(contacted.load(Ordering::SeqCst), 0);
}

/// The fault tests every cloud adapter runs, one test each: every answer of `errors`
/// (5xx, throttling) is retried then `unavailable`, a down or slow server is
/// `unavailable` within the timeout, and (with `ungranted`) an ungranted endpoint is
/// never contacted. `open(endpoint, timeout_ms)` makes a provider that does not touch
/// the server when opened.
///
/// ```ignore
/// byoc_tests::cloud_fault_tests!(open: unchecked, errors: [ERROR_503],
///     ungranted: ("s3", builtin::S3_ADAPTER, |e: &str| config(e)));
/// ```
#[macro_export]
macro_rules! cloud_fault_tests {
    (open: $open:path, errors: [$($answer:expr),+ $(,)?] $(, ungranted: ($name:expr, $component:expr, $config:expr))? $(,)?) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn server_errors_and_throttling_are_retried_then_unavailable() {
            for answer in [$($answer),+] {
                $crate::cloud::retried_then_unavailable(answer, $open).await;
            }
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_down_or_slow_server_is_unavailable_within_the_timeout() {
            $crate::cloud::down_or_slow_is_unavailable($open).await;
        }

        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn an_ungranted_endpoint_is_never_contacted() {
                $crate::cloud::ungranted_is_never_contacted($name, $component, $config).await;
            }
        )?
    };
}

/// What every S3 and DynamoDB test configuration has: `endpoint`, the credentials and a
/// 3 s timeout.
pub fn aws_config(endpoint: &str, key: &str, secret: &str) -> byoc::AdapterConfig {
    use byoc::ConfigValue;
    byoc::AdapterConfig::new()
        .with("endpoint", ConfigValue::Text(endpoint.into()))
        .with("access-key-id", ConfigValue::Text(key.into()))
        .with("secret-access-key", ConfigValue::Text(secret.into()))
        .with("timeout", ConfigValue::DurationMs(3000))
}
