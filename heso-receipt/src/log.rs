//! A log's rules, without I/O: how receipts in a log chain, what a torn tail is, how pasted
//! text splits into receipts, and the report. `heso-chain` reads log files with them (and
//! the CLI prints its report); the browser verifier (`heso-wasm`) runs the same code on the
//! bytes a reader gives it, so the two agree on every log.
//!
//! A log file is bytes split at `\n`: each complete line is one receipt (a blank line is a
//! receipt too, and `Malformed`; a `\r` stays part of its line), and bytes after the last
//! `\n` are a torn tail, reported and not verified. Text given whole (stdin, a paste) is
//! read with [`split_pasted`] instead.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::Serialize;

use crate::chain::{ChainClaim, ChainHead, LinkBroken, check_claim};
use crate::model::KeyRole;
use crate::verdict::Verdict;
use crate::verify::{Checked, SignerPins, verify_receipts};

/// How many failures a report keeps (counts cover all of them).
pub const MAX_FAILURES: usize = 20;

/// A line's verdict in a log: the receipt's own, or, for a valid receipt, a broken link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineVerdict {
    /// The receipt's own verdict.
    Receipt(Verdict),
    /// A valid receipt that does not follow its predecessor in its session.
    LinkBroken(LinkBroken),
}

impl LineVerdict {
    /// True only for a valid receipt whose link holds.
    pub fn is_valid(&self) -> bool {
        matches!(self, LineVerdict::Receipt(v) if v.is_valid())
    }

    /// The PascalCase kind: the receipt's, or `LinkBroken`.
    pub fn kind(&self) -> &'static str {
        match self {
            LineVerdict::Receipt(v) => v.kind(),
            LineVerdict::LinkBroken(b) => b.kind(),
        }
    }

    /// The one-line detail.
    pub fn detail(&self) -> &str {
        match self {
            LineVerdict::Receipt(v) => v.detail(),
            LineVerdict::LinkBroken(b) => b.detail(),
        }
    }
}

impl fmt::Display for LineVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineVerdict::Receipt(v) => v.fmt(f),
            LineVerdict::LinkBroken(b) => b.fmt(f),
        }
    }
}

/// One line that is not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineFailure {
    /// 1-based line number.
    pub line: u64,
    /// The receipt's seq, when it has one.
    pub seq: Option<u64>,
    /// What is wrong.
    pub verdict: LineVerdict,
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

/// A key that signed receipts of the log, in one role, as the receipts name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerCount {
    /// The role the key signed in.
    pub role: KeyRole,
    /// The key as the signature entries carry it (padded base64; not checked to decode).
    pub public_key: String,
    /// Receipts carrying a signature entry of this key in this role.
    pub receipts: u64,
    /// Of those, the receipts counted `Valid` (signature, pins and link all hold).
    pub valid: u64,
}

/// The outcome of verifying a log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogReport {
    /// Complete lines seen.
    pub receipts: u64,
    /// Verdict kind -> count (`LinkBroken` counted instead of `Valid` for a bad link).
    pub counts: BTreeMap<String, u64>,
    /// The first failures ([`MAX_FAILURES`] of them), in line order.
    pub failures: Vec<LineFailure>,
    /// Every session, in order of first appearance.
    pub sessions: Vec<SessionHead>,
    /// Every key that signed a receipt (valid or not), in order of first appearance.
    pub signers: Vec<SignerCount>,
    /// A torn last line, if any.
    pub torn_tail: Option<TornTail>,
}

impl LogReport {
    /// True when every receipt is valid, every link holds and there is no torn tail.
    pub fn all_valid(&self) -> bool {
        self.torn_tail.is_none() && self.counts.keys().all(|k| k == "Valid")
    }
}

/// What the log walk needs of one verified line: its own verdict, where the receipt says
/// it sits in its chain, and who the receipt says signed it.
#[derive(Debug, Clone, PartialEq)]
pub struct LineCheck {
    /// The receipt's own verdict (from [`crate::verify_receipt`]).
    pub verdict: Verdict,
    /// Its chain fields, when it parsed.
    pub chain: Option<ChainClaim>,
    /// Its signature entries' roles and keys, when it parsed.
    pub signers: Vec<(KeyRole, String)>,
}

impl From<Checked> for LineCheck {
    fn from(checked: Checked) -> LineCheck {
        let receipt = checked.receipt.as_ref();
        LineCheck {
            chain: receipt.map(ChainClaim::of),
            signers: receipt
                .map(|r| {
                    r.signatures
                        .iter()
                        .map(|s| (s.key_id, s.public_key.clone()))
                        .collect()
                })
                .unwrap_or_default(),
            verdict: checked.verdict,
        }
    }
}

/// Folds a log's verified lines, in order, into a [`LogReport`]: counts, the first
/// failures, each session's chain links and head, the signers, and a torn tail.
///
/// A link is checked for every receipt that parsed and names a session, valid or not,
/// and the session's head moves to the receipt's claimed hash even when the link is
/// broken: one edited line is reported once, not again at every line after it. A valid
/// receipt whose link is broken counts as `LinkBroken`.
#[derive(Debug, Default)]
pub struct LogChecker {
    report: LogReport,
    heads: HashMap<String, ChainHead>,
    order: Vec<String>,
    per_session: HashMap<String, u64>,
    signer_index: HashMap<(KeyRole, String), usize>,
    last_line: u64,
}

