//! redb's file backend behind a fence: once this instance may have lost the lock file, the
//! database it still has open must not write another byte (dropping a redb `Database`
//! writes its header), so every write, resize and sync fails from then on.

use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};
use std::fs::File;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A [`FileBackend`] that refuses to change the file once its fence is raised. It takes
/// no file locks (WASI has none): the lock file keeps other processes out.
#[derive(Debug)]
pub(crate) struct Fenced {
    inner: FileBackend,
    fence: Arc<AtomicBool>,
}

impl Fenced {
    /// `file` behind `fence` (raised: writes fail).
    pub(crate) fn new(file: File, fence: Arc<AtomicBool>) -> Self {
        Fenced {
            inner: FileBackend::new(file),
            fence,
        }
    }

    fn check(&self) -> Result<(), BackendError> {
        if self.fence.load(Ordering::Acquire) {
            return Err(BackendError::Io(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the database lock was lost; this instance no longer writes the file",
            )));
        }
        Ok(())
    }
}

impl StorageBackend for Fenced {
    fn len(&self) -> Result<u64, BackendError> {
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), BackendError> {
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), BackendError> {
        self.check()?;
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> Result<(), BackendError> {
        self.check()?;
        self.inner.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), BackendError> {
        self.check()?;
        self.inner.write(offset, data)
    }
}
