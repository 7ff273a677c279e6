//! The engine on real projects in temporary folders.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

use std::path::Path;

use heso_engine::{ActionRequest, ApprovalError, ApprovalState, Engine, GateStatus, init_project};
use heso_keystore::{PassphraseSources, SecretString};
use heso_receipt::{ApprovalOutcome, Decision, RedactionMode, SignerPins, Verb, verify_receipt};
use serde_json::{Map, Value, json};

fn fields(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap()
}

/// A project with the starter policy plus `extra` rules, and an approver "alice" named
/// in [defaults]. Returns the engine and alice's unlocked key.
fn project(dir: &Path, extra: &str) -> (Engine, heso_keystore::UnlockedKey) {
    init_project(dir, false, &PassphraseSources::default()).unwrap();
    let pass = SecretString::from("alice's passphrase".to_owned());
    let created = heso_keystore::create_approver(&dir.join("alice.key"), "alice", &pass).unwrap();
    let did = created.key.did_key();
    let policy = std::fs::read_to_string(dir.join("heso.toml"))
        .unwrap()
        .replace("# approvers = [\"alice\"]", "approvers = [\"alice\"]");
    std::fs::write(
        dir.join("heso.toml"),
        format!("{policy}\n[approvers.alice]\nkey = \"{did}\"\n{extra}"),
    )
    .unwrap();
    let engine = Engine::open(Some(dir)).unwrap();
    (engine, created.key)
}

fn receipt_line(engine: &Engine, hash: &str) -> String {
    engine.find_receipt(hash).unwrap().1
}

fn log_text(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("heso-local-data/receipts.jsonl")).unwrap()
}

#[test]
fn every_decision_leaves_a_verified_receipt() {
    let temp = tempfile::tempdir().unwrap();
    let extra = "\n[[rule]]\nid = \"no.wire\"\norder = 1\nverb = \"tool_call\"\ntool = \"wire_*\"\ndecision = \"block\"\n\n[[rule]]\nid = \"scrub\"\norder = 2\nverb = \"tool_call\"\ntool = \"send_mail\"\ndecision = \"redact\"\nredact = [\"to\"]\nredact_mode = \"destructive\"\n";
    let (engine, _) = project(temp.path(), extra);
    let pins = engine.pins().unwrap();

    let allow = engine
        .gate(&ActionRequest::new(
            Verb::ToolCall,
            "search",
            fields(json!({"q": "x"})),
        ))
        .unwrap();
    assert_eq!(
        (allow.status, allow.decision),
        (GateStatus::Allowed, Decision::Allow)
    );

    let block = engine
        .gate(&ActionRequest::new(
            Verb::ToolCall,
            "wire_money",
            fields(json!({"n": 1})),
        ))
        .unwrap();
    assert_eq!(
        (block.status, block.rule_id.as_str()),
        (GateStatus::Blocked, "no.wire")
    );

    let mut observed = ActionRequest::new(Verb::ToolCall, "wire_money", fields(json!({"n": 2})));
    observed.blocking = false;
    let observed = engine.gate(&observed).unwrap();
    assert_eq!(observed.status, GateStatus::Allowed);
    assert!(observed.observed);
    assert!(observed.rule_display.ends_with("(observed, not enforced)"));

    let redact = engine
        .gate(&ActionRequest::new(
            Verb::ToolCall,
            "send_mail",
            fields(json!({"to": "eve@acme.example", "body": "hi"})),
        ))
        .unwrap();
    assert_eq!(
        (redact.status, redact.decision),
        (GateStatus::Allowed, Decision::Redact)
    );

    let delete = engine
        .gate(&ActionRequest::new(
            Verb::Delete,
            "drop_table",
            fields(json!({"t": "users"})),
        ))
        .unwrap();
    assert_eq!(delete.status, GateStatus::Suspended);
    assert_eq!(delete.pending.as_ref().unwrap().approvers, ["alice"]);

    let mut observed_delete =
        ActionRequest::new(Verb::Delete, "drop_table", fields(json!({"t": "x"})));
    observed_delete.blocking = false;
    assert_eq!(
        engine.gate(&observed_delete).unwrap().status,
        GateStatus::Suspended,
        "the floor is never observe-only"
    );

    for outcome in [&allow, &block, &observed, &redact, &delete] {
        let line = receipt_line(&engine, &outcome.action_hash);
        let verdict = verify_receipt(line.as_bytes(), &pins).verdict;
        assert_eq!(verdict.to_string(), "Valid (L0)", "{}", outcome.rule_id);
    }
    let text = log_text(temp.path());
    assert!(
        !text.contains("eve@acme.example"),
        "a dropped value reached the log"
    );
    let report = heso_chain::verify_log(
        &temp.path().join("heso-local-data/receipts.jsonl"),
        &pins,
        None,
    )
    .unwrap();
    assert!(report.all_valid(), "{report:?}");
    assert_eq!(report.receipts, 6);
}

