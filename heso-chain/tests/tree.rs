//! The log as a Merkle tree: the tree head kept with the tail, the sidecars proofs read,
//! and their repair from the log whatever happened to them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

use std::num::NonZeroU64;
use std::path::Path;
use std::sync::{Arc, Mutex};

use heso_chain::{
    LEAVES_FILE, Log, LogOptions, NODES_FILE, TreeError, UnreadableLine, tree_of_log,
};
use heso_tlog::{Hash, leaf_hash_from_hex, prove_consistency, prove_inclusion, root_of_leaves};

mod support;
use support::signed_line;

fn open(dir: &Path) -> Log {
    Log::open(dir, LogOptions::default()).unwrap().0
}

fn append_n(log: &Log, n: usize) {
    for i in 0..n {
        log.append(|position| signed_line(position, &format!("r{i}")))
            .unwrap();
    }
}

fn log_lines(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("receipts.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The leaf hashes of the log's receipts, computed here from the log alone.
fn leaves_of_log(dir: &Path) -> Vec<Hash> {
    log_lines(dir)
        .iter()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            leaf_hash_from_hex(value["content"]["action_hash"].as_str().unwrap()).unwrap()
        })
        .collect()
}

/// The sidecars hold exactly the log's leaves and block roots, and the tree head is right.
fn assert_in_step(dir: &Path, log: &Log) {
    // First, as a proof would: the sidecar entries still in memory are written.
    let head = log.tree_head().unwrap();
    let leaves = leaves_of_log(dir);
    let stored = std::fs::read(dir.join(LEAVES_FILE)).unwrap();
    let expected: Vec<u8> = leaves.iter().flat_map(|h| *h.as_bytes()).collect();
    assert_eq!(stored, expected, "receipts.leaves");
    let blocks: Vec<u8> = leaves
        .chunks_exact(256)
        .flat_map(|block| *root_of_leaves(block).as_bytes())
        .collect();
    assert_eq!(
        std::fs::read(dir.join(NODES_FILE)).unwrap(),
        blocks,
        "receipts.nodes"
    );
    assert_eq!(head.size, leaves.len() as u64);
    assert_eq!(head.root, root_of_leaves(&leaves));
}

#[test]
fn the_tree_head_is_the_root_of_the_receipts_action_hashes() {
    let temp = tempfile::tempdir().unwrap();
    let log = open(temp.path());
    let empty = log.tree_head().unwrap();
    assert_eq!(empty.size, 0);
    assert_eq!(empty.root, heso_tlog::empty_root());
    for n in 1..=20 {
        append_n(&log, 1);
        let head = log.tree_head().unwrap();
        assert_eq!(head.size, n);
        assert_eq!(head.root, root_of_leaves(&leaves_of_log(temp.path())));
    }
    assert_in_step(temp.path(), &log);

    let origin = heso_tlog::origin(
        "z6Mkon3Necd6NkkyfoGoHxid2znGc59LU3K7mubaRcFbLfLX",
        log.session_id(),
    )
    .unwrap();
    let checkpoint = log.checkpoint(&origin).unwrap();
    assert_eq!(checkpoint.size(), 20);
    assert_eq!(checkpoint.origin(), origin);
    assert!(matches!(
        log.checkpoint("has space"),
        Err(TreeError::Origin(_))
    ));
}

#[test]
fn proofs_from_the_sidecars_verify_against_the_tree_head() {
    let temp = tempfile::tempdir().unwrap();
    let log = open(temp.path());
    // Past two blocks of 256, so proofs read block roots as well as leaves.
    append_n(&log, 600);
    assert_in_step(temp.path(), &log);
    let leaves = leaves_of_log(temp.path());
    let (head, source) = log.tree_snapshot().unwrap();
    assert_eq!(source.size(), 600);
    for index in [0u64, 1, 255, 256, 300, 511, 512, 599] {
        let proof = prove_inclusion(&source, index, head.size).unwrap();
        proof.verify(&leaves[index as usize], &head.root).unwrap();
        assert_eq!(
            proof,
            prove_inclusion(&leaves[..], index, head.size).unwrap()
        );
    }
    for old in [0u64, 1, 256, 257, 511, 512, 599, 600] {
        let old_root = root_of_leaves(&leaves[..old as usize]);
        let proof = prove_consistency(&source, old, head.size).unwrap();
        proof.verify(&old_root, &head.root).unwrap();
    }
    // Appends after the snapshot do not change what it proves.
    append_n(&log, 3);
    let proof = prove_inclusion(&source, 599, 600).unwrap();
    proof.verify(&leaves[599], &head.root).unwrap();
}

