//! The operator identity a project trusts comes from `heso.toml`, not from the gitignored
//! `heso-local-data/`: a log re-signed with a fresh key, with that key's `identity.pub` put
//! in place, does not verify. Real `heso` processes in temporary folders.
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

fn heso(dir: &Path, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_heso"))
        .args(args)
        .current_dir(dir)
        .env("HOME", dir.join("home"))
        .env_remove("HESO_PROJECT_ROOT")
        .env_remove("HESO_KEY_PASSPHRASE")
        .env_remove("HESO_ENV")
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .unwrap();
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(!run.stderr.contains("panicked"), "panic: {}", run.stderr);
    run
}

/// A project with the two demo receipts in its log.
fn project(root: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(dir.join("home")).unwrap();
    let init = heso(&dir, &["init"]);
    assert_eq!(init.code, 0, "{}", init.all());
    let demo = heso(&dir, &["demo"]);
    assert_eq!(demo.code, 0, "{}", demo.all());
    dir
}

fn copy(from: &Path, to: &Path, names: &[&str]) {
    for name in names {
        std::fs::copy(
            from.join("heso-local-data").join(name),
            to.join("heso-local-data").join(name),
        )
        .unwrap();
    }
}

fn first_hash(dir: &Path) -> String {
    let list = heso(dir, &["log", "list"]);
    list.stdout.split_whitespace().nth(1).unwrap().to_owned()
}

#[test]
fn a_log_re_signed_with_a_fresh_key_and_its_identity_pub_does_not_verify() {
    let temp = tempfile::tempdir().unwrap();
    let victim = project(temp.path(), "victim");
    let ok = heso(&victim, &["log", "verify"]);
    assert_eq!(ok.code, 0, "{}", ok.all());

    // The attacker's whole log, signed by a fresh key, with that key's identity.pub.
    let attacker = project(temp.path(), "attacker");
    copy(
        &attacker,
        &victim,
        &["receipts.jsonl", "session", "identity.pub"],
    );
    let run = heso(&victim, &["log", "verify"]);
    assert_ne!(run.code, 0, "{}", run.all());
    assert!(!run.stdout.contains("all receipts valid"), "{}", run.all());
    for needle in ["disagree", "heso.toml", "identity.pub"] {
        assert!(
            run.stderr.contains(needle),
            "{needle:?} missing: {}",
            run.all()
        );
    }
    let hash = first_hash(&attacker);
    let run = heso(&victim, &["verify", &hash[..12]]);
    assert_ne!(run.code, 0, "{}", run.all());
    assert!(run.stderr.contains("disagree"), "{}", run.all());

    // The key file too: still heso.toml's key against theirs.
    copy(&attacker, &victim, &["identity.key", "DEV-ONLY.passphrase"]);
    let run = heso(&victim, &["log", "verify"]);
    assert_ne!(run.code, 0, "{}", run.all());
    assert!(run.stderr.contains("identity.key"), "{}", run.all());
}

#[test]
fn a_foreign_log_under_the_right_identity_files_is_untrusted() {
    let temp = tempfile::tempdir().unwrap();
    let victim = project(temp.path(), "victim");
    let attacker = project(temp.path(), "attacker");
    copy(&attacker, &victim, &["receipts.jsonl", "session"]);
    let run = heso(&victim, &["log", "verify"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stdout.contains("UntrustedSigner"), "{}", run.all());
}

#[test]
fn a_project_whose_heso_toml_pins_no_operator_verifies_and_says_how_to_pin_it() {
    let temp = tempfile::tempdir().unwrap();
    let dir = project(temp.path(), "old");
    let config = dir.join("heso.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let old: String = text
        .lines()
        .filter(|l| !l.starts_with("operator = "))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(old, text);
    std::fs::write(&config, &old).unwrap();

    let run = heso(&dir, &["log", "verify"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stderr.contains("heso init"), "{}", run.all());
    assert!(run.stderr.contains("[identity] operator"), "{}", run.all());

    let init = heso(&dir, &["init"]);
    assert_eq!(init.code, 0, "{}", init.all());
    let pinned = std::fs::read_to_string(&config).unwrap();
    assert!(pinned.contains("operator = \"did:key:z6Mk"), "{pinned}");
    let run = heso(&dir, &["log", "verify"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stderr.is_empty(), "{}", run.all());
}

#[test]
fn init_after_deleting_the_data_folder_refuses_to_mint_a_new_identity() {
    let temp = tempfile::tempdir().unwrap();
    let dir = project(temp.path(), "project");
    std::fs::remove_dir_all(dir.join("heso-local-data")).unwrap();
    let run = heso(&dir, &["init"]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(run.stderr.contains("heso keys rotate"), "{}", run.all());
    assert!(!dir.join("heso-local-data").exists());
}
