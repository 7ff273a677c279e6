//! `heso keys rotate` as a user runs it: the history signed before a rotation stays valid,
//! both operator keys are named, and a receipt the old key signs after it is untrusted.
//! Real `heso` processes in temporary folders.
#![cfg(unix)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use heso_keystore::PassphraseSources;
use heso_receipt::{
    Action, ChainPosition, Decision, Draft, PolicyRecord, Receipt, Verb, chain_link,
    public_key_to_did_key, sign_receipt,
};
use serde_json::{Value, json};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

fn heso_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_heso"));
    command
        .args(args)
        .current_dir(dir)
        .env("HOME", dir.join("home"))
        .env_remove("HESO_PROJECT_ROOT")
        .env_remove("HESO_KEY_PASSPHRASE")
        .env_remove("HESO_OLD_KEY_PASSPHRASE")
        .env_remove("HESO_ENV")
        .env_remove("XDG_CONFIG_HOME");
    for (k, v) in env {
        command.env(k, v);
    }
    let output = command.output().unwrap();
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(!run.stderr.contains("panicked"), "panic: {}", run.stderr);
    run
}

fn heso(dir: &Path, args: &[&str]) -> Run {
    heso_env(dir, args, &[])
}

fn ok(run: Run) -> Run {
    assert_eq!(run.code, 0, "{}", run.all());
    run
}

fn project(root: &Path) -> PathBuf {
    let dir = root.join("project");
    std::fs::create_dir_all(dir.join("home")).unwrap();
    ok(heso(&dir, &["init"]));
    ok(heso(&dir, &["demo"]));
    dir
}

fn data(dir: &Path) -> PathBuf {
    dir.join("heso-local-data")
}

fn operator_did(dir: &Path) -> String {
    std::fs::read_to_string(data(dir).join("identity.pub"))
        .unwrap()
        .trim()
        .to_owned()
}

fn json_of(run: &Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.all()))
}