/// What can happen to a sidecar between two opens; each is mended or rebuilt from the log.
type Damage = Box<dyn Fn(&Path)>;

fn damage_cases() -> Vec<(&'static str, Damage)> {
    let truncate_by = |bytes: u64| {
        move |dir: &Path| {
            let path = dir.join(LEAVES_FILE);
            let len = std::fs::metadata(&path).unwrap().len();
            let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            file.set_len(len - bytes).unwrap();
        }
    };
    vec![
        (
            "deleted",
            Box::new(|dir: &Path| std::fs::remove_file(dir.join(LEAVES_FILE)).unwrap()),
        ),
        ("torn (a partial last entry)", Box::new(truncate_by(5))),
        ("short by two entries", Box::new(truncate_by(64))),
        (
            "emptied",
            Box::new(|dir: &Path| std::fs::write(dir.join(LEAVES_FILE), b"").unwrap()),
        ),
        (
            "one entry too many",
            Box::new(|dir: &Path| {
                let mut bytes = std::fs::read(dir.join(LEAVES_FILE)).unwrap();
                bytes.extend_from_slice(&[9u8; 32]);
                std::fs::write(dir.join(LEAVES_FILE), bytes).unwrap();
            }),
        ),
        (
            "its last entry changed",
            Box::new(|dir: &Path| {
                let mut bytes = std::fs::read(dir.join(LEAVES_FILE)).unwrap();
                let last = bytes.len() - 1;
                bytes[last] ^= 1;
                std::fs::write(dir.join(LEAVES_FILE), bytes).unwrap();
            }),
        ),
        (
            "an entry four from the end changed",
            Box::new(|dir: &Path| {
                let mut bytes = std::fs::read(dir.join(LEAVES_FILE)).unwrap();
                let at = bytes.len() - 4 * 32;
                bytes[at] ^= 1;
                std::fs::write(dir.join(LEAVES_FILE), bytes).unwrap();
            }),
        ),
        (
            "garbage",
            Box::new(|dir: &Path| std::fs::write(dir.join(LEAVES_FILE), [7u8; 1000]).unwrap()),
        ),
        (
            "block roots deleted",
            Box::new(|dir: &Path| std::fs::remove_file(dir.join(NODES_FILE)).unwrap()),
        ),
        (
            "last block root changed",
            Box::new(|dir: &Path| {
                let mut bytes = std::fs::read(dir.join(NODES_FILE)).unwrap();
                let last = bytes.len() - 1;
                bytes[last] ^= 1;
                std::fs::write(dir.join(NODES_FILE), bytes).unwrap();
            }),
        ),
        (
            "block roots torn",
            Box::new(|dir: &Path| {
                let mut bytes = std::fs::read(dir.join(NODES_FILE)).unwrap();
                bytes.truncate(bytes.len() - 3);
                std::fs::write(dir.join(NODES_FILE), bytes).unwrap();
            }),
        ),
    ]
}

#[test]
fn a_damaged_or_missing_sidecar_is_rebuilt_from_the_log_never_trusted() {
    let temp = tempfile::tempdir().unwrap();
    {
        let log = open(temp.path());
        append_n(&log, 520);
    }
    let leaves = leaves_of_log(temp.path());
    let root = root_of_leaves(&leaves);
    for (name, damage) in damage_cases() {
        damage(temp.path());
        let log = open(temp.path());
        let head = log.tree_head().unwrap();
        assert_eq!((head.size, head.root), (520, root), "{name}");
        assert_in_step(temp.path(), &log);
        // And it keeps growing from there.
        append_n(&log, 1);
        assert_in_step(temp.path(), &log);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(temp.path().join("receipts.jsonl"))
            .unwrap();
        // Back to 520 receipts for the next case: drop the last line.
        let text = std::fs::read_to_string(temp.path().join("receipts.jsonl")).unwrap();
        let keep = text.trim_end().rfind('\n').unwrap() + 1;
        file.set_len(keep as u64).unwrap();
    }
}

#[test]
fn another_process_appending_is_seen_and_the_sidecars_stay_in_step() {
    let temp = tempfile::tempdir().unwrap();
    // Two handles on one log behave as two processes do: each meets the other's appends.
    let first = open(temp.path());
    let second = open(temp.path());
    for round in 0..40 {
        let log = if round % 3 == 0 { &second } else { &first };
        append_n(log, 7);
    }
    assert_in_step(temp.path(), &first);
    assert_in_step(temp.path(), &second);
    assert_eq!(first.tree_head().unwrap(), second.tree_head().unwrap());
}

