//! Outgoing HTTP for adapters over `wasi:http` (feature `http`): one [`Client`] per
//! origin, and [`Call`], the request builder every HTTP adapter sends with: per-request
//! timeouts, bounded retries with backoff on 5xx, throttling and refused connections, a
//! hook run before each try (signing), a limit on the answer's size, and an unsuccessful
//! status turned into a typed error ([`status_error`] or the adapter's own mapping). The
//! host checks every request against the cache's HTTP grant, caps the timeouts and never
//! follows redirects.
//!
//! Retries stop after [`Retry::attempts`] tries or once the request's timeout has passed
//! since the first try, whichever comes first, so a call ends within its deadline. A
//! timeout is never retried (the server is slow; another try would only be slower).
//! Outside a wasm component every request answers `unsupported`.

use crate::{Config, ConfigField, ConfigKind, Error, Result};

/// Default largest answer body read: a quarter of the host's default instance memory, so
/// the body, the buffer it grows from and what is decoded from it fit, and an endless
/// answer ends in `unavailable`, not in a trap.
pub const DEFAULT_MAX_BODY: usize = 64 << 20;

/// Default of the `timeout` field of the HTTP adapters.
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;

/// The `timeout` field every HTTP adapter takes (a duration, default
/// [`DEFAULT_TIMEOUT_MS`]).
pub fn timeout_field() -> ConfigField {
    ConfigField::new(
        "timeout",
        ConfigKind::DurationMs,
        false,
        "Connect, first-byte and between-bytes timeout of each request (default 5s).",
    )
}

/// The `timeout` field's value in ms ([`DEFAULT_TIMEOUT_MS`] when absent); zero is
/// `invalid-config`.
pub fn timeout_ms(config: &Config) -> Result<u64> {
    match config.duration_ms("timeout").unwrap_or(DEFAULT_TIMEOUT_MS) {
        0 => Err(Error::InvalidConfig("timeout must be above zero".into())),
        ms => Ok(ms),
    }
}

/// A parsed base URL: scheme, authority and path prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `true` for https.
    pub https: bool,
    /// `host[:port]`.
    pub authority: String,
    /// Path prefix without a trailing slash (may be empty).
    pub prefix: String,
}

impl Origin {
    /// Parses `http(s)://authority[/prefix]` (no user information, query or fragment).
    pub fn parse(url: &str) -> Result<Origin> {
        let bad = |why: &str| Error::InvalidConfig(format!("url `{url}`: {why}"));
        let (https, rest) = if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else {
            return Err(bad("must start with http:// or https://"));
        };
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(bad("needs a host and no user information"));
        }
        if prefix.contains(['?', '#']) {
            return Err(bad("must not have a query or fragment"));
        }
        Ok(Origin {
            https,
            authority: authority.to_owned(),
            prefix: prefix.to_owned(),
        })
    }

    /// `scheme://authority` (no prefix).
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.authority)
    }
}

/// A request: method, path and query below the origin's prefix, headers and body.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `GET`, `PUT`, `POST`, `DELETE`, `HEAD`, …
    pub method: String,
    /// Path and query below the origin's prefix, starting with `/`, already encoded.
    pub path: String,
    /// Headers, lowercase names.
    pub headers: Vec<(String, String)>,
    /// Body (sent with its length for `PUT` and `POST`; other methods send none).
    pub body: Vec<u8>,
}

impl Request {
    /// A request without headers or body.
    pub fn new(method: &str, path: impl Into<String>) -> Request {
        Request {
            method: method.to_owned(),
            path: path.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Request {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: Vec<u8>) -> Request {
        self.body = body;
        self
    }
}

/// An answer.
#[derive(Debug, Clone, Default)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, lowercase names, in the order received.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (lowercase) that is valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first bytes of the body as text, for error messages.
    pub fn snippet(&self) -> String {
        String::from_utf8_lossy(&self.body[..self.body.len().min(200)]).into_owned()
    }
}

/// How failed requests are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Tries in all (1: no retry).
    pub attempts: u32,
    /// Delay before the first retry; doubled before each further one, with jitter.
    pub base_delay_ms: u64,
    /// Largest delay between tries.
    pub max_delay_ms: u64,
}

impl Default for Retry {
    fn default() -> Retry {
        Retry {
            attempts: 3,
            base_delay_ms: 20,
            max_delay_ms: 500,
        }
    }
}

