//! The BYOC DynamoDB adapter: one item per entry in one table, spoken to over `wasi:http`
//! (the JSON protocol, `x-amz-target: DynamoDB_20120810.*`) with requests signed by AWS
//! Signature V4.
//!
//! An item is `pk` (string: `namespace` + key, the partition key), `val` (binary; absent
//! for an empty value), and for
//! an entry with a TTL `exp_ms` (expiry in ms since the UNIX epoch, checked on every read,
//! so expiry is exact) and `ttl_s` (the same in epoch seconds, rounded up: the attribute to
//! point DynamoDB's TTL feature at, which deletes expired items within days). Multi-key
//! reads and writes use BatchGetItem (100 keys) and BatchWriteItem (25 items), retrying
//! unprocessed items with backoff; `scan` is a Scan filtered on the namespace and expiry
//! whose cursor is the last evaluated key; `expire` is a conditional UpdateItem. Values
//! are limited by DynamoDB's 400 KB item size (`value-too-large` above it).
//!
//! Configuration: `table` (required), `endpoint` (default
//! `https://dynamodb.<region>.amazonaws.com`), `region` (default `us-east-1`), `namespace`,
//! `access-key-id`, `secret-access-key`, `session-token`, `timeout` (default 5 s),
//! `create-table` (default false: create the table, on-demand billing, with TTL on `ttl_s`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use byoc_guest_sdk::http::{Client, Origin, Response, Retry, retryable_status};
use byoc_guest_sdk::{
    Adapter, Capabilities, Config, ConfigField, ConfigKind, Entry, Error, KeyTtl, Result,
    ScanCursor, ScanPage, Usage, now_ms,
};
use byoc_sigv4::{Credentials, Signer, sha256_hex};
use serde_json::{Value, json};

/// Default `timeout`.
pub use byoc_guest_sdk::http::DEFAULT_TIMEOUT_MS;
/// Default `region`.
pub const DEFAULT_REGION: &str = "us-east-1";
/// Most keys one BatchGetItem may ask for.
const GET_BATCH: usize = 100;
/// Most requests one BatchWriteItem may hold.
const WRITE_BATCH: usize = 25;
/// Tries of a batch's unprocessed items before giving up with `unavailable`.
const UNPROCESSED_TRIES: u32 = 8;
/// The largest value stored: DynamoDB's item limit (400 KB) less room for the key and the
/// other attributes.
pub const MAX_VALUE: usize = 400 * 1024 - 2 * 1024 - 64;

/// The DynamoDB adapter's state.
pub struct Dynamo {
    client: Client,
    table: String,
    namespace: String,
    signer: Option<Signer>,
}

