//! The BYOC etcd adapter: one etcd key per entry, spoken to over `wasi:http` through etcd's
//! v3 JSON gateway (`/v3/kv/range`, `/v3/kv/put`, `/v3/kv/deleterange`, `/v3/kv/txn`,
//! `/v3/lease/grant`; etcd 3.4 and later), keys and values base64 as the gateway wants.
//!
//! The etcd key is `namespace` + key. A value without a TTL is stored as is; one with a TTL
//! is stored behind a short header holding its expiry (ms since the UNIX epoch) and is
//! attached to a lease. Leases are shared: one per expiry bucket (see [`bucket_end`]), so
//! keys expiring close together share one lease, and etcd deletes them a little after they
//! expire; reads check the stored expiry, so expiry is exact to the millisecond. Multi-key
//! operations are one transaction per 128 keys; `increment`, `compare-and-swap` and
//! `expire` are transactions comparing the key's modification revision.
//!
//! Configuration: `endpoint` (required, e.g. `http://127.0.0.1:2379`), `namespace`
//! (default `byoc/`), `user` and `password` (etcd authentication), `timeout` (default
//! 5 s), `lease-bucket` (default 60 s).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use byoc_guest_sdk::atomic::{add_counter, parse_counter};
use byoc_guest_sdk::http::{Client, Origin, Response};
use byoc_guest_sdk::{
    Adapter, Capabilities, Config, ConfigField, ConfigKind, Entry, Error, Result, ScanCursor,
    ScanPage, Usage, now_ms,
};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

/// Default `timeout`.
pub use byoc_guest_sdk::http::DEFAULT_TIMEOUT_MS;
/// Default `namespace`.
pub const DEFAULT_NAMESPACE: &str = "byoc/";
/// Default `lease-bucket`.
pub const DEFAULT_LEASE_BUCKET_MS: u64 = 60_000;
/// How long a lease outlives the end of its bucket, so a key is never deleted by etcd
/// before its own expiry, whatever the clock skew between here and etcd.
const LEASE_SLACK_MS: u64 = 5_000;
/// etcd's default `--max-txn-ops`: most operations in one transaction.
const TXN_OPS: usize = 128;
/// etcd's default `--max-request-bytes` (1.5 MiB): the largest request it takes.
const MAX_REQUEST: usize = 3 << 19;
/// The largest value stored: etcd's request limit less room for the key and the header.
pub const MAX_VALUE: usize = MAX_REQUEST - 8 * 1024;
/// Entries read per page by `keys` (keys only).
const KEYS_PAGE: usize = 1000;
/// Entries read per page by `scan` and `stats`, values included.
const VALUES_PAGE: usize = 256;
/// Most rounds of a compare-and-set lost to concurrent writers before `unavailable`.
const ROUNDS: usize = 64;
/// The header of a stored value with an expiry: `MAGIC`, the expiry's decimal digits
/// (none: no expiry), `;`, then the value.
const MAGIC: &[u8] = b"\0byoc-exp:";
/// etcd's answer to a put on a lease it no longer has.
const LEASE_NOT_FOUND: &str = "requested lease not found";

/// The etcd adapter's state.
pub struct Etcd {
    client: Client,
    namespace: Vec<u8>,
    bucket_ms: u64,
    credentials: Option<(String, String)>,
    token: Option<String>,
    /// Leases granted by this instance, by the end of their bucket.
    leases: BTreeMap<u64, i64>,
}

/// What is stored for `value` expiring at `expires_at`: the value itself when it has no
/// expiry (so plain clients read it as is), the header and the value otherwise, or when
/// the value itself starts like a header.
pub fn encode_value(value: &[u8], expires_at: Option<u64>) -> Vec<u8> {
    if expires_at.is_none() && !value.starts_with(MAGIC) {
        return value.to_vec();
    }
    let mut out = Vec::with_capacity(MAGIC.len() + 21 + value.len());
    out.extend_from_slice(MAGIC);
    if let Some(at) = expires_at {
        out.extend_from_slice(at.to_string().as_bytes());
    }
    out.push(b';');
    out.extend_from_slice(value);
    out
}

