//! The log with real files, real threads and real processes (this test binary re-runs
//! itself as the child appender).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use heso_chain::{AppendError, Appended, Durability, Log, LogOptions, find_by_prefix, verify_log};
use heso_receipt::{SignerPins, SigningKey};
use serde_json::{Value, json};

const CHILD_DIR: &str = "HESO_CHAIN_TEST_CHILD_DIR";
const CHILD_COUNT: &str = "HESO_CHAIN_TEST_CHILD_COUNT";

mod support;
use support::{signed_line, signed_receipt, test_key as key};

fn append(log: &Log, tag: &str) -> Appended {
    log.append(|position| signed_line(position, tag)).unwrap()
}

fn open(dir: &Path) -> Log {
    Log::open(dir, LogOptions::default()).unwrap().0
}

fn pins() -> SignerPins {
    SignerPins::Only(vec![key().verifying_key()])
}

fn lines(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("receipts.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(dir: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(dir.join("receipts.jsonl"), text).unwrap();
}

/// The child appender: runs only when the parent test sets the variables.
#[test]
fn child_process_appender() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let count: u64 = std::env::var(CHILD_COUNT).unwrap().parse().unwrap();
    let log = open(Path::new(&dir));
    let stdout = std::io::stdout();
    for n in 0..count {
        let appended = append(&log, &format!("child-{}-{n}", std::process::id()));
        let mut out = stdout.lock();
        writeln!(out, "SEQ {} {}", appended.seq, appended.action_hash).unwrap();
        out.flush().unwrap();
    }
}

fn child(dir: &Path, count: u64) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "child_process_appender",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir)
        .env(CHILD_COUNT, count.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    command
}

