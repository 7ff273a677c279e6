//! Replays the fuzzer's seeds and every kept crash input (`fuzz/seeds/policy`,
//! `fuzz/regressions/policy`) as an ordinary test, so CI exercises them on stable.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

#[test]
fn policy_corpus_replays_without_a_panic() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut replayed = 0;
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join("policy")) else {
            continue;
        };
        for entry in entries.flatten() {
            let bytes = std::fs::read(entry.path()).unwrap();
            if let Ok(text) = std::str::from_utf8(&bytes)
                && let Ok(policy) = heso_policy::Policy::parse(text, "heso.toml")
            {
                let fields = serde_json::Map::new();
                for verb in heso_receipt::Verb::ALL {
                    let _ = policy.evaluate(&heso_policy::ActionInput {
                        verb,
                        tool_name: "t",
                        workflow: "w",
                        account: "a",
                        target_host: None,
                        fields: &fields,
                    });
                }
                let _ = policy.lint();
            }
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no corpus found under {}", root.display());
}
