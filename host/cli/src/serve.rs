//! `byoc serve`: any [`Provider`] over the HTTP cache protocol of `docs/http-protocol.md`.
//!
//! Start it in process with [`Server::bind`] (tests use a free loopback port) or from the
//! command line with `byoc serve`. Every request needs `Authorization: Bearer <token>`
//! when a token is configured; a value larger than [`ServeConfig::max_value_bytes`] or a
//! batch body larger than [`ServeConfig::max_body_bytes`] is refused with 413 (at once
//! when `Content-Length` says so); bodies buffered at once are bounded by
//! [`ServeConfig::max_buffered_bytes`]; a request that takes longer than
//! [`ServeConfig::request_timeout`] is answered 503; headers must arrive within
//! [`ServeConfig::header_timeout`]. Errors are a status code with a JSON body
//! `{"error": "<kind>", "message": "..."}`.

// Handlers return a finished error reply as `Err`; it is built once per request, so its
// size does not matter.
#![allow(clippy::result_large_err)]

use crate::{Error, Item, KeyTtl, Provider, Result, Stats};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

/// Default [`ServeConfig::max_body_bytes`]: 64 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 << 20;
/// Default [`ServeConfig::max_buffered_bytes`]: 256 MiB.
pub const DEFAULT_MAX_BUFFERED_BYTES: usize = 256 << 20;
/// The largest body of a request that carries no value (`expire`).
const SMALL_BODY_BYTES: usize = 64 << 10;
/// A refused body announcing at most this many bytes is read and dropped before the 413
/// (see [`drain`]); a larger one is refused at once.
const DRAIN_BYTES: u64 = 1 << 20;
/// The longest [`drain`] waits for a refused body.
const DRAIN_TIME: Duration = Duration::from_secs(2);
/// Request bodies are reserved from [`ServeConfig::max_buffered_bytes`] in units of this
/// many bytes (a semaphore counts in `u32`).
const BUFFER_UNIT: usize = 1024;
/// Header of a `404` for a missing key: tells it from a route that does not exist (a
/// wrong base path), also on `HEAD`, whose answer has no body.
pub const ERROR_HEADER: &str = "x-byoc-error";
/// Default [`ServeConfig::request_timeout`]: 30 s.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Default [`ServeConfig::header_timeout`]: 10 s.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings of a server.
#[derive(Debug, Clone)]
#[must_use]
pub struct ServeConfig {
    /// Bearer token every request must carry; `None` accepts any request.
    pub token: Option<String>,
    /// Largest batch request body accepted (default [`DEFAULT_MAX_BODY_BYTES`]).
    pub max_body_bytes: usize,
    /// Largest single value accepted (`PUT` of a key; default
    /// [`DEFAULT_MAX_VALUE_BYTES`](byoc::wasm::DEFAULT_MAX_VALUE_BYTES)): set it to the
    /// served provider's [`Limits::max_value_bytes`](byoc::Limits::max_value_bytes), so
    /// a body the provider would refuse is refused before it is read.
    pub max_value_bytes: usize,
    /// Most request-body bytes buffered at once over all requests (default
    /// [`DEFAULT_MAX_BUFFERED_BYTES`]); a request waits for room, within its timeout.
    pub max_buffered_bytes: usize,
    /// Longest a request may take, body included (default [`DEFAULT_REQUEST_TIMEOUT`]).
    pub request_timeout: Duration,
    /// Longest a client may take to send its request headers (default
    /// [`DEFAULT_HEADER_TIMEOUT`]).
    pub header_timeout: Duration,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            token: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_value_bytes: byoc::wasm::DEFAULT_MAX_VALUE_BYTES,
            max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
        }
    }
}

/// A running server; stops when [`Server::shutdown`] is called or it is dropped.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

struct State {
    provider: Arc<dyn Provider>,
    config: ServeConfig,
    /// `Bearer <token>`, built once: compared with every request's `Authorization`.
    expected_auth: Option<Box<[u8]>>,
    /// Room for request bodies, in [`BUFFER_UNIT`]s.
    buffers: Arc<Semaphore>,
    /// How many units `buffers` started with.
    buffers_total: usize,
}

