//! The Redis adapter over TLS (`rediss://`): the conformance suite against a private
//! `redis-server --tls-port` whose certificate the test signs with its own CA, and the
//! refusals: a wrong CA, the system roots (which do not know that CA), a host name the
//! certificate does not name, and plain `redis://` to the TLS port, each a typed error
//! within the deadline.
//!
//! One server for the whole process (a fresh namespace per case); skipped with a message
//! when `redis-server` is missing (fails under `BYOC_REQUIRE_SERVICES=1`).

use byoc::{AdapterConfig, ConfigValue, Error, Provider, Registry};
use byoc_tests::service::{self, Service};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

type P = Arc<dyn Provider>;

/// A CA (its certificate in PEM) and a server certificate and key it signed for
/// `127.0.0.1` only.
struct Pki {
    ca: String,
    cert: String,
    key: String,
}

fn ca(name: &str) -> (CertificateParams, KeyPair, String) {
    let key = KeyPair::generate().expect("CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let cert = params.self_signed(&key).expect("CA certificate");
    (params, key, cert.pem())
}

fn pki() -> Pki {
    let (ca_params, ca_key, ca) = ca("byoc test CA");
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().expect("server key");
    let params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("server params");
    let cert = params.signed_by(&key, &issuer).expect("server certificate");
    Pki {
        ca,
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

/// The process's TLS Redis and the file holding its CA; `None` when skipped.
fn server() -> Option<(u16, PathBuf)> {
    static SERVER: OnceLock<Option<Mutex<Service>>> = OnceLock::new();
    let server = service::shared(&SERVER, || {
        if !service::available(
            "redis over TLS",
            &["redis-server"],
            "apt-get install redis-server",
        ) {
            return None;
        }
        let pki = pki();
        Some(Service::start(
            "redis-server (TLS)",
            Duration::from_secs(10),
            Box::new(move |dir, port| {
                for (file, pem) in [
                    ("ca.pem", &pki.ca),
                    ("server.pem", &pki.cert),
                    ("server.key", &pki.key),
                ] {
                    std::fs::write(dir.join(file), pem).expect("write PEM");
                }
                let mut cmd = Command::new("redis-server");
                cmd.args(["--port", "0", "--bind", "127.0.0.1", "--save", ""])
                    .args(["--appendonly", "no", "--tls-auth-clients", "no"])
                    .arg("--tls-port")
                    .arg(port.to_string())
                    .arg("--tls-cert-file")
                    .arg(dir.join("server.pem"))
                    .arg("--tls-key-file")
                    .arg(dir.join("server.key"))
                    .arg("--tls-ca-cert-file")
                    .arg(dir.join("ca.pem"))
                    .arg("--dir")
                    .arg(dir);
                cmd
            }),
        ))
    })?;
    let server = server.lock().unwrap_or_else(|e| e.into_inner());
    Some((server.port(), server.dir().join("ca.pem")))
}

fn config(url: String, namespace: &str, ca_file: Option<&std::path::Path>) -> AdapterConfig {
    let config = AdapterConfig::new()
        .with("url", ConfigValue::Text(url))
        .with("namespace", ConfigValue::Text(namespace.into()))
        .with("deadline", ConfigValue::DurationMs(1500))
        .with("instances", ConfigValue::Integer(8));
    match ca_file {
        Some(path) => config.with(
            "tls-ca-file",
            ConfigValue::Text(path.to_str().expect("utf-8 path").into()),
        ),
        None => config,
    }
}

/// A provider over TLS in a namespace of its own; `None` when skipped.
async fn provider() -> Option<P> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let (port, ca) = server()?;
    let ns = format!("tls{}:", N.fetch_add(1, Ordering::Relaxed));
    let p = Registry::new()
        .expect("runtime")
        .create(
            "redis",
            // A compare-and-swap opens its own connection: a TLS handshake, slow in a
            // debug build on a loaded machine.
            config(format!("rediss://127.0.0.1:{port}"), &ns, Some(&ca))
                .with("connect-timeout", ConfigValue::DurationMs(3000))
                .with("response-timeout", ConfigValue::DurationMs(3000))
                .with("deadline", ConfigValue::DurationMs(8000)),
        )
        .await
        .expect("rediss provider");
    Some(p)
}

mod conformance {
    byoc_tests::conformance_tests!(super::provider);
}

/// A call through `config` fails `unavailable` with a message containing `why`, well
/// within the deadline (no hang, no retry loop).
async fn refused(config: AdapterConfig, why: &str) {
    let p = Registry::new()
        .expect("runtime")
        .create("redis", config)
        .await
        .expect("provider (nothing is connected yet)");
    let started = Instant::now();
    let err = p.get("k").await.expect_err("must not connect");
    let took = started.elapsed();
    assert!(
        matches!(&err, Error::Unavailable(m) if m.to_lowercase().contains(why)),
        "want unavailable naming `{why}`, got {err:?}"
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_or_mismatched_certificates_are_refused() {
    let Some((port, _)) = server() else {
        return;
    };
    let url = format!("rediss://127.0.0.1:{port}");
    // A CA that did not sign the server's certificate.
    let dir = tempfile::tempdir().expect("tempdir");
    let other = dir.path().join("other-ca.pem");
    std::fs::write(&other, ca("another CA").2).expect("write");
    refused(config(url.clone(), "wrongca:", Some(&other)), "certificate").await;
    // The system's roots do not know the test's CA.
    refused(config(url, "sysroots:", None), "certificate").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_name_must_match_and_plain_text_gets_no_answer() {
    let Some((port, ca)) = server() else {
        return;
    };
    // The certificate names 127.0.0.1, not localhost.
    let url = format!("rediss://localhost:{port}");
    refused(config(url, "name:", Some(&ca)), "certificate").await;
    // Plain RESP to the TLS port: the server drops it; a typed error, not a hang.
    let p = Registry::new()
        .expect("runtime")
        .create(
            "redis",
            config(format!("redis://127.0.0.1:{port}"), "plain:", None),
        )
        .await
        .expect("provider");
    let started = Instant::now();
    let err = p.get("k").await.expect_err("plain text to a TLS port");
    assert!(matches!(err, Error::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// What the adapter writes over TLS is plain Redis data: the same namespace read back by
/// a second provider, and a TTL set through one seen by the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_written_over_tls_are_shared() {
    let Some((port, ca)) = server() else {
        return;
    };
    let registry = Registry::new().expect("runtime");
    let url = format!("rediss://127.0.0.1:{port}");
    let a = registry
        .create("redis", config(url.clone(), "shared:", Some(&ca)))
        .await
        .expect("a");
    let b = registry
        .create("redis", config(url, "shared:", Some(&ca)))
        .await
        .expect("b");
    a.set("k", b"v\x00\xff", Some(Duration::from_secs(60)))
        .await
        .expect("set");
    assert_eq!(
        b.get("k").await.expect("get").as_deref(),
        Some(&b"v\x00\xff"[..])
    );
    let ttl = b.ttl("k").await.expect("ttl");
    assert!(
        matches!(ttl, byoc::KeyTtl::ExpiresIn(d) if d > Duration::from_secs(50)),
        "{ttl:?}"
    );
}
