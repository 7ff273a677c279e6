//! The log as an RFC 6962 Merkle tree (heso-tlog): its right edge, kept with the tail
//! state, and the two sidecar files proofs read.
//!
//! - `receipts.leaves`: the **leaf hash** of every receipt of the log's session, in log
//!   order (= seq order), 32 bytes each: SHA-256(`0x00` ‖ the 32 raw `action_hash` bytes),
//!   what proofs hash from. Leaf `i` is the receipt of seq `i`.
//! - `receipts.nodes`: the root of every complete block of 256 leaves (the tree's level-8
//!   nodes), 32 bytes each, so that a subtree root, hence a proof or the compact range of a
//!   reopened log, costs O(log n) reads and at most ~255 + n/256 hashes instead of n.
//!
//! Both are derived data: written under the log's lock after the receipt's line and before
//! its fsync (never fsynced themselves), and checked against the log whenever the tail is
//! read afresh (on open, and after another process appended): the leaf count must be the
//! log's receipt count (last seq + 1), the last leaves must be those of the last receipts,
//! and the last block root must be that of its leaves. A torn, short, long or missing
//! sidecar is mended from the log's tail; one that disagrees with the log is rebuilt from
//! the whole log. Nothing here is ever trusted over the log, and verifying a log against a
//! checkpoint ([`tree_of_log`]) reads the log alone.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read as _, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use heso_tlog::{
    CompactRange, HASH_SIZE, Hash, LeafHashes, Subtree, leaf_hash, leaf_hash_from_hex,
    root_of_leaves,
};

use crate::fileops::{FileOps, write_all};
use crate::tail::{TailEntry, entry_of, last_entries};

/// The sidecar of leaf hashes, next to the log.
pub const LEAVES_FILE: &str = "receipts.leaves";
/// The sidecar of block roots (level-8 nodes), next to the log.
pub const NODES_FILE: &str = "receipts.nodes";

/// The level of the nodes `receipts.nodes` keeps: blocks of 2^8 = 256 leaves.
pub(crate) const BLOCK_LEVEL: u8 = 8;
const BLOCK_LEAVES: u64 = 1 << BLOCK_LEVEL;
const ENTRY: u64 = HASH_SIZE as u64;
/// Receipts at the log's end whose leaves are compared with the sidecar's on every check.
const CHECKED: u64 = 4;
/// A sidecar missing more leaves than this is rebuilt from the whole log rather than
/// mended from its tail.
const MAX_TAIL_REPAIR: u64 = 1024;

/// The log's tree at one moment: how many receipts, and their root hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeHead {
    /// The number of receipts (leaves).
    pub size: u64,
    /// The RFC 6962 root of their leaf hashes.
    pub root: Hash,
}

/// Why the log's tree could not be given.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TreeError {
    /// A sidecar (or the log) could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The log's own receipts do not form a tree: a line that is not a receipt, or a seq
    /// missing, repeated or out of order.
    #[error(
        "{} line {line}: {detail}; the log's tree cannot be built from it (run `heso log verify`)",
        log.display()
    )]
    Damaged {
        /// The log.
        log: PathBuf,
        /// The 1-based line.
        line: u64,
        /// What is wrong there.
        detail: String,
    },
    /// The origin given for a checkpoint is not valid.
    #[error("{0}")]
    Origin(#[from] heso_tlog::OriginError),
    /// An fsync of the log failed earlier and could not be rolled back.
    #[error(
        "an fsync of {0} failed earlier and the log could not be rolled back; reopen the log (restart the process)"
    )]
    Poisoned(PathBuf),
    /// This handle was opened without the tree ([`crate::Log::open_without_tree`]).
    #[error("this log handle keeps no tree")]
    Disabled,
}

/// A leaf hash or block root that could not be read from a sidecar.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {what} {index} from {}: {source}", path.display())]
pub struct LeafReadError {
    what: &'static str,
    index: u64,
    path: PathBuf,
    #[source]
    source: io::Error,
}