#[test]
fn appends_chain_and_verify() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    let log = open(&dir);
    let mut hashes = Vec::new();
    for n in 0..10 {
        let appended = append(&log, &format!("n{n}"));
        assert_eq!(appended.seq, n);
        assert!(appended.repaired.is_none());
        hashes.push(appended.action_hash);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let log_mode = std::fs::metadata(dir.join("receipts.jsonl"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(log_mode & 0o777, 0o600);
    }
    let report = verify_log(&dir.join("receipts.jsonl"), &pins(), None).unwrap();
    assert!(report.all_valid(), "{report:?}");
    assert_eq!(report.receipts, 10);
    assert_eq!(report.sessions.len(), 1);
    assert_eq!(report.sessions[0].last_seq, 9);
    assert_eq!(report.sessions[0].head_hash, hashes[9]);
    assert_eq!(report.sessions[0].session_id, log.session_id());

    // Reopening continues the chain.
    drop(log);
    let log = open(&dir);
    assert_eq!(append(&log, "after reopen").seq, 10);

    let found = find_by_prefix(&dir.join("receipts.jsonl"), &hashes[3][..8]).unwrap();
    assert_eq!(found.line_number, 4);
    assert!(found.line.contains(&hashes[3]));
    let upper =
        find_by_prefix(&dir.join("receipts.jsonl"), &hashes[3][..8].to_uppercase()).unwrap();
    assert_eq!(upper.line_number, 4);
    assert!(matches!(
        find_by_prefix(&dir.join("receipts.jsonl"), "abc"),
        Err(heso_chain::LookupError::BadPrefix(_))
    ));
    assert!(matches!(
        find_by_prefix(&dir.join("receipts.jsonl"), "zzzz"),
        Err(heso_chain::LookupError::BadPrefix(_))
    ));
    // A prefix that cannot be in any hash of ours.
    let absent = (0..16).map(|_| "0").collect::<String>();
    let result = find_by_prefix(&dir.join("receipts.jsonl"), &absent);
    assert!(
        matches!(result, Err(heso_chain::LookupError::NotFound { .. })),
        "{result:?}"
    );
}

#[test]
fn ambiguous_prefix_lists_candidates() {
    let temp = tempfile::tempdir().unwrap();
    let log = open(temp.path());
    let mut hashes: Vec<String> = (0..40)
        .map(|n| append(&log, &format!("a{n}")).action_hash)
        .collect();
    hashes.sort();
    // With 40 hashes, two sharing 4 leading digits is not certain: when they do, the
    // lookup must name both.
    let pair = hashes.windows(2).find(|w| w[0][..4] == w[1][..4]);
    if let Some(pair) = pair {
        match find_by_prefix(&temp.path().join("receipts.jsonl"), &pair[0][..4]) {
            Err(heso_chain::LookupError::Ambiguous { candidates, .. }) => {
                assert!(candidates.contains(&pair[0]) && candidates.contains(&pair[1]));
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_bad_closure_or_line_writes_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let log = open(temp.path());
    append(&log, "first");
    let failed: Result<Appended, AppendError<String>> = log.append(|_| Err("nope".to_owned()));
    assert!(matches!(failed, Err(AppendError::Build(ref e)) if e == "nope"));
    let wrong: Result<Appended, AppendError<String>> =
        log.append(|_| Ok("{\"not\":\"a receipt\"}".into()));
    assert!(matches!(wrong, Err(AppendError::BadLine(_))), "{wrong:?}");
    let wrong_link: Result<Appended, AppendError<String>> = log.append(|position| {
        let mut elsewhere = position.clone();
        elsewhere.prev_receipt_hash = Some("00".repeat(32));
        signed_line(&elsewhere, "mislinked")
    });
    match wrong_link {
        Err(AppendError::BadLine(message)) => {
            assert!(message.contains("prev_receipt_hash is 0000"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(lines(temp.path()).len(), 1);
    assert_eq!(append(&log, "second").seq, 1);
}

#[test]
fn a_typed_receipt_is_written_once_as_its_line_and_checked_like_one() {
    let temp = tempfile::tempdir().unwrap();
    let log = open(temp.path());
    append(&log, "first");
    let (appended, receipt) = log
        .append_receipt(|position| signed_receipt(position, "typed"))
        .unwrap();
    assert_eq!(appended.seq, 1);
    assert_eq!(receipt.content.action_hash, appended.action_hash);
    assert_eq!(lines(temp.path())[1], receipt.to_json().unwrap());

    let wrong_seq: Result<_, AppendError<String>> = log.append_receipt(|position| {
        let mut elsewhere = position.clone();
        elsewhere.seq += 1;
        signed_receipt(&elsewhere, "skips a seq")
    });
    match wrong_seq {
        Err(AppendError::BadLine(message)) => assert!(message.contains("seq 3"), "{message}"),
        other => panic!("{other:?}"),
    }
    let wrong_link: Result<_, AppendError<String>> = log.append_receipt(|position| {
        let mut elsewhere = position.clone();
        elsewhere.prev_receipt_hash = Some("00".repeat(32));
        signed_receipt(&elsewhere, "mislinked")
    });
    assert!(
        matches!(wrong_link, Err(AppendError::BadLine(_))),
        "{wrong_link:?}"
    );
    let unchained: Result<_, AppendError<String>> = log.append_receipt(|position| {
        let mut receipt = signed_receipt(position, "no chain")?;
        receipt.content.seq = None;
        Ok(receipt)
    });
    assert!(
        matches!(unchained, Err(AppendError::BadLine(_))),
        "{unchained:?}"
    );
    let failed: Result<_, AppendError<String>> = log.append_receipt(|_| Err("nope".to_owned()));
    assert!(matches!(failed, Err(AppendError::Build(ref e)) if e == "nope"));

    assert_eq!(lines(temp.path()).len(), 2);
    let report = verify_log(&temp.path().join("receipts.jsonl"), &pins(), None).unwrap();
    assert!(report.all_valid(), "{report:?}");
}

#[test]
fn torn_tail_is_reported_moved_aside_and_the_chain_continues() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    let log = open(dir);
    for n in 0..3 {
        append(&log, &format!("n{n}"));
    }
    drop(log);
    let torn = b"{\"alg\":\"heso-action/v2+ed25519\",\"content\":{\"act";
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("receipts.jsonl"))
        .unwrap();
    file.write_all(torn).unwrap();
    drop(file);

    let report = verify_log(&dir.join("receipts.jsonl"), &pins(), None).unwrap();
    assert!(!report.all_valid());
    let tail = report.torn_tail.clone().unwrap();
    assert_eq!((tail.line, tail.bytes), (4, torn.len() as u64));
    assert_eq!(report.receipts, 3);

    let (log, repaired) = Log::open(dir, LogOptions::default()).unwrap();
    let repaired = repaired.unwrap();
    assert_eq!(repaired.bytes, torn.len() as u64);
    assert_eq!(std::fs::read(&repaired.side_file).unwrap(), torn);
    assert!(
        repaired
            .side_file
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("receipts.jsonl.torn-")
    );
    assert_eq!(append(&log, "after").seq, 3);
    let report = verify_log(&dir.join("receipts.jsonl"), &pins(), None).unwrap();
    assert!(report.all_valid(), "{report:?}");
    assert_eq!(report.receipts, 4);

    // Torn by another process while this handle is open: repaired before the next append.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("receipts.jsonl"))
        .unwrap();
    file.write_all(b"{\"partial").unwrap();
    drop(file);
    let appended = append(&log, "after second tear");
    assert_eq!(appended.seq, 4);
    assert!(appended.repaired.is_some());
    assert!(
        verify_log(&dir.join("receipts.jsonl"), &pins(), None)
            .unwrap()
            .all_valid()
    );
}

#[test]
fn tampering_gets_the_right_verdict_at_the_right_line() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    let log = open(dir);
    for n in 0..5 {
        append(&log, &format!("n{n}"));
    }
    let original = lines(dir);
    let check = |edited: Vec<String>| {
        write_lines(dir, &edited);
        let report = verify_log(&dir.join("receipts.jsonl"), &pins(), None).unwrap();
        assert!(!report.all_valid());
        let first = report.failures[0].clone();
        (first.line, first.verdict.kind().to_owned())
    };

    let mut edited = original.clone();
    edited[2] = edited[2].replace("\"n2\"", "\"n2-edited\"");
    assert_eq!(check(edited), (3, "HashMismatch".into()));

    let mut deleted = original.clone();
    deleted.remove(2);
    assert_eq!(check(deleted), (3, "LinkBroken".into()));

    let mut swapped = original.clone();
    swapped.swap(1, 2);
    assert_eq!(check(swapped), (2, "LinkBroken".into()));

    let mut duplicated = original.clone();
    duplicated.insert(3, original[2].clone());
    assert_eq!(check(duplicated), (4, "LinkBroken".into()));

    write_lines(dir, &original);
    let report = verify_log(&dir.join("receipts.jsonl"), &pins(), None).unwrap();
    assert!(report.all_valid());
    let other = SignerPins::Only(vec![SigningKey::from_bytes(&[6u8; 32]).verifying_key()]);
    let untrusted = verify_log(&dir.join("receipts.jsonl"), &other, None).unwrap();
    assert_eq!(untrusted.counts.get("UntrustedSigner"), Some(&5));
}

#[test]
fn threads_share_one_log() {
    let temp = tempfile::tempdir().unwrap();
    let log = Arc::new(open(temp.path()));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                (0..100)
                    .map(|n| append(&log, &format!("t{t}-{n}")).seq)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seqs: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..400).collect::<Vec<_>>());
    let report = verify_log(&temp.path().join("receipts.jsonl"), &pins(), None).unwrap();
    assert!(report.all_valid(), "{report:?}");
    assert_eq!(report.receipts, 400);
}

#[test]
fn processes_share_one_log() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    std::fs::create_dir_all(&dir).unwrap();
    let children: Vec<_> = (0..4).map(|_| child(&dir, 500).spawn().unwrap()).collect();
    let mut reported = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        reported.extend(
            String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .filter_map(|l| l.split("SEQ ").nth(1).map(str::to_owned)),
        );
    }
    assert_eq!(reported.len(), 2000);
    let report = verify_log(&dir.join("receipts.jsonl"), &pins(), None).unwrap();
    assert!(report.all_valid(), "{report:?}");
    assert_eq!(report.receipts, 2000);
    assert_eq!(report.sessions.len(), 1);
    assert_eq!(report.sessions[0].last_seq, 1999);
    let text = std::fs::read_to_string(dir.join("receipts.jsonl")).unwrap();
    for entry in reported {
        let hash = entry.split_whitespace().nth(1).unwrap();
        assert!(text.contains(hash), "acknowledged receipt {hash} missing");
    }
}

#[test]
fn sigkill_never_loses_an_acknowledged_receipt() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    std::fs::create_dir_all(&dir).unwrap();
    let mut acknowledged: Vec<String> = Vec::new();
    let mut state = 0x9e37_79b9_u64;
    for _round in 0..20 {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let wait = Duration::from_millis(20 + (state >> 33) % 120);
        let mut running = child(&dir, 1_000_000).spawn().unwrap();
        let stdout = running.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| {
                    l.split("SEQ ")
                        .nth(1)
                        .and_then(|rest| rest.split_whitespace().nth(1))
                        .map(str::to_owned)
                })
                .collect::<Vec<_>>()
        });
        std::thread::sleep(wait);
        running.kill().unwrap(); // SIGKILL
        running.wait().unwrap();
        acknowledged.extend(reader.join().unwrap());
    }
    assert!(!acknowledged.is_empty());
    // The next writer repairs a torn tail if a kill left one, and the log verifies.
    let log = open(&dir);
    append(&log, "after the kills");
    let report = verify_log(&dir.join("receipts.jsonl"), &pins(), None).unwrap();
    assert!(report.all_valid(), "{report:?}");
    let text = std::fs::read_to_string(dir.join("receipts.jsonl")).unwrap();
    for hash in &acknowledged {
        assert!(
            text.contains(hash.as_str()),
            "acknowledged receipt {hash} lost"
        );
    }
}

#[test]
fn os_durability_appends_too() {
    let temp = tempfile::tempdir().unwrap();
    let (log, _) = Log::open(
        temp.path(),
        LogOptions {
            durability: Durability::Os,
        },
    )
    .unwrap();
    for n in 0..5 {
        append(&log, &format!("{n}"));
    }
    let report = verify_log(&temp.path().join("receipts.jsonl"), &pins(), None).unwrap();
    assert!(report.all_valid());
    let json: Value =
        serde_json::to_value(heso_receipt::PinnedLogReport::new(&report, &pins())).unwrap();
    assert_eq!(json["receipts"], json!(5));
}