#[test]
fn a_handle_without_the_tree_leaves_the_sidecars_short_and_the_next_open_mends_them() {
    let temp = tempfile::tempdir().unwrap();
    append_n(&open(temp.path()), 10);
    let (bare, _) = Log::open_without_tree(temp.path(), LogOptions::default()).unwrap();
    append_n(&bare, 5);
    assert!(matches!(bare.tree_head(), Err(TreeError::Disabled)));
    assert_eq!(
        std::fs::metadata(temp.path().join(LEAVES_FILE))
            .unwrap()
            .len(),
        10 * 32
    );
    let log = open(temp.path());
    assert_in_step(temp.path(), &log);
}

#[test]
fn a_log_with_a_receipt_missing_has_no_tree_but_still_takes_appends() {
    let temp = tempfile::tempdir().unwrap();
    append_n(&open(temp.path()), 6);
    let mut lines = log_lines(temp.path());
    lines.remove(2);
    std::fs::write(
        temp.path().join("receipts.jsonl"),
        format!("{}\n", lines.join("\n")),
    )
    .unwrap();
    std::fs::remove_file(temp.path().join(LEAVES_FILE)).unwrap();
    let log = open(temp.path());
    let error = log.tree_head().unwrap_err();
    assert!(
        matches!(error, TreeError::Damaged { line: 3, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("seq 3 where 2"), "{error}");
    let appended = log
        .append(|position| signed_line(position, "after"))
        .unwrap();
    assert_eq!(appended.seq, 6);
    assert!(log.checkpoint("heso.dev/log/x/y").is_err());
}

#[test]
fn the_hook_runs_at_every_multiple() {
    let temp = tempfile::tempdir().unwrap();
    let mut log = open(temp.path());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let into = Arc::clone(&seen);
    log.set_tree_hook(NonZeroU64::new(4).unwrap(), move |head| {
        into.lock().unwrap().push(*head);
    });
    append_n(&log, 13);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen.iter().map(|h| h.size).collect::<Vec<_>>(),
        vec![4, 8, 12]
    );
    let leaves = leaves_of_log(temp.path());
    for head in seen {
        assert_eq!(head.root, root_of_leaves(&leaves[..head.size as usize]));
    }
}

#[test]
fn the_tree_of_a_log_file_is_computed_from_the_log_alone() {
    let temp = tempfile::tempdir().unwrap();
    let log = open(temp.path());
    append_n(&log, 9);
    let path = temp.path().join("receipts.jsonl");
    let leaves = leaves_of_log(temp.path());
    // No sidecar is read: deleting them changes nothing.
    std::fs::remove_file(temp.path().join(LEAVES_FILE)).unwrap();
    let tree = tree_of_log(&path, log.session_id(), &[0, 3, 9, 20]).unwrap();
    assert_eq!(tree.size(), 9);
    assert_eq!(tree.root(), Ok(root_of_leaves(&leaves)));
    assert_eq!(tree.root_at(0), Some(Ok(heso_tlog::empty_root())));
    assert_eq!(tree.root_at(3), Some(Ok(root_of_leaves(&leaves[..3]))));
    assert_eq!(tree.root_at(20), None);
    // Another session's lines are not leaves of this log.
    assert_eq!(tree_of_log(&path, "other", &[]).unwrap().size(), 0);

    // A line that is no receipt spoils every root that covers it, not the ones before.
    let mut lines = log_lines(temp.path());
    lines[5] = "{not a receipt".into();
    std::fs::write(&path, format!("{}\n", lines.join("\n"))).unwrap();
    let tree = tree_of_log(&path, log.session_id(), &[5, 6]).unwrap();
    assert_eq!(tree.size(), 9);
    assert_eq!(tree.root_at(5), Some(Ok(root_of_leaves(&leaves[..5]))));
    assert_eq!(tree.root_at(6), Some(Err(UnreadableLine { line: 6 })));
    assert_eq!(tree.root(), Err(UnreadableLine { line: 6 }));

    // A torn last line is not a leaf.
    std::fs::write(&path, format!("{}\n{{\"partial", lines[..5].join("\n"))).unwrap();
    assert_eq!(
        tree_of_log(&path, log.session_id(), &[]).unwrap().root(),
        Ok(root_of_leaves(&leaves[..5]))
    );
}
