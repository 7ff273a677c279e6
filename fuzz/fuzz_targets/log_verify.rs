#![no_main]
//! Any bytes as a JSONL log: a report, never a panic.
use heso_receipt::SignerPins;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let report = heso_chain::verify_lines(data.split(|b| *b == b'\n'), &SignerPins::Any);
    let _ = report.to_json();
});
