//! A private PostgreSQL server for tests: `initdb` into the service's temporary directory
//! (role [`USER`], password [`PASSWORD`], SCRAM-SHA-256 authentication, UTF-8, locale C),
//! then `postgres` on a free loopback port with its socket in the same directory, no
//! fsync. `initdb` refuses to run as root, so as root both run as `nobody` (`setpriv`),
//! the directory handed over to that user.

use crate::service::{self, Service};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// The role the tests log in as.
pub const USER: &str = "byoc";
/// Its password.
pub const PASSWORD: &str = "byoc-test-secret";
/// The database the tests use.
pub const DATABASE: &str = "postgres";

const INSTALL: &str = "apt-get install postgresql postgresql-client (initdb, postgres, psql)";

/// `program`, run as `nobody` if `as_root`.
fn command(as_root: bool, program: &str) -> Command {
    if as_root {
        let mut cmd = Command::new("setpriv");
        cmd.args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            program,
        ]);
        cmd
    } else {
        Command::new(program)
    }
}

/// The numeric id of `nobody`.
fn nobody() -> u32 {
    Command::new("id")
        .args(["-u", "nobody"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .expect("the user nobody")
}

/// Creates the cluster in `dir/data` (once; a restart keeps it).
fn init(as_root: bool, dir: &Path) {
    if dir.join("data").join("PG_VERSION").exists() {
        return;
    }
    let pwfile = dir.join("pwfile");
    std::fs::write(&pwfile, PASSWORD).expect("write the password file");
    if as_root {
        let nobody = nobody();
        std::os::unix::fs::chown(dir, Some(nobody), None).expect("chown the data directory");
        std::os::unix::fs::chown(&pwfile, Some(nobody), None).expect("chown the password file");
    }
    let status = command(as_root, "initdb")
        .arg("-D")
        .arg(dir.join("data"))
        .args([
            "-U",
            USER,
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
        ])
        .args(["--no-sync", "--no-instructions"])
        .arg(format!("--pwfile={}", pwfile.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run initdb");
    assert!(status.success(), "initdb failed: {status}");
}

/// Starts a server; `None` (skipped, with a message) when PostgreSQL is not installed.
pub fn start(test: &str) -> Option<Service> {
    if !service::available(test, &["initdb", "postgres", "psql"], INSTALL) {
        return None;
    }
    // A temporary directory is created by (and owned by) this process's user.
    let as_root =
        tempfile::tempdir().is_ok_and(|d| std::fs::metadata(d.path()).is_ok_and(|m| m.uid() == 0));
    let service = Service::start(
        "postgres",
        Duration::from_secs(30),
        Box::new(move |dir, port| {
            init(as_root, dir);
            let mut cmd = command(as_root, "postgres");
            cmd.arg("-D")
                .arg(dir.join("data"))
                .arg("-k")
                .arg(dir)
                .arg("-p")
                .arg(port.to_string())
                .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
                .args(["-c", "synchronous_commit=off", "-c", "full_page_writes=off"])
                .args(["-c", "max_connections=300"]);
            cmd
        }),
    );
    wait_ready(service.port());
    Some(service)
}

/// One server for every test of the process that asks; `None` when skipped.
pub fn shared(test: &str) -> Option<&'static Mutex<Service>> {
    static SERVER: OnceLock<Option<Mutex<Service>>> = OnceLock::new();
    service::shared(&SERVER, || start(test))
}

/// Waits (up to 30 s) until the server at `port` accepts queries: it listens before it
/// has finished starting up.
pub fn wait_ready(port: u16) {
    let until = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < until {
        let ok = Command::new("psql")
            .env("PGPASSWORD", PASSWORD)
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                USER,
                "-d",
                DATABASE,
                "-Atc",
                "SELECT 1",
            ])
            .arg("-p")
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("postgres on port {port} did not accept queries within 30 s");
}

/// Runs `sql` with `psql` on the server at `port`; its unaligned, tuples-only output.
pub fn psql(port: u16, sql: &str) -> String {
    let out = Command::new("psql")
        .env("PGPASSWORD", PASSWORD)
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            USER,
            "-d",
            DATABASE,
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
        ])
        .arg("-p")
        .arg(port.to_string())
        .arg("-c")
        .arg(sql)
        .stdin(Stdio::null())
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "psql `{sql}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Stops `server` at once, backends included: a backend outlives a postmaster killed with
/// SIGKILL for a moment and may still answer on its connection, so the postmaster gets
/// SIGQUIT (immediate shutdown: it kills its children and exits), then the service stops.
pub fn kill(server: &mut Service) {
    if let Some(pid) = server.pid() {
        let _ = Command::new("kill")
            .args(["-QUIT", &pid.to_string()])
            .stderr(Stdio::null())
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline
            && Command::new("pgrep")
                .args(["-P", &pid.to_string()])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    server.stop();
}
