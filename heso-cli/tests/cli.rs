//! The `heso` binary as a user runs it: real processes in real temporary folders.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
}

/// A scratch project folder with a private HOME, and no heso variables inherited.
struct Sandbox {
    _temp: tempfile::TempDir,
    dir: PathBuf,
    home: PathBuf,
    env: Vec<(String, String)>,
}

impl Sandbox {
    fn new() -> Self {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("project");
        let home = temp.path().join("home");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        Self {
            _temp: temp,
            dir,
            home,
            env: Vec::new(),
        }
    }

    fn with(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    fn heso(&self, args: &[&str]) -> Run {
        self.heso_env(args, &[])
    }

    fn heso_env(&self, args: &[&str], extra: &[(&str, &str)]) -> Run {
        let extra: Vec<(&str, &[u8])> = extra.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
        self.heso_bytes(args, &extra)
    }

    /// `heso` with extra variables given as raw bytes (which need not be UTF-8).
    fn heso_bytes(&self, args: &[&str], extra: &[(&str, &[u8])]) -> Run {
        let mut command = Command::new(env!("CARGO_BIN_EXE_heso"));
        command
            .args(args)
            .current_dir(&self.dir)
            .env("HOME", &self.home)
            .env_remove("HESO_PROJECT_ROOT")
            .env_remove("HESO_KEY_PASSPHRASE")
            .env_remove("HESO_OLD_KEY_PASSPHRASE")
            .env_remove("HESO_APPROVER_PASSPHRASE")
            .env_remove("HESO_ENV")
            .env_remove("XDG_CONFIG_HOME");
        for (k, v) in &self.env {
            command.env(k, v);
        }
        for (k, v) in extra {
            command.env(k, OsStr::from_bytes(v));
        }
        let Output {
            status,
            stdout,
            stderr,
        } = command.output().unwrap();
        let run = Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        };
        assert!(!run.stderr.contains("panicked"), "panic: {}", run.stderr);
        run
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }
}

fn pubkey_line(out: &str) -> String {
    out.lines()
        .find(|l| l.starts_with("  operator identity ready (pubkey z6Mk"))
        .unwrap()
        .to_owned()
}