/// The entry of a stored value (see [`encode_value`]); anything without a well-formed
/// header is a value without expiry.
pub fn decode_value(stored: Vec<u8>) -> Entry {
    if let Some(rest) = stored.strip_prefix(MAGIC)
        && let Some(end) = rest.iter().position(|&b| b == b';')
        && end <= 20
        && rest[..end].iter().all(u8::is_ascii_digit)
    {
        let expires_at = std::str::from_utf8(&rest[..end])
            .ok()
            .and_then(|d| d.parse().ok());
        if end == 0 || expires_at.is_some() {
            return Entry {
                value: rest[end + 1..].to_vec(),
                expires_at,
            };
        }
    }
    Entry {
        value: stored,
        expires_at: None,
    }
}

/// The end (ms since the UNIX epoch) of the lease bucket of an entry expiring at `at`,
/// written at `now`: `at` rounded up to a multiple of the bucket width, which is
/// `bucket_ms` or, for long TTLs, the power of two ms at or above an eighth of the TTL, so
/// a key outlives its expiry in etcd by at most a bucket (and the lease's slack) and long
/// TTLs do not each need a lease.
pub fn bucket_end(at: u64, now: u64, bucket_ms: u64) -> u64 {
    let width = bucket_ms
        .max((at.saturating_sub(now) / 8).next_power_of_two())
        .max(1);
    at.div_ceil(width).saturating_mul(width)
}

/// The first key after every key starting with `prefix` (etcd's `range_end` of a prefix);
/// `[0]` (no end) when there is none.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

fn bad_answer(what: &str) -> Error {
    Error::Unavailable(format!(
        "etcd sent an answer that is not understood: {what}"
    ))
}

/// An int64 field of an answer (the gateway writes them as strings); 0 when absent.
fn int(value: &Value, name: &str) -> Result<i64> {
    match value.get(name) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::String(s)) => s.parse().map_err(|_| bad_answer(name)),
        Some(v) => v.as_i64().ok_or_else(|| bad_answer(name)),
    }
}

/// The bytes of a base64 field; empty when absent (the gateway omits empty fields).
fn bytes(value: &Value, name: &str) -> Result<Vec<u8>> {
    match value.get(name).and_then(Value::as_str) {
        None => Ok(Vec::new()),
        Some(s) => B64.decode(s).map_err(|_| bad_answer(name)),
    }
}

/// The message of an error answer.
fn error_message(response: &Response) -> String {
    serde_json::from_slice::<Value>(&response.body)
        .ok()
        .and_then(|v| {
            let m = v.get("error").or_else(|| v.get("message"))?;
            m.as_str().map(str::to_owned)
        })
        .unwrap_or_else(|| response.snippet())
}

/// The contract error for an unsuccessful answer.
pub fn status_error(response: &Response) -> Error {
    let message = error_message(response);
    let detail = format!("etcd answered {}: {message}", response.status);
    if message.contains("too large") {
        Error::ValueTooLarge(detail)
    } else if message.contains("authentication failed")
        || message.contains("permission denied")
        || message.contains("user name is empty")
        || message.contains("auth token")
        || matches!(response.status, 401 | 403)
    {
        Error::Denied(detail)
    } else {
        match byoc_guest_sdk::http::status_error("etcd", response) {
            Error::Unavailable(_) => Error::Unavailable(detail),
            Error::Denied(_) => Error::Denied(detail),
            _ => Error::Internal(detail),
        }
    }
}

/// Whether an answer says the token is no longer valid (expired, or etcd restarted).
fn token_rejected(response: &Response) -> bool {
    response.status == 401 || error_message(response).contains("auth token")
}

/// One key-value of an answer.
struct Kv {
    key: Vec<u8>,
    value: Vec<u8>,
    mod_revision: i64,
}

fn kvs(answer: &Value, field: &str) -> Result<Vec<Kv>> {
    let Some(list) = answer.get(field) else {
        return Ok(Vec::new());
    };
    let list = list.as_array().ok_or_else(|| bad_answer(field))?;
    list.iter()
        .map(|kv| {
            Ok(Kv {
                key: bytes(kv, "key")?,
                value: bytes(kv, "value")?,
                mod_revision: int(kv, "mod_revision")?,
            })
        })
        .collect()
}

