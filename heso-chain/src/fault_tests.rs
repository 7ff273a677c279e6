//! The append path with failures injected at each system call it makes.
//!
//! Every injected failure is one the real call can return: `EIO`, `ENOSPC`, `EDQUOT`,
//! `EFBIG` or `EINTR` as the OS error, or a short write (fewer bytes than asked, which
//! `write(2)` does on a full disk or at a file-size limit). A real ENOSPC from the kernel
//! (`/dev/full`, reached through the seam because the log never follows a link to it) is
//! below; a real EFBIG, from `RLIMIT_FSIZE`, is in `tests/disk_limits.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use heso_receipt::SignerPins;

use crate::append::{AppendError, Appended, Durability, Log, LogOptions};
use crate::fileops::FileOps;
use crate::verify::verify_log;

#[path = "../tests/support/mod.rs"]
mod support;

const EINTR: i32 = 4;
const EIO: i32 = 5;
const EFBIG: i32 = 27;
const ENOSPC: i32 = 28;
const EDQUOT: i32 = 122;

/// A system call of [`FileOps`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Call {
    Write,
    SyncData,
    SyncAll,
    SetLen,
    SyncDir,
    HardLink,
}

const CALLS: [Call; 6] = [
    Call::Write,
    Call::SyncData,
    Call::SyncAll,
    Call::SetLen,
    Call::SyncDir,
    Call::HardLink,
];

/// What an armed call does instead of succeeding.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Fails with this OS error, writing nothing.
    Errno(i32),
    /// (`Write` only) writes the first `n` bytes and reports that.
    Short(usize),
}

#[derive(Debug)]
struct Armed {
    call: Call,
    /// Fires at this call of its kind (0 = the first one after arming).
    at: usize,
    fault: Fault,
    /// Keeps firing at every later call of its kind (a device that stays broken).
    sticky: bool,
}

#[derive(Debug, Default)]
struct State {
    /// How many times each call has been made.
    counts: BTreeMap<Call, usize>,
    armed: Vec<Armed>,
    fired: Vec<(Call, Fault)>,
    /// The highest log length an `fdatasync` that succeeded was started at: every byte
    /// below it is durable.
    synced_upto: u64,
}

/// Holds `fdatasync` calls at their start while set (the test releases them).
#[derive(Default)]
struct Gate {
    held: Mutex<bool>,
    released: Condvar,
}

/// Real system calls, except the ones armed to fail.
#[derive(Clone, Default)]
struct FaultyOps(Arc<Mutex<State>>, Arc<Gate>);

impl FaultyOps {
    /// Makes the `at`-th next call of `call` fail with `fault`.
    fn arm(&self, call: Call, at: usize, fault: Fault) {
        self.arm_from(call, at, fault, false);
    }

    /// Makes every call of `call` from now on fail with `errno`.
    fn break_for_good(&self, call: Call, errno: i32) {
        self.arm_from(call, 0, Fault::Errno(errno), true);
    }

    fn arm_from(&self, call: Call, at: usize, fault: Fault, sticky: bool) {
        let mut state = self.0.lock().unwrap();
        let at = state.counts.get(&call).copied().unwrap_or(0) + at;
        state.armed.push(Armed {
            call,
            at,
            fault,
            sticky,
        });
    }

    /// Makes every `fdatasync` from now on wait until [`FaultyOps::release_syncs`].
    fn hold_syncs(&self) {
        *self.1.held.lock().unwrap() = true;
    }

    fn release_syncs(&self) {
        *self.1.held.lock().unwrap() = false;
        self.1.released.notify_all();
    }

    fn synced_upto(&self) -> u64 {
        self.0.lock().unwrap().synced_upto
    }

    fn fired(&self) -> Vec<(Call, Fault)> {
        self.0.lock().unwrap().fired.clone()
    }

    fn total(&self, call: Call) -> usize {
        self.0
            .lock()
            .unwrap()
            .counts
            .get(&call)
            .copied()
            .unwrap_or(0)
    }

    /// The fault for this call, if one is armed for it.
    fn take(&self, call: Call) -> Option<Fault> {
        let mut state = self.0.lock().unwrap();
        let count = state.counts.entry(call).or_default();
        let n = *count;
        *count += 1;
        let hit = state
            .armed
            .iter()
            .position(|a| a.call == call && (a.at == n || (a.sticky && n >= a.at)))?;
        let fault = state.armed[hit].fault;
        if !state.armed[hit].sticky {
            state.armed.remove(hit);
        }
        state.fired.push((call, fault));
        Some(fault)
    }