impl Retry {
    /// No retries.
    pub const NONE: Retry = Retry {
        attempts: 1,
        base_delay_ms: 0,
        max_delay_ms: 0,
    };

    /// Waits [`delay_ms`](Retry::delay_ms) before retry number `retry`: for loops of
    /// their own, such as a batch's unprocessed items.
    pub fn pause(&self, retry: u32) {
        std::thread::sleep(std::time::Duration::from_millis(self.delay_ms(retry)));
    }

    /// The delay before retry number `retry` (1 for the first): exponential, with jitter
    /// in its upper half so clients that failed together do not retry together.
    pub fn delay_ms(&self, retry: u32) -> u64 {
        let full = self
            .base_delay_ms
            .saturating_mul(1u64 << retry.saturating_sub(1).min(20))
            .min(self.max_delay_ms);
        let half = full / 2;
        half + crate::hash_seed(u64::from(retry)) % (full - half + 1)
    }
}

/// Whether an answer is worth another try: 5xx (but 501), 429 and 408.
pub fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502..=599)
}

/// The contract error for an unsuccessful answer from `service`, by its status alone:
/// 401 and 403 `denied`, 413 `value-too-large`, 408, 429 and 5xx `unavailable`, anything
/// else `internal` (with the start of the body). Adapters map their services' error
/// codes first and fall back on this.
pub fn status_error(service: &str, response: &Response) -> Error {
    let detail = format!("{service} answered {}", response.status);
    match response.status {
        401 | 403 => Error::Denied(format!("{detail}: check the credentials")),
        413 => Error::ValueTooLarge(detail),
        408 | 429 | 500..=599 => Error::Unavailable(detail),
        _ => Error::Internal(format!("{detail}: {}", response.snippet())),
    }
}

/// A client for one origin.
#[derive(Debug, Clone)]
pub struct Client {
    origin: Origin,
    timeout_ms: u64,
    retry: Retry,
    max_body: usize,
}

impl Client {
    /// A client for `origin` whose requests time out after `timeout_ms` (connect, first
    /// byte and between bytes each), with the default [`Retry`] and [`DEFAULT_MAX_BODY`].
    pub fn new(origin: Origin, timeout_ms: u64) -> Client {
        Client {
            origin,
            timeout_ms,
            retry: Retry::default(),
            max_body: DEFAULT_MAX_BODY,
        }
    }

    /// Sets the retry policy.
    pub fn with_retry(mut self, retry: Retry) -> Client {
        self.retry = retry;
        self
    }

    /// Sets the largest answer body read (a larger one is `unavailable`).
    pub fn with_max_body(mut self, bytes: usize) -> Client {
        self.max_body = bytes;
        self
    }

    /// The origin.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The per-request timeout.
    pub fn timeout_ms(&self) -> u64 {
        self.timeout_ms
    }

