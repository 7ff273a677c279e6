//! Opening the log and appending to it.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use heso_fs::{create_private_dir, open_no_follow, read_no_follow};
use heso_receipt::{ChainPosition, chain_link};

use crate::fileops::{FileOps, RealOps, write_all};
use crate::tail::{TailEntry, entry_of, scan};
use crate::{LOCK_FILE, LOG_FILE, SESSION_FILE};

/// When an appended line is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// fsync before `append` returns: an acknowledged receipt survives a crash or power
    /// loss (the default).
    #[default]
    Fsync,
    /// Leave it to the OS: faster, but a crash may lose the last receipts.
    Os,
}

/// How a log is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogOptions {
    /// See [`Durability`].
    pub durability: Durability,
}

/// A torn tail that was moved aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornRepair {
    /// The side file holding the torn bytes.
    pub side_file: PathBuf,
    /// How many bytes were moved.
    pub bytes: u64,
}

impl fmt::Display for TornRepair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a partial last line ({} bytes, left by a writer that stopped mid-write) was moved to {}",
            self.bytes,
            self.side_file.display()
        )
    }
}

/// Why a log could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// A file or directory could not be read, created or locked.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The session file is not a session id.
    #[error("{0} does not hold a session id; it was edited or damaged")]
    BadSession(PathBuf),
}

/// Why an append failed. Nothing was acknowledged; the action must not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppendError<E: fmt::Display> {
    /// The caller's closure failed; nothing was written.
    #[error("{0}")]
    Build(E),
    /// The line the closure returned is not a receipt at the position it was given.
    #[error("refusing to append: {0}")]
    BadLine(String),
    /// Writing, syncing or locking failed. The partial line, if any, was taken back off
    /// the log; when even that failed after a failed fsync, the handle is poisoned.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// An fsync failed on this handle and the unacknowledged line could not be taken back
    /// off the log, so what the file holds is no longer known.
    #[error(
        "an fsync of {0} failed earlier and the log could not be rolled back; reopen the log (restart the process) before appending"
    )]
    Poisoned(PathBuf),
}

/// Where a receipt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// Its seq.
    pub seq: u64,
    /// Its action_hash.
    pub action_hash: String,
    /// A torn tail this append repaired first, if any.
    pub repaired: Option<TornRepair>,
}

/// The cached tail, valid while the file's length and identity are unchanged.
struct Cached {
    len: u64,
    inode: u64,
    last: Option<TailEntry>,
}

struct Writer {
    file: Option<File>,
    cached: Option<Cached>,
    poisoned: bool,
}

/// An open log. Share it across threads (`&Log` appends are serialised).
pub struct Log {
    dir: PathBuf,
    path: PathBuf,
    lock_path: PathBuf,
    session_id: String,
    durability: Durability,
    writer: Mutex<Writer>,
    ops: Box<dyn FileOps>,
}

impl fmt::Debug for Log {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Log")
            .field("path", &self.path)
            .field("session_id", &self.session_id)
            .finish()
    }
}

fn open_io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> OpenError {
    let path = path.to_path_buf();
    move |source| OpenError::Io {
        action,
        path,
        source,
    }
}