    fn errno_or(&self, call: Call, real: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
        match self.take(call) {
            Some(Fault::Errno(errno)) => Err(io::Error::from_raw_os_error(errno)),
            Some(Fault::Short(_)) => panic!("a short {call:?} is not a thing"),
            None => real(),
        }
    }
}

impl FileOps for FaultyOps {
    fn write(&self, file: &mut File, bytes: &[u8]) -> io::Result<usize> {
        match self.take(Call::Write) {
            Some(Fault::Errno(errno)) => Err(io::Error::from_raw_os_error(errno)),
            Some(Fault::Short(n)) => file.write(&bytes[..n.min(bytes.len())]),
            None => file.write(bytes),
        }
    }
    /// Counts, and records how far the log was durable once it succeeded: the bytes
    /// written before the call started.
    fn sync_data(&self, file: &File) -> io::Result<()> {
        let covers = file.metadata()?.len();
        let mut held = self.1.held.lock().unwrap();
        while *held {
            held = self.1.released.wait(held).unwrap();
        }
        drop(held);
        self.errno_or(Call::SyncData, || file.sync_data())?;
        let mut state = self.0.lock().unwrap();
        state.synced_upto = state.synced_upto.max(covers);
        Ok(())
    }
    fn sync_all(&self, file: &File) -> io::Result<()> {
        self.errno_or(Call::SyncAll, || file.sync_all())
    }
    fn set_len(&self, file: &File, len: u64) -> io::Result<()> {
        self.errno_or(Call::SetLen, || file.set_len(len))
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.errno_or(Call::SyncDir, || File::open(dir)?.sync_all())
    }
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.errno_or(Call::HardLink, || std::fs::hard_link(from, to))
    }
}

fn options(durability: Durability) -> LogOptions {
    LogOptions { durability }
}

fn open_faulty(dir: &Path, ops: &FaultyOps, durability: Durability) -> Log {
    Log::open_with(dir, options(durability), Box::new(ops.clone()))
        .unwrap()
        .0
}

fn try_append(log: &Log, tag: &str) -> Result<Appended, AppendError<String>> {
    log.append(|position| support::signed_line(position, tag))
}

fn log_bytes(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join(crate::LOG_FILE)).unwrap_or_default()
}

fn os_error<E: std::fmt::Display>(e: &AppendError<E>) -> Option<i32> {
    match e {
        AppendError::Io { source, .. } => source.raw_os_error(),
        _ => None,
    }
}

/// Reopens the log with the real system calls and checks what a user relies on: it opens
/// (repairing a torn tail if one was left), verifies, holds every acknowledged receipt,
/// and its seqs run 0, 1, 2, … with no gap or duplicate. Returns the receipt count.
fn check_recovered(dir: &Path, acknowledged: &[Appended]) -> usize {
    let (log, _repaired) = Log::open(dir, LogOptions::default()).unwrap();
    let path = dir.join(crate::LOG_FILE);
    let pins = SignerPins::Only(vec![support::test_key().verifying_key()]);
    let report = verify_log(&path, &pins, None).unwrap();
    assert!(report.all_valid(), "{report:?}");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut seqs = Vec::new();
    let mut hashes = BTreeSet::new();
    for line in text.lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        seqs.push(value["content"]["seq"].as_u64().unwrap());
        hashes.insert(value["content"]["action_hash"].as_str().unwrap().to_owned());
    }
    assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>(), "seq gap");
    check_sidecars(dir, &log);
    for acked in acknowledged {
        assert!(
            hashes.contains(&acked.action_hash),
            "acknowledged receipt seq {} lost",
            acked.seq
        );
    }
    // And the log takes new receipts where it left off.
    let next = try_append(&log, "after recovery").unwrap();
    assert_eq!(next.seq, seqs.len() as u64);
    seqs.len()
}

/// The reopened log's sidecars hold exactly the leaf hashes of its receipts (and the block
/// roots of every 256), and its tree head is their root: whatever failed while they were
/// written, nothing of it stayed.
fn check_sidecars(dir: &Path, log: &Log) {
    // First, as a proof would: the sidecar entries still in memory are written.
    let head = log.tree_head().unwrap();
    let text = std::fs::read_to_string(dir.join(crate::LOG_FILE)).unwrap();
    let leaves: Vec<heso_tlog::Hash> = text
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            heso_tlog::leaf_hash_from_hex(value["content"]["action_hash"].as_str().unwrap())
                .unwrap()
        })
        .collect();
    let stored = std::fs::read(dir.join(crate::LEAVES_FILE)).unwrap();
    let expected: Vec<u8> = leaves.iter().flat_map(|h| *h.as_bytes()).collect();
    assert_eq!(stored, expected, "receipts.leaves is not the log's leaves");
    let nodes = std::fs::read(dir.join(crate::NODES_FILE)).unwrap();
    let blocks: Vec<u8> = leaves
        .chunks_exact(256)
        .flat_map(|block| *heso_tlog::root_of_leaves(block).as_bytes())
        .collect();
    assert_eq!(nodes, blocks, "receipts.nodes is not the log's block roots");
    assert_eq!(head.size, leaves.len() as u64);
    assert_eq!(head.root, heso_tlog::root_of_leaves(&leaves));
    check_index(dir);
}

