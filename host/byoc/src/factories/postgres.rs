//! Registry factory of the `postgres` built-in: the embedded PostgreSQL adapter, granted a
//! TCP connection to exactly its configured server and nothing else.

use super::{FactoryInput, no_layers};
use crate::limits::LimitsConfig;
use crate::wasm::{Grants, Limits, MAX_POOLED_INSTANCES, Runtime, TcpGrant, WasmProvider};
use crate::{AdapterConfig, ConfigField, ConfigKind, ConfigValue, Error, Provider, Result};
use std::sync::Arc;
use std::time::Duration;

/// Name of the built-in PostgreSQL adapter.
pub const POSTGRES: &str = "postgres";

/// Default number of pooled instances (field `instances`); each keeps one connection.
pub const DEFAULT_POSTGRES_INSTANCES: usize = 16;

/// Default call deadline (field `deadline`): connecting, authenticating and one round trip.
pub const DEFAULT_POSTGRES_DEADLINE: Duration = Duration::from_secs(5);

/// The `postgres` factory. Fields: `host` (text, default `127.0.0.1`), `port` (integer,
/// default 5432), `user` (text, required), `password` (text, never printed), `database`
/// (text), `namespace` (text, required: the table `byoc_<namespace>`), `instances`
/// (integer, default [`DEFAULT_POSTGRES_INSTANCES`]: pooled instances, one connection
/// each), `deadline` (duration, default [`DEFAULT_POSTGRES_DEADLINE`]). The grant is a
/// TCP connection to `host:port` only.
pub(crate) async fn postgres(
    runtime: Runtime,
    config: AdapterConfig,
    limits: &LimitsConfig,
) -> Result<Arc<dyn Provider>> {
    let fields = [
        ConfigField::new("host", ConfigKind::Text, false, "server host (127.0.0.1)"),
        ConfigField::new("port", ConfigKind::Integer, false, "server port (5432)"),
        ConfigField::new("user", ConfigKind::Text, true, "role"),
        ConfigField::new("password", ConfigKind::Text, false, "the role's password"),
        ConfigField::new("database", ConfigKind::Text, false, "database (the user's)"),
        ConfigField::new(
            "namespace",
            ConfigKind::Text,
            true,
            "[a-z0-9_]: the table byoc_<namespace>",
        ),
        ConfigField::new(
            "instances",
            ConfigKind::Integer,
            false,
            "pooled instances, one connection each (16)",
        ),
        ConfigField::new(
            "deadline",
            ConfigKind::DurationMs,
            false,
            "per-call deadline (5 s)",
        ),
    ];
    let mut adapter = config.checked(POSTGRES, &fields)?;
    let bad = |msg: String| Error::InvalidConfig(format!("provider `{POSTGRES}`: {msg}"));
    let host = adapter.text("host").unwrap_or("127.0.0.1").to_owned();
    let port = match adapter.get("port") {
        None => 5432,
        Some(ConfigValue::Integer(p @ 1..=65535)) => *p as u16,
        Some(other) => return Err(bad(format!("`port` must be 1 to 65535, got {other:?}"))),
    };
    let instances = match adapter.get("instances") {
        None => DEFAULT_POSTGRES_INSTANCES,
        Some(ConfigValue::Integer(n)) if (1..=MAX_POOLED_INSTANCES as i64).contains(n) => {
            *n as usize
        }
        Some(_) => {
            return Err(bad(format!(
                "`instances` must be an integer from 1 to {MAX_POOLED_INSTANCES}"
            )));
        }
    };
    let deadline = adapter
        .duration("deadline")
        .unwrap_or(DEFAULT_POSTGRES_DEADLINE);
    for field in ["instances", "deadline"] {
        adapter.remove(field);
    }
    // One socket per instance; an IPv6 literal is bracketed in the endpoint.
    let endpoint = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let grant = TcpGrant::new([endpoint])?.max_connections(2);
    let component = runtime.load_hashed(
        POSTGRES,
        crate::builtin::POSTGRES_ADAPTER,
        crate::builtin::POSTGRES_SHA256,
    )?;
    let provider = WasmProvider::builder(&runtime, component)
        .config(adapter)
        .grants(Grants::none().tcp(grant))
        .limits(limits.apply(Limits::default().call_deadline(deadline)))
        // Instances are interchangeable: the table holds every entry.
        .pooled(instances)
        .build()
        .await?;
    Ok(Arc::new(provider))
}

/// The registry's entry point: no layers, then [`postgres`].
pub(crate) async fn create(input: FactoryInput) -> Result<Arc<dyn Provider>> {
    no_layers(POSTGRES, &input)?;
    postgres(input.runtime, input.config, &input.limits).await
}