/// The full action_hashes of the receipts `heso demo` printed (as `<12 hex digits>…`),
/// looked up in the project's log.
fn hashes(sb: &Sandbox, out: &str) -> Vec<String> {
    let log = std::fs::read_to_string(sb.path("heso-local-data/receipts.jsonl")).unwrap();
    out.lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter_map(|w| w.strip_suffix('…'))
        .filter(|w| w.len() == 12 && w.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|prefix| {
            log.lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .map(|r| r["content"]["action_hash"].as_str().unwrap().to_owned())
                .find(|h| h.starts_with(prefix))
                .unwrap()
        })
        .collect()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(files_under(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn quickstart_transcript() {
    let sb = Sandbox::new();
    let init = sb.heso(&["init"]);
    assert_eq!(init.code, 0, "{}", init.all());
    for line in [
        "  wrote bootstrap module -> heso_bootstrap.py",
        "  wrote starter policy -> heso.toml",
        "  gitignored heso-local-data/",
        "  generated dev key passphrase -> heso-local-data/DEV-ONLY.passphrase (dev only — set HESO_KEY_PASSPHRASE in production)",
        "\nheso init: project ready at",
        "  next: run `heso demo` to mint and verify your first receipt",
    ] {
        assert!(
            init.stdout.contains(line),
            "missing {line:?} in:\n{}",
            init.stdout
        );
    }
    let first_key = pubkey_line(&init.stdout);
    assert_eq!(
        std::fs::read_to_string(sb.path(".gitignore")).unwrap(),
        "heso-local-data/\n"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&sb.path("heso-local-data")), 0o700);
        assert_eq!(mode(&sb.path("heso-local-data/identity.key")), 0o600);
        assert_eq!(mode(&sb.path("heso-local-data/DEV-ONLY.passphrase")), 0o600);
    }

    let again = sb.heso(&["init"]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(
        again.stdout.contains("kept existing identity"),
        "{}",
        again.stdout
    );
    assert!(
        again.stdout.contains("  kept existing policy -> heso.toml"),
        "{}",
        again.stdout
    );
    assert_eq!(pubkey_line(&again.stdout), first_key);
    assert_eq!(
        std::fs::read_to_string(sb.path(".gitignore")).unwrap(),
        "heso-local-data/\n"
    );

    let demo = sb.heso(&["demo"]);
    assert_eq!(demo.code, 0, "{}", demo.all());
    let lines: Vec<&str> = demo.stdout.lines().collect();
    let shape = |label: &str| {
        lines.iter().any(|l| {
            l.strip_prefix("  ")
                .and_then(|l| l.strip_prefix(label))
                .is_some_and(|rest| rest.ends_with("…  ->  Valid (L0)"))
        })
    };
    assert!(shape("allow     "), "{}", demo.stdout);
    assert!(shape("redacted  "), "{}", demo.stdout);
    assert_eq!(
        lines.first(),
        Some(&"minting your first receipts through the engine:")
    );
    for line in [
        "  wrote the allowed receipt to receipt.json",
        "  verify either yourself, offline:",
        "      heso verify ./receipt.json",
    ] {
        assert!(
            lines.contains(&line),
            "missing {line:?} in:\n{}",
            demo.stdout
        );
    }
    let written = std::fs::canonicalize(sb.path("heso-local-data/receipts.jsonl")).unwrap();
    assert!(
        lines.contains(&format!("  receipts written to {}", written.display()).as_str()),
        "{}",
        demo.stdout
    );
    let minted = hashes(&sb, &demo.stdout);
    assert_eq!(minted.len(), 2, "{}", demo.stdout);

    // The raw demo api_key is nowhere on disk.
    let show = sb.heso(&["show", &minted[1][..10]]);
    assert_eq!(show.code, 0, "{}", show.all());
    let receipt: Value = serde_json::from_str(&show.stdout).unwrap();
    assert!(receipt["content"]["action"]["fields"]["api_key"]["_sd"].is_string());
    assert_eq!(receipt["content"]["action_hash"], minted[1].as_str());

    let by_prefix = sb.heso(&["verify", &minted[0][..8]]);
    assert_eq!(by_prefix.code, 0, "{}", by_prefix.all());
    assert!(by_prefix.stdout.contains(&format!("action {}", minted[0])));
    assert!(by_prefix.stdout.contains("Valid (L0)"));
    assert!(by_prefix.stdout.contains("operator did:key:z6Mk"));
    assert!(by_prefix.stdout.contains("(verified offline"));

    let file = sb.path("receipt.json");
    std::fs::write(&file, &show.stdout).unwrap();
    let by_file = sb.heso(&["verify", "receipt.json"]);
    assert_eq!(by_file.code, 0, "{}", by_file.all());
    assert!(by_file.stdout.contains("Valid (L0)"));

    let log = sb.heso(&["log", "verify"]);
    assert_eq!(log.code, 0, "{}", log.all());
    assert!(log.stdout.contains("head seq 1"), "{}", log.stdout);

    let list = sb.heso(&["log", "list"]);
    assert_eq!(list.code, 0);
    assert!(list.stdout.contains("call_partner_api"));
}

#[test]
fn verify_exit_codes() {
    let sb = Sandbox::new();
    assert_eq!(sb.heso(&["init"]).code, 0);
    let demo = sb.heso(&["demo"]);
    let minted = hashes(&sb, &demo.stdout);

    let missing = sb.heso(&["verify", "nope.json"]);
    assert_eq!(missing.code, 2, "{}", missing.all());
    assert!(missing.stderr.contains("no such file: nope.json"));

    let unknown = sb.heso(&["verify", "ffffffffff"]);
    assert_eq!(unknown.code, 2, "{}", unknown.all());

    let both = sb.heso(&["verify", &minted[0][..8], "--signer", "x", "--any-signer"]);
    assert_eq!(both.code, 2, "{}", both.all());

    std::fs::write(sb.path("empty.json"), "").unwrap();
    let empty = sb.heso(&["verify", "empty.json"]);
    assert_eq!(empty.code, 1, "{}", empty.all());
    assert!(empty.stdout.contains("Malformed"));

    let shown = sb.heso(&["show", &minted[0]]).stdout;
    std::fs::write(sb.path("cut.json"), &shown[..shown.len() / 2]).unwrap();
    let cut = sb.heso(&["verify", "cut.json"]);
    assert_eq!(cut.code, 1);
    assert!(cut.stdout.contains("Malformed"));

    let tampered = shown.replace("quarterly revenue", "quarterly REVENUE");
    std::fs::write(sb.path("tampered.json"), tampered).unwrap();
    let bad = sb.heso(&["verify", "tampered.json", "--json"]);
    assert_eq!(bad.code, 1, "{}", bad.all());
    let verdict: Value = serde_json::from_str(&bad.stdout).unwrap();
    assert_eq!(verdict["verdict"], "HashMismatch");
    assert_eq!(verdict["valid"], false);

    let stdin = Command::new(env!("CARGO_BIN_EXE_heso"))
        .args(["verify", "-", "--any-signer"])
        .current_dir(&sb.dir)
        .stdin(std::fs::File::open(sb.path("tampered.json")).unwrap())
        .output()
        .unwrap();
    assert_eq!(stdin.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&stdin.stdout).contains("HashMismatch"));
}

#[test]
fn a_log_report_names_each_signer_with_its_count_and_whether_it_is_pinned() {
    let sb = Sandbox::new();
    assert_eq!(sb.heso(&["init"]).code, 0);
    let minted = hashes(&sb, &sb.heso(&["demo"]).stdout);
    let one = sb.heso(&["verify", &minted[0][..8]]);
    let operator = one
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("operator "))
        .unwrap()
        .to_owned();

    let log = sb.heso(&["log", "verify"]);
    assert_eq!(log.code, 0, "{}", log.all());
    let line = format!("signer operator {operator}: 2 receipts (2 valid), pinned");
    assert!(log.stdout.contains(&line), "{}", log.stdout);

    let file = "heso-local-data/receipts.jsonl";
    let any = sb.heso(&["verify", file, "--any-signer"]);
    let line = format!("signer operator {operator}: 2 receipts (2 valid), nothing pinned");
    assert!(any.stdout.contains(&line), "{}", any.stdout);

    let stranger = heso_receipt::public_key_to_did_key(
        &heso_receipt::SigningKey::from_bytes(&[9u8; 32]).verifying_key(),
    );
    let other = sb.heso(&["verify", file, "--signer", &stranger]);
    assert_eq!(other.code, 1, "{}", other.all());
    let line = format!("signer operator {operator}: 2 receipts (0 valid), NOT pinned");
    assert!(other.stdout.contains(&line), "{}", other.stdout);
}

