//! The BYOC HTTP adapter: a remote cache spoken to over `wasi:http` outgoing requests,
//! with the protocol of `docs/http-protocol.md` (the one `byoc serve` answers).
//!
//! Configuration:
//! - `url` (text, required): base URL of the server, e.g. `http://127.0.0.1:7070` or
//!   `https://cache.example/prefix`. The host must grant this URL's origin.
//! - `token` (text, optional): bearer token sent as `Authorization: Bearer <token>`.
//! - `headers` (text list, optional): extra headers, each `Name: value`.
//! - `timeout` (duration, default 5 s): connect, first-byte and between-bytes timeout of
//!   each request. A server that is down, slow or answers 5xx gives `unavailable`; refused
//!   connections and 5xx/429 answers are retried (the SDK's `http` client) within it.
//!
//! Redirects are never followed: a 3xx answer is reported as `denied` (a redirect could
//! lead to an origin the grant does not allow; the host refuses those anyway).
//! Multi-key operations, `ttl`, `expire`, `scan`, `clear` and `stats` are one request each.

use byoc_guest_sdk::http::{self as sdk_http, Client, Origin};
use byoc_guest_sdk::{
    Adapter, Capabilities, Config, ConfigField, ConfigKind, Entry, Error, KeyTtl, Result,
    ScanCursor, ScanPage, Usage,
};
use serde::{Deserialize, Serialize};

mod protocol;

pub use protocol::*;

/// Default `timeout`.
pub use byoc_guest_sdk::http::DEFAULT_TIMEOUT_MS;

/// A parsed base URL (the SDK's [`Origin`]).
pub type Base = Origin;

/// A request the adapter sends.
#[derive(Debug)]
pub struct Request<'a> {
    /// `GET`, `PUT`, …
    pub method: &'a str,
    /// Path and query below the base prefix, starting with `/v1/`.
    pub path: String,
    /// Body (empty for none).
    pub body: Vec<u8>,
    /// Content type of the body, if any.
    pub content_type: Option<&'static str>,
}

/// A response the adapter received.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// The `x-byoc-ttl-ms` header, if present.
    pub ttl_ms: Option<u64>,
    /// The `x-byoc-error` header, if present (`not-found` on a missing key's `404`).
    pub error: Option<String>,
    /// Body.
    pub body: Vec<u8>,
}

/// The HTTP adapter's state.
pub struct Http {
    client: Client,
    headers: Vec<(String, String)>,
}

fn json<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::Internal(format!("encoding a request: {e}")))
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T> {
    serde_json::from_slice(body)
        .map_err(|e| Error::Unavailable(format!("the server's answer is not understood: {e}")))
}

impl Http {
    fn send(&mut self, request: Request<'_>) -> Result<Response> {
        let mut outgoing = sdk_http::Request::new(request.method, request.path);
        outgoing.headers.clone_from(&self.headers);
        if let Some(ct) = request.content_type {
            outgoing.headers.push(("content-type".into(), ct.into()));
        }
        outgoing.body = request.body;
        let response = self.client.send(&outgoing)?;
        Ok(Response {
            status: response.status,
            ttl_ms: response
                .header("x-byoc-ttl-ms")
                .and_then(|v| v.parse().ok()),
            error: response.header("x-byoc-error").map(str::to_owned),
            body: response.body,
        })
    }

    /// Sends `request`; any status other than `ok` (or, when `missing_ok`, a 404 that
    /// says the key is missing) is an error. A 404 that does not say so is a route the
    /// server does not have (a wrong base path), never a miss.
    fn call(&mut self, request: Request<'_>, missing_ok: bool) -> Result<Option<Response>> {
        let response = self.send(request)?;
        match response.status {
            200..=299 => Ok(Some(response)),
            404 if missing_ok && is_missing_key(&response) => Ok(None),
            status => Err(status_error(status, &response.body)),
        }
    }

    fn post_json<T: Serialize>(&mut self, path: String, body: &T) -> Result<Response> {
        let request = Request {
            method: "POST",
            path,
            body: json(body)?,
            content_type: Some("application/json"),
        };
        self.call(request, false)?
            .ok_or_else(|| Error::Internal("unreachable: 404 not accepted".into()))
    }

