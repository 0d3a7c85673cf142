//! Reading a whole entry file.
//!
//! In the guest, std's `fs::read` reads through a `wasi:io` input stream, and wasmtime
//! serves a file stream's reads on a blocking-pool thread whatever the host allows (two
//! thread hops per read, most of a 1 KiB read's cost). `descriptor.read` runs where the
//! host's grant says (on the calling thread by default). So the guest opens the file at
//! the preopened directory's descriptor and reads it with `descriptor.read`. Natively
//! (unit tests), it is `std::fs::read`.

use std::io;
use std::path::{Path, PathBuf};

/// Reads files of one directory.
pub(crate) struct Reader {
    dir: PathBuf,
    #[cfg(target_arch = "wasm32")]
    preopen: Option<wasi::filesystem::types::Descriptor>,
}

/// Bytes asked for per `descriptor.read` (the host allocates at most 64 KiB per call).
#[cfg(target_arch = "wasm32")]
const CHUNK: u64 = 64 * 1024;

impl Reader {
    /// A reader of `dir`: on wasm, the preopen mounted exactly there, if any (else reads
    /// go through std, which resolves any path).
    pub(crate) fn new(dir: &Path) -> Self {
        Reader {
            dir: dir.to_path_buf(),
            #[cfg(target_arch = "wasm32")]
            preopen: wasi::filesystem::preopens::get_directories()
                .into_iter()
                .find(|(_, at)| Path::new(at) == dir)
                .map(|(descriptor, _)| descriptor),
        }
    }

    /// The contents of the file `name` in the directory.
    pub(crate) fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        #[cfg(target_arch = "wasm32")]
        if let Some(dir) = &self.preopen {
            return read_at(dir, name);
        }
        std::fs::read(self.dir.join(name))
    }
}

#[cfg(target_arch = "wasm32")]
fn read_at(dir: &wasi::filesystem::types::Descriptor, name: &str) -> io::Result<Vec<u8>> {
    use wasi::filesystem::types::{DescriptorFlags, OpenFlags, PathFlags};
    // No SYMLINK_FOLLOW: an entry is a plain file; a planted symlink is not followed.
    let file = dir
        .open_at(
            PathFlags::empty(),
            name,
            OpenFlags::empty(),
            DescriptorFlags::READ,
        )
        .map_err(io_error)?;
    let mut out = Vec::new();
    loop {
        let (chunk, eof) = file.read(CHUNK, out.len() as u64).map_err(io_error)?;
        if chunk.is_empty() || eof {
            out.extend_from_slice(&chunk);
            return Ok(out);
        }
        out.extend_from_slice(&chunk);
    }
}

#[cfg(target_arch = "wasm32")]
fn io_error(code: wasi::filesystem::types::ErrorCode) -> io::Error {
    use wasi::filesystem::types::ErrorCode;
    let kind = match code {
        ErrorCode::NoEntry => io::ErrorKind::NotFound,
        ErrorCode::Access | ErrorCode::NotPermitted | ErrorCode::ReadOnly => {
            io::ErrorKind::PermissionDenied
        }
        ErrorCode::IsDirectory => io::ErrorKind::IsADirectory,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, format!("{code:?}"))
}
