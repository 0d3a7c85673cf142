//! The BYOC S3 adapter: one object per entry in a bucket of S3 or any S3-compatible store,
//! spoken to over `wasi:http` with requests signed by AWS Signature V4.
//!
//! Object names are `prefix` followed by the key with every byte but `A-Z a-z 0-9 - _ ~`
//! written `%XX` (so no `/`, `.` or `..` segment reaches the store, and the key is
//! recovered exactly from a listing). An entry's expiry (ms since the UNIX epoch) is the
//! object's `x-amz-meta-byoc-expires-at` metadata: an expired object reads as missing and
//! is deleted when read; objects nobody reads again stay until a bucket lifecycle rule
//! removes them (`docs/cloud.md`). `scan` lists with ListObjectsV2 (`start-after` the
//! cursor's last key) and checks each matching key's expiry with a HEAD; `clear` deletes
//! in batches of 1000 with DeleteObjects; `stats` counts from the listing.
//!
//! Configuration: `bucket` (required), `endpoint` (default `https://s3.<region>.amazonaws.com`),
//! `region` (default `us-east-1`), `prefix`, `addressing` (`path` or `virtual`),
//! `access-key-id`, `secret-access-key`, `session-token`, `timeout` (default 5 s),
//! `create-bucket` (default false).

use byoc_guest_sdk::http::{Client, Origin, Response};
use byoc_guest_sdk::{
    Adapter, Capabilities, Config, ConfigField, ConfigKind, Entry, Error, KeyTtl, Result,
    ScanCursor, ScanPage, Usage, now_ms,
};
use byoc_sigv4::{Credentials, Signer, sha256_hex, uri_encode};

mod xml;

/// Default `timeout`.
pub use byoc_guest_sdk::http::DEFAULT_TIMEOUT_MS;
/// Default `region`.
pub const DEFAULT_REGION: &str = "us-east-1";
/// The metadata header holding an entry's expiry (ms since the UNIX epoch).
pub const EXPIRES_HEADER: &str = "x-amz-meta-byoc-expires-at";
/// Most keys one DeleteObjects request may name.
const DELETE_BATCH: usize = 1000;

/// The object name of `key` below `prefix`.
pub fn object_name(prefix: &str, key: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + key.len());
    out.push_str(prefix);
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The key of object `name` below `prefix`, if it is one this adapter wrote.
pub fn key_of(prefix: &str, name: &str) -> Option<String> {
    let encoded = name.strip_prefix(prefix)?;
    let mut bytes = Vec::with_capacity(encoded.len());
    let mut rest = encoded.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok().filter(|k| !k.is_empty())
}

/// How the bucket is addressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressing {
    /// `https://endpoint/bucket/object`.
    Path,
    /// `https://bucket.endpoint/object`.
    Virtual,
}

/// The origin requests go to: the endpoint's, with the bucket in front of the host for
/// virtual-hosted addressing. The host grants exactly this origin.
pub fn request_origin(endpoint: &str, bucket: &str, addressing: Addressing) -> Result<Origin> {
    let mut origin = Origin::parse(endpoint)?;
    if addressing == Addressing::Virtual {
        origin.authority = format!("{bucket}.{}", origin.authority);
    }
    Ok(origin)
}

/// Checks a bucket name against S3's rules (3–63 of `a-z 0-9 . -`).
fn check_bucket(bucket: &str) -> Result<()> {
    let ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidConfig(format!(
            "bucket `{bucket}` is not a valid bucket name (3 to 63 of a-z, 0-9, `.` and `-`)"
        )))
    }
}

/// The S3 adapter's state.
pub struct S3 {
    client: Client,
    region: String,
    bucket: String,
    prefix: String,
    addressing: Addressing,
    signer: Option<Signer>,
}

/// What a HEAD tells about an object.
struct Head {
    expires_at: Option<u64>,
}

fn parse_expiry(response: &Response) -> Result<Option<u64>> {
    match response.header(EXPIRES_HEADER) {
        None => Ok(None),
        Some(v) => {
            v.trim().parse().map(Some).map_err(|_| {
                Error::Unavailable(format!("the object's expiry `{v}` is not a number"))
            })
        }
    }
}

