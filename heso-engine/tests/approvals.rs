//! Approvals tried as an attacker with the agent's file access would: only a current
//! approver's signed decision in the log lets a parked action run, once, with the
//! arguments that were approved.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

use std::path::{Path, PathBuf};

use heso_engine::{
    ActionRequest, ApprovalError, ApprovalState, DecisionFault, Engine, ItemDamage,
    ParkedReceiptProblem, add_approver, init_project, retire_approver,
};
use heso_keystore::{PassphraseSources, SecretString, UnlockedKey};
use heso_receipt::{
    ApprovalOutcome, ChainPosition, Draft, Receipt, Verb, Verdict, sign_approved_receipt,
};
use serde_json::{Map, Value, json};

fn fields(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap()
}

fn approver(dir: &Path, name: &str) -> UnlockedKey {
    let pass = SecretString::from(format!("{name}'s passphrase"));
    heso_keystore::create_approver(&dir.join(format!("{name}.key")), name, &pass)
        .unwrap()
        .key
}

/// A fresh project with `alice` as its default approver.
fn project(dir: &Path) -> (Engine, UnlockedKey) {
    init_project(dir, false, &PassphraseSources::default()).unwrap();
    let alice = approver(dir, "alice");
    add_approver(&dir.join("heso.toml"), "alice", &alice.did_key(), true).unwrap();
    (Engine::open(Some(dir)).unwrap(), alice)
}

fn park(engine: &Engine, record: &str) -> String {
    let outcome = engine
        .gate(&ActionRequest::new(
            Verb::Delete,
            "delete_record",
            fields(json!({"record_id": record})),
        ))
        .unwrap();
    outcome.pending.unwrap().id
}

fn item_file(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("heso-local-data/pending/{id}.json"))
}

fn edit_item(dir: &Path, id: &str, change: impl FnOnce(&mut Value)) {
    let path = item_file(dir, id);
    let mut item: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    change(&mut item);
    std::fs::write(&path, item.to_string()).unwrap();
}

