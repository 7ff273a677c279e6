//! `receipts.index`, the lookup index kept beside the log: kept in step by appends,
//! rebuilt when missing or damaged, and never trusted over the log by a lookup.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

use std::path::{Path, PathBuf};

use heso_chain::{Durability, INDEX_FILE, Log, LogOptions, LookupError, find_by_prefix};

mod support;
use support::signed_line;

const RECORD: usize = 48;

fn open(dir: &Path) -> Log {
    Log::open(
        dir,
        LogOptions {
            durability: Durability::Os,
        },
    )
    .unwrap()
    .0
}

/// A log of `n` receipts; their action_hashes in log order.
fn log_of(dir: &Path, n: usize) -> Vec<String> {
    let log = open(dir);
    (0..n)
        .map(|i| {
            log.append(|p| signed_line(p, &format!("r{i}")))
                .unwrap()
                .action_hash
        })
        .collect()
}

fn log_path(dir: &Path) -> PathBuf {
    dir.join("receipts.jsonl")
}

fn index_path(dir: &Path) -> PathBuf {
    dir.join(INDEX_FILE)
}

fn lines(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(log_path(dir))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Every receipt is found by a 12-digit prefix, at its own line with its own number.
fn all_found(dir: &Path, hashes: &[String]) {
    let lines = lines(dir);
    for (i, hash) in hashes.iter().enumerate() {
        let found = find_by_prefix(&log_path(dir), &hash[..12]).unwrap();
        assert_eq!(found.line, lines[i], "receipt {i}");
        assert_eq!(found.line_number, i as u64 + 1, "receipt {i}");
    }
}

#[test]
fn appends_keep_one_record_per_line() {
    let temp = tempfile::tempdir().unwrap();
    let hashes = log_of(temp.path(), 30);
    let index = std::fs::read(index_path(temp.path())).unwrap();
    assert_eq!(index.len(), 30 * RECORD);
    let mut offset = 0u64;
    for (i, line) in lines(temp.path()).iter().enumerate() {
        let record = &index[i * RECORD..(i + 1) * RECORD];
        let hex: String = record[..32].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, hashes[i]);
        assert_eq!(
            u64::from_le_bytes(record[32..40].try_into().unwrap()),
            offset
        );
        assert_eq!(
            u64::from_le_bytes(record[40..48].try_into().unwrap()),
            i as u64 + 1
        );
        offset += line.len() as u64 + 1;
    }
    all_found(temp.path(), &hashes);
}

#[test]
fn a_crash_truncated_index_still_finds_everything_and_is_mended() {
    let temp = tempfile::tempdir().unwrap();
    let hashes = log_of(temp.path(), 20);
    let whole = std::fs::read(index_path(temp.path())).unwrap();
    // A crash left 7 records and part of the 8th.
    std::fs::write(index_path(temp.path()), &whole[..7 * RECORD + 20]).unwrap();
    all_found(temp.path(), &hashes);
    // The next writer mends it from the log.
    drop(open(temp.path()));
    assert_eq!(std::fs::read(index_path(temp.path())).unwrap(), whole);
}

#[test]
fn a_deleted_index_still_finds_everything_and_is_rebuilt() {
    let temp = tempfile::tempdir().unwrap();
    let hashes = log_of(temp.path(), 20);
    let whole = std::fs::read(index_path(temp.path())).unwrap();
    std::fs::remove_file(index_path(temp.path())).unwrap();
    all_found(temp.path(), &hashes);
    drop(open(temp.path()));
    assert_eq!(std::fs::read(index_path(temp.path())).unwrap(), whole);
}

#[test]
fn lines_after_the_index_are_found_in_the_log() {
    let temp = tempfile::tempdir().unwrap();
    let mut hashes = log_of(temp.path(), 10);
    // A handle that keeps no index (as an older heso would) adds 5 more.
    let (plain, _) = Log::open_without_tree(
        temp.path(),
        LogOptions {
            durability: Durability::Os,
        },
    )
    .unwrap();
    for i in 0..5 {
        hashes.push(
            plain
                .append(|p| signed_line(p, &format!("plain{i}")))
                .unwrap()
                .action_hash,
        );
    }
    assert_eq!(
        std::fs::metadata(index_path(temp.path())).unwrap().len(),
        10 * RECORD as u64
    );
    all_found(temp.path(), &hashes);
}