#[test]
fn a_receipt_resigned_by_another_key_is_untrusted_in_the_project() {
    let sb = Sandbox::new();
    assert_eq!(sb.heso(&["init"]).code, 0);
    let minted = hashes(&sb, &sb.heso(&["demo"]).stdout);
    let shown = sb.heso(&["show", &minted[0]]).stdout;
    let receipt: heso_receipt::Receipt = serde_json::from_str(&shown).unwrap();
    let other = heso_receipt::SigningKey::from_bytes(&[9u8; 32]);
    let c = receipt.content;
    let resigned = heso_receipt::sign_receipt(
        heso_receipt::Draft {
            captured_at: c.captured_at,
            action: c.action,
            policy: c.policy,
            redaction: c.redaction,
            chain: None,
        },
        &other,
    )
    .unwrap();
    std::fs::write(sb.path("forged.json"), resigned.to_json().unwrap()).unwrap();

    let pinned = sb.heso(&["verify", "forged.json"]);
    assert_eq!(pinned.code, 1, "{}", pinned.all());
    assert!(
        pinned.stdout.contains("UntrustedSigner"),
        "{}",
        pinned.stdout
    );

    let any = sb.heso(&["verify", "forged.json", "--any-signer"]);
    assert_eq!(any.code, 0, "{}", any.all());
    let did = heso_receipt::public_key_to_did_key(&other.verifying_key());
    assert!(
        any.stdout.contains(&format!("operator {did}")),
        "{}",
        any.stdout
    );

    let signer = sb.heso(&["verify", "forged.json", "--signer", &did]);
    assert_eq!(signer.code, 0, "{}", signer.all());
}

