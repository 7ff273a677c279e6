//! Checkpoints as a user runs them: the real `heso` binary in temporary folders. A log
//! truncated to every size below a checkpoint, rewritten, forked, or checked against
//! another log's checkpoint gets its verdict; proofs verify in and out of the project; a
//! witness refuses what it cannot square with what it cosigned before.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.all()))
    }
}

/// A scratch folder with a private HOME and no heso variables inherited.
struct Sandbox {
    temp: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        let temp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(temp.path().join("home")).unwrap();
        Self { temp }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.temp.path().join(name)
    }

    /// `heso ARGS` in `dir` (relative to the sandbox).
    fn heso_in(&self, dir: &str, args: &[&str]) -> Run {
        let dir = self.path(dir);
        std::fs::create_dir_all(&dir).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_heso"))
            .args(args)
            .current_dir(&dir)
            .env("HOME", self.path("home"))
            .env("HESO_WITNESS_DIR", self.path("witness"))
            .env_remove("HESO_PROJECT_ROOT")
            .env_remove("HESO_KEY_PASSPHRASE")
            .env_remove("HESO_ENV")
            .env_remove("XDG_CONFIG_HOME")
            .output()
            .unwrap();
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    fn ok(&self, dir: &str, args: &[&str]) -> Run {
        let run = self.heso_in(dir, args);
        assert_eq!(run.code, 0, "heso {args:?}: {}", run.all());
        run
    }

    /// A project in `dir` with `2 * demos` receipts.
    fn project(&self, dir: &str, demos: usize) {
        self.ok(dir, &["init"]);
        self.receipts(dir, demos);
    }

    fn receipts(&self, dir: &str, demos: usize) {
        for _ in 0..demos {
            self.ok(dir, &["demo"]);
        }
    }

    fn log(&self, dir: &str) -> PathBuf {
        self.path(dir).join("heso-local-data/receipts.jsonl")
    }

    fn lines(&self, dir: &str) -> Vec<String> {
        std::fs::read_to_string(self.log(dir))
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn write_lines(&self, dir: &str, lines: &[String]) {
        let mut text = lines.join("\n");
        if !lines.is_empty() {
            text.push('\n');
        }
        std::fs::write(self.log(dir), text).unwrap();
    }

    /// `heso log verify --checkpoint FILE --json` in `dir`: exit code and the checkpoint's
    /// verdict.
    fn verdict(&self, dir: &str, checkpoint: &Path) -> (i32, String, Value) {
        let run = self.heso_in(
            dir,
            &[
                "log",
                "verify",
                "--checkpoint",
                checkpoint.to_str().unwrap(),
                "--json",
            ],
        );
        let json = run.json();
        let verdict = json["checkpoints"][0]["verdict"]
            .as_str()
            .unwrap()
            .to_owned();
        (run.code, verdict, json)
    }
}

fn action_hash(line: &str) -> String {
    let value: Value = serde_json::from_str(line).unwrap();
    value["content"]["action_hash"].as_str().unwrap().to_owned()
}

#[test]
fn truncating_the_log_to_any_size_below_a_checkpoint_is_truncated() {
    let sandbox = Sandbox::new();
    sandbox.project("p", 5);
    let checkpoint = sandbox.path("cp.txt");
    sandbox.ok(
        "p",
        &["log", "checkpoint", "--out", checkpoint.to_str().unwrap()],
    );
    let (code, verdict, _) = sandbox.verdict("p", &checkpoint);
    assert_eq!((code, verdict.as_str()), (0, "Contained"));
    let text = sandbox.heso_in(
        "p",
        &[
            "log",
            "verify",
            "--checkpoint",
            checkpoint.to_str().unwrap(),
        ],
    );
    assert_eq!(text.code, 0, "{}", text.all());
    assert!(text.stdout.contains("Contained"), "{}", text.all());

    let lines = sandbox.lines("p");
    assert_eq!(lines.len(), 10);
    for size in 0..lines.len() {
        sandbox.write_lines("p", &lines[..size]);
        let (code, verdict, json) = sandbox.verdict("p", &checkpoint);
        assert_eq!(
            (code, verdict.as_str()),
            (1, "Truncated"),
            "size {size}: {json}"
        );
        assert_eq!(json["all_valid"], false);
        // The truncated log on its own is a perfectly valid chain: only the checkpoint
        // shows what was lost.
        assert_eq!(json["counts"]["Valid"].as_u64().unwrap_or(0), size as u64);
    }
    let text = sandbox.heso_in(
        "p",
        &[
            "log",
            "verify",
            "--checkpoint",
            checkpoint.to_str().unwrap(),
        ],
    );
    assert_eq!(text.code, 1);
    assert!(
        text.stdout
            .contains("Truncated: the checkpoint covers 10 receipts, the log holds 9"),
        "{}",
        text.all()
    );
    // No log at all.
    std::fs::remove_file(sandbox.log("p")).unwrap();
    let (code, verdict, _) = sandbox.verdict("p", &checkpoint);
    assert_eq!((code, verdict.as_str()), (1, "Truncated"));
}

#[test]
fn a_rewritten_receipt_is_a_root_mismatch() {
    let sandbox = Sandbox::new();
    sandbox.project("p", 4);
    let checkpoint = sandbox.path("cp.txt");
    sandbox.ok(
        "p",
        &["log", "checkpoint", "--out", checkpoint.to_str().unwrap()],
    );
    let original = sandbox.lines("p");

    // One receipt's hash changed in place: the receipt is refused, and the tree changes.
    let mut edited = original.clone();
    let old = action_hash(&edited[3]);
    edited[3] = edited[3].replace(&old, &"ab".repeat(32));
    sandbox.write_lines("p", &edited);
    let (code, verdict, json) = sandbox.verdict("p", &checkpoint);
    assert_eq!((code, verdict.as_str()), (1, "RootMismatch"), "{json}");

    // Rewritten by someone holding the operator key: the last receipts dropped and others
    // appended in their place. Every receipt and link is valid; only the checkpoint
    // shows it.
    sandbox.write_lines("p", &original[..4]);
    sandbox.receipts("p", 2);
    assert_eq!(sandbox.lines("p").len(), 8);
    let (code, verdict, json) = sandbox.verdict("p", &checkpoint);
    assert_eq!((code, verdict.as_str()), (1, "RootMismatch"), "{json}");
    assert_eq!(json["counts"]["Valid"], 8, "{json}");
    assert!(
        json["checkpoints"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("rewritten"),
        "{json}"
    );
}

#[test]
fn a_fork_is_a_root_mismatch_and_the_witness_refuses_it() {
    let sandbox = Sandbox::new();
    sandbox.project("a", 2);
    // Two logs sharing their first 4 receipts (same session, same origin), then apart.
    copy_dir(&sandbox.path("a"), &sandbox.path("b"));
    sandbox.receipts("a", 2);
    sandbox.receipts("b", 2);
    let (cp_a, cp_b) = (sandbox.path("a.cp"), sandbox.path("b.cp"));
    sandbox.ok("a", &["log", "checkpoint", "--out", cp_a.to_str().unwrap()]);
    sandbox.ok("b", &["log", "checkpoint", "--out", cp_b.to_str().unwrap()]);
    assert_eq!(sandbox.verdict("a", &cp_a).1, "Contained");
    let (code, verdict, _) = sandbox.verdict("a", &cp_b);
    assert_eq!((code, verdict.as_str()), (1, "RootMismatch"));
    let (code, verdict, _) = sandbox.verdict("b", &cp_a);
    assert_eq!((code, verdict.as_str()), (1, "RootMismatch"));

    // A witness that cosigned one side refuses the other.
    sandbox.ok("a", &["witness", "init", "--name", "witness.example/w1"]);
    sandbox.ok("a", &["witness", "cosign", cp_a.to_str().unwrap()]);
    let refused = sandbox.heso_in("b", &["witness", "cosign", cp_b.to_str().unwrap()]);
    assert_eq!(refused.code, 1, "{}", refused.all());
    assert!(refused.stderr.contains("fork"), "{}", refused.all());
    // Nor does a consistency proof from the other side's log help.
    sandbox.receipts("b", 1);
    let cp_b2 = sandbox.path("b2.cp");
    sandbox.ok(
        "b",
        &["log", "checkpoint", "--out", cp_b2.to_str().unwrap()],
    );
    let proof = sandbox.ok(
        "b",
        &[
            "log",
            "consistency",
            cp_b.to_str().unwrap(),
            cp_b2.to_str().unwrap(),
        ],
    );
    let proof_file = sandbox.path("b.proof");
    std::fs::write(&proof_file, &proof.stdout).unwrap();
    let refused = sandbox.heso_in(
        "b",
        &[
            "witness",
            "cosign",
            cp_b2.to_str().unwrap(),
            "--proof",
            proof_file.to_str().unwrap(),
        ],
    );
    assert_eq!(refused.code, 1, "{}", refused.all());
    assert!(
        refused.stderr.contains("not consistent"),
        "{}",
        refused.all()
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn a_checkpoint_of_another_log_or_with_a_bad_signature_is_refused() {
    let sandbox = Sandbox::new();
    sandbox.project("p", 1);
    sandbox.project("q", 1);
    let other = sandbox.path("q.cp");
    sandbox.ok(
        "q",
        &["log", "checkpoint", "--out", other.to_str().unwrap()],
    );
    let (code, verdict, _) = sandbox.verdict("p", &other);
    assert_eq!((code, verdict.as_str()), (1, "OriginMismatch"));

    let mine = sandbox.path("p.cp");
    sandbox.ok("p", &["log", "checkpoint", "--out", mine.to_str().unwrap()]);
    let text = std::fs::read_to_string(&mine).unwrap();
    let (body, signature) = text.split_once("\n\n").unwrap();
    // One character of the signature changed (key ID untouched: the first 4 bytes).
    let at = signature.len() - 10;
    let flipped = if &signature[at..=at] == "A" { "B" } else { "A" };
    let forged = format!(
        "{body}\n\n{}{flipped}{}",
        &signature[..at],
        &signature[at + 1..]
    );
    std::fs::write(&mine, forged).unwrap();
    let (code, verdict, json) = sandbox.verdict("p", &mine);
    assert_eq!((code, verdict.as_str()), (1, "InvalidSignature"), "{json}");
}

#[test]
fn a_proof_bundle_verifies_in_and_out_of_the_project_and_a_deleted_or_torn_sidecar_is_rebuilt() {
    let sandbox = Sandbox::new();
    sandbox.project("p", 3);
    let checkpoint = sandbox.path("cp.txt");
    sandbox.ok(
        "p",
        &["log", "checkpoint", "--out", checkpoint.to_str().unwrap()],
    );
    let lines = sandbox.lines("p");
    let hash = action_hash(&lines[2]);
    let leaves = sandbox.path("p").join("heso-local-data/receipts.leaves");

    for damage in ["deleted", "torn", "garbage"] {
        match damage {
            "deleted" => std::fs::remove_file(&leaves).unwrap(),
            "torn" => {
                let mut bytes = std::fs::read(&leaves).unwrap();
                bytes.extend_from_slice(b"12345");
                std::fs::write(&leaves, bytes).unwrap();
            }
            _ => std::fs::write(&leaves, [0u8; 6 * 32]).unwrap(),
        }
        let bundle = sandbox.path(&format!("bundle-{damage}.json"));
        sandbox.ok(
            "p",
            &[
                "prove",
                &hash[..10],
                "--checkpoint",
                checkpoint.to_str().unwrap(),
                "--out",
                bundle.to_str().unwrap(),
            ],
        );
        assert_eq!(
            std::fs::metadata(&leaves).unwrap().len(),
            32 * lines.len() as u64,
            "{damage}"
        );
        let run = sandbox.ok("p", &["verify", bundle.to_str().unwrap()]);
        assert!(
            run.stdout
                .contains("Included: receipt 2 of checkpoint 6 of heso.dev/log/"),
            "{}",
            run.all()
        );
    }

    // Offline, outside any project: only the bundle.
    let bundle = sandbox.path("bundle-deleted.json");
    let run = sandbox.ok("elsewhere", &["verify", bundle.to_str().unwrap(), "--json"]);
    let json = run.json();
    assert_eq!(json["verdict"], "Included", "{json}");
    assert_eq!(json["leaf_index"], 2);
    assert_eq!(json["action_hash"], hash.as_str());
    // Like every `--json` verdict, it says whether anything was pinned: outside a project
    // nothing is, inside one the project's operator is.
    assert_eq!(json["pinned"], false, "{json}");
    assert_eq!(json["pinned_keys"], serde_json::json!([]), "{json}");
    let inside = sandbox
        .ok("p", &["verify", bundle.to_str().unwrap(), "--json"])
        .json();
    assert_eq!(inside["pinned"], true, "{inside}");
    assert_eq!(inside["pinned_keys"][0], inside["operator"], "{inside}");

    // Without --checkpoint, one of the whole log is signed now.
    let fresh = sandbox.ok("p", &["prove", &hash[..10]]);
    let value: Value = serde_json::from_str(&fresh.stdout).unwrap();
    assert_eq!(value["tree_size"], 6);

    // A bundle whose proof was moved to another leaf is refused.
    let moved = std::fs::read_to_string(&bundle)
        .unwrap()
        .replace("\"leaf_index\": 2", "\"leaf_index\": 3");
    let moved_file = sandbox.path("moved.json");
    std::fs::write(&moved_file, moved).unwrap();
    let run = sandbox.heso_in(
        "elsewhere",
        &["verify", moved_file.to_str().unwrap(), "--json"],
    );
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(run.json()["verdict"], "LeafIndexMismatch");
}

#[test]
fn consistency_proofs_between_two_checkpoints() {
    let sandbox = Sandbox::new();
    sandbox.project("p", 2);
    let (old, new) = (sandbox.path("old.cp"), sandbox.path("new.cp"));
    sandbox.ok("p", &["log", "checkpoint", "--out", old.to_str().unwrap()]);
    sandbox.receipts("p", 3);
    sandbox.ok("p", &["log", "checkpoint", "--out", new.to_str().unwrap()]);
    let proof = sandbox.ok(
        "p",
        &[
            "log",
            "consistency",
            old.to_str().unwrap(),
            new.to_str().unwrap(),
        ],
    );
    let proof_file = sandbox.path("proof.json");
    std::fs::write(&proof_file, &proof.stdout).unwrap();
    let (proof_arg, old_arg, new_arg) = (
        proof_file.to_str().unwrap(),
        old.to_str().unwrap(),
        new.to_str().unwrap(),
    );
    for dir in ["p", "elsewhere"] {
        let run = sandbox.ok(
            dir,
            &["verify", "--consistency", proof_arg, old_arg, new_arg],
        );
        assert!(
            run.stdout
                .starts_with("Consistent: the tree of 4 receipts is a prefix of the tree of 10"),
            "{}",
            run.all()
        );
    }
    let swapped = sandbox.heso_in(
        "p",
        &[
            "verify",
            "--consistency",
            proof_arg,
            new_arg,
            old_arg,
            "--json",
        ],
    );
    assert_eq!(swapped.code, 1, "{}", swapped.all());
    assert_eq!(swapped.json()["valid"], false);
}

#[test]
fn a_witness_cosigns_only_what_extends_what_it_saw() {
    let sandbox = Sandbox::new();
    sandbox.project("p", 2);
    let init = sandbox.ok("p", &["witness", "init", "--name", "witness.example/w1"]);
    let vkey = init.stdout.lines().last().unwrap().to_owned();
    assert!(vkey.starts_with("witness.example/w1+"), "{vkey}");
    let key_file = sandbox.path("witness/witness.key");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&key_file).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    // init again keeps the key.
    let again = sandbox.ok("p", &["witness", "init"]);
    assert_eq!(again.stdout.lines().last().unwrap(), vkey);

    let first = sandbox.path("first.cp");
    sandbox.ok(
        "p",
        &["log", "checkpoint", "--out", first.to_str().unwrap()],
    );
    // Not cosigned yet: a verifier requiring the witness refuses it.
    let run = sandbox.heso_in(
        "p",
        &[
            "log",
            "verify",
            "--checkpoint",
            first.to_str().unwrap(),
            "--witness",
            &vkey,
            "--json",
        ],
    );
    assert_eq!(run.code, 1);
    assert_eq!(run.json()["checkpoints"][0]["verdict"], "NotCosigned");

    let line = sandbox
        .ok("p", &["witness", "cosign", first.to_str().unwrap()])
        .stdout;
    assert!(line.starts_with("— witness.example/w1 "), "{line}");
    append(&first, &line);
    let run = sandbox.ok(
        "p",
        &[
            "log",
            "verify",
            "--checkpoint",
            first.to_str().unwrap(),
            "--witness",
            &vkey,
            "--json",
        ],
    );
    assert_eq!(run.json()["checkpoints"][0]["verdict"], "Contained");

    // A larger tree needs a consistency proof from what it cosigned.
    sandbox.receipts("p", 2);
    let second = sandbox.path("second.cp");
    sandbox.ok(
        "p",
        &["log", "checkpoint", "--out", second.to_str().unwrap()],
    );
    let refused = sandbox.heso_in("p", &["witness", "cosign", second.to_str().unwrap()]);
    assert_eq!(refused.code, 1, "{}", refused.all());
    assert!(refused.stderr.contains("--proof"), "{}", refused.all());
    let proof = sandbox.ok(
        "p",
        &[
            "log",
            "consistency",
            first.to_str().unwrap(),
            second.to_str().unwrap(),
        ],
    );
    let proof_file = sandbox.path("proof.json");
    std::fs::write(&proof_file, &proof.stdout).unwrap();
    sandbox.ok(
        "p",
        &[
            "witness",
            "cosign",
            second.to_str().unwrap(),
            "--proof",
            proof_file.to_str().unwrap(),
        ],
    );

    // Its state is now the second tree: the first one is stale, a rollback.
    let stale = sandbox.heso_in("p", &["witness", "cosign", first.to_str().unwrap()]);
    assert_eq!(stale.code, 1, "{}", stale.all());
    assert!(stale.stderr.contains("rollback"), "{}", stale.all());

    // A checkpoint the log did not sign is refused before anything else.
    let forged = std::fs::read_to_string(&second)
        .unwrap()
        .replacen("\n8\n", "\n9\n", 1);
    let forged_file = sandbox.path("forged.cp");
    std::fs::write(&forged_file, forged).unwrap();
    let refused = sandbox.heso_in("p", &["witness", "cosign", forged_file.to_str().unwrap()]);
    assert_eq!(refused.code, 1, "{}", refused.all());
    assert!(refused.stderr.contains("signature"), "{}", refused.all());
}

fn append(path: &Path, line: &str) {
    let mut text = std::fs::read_to_string(path).unwrap();
    text.push_str(line);
    std::fs::write(path, text).unwrap();
}

#[test]
fn plain_log_verify_compares_with_the_newest_checkpoint_kept_next_to_the_log() {
    let sandbox = Sandbox::new();
    sandbox.project("p", 2);
    // Each `heso demo` closed the project, keeping a checkpoint of the log as it was.
    let kept: Vec<_> = std::fs::read_dir(sandbox.path("p").join("heso-local-data/checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        kept.iter()
            .any(|name| name.starts_with("00000000000000000004-")),
        "{kept:?}"
    );
    let run = sandbox.ok("p", &["log", "verify"]);
    assert!(run.stdout.contains("Contained"), "{}", run.all());

    let lines = sandbox.lines("p");
    sandbox.write_lines("p", &lines[..3]);
    let run = sandbox.heso_in("p", &["log", "verify", "--json"]);
    assert_eq!(run.code, 1, "{}", run.all());
    let json = run.json();
    assert_eq!(json["checkpoints"][0]["verdict"], "Truncated", "{json}");
    assert_eq!(json["counts"]["Valid"], 3);
}