    fn simple(&mut self, method: &'static str, path: String) -> Request<'static> {
        Request {
            method,
            path,
            body: Vec::new(),
            content_type: None,
        }
    }
}

impl Adapter for Http {
    const NAME: &'static str = "http";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const NATIVE: Capabilities = Capabilities::EXISTS
        .union(Capabilities::GET_MULTI)
        .union(Capabilities::SET_MULTI)
        .union(Capabilities::DELETE_MULTI)
        .union(Capabilities::SCAN)
        .union(Capabilities::TTL)
        .union(Capabilities::EXPIRE)
        .union(Capabilities::CLEAR)
        .union(Capabilities::STATS);

    fn config_fields() -> Vec<ConfigField> {
        vec![
            ConfigField::new(
                "url",
                ConfigKind::Text,
                true,
                "Base URL of the cache server, e.g. http://127.0.0.1:7070.",
            ),
            ConfigField::new(
                "token",
                ConfigKind::Text,
                false,
                "Bearer token sent with every request (default none).",
            ),
            ConfigField::new(
                "headers",
                ConfigKind::TextList,
                false,
                "Extra request headers, each `Name: value` (default none).",
            ),
            byoc_guest_sdk::http::timeout_field(),
        ]
    }

    fn open(config: &Config) -> Result<Self> {
        let url = config.required_text("url")?;
        let base = Base::parse(&url)?;
        let mut headers = Vec::new();
        for line in config.text_list("headers").unwrap_or(&[]) {
            let Some((name, value)) = line.split_once(':') else {
                return Err(Error::InvalidConfig(format!(
                    "header `{line}` is not `Name: value`"
                )));
            };
            let name = name.trim();
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(Error::InvalidConfig(format!(
                    "header name `{name}` is not a token"
                )));
            }
            headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
        }
        if let Some(token) = config.text("token") {
            headers.push(("authorization".into(), format!("Bearer {token}")));
        }
        let timeout_ms = byoc_guest_sdk::http::timeout_ms(config)?;
        Ok(Http {
            client: Client::new(base, timeout_ms),
            headers,
        })
    }

    fn get(&mut self, key: &str) -> Result<Option<Entry>> {
        let request = self.simple("GET", format!("/v1/keys/{}", encode_path(key)));
        Ok(self.call(request, true)?.map(|r| {
            // Only `exists`-style liveness matters here (the server sends live keys only);
            // `ttl` asks the server directly.
            let now = byoc_guest_sdk::now_ms();
            Entry {
                value: r.body,
                expires_at: r.ttl_ms.map(|ms| now.saturating_add(ms)),
            }
        }))
    }

    fn set(&mut self, key: &str, entry: Entry) -> Result<()> {
        let now = byoc_guest_sdk::now_ms();
        let mut path = format!("/v1/keys/{}", encode_path(key));
        if let Some(at) = entry.expires_at {
            path.push_str(&format!("?ttl_ms={}", at.saturating_sub(now).max(1)));
        }
        let request = Request {
            method: "PUT",
            path,
            body: entry.value,
            content_type: Some("application/octet-stream"),
        };
        self.call(request, false).map(drop)
    }

    fn delete(&mut self, key: &str) -> Result<bool> {
        self.delete_live(key, byoc_guest_sdk::now_ms())
    }

    fn delete_live(&mut self, key: &str, _now: u64) -> Result<bool> {
        let request = self.simple("DELETE", format!("/v1/keys/{}", encode_path(key)));
        let response = self.call(request, false)?;
        let body: Deleted = parse(&response.map(|r| r.body).unwrap_or_default())?;
        Ok(body.deleted)
    }

