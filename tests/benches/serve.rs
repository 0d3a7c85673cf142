//! `byoc serve` (the `memory` adapter, instrumented as the command serves it) against a
//! minimal hyper server over moka speaking the same part of the protocol (the same paths,
//! bearer token check, content type, `x-byoc-ttl-ms` and `not-found` answers), in the same
//! run, under the same load.
//!
//! The load generator writes raw HTTP/1.1 over tokio TCP: `BYOC_SERVE_CONNS` keep-alive
//! connections on loopback, each sending one request and reading its answer before the
//! next, for a slice; it counts requests per second and records every request's latency.
//! Rounds alternate which server goes first; the ratio is taken per round (BYOC ÷ moka
//! requests per second) and its median is the figure. The server threads' CPU time per
//! request is read too: on a machine shared with other work, requests per server CPU
//! second compare the servers' cost where requests per second follow the load. Latency
//! percentiles are over all rounds' requests of one side.
//!
//! The servers run on one runtime of two workers (as `byoc serve` on this machine), the
//! load generator on its own runtime. `cargo bench -p byoc-tests --bench serve`;
//! `BYOC_SERVE_CONNS` (default 16), `BYOC_SERVE_ROUNDS` (default 5),
//! `BYOC_SERVE_SLICE_MS` (default 1000), `BYOC_SERVE_CLIENT_THREADS` (default 1).

use byoc::{AdapterConfig, Instrumented, Provider, Registry};
use byoc_cli::serve::{ServeConfig, Server};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TOKEN: &str = "bench-token";
/// Name of the servers' runtime threads (their CPU time is read by this name).
const SERVER_THREADS: &str = "server";
const KEYS: usize = 1000;
const SIZES: [usize; 2] = [64, 1024];

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// ---- the baseline: hyper over moka ------------------------------------------------------

#[derive(Clone)]
struct Entry {
    value: Bytes,
    expires: Option<Instant>,
}

struct Baseline {
    cache: moka::sync::Cache<String, Entry>,
    expected_auth: Vec<u8>,
}

type Reply = Response<Full<Bytes>>;

fn answer(status: StatusCode, body: Bytes, content_type: &'static str) -> Reply {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    r
}

