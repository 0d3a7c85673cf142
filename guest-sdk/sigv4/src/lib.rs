//! AWS Signature Version 4 (header-based) for BYOC's cloud adapters.
//!
//! The S3 and DynamoDB adapters sign every request with [`sign`] inside the guest; tests and
//! benchmarks sign the same way natively. HMAC-SHA256 comes from the RustCrypto `hmac` and
//! `sha2` crates; the canonical request follows the published specification and is checked
//! against AWS's published test vectors (the `get-vanilla` suite and the S3 examples).
//!
//! Paths are passed already encoded (S3 signs the path as sent; other services would encode
//! it twice, which this crate leaves to the caller). Query parameters are passed raw and
//! encoded here.

use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

/// The SHA-256 of an empty payload, in hex.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// AWS credentials. `Debug` prints the secret and the session token as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The access key id (`AKIA…`).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// A session token of temporary credentials, sent as `x-amz-security-token`.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"***")
            .field("session_token", &self.session_token.as_ref().map(|_| "***"))
            .finish()
    }
}

impl Credentials {
    /// The configuration fields the adapters take credentials from: name and description.
    pub const FIELDS: [(&'static str, &'static str); 3] = [
        (
            "access-key-id",
            "Access key id (default: unsigned requests).",
        ),
        ("secret-access-key", "Secret access key."),
        ("session-token", "Session token of temporary credentials."),
    ];

    /// Credentials from an access key id and a secret (both or neither: `None`, unsigned
    /// requests) and an optional session token; one without the other is an error
    /// message for the configuration.
    pub fn from_parts(
        access_key_id: Option<String>,
        secret_access_key: Option<String>,
        session_token: Option<String>,
    ) -> Result<Option<Credentials>, String> {
        match (access_key_id, secret_access_key) {
            (Some(access_key_id), Some(secret_access_key)) => Ok(Some(Credentials {
                access_key_id,
                secret_access_key,
                session_token,
            })),
            (None, None) => Ok(None),
            _ => Err("`access-key-id` and `secret-access-key` go together".into()),
        }
    }
}

/// What a signature is scoped to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope<'a> {
    /// Region, e.g. `us-east-1`.
    pub region: &'a str,
    /// Service, e.g. `s3` or `dynamodb`.
    pub service: &'a str,
}

/// The request to sign. `headers` must include `host`; names may be in any case.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// `GET`, `PUT`, …
    pub method: &'a str,
    /// The path as sent (already URI-encoded), starting with `/`.
    pub path: &'a str,
    /// Query parameters, raw (encoded here); a parameter without a value has `""`.
    pub query: &'a [(String, String)],
    /// Headers to sign.
    pub headers: &'a [(String, String)],
    /// Hex SHA-256 of the body (see [`sha256_hex`]), or `UNSIGNED-PAYLOAD` for S3.
    pub payload_sha256: &'a str,
}

/// Headers [`sign`] adds to the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// `x-amz-date` (`YYYYMMDDTHHMMSSZ`).
    pub amz_date: String,
    /// `authorization`.
    pub authorization: String,
    /// `x-amz-security-token`, when the credentials have a session token.
    pub security_token: Option<String>,
    /// The signature alone (hex).
    pub signature: String,
}

impl Signed {
    /// The headers to send, lowercase names: `x-amz-date`, `authorization` and, with a
    /// session token, `x-amz-security-token`.
    pub fn headers(&self) -> Vec<(String, String)> {
        let mut out = vec![
            ("x-amz-date".to_owned(), self.amz_date.clone()),
            ("authorization".to_owned(), self.authorization.clone()),
        ];
        if let Some(token) = &self.security_token {
            out.push(("x-amz-security-token".to_owned(), token.clone()));
        }
        out
    }
}

/// Hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Percent-encodes `text` as SigV4 requires: every byte but `A-Z a-z 0-9 - _ . ~` (and `/`
/// unless `encode_slash`) as `%XX`, uppercase.
pub fn uri_encode(text: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (b == b'/' && !encode_slash)
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The canonical query string of `query`: encoded, sorted by name then value.
pub fn canonical_query(query: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (uri_encode(k, true), uri_encode(v, true)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// `x-amz-date` for `epoch_ms` (milliseconds since the UNIX epoch).
pub fn amz_date(epoch_ms: u64) -> String {
    let secs = epoch_ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Days to civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The signing key of `secret` for one day, region and service.
pub fn signing_key(secret: &str, date: &str, scope: &Scope<'_>) -> Vec<u8> {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, scope.region.as_bytes());
    let k_service = hmac(&k_region, scope.service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// The canonical request and the signed-headers list of `request` (with `x-amz-date`
/// and, with a session token, `x-amz-security-token` among the headers).
pub fn canonical_request(request: &Request<'_>) -> (String, String) {
    let mut headers: Vec<(String, String)> = request
        .headers
        .iter()
        .map(|(n, v)| {
            let value = v.split_whitespace().collect::<Vec<_>>().join(" ");
            (n.to_ascii_lowercase(), value)
        })
        .collect();
    headers.sort();
    let signed = headers
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_headers: String = headers.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
    let canonical = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method,
        request.path,
        canonical_query(request.query),
        canonical_headers,
        signed,
        request.payload_sha256
    );
    (canonical, signed)
}

/// Signs `request` at `amz_date` (see [`amz_date`]): the headers to add to it.
pub fn sign(
    credentials: &Credentials,
    scope: &Scope<'_>,
    amz_date: &str,
    request: &Request<'_>,
) -> Signed {
    let date = amz_date.get(..8).unwrap_or(amz_date);
    let key = signing_key(&credentials.secret_access_key, date, scope);
    sign_with_key(credentials, scope, &key, amz_date, request)
}

/// [`sign`] with the day's signing key already derived (see [`signing_key`]).
fn sign_with_key(
    credentials: &Credentials,
    scope: &Scope<'_>,
    key: &[u8],
    amz_date: &str,
    request: &Request<'_>,
) -> Signed {
    let mut headers = request.headers.to_vec();
    headers.push(("x-amz-date".into(), amz_date.to_owned()));
    if let Some(token) = &credentials.session_token {
        headers.push(("x-amz-security-token".into(), token.clone()));
    }
    let (canonical, signed_headers) = canonical_request(&Request {
        headers: &headers,
        ..request.clone()
    });
    let date = amz_date.get(..8).unwrap_or(amz_date);
    let credential_scope = format!("{date}/{}/{}/aws4_request", scope.region, scope.service);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{credential_scope}\n{}",
        sha256_hex(canonical.as_bytes())
    );
    let signature = hex::encode(hmac(key, string_to_sign.as_bytes()));
    Signed {
        amz_date: amz_date.to_owned(),
        authorization: format!(
            "AWS4-HMAC-SHA256 Credential={}/{credential_scope}, SignedHeaders={signed_headers}, Signature={signature}",
            credentials.access_key_id
        ),
        security_token: credentials.session_token.clone(),
        signature,
    }
}

/// Signs every request of one client: credentials, region, service and the `host` it
/// sends to, with the day's signing key derived once per day rather than per request.
/// `Debug` hides the secret and the key (as [`Credentials`] does).
pub struct Signer {
    credentials: Credentials,
    region: String,
    service: String,
    host: String,
    /// The day (`YYYYMMDD`) and its signing key.
    key: std::sync::Mutex<Option<(String, Vec<u8>)>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("credentials", &self.credentials)
            .field("region", &self.region)
            .field("service", &self.service)
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer for requests to `host` (`authority` as sent, e.g. `127.0.0.1:9000`).
    pub fn new(credentials: Credentials, region: &str, service: &str, host: &str) -> Signer {
        Signer {
            credentials,
            region: region.to_owned(),
            service: service.to_owned(),
            host: host.to_owned(),
            key: std::sync::Mutex::new(None),
        }
    }

    /// The headers to add to a request at `epoch_ms`: `method`, `path` (as sent),
    /// raw `query`, its `headers` (the `host` header is added here) and the hex SHA-256
    /// of its body.
    pub fn headers(
        &self,
        epoch_ms: u64,
        method: &str,
        path: &str,
        query: &[(String, String)],
        headers: &[(String, String)],
        payload_sha256: &str,
    ) -> Vec<(String, String)> {
        let amz_date = amz_date(epoch_ms);
        let date = amz_date.get(..8).unwrap_or(&amz_date);
        let scope = Scope {
            region: &self.region,
            service: &self.service,
        };
        let key = {
            let mut cached = self.key.lock().unwrap_or_else(|e| e.into_inner());
            match cached.as_ref() {
                Some((day, key)) if day == date => key.clone(),
                _ => {
                    let key = signing_key(&self.credentials.secret_access_key, date, &scope);
                    *cached = Some((date.to_owned(), key.clone()));
                    key
                }
            }
        };
        let mut to_sign = Vec::with_capacity(headers.len() + 1);
        to_sign.extend_from_slice(headers);
        to_sign.push(("host".to_owned(), self.host.clone()));
        sign_with_key(
            &self.credentials,
            &scope,
            &key,
            &amz_date,
            &Request {
                method,
                path,
                query,
                headers: &to_sign,
                payload_sha256,
            },
        )
        .headers()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suite_credentials() -> Credentials {
        Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        }
    }

    fn s3_credentials() -> Credentials {
        Credentials {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        }
    }

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The `aws-sig-v4-test-suite` cases: `get-vanilla`, `get-vanilla-query-order-key-case`,
    /// `post-vanilla` and `get-utf8`.
    #[test]
    fn matches_the_aws_test_suite() {
        let scope = Scope {
            region: "us-east-1",
            service: "service",
        };
        let headers = h(&[("Host", "example.amazonaws.com")]);
        let unordered = h(&[("Param2", "value2"), ("Param1", "value1")]);
        for (method, path, query, signature) in [
            (
                "GET",
                "/",
                &[][..],
                "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ),
            (
                "GET",
                "/",
                &unordered[..],
                "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
            ),
            (
                "POST",
                "/",
                &[][..],
                "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
            ),
            (
                "GET",
                "/%E1%88%B4",
                &[][..],
                "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
            ),
        ] {
            let signed = sign(
                &suite_credentials(),
                &scope,
                "20150830T123600Z",
                &Request {
                    method,
                    path,
                    query,
                    headers: &headers,
                    payload_sha256: EMPTY_SHA256,
                },
            );
            assert_eq!(signed.signature, signature, "{method} {path}");
            assert_eq!(
                signed.authorization,
                format!(
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature={signature}"
                )
            );
        }
    }

    /// The S3 documentation's header-based examples (GET object with a range, PUT of an
    /// escaped key with a body, ListObjects with a query, GET of `?lifecycle`).
    #[test]
    fn matches_the_s3_examples() {
        let scope = Scope {
            region: "us-east-1",
            service: "s3",
        };
        let host = ("host", "examplebucket.s3.amazonaws.com");
        let empty = ("x-amz-content-sha256", EMPTY_SHA256);
        let body_hash = sha256_hex(b"Welcome to Amazon S3.");
        assert_eq!(
            body_hash,
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
        );
        let list = h(&[("max-keys", "2"), ("prefix", "J")]);
        let lifecycle = h(&[("lifecycle", "")]);
        let cases = [
            (
                "GET",
                "/test.txt",
                Vec::new(),
                h(&[host, ("Range", "bytes=0-9"), empty]),
                EMPTY_SHA256,
                "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
            ),
            (
                "PUT",
                "/test%24file.text",
                Vec::new(),
                h(&[
                    ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
                    host,
                    ("x-amz-content-sha256", &body_hash),
                    ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                ]),
                body_hash.as_str(),
                "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
            ),
            (
                "GET",
                "/",
                list,
                h(&[host, empty]),
                EMPTY_SHA256,
                "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
            ),
            (
                "GET",
                "/",
                lifecycle,
                h(&[host, empty]),
                EMPTY_SHA256,
                "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
            ),
        ];
        for (method, path, query, headers, payload, signature) in cases {
            let signed = sign(
                &s3_credentials(),
                &scope,
                "20130524T000000Z",
                &Request {
                    method,
                    path,
                    query: &query,
                    headers: &headers,
                    payload_sha256: payload,
                },
            );
            assert_eq!(signed.signature, signature, "{method} {path}");
        }
    }

    #[test]
    fn dates_and_encoding() {
        assert_eq!(amz_date(1_440_938_160_000), "20150830T123600Z");
        assert_eq!(amz_date(0), "19700101T000000Z");
        assert_eq!(amz_date(951_782_400_000), "20000229T000000Z");
        assert_eq!(uri_encode("a b*(c)/~", true), "a%20b%2A%28c%29%2F~");
        assert_eq!(uri_encode("a/é", false), "a/%C3%A9");
    }

    #[test]
    fn session_tokens_are_signed_and_secrets_never_printed() {
        let mut credentials = suite_credentials();
        credentials.session_token = Some("SESSIONXYZ".into());
        let headers = h(&[("host", "example.amazonaws.com")]);
        let signed = sign(
            &credentials,
            &Scope {
                region: "us-east-1",
                service: "service",
            },
            "20150830T123600Z",
            &Request {
                method: "GET",
                path: "/",
                query: &[],
                headers: &headers,
                payload_sha256: EMPTY_SHA256,
            },
        );
        assert!(
            signed
                .authorization
                .contains("SignedHeaders=host;x-amz-date;x-amz-security-token")
        );
        assert_eq!(signed.security_token.as_deref(), Some("SESSIONXYZ"));
        let printed = format!("{credentials:?}");
        assert!(
            !printed.contains("EXAMPLEKEY") && !printed.contains("SESSIONXYZ"),
            "{printed}"
        );
    }

    #[test]
    fn a_signer_signs_as_sign_does_across_days() {
        let signer = Signer::new(
            suite_credentials(),
            "us-east-1",
            "service",
            "example.amazonaws.com",
        );
        let headers = h(&[("x-amz-content-sha256", EMPTY_SHA256)]);
        for epoch_ms in [1_440_938_160_000, 1_440_938_161_000, 1_441_038_160_000] {
            let mut to_sign = headers.clone();
            to_sign.push(("host".into(), "example.amazonaws.com".into()));
            let expected = sign(
                &suite_credentials(),
                &Scope {
                    region: "us-east-1",
                    service: "service",
                },
                &amz_date(epoch_ms),
                &Request {
                    method: "GET",
                    path: "/",
                    query: &[],
                    headers: &to_sign,
                    payload_sha256: EMPTY_SHA256,
                },
            );
            let got = signer.headers(epoch_ms, "GET", "/", &[], &headers, EMPTY_SHA256);
            assert_eq!(got, expected.headers(), "{epoch_ms}");
        }
        assert!(!format!("{signer:?}").contains("wJalr"));
    }
}
