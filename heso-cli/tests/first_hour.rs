//! A new user's first hour, as issue 20 tells it: the words the quickstart promises.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

use std::path::Path;
use std::process::Command;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn heso(dir: &Path, home: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_heso"))
        .args(args)
        .current_dir(dir)
        .env("HOME", home)
        .env_remove("HESO_PROJECT_ROOT")
        .env_remove("HESO_KEY_PASSPHRASE")
        .env_remove("HESO_APPROVER_PASSPHRASE")
        .env_remove("HESO_ENV")
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A temporary folder with a private HOME and an empty project folder named `project`.
fn scratch(project: &str) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let temp = tempfile::tempdir().unwrap();
    let home = temp.path().join("home");
    let dir = temp.path().join(project);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    (temp, home, dir)
}

#[test]
fn init_inside_a_project_refuses_unless_nested() {
    let temp = tempfile::tempdir().unwrap();
    let home = temp.path().join("home");
    let outer = temp.path().join("outer");
    let inner = outer.join("agents/inner");
    std::fs::create_dir_all(&inner).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    assert_eq!(heso(&outer, &home, &["init"]).code, 0);

    let refused = heso(&inner, &home, &["init"]);
    assert_eq!(refused.code, 2, "{}", refused.stdout);
    assert!(
        refused.stderr.contains("is inside the heso project at")
            && refused.stderr.contains("--nested"),
        "{}",
        refused.stderr
    );
    assert!(!inner.join("heso.toml").exists());
    assert!(!inner.join("heso-local-data").exists());

    // Re-running init in the project itself keeps it, as before.
    assert_eq!(heso(&outer, &home, &["init"]).code, 0);

    let nested = heso(&inner, &home, &["init", "--nested"]);
    assert_eq!(nested.code, 0, "{}", nested.stderr);
    assert!(inner.join("heso.toml").is_file());
}

#[test]
fn the_demo_writes_a_receipt_file_the_next_step_verifies() {
    let (_temp, home, dir) = scratch("project");
    assert_eq!(heso(&dir, &home, &["init"]).code, 0);
    let demo = heso(&dir, &home, &["demo"]);
    assert_eq!(demo.code, 0, "{}", demo.stderr);
    let verified = heso(&dir, &home, &["verify", "./receipt.json"]);
    assert_eq!(verified.code, 0, "{}{}", verified.stdout, verified.stderr);
    assert!(
        verified.stdout.contains("Valid (L0)"),
        "{}",
        verified.stdout
    );
    let prefix = demo
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("heso verify "))
        .filter(|p| !p.starts_with("./"))
        .unwrap()
        .to_owned();
    let by_prefix = heso(&dir, &home, &["verify", &prefix]);
    assert_eq!(by_prefix.code, 0, "{}", by_prefix.stderr);
}

