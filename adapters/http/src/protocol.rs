//! Bodies and encodings of the HTTP cache protocol (`docs/http-protocol.md`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use byoc_guest_sdk::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `{"keys": [...]}`: batch get and batch delete requests.
#[derive(Debug, Serialize, Deserialize)]
pub struct KeysBody {
    /// The keys.
    pub keys: Vec<String>,
}

/// `{"values": [null | "<base64>"]}`: batch get answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct ValuesBody {
    /// One value per key asked for, in order.
    pub values: Vec<Option<String>>,
}

/// One item of a batch set.
#[derive(Debug, Serialize, Deserialize)]
pub struct ItemBody {
    /// The key.
    pub key: String,
    /// The value, base64 (standard alphabet, padded).
    pub value: String,
    /// TTL in ms, or null for none.
    pub ttl_ms: Option<u64>,
}

/// `{"items": [...]}`: batch set request.
#[derive(Debug, Serialize, Deserialize)]
pub struct ItemsBody {
    /// The items.
    pub items: Vec<ItemBody>,
}

/// `{"deleted": bool}`: single delete answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct Deleted {
    /// Whether a live key was removed.
    pub deleted: bool,
}

/// `{"deleted": n}`: batch delete answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct DeletedCount {
    /// How many live keys were removed.
    pub deleted: u64,
}

/// `{"ttl_ms": null | n}`: expire request.
#[derive(Debug, Serialize, Deserialize)]
pub struct ExpireBody {
    /// New TTL in ms (0 deletes), or null to remove the expiry.
    pub ttl_ms: Option<u64>,
}

/// `{"existed": bool}`: expire answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct Existed {
    /// Whether the key existed.
    pub existed: bool,
}

/// `{"state": "missing" | "persistent" | "expires", "ms": n}`: ttl answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct TtlBody {
    /// `missing`, `persistent` or `expires`.
    pub state: String,
    /// Remaining ms, for `expires`.
    #[serde(default)]
    pub ms: Option<u64>,
}

/// `{"keys": [...], "cursor": null | "..."}`: scan answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct ScanBody {
    /// Matching keys.
    pub keys: Vec<String>,
    /// Cursor of the next page; null at the end.
    pub cursor: Option<String>,
}

/// Stats answer.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct StatsBody {
    /// Reads that found a key.
    pub hits: u64,
    /// Reads that found none.
    pub misses: u64,
    /// Keys stored.
    pub keys: u64,
    /// Bytes stored.
    pub bytes: u64,
    /// Evictions.
    pub evictions: u64,
    /// Expirations.
    pub expirations: u64,
    /// Other counters.
    #[serde(default)]
    pub extra: BTreeMap<String, u64>,
}

/// `{"error": "<kind>", "message": "..."}`: every error answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The contract's error case, e.g. `invalid-key`.
    pub error: String,
    /// Human-readable detail.
    pub message: String,
}

/// Base64 of `bytes`.
pub fn encode_b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// Bytes of base64 `text`.
pub fn decode_b64(text: &str) -> Result<Vec<u8>> {
    B64.decode(text)
        .map_err(|e| Error::Unavailable(format!("the server sent invalid base64: {e}")))
}

/// Percent-encodes every byte except `A-Z a-z 0-9 - . _ ~`, for a path segment or a query
/// value.
pub fn encode_path(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether a `404` answer is a missing key (error `not-found` in the `x-byoc-error`
/// header or the JSON body), rather than a route the server does not have.
pub fn is_missing_key(response: &crate::Response) -> bool {
    response.error.as_deref() == Some("not-found")
        || serde_json::from_slice::<ErrorBody>(&response.body).is_ok_and(|b| b.error == "not-found")
}

/// The contract error for an unsuccessful status and its body.
pub fn status_error(status: u16, body: &[u8]) -> Error {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    if let Some(ErrorBody { error, message }) = parsed {
        let message = format!("server: {message}");
        match error.as_str() {
            "invalid-key" => return Error::InvalidKey(message),
            "value-too-large" => return Error::ValueTooLarge(message),
            "invalid-argument" => return Error::InvalidArgument(message),
            "invalid-config" => return Error::InvalidConfig(message),
            "unavailable" => return Error::Unavailable(message),
            "denied" | "unauthorized" => return Error::Denied(message),
            "unsupported" => return Error::Unsupported(message),
            "internal" => return Error::Internal(message),
            "no-route" => return no_route(status, &message),
            _ => {}
        }
    }
    let detail = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
    match status {
        300..=399 => Error::Denied(format!(
            "the server answered with a redirect ({status}); redirects are not followed"
        )),
        401 | 403 => Error::Denied(format!(
            "the server refused the request ({status}): {detail}"
        )),
        404 => no_route(status, &detail),
        413 => Error::ValueTooLarge(format!("the server refused the body (413): {detail}")),
        408 | 429 | 500..=599 => {
            Error::Unavailable(format!("the server answered {status}: {detail}"))
        }
        _ => Error::Internal(format!("unexpected answer {status}: {detail}")),
    }
}

/// A route the server does not have: the configured URL is wrong.
fn no_route(status: u16, detail: &str) -> Error {
    Error::InvalidConfig(format!(
        "the server has no such route ({status}; is the url's base path right?): {detail}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_missing_key_is_a_miss() {
        let answer = |error: Option<&str>, body: &[u8]| crate::Response {
            status: 404,
            ttl_ms: None,
            error: error.map(str::to_owned),
            body: body.to_vec(),
        };
        assert!(is_missing_key(&answer(Some("not-found"), b"")));
        assert!(is_missing_key(&answer(
            None,
            br#"{"error":"not-found","message":"no such key"}"#
        )));
        assert!(!is_missing_key(&answer(None, b"")));
        assert!(!is_missing_key(&answer(None, b"<html>Not Found</html>")));
        assert!(!is_missing_key(&answer(
            None,
            br#"{"error":"no-route","message":"no route"}"#
        )));
    }

    #[test]
    fn paths_are_encoded() {
        assert_eq!(encode_path("a b/c?%"), "a%20b%2Fc%3F%25");
        assert_eq!(encode_path("ключ"), "%D0%BA%D0%BB%D1%8E%D1%87");
        assert_eq!(encode_path("A-z_0.~"), "A-z_0.~");
    }

    #[test]
    fn statuses_map_to_errors() {
        assert!(matches!(status_error(302, b""), Error::Denied(_)));
        assert!(matches!(status_error(503, b"x"), Error::Unavailable(_)));
        assert!(matches!(status_error(500, b"boom"), Error::Unavailable(_)));
        let body = br#"{"error":"invalid-key","message":"bad"}"#;
        assert!(matches!(status_error(400, body), Error::InvalidKey(_)));
        let route = br#"{"error":"no-route","message":"no route GET /x/v1/ping"}"#;
        assert!(matches!(status_error(404, route), Error::InvalidConfig(_)));
        assert!(matches!(
            status_error(404, b"<html>"),
            Error::InvalidConfig(_)
        ));
    }
}