/// Signs, with `key_dir`'s operator key, a receipt captured at `at` that continues the
/// log's chain, and appends it. Returns its action_hash.
fn append_forged(dir: &Path, key_dir: &Path, at: &str) -> String {
    let old = heso_keystore::unlock_operator(key_dir, &PassphraseSources::default()).unwrap();
    let log = data(dir).join("receipts.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    let last: Receipt = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let session = last.content.session_id.clone().unwrap();
    let seq = last.content.seq.unwrap();
    let draft = Draft {
        captured_at: at.to_owned(),
        action: Action {
            verb: Verb::ToolCall,
            tool_name: "search".into(),
            workflow: "default".into(),
            account: "default".into(),
            fields: json!({"q": "signed with the retired key"})
                .as_object()
                .cloned()
                .unwrap(),
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
        chain: Some(ChainPosition {
            prev_receipt_hash: Some(chain_link(&session, seq, &last.content.action_hash)),
            session_id: session,
            seq: seq + 1,
        }),
    };
    let receipt = sign_receipt(draft, old.signing_key()).unwrap();
    let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    writeln!(file, "{}", receipt.to_json().unwrap()).unwrap();
    receipt.content.action_hash
}

#[test]
fn after_a_rotation_the_log_verifies_naming_both_keys_and_the_old_key_signs_nothing_valid() {
    let temp = tempfile::tempdir().unwrap();
    let dir = project(temp.path());
    let old_did = operator_did(&dir);
    // The old key, kept aside to forge with it later.
    let old_key = temp.path().join("old-key");
    std::fs::create_dir(&old_key).unwrap();
    for name in ["identity.key", "DEV-ONLY.passphrase"] {
        std::fs::copy(data(&dir).join(name), old_key.join(name)).unwrap();
    }

    let rotated = ok(heso(&dir, &["keys", "rotate"]));
    let new_did = operator_did(&dir);
    assert_ne!(new_did, old_did);
    for needle in [&new_did, &old_did, "retired", "heso.toml", "restart"] {
        assert!(
            rotated.stdout.contains(needle),
            "{needle:?}: {}",
            rotated.all()
        );
    }
    ok(heso(&dir, &["demo"]));

    // The whole history verifies, both operator keys named.
    let verified = ok(heso(&dir, &["log", "verify"]));
    assert!(
        verified.stdout.contains("all receipts valid"),
        "{}",
        verified.all()
    );
    assert!(verified.stdout.contains(&old_did), "{}", verified.all());
    assert!(verified.stdout.contains(&new_did), "{}", verified.all());
    let report = json_of(&ok(heso(&dir, &["log", "verify", "--json"])));
    assert_eq!(report["all_valid"], json!(true));
    assert_eq!(report["receipts"], json!(5));
    assert_eq!(report["pinned"], json!(true));
    let pinned: Vec<&str> = report["pinned_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert!(pinned.contains(&old_did.as_str()), "{pinned:?}");
    assert!(pinned.contains(&new_did.as_str()), "{pinned:?}");

    // The rotation receipt: signed by the old key, naming the new one.
    let listed = ok(heso(&dir, &["log", "list", "--json"]));
    let rotation: Value = listed
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|r| r.to_string().contains("heso.keys.rotate"))
        .unwrap_or_else(|| panic!("no rotation receipt: {}", listed.stdout));
    let hash = rotation["content"]["action_hash"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown = json_of(&ok(heso(&dir, &["show", &hash])));
    assert_eq!(shown["content"]["action"]["verb"], json!("account_change"));
    assert_eq!(
        shown["content"]["action"]["fields"]["new_operator"],
        json!(new_did)
    );
    let checked = json_of(&ok(heso(&dir, &["verify", &hash, "--json"])));
    assert_eq!(checked["operator"], json!(old_did));

    // heso keys show: the new operator, the old one retired.
    let keys = ok(heso(&dir, &["keys", "show"]));
    assert!(
        keys.stdout.contains(&format!("operator {new_did}")),
        "{}",
        keys.all()
    );
    assert!(
        keys.stdout.contains(&format!("retired operator {old_did}")),
        "{}",
        keys.all()
    );

    // The old key signing after its retirement: untrusted, by the log and by verify.
    let forged = append_forged(&dir, &old_key, "2099-01-01T00:00:00Z");
    let run = heso(&dir, &["log", "verify"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stdout.contains("UntrustedSigner"), "{}", run.all());
    let run = heso(&dir, &["verify", &forged[..16]]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stdout.contains("UntrustedSigner"), "{}", run.all());
    assert!(run.stdout.contains("retired"), "{}", run.all());
    let _ = public_key_to_did_key;
}

#[test]
fn rotation_uses_the_project_passphrase_rules_and_a_refusal_changes_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("project");
    std::fs::create_dir_all(dir.join("home")).unwrap();
    let pass = [("HESO_KEY_PASSPHRASE", "a passphrase long enough")];
    ok(heso_env(&dir, &["init", "--require-passphrase"], &pass));
    ok(heso_env(&dir, &["demo"], &pass));
    let snapshot = |dir: &Path| -> Vec<Vec<u8>> {
        [
            "heso.toml",
            "heso-local-data/identity.key",
            "heso-local-data/identity.pub",
        ]
        .iter()
        .map(|f| std::fs::read(dir.join(f)).unwrap())
        .collect()
    };
    let before = snapshot(&dir);

    // The old key must open first: without the passphrase, or with a wrong one, nothing.
    let run = heso(&dir, &["keys", "rotate"]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(run.stderr.contains("HESO_KEY_PASSPHRASE"), "{}", run.all());
    let run = heso_env(
        &dir,
        &["keys", "rotate"],
        &[("HESO_KEY_PASSPHRASE", "not the passphrase at all")],
    );
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(run.stderr.contains("does not open"), "{}", run.all());
    assert_eq!(snapshot(&dir), before, "a refused rotation changed files");
    assert!(!data(&dir).join("identity.key.new").exists());

    // With it: the new key is sealed under the same passphrase, no dev file.
    let old_did = operator_did(&dir);
    ok(heso_env(&dir, &["keys", "rotate"], &pass));
    assert_ne!(operator_did(&dir), old_did);
    assert!(!data(&dir).join("DEV-ONLY.passphrase").exists());
    ok(heso_env(&dir, &["demo"], &pass));
    let verified = ok(heso_env(&dir, &["log", "verify"], &pass));
    assert!(verified.stdout.contains("all receipts valid"));
}
