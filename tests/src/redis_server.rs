//! Private Redis servers for tests: one `redis-server` on a free loopback port, or a
//! six-node Redis Cluster (three masters, three replicas). Processes are killed on drop.
//!
//! [`RedisServer::start`] and [`RedisCluster::start`] answer `None` (after printing why)
//! when `redis-server` is not installed — unless [`services_required`](crate::services_required),
//! where they panic.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether `redis-server` and `redis-cli` can be run. Prints a skip message (or panics
/// when services are required) if not.
pub fn redis_available(test: &str) -> bool {
    let ok = |bin: &str| {
        Command::new(bin)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if ok("redis-server") && ok("redis-cli") {
        return true;
    }
    assert!(
        !crate::services_required(),
        "{test}: redis-server / redis-cli are not installed and BYOC_REQUIRE_SERVICES=1 \
         (install them: apt-get install redis-server redis-tools)"
    );
    eprintln!(
        "SKIPPED {test}: redis-server / redis-cli are not installed \
         (apt-get install redis-server redis-tools)"
    );
    false
}

/// A loopback port free now (and, if `bus`, its cluster bus port + 10000 too).
fn free_port(bus: bool) -> u16 {
    for _ in 0..200 {
        let Ok(listener) = TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(addr) = listener.local_addr() else {
            continue;
        };
        let port = addr.port();
        if !bus {
            return port;
        }
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port");
}

/// One private `redis-server` (no persistence), killed on drop.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    cluster: bool,
}

impl RedisServer {
    /// Starts a server on a free loopback port; `None` (skipped) without `redis-server`.
    pub fn start(test: &str) -> Option<RedisServer> {
        redis_available(test).then(|| RedisServer::spawn(false))
    }

    fn spawn(cluster: bool) -> RedisServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = RedisServer {
            child: None,
            port: free_port(cluster),
            dir,
            cluster,
        };
        server.launch();
        server
    }

    fn launch(&mut self) {
        // `BYOC_REDIS_CPUS=0` pins the servers to CPU 0 (for benchmarks).
        let mut cmd = match std::env::var("BYOC_REDIS_CPUS") {
            Ok(cpus) if !cpus.is_empty() => {
                let mut cmd = Command::new("taskset");
                cmd.args(["-c", &cpus, "redis-server"]);
                cmd
            }
            _ => Command::new("redis-server"),
        };
        cmd.args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--protected-mode", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.cluster {
            cmd.args(["--cluster-enabled", "yes"])
                .args(["--cluster-config-file", "nodes.conf"])
                .args(["--cluster-node-timeout", "1000"])
                // Replicas sync at once (diskless, no delay) and may always take over.
                .args(["--repl-diskless-sync", "yes"])
                .args(["--repl-diskless-sync-delay", "0"])
                .args(["--cluster-replica-validity-factor", "0"]);
        }
        self.child = Some(cmd.spawn().expect("start redis-server"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (its data is lost: no persistence).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (empty).
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// Runs `redis-cli -p <port> <args>` and returns its standard output, trimmed.
    pub fn cli(&self, args: &[&str]) -> String {
        cli(self.port, args)
    }
}

/// Runs `redis-cli -p <port> <args>`; standard output, trimmed.
pub fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .expect("run redis-cli");
    assert!(
        out.status.success(),
        "redis-cli {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Redis Cluster of six private servers: three masters with one replica each.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts six nodes and joins them with `redis-cli --cluster create`; `None` (skipped)
    /// without `redis-server`.
    pub fn start(test: &str) -> Option<RedisCluster> {
        if !redis_available(test) {
            return None;
        }
        let nodes: Vec<RedisServer> = (0..6).map(|_| RedisServer::spawn(true)).collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let mut args = vec!["--cluster", "create"];
        args.extend(addrs.iter().map(String::as_str));
        args.extend(["--cluster-replicas", "1", "--cluster-yes"]);
        let out = Command::new("redis-cli")
            .args(&args)
            .output()
            .expect("run redis-cli --cluster create");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let cluster = RedisCluster { nodes };
        cluster.wait_ok(Duration::from_secs(20));
        Some(cluster)
    }

    /// Waits until every live node reports `cluster_state:ok` and sees three masters, and
    /// every replica is in sync with its master.
    pub fn wait_ok(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let ok = self.nodes.iter().filter(|n| n.child.is_some()).all(|n| {
                let replication = cli(n.port, &["info", "replication"]);
                cli(n.port, &["cluster", "info"]).contains("cluster_state:ok")
                    && self.masters_seen_by(n.port).len() == 3
                    && (replication.contains("role:master")
                        || replication.contains("master_link_status:up"))
            });
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the redis cluster did not become ok"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Ports of the connected masters that own slots, as the node on `port` sees them.
    fn masters_seen_by(&self, port: u16) -> Vec<u16> {
        cli(port, &["cluster", "nodes"])
            .lines()
            .filter(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() > 8
                    && f[2].contains("master")
                    && !f[2].contains("fail")
                    && f[7] == "connected"
            })
            .filter_map(|l| {
                let addr = l.split_whitespace().nth(1)?;
                addr.split('@').next()?.rsplit(':').next()?.parse().ok()
            })
            .collect()
    }

    /// The URLs of every node.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// A live node's port (for `redis-cli -c`).
    pub fn any_port(&self) -> u16 {
        self.nodes
            .iter()
            .find(|n| n.child.is_some())
            .map(|n| n.port)
            .expect("a live node")
    }

    /// Kills the master that owns `key`'s slot; returns its port.
    pub fn kill_master_of(&mut self, key: &str) -> u16 {
        let port = self.any_port();
        let slot: u16 = cli(port, &["cluster", "keyslot", key])
            .parse()
            .expect("keyslot");
        let nodes = cli(port, &["cluster", "nodes"]);
        let owner = nodes
            .lines()
            .find(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() > 8
                    && f[2].contains("master")
                    && f[8..].iter().any(|r| match r.split_once('-') {
                        Some((a, b)) => {
                            a.parse::<u16>().is_ok_and(|a| a <= slot)
                                && b.parse::<u16>().is_ok_and(|b| slot <= b)
                        }
                        None => r.parse::<u16>().is_ok_and(|s| s == slot),
                    })
            })
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|a| a.split('@').next()?.rsplit(':').next()?.parse::<u16>().ok())
            .expect("the slot's master");
        let node = self
            .nodes
            .iter_mut()
            .find(|n| n.port == owner)
            .expect("owner is one of ours");
        node.stop();
        owner
    }

    /// The directory of the first node (for diagnostics).
    pub fn dir(&self) -> &Path {
        self.nodes[0].dir.path()
    }
}
