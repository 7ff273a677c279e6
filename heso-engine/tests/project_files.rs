//! The project's files as an attacker or a careless user leaves them: links inside
//! `heso-local-data/`, an in-place policy edit that keeps size and mtime, an operator key
//! that is not the one `heso.toml` pins.
#![cfg(unix)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

use std::io::{Seek as _, Write as _};
use std::os::unix::fs::{PermissionsExt as _, symlink};
use std::path::{Path, PathBuf};

use heso_engine::{ActionRequest, Engine, GateStatus, InitError, init_project, parse_config};
use heso_keystore::PassphraseSources;
use heso_receipt::{Verb, public_key_to_did_key, verify_receipt};
use serde_json::{Map, Value, json};

fn fields(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap()
}

fn new_project(dir: &Path) {
    init_project(dir, false, &PassphraseSources::default()).unwrap();
}

fn open_error(dir: &Path) -> String {
    match Engine::open(Some(dir)) {
        Ok(_) => panic!("the project opened"),
        Err(e) => e.to_string(),
    }
}

fn assert_names(text: &str, path: &Path) {
    assert!(
        text.contains(&path.display().to_string()) || text.contains(&tail(path)),
        "the error does not name {}: {text}",
        path.display()
    );
}

/// `heso-local-data/NAME`, as errors may show it relative to the project.
fn tail(path: &Path) -> String {
    let name = path.file_name().unwrap().to_string_lossy();
    let parent = path
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy();
    format!("{parent}/{name}")
}

/// A world-writable folder outside the project, as an attacker would point a link to.
fn world_writable(root: &Path) -> PathBuf {
    let dir = root.join("world-writable");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

fn delete_request() -> ActionRequest {
    ActionRequest::new(
        Verb::Delete,
        "drop_table",
        fields(json!({"table": "users"})),
    )
}

#[test]
fn a_symlinked_pending_dir_is_refused_and_nothing_is_written_through_it() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("project");
    new_project(&dir);
    let outside = world_writable(temp.path());
    let pending = dir.join("heso-local-data/pending");
    symlink(&outside, &pending).unwrap();

    let text = open_error(&dir);
    assert_names(&text, &pending);
    assert!(text.contains("symbolic link"), "{text}");

    // A link made while the engine is open: parking refuses it too.
    std::fs::remove_file(&pending).unwrap();
    let engine = Engine::open(Some(&dir)).unwrap();
    symlink(&outside, &pending).unwrap();
    let refused = engine.gate(&delete_request());
    // What the user reads: the error's message, its typed cause included.
    let text = refused
        .as_ref()
        .map_or_else(ToString::to_string, |o| format!("{o:?}"));
    assert!(
        refused.is_err() && text.contains("pending") && text.contains("symbolic link"),
        "{text}"
    );
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "something was written through the link"
    );
}

#[test]
fn a_symlinked_salts_file_is_refused_and_nothing_is_written_through_it() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("project");
    new_project(&dir);
    let outside = world_writable(temp.path());
    let salts = dir.join("heso-local-data/salts.jsonl");
    // Dangling: following it would create the file outside.
    symlink(outside.join("salts.jsonl"), &salts).unwrap();

    assert_names(&open_error(&dir), &salts);

    std::fs::remove_file(&salts).unwrap();
    let engine = Engine::open(Some(&dir)).unwrap();
    symlink(outside.join("salts.jsonl"), &salts).unwrap();
    let mut request = ActionRequest::new(
        Verb::ToolCall,
        "call_api",
        fields(json!({"api_key": "sk-1"})),
    );
    request.redact = vec!["api_key".into()];
    let refused = engine.gate(&request);
    // What the user reads: the error's message, its cause included.
    let text = match &refused {
        Err(e) => e.to_string(),
        Ok(outcome) => format!("not refused: {outcome:?}"),
    };
    assert!(
        refused.is_err() && text.contains("salts.jsonl") && text.contains("symbolic link"),
        "{text}"
    );
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
}