#[test]
fn approval_round_trip_resume_once_reject_and_expiry() {
    let temp = tempfile::tempdir().unwrap();
    let (engine, alice) = project(temp.path(), "");
    let pins = engine.pins().unwrap();
    let gate = |id: &str| {
        engine
            .gate(&ActionRequest::new(
                Verb::Delete,
                "delete_record",
                fields(json!({"record_id": id})),
            ))
            .unwrap()
    };

    let first = gate("r-1");
    let id = first.pending.unwrap().id;
    assert!(matches!(
        engine.claim(&id, None),
        Err(ApprovalError::NotApproved(_))
    ));
    // The operator cannot approve; an unknown id is an error.
    let operator = heso_keystore::unlock_operator(
        &temp.path().join("heso-local-data"),
        &PassphraseSources::default(),
    )
    .unwrap();
    assert!(matches!(
        engine.decide(&id, &operator, ApprovalOutcome::Approved, ""),
        Err(ApprovalError::OperatorCannotApprove)
    ));
    assert!(matches!(
        engine.decide("abcdef", &alice, ApprovalOutcome::Approved, ""),
        Err(ApprovalError::UnknownId(_))
    ));
    // A key that heso.toml does not name.
    let mallory = heso_keystore::create_approver(
        &temp.path().join("mallory.key"),
        "mallory",
        &SecretString::from("m".to_owned()),
    )
    .unwrap();
    assert!(matches!(
        engine.decide(&id, &mallory.key, ApprovalOutcome::Approved, ""),
        Err(ApprovalError::NotAnApprover { .. })
    ));

    let l1 = engine
        .decide(&id, &alice, ApprovalOutcome::Approved, "ticket OPS-7")
        .unwrap();
    let line = receipt_line(&engine, &l1);
    let checked = verify_receipt(line.as_bytes(), &pins);
    assert_eq!(checked.verdict.to_string(), "Valid (L1)");
    let signers = checked.verdict.signers().unwrap();
    assert_eq!(signers.approver.unwrap().0, alice.public_key());
    assert!(matches!(
        engine.decide(&id, &alice, ApprovalOutcome::Rejected, ""),
        Err(ApprovalError::AlreadyDecided { .. })
    ));
    // Other arguments than the approved ones: nothing is claimed.
    assert!(matches!(
        engine.claim(&id, Some(&fields(json!({"record_id": "r-2"})))),
        Err(ApprovalError::ArgumentsChanged(_))
    ));
    let run = engine
        .claim(&id, Some(&fields(json!({"record_id": "r-1"}))))
        .unwrap();
    assert_eq!(run.fields, fields(json!({"record_id": "r-1"})));
    assert_eq!(run.approval_receipt, l1);
    assert!(matches!(
        engine.claim(&id, None),
        Err(ApprovalError::AlreadyResumed(_))
    ));
    assert!(matches!(
        engine.pending_action(&id).unwrap().state,
        ApprovalState::Resumed { claim: Some(_), .. }
    ));

    let second = gate("r-2").pending.unwrap().id;
    engine
        .decide(&second, &alice, ApprovalOutcome::Rejected, "no")
        .unwrap();
    assert!(matches!(
        engine.claim(&second, None),
        Err(ApprovalError::Rejected(_))
    ));

    // The pending files never hold a redacted value in the clear.
    let report = heso_chain::verify_log(
        &temp.path().join("heso-local-data/receipts.jsonl"),
        &pins,
        None,
    )
    .unwrap();
    assert!(report.all_valid(), "{report:?}");
}

