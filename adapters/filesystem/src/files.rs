//! Reading and writing whole entry files.
//!
//! In the guest, std's file reads and writes go through `wasi:io` streams, and wasmtime
//! serves a file stream on a blocking-pool thread whatever the host allows (two thread
//! hops per call, most of a 1 KiB read's cost). `descriptor.read` and `descriptor.write`
//! run where the host's grant says (on the calling thread by default). So the guest opens
//! files at the preopened directory's descriptor and reads and writes them with those.
//! Natively (unit tests), it is `std::fs`.

use std::io;
use std::path::{Path, PathBuf};

/// Reads and writes files of one directory.
pub(crate) struct Files {
    dir: PathBuf,
    #[cfg(target_arch = "wasm32")]
    preopen: Option<wasi::filesystem::types::Descriptor>,
}

/// The most bytes asked for or given per `descriptor.read` / `descriptor.write` (wasmtime
/// allocates at most 64 KiB per read; a host may move fewer, and the loops go on).
#[cfg(target_arch = "wasm32")]
const CHUNK: u64 = 64 * 1024;

impl Files {
    /// The files of `dir`: on wasm, through the preopen mounted exactly there, if any
    /// (else through std, which resolves any path).
    pub(crate) fn new(dir: &Path) -> Self {
        Files {
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

    /// The names of the directory's entries. On wasm, with `descriptor.read-directory`:
    /// std's `read_dir` asks for each entry's metadata too (one more host call per entry).
    pub(crate) fn list(&self) -> io::Result<Vec<String>> {
        #[cfg(target_arch = "wasm32")]
        if let Some(dir) = &self.preopen {
            use wasi::filesystem::types::ErrorCode;
            let entries = dir.read_directory().map_err(io_error)?;
            let mut names = Vec::new();
            loop {
                match entries.read_directory_entry() {
                    Ok(Some(entry)) => names.push(entry.name),
                    Ok(None) => return Ok(names),
                    // The stream moves past an entry it fails on. A name that is not UTF-8
                    // is not one of ours; an entry removed while the host listed the
                    // directory (it asks each entry's type) is gone.
                    Err(ErrorCode::IllegalByteSequence | ErrorCode::NoEntry) => {}
                    Err(code) => return Err(io_error(code)),
                }
            }
        }
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            // A name that is not UTF-8 is not one of ours.
            if let Ok(name) = entry?.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    /// Creates the file `name`, which must not exist, holding `contents`, flushed to
    /// stable storage if `sync`.
    pub(crate) fn write_new(&self, name: &str, contents: &[u8], sync: bool) -> io::Result<()> {
        #[cfg(target_arch = "wasm32")]
        if let Some(dir) = &self.preopen {
            return write_new_at(dir, name, contents, sync);
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.dir.join(name))?;
        std::io::Write::write_all(&mut file, contents)?;
        if sync {
            file.sync_all()?;
        }
        Ok(())
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
    // An entry file is written whole and renamed into place, so the open file does not
    // change: its size, asked once, says how much to read. Asking for exactly that much
    // also keeps the host from allocating (and zeroing) a full chunk for a small file,
    // and ends the loop without a last read that returns nothing.
    let size = file.stat().map_err(io_error)?.size;
    // Reserved up front up to 1 MiB: a larger (planted) file grows the buffer as it goes.
    let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0).min(1 << 20));
    while (out.len() as u64) < size {
        let want = (size - out.len() as u64).min(CHUNK);
        let (chunk, eof) = file.read(want, out.len() as u64).map_err(io_error)?;
        let shrank = chunk.is_empty() || eof;
        out.extend_from_slice(&chunk);
        if shrank {
            break;
        }
    }
    Ok(out)
}

#[cfg(target_arch = "wasm32")]
fn write_new_at(
    dir: &wasi::filesystem::types::Descriptor,
    name: &str,
    contents: &[u8],
    sync: bool,
) -> io::Result<()> {
    use wasi::filesystem::types::{DescriptorFlags, OpenFlags, PathFlags};
    let file = dir
        .open_at(
            PathFlags::empty(),
            name,
            OpenFlags::CREATE | OpenFlags::EXCLUSIVE,
            DescriptorFlags::WRITE,
        )
        .map_err(io_error)?;
    let mut done = 0;
    while done < contents.len() {
        let rest = &contents[done..];
        let chunk = &rest[..rest.len().min(CHUNK as usize)];
        let wrote = file.write(chunk, done as u64).map_err(io_error)?;
        if wrote == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        done += usize::try_from(wrote)
            .unwrap_or(usize::MAX)
            .min(chunk.len());
    }
    if sync {
        file.sync().map_err(io_error)?;
    }
    Ok(())
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
        ErrorCode::Exist => io::ErrorKind::AlreadyExists,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, format!("{code:?}"))
}
