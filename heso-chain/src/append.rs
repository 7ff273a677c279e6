//! Opening the log and appending to it.

use std::convert::Infallible;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{Seek as _, SeekFrom};
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use heso_fs::{create_private_dir, open_no_follow, read_no_follow};
use heso_receipt::{ChainPosition, Receipt, chain_link};

use crate::fileops::{FileOps, RealOps, write_all};
use crate::index::{self, INDEX_FILE, IndexState, Record};
use crate::tail::{TailEntry, entry_of, scan};
use crate::tree::{
    self, BLOCK_LEVEL, LEAVES_FILE, LeafSource, NODES_FILE, SyncError, TreeError, TreeHead,
    TreePaths, TreeSlot, TreeState,
};
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

impl<E: fmt::Display> AppendError<E> {
    /// The log's own error, with no room for a closure's error in its type
    /// (`Ok`), or the closure's error (`Err`), so a caller can keep either as a typed source.
    pub fn split_build(self) -> Result<AppendError<Infallible>, E> {
        match self {
            AppendError::Build(e) => Err(e),
            AppendError::BadLine(why) => Ok(AppendError::BadLine(why)),
            AppendError::Io {
                action,
                path,
                source,
            } => Ok(AppendError::Io {
                action,
                path,
                source,
            }),
            AppendError::Poisoned(path) => Ok(AppendError::Poisoned(path)),
        }
    }
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

/// The cached tail, valid while the file's length is unchanged (a reopened handle drops it).
struct Cached {
    len: u64,
    last: Option<TailEntry>,
}

struct Writer {
    file: Option<File>,
    cached: Option<Cached>,
    poisoned: bool,
    /// The tree's right edge and sidecars, checked against the log whenever `cached` is
    /// rebuilt.
    tree: TreeSlot,
    /// `receipts.index`, in step with the log whenever `cached` is; `None` to be checked
    /// against the log at the next refresh (or not kept).
    index: Option<IndexState>,
    /// The cross-process lock, while this handle holds it: during an append, and with
    /// [`Durability::Fsync`] from the first line of a group until the fsync that makes the
    /// group's last line durable, so no other process writes after lines that may yet be
    /// taken back.
    process_lock: Option<ProcessLock>,
    /// Group commit (see [`Log::append`]).
    group: Group,
    /// Sidecar entries of lines already in the log, written in batches.
    unwritten: Unwritten,
}

/// How many lines' sidecar entries wait in memory before they are written together.
///
/// One small `write` to each of `receipts.leaves` and `receipts.index` per append cost
/// about as much as the log line's own `write`. The sidecars are derived from the log and
/// mended from it whenever its tail is read afresh (by this handle after another appended,
/// by any handle when it opens the log), so entries not yet written cost nothing but that
/// mend, at most this many lines, after a crash.
/// (2 in this crate's tests, so that a short workload writes batches in the middle of its
/// appends too.)
const SIDECAR_BATCH: u64 = if cfg!(test) { 2 } else { 64 };

/// Sidecar entries computed but not yet written: the bytes each sidecar lacks at its end.
#[derive(Default)]
struct Unwritten {
    leaves: Vec<u8>,
    nodes: Vec<u8>,
    index: Vec<u8>,
    /// The lines they are of.
    lines: u64,
}

/// The lines written but not yet known durable, shared by one fsync.
///
/// Every line written gets a ticket (1, 2, …); `durable` is the highest ticket an fsync
/// has covered. A caller returns once `durable` reaches its ticket; the first caller to
/// find no fsync in flight starts one (the leader), covering every line written before
/// it started, while later callers write theirs and wait for the next.
#[derive(Default)]
struct Group {
    written: u64,
    durable: u64,
    /// The highest ticket whose fate is known: durable, or failed.
    settled: u64,
    /// An fsync is in flight (its leader released the mutex to make it).
    syncing: bool,
    /// The sizes of the log and its sidecars at the last durable line: what a failed
    /// fsync rolls back to. `None` while no line is pending.
    base: Option<Marks>,
    /// The sizes after the newest line written.
    head: Marks,
    /// A handle on the log for the leader's fsync, made when a group starts (the writer's
    /// own may be dropped meanwhile by a failed rollback of another line).
    sync_file: Option<File>,
    /// Every failed fsync so far, oldest first (one a failure: a handle whose fsync fails
    /// is usually poisoned soon after). A caller that wrote while `failures` had `n`
    /// entries learns its fate from entry `n` once it exists: the next failure either
    /// found its line durable already or took it back off.
    failures: Vec<SyncFailure>,
}

/// A written line's place in the group.
#[derive(Clone, Copy)]
struct Ticket {
    number: u64,
    /// How many fsyncs had failed when it was written.
    failures_before: usize,
}

/// Sizes of the log and its sidecars at one line.
#[derive(Clone, Copy, Default)]
struct Marks {
    log: u64,
    /// Leaves in the tree, when it is kept.
    leaves: Option<u64>,
    /// Records in the index, when it is kept.
    index: Option<u64>,
}

struct SyncFailure {
    /// `durable` when it failed: tickets up to this were acknowledged before.
    from: u64,
    kind: std::io::ErrorKind,
    raw: Option<i32>,
    message: String,
}

impl SyncFailure {
    fn error(&self) -> std::io::Error {
        match self.raw {
            Some(raw) => std::io::Error::from_raw_os_error(raw),
            None => std::io::Error::new(self.kind, self.message.clone()),
        }
    }
}

/// Called after an append that brings the tree to a multiple of its interval.
type TreeHook = Box<dyn Fn(&TreeHead) + Send + Sync>;

/// An open log. Share it across threads (`&Log` appends are serialised).
pub struct Log {
    dir: PathBuf,
    path: PathBuf,
    lock_path: PathBuf,
    /// `receipts.lock`, open once per process for the handle's life.
    lock_file: LockFile,
    session_id: String,
    durability: Durability,
    writer: Mutex<Writer>,
    /// Signalled when an fsync of a group finishes, well or not.
    synced: Condvar,
    ops: Box<dyn FileOps>,
    tree_paths: TreePaths,
    /// `receipts.index`, kept when the tree is.
    index_path: Option<PathBuf>,
    hook: Option<(u64, TreeHook)>,
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
struct ProcessLock(Arc<File>);

impl Drop for ProcessLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// Lets other processes append once this handle has no line waiting for its fsync.
fn release_if_idle(writer: &mut Writer) {
    if writer.group.written == writer.group.settled && !writer.group.syncing {
        writer.process_lock = None;
        writer.group.sync_file = None;
        writer.group.base = None;
    }
}

/// `receipts.lock`, opened once per handle and process: opening and closing it around
/// every append cost more than the append's own write (a path walk and a file object each
/// time). A `flock` belongs to the open file, which a forked child shares with its parent,
/// so a child opens its own (it would otherwise take the lock its parent holds).
struct LockFile {
    path: PathBuf,
    /// The process that opened it, and the file.
    opened: Mutex<(u32, Arc<File>)>,
}

impl LockFile {
    fn open(path: PathBuf) -> std::io::Result<Self> {
        let file = Self::open_file(&path)?;
        Ok(Self {
            path,
            opened: Mutex::new((std::process::id(), file)),
        })
    }

