//! The heso local audit log: `heso-local-data/receipts.jsonl`, one compact receipt per line.
//!
//! - [`Log::append`] runs under an exclusive lock held across threads and processes (an
//!   OS file lock on `receipts.lock`): it reads the tail (from the end of the file, never
//!   the whole log), hands the caller the next chain position, and writes the caller's
//!   receipt as one line in a single `O_APPEND` write, fsynced by default before it
//!   returns. Threads of one process share fsyncs (group commit): lines written while an
//!   fsync is in flight are made durable together by the next one.
//! - A failed write or fsync reaches the caller, and the log is truncated back to its
//!   length before the append, so the unacknowledged line does not stay. If that truncation
//!   fails too, a partial line is left for the next writer to move aside (below); after a
//!   failed fsync, the handle refuses further appends until the log is reopened, because
//!   the pages may be gone and nothing may be chained onto them.
//! - A torn last line (a writer died mid-write) is moved to `receipts.jsonl.torn-<secs>`
//!   and the log truncated to its last complete line, by the next writer, which reports it.
//! - [`find_by_prefix`] looks a receipt up by action_hash prefix through `receipts.index`
//!   ([`INDEX_FILE`]: 48 bytes a line, the action_hash, offset and line number, a sidecar
//!   written and mended like the tree's, below), re-reading the line it points to from the log and checking its hash, and
//!   reading the whole log when the index is missing or disagrees; [`verify_log`] checks
//!   every receipt and every chain link, streaming, with signatures checked on all cores.
//! - The log is also an RFC 6962 Merkle tree (`heso-tlog`) over its session's receipts in
//!   log order (leaf `i` = the receipt of seq `i`; leaf hash SHA-256(`0x00` ‖ the 32 raw
//!   `action_hash` bytes)). The tree's right edge is kept with the tail, so an append adds
//!   one leaf (O(1) amortised) and [`Log::tree_head`] / [`Log::checkpoint`] cost O(log n)
//!   whatever the size. Each append also computes the leaf hash for `receipts.leaves` (32
//!   bytes a receipt) and, every 256 receipts, a block root for `receipts.nodes`. The
//!   sidecars' entries are written in batches of 64 lines, under the lock, at the start of
//!   an append, before a proof or tree read, and when the handle is dropped: one small
//!   `write` per sidecar per append cost as much as the line's own. [`Log::tree_snapshot`]
//!   gives a [`LeafSource`] over them for proofs. They are derived data, checked against the
//!   log whenever its tail is read afresh (by any handle that opens the log, or finds it
//!   grown), mended (up to 1,024 missing entries, from the log's last lines: a crash loses
//!   at most a batch) or rebuilt from it, never trusted over it; a handle writes only what
//!   another did not mend meanwhile; [`tree_of_log`] computes a log's tree from the
//!   log alone, to verify checkpoints.
//! - No symbolic link is followed: a data directory, log, lock or session file that is a
//!   link is an error naming it (heso-fs's `O_NOFOLLOW` opens), so nothing is written
//!   through a link to somewhere else. [`verify_log`] reads any file it is given (an
//!   auditor's copy); callers that verify the project's own log refuse a link first.
//!
//! This crate does not sign: it takes receipts already signed.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod append;
mod contain;
#[cfg(test)]
mod fault_tests;
mod fileops;
mod index;
mod lookup;
mod tail;
mod tree;
mod verify;

pub use append::{
    AppendError, Appended, Durability, Log, LogOptions, OpenError, TornRepair, read_session,
};
pub use contain::{CheckpointVerdict, check_checkpoint};
pub use index::INDEX_FILE;
pub use lookup::{Found, LookupError, find_by_prefix};
pub use tree::{
    LEAVES_FILE, LeafReadError, LeafSource, LogTree, NODES_FILE, TreeError, TreeHead,
    UnreadableLine, tree_of_log,
};
pub use verify::{verify_lines, verify_log, verify_numbered_lines};
// The report's types are heso-receipt's (the rules of a log are pure, shared with the
// browser verifier), re-exported so callers of `verify_log` need not name that crate.
pub use heso_receipt::{LineFailure, LogReport, SessionHead, SignerCount, TornTail};

/// The log's file name inside the data directory.
pub const LOG_FILE: &str = "receipts.jsonl";
/// The file holding the store's session id.
pub const SESSION_FILE: &str = "session";
/// The lock file that serialises writers across processes.
pub const LOCK_FILE: &str = "receipts.lock";