/// The contract error for an S3 error answer.
pub fn status_error(response: &Response) -> Error {
    let code = xml::error_code(&response.body).unwrap_or_default();
    let status = response.status;
    let detail = if code.is_empty() {
        format!("S3 answered {status}")
    } else {
        format!("S3 answered {status} {code}")
    };
    match (status, code.as_str()) {
        (_, "NoSuchBucket") => Error::InvalidConfig(format!("{detail}: the bucket does not exist")),
        (_, "EntityTooLarge") => Error::ValueTooLarge(detail),
        (_, "KeyTooLongError") => Error::InvalidKey(detail),
        (_, "SlowDown" | "RequestTimeout" | "InternalError" | "ServiceUnavailable") => {
            Error::Unavailable(detail)
        }
        (300..=399, _) => Error::InvalidConfig(format!(
            "{detail}: the bucket is elsewhere (wrong region or endpoint?); redirects are not followed"
        )),
        _ => byoc_guest_sdk::http::status_error("S3", response),
    }
}

impl S3 {
    /// The path (and query) of `object` (`None`: the bucket itself).
    fn path(&self, object: Option<&str>, query: &str) -> String {
        let object = object.map(|o| uri_encode(o, false)).unwrap_or_default();
        let mut path = match self.addressing {
            Addressing::Path => format!("/{}/{object}", self.bucket),
            Addressing::Virtual => format!("/{object}"),
        };
        if !query.is_empty() {
            path.push('?');
            path.push_str(query);
        }
        path
    }

    /// Sends a signed request (signed again, with a fresh date, before each retry).
    fn send(
        &self,
        method: &str,
        object: Option<&str>,
        query: &[(String, String)],
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<Response> {
        let path = self.path(object, &byoc_sigv4::canonical_query(query));
        let payload = sha256_hex(&body);
        let mut call = self.client.call(method, path);
        for (name, value) in headers {
            call = call.header(&name, value);
        }
        call = call
            .header("x-amz-content-sha256", payload.clone())
            .body(body);
        if let Some(signer) = &self.signer {
            let signed_path = format!("{}{}", self.client.origin().prefix, self.path(object, ""));
            call = call.before_each_try(move |r| {
                let signed = signer.headers(
                    now_ms(),
                    &r.method,
                    &signed_path,
                    query,
                    &r.headers,
                    &payload,
                );
                r.headers.extend(signed);
                Ok(())
            });
        }
        call.send()
    }

    fn head(&self, key: &str) -> Result<Option<Head>> {
        let object = object_name(&self.prefix, key);
        let response = self.send("HEAD", Some(&object), &[], Vec::new(), Vec::new())?;
        match response.status {
            200..=299 => Ok(Some(Head {
                expires_at: parse_expiry(&response)?,
            })),
            // HEAD answers carry no body: a missing bucket also answers 404 here, which
            // `ping` (on open) rules out.
            404 => Ok(None),
            _ => Err(status_error(&response)),
        }
    }

    fn delete_object(&self, key: &str) -> Result<()> {
        let object = object_name(&self.prefix, key);
        let response = self.send("DELETE", Some(&object), &[], Vec::new(), Vec::new())?;
        if response.is_success() || response.status == 404 {
            Ok(())
        } else {
            Err(status_error(&response))
        }
    }

    /// One ListObjectsV2 page below the prefix.
    fn list(
        &self,
        start_after: Option<&str>,
        token: Option<&str>,
        max_keys: u32,
    ) -> Result<xml::Listing> {
        let mut query = vec![
            ("list-type".to_owned(), "2".to_owned()),
            ("max-keys".to_owned(), max_keys.clamp(1, 1000).to_string()),
        ];
        if !self.prefix.is_empty() {
            query.push(("prefix".into(), self.prefix.clone()));
        }
        if let Some(after) = start_after {
            query.push(("start-after".into(), after.to_owned()));
        }
        if let Some(token) = token {
            query.push(("continuation-token".into(), token.to_owned()));
        }
        let response = self.send("GET", None, &query, Vec::new(), Vec::new())?;
        if !response.is_success() {
            return Err(status_error(&response));
        }
        xml::listing(&response.body)
    }

    /// Every object below the prefix: (key, size), following continuation tokens.
    fn list_all(&self) -> Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self.list(None, token.as_deref(), 1000)?;
            out.extend(
                page.objects
                    .into_iter()
                    .filter_map(|(name, size)| Some((key_of(&self.prefix, &name)?, size))),
            );
            match page.next_token {
                Some(next) if page.truncated => token = Some(next),
                _ => return Ok(out),
            }
        }
    }

    fn create_bucket(&self) -> Result<()> {
        let body = if self.region == DEFAULT_REGION {
            Vec::new()
        } else {
            format!(
                "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                 <LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
                self.region
            )
            .into_bytes()
        };
        let response = self.send("PUT", None, &[], Vec::new(), body)?;
        let code = xml::error_code(&response.body).unwrap_or_default();
        if response.is_success() || code == "BucketAlreadyOwnedByYou" {
            Ok(())
        } else {
            Err(status_error(&response))
        }
    }
}