    fn open_file(path: &Path) -> std::io::Result<Arc<File>> {
        open_no_follow(
            path,
            OpenOptions::new().create(true).truncate(false).write(true),
        )
        .map(Arc::new)
    }

    /// This process's open of the lock file.
    fn file(&self) -> std::io::Result<Arc<File>> {
        let mut opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
        let pid = std::process::id();
        if opened.0 != pid {
            *opened = (pid, Self::open_file(&self.path)?);
        }
        Ok(Arc::clone(&opened.1))
    }
}

/// Takes the cross-process lock (`flock` on the handle's own open file, so two handles,
/// in one process or two, exclude each other).
fn lock(lock_file: &LockFile) -> std::io::Result<ProcessLock> {
    let file = lock_file.file()?;
    file.lock()?;
    Ok(ProcessLock(file))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads the store's session id, creating it once (atomically: a temp file hard-linked
/// into place, so two racing creators agree on one id).
fn read_session_file(path: &Path) -> Result<Option<String>, OpenError> {
    match read_no_follow(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let id = text.trim().to_owned();
            let ok = !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic());
            if ok {
                Ok(Some(id))
            } else {
                Err(OpenError::BadSession(path.to_path_buf()))
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(open_io("cannot read", path)(e)),
    }
}

/// The session id of the log in `dir` (its log id), without opening or creating anything:
/// `None` when the log has no session file yet.
pub fn read_session(dir: &Path) -> Result<Option<String>, OpenError> {
    read_session_file(&dir.join(SESSION_FILE))
}

fn session_id(dir: &Path, ops: &dyn FileOps) -> Result<String, OpenError> {
    let path = dir.join(SESSION_FILE);
    let read = read_session_file;
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

/// Adds `leaf` to the tree's right edge, and its sidecar entries (the leaf hash, and a
/// completed block's root) to those waiting to be written.
fn grow(
    range: &mut heso_tlog::CompactRange,
    leaf: heso_tlog::Hash,
    unwritten: &mut Unwritten,
) -> std::io::Result<()> {
    let mut grown = range.clone();
    let mut block = None;
    grown
        .append_with(leaf, |subtree, hash| {
            if subtree.level() == BLOCK_LEVEL {
                block = Some(*hash);
            }
        })
        .map_err(std::io::Error::other)?;
    unwritten.leaves.extend_from_slice(leaf.as_bytes());
    if let Some(block) = block {
        unwritten.nodes.extend_from_slice(block.as_bytes());
    }
    *range = grown;
    Ok(())
}

/// Writes the sidecar entries still in memory, best effort: what is not written is mended
/// from the log by the next handle that opens it.
impl Drop for Log {
    fn drop(&mut self) {
        let mut guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let writer: &mut Writer = &mut guard;
        if writer.unwritten.lines == 0 || writer.poisoned {
            return;
        }
        let _held = match writer.process_lock {
            Some(_) => None,
            None => match lock(&self.lock_file) {
                Ok(held) => Some(held),
                Err(_) => return,
            },
        };
        if self.refresh::<Infallible>(writer).is_ok() {
            let _ = self.write_sidecars(writer);
        }
    }
}

/// Cuts a sidecar back to `len` bytes, best effort, if it is longer: entries of lines taken
/// back may not have been written yet, and a shorter file must not be padded.
fn shrink_to(ops: &dyn FileOps, file: &File, len: u64) {
    if file.metadata().is_ok_and(|meta| meta.len() > len) {
        let _ = ops.set_len(file, len);
    }
}

/// Brings a sidecar that should end at `end` up to it, given `missing`, the bytes just
/// before `end`: writes the part of them the file lacks (all of it, unless another handle
/// mended some from the log). False, writing nothing, when the file is shorter than where
/// `missing` starts or longer than `end`: it is then not what this handle expects.
fn write_missing(
    ops: &dyn FileOps,
    file: &mut File,
    end: u64,
    missing: &[u8],
) -> std::io::Result<bool> {
    if missing.is_empty() {
        return Ok(true);
    }
    let start = end.saturating_sub(missing.len() as u64);
    let len = file.metadata()?.len();
    if len < start || len > end {
        return Ok(false);
    }
    let have = usize::try_from(len - start).unwrap_or(usize::MAX);
    write_all(ops, file, missing.get(have..).unwrap_or_default())?;
    Ok(true)
}

impl Log {
    /// Opens (creating if needed) the log in `dir`, repairing a torn tail if it finds one.
    ///
    /// The log's tree sidecars (`receipts.leaves`, `receipts.nodes`) are checked against
    /// the log and mended or rebuilt from it here too (see the crate docs).
    pub fn open(dir: &Path, options: LogOptions) -> Result<(Log, Option<TornRepair>), OpenError> {
        Self::open_with(dir, options, Box::new(RealOps))
    }

    /// The append bench's baseline only: a handle that keeps no tree and writes no
    /// sidecar. Appends through it leave the sidecars short, and the next handle that
    /// keeps the tree mends them from the log when it opens.
    #[doc(hidden)]
    pub fn open_without_tree(
        dir: &Path,
        options: LogOptions,
    ) -> Result<(Log, Option<TornRepair>), OpenError> {
        Self::open_inner(dir, options, Box::new(RealOps), false)
    }

    /// [`Log::open`] with the system calls given: the crate's tests pass failing ones.
    pub(crate) fn open_with(
        dir: &Path,
        options: LogOptions,
        ops: Box<dyn FileOps>,
    ) -> Result<(Log, Option<TornRepair>), OpenError> {
        Self::open_inner(dir, options, ops, true)
    }

    fn open_inner(
        dir: &Path,
        options: LogOptions,
        ops: Box<dyn FileOps>,
        keep_tree: bool,
    ) -> Result<(Log, Option<TornRepair>), OpenError> {
        create_private_dir(dir).map_err(open_io("cannot create", dir))?;
        let session_id = session_id(dir, ops.as_ref())?;
        let lock_path = dir.join(LOCK_FILE);
        let lock_file =
            LockFile::open(lock_path.clone()).map_err(open_io("cannot open", &lock_path))?;
        let log = Log {
            dir: dir.to_path_buf(),
            path: dir.join(LOG_FILE),
            lock_path,
            lock_file,
            session_id,
            durability: options.durability,
            writer: Mutex::new(Writer {
                file: None,
                cached: None,
                poisoned: false,
                tree: if keep_tree {
                    TreeSlot::Stale
                } else {
                    TreeSlot::Off
                },
                index: None,
                process_lock: None,
                group: Group::default(),
                unwritten: Unwritten::default(),
            }),
            synced: Condvar::new(),
            ops,
            tree_paths: TreePaths {
                log: dir.join(LOG_FILE),
                leaves: dir.join(LEAVES_FILE),
                nodes: dir.join(NODES_FILE),
            },
            index_path: keep_tree.then(|| dir.join(INDEX_FILE)),
            hook: None,
        };
        let _guard = lock(&log.lock_file).map_err(open_io("cannot lock", &log.lock_path))?;
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
            // A new handle may be on another file: what was cached is not about it.
            writer.cached = None;
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
        // The length by a seek, not a stat: measured on ext4 (kernel 6.18), a stat before
        // each write doubled the write's cost, likely because a stat that asks for the
        // file's times makes the kernel stamp the next write with a fine-grained time,
        // which dirties the inode each time.
        let len = file
            .seek(SeekFrom::End(0))
            .map_err(append_io("cannot seek", &self.path))?;
        if writer.cached.as_ref().is_some_and(|c| c.len == len) {
            return Ok(None);
        }
        // The sidecars are brought in step with the log below, from the log: entries not
        // yet written are written there, or are of lines taken back.
        writer.unwritten = Unwritten::default();
        let found =
            scan(file, len, &self.session_id).map_err(append_io("cannot read", &self.path))?;
        let repaired = if found.torn.is_empty() {
            None
        } else {
            Some(self.move_torn_aside(file, found.good_len, &found.torn)?)
        };
        if !matches!(writer.tree, TreeSlot::Off) {
            writer.tree = match tree::sync(
                &self.tree_paths,
                file,
                found.good_len,
                &self.session_id,
                found.last.as_ref(),
                self.ops.as_ref(),
            ) {
                Ok(state) => TreeSlot::Ready(state),
                Err(SyncError::Damaged { line, detail }) => TreeSlot::Damaged { line, detail },
                Err(SyncError::Io {
                    action,
                    path,
                    source,
                }) => {
                    writer.tree = TreeSlot::Stale;
                    writer.cached = None;
                    return Err(AppendError::Io {
                        action,
                        path,
                        source,
                    });
                }
            };
        }
        if let Some(index_path) = &self.index_path {
            match index::sync(index_path, file, found.good_len, self.ops.as_ref()) {
                Ok(state) => writer.index = Some(state),
                Err((action, source)) => {
                    writer.index = None;
                    writer.cached = None;
                    return Err(AppendError::Io {
                        action,
                        path: index_path.clone(),
                        source,
                    });
                }
            }
        }
        writer.cached = Some(Cached {
            len: found.good_len,
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
    /// one `O_APPEND` write, its leaf hash (and, every 256 receipts, a block root) is
    /// added to the tree's sidecars, and with [`Durability::Fsync`] the log is synced
    /// before this returns.
    ///
    /// Group commit: with [`Durability::Fsync`], the fsync runs after the mutex is
    /// released, so other threads' appends write their lines meanwhile; the first of them
    /// to find no fsync in flight starts the next one, covering all the lines written
    /// before it started, and the others wait for it. Each caller returns only once an
    /// fsync that started after its line was written has succeeded. The cross-process
    /// lock is held from a group's first line until its last one is durable.
    ///
    /// A write or fsync error, of the log or of a sidecar, reaches the caller and the
    /// unacknowledged line is taken back off the log (truncated to its length before). A
    /// failed fsync fails every append waiting on it, and all their lines are taken back
    /// off (the log is truncated to its last durable line). An
    /// fsync is never retried and assumed to have worked: when the rollback after a failed
    /// fsync fails too, the handle refuses further appends ([`AppendError::Poisoned`])
    /// until the log is reopened.
    ///
    /// When the append brings the tree to a multiple of the interval given to
    /// [`set_tree_hook`](Self::set_tree_hook), the hook runs after the lock is released.
    ///
    /// The line is parsed back to check its position and link; a caller holding a typed
    /// receipt uses [`append_receipt`](Self::append_receipt), which skips that parse.
    pub fn append<F, E>(&self, build: F) -> Result<Appended, AppendError<E>>
    where
        F: FnOnce(&ChainPosition) -> Result<String, E>,
        E: fmt::Display,
    {
        self.append_built(|position| {
            let line = build(position).map_err(AppendError::Build)?;
            let entry = check_line(&line, position)?;
            Ok(Built { line, entry })
        })
    }

    /// Appends one receipt, as [`append`](Self::append) does, from the typed receipt
    /// `build` returns for the next chain position: its position and link are checked on
    /// the typed fields and it is serialised once, here, into its line. The receipt comes
    /// back with where it went, so the caller keeps what it signed without a copy.
    pub fn append_receipt<F, E>(&self, build: F) -> Result<(Appended, Receipt), AppendError<E>>
    where
        F: FnOnce(&ChainPosition) -> Result<Receipt, E>,
        E: fmt::Display,
    {
        let mut kept = None;
        let appended = self.append_built(|position| {
            let receipt = build(position).map_err(AppendError::Build)?;
            let entry = check_receipt(&receipt, position)?;
            let line = receipt.to_json().map_err(|e| {
                AppendError::BadLine(format!("the receipt cannot be serialised: {e}"))
            })?;
            kept = Some(receipt);
            Ok(Built { line, entry })
        })?;
        // `append_built` runs the builder exactly once before anything is written.
        let receipt = kept.ok_or_else(|| {
            AppendError::BadLine("the log appended without building the receipt".to_owned())
        })?;
        Ok((appended, receipt))
    }

    fn append_built<F, E>(&self, build: F) -> Result<Appended, AppendError<E>>
    where
        F: FnOnce(&ChainPosition) -> Result<Built, AppendError<E>>,
        E: fmt::Display,
    {
        let (appended, due) = self.append_locked(build)?;
        if let (Some(head), Some((_, hook))) = (due, &self.hook) {
            hook(&head);
        }
        Ok(appended)
    }

    fn append_locked<F, E>(&self, build: F) -> Result<(Appended, Option<TreeHead>), AppendError<E>>
    where
        F: FnOnce(&ChainPosition) -> Result<Built, AppendError<E>>,
        E: fmt::Display,
    {
        let mut guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let written = self.write_line(&mut guard, build);
        let (appended, due, ticket) = match written {
            Ok(done) => done,
            Err(e) => {
                release_if_idle(&mut guard);
                return Err(e);
            }
        };
        if self.durability == Durability::Os {
            guard.group.durable = ticket.number;
            guard.group.settled = ticket.number;
            release_if_idle(&mut guard);
            return Ok((appended, due));
        }
        self.wait_durable(guard, ticket)
            .map_err(append_io("cannot fsync", &self.path))?;
        Ok((appended, due))
    }

    /// Writes one line (and its sidecar entries) under both locks and returns its ticket;
    /// the cross-process lock stays held (see [`Writer::process_lock`]).
    fn write_line<F, E>(
        &self,
        writer: &mut Writer,
        build: F,
    ) -> Result<(Appended, Option<TreeHead>, Ticket), AppendError<E>>
    where
        F: FnOnce(&ChainPosition) -> Result<Built, AppendError<E>>,
        E: fmt::Display,
    {
        if writer.poisoned {
            return Err(AppendError::Poisoned(self.path.clone()));
        }
        if writer.process_lock.is_none() {
            writer.process_lock =
                Some(lock(&self.lock_file).map_err(append_io("cannot lock", &self.lock_path))?);
        }
        let mut repaired = self.refresh(writer)?;
        if writer.unwritten.lines >= SIDECAR_BATCH {
            self.write_sidecars(writer)
                .map_err(|(path, e)| append_io("cannot write", &path)(e))?;
            if writer.cached.is_none() {
                // A sidecar was not where this handle expected: mended from the log now,
                // before the next position is read from the tail.
                repaired = repaired.or(self.refresh(writer)?);
            }
        }
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
        let Built { line, entry } = build(&position)?;
        let leaf = match writer.tree {
            TreeSlot::Off => None,
            _ => Some(tree::leaf_of(&entry.action_hash).map_err(|e| {
                AppendError::BadLine(format!(
                    "the receipt cannot be a leaf of the log's tree: {e}"
                ))
            })?),
        };

        let mut bytes = line.into_bytes();
        bytes.push(b'\n');
        let Some(before) = writer.cached.as_ref().map(|c| c.len) else {
            return Err(AppendError::Poisoned(self.path.clone()));
        };
        let Some(file) = writer.file.as_mut() else {
            return Err(AppendError::Poisoned(self.path.clone()));
        };
        let fsync = self.durability == Durability::Fsync;
        if fsync && writer.group.sync_file.is_none() {
            writer.group.sync_file = Some(
                file.try_clone()
                    .map_err(append_io("cannot duplicate the handle of", &self.path))?,
            );
        }
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
        let leaves_before = match &writer.tree {
            TreeSlot::Ready(state) => Some(state.range.size()),
            _ => None,
        };
        let index_before = writer.index.as_ref().map(|i| i.records);
        let mut due = None;
        let mut sidecars_kept = false;
        if let (TreeSlot::Ready(state), Some(leaf)) = (&mut writer.tree, leaf) {
            match grow(&mut state.range, leaf, &mut writer.unwritten) {
                Ok(()) => {
                    sidecars_kept = true;
                    if let Some((every, _)) = &self.hook
                        && state.range.size().is_multiple_of(*every)
                    {
                        due = Some(TreeHead {
                            size: state.range.size(),
                            root: state.range.root(),
                        });
                    }
                }
                Err(e) => {
                    // The line was never acknowledged: take it back off, as for a failed
                    // write. The sidecars are checked against the log at the next append.
                    if self.roll_back(ops, file, before).is_err() {
                        writer.file = None;
                    }
                    writer.cached = None;
                    writer.tree = TreeSlot::Stale;
                    writer.index = None;
                    return Err(append_io(
                        "cannot grow the tree of",
                        &self.tree_paths.leaves,
                    )(e));
                }
            }
        }
        if let Some(state) = writer.index.as_mut() {
            let line = state.lines + 1;
            if let Some(hash) = index::hash_bytes(&entry.action_hash) {
                let record = Record {
                    hash,
                    offset: before,
                    line,
                };
                writer.unwritten.index.extend_from_slice(&record.to_bytes());
                state.records += 1;
            }
            state.lines = line;
            sidecars_kept = true;
        }
        if sidecars_kept {
            writer.unwritten.lines += 1;
        }
        let after = before + bytes.len() as u64;
        if let Some(cached) = writer.cached.as_mut() {
            cached.len = after;
            cached.last = Some(entry.clone());
        }
        let group = &mut writer.group;
        if fsync && group.base.is_none() {
            group.base = Some(Marks {
                log: before,
                leaves: leaves_before,
                index: index_before,
            });
        }
        group.head = Marks {
            log: after,
            leaves: match &writer.tree {
                TreeSlot::Ready(state) => Some(state.range.size()),
                _ => None,
            },
            index: writer.index.as_ref().map(|i| i.records),
        };
        group.written += 1;
        Ok((
            Appended {
                seq: entry.seq,
                action_hash: entry.action_hash,
                repaired,
            },
            due,
            Ticket {
                number: group.written,
                failures_before: group.failures.len(),
            },
        ))
    }

    /// Returns once the line of `ticket` is durable, leading an fsync when none is in
    /// flight; the error of the fsync that failed to cover it otherwise.
    fn wait_durable<'a>(
        &'a self,
        mut guard: MutexGuard<'a, Writer>,
        ticket: Ticket,
    ) -> std::io::Result<()> {
        loop {
            let group = &guard.group;
            if let Some(failed) = group.failures.get(ticket.failures_before) {
                return if ticket.number <= failed.from {
                    Ok(())
                } else {
                    Err(failed.error())
                };
            }
            if group.durable >= ticket.number {
                return Ok(());
            }
            if group.syncing {
                guard = self.synced.wait(guard).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            // Lead: fsync everything written so far, without the mutex, so the lines of
            // other threads are written meanwhile (they share the next fsync).
            let target = guard.group.written;
            let marks = guard.group.head;
            let Some(file) = guard.group.sync_file.take() else {
                return Err(std::io::Error::other(
                    "no handle to fsync the log with (a bug in heso-chain)",
                ));
            };
            guard.group.syncing = true;
            drop(guard);
            let result = self.ops.sync_data(&file);
            guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
            self.finish_sync(&mut guard, target, marks, file, result);
            self.synced.notify_all();
        }
    }

    /// Makes every line written so far durable before returning (the tree is read only at
    /// durable lines), fsyncing under the mutex if needed so that this cannot starve.
    fn flush<'a>(&'a self, mut guard: MutexGuard<'a, Writer>) -> MutexGuard<'a, Writer> {
        while guard.group.written > guard.group.settled {
            if guard.group.syncing {
                guard = self.synced.wait(guard).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            let target = guard.group.written;
            let marks = guard.group.head;
            let Some(file) = guard.group.sync_file.take() else {
                break;
            };
            let result = self.ops.sync_data(&file);
            self.finish_sync(&mut guard, target, marks, file, result);
            self.synced.notify_all();
        }
        guard
    }

    /// Records the end of an fsync that covered the lines up to ticket `target` (whose
    /// sizes are `marks`). After a failure, every line not durable is taken back off the
    /// log and its sidecars, and every caller waiting on one gets the error.
    fn finish_sync(
        &self,
        writer: &mut Writer,
        target: u64,
        marks: Marks,
        file: File,
        result: std::io::Result<()>,
    ) {
        writer.group.syncing = false;
        match result {
            Ok(()) => {
                writer.group.durable = target;
                writer.group.settled = target;
                if writer.group.written == target {
                    writer.group.base = None;
                    release_if_idle(writer);
                } else {
                    writer.group.base = Some(marks);
                    writer.group.sync_file = Some(file);
                }
            }
            Err(e) => {
                // No line written since the last durable one was acknowledged, and a
                // failed fsync may have dropped their pages: none may stay. If they
                // cannot be taken off durably, what the disk holds is unknown: refuse
                // further appends on this handle rather than chain onto a line that may
                // not exist after a crash.
                let base = writer.group.base.take().unwrap_or_default();
                if self.roll_back(self.ops.as_ref(), &file, base.log).is_err() {
                    writer.poisoned = true;
                    writer.file = None;
                }
                writer.cached = None;
                // The sidecars hold the leaves of the lines taken back: trimmed now, so
                // another handle whose view of the log is unchanged appends after the
                // right entry, and checked again at this handle's next append.
                self.trim_sidecars(self.ops.as_ref(), &writer.tree, base.leaves);
                if let (Some(state), Some(records)) = (&writer.index, base.index) {
                    shrink_to(
                        self.ops.as_ref(),
                        &state.file,
                        records.saturating_mul(index::RECORD),
                    );
                }
                writer.unwritten = Unwritten::default();
                writer.index = None;
                if !matches!(writer.tree, TreeSlot::Off) {
                    writer.tree = TreeSlot::Stale;
                }
                writer.group.failures.push(SyncFailure {
                    from: writer.group.durable,
                    kind: e.kind(),
                    raw: e.raw_os_error(),
                    message: e.to_string(),
                });
                writer.group.settled = writer.group.written;
                writer.group.sync_file = None;
                writer.process_lock = None;
            }
        }
    }

    /// After a failed append, cuts the sidecars back to `leaves` leaves (by default the
    /// tree the writer still holds: the leaf, or block root, of the line taken back), best
    /// effort: what it cannot cut is found and mended by the next check against the log.
    fn trim_sidecars(&self, ops: &dyn FileOps, tree: &TreeSlot, leaves: Option<u64>) {
        if let TreeSlot::Ready(state) = tree {
            let size = leaves.unwrap_or_else(|| state.range.size());
            shrink_to(ops, &state.leaves, size.saturating_mul(32));
            shrink_to(ops, &state.nodes, (size >> BLOCK_LEVEL).saturating_mul(32));
        }
    }

    /// Writes the sidecar entries waiting in memory, under the lock, after
    /// [`refresh`](Self::refresh) (so the log is as this handle last saw it). Another
    /// handle may have mended some or all of them from the log meanwhile (when it opened
    /// the log): only what each sidecar still lacks is written. A sidecar that is not where
    /// this handle expects is left to be mended from the log at the next refresh. On a
    /// failed write, the sidecar and the error; the sidecars are then checked against the
    /// log at the next append.
    fn write_sidecars(&self, writer: &mut Writer) -> Result<(), (PathBuf, std::io::Error)> {
        let unwritten = std::mem::take(&mut writer.unwritten);
        if unwritten.lines == 0 {
            return Ok(());
        }
        let ops = self.ops.as_ref();
        let mut expected = true;
        let mut result = Ok(());
        if let TreeSlot::Ready(state) = &mut writer.tree {
            let leaves_end = state.range.size().saturating_mul(32);
            let nodes_end = (state.range.size() >> BLOCK_LEVEL).saturating_mul(32);
            result = write_missing(ops, &mut state.leaves, leaves_end, &unwritten.leaves)
                .map_err(|e| (self.tree_paths.leaves.clone(), e))
                .and_then(|kept| {
                    expected &= kept;
                    write_missing(ops, &mut state.nodes, nodes_end, &unwritten.nodes)
                        .map_err(|e| (self.tree_paths.nodes.clone(), e))
                })
                .map(|kept| expected &= kept);
        }
        if let (Ok(()), Some(state), Some(path)) =
            (&result, writer.index.as_mut(), &self.index_path)
        {
            let end = state.records.saturating_mul(index::RECORD);
            result = write_missing(ops, &mut state.file, end, &unwritten.index)
                .map_err(|e| (path.clone(), e))
                .map(|kept| expected &= kept);
        }
        if result.is_err() || !expected {
            // Mended (torn entry cut, missing ones added) from the log at the next refresh.
            writer.cached = None;
            if !matches!(writer.tree, TreeSlot::Off) {
                writer.tree = TreeSlot::Stale;
            }
            writer.index = None;
        }
        result
    }

    /// Runs `hook` on the appending thread, after the lock is released, whenever an append
    /// of this handle brings the tree to a multiple of `every` receipts (the engine signs a
    /// checkpoint every 1,000). The check costs one division per append.
    pub fn set_tree_hook(
        &mut self,
        every: NonZeroU64,
        hook: impl Fn(&TreeHead) + Send + Sync + 'static,
    ) {
        self.hook = Some((every.get(), Box::new(hook)));
    }

    /// The log's tree now: the number of receipts of this log's session and their root
    /// (RFC 6962), brought up to date under the lock (another process may have appended).
    /// O(log n): the tree's right edge is kept with the tail.
    pub fn tree_head(&self) -> Result<TreeHead, TreeError> {
        self.with_tree(|state, _| {
            Ok(TreeHead {
                size: state.range.size(),
                root: state.range.root(),
            })
        })
    }

    /// A checkpoint body (unsigned) of the whole log as it is now, for `origin` (see
    /// [`heso_tlog::origin`]): the caller signs it with the operator key.
    pub fn checkpoint(&self, origin: &str) -> Result<heso_tlog::Checkpoint, TreeError> {
        let head = self.tree_head()?;
        Ok(heso_tlog::Checkpoint::new(origin, head.size, head.root)?)
    }

    /// The tree head now, with a [`LeafSource`] over the sidecars to make inclusion and
    /// consistency proofs for any tree up to that size.
    pub fn tree_snapshot(&self) -> Result<(TreeHead, LeafSource), TreeError> {
        self.with_tree(|state, paths| {
            let source = LeafSource::new(state, paths).map_err(|source| TreeError::Io {
                action: "cannot reopen",
                path: paths.leaves.clone(),
                source,
            })?;
            Ok((
                TreeHead {
                    size: state.range.size(),
                    root: state.range.root(),
                },
                source,
            ))
        })
    }

    fn with_tree<T>(
        &self,
        f: impl FnOnce(&TreeState, &TreePaths) -> Result<T, TreeError>,
    ) -> Result<T, TreeError> {
        let guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        // Lines of this process still waiting for their fsync are not in the tree yet.
        let mut guard = self.flush(guard);
        let writer: &mut Writer = &mut guard;
        if writer.poisoned {
            return Err(TreeError::Poisoned(self.path.clone()));
        }
        // The lock may still be held for a group of this handle (the flock is the same
        // open file's, so taking it again would not wait, and dropping it would let go).
        let _guard = match writer.process_lock {
            Some(_) => None,
            None => Some(lock(&self.lock_file).map_err(|source| TreeError::Io {
                action: "cannot lock",
                path: self.lock_path.clone(),
                source,
            })?),
        };
        let refresh = |writer: &mut Writer| {
            self.refresh::<Infallible>(writer).map_err(|e| match e {
                AppendError::Io {
                    action,
                    path,
                    source,
                } => TreeError::Io {
                    action,
                    path,
                    source,
                },
                AppendError::Poisoned(path) => TreeError::Poisoned(path),
                other => TreeError::Io {
                    action: "cannot read",
                    path: self.path.clone(),
                    source: std::io::Error::other(other.to_string()),
                },
            })
        };
        refresh(writer)?;
        // Proofs read the sidecars: every entry of the log's lines must be in them.
        self.write_sidecars(writer)
            .map_err(|(path, source)| TreeError::Io {
                action: "cannot write",
                path,
                source,
            })?;
        if writer.cached.is_none() {
            // A sidecar was not where this handle expected: mended from the log now.
            refresh(writer)?;
        }
        match &writer.tree {
            TreeSlot::Ready(state) => f(state, &self.tree_paths),
            TreeSlot::Off => Err(TreeError::Disabled),
            TreeSlot::Damaged { line, detail } => Err(TreeError::Damaged {
                log: self.path.clone(),
                line: *line,
                detail: detail.clone(),
            }),
            TreeSlot::Stale => Err(TreeError::Io {
                action: "cannot bring the tree up to date with",
                path: self.path.clone(),
                source: std::io::Error::other("the sidecars were not checked"),
            }),
        }
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
/// A receipt's line, and the chain fields read from it.
struct Built {
    line: String,
    entry: TailEntry,
}

/// The chain fields of a typed receipt, which must be at `position`.
fn check_receipt<E: fmt::Display>(
    receipt: &Receipt,
    position: &ChainPosition,
) -> Result<TailEntry, AppendError<E>> {
    let content = &receipt.content;
    let (Some(session_id), Some(seq)) = (&content.session_id, content.seq) else {
        return Err(AppendError::BadLine(
            "the receipt has no session_id and seq".into(),
        ));
    };
    check_position(
        TailEntry {
            session_id: session_id.clone(),
            seq,
            action_hash: content.action_hash.clone(),
            prev_receipt_hash: content.prev_receipt_hash.clone(),
        },
        position,
    )
}

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
    check_position(entry, position)
}

/// `entry` must sit at `position`: same session and seq, same link to its predecessor.
fn check_position<E: fmt::Display>(
    entry: TailEntry,
    position: &ChainPosition,
) -> Result<TailEntry, AppendError<E>> {
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
