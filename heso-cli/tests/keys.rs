//! `heso keys show`, `heso keys passphrase`, `heso policy check` and the machine-readable
//! pinning of `heso verify --json` / `heso log verify --json`, as a user runs them.
#![cfg(unix)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

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

fn folder(root: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(dir.join("home")).unwrap();
    dir
}

fn project(root: &Path, name: &str) -> PathBuf {
    let dir = folder(root, name);
    ok(heso(&dir, &["init"]));
    ok(heso(&dir, &["demo"]));
    dir
}

fn operator_did(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("heso-local-data/identity.pub"))
        .unwrap()
        .trim()
        .to_owned()
}

fn json_of(run: &Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.all()))
}

fn first_hash(dir: &Path) -> String {
    let list = ok(heso(dir, &["log", "list"]));
    list.stdout.split_whitespace().nth(1).unwrap().to_owned()
}

#[test]
fn verify_json_says_whether_signers_were_pinned_and_to_which_keys() {
    let temp = tempfile::tempdir().unwrap();
    let dir = project(temp.path(), "project");
    let operator = operator_did(&dir);
    let hash = first_hash(&dir);

    // Inside the project: pinned to its operator (and approvers: none here).
    let checked = json_of(&ok(heso(&dir, &["verify", &hash, "--json"])));
    assert_eq!(checked["pinned"], json!(true), "{checked}");
    assert_eq!(checked["pinned_keys"], json!([operator]), "{checked}");
    let report = json_of(&ok(heso(&dir, &["log", "verify", "--json"])));
    assert_eq!(report["pinned"], json!(true), "{report}");
    assert_eq!(report["pinned_keys"], json!([operator]), "{report}");
    // With checkpoints to hold the log to, the same fields.
    ok(heso(
        &dir,
        &["log", "checkpoint", "--out", "head.checkpoint"],
    ));
    let held = json_of(&ok(heso(
        &dir,
        &["log", "verify", "--checkpoint", "head.checkpoint", "--json"],
    )));
    assert_eq!(held["pinned"], json!(true), "{held}");
    assert_eq!(held["pinned_keys"], json!([operator]), "{held}");

    // --any-signer: nothing pinned.
    let any = json_of(&ok(heso(
        &dir,
        &["verify", &hash, "--json", "--any-signer"],
    )));
    assert_eq!(any["pinned"], json!(false), "{any}");
    assert_eq!(any["pinned_keys"], json!([]), "{any}");

    // --signer: exactly those keys, as did:key whatever form was given.
    let line = ok(heso(&dir, &["show", &hash])).stdout;
    let receipt = dir.join("receipt-copy.json");
    std::fs::write(&receipt, &line).unwrap();
    let other = project(temp.path(), "other");
    let other_did = operator_did(&other);
    let run = heso(
        &dir,
        &[
            "verify",
            receipt.to_str().unwrap(),
            "--json",
            "--signer",
            &other_did,
        ],
    );
    assert_eq!(run.code, 1, "{}", run.all());
    let pinned_other = json_of(&run);
    assert_eq!(pinned_other["verdict"], json!("UntrustedSigner"));
    assert_eq!(pinned_other["pinned"], json!(true));
    assert_eq!(pinned_other["pinned_keys"], json!([other_did]));

    // Outside any project: nothing pinned, the log file verified as given.
    let outside = folder(temp.path(), "outside");
    let copy = outside.join("receipt.json");
    std::fs::write(&copy, &line).unwrap();
    let loose = json_of(&ok(heso(&outside, &["verify", "receipt.json", "--json"])));
    assert_eq!(loose["pinned"], json!(false), "{loose}");
    assert_eq!(loose["pinned_keys"], json!([]), "{loose}");
    let log = outside.join("receipts.jsonl");
    std::fs::copy(dir.join("heso-local-data/receipts.jsonl"), &log).unwrap();
    let loose_log = json_of(&ok(heso(&outside, &["verify", "receipts.jsonl", "--json"])));
    assert_eq!(loose_log["pinned"], json!(false), "{loose_log}");
    assert_eq!(loose_log["all_valid"], json!(true), "{loose_log}");
}

