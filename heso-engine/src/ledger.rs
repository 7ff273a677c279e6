//! What the signed log says about one parked action: the parked L0 receipt, the person's
//! decision (an L1 receipt), whether the approved run was claimed, whether its expiry was
//! recorded. This, never the pending item, is the authority for approvals.
//!
//! A decision is tied to its parked receipt by content: the L1 receipt repeats the parked
//! receipt's `captured_at`, action, policy record and redaction block (the format has no
//! field naming the parked receipt). Two parked receipts can be identical (the same call
//! twice within a second, no salted field); then the k-th identical parked receipt is
//! decided by the k-th identical L1 receipt after it, in log order, so one approval never
//! lets more than one run through.
//!
//! The log is scanned line by line; only lines that contain the parked receipt's
//! `captured_at` (or a claim's marker) are parsed, found with `memchr`'s SIMD substring
//! search, so a scan costs one read of the file.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use heso_receipt::{Decision, Receipt, TrustLevel};
use memchr::memmem::Finder;

/// Text an expiry receipt's `rule_display` carries, followed by the parked receipt's id.
pub(crate) use heso_receipt::EXPIRED_MARK as EXPIRY_MARK;
/// Text a claim receipt's `rule_display` carries, followed by the L1 receipt's hash and `)`.
pub(crate) use heso_receipt::RESUMED_MARK as CLAIM_MARK;

/// One receipt line of interest, parsed, with its raw bytes for verification.
#[derive(Debug, Clone)]
pub(crate) struct LoggedReceipt {
    /// The line, as written (what signatures are checked on).
    pub(crate) line: Vec<u8>,
    /// The parsed receipt (shape only; not yet verified).
    pub(crate) receipt: Receipt,
}

/// What the log holds about one parked action.
#[derive(Debug, Clone)]
pub(crate) struct Ledger {
    /// The parked L0 receipt.
    pub(crate) parked: LoggedReceipt,
    /// The L1 receipt paired with it, if any: approved, rejected or escalated.
    pub(crate) decision: Option<LoggedReceipt>,
    /// Identical parked receipts before this one that are still undecided (a decision
    /// appended now would be paired with the first of them, not with this one).
    pub(crate) undecided_before: usize,
    /// Claim receipts naming the paired decision (an approved run was claimed).
    pub(crate) claims: Vec<LoggedReceipt>,
    /// True when an expiry receipt for this item is in the log.
    pub(crate) expiry_recorded: bool,
}

/// Why the log could not be read for an approval.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LedgerError {
    /// Reading the file failed.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The log.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The parked receipt is not in the log.
    #[error("the parked receipt {0} is not in the audit log")]
    ParkedMissing(String),
    /// The receipt with that hash is in the log but parks no action (an allowed call's,
    /// a decision's…): the caller says what it is.
    #[error("the receipt {} parks no action", .0.receipt.content.action_hash)]
    NotParking(Box<LoggedReceipt>),
}

fn read_error(path: &Path) -> impl Fn(std::io::Error) -> LedgerError + '_ {
    move |source| LedgerError::Read {
        path: path.display().to_string(),
        source,
    }
}

/// Calls `visit` with each line of the log (without its newline). A missing log has none.
fn each_line(
    path: &Path,
    mut visit: impl FnMut(&[u8]) -> Result<(), LedgerError>,
) -> Result<(), LedgerError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(read_error(path)(e)),
    };
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(read_error(path))?;
        if read == 0 {
            return Ok(());
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        visit(&line)?;
    }
}

fn parse(line: &[u8]) -> Option<LoggedReceipt> {
    serde_json::from_slice::<Receipt>(line)
        .ok()
        .map(|receipt| LoggedReceipt {
            line: line.to_vec(),
            receipt,
        })
}

/// True when `other` records the same parked action as `parked`: same capture time,
/// action, policy record and redaction block.
fn same_action(parked: &Receipt, other: &Receipt) -> bool {
    let (a, b) = (&parked.content, &other.content);
    a.captured_at == b.captured_at
        && a.action == b.action
        && a.policy == b.policy
        && a.redaction == b.redaction
}