    fn keys(&mut self) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.remote_scan("*", cursor.as_deref(), 1000)?;
            keys.extend(page.keys);
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(keys),
            }
        }
    }

    fn exists(&mut self, key: &str, _now: u64) -> Result<bool> {
        let request = self.simple("HEAD", format!("/v1/keys/{}", encode_path(key)));
        Ok(self.call(request, true)?.is_some())
    }

    fn get_multi(&mut self, keys: &[String]) -> Result<Vec<Option<Entry>>> {
        let response = self.post_json(
            "/v1/batch/get".into(),
            &KeysBody {
                keys: keys.to_vec(),
            },
        )?;
        let body: ValuesBody = parse(&response.body)?;
        body.values
            .into_iter()
            .map(|v| {
                v.map(|v| {
                    Ok(Entry {
                        value: decode_b64(&v)?,
                        expires_at: None,
                    })
                })
                .transpose()
            })
            .collect()
    }

    fn set_multi(&mut self, items: Vec<(String, Entry)>) -> Result<()> {
        let now = byoc_guest_sdk::now_ms();
        let items = items
            .into_iter()
            .map(|(key, entry)| ItemBody {
                key,
                value: encode_b64(&entry.value),
                ttl_ms: entry.expires_at.map(|at| at.saturating_sub(now).max(1)),
            })
            .collect();
        self.post_json("/v1/batch/set".into(), &ItemsBody { items })
            .map(drop)
    }

    fn delete_multi(&mut self, keys: &[String], _now: u64) -> Result<u64> {
        let response = self.post_json(
            "/v1/batch/delete".into(),
            &KeysBody {
                keys: keys.to_vec(),
            },
        )?;
        let body: DeletedCount = parse(&response.body)?;
        Ok(body.deleted)
    }

    fn scan(
        &mut self,
        pattern: &str,
        cursor: Option<ScanCursor>,
        count: u32,
        _now: u64,
    ) -> Result<ScanPage> {
        // The SDK parsed the caller's cursor as its own format; the server's cursor is
        // wrapped in it (see `remote_cursor`).
        let remote = cursor.map(|c| c.after);
        let page = self.remote_scan(pattern, remote.as_deref(), count)?;
        Ok(ScanPage {
            keys: page.keys,
            cursor: page.cursor.map(|after| ScanCursor { after }.encode()),
        })
    }

    fn ttl(&mut self, key: &str, _now: u64) -> Result<KeyTtl> {
        let request = self.simple("GET", format!("/v1/ttl/{}", encode_path(key)));
        let response = self.call(request, false)?;
        let body: TtlBody = parse(&response.map(|r| r.body).unwrap_or_default())?;
        match (body.state.as_str(), body.ms) {
            ("missing", _) => Ok(KeyTtl::Missing),
            ("persistent", _) => Ok(KeyTtl::Persistent),
            ("expires", Some(ms)) => Ok(KeyTtl::ExpiresIn(ms.max(1))),
            (state, _) => Err(Error::Unavailable(format!(
                "the server sent an unknown ttl state `{state}`"
            ))),
        }
    }

    fn expire(&mut self, key: &str, expires_at: Option<u64>, now: u64) -> Result<bool> {
        let ttl_ms = expires_at.map(|at| at.saturating_sub(now).max(1));
        let response = self.post_json(
            format!("/v1/expire/{}", encode_path(key)),
            &ExpireBody { ttl_ms },
        )?;
        let body: Existed = parse(&response.body)?;
        Ok(body.existed)
    }

    fn clear(&mut self) -> Result<()> {
        let request = self.simple("POST", "/v1/clear".into());
        self.call(request, false).map(drop)
    }

    fn usage(&mut self) -> Result<Usage> {
        let request = self.simple("GET", "/v1/stats".into());
        let response = self.call(request, false)?;
        let stats: StatsBody = parse(&response.map(|r| r.body).unwrap_or_default())?;
        Ok(Usage {
            keys: stats.keys,
            bytes: stats.bytes,
            evictions: stats.evictions,
            expirations: stats.expirations,
            extra: stats
                .extra
                .into_iter()
                .map(|(k, v)| (format!("remote.{k}"), v))
                .collect(),
        })
    }

    fn ping(&mut self) -> Result<()> {
        let request = self.simple("GET", "/v1/ping".into());
        self.call(request, false).map(drop)
    }
}

impl Http {
    fn remote_scan(&mut self, pattern: &str, cursor: Option<&str>, count: u32) -> Result<ScanBody> {
        let mut path = format!("/v1/scan?pattern={}&count={count}", encode_path(pattern));
        if let Some(c) = cursor {
            path.push_str(&format!("&cursor={}", encode_path(c)));
        }
        let request = self.simple("GET", path);
        let response = self.call(request, false)?;
        parse(&response.map(|r| r.body).unwrap_or_default())
    }
}

byoc_guest_sdk::export_adapter!(Http);
