//! Outgoing `wasi:http` requests of an adapter, checked against its [`HttpGrant`].
//!
//! The host sends a request only when its origin (scheme, host, port) is in the grant;
//! any other request fails with `HTTP-request-denied` before a connection is attempted,
//! and with no HTTP grant every request fails so. Responses are handed to the adapter as
//! they are: the host never follows a redirect. Each of a request's timeouts (connect,
//! first byte, between bytes) is capped at the grant's `max_timeout`, so a hanging server
//! cannot hold a call forever (wasm deadlines only fire while wasm code runs).

use super::grants::HttpGrant;
use std::future::Future;
use std::time::Duration;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// The `wasi:http` hooks of one store: its HTTP grant.
#[derive(Debug, Clone, Default)]
pub(crate) struct GrantedHttp {
    grant: Option<HttpGrant>,
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
    pub(crate) fn new(grant: Option<HttpGrant>) -> Self {
        GrantedHttp { grant }
    }
}

fn cap(asked: Option<Duration>, max: Duration) -> Option<Duration> {
    Some(asked.map_or(max, |d| d.min(max)))
}

impl WasiHttpHooks for GrantedHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> ResponseFuture {
        drop(fut);
        let Some(grant) = self.grant.as_ref().filter(|g| g.allows(request.uri())) else {
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        };
        let max = grant.max_timeout;
        let options = options.unwrap_or_default();
        let options = RequestOptions {
            connect_timeout: cap(options.connect_timeout, max),
            first_byte_timeout: cap(options.first_byte_timeout, max),
            between_bytes_timeout: cap(options.between_bytes_timeout, max),
        };
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) =
                wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}