impl Adapter for S3 {
    const NAME: &'static str = "s3";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const NATIVE: Capabilities = Capabilities::EXISTS
        .union(Capabilities::SCAN)
        .union(Capabilities::TTL)
        .union(Capabilities::EXPIRE)
        .union(Capabilities::CLEAR)
        .union(Capabilities::STATS);

    fn config_fields() -> Vec<ConfigField> {
        let text = |name: &str, required: bool, doc: &str| {
            ConfigField::new(name, ConfigKind::Text, required, doc)
        };
        let mut fields = vec![
            text("bucket", true, "The bucket."),
            text(
                "endpoint",
                false,
                "Base URL of the store (default https://s3.<region>.amazonaws.com).",
            ),
            text("region", false, "Signing region (default us-east-1)."),
            text(
                "prefix",
                false,
                "Object name prefix, e.g. `cache/` (default none).",
            ),
            text(
                "addressing",
                false,
                "`path` (endpoint/bucket/object, default) or `virtual` (bucket.endpoint/object).",
            ),
            byoc_guest_sdk::http::timeout_field(),
            ConfigField::new(
                "create-bucket",
                ConfigKind::Boolean,
                false,
                "Create the bucket when opening if it does not exist (default false).",
            ),
        ];
        fields.extend(
            Credentials::FIELDS
                .iter()
                .map(|(name, doc)| text(name, false, doc)),
        );
        fields
    }

    fn open(config: &Config) -> Result<Self> {
        let bucket = config.required_text("bucket")?;
        check_bucket(&bucket)?;
        let region = config
            .filled_text("region")
            .unwrap_or_else(|| DEFAULT_REGION.into());
        let endpoint = config
            .filled_text("endpoint")
            .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let addressing = match config.text("addressing").unwrap_or("path") {
            "path" => Addressing::Path,
            "virtual" => Addressing::Virtual,
            other => {
                return Err(Error::InvalidConfig(format!(
                    "addressing `{other}`: expected `path` or `virtual`"
                )));
            }
        };
        let credentials = Credentials::from_parts(
            config.filled_text("access-key-id"),
            config.filled_text("secret-access-key"),
            config.filled_text("session-token"),
        )
        .map_err(Error::InvalidConfig)?;
        let timeout_ms = byoc_guest_sdk::http::timeout_ms(config)?;
        let origin = request_origin(&endpoint, &bucket, addressing)?;
        let signer = credentials.map(|c| Signer::new(c, &region, "s3", &origin.authority));
        let s3 = S3 {
            client: Client::new(origin, timeout_ms),
            region,
            bucket,
            prefix: config.text("prefix").unwrap_or_default().to_owned(),
            addressing,
            signer,
        };
        if config.boolean("create-bucket").unwrap_or(false) {
            s3.create_bucket()?;
        }
        Ok(s3)
    }