impl LogChecker {
    /// An empty log.
    pub fn new() -> LogChecker {
        LogChecker::default()
    }

    /// Adds the next line (1-based `line`; lines come in increasing order, and may skip
    /// numbers a caller did not count as receipts). Returns the broken link when it changed
    /// this line's verdict from `Valid`, else `None` (the line's own verdict stands).
    pub fn push(&mut self, line: u64, check: LineCheck) -> Option<LinkBroken> {
        self.last_line = line;
        self.report.receipts += 1;
        let LineCheck {
            verdict,
            chain,
            signers,
        } = check;
        let seq = chain.as_ref().and_then(|c| c.seq);
        let mut relinked = None;
        if let Some((claim, session)) = chain
            .as_ref()
            .and_then(|c| c.session_id.clone().map(|s| (c, s)))
        {
            let head = match check_claim(self.heads.get(&session), claim) {
                Ok(head) => head,
                Err(broken) => {
                    if verdict.is_valid() {
                        relinked = Some(broken);
                    }
                    ChainHead {
                        session_id: session.clone(),
                        seq: claim.seq.unwrap_or(0),
                        action_hash: claim.action_hash.clone(),
                    }
                }
            };
            if !self.heads.contains_key(&session) {
                self.order.push(session.clone());
            }
            *self.per_session.entry(session.clone()).or_default() += 1;
            self.heads.insert(session, head);
        }
        let valid = relinked.is_none() && verdict.is_valid();
        let kind = relinked.as_ref().map_or(verdict.kind(), LinkBroken::kind);
        *self.report.counts.entry(kind.to_owned()).or_default() += 1;
        for (role, public_key) in signers {
            let signers = &mut self.report.signers;
            let at = *self
                .signer_index
                .entry((role, public_key.clone()))
                .or_insert_with(|| {
                    signers.push(SignerCount {
                        role,
                        public_key,
                        receipts: 0,
                        valid: 0,
                    });
                    signers.len() - 1
                });
            if let Some(count) = signers.get_mut(at) {
                count.receipts += 1;
                count.valid += u64::from(valid);
            }
        }
        if !valid && self.report.failures.len() < MAX_FAILURES {
            self.report.failures.push(LineFailure {
                line,
                seq,
                verdict: match relinked.clone() {
                    Some(broken) => LineVerdict::LinkBroken(broken),
                    None => LineVerdict::Receipt(verdict),
                },
            });
        }
        relinked
    }

    /// Records `bytes` after the last complete line that end without a newline: a torn
    /// tail, numbered as the line after the last one added. It is not verified.
    pub fn torn_tail(&mut self, bytes: u64) {
        self.report.torn_tail = Some(TornTail {
            line: self.last_line + 1,
            bytes,
        });
    }

    /// The report so far: what [`LogChecker::finish`] would return now, without the
    /// sessions (see [`LogChecker::sessions`]).
    pub fn report(&self) -> &LogReport {
        &self.report
    }

    /// Every session so far, in order of first appearance, with its head.
    pub fn sessions(&self) -> Vec<SessionHead> {
        self.order
            .iter()
            .filter_map(|session| {
                self.heads.get(session).map(|head| SessionHead {
                    session_id: session.clone(),
                    last_seq: head.seq,
                    head_hash: head.action_hash.clone(),
                    receipts: self.per_session.get(session).copied().unwrap_or(0),
                })
            })
            .collect()
    }

    /// The report.
    pub fn finish(self) -> LogReport {
        let sessions = self.sessions();
        LogReport {
            sessions,
            ..self.report
        }
    }
}

/// Verifies a log file's bytes: every complete line (up to a `\n`) is a receipt, bytes
/// after the last `\n` a torn tail. What `heso-chain` does streaming from a file, for
/// callers that hold the bytes.
pub fn verify_log_bytes(bytes: &[u8], pins: &SignerPins) -> LogReport {
    let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    // The piece after the last newline: empty, or a torn tail.
    let tail = lines.pop().unwrap_or_default();
    let mut checker = LogChecker::new();
    for (n, checked) in (1u64..).zip(verify_receipts(&lines, pins)) {
        checker.push(n, checked.into());
    }
    if !tail.is_empty() {
        checker.torn_tail(tail.len() as u64);
    }
    checker.finish()
}