/// What the writer knows of the tree.
pub(crate) enum TreeSlot {
    /// Not kept (the bench's baseline).
    Off,
    /// To be checked against the log at the next refresh.
    Stale,
    /// In step with the log.
    Ready(TreeState),
    /// The log's receipts do not form a tree; appends go on without it.
    Damaged { line: u64, detail: String },
}

/// The tree's right edge and the open sidecars, in step with the log's tail.
pub(crate) struct TreeState {
    pub(crate) range: CompactRange,
    pub(crate) leaves: File,
    pub(crate) nodes: File,
}

/// Where the sidecars are.
pub(crate) struct TreePaths {
    pub(crate) log: PathBuf,
    pub(crate) leaves: PathBuf,
    pub(crate) nodes: PathBuf,
}

/// Why a check of the sidecars against the log stopped.
pub(crate) enum SyncError {
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    Damaged {
        line: u64,
        detail: String,
    },
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> SyncError {
    let path = path.to_path_buf();
    move |source| SyncError::Io {
        action,
        path,
        source,
    }
}

fn open_sidecar(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).read(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    heso_fs::open_no_follow(path, &mut options)
}

fn read_at(file: &File, offset: u64, buf: &mut [u8]) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }
    #[cfg(not(unix))]
    {
        let mut file = file;
        file.seek(SeekFrom::Start(offset))?;
        file.read_exact(buf)
    }
}

/// `count` consecutive 32-byte entries of `file` from entry `first`.
fn read_entries(file: &File, first: u64, count: u64) -> io::Result<Vec<Hash>> {
    let bytes = count
        .checked_mul(ENTRY)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| io::Error::other("too many entries for memory"))?;
    let mut buf = vec![0u8; bytes];
    read_at(file, first.saturating_mul(ENTRY), &mut buf)?;
    Ok(buf
        .chunks_exact(HASH_SIZE)
        .map(|c| {
            let mut bytes = [0u8; HASH_SIZE];
            bytes.copy_from_slice(c);
            Hash::from_bytes(bytes)
        })
        .collect())
}

/// Leaf hashes and block roots read from the two sidecars.
pub(crate) struct Sidecars<'a> {
    pub(crate) leaves: &'a File,
    pub(crate) nodes: &'a File,
    pub(crate) leaves_path: &'a Path,
    pub(crate) nodes_path: &'a Path,
}

impl Sidecars<'_> {
    fn read(&self, nodes: bool, first: u64, count: u64) -> Result<Vec<Hash>, LeafReadError> {
        let (file, path, what) = if nodes {
            (self.nodes, self.nodes_path, "block root")
        } else {
            (self.leaves, self.leaves_path, "leaf hash")
        };
        read_entries(file, first, count).map_err(|source| LeafReadError {
            what,
            index: first,
            path: path.to_path_buf(),
            source,
        })
    }
}

impl LeafHashes for Sidecars<'_> {
    type Error = LeafReadError;

    fn leaf_hash(&self, index: u64) -> Result<Hash, LeafReadError> {
        let mut hashes = self.read(false, index, 1)?;
        hashes.pop().ok_or_else(|| LeafReadError {
            what: "leaf hash",
            index,
            path: self.leaves_path.to_path_buf(),
            source: io::Error::from(io::ErrorKind::UnexpectedEof),
        })
    }

    /// One read: the block roots under it (level 8 and up), else its leaves.
    fn subtree_root(&self, subtree: Subtree) -> Result<Hash, LeafReadError> {
        let hashes = if subtree.level() >= BLOCK_LEVEL {
            self.read(
                true,
                subtree.first_leaf() >> BLOCK_LEVEL,
                subtree.leaf_count() >> BLOCK_LEVEL,
            )?
        } else {
            self.read(false, subtree.first_leaf(), subtree.leaf_count())?
        };
        // The roots of 2^k adjacent perfect subtrees fold into their parent's root exactly
        // as 2^k leaves do.
        Ok(root_of_leaves(&hashes))
    }
}