#[test]
fn a_symlinked_data_dir_or_log_is_refused_by_name() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("project");
    new_project(&dir);
    let data = dir.join("heso-local-data");
    let moved = temp.path().join("moved-data");
    std::fs::rename(&data, &moved).unwrap();
    symlink(&moved, &data).unwrap();
    let text = open_error(&dir);
    assert!(
        text.contains("heso-local-data") && text.contains("symbolic link"),
        "{text}"
    );

    std::fs::remove_file(&data).unwrap();
    std::fs::rename(&moved, &data).unwrap();
    let log = data.join("receipts.jsonl");
    let outside = world_writable(temp.path());
    symlink(outside.join("receipts.jsonl"), &log).unwrap();
    let text = open_error(&dir);
    assert!(
        text.contains("receipts.jsonl") && text.contains("symbolic link"),
        "{text}"
    );
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
}

#[test]
fn an_in_place_edit_with_the_same_size_mtime_and_inode_is_seen() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("project");
    new_project(&dir);
    let engine = Engine::open(Some(&dir)).unwrap();
    let search = || ActionRequest::new(Verb::ToolCall, "search", fields(json!({"q": "x"})));
    assert_eq!(engine.gate(&search()).unwrap().status, GateStatus::Allowed);

    // Rewrite heso.toml in place: same inode, same size ("allow" -> "block"), and the
    // modification time put back as it was.
    let path = dir.join("heso.toml");
    let before = std::fs::metadata(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = text.replacen(
        "id = \"tool.allow\"\norder = 20\nverb = \"tool_call\"\ndecision = \"allow\"",
        "id = \"tool.allow\"\norder = 20\nverb = \"tool_call\"\ndecision = \"block\"",
        1,
    );
    assert_ne!(edited, text, "the starter policy changed; update this test");
    assert_eq!(edited.len(), text.len());
    let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.rewind().unwrap();
    file.write_all(edited.as_bytes()).unwrap();
    file.set_modified(before.modified().unwrap()).unwrap();
    drop(file);
    let after = std::fs::metadata(&path).unwrap();
    assert_eq!(
        (after.len(), after.modified().unwrap()),
        (before.len(), before.modified().unwrap())
    );
    assert_eq!(
        std::os::unix::fs::MetadataExt::ino(&after),
        std::os::unix::fs::MetadataExt::ino(&before)
    );

    let outcome = engine.gate(&search()).unwrap();
    assert_eq!(
        (outcome.status, outcome.rule_id.as_str()),
        (GateStatus::Blocked, "tool.allow"),
        "the edit was missed"
    );
}

fn did_in(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join("heso-local-data").join(name))
        .unwrap()
        .trim()
        .to_owned()
}

#[test]
fn init_pins_the_operator_in_heso_toml_and_verification_pins_that_key() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("project");
    new_project(&dir);
    let did = did_in(&dir, "identity.pub");
    let text = std::fs::read_to_string(dir.join("heso.toml")).unwrap();
    assert!(
        text.contains(&format!("operator = \"{did}\"")),
        "heso.toml does not pin the operator:\n{text}"
    );
    let config = parse_config(&text, "heso.toml").unwrap();
    assert_eq!(
        config.operator.map(|k| public_key_to_did_key(&k)),
        Some(did.clone())
    );
    // The pins take this project's receipts, and not another project's.
    let engine = Engine::open(Some(&dir)).unwrap();
    let pins = engine.pins().unwrap();
    let ours = engine
        .gate(&ActionRequest::new(
            Verb::ToolCall,
            "search",
            fields(json!({"q": "x"})),
        ))
        .unwrap();
    let line = engine.find_receipt(&ours.action_hash).unwrap().1;
    assert!(verify_receipt(line.as_bytes(), &pins).verdict.is_valid());
    foreign_identity(temp.path());
    let other = Engine::open(Some(&temp.path().join("attacker"))).unwrap();
    let theirs = other
        .gate(&ActionRequest::new(
            Verb::ToolCall,
            "search",
            fields(json!({"q": "x"})),
        ))
        .unwrap();
    let line = other.find_receipt(&theirs.action_hash).unwrap().1;
    assert_eq!(
        verify_receipt(line.as_bytes(), &pins).verdict.kind(),
        "UntrustedSigner"
    );
}