fn append_io<E: fmt::Display>(
    action: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> AppendError<E> {
    let path = path.to_path_buf();
    move |source| AppendError::Io {
        action,
        path,
        source,
    }
}

/// Holds the cross-process lock until dropped.
struct ProcessLock(File);

impl Drop for ProcessLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

fn lock(path: &Path) -> std::io::Result<ProcessLock> {
    let file = open_no_follow(
        path,
        OpenOptions::new().create(true).truncate(false).write(true),
    )?;
    file.lock()?;
    Ok(ProcessLock(file))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads the store's session id, creating it once (atomically: a temp file hard-linked
/// into place, so two racing creators agree on one id).
fn session_id(dir: &Path, ops: &dyn FileOps) -> Result<String, OpenError> {
    let path = dir.join(SESSION_FILE);
    let read = |path: &Path| -> Result<Option<String>, OpenError> {
        match read_no_follow(path) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                let id = text.trim().to_owned();
                let ok =
                    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic());
                if ok {
                    Ok(Some(id))
                } else {
                    Err(OpenError::BadSession(path.to_path_buf()))
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(open_io("cannot read", path)(e)),
        }
    };
    if let Some(id) = read(&path)? {
        return Ok(id);
    }
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).map_err(|e| OpenError::Io {
        action: "cannot draw a random session id for",
        path: path.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let id = hex(&random);
    let temp = dir.join(format!(".{SESSION_FILE}.{id}.tmp"));
    let written = (|| {
        let mut file = open_no_follow(&temp, OpenOptions::new().write(true).create_new(true))?;
        write_all(ops, &mut file, format!("{id}\n").as_bytes())?;
        ops.sync_all(&file)?;
        match ops.hard_link(&temp, &path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(e),
        }
    })();
    let _ = fs::remove_file(&temp);
    written.map_err(open_io("cannot create", &path))?;
    ops.sync_dir(dir)
        .map_err(open_io("cannot sync the new session file in", dir))?;
    read(&path)?.ok_or(OpenError::BadSession(path))
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(unix)]
fn inode(meta: &fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(meta)
}
#[cfg(not(unix))]
fn inode(_meta: &fs::Metadata) -> u64 {
    0
}

impl Log {
    /// Opens (creating if needed) the log in `dir`, repairing a torn tail if it finds one.
    pub fn open(dir: &Path, options: LogOptions) -> Result<(Log, Option<TornRepair>), OpenError> {
        Self::open_with(dir, options, Box::new(RealOps))
    }

    /// [`Log::open`] with the system calls given: the crate's tests pass failing ones.
    pub(crate) fn open_with(
        dir: &Path,
        options: LogOptions,
        ops: Box<dyn FileOps>,
    ) -> Result<(Log, Option<TornRepair>), OpenError> {
        create_private_dir(dir).map_err(open_io("cannot create", dir))?;
        let session_id = session_id(dir, ops.as_ref())?;
        let log = Log {
            dir: dir.to_path_buf(),
            path: dir.join(LOG_FILE),
            lock_path: dir.join(LOCK_FILE),
            session_id,
            durability: options.durability,
            writer: Mutex::new(Writer {
                file: None,
                cached: None,
                poisoned: false,
            }),
            ops,
        };
        let _guard = lock(&log.lock_path).map_err(open_io("cannot lock", &log.lock_path))?;
        let mut writer = log.writer.lock().unwrap_or_else(|p| p.into_inner());
        let repaired = log.refresh::<String>(&mut writer).map_err(|e| match e {
            AppendError::Io {
                action,
                path,
                source,
            } => OpenError::Io {
                action,
                path,
                source,
            },
            other => OpenError::Io {
                action: "cannot read",
                path: log.path.clone(),
                source: std::io::Error::other(other.to_string()),
            },
        })?;
        drop(writer);
        Ok((log, repaired))
    }

    /// The store's session id.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Brings the cached tail up to date (another process may have appended) and repairs
    /// a torn tail. Called with both locks held.
    fn refresh<E: fmt::Display>(
        &self,
        writer: &mut Writer,
    ) -> Result<Option<TornRepair>, AppendError<E>> {
        if writer.file.is_none() {
            let mut options = OpenOptions::new();
            options.create(true).read(true).append(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            writer.file = Some(
                open_no_follow(&self.path, &mut options)
                    .map_err(append_io("cannot open", &self.path))?,
            );
        }
        let Some(file) = writer.file.as_mut() else {
            return Err(AppendError::Poisoned(self.path.clone()));
        };
        let meta = file
            .metadata()
            .map_err(append_io("cannot stat", &self.path))?;
        let (len, ino) = (meta.len(), inode(&meta));
        if writer
            .cached
            .as_ref()
            .is_some_and(|c| c.len == len && c.inode == ino)
        {
            return Ok(None);
        }
        let found =
            scan(file, len, &self.session_id).map_err(append_io("cannot read", &self.path))?;
        let repaired = if found.torn.is_empty() {
            None
        } else {
            Some(self.move_torn_aside(file, found.good_len, &found.torn)?)
        };
        writer.cached = Some(Cached {
            len: found.good_len,
            inode: ino,
            last: found.last,
        });
        Ok(repaired)
    }

    fn move_torn_aside<E: fmt::Display>(
        &self,
        file: &mut File,
        good_len: u64,
        torn: &[u8],
    ) -> Result<TornRepair, AppendError<E>> {
        let base = format!("{LOG_FILE}.torn-{}", unix_seconds());
        let mut side = self.dir.join(&base);
        let mut n = 1;
        while side.exists() {
            n += 1;
            side = self.dir.join(format!("{base}-{n}"));
        }
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut out = options
            .open(&side)
            .map_err(append_io("cannot create", &side))?;
        let ops = self.ops.as_ref();
        let saved = write_all(ops, &mut out, torn)
            .and_then(|()| ops.sync_all(&out))
            .and_then(|()| ops.sync_dir(&self.dir));
        if let Err(e) = saved {
            // The torn bytes stay in the log until a later writer manages to save them.
            drop(out);
            let _ = fs::remove_file(&side);
            return Err(append_io("cannot save the torn tail to", &side)(e));
        }
        // Only once the side file is durable does the log lose those bytes.
        ops.set_len(file, good_len)
            .map_err(append_io("cannot truncate", &self.path))?;
        ops.sync_all(file)
            .map_err(append_io("cannot sync", &self.path))?;
        Ok(TornRepair {
            side_file: side,
            bytes: torn.len() as u64,
        })
    }

    /// Appends one receipt. Under the lock, `build` gets the next chain position and
    /// returns the receipt as one compact JSON line (no newline); the line is written in
    /// one `O_APPEND` write and, with [`Durability::Fsync`], synced before this returns.
    ///
    /// A write or fsync error reaches the caller and the unacknowledged line is taken back
    /// off the log (truncated to its length before). An fsync is never retried and assumed
    /// to have worked: when the rollback after a failed fsync fails too, the handle
    /// refuses further appends ([`AppendError::Poisoned`]) until the log is reopened.
    pub fn append<F, E>(&self, build: F) -> Result<Appended, AppendError<E>>
    where
        F: FnOnce(&ChainPosition) -> Result<String, E>,
        E: fmt::Display,
    {
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if writer.poisoned {
            return Err(AppendError::Poisoned(self.path.clone()));
        }
        let _guard = lock(&self.lock_path).map_err(append_io("cannot lock", &self.lock_path))?;
        let repaired = self.refresh(&mut writer)?;
        let last = writer.cached.as_ref().and_then(|c| c.last.clone());
        let position = match &last {
            None => ChainPosition {
                session_id: self.session_id.clone(),
                seq: 0,
                prev_receipt_hash: None,
            },
            Some(tail) => ChainPosition {
                session_id: self.session_id.clone(),
                seq: tail
                    .seq
                    .checked_add(1)
                    .ok_or_else(|| AppendError::BadLine("seq overflow".into()))?,
                prev_receipt_hash: Some(chain_link(&tail.session_id, tail.seq, &tail.action_hash)),
            },
        };
        let line = build(&position).map_err(AppendError::Build)?;
        let entry = check_line(&line, &position)?;

        let mut bytes = line.into_bytes();
        bytes.push(b'\n');
        let Some(before) = writer.cached.as_ref().map(|c| c.len) else {
            return Err(AppendError::Poisoned(self.path.clone()));
        };
        let Some(file) = writer.file.as_mut() else {
            return Err(AppendError::Poisoned(self.path.clone()));
        };
        let ops = self.ops.as_ref();
        if let Err(e) = write_all(ops, file, &bytes) {
            // A short write may have left part of the line: take it back off. If that
            // fails too, the next append (or open) finds it as a torn tail and moves it
            // aside, so the handle is only forgotten, not poisoned.
            if self.roll_back(ops, file, before).is_err() {
                writer.file = None;
            }
            writer.cached = None;
            return Err(append_io("cannot write", &self.path)(e));
        }
        let synced = match self.durability {
            Durability::Fsync => ops.sync_data(file),
            Durability::Os => Ok(()),
        };
        if let Err(e) = synced {
            // The line was never acknowledged, so it must not stay. If it cannot be taken
            // off durably, what the disk holds is unknown (a failed fsync may have dropped
            // the pages): refuse further appends on this handle rather than chain onto a
            // line that may not exist after a crash.
            if self.roll_back(ops, file, before).is_err() {
                writer.poisoned = true;
                writer.file = None;
            }
            writer.cached = None;
            return Err(append_io("cannot fsync", &self.path)(e));
        }
        if let Some(cached) = writer.cached.as_mut() {
            cached.len += bytes.len() as u64;
            cached.last = Some(entry.clone());
        }
        Ok(Appended {
            seq: entry.seq,
            action_hash: entry.action_hash,
            repaired,
        })
    }

    /// Truncates the log back to `len`, its length before a failed append, durably when
    /// the log is fsynced.
    fn roll_back(&self, ops: &dyn FileOps, file: &File, len: u64) -> std::io::Result<()> {
        ops.set_len(file, len)?;
        match self.durability {
            Durability::Fsync => ops.sync_all(file),
            Durability::Os => Ok(()),
        }
    }
}

/// The line must be one receipt at exactly the position given.
fn check_line<E: fmt::Display>(
    line: &str,
    position: &ChainPosition,
) -> Result<TailEntry, AppendError<E>> {
    if line.contains('\n') {
        return Err(AppendError::BadLine(
            "the receipt contains a newline".into(),
        ));
    }
    let entry = entry_of(line.as_bytes()).ok_or_else(|| {
        AppendError::BadLine("not a receipt with session_id, seq and action_hash".into())
    })?;
    if entry.session_id != position.session_id || entry.seq != position.seq {
        return Err(AppendError::BadLine(format!(
            "the receipt says session {} seq {}, the log's next position is session {} seq {}",
            entry.session_id, entry.seq, position.session_id, position.seq
        )));
    }
    if entry.prev_receipt_hash != position.prev_receipt_hash {
        return Err(AppendError::BadLine(format!(
            "the receipt's prev_receipt_hash is {}, the log's next one is {}",
            entry.prev_receipt_hash.as_deref().unwrap_or("absent"),
            position.prev_receipt_hash.as_deref().unwrap_or("absent")
        )));
    }
    Ok(entry)
}