/// `receipts.index` holds exactly one record for each line of the log: its action_hash,
/// offset and line number.
fn check_index(dir: &Path) {
    let bytes = log_bytes(dir);
    let mut expected = Vec::new();
    let mut start = 0;
    let mut number = 0;
    for (at, byte) in bytes.iter().enumerate() {
        if *byte == b'\n' {
            number += 1;
            let value: serde_json::Value = serde_json::from_slice(&bytes[start..at]).unwrap();
            let hash = crate::index::hash_bytes(value["content"]["action_hash"].as_str().unwrap());
            let record = crate::index::Record {
                hash: hash.unwrap(),
                offset: start as u64,
                line: number,
            };
            expected.extend_from_slice(&record.to_bytes());
            start = at + 1;
        }
    }
    let stored = std::fs::read(dir.join(crate::INDEX_FILE)).unwrap();
    assert_eq!(stored, expected, "receipts.index is not the log's index");
}

/// A fsynced log with one acknowledged receipt, opened through faulty calls.
struct Started {
    temp: tempfile::TempDir,
    ops: FaultyOps,
    log: Log,
    first: Appended,
    /// The log's bytes after the first receipt.
    before: Vec<u8>,
}

impl Started {
    fn new() -> Self {
        let temp = tempfile::tempdir().unwrap();
        let ops = FaultyOps::default();
        let log = open_faulty(temp.path(), &ops, Durability::Fsync);
        let first = try_append(&log, "first").unwrap();
        let before = log_bytes(temp.path());
        Self {
            temp,
            ops,
            log,
            first,
            before,
        }
    }
}

#[test]
fn a_failed_write_reaches_the_caller_and_leaves_the_log_as_it_was() {
    for errno in [EIO, ENOSPC, EDQUOT, EFBIG] {
        let s = Started::new();

        s.ops.arm(Call::Write, 0, Fault::Errno(errno));
        let failed = try_append(&s.log, "refused").unwrap_err();
        assert_eq!(os_error(&failed), Some(errno), "{failed}");
        assert!(failed.to_string().contains("cannot write"), "{failed}");
        assert_eq!(log_bytes(s.temp.path()), s.before);

        // The same handle goes on at the same position.
        let second = try_append(&s.log, "second").unwrap();
        assert_eq!(second.seq, 1);
        assert_eq!(check_recovered(s.temp.path(), &[s.first, second]), 2);
    }
}

/// Writes go to `/dev/full`, so every `write(2)` fails with the kernel's own ENOSPC; every
/// other call is the real one on the real log.
struct FullDeviceOps(File);