#[test]
fn log_list_tells_observed_approved_rejected_and_resumed_apart() {
    use heso_engine::{ActionRequest, Engine};
    use heso_receipt::{ApprovalOutcome, Verb};

    let (temp, home, dir) = scratch("project");
    assert_eq!(heso(&dir, &home, &["init"]).code, 0);
    let pass = heso_keystore::SecretString::from("alice pass".to_owned());
    let alice = heso_keystore::create_approver(&temp.path().join("a.key"), "alice", &pass)
        .unwrap()
        .key;
    heso_engine::add_approver(&dir.join("heso.toml"), "alice", &alice.did_key(), true).unwrap();
    let engine = Engine::open(Some(&dir)).unwrap();
    let mut observed = ActionRequest::new(Verb::Payment, "pay", serde_json::Map::new());
    observed.blocking = false;
    engine.gate(&observed).unwrap();
    let delete = |id: &str| {
        let mut fields = serde_json::Map::new();
        fields.insert("id".into(), id.into());
        let outcome = engine
            .gate(&ActionRequest::new(Verb::Delete, "drop", fields))
            .unwrap();
        outcome.pending.unwrap().id
    };
    let approved = delete("a");
    engine
        .decide(&approved, &alice, ApprovalOutcome::Approved, "ok")
        .unwrap();
    engine.claim(&approved, None).unwrap();
    let rejected = delete("b");
    engine
        .decide(&rejected, &alice, ApprovalOutcome::Rejected, "no")
        .unwrap();
    drop(engine);
    let listed = heso(&dir, &home, &["log", "list"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    for word in [
        "observed",
        "awaiting approval",
        "approved",
        "resumed",
        "rejected",
    ] {
        assert!(
            listed.stdout.contains(word),
            "no {word:?} in:\n{}",
            listed.stdout
        );
    }
}

/// A line with what differs between runs replaced: hex runs (hashes, with or without
/// their ellipsis), multibase keys, absolute paths.
fn shape(line: &str) -> String {
    let mut out = Vec::new();
    for word in line.split(' ') {
        let bare = word.trim_end_matches('…');
        let is_hex = bare.len() >= 12 && bare.bytes().all(|b| b.is_ascii_hexdigit());
        let shaped = if is_hex {
            "<hex>".to_owned()
        } else if let Some(at) = word.find("z6Mk") {
            format!(
                "{}<key>{}",
                &word[..at],
                if word.ends_with(')') { ")" } else { "" }
            )
        } else if word.starts_with('/') {
            let file = word.rsplit('/').next().unwrap_or_default();
            format!("<path>/{file}")
        } else {
            word.to_owned()
        };
        out.push(shaped);
    }
    out.join(" ")
}

#[test]
fn the_readme_quickstart_transcript_holds() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let start = readme
        .find("```console\n")
        .expect("the README has a transcript");
    let block = &readme[start + "```console\n".len()..];
    let block = &block[..block.find("```").unwrap()];

    let (_temp, home, dir) = scratch("agent");

    let mut expected: Vec<(String, Vec<String>)> = Vec::new();
    for line in block.lines() {
        match line.strip_prefix("$ heso ") {
            Some(command) => expected.push((command.to_owned(), Vec::new())),
            None => expected.last_mut().unwrap().1.push(line.to_owned()),
        }
    }
    assert_eq!(expected.len(), 3, "init, demo, verify");
    for (command, lines) in expected {
        let args: Vec<&str> = command.split(' ').collect();
        let run = heso(&dir, &home, &args);
        assert_eq!(run.code, 0, "heso {command}: {}", run.stderr);
        let got: Vec<String> = run.stdout.lines().map(shape).collect();
        let want: Vec<String> = lines.iter().map(|l| shape(l)).collect();
        assert_eq!(got, want, "heso {command} printed:\n{}", run.stdout);
    }
}

#[test]
fn every_reading_command_speaks_json_and_proper_english() {
    let (_temp, home, dir) = scratch("project");
    assert_eq!(heso(&dir, &home, &["init"]).code, 0);
    assert_eq!(heso(&dir, &home, &["demo"]).code, 0);
    for args in [
        vec!["policy", "check", "--json"],
        vec!["policy", "explain", "--verb", "delete", "--json"],
        vec!["keys", "show", "--json"],
        vec!["pending", "--json"],
        vec!["log", "verify", "--json"],
        vec!["verify", "./receipt.json", "--json"],
    ] {
        let run = heso(&dir, &home, &args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(&run.stdout);
        assert!(
            parsed.is_ok(),
            "{args:?} is not one JSON document:\n{}",
            run.stdout
        );
    }
    let explained = heso(&dir, &home, &["policy", "explain", "--verb", "payment"]);
    assert!(
        explained.stdout.contains("on any tool") && !explained.stdout.contains("on :"),
        "{}",
        explained.stdout
    );
    let verified = heso(&dir, &home, &["log", "verify"]);
    assert!(
        verified.stdout.contains("2 receipts in 1 session\n"),
        "{}",
        verified.stdout
    );
    let checked = heso(&dir, &home, &["policy", "check"]);
    assert!(
        !checked.stdout.contains("1 warnings") && !checked.stdout.contains("1 rules"),
        "{}",
        checked.stdout
    );
}

#[test]
fn an_exported_disclosure_verifies_offline_and_a_changed_value_does_not() {
    let (temp, home, dir) = scratch("project");
    assert_eq!(heso(&dir, &home, &["init"]).code, 0);
    assert_eq!(heso(&dir, &home, &["demo"]).code, 0);
    // A redacted call whose secret the test knows.
    let engine = heso_engine::Engine::open(Some(&dir)).unwrap();
    let mut request = heso_engine::ActionRequest::new(
        heso_receipt::Verb::ToolCall,
        "call_partner_api",
        serde_json::from_str(r#"{"api_key":"sk-known-123","endpoint":"e"}"#).unwrap(),
    );
    request.redact = vec!["api_key".into()];
    let known = engine.gate(&request).unwrap().action_hash;
    drop(engine);

    let exported = heso(
        &dir,
        &home,
        &[
            "reveal",
            &known[..12],
            "api_key",
            "--value",
            "sk-known-123",
            "--export",
        ],
    );
    assert_eq!(exported.code, 0, "{}", exported.stderr);
    let outside = temp.path().join("auditor");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("disclosure.json"), &exported.stdout).unwrap();
    // Outside any project: nothing pinned, the signer named.
    let checked = heso(&outside, &home, &["verify", "disclosure.json"]);
    assert_eq!(checked.code, 0, "{}{}", checked.stdout, checked.stderr);
    assert!(
        checked.stdout.contains("value matches its commitment"),
        "{}",
        checked.stdout
    );
    assert!(checked.stdout.contains("proves:"), "{}", checked.stdout);

    let mut changed: serde_json::Value = serde_json::from_str(&exported.stdout).unwrap();
    changed["value"] = "sk-other".into();
    std::fs::write(outside.join("changed.json"), changed.to_string()).unwrap();
    let refused = heso(&outside, &home, &["verify", "changed.json", "--json"]);
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    let report: serde_json::Value = serde_json::from_str(&refused.stdout).unwrap();
    assert_eq!(report["valid"], false);
    assert!(
        report["detail"].as_str().unwrap().contains("not the value"),
        "{report}"
    );

    // Pinned, a disclosure's `pinned`/`pinned_keys` are its receipt's report's (one
    // field set, from heso-receipt), and its own fields stay.
    let exported: serde_json::Value = serde_json::from_str(&exported.stdout).unwrap();
    let signer = exported["receipt"]["signatures"][0]["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    std::fs::write(
        outside.join("receipt.json"),
        exported["receipt"].to_string(),
    )
    .unwrap();
    let args = |file: &'static str| ["verify", file, "--json", "--signer", signer.as_str()];
    let disclosure = heso(&outside, &home, &args("disclosure.json"));
    assert_eq!(
        disclosure.code, 0,
        "{}{}",
        disclosure.stdout, disclosure.stderr
    );
    let disclosure: serde_json::Value = serde_json::from_str(&disclosure.stdout).unwrap();
    let receipt = heso(&outside, &home, &args("receipt.json"));
    let receipt: serde_json::Value = serde_json::from_str(&receipt.stdout).unwrap();
    assert_eq!(disclosure["pinned"], true, "{disclosure}");
    assert_eq!(disclosure["pinned"], receipt["pinned"]);
    assert_eq!(disclosure["pinned_keys"], receipt["pinned_keys"]);
    assert_eq!(
        disclosure["pinned_keys"][0], receipt["operator"],
        "{receipt}"
    );
    assert_eq!(disclosure["kind"], "disclosure");
    assert_eq!(disclosure["field_path"], exported["field_path"]);
    assert_eq!(disclosure["valid"], true);
}
