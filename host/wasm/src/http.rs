//! Outgoing `wasi:http` requests of an adapter, checked against its [`HttpGrant`] and sent
//! over a pool of connections.
//!
//! The host sends a request only when its origin (scheme, host, port) is in the grant;
//! any other request fails with `HTTP-request-denied` before a connection is attempted,
//! and with no HTTP grant every request fails so. Responses are handed to the adapter as
//! they are: the host never follows a redirect. Each of a request's timeouts (connect,
//! first byte, between bytes) is capped at the grant's `max_timeout`, so a hanging server
//! cannot hold a call forever (wasm deadlines only fire while wasm code runs).
//!
//! Every instance of one provider shares one [`PooledClient`]: keep-alive connections per
//! origin, HTTP/2 where a TLS server offers it (ALPN), at most `max_connections` open
//! connections per origin (busy or idle), idle ones closed after `idle_timeout`. `https`
//! is verified against the grant's CA file, or else the system's root certificates.

use super::grants::{HttpGrant, normalize_origin};
use crate::{Error, Result};
use bytes::Bytes;
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{
    CaptureConnection, Connected, Connection, HttpConnector, capture_connection,
};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::RootCertStore;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// The `wasi:http` hooks of one store: its HTTP grant and its provider's connection pool.
#[derive(Clone, Default)]
pub(crate) struct GrantedHttp {
    granted: Option<(Arc<HttpGrant>, PooledClient)>,
}

impl std::fmt::Debug for GrantedHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrantedHttp")
            .field("grant", &self.granted.as_ref().map(|(g, _)| g))
            .finish_non_exhaustive()
    }
}

type ResponseFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

impl GrantedHttp {
    /// The hooks for `grant`, with a new connection pool (no connection is opened yet).
    /// Fails when `https` is granted and no root certificate can be loaded.
    pub(crate) fn new(grant: Option<&HttpGrant>) -> Result<Self> {
        let granted = match grant {
            Some(grant) => Some((Arc::new(grant.clone()), PooledClient::new(grant)?)),
            None => None,
        };
        Ok(GrantedHttp { granted })
    }
}

fn cap(asked: Option<Duration>, max: Duration) -> Duration {
    asked.map_or(max, |d| d.min(max))
}

impl WasiHttpHooks for GrantedHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> ResponseFuture {
        drop(fut);
        // The grant is checked before the pool is asked for a connection: a pooled
        // connection is only ever one to a granted origin.
        let Some((grant, client)) = self
            .granted
            .as_ref()
            .filter(|(g, _)| g.allows(request.uri()))
        else {
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        };
        let max = grant.max_timeout;
        let options = options.unwrap_or_default();
        let timeouts = Timeouts {
            connect: cap(options.connect_timeout, max),
            first_byte: cap(options.first_byte_timeout, max),
            between_bytes: cap(options.between_bytes_timeout, max),
        };
        let client = client.clone();
        Box::new(async move {
            let response = client.send(request, timeouts).await?;
            // The pool's tasks drive the connection: nothing is left for the caller to run.
            let io = async { Ok(()) };
            Ok((response, Box::new(io) as Box<dyn Future<Output = _> + Send>))
        })
    }
}

/// A request's timeouts, capped by the grant.
#[derive(Debug, Clone, Copy)]
struct Timeouts {
    connect: Duration,
    first_byte: Duration,
    between_bytes: Duration,
}

/// The connection pool of one provider: a hyper client over TCP or TLS whose connector
/// opens at most `max_connections` connections per origin.
#[derive(Clone)]
pub(crate) struct PooledClient {
    client: Client<BoundedConnector, WasiBody>,
}

