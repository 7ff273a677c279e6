//! Rotating the operator key (`heso keys rotate`): the old key signs a receipt naming the
//! new one, `heso.toml` pins the new key and keeps the old one as retired, and the history
//! stays verifiable: what the old key signed up to its retirement is valid, what it signs
//! after is not.
#![cfg(unix)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

use std::path::{Path, PathBuf};

use heso_engine::{ActionRequest, Engine, RotateError, init_project, load_config, rotate_operator};
use heso_keystore::{PassphraseSources, UnlockedKey};
use heso_receipt::{
    Action, Decision, Draft, PolicyRecord, SignerPins, Verb, Verdict, public_key_to_did_key,
    sign_receipt, verify_receipt,
};
use serde_json::{Map, Value, json};

fn fields(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap()
}

fn data(dir: &Path) -> PathBuf {
    dir.join("heso-local-data")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

/// The files a rotation changes, as bytes, to show a refused one changed nothing.
fn snapshot(dir: &Path) -> Vec<Vec<u8>> {
    [
        dir.join("heso.toml"),
        data(dir).join("identity.key"),
        data(dir).join("identity.pub"),
        data(dir).join("receipts.jsonl"),
    ]
    .iter()
    .map(|p| read(p))
    .collect()
}

/// A copy of the operator's key files, unlocked later to forge with the old key.
fn keep_old_key(dir: &Path, into: &Path) -> PathBuf {
    std::fs::create_dir_all(into).unwrap();
    for name in ["identity.key", "DEV-ONLY.passphrase"] {
        std::fs::copy(data(dir).join(name), into.join(name)).unwrap();
    }
    into.to_path_buf()
}

fn unlock(dir: &Path) -> UnlockedKey {
    heso_keystore::unlock_operator(dir, &PassphraseSources::default()).unwrap()
}

fn gate(engine: &Engine, tool: &str, value: Value) -> String {
    engine
        .gate(&ActionRequest::new(Verb::ToolCall, tool, fields(value)))
        .unwrap()
        .action_hash
}

fn line_of(engine: &Engine, hash: &str) -> String {
    engine.find_receipt(hash).unwrap().1
}

/// A receipt the old key signs itself, captured at `at`.
fn forged(old: &UnlockedKey, at: &str) -> Vec<u8> {
    let draft = Draft {
        captured_at: at.to_owned(),
        action: Action {
            verb: Verb::ToolCall,
            tool_name: "search".into(),
            workflow: "default".into(),
            account: "default".into(),
            fields: fields(json!({"q": "after the rotation"})),
            target_host: None,
            result_hash: None,
            error: None,
        },
        policy: PolicyRecord {
            rule_id: "tool.allow".into(),
            rule_display: "tool_call -> allow".into(),
            matched_conditions: Vec::new(),
            decision_path: Decision::Allow,
        },
        redaction: None,
        chain: None,
    };
    sign_receipt(draft, old.signing_key())
        .unwrap()
        .to_json()
        .unwrap()
        .into_bytes()
}

/// `at` plus `seconds`, RFC 3339 UTC.
fn later(at: &str, seconds: i64) -> String {
    let rfc = time::format_description::well_known::Rfc3339;
    let t = time::OffsetDateTime::parse(at, &rfc).unwrap() + time::Duration::seconds(seconds);
    t.format(&rfc).unwrap()
}

#[test]
fn rotation_keeps_history_verifiable_and_the_old_key_signs_nothing_valid_after() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("project");
    init_project(&dir, false, &PassphraseSources::default()).unwrap();
    let engine = Engine::open(Some(&dir)).unwrap();
    let old_key = engine.operator_key();
    let before = gate(&engine, "search", json!({"q": "before"}));
    let mut committed = ActionRequest::new(
        Verb::ToolCall,
        "call_partner",
        fields(json!({"api_key": "sk-live-1"})),
    );
    committed.redact = vec!["api_key".into()];
    let committed = engine.gate(&committed).unwrap().action_hash;
    drop(engine);
    let old_copy = keep_old_key(&dir, &temp.path().join("old-key"));

    let rotation = rotate_operator(Some(&dir)).unwrap();
    assert_eq!(rotation.old, old_key);
    assert_ne!(rotation.new, old_key);
    let receipt = rotation.receipt.clone().unwrap();

    // heso.toml pins the new key and keeps the old one retired; the key files agree.
    let config = load_config(&dir.join("heso.toml")).unwrap();
    assert_eq!(config.operator, Some(rotation.new));
    assert_eq!(config.retired_operators.len(), 1);
    assert_eq!(config.retired_operators[0].key, old_key);
    assert_eq!(config.retired_operators[0].retired_at, rotation.retired_at);
    let new_did = public_key_to_did_key(&rotation.new);
    assert_eq!(
        String::from_utf8(read(&data(&dir).join("identity.pub")))
            .unwrap()
            .trim(),
        new_did
    );
    assert!(!data(&dir).join("identity.key.new").exists());

    // The new key signs from now on; the chain goes on in the same session.
    let engine = Engine::open(Some(&dir)).unwrap();
    assert_eq!(engine.operator_key(), rotation.new);
    let after = gate(&engine, "search", json!({"q": "after"}));
    let pins = engine.pins().unwrap();
    let report =
        heso_chain::verify_log(&dir.join("heso-local-data/receipts.jsonl"), &pins, None).unwrap();
    assert!(report.all_valid(), "{report:?}");
    assert_eq!(report.receipts, 4);
    assert_eq!(report.sessions.len(), 1);

    // The rotation receipt: signed by the old key, naming the new one.
    let (parsed, line) = engine.find_receipt(&receipt).unwrap();
    assert_eq!(parsed.content.action.verb, Verb::AccountChange);
    assert_eq!(parsed.content.action.tool_name, "heso.keys.rotate");
    assert_eq!(parsed.content.action.fields["new_operator"], json!(new_did));
    assert!(parsed.content.captured_at.as_str() <= rotation.retired_at.as_str());
    let by_old = verify_receipt(line.as_bytes(), &SignerPins::Only(vec![old_key]));
    assert!(by_old.verdict.is_valid(), "{:?}", by_old.verdict);
    for hash in [&before, &committed, &receipt] {
        let checked = verify_receipt(line_of(&engine, hash).as_bytes(), &pins);
        assert!(checked.verdict.is_valid(), "{hash}: {:?}", checked.verdict);
    }
    let checked = verify_receipt(line_of(&engine, &after).as_bytes(), &pins);
    assert!(checked.verdict.is_valid());

    // A value committed before the rotation can still be revealed.
    let check = engine
        .reveal(&committed, "api_key", &json!("sk-live-1"))
        .unwrap();
    assert!(check.matches);

    // The old key, used after its retirement: untrusted.
    let old = unlock(&old_copy);
    assert_eq!(old.public_key(), old_key);
    let forged = forged(&old, &later(&rotation.retired_at, 1));
    match verify_receipt(&forged, &pins).verdict {
        Verdict::UntrustedSigner(detail) => assert!(detail.contains("retired"), "{detail}"),
        other => panic!("a receipt the retired key signed later: {other:?}"),
    }
}

