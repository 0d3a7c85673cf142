//! Private external servers for tests (memcached, PostgreSQL, etcd, moto, …): found on
//! `PATH`, started on free loopback ports, killed on drop — and, for a server shared by many
//! tests in a [`shared`] static, killed by a watchdog when the test process exits.
//!
//! A missing program makes [`available`] print `SKIPPED <test>: …` and answer `false`,
//! unless [`services_required`](crate::services_required), where it panics.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The full path of `program` on `PATH`, if any.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Whether every one of `programs` is on `PATH`. If not, prints a skip line naming
/// `install` (how to get them), or panics when services are required.
pub fn available(test: &str, programs: &[&str], install: &str) -> bool {
    let missing: Vec<&str> = programs
        .iter()
        .copied()
        .filter(|p| which(p).is_none())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let missing = missing.join(", ");
    assert!(
        !crate::services_required(),
        "{test}: {missing} not found on PATH and BYOC_REQUIRE_SERVICES=1 (install: {install})"
    );
    eprintln!("SKIPPED {test}: {missing} not found on PATH (install: {install})");
    false
}

/// A loopback port that is free now.
pub fn free_port() -> u16 {
    for _ in 0..200 {
        if let Ok(port) = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
        {
            return port;
        }
    }
    panic!("no free loopback port");
}

/// Waits until something accepts TCP connections on `127.0.0.1:port`.
pub fn wait_listening(port: u16, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// How to start a server: given its data directory and port, the command to run.
pub type Launch = Box<dyn Fn(&Path, u16) -> Command + Send + Sync>;

/// One private server process with its own temporary directory and port.
pub struct Service {
    name: String,
    launch: Launch,
    child: Option<Child>,
    watchdog: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    ready: Duration,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("name", &self.name)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Service {
    /// Starts `launch(dir, port)` on a free port and waits (up to `ready`) until the port
    /// accepts connections. Panics if it does not: the program exists (see [`available`])
    /// but failed to start, which is a test failure, never a skip.
    pub fn start(name: &str, ready: Duration, launch: Launch) -> Service {
        let mut service = Service {
            name: name.to_owned(),
            launch,
            child: None,
            watchdog: None,
            port: free_port(),
            dir: tempfile::tempdir().expect("temp dir"),
            ready,
        };
        service.launch();
        service
    }

    fn launch(&mut self) {
        let mut cmd = (self.launch)(self.dir.path(), self.port);
        cmd.stdin(Stdio::null());
        if std::env::var_os("BYOC_SERVICE_LOGS").is_none() {
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", self.name));
        // Shared servers live in statics, which are never dropped: a watchdog kills the
        // server when this test process is gone.
        self.watchdog = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "while kill -0 {} 2>/dev/null; do sleep 1; done; kill -9 {} 2>/dev/null",
                std::process::id(),
                child.id()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok();
        self.child = Some(child);
        assert!(
            wait_listening(self.port, self.ready),
            "{} did not listen on 127.0.0.1:{} within {:?} (BYOC_SERVICE_LOGS=1 shows its output)",
            self.name,
            self.port,
            self.ready
        );
    }

    /// The server process's id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(std::process::Child::id)
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The server's private directory (kept across [`Service::restart`]).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Kills the server (SIGKILL).
    pub fn stop(&mut self) {
        for child in [self.child.take(), self.watchdog.take()]
            .into_iter()
            .flatten()
        {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and directory.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One server shared by every test of the process that asks for it, started on first use;
/// `None` when `start` answers `None` (skipped). Tests sharing it must use distinct keys
/// or namespaces.
pub fn shared(
    cell: &'static OnceLock<Option<Mutex<Service>>>,
    start: impl FnOnce() -> Option<Service>,
) -> Option<&'static Mutex<Service>> {
    cell.get_or_init(|| start().map(Mutex::new)).as_ref()
}