#[test]
fn production_and_require_passphrase_refuse_before_writing() {
    let sb = Sandbox::new().with("HESO_ENV", "production");
    let refused = sb.heso(&["init"]);
    assert_eq!(refused.code, 2, "{}", refused.all());
    assert!(
        refused.stderr.contains("HESO_KEY_PASSPHRASE"),
        "{}",
        refused.stderr
    );
    assert!(
        files_under(&sb.dir).is_empty(),
        "{:?}",
        files_under(&sb.dir)
    );

    let sb = Sandbox::new();
    let refused = sb.heso(&["init", "--require-passphrase"]);
    assert_eq!(refused.code, 2, "{}", refused.all());
    assert!(refused.stderr.contains("HESO_KEY_PASSPHRASE"));
    assert!(files_under(&sb.dir).is_empty());

    let ok = sb.heso_env(
        &["init", "--require-passphrase"],
        &[("HESO_KEY_PASSPHRASE", "correct horse")],
    );
    assert_eq!(ok.code, 0, "{}", ok.all());
    assert!(!sb.path("heso-local-data/DEV-ONLY.passphrase").exists());
    let policy = std::fs::read_to_string(sb.path("heso.toml")).unwrap();
    assert!(policy.contains("require_passphrase = true"));
    // Without the passphrase the key does not open: a clear error, exit 2.
    let locked = sb.heso(&["demo"]);
    assert_eq!(locked.code, 2, "{}", locked.all());
    assert!(
        locked.stderr.contains("HESO_KEY_PASSPHRASE"),
        "{}",
        locked.stderr
    );
    let wrong = sb.heso_env(&["demo"], &[("HESO_KEY_PASSPHRASE", "wrong")]);
    assert_eq!(wrong.code, 2, "{}", wrong.all());
    assert!(
        !wrong.stderr.contains("wrong\n"),
        "the passphrase must not be echoed"
    );
    let demo = sb.heso_env(&["demo"], &[("HESO_KEY_PASSPHRASE", "correct horse")]);
    assert_eq!(demo.code, 0, "{}", demo.all());
}

#[test]
fn keys_passphrase_moves_dev_to_production() {
    let sb = Sandbox::new();
    assert_eq!(sb.heso(&["init"]).code, 0);
    let before = sb.heso(&["keys", "show"]);
    let moved = sb.heso_env(
        &["keys", "passphrase"],
        &[("HESO_KEY_PASSPHRASE", "a long passphrase")],
    );
    assert_eq!(moved.code, 0, "{}", moved.all());
    assert!(!sb.path("heso-local-data/DEV-ONLY.passphrase").exists());
    let prod = [
        ("HESO_ENV", "production"),
        ("HESO_KEY_PASSPHRASE", "a long passphrase"),
    ];
    let demo = sb.heso_env(&["demo"], &prod);
    assert_eq!(demo.code, 0, "{}", demo.all());
    assert_eq!(sb.heso(&["keys", "show"]).stdout, before.stdout);
    let no_pass = sb.heso_env(&["demo"], &[("HESO_ENV", "production")]);
    assert_eq!(no_pass.code, 2, "{}", no_pass.all());
}

#[test]
fn policy_check_reports_file_line_column() {
    let sb = Sandbox::new();
    assert_eq!(sb.heso(&["init"]).code, 0);
    let ok = sb.heso(&["policy", "check"]);
    assert_eq!(ok.code, 0, "{}", ok.all());
    assert!(ok.stdout.contains("policy hash "), "{}", ok.stdout);

    std::fs::write(
        sb.path("broken.toml"),
        "[[rule]]\nid = \"tool.allow\"\nverb = \"tool_call\"\ndecision = \"alow\"\n",
    )
    .unwrap();
    let broken = sb.heso(&["policy", "check", "broken.toml"]);
    assert_eq!(broken.code, 2, "{}", broken.all());
    assert!(
        broken.stderr.contains("broken.toml:4:"),
        "{}",
        broken.stderr
    );
    assert!(broken.stderr.contains("alow"), "{}", broken.stderr);

    std::fs::write(sb.path("log.toml"), "[log]\ndurability = \"sometimes\"\n").unwrap();
    let log = sb.heso(&["policy", "check", "log.toml"]);
    assert_eq!(log.code, 2, "{}", log.all());
    assert!(log.stderr.contains("log.toml:2:"), "{}", log.stderr);

    std::fs::write(sb.path("junk.toml"), "this is = = not toml").unwrap();
    let junk = sb.heso(&["policy", "check", "junk.toml"]);
    assert_eq!(junk.code, 2, "{}", junk.all());
    assert!(junk.stderr.contains("junk.toml:1:"), "{}", junk.stderr);

    let explain = sb.heso(&[
        "policy",
        "explain",
        "--verb",
        "delete",
        "--tool",
        "drop_table",
    ]);
    assert_eq!(explain.code, 0, "{}", explain.all());
    assert!(
        explain.stdout.contains("decision: require_approval"),
        "{}",
        explain.stdout
    );
    let pay = sb.heso(&[
        "policy",
        "explain",
        "--verb",
        "payment",
        "--field",
        "amount=5000",
    ]);
    assert!(
        pay.stdout.contains("payment.large.requires_approval"),
        "{}",
        pay.stdout
    );
}

