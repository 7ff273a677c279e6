//! Verifying a whole log file: reading it, and verifying its receipts on every core. The
//! rules (chain links, heads, torn tails, the report) are heso-receipt's [`LogChecker`],
//! which the browser verifier runs too.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use heso_receipt::{LogChecker, LogReport, SignerPins, verify_receipts};

/// Lines verified in parallel at a time: large enough to keep both cores busy, small
/// enough that memory stays flat whatever the size of the log.
const BATCH: usize = 2048;

/// Verifies a batch of numbered lines on every core (`verify_receipts`, which decodes
/// each signer's key once a batch), then folds them in order.
fn batch(checker: &mut LogChecker, pins: &SignerPins, lines: &[(u64, Vec<u8>)]) {
    let bytes: Vec<&[u8]> = lines.iter().map(|(_, line)| line.as_slice()).collect();
    let checked = verify_receipts(&bytes, pins);
    for ((n, _), check) in lines.iter().zip(checked) {
        checker.push(*n, check.into());
    }
}

/// Verifies a log file, streaming: memory stays flat in its size. `progress` is called
/// after each batch with (bytes done, total bytes).
pub fn verify_log(
    path: &Path,
    pins: &SignerPins,
    progress: Option<&dyn Fn(u64, u64)>,
) -> std::io::Result<LogReport> {
    let file = File::open(path)?;
    let total = file.metadata()?.len();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut checker = LogChecker::new();
    let mut lines: Vec<(u64, Vec<u8>)> = Vec::with_capacity(BATCH);
    let mut number = 0u64;
    let mut done = 0u64;
    loop {
        let mut line = Vec::new();
        let read = reader.read_until(b'\n', &mut line)?;
        if read == 0 {
            break;
        }
        done += read as u64;
        if line.last() != Some(&b'\n') {
            // Verify what came before, so the torn tail is numbered after it.
            batch(&mut checker, pins, &lines);
            lines.clear();
            checker.torn_tail(line.len() as u64);
            break;
        }
        line.pop();
        number += 1;
        lines.push((number, line));
        if lines.len() == BATCH {
            batch(&mut checker, pins, &lines);
            lines.clear();
            if let Some(progress) = progress {
                progress(done, total);
            }
        }
    }
    batch(&mut checker, pins, &lines);
    if let Some(progress) = progress {
        progress(done, total);
    }
    Ok(checker.finish())
}

/// Verifies receipts given as lines (already split, without newlines), as a log, numbering
/// them from 1.
pub fn verify_lines<'a>(lines: impl IntoIterator<Item = &'a [u8]>, pins: &SignerPins) -> LogReport {
    verify_numbered_lines((1u64..).zip(lines), pins)
}

/// Verifies receipts given as lines with their line numbers (in increasing order), as a
/// log: what [`heso_receipt::split_pasted`] gives for text read whole.
pub fn verify_numbered_lines<'a>(
    lines: impl IntoIterator<Item = (u64, &'a [u8])>,
    pins: &SignerPins,
) -> LogReport {
    let lines: Vec<(u64, Vec<u8>)> = lines.into_iter().map(|(n, l)| (n, l.to_vec())).collect();
    let mut checker = LogChecker::new();
    for chunk in lines.chunks(BATCH) {
        batch(&mut checker, pins, chunk);
    }
    checker.finish()
}
