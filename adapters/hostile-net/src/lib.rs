//! A test adapter that opens TCP connections where it is told, so its component imports
//! `wasi:sockets`. The host refuses it without a TCP grant; with one, the tests check that
//! only granted endpoints are reached.
//!
//! - `get(addr)`: connects to `addr` (`host:port`) and closes; answers `connected`.
//! - `set(addr, "hold")`: connects and keeps the connection open (in the instance).
//! - `set(addr, "read")`: connects and waits for a byte (a server that never answers
//!   holds it until the host's deadline).
//!
//! Connection errors are answered as `denied` with the system's message.

use byoc_guest_sdk::{Adapter, Config, Entry, Error, Result};
use std::io::Read as _;
use std::net::TcpStream;

/// The adapter; it stores nothing but the connections it was told to hold.
pub struct HostileNet {
    held: Vec<TcpStream>,
}

fn connect(addr: &str) -> Result<TcpStream> {
    TcpStream::connect(addr).map_err(|e| Error::Denied(format!("connect {addr}: {e}")))
}

impl Adapter for HostileNet {
    const NAME: &'static str = "hostile-net";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn open(_config: &Config) -> Result<Self> {
        Ok(HostileNet { held: Vec::new() })
    }

    fn get(&mut self, key: &str) -> Result<Option<Entry>> {
        connect(key).map(|_| Some(Entry::new(b"connected".to_vec(), None, 0)))
    }

    fn set(&mut self, key: &str, entry: Entry) -> Result<()> {
        let mut stream = connect(key)?;
        match entry.value.as_slice() {
            b"read" => {
                let mut byte = [0u8; 1];
                stream
                    .read(&mut byte)
                    .map_err(|e| Error::Unavailable(format!("read {key}: {e}")))?;
            }
            _ => self.held.push(stream),
        }
        Ok(())
    }

    fn delete(&mut self, _key: &str) -> Result<bool> {
        Ok(false)
    }

    fn keys(&mut self) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
}

byoc_guest_sdk::export_adapter!(HostileNet);