#[test]
fn help_creates_nothing() {
    let sb = Sandbox::new();
    for args in [
        vec!["--help"],
        vec!["init", "--help"],
        vec!["demo", "--help"],
        vec!["verify", "--help"],
        vec!["log", "verify", "--help"],
        vec!["keys", "new-approver", "--help"],
        vec!["approve", "--help"],
        vec!["reveal", "--help"],
    ] {
        let run = sb.heso(&args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.all());
        assert!(run.stdout.contains("Usage"), "{args:?}");
    }
    assert!(files_under(&sb.dir).is_empty());
    assert!(files_under(&sb.home).is_empty());
    assert_eq!(sb.heso(&["no-such-command"]).code, 2);
    assert_eq!(sb.heso(&[]).code, 2);
}

#[test]
fn lookup_errors_outside_a_project() {
    let sb = Sandbox::new();
    for args in [
        vec!["show", "abcd"],
        vec!["log", "verify"],
        vec!["pending"],
        vec!["approve", "abcd", "--key", "x.key"],
        vec!["keys", "show"],
    ] {
        let run = sb.heso(&args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.all());
        assert!(
            run.stderr.starts_with("heso: error:"),
            "{args:?}: {}",
            run.stderr
        );
    }
}

fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<(PathBuf, Vec<u8>)> = files_under(dir)
        .into_iter()
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect();
    files.sort();
    files
}