/// The answers of a transaction's operations, each the inner answer of `kind`.
fn txn_answers<'a>(answer: &'a Value, kind: &str) -> Vec<&'a Value> {
    answer
        .get("responses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| r.get(kind).unwrap_or(&Value::Null))
        .collect()
}

/// How a compare-and-set went.
enum Swap {
    Done,
    /// Someone else changed the key: its state now.
    Changed(Option<Kv>),
}

impl Etcd {
    fn full_key(&self, key: &str) -> Vec<u8> {
        let mut k = self.namespace.clone();
        k.extend_from_slice(key.as_bytes());
        k
    }

    /// The first key of the namespace (`[0]`, the first key there is, when it is empty).
    fn start(&self) -> Vec<u8> {
        if self.namespace.is_empty() {
            vec![0]
        } else {
            self.namespace.clone()
        }
    }

    /// The key of an etcd key this cache wrote.
    fn key_of(&self, full: &[u8]) -> Option<String> {
        let key = full.strip_prefix(self.namespace.as_slice())?;
        (!key.is_empty())
            .then(|| String::from_utf8(key.to_vec()).ok())
            .flatten()
    }

    fn authenticate(&mut self) -> Result<()> {
        let Some((user, password)) = &self.credentials else {
            return Ok(());
        };
        let body = serde_json::to_vec(&json!({ "name": user, "password": password }))
            .map_err(|e| Error::Internal(e.to_string()))?;
        let response = self
            .client
            .call("POST", "/v3/auth/authenticate")
            .header("content-type", "application/json")
            .body(body)
            .send()?;
        if !response.is_success() {
            return Err(match status_error(&response) {
                Error::Internal(detail) => Error::Denied(detail),
                other => other,
            });
        }
        let answer: Value =
            serde_json::from_slice(&response.body).map_err(|e| bad_answer(&e.to_string()))?;
        let token = answer
            .get("token")
            .and_then(Value::as_str)
            .ok_or_else(|| bad_answer("no token"))?;
        self.token = Some(token.to_owned());
        Ok(())
    }

    /// Posts `body` to `path`; an error answer whose message contains `accept` is
    /// `Ok(Err(()))`, any other is an error. A rejected token is renewed once.
    fn call_or(
        &mut self,
        path: &str,
        body: &Value,
        accept: Option<&str>,
    ) -> Result<std::result::Result<Value, ()>> {
        let mut body =
            serde_json::to_vec(body).map_err(|e| Error::Internal(format!("encoding: {e}")))?;
        let mut renewed = false;
        loop {
            if self.credentials.is_some() && self.token.is_none() {
                self.authenticate()?;
            }
            let mut call = self
                .client
                .call("POST", path)
                .header("content-type", "application/json");
            // The body is sent again only after a renewed token.
            call = if self.credentials.is_some() {
                call.body(body.clone())
            } else {
                call.body(std::mem::take(&mut body))
            };
            if let Some(token) = &self.token {
                call = call.header("authorization", token.clone());
            }
            let response = call.send()?;
            if response.is_success() {
                return serde_json::from_slice(&response.body)
                    .map(Ok)
                    .map_err(|e| bad_answer(&e.to_string()));
            }
            if self.credentials.is_some() && !renewed && token_rejected(&response) {
                self.token = None;
                renewed = true;
                continue;
            }
            if accept.is_some_and(|a| error_message(&response).contains(a)) {
                return Ok(Err(()));
            }
            return Err(status_error(&response));
        }
    }

    fn call(&mut self, path: &str, body: &Value) -> Result<Value> {
        self.call_or(path, body, None)?
            .map_err(|()| Error::Internal("unexpected answer".into()))
    }

