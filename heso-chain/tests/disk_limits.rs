//! Real EFBIG from the kernel: appends in a child process under `RLIMIT_FSIZE` (set by the
//! shell's `ulimit -f`, with `SIGXFSZ` ignored so the over-limit write fails with EFBIG
//! instead of killing the process). A real ENOSPC (`/dev/full`) is in the crate's fault
//! tests: the log never follows a symlink, so `/dev/full` is reached through the seam.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use heso_chain::{AppendError, Appended, Log, LogOptions, verify_log};
use heso_receipt::SignerPins;

mod support;
use support::{signed_line, test_key};

const EFBIG: i32 = 27;
const CHILD_DIR: &str = "HESO_CHAIN_LIMIT_CHILD_DIR";

fn try_append(log: &Log, tag: &str) -> Result<Appended, AppendError<String>> {
    log.append(|position| signed_line(position, tag))
}

fn os_error(e: &AppendError<String>) -> Option<i32> {
    match e {
        AppendError::Io { source, .. } => source.raw_os_error(),
        _ => None,
    }
}

/// The child: appends until the file-size limit stops it, printing each acknowledged
/// receipt and then the error. Runs only when the parent test sets the variable.
#[test]
fn child_appends_until_the_limit() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let log = Log::open(Path::new(&dir), LogOptions::default()).unwrap().0;
    let mut out = std::io::stdout().lock();
    let mut errors = 0;
    for n in 0..200 {
        match try_append(&log, &format!("limited-{n}")) {
            Ok(appended) => writeln!(out, "SEQ {} {}", appended.seq, appended.action_hash),
            Err(e) => {
                errors += 1;
                writeln!(out, "ERR {} {e}", os_error(&e).unwrap_or(-1))
            }
        }
        .unwrap();
        // A few more tries after the first failure: each must fail the same way.
        if errors == 3 {
            break;
        }
    }
    out.flush().unwrap();
}

#[cfg(target_os = "linux")]
#[test]
fn appends_past_the_file_size_limit_fail_with_efbig_and_leave_no_partial_line() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    // A few receipts first, without a limit.
    let (log, _) = Log::open(dir, LogOptions::default()).unwrap();
    let mut acknowledged: Vec<(u64, String)> = (0..3)
        .map(|n| try_append(&log, &format!("before-{n}")).unwrap())
        .map(|a| (a.seq, a.action_hash))
        .collect();
    drop(log);
    let path = dir.join(heso_chain::LOG_FILE);
    let before = std::fs::metadata(&path).unwrap().len();

    // bash's `ulimit -f` counts 1024-byte blocks: 8 KiB, a few receipts more than now.
    let limit_blocks = before / 1024 + 4;
    let output = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f {limit_blocks}; exec \"$0\" \"$@\""
        ))
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_appends_until_the_limit",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let mut errors = Vec::new();
    // The harness prints "test child_… ... " before the child's first line.
    for line in stdout
        .lines()
        .map(|l| l.rsplit(" ... ").next().unwrap_or(l))
    {
        if let Some(rest) = line.strip_prefix("SEQ ") {
            let (seq, hash) = rest.split_once(' ').unwrap();
            acknowledged.push((seq.parse().unwrap(), hash.to_owned()));
        } else if let Some(rest) = line.strip_prefix("ERR ") {
            errors.push(rest.to_owned());
        }
    }
    assert!(
        acknowledged.len() > 3,
        "no append fit under the limit: {stdout}"
    );
    assert_eq!(errors.len(), 3, "{stdout}");
    for error in &errors {
        assert!(error.starts_with(&format!("{EFBIG} ")), "{error}");
        assert!(error.contains("File too large"), "{error}");
    }

    // The over-limit write was short (the kernel wrote up to the limit) and was taken
    // back: the file ends at the last acknowledged line, and verifies as it is.
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() as u64 <= limit_blocks * 1024);
    assert_eq!(bytes.last(), Some(&b'\n'), "a partial line was left");
    let pins = SignerPins::Only(vec![test_key().verifying_key()]);
    let report = verify_log(&path, &pins, None).unwrap();
    assert!(report.all_valid(), "{report:?}");
    assert_eq!(report.receipts, acknowledged.len() as u64);
    let text = String::from_utf8(bytes).unwrap();
    for ((seq, hash), line) in acknowledged.iter().zip(text.lines()) {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(value["content"]["seq"], *seq);
        assert_eq!(value["content"]["action_hash"], hash.as_str());
    }

    // Without the limit the chain goes on.
    let (log, repaired) = Log::open(dir, LogOptions::default()).unwrap();
    assert!(repaired.is_none());
    let next = try_append(&log, "after").unwrap();
    assert_eq!(next.seq, acknowledged.len() as u64);
    assert!(verify_log(&path, &pins, None).unwrap().all_valid());
}