#[test]
fn committed_values_are_revealable_and_never_written() {
    let temp = tempfile::tempdir().unwrap();
    let (engine, _) = project(temp.path(), "");
    let secret = "sk-live-do-not-write-me";
    let mut request = ActionRequest::new(
        Verb::ToolCall,
        "call_partner_api",
        fields(json!({"api_key": secret, "endpoint": "https://p.example"})),
    );
    request.redact = vec!["api_key".into(), "missing".into()];
    request.redact_mode = RedactionMode::CommitAndReveal;
    let outcome = engine.gate(&request).unwrap();
    assert_eq!(outcome.unmatched_redactions, ["missing"]);
    let hash = &outcome.action_hash[..10];
    let check = engine.reveal(hash, "api_key", &json!(secret)).unwrap();
    assert!(check.matches);
    let disclosure = check.disclosure.unwrap();
    let marker = heso_receipt::Marker {
        field_path: disclosure.field_path.clone(),
        algorithm: heso_receipt::MarkerAlgorithm::SaltedBlake3,
        commitment: disclosure.commitment.clone(),
    };
    let mut salt = [0u8; 32];
    for (i, byte) in salt.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&disclosure.salt_hex[2 * i..2 * i + 2], 16).unwrap();
    }
    assert!(
        heso_redact::check_disclosure(&marker, &salt, &json!(secret)),
        "an auditor can check the disclosure alone"
    );
    assert!(
        !engine
            .reveal(hash, "api_key", &json!("guess"))
            .unwrap()
            .matches
    );
    assert!(engine.reveal(hash, "endpoint", &json!("x")).is_err());

    for entry in walk(&temp.path().join("heso-local-data")) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{} holds the secret",
            entry.display()
        );
        // The salt is stored encrypted, never in the clear.
        let salt_hex = disclosure.salt_hex.as_bytes();
        assert!(
            !bytes.windows(salt_hex.len()).any(|w| w == salt_hex),
            "{} holds the salt",
            entry.display()
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(temp.path().join("heso-local-data/salts.jsonl"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
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

#[test]
fn policy_edits_are_picked_up_and_a_broken_edit_fails_closed() {
    let temp = tempfile::tempdir().unwrap();
    let (engine, _) = project(temp.path(), "");
    let search = ActionRequest::new(Verb::ToolCall, "search", fields(json!({"q": "x"})));
    assert_eq!(engine.gate(&search).unwrap().status, GateStatus::Allowed);
    let path = temp.path().join("heso.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace(
            "id = \"tool.allow\"\norder = 20\nverb = \"tool_call\"\ndecision = \"allow\"",
            "id = \"tool.allow\"\norder = 20\nverb = \"tool_call\"\ndecision = \"block\" # edited",
        ),
    )
    .unwrap();
    assert_eq!(engine.gate(&search).unwrap().status, GateStatus::Blocked);
    std::fs::write(&path, "[[rule]]\nid = \"x\"\ndecision = \"alow\"\n").unwrap();
    let error = engine.gate(&search).unwrap_err().to_string();
    assert!(error.contains("heso.toml:3:12"), "{error}");
    std::fs::write(&path, text).unwrap();
    assert_eq!(engine.gate(&search).unwrap().status, GateStatus::Allowed);
}

/// Waits until `path` was last changed more than 2 s ago: from then on the engine trusts
/// the file's stamp alone and no longer compares its content on every call.
fn wait_until_settled(path: &Path) {
    use std::os::unix::fs::MetadataExt as _;
    let meta = std::fs::metadata(path).unwrap();
    let changed = std::time::UNIX_EPOCH
        + std::time::Duration::new(meta.ctime() as u64, meta.ctime_nsec() as u32);
    let settled = changed.max(meta.modified().unwrap()) + std::time::Duration::from_millis(2100);
    if let Ok(wait) = settled.duration_since(std::time::SystemTime::now()) {
        std::thread::sleep(wait);
    }
}

/// The policy at `path`, and the same with tool calls blocked: the same length, so only
/// the times, the inode or the links can tell the two files apart.
fn allow_and_block(path: &Path) -> (String, String) {
    let allow = std::fs::read_to_string(path).unwrap();
    let block = allow.replace(
        "id = \"tool.allow\"\norder = 20\nverb = \"tool_call\"\ndecision = \"allow\"",
        "id = \"tool.allow\"\norder = 20\nverb = \"tool_call\"\ndecision = \"block\"",
    );
    assert_ne!(allow, block);
    assert_eq!(allow.len(), block.len());
    (allow, block)
}

#[test]
fn edits_of_a_settled_policy_are_picked_up_in_place_and_by_rename() {
    let temp = tempfile::tempdir().unwrap();
    let (engine, _) = project(temp.path(), "");
    let search = ActionRequest::new(Verb::ToolCall, "search", fields(json!({"q": "x"})));
    let path = temp.path().join("heso.toml");
    let (allow, block) = allow_and_block(&path);
    wait_until_settled(&path);
    assert_eq!(engine.gate(&search).unwrap().status, GateStatus::Allowed);

    // Written in place, its modification time put back.
    let before = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::fs::write(&path, &block).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(before)
        .unwrap();
    assert_eq!(engine.gate(&search).unwrap().status, GateStatus::Blocked);

    // Replaced by a rename, as editors save, with the old modification time.
    wait_until_settled(&path);
    assert_eq!(engine.gate(&search).unwrap().status, GateStatus::Blocked);
    let before = std::fs::metadata(&path).unwrap().modified().unwrap();
    let next = temp.path().join("heso.toml.new");
    std::fs::write(&next, &allow).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&next)
        .unwrap()
        .set_modified(before)
        .unwrap();
    std::fs::rename(&next, &path).unwrap();
    assert_eq!(engine.gate(&search).unwrap().status, GateStatus::Allowed);

    // Removed: every call fails closed until it is back.
    wait_until_settled(&path);
    std::fs::rename(&path, temp.path().join("heso.toml.away")).unwrap();
    let error = engine.gate(&search).unwrap_err().to_string();
    assert!(error.contains("heso.toml"), "{error}");
    std::fs::rename(temp.path().join("heso.toml.away"), &path).unwrap();
    assert_eq!(engine.gate(&search).unwrap().status, GateStatus::Allowed);
}

#[test]
fn a_policy_behind_a_symbolic_link_is_followed_when_the_link_is_repointed() {
    let temp = tempfile::tempdir().unwrap();
    let (engine, _) = project(temp.path(), "");
    let search = ActionRequest::new(Verb::ToolCall, "search", fields(json!({"q": "x"})));
    let path = temp.path().join("heso.toml");
    let (allow, block) = allow_and_block(&path);
    let (first, second) = (
        temp.path().join("allow.toml"),
        temp.path().join("block.toml"),
    );
    std::fs::write(&first, &allow).unwrap();
    std::fs::write(&second, &block).unwrap();
    std::os::unix::fs::symlink(&first, temp.path().join("link")).unwrap();
    std::fs::rename(temp.path().join("link"), &path).unwrap();
    assert_eq!(engine.gate(&search).unwrap().status, GateStatus::Allowed);
    wait_until_settled(&first);
    wait_until_settled(&second);
    assert_eq!(engine.gate(&search).unwrap().status, GateStatus::Allowed);
    // Re-pointed, as a deploy swaps a link: neither file changed.
    std::os::unix::fs::symlink(&second, temp.path().join("link")).unwrap();
    std::fs::rename(temp.path().join("link"), &path).unwrap();
    assert_eq!(engine.gate(&search).unwrap().status, GateStatus::Blocked);
}

#[test]
fn receipts_are_pinned_to_the_project() {
    let temp = tempfile::tempdir().unwrap();
    let (engine, _) = project(temp.path(), "");
    let outcome = engine
        .gate(&ActionRequest::new(
            Verb::LlmCall,
            "chat.completions.create",
            fields(json!({"model": "m"})),
        ))
        .unwrap();
    let line = receipt_line(&engine, &outcome.action_hash);
    let stranger = SignerPins::Only(vec![
        heso_receipt::SigningKey::from_bytes(&[3u8; 32]).verifying_key(),
    ]);
    assert_eq!(
        verify_receipt(line.as_bytes(), &stranger).verdict.kind(),
        "UntrustedSigner"
    );
}

/// `levels` arrays nested inside one another, the innermost holding a 1.
fn nested(levels: usize) -> Value {
    let mut value = json!(1);
    for _ in 0..levels {
        value = Value::Array(vec![value]);
    }
    value
}

#[test]
fn fields_nested_too_deep_are_refused_before_anything_is_written() {
    let temp = tempfile::tempdir().unwrap();
    let (engine, _) = project(temp.path(), "");
    let pins = engine.pins().unwrap();

    // At the limit: gated, and the receipt verifies (its JSON nests 4 levels more).
    let mut fields = Map::new();
    fields.insert("deep".into(), nested(heso_engine::MAX_FIELD_DEPTH));
    let at_limit = engine
        .gate(&ActionRequest::new(Verb::ToolCall, "search", fields))
        .unwrap();
    let line = receipt_line(&engine, &at_limit.action_hash);
    assert!(verify_receipt(line.as_bytes(), &pins).verdict.is_valid());

    let before = log_text(temp.path());
    for too_deep in [
        nested(heso_engine::MAX_FIELD_DEPTH + 1),
        nested(126),
        json!({"a": [{"b": nested(heso_engine::MAX_FIELD_DEPTH - 1)}]}),
    ] {
        let mut fields = Map::new();
        fields.insert("deep".into(), too_deep);
        let err = engine
            .gate(&ActionRequest::new(Verb::ToolCall, "search", fields))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the action's fields nest more than 64 levels deep; flatten them (nothing was \
             recorded and the action did not run)"
        );
    }
    assert_eq!(
        log_text(temp.path()),
        before,
        "a refused call changed the log"
    );
}

