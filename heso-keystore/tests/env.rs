//! `PassphraseSources::from_env` and `OldPassphrase::from_env`, read in a child process
//! (this same test binary) so the test never mutates its own environment.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt as _;
use std::process::Command;

use heso_keystore::{
    ENV_APPROVER_PASSPHRASE, ExposeSecret as _, OldPassphrase, PassphraseSources, secret_from_env,
};

/// Runs only as the child: prints what `from_env` saw, or the error it gave.
#[test]
#[ignore = "run by from_env_reads_the_variables in a child process"]
fn child_print_sources() {
    let sources = match PassphraseSources::from_env(std::env::var("CHILD_REQUIRE").is_ok()) {
        Ok(sources) => sources,
        Err(e) => {
            println!("SOURCES error: {e}");
            return;
        }
    };
    let old = match OldPassphrase::from_env() {
        Ok(Some(OldPassphrase::OldEnvVar(p))) => p.expose_secret().to_owned(),
        Ok(Some(other)) => panic!("unexpected {other:?}"),
        Ok(None) => "-".to_owned(),
        Err(e) => format!("error: {e}"),
    };
    let approver = match secret_from_env(ENV_APPROVER_PASSPHRASE) {
        Ok(Some(p)) => p.expose_secret().to_owned(),
        Ok(None) => "-".to_owned(),
        Err(e) => format!("error: {e}"),
    };
    println!(
        "SOURCES passphrase={} production={} require={} old={old} approver={approver}",
        sources
            .key_passphrase
            .as_ref()
            .map_or("-".to_owned(), |p| p.expose_secret().to_owned()),
        sources.production,
        sources.require_passphrase,
    );
}

fn child(vars: &[(&str, &str)]) -> String {
    let vars: Vec<(&str, &[u8])> = vars.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
    child_bytes(&vars)
}

/// The child, with variables given as raw bytes (which need not be UTF-8).
fn child_bytes(vars: &[(&str, &[u8])]) -> String {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["child_print_sources", "--exact", "--ignored", "--nocapture"])
        .env_remove("HESO_KEY_PASSPHRASE")
        .env_remove("HESO_OLD_KEY_PASSPHRASE")
        .env_remove("HESO_APPROVER_PASSPHRASE")
        .env_remove("HESO_ENV")
        .env_remove("CHILD_REQUIRE");
    for (key, value) in vars {
        command.env(key, OsStr::from_bytes(value));
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("SOURCES "))
        .unwrap()
        .to_owned()
}

#[test]
fn from_env_reads_the_variables() {
    assert_eq!(
        child(&[]),
        "passphrase=- production=false require=false old=- approver=-"
    );
    assert_eq!(
        child(&[
            ("HESO_KEY_PASSPHRASE", "s3cret"),
            ("HESO_ENV", "Production"),
            ("CHILD_REQUIRE", "1"),
            ("HESO_OLD_KEY_PASSPHRASE", "old one"),
            ("HESO_APPROVER_PASSPHRASE", "approver one"),
        ]),
        "passphrase=s3cret production=true require=true old=old one approver=approver one"
    );
    // An empty variable counts as unset; any other HESO_ENV is not production.
    assert_eq!(
        child(&[
            ("HESO_KEY_PASSPHRASE", ""),
            ("HESO_ENV", "staging"),
            ("HESO_OLD_KEY_PASSPHRASE", ""),
            ("HESO_APPROVER_PASSPHRASE", ""),
        ]),
        "passphrase=- production=false require=false old=- approver=-"
    );
}

/// A passphrase that is not UTF-8 is an error naming the variable (never its bytes), not
/// an unset variable: the dev passphrase file must not be tried behind the user's back.
#[test]
fn a_variable_that_is_not_utf8_is_an_error_not_unset() {
    // Latin-1 "pässwort": what a shell in a non-UTF-8 locale would export.
    let latin1: &[u8] = b"p\xe4sswort-secret";
    let refused = child_bytes(&[("HESO_KEY_PASSPHRASE", latin1)]);
    assert_eq!(
        refused,
        "error: HESO_KEY_PASSPHRASE is set but is not valid UTF-8 (its value is not shown); \
         set it to UTF-8 text, or unset it"
    );
    let refused = child_bytes(&[
        ("HESO_KEY_PASSPHRASE", b"fine"),
        ("HESO_ENV", b"produc\xf0tion"),
    ]);
    assert!(
        refused.starts_with("error: HESO_ENV is set but is not valid UTF-8"),
        "{refused}"
    );

    let seen = child_bytes(&[
        ("HESO_OLD_KEY_PASSPHRASE", latin1),
        ("HESO_APPROVER_PASSPHRASE", b"\xff\xfe"),
    ]);
    assert_eq!(
        seen,
        "passphrase=- production=false require=false \
         old=error: HESO_OLD_KEY_PASSPHRASE is set but is not valid UTF-8 (its value is not \
         shown); set it to UTF-8 text, or unset it \
         approver=error: HESO_APPROVER_PASSPHRASE is set but is not valid UTF-8 (its value is \
         not shown); set it to UTF-8 text, or unset it"
    );
    assert!(!seen.contains("sswort"), "{seen}");
}
