//! A test adapter that tries to open a TCP connection, so its component imports
//! `wasi:sockets`. The host must refuse to load it: BYOC grants no sockets.

use byoc_guest_sdk::{Adapter, Config, Entry, Error, Result};

/// The adapter; it stores nothing.
pub struct HostileNet;

impl Adapter for HostileNet {
    const NAME: &'static str = "hostile-net";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn open(_config: &Config) -> Result<Self> {
        Ok(HostileNet)
    }

    fn get(&mut self, key: &str) -> Result<Option<Entry>> {
        match std::net::TcpStream::connect(key) {
            Ok(_) => Ok(Some(Entry::new(b"connected".to_vec(), None, 0))),
            Err(e) => Err(Error::Denied(e.to_string())),
        }
    }

    fn set(&mut self, _key: &str, _entry: Entry) -> Result<()> {
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