impl PooledClient {
    fn new(grant: &HttpGrant) -> Result<Self> {
        let roots = match &grant.ca_file {
            Some(path) => roots_from_file(path)?,
            None if grant.has_https() => system_roots()?,
            // No TLS origin is granted: the TLS side is never used.
            None => Arc::new(RootCertStore::empty()),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::InvalidConfig(format!("TLS setup failed: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut tcp = HttpConnector::new();
        // The TLS layer above handles `https`; the grant has already checked the scheme.
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        // The cap; a request's own, shorter connect timeout is applied around it.
        tcp.set_connect_timeout(Some(grant.max_timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(tcp);
        let max = grant.max_connections.max(1);
        let connector = BoundedConnector {
            inner: connector,
            open: Arc::new(
                grant
                    .origins
                    .iter()
                    .map(|o| (o.clone(), Arc::new(Semaphore::new(max))))
                    .collect(),
            ),
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(grant.idle_timeout)
            .pool_max_idle_per_host(max)
            .pool_timer(TokioTimer::new())
            .build(connector);
        Ok(PooledClient { client })
    }

    /// Sends `request` on a pooled connection (a new one if none is idle) and returns the
    /// response once its head has arrived.
    async fn send(
        self,
        mut request: http::Request<WasiBody>,
        timeouts: Timeouts,
    ) -> Result<http::Response<WasiBody>, HttpError> {
        let started = tokio::time::Instant::now();
        // Until the response head is in, dropping this (a timeout, or the adapter giving
        // up) closes the request's HTTP/1 connection: hyper would otherwise go on
        // sending its body to a server that does not read, the adapter blocked on it.
        let mut abandon = Abandon {
            capture: capture_connection(&mut request),
            armed: true,
        };
        let mut response = std::pin::pin!(self.client.request(request));
        // The connect timeout runs until the request has a connection (at once for an
        // idle pooled one; waiting for one to come free when the origin has its most
        // connections open counts too); the first-byte timeout from then until the
        // response head.
        let connecting = async {
            tokio::select! {
                biased;
                r = &mut response => Some(r),
                _ = abandon.capture.wait_for_connection_metadata() => None,
            }
        };
        let deadline = started + timeouts.connect;
        let response = match tokio::time::timeout_at(deadline, connecting).await {
            Err(_) => return Err(HttpError::ConnectionTimeout),
            Ok(Some(response)) => response,
            Ok(None) => tokio::time::timeout(timeouts.first_byte, &mut response)
                .await
                .map_err(|_| HttpError::ConnectionReadTimeout)?,
        };
        abandon.armed = false;
        let response = response.map_err(client_error)?;
        // Tokio panics on a zero interval.
        let between = timeouts.between_bytes.max(Duration::from_nanos(1));
        let mut timeout = tokio::time::interval(between);
        timeout.reset();
        Ok(response.map(|incoming| {
            http_body_util::BodyExt::boxed_unsync(ResponseBody { incoming, timeout })
        }))
    }
}

/// Closes the HTTP/1 connection of a request abandoned before its response head (HTTP/2
/// resets just the stream when the response future is dropped).
struct Abandon {
    capture: CaptureConnection,
    armed: bool,
}

impl Drop for Abandon {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let metadata = self.capture.connection_metadata();
        let Some(connected) = metadata.as_ref() else {
            return;
        };
        if connected.is_negotiated_h2() {
            return;
        }
        let mut extras = http::Extensions::new();
        connected.get_extras(&mut extras);
        if let Some(kill) = extras.get::<KillSwitch>() {
            kill.kill();
        }
    }
}

/// Closes a connection from outside: its next read or write fails, and one waiting is
/// woken to fail.
#[derive(Clone, Default)]
struct KillSwitch(Arc<KillState>);

#[derive(Default)]
struct KillState {
    killed: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl KillSwitch {
    fn kill(&self) {
        self.0.killed.store(true, Ordering::SeqCst);
        let waker = self
            .0
            .waker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn killed() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "request abandoned")
    }

    /// `poll` unless killed; when it is pending, the task is woken by a kill too.
    fn guard<T>(
        &self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(&mut Context<'_>) -> Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>> {
        if self.0.killed.load(Ordering::SeqCst) {
            return Poll::Ready(Err(Self::killed()));
        }
        let result = poll(cx);
        if result.is_pending() {
            *self.0.waker.lock().unwrap_or_else(|p| p.into_inner()) = Some(cx.waker().clone());
            // A kill between the check above and the waker being stored.
            if self.0.killed.load(Ordering::SeqCst) {
                return Poll::Ready(Err(Self::killed()));
            }
        }
        result
    }
}

/// A response body read with the between-bytes timeout.
struct ResponseBody {
    incoming: hyper::body::Incoming,
    timeout: tokio::time::Interval,
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, HttpError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.incoming).poll_frame(cx) {
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(if e.is_timeout() {
                HttpError::HttpResponseTimeout
            } else {
                HttpError::Hyper(e)
            }))),
            Poll::Ready(Some(Ok(frame))) => {
                this.timeout.reset();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                ready!(this.timeout.poll_tick(cx));
                Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.incoming.size_hint()
    }
}

/// The TCP/TLS connector of a pool, bounding the connections open to each granted origin:
/// a connection holds a place of its origin from its connect until it is closed.
#[derive(Clone)]
struct BoundedConnector {
    inner: HttpsConnector<HttpConnector>,
    /// Places per normalised granted origin.
    open: Arc<HashMap<String, Arc<Semaphore>>>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Stream = MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>;

impl tower_service::Service<http::Uri> for BoundedConnector {
    type Response = BoundedStream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<BoundedStream, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let places = normalize_origin(&uri.to_string())
            .ok()
            .and_then(|origin| self.open.get(&origin).cloned());
        let mut inner = self.inner.clone();
        Box::pin(async move {
            // Unreachable: every request is checked against the grant first.
            let places = places.ok_or("the origin is not granted")?;
            let place = places.acquire_owned().await?;
            let stream = inner.call(uri).await?;
            Ok(BoundedStream {
                stream,
                kill: KillSwitch::default(),
                _place: place,
            })
        })
    }
}

/// A connection of a [`BoundedConnector`]: its origin's place is freed when it closes.
struct BoundedStream {
    stream: Stream,
    kill: KillSwitch,
    _place: OwnedSemaphorePermit,
}

impl Connection for BoundedStream {
    fn connected(&self) -> Connected {
        self.stream.connected().extra(self.kill.clone())
    }
}

impl hyper::rt::Read for BoundedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let stream = &mut this.stream;
        this.kill
            .guard(cx, |cx| Pin::new(stream).poll_read(cx, buf))
    }
}

impl hyper::rt::Write for BoundedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let stream = &mut this.stream;
        this.kill
            .guard(cx, |cx| Pin::new(stream).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let stream = &mut this.stream;
        this.kill
            .guard(cx, |cx| Pin::new(stream).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let stream = &mut this.stream;
        this.kill.guard(cx, |cx| Pin::new(stream).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// The `wasi:http` error code for a failed request; the cause chain is logged for the
/// operator (the adapter sees only the code).
fn client_error(e: hyper_util::client::legacy::Error) -> HttpError {
    use std::error::Error as _;
    tracing::debug!(error = ?e, "outgoing HTTP request failed");
    let mut cause: Option<&(dyn std::error::Error + 'static)> = e.source();
    while let Some(c) = cause {
        if let Some(tls) = c.downcast_ref::<rustls::Error>() {
            return tls_error(tls);
        }
        if let Some(h) = c.downcast_ref::<hyper::Error>() {
            if h.is_timeout() {
                return HttpError::HttpResponseTimeout;
            }
            if h.is_incomplete_message() || h.is_canceled() || h.is_closed() {
                return HttpError::ConnectionTerminated;
            }
            if h.is_parse() || h.is_parse_status() {
                return HttpError::HttpProtocolError;
            }
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            match io.kind() {
                TimedOut => return HttpError::ConnectionTimeout,
                ConnectionRefused => return HttpError::ConnectionRefused,
                ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => {
                    return HttpError::ConnectionTerminated;
                }
                _ => {}
            }
            // `io::Error::source` skips the error it wraps (a TLS error, for one).
            if let Some(inner) = io.get_ref() {
                cause = Some(inner);
                continue;
            }
        }
        cause = c.source();
    }
    if e.is_connect() {
        HttpError::DestinationUnavailable
    } else {
        HttpError::InternalError(Some(e.to_string()))
    }
}

fn tls_error(e: &rustls::Error) -> HttpError {
    match e {
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
            HttpError::TlsCertificateError
        }
        rustls::Error::AlertReceived(alert) => HttpError::TlsAlertReceived {
            alert_id: Some(u8::from(*alert)),
            alert_message: Some(format!("{alert:?}")),
        },
        _ => HttpError::TlsProtocolError,
    }
}

/// Largest CA file read.
const MAX_CA_FILE_BYTES: u64 = 16 << 20;

/// The CA certificates of a PEM file.
fn roots_from_file(path: &std::path::Path) -> Result<Arc<RootCertStore>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    use std::io::Read;
    let bad =
        |why: String| Error::InvalidConfig(format!("the HTTP CA file {}: {why}", path.display()));
    let mut pem = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_CA_FILE_BYTES + 1).read_to_end(&mut pem))
        .map_err(|e| bad(format!("cannot be read: {e}")))?;
    if pem.len() as u64 > MAX_CA_FILE_BYTES {
        return Err(bad(format!("is over {MAX_CA_FILE_BYTES} bytes")));
    }
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| bad(format!("is not valid PEM: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| bad(format!("holds an unusable certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(bad("holds no certificate".into()));
    }
    Ok(Arc::new(roots))
}

/// The system's root certificates, loaded once per process, when first needed.
fn system_roots() -> Result<Arc<RootCertStore>> {
    static ROOTS: OnceLock<std::result::Result<Arc<RootCertStore>, String>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            let mut roots = RootCertStore::empty();
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                let errors: Vec<String> = found.errors.iter().map(|e| e.to_string()).collect();
                return Err(format!(
                    "no system root certificate was found for `https` origins ({}); install \
                     the system's CA bundle or give the HTTP grant a CA file",
                    if errors.is_empty() {
                        "none installed".to_owned()
                    } else {
                        errors.join("; ")
                    }
                ));
            }
            Ok(Arc::new(roots))
        })
        .clone()
        .map_err(Error::InvalidConfig)
}