/// The shortest and longest pause after a failed `accept` (out of file descriptors, for
/// one): without it, the loop would retry at once and spin.
const ACCEPT_BACKOFF: (Duration, Duration) = (Duration::from_millis(5), Duration::from_secs(1));

type Reply = Response<Full<Bytes>>;

impl Server {
    /// Binds `addr` (port 0 picks a free one) and serves `provider` on it from a task of
    /// the current tokio runtime.
    pub async fn bind(
        addr: SocketAddr,
        provider: Arc<dyn Provider>,
        config: ServeConfig,
    ) -> Result<Server> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| Error::Unavailable(format!("cannot listen on {addr}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Internal(format!("listener address: {e}")))?;
        let (stop, mut stopped) = watch::channel(false);
        let units = (config.max_buffered_bytes / BUFFER_UNIT).clamp(1, u32::MAX as usize);
        let buffers = Arc::new(Semaphore::new(units));
        let expected_auth = config
            .token
            .as_ref()
            .map(|t| format!("Bearer {t}").into_bytes().into_boxed_slice());
        let state = Arc::new(State {
            provider,
            config,
            expected_auth,
            buffers,
            buffers_total: units,
        });
        let task = tokio::spawn(async move {
            let mut backoff = ACCEPT_BACKOFF.0;
            // Every connection's task: dropped with this task when the server stops, which
            // aborts them (a connection watching the stop signal itself would lock that
            // signal's shared waiter list each time it is woken).
            let mut connections = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    _ = stopped.changed() => return,
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                    accepted = listener.accept() => {
                        let stream = match accepted {
                            Ok((stream, _)) => {
                                backoff = ACCEPT_BACKOFF.0;
                                // Answers are small and each one waits for its request:
                                // without this, Nagle's algorithm can hold a reply back
                                // until the client's delayed acknowledgement.
                                let _ = stream.set_nodelay(true);
                                stream
                            }
                            Err(e) => {
                                tracing::warn!("accepting a connection failed: {e}; retrying in {backoff:?}");
                                tokio::select! {
                                    _ = stopped.changed() => return,
                                    _ = tokio::time::sleep(backoff) => {}
                                }
                                backoff = (backoff * 2).min(ACCEPT_BACKOFF.1);
                                continue;
                            }
                        };
                        // A reference count of this connection's own: each request takes
                        // one, and a count shared by all connections would bounce between
                        // the cores serving them.
                        let state = Arc::new(Arc::clone(&state));
                        let header_timeout = state.config.header_timeout;
                        let service = service_fn(move |req| {
                            let state = Arc::clone(&state);
                            async move { Ok::<_, Infallible>(handle(&state, req).await) }
                        });
                        let conn = http1::Builder::new()
                            .timer(TokioTimer::new())
                            .header_read_timeout(header_timeout)
                            .serve_connection(TokioIo::new(stream), service);
                        connections.spawn(async move {
                            let _ = conn.await;
                        });
                    }
                }
            }
        });
        Ok(Server { addr, stop, task })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL of the server, `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting and closes every connection.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = (&mut { self }.task).await;
    }

    /// Serves until the task ends (it does not end unless shut down).
    pub async fn wait(self) {
        let _ = (&mut { self }.task).await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: String,
}

fn reply(status: StatusCode, body: impl Into<Bytes>, content_type: &'static str) -> Reply {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}

fn json_reply<T: Serialize>(status: StatusCode, value: &T) -> Reply {
    match serde_json::to_vec(value) {
        Ok(body) => reply(status, body, "application/json"),
        Err(e) => fail(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    }
}

fn fail(status: StatusCode, kind: &str, message: String) -> Reply {
    let body = ErrorBody {
        error: kind,
        message,
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    reply(status, bytes, "application/json")
}

/// The status and JSON `error` of a provider error.
fn error_reply(e: &Error) -> Reply {
    let (status, kind) = match e {
        Error::InvalidKey(_) => (StatusCode::BAD_REQUEST, "invalid-key"),
        Error::ValueTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "value-too-large"),
        Error::InvalidArgument(_) => (StatusCode::BAD_REQUEST, "invalid-argument"),
        Error::InvalidConfig(_) => (StatusCode::BAD_REQUEST, "invalid-config"),
        Error::Unavailable(_) | Error::DeadlineExceeded { .. } => {
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        }
        Error::Denied(_) => (StatusCode::FORBIDDEN, "denied"),
        Error::Unsupported(_) => (StatusCode::NOT_IMPLEMENTED, "unsupported"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    };
    fail(status, kind, e.to_string())
}

/// Decodes `%XX` escapes; `None` for a bad escape or bytes that are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn query(uri: &http::Uri) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for pair in uri.query().unwrap_or("").split('&') {
        if pair.is_empty() {
            continue;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.insert(percent_decode(k)?, percent_decode(v)?);
    }
    Some(out)
}

fn authorized(state: &State, headers: &http::HeaderMap) -> bool {
    let Some(expected) = &state.expected_auth else {
        return true;
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    // Compare without an early exit, so timing does not reveal a prefix of the token.
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

async fn handle(state: &State, req: Request<Incoming>) -> Reply {
    if !authorized(state, req.headers()) {
        return fail(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid `Authorization: Bearer <token>` header is required".into(),
        );
    }
    match tokio::time::timeout(state.config.request_timeout, route(state, req)).await {
        Ok(reply) => reply,
        Err(_) => fail(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!(
                "the request took longer than {:?}",
                state.config.request_timeout
            ),
        ),
    }
}

/// A request body read whole, with its share of [`ServeConfig::max_buffered_bytes`]
/// (released when it is dropped, after the provider's call).
struct Body {
    bytes: Bytes,
    room: OwnedSemaphorePermit,
}

/// Reads a body of at most `limit` bytes. A `Content-Length` over the limit is refused
/// before anything is read; room for the body (its announced length, else the limit) is
/// reserved first.
async fn body(
    state: &State,
    headers: &http::HeaderMap,
    incoming: Incoming,
    limit: usize,
) -> std::result::Result<Body, Reply> {
    let too_large = || {
        fail(
            StatusCode::PAYLOAD_TOO_LARGE,
            "value-too-large",
            format!("the request body is larger than {limit} bytes"),
        )
    };
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let expected = match announced {
        Some(n) if n > limit as u64 => {
            // A small body is read and dropped first: closing a connection with unread
            // data resets it, and the client could lose the 413 answer.
            if n <= DRAIN_BYTES {
                drain(incoming).await;
            }
            return Err(too_large());
        }
        Some(n) => usize::try_from(n).unwrap_or(limit),
        None => limit,
    };
    // A body larger than the whole budget waits for all of it.
    let units = expected.div_ceil(BUFFER_UNIT).clamp(1, state.buffers_total);
    let room = Arc::clone(&state.buffers)
        .acquire_many_owned(u32::try_from(units).unwrap_or(u32::MAX))
        .await
        .map_err(|_| {
            fail(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the server is stopping".into(),
            )
        })?;
    match Limited::new(incoming, limit).collect().await {
        Ok(collected) => Ok(Body {
            bytes: collected.to_bytes(),
            room,
        }),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(e) => Err(fail(
            StatusCode::BAD_REQUEST,
            "invalid-argument",
            format!("cannot read the request body: {e}"),
        )),
    }
}

/// Reads and drops a refused body of at most [`DRAIN_BYTES`], for at most
/// [`DRAIN_TIME`].
async fn drain(mut body: Incoming) {
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while let Some(Ok(_)) = body.frame().await {}
    })
    .await;
}

/// A JSON body of at most `limit` bytes, with its room in the buffer budget (held while
/// the decoded request is in use).
async fn json_body<T: for<'a> Deserialize<'a>>(
    state: &State,
    headers: &http::HeaderMap,
    incoming: Incoming,
    limit: usize,
) -> std::result::Result<(T, OwnedSemaphorePermit), Reply> {
    let body = body(state, headers, incoming, limit).await?;
    let parsed = serde_json::from_slice(&body.bytes).map_err(|e| {
        fail(
            StatusCode::BAD_REQUEST,
            "invalid-argument",
            format!("the request body is not the expected JSON: {e}"),
        )
    })?;
    Ok((parsed, body.room))
}

fn bad(message: impl Into<String>) -> Reply {
    fail(StatusCode::BAD_REQUEST, "invalid-argument", message.into())
}

fn ttl_ms(ms: Option<u64>) -> Option<Duration> {
    ms.map(Duration::from_millis)
}

#[derive(Deserialize)]
struct KeysBody {
    keys: Vec<String>,
}

#[derive(Deserialize)]
struct ItemBody {
    key: String,
    value: String,
    ttl_ms: Option<u64>,
}

#[derive(Deserialize)]
struct ItemsBody {
    items: Vec<ItemBody>,
}

#[derive(Deserialize)]
struct ExpireBody {
    ttl_ms: Option<u64>,
}

#[derive(Serialize)]
struct StatsBody {
    hits: u64,
    misses: u64,
    keys: u64,
    bytes: u64,
    evictions: u64,
    expirations: u64,
    extra: BTreeMap<String, u64>,
}

impl From<Stats> for StatsBody {
    fn from(s: Stats) -> Self {
        StatsBody {
            hits: s.hits,
            misses: s.misses,
            keys: s.keys,
            bytes: s.bytes,
            evictions: s.evictions,
            expirations: s.expirations,
            extra: s.extra.into_iter().collect(),
        }
    }
}

macro_rules! try_reply {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(reply) => return reply,
        }
    };
}

macro_rules! try_provider {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return error_reply(&e),
        }
    };
}

fn no_content() -> Reply {
    reply(StatusCode::NO_CONTENT, Bytes::new(), "text/plain")
}

fn with_ttl(mut reply: Reply, ttl: KeyTtl) -> Reply {
    if let KeyTtl::ExpiresIn(d) = ttl
        && let Ok(v) = header::HeaderValue::from_str(&d.as_millis().max(1).to_string())
    {
        reply.headers_mut().insert("x-byoc-ttl-ms", v);
    }
    reply
}

async fn route(state: &State, req: Request<Incoming>) -> Reply {
    let p = &state.provider;
    let (parts, incoming) = req.into_parts();
    let (method, path, headers) = (&parts.method, parts.uri.path(), &parts.headers);
    let Some(rest) = path.strip_prefix("/v1/") else {
        return no_route(method, path);
    };
    let (head, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let key =
        || percent_decode(tail).ok_or_else(|| bad("the key is not valid percent-encoded UTF-8"));
    match (method, head) {
        (&Method::GET, "ping") => {
            try_provider!(p.ping().await);
            no_content()
        }
        (&Method::GET, "stats") => json_reply(
            StatusCode::OK,
            &StatsBody::from(try_provider!(p.stats().await)),
        ),
        (&Method::POST, "clear") => {
            try_provider!(p.clear().await);
            no_content()
        }
        (&Method::GET, "scan") => {
            let Some(q) = query(&parts.uri) else {
                return bad("the query is not valid percent-encoded UTF-8");
            };
            let pattern = q.get("pattern").map_or("*", String::as_str);
            let count = match q.get("count").map(|c| c.parse::<u32>()) {
                None => 100,
                Some(Ok(c)) => c,
                Some(Err(_)) => return bad("count must be a number"),
            };
            let page = try_provider!(
                p.scan(pattern, q.get("cursor").map(String::as_str), count)
                    .await
            );
            json_reply(
                StatusCode::OK,
                &serde_json::json!({ "keys": page.keys, "cursor": page.cursor }),
            )
        }
        (&Method::POST, "batch") => match tail {
            "get" => {
                let (body, _room): (KeysBody, _) = try_reply!(
                    json_body(state, headers, incoming, state.config.max_body_bytes).await
                );
                let values = try_provider!(p.get_multi(&body.keys).await);
                let values: Vec<Option<String>> = values
                    .into_iter()
                    .map(|v| v.map(|v| B64.encode(v)))
                    .collect();
                json_reply(StatusCode::OK, &serde_json::json!({ "values": values }))
            }
            "set" => {
                let (body, _room): (ItemsBody, _) = try_reply!(
                    json_body(state, headers, incoming, state.config.max_body_bytes).await
                );
                let mut items = Vec::with_capacity(body.items.len());
                for item in body.items {
                    let Ok(value) = B64.decode(&item.value) else {
                        return bad(format!("the value of `{}` is not base64", item.key));
                    };
                    if item.ttl_ms == Some(0) {
                        return bad("a ttl_ms of 0 is not allowed");
                    }
                    items.push(Item::new(item.key, value, ttl_ms(item.ttl_ms)));
                }
                try_provider!(p.set_multi(&items).await);
                no_content()
            }
            "delete" => {
                let (body, _room): (KeysBody, _) = try_reply!(
                    json_body(state, headers, incoming, state.config.max_body_bytes).await
                );
                let deleted = try_provider!(p.delete_multi(&body.keys).await);
                json_reply(StatusCode::OK, &serde_json::json!({ "deleted": deleted }))
            }
            _ => no_route(method, path),
        },
        (&Method::POST, "expire") => {
            let key = try_reply!(key());
            let (body, _room): (ExpireBody, _) =
                try_reply!(json_body(state, headers, incoming, SMALL_BODY_BYTES).await);
            let existed = try_provider!(p.expire(&key, ttl_ms(body.ttl_ms)).await);
            json_reply(StatusCode::OK, &serde_json::json!({ "existed": existed }))
        }
        (&Method::GET, "ttl") => {
            let key = try_reply!(key());
            let body = match try_provider!(p.ttl(&key).await) {
                KeyTtl::Missing => serde_json::json!({ "state": "missing" }),
                KeyTtl::Persistent => serde_json::json!({ "state": "persistent" }),
                KeyTtl::ExpiresIn(d) => {
                    serde_json::json!({ "state": "expires", "ms": d.as_millis().max(1) as u64 })
                }
            };
            json_reply(StatusCode::OK, &body)
        }
        (_, "keys") => {
            let key = try_reply!(key());
            match *method {
                Method::GET => match try_provider!(p.get(&key).await) {
                    None => missing_key(true),
                    Some(value) => {
                        let ttl = try_provider!(p.ttl(&key).await);
                        with_ttl(
                            reply(StatusCode::OK, value, "application/octet-stream"),
                            ttl,
                        )
                    }
                },
                Method::HEAD => {
                    if try_provider!(p.exists(&key).await) {
                        reply(StatusCode::OK, Bytes::new(), "application/octet-stream")
                    } else {
                        missing_key(false)
                    }
                }
                Method::PUT => {
                    let Some(q) = query(&parts.uri) else {
                        return bad("the query is not valid percent-encoded UTF-8");
                    };
                    let ttl = match q.get("ttl_ms").map(|t| t.parse::<u64>()) {
                        None => None,
                        Some(Ok(0)) => return bad("a ttl_ms of 0 is not allowed"),
                        Some(Ok(ms)) => Some(Duration::from_millis(ms)),
                        Some(Err(_)) => return bad("ttl_ms must be a number"),
                    };
                    let limit = state
                        .config
                        .max_value_bytes
                        .min(state.config.max_body_bytes);
                    let value = try_reply!(body(state, headers, incoming, limit).await);
                    try_provider!(p.set(&key, &value.bytes, ttl).await);
                    no_content()
                }
                Method::DELETE => {
                    let deleted = try_provider!(p.delete(&key).await);
                    json_reply(StatusCode::OK, &serde_json::json!({ "deleted": deleted }))
                }
                _ => fail(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "unsupported",
                    format!("{method} is not allowed on keys"),
                ),
            }
        }
        _ => no_route(method, path),
    }
}

/// `404` for a path that is no operation (`no-route`): a client reads it as a mistake
/// (a wrong base path), never as a missing key.
fn no_route(method: &Method, path: &str) -> Reply {
    fail(
        StatusCode::NOT_FOUND,
        "no-route",
        format!("no route {method} {path} (is the base path right?)"),
    )
}

/// `404` for a missing key: error `not-found`, also in the [`ERROR_HEADER`] header.
fn missing_key(with_body: bool) -> Reply {
    let mut answer = if with_body {
        fail(StatusCode::NOT_FOUND, "not-found", "no such key".into())
    } else {
        reply(StatusCode::NOT_FOUND, Bytes::new(), "application/json")
    };
    answer
        .headers_mut()
        .insert(ERROR_HEADER, header::HeaderValue::from_static("not-found"));
    answer
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%2Fc").as_deref(), Some("a b/c"));
        assert_eq!(percent_decode("%D0%BA").as_deref(), Some("к"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%FF"), None);
        assert_eq!(percent_decode("%4"), None);
    }
}
