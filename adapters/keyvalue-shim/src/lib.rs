//! `wasi:keyvalue` (`store`, `atomics`, `batch`, 0.2.0-draft) over one BYOC adapter.
//!
//! The shim imports an adapter's exports (`byoc:cache/lifecycle`, `provider`, `atomics`)
//! and exports the keyvalue interfaces, so an application composed with it and an adapter
//! (`wac plug`) is one component that needs neither: see `docs/keyvalue.md`. It serves one
//! bucket, `default` (any other is `no-such-store`), and initialises the adapter on the
//! first `open` with the configuration of the environment: field `name` of the adapter's
//! `describe` is taken from `BYOC_ADAPTER_<NAME>` (upper case, `-` as `_`),
//! parsed as the field's kind. An adapter's `denied` (a grant it lacks) is `access-denied`.
//! `list-keys` pages over the adapter's `scan`; `increment` is the adapter's atomic
//! increment.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

/// Bindings of the `shim` world (the generated glue is `unsafe` by nature).
#[allow(missing_docs, unsafe_code)]
mod bindings {
    wit_bindgen::generate!({
        path: ["../../wit", "../../wit/keyvalue", "wit"],
        world: "byoc:keyvalue-shim/shim",
        generate_all,
    });
}

use bindings::byoc::cache::{atomics as adapter_atomics, lifecycle, provider, types};
use bindings::exports::wasi::keyvalue::store::{self, Error, KeyResponse};
use bindings::exports::wasi::keyvalue::{atomics, batch};

/// The one bucket the shim serves.
const BUCKET: &str = "default";
/// Keys per `list-keys` page.
const PAGE: u32 = 100;
/// `list-keys` cursors remembered per open bucket.
const MAX_CURSORS: usize = 1024;

thread_local! {
    static INITIALISED: Cell<bool> = const { Cell::new(false) };
}

fn other(e: types::Error) -> Error {
    match e {
        types::Error::Denied(_) => Error::AccessDenied,
        e => Error::Other(format!("{e:?}")),
    }
}

/// What the environment variables of the adapter's configuration start with.
const ENV_PREFIX: &str = "BYOC_ADAPTER_";

/// The environment variable of configuration field `field`: `fsync` is
/// `BYOC_ADAPTER_FSYNC`, `max-entries` is `BYOC_ADAPTER_MAX_ENTRIES`.
fn env_name(field: &str) -> String {
    let mut name = String::from(ENV_PREFIX);
    name.extend(field.chars().map(|c| match c {
        '-' => '_',
        c => c.to_ascii_uppercase(),
    }));
    name
}

/// `text` as a value of `kind`: `true`/`false`, a decimal integer, text, a size or a
/// duration (a whole number of bytes or milliseconds), or a comma-separated list.
fn parse_value(
    field: &str,
    kind: types::ConfigKind,
    text: &str,
) -> Result<types::ConfigValue, String> {
    use types::{ConfigKind as K, ConfigValue as V};
    let number = || {
        text.trim()
            .parse::<u64>()
            .map_err(|_| format!("{}: `{text}` is not a whole number", env_name(field)))
    };
    Ok(match kind {
        K::Boolean => match text.trim() {
            "true" => V::Boolean(true),
            "false" => V::Boolean(false),
            _ => {
                return Err(format!(
                    "{}: `{text}` is not true or false",
                    env_name(field)
                ));
            }
        },
        K::Integer => V::Integer(
            text.trim()
                .parse()
                .map_err(|_| format!("{}: `{text}` is not an integer", env_name(field)))?,
        ),
        K::Text => V::Text(text.to_owned()),
        K::Size => V::Size(number()?),
        K::DurationMs => V::DurationMs(number()?),
        K::TextList => V::TextList(
            text.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
        ),
    })
}

/// The adapter's configuration from `env`: each field `describe` lists whose variable is
/// set. Other variables are ignored.
fn config_from(
    fields: &[types::ConfigField],
    env: &[(String, String)],
) -> Result<Vec<types::ConfigEntry>, String> {
    let mut config = Vec::new();
    for field in fields {
        let var = env_name(&field.name);
        if let Some((_, text)) = env.iter().find(|(k, _)| *k == var) {
            config.push(types::ConfigEntry {
                name: field.name.clone(),
                value: parse_value(&field.name, field.kind, text)?,
            });
        }
    }
    Ok(config)
}