impl FileOps for FullDeviceOps {
    fn write(&self, _file: &mut File, bytes: &[u8]) -> io::Result<usize> {
        (&self.0).write(bytes)
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_log_on_a_full_device_refuses_every_append_with_enospc() {
    let temp = tempfile::tempdir().unwrap();
    // The session file is written first, on a disk with room.
    drop(Log::open(temp.path(), LogOptions::default()).unwrap());
    let full = File::options().write(true).open("/dev/full").unwrap();
    let (log, repaired) = Log::open_with(
        temp.path(),
        LogOptions::default(),
        Box::new(FullDeviceOps(full)),
    )
    .unwrap();
    assert!(repaired.is_none());
    for n in 0..3 {
        let failed = try_append(&log, &format!("n{n}")).unwrap_err();
        assert_eq!(os_error(&failed), Some(ENOSPC), "{failed}");
        let text = failed.to_string();
        assert!(text.contains("cannot write"), "{text}");
        assert!(text.contains("receipts.jsonl"), "{text}");
    }
    assert!(log_bytes(temp.path()).is_empty());
}

#[test]
fn a_short_write_then_a_full_disk_is_rolled_back() {
    let s = Started::new();

    s.ops.arm(Call::Write, 0, Fault::Short(100));
    s.ops.arm(Call::Write, 1, Fault::Errno(ENOSPC));
    let failed = try_append(&s.log, "half written").unwrap_err();
    assert_eq!(os_error(&failed), Some(ENOSPC), "{failed}");
    assert_eq!(
        log_bytes(s.temp.path()),
        s.before,
        "the partial line stayed"
    );
    assert_eq!(try_append(&s.log, "second").unwrap().seq, 1);
    check_recovered(s.temp.path(), &[s.first]);
}

#[test]
fn short_writes_and_interrupted_writes_are_finished() {
    let temp = tempfile::tempdir().unwrap();
    let ops = FaultyOps::default();
    let log = open_faulty(temp.path(), &ops, Durability::Fsync);
    ops.arm(Call::Write, 0, Fault::Short(1));
    ops.arm(Call::Write, 1, Fault::Errno(EINTR));
    ops.arm(Call::Write, 2, Fault::Short(300));
    let appended = try_append(&log, "in pieces").unwrap();
    assert_eq!(ops.fired().len(), 3);
    check_recovered(temp.path(), &[appended]);
}

#[test]
fn when_the_rollback_fails_too_the_partial_line_is_moved_aside_next_time() {
    let s = Started::new();

    s.ops.arm(Call::Write, 0, Fault::Short(100));
    s.ops.arm(Call::Write, 1, Fault::Errno(EIO));
    s.ops.arm(Call::SetLen, 0, Fault::Errno(EIO));
    let failed = try_append(&s.log, "torn").unwrap_err();
    assert_eq!(os_error(&failed), Some(EIO), "{failed}");
    let left = log_bytes(s.temp.path());
    assert_eq!(
        left.len(),
        s.before.len() + 100,
        "the short write is on disk"
    );

    // The next append on the same handle moves the 100 bytes aside and goes on.
    let second = try_append(&s.log, "second").unwrap();
    assert_eq!(second.seq, 1);
    let repaired = second.repaired.clone().unwrap();
    assert_eq!(repaired.bytes, 100);
    assert_eq!(
        std::fs::read(&repaired.side_file).unwrap(),
        left[s.before.len()..]
    );
    check_recovered(s.temp.path(), &[s.first, second]);
}

#[test]
fn a_failed_fsync_takes_the_unacknowledged_line_back() {
    for errno in [EIO, ENOSPC, EDQUOT] {
        let s = Started::new();

        s.ops.arm(Call::SyncData, 0, Fault::Errno(errno));
        let failed = try_append(&s.log, "not durable").unwrap_err();
        assert_eq!(os_error(&failed), Some(errno), "{failed}");
        assert!(failed.to_string().contains("cannot fsync"), "{failed}");
        assert_eq!(
            log_bytes(s.temp.path()),
            s.before,
            "an unacknowledged line stayed"
        );

        let second = try_append(&s.log, "second").unwrap();
        assert_eq!(second.seq, 1);
        check_recovered(s.temp.path(), &[s.first, second]);
    }
}

#[test]
fn a_failed_fsync_that_cannot_be_rolled_back_poisons_the_handle() {
    for rollback in [Call::SetLen, Call::SyncAll] {
        let s = Started::new();

        s.ops.arm(Call::SyncData, 0, Fault::Errno(EIO));
        s.ops.arm(rollback, 0, Fault::Errno(EIO));
        let failed = try_append(&s.log, "unknown state").unwrap_err();
        assert_eq!(os_error(&failed), Some(EIO), "{failed}");

        // Nothing more goes onto a file whose state is unknown, however often it is asked.
        for _ in 0..2 {
            let refused = try_append(&s.log, "after poison").unwrap_err();
            assert!(matches!(refused, AppendError::Poisoned(_)), "{refused}");
            assert!(refused.to_string().contains("reopen"), "{refused}");
        }
        drop(s.log);
        // Reopened, the log verifies and holds the acknowledged receipt. (The line whose
        // fsync failed may still be there: it is a valid receipt that was never
        // acknowledged, so its action did not run.)
        let count = check_recovered(s.temp.path(), &[s.first]);
        assert!((1..=2).contains(&count), "{count}");
    }
}

#[test]
fn a_torn_tail_whose_side_file_cannot_be_saved_stays_in_the_log() {
    for (call, errno) in [
        (Call::Write, ENOSPC),
        (Call::SyncAll, EIO),
        (Call::SyncDir, EIO),
    ] {
        let s = Started::new();
        tear(s.temp.path(), b"{\"alg\":\"heso-act");
        let torn = log_bytes(s.temp.path());

        s.ops.arm(call, 0, Fault::Errno(errno));
        let failed = try_append(&s.log, "second").unwrap_err();
        assert_eq!(os_error(&failed), Some(errno), "{call:?}: {failed}");
        assert!(failed.to_string().contains("torn tail"), "{failed}");
        assert_eq!(log_bytes(s.temp.path()), torn, "{call:?}: torn bytes lost");
        assert!(
            side_files(s.temp.path()).is_empty(),
            "{call:?}: half a side file left"
        );

        let second = try_append(&s.log, "second").unwrap();
        assert!(second.repaired.is_some());
        check_recovered(s.temp.path(), &[s.first, second]);
    }
}

#[test]
fn a_torn_tail_saved_but_not_truncated_is_repaired_again() {
    let s = Started::new();
    tear(s.temp.path(), b"{\"partial");

    s.ops.arm(Call::SetLen, 0, Fault::Errno(EIO));
    let failed = try_append(&s.log, "second").unwrap_err();
    assert_eq!(os_error(&failed), Some(EIO), "{failed}");
    assert_eq!(side_files(s.temp.path()).len(), 1);
    let second = try_append(&s.log, "second").unwrap();
    assert_eq!(second.seq, 1);
    // The torn bytes are kept, once per attempt; the log lost none of them.
    let sides = side_files(s.temp.path());
    assert_eq!(sides.len(), 2);
    for side in sides {
        assert_eq!(std::fs::read(side).unwrap(), b"{\"partial");
    }
    check_recovered(s.temp.path(), &[s.first, second]);
}

#[test]
fn a_new_log_whose_session_cannot_be_created_fails_to_open_and_leaves_nothing() {
    for (call, errno) in [
        (Call::Write, ENOSPC),
        (Call::SyncAll, EIO),
        (Call::HardLink, EDQUOT),
        (Call::SyncDir, EIO),
    ] {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("data");
        let ops = FaultyOps::default();
        ops.arm(call, 0, Fault::Errno(errno));
        let failed =
            Log::open_with(&dir, options(Durability::Fsync), Box::new(ops.clone())).unwrap_err();
        let text = failed.to_string();
        assert!(text.contains(crate::SESSION_FILE), "{call:?}: {text}");
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "{call:?}: {left:?}");
        // A later open (the disk has room again) works.
        check_recovered(&dir, &[]);
    }
}

/// Appends bytes as a writer that died mid-line would have left them.
fn tear(dir: &Path, bytes: &[u8]) {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join(crate::LOG_FILE))
        .unwrap();
    file.write_all(bytes).unwrap();
}

