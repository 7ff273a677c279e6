//! `PassphraseSources::from_env` and `OldPassphrase::from_env`, read in a child process
//! (this same test binary) so the test never mutates its own environment.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

use std::process::Command;

use heso_keystore::{ExposeSecret as _, OldPassphrase, PassphraseSources};

/// Runs only as the child: prints what `from_env` saw.
#[test]
#[ignore = "run by from_env_reads_the_variables in a child process"]
fn child_print_sources() {
    let sources = PassphraseSources::from_env(std::env::var("CHILD_REQUIRE").is_ok());
    let old = match OldPassphrase::from_env() {
        Some(OldPassphrase::OldEnvVar(p)) => p.expose_secret().to_owned(),
        Some(other) => panic!("unexpected {other:?}"),
        None => "-".to_owned(),
    };
    println!(
        "SOURCES passphrase={} production={} require={} old={old}",
        sources
            .key_passphrase
            .as_ref()
            .map_or("-".to_owned(), |p| p.expose_secret().to_owned()),
        sources.production,
        sources.require_passphrase,
    );
}

fn child(vars: &[(&str, &str)]) -> String {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["child_print_sources", "--exact", "--ignored", "--nocapture"])
        .env_remove("HESO_KEY_PASSPHRASE")
        .env_remove("HESO_OLD_KEY_PASSPHRASE")
        .env_remove("HESO_ENV")
        .env_remove("CHILD_REQUIRE");
    for (key, value) in vars {
        command.env(key, value);
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
        "passphrase=- production=false require=false old=-"
    );
    assert_eq!(
        child(&[
            ("HESO_KEY_PASSPHRASE", "s3cret"),
            ("HESO_ENV", "Production"),
            ("CHILD_REQUIRE", "1"),
            ("HESO_OLD_KEY_PASSPHRASE", "old one"),
        ]),
        "passphrase=s3cret production=true require=true old=old one"
    );
    // An empty variable counts as unset; any other HESO_ENV is not production.
    assert_eq!(
        child(&[
            ("HESO_KEY_PASSPHRASE", ""),
            ("HESO_ENV", "staging"),
            ("HESO_OLD_KEY_PASSPHRASE", ""),
        ]),
        "passphrase=- production=false require=false old=-"
    );
}