#[test]
fn rotation_refuses_while_an_action_waits_for_approval_and_changes_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("project");
    init_project(&dir, false, &PassphraseSources::default()).unwrap();
    let engine = Engine::open(Some(&dir)).unwrap();
    let parked = engine
        .gate(&ActionRequest::new(
            Verb::Delete,
            "delete_record",
            fields(json!({"id": "r-1"})),
        ))
        .unwrap()
        .pending
        .unwrap()
        .id;
    drop(engine);
    let before = snapshot(&dir);
    let error = rotate_operator(Some(&dir)).unwrap_err();
    assert!(
        matches!(&error, RotateError::PendingActions { ids } if ids.as_slice() == std::slice::from_ref(&parked)),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.contains(&parked) && text.contains("heso pending"),
        "{text}"
    );
    assert_eq!(snapshot(&dir), before);
    assert!(!data(&dir).join("identity.key.new").exists());
}

#[test]
fn an_interrupted_rotation_is_refused_until_run_again_which_finishes_it() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("project");
    init_project(&dir, false, &PassphraseSources::default()).unwrap();
    let engine = Engine::open(Some(&dir)).unwrap();
    gate(&engine, "search", json!({"q": "before"}));
    drop(engine);
    let old_files = keep_old_key(&dir, &temp.path().join("old-key"));
    std::fs::copy(
        data(&dir).join("identity.pub"),
        old_files.join("identity.pub"),
    )
    .unwrap();
    let rotation = rotate_operator(Some(&dir)).unwrap();

    // As if the process died after editing heso.toml, before the new key was put in
    // place: the new key still staged, the old key files where they were.
    std::fs::rename(
        data(&dir).join("identity.key"),
        data(&dir).join("identity.key.new"),
    )
    .unwrap();
    for name in ["identity.key", "identity.pub"] {
        std::fs::copy(old_files.join(name), data(&dir).join(name)).unwrap();
    }
    let text = Engine::open(Some(&dir)).unwrap_err().to_string();
    assert!(
        text.contains("interrupted") && text.contains("heso keys rotate"),
        "{text}"
    );
    let finished = rotate_operator(Some(&dir)).unwrap();
    assert_eq!(finished.new, rotation.new);
    assert_eq!(finished.old, rotation.old);
    assert_eq!(finished.receipt, None, "no second rotation receipt");
    let engine = Engine::open(Some(&dir)).unwrap();
    assert_eq!(engine.operator_key(), rotation.new);
    drop(engine);

    // Died after the key file was replaced, before identity.pub was.
    std::fs::copy(
        old_files.join("identity.pub"),
        data(&dir).join("identity.pub"),
    )
    .unwrap();
    assert!(Engine::open(Some(&dir)).is_err());
    let finished = rotate_operator(Some(&dir)).unwrap();
    assert_eq!(finished.receipt, None);
    let engine = Engine::open(Some(&dir)).unwrap();
    let pins = engine.pins().unwrap();
    let report =
        heso_chain::verify_log(&dir.join("heso-local-data/receipts.jsonl"), &pins, None).unwrap();
    assert!(report.all_valid(), "{report:?}");
    assert_eq!(report.receipts, 2);
}