fn error(status: StatusCode, kind: &str, message: &str) -> Reply {
    let body = format!(r#"{{"error":"{kind}","message":"{message}"}}"#);
    answer(status, Bytes::from(body), "application/json")
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(text.get(i + 1..i + 3)?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl Baseline {
    fn authorized(&self, req: &Request<Incoming>) -> bool {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        given.len() == self.expected_auth.len()
            && given
                .iter()
                .zip(&self.expected_auth)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }

    async fn handle(&self, req: Request<Incoming>) -> Reply {
        if !self.authorized(&req) {
            return error(StatusCode::UNAUTHORIZED, "unauthorized", "bad token");
        }
        let Some(key) = req.uri().path().strip_prefix("/v1/keys/") else {
            return error(StatusCode::NOT_FOUND, "no-route", "no route");
        };
        let Some(key) = percent_decode(key) else {
            return error(StatusCode::BAD_REQUEST, "invalid-argument", "bad key");
        };
        match *req.method() {
            Method::GET => match self.cache.get(&key) {
                Some(e) if e.expires.is_none_or(|t| t > Instant::now()) => {
                    let mut r = answer(StatusCode::OK, e.value, "application/octet-stream");
                    if let Some(t) = e.expires {
                        let ms = t
                            .saturating_duration_since(Instant::now())
                            .as_millis()
                            .max(1);
                        if let Ok(v) = header::HeaderValue::from_str(&ms.to_string()) {
                            r.headers_mut().insert("x-byoc-ttl-ms", v);
                        }
                    }
                    r
                }
                _ => {
                    let mut r = error(StatusCode::NOT_FOUND, "not-found", "no such key");
                    r.headers_mut().insert(
                        "x-byoc-error",
                        header::HeaderValue::from_static("not-found"),
                    );
                    r
                }
            },
            Method::PUT => {
                let ttl = match req.uri().query().and_then(|q| q.strip_prefix("ttl_ms=")) {
                    None => None,
                    Some(ms) => match ms.parse::<u64>() {
                        Ok(ms @ 1..) => Some(Duration::from_millis(ms)),
                        _ => return error(StatusCode::BAD_REQUEST, "invalid-argument", "bad ttl"),
                    },
                };
                let value = match Limited::new(req.into_body(), 16 << 20).collect().await {
                    Ok(c) => c.to_bytes(),
                    Err(_) => {
                        return error(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "value-too-large",
                            "too large",
                        );
                    }
                };
                let expires = ttl.map(|d| Instant::now() + d);
                self.cache.insert(key, Entry { value, expires });
                answer(StatusCode::NO_CONTENT, Bytes::new(), "text/plain")
            }
            _ => error(StatusCode::METHOD_NOT_ALLOWED, "unsupported", "not allowed"),
        }
    }
}

async fn baseline_server(listener: TcpListener, state: Arc<Baseline>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let state = Arc::clone(&state);
                async move { Ok::<_, Infallible>(state.handle(req).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

// ---- the load generator ----------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Get,
    Put,
}

/// The requests a connection sends in turn (one per key), and the status expected.
fn requests(op: Op, size: usize) -> (Arc<Vec<Vec<u8>>>, u16) {
    let body = vec![b'v'; size];
    let all = (0..KEYS)
        .map(|i| {
            let key = format!("bench%3A{size}%3A{i}");
            match op {
                Op::Get => format!(
                    "GET /v1/keys/{key} HTTP/1.1\r\nhost: bench\r\nauthorization: Bearer {TOKEN}\r\n\r\n"
                )
                .into_bytes(),
                Op::Put => {
                    let mut r = format!(
                        "PUT /v1/keys/{key} HTTP/1.1\r\nhost: bench\r\nauthorization: Bearer {TOKEN}\r\ncontent-type: application/octet-stream\r\ncontent-length: {size}\r\n\r\n"
                    )
                    .into_bytes();
                    r.extend_from_slice(&body);
                    r
                }
            }
        })
        .collect();
    (Arc::new(all), if op == Op::Get { 200 } else { 204 })
}

/// Reads one answer from `stream` into `buf`; returns its status. Answers are not
/// pipelined, so nothing follows the body.
async fn read_answer(stream: &mut TcpStream, buf: &mut Vec<u8>) -> u16 {
    buf.clear();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "the server closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end]).expect("ASCII head");
    let status: u16 = head
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.expect("read body");
        assert!(n > 0, "the server closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    }
    status
}

/// One connection's loop until `stop`: latencies in nanoseconds.
async fn connection(
    addr: SocketAddr,
    requests: Arc<Vec<Vec<u8>>>,
    expected: u16,
    start: usize,
    stop: Instant,
) -> Vec<u32> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (mut buf, mut latencies, mut at) = (Vec::with_capacity(8192), Vec::new(), start);
    while Instant::now() < stop {
        let t = Instant::now();
        stream.write_all(&requests[at]).await.expect("write");
        let status = read_answer(&mut stream, &mut buf).await;
        latencies.push(t.elapsed().as_nanos().min(u32::MAX as u128) as u32);
        assert_eq!(status, expected, "unexpected status");
        at = (at + 1) % requests.len();
    }
    latencies
}

/// One slice of load on a server.
struct Slice {
    /// Requests per second.
    rps: f64,
    /// The server threads' CPU time per request, in microseconds.
    cpu_us: f64,
    /// Every request's latency, in nanoseconds.
    latencies: Vec<u32>,
}

/// One slice of load on `addr`.
async fn load(
    addr: SocketAddr,
    requests: &Arc<Vec<Vec<u8>>>,
    expected: u16,
    conns: usize,
    slice: Duration,
) -> Slice {
    let cpu = server_cpu();
    let start = Instant::now();
    let stop = start + slice;
    let tasks: Vec<_> = (0..conns)
        .map(|c| {
            tokio::spawn(connection(
                addr,
                Arc::clone(requests),
                expected,
                c * KEYS / conns,
                stop,
            ))
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("connection"));
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = server_cpu() - cpu;
    Slice {
        rps: all.len() as f64 / elapsed,
        cpu_us: cpu.as_secs_f64() * 1e6 / all.len().max(1) as f64,
        latencies: all,
    }
}

/// CPU time of the servers' runtime threads so far (zero where it cannot be read).
fn server_cpu() -> Duration {
    byoc_tests::bench::threads_cpu(SERVER_THREADS).unwrap_or_default()
}

/// The median (the lower middle of an even count).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[(v.len() - 1) / 2]
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

fn main() {
    let conns = env("BYOC_SERVE_CONNS", 16).max(1) as usize;
    let rounds = env("BYOC_SERVE_ROUNDS", 5).max(1) as usize;
    let slice = Duration::from_millis(env("BYOC_SERVE_SLICE_MS", 1000).max(50));
    let client_threads = env("BYOC_SERVE_CLIENT_THREADS", 1).max(1) as usize;

    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(SERVER_THREADS)
        .enable_all()
        .build()
        .expect("server runtime");
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(client_threads)
        .thread_name("load")
        .enable_all()
        .build()
        .expect("client runtime");

    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let (byoc_addr, _server) = server_rt.block_on(async {
        let provider = Registry::new()
            .expect("runtime")
            .create("memory", AdapterConfig::new())
            .await
            .expect("memory adapter");
        let provider: Arc<dyn Provider> = Arc::new(Instrumented::new("memory", provider));
        for size in SIZES {
            for i in 0..KEYS {
                provider
                    .set(&format!("bench:{size}:{i}"), &vec![b'v'; size], None)
                    .await
                    .expect("fill");
            }
        }
        let config = ServeConfig {
            token: Some(TOKEN.into()),
            ..ServeConfig::default()
        };
        let server = Server::bind(loopback, provider, config)
            .await
            .expect("byoc serve");
        (server.local_addr(), server)
    });
    let moka_addr = server_rt.block_on(async {
        let cache = moka::sync::Cache::new(100_000);
        for size in SIZES {
            for i in 0..KEYS {
                let value = Bytes::from(vec![b'v'; size]);
                cache.insert(
                    format!("bench:{size}:{i}"),
                    Entry {
                        value,
                        expires: None,
                    },
                );
            }
        }
        let state = Arc::new(Baseline {
            cache,
            expected_auth: format!("Bearer {TOKEN}").into_bytes(),
        });
        let listener = TcpListener::bind(loopback).await.expect("bind");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(baseline_server(listener, state));
        addr
    });

    println!(
        "{conns} connections, {rounds} rounds of {slice:?}, {client_threads} client thread(s), \
         servers on 2 workers\n"
    );
    println!(
        "| request | BYOC req/s | moka req/s | ratio, median (min–max) | server CPU per request, BYOC / moka | ratio of requests per server CPU second | BYOC p50 / p99 | moka p50 / p99 |"
    );
    println!("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |");
    for (op, name) in [(Op::Get, "GET"), (Op::Put, "PUT")] {
        for size in SIZES {
            let (reqs, expected) = requests(op, size);
            // Warm-up: a short slice each.
            for addr in [byoc_addr, moka_addr] {
                client_rt.block_on(load(addr, &reqs, expected, conns, slice / 4));
            }
            let (mut ours, mut theirs) = (vec![], vec![]);
            let (mut ratios, mut cpu_ratios) = (vec![], vec![]);
            let (mut our_rps, mut their_rps, mut our_cpu, mut their_cpu) =
                (vec![], vec![], vec![], vec![]);
            for round in 0..rounds {
                let run = |addr| client_rt.block_on(load(addr, &reqs, expected, conns, slice));
                let (b, m) = if round % 2 == 0 {
                    let b = run(byoc_addr);
                    (b, run(moka_addr))
                } else {
                    let m = run(moka_addr);
                    (run(byoc_addr), m)
                };
                ratios.push(b.rps / m.rps);
                cpu_ratios.push(m.cpu_us / b.cpu_us);
                our_rps.push(b.rps);
                their_rps.push(m.rps);
                our_cpu.push(b.cpu_us);
                their_cpu.push(m.cpu_us);
                ours.extend(b.latencies);
                theirs.extend(m.latencies);
            }
            ours.sort_unstable();
            theirs.sort_unstable();
            let (lo, hi) = ratios
                .iter()
                .fold((f64::MAX, f64::MIN), |(lo, hi), &r| (lo.min(r), hi.max(r)));
            println!(
                "| {name} {size} B | {:.1}k | {:.1}k | {:.2}× ({lo:.2}–{hi:.2}) | {:.1} / {:.1} µs | {:.2}× | {:.0} / {:.0} µs | {:.0} / {:.0} µs |",
                median(our_rps) / 1e3,
                median(their_rps) / 1e3,
                median(ratios),
                median(our_cpu),
                median(their_cpu),
                median(cpu_ratios),
                percentile(&ours, 0.5),
                percentile(&ours, 0.99),
                percentile(&theirs, 0.5),
                percentile(&theirs, 0.99),
            );
        }
    }
}