#[test]
fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let sb = Sandbox::new();
    assert_eq!(sb.heso(&["init"]).code, 0);
    assert_eq!(sb.heso(&["demo"]).code, 0);
    let mut deep = "[".repeat(100_000);
    deep.push_str(&"]".repeat(100_000));
    let mut huge = vec![b' '; 8 << 20];
    huge.extend_from_slice(b"{}");
    let receipts: Vec<(&str, Vec<u8>)> = vec![
        ("array.json", b"[]".to_vec()),
        ("null.json", b"null".to_vec()),
        ("string.json", b"\"receipt\"".to_vec()),
        ("empty-object.json", b"{}".to_vec()),
        ("garbage.json", vec![0xff, 0x00, 0x13, 0x37, b'{']),
        ("invalid-utf8.json", b"{\"alg\": \"\xff\xfe\"}".to_vec()),
        ("deep.json", deep.into_bytes()),
        ("huge.json", huge),
        ("wrong-types.json", br#"{"alg":"heso-action/v2+ed25519","content":{"action_version":"heso-action/2.0","seq":"x"},"signatures":null}"#.to_vec()),
    ];
    for (name, bytes) in &receipts {
        std::fs::write(sb.path(name), bytes).unwrap();
    }
    std::fs::write(sb.path("garbage.jsonl"), b"{}\nnot json\n\xff\n").unwrap();
    let before = snapshot(&sb.path("heso-local-data"));
    for (name, _) in &receipts {
        let run = sb.heso(&["verify", name]);
        assert_eq!(run.code, 1, "{name}: {}", run.all());
        assert!(run.stdout.contains("Malformed"), "{name}: {}", run.stdout);
        let json = sb.heso(&["verify", name, "--json"]);
        let verdict: Value = serde_json::from_str(&json.stdout).unwrap();
        assert_eq!(verdict["valid"], false, "{name}");
    }
    let log = sb.heso(&["verify", "garbage.jsonl"]);
    assert_eq!(log.code, 1, "{}", log.all());
    assert!(log.stdout.contains("Malformed"), "{}", log.stdout);
    for args in [
        vec!["show", "zz"],
        vec!["show", "12"],
        vec!["reveal", "abcd", "api_key", "--value", "x"],
        vec!["approve", "abcd", "--key", "missing.key"],
        vec!["policy", "explain", "--verb", "nope"],
        vec![
            "policy", "explain", "--verb", "payment", "--field", "novalue",
        ],
        vec!["log", "list", "--verb", "nope"],
        vec!["verify", "abc"],
        vec!["keys", "new-approver", "bad name!", "--out", "x.key"],
    ] {
        let run = sb.heso_env(&args, &[("HESO_APPROVER_PASSPHRASE", "p")]);
        assert_eq!(run.code, 2, "{args:?}: {}", run.all());
        assert!(
            run.stderr.starts_with("heso: error:"),
            "{args:?}: {}",
            run.stderr
        );
    }
    assert_eq!(
        snapshot(&sb.path("heso-local-data")),
        before,
        "bad input changed a file"
    );

    // A passphrase variable holding bytes that are not UTF-8 (Latin-1 "pässwort") is an
    // error naming the variable, never read as unset (which would try the dev file), and
    // never echoed. A valid but wrong one says which source was tried.
    let latin1: &[u8] = b"p\xe4sswort";
    for (args, var) in [
        (vec!["demo"], "HESO_KEY_PASSPHRASE"),
        (vec!["init"], "HESO_KEY_PASSPHRASE"),
        (vec!["pending"], "HESO_KEY_PASSPHRASE"),
        (vec!["demo"], "HESO_ENV"),
        (vec!["keys", "passphrase"], "HESO_KEY_PASSPHRASE"),
        (
            vec!["keys", "new-approver", "bob", "--out", "bob.key"],
            "HESO_APPROVER_PASSPHRASE",
        ),
    ] {
        let run = sb.heso_bytes(&args, &[(var, latin1)]);
        assert_eq!(run.code, 2, "{args:?} {var}: {}", run.all());
        assert!(
            run.stderr
                .starts_with(&format!("heso: error: {var} is set but is not valid UTF-8")),
            "{args:?} {var}: {}",
            run.stderr
        );
        assert!(!run.all().contains("sswort"), "{args:?}: value echoed");
    }
    assert!(!sb.path("bob.key").exists());
    let wrong = sb.heso_env(&["demo"], &[("HESO_KEY_PASSPHRASE", "not the passphrase")]);
    assert_eq!(wrong.code, 2, "{}", wrong.all());
    assert!(
        wrong
            .stderr
            .contains("the passphrase from HESO_KEY_PASSPHRASE does not open"),
        "{}",
        wrong.stderr
    );
    assert!(!wrong.all().contains("not the passphrase"));
    assert_eq!(
        snapshot(&sb.path("heso-local-data")),
        before,
        "a bad passphrase changed a file"
    );

    // A garbage key file, given to approve a real pending action: a clear error naming it.
    std::fs::write(sb.path("garbage.key"), b"\x00\x01 not a key").unwrap();
    let engine = heso_engine::Engine::open(Some(&sb.path("."))).unwrap();
    let parked = engine
        .gate(&heso_engine::ActionRequest::new(
            heso_receipt::Verb::Delete,
            "drop_table",
            serde_json::Map::new(),
        ))
        .unwrap();
    drop(engine);
    let id = parked.pending.unwrap().id;
    let run = sb.heso_env(
        &["approve", &id, "--key", "garbage.key", "--yes"],
        &[("HESO_APPROVER_PASSPHRASE", "p")],
    );
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(run.stderr.contains("garbage.key"), "{}", run.stderr);

    // A broken heso.toml: every command that reads it says where.
    let policy = std::fs::read_to_string(sb.path("heso.toml")).unwrap();
    std::fs::write(
        sb.path("heso.toml"),
        policy.replace("decision = \"allow\"", "decision = allow"),
    )
    .unwrap();
    for args in [
        vec!["demo"],
        vec!["log", "verify"],
        vec!["policy", "check"],
        vec!["pending"],
    ] {
        let run = sb.heso(&args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.all());
        assert!(
            run.stderr.contains("heso.toml:"),
            "{args:?}: {}",
            run.stderr
        );
    }
    // Not UTF-8 (a Latin-1 comment): the position of the bad byte, not an OS error.
    let mut latin1 = policy.clone().into_bytes();
    latin1.extend_from_slice(b"\n# r\xe9sum\xe9\n");
    let bad_line = policy.lines().count() + 2;
    std::fs::write(sb.path("heso.toml"), &latin1).unwrap();
    for args in [vec!["demo"], vec!["policy", "check"], vec!["pending"]] {
        let run = sb.heso(&args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.all());
        assert!(
            run.stderr.contains(&format!(
                "heso.toml:{bad_line}:4: not valid UTF-8; heso.toml must be UTF-8 text"
            )),
            "{args:?}: {}",
            run.stderr
        );
    }
    // Another table after the last rule: not blamed on that rule.
    std::fs::write(sb.path("heso.toml"), format!("{policy}\n[bogus]\nx = 1\n")).unwrap();
    let run = sb.heso(&["policy", "check"]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr.contains(": unknown field `bogus`") && !run.stderr.contains("rule \""),
        "{}",
        run.stderr
    );
    std::fs::write(sb.path("heso.toml"), &policy).unwrap();

    // A damaged operator key: a clear error naming the file, and the key is not replaced.
    let key_path = sb.path("heso-local-data/identity.key");
    let key = std::fs::read(&key_path).unwrap();
    std::fs::write(&key_path, &key[..key.len() / 2]).unwrap();
    let run = sb.heso(&["demo"]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(run.stderr.contains("identity.key"), "{}", run.stderr);
    assert_eq!(std::fs::read(&key_path).unwrap(), &key[..key.len() / 2]);
    let again = sb.heso(&["init"]);
    assert!(
        again.stdout.contains("kept existing identity"),
        "{}",
        again.all()
    );
    assert_eq!(
        std::fs::read(&key_path).unwrap(),
        &key[..key.len() / 2],
        "init must never replace a key"
    );
}

#[test]
fn an_old_passphrase_that_is_not_utf8_is_refused() {
    let sb = Sandbox::new();
    assert_eq!(sb.heso(&["init"]).code, 0);
    let moved = sb.heso_env(
        &["keys", "passphrase"],
        &[("HESO_KEY_PASSPHRASE", "first one")],
    );
    assert_eq!(moved.code, 0, "{}", moved.all());
    // No dev file now: the current passphrase comes from HESO_OLD_KEY_PASSPHRASE.
    let key = std::fs::read(sb.path("heso-local-data/identity.key")).unwrap();
    let run = sb.heso_bytes(
        &["keys", "passphrase"],
        &[
            ("HESO_KEY_PASSPHRASE", b"second one"),
            ("HESO_OLD_KEY_PASSPHRASE", b"first \xf6ne"),
        ],
    );
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr.starts_with(
            "heso: error: HESO_OLD_KEY_PASSPHRASE is set but is not valid UTF-8 (its value is not shown)"
        ),
        "{}",
        run.stderr
    );
    let wrong = sb.heso_env(
        &["keys", "passphrase"],
        &[
            ("HESO_KEY_PASSPHRASE", "second one"),
            ("HESO_OLD_KEY_PASSPHRASE", "not it"),
        ],
    );
    assert_eq!(wrong.code, 2, "{}", wrong.all());
    assert!(
        wrong
            .stderr
            .contains("the passphrase from HESO_OLD_KEY_PASSPHRASE does not open"),
        "{}",
        wrong.stderr
    );
    assert_eq!(
        std::fs::read(sb.path("heso-local-data/identity.key")).unwrap(),
        key,
        "a refused re-encryption changed the key"
    );
    let ok = sb.heso_env(
        &["keys", "passphrase"],
        &[
            ("HESO_KEY_PASSPHRASE", "second one"),
            ("HESO_OLD_KEY_PASSPHRASE", "first one"),
        ],
    );
    assert_eq!(ok.code, 0, "{}", ok.all());
}

