//! The TCP grant against `hostile-net`, an adapter that connects where it is told, and
//! listeners that count the connections they accept: only granted endpoints are reached
//! (a denied connect never reaches a listener), the per-instance socket limit holds, and
//! a server that accepts but never answers ends the call at its deadline.

use byoc::builtin::HOSTILE_NET_ADAPTER_PATH;
use byoc::wasm::{Grants, TcpGrant, WALL_CLOCK_GRACE};
use byoc::{Error, Limits, Provider, Registry, WasmProvider};
use std::io::Read as _;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A listener that accepts and counts connections, and counts them again when the client
/// closes them; it never writes a byte.
struct Counting {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
}

impl Counting {
    /// Listens on `ip`, on a free port, or on `port` when given.
    fn on(ip: &str, port: u16) -> Counting {
        let listener = TcpListener::bind((ip, port)).expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let closed = Arc::new(AtomicUsize::new(0));
        let (count, gone) = (Arc::clone(&accepted), Arc::clone(&closed));
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                count.fetch_add(1, Ordering::SeqCst);
                let gone = Arc::clone(&gone);
                std::thread::spawn(move || {
                    let mut buf = [0u8; 64];
                    while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
                    gone.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        Counting {
            addr,
            accepted,
            closed,
        }
    }

    /// Waits up to 5 s for `n` connections to have been closed by the client.
    fn wait_closed(&self, n: usize) -> usize {
        let until = Instant::now() + Duration::from_secs(5);
        while self.closed.load(Ordering::SeqCst) < n && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.closed.load(Ordering::SeqCst)
    }

    fn count(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

async fn net(grants: Grants, limits: Limits) -> WasmProvider {
    let registry = Registry::new().expect("runtime");
    let runtime = registry.runtime();
    let component = runtime
        .load_file(HOSTILE_NET_ADAPTER_PATH)
        .expect("hostile-net component");
    WasmProvider::builder(runtime, component)
        .grants(grants)
        .limits(limits)
        .partitions(1)
        .build()
        .await
        .expect("hostile-net starts with a TCP grant")
}

fn tcp(endpoints: &[String]) -> Grants {
    Grants::none().tcp(TcpGrant::new(endpoints).expect("grant"))
}

fn assert_denied<T: std::fmt::Debug>(what: &str, r: byoc::Result<T>) {
    assert!(matches!(r, Err(Error::Denied(_))), "{what}: {r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_granted_endpoints_are_reached() {
    let granted = Counting::on("127.0.0.1", 0);
    let port_b = Counting::on("127.0.0.1", 0);
    // Same port, another loopback address: another host.
    let other_host = Counting::on("127.0.0.2", granted.addr.port());
    let p = net(tcp(&[granted.addr.to_string()]), Limits::new()).await;

    let r = p.get(&granted.addr.to_string()).await.expect("granted");
    assert_eq!(r.as_deref(), Some(&b"connected"[..]));
    assert_denied("port B", p.get(&port_b.addr.to_string()).await);
    assert_denied("another host", p.get(&other_host.addr.to_string()).await);
    // A name not granted is not even looked up, though it resolves to the granted address.
    let by_name = format!("localhost:{}", granted.addr.port());
    assert!(p.get(&by_name).await.is_err(), "an ungranted name");
    assert_eq!(granted.count(), 1, "only the granted connect arrives");
    assert_eq!(port_b.count(), 0, "port B");
    assert_eq!(other_host.count(), 0, "another host");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_granted_name_reaches_only_what_it_resolves_to() {
    let target = Counting::on("127.0.0.1", 0);
    let port = target.addr.port();
    // `localhost` resolves to 127.0.0.1 (and ::1), never to 127.0.0.3.
    let elsewhere = Counting::on("127.0.0.3", port);
    let p = net(tcp(&[format!("localhost:{port}")]), Limits::new()).await;
    let r = p
        .get(&format!("localhost:{port}"))
        .await
        .expect("granted name");
    assert_eq!(r.as_deref(), Some(&b"connected"[..]));
    assert_denied(
        "an address the granted name does not resolve to",
        p.get(&format!("127.0.0.3:{port}")).await,
    );
    assert_eq!(target.count(), 1);
    assert_eq!(elsewhere.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_per_instance_are_limited_and_close_with_it() {
    let server = Counting::on("127.0.0.1", 0);
    let addr = server.addr.to_string();
    let grant = TcpGrant::new([&addr]).expect("grant").max_connections(2);
    let p = net(Grants::none().tcp(grant), Limits::new()).await;
    p.set(&addr, b"hold", None).await.expect("first");
    p.set(&addr, b"hold", None).await.expect("second");
    let r = p.set(&addr, b"hold", None).await;
    assert!(r.is_err(), "a third socket: {r:?}");
    assert_eq!(server.count(), 2);
    assert_eq!(server.wait_closed(0), 0, "held connections stay open");
    drop(p);
    // The instance is gone, and its connections with it: the server sees them close.
    assert_eq!(server.wait_closed(2), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_ends_the_call_at_its_deadline() {
    let server = Counting::on("127.0.0.1", 0);
    let addr = server.addr.to_string();
    let deadline = Duration::from_millis(300);
    let p = net(
        tcp(std::slice::from_ref(&addr)),
        Limits::new().call_deadline(deadline),
    )
    .await;
    let started = Instant::now();
    let r = p.set(&addr, b"read", None).await;
    let took = started.elapsed();
    assert!(
        matches!(r, Err(Error::DeadlineExceeded { .. })),
        "{r:?} after {took:?}"
    );
    assert!(
        took < deadline + WALL_CLOCK_GRACE + Duration::from_millis(700),
        "{took:?}"
    );
    assert!(took >= deadline, "{took:?}");
    // A fresh instance serves the next call.
    p.get(&addr).await.expect("next call");
}

#[test]
fn the_yaml_tcp_grant_is_parsed_and_checked() {
    use byoc::config_file::ConfigFile;
    let file = ConfigFile::parse(
        "caches:\n  - name: net\n    provider: /x/net.wasm\n    grants:\n      tcp: \
         [\"127.0.0.1:11211\", \"Cache.Internal:11211\"]\n      tcp-max-connections: 4\n",
        "t.yaml",
    )
    .expect("parses");
    let grant = file.caches[0]
        .stack
        .grants
        .tcp
        .clone()
        .expect("a TCP grant");
    assert_eq!(grant.max_connections, 4);
    let endpoints: Vec<String> = grant.endpoints.iter().map(ToString::to_string).collect();
    assert_eq!(endpoints, ["127.0.0.1:11211", "cache.internal:11211"]);
    assert!(file.describe().contains("grant tcp: 127.0.0.1:11211"));
    for (bad, says) in [
        ("tcp: [\"nohost\"]", "host:port"),
        ("tcp: [\"x:0\"]", "port"),
        ("tcp-max-connections: 2", "no `tcp` endpoint"),
        ("tcp: [\"x:1\"]\n      tcp-max-connections: 0", "at least 1"),
    ] {
        let text = format!(
            "caches:\n  - name: net\n    provider: /x/net.wasm\n    grants:\n      {bad}\n"
        );
        let e = ConfigFile::parse(&text, "t.yaml").expect_err(bad);
        assert!(e.to_string().contains(says), "{bad}: {e}");
    }
    // Built-ins take their endpoints from their own configuration.
    let e = ConfigFile::parse(
        "caches:\n  - name: m\n    provider: memory\n    grants:\n      tcp: [\"x:1\"]\n",
        "t.yaml",
    )
    .expect_err("a grant on a built-in");
    assert!(e.to_string().contains("component files only"), "{e}");
}