/// Whatever the index says, a lookup gives the receipt asked for, never another one:
/// records pointing at the wrong line, every byte of the index flipped in turn (a record
/// whose hash is flipped no longer names its receipt: the lookup then reads the log).
#[test]
fn a_tampered_index_never_gives_a_wrong_receipt() {
    let temp = tempfile::tempdir().unwrap();
    let hashes = log_of(temp.path(), 12);
    let lines = lines(temp.path());
    let whole = std::fs::read(index_path(temp.path())).unwrap();

    // Record 3 points to line 8 and record 8 to line 3.
    let mut swapped = whole.clone();
    let offset = |r: usize| r * RECORD + 32..r * RECORD + 40;
    let (a, b) = (whole[offset(3)].to_vec(), whole[offset(8)].to_vec());
    swapped[offset(3)].copy_from_slice(&b);
    swapped[offset(8)].copy_from_slice(&a);
    std::fs::write(index_path(temp.path()), &swapped).unwrap();
    for i in [3, 8] {
        let found = find_by_prefix(&log_path(temp.path()), &hashes[i][..12]).unwrap();
        assert_eq!(found.line, lines[i]);
    }

    // Record 5 names receipt 5 but points to where receipt 2 is.
    let mut moved = whole.clone();
    let two = whole[offset(2)].to_vec();
    moved[offset(5)].copy_from_slice(&two);
    std::fs::write(index_path(temp.path()), &moved).unwrap();
    let found = find_by_prefix(&log_path(temp.path()), &hashes[5][..12]).unwrap();
    assert_eq!(found.line, lines[5]);

    for at in 0..whole.len() {
        let mut flipped = whole.clone();
        flipped[at] ^= 0x41;
        std::fs::write(index_path(temp.path()), &flipped).unwrap();
        for (i, hash) in hashes.iter().enumerate() {
            let found = find_by_prefix(&log_path(temp.path()), &hash[..12]);
            match found {
                Ok(found) => {
                    assert_eq!(found.line, lines[i], "byte {at} flipped, receipt {i}");
                    assert_eq!(found.line_number, i as u64 + 1, "byte {at} flipped");
                }
                Err(other) => panic!("byte {at} flipped, receipt {i}: {other}"),
            }
        }
    }
    // And the next writer puts it right.
    drop(open(temp.path()));
    assert_eq!(std::fs::read(index_path(temp.path())).unwrap(), whole);
}

#[test]
fn an_ambiguous_prefix_is_still_ambiguous_through_the_index() {
    let temp = tempfile::tempdir().unwrap();
    let log = open(temp.path());
    let mut seen: Vec<String> = Vec::new();
    // Two of ~300 random hashes share their first 4 digits more often than not; 5,000
    // make it certain for any practical purpose.
    let pair = (0..5000)
        .find_map(|i| {
            let hash = log
                .append(|p| signed_line(p, &format!("a{i}")))
                .unwrap()
                .action_hash;
            let twin = seen.iter().find(|h| h[..4] == hash[..4]).cloned();
            seen.push(hash.clone());
            twin.map(|twin| (twin, hash))
        })
        .unwrap();
    // The last lines' records may still wait in memory (written in batches): the lines
    // after the last indexed one are read from the log.
    match find_by_prefix(&log_path(temp.path()), &pair.0[..4]) {
        Err(LookupError::Ambiguous { candidates, .. }) => {
            assert!(candidates.contains(&pair.0) && candidates.contains(&pair.1));
        }
        other => panic!("while the log is open: {other:?}"),
    }
    // Closed, the log has written them all.
    drop(log);
    assert_eq!(
        std::fs::metadata(index_path(temp.path())).unwrap().len(),
        (seen.len() * RECORD) as u64
    );
    for deleted in [false, true] {
        if deleted {
            std::fs::remove_file(index_path(temp.path())).unwrap();
        }
        match find_by_prefix(&log_path(temp.path()), &pair.0[..4]) {
            Err(LookupError::Ambiguous { candidates, .. }) => {
                assert!(candidates.contains(&pair.0) && candidates.contains(&pair.1));
            }
            other => panic!("index deleted: {deleted}: {other:?}"),
        }
    }
}