    fn get(&mut self, key: &str) -> Result<Option<Entry>> {
        let object = object_name(&self.prefix, key);
        let response = self.send("GET", Some(&object), &[], Vec::new(), Vec::new())?;
        match response.status {
            200..=299 => Ok(Some(Entry {
                expires_at: parse_expiry(&response)?,
                value: response.body,
            })),
            404 if xml::error_code(&response.body).as_deref() != Some("NoSuchBucket") => Ok(None),
            _ => Err(status_error(&response)),
        }
    }

    fn set(&mut self, key: &str, entry: Entry) -> Result<()> {
        let object = object_name(&self.prefix, key);
        let mut headers = vec![(
            "content-type".to_owned(),
            "application/octet-stream".to_owned(),
        )];
        if let Some(at) = entry.expires_at {
            headers.push((EXPIRES_HEADER.into(), at.to_string()));
        }
        let response = self.send("PUT", Some(&object), &[], headers, entry.value)?;
        if response.is_success() {
            Ok(())
        } else {
            Err(status_error(&response))
        }
    }

    fn delete(&mut self, key: &str) -> Result<bool> {
        // S3 answers a DELETE the same whether the object existed: ask first.
        let existed = self.head(key)?.is_some();
        if existed {
            self.delete_object(key)?;
        }
        Ok(existed)
    }

    fn delete_live(&mut self, key: &str, now: u64) -> Result<bool> {
        match self.head(key)? {
            Some(head) => {
                self.delete_object(key)?;
                Ok(head.expires_at.is_none_or(|at| at > now))
            }
            None => Ok(false),
        }
    }

    fn keys(&mut self) -> Result<Vec<String>> {
        Ok(self.list_all()?.into_iter().map(|(k, _)| k).collect())
    }

    fn exists(&mut self, key: &str, now: u64) -> Result<bool> {
        Ok(self
            .head(key)?
            .is_some_and(|h| h.expires_at.is_none_or(|at| at > now)))
    }

    fn scan(
        &mut self,
        pattern: &str,
        cursor: Option<ScanCursor>,
        count: u32,
        now: u64,
    ) -> Result<ScanPage> {
        let start_after = cursor.map(|c| object_name(&self.prefix, &c.after));
        let wanted = count.max(1) as usize;
        // Examine up to 16 objects per key asked for (as the SDK's sorted scans do).
        let examine = (wanted * byoc_common::EXAMINE_PER_RESULT).min(1000) as u32;
        let page = self.list(start_after.as_deref(), None, examine)?;
        let mut keys = Vec::new();
        let mut last = None;
        let mut more = page.truncated;
        for (i, (name, _)) in page.objects.iter().enumerate() {
            let Some(key) = key_of(&self.prefix, name) else {
                continue;
            };
            if byoc_common::glob_match(pattern, &key) && self.exists(&key, now)? {
                keys.push(key.clone());
            }
            last = Some(key);
            if keys.len() == wanted {
                more |= i + 1 < page.objects.len();
                break;
            }
        }
        let cursor = match last {
            Some(after) if more => Some(ScanCursor { after }.encode()),
            _ => None,
        };
        Ok(ScanPage { keys, cursor })
    }

    fn ttl(&mut self, key: &str, now: u64) -> Result<KeyTtl> {
        Ok(match self.head(key)? {
            None => KeyTtl::Missing,
            Some(Head { expires_at: None }) => KeyTtl::Persistent,
            Some(Head {
                expires_at: Some(at),
            }) if at > now => KeyTtl::ExpiresIn(at - now),
            Some(_) => KeyTtl::Missing,
        })
    }

    fn expire(&mut self, key: &str, expires_at: Option<u64>, now: u64) -> Result<bool> {
        if !self.exists(key, now)? {
            return Ok(false);
        }
        // A copy onto itself with new metadata: the value never leaves the store.
        let object = object_name(&self.prefix, key);
        let source = format!("/{}/{}", self.bucket, uri_encode(&object, false));
        let mut headers = vec![
            ("x-amz-copy-source".to_owned(), source),
            ("x-amz-metadata-directive".to_owned(), "REPLACE".to_owned()),
            (
                "content-type".to_owned(),
                "application/octet-stream".to_owned(),
            ),
        ];
        if let Some(at) = expires_at {
            headers.push((EXPIRES_HEADER.into(), at.to_string()));
        }
        let response = self.send("PUT", Some(&object), &[], headers, Vec::new())?;
        match response.status {
            200..=299 if xml::error_code(&response.body).is_none() => Ok(true),
            404 => Ok(false),
            _ => Err(status_error(&response)),
        }
    }

