//! The heso local audit log: `heso-local-data/receipts.jsonl`, one compact receipt per line.
//!
//! - [`Log::append`] runs under an exclusive lock held across threads and processes (an
//!   OS file lock on `receipts.lock`): it reads the tail (from the end of the file, never
//!   the whole log), hands the caller the next chain position, and writes the caller's
//!   receipt as one line in a single `O_APPEND` write, fsynced by default before it
//!   returns.
//! - A failed write or fsync reaches the caller, and the log is truncated back to its
//!   length before the append, so the unacknowledged line does not stay. If that truncation
//!   fails too, a partial line is left for the next writer to move aside (below); after a
//!   failed fsync, the handle refuses further appends until the log is reopened, because
//!   the pages may be gone and nothing may be chained onto them.
//! - A torn last line (a writer died mid-write) is moved to `receipts.jsonl.torn-<secs>`
//!   and the log truncated to its last complete line, by the next writer, which reports it.
//! - [`find_by_prefix`] looks a receipt up by action_hash prefix; [`verify_log`] checks
//!   every receipt and every chain link, streaming, with signatures checked on all cores.
//! - No symbolic link is followed: a data directory, log, lock or session file that is a
//!   link is an error naming it (heso-fs's `O_NOFOLLOW` opens), so nothing is written
//!   through a link to somewhere else. [`verify_log`] reads any file it is given (an
//!   auditor's copy); callers that verify the project's own log refuse a link first.
//!
//! This crate does not sign: it takes receipts already signed.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod append;
#[cfg(test)]
mod fault_tests;
mod fileops;
mod lookup;
mod tail;
mod verify;

pub use append::{AppendError, Appended, Durability, Log, LogOptions, OpenError, TornRepair};
pub use lookup::{Found, LookupError, find_by_prefix};
pub use verify::{LineFailure, LogReport, SessionHead, TornTail, verify_lines, verify_log};

/// The log's file name inside the data directory.
pub const LOG_FILE: &str = "receipts.jsonl";
/// The file holding the store's session id.
pub const SESSION_FILE: &str = "session";
/// The lock file that serialises writers across processes.
pub const LOCK_FILE: &str = "receipts.lock";
