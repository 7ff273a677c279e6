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
//! - No symbolic link is followed in the last component of a path heso manages:
//!   [`create_private_dir`] refuses a directory that is a link, [`open_no_follow`] and
//!   [`read_no_follow`] open files with `O_NOFOLLOW`, and [`refuse_symlink`] checks a path
//!   before it is used. A refusal is an [`io::Error`] wrapping [`SymlinkRefused`], which
//!   names the link ([`is_symlink_refusal`] tells it apart). Links higher up the path (a
//!   project under a linked home folder) are the user's business and are followed.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Mode of secret files (keys, passphrases, pending items).
pub const SECRET_FILE_MODE: u32 = 0o600;
/// Mode of public files.
pub const PUBLIC_FILE_MODE: u32 = 0o644;
/// Mode of a directory heso creates.
pub const PRIVATE_DIR_MODE: u32 = 0o700;

/// A path heso refused to use because it is a symbolic link. Carried inside the
/// [`io::Error`] the functions of this crate return; its message names the link.
#[derive(Debug, thiserror::Error)]
#[error(
    "{} is a symbolic link; heso never follows links among its own files (replace the link \
     with a real {kind})",
    path.display()
)]
pub struct SymlinkRefused {
    /// The link.
    pub path: PathBuf,
    /// `file` or `folder`: what should be there instead.
    pub kind: &'static str,
}

fn symlink_refused(path: &Path, kind: &'static str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        SymlinkRefused {
            path: path.to_path_buf(),
            kind,
        },
    )
}

/// True when `error` is a refusal to follow a symbolic link ([`SymlinkRefused`]).
pub fn is_symlink_refusal(error: &io::Error) -> bool {
    error
        .get_ref()
        .is_some_and(|inner| inner.is::<SymlinkRefused>())
}

fn is_symlink(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// `Ok` when nothing is at `path` or it is not a symbolic link; a link is refused with
/// [`SymlinkRefused`]. For a path that is read or listed without [`open_no_follow`] (a
/// directory, before `read_dir`).
pub fn refuse_symlink(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(symlink_refused(path, "file or folder")),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates `dir` (and missing parents) with mode 0700 when it is missing; an existing
/// directory is left exactly as it is. `dir` itself must not be a symbolic link (a link,
/// even to a directory, even dangling, is refused with [`SymlinkRefused`] and nothing is
/// created through it); something else than a directory there is an error too.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    match fs::symlink_metadata(dir) {
        Ok(meta) if meta.file_type().is_symlink() => return Err(symlink_refused(dir, "folder")),
        Ok(meta) if meta.is_dir() => return Ok(()),
        Ok(_) => return Err(not_a_directory(dir)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(PRIVATE_DIR_MODE);
    }
    builder.create(dir)?;
    // A link put there meanwhile was not created by us: `create` accepts an existing
    // directory, and follows a link to one.
    if is_symlink(dir) {
        return Err(symlink_refused(dir, "folder"));
    }
    Ok(())
}

fn not_a_directory(dir: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotADirectory,
        format!("{} exists and is not a directory", dir.display()),
    )
}

/// Opens `path` with `options` plus `O_NOFOLLOW`: when `path` is a symbolic link (even a
/// dangling one, with `create`), nothing is opened or created and the error is
/// [`SymlinkRefused`]. Links in the directories above `path` are followed.
pub fn open_no_follow(path: &Path, options: &mut OpenOptions) -> io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    match options.open(path) {
        Ok(file) => {
            #[cfg(not(unix))]
            if is_symlink(path) {
                return Err(symlink_refused(path, "file"));
            }
            Ok(file)
        }
        // ELOOP on Linux and macOS, EMLINK on FreeBSD: ask the file system what is there.
        Err(_) if is_symlink(path) => Err(symlink_refused(path, "file")),
        Err(e) => Err(e),
    }
}

/// Reads the whole file at `path` without following a symbolic link ([`open_no_follow`]).
pub fn read_no_follow(path: &Path) -> io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut file = open_no_follow(path, OpenOptions::new().read(true))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
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

    #[cfg(unix)]
    #[test]
    fn a_symlinked_dir_is_refused_by_name_and_nothing_is_written_through_it() {
        let temp = tempfile::tempdir().unwrap();
        let elsewhere = temp.path().join("world-writable");
        fs::create_dir(&elsewhere).unwrap();
        let link = temp.path().join("pending");
        std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
        let err = create_private_dir(&link).unwrap_err();
        assert!(is_symlink_refusal(&err), "{err:?}");
        let text = err.to_string();
        assert!(text.contains(&link.display().to_string()), "{text}");
        assert!(text.contains("symbolic link"), "{text}");
        assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
        // A dangling link is refused the same way, and its target is not created.
        let dangling = temp.path().join("data");
        std::os::unix::fs::symlink(temp.path().join("nowhere"), &dangling).unwrap();
        assert!(is_symlink_refusal(
            &create_private_dir(&dangling).unwrap_err()
        ));
        assert!(!temp.path().join("nowhere").exists());
        // A file where a directory should be is an error too, not a silent success.
        let file = temp.path().join("file");
        fs::write(&file, b"x").unwrap();
        let err = create_private_dir(&file).unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn files_are_opened_and_read_without_following_a_symlink() {
        let temp = tempfile::tempdir().unwrap();
        let target = temp.path().join("target");
        fs::write(&target, b"secret").unwrap();
        let link = temp.path().join("receipts.jsonl");
        std::os::unix::fs::symlink(&target, &link).unwrap();

        let err = read_no_follow(&link).unwrap_err();
        assert!(is_symlink_refusal(&err), "{err:?}");
        assert!(
            err.to_string().contains(&link.display().to_string()),
            "{err}"
        );

        let mut options = OpenOptions::new();
        options.create(true).append(true);
        let err = open_no_follow(&link, &mut options).unwrap_err();
        assert!(is_symlink_refusal(&err), "{err:?}");
        assert_eq!(fs::read(&target).unwrap(), b"secret");

        // A dangling link is not created through.
        let dangling = temp.path().join("salts.jsonl");
        std::os::unix::fs::symlink(temp.path().join("made"), &dangling).unwrap();
        let err = open_no_follow(&dangling, &mut options).unwrap_err();
        assert!(is_symlink_refusal(&err), "{err:?}");
        assert!(!temp.path().join("made").exists());

        // Real files open as usual; a missing one is NotFound, not a refusal.
        assert_eq!(read_no_follow(&target).unwrap(), b"secret");
        let err = read_no_follow(&temp.path().join("missing")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(!is_symlink_refusal(&err));
        refuse_symlink(&target).unwrap();
        refuse_symlink(&temp.path().join("missing")).unwrap();
        assert!(is_symlink_refusal(&refuse_symlink(&link).unwrap_err()));
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