fn side_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".torn-"))
        .collect();
    files.sort();
    files
}

/// Opens a log, appends, meets a torn tail left by another writer and appends again,
/// through `ops`; returns what was acknowledged and how many calls failed.
/// Six appends (a torn tail left before the fourth), then the tree head, as a proof would
/// read it (which writes the sidecar entries still in memory). The acknowledged receipts,
/// the failed appends (or a failed open) and whether reading the tree failed.
fn workload(dir: &Path, ops: &FaultyOps, durability: Durability) -> (Vec<Appended>, usize, bool) {
    let mut acknowledged = Vec::new();
    let mut errors = 0;
    let log = match Log::open_with(dir, options(durability), Box::new(ops.clone())) {
        Ok((log, _)) => log,
        Err(_) => return (acknowledged, 1, false),
    };
    for n in 0..6 {
        if n == 3 {
            tear(dir, b"{\"alg\":\"heso-action/v2+ed25519\",\"con");
        }
        match try_append(&log, &format!("n{n}")) {
            Ok(appended) => acknowledged.push(appended),
            Err(_) => errors += 1,
        }
    }
    let tree_failed = log.tree_head().is_err();
    (acknowledged, errors, tree_failed)
}

/// Every call the workload makes, failed in turn (each kind of call, each occurrence,
/// with a real errno, and short writes): the failure reaches the caller, and the log
/// always recovers with every acknowledged receipt and no seq gap.
#[test]
fn every_call_of_the_append_path_failed_in_turn() {
    for durability in [Durability::Fsync, Durability::Os] {
        // Count the calls of a clean run.
        let temp = tempfile::tempdir().unwrap();
        let counter = FaultyOps::default();
        let (clean, errors, tree_failed) = workload(temp.path(), &counter, durability);
        assert_eq!((clean.len(), errors, tree_failed), (6, 0, false));
        let mut cases = 0;
        for call in CALLS {
            for at in 0..counter.total(call) {
                let mut faults = vec![Fault::Errno(EIO), Fault::Errno(ENOSPC)];
                if call == Call::Write {
                    faults.push(Fault::Short(7));
                }
                for fault in faults {
                    let temp = tempfile::tempdir().unwrap();
                    let ops = FaultyOps::default();
                    ops.arm(call, at, fault);
                    if let Fault::Short(_) = fault {
                        // A short write followed by a full disk.
                        ops.arm(call, at + 1, Fault::Errno(ENOSPC));
                    }
                    let (acknowledged, errors, tree_failed) =
                        workload(temp.path(), &ops, durability);
                    let fired = ops.fired();
                    assert!(!fired.is_empty(), "{call:?}#{at} never ran");
                    assert!(
                        errors >= 1 || tree_failed,
                        "{durability:?} {call:?}#{at} {fault:?}: the failure did not reach a caller"
                    );
                    assert!(
                        acknowledged.len() + errors == 6 || acknowledged.is_empty(),
                        "{acknowledged:?} {errors}"
                    );
                    check_recovered(temp.path(), &acknowledged);
                    cases += 1;
                }
            }
        }
        assert!(cases > 30, "{cases}");
    }
}

