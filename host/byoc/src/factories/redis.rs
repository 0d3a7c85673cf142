//! The built-in `redis` provider: the embedded Redis adapter with a grant made from its
//! typed configuration.

use super::{FactoryInput, no_layers};
use crate::builtin::REDIS_ADAPTER;
use crate::limits::LimitsConfig;
use crate::redis::{RedisGrant, RedisTarget, WithRedis};
use crate::wasm::{Limits, MAX_POOLED_INSTANCES, Runtime, WasmProvider};
use crate::{AdapterConfig, Error, Grants, Provider, Result};
use crate::{ConfigField, ConfigKind};
use std::sync::Arc;
use std::time::Duration;

/// Name of the built-in Redis provider.
pub const REDIS: &str = "redis";

/// Default number of pooled instances of a `redis` provider (field `instances`).
pub const DEFAULT_REDIS_INSTANCES: usize = 256;

/// A provider serving the embedded Redis adapter over `grant`, with
/// [`DEFAULT_REDIS_INSTANCES`] pooled instances; see [`redis_provider_with`].
pub async fn redis_provider(runtime: &Runtime, grant: RedisGrant) -> Result<WasmProvider> {
    redis_provider_with(
        runtime,
        grant,
        DEFAULT_REDIS_INSTANCES,
        &LimitsConfig::default(),
    )
    .await
}

/// A provider serving the embedded Redis adapter over `grant` with up to `instances`
/// pooled instances.
///
/// The adapter keeps no cache state of its own (everything is on the server), so its
/// instances are interchangeable ([pooled](crate::wasm::WasmProviderBuilder::pooled)): calls from
/// concurrent tasks run on different instances and their Redis commands overlap on the
/// grant's one multiplexed connection (which pipelines them). Scan, clear and ping run on
/// one instance, as a Redis scan cursor and the key count are global to the namespace.
/// Instances start on demand, so a provider used by one task runs one. The instance's call
/// deadline covers the grant's deadline (ten times it for `clear`), so a slow Redis fails
/// with `unavailable` from the host before the sandbox's deadline fires. Concurrent `get`s
/// are [coalesced](WasmProvider#coalesced-reads) into MGETs of up to the grant's
/// [`max_batch`](RedisGrant::max_batch) keys (`max-batch: 1` turns that off too).
pub async fn redis_provider_with(
    runtime: &Runtime,
    grant: RedisGrant,
    instances: usize,
    overrides: &LimitsConfig,
) -> Result<WasmProvider> {
    crate::redis::link(runtime)?;
    let component = runtime.load_hashed(REDIS, REDIS_ADAPTER, crate::builtin::REDIS_SHA256)?;
    let limits = Limits::default().call_deadline(
        grant
            .call_deadline()
            .saturating_mul(10)
            .saturating_add(Duration::from_secs(1)),
    );
    let read_batch = grant.batch_limit();
    WasmProvider::builder(runtime, component)
        .grants(Grants::none().with_redis(grant))
        .limits(overrides.apply(limits))
        .pooled(instances)
        .batch_reads(read_batch)
        .build()
        .await
}

