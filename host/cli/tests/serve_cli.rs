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
    let mut child = Command::new(env!("CARGO_BIN_EXE_byoc"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("BYOC_SERVE_TOKEN", "cli-token")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn byoc serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();

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