    fn clear(&mut self) -> Result<()> {
        let keys = self.keys()?;
        for batch in keys.chunks(DELETE_BATCH) {
            let names: Vec<String> = batch.iter().map(|k| object_name(&self.prefix, k)).collect();
            let body = xml::delete_request(&names);
            let md5 = {
                use base64::Engine;
                use md5::Digest;
                base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(&body))
            };
            let query = [("delete".to_owned(), String::new())];
            let headers = vec![
                ("content-md5".to_owned(), md5),
                ("content-type".to_owned(), "application/xml".to_owned()),
            ];
            let response = self.send("POST", None, &query, headers, body)?;
            if !response.is_success() {
                return Err(status_error(&response));
            }
            if let Some(code) = xml::first_delete_error(&response.body) {
                return Err(Error::Unavailable(format!(
                    "S3 did not delete every object: {code}"
                )));
            }
        }
        Ok(())
    }

    fn usage(&mut self) -> Result<Usage> {
        let all = self.list_all()?;
        Ok(Usage {
            keys: all.len() as u64,
            bytes: all.iter().map(|(k, size)| k.len() as u64 + size).sum(),
            ..Usage::default()
        })
    }

    fn ping(&mut self) -> Result<()> {
        let response = self.send("HEAD", None, &[], Vec::new(), Vec::new())?;
        match response.status {
            200..=299 => Ok(()),
            404 => Err(Error::InvalidConfig(format!(
                "the bucket `{}` does not exist",
                self.bucket
            ))),
            _ => Err(status_error(&response)),
        }
    }
}

byoc_guest_sdk::export_adapter!(S3);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_round_trip() {
        for key in ["a", "user:1", "a b/c", "..", "ключ", "%41", "x~y_z-0"] {
            let name = object_name("cache/", key);
            assert!(!name[6..].contains(['/', '.', ' ']), "{name}");
            assert_eq!(key_of("cache/", &name).as_deref(), Some(key), "{name}");
        }
        assert_eq!(object_name("", "a.b"), "a%2Eb");
        assert_eq!(key_of("cache/", "other/x"), None);
        assert_eq!(key_of("", "bad%zz"), None);
        assert_eq!(key_of("", "%FF"), None, "not UTF-8");
    }

    #[test]
    fn origins_follow_the_addressing() {
        let o = request_origin("http://127.0.0.1:9000", "b", Addressing::Path).expect("path");
        assert_eq!(o.authority, "127.0.0.1:9000");
        let o = request_origin(
            "https://s3.eu-west-1.amazonaws.com",
            "b",
            Addressing::Virtual,
        )
        .expect("virtual");
        assert_eq!(o.authority, "b.s3.eu-west-1.amazonaws.com");
        assert!(check_bucket("my-bucket.1").is_ok());
        assert!(check_bucket("No").is_err() && check_bucket("a/b").is_err());
    }

    #[test]
    fn errors_map_to_the_contract() {
        let answer = |status, body: &str| Response {
            status,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        };
        let denied = answer(
            403,
            "<Error><Code>SignatureDoesNotMatch</Code><Message>no</Message></Error>",
        );
        assert!(matches!(status_error(&denied), Error::Denied(_)));
        let slow = answer(503, "<Error><Code>SlowDown</Code></Error>");
        assert!(matches!(status_error(&slow), Error::Unavailable(_)));
        let bucket = answer(404, "<Error><Code>NoSuchBucket</Code></Error>");
        assert!(matches!(status_error(&bucket), Error::InvalidConfig(_)));
        let big = answer(400, "<Error><Code>EntityTooLarge</Code></Error>");
        assert!(matches!(status_error(&big), Error::ValueTooLarge(_)));
    }
}