    /// The lease of an entry expiring at `expires_at` (0: none), granted when this
    /// instance has none for its bucket yet.
    fn lease_for(&mut self, expires_at: Option<u64>, now: u64) -> Result<i64> {
        let Some(at) = expires_at else {
            return Ok(0);
        };
        let end = bucket_end(at, now, self.bucket_ms);
        // Buckets that have ended are of no further use.
        self.leases.retain(|&e, _| e > now);
        if let Some(&id) = self.leases.get(&end) {
            return Ok(id);
        }
        let ttl_s = (end.saturating_sub(now) + LEASE_SLACK_MS).div_ceil(1000);
        let answer = self.call("/v3/lease/grant", &json!({ "TTL": ttl_s.to_string() }))?;
        let id = int(&answer, "ID")?;
        if id == 0 {
            return Err(bad_answer("a lease without an id"));
        }
        self.leases.insert(end, id);
        Ok(id)
    }

    fn check_size(value: &[u8]) -> Result<()> {
        if value.len() > MAX_VALUE {
            return Err(Error::ValueTooLarge(format!(
                "a value of {} bytes is over etcd's request limit ({MAX_VALUE} bytes here)",
                value.len()
            )));
        }
        Ok(())
    }

    fn put_op(&self, key: &str, entry: &Entry, lease: i64) -> Value {
        let mut put = json!({
            "key": b64(&self.full_key(key)),
            "value": b64(&encode_value(&entry.value, entry.expires_at)),
        });
        if lease != 0 {
            put["lease"] = json!(lease.to_string());
        }
        put
    }

    /// Runs `run` with leases for `expiries`; when etcd lost one of this instance's
    /// leases (revoked by someone), forgets them all and tries once more.
    fn with_leases<T>(
        &mut self,
        expiries: &[Option<u64>],
        now: u64,
        mut run: impl FnMut(&mut Self, &[i64]) -> Result<std::result::Result<T, ()>>,
    ) -> Result<T> {
        for _ in 0..2 {
            let leases = expiries
                .iter()
                .map(|&at| self.lease_for(at, now))
                .collect::<Result<Vec<_>>>()?;
            if let Ok(done) = run(self, &leases)? {
                return Ok(done);
            }
            self.leases.clear();
        }
        Err(Error::Unavailable(
            "etcd lost the lease of a write twice".into(),
        ))
    }

    fn range_one(&mut self, key: &str) -> Result<Option<Kv>> {
        let answer = self.call("/v3/kv/range", &json!({ "key": b64(&self.full_key(key)) }))?;
        Ok(kvs(&answer, "kvs")?.into_iter().next())
    }

    /// Stores `new` under `key` if its modification revision is still `expected` (`None`:
    /// the key must be absent).
    fn swap(&mut self, key: &str, expected: Option<i64>, new: &Entry, now: u64) -> Result<Swap> {
        let full = b64(&self.full_key(key));
        let compare = match expected {
            Some(rev) => json!({ "target": "MOD", "key": full, "mod_revision": rev.to_string() }),
            None => json!({ "target": "CREATE", "key": full, "create_revision": "0" }),
        };
        self.with_leases(&[new.expires_at], now, |this, leases| {
            let body = json!({
                "compare": [compare],
                "success": [{ "request_put": this.put_op(key, new, leases[0]) }],
                "failure": [{ "request_range": { "key": full } }],
            });
            let Ok(answer) = this.call_or("/v3/kv/txn", &body, Some(LEASE_NOT_FOUND))? else {
                return Ok(Err(()));
            };
            if answer.get("succeeded").and_then(Value::as_bool) == Some(true) {
                return Ok(Ok(Swap::Done));
            }
            let now_there = txn_answers(&answer, "response_range")
                .first()
                .map(|r| kvs(r, "kvs"))
                .transpose()?
                .and_then(|kvs| kvs.into_iter().next());
            Ok(Ok(Swap::Changed(now_there)))
        })
    }