fn log_lines(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("heso-local-data/receipts.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A draft of `last`'s action and policy, chained right after it: what a forged decision
/// on the parked call would be signed from.
fn next_draft(last: &heso_receipt::Content) -> Draft {
    Draft {
        captured_at: last.captured_at.clone(),
        action: last.action.clone(),
        policy: last.policy.clone(),
        redaction: last.redaction.clone(),
        chain: Some(ChainPosition {
            session_id: last.session_id.clone().unwrap(),
            seq: last.seq.unwrap() + 1,
            prev_receipt_hash: Some(heso_receipt::chain_link(
                last.session_id.as_deref().unwrap(),
                last.seq.unwrap(),
                &last.action_hash,
            )),
        }),
    }
}

fn operator(dir: &Path) -> UnlockedKey {
    heso_keystore::unlock_operator(&dir.join("heso-local-data"), &PassphraseSources::default())
        .unwrap()
}

#[test]
fn an_edited_pending_item_never_runs() {
    let temp = tempfile::tempdir().unwrap();
    let (engine, alice) = project(temp.path());

    // Status fields written by hand: the item has none to set; any such edit is refused.
    let id = park(&engine, "r-1");
    edit_item(temp.path(), &id, |item| {
        item["status"] = json!("approved");
    });
    assert!(matches!(
        engine.claim(&id, None),
        Err(ApprovalError::Damaged { .. })
    ));
    // The `claimed` hint reset after a run does not allow a second one.
    let id = park(&engine, "r-2");
    engine
        .decide(&id, &alice, ApprovalOutcome::Approved, "")
        .unwrap();
    engine.claim(&id, None).unwrap();
    edit_item(temp.path(), &id, |item| item["claimed"] = json!(false));
    assert!(matches!(
        engine.claim(&id, None),
        Err(ApprovalError::AlreadyResumed(_))
    ));
    // Pointing the item at another (approved) receipt: refused, naming the receipt.
    let other = park(&engine, "r-3");
    let pointed = format!("{other}{}", "0".repeat(48));
    edit_item(temp.path(), &other, |item| {
        item["parked_receipt"] = json!(pointed);
    });
    let error = engine.claim(&other, None).unwrap_err();
    assert!(
        matches!(&error, ApprovalError::NoParkedReceipt { id, cause: ParkedReceiptProblem::Missing(hash) }
            if *id == other && *hash == pointed),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "pending action {other} has no valid parked receipt in the audit log: receipt {pointed} is not in the log"
        )
    );
    assert!(matches!(
        std::error::Error::source(&error).and_then(|s| s.downcast_ref::<ParkedReceiptProblem>()),
        Some(ParkedReceiptProblem::Missing(_))
    ));
    // A sealed call copied from another item does not open.
    let a = park(&engine, "r-4");
    let b = park(&engine, "r-5");
    engine
        .decide(&b, &alice, ApprovalOutcome::Approved, "")
        .unwrap();
    let sealed_a: Value =
        serde_json::from_str(&std::fs::read_to_string(item_file(temp.path(), &a)).unwrap())
            .unwrap();
    edit_item(temp.path(), &b, |item| {
        item["sealed_call"] = sealed_a["sealed_call"].clone();
    });
    assert!(matches!(
        engine.claim(&b, None),
        Err(ApprovalError::Sealed { .. })
    ));
}

#[test]
fn each_kind_of_damage_to_a_pending_item_is_named_and_keeps_its_cause() {
    use std::error::Error as _;

    let temp = tempfile::tempdir().unwrap();
    let (engine, _alice) = project(temp.path());
    let damage = |id: &str| match engine.pending_action(id) {
        Err(ApprovalError::Damaged { path, damage }) => {
            assert!(path.ends_with(&format!("{id}.json")), "{path}");
            damage
        }
        other => panic!("{other:?}"),
    };

    // Not the item's JSON (an unknown field): serde's error is the source, its words kept.
    let id = park(&engine, "r-1");
    edit_item(temp.path(), &id, |item| item["status"] = json!("approved"));
    let error = engine.pending_action(&id).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("is damaged") && message.contains("unknown field `status`"),
        "{message}"
    );
    let cause = error.source().unwrap();
    assert!(matches!(
        cause.downcast_ref::<ItemDamage>(),
        Some(ItemDamage::Json(_))
    ));
    let json = cause.source().unwrap().downcast_ref::<serde_json::Error>();
    assert!(json.unwrap().is_data(), "{json:?}");
    // Not JSON at all.
    std::fs::write(item_file(temp.path(), &id), "{").unwrap();
    assert!(matches!(damage(&id), ItemDamage::Json(e) if e.is_eof()));

    // Its id is not its file name's.
    let id = park(&engine, "r-2");
    edit_item(temp.path(), &id, |item| {
        item["id"] = json!("0123456789abcdef")
    });
    let found = damage(&id);
    assert!(
        matches!(&found, ItemDamage::OtherId { found, expected } if found == "0123456789abcdef" && *expected == id),
        "{found:?}"
    );
    assert!(found.source().is_none());

    // It names another item's receipt.
    let other = park(&engine, "r-3");
    let other_item: Value =
        serde_json::from_str(&std::fs::read_to_string(item_file(temp.path(), &other)).unwrap())
            .unwrap();
    let other_receipt = other_item["parked_receipt"].as_str().unwrap().to_owned();
    let id = park(&engine, "r-4");
    edit_item(temp.path(), &id, |item| {
        item["parked_receipt"] = json!(other_receipt);
    });
    let found = damage(&id);
    assert!(
        matches!(&found, ItemDamage::OtherReceipt { receipt, id: named } if *receipt == other_receipt && *named == id),
        "{found:?}"
    );
    assert!(
        found.to_string().contains("which is not the receipt of id"),
        "{found}"
    );
    // A receipt hash cut short names the receipt it was given, at most 80 characters.
    edit_item(temp.path(), &id, |item| {
        item["parked_receipt"] = json!(format!("{id}{}", "f".repeat(200)));
    });
    assert!(
        matches!(damage(&id), ItemDamage::OtherReceipt { receipt, .. } if receipt.chars().count() == 80)
    );
}

