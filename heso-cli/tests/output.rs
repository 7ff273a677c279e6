//! `heso` never panics on a closed or full stdout: a reader that went away (`| head -1`)
//! ends it quietly, a full disk is one line on stderr and exit 2. Real processes.
#![cfg(target_os = "linux")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What a process killed by SIGPIPE reports to a shell (128 + 13); heso exits with it.
const BROKEN_PIPE_EXIT: i32 = 141;

fn heso(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_heso"));
    command
        .current_dir(dir)
        .env("HOME", dir.join("home"))
        .env_remove("HESO_PROJECT_ROOT")
        .env_remove("HESO_KEY_PASSPHRASE")
        .env_remove("HESO_ENV")
        .env_remove("XDG_CONFIG_HOME");
    command
}

/// A project whose log holds the two demo receipts.
fn project() -> (tempfile::TempDir, PathBuf) {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("project");
    std::fs::create_dir_all(dir.join("home")).unwrap();
    for args in [&["init"][..], &["demo"][..]] {
        let out = heso(&dir).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
    }
    (temp, dir)
}

fn first_hash(dir: &Path) -> String {
    let out = heso(dir).args(["log", "list"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_whitespace().nth(1).unwrap()[..12].to_owned()
}

/// Runs `heso args` with a stdout whose reader is already gone: every write is EPIPE.
fn with_closed_stdout(dir: &Path, args: &[&str]) -> (i32, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = heso(dir)
        .args(args)
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `heso args` with stdout on `/dev/full`: every write is ENOSPC.
fn with_full_stdout(dir: &Path, args: &[&str]) -> (i32, String) {
    let full = std::fs::File::options()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = heso(dir)
        .args(args)
        .stdout(Stdio::from(full))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    let (_temp, dir) = project();
    let hash = first_hash(&dir);
    for args in [
        vec!["log", "list"],
        vec!["log", "verify"],
        vec!["log", "verify", "--json"],
        vec!["verify", hash.as_str()],
        vec!["verify", hash.as_str(), "--json"],
        vec!["show", hash.as_str()],
        vec!["policy", "check"],
        vec!["keys", "show"],
        vec!["pending"],
        vec!["demo"],
        vec!["--help"],
        vec!["--version"],
    ] {
        let (code, stderr) = with_closed_stdout(&dir, &args);
        assert_eq!(stderr, "", "{args:?} printed on stderr");
        assert!(
            code == BROKEN_PIPE_EXIT || (code == 0 && args[0].starts_with("--")),
            "{args:?} exited {code}"
        );
    }
}

#[test]
fn log_list_piped_to_head_exits_quietly() {
    let (_temp, dir) = project();
    let heso_bin = env!("CARGO_BIN_EXE_heso");
    // Far more output than a pipe holds, so `log list` is still writing when head has
    // gone (the copies break the chain; `log list` does not verify).
    let log = dir.join("heso-local-data/receipts.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::write(&log, text.repeat(2000)).unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "'{heso_bin}' log list --limit 5000 | head -1; echo \"status ${{PIPESTATUS[0]}}\" >&2"
        ))
        .current_dir(&dir)
        .env("HOME", dir.join("home"))
        .env_remove("HESO_PROJECT_ROOT")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let status = stderr.trim().strip_prefix("status ").unwrap_or("?");
    assert_eq!(status, BROKEN_PIPE_EXIT.to_string(), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "only the status line: {stderr}");
}

#[test]
fn a_full_stdout_is_one_line_and_exit_2() {
    let (_temp, dir) = project();
    let hash = first_hash(&dir);
    for args in [
        vec!["verify", hash.as_str()],
        vec!["log", "list"],
        vec!["log", "verify", "--json"],
        vec!["show", hash.as_str()],
        vec!["policy", "check"],
    ] {
        let (code, stderr) = with_full_stdout(&dir, &args);
        assert_eq!(
            stderr, "heso: cannot write output: No space left on device\n",
            "{args:?}"
        );
        assert_eq!(code, 2, "{args:?}");
    }
}