    /// Pages of the namespace from `from`, `limit` entries each, until `page` answers
    /// `false` or the namespace ends.
    fn pages(
        &mut self,
        keys_only: bool,
        limit: usize,
        mut page: impl FnMut(&Self, Vec<Kv>) -> bool,
    ) -> Result<()> {
        let end = prefix_end(&self.namespace);
        let mut from = self.start();
        loop {
            let answer = self.call(
                "/v3/kv/range",
                &json!({
                    "key": b64(&from),
                    "range_end": b64(&end),
                    "limit": limit.to_string(),
                    "keys_only": keys_only,
                }),
            )?;
            let more = answer.get("more").and_then(Value::as_bool) == Some(true);
            let kvs = kvs(&answer, "kvs")?;
            let next = kvs.last().map(|kv| {
                let mut k = kv.key.clone();
                k.push(0);
                k
            });
            if !page(self, kvs) || !more {
                return Ok(());
            }
            match next {
                Some(next) => from = next,
                None => return Ok(()),
            }
        }
    }
}

impl Adapter for Etcd {
    const NAME: &'static str = "etcd";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const NATIVE: Capabilities = Capabilities::GET_MULTI
        .union(Capabilities::SET_MULTI)
        .union(Capabilities::DELETE_MULTI)
        .union(Capabilities::SCAN)
        .union(Capabilities::EXPIRE)
        .union(Capabilities::CLEAR)
        .union(Capabilities::STATS);
    const ATOMICS: bool = true;

    fn config_fields() -> Vec<ConfigField> {
        let text = |name: &str, required: bool, doc: &str| {
            ConfigField::new(name, ConfigKind::Text, required, doc)
        };
        vec![
            text(
                "endpoint",
                true,
                "Base URL of etcd's client port (its JSON gateway), e.g. http://127.0.0.1:2379.",
            ),
            text(
                "namespace",
                false,
                "Prefix of this cache's etcd keys (default `byoc/`).",
            ),
            text("user", false, "etcd user (with `password`)."),
            text("password", false, "The user's password."),
            byoc_guest_sdk::http::timeout_field(),
            ConfigField::new(
                "lease-bucket",
                ConfigKind::DurationMs,
                false,
                "Width of the expiry buckets that share one lease (default 60s).",
            ),
        ]
    }

    fn open(config: &Config) -> Result<Self> {
        let endpoint = config.required_text("endpoint")?;
        let credentials = match (config.filled_text("user"), config.text("password")) {
            (Some(user), Some(password)) => Some((user, password.to_owned())),
            (None, None) => None,
            _ => {
                return Err(Error::InvalidConfig(
                    "`user` and `password` go together".into(),
                ));
            }
        };
        let timeout_ms = byoc_guest_sdk::http::timeout_ms(config)?;
        let bucket_ms = config
            .duration_ms("lease-bucket")
            .unwrap_or(DEFAULT_LEASE_BUCKET_MS);
        if bucket_ms == 0 {
            return Err(Error::InvalidConfig(
                "lease-bucket must be above zero".into(),
            ));
        }
        Ok(Etcd {
            client: Client::new(Origin::parse(&endpoint)?, timeout_ms),
            namespace: config
                .text("namespace")
                .unwrap_or(DEFAULT_NAMESPACE)
                .as_bytes()
                .to_vec(),
            bucket_ms,
            credentials,
            token: None,
            leases: BTreeMap::new(),
        })
    }

    fn get(&mut self, key: &str) -> Result<Option<Entry>> {
        Ok(self.range_one(key)?.map(|kv| decode_value(kv.value)))
    }

    fn set(&mut self, key: &str, entry: Entry) -> Result<()> {
        Self::check_size(&entry.value)?;
        self.with_leases(&[entry.expires_at], now_ms(), |this, leases| {
            let body = this.put_op(key, &entry, leases[0]);
            Ok(this
                .call_or("/v3/kv/put", &body, Some(LEASE_NOT_FOUND))?
                .map(drop))
        })
    }

    fn delete(&mut self, key: &str) -> Result<bool> {
        let answer = self.call(
            "/v3/kv/deleterange",
            &json!({ "key": b64(&self.full_key(key)) }),
        )?;
        Ok(int(&answer, "deleted")? > 0)
    }

