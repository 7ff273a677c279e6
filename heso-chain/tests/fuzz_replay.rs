//! Replays the fuzzer's seeds and every kept crash input (`fuzz/seeds/log_verify`,
//! `fuzz/regressions/log_verify`) as an ordinary test, so CI exercises them on stable.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

#[test]
fn log_verify_corpus_replays_without_a_panic() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut replayed = 0;
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join("log_verify")) else {
            continue;
        };
        for entry in entries.flatten() {
            let bytes = std::fs::read(entry.path()).unwrap();
            let report = heso_chain::verify_lines(
                bytes.split(|b| *b == b'\n'),
                &heso_receipt::SignerPins::Any,
            );
            let _ = report.to_json();
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no corpus found under {}", root.display());
}
