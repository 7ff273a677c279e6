//! Replays the fuzzer's seeds and every kept crash input (`fuzz/seeds/key_file`,
//! `fuzz/regressions/key_file`) as an ordinary test, so CI exercises them on stable.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

#[test]
fn key_file_corpus_replays_without_a_panic() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut replayed = 0;
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join("key_file")) else {
            continue;
        };
        for entry in entries.flatten() {
            let bytes = std::fs::read(entry.path()).unwrap();
            let temp = tempfile::tempdir().unwrap();
            let path = temp.path().join("input.key");
            std::fs::write(&path, &bytes).unwrap();
            let _ = heso_keystore::read_key_file_public(&path);
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no corpus found under {}", root.display());
}
