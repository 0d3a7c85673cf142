//! The built-in `memcached` provider: the embedded memcached adapter (`adapters/memcached`),
//! granted TCP to exactly its `servers`.

use super::{FactoryInput, no_layers};
use crate::builtin::MEMCACHED_ADAPTER;
use crate::wasm::{DEFAULT_MAX_TCP_CONNECTIONS, Limits, MAX_POOLED_INSTANCES, TcpGrant};
use crate::{ConfigField, ConfigKind, ConfigValue, Error, Grants, Provider, Result, WasmProvider};
use std::sync::Arc;

/// Name of the built-in memcached provider.
pub const MEMCACHED: &str = "memcached";

/// Default pooled instances of a `memcached` provider (field `instances`); each keeps one
/// connection per server.
pub const DEFAULT_MEMCACHED_INSTANCES: usize = 64;

/// Most keys of one coalesced read (concurrent `get`s sent as one pipelined `get-multi`).
const READ_BATCH: usize = 128;

/// The `memcached` factory. Fields: `servers` (text list, `host:port`, required; the TCP
/// grant, and the ketama ring), `namespace` (text, required: the prefix of every key),
/// `instances` (integer, default [`DEFAULT_MEMCACHED_INSTANCES`]). Instances are pooled
/// (the data is on the servers) and concurrent `get`s are coalesced into pipelined
/// `get-multi`s.
pub(crate) async fn create(input: FactoryInput) -> Result<Arc<dyn Provider>> {
    no_layers(MEMCACHED, &input)?;
    let fields = [
        ConfigField::new(
            "servers",
            ConfigKind::TextList,
            true,
            "memcached servers, host:port",
        ),
        ConfigField::new("namespace", ConfigKind::Text, true, "prefix of every key"),
        ConfigField::new(
            "instances",
            ConfigKind::Integer,
            false,
            "pooled instances (default 64)",
        ),
    ];
    let mut config = input.config.checked(MEMCACHED, &fields)?;
    let instances = match config.remove("instances") {
        None => DEFAULT_MEMCACHED_INSTANCES,
        Some(ConfigValue::Integer(n)) if (1..=MAX_POOLED_INSTANCES as i64).contains(&n) => {
            n as usize
        }
        Some(_) => {
            return Err(Error::InvalidConfig(format!(
                "provider `memcached`: `instances` must be 1 to {MAX_POOLED_INSTANCES}"
            )));
        }
    };
    let servers = config.text_list("servers").unwrap_or_default().to_vec();
    let grant = TcpGrant::new(&servers)?
        .max_connections(DEFAULT_MAX_TCP_CONNECTIONS.max(servers.len() + 1));
    let component = input.runtime.load_hashed(
        MEMCACHED,
        MEMCACHED_ADAPTER,
        crate::builtin::MEMCACHED_SHA256,
    )?;
    let provider = WasmProvider::builder(&input.runtime, component)
        .config(config)
        .grants(Grants::none().tcp(grant))
        .limits(input.limits.apply(Limits::default()))
        .pooled(instances)
        .batch_reads(READ_BATCH)
        .build()
        .await?;
    Ok(Arc::new(provider))
}