    /// A request to this origin: `method` and `path` (with query, already encoded, below
    /// the origin's prefix), sent with [`Call::send`] or [`Call::expect_success`].
    pub fn call(&self, method: &str, path: impl Into<String>) -> Call<'_> {
        Call {
            client: self,
            request: Request::new(method, path),
            retryable: Box::new(|r| retryable_status(r.status)),
            prepare: None,
        }
    }

    /// Sends `request`, retrying refused connections and answers [`retryable_status`]
    /// calls retryable. The last answer is returned whatever its status.
    pub fn send(&self, request: &Request) -> Result<Response> {
        self.send_with(request, |r| retryable_status(r.status), |_| Ok(()))
    }

    /// Like [`send`](Client::send), with `retryable` deciding which answers are tried
    /// again (e.g. a service's throttling error in a 400), and `prepare` called before
    /// each try (e.g. to sign it again with a fresh date; the headers it adds are
    /// removed before the next try).
    pub fn send_with(
        &self,
        request: &Request,
        retryable: impl Fn(&Response) -> bool,
        mut prepare: impl FnMut(&mut Request) -> Result<()>,
    ) -> Result<Response> {
        self.run(request.clone(), &retryable, Some(&mut prepare))
    }

    /// The retry loop: `request`'s own headers are kept across tries, what `prepare`
    /// adds is dropped before the next one (no copy of the body per try).
    fn run(
        &self,
        mut request: Request,
        retryable: &dyn Fn(&Response) -> bool,
        mut prepare: Option<&mut Prepare<'_>>,
    ) -> Result<Response> {
        let started = crate::now_ms();
        let own_headers = request.headers.len();
        let mut attempt = 0;
        loop {
            attempt += 1;
            request.headers.truncate(own_headers);
            if let Some(prepare) = prepare.as_mut() {
                prepare(&mut request)?;
            }
            let outcome = self.send_once(&request);
            let again = match &outcome {
                Ok(response) => retryable(response),
                Err(Failure::Retryable(_)) => true,
                Err(Failure::Final(_)) => false,
            };
            if !again || attempt >= self.retry.attempts {
                return outcome.map_err(Failure::into_error);
            }
            let delay = self.retry.delay_ms(attempt);
            let spent = crate::now_ms().saturating_sub(started);
            if spent.saturating_add(delay) >= self.timeout_ms {
                return outcome.map_err(Failure::into_error);
            }
            std::thread::sleep(std::time::Duration::from_millis(delay));
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn send_once(&self, _request: &Request) -> Result<Response, Failure> {
        Err(Failure::Final(Error::Unsupported(
            "HTTP requests are sent only inside a wasm component".into(),
        )))
    }

    #[cfg(target_arch = "wasm32")]
    fn send_once(&self, request: &Request) -> Result<Response, Failure> {
        wasm::send(self, request)
    }
}

/// A hook run before each try of a request (e.g. signing).
type Prepare<'a> = dyn FnMut(&mut Request) -> Result<()> + 'a;

/// A request being built for one [`Client`] (see [`Client::call`]).
pub struct Call<'c> {
    client: &'c Client,
    request: Request,
    retryable: Box<dyn Fn(&Response) -> bool + 'c>,
    prepare: Option<Box<Prepare<'c>>>,
}

impl std::fmt::Debug for Call<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("method", &self.request.method)
            .field("path", &self.request.path)
            .finish_non_exhaustive()
    }
}