/// A disk that stays broken: every append fails, none is acknowledged, nothing half
/// written is left, and the log is whole once the disk works again.
#[test]
fn a_disk_that_stays_full() {
    let s = Started::new();
    s.ops.arm(Call::Write, 0, Fault::Short(40));
    s.ops.break_for_good(Call::Write, ENOSPC);
    for n in 0..5 {
        let failed = try_append(&s.log, &format!("full {n}")).unwrap_err();
        assert_eq!(os_error(&failed), Some(ENOSPC), "{failed}");
    }
    assert_eq!(log_bytes(s.temp.path()), s.before);
    drop(s.log);
    check_recovered(s.temp.path(), &[s.first]);
}

/// The leaf hash goes to `receipts.leaves` after the line is written and before it is
/// synced; a failed or short sidecar write fails the append like a failed log write: the
/// line is taken back off, and the sidecar is mended before the next append.
#[test]
fn a_failed_sidecar_write_fails_the_append_and_leaves_the_log_as_it_was() {
    for fault in [Fault::Errno(EIO), Fault::Errno(ENOSPC), Fault::Short(7)] {
        let s = Started::new();
        let second = try_append(&s.log, "second").unwrap();
        let before = log_bytes(s.temp.path());
        // Two lines' sidecar entries wait: the next append writes them first, #0 the leaf
        // hashes, before its own line.
        s.ops.arm(Call::Write, 0, fault);
        if let Fault::Short(_) = fault {
            s.ops.arm(Call::Write, 1, Fault::Errno(ENOSPC));
        }
        let failed = try_append(&s.log, "refused").unwrap_err();
        assert!(
            failed.to_string().contains(crate::LEAVES_FILE),
            "{fault:?}: {failed}"
        );
        assert_eq!(log_bytes(s.temp.path()), before, "{fault:?}");
        let third = try_append(&s.log, "third").unwrap();
        assert_eq!(third.seq, 2);
        check_sidecars(s.temp.path(), &s.log);
        check_recovered(s.temp.path(), &[s.first, second, third]);
    }
}

/// A failed block-root write (every 256th receipt) is refused the same way.
#[test]
fn a_failed_block_root_write_fails_the_append() {
    let temp = tempfile::tempdir().unwrap();
    let ops = FaultyOps::default();
    let log = open_faulty(temp.path(), &ops, Durability::Os);
    let mut acknowledged = Vec::new();
    for n in 0..256 {
        acknowledged.push(try_append(&log, &format!("n{n}")).unwrap());
    }
    let before = log_bytes(temp.path());
    // The 256th receipt's entries (its leaf, the block root) wait with the 255th's: the
    // next append writes the leaves (#0), the block root (#1) and the index, then its line.
    ops.arm(Call::Write, 1, Fault::Errno(EIO));
    let failed = try_append(&log, "n256").unwrap_err();
    assert!(failed.to_string().contains(crate::NODES_FILE), "{failed}");
    assert_eq!(log_bytes(temp.path()), before);
    acknowledged.push(try_append(&log, "n256").unwrap());
    check_sidecars(temp.path(), &log);
    drop(log);
    check_recovered(temp.path(), &acknowledged);
}

/// After a failed fsync, the leaf already written is cut back off the sidecar at once, so
/// another handle (another process) whose view of the log did not change appends its leaf
/// at the right place.
#[test]
fn a_failed_fsync_cuts_the_leaf_back_off_for_other_handles() {
    let s = Started::new();
    let other = Log::open(s.temp.path(), options(Durability::Fsync))
        .unwrap()
        .0;
    s.ops.arm(Call::SyncData, 0, Fault::Errno(EIO));
    try_append(&s.log, "not durable").unwrap_err();
    assert_eq!(
        std::fs::metadata(s.temp.path().join(crate::LEAVES_FILE))
            .unwrap()
            .len(),
        32
    );
    let second = try_append(&other, "from the other handle").unwrap();
    assert_eq!(second.seq, 1);
    check_sidecars(s.temp.path(), &other);
    check_recovered(s.temp.path(), &[s.first, second]);
}