/// Text given whole (stdin, a paste), read as `heso verify -` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pasted<'a> {
    /// One receipt: the bytes as given.
    One(&'a [u8]),
    /// A log: its lines that are not blank, each with its 1-based line number in the
    /// text. Unlike a log file, blank lines are skipped and a last line without a newline
    /// is a receipt like any other (text given whole has no torn tail).
    Log(Vec<(u64, &'a [u8])>),
}

/// Reads text given whole: a log when it has more than one line that is not blank and
/// starts with `{` without being pretty-printed JSON (`{` then a newline), else one
/// receipt.
pub fn split_pasted(bytes: &[u8]) -> Pasted<'_> {
    let lines: Vec<(u64, &[u8])> = bytes
        .split(|b| *b == b'\n')
        .zip(1u64..)
        .filter(|(line, _)| !line.iter().all(u8::is_ascii_whitespace))
        .map(|(line, n)| (n, line))
        .collect();
    if lines.len() > 1 && bytes.first() == Some(&b'{') && !bytes.starts_with(b"{\n") {
        Pasted::Log(lines)
    } else {
        Pasted::One(bytes)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]

    use serde_json::Value;

    use super::*;
    use crate::verify_receipt;

    fn chain() -> Vec<String> {
        let doc: Value = serde_json::from_str(include_str!("../tests/data/chain_3.json")).unwrap();
        doc["receipts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| serde_json::to_string(r).unwrap())
            .collect()
    }

    fn walk(lines: &[&str]) -> LogReport {
        let mut checker = LogChecker::new();
        for (n, line) in lines.iter().enumerate() {
            let checked = verify_receipt(line.as_bytes(), &SignerPins::Any);
            checker.push(n as u64 + 1, checked.into());
        }
        checker.finish()
    }

    #[test]
    fn an_intact_chain_is_valid_and_names_its_head_and_signer() {
        let lines = chain();
        let report = walk(&lines.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(report.all_valid());
        assert_eq!(report.receipts, 3);
        assert_eq!(report.sessions.len(), 1);
        assert_eq!(report.sessions[0].last_seq, 2);
        assert_eq!(report.sessions[0].receipts, 3);
        assert_eq!(report.signers.len(), 1);
        assert_eq!(report.signers[0].role, KeyRole::Operator);
        assert_eq!(
            (report.signers[0].receipts, report.signers[0].valid),
            (3, 3)
        );
    }

    #[test]
    fn a_swapped_line_is_link_broken_once_per_break() {
        let lines = chain();
        let report = walk(&[&lines[0], &lines[2], &lines[1]]);
        assert!(!report.all_valid());
        assert_eq!(report.counts.get("LinkBroken"), Some(&2));
        assert_eq!(report.failures[0].line, 2);
        assert_eq!(report.signers[0].valid, 1);
        // The head follows the claimed hash of the last line read.
        assert_eq!(report.sessions[0].last_seq, 1);
    }

    #[test]
    fn push_says_when_the_link_changed_the_verdict() {
        let lines = chain();
        let mut checker = LogChecker::new();
        let first = verify_receipt(lines[0].as_bytes(), &SignerPins::Any);
        assert_eq!(checker.push(1, first.into()), None);
        let third = verify_receipt(lines[2].as_bytes(), &SignerPins::Any);
        let relinked = checker.push(2, third.into()).unwrap();
        assert_eq!(relinked.kind(), "LinkBroken");
        let blank = verify_receipt(b"", &SignerPins::Any);
        assert_eq!(checker.push(3, blank.into()), None);
        checker.torn_tail(17);
        let report = checker.finish();
        assert_eq!(report.torn_tail, Some(TornTail { line: 4, bytes: 17 }));
        assert_eq!(report.counts.get("Malformed"), Some(&1));
    }

    #[test]
    fn log_bytes_are_complete_lines_and_a_torn_tail() {
        let lines = chain();
        let whole = format!("{}\n{}\n{}\n", lines[0], lines[1], lines[2]);
        let report = verify_log_bytes(whole.as_bytes(), &SignerPins::Any);
        assert!(report.all_valid());
        assert_eq!(report.receipts, 3);
        // A blank line is a receipt (Malformed); bytes after the last newline a torn tail.
        let torn = format!("{}\n\n{}", lines[0], &lines[1][..9]);
        let report = verify_log_bytes(torn.as_bytes(), &SignerPins::Any);
        assert_eq!(report.receipts, 2);
        assert_eq!(report.counts.get("Malformed"), Some(&1));
        assert_eq!(report.torn_tail, Some(TornTail { line: 3, bytes: 9 }));
        assert_eq!(
            verify_log_bytes(b"", &SignerPins::Any),
            LogReport::default()
        );
        let only_tail = verify_log_bytes(b"{\"alg", &SignerPins::Any);
        assert_eq!(only_tail.receipts, 0);
        assert_eq!(only_tail.torn_tail, Some(TornTail { line: 1, bytes: 5 }));
    }

    #[test]
    fn pasted_text_is_one_receipt_or_numbered_lines() {
        assert_eq!(
            split_pasted(b"{\n \"a\": 1\n}\n"),
            Pasted::One(b"{\n \"a\": 1\n}\n")
        );
        assert_eq!(split_pasted(b"{}"), Pasted::One(b"{}"));
        assert_eq!(split_pasted(b" {}\n{}"), Pasted::One(b" {}\n{}"));
        assert_eq!(
            split_pasted(b"{}\n\n  \nnot json\n{}"),
            Pasted::Log(vec![(1, &b"{}"[..]), (4, b"not json"), (5, b"{}")])
        );
    }
}