/// The leaf hashes of a log at one size, read from its sidecars: what proofs are made
/// from. Returned by [`crate::Log::tree_snapshot`] with the tree head it belongs to.
///
/// The sidecars only grow past that size (or are rebuilt into new files, which this keeps
/// the old ones of), so the leaves below it stay what they were while this is held.
#[derive(Debug)]
pub struct LeafSource {
    leaves: File,
    nodes: File,
    leaves_path: PathBuf,
    nodes_path: PathBuf,
    size: u64,
}

impl LeafSource {
    pub(crate) fn new(state: &TreeState, paths: &TreePaths) -> io::Result<Self> {
        Ok(Self {
            leaves: state.leaves.try_clone()?,
            nodes: state.nodes.try_clone()?,
            leaves_path: paths.leaves.clone(),
            nodes_path: paths.nodes.clone(),
            size: state.range.size(),
        })
    }

    /// The tree size the source was taken at.
    pub fn size(&self) -> u64 {
        self.size
    }

    fn view(&self) -> Sidecars<'_> {
        Sidecars {
            leaves: &self.leaves,
            nodes: &self.nodes,
            leaves_path: &self.leaves_path,
            nodes_path: &self.nodes_path,
        }
    }
}

impl LeafHashes for LeafSource {
    type Error = LeafReadError;

    fn leaf_hash(&self, index: u64) -> Result<Hash, LeafReadError> {
        self.view().leaf_hash(index)
    }

    fn subtree_root(&self, subtree: Subtree) -> Result<Hash, LeafReadError> {
        self.view().subtree_root(subtree)
    }
}

/// The leaf hash of a receipt's action_hash (64 hex digits), or what is wrong with it.
pub(crate) fn leaf_of(action_hash: &str) -> Result<Hash, String> {
    leaf_hash_from_hex(action_hash)
        .map_err(|e| format!("its action_hash {action_hash:?} is not 32 bytes of hex: {e}"))
}

/// Brings the sidecars in step with the log, whose complete lines end at `good_len` and
/// whose last receipt of `session` is `last`, and returns the tree's right edge. Called
/// under the log's lock.
pub(crate) fn sync(
    paths: &TreePaths,
    log: &mut File,
    good_len: u64,
    session: &str,
    last: Option<&TailEntry>,
    ops: &dyn FileOps,
) -> Result<TreeState, SyncError> {
    let size = match last {
        None => 0,
        Some(entry) => entry.seq.checked_add(1).ok_or_else(|| SyncError::Damaged {
            line: 0,
            detail: "the last receipt's seq is 2^64 - 1".into(),
        })?,
    };
    let mut leaves = open_sidecar(&paths.leaves).map_err(io_err("cannot open", &paths.leaves))?;
    let mut nodes = open_sidecar(&paths.nodes).map_err(io_err("cannot open", &paths.nodes))?;
    if !mend_leaves(paths, log, good_len, session, size, &mut leaves, ops)? {
        (leaves, nodes) = rebuild(paths, log, good_len, session, size, ops)?;
    }
    mend_nodes(paths, &leaves, &mut nodes, size, ops)?;
    let sidecars = Sidecars {
        leaves: &leaves,
        nodes: &nodes,
        leaves_path: &paths.leaves,
        nodes_path: &paths.nodes,
    };
    let range = CompactRange::from_source(&sidecars, size).map_err(|e| SyncError::Io {
        action: "cannot read",
        path: e.path.clone(),
        source: e.source,
    })?;
    Ok(TreeState {
        range,
        leaves,
        nodes,
    })
}

fn entries_in(file: &File, path: &Path) -> Result<(u64, bool), SyncError> {
    let len = file.metadata().map_err(io_err("cannot stat", path))?.len();
    Ok((len / ENTRY, len % ENTRY == 0))
}

