//! Any bytes as a JSONL log: a report, never a panic, whose counts add up to the lines.

use heso_receipt::SignerPins;

pub fn check(data: &[u8]) {
    let report = heso_chain::verify_lines(data.split(|b| *b == b'\n'), &SignerPins::Any);
    let counted: u64 = report.counts.values().sum();
    assert!(counted <= report.receipts, "{report:?}");
    let json = report.to_json();
    assert_eq!(json["receipts"], report.receipts);
}