#[test]
fn policy_check_warns_when_the_operators_key_is_also_an_approver() {
    let temp = tempfile::tempdir().unwrap();
    let dir = project(temp.path(), "project");
    let operator = operator_did(&dir);
    let config = dir.join("heso.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{text}\n[approvers.me]\nkey = \"{operator}\"\n"),
    )
    .unwrap();

    let run = ok(heso(&dir, &["policy", "check"]));
    assert!(
        run.stdout.contains("warning:") && run.stdout.contains("operator's key"),
        "{}",
        run.all()
    );
    assert!(run.stdout.contains("\"me\""), "{}", run.all());

    // The same file checked from outside the project: the operator it pins is used.
    let outside = folder(temp.path(), "outside");
    let run = ok(heso(
        &outside,
        &["policy", "check", config.to_str().unwrap()],
    ));
    assert!(run.stdout.contains("operator's key"), "{}", run.all());

    // A policy file pinning no operator, outside a project: the plain lint, no such warning.
    let loose = outside.join("loose.toml");
    std::fs::write(
        &loose,
        format!("[approvers.me]\nkey = \"{operator}\"\n\n[[rule]]\nid = \"a\"\nverb = \"tool_call\"\ndecision = \"allow\"\n"),
    )
    .unwrap();
    let run = ok(heso(&outside, &["policy", "check", "loose.toml"]));
    assert!(!run.stdout.contains("operator's key"), "{}", run.all());
}

#[test]
fn keys_show_reads_the_operator_heso_toml_pins_and_refuses_disagreeing_files() {
    let temp = tempfile::tempdir().unwrap();
    let dir = project(temp.path(), "project");
    let operator = operator_did(&dir);
    let run = ok(heso(&dir, &["keys", "show"]));
    assert!(
        run.stdout.contains(&format!("operator {operator}")),
        "{}",
        run.all()
    );

    // identity.pub replaced with another key: keys show names the disagreement instead of
    // printing the replaced key.
    let other = project(temp.path(), "other");
    std::fs::copy(
        other.join("heso-local-data/identity.pub"),
        dir.join("heso-local-data/identity.pub"),
    )
    .unwrap();
    let run = heso(&dir, &["keys", "show"]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(run.stderr.contains("disagree"), "{}", run.all());
    assert!(!run.stdout.contains(&operator_did(&other)), "{}", run.all());
}

#[test]
fn keys_passphrase_refuses_a_short_new_passphrase_where_a_persons_is_required() {
    let temp = tempfile::tempdir().unwrap();
    let dir = folder(temp.path(), "project");
    let long = "the current long passphrase";
    ok(heso_env(
        &dir,
        &["init", "--require-passphrase"],
        &[("HESO_KEY_PASSPHRASE", long)],
    ));
    let key = dir.join("heso-local-data/identity.key");
    let before = std::fs::read(&key).unwrap();
    let change = |new: &str, production: bool| {
        let mut env = vec![
            ("HESO_OLD_KEY_PASSPHRASE", long),
            ("HESO_KEY_PASSPHRASE", new),
        ];
        if production {
            env.push(("HESO_ENV", "production"));
        }
        heso_env(&dir, &["keys", "passphrase"], &env)
    };
    for production in [false, true] {
        let run = change("short pass", production);
        assert_eq!(run.code, 2, "{}", run.all());
        assert!(run.stderr.contains("12 characters"), "{}", run.all());
        assert!(
            !run.all().contains("short pass"),
            "the passphrase was shown"
        );
        assert_eq!(std::fs::read(&key).unwrap(), before, "the key file changed");
    }
    // Long enough: re-encrypted, and the key opens with it.
    ok(change("a new long passphrase", true));
    ok(heso_env(
        &dir,
        &["demo"],
        &[("HESO_KEY_PASSPHRASE", "a new long passphrase")],
    ));

    // A dev project (no rule requiring a person's passphrase) may pick a short one.
    let dev = folder(temp.path(), "dev");
    ok(heso(&dev, &["init"]));
    ok(heso_env(
        &dev,
        &["keys", "passphrase"],
        &[("HESO_KEY_PASSPHRASE", "short")],
    ));
}