#[test]
fn a_lost_operator_key_is_retired_by_hand_as_init_says_and_its_receipts_stay_valid() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("project");
    init_project(&dir, false, &PassphraseSources::default()).unwrap();
    let engine = Engine::open(Some(&dir)).unwrap();
    let lost = engine.operator_key();
    let before = gate(&engine, "search", json!({"q": "before"}));
    drop(engine);
    for name in ["identity.key", "identity.pub", "DEV-ONLY.passphrase"] {
        std::fs::remove_file(data(&dir).join(name)).unwrap();
    }

    let text = init_project(&dir, false, &PassphraseSources::default())
        .unwrap_err()
        .to_string();
    for needle in ["heso keys rotate", "retired", "retired_at", "operator"] {
        assert!(text.contains(needle), "{needle:?}: {text}");
    }
    // Done as the message says: the lost key retired, the operator line removed.
    let config = dir.join("heso.toml");
    let did = public_key_to_did_key(&lost);
    let edited: String = std::fs::read_to_string(&config)
        .unwrap()
        .lines()
        .map(|l| {
            if l.starts_with("operator = ") {
                format!(
                    "retired = [{{ key = \"{did}\", retired_at = \"2099-01-01T00:00:00Z\" }}]\n"
                )
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&config, edited).unwrap();
    init_project(&dir, false, &PassphraseSources::default()).unwrap();

    let engine = Engine::open(Some(&dir)).unwrap();
    assert_ne!(engine.operator_key(), lost);
    gate(&engine, "search", json!({"q": "after"}));
    let checked = verify_receipt(
        line_of(&engine, &before).as_bytes(),
        &engine.pins().unwrap(),
    );
    assert!(checked.verdict.is_valid(), "{:?}", checked.verdict);
}