/// The commands the table above does not reach, each given what a user could get wrong:
/// a clear `heso: error:` naming the problem, exit 2 (or 1 for a log that does not
/// verify), and no file of the project changed — `log verify` repairs nothing.
#[test]
fn every_other_command_refuses_bad_input_and_changes_nothing() {
    let sb = Sandbox::new();
    assert_eq!(sb.heso(&["init"]).code, 0);
    let demo = sb.heso(&["demo"]);
    assert_eq!(demo.code, 0, "{}", demo.all());
    let listed = sb.heso(&["log", "list"]);
    // `log list` lines: seq, hash prefix, ...
    let prefix = listed.stdout.split_whitespace().nth(1).unwrap().to_owned();
    std::fs::write(sb.path("receipt.json"), b"{}").unwrap();
    std::fs::write(
        sb.path("not-utf8.toml"),
        b"[defaults]\ndecision = \"\xff\"\n",
    )
    .unwrap();
    std::fs::write(sb.path("garbage.key"), b"\x00\x01 not a key").unwrap();
    std::fs::create_dir(sb.path("a-folder.json")).unwrap();
    let before = snapshot(&sb.path("heso-local-data"));
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec!["verify", "receipt.json", "--signer", "garbage"],
            2,
            "--signer \"garbage\"",
        ),
        (
            vec!["verify", "receipt.json", "--signer", "did:key:z6Mk"],
            2,
            "--signer",
        ),
        (vec!["verify", "a-folder.json"], 2, "a-folder.json"),
        // The action is looked up (in the signed log) before any key is read.
        (
            vec!["reject", "abcd", "--key", "missing.key"],
            2,
            "no pending action with id \"abcd\"",
        ),
        (
            vec!["reject", "abcd", "--key", "garbage.key"],
            2,
            "no pending action with id \"abcd\"",
        ),
        (
            vec!["approve", "../../etc/passwd", "--key", "garbage.key"],
            2,
            "heso: error:",
        ),
        (vec!["policy", "check", "missing.toml"], 2, "missing.toml"),
        (
            vec!["policy", "check", "not-utf8.toml"],
            2,
            "not-utf8.toml:2:",
        ),
        (vec!["log", "list", "--limit=-1"], 2, "--limit"),
        (vec!["log", "list", "--decision", "maybe"], 2, "maybe"),
        (
            vec!["reveal", &prefix, "no.such.field", "--value", "x"],
            2,
            "no.such.field",
        ),
        (vec!["reveal", &prefix, "a..b", "--value", "x"], 2, "a..b"),
        (vec!["show", "../receipts"], 2, "heso: error:"),
        (
            vec!["keys", "new-approver", "", "--out", "x.key"],
            2,
            "heso: error:",
        ),
        (vec!["init", "--require-passphrase"], 0, ""),
    ];
    for (args, code, fragment) in &cases {
        let run = sb.heso_env(args, &[("HESO_APPROVER_PASSPHRASE", "p")]);
        assert_eq!(run.code, *code, "{args:?}: {}", run.all());
        if *code == 2 {
            // heso's own errors, or clap's for arguments it cannot parse.
            assert!(
                run.stderr.starts_with("heso: error:") || run.stderr.starts_with("error:"),
                "{args:?}: {}",
                run.stderr
            );
        }
        assert!(run.stderr.contains(fragment), "{args:?}: {}", run.stderr);
        assert!(!run.all().contains("panicked"), "{args:?}: {}", run.all());
        assert!(
            !run.all().contains("RUST_BACKTRACE"),
            "{args:?}: {}",
            run.all()
        );
    }
    assert_eq!(
        snapshot(&sb.path("heso-local-data")),
        before,
        "bad input changed a file"
    );

    // A damaged identity.pub: named, and left as it is.
    let public = sb.path("heso-local-data/identity.pub");
    let saved = std::fs::read(&public).unwrap();
    std::fs::write(&public, b"garbage\n").unwrap();
    let run = sb.heso(&["keys", "show"]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(run.stderr.contains("identity.pub"), "{}", run.stderr);
    assert_eq!(std::fs::read(&public).unwrap(), b"garbage\n");
    std::fs::write(&public, &saved).unwrap();

    // An edited log: `log verify` says which line and exits 1, and repairs nothing.
    let log = sb.path("heso-local-data/receipts.jsonl");
    let good = std::fs::read_to_string(&log).unwrap();
    let edited = good.replacen("\"tool_call\"", "\"delete\"", 1);
    let torn = format!("{edited}{{\"alg\":\"heso-act");
    std::fs::write(&log, &torn).unwrap();
    let run = sb.heso(&["log", "verify"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stdout.contains("line 1"), "{}", run.stdout);
    assert!(run.stdout.contains("HashMismatch"), "{}", run.stdout);
    assert!(run.stdout.contains("TornTail"), "{}", run.stdout);
    let json = sb.heso(&["log", "verify", "--json"]);
    assert_eq!(json.code, 1, "{}", json.all());
    let report: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(report["all_valid"], false);
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        torn,
        "log verify changed the log"
    );
}