    fn delete_live(&mut self, key: &str, now: u64) -> Result<bool> {
        let answer = self.call(
            "/v3/kv/deleterange",
            &json!({ "key": b64(&self.full_key(key)), "prev_kv": true }),
        )?;
        Ok(kvs(&answer, "prev_kvs")?
            .into_iter()
            .any(|kv| decode_value(kv.value).is_live(now)))
    }

    fn keys(&mut self) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        self.pages(true, KEYS_PAGE, |this, kvs| {
            keys.extend(kvs.iter().filter_map(|kv| this.key_of(&kv.key)));
            true
        })?;
        Ok(keys)
    }

    fn get_multi(&mut self, keys: &[String]) -> Result<Vec<Option<Entry>>> {
        let mut unique: Vec<&String> = keys.iter().collect();
        unique.sort();
        unique.dedup();
        let mut found: HashMap<&str, Entry> = HashMap::new();
        for chunk in unique.chunks(TXN_OPS) {
            let ops: Vec<Value> = chunk
                .iter()
                .map(|k| json!({ "request_range": { "key": b64(&self.full_key(k)) } }))
                .collect();
            let answer = self.call("/v3/kv/txn", &json!({ "success": ops }))?;
            let answers = txn_answers(&answer, "response_range");
            if answers.len() != chunk.len() {
                return Err(bad_answer("a transaction answered another number of reads"));
            }
            for (key, range) in chunk.iter().zip(answers) {
                if let Some(kv) = kvs(range, "kvs")?.into_iter().next() {
                    found.insert(key, decode_value(kv.value));
                }
            }
        }
        Ok(keys
            .iter()
            .map(|k| found.get(k.as_str()).cloned())
            .collect())
    }

    fn set_multi(&mut self, items: Vec<(String, Entry)>) -> Result<()> {
        for (_, entry) in &items {
            Self::check_size(&entry.value)?;
        }
        // One transaction may not put a key twice: the last write of a key wins.
        let mut last: HashMap<&str, usize> = HashMap::new();
        for (i, (key, _)) in items.iter().enumerate() {
            last.insert(key, i);
        }
        let kept: Vec<&(String, Entry)> = items
            .iter()
            .enumerate()
            .filter(|(i, (key, _))| last.get(key.as_str()) == Some(i))
            .map(|(_, item)| item)
            .collect();
        // Transactions of at most TXN_OPS puts and MAX_REQUEST bytes (base64 counted as
        // the bytes it decodes to, as etcd counts them).
        let mut start = 0;
        while start < kept.len() {
            let mut end = start;
            let mut size = 0;
            while end < kept.len() && end - start < TXN_OPS {
                let (key, entry) = kept[end];
                let cost = key.len() + self.namespace.len() + entry.value.len() + 64;
                if end > start && size + cost > MAX_REQUEST - 8 * 1024 {
                    break;
                }
                size += cost;
                end += 1;
            }
            let chunk = &kept[start..end];
            let expiries: Vec<Option<u64>> = chunk.iter().map(|(_, e)| e.expires_at).collect();
            self.with_leases(&expiries, now_ms(), |this, leases| {
                let ops: Vec<Value> = chunk
                    .iter()
                    .zip(leases)
                    .map(|((key, entry), &lease)| {
                        json!({ "request_put": this.put_op(key, entry, lease) })
                    })
                    .collect();
                Ok(this
                    .call_or(
                        "/v3/kv/txn",
                        &json!({ "success": ops }),
                        Some(LEASE_NOT_FOUND),
                    )?
                    .map(drop))
            })?;
            start = end;
        }
        Ok(())
    }

    fn delete_multi(&mut self, keys: &[String], now: u64) -> Result<u64> {
        let mut unique: Vec<&String> = keys.iter().collect();
        unique.sort();
        unique.dedup();
        let mut removed = 0;
        for chunk in unique.chunks(TXN_OPS) {
            let ops: Vec<Value> = chunk
                .iter()
                .map(|k| {
                    json!({ "request_delete_range": {
                        "key": b64(&self.full_key(k)),
                        "prev_kv": true,
                    } })
                })
                .collect();
            let answer = self.call("/v3/kv/txn", &json!({ "success": ops }))?;
            for deleted in txn_answers(&answer, "response_delete_range") {
                removed += kvs(deleted, "prev_kvs")?
                    .into_iter()
                    .filter(|kv| decode_value(kv.value.clone()).is_live(now))
                    .count() as u64;
            }
        }
        Ok(removed)
    }

    fn scan(
        &mut self,
        pattern: &str,
        cursor: Option<ScanCursor>,
        count: u32,
        now: u64,
    ) -> Result<ScanPage> {
        // The cursor is the last key examined: the next page starts just after it.
        let from = match &cursor {
            Some(c) => {
                let mut k = self.full_key(&c.after);
                k.push(0);
                k
            }
            None => self.start(),
        };
        let wanted = count.max(1) as usize;
        let limit = (wanted * byoc_common::EXAMINE_PER_RESULT).min(VALUES_PAGE);
        let answer = self.call(
            "/v3/kv/range",
            &json!({
                "key": b64(&from),
                "range_end": b64(&prefix_end(&self.namespace)),
                "limit": limit.to_string(),
            }),
        )?;
        let more = answer.get("more").and_then(Value::as_bool) == Some(true);
        let kvs = kvs(&answer, "kvs")?;
        let after = |kv: &Kv| {
            String::from_utf8_lossy(&kv.key[self.namespace.len().min(kv.key.len())..]).into_owned()
        };
        let mut keys = Vec::new();
        let mut next = if more { kvs.last().map(after) } else { None };
        for (i, kv) in kvs.iter().enumerate() {
            let Some(key) = self.key_of(&kv.key) else {
                continue;
            };
            if byoc_common::glob_match(pattern, &key) && decode_value(kv.value.clone()).is_live(now)
            {
                keys.push(key);
                if keys.len() == wanted && (i + 1 < kvs.len() || more) {
                    next = Some(after(kv));
                    break;
                }
            }
        }
        Ok(ScanPage {
            keys,
            cursor: next.map(|after| ScanCursor { after }.encode()),
        })
    }

    fn expire(&mut self, key: &str, expires_at: Option<u64>, now: u64) -> Result<bool> {
        let mut current = self.range_one(key)?;
        for _ in 0..ROUNDS {
            let Some(kv) = current else {
                return Ok(false);
            };
            let entry = decode_value(kv.value);
            if !entry.is_live(now) {
                return Ok(false);
            }
            let new = Entry {
                value: entry.value,
                expires_at,
            };
            match self.swap(key, Some(kv.mod_revision), &new, now)? {
                Swap::Done => return Ok(true),
                Swap::Changed(now_there) => current = now_there,
            }
        }
        Err(contended())
    }

    fn clear(&mut self) -> Result<()> {
        self.call(
            "/v3/kv/deleterange",
            &json!({
                "key": b64(&self.start()),
                "range_end": b64(&prefix_end(&self.namespace)),
            }),
        )
        .map(drop)
    }

    fn usage(&mut self) -> Result<Usage> {
        let (mut keys, mut bytes) = (0u64, 0u64);
        self.pages(false, VALUES_PAGE, |this, kvs| {
            for kv in kvs {
                if let Some(key) = this.key_of(&kv.key) {
                    keys += 1;
                    bytes += (key.len() + decode_value(kv.value).value.len()) as u64;
                }
            }
            true
        })?;
        Ok(Usage {
            keys,
            bytes,
            ..Usage::default()
        })
    }

    fn ping(&mut self) -> Result<()> {
        self.call("/v3/maintenance/status", &json!({})).map(drop)
    }

    fn increment(
        &mut self,
        key: &str,
        delta: i64,
        expires_at: Option<u64>,
        now: u64,
    ) -> Result<i64> {
        let mut current = self.range_one(key)?;
        for _ in 0..ROUNDS {
            let expected = current.as_ref().map(|kv| kv.mod_revision);
            let live = current
                .take()
                .map(|kv| decode_value(kv.value))
                .filter(|e| e.is_live(now));
            let (value, expires_at) = match live {
                Some(entry) => (parse_counter(&entry.value)?, entry.expires_at),
                None => (0, expires_at),
            };
            let next = add_counter(value, delta)?;
            let new = Entry {
                value: next.to_string().into_bytes(),
                expires_at,
            };
            match self.swap(key, expected, &new, now)? {
                Swap::Done => return Ok(next),
                Swap::Changed(now_there) => current = now_there,
            }
        }
        Err(contended())
    }

    fn compare_and_swap(
        &mut self,
        key: &str,
        expected: Option<&[u8]>,
        new: Vec<u8>,
        expires_at: Option<u64>,
        now: u64,
    ) -> Result<bool> {
        let new = Entry {
            value: new,
            expires_at,
        };
        let mut current = self.range_one(key)?;
        for _ in 0..ROUNDS {
            let revision = current.as_ref().map(|kv| kv.mod_revision);
            let live = current
                .take()
                .map(|kv| decode_value(kv.value))
                .filter(|e| e.is_live(now));
            if live.as_ref().map(|e| e.value.as_slice()) != expected {
                return Ok(false);
            }
            match self.swap(key, revision, &new, now)? {
                Swap::Done => return Ok(true),
                Swap::Changed(now_there) => current = now_there,
            }
        }
        Err(contended())
    }
}