/// The grant a `redis` provider configuration describes.
///
/// Fields: `url` (text, one server) or `cluster-urls` (text list, nodes of a cluster),
/// exactly one of them; `namespace` (text, required); `connect-timeout`,
/// `response-timeout`, `deadline` (durations, see [`RedisGrant`]); `max-batch` (integer,
/// 1 to 65536, see [`RedisGrant::max_batch`]); `tls-ca-file` (text, a PEM file of CA
/// certificates trusted for `rediss://` URLs instead of the system's roots, see
/// [`RedisGrant::tls_ca_file`]). The provider's
/// `instances` field (integer, default [`DEFAULT_REDIS_INSTANCES`]) is accepted here and
/// read by the registry's factory.
pub fn grant_from_config(config: &AdapterConfig) -> Result<RedisGrant> {
    let bad = |msg: String| Error::InvalidConfig(format!("provider `redis`: {msg}"));
    let fields = [
        ConfigField::new("url", ConfigKind::Text, false, "one Redis server"),
        ConfigField::new(
            "cluster-urls",
            ConfigKind::TextList,
            false,
            "nodes of a cluster",
        ),
        ConfigField::new(
            "namespace",
            ConfigKind::Text,
            true,
            "the key prefix this cache owns",
        ),
        ConfigField::new(
            "connect-timeout",
            ConfigKind::DurationMs,
            false,
            "connect timeout",
        ),
        ConfigField::new(
            "response-timeout",
            ConfigKind::DurationMs,
            false,
            "response timeout",
        ),
        ConfigField::new(
            "deadline",
            ConfigKind::DurationMs,
            false,
            "per-call deadline",
        ),
        ConfigField::new(
            "instances",
            ConfigKind::Integer,
            false,
            "pooled adapter instances (256)",
        ),
        ConfigField::new(
            "max-batch",
            ConfigKind::Integer,
            false,
            "most reads auto-pipelined per round trip (512; 1 = off)",
        ),
        ConfigField::new(
            "tls-ca-file",
            ConfigKind::Text,
            false,
            "PEM CA certificates trusted for rediss:// (default: the system's roots)",
        ),
    ];
    let config = config.clone().checked(REDIS, &fields)?;
    let url = config.text("url").map(str::to_owned);
    let cluster = config.text_list("cluster-urls").map(<[String]>::to_vec);
    let namespace = config.text("namespace").map(str::to_owned);
    let timeouts: Vec<(&str, Duration)> = ["connect-timeout", "response-timeout", "deadline"]
        .into_iter()
        .filter_map(|f| config.duration(f).map(|d| (f, d)))
        .collect();
    let target = match (url, cluster) {
        (Some(url), None) => RedisTarget::Single(url),
        (None, Some(urls)) => RedisTarget::Cluster(urls),
        (Some(_), Some(_)) => {
            return Err(bad("give either `url` or `cluster-urls`, not both".into()));
        }
        (None, None) => return Err(bad("`url` or `cluster-urls` is required".into())),
    };
    let namespace = namespace.ok_or_else(|| bad("`namespace` is required".into()))?;
    let mut grant = RedisGrant::new(target, &namespace)?;
    match config.get("max-batch") {
        None => {}
        Some(crate::ConfigValue::Integer(n @ 1..=65536)) => grant = grant.max_batch(*n as usize),
        Some(other) => {
            return Err(bad(format!(
                "`max-batch` must be an integer from 1 to 65536, got {other:?}"
            )));
        }
    }
    if let Some(path) = config.text("tls-ca-file") {
        grant = grant.tls_ca_file(std::path::Path::new(path))?;
    }
    for (field, d) in timeouts {
        grant = match field {
            "connect-timeout" => grant.connect_timeout(d),
            "response-timeout" => grant.response_timeout(d),
            _ => grant.deadline(d),
        };
    }
    Ok(grant)
}

/// The registry's `redis` factory.
pub(crate) async fn create(input: FactoryInput) -> Result<Arc<dyn Provider>> {
    no_layers(REDIS, &input)?;
    factory(input.runtime, input.config, &input.limits).await
}

/// The `redis` provider from its typed configuration.
async fn factory(
    runtime: Runtime,
    config: AdapterConfig,
    limits: &LimitsConfig,
) -> Result<Arc<dyn Provider>> {
    let grant = grant_from_config(&config)?;
    let instances = instances_from_config(&config)?;
    Ok(Arc::new(
        redis_provider_with(&runtime, grant, instances, limits).await?,
    ))
}