/// Mends `receipts.leaves` from the log's last receipts: cuts a torn entry and entries past
/// the log's end, checks the last entries it has, appends the ones it lacks. False when it
/// must be rebuilt from the whole log instead.
fn mend_leaves(
    paths: &TreePaths,
    log: &mut File,
    good_len: u64,
    session: &str,
    size: u64,
    leaves: &mut File,
    ops: &dyn FileOps,
) -> Result<bool, SyncError> {
    let (mut have, whole) = entries_in(leaves, &paths.leaves)?;
    if !whole || have > size {
        have = have.min(size);
        ops.set_len(leaves, have * ENTRY)
            .map_err(io_err("cannot truncate", &paths.leaves))?;
    }
    let missing = size - have;
    if missing > MAX_TAIL_REPAIR {
        return Ok(false);
    }
    let want = missing + CHECKED.min(have);
    if want == 0 {
        return Ok(true);
    }
    let entries =
        last_entries(log, good_len, session, want).map_err(io_err("cannot read", &paths.log))?;
    // Newest first: seq size-1, size-2, ... with nothing missing.
    if entries.len() as u64 != want
        || entries
            .iter()
            .enumerate()
            .any(|(i, e)| e.seq != size - 1 - i as u64)
    {
        return Ok(false);
    }
    let mut appended = Vec::with_capacity(usize::try_from(missing).unwrap_or(0));
    for entry in entries.iter().rev() {
        let Ok(leaf) = leaf_of(&entry.action_hash) else {
            return Ok(false);
        };
        if entry.seq < have {
            let stored =
                read_entries(leaves, entry.seq, 1).map_err(io_err("cannot read", &paths.leaves))?;
            if stored.first() != Some(&leaf) {
                return Ok(false);
            }
        } else {
            appended.extend_from_slice(leaf.as_bytes());
        }
    }
    if !appended.is_empty() {
        write_all(ops, leaves, &appended).map_err(io_err("cannot write", &paths.leaves))?;
    }
    Ok(true)
}

/// A temporary file for a rebuilt sidecar, replacing any left by an earlier attempt.
fn temp_for(path: &Path) -> (PathBuf, Result<File, io::Error>) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = heso_fs::parent_of(path).join(format!(".{name}.rebuild"));
    let mut options = OpenOptions::new();
    options.create(true).write(true).truncate(true).read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = heso_fs::open_no_follow(&temp, &mut options);
    (temp, file)
}

/// Rebuilds both sidecars from every line of the log, into new files renamed into place.
fn rebuild(
    paths: &TreePaths,
    log: &mut File,
    good_len: u64,
    session: &str,
    size: u64,
    ops: &dyn FileOps,
) -> Result<(File, File), SyncError> {
    let (leaves_temp, leaves) = temp_for(&paths.leaves);
    let (nodes_temp, nodes) = temp_for(&paths.nodes);
    let cleanup = || {
        let _ = std::fs::remove_file(&leaves_temp);
        let _ = std::fs::remove_file(&nodes_temp);
    };
    let result = leaves
        .map_err(io_err("cannot create", &leaves_temp))
        .and_then(|leaves| Ok((leaves, nodes.map_err(io_err("cannot create", &nodes_temp))?)))
        .and_then(|(mut leaves, mut nodes)| {
            let (built, lines) =
                write_leaves_of_log(paths, log, good_len, session, &mut leaves, &mut nodes, ops)?;
            if built != size {
                return Err(SyncError::Damaged {
                    line: lines,
                    detail: format!(
                        "the log holds {built} receipts of its session, but the last one's seq says {size}"
                    ),
                });
            }
            std::fs::rename(&leaves_temp, &paths.leaves)
                .map_err(io_err("cannot replace", &paths.leaves))?;
            std::fs::rename(&nodes_temp, &paths.nodes)
                .map_err(io_err("cannot replace", &paths.nodes))?;
            Ok((leaves, nodes))
        });
    if result.is_err() {
        cleanup();
    }
    let (leaves, nodes) = result?;
    // Reopened in append mode, as the writer uses them.
    drop((leaves, nodes));
    Ok((
        open_sidecar(&paths.leaves).map_err(io_err("cannot open", &paths.leaves))?,
        open_sidecar(&paths.nodes).map_err(io_err("cannot open", &paths.nodes))?,
    ))
}

