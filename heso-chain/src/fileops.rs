//! The system calls that change the log's files, behind one narrow seam.
//!
//! The log calls the OS only through [`FileOps`], so the crate's own tests can make any
//! one of these calls fail the way the real one can (EIO, ENOSPC, a short write) and check
//! what the caller sees and what is left on disk. Outside those tests the only
//! implementation is [`RealOps`], which calls straight through.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// The calls the append path makes, each one the system call it is named after.
pub(crate) trait FileOps: Send + Sync {
    /// One `write(2)`: may write fewer bytes than given.
    fn write(&self, file: &mut File, bytes: &[u8]) -> io::Result<usize> {
        file.write(bytes)
    }
    /// `fdatasync(2)`.
    fn sync_data(&self, file: &File) -> io::Result<()> {
        file.sync_data()
    }
    /// `fsync(2)`.
    fn sync_all(&self, file: &File) -> io::Result<()> {
        file.sync_all()
    }
    /// `ftruncate(2)`.
    fn set_len(&self, file: &File, len: u64) -> io::Result<()> {
        file.set_len(len)
    }
    /// `fsync(2)` on a directory, so a new name in it survives a crash.
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        heso_fs::sync_dir(dir)
    }
    /// `link(2)`: gives `from`'s file the new name `to`, failing if `to` exists.
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::hard_link(from, to)
    }
}

/// The real system calls.
pub(crate) struct RealOps;

impl FileOps for RealOps {}

/// `write_all` through the seam: loops over short writes, retries `EINTR`.
pub(crate) fn write_all(ops: &dyn FileOps, file: &mut File, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match ops.write(file, bytes) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => bytes = bytes.get(n..).unwrap_or_default(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