/// A fresh identity from another project: its key file and its identity.pub.
fn foreign_identity(root: &Path) -> PathBuf {
    let other = root.join("attacker");
    new_project(&other);
    other.join("heso-local-data")
}

#[test]
fn an_identity_pub_that_disagrees_with_heso_toml_is_an_error_naming_both() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("project");
    new_project(&dir);
    let foreign = foreign_identity(temp.path());
    std::fs::copy(
        foreign.join("identity.pub"),
        dir.join("heso-local-data/identity.pub"),
    )
    .unwrap();
    let text = open_error(&dir);
    for needle in ["heso.toml", "identity.pub", "disagree"] {
        assert!(text.contains(needle), "{needle:?} missing: {text}");
    }
}

#[test]
fn a_key_file_that_disagrees_with_heso_toml_is_an_error_naming_both() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("project");
    new_project(&dir);
    let foreign = foreign_identity(temp.path());
    let data = dir.join("heso-local-data");
    for name in ["identity.pub", "identity.key", "DEV-ONLY.passphrase"] {
        std::fs::copy(foreign.join(name), data.join(name)).unwrap();
    }
    let text = open_error(&dir);
    for needle in ["heso.toml", "identity.key", "disagree", "heso keys rotate"] {
        assert!(text.contains(needle), "{needle:?} missing: {text}");
    }
}

#[test]
fn a_policy_edit_that_pins_another_operator_refuses_gated_calls() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("project");
    new_project(&dir);
    let engine = Engine::open(Some(&dir)).unwrap();
    let foreign = foreign_identity(temp.path());
    let theirs = std::fs::read_to_string(foreign.join("identity.pub")).unwrap();
    let ours = did_in(&dir, "identity.pub");
    let path = dir.join("heso.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace(&ours, theirs.trim())).unwrap();
    let refused = engine.gate(&ActionRequest::new(
        Verb::ToolCall,
        "search",
        fields(json!({"q": "x"})),
    ));
    let text = format!("{refused:?}");
    assert!(refused.is_err() && text.contains("heso.toml"), "{text}");
    assert!(engine.pins().is_err());
}

#[test]
fn a_project_without_a_pin_keeps_working_and_init_adds_the_pin() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("project");
    new_project(&dir);
    let did = did_in(&dir, "identity.pub");
    let path = dir.join("heso.toml");
    // As an older heso wrote it: no operator line.
    let text = std::fs::read_to_string(&path).unwrap();
    let old: String = text
        .lines()
        .filter(|l| !l.starts_with("operator = "))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(old, text);
    std::fs::write(&path, &old).unwrap();
    let engine = Engine::open(Some(&dir)).unwrap();
    assert_eq!(
        engine
            .gate(&ActionRequest::new(
                Verb::ToolCall,
                "search",
                fields(json!({"q": "x"}))
            ))
            .unwrap()
            .status,
        GateStatus::Allowed
    );
    drop(engine);

    let report = init_project(&dir, false, &PassphraseSources::default()).unwrap();
    assert!(report.operator_pin_added, "{report:?}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(&format!("operator = \"{did}\"")), "{text}");
    // Everything else kept as it was.
    for line in old.lines() {
        assert!(text.contains(line), "{line:?} lost");
    }
    let again = init_project(&dir, false, &PassphraseSources::default()).unwrap();
    assert!(!again.operator_pin_added);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}

#[test]
fn init_refuses_to_mint_a_new_identity_where_heso_toml_pins_one() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("project");
    new_project(&dir);
    let did = did_in(&dir, "identity.pub");
    std::fs::remove_dir_all(dir.join("heso-local-data")).unwrap();
    let err = init_project(&dir, false, &PassphraseSources::default()).unwrap_err();
    assert!(
        matches!(err, InitError::PinnedIdentityMissing { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    for needle in [
        did.as_str(),
        "heso keys rotate",
        "heso.toml",
        "identity.key",
        "old key",
    ] {
        assert!(text.contains(needle), "{needle:?} missing: {text}");
    }
    assert!(
        !dir.join("heso-local-data").exists(),
        "init wrote something"
    );
}