/// The `instances` field: 1 to [`MAX_POOLED_INSTANCES`], default
/// [`DEFAULT_REDIS_INSTANCES`].
fn instances_from_config(config: &AdapterConfig) -> Result<usize> {
    match config.get("instances") {
        None => Ok(DEFAULT_REDIS_INSTANCES),
        Some(crate::ConfigValue::Integer(n)) if (1..=MAX_POOLED_INSTANCES as i64).contains(n) => {
            Ok(*n as usize)
        }
        Some(other) => Err(Error::InvalidConfig(format!(
            "provider `redis`: `instances` must be an integer from 1 to \
             {MAX_POOLED_INSTANCES}, got {other:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ConfigValue;

    /// The embedded component's world is `redis-adapter`: it imports `redis` and exports
    /// the provider.
    #[test]
    fn embedded_adapter_imports_redis() {
        let engine = wasmtime::Engine::default();
        let component =
            wasmtime::component::Component::new(&engine, REDIS_ADAPTER).expect("component");
        let ty = component.component_type();
        let imports: Vec<String> = ty.imports(&engine).map(|(n, _)| n.to_owned()).collect();
        let exports: Vec<String> = ty.exports(&engine).map(|(n, _)| n.to_owned()).collect();
        assert!(
            imports.iter().any(|n| n == "byoc:cache/redis@0.1.0"),
            "{imports:?}"
        );
        assert!(
            exports.iter().any(|n| n == "byoc:cache/provider@0.1.0"),
            "{exports:?}"
        );
        assert!(
            exports.iter().any(|n| n == "byoc:cache/lifecycle@0.1.0"),
            "{exports:?}"
        );
    }

    #[test]
    fn config_becomes_the_grant() {
        let grant = grant_from_config(
            &AdapterConfig::new()
                .with(
                    "cluster-urls",
                    ConfigValue::TextList(vec!["redis://:pw@h:1".into()]),
                )
                .with("namespace", ConfigValue::Text("ns:".into()))
                .with("deadline", ConfigValue::DurationMs(250))
                .with("max-batch", ConfigValue::Integer(64)),
        )
        .expect("grant");
        assert_eq!(grant.namespace(), "ns:");
        assert_eq!(grant.call_deadline(), Duration::from_millis(250));
        assert_eq!(grant.batch_limit(), 64);
        let zero = grant_from_config(
            &AdapterConfig::new()
                .with("url", ConfigValue::Text("redis://h:1".into()))
                .with("namespace", ConfigValue::Text("ns:".into()))
                .with("max-batch", ConfigValue::Integer(0)),
        );
        assert!(matches!(zero, Err(Error::InvalidConfig(m)) if m.contains("max-batch")));
        assert!(!format!("{grant:?}").contains("pw"));
        // TLS: `rediss://` is accepted; `#insecure` and a CA for a plain URL are not; a
        // CA file that is missing or holds no certificate is a clear error.
        assert!(RedisGrant::new(RedisTarget::Single("rediss://h:1".into()), "ns:").is_ok());
        let insecure = RedisGrant::new(RedisTarget::Single("rediss://h:1/#insecure".into()), "ns:");
        assert!(matches!(insecure, Err(Error::InvalidConfig(m)) if m.contains("insecure")));
        let tls = |url: &str, file: &str| {
            grant_from_config(
                &AdapterConfig::new()
                    .with("url", ConfigValue::Text(url.into()))
                    .with("namespace", ConfigValue::Text("ns:".into()))
                    .with("tls-ca-file", ConfigValue::Text(file.into())),
            )
        };
        let missing = tls("rediss://h:1", "/nonexistent/ca.pem");
        assert!(matches!(missing, Err(Error::InvalidConfig(m)) if m.contains("ca.pem")));
        let dir = tempfile::tempdir().expect("tempdir");
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").expect("write");
        let junk = junk.to_str().expect("utf-8");
        assert!(matches!(
            tls("rediss://h:1", junk),
            Err(Error::InvalidConfig(_))
        ));
        let plain = tls("redis://h:1", junk);
        assert!(matches!(plain, Err(Error::InvalidConfig(m)) if m.contains("rediss://")));
        let err =
            grant_from_config(&AdapterConfig::new().with("urls", ConfigValue::Text("x".into())));
        assert!(matches!(err, Err(Error::InvalidConfig(m)) if m.contains("unknown field `urls`")));
    }

    #[test]
    fn instances_default_and_range() {
        let with = |n: i64| AdapterConfig::new().with("instances", ConfigValue::Integer(n));
        assert_eq!(
            instances_from_config(&AdapterConfig::new()).expect("default"),
            DEFAULT_REDIS_INSTANCES
        );
        assert_eq!(instances_from_config(&with(1)).expect("one"), 1);
        assert_eq!(instances_from_config(&with(1024)).expect("max"), 1024);
        for bad in [0, -1, 1025] {
            let err = instances_from_config(&with(bad));
            assert!(
                matches!(&err, Err(Error::InvalidConfig(m)) if m.contains("1 to 1024")),
                "{bad}: {err:?}"
            );
        }
        let text = AdapterConfig::new().with("instances", ConfigValue::Text("many".into()));
        assert!(matches!(
            instances_from_config(&text),
            Err(Error::InvalidConfig(_))
        ));
    }

    /// A namespace must end with the separator: `tenant` would be a prefix of
    /// `tenant1:`'s keys, and its `clear` would remove them.
    #[test]
    fn namespaces_end_with_the_separator() {
        let grant = |ns: &str| {
            grant_from_config(
                &AdapterConfig::new()
                    .with("url", ConfigValue::Text("redis://127.0.0.1:1".into()))
                    .with("namespace", ConfigValue::Text(ns.into())),
            )
        };
        for bad in ["tenant", "tenant:x", "a:b"] {
            let err = grant(bad);
            assert!(
                matches!(&err, Err(Error::InvalidConfig(m)) if m.contains("must end with `:`")),
                "{bad}: {:?}",
                err.map(|_| ())
            );
        }
        for good in ["tenant:", "a:b:", ":"] {
            assert!(grant(good).is_ok(), "{good}");
        }
    }
}
