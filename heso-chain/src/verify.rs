//! Verifying a whole log: every receipt, every session's chain, and the tail.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use heso_receipt::{ChainHead, Checked, SignerPins, Verdict, check_link, verify_receipt};
use rayon::prelude::*;
use serde_json::{Value, json};

/// Lines verified in parallel at a time: large enough to keep both cores busy, small
/// enough that memory stays flat whatever the size of the log.
const BATCH: usize = 2048;
/// How many failures a report keeps (counts cover all of them).
const MAX_FAILURES: usize = 20;

/// One line that is not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineFailure {
    /// 1-based line number.
    pub line: u64,
    /// The receipt's seq, when it has one.
    pub seq: Option<u64>,
    /// What is wrong.
    pub verdict: Verdict,
}

impl fmt::Display for LineFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.seq {
            Some(seq) => write!(f, "line {} (seq {seq}): {}", self.line, self.verdict),
            None => write!(f, "line {}: {}", self.line, self.verdict),
        }
    }
}

/// Bytes at the end of the log that are not a complete line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The line number they would have.
    pub line: u64,
    /// How many bytes.
    pub bytes: u64,
}

impl fmt::Display for TornTail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TornTail: line {} is {} bytes without a newline (a writer stopped mid-write; the next append moves it aside)",
            self.line, self.bytes
        )
    }
}

/// Where one session's chain ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionHead {
    /// The session id.
    pub session_id: String,
    /// The last seq seen.
    pub last_seq: u64,
    /// The last receipt's action_hash: record it elsewhere to detect truncation.
    pub head_hash: String,
    /// Receipts of this session.
    pub receipts: u64,
}

/// The outcome of verifying a log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogReport {
    /// Complete lines seen.
    pub receipts: u64,
    /// Verdict kind -> count (`LinkBroken` counted instead of `Valid` for a bad link).
    pub counts: BTreeMap<String, u64>,
    /// The first failures, in line order.
    pub failures: Vec<LineFailure>,
    /// Every session, in order of first appearance.
    pub sessions: Vec<SessionHead>,
    /// A torn last line, if any.
    pub torn_tail: Option<TornTail>,
}

impl LogReport {
    /// True when every receipt is valid, every link holds and there is no torn tail.
    pub fn all_valid(&self) -> bool {
        self.torn_tail.is_none() && self.counts.keys().all(|k| k == "Valid")
    }

    /// The report as JSON (the CLI's `--json` schema).
    pub fn to_json(&self) -> Value {
        json!({
            "receipts": self.receipts,
            "all_valid": self.all_valid(),
            "counts": self.counts,
            "failures": self.failures.iter().map(|f| json!({
                "line": f.line,
                "seq": f.seq,
                "verdict": f.verdict.kind(),
                "detail": f.verdict.detail(),
            })).collect::<Vec<_>>(),
            "torn_tail": self.torn_tail.as_ref().map(|t| json!({"line": t.line, "bytes": t.bytes})),
            "sessions": self.sessions.iter().map(|s| json!({
                "session_id": s.session_id,
                "last_seq": s.last_seq,
                "head_hash": s.head_hash,
                "receipts": s.receipts,
            })).collect::<Vec<_>>(),
        })
    }
}

/// Folds verified lines into a report, checking links in order.
struct Checker<'p> {
    pins: &'p SignerPins,
    report: LogReport,
    heads: HashMap<String, ChainHead>,
    order: Vec<String>,
    per_session: HashMap<String, u64>,
}

impl<'p> Checker<'p> {
    fn new(pins: &'p SignerPins) -> Self {
        Self {
            pins,
            report: LogReport::default(),
            heads: HashMap::new(),
            order: Vec::new(),
            per_session: HashMap::new(),
        }
    }

    fn batch(&mut self, first_line: u64, lines: &[Vec<u8>]) {
        let pins = self.pins;
        let checked: Vec<Checked> = lines
            .par_iter()
            .map(|line| verify_receipt(line, pins))
            .collect();
        for (offset, checked) in checked.into_iter().enumerate() {
            self.one(first_line + offset as u64, checked);
        }
    }

    fn one(&mut self, line: u64, checked: Checked) {
        self.report.receipts += 1;
        let seq = checked.receipt.as_ref().and_then(|r| r.content.seq);
        let mut verdict = checked.verdict;
        let parsed = checked.receipt.as_ref();
        if let Some((receipt, session)) =
            parsed.and_then(|r| r.content.session_id.clone().map(|s| (r, s)))
        {
            // Links are checked for every receipt that parsed, valid or not, and the
            // head moves to the receipt's claimed hash: one edited line is reported
            // once, not again at every line after it.
            let linked = check_link(self.heads.get(&session), receipt);
            let head = match linked {
                Ok(head) => head,
                Err(broken) => {
                    if verdict.is_valid() {
                        verdict = broken;
                    }
                    ChainHead {
                        session_id: session.clone(),
                        seq: receipt.content.seq.unwrap_or(0),
                        action_hash: receipt.content.action_hash.clone(),
                    }
                }
            };
            if !self.heads.contains_key(&session) {
                self.order.push(session.clone());
            }
            *self.per_session.entry(session.clone()).or_default() += 1;
            self.heads.insert(session, head);
        }
        *self
            .report
            .counts
            .entry(verdict.kind().to_owned())
            .or_default() += 1;
        if !verdict.is_valid() && self.report.failures.len() < MAX_FAILURES {
            self.report
                .failures
                .push(LineFailure { line, seq, verdict });
        }
    }

    fn finish(mut self) -> LogReport {
        for session in self.order {
            if let Some(head) = self.heads.remove(&session) {
                self.report.sessions.push(SessionHead {
                    receipts: self.per_session.get(&session).copied().unwrap_or(0),
                    session_id: session,
                    last_seq: head.seq,
                    head_hash: head.action_hash,
                });
            }
        }
        self.report
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
    let mut checker = Checker::new(pins);
    let mut batch: Vec<Vec<u8>> = Vec::with_capacity(BATCH);
    let mut first_line = 1u64;
    let mut done = 0u64;
    loop {
        let mut line = Vec::new();
        let read = reader.read_until(b'\n', &mut line)?;
        if read == 0 {
            break;
        }
        done += read as u64;
        if line.last() != Some(&b'\n') {
            checker.report.torn_tail = Some(TornTail {
                line: first_line + batch.len() as u64,
                bytes: line.len() as u64,
            });
            break;
        }
        line.pop();
        batch.push(line);
        if batch.len() == BATCH {
            checker.batch(first_line, &batch);
            first_line += batch.len() as u64;
            batch.clear();
            if let Some(progress) = progress {
                progress(done, total);
            }
        }
    }
    checker.batch(first_line, &batch);
    if let Some(progress) = progress {
        progress(done, total);
    }
    Ok(checker.finish())
}

/// Verifies receipts given as lines (already split, without newlines), as a log.
pub fn verify_lines<'a>(lines: impl IntoIterator<Item = &'a [u8]>, pins: &SignerPins) -> LogReport {
    let lines: Vec<Vec<u8>> = lines.into_iter().map(<[u8]>::to_vec).collect();
    let mut checker = Checker::new(pins);
    for (n, chunk) in lines.chunks(BATCH).enumerate() {
        checker.batch((n * BATCH) as u64 + 1, chunk);
    }
    checker.finish()
}