/// Streams the log's receipts of `session` into the two files; returns how many, and how
/// many lines the log has.
fn write_leaves_of_log(
    paths: &TreePaths,
    log: &mut File,
    good_len: u64,
    session: &str,
    leaves: &mut File,
    nodes: &mut File,
    ops: &dyn FileOps,
) -> Result<(u64, u64), SyncError> {
    const FLUSH: usize = 64 * 1024;
    log.seek(SeekFrom::Start(0))
        .map_err(io_err("cannot read", &paths.log))?;
    let mut reader = BufReader::with_capacity(1 << 20, (&*log).take(good_len));
    let mut range = CompactRange::new();
    let mut leaf_buf = Vec::with_capacity(FLUSH + HASH_SIZE);
    let mut node_buf = Vec::new();
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(io_err("cannot read", &paths.log))?;
        if read == 0 {
            break;
        }
        number += 1;
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        let damaged = |detail: String| SyncError::Damaged {
            line: number,
            detail,
        };
        let entry = entry_of(&line)
            .ok_or_else(|| damaged("not a receipt with a seq and session".into()))?;
        if entry.session_id != session {
            continue;
        }
        if entry.seq != range.size() {
            return Err(damaged(format!(
                "seq {} where {} was expected: a receipt is missing, repeated or out of order",
                entry.seq,
                range.size()
            )));
        }
        let leaf = leaf_of(&entry.action_hash).map_err(damaged)?;
        range
            .append_with(leaf, |subtree, hash| {
                if subtree.level() == BLOCK_LEVEL {
                    node_buf.extend_from_slice(hash.as_bytes());
                }
            })
            .map_err(|e| damaged(e.to_string()))?;
        leaf_buf.extend_from_slice(leaf.as_bytes());
        if leaf_buf.len() >= FLUSH {
            write_all(ops, leaves, &leaf_buf).map_err(io_err("cannot write", &paths.leaves))?;
            leaf_buf.clear();
        }
    }
    write_all(ops, leaves, &leaf_buf).map_err(io_err("cannot write", &paths.leaves))?;
    write_all(ops, nodes, &node_buf).map_err(io_err("cannot write", &paths.nodes))?;
    Ok((range.size(), number))
}

/// Mends `receipts.nodes` from the leaves: cuts a torn entry and blocks past the end,
/// checks the last block root, computes the ones it lacks.
fn mend_nodes(
    paths: &TreePaths,
    leaves: &File,
    nodes: &mut File,
    size: u64,
    ops: &dyn FileOps,
) -> Result<(), SyncError> {
    let blocks = size >> BLOCK_LEVEL;
    let (mut have, whole) = entries_in(nodes, &paths.nodes)?;
    let block_root = |index: u64| -> Result<Hash, SyncError> {
        let leaves = read_entries(leaves, index * BLOCK_LEAVES, BLOCK_LEAVES)
            .map_err(io_err("cannot read", &paths.leaves))?;
        Ok(root_of_leaves(&leaves))
    };
    if !whole || have > blocks {
        have = have.min(blocks);
        ops.set_len(nodes, have * ENTRY)
            .map_err(io_err("cannot truncate", &paths.nodes))?;
    }
    if have > 0 {
        let stored =
            read_entries(nodes, have - 1, 1).map_err(io_err("cannot read", &paths.nodes))?;
        if stored.first() != Some(&block_root(have - 1)?) {
            have = 0;
            ops.set_len(nodes, 0)
                .map_err(io_err("cannot truncate", &paths.nodes))?;
        }
    }
    let mut missing = Vec::new();
    for index in have..blocks {
        missing.extend_from_slice(block_root(index)?.as_bytes());
        if missing.len() >= 64 * 1024 {
            write_all(ops, nodes, &missing).map_err(io_err("cannot write", &paths.nodes))?;
            missing.clear();
        }
    }
    if !missing.is_empty() {
        write_all(ops, nodes, &missing).map_err(io_err("cannot write", &paths.nodes))?;
    }
    Ok(())
}