/// The environment the host gives the component.
fn environment() -> Vec<(String, String)> {
    #[cfg(target_arch = "wasm32")]
    {
        wasi::cli::environment::get_environment()
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        Vec::new()
    }
}

/// Initialises the adapter with the configuration of the environment.
fn init_adapter() -> Result<(), Error> {
    let fields = lifecycle::describe().config;
    let config = config_from(&fields, &environment())
        .map_err(|e| Error::Other(format!("adapter configuration: {e}")))?;
    lifecycle::init(&config).map_err(other)
}

/// An open bucket: the scan cursors issued to the application.
struct Bucket {
    cursors: RefCell<BTreeMap<u64, String>>,
    next: Cell<u64>,
}

struct Shim;

impl store::Guest for Shim {
    type Bucket = Bucket;

    fn open(identifier: String) -> Result<store::Bucket, Error> {
        if identifier != BUCKET {
            return Err(Error::NoSuchStore);
        }
        if !INITIALISED.get() {
            init_adapter()?;
            INITIALISED.set(true);
        }
        Ok(store::Bucket::new(Bucket {
            cursors: RefCell::new(BTreeMap::new()),
            next: Cell::new(0),
        }))
    }
}

impl store::GuestBucket for Bucket {
    fn get(&self, key: String) -> Result<Option<Vec<u8>>, Error> {
        provider::get(&key).map_err(other)
    }

    fn set(&self, key: String, value: Vec<u8>) -> Result<(), Error> {
        provider::set(&key, &value, None).map_err(other)
    }

    fn delete(&self, key: String) -> Result<(), Error> {
        provider::delete(&key).map(drop).map_err(other)
    }

    fn exists(&self, key: String) -> Result<bool, Error> {
        provider::exists(&key).map_err(other)
    }

    fn list_keys(&self, cursor: Option<u64>) -> Result<KeyResponse, Error> {
        let scan_cursor = match cursor {
            None => None,
            Some(n) => match self.cursors.borrow().get(&n) {
                Some(c) => Some(c.clone()),
                None => {
                    return Err(Error::Other(format!(
                        "list-keys: cursor {n} was not issued by this bucket or has expired"
                    )));
                }
            },
        };
        let page = provider::scan("*", scan_cursor.as_deref(), PAGE).map_err(other)?;
        let cursor = page.cursor.map(|c| {
            let n = self.next.get() + 1;
            self.next.set(n);
            let mut cursors = self.cursors.borrow_mut();
            cursors.insert(n, c);
            while cursors.len() > MAX_CURSORS {
                cursors.pop_first();
            }
            n
        });
        Ok(KeyResponse {
            keys: page.keys,
            cursor,
        })
    }
}

impl atomics::Guest for Shim {
    fn increment(_bucket: store::BucketBorrow<'_>, key: String, delta: u64) -> Result<u64, Error> {
        let delta = i64::try_from(delta)
            .map_err(|_| Error::Other("increment: a delta above 2^63-1 is not supported".into()))?;
        let value = adapter_atomics::increment(&key, delta, None).map_err(other)?;
        u64::try_from(value).map_err(|_| {
            Error::Other(format!(
                "increment: the stored value {value} is negative (not a u64)"
            ))
        })
    }
}

impl batch::Guest for Shim {
    fn get_many(
        _bucket: store::BucketBorrow<'_>,
        keys: Vec<String>,
    ) -> Result<Vec<Option<(String, Vec<u8>)>>, Error> {
        let values = provider::get_multi(&keys).map_err(other)?;
        Ok(keys
            .into_iter()
            .zip(values)
            .map(|(k, v)| v.map(|v| (k, v)))
            .collect())
    }

    fn set_many(
        _bucket: store::BucketBorrow<'_>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Result<(), Error> {
        let items: Vec<types::Item> = key_values
            .into_iter()
            .map(|(key, value)| types::Item {
                key,
                value,
                ttl: None,
            })
            .collect();
        provider::set_multi(&items).map_err(other)
    }

    fn delete_many(_bucket: store::BucketBorrow<'_>, keys: Vec<String>) -> Result<(), Error> {
        provider::delete_multi(&keys).map(drop).map_err(other)
    }
}

// The export glue the macro generates is `unsafe` by nature. Only on wasm: a native build
// (`cargo test --workspace`) cannot link export names such as `wasi:keyvalue/store#get`.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod export {
    use super::{Shim, bindings};
    bindings::export!(Shim with_types_in bindings);
}
