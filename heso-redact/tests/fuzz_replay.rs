//! Replays the fuzzer's seeds and every kept crash input (`fuzz/seeds/redact`,
//! `fuzz/regressions/redact`) as an ordinary test, so CI exercises them on stable.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

#[test]
fn redact_corpus_replays_without_a_panic() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut replayed = 0;
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join("redact")) else {
            continue;
        };
        for entry in entries.flatten() {
            let bytes = std::fs::read(entry.path()).unwrap();
            if let Ok(text) = std::str::from_utf8(&bytes) {
                let (path, json) = text.split_once('\n').unwrap_or((text, "{}"));
                if let Ok(serde_json::Value::Object(fields)) =
                    serde_json::from_str::<serde_json::Value>(json)
                {
                    let _ = heso_redact::redact(
                        &fields,
                        &[
                            heso_redact::RedactRequest::commit(path),
                            heso_redact::RedactRequest::destroy(format!("{path}.x")),
                        ],
                    );
                }
            }
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no corpus found under {}", root.display());
}