#[test]
fn a_decision_signed_by_a_key_heso_toml_does_not_name_does_not_count() {
    let temp = tempfile::tempdir().unwrap();
    let (engine, _alice) = project(temp.path());
    let id = park(&engine, "r-1");
    // The attacker has the operator key (the agent's files) and a key of their own, and
    // appends an L1 approval straight to the log.
    let mallory = approver(temp.path(), "mallory");
    let operator = operator(temp.path());
    let lines = log_lines(temp.path());
    let parked: Receipt = serde_json::from_str(lines.last().unwrap()).unwrap();
    let last = &parked.content;
    let draft = next_draft(last);
    let forged = sign_approved_receipt(
        draft,
        heso_receipt::Approval {
            decision: ApprovalOutcome::Approved,
            reason: "lgtm".into(),
            decided_at: heso_engine::now_rfc3339(),
        },
        mallory.signing_key(),
        operator.signing_key(),
    )
    .unwrap();
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .open(temp.path().join("heso-local-data/receipts.jsonl"))
        .unwrap();
    std::io::Write::write_all(
        &mut log,
        format!("{}\n", forged.to_json().unwrap()).as_bytes(),
    )
    .unwrap();
    drop(log);
    let engine = Engine::open(Some(temp.path())).unwrap();
    let state = engine.pending_action(&id).unwrap().state;
    assert!(
        matches!(
            &state,
            ApprovalState::Unauthorized {
                why: DecisionFault::SignerNotApprover(Verdict::UntrustedSigner(_)),
                ..
            }
        ),
        "{state:?}"
    );
    let ApprovalState::Unauthorized { why, .. } = &state else {
        unreachable!()
    };
    assert_eq!(
        why.to_string(),
        "it is signed by a key that is not a current approver of this action in heso.toml"
    );
    let error = engine.claim(&id, None).unwrap_err();
    assert!(
        matches!(
            &error,
            ApprovalError::Unauthorized {
                why: DecisionFault::SignerNotApprover(_),
                ..
            }
        ),
        "{error:?}"
    );
    assert!(matches!(
        std::error::Error::source(&error).and_then(|s| s.downcast_ref::<DecisionFault>()),
        Some(DecisionFault::SignerNotApprover(_))
    ));
    assert!(
        error
            .to_string()
            .contains("does not count (it is signed by a key that is not a current approver"),
        "{error}"
    );
}

/// Appends `line` to the project's log as it is, as someone with the agent's files could.
fn append_raw(dir: &Path, line: &str) {
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("heso-local-data/receipts.jsonl"))
        .unwrap();
    std::io::Write::write_all(&mut log, format!("{line}\n").as_bytes()).unwrap();
}

/// Rewrites the log's lines for which `pick` is true with `change`.
fn rewrite_log(dir: &Path, pick: impl Fn(&str) -> bool, change: impl Fn(&str) -> String) {
    let lines: Vec<String> = log_lines(dir)
        .iter()
        .map(|l| if pick(l) { change(l) } else { l.clone() })
        .collect();
    std::fs::write(
        dir.join("heso-local-data/receipts.jsonl"),
        lines.join("\n") + "\n",
    )
    .unwrap();
}

