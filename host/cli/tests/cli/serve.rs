//! `byoc serve` as a process: listens, requires its token, answers the protocol.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

/// Sends one HTTP/1.1 request and returns the status line and body.
fn request(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> (String, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    let auth = token.map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n"));
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\n{auth}content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("write");
    stream.write_all(body).expect("write body");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    let status = answer.lines().next().unwrap_or_default().to_owned();
    let body = answer
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, body)
}

#[test]
fn serve_answers_the_protocol_with_a_token() {
    let (mut child, addr) = spawn_serve(&["--listen", "127.0.0.1:0"], Some("cli-token"));

    let (status, body) = request(&addr, "GET", "/v1/ping", None, b"");
    assert!(status.contains("401"), "{status}");
    assert!(body.contains("\"unauthorized\""), "{body}");
    let (status, _) = request(
        &addr,
        "PUT",
        "/v1/keys/a%2Fb?ttl_ms=60000",
        Some("cli-token"),
        b"value",
    );
    assert!(status.contains("204"), "{status}");
    let (status, body) = request(&addr, "GET", "/v1/keys/a%2Fb", Some("cli-token"), b"");
    assert!(status.contains("200"), "{status}");
    assert_eq!(body, "value");
    let (status, body) = request(&addr, "GET", "/v1/keys/", Some("cli-token"), b"");
    assert!(status.contains("400"), "{status}");
    assert!(body.contains("\"invalid-key\""), "{body}");
    let _ = child.kill();
    let _ = child.wait();
}

/// Starts `byoc serve` with `args` (and `token` as `BYOC_SERVE_TOKEN`, if any), returns
/// the process and the address it printed.
fn spawn_serve(args: &[&str], token: Option<&str>) -> (std::process::Child, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_byoc"));
    command
        .arg("serve")
        .args(args)
        .env_remove("BYOC_SERVE_TOKEN")
        .stdout(Stdio::piped());
    if let Some(token) = token {
        command.env("BYOC_SERVE_TOKEN", token);
    }
    let mut child = command.spawn().expect("spawn byoc serve");
    let addr = printed_address(&mut child);
    (child, addr)
}

/// The address `byoc serve` prints on its first line of stdout.
fn printed_address(child: &mut std::process::Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    line.split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned()
}

/// The head of an HTTP answer to `head` sent alone (no body follows), read until the
/// server closes or answers.
fn answer_to_head(addr: &str, head: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(head.as_bytes()).expect("write");
    let mut buf = vec![0u8; 4096];
    let n = stream.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn a_public_address_needs_a_token_or_an_explicit_opt_out() {
    let run = Command::new(env!("CARGO_BIN_EXE_byoc"))
        .args(["serve", "--listen", "0.0.0.0:0"])
        .env_remove("BYOC_SERVE_TOKEN")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("without a token") && stderr.contains("--insecure-no-auth"),
        "{stderr}"
    );
    let (mut child, addr) = spawn_serve(&["--listen", "0.0.0.0:0", "--insecure-no-auth"], None);
    assert!(addr.starts_with("0.0.0.0:"), "{addr}");
    let _ = child.kill();
    let _ = child.wait();
    let (mut child, _) = spawn_serve(&["--listen", "0.0.0.0:0"], Some("t"));
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn oversized_bodies_are_refused_before_they_are_read() {
    let (mut child, addr) = spawn_serve(&["--listen", "127.0.0.1:0"], None);
    // A value over the provider's 16 MiB: 413 at once, though no body byte is sent.
    let started = std::time::Instant::now();
    let head = format!(
        "PUT /v1/keys/k HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\n\r\n",
        (16 << 20) + 1
    );
    let answer = answer_to_head(&addr, &head);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("value-too-large"), "{answer}");
    // A batch body over the 64 MiB request limit: the same.
    let head = format!(
        "POST /v1/batch/set HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\n\r\n",
        (64u64 << 20) + 1
    );
    let answer = answer_to_head(&addr, &head);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    // A value at the limit is still read and stored.
    let (status, _) = request(&addr, "PUT", "/v1/keys/big", None, &vec![1u8; 16 << 20]);
    assert!(status.contains("204"), "{status}");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_missing_key_and_a_missing_route_differ() {
    let (mut child, addr) = spawn_serve(&["--listen", "127.0.0.1:0"], None);
    let answer = answer_to_head(
        &addr,
        &format!("GET /v1/keys/nope HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"),
    );
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert!(answer.contains("x-byoc-error: not-found"), "{answer}");
    assert!(answer.contains("\"not-found\""), "{answer}");
    let answer = answer_to_head(
        &addr,
        &format!("HEAD /v1/keys/nope HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"),
    );
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert!(answer.contains("x-byoc-error: not-found"), "{answer}");
    for path in ["/base/v1/keys/nope", "/v1/nope", "/v1/batch/nope"] {
        let (status, body) = request(&addr, "GET", path, None, b"");
        assert!(status.contains("404"), "{path}: {status}");
        assert!(body.contains("\"no-route\""), "{path}: {body}");
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Out of file descriptors, the accept loop backs off instead of spinning.
#[cfg(target_os = "linux")]
#[test]
fn the_accept_loop_backs_off_when_out_of_descriptors() {
    let byoc = env!("CARGO_BIN_EXE_byoc");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n {FDS} && exec '{byoc}' serve --listen 127.0.0.1:0"
        ))
        .env_remove("BYOC_SERVE_TOKEN")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let addr = printed_address(&mut child);
    // Hold more connections than the server has descriptors left.
    let held: Vec<TcpStream> = (0..FDS)
        .filter_map(|_| TcpStream::connect(&addr).ok())
        .collect();
    assert!(!held.is_empty());
    std::thread::sleep(std::time::Duration::from_millis(300));
    let cpu = |pid: u32| -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
        // Fields after the command name (which ends with ')'): utime is the 12th, stime
        // the 13th.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .expect("stat")
            .1
            .split_whitespace()
            .collect();
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
    };
    let before = cpu(child.id());
    std::thread::sleep(std::time::Duration::from_secs(2));
    let ticks = cpu(child.id()) - before;
    let _ = child.kill();
    let _ = child.wait();
    drop(held);
    // Clock ticks are 1/100 s: spinning would use ~200 in 2 s.
    assert!(ticks < 40, "the server used {ticks} ticks of CPU in 2 s");
}

#[cfg(target_os = "linux")]
const FDS: usize = 64;
