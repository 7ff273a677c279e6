//! The crash-safe file steps heso's stores share (the keystore's key files, the engine's
//! pending items and project files, the log's data directory), written once so there is one
//! place to review them.
//!
//! - [`create_private_dir`]: a missing directory is created 0700; an existing one is left
//!   exactly as it is.
//! - [`write_atomic`]: a fresh temp file beside the target (created with the mode asked,
//!   then set to it exactly), fsync, rename (or hard link, to never replace), fsync of the
//!   directory. A reader sees the old file or the whole new one, never part of one.
//! - [`remove_durably`]: unlink, then fsync of the directory.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// Mode of secret files (keys, passphrases, pending items).
pub const SECRET_FILE_MODE: u32 = 0o600;
/// Mode of public files.
pub const PUBLIC_FILE_MODE: u32 = 0o644;
/// Mode of a directory heso creates.
pub const PRIVATE_DIR_MODE: u32 = 0o700;

/// Creates `dir` (and missing parents) with mode 0700 when it is missing; an existing
/// directory is left exactly as it is.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(PRIVATE_DIR_MODE);
    }
    builder.create(dir)
}

/// How [`write_atomic`] treats an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Fail with `AlreadyExists`, leaving the existing file untouched.
    Keep,
    /// Replace it atomically.
    Replace,
}

/// Writes `bytes` to `path` atomically with file mode `mode` (see the crate docs).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32, existing: Existing) -> io::Result<()> {
    let dir = parent_of(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}-{}", std::process::id(), nonce()));
    let result = write_new(&tmp, bytes, mode).and_then(|()| match existing {
        Existing::Replace => fs::rename(&tmp, path),
        Existing::Keep => match fs::hard_link(&tmp, path) {
            Ok(()) => fs::remove_file(&tmp),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
            // A filesystem without hard links: check, then rename (a narrow race there).
            Err(_) if path.exists() => Err(io::Error::from(io::ErrorKind::AlreadyExists)),
            Err(_) => fs::rename(&tmp, path),
        },
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    sync_dir(dir)
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path)?;
    // The umask may have narrowed the mode; never widened. Set it exactly.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
    }
    file.write_all(bytes)?;
    file.sync_all()
}

/// Fsyncs a directory so a new name, a rename or an unlink in it is durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Removes a file and fsyncs its directory; a missing file is not an error (returns false).
pub fn remove_durably(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => {
            sync_dir(parent_of(path))?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// The directory holding `path` (`.` for a bare file name).
pub fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn nonce() -> String {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // Only a temp-file name: the pid and create_new still keep it safe.
        bytes = [0; 8];
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;

    #[cfg(unix)]
    fn mode_of(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn atomic_writes_keep_or_replace_and_leave_no_temp_file() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("secret");
        write_atomic(&path, b"one", SECRET_FILE_MODE, Existing::Keep).unwrap();
        let again = write_atomic(&path, b"two", SECRET_FILE_MODE, Existing::Keep).unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&path).unwrap(), b"one");
        write_atomic(&path, b"three", SECRET_FILE_MODE, Existing::Replace).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"three");
        #[cfg(unix)]
        assert_eq!(mode_of(&path), 0o600);
        let names: Vec<_> = fs::read_dir(temp.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "a temp file was left: {names:?}");
    }

    #[test]
    fn a_private_dir_is_made_0700_and_an_existing_one_is_left_alone() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("a/b");
        create_private_dir(&dir).unwrap();
        #[cfg(unix)]
        assert_eq!(mode_of(&dir), 0o700);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o750)).unwrap();
            create_private_dir(&dir).unwrap();
            assert_eq!(mode_of(&dir), 0o750);
        }
    }

    #[test]
    fn removing_a_missing_file_says_so() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("gone");
        assert!(!remove_durably(&path).unwrap());
        fs::write(&path, b"x").unwrap();
        assert!(remove_durably(&path).unwrap());
        assert!(!path.exists());
    }
}