fn contended() -> Error {
    Error::Unavailable("the key kept changing under concurrent writers".into())
}

byoc_guest_sdk::export_adapter!(Etcd);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        for (value, at) in [
            (&b"plain"[..], None),
            (b"", None),
            (b"v", Some(1_700_000_000_123)),
            (b"", Some(5)),
            (b"\0byoc-exp:12;looks like a header", None),
        ] {
            let stored = encode_value(value, at);
            let entry = decode_value(stored);
            assert_eq!((entry.value.as_slice(), entry.expires_at), (value, at));
        }
        assert_eq!(encode_value(b"plain", None), b"plain");
        // Anything else reads as a plain value.
        for odd in [&b"\0byoc-exp:12x;v"[..], b"\0byoc-exp:", b"\0byoc-exp:+1;v"] {
            assert_eq!(decode_value(odd.to_vec()).value, odd);
        }
    }

    #[test]
    fn buckets_round_up_and_widen_with_the_ttl() {
        let now = 1_000_000;
        assert_eq!(bucket_end(now + 150, now, 60_000), 1_020_000);
        assert_eq!(bucket_end(now + 59_000, now, 60_000), 1_080_000);
        // Expiries in one bucket share it.
        assert_eq!(
            bucket_end(now + 30_000, now, 60_000),
            bucket_end(now + 50_000, now, 60_000)
        );
        // A day's TTL: buckets of 2^24 ms (about 4.7 hours), an eighth of the TTL or less.
        let day = 86_400_000;
        let end = bucket_end(now + day, now, 60_000);
        assert!(end >= now + day && end - (now + day) < 1 << 24);
        assert_eq!(end % (1 << 24), 0);
    }

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"byoc/"), b"byoc0");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), [0]);
        assert_eq!(prefix_end(b""), [0]);
    }

    #[test]
    fn errors_map_to_the_contract() {
        let answer = |status: u16, error: &str| Response {
            status,
            headers: Vec::new(),
            body: format!(r#"{{"error":"{error}","code":3,"message":"{error}"}}"#).into_bytes(),
        };
        let e = |s, m| status_error(&answer(s, m));
        assert!(matches!(
            e(400, "etcdserver: request is too large"),
            Error::ValueTooLarge(_)
        ));
        assert!(matches!(
            e(
                400,
                "etcdserver: authentication failed, invalid user ID or password"
            ),
            Error::Denied(_)
        ));
        assert!(matches!(e(401, "x"), Error::Denied(_)));
        assert!(matches!(
            e(503, "etcdserver: leader changed"),
            Error::Unavailable(_)
        ));
        assert!(matches!(
            e(429, "etcdserver: too many requests"),
            Error::Unavailable(_)
        ));
        assert!(matches!(e(400, "something else"), Error::Internal(_)));
        assert!(token_rejected(&answer(
            401,
            "etcdserver: invalid auth token"
        )));
    }
}