/// A line of a log that is not a receipt, inside the part of the log a root was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnreadableLine {
    /// The 1-based line number.
    pub line: u64,
}

/// The tree of a log file as the file holds it now, computed from the log alone (no
/// sidecar): what checkpoints are verified against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTree {
    size: u64,
    root: Result<Hash, UnreadableLine>,
    at: Vec<(u64, Result<Hash, UnreadableLine>)>,
}

impl Default for LogTree {
    /// The tree of an empty log (or of none).
    fn default() -> Self {
        Self {
            size: 0,
            root: Ok(heso_tlog::empty_root()),
            at: Vec::new(),
        }
    }
}

impl LogTree {
    /// The number of leaves: complete lines of the session, and lines that are not
    /// receipts at all (whose session cannot be told).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root of the whole tree, unless a line in it is not a receipt.
    pub fn root(&self) -> Result<Hash, UnreadableLine> {
        self.root
    }

    /// The root of the first `size` leaves, for a size asked for when scanning (`None` for
    /// one not asked for, or past the log's end).
    pub fn root_at(&self, size: u64) -> Option<Result<Hash, UnreadableLine>> {
        if size == self.size {
            return Some(self.root);
        }
        self.at.iter().find(|(s, _)| *s == size).map(|(_, r)| *r)
    }
}

/// Computes the tree of the log at `path` for the session `session_id`, streaming (memory
/// stays flat), with the roots of the first `sizes` leaves on the way.
///
/// Leaves are the log's complete lines of that session, in line order, each hashed from
/// its `action_hash`; lines of other sessions are not in this log's tree. A line that is
/// not a receipt (its session cannot be told) takes a leaf's place and makes every root
/// that covers it an [`UnreadableLine`]. A torn last line (no newline) is not a leaf.
pub fn tree_of_log(path: &Path, session_id: &str, sizes: &[u64]) -> io::Result<LogTree> {
    let file = File::open(path)?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut range = CompactRange::new();
    let mut unreadable: Option<UnreadableLine> = None;
    let mut at = Vec::new();
    let mut wanted: Vec<u64> = sizes.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    let mut wanted = wanted.into_iter().peekable();
    let mut line = Vec::new();
    let mut number = 0u64;
    let capture = |range: &CompactRange, unreadable: Option<UnreadableLine>| match unreadable {
        Some(bad) => Err(bad),
        None => Ok(range.root()),
    };
    while wanted.peek() == Some(&0) {
        at.push((0, Ok(heso_tlog::empty_root())));
        wanted.next();
    }
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 || line.last() != Some(&b'\n') {
            break;
        }
        number += 1;
        line.pop();
        let leaf = match entry_of(&line) {
            Some(entry) if entry.session_id != session_id => continue,
            Some(entry) => leaf_of(&entry.action_hash).ok(),
            None => None,
        };
        let leaf = leaf.unwrap_or_else(|| {
            unreadable.get_or_insert(UnreadableLine { line: number });
            // A stand-in no receipt hashes to: the root is reported as unreadable anyway.
            leaf_hash(&[0u8; HASH_SIZE])
        });
        if range.append(leaf).is_err() {
            break;
        }
        while wanted.peek() == Some(&range.size()) {
            at.push((range.size(), capture(&range, unreadable)));
            wanted.next();
        }
    }
    Ok(LogTree {
        size: range.size(),
        root: capture(&range, unreadable),
        at,
    })
}