/// The byte offset just past each line of the log, by action_hash.
fn line_ends(dir: &Path) -> BTreeMap<String, u64> {
    let bytes = log_bytes(dir);
    let mut ends = BTreeMap::new();
    let mut start = 0;
    for (at, byte) in bytes.iter().enumerate() {
        if *byte == b'\n' {
            let value: serde_json::Value = serde_json::from_slice(&bytes[start..at]).unwrap();
            let hash = value["content"]["action_hash"].as_str().unwrap().to_owned();
            ends.insert(hash, at as u64 + 1);
            start = at + 1;
        }
    }
    ends
}

/// Group commit never acknowledges early: when any append returns, an fdatasync that
/// started after its whole line was written has succeeded.
#[test]
fn no_append_returns_before_an_fsync_covering_its_line() {
    let s = Started::new();
    let seen: Vec<(Appended, u64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let (log, ops) = (&s.log, &s.ops);
                scope.spawn(move || {
                    (0..40)
                        .map(|n| {
                            let appended = try_append(log, &format!("t{t}-{n}")).unwrap();
                            (appended, ops.synced_upto())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let ends = line_ends(s.temp.path());
    for (appended, durable) in &seen {
        let end = ends[&appended.action_hash];
        assert!(
            end <= *durable,
            "seq {} returned with its line ending at {end} but only {durable} bytes fsynced",
            appended.seq
        );
    }
    assert!(s.ops.total(Call::SyncData) <= 1 + 160);
    let mut acknowledged: Vec<Appended> = seen.into_iter().map(|(a, _)| a).collect();
    acknowledged.push(s.first);
    assert_eq!(check_recovered(s.temp.path(), &acknowledged), 161);
}

fn line_count(dir: &Path) -> usize {
    log_bytes(dir).iter().filter(|b| **b == b'\n').count()
}

/// Waits until the log has `lines` lines; on a timeout, lets the held syncs go and fails.
fn wait_for_lines(dir: &Path, ops: &FaultyOps, lines: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while line_count(dir) < lines {
        if Instant::now() > deadline {
            ops.release_syncs();
            panic!(
                "only {} of {lines} lines written while an fsync was in flight: appends wait for it instead of writing",
                line_count(dir)
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Appends held behind one in-flight fsync: A's fdatasync is held at its start; B, C and
/// D write their lines meanwhile and wait (none returns); once A's fsync is let go, one
/// more fsync covers all three. Four appends, two fsyncs. `fail` makes A's fsync fail:
/// then all four fail, and all four lines are taken back off.
fn held_fsync(fail: bool) -> (Started, Vec<Result<Appended, AppendError<String>>>, usize) {
    let s = Started::new();
    let syncs_before = s.ops.total(Call::SyncData);
    if fail {
        s.ops.arm(Call::SyncData, 0, Fault::Errno(EIO));
    }
    s.ops.hold_syncs();
    let dir = s.temp.path();
    let results = std::thread::scope(|scope| {
        let first = scope.spawn(|| try_append(&s.log, "A"));
        wait_for_lines(dir, &s.ops, 2);
        let others: Vec<_> = ["B", "C", "D"]
            .into_iter()
            .map(|tag| scope.spawn(|| try_append(&s.log, tag)))
            .collect();
        wait_for_lines(dir, &s.ops, 5);
        // A little longer, so an early return would be seen.
        std::thread::sleep(Duration::from_millis(50));
        let early = first.is_finished() || others.iter().any(|h| h.is_finished());
        s.ops.release_syncs();
        assert!(!early, "an append returned while its fsync was held");
        let mut results = vec![first.join().unwrap()];
        results.extend(others.into_iter().map(|h| h.join().unwrap()));
        results
    });
    let syncs = s.ops.total(Call::SyncData) - syncs_before;
    (s, results, syncs)
}

#[test]
fn appends_that_arrive_during_an_fsync_share_the_next_one() {
    let (s, results, syncs) = held_fsync(false);
    let acknowledged: Vec<Appended> = results.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        syncs, 2,
        "four appends, one fsync for A and one shared by B, C, D"
    );
    let mut seqs: Vec<u64> = acknowledged.iter().map(|a| a.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, [1, 2, 3, 4]);
    let mut all = acknowledged;
    all.push(s.first.clone());
    assert_eq!(check_recovered(s.temp.path(), &all), 5);
}

#[test]
fn a_failed_shared_fsync_fails_every_append_waiting_on_it() {
    let (s, results, _) = held_fsync(true);
    for result in &results {
        let failed = result.as_ref().unwrap_err();
        assert_eq!(os_error(failed), Some(EIO), "{failed}");
        assert!(failed.to_string().contains("cannot fsync"), "{failed}");
    }
    assert_eq!(
        log_bytes(s.temp.path()),
        s.before,
        "an unacknowledged line stayed"
    );
    let second = try_append(&s.log, "second").unwrap();
    assert_eq!(second.seq, 1);
    check_recovered(s.temp.path(), &[s.first.clone(), second]);
}

/// The third write of an append is its `receipts.index` record: when it fails, the append
/// fails and the line and its leaf go back off.
#[test]
fn a_failed_index_write_fails_the_append_and_leaves_the_log_as_it_was() {
    let s = Started::new();
    let second = try_append(&s.log, "second").unwrap();
    let before = log_bytes(s.temp.path());
    // The waiting entries are written first: #0 the leaf hashes, #1 the index records.
    s.ops.arm(Call::Write, 1, Fault::Errno(ENOSPC));
    let failed = try_append(&s.log, "refused").unwrap_err();
    assert_eq!(os_error(&failed), Some(ENOSPC), "{failed}");
    assert!(failed.to_string().contains(crate::INDEX_FILE), "{failed}");
    assert_eq!(log_bytes(s.temp.path()), before);
    let third = try_append(&s.log, "third").unwrap();
    assert_eq!(third.seq, 2);
    check_sidecars(s.temp.path(), &s.log);
    check_recovered(s.temp.path(), &[s.first, second, third]);
}

/// The log's leaf hashes as `receipts.leaves` holds them, computed from the log.
fn leaves_bytes_of_log(dir: &Path) -> Vec<u8> {
    std::fs::read_to_string(dir.join(crate::LOG_FILE))
        .unwrap()
        .lines()
        .flat_map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            *heso_tlog::leaf_hash_from_hex(value["content"]["action_hash"].as_str().unwrap())
                .unwrap()
                .as_bytes()
        })
        .collect()
}

/// Sidecar entries wait in memory (two lines' worth in these tests) until a batch is
/// written. Another handle that opens the log meanwhile mends them from the log; the first
/// handle then writes only what is still missing, never an entry twice, and a handle that
/// finds the log grown by another mends from the log and drops what it held.
#[test]
fn entries_another_handle_mended_are_not_written_twice() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    let a = Log::open(dir, options(Durability::Os)).unwrap().0;
    let mut acknowledged = vec![try_append(&a, "a0").unwrap(), try_append(&a, "a1").unwrap()];
    assert!(
        std::fs::read(dir.join(crate::LEAVES_FILE))
            .unwrap()
            .is_empty()
    );
    // Opening mends the sidecars from the log: a0 and a1's entries are written by `b`.
    let b = Log::open(dir, options(Durability::Os)).unwrap().0;
    assert_eq!(
        std::fs::read(dir.join(crate::LEAVES_FILE)).unwrap(),
        leaves_bytes_of_log(dir)
    );
    // `a` writes its batch first: nothing is missing any more, so nothing is written.
    acknowledged.push(try_append(&a, "a2").unwrap());
    let stored = std::fs::read(dir.join(crate::LEAVES_FILE)).unwrap();
    let expected = leaves_bytes_of_log(dir);
    assert_eq!(stored.len(), 2 * 32, "an entry written twice or lost");
    assert!(expected.starts_with(&stored));
    acknowledged.push(try_append(&b, "b0").unwrap());
    acknowledged.push(try_append(&a, "a3").unwrap());
    acknowledged.push(try_append(&a, "a4").unwrap());
    check_sidecars(dir, &b);
    check_sidecars(dir, &a);
    drop(a);
    drop(b);
    check_recovered(dir, &acknowledged);
}

/// A sidecar that is not where the handle expects when it writes a batch (here, longer
/// than the log's entries: someone appended to it) is mended from the log, and the append
/// goes on at the right place.
#[test]
fn a_batch_that_finds_its_sidecar_changed_mends_it_and_appends() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    let log = Log::open(dir, options(Durability::Os)).unwrap().0;
    let mut acknowledged = vec![
        try_append(&log, "n0").unwrap(),
        try_append(&log, "n1").unwrap(),
    ];
    let mut leaves = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join(crate::LEAVES_FILE))
        .unwrap();
    std::io::Write::write_all(&mut leaves, &[7u8; 96]).unwrap();
    drop(leaves);
    let third = try_append(&log, "n2").unwrap();
    assert_eq!(third.seq, 2);
    acknowledged.push(third);
    check_sidecars(dir, &log);
    drop(log);
    check_recovered(dir, &acknowledged);
}
