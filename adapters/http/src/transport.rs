//! Sending one request over `wasi:http` (wasm only).

use crate::{Base, Request, Response};
use byoc_guest_sdk::{Error, Result};
use wasi::http::outgoing_handler;
use wasi::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use wasi::io::streams::StreamError;

/// Largest answer body read: a quarter of the host's default instance memory (256 MiB),
/// so the body, the buffer it grows from and what is decoded from it fit in memory, and
/// an endless answer ends in `unavailable`, not in a trap. It is above what one call may
/// answer in values (the host's limit, 64 MiB by default, reached only by a batch); a
/// JSON batch near that limit (base64 adds a third) is refused here.
const MAX_BODY: usize = 64 << 20;

/// Bytes asked for per read of the answer.
const READ_CHUNK: u64 = 64 << 10;

fn too_large() -> Error {
    Error::Unavailable("the answer is too large".into())
}

/// Makes room in `buf` for `more` bytes without the doubling of `Vec` that could ask for
/// twice [`MAX_BODY`]; an allocation refused (an instance configured with less memory) is
/// the same `unavailable` as an answer over the limit.
fn make_room(buf: &mut Vec<u8>, more: usize) -> Result<()> {
    let needed = buf.len() + more;
    if needed > MAX_BODY {
        return Err(too_large());
    }
    if needed > buf.capacity() {
        let target = (buf.capacity() * 2).clamp(needed, MAX_BODY);
        buf.try_reserve_exact(target - buf.len())
            .map_err(|_| too_large())?;
    }
    Ok(())
}

fn transport_error(e: ErrorCode) -> Error {
    match e {
        ErrorCode::HttpRequestDenied => {
            Error::Denied("the host refused the request: its origin is not granted".into())
        }
        ErrorCode::HttpRequestUriInvalid | ErrorCode::HttpRequestMethodInvalid => {
            Error::InvalidConfig(format!("the request is invalid: {e:?}"))
        }
        other => Error::Unavailable(format!("the server cannot be reached: {other:?}")),
    }
}

fn stream_error(e: StreamError) -> Error {
    match e {
        StreamError::LastOperationFailed(e) => {
            Error::Unavailable(format!("transfer failed: {}", e.to_debug_string()))
        }
        StreamError::Closed => Error::Unavailable("the connection closed".into()),
    }
}

/// Sends `request` and reads the whole answer.
pub(crate) fn send(
    base: &Base,
    headers: &[(String, String)],
    timeout_ms: u64,
    request: Request<'_>,
) -> Result<Response> {
    let invalid = |what: &str| Error::InvalidConfig(format!("cannot build the request: {what}"));
    let mut list: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(n, v)| (n.clone(), v.clone().into_bytes()))
        .collect();
    if let Some(ct) = request.content_type {
        list.push(("content-type".into(), ct.as_bytes().to_vec()));
    }
    if matches!(request.method, "PUT" | "POST") {
        list.push((
            "content-length".into(),
            request.body.len().to_string().into_bytes(),
        ));
    }
    let fields = Fields::from_list(&list).map_err(|e| invalid(&format!("headers: {e:?}")))?;
    let outgoing = OutgoingRequest::new(fields);
    let method = match request.method {
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
    let scheme = if base.https {
        Scheme::Https
    } else {
        Scheme::Http
    };
    outgoing
        .set_scheme(Some(&scheme))
        .map_err(|()| invalid("scheme"))?;
    outgoing
        .set_authority(Some(&base.authority))
        .map_err(|()| invalid("authority"))?;
    let path = format!("{}{}", base.prefix, request.path);
    outgoing
        .set_path_with_query(Some(&path))
        .map_err(|()| invalid("path"))?;

    let options = RequestOptions::new();
    let ns = timeout_ms.saturating_mul(1_000_000);
    // A host may refuse to honour an option; its own cap then applies.
    let _ = options.set_connect_timeout(Some(ns));
    let _ = options.set_first_byte_timeout(Some(ns));
    let _ = options.set_between_bytes_timeout(Some(ns));

    // Only PUT and POST carry a body (with its length); other methods send none.
    let has_body = matches!(request.method, "PUT" | "POST");
    let body = if has_body {
        Some(outgoing.body().map_err(|()| invalid("body"))?)
    } else {
        None
    };
    let future = outgoing_handler::handle(outgoing, Some(options)).map_err(transport_error)?;
    // A failed body write is reported after the response future: when the host refused
    // the request, the future holds the reason (e.g. `denied`) and the stream is closed.
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
            Some(Err(())) => return Err(Error::Internal("response taken twice".into())),
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
    let ttl_ms = response
        .headers()
        .get("x-byoc-ttl-ms")
        .first()
        .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok());
    let error = response
        .headers()
        .get("x-byoc-error")
        .first()
        .and_then(|v| String::from_utf8(v.clone()).ok());
    let incoming = response
        .consume()
        .map_err(|()| Error::Internal("response body taken twice".into()))?;
    let mut bytes = Vec::new();
    {
        let stream = incoming
            .stream()
            .map_err(|()| Error::Internal("response stream taken twice".into()))?;
        loop {
            match stream.blocking_read(READ_CHUNK) {
                Ok(chunk) => {
                    make_room(&mut bytes, chunk.len())?;
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
        ttl_ms,
        error,
        body: bytes,
    })
}