/// The error `__type` of an answer (`ResourceNotFoundException`, …), without its prefix.
fn error_type(response: &Response) -> String {
    serde_json::from_slice::<Value>(&response.body)
        .ok()
        .and_then(|v| v.get("__type")?.as_str().map(str::to_owned))
        .map(|t| t.rsplit('#').next().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

fn error_message(response: &Response) -> String {
    serde_json::from_slice::<Value>(&response.body)
        .ok()
        .and_then(|v| {
            let m = v.get("message").or_else(|| v.get("Message"))?;
            m.as_str().map(str::to_owned)
        })
        .unwrap_or_default()
}

/// Whether an answer says to slow down.
fn throttled(response: &Response) -> bool {
    retryable_status(response.status)
        || matches!(
            error_type(response).as_str(),
            "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "LimitExceededException"
        )
}

/// The contract error for an unsuccessful answer.
pub fn status_error(response: &Response) -> Error {
    let kind = error_type(response);
    let message = error_message(response);
    let detail = format!("DynamoDB answered {} {kind}: {message}", response.status);
    match kind.as_str() {
        "ResourceNotFoundException" => Error::InvalidConfig(format!(
            "{detail} (does the table exist? `create-table: true` creates it)"
        )),
        "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "AccessDeniedException"
        | "MissingAuthenticationTokenException"
        | "IncompleteSignatureException"
        | "ExpiredTokenException" => Error::Denied(detail),
        "ProvisionedThroughputExceededException"
        | "ThrottlingException"
        | "RequestLimitExceeded"
        | "InternalServerError"
        | "ServiceUnavailable" => Error::Unavailable(detail),
        "ValidationException" if message.contains("size") => Error::ValueTooLarge(detail),
        _ => match byoc_guest_sdk::http::status_error("DynamoDB", response) {
            Error::Denied(_) => Error::Denied(detail),
            Error::Unavailable(_) => Error::Unavailable(detail),
            Error::Internal(_) => Error::Internal(detail),
            other => other,
        },
    }
}

fn bad_answer(what: &str) -> Error {
    Error::Unavailable(format!(
        "DynamoDB sent an answer that is not understood: {what}"
    ))
}

/// An entry from an item. An empty value is stored without `val` (not every
/// implementation accepts an empty binary attribute).
fn entry_of(item: &Value) -> Result<Option<Entry>> {
    let value = match item.get("val") {
        None => Vec::new(),
        Some(val) => match val.get("B").and_then(Value::as_str) {
            Some(b) => B64
                .decode(b)
                .map_err(|_| bad_answer("a value is not base64"))?,
            None => return Err(bad_answer("a value is not binary")),
        },
    };
    Ok(Some(Entry {
        value,
        expires_at: expiry_of(item)?,
    }))
}

fn expiry_of(item: &Value) -> Result<Option<u64>> {
    match item.get("exp_ms").and_then(|e| e.get("N")) {
        None => Ok(None),
        Some(n) => n
            .as_str()
            .and_then(|n| n.parse().ok())
            .map(Some)
            .ok_or_else(|| bad_answer("an expiry is not a number")),
    }
}

fn live(expires_at: Option<u64>, now: u64) -> bool {
    expires_at.is_none_or(|at| at > now)
}

fn n(value: u64) -> Value {
    json!({ "N": value.to_string() })
}

impl Dynamo {
    fn pk(&self, key: &str) -> Value {
        json!({ "S": format!("{}{key}", self.namespace) })
    }

    /// The key of a partition key this cache wrote.
    fn key_of<'a>(&self, pk: &'a str) -> Option<&'a str> {
        pk.strip_prefix(self.namespace.as_str())
            .filter(|k| !k.is_empty())
    }

    fn item(&self, key: &str, entry: &Entry) -> Result<Value> {
        if entry.value.len() > MAX_VALUE {
            return Err(Error::ValueTooLarge(format!(
                "a value of {} bytes is over DynamoDB's item limit ({MAX_VALUE} bytes here)",
                entry.value.len()
            )));
        }
        let mut item = json!({ "pk": self.pk(key) });
        if !entry.value.is_empty() {
            item["val"] = json!({ "B": B64.encode(&entry.value) });
        }
        if let Some(at) = entry.expires_at {
            item["exp_ms"] = n(at);
            item["ttl_s"] = n(at.div_ceil(1000));
        }
        Ok(item)
    }

    /// Calls `operation` with `body`; an unsuccessful answer is an error, except the
    /// error types listed in `accept` (answered as `Err(type)`).
    fn call_accepting(
        &self,
        operation: &str,
        body: &Value,
        accept: &[&str],
    ) -> Result<std::result::Result<Value, String>> {
        let body = serde_json::to_vec(body)
            .map_err(|e| Error::Internal(format!("encoding a request: {e}")))?;
        let payload = sha256_hex(&body);
        let mut call = self
            .client
            .call("POST", "/")
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", format!("DynamoDB_20120810.{operation}"))
            .body(body)
            .retry_if(throttled);
        if let Some(signer) = &self.signer {
            let path = format!("{}/", self.client.origin().prefix);
            call = call.before_each_try(move |r| {
                let signed = signer.headers(now_ms(), "POST", &path, &[], &r.headers, &payload);
                r.headers.extend(signed);
                Ok(())
            });
        }
        let response = call.send()?;
        if response.is_success() {
            return serde_json::from_slice(&response.body)
                .map(Ok)
                .map_err(|e| bad_answer(&e.to_string()));
        }
        let kind = error_type(&response);
        if accept.contains(&kind.as_str()) {
            return Ok(Err(kind));
        }
        Err(status_error(&response))
    }

    fn call(&self, operation: &str, body: &Value) -> Result<Value> {
        self.call_accepting(operation, body, &[])?
            .map_err(|kind| Error::Internal(format!("unexpected {kind}")))
    }

    /// The item of `key` with only the attributes `projection` names (all when `None`).
    fn get_item(&self, key: &str, projection: Option<&str>) -> Result<Option<Value>> {
        let mut body = json!({
            "TableName": self.table,
            "Key": { "pk": self.pk(key) },
            "ConsistentRead": true,
        });
        if let Some(p) = projection {
            body["ProjectionExpression"] = json!(p);
        }
        let answer = self.call("GetItem", &body)?;
        Ok(answer.get("Item").cloned())
    }

    /// Deletes `key`; the old item's expiry if there was one (`Some(None)`: no expiry).
    fn delete_item(&self, key: &str) -> Result<Option<Option<u64>>> {
        let answer = self.call(
            "DeleteItem",
            &json!({
                "TableName": self.table,
                "Key": { "pk": self.pk(key) },
                "ReturnValues": "ALL_OLD",
            }),
        )?;
        match answer.get("Attributes") {
            Some(old) => Ok(Some(expiry_of(old)?)),
            None => Ok(None),
        }
    }

    /// Sends BatchWriteItem `requests` (at most [`WRITE_BATCH`]), retrying unprocessed
    /// items with backoff.
    fn batch_write(&self, mut requests: Vec<Value>) -> Result<()> {
        let retry = Retry::default();
        for attempt in 1..=UNPROCESSED_TRIES {
            let answer = self.call(
                "BatchWriteItem",
                &json!({ "RequestItems": { self.table.as_str(): requests } }),
            )?;
            requests = answer
                .pointer(&format!("/UnprocessedItems/{}", self.table))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if requests.is_empty() {
                return Ok(());
            }
            retry.pause(attempt);
        }
        Err(Error::Unavailable(
            "DynamoDB left items of a batch write unprocessed (throttled)".into(),
        ))
    }

    /// One Scan page of this cache's items: (partition keys, items, last evaluated key).
    fn scan_page(
        &self,
        start: Option<&str>,
        limit: u32,
        live_at: Option<u64>,
        projection: &str,
    ) -> Result<(Vec<Value>, Option<String>)> {
        let mut filter = "begins_with(pk, :ns)".to_owned();
        let mut values = json!({ ":ns": { "S": self.namespace } });
        if let Some(now) = live_at {
            filter.push_str(" AND (attribute_not_exists(exp_ms) OR exp_ms > :now)");
            values[":now"] = n(now);
        }
        let mut body = json!({
            "TableName": self.table,
            "ConsistentRead": true,
            "ProjectionExpression": projection,
            "Limit": limit.clamp(1, 1000),
        });
        // `begins_with` with an empty prefix is refused: no namespace, no filter on it.
        if self.namespace.is_empty() {
            if let Some(now) = live_at {
                body["FilterExpression"] = json!("attribute_not_exists(exp_ms) OR exp_ms > :now");
                body["ExpressionAttributeValues"] = json!({ ":now": n(now) });
            }
        } else {
            body["FilterExpression"] = json!(filter);
            body["ExpressionAttributeValues"] = values;
        }
        if let Some(start) = start {
            body["ExclusiveStartKey"] = json!({ "pk": { "S": start } });
        }
        let answer = self.call("Scan", &body)?;
        let items = answer
            .get("Items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let last = answer
            .pointer("/LastEvaluatedKey/pk/S")
            .and_then(Value::as_str)
            .map(str::to_owned);
        Ok((items, last))
    }

    fn pks(items: &[Value]) -> impl Iterator<Item = &str> {
        items
            .iter()
            .filter_map(|i| i.pointer("/pk/S").and_then(Value::as_str))
    }

    fn create_table(&self) -> Result<()> {
        let created = self.call_accepting(
            "CreateTable",
            &json!({
                "TableName": self.table,
                "AttributeDefinitions": [{ "AttributeName": "pk", "AttributeType": "S" }],
                "KeySchema": [{ "AttributeName": "pk", "KeyType": "HASH" }],
                "BillingMode": "PAY_PER_REQUEST",
            }),
            &["ResourceInUseException"],
        )?;
        // Wait (within the timeout) for the table to become active.
        let deadline = now_ms().saturating_add(self.client.timeout_ms());
        loop {
            let described = self.call("DescribeTable", &json!({ "TableName": self.table }))?;
            let status = described
                .pointer("/Table/TableStatus")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if status == "ACTIVE" {
                break;
            }
            if now_ms() > deadline {
                return Err(Error::Unavailable(format!(
                    "table `{}` is {status}, not yet active",
                    self.table
                )));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        if created.is_ok() {
            // DynamoDB's own expiry of `ttl_s` (best effort: not every implementation
            // has it, and reads check the expiry anyway).
            let _ = self.call_accepting(
                "UpdateTimeToLive",
                &json!({
                    "TableName": self.table,
                    "TimeToLiveSpecification": { "AttributeName": "ttl_s", "Enabled": true },
                }),
                &["ValidationException", "UnknownOperationException"],
            );
        }
        Ok(())
    }
}

impl Adapter for Dynamo {
    const NAME: &'static str = "dynamodb";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const NATIVE: Capabilities = Capabilities::EXISTS
        .union(Capabilities::GET_MULTI)
        .union(Capabilities::SET_MULTI)
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
            text("table", true, "The table (partition key `pk`, a string)."),
            text(
                "endpoint",
                false,
                "Base URL (default https://dynamodb.<region>.amazonaws.com).",
            ),
            text("region", false, "Signing region (default us-east-1)."),
            text(
                "namespace",
                false,
                "Prefix of this cache's partition keys (default none).",
            ),
            byoc_guest_sdk::http::timeout_field(),
            ConfigField::new(
                "create-table",
                ConfigKind::Boolean,
                false,
                "Create the table when opening if it does not exist (default false).",
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
        let table = config.required_text("table")?;
        let valid = (3..=255).contains(&table.len())
            && table
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !valid {
            return Err(Error::InvalidConfig(format!(
                "table `{table}` is not a valid table name (3 to 255 of a-z, A-Z, 0-9, `_-.`)"
            )));
        }
        let region = config
            .filled_text("region")
            .unwrap_or_else(|| DEFAULT_REGION.into());
        let endpoint = config
            .filled_text("endpoint")
            .unwrap_or_else(|| format!("https://dynamodb.{region}.amazonaws.com"));
        let credentials = Credentials::from_parts(
            config.filled_text("access-key-id"),
            config.filled_text("secret-access-key"),
            config.filled_text("session-token"),
        )
        .map_err(Error::InvalidConfig)?;
        let timeout_ms = byoc_guest_sdk::http::timeout_ms(config)?;
        let origin = Origin::parse(&endpoint)?;
        let signer = credentials.map(|c| Signer::new(c, &region, "dynamodb", &origin.authority));
        let dynamo = Dynamo {
            client: Client::new(origin, timeout_ms),
            table,
            namespace: config.text("namespace").unwrap_or_default().to_owned(),
            signer,
        };
        if config.boolean("create-table").unwrap_or(false) {
            dynamo.create_table()?;
        }
        Ok(dynamo)
    }

    fn get(&mut self, key: &str) -> Result<Option<Entry>> {
        match self.get_item(key, None)? {
            Some(item) => entry_of(&item),
            None => Ok(None),
        }
    }

    fn set(&mut self, key: &str, entry: Entry) -> Result<()> {
        let item = self.item(key, &entry)?;
        self.call("PutItem", &json!({ "TableName": self.table, "Item": item }))
            .map(drop)
    }

    fn delete(&mut self, key: &str) -> Result<bool> {
        Ok(self.delete_item(key)?.is_some())
    }

    fn delete_live(&mut self, key: &str, now: u64) -> Result<bool> {
        Ok(self.delete_item(key)?.is_some_and(|exp| live(exp, now)))
    }

    fn keys(&mut self) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut start: Option<String> = None;
        loop {
            let (items, last) = self.scan_page(start.as_deref(), 1000, None, "pk")?;
            keys.extend(
                Self::pks(&items)
                    .filter_map(|pk| self.key_of(pk))
                    .map(str::to_owned),
            );
            match last {
                Some(last) => start = Some(last),
                None => return Ok(keys),
            }
        }
    }

    fn exists(&mut self, key: &str, now: u64) -> Result<bool> {
        Ok(match self.get_item(key, Some("pk, exp_ms"))? {
            Some(item) => live(expiry_of(&item)?, now),
            None => false,
        })
    }

    fn get_multi(&mut self, keys: &[String]) -> Result<Vec<Option<Entry>>> {
        let mut found: std::collections::HashMap<String, Entry> = Default::default();
        let mut unique: Vec<&String> = keys.iter().collect();
        unique.sort();
        unique.dedup();
        let retry = Retry::default();
        for chunk in unique.chunks(GET_BATCH) {
            let mut request = json!({
                "Keys": chunk.iter().map(|k| json!({ "pk": self.pk(k) })).collect::<Vec<_>>(),
                "ConsistentRead": true,
            });
            let mut attempt = 0;
            loop {
                attempt += 1;
                let answer = self.call(
                    "BatchGetItem",
                    &json!({ "RequestItems": { self.table.as_str(): request } }),
                )?;
                for item in answer
                    .pointer(&format!("/Responses/{}", self.table))
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let Some(key) = item
                        .pointer("/pk/S")
                        .and_then(Value::as_str)
                        .and_then(|pk| self.key_of(pk))
                    else {
                        continue;
                    };
                    if let Some(entry) = entry_of(item)? {
                        found.insert(key.to_owned(), entry);
                    }
                }
                match answer.pointer(&format!("/UnprocessedKeys/{}", self.table)) {
                    Some(rest)
                        if rest
                            .get("Keys")
                            .and_then(Value::as_array)
                            .is_some_and(|k| !k.is_empty()) =>
                    {
                        if attempt >= UNPROCESSED_TRIES {
                            return Err(Error::Unavailable(
                                "DynamoDB left keys of a batch read unprocessed (throttled)".into(),
                            ));
                        }
                        request = rest.clone();
                        retry.pause(attempt);
                    }
                    _ => break,
                }
            }
        }
        Ok(keys.iter().map(|k| found.get(k).cloned()).collect())
    }

    fn set_multi(&mut self, items: Vec<(String, Entry)>) -> Result<()> {
        // One batch may not name a key twice: the last write of a key wins.
        let mut last: std::collections::HashMap<&str, usize> = Default::default();
        for (i, (key, _)) in items.iter().enumerate() {
            last.insert(key, i);
        }
        let mut requests = Vec::with_capacity(last.len());
        for (i, (key, entry)) in items.iter().enumerate() {
            if last.get(key.as_str()) == Some(&i) {
                requests.push(json!({ "PutRequest": { "Item": self.item(key, entry)? } }));
            }
        }
        for chunk in requests.chunks(WRITE_BATCH) {
            self.batch_write(chunk.to_vec())?;
        }
        Ok(())
    }

    fn scan(
        &mut self,
        pattern: &str,
        cursor: Option<ScanCursor>,
        count: u32,
        now: u64,
    ) -> Result<ScanPage> {
        // The cursor is the last partition key examined (it may be another cache's): a
        // Scan resumes after any key given as its exclusive start.
        let start = cursor.map(|c| c.after);
        let wanted = count.max(1) as usize;
        let limit = (wanted * byoc_common::EXAMINE_PER_RESULT).min(1000) as u32;
        let (items, last) = self.scan_page(start.as_deref(), limit, Some(now), "pk")?;
        let pks: Vec<&str> = Self::pks(&items).collect();
        let mut keys = Vec::new();
        let mut cursor = last;
        for (i, pk) in pks.iter().enumerate() {
            let Some(key) = self.key_of(pk) else {
                continue;
            };
            if byoc_common::glob_match(pattern, key) {
                keys.push(key.to_owned());
                if keys.len() == wanted && i + 1 < pks.len() {
                    cursor = Some((*pk).to_owned());
                    break;
                }
            }
        }
        Ok(ScanPage {
            keys,
            cursor: cursor.map(|after| ScanCursor { after }.encode()),
        })
    }

    fn ttl(&mut self, key: &str, now: u64) -> Result<KeyTtl> {
        Ok(match self.get_item(key, Some("pk, exp_ms"))? {
            None => KeyTtl::Missing,
            Some(item) => match expiry_of(&item)? {
                None => KeyTtl::Persistent,
                Some(at) if at > now => KeyTtl::ExpiresIn(at - now),
                Some(_) => KeyTtl::Missing,
            },
        })
    }

    fn expire(&mut self, key: &str, expires_at: Option<u64>, now: u64) -> Result<bool> {
        // Conditional: only a live entry's expiry changes, in one step.
        let mut body = json!({
            "TableName": self.table,
            "Key": { "pk": self.pk(key) },
            "ConditionExpression":
                "attribute_exists(pk) AND (attribute_not_exists(exp_ms) OR exp_ms > :now)",
            "ExpressionAttributeValues": { ":now": n(now) },
        });
        match expires_at {
            Some(at) => {
                body["UpdateExpression"] = json!("SET exp_ms = :e, ttl_s = :t");
                body["ExpressionAttributeValues"][":e"] = n(at);
                body["ExpressionAttributeValues"][":t"] = n(at.div_ceil(1000));
            }
            None => body["UpdateExpression"] = json!("REMOVE exp_ms, ttl_s"),
        }
        Ok(self
            .call_accepting("UpdateItem", &body, &["ConditionalCheckFailedException"])?
            .is_ok())
    }

    fn clear(&mut self) -> Result<()> {
        let keys = self.keys()?;
        for chunk in keys.chunks(WRITE_BATCH) {
            let requests = chunk
                .iter()
                .map(|k| json!({ "DeleteRequest": { "Key": { "pk": self.pk(k) } } }))
                .collect();
            self.batch_write(requests)?;
        }
        Ok(())
    }

    fn usage(&mut self) -> Result<Usage> {
        let (mut keys, mut bytes) = (0u64, 0u64);
        let mut start: Option<String> = None;
        loop {
            let (items, last) = self.scan_page(start.as_deref(), 1000, None, "pk, val")?;
            for item in &items {
                let Some(key) = item
                    .pointer("/pk/S")
                    .and_then(Value::as_str)
                    .and_then(|pk| self.key_of(pk))
                else {
                    continue;
                };
                // Base64 is 4 characters per 3 bytes.
                let value = item
                    .pointer("/val/B")
                    .and_then(Value::as_str)
                    .map_or(0, |b| b.len() / 4 * 3);
                keys += 1;
                bytes += (key.len() + value) as u64;
            }
            match last {
                Some(last) => start = Some(last),
                None => break,
            }
        }
        Ok(Usage {
            keys,
            bytes,
            ..Usage::default()
        })
    }

    fn ping(&mut self) -> Result<()> {
        self.call("DescribeTable", &json!({ "TableName": self.table }))
            .map(drop)
    }
}

byoc_guest_sdk::export_adapter!(Dynamo);

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn errors_map_to_the_contract() {
        let t = |kind: &str| {
            answer(
                400,
                &format!(r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{kind}","message":"m"}}"#),
            )
        };
        assert!(matches!(
            status_error(&t("ResourceNotFoundException")),
            Error::InvalidConfig(_)
        ));
        assert!(matches!(
            status_error(&t("UnrecognizedClientException")),
            Error::Denied(_)
        ));
        assert!(matches!(
            status_error(&t("InvalidSignatureException")),
            Error::Denied(_)
        ));
        let throttle = t("ProvisionedThroughputExceededException");
        assert!(throttled(&throttle));
        assert!(matches!(status_error(&throttle), Error::Unavailable(_)));
        assert!(!throttled(&t("ValidationException")));
        assert!(throttled(&answer(503, "")));
        assert!(matches!(
            status_error(&answer(500, "")),
            Error::Unavailable(_)
        ));
    }

    #[test]
    fn items_round_trip() {
        let item = json!({
            "pk": { "S": "ns:k" },
            "val": { "B": B64.encode(b"v") },
            "exp_ms": { "N": "1500" },
        });
        let entry = entry_of(&item).expect("entry").expect("some");
        assert_eq!(entry.value, b"v");
        assert_eq!(entry.expires_at, Some(1500));
        assert!(entry_of(&json!({ "val": { "S": "x" } })).is_err());
        let empty = entry_of(&json!({ "pk": { "S": "k" } })).expect("entry");
        assert_eq!(empty.map(|e| e.value), Some(Vec::new()));
        assert!(live(None, 5) && live(Some(6), 5) && !live(Some(5), 5));
    }
}