fn is_parking(receipt: &Receipt) -> bool {
    receipt.content.trust_level == TrustLevel::L0
        && receipt.content.policy.decision_path == Decision::RequireApproval
        && receipt.content.approver_decision.is_none()
}

fn is_decision(receipt: &Receipt) -> bool {
    receipt.content.trust_level == TrustLevel::L1 && receipt.content.approver_decision.is_some()
}

/// Reads what the log at `path` holds about the action parked by receipt `parked_hash`
/// (whose pending id is `id`).
pub(crate) fn read_ledger(path: &Path, id: &str, parked_hash: &str) -> Result<Ledger, LedgerError> {
    // Pass 1: the parked receipt itself.
    let hash_needle = format!("\"action_hash\":\"{parked_hash}\"");
    let hash_finder = Finder::new(hash_needle.as_bytes());
    let mut parked: Option<LoggedReceipt> = None;
    each_line(path, |line| {
        if parked.is_none() && hash_finder.find(line).is_some() {
            parked = parse(line).filter(|r| r.receipt.content.action_hash == parked_hash);
        }
        Ok(())
    })?;
    let parked = parked.ok_or_else(|| LedgerError::ParkedMissing(parked_hash.to_owned()))?;
    if !is_parking(&parked.receipt) {
        return Err(LedgerError::NotParking(Box::new(parked)));
    }

    // Pass 2: identical parked receipts, decisions, claims and expiries, in log order.
    let time_needle = format!("\"captured_at\":\"{}\"", parked.receipt.content.captured_at);
    let expiry_needle = format!("{EXPIRY_MARK}{id} ");
    let (claim_finder, expiry_finder, time_finder) = (
        Finder::new(CLAIM_MARK.as_bytes()),
        Finder::new(expiry_needle.as_bytes()),
        Finder::new(time_needle.as_bytes()),
    );
    let mut identical_parked_before = 0usize;
    let mut seen_parked = false;
    // Decisions identical to this action, in order, each with the count of identical
    // parked receipts seen before it.
    let mut decisions: Vec<(usize, LoggedReceipt)> = Vec::new();
    let mut parked_seen_so_far = 0usize;
    let mut claims: Vec<LoggedReceipt> = Vec::new();
    let mut expiry_recorded = false;
    each_line(path, |line| {
        if claim_finder.find(line).is_some() {
            if let Some(claim) = parse(line) {
                claims.push(claim);
            }
            return Ok(());
        }
        if expiry_finder.find(line).is_some() {
            expiry_recorded = true;
            return Ok(());
        }
        if time_finder.find(line).is_none() {
            return Ok(());
        }
        let Some(logged) = parse(line) else {
            return Ok(());
        };
        if !same_action(&parked.receipt, &logged.receipt) {
            return Ok(());
        }
        if is_parking(&logged.receipt) {
            if logged.receipt.content.action_hash == parked_hash {
                seen_parked = true;
                identical_parked_before = parked_seen_so_far;
            }
            parked_seen_so_far += 1;
        } else if is_decision(&logged.receipt) {
            decisions.push((parked_seen_so_far, logged));
        }
        Ok(())
    })?;
    if !seen_parked {
        return Err(LedgerError::ParkedMissing(parked_hash.to_owned()));
    }
    // The k-th identical parked receipt is decided by the k-th decision, which must come
    // after it in the log.
    let decision = decisions
        .get(identical_parked_before)
        .filter(|(parked_before, _)| *parked_before > identical_parked_before)
        .map(|(_, d)| d.clone());
    let undecided_before = identical_parked_before.saturating_sub(decisions.len());
    let claims = match &decision {
        Some(d) => {
            let mark = format!("{CLAIM_MARK}{})", d.receipt.content.action_hash);
            claims
                .into_iter()
                .filter(|c| c.receipt.content.policy.rule_display.ends_with(&mark))
                .collect()
        }
        None => Vec::new(),
    };
    Ok(Ledger {
        parked,
        decision,
        undecided_before,
        claims,
        expiry_recorded,
    })
}
