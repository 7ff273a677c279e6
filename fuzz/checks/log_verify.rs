//! Any bytes as a JSONL log: a report, never a panic. Every line is counted under exactly
//! one verdict, failures name lines in order within the log, and no session claims more
//! receipts than the log has.

use heso_receipt::SignerPins;

pub fn check(data: &[u8]) {
    let report = heso_chain::verify_lines(data.split(|b| *b == b'\n'), &SignerPins::Any);
    let counted: u64 = report.counts.values().sum();
    assert_eq!(counted, report.receipts, "{report:?}");
    let invalid = report.receipts - report.counts.get("Valid").copied().unwrap_or(0);
    assert!(report.failures.len() as u64 <= invalid, "{report:?}");
    assert!(
        report.failures.windows(2).all(|w| w[0].line < w[1].line),
        "{report:?}"
    );
    assert!(
        report
            .failures
            .iter()
            .all(|f| f.line >= 1 && f.line <= report.receipts),
        "{report:?}"
    );
    let in_sessions: u64 = report.sessions.iter().map(|s| s.receipts).sum();
    assert!(in_sessions <= report.receipts, "{report:?}");
    assert_eq!(
        report.all_valid(),
        invalid == 0 && report.torn_tail.is_none()
    );
}