/// An argument holding an object with an `_sd` key, left in the clear, is refused before
/// anything is written, naming the field: the key is reserved for redaction markers. The
/// same value redacted is fine (its marker replaces it).
#[test]
fn an_unredacted_sd_key_is_refused_naming_its_field_and_nothing_is_written() {
    let temp = tempfile::tempdir().unwrap();
    let (engine, _) = project(temp.path(), "");
    let salts = temp.path().join("heso-local-data/salts.jsonl");
    let before = log_text(temp.path());

    for (value, path) in [
        (
            json!({"payload": {"meta": {"_sd": "abc", "x": 1}}}),
            "payload.meta",
        ),
        (json!({"_sd": "an argument named _sd"}), ""),
        (json!({"items": [1, {"_sd": 2}]}), "items.1"),
        (json!({"a.b": {"_sd": "x"}}), "a\\.b"),
        (json!({"look_alike": {"_sd": "0".repeat(64)}}), "look_alike"),
    ] {
        // A committed field beside it: its salt must not be stored either.
        let mut request = ActionRequest::new(Verb::ToolCall, "search", fields(value.clone()));
        request.fields.insert("token".into(), json!("sk-secret"));
        request.redact = vec!["token".into()];
        let err = engine.gate(&request).unwrap_err();
        assert!(
            matches!(&err, heso_engine::GateError::ReservedKey { path: p } if p == path),
            "{value}: {err:?}"
        );
        let text = err.to_string();
        assert!(text.contains("\"_sd\""), "{text}");
        assert!(text.contains("reserved"), "{text}");
        if !path.is_empty() {
            assert!(text.contains(&format!("{path:?}")), "{text}");
        }
        assert!(text.contains("nothing was recorded"), "{text}");
        assert_eq!(log_text(temp.path()), before, "{value}: the log changed");
        assert!(!salts.exists(), "{value}: a salt was stored");
    }

    // Redacted, the value is hidden behind its own marker: gated, and it verifies.
    let mut request = ActionRequest::new(
        Verb::ToolCall,
        "search",
        fields(json!({"payload": {"meta": {"_sd": "abc"}}})),
    );
    request.redact = vec!["payload.meta".into()];
    let outcome = engine.gate(&request).unwrap();
    let line = receipt_line(&engine, &outcome.action_hash);
    let pins = engine.pins().unwrap();
    assert!(verify_receipt(line.as_bytes(), &pins).verdict.is_valid());
}