impl<'c> Call<'c> {
    /// Adds a header (lowercase name).
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Call<'c> {
        self.request.headers.push((name.to_owned(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: Vec<u8>) -> Call<'c> {
        self.request.body = body;
        self
    }

    /// Which answers are tried again (default [`retryable_status`]), e.g. also a
    /// service's throttling error sent as a 400.
    pub fn retry_if(mut self, retryable: impl Fn(&Response) -> bool + 'c) -> Call<'c> {
        self.retryable = Box::new(retryable);
        self
    }

    /// Runs `prepare` before each try, e.g. to sign the request with a fresh date. The
    /// headers it adds are dropped before the next try.
    pub fn before_each_try(
        mut self,
        prepare: impl FnMut(&mut Request) -> Result<()> + 'c,
    ) -> Call<'c> {
        self.prepare = Some(Box::new(prepare));
        self
    }

    /// Sends the request with the client's retries; the last answer whatever its status.
    pub fn send(self) -> Result<Response> {
        let Call {
            client,
            request,
            retryable,
            mut prepare,
        } = self;
        let prepare = prepare.as_mut().map(|p| p.as_mut() as &mut Prepare<'_>);
        client.run(request, retryable.as_ref(), prepare)
    }

    /// Like [`send`](Call::send), with an unsuccessful (non-2xx) last answer turned into
    /// the error `error` makes of it (e.g. `|r| status_error("S3", r)`).
    pub fn expect_success(self, error: impl FnOnce(&Response) -> Error) -> Result<Response> {
        let response = self.send()?;
        if response.is_success() {
            Ok(response)
        } else {
            Err(error(&response))
        }
    }
}

/// A failed try, and whether another may succeed.
#[derive(Debug)]
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
enum Failure {
    Retryable(Error),
    Final(Error),
}

impl Failure {
    fn into_error(self) -> Error {
        match self {
            Failure::Retryable(e) | Failure::Final(e) => e,
        }
    }
}

#[cfg(target_arch = "wasm32")]
mod wasm {
    use super::{Client, Failure, Request, Response};
    use crate::Error;
    use wasi::http::outgoing_handler;
    use wasi::http::types::{
        ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, RequestOptions,
        Scheme,
    };
    use wasi::io::streams::StreamError;

    /// Bytes asked for per read of the answer.
    const READ_CHUNK: u64 = 64 << 10;

    fn too_large() -> Failure {
        Failure::Final(Error::Unavailable("the answer is too large".into()))
    }

    /// Makes room in `buf` for `more` bytes without the doubling of `Vec` that could ask
    /// for twice the limit; a refused allocation is the same `unavailable` as an answer
    /// over the limit.
    fn make_room(buf: &mut Vec<u8>, more: usize, max: usize) -> Result<(), Failure> {
        let needed = buf.len() + more;
        if needed > max {
            return Err(too_large());
        }
        if needed > buf.capacity() {
            let target = (buf.capacity() * 2).clamp(needed, max);
            buf.try_reserve_exact(target - buf.len())
                .map_err(|_| too_large())?;
        }
        Ok(())
    }

    fn transport_error(e: ErrorCode) -> Failure {
        match e {
            ErrorCode::HttpRequestDenied => Failure::Final(Error::Denied(
                "the host refused the request: its origin is not granted".into(),
            )),
            ErrorCode::HttpRequestUriInvalid | ErrorCode::HttpRequestMethodInvalid => {
                Failure::Final(Error::InvalidConfig(format!(
                    "the request is invalid: {e:?}"
                )))
            }
            // A slow server stays slow: no retry after a timeout.
            ErrorCode::ConnectionTimeout
            | ErrorCode::ConnectionReadTimeout
            | ErrorCode::ConnectionWriteTimeout
            | ErrorCode::HttpResponseTimeout => Failure::Final(Error::Unavailable(format!(
                "the server did not answer in time: {e:?}"
            ))),
            other => Failure::Retryable(Error::Unavailable(format!(
                "the server cannot be reached: {other:?}"
            ))),
        }
    }

    fn stream_error(e: StreamError) -> Failure {
        match e {
            StreamError::LastOperationFailed(e) => Failure::Final(Error::Unavailable(format!(
                "transfer failed: {}",
                e.to_debug_string()
            ))),
            StreamError::Closed => {
                Failure::Final(Error::Unavailable("the connection closed".into()))
            }
        }
    }

    pub(super) fn send(client: &Client, request: &Request) -> Result<Response, Failure> {
        let invalid = |what: &str| {
            Failure::Final(Error::InvalidConfig(format!(
                "cannot build the request: {what}"
            )))
        };
        let has_body = matches!(request.method.as_str(), "PUT" | "POST");
        let mut list: Vec<(String, Vec<u8>)> = request
            .headers
            .iter()
            .map(|(n, v)| (n.clone(), v.clone().into_bytes()))
            .collect();
        if has_body {
            list.push((
                "content-length".into(),
                request.body.len().to_string().into_bytes(),
            ));
        }
        let fields = Fields::from_list(&list).map_err(|e| invalid(&format!("headers: {e:?}")))?;
        let outgoing = OutgoingRequest::new(fields);
        let method = match request.method.as_str() {
            "GET" => Method::Get,
            "PUT" => Method::Put,
            "POST" => Method::Post,
            "DELETE" => Method::Delete,
            "HEAD" => Method::Head,
            other => Method::Other(other.to_owned()),
        };
        outgoing
            .set_method(&method)
            .map_err(|()| invalid("method"))?;
        let origin = &client.origin;
        let scheme = if origin.https {
            Scheme::Https
        } else {
            Scheme::Http
        };
        outgoing
            .set_scheme(Some(&scheme))
            .map_err(|()| invalid("scheme"))?;
        outgoing
            .set_authority(Some(&origin.authority))
            .map_err(|()| invalid("authority"))?;
        let path = format!("{}{}", origin.prefix, request.path);
        outgoing
            .set_path_with_query(Some(&path))
            .map_err(|()| invalid("path"))?;

        let options = RequestOptions::new();
        let ns = client.timeout_ms.saturating_mul(1_000_000);
        // A host may refuse to honour an option; its own cap then applies.
        let _ = options.set_connect_timeout(Some(ns));
        let _ = options.set_first_byte_timeout(Some(ns));
        let _ = options.set_between_bytes_timeout(Some(ns));

        let body = if has_body {
            Some(outgoing.body().map_err(|()| invalid("body"))?)
        } else {
            None
        };
        let future = outgoing_handler::handle(outgoing, Some(options)).map_err(transport_error)?;
        // A failed body write is reported after the response future: when the host
        // refused the request, the future holds the reason (e.g. `denied`).
        let mut write_error = None;
        if let Some(body) = body {
            match body.write() {
                Ok(stream) => {
                    for chunk in request.body.chunks(4096) {
                        if let Err(e) = stream.blocking_write_and_flush(chunk) {
                            write_error = Some(stream_error(e));
                            break;
                        }
                    }
                }
                Err(()) => write_error = Some(invalid("body stream")),
            }
            if let Err(e) = OutgoingBody::finish(body, None)
                && write_error.is_none()
            {
                write_error = Some(transport_error(e));
            }
        }

        let response = loop {
            match future.get() {
                Some(Ok(Ok(response))) => break response,
                Some(Ok(Err(e))) => return Err(transport_error(e)),
                Some(Err(())) => {
                    return Err(Failure::Final(Error::Internal(
                        "response taken twice".into(),
                    )));
                }
                None => future.subscribe().block(),
            }
        };
        let status = response.status();
        // A success after a body that did not go out whole is not a success; an error
        // status (e.g. 413) explains itself.
        if let Some(e) = write_error
            && (200..300).contains(&status)
        {
            return Err(e);
        }
        let headers = response.headers().entries();
        let incoming = response
            .consume()
            .map_err(|()| Failure::Final(Error::Internal("response body taken twice".into())))?;
        let mut bytes = Vec::new();
        {
            let stream = incoming.stream().map_err(|()| {
                Failure::Final(Error::Internal("response stream taken twice".into()))
            })?;
            loop {
                match stream.blocking_read(READ_CHUNK) {
                    Ok(chunk) => {
                        make_room(&mut bytes, chunk.len(), client.max_body)?;
                        bytes.extend_from_slice(&chunk);
                    }
                    Err(StreamError::Closed) => break,
                    Err(e) => return Err(stream_error(e)),
                }
            }
        }
        drop(IncomingBody::finish(incoming));
        Ok(Response {
            status,
            headers: headers
                .into_iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v))
                .collect(),
            body: bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_parse() {
        let o = Origin::parse("https://h.example:9000/base/").expect("parse");
        assert!(o.https);
        assert_eq!(o.authority, "h.example:9000");
        assert_eq!(o.prefix, "/base");
        assert_eq!(o.url(), "https://h.example:9000");
        for bad in ["ftp://x", "http://", "http://u:p@h", "http://h/?q"] {
            assert!(
                matches!(Origin::parse(bad), Err(Error::InvalidConfig(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn retry_delays_grow_and_are_capped() {
        let r = Retry {
            attempts: 5,
            base_delay_ms: 100,
            max_delay_ms: 300,
        };
        let d1 = r.delay_ms(1);
        assert!((50..=100).contains(&d1), "{d1}");
        let d3 = r.delay_ms(3);
        assert!((150..=300).contains(&d3), "{d3}");
        assert!(retryable_status(503) && retryable_status(429) && !retryable_status(501));
        assert!(!retryable_status(404) && !retryable_status(200));
    }

    #[test]
    fn outside_wasm_requests_are_unsupported() {
        let client = Client::new(Origin::parse("http://127.0.0.1:1").expect("parse"), 100);
        let r = client.send(&Request::new("GET", "/"));
        assert!(matches!(r, Err(Error::Unsupported(_))), "{r:?}");
    }

    #[test]
    fn statuses_map_to_typed_errors() {
        let answer = |status| Response {
            status,
            headers: Vec::new(),
            body: b"why".to_vec(),
        };
        assert!(matches!(status_error("S", &answer(403)), Error::Denied(_)));
        assert!(matches!(
            status_error("S", &answer(413)),
            Error::ValueTooLarge(_)
        ));
        for s in [408, 429, 500, 503] {
            assert!(
                matches!(status_error("S", &answer(s)), Error::Unavailable(_)),
                "{s}"
            );
        }
        assert!(matches!(status_error("S", &answer(418)), Error::Internal(m) if m.contains("why")));
    }

    #[test]
    fn calls_run_their_hook_and_are_unsupported_outside_wasm() {
        let client = Client::new(Origin::parse("http://127.0.0.1:1").expect("parse"), 100);
        let mut tries = 0;
        let r = client
            .call("PUT", "/k")
            .header("x-a", "1")
            .body(b"v".to_vec())
            .retry_if(|_| true)
            .before_each_try(|r| {
                tries += 1;
                assert_eq!(r.headers.len(), 1, "hook headers are dropped per try");
                r.headers.push(("x-signed".into(), "yes".into()));
                Ok(())
            })
            .expect_success(|r| status_error("S", r));
        assert!(matches!(r, Err(Error::Unsupported(_))), "{r:?}");
        assert_eq!(tries, 1, "an unsupported request is not retried");
    }
}