#[test]
fn a_parked_receipt_that_does_not_verify_keeps_its_verdict() {
    let temp = tempfile::tempdir().unwrap();
    let (engine, _alice) = project(temp.path());
    let id = park(&engine, "r-1");
    // The parked receipt's arguments edited in the log: its hash no longer matches.
    rewrite_log(
        temp.path(),
        |l| l.contains(&id),
        |l| l.replace("\"r-1\"", "\"r-9\""),
    );
    let error = engine.pending_action(&id).unwrap_err();
    assert!(
        matches!(
            &error,
            ApprovalError::NoParkedReceipt {
                cause: ParkedReceiptProblem::Unverified(Verdict::HashMismatch(_)),
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().contains(
            "is not a valid request for approval signed by this project's operator: HashMismatch: "
        ),
        "{error}"
    );
    assert!(matches!(
        std::error::Error::source(&error).and_then(|s| s.downcast_ref::<ParkedReceiptProblem>()),
        Some(ParkedReceiptProblem::Unverified(_))
    ));
}

#[test]
fn a_decision_that_does_not_count_says_why_in_a_typed_cause() {
    let temp = tempfile::tempdir().unwrap();
    let (engine, alice) = project(temp.path());
    let bob = approver(temp.path(), "bob");
    add_approver(&temp.path().join("heso.toml"), "bob", &bob.did_key(), true).unwrap();
    let engine = {
        drop(engine);
        Engine::open(Some(temp.path())).unwrap()
    };

    // Two approvers sign a decision between them, without the operator.
    let id = park(&engine, "r-1");
    let parked: Receipt = serde_json::from_str(log_lines(temp.path()).last().unwrap()).unwrap();
    let last = &parked.content;
    let draft = next_draft(last);
    let forged = sign_approved_receipt(
        draft,
        heso_receipt::Approval {
            decision: ApprovalOutcome::Approved,
            reason: "lgtm".into(),
            decided_at: heso_engine::now_rfc3339(),
        },
        bob.signing_key(),
        alice.signing_key(),
    )
    .unwrap();
    append_raw(temp.path(), &forged.to_json().unwrap());
    let state = engine.pending_action(&id).unwrap().state;
    assert!(
        matches!(&state, ApprovalState::Unauthorized { why: DecisionFault::OtherOperator { operator }, .. }
            if *operator == alice.did_key()),
        "{state:?}"
    );
    let error = engine.claim(&id, None).unwrap_err();
    assert!(
        error.to_string().contains(&format!(
            "(it is co-signed by {}, not by this project's operator)",
            alice.did_key()
        )),
        "{error}"
    );
    assert!(matches!(
        std::error::Error::source(&error).and_then(|s| s.downcast_ref::<DecisionFault>()),
        Some(DecisionFault::OtherOperator { .. })
    ));

    // A real decision whose reason was edited in the log afterwards.
    let id = park(&engine, "r-2");
    engine
        .decide(&id, &alice, ApprovalOutcome::Approved, "looks fine")
        .unwrap();
    rewrite_log(
        temp.path(),
        |l| l.contains("looks fine"),
        |l| l.replace("looks fine", "looks good"),
    );
    let state = engine.pending_action(&id).unwrap().state;
    assert!(
        matches!(
            &state,
            ApprovalState::Unauthorized {
                why: DecisionFault::Unverified(Verdict::HashMismatch(_)),
                ..
            }
        ),
        "{state:?}"
    );
    let error = engine.claim(&id, None).unwrap_err();
    assert!(
        error.to_string().contains("does not count (HashMismatch: "),
        "{error}"
    );
}

#[test]
fn a_second_decision_names_the_first_and_a_stranger_is_told_who_may_decide() {
    let temp = tempfile::tempdir().unwrap();
    let (engine, alice) = project(temp.path());
    let id = park(&engine, "r-1");
    let stranger = approver(temp.path(), "stranger");
    let error = engine
        .decide(&id, &stranger, ApprovalOutcome::Approved, "")
        .unwrap_err();
    assert!(
        matches!(&error, ApprovalError::NotAnApprover { allowed, key, .. }
            if *allowed == ["alice"] && *key == stranger.did_key()),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "key {} is not an approver of pending action {id} (allowed: alice)",
            stranger.did_key()
        )
    );
    let receipt = engine
        .decide(&id, &alice, ApprovalOutcome::Rejected, "no")
        .unwrap();
    let error = engine
        .decide(&id, &alice, ApprovalOutcome::Approved, "")
        .unwrap_err();
    assert!(
        matches!(&error, ApprovalError::AlreadyDecided { status: ApprovalState::Rejected { receipt: r, approver, reason }, .. }
            if *r == receipt && approver == "alice" && reason == "no"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!("pending action {id} was already rejected")
    );
}

#[test]
fn a_retired_approver_decides_nothing_and_their_approval_no_longer_runs() {
    let temp = tempfile::tempdir().unwrap();
    let (engine, alice) = project(temp.path());
    let bob = approver(temp.path(), "bob");
    add_approver(&temp.path().join("heso.toml"), "bob", &bob.did_key(), true).unwrap();
    let approved = park(&engine, "r-1");
    engine
        .decide(&approved, &alice, ApprovalOutcome::Approved, "")
        .unwrap();
    let waiting = park(&engine, "r-2");
    retire_approver(
        &temp.path().join("heso.toml"),
        "alice",
        &heso_engine::now_rfc3339(),
    )
    .unwrap();
    assert!(matches!(
        engine.decide(&waiting, &alice, ApprovalOutcome::Approved, ""),
        Err(ApprovalError::NotAnApprover { allowed, .. }) if allowed == ["bob"]
    ));
    assert!(matches!(
        engine.claim(&approved, None),
        Err(ApprovalError::Unauthorized {
            why: DecisionFault::SignerNotApprover(Verdict::UntrustedSigner(_)),
            ..
        })
    ));
    // A current approver still can.
    engine
        .decide(&waiting, &bob, ApprovalOutcome::Approved, "")
        .unwrap();
    engine.claim(&waiting, None).unwrap();
    // Retiring an approver who is not there, or twice, is an error that leaves heso.toml.
    let before = std::fs::read(temp.path().join("heso.toml")).unwrap();
    assert!(
        retire_approver(
            &temp.path().join("heso.toml"),
            "alice",
            "2026-12-02T00:00:00Z"
        )
        .is_err()
    );
    assert!(
        retire_approver(
            &temp.path().join("heso.toml"),
            "carol",
            "2026-12-02T00:00:00Z"
        )
        .is_err()
    );
    assert_eq!(
        std::fs::read(temp.path().join("heso.toml")).unwrap(),
        before
    );
}

#[test]
fn one_approval_of_two_identical_actions_runs_one_of_them() {
    let temp = tempfile::tempdir().unwrap();
    let (engine, alice) = project(temp.path());
    // The same call twice within one second: identical parked receipts but for the chain.
    let (first, second) = loop {
        let first = park(&engine, "r-1");
        let second = park(&engine, "r-1");
        let a = engine.pending_action(&first).unwrap();
        let b = engine.pending_action(&second).unwrap();
        if a.parked.content.captured_at == b.parked.content.captured_at {
            break (first, second);
        }
    };
    assert!(matches!(
        engine.decide(&second, &alice, ApprovalOutcome::Approved, ""),
        Err(ApprovalError::EarlierIdentical { count: 1, .. })
    ));
    engine
        .decide(&first, &alice, ApprovalOutcome::Approved, "")
        .unwrap();
    assert!(matches!(
        engine.claim(&second, None),
        Err(ApprovalError::NotApproved(_))
    ));
    engine.claim(&first, None).unwrap();
    assert!(matches!(
        engine.claim(&first, None),
        Err(ApprovalError::AlreadyResumed(_))
    ));
    engine
        .decide(&second, &alice, ApprovalOutcome::Approved, "")
        .unwrap();
    engine.claim(&second, None).unwrap();
}

#[test]
fn concurrent_claims_run_once() {
    let temp = tempfile::tempdir().unwrap();
    let (engine, alice) = project(temp.path());
    let id = park(&engine, "r-1");
    engine
        .decide(&id, &alice, ApprovalOutcome::Approved, "")
        .unwrap();
    // Separate engines, as separate processes would have.
    let engines: Vec<Engine> = (0..4)
        .map(|_| Engine::open(Some(temp.path())).unwrap())
        .collect();
    let wins = std::thread::scope(|scope| {
        let handles: Vec<_> = engines
            .iter()
            .map(|e| scope.spawn(|| e.claim(&id, None).is_ok()))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|won| *won)
            .count()
    });
    assert_eq!(wins, 1);
    let pins = engine.pins().unwrap();
    let report = heso_chain::verify_log(
        &temp.path().join("heso-local-data/receipts.jsonl"),
        &pins,
        None,
    )
    .unwrap();
    assert!(report.all_valid(), "{report:?}");
}

#[test]
fn no_approver_named_says_which_command_makes_one() {
    let temp = tempfile::tempdir().unwrap();
    init_project(temp.path(), false, &PassphraseSources::default()).unwrap();
    let engine = Engine::open(Some(temp.path())).unwrap();
    let id = park(&engine, "r-1");
    let action = engine.pending_action(&id).unwrap();
    assert!(action.approvers.is_empty());
    let someone = approver(temp.path(), "someone");
    let error = engine
        .decide(&id, &someone, ApprovalOutcome::Approved, "")
        .unwrap_err();
    assert!(
        matches!(&error, ApprovalError::NotAnApprover { allowed, .. } if allowed.is_empty()),
        "{error:?}"
    );
    let error = error.to_string();
    assert!(error.contains("heso keys new-approver"), "{error}");
    // Made the default approver afterwards, they may decide what was parked before.
    add_approver(
        &temp.path().join("heso.toml"),
        "someone",
        &someone.did_key(),
        true,
    )
    .unwrap();
    engine
        .decide(&id, &someone, ApprovalOutcome::Approved, "")
        .unwrap();
}

/// `pending/ID.json` and `pending/ID.lock` are never reached through a symbolic link: an
/// item linked to a file elsewhere (even a copy of the real one) is refused by name, and
/// nothing is created or locked through a linked lock file.
#[cfg(unix)]
#[test]
fn a_symlinked_pending_item_or_lock_is_refused_by_name() {
    use std::os::unix::fs::symlink;

    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("project");
    let (engine, alice) = project(&dir);
    let id = park(&engine, "r-1");
    let outside = temp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();

    // The item moved away and linked back: every use of it names the link.
    let item = item_file(&dir, &id);
    let moved = outside.join("item.json");
    std::fs::rename(&item, &moved).unwrap();
    symlink(&moved, &item).unwrap();
    let refusals = [
        engine.pending_action(&id).map(|_| ()).unwrap_err(),
        engine
            .decide(&id, &alice, ApprovalOutcome::Approved, "")
            .map(|_| ())
            .unwrap_err(),
        engine.claim(&id, None).map(|_| ()).unwrap_err(),
    ];
    for error in refusals {
        let text = error.to_string();
        assert!(text.contains(&format!("{id}.json")), "{text}");
        assert!(text.contains("symbolic link"), "{text}");
    }
    let (_, problems) = engine.pending().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].to_string().contains("symbolic link"));
    // Nothing was decided through it.
    assert_eq!(log_lines(&dir).len(), 1);

    // The item back in place, its lock file linked elsewhere (dangling): refused, and
    // nothing is created at the link's target.
    std::fs::remove_file(&item).unwrap();
    std::fs::rename(&moved, &item).unwrap();
    let lock = dir.join(format!("heso-local-data/pending/{id}.lock"));
    let _ = std::fs::remove_file(&lock);
    let target = outside.join("lock");
    symlink(&target, &lock).unwrap();
    let text = engine.pending_action(&id).unwrap_err().to_string();
    assert!(text.contains(&format!("{id}.lock")), "{text}");
    assert!(text.contains("symbolic link"), "{text}");
    assert!(!target.exists(), "a lock file was created through the link");

    // With the link gone, the item works as before.
    std::fs::remove_file(&lock).unwrap();
    engine
        .decide(&id, &alice, ApprovalOutcome::Approved, "")
        .unwrap();
}

