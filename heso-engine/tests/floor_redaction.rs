//! A delete rule that redacts keeps its redaction under the delete floor: the secret is
//! never written in the clear, to the log or to pending/ (issue 14).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

use heso_engine::{ActionRequest, Engine, GateStatus, init_project};
use heso_keystore::PassphraseSources;
use heso_receipt::Verb;

#[test]
fn a_redact_rule_still_hides_its_fields_when_the_floor_decides() {
    let temp = tempfile::tempdir().unwrap();
    init_project(temp.path(), false, &PassphraseSources::default()).unwrap();
    let config = temp.path().join("heso.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!(
            "{text}\n[[rule]]\nid = \"purge.scrub\"\norder = 1\nverb = \"delete\"\ndecision = \"redact\"\nredact = [\"token\"]\n"
        ),
    )
    .unwrap();
    let engine = Engine::open(Some(temp.path())).unwrap();
    let secret = "tok-live-never-on-disk-4711";
    let outcome = engine
        .gate(&ActionRequest::new(
            Verb::Delete,
            "purge",
            serde_json::from_str(&format!(r#"{{"table":"users","token":"{secret}"}}"#)).unwrap(),
        ))
        .unwrap();
    assert_eq!(outcome.status, GateStatus::Suspended);
    assert!(outcome.rule_display.ends_with("(delete floor)"));
    for entry in walk(&temp.path().join("heso-local-data")) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the secret is in the clear in {}",
            entry.display()
        );
    }
    let log = std::fs::read_to_string(temp.path().join("heso-local-data/receipts.jsonl")).unwrap();
    let receipt: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert!(receipt["content"]["action"]["fields"]["token"]["_sd"].is_string());
    assert_eq!(receipt["content"]["action"]["fields"]["table"], "users");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