#[test]
fn an_item_naming_a_receipt_that_is_no_request_says_so_not_that_it_is_missing() {
    let temp = tempfile::tempdir().unwrap();
    let (engine, _alice) = project(temp.path());
    let parked_id = park(&engine, "r-1");
    // An allowed call's receipt, and a pending item made for it from the real one.
    let allowed = engine
        .gate(&ActionRequest::new(
            Verb::ToolCall,
            "search",
            fields(json!({"q": "x"})),
        ))
        .unwrap();
    let id = allowed.action_hash[..16].to_owned();
    let mut item: Value =
        serde_json::from_str(&std::fs::read_to_string(item_file(temp.path(), &parked_id)).unwrap())
            .unwrap();
    item["id"] = json!(id);
    item["parked_receipt"] = json!(allowed.action_hash);
    std::fs::write(item_file(temp.path(), &id), item.to_string()).unwrap();

    let error = engine.pending_action(&id).unwrap_err();
    assert!(
        matches!(
            &error,
            ApprovalError::NoParkedReceipt {
                cause: ParkedReceiptProblem::NotARequest {
                    decision: heso_receipt::Decision::Allow,
                    ..
                },
                ..
            }
        ),
        "{error:?}"
    );
    assert!(!error.to_string().contains("not in the log"), "{error}");
}
