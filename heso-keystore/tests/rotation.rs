//! The operator key's side of a rotation: a new key staged beside the current one under
//! the passphrase rules of `init`, then put in place with `identity.pub`, idempotently.
#![cfg(unix)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

use std::fs;
use std::os::unix::fs::{PermissionsExt as _, symlink};
use std::path::{Path, PathBuf};

use heso_keystore::{
    CreateError, DEV_PASSPHRASE_FILE, InstallError, KEY_FILE, PUBLIC_FILE, PassphraseSources,
    RefusalReason, STAGED_KEY_FILE, SecretString, create_operator, install_staged_operator,
    read_operator_key_header, read_operator_public, read_staged_operator, stage_operator_key,
    unlock_operator,
};
use heso_receipt::public_key_to_did_key;

fn data_dir(root: &tempfile::TempDir) -> PathBuf {
    root.path().join("project").join("heso-local-data")
}

fn env_sources(passphrase: &str) -> PassphraseSources {
    PassphraseSources {
        key_passphrase: Some(SecretString::from(passphrase)),
        ..PassphraseSources::default()
    }
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap_or_default(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_staged_key_is_put_in_place_with_its_public_key_and_opens_as_the_old_one_did() {
    let root = tempfile::tempdir().unwrap();
    let dir = data_dir(&root);
    let old = create_operator(&dir, &PassphraseSources::default()).unwrap();
    let dev = fs::read(dir.join(DEV_PASSPHRASE_FILE)).unwrap();

    let staged = stage_operator_key(&dir, &PassphraseSources::default()).unwrap();
    let new = staged.key.public_key();
    assert_ne!(new, old.key.public_key());
    assert_eq!(staged.key_path, dir.join(STAGED_KEY_FILE));
    assert_eq!(
        fs::metadata(&staged.key_path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Nothing of the current identity changed; the dev passphrase is the same one.
    assert_eq!(read_operator_public(&dir).unwrap(), old.key.public_key());
    assert_eq!(fs::read(dir.join(DEV_PASSPHRASE_FILE)).unwrap(), dev);
    assert_eq!(read_staged_operator(&dir).unwrap(), Some(new));

    install_staged_operator(&dir, &new).unwrap();
    assert!(!dir.join(STAGED_KEY_FILE).exists());
    assert_eq!(read_operator_key_header(&dir).unwrap().2, new);
    assert_eq!(
        fs::read_to_string(dir.join(PUBLIC_FILE)).unwrap().trim(),
        public_key_to_did_key(&new)
    );
    let unlocked = unlock_operator(&dir, &PassphraseSources::default()).unwrap();
    assert_eq!(unlocked.public_key(), new);
    assert_eq!(read_staged_operator(&dir).unwrap(), None);

    // Idempotent: run again with nothing staged, it only checks (and rewrites a stale
    // identity.pub).
    fs::write(
        dir.join(PUBLIC_FILE),
        public_key_to_did_key(&old.key.public_key()),
    )
    .unwrap();
    install_staged_operator(&dir, &new).unwrap();
    assert_eq!(read_operator_public(&dir).unwrap(), new);
    // Another key expected than what is there: refused, nothing changed.
    let before = files(&dir);
    let error = install_staged_operator(&dir, &old.key.public_key()).unwrap_err();
    assert!(matches!(error, InstallError::Mismatch { .. }), "{error:?}");
    assert!(error.to_string().contains(KEY_FILE), "{error}");
    assert_eq!(files(&dir), before);
}

#[test]
fn the_new_key_follows_the_passphrase_rules_of_init() {
    let root = tempfile::tempdir().unwrap();
    let dir = data_dir(&root);
    create_operator(&dir, &env_sources("a long enough passphrase")).unwrap();
    let before = files(&dir);

    // Production: a short passphrase, or none, is refused and nothing is written.
    let production = |p: Option<&str>| PassphraseSources {
        key_passphrase: p.map(SecretString::from),
        production: true,
        require_passphrase: false,
    };
    let error = stage_operator_key(&dir, &production(Some("short"))).unwrap_err();
    assert!(
        matches!(
            error,
            CreateError::PassphraseTooShort {
                reason: RefusalReason::Production
            }
        ),
        "{error:?}"
    );
    let error = stage_operator_key(&dir, &production(None)).unwrap_err();
    assert!(
        matches!(error, CreateError::PassphraseRequired { .. }),
        "{error:?}"
    );
    assert_eq!(files(&dir), before);

    // With HESO_KEY_PASSPHRASE: sealed under it, no dev file written.
    let staged = stage_operator_key(&dir, &production(Some("another long passphrase"))).unwrap();
    assert_eq!(staged.dev_passphrase_path, None);
    assert!(!dir.join(DEV_PASSPHRASE_FILE).exists());
    install_staged_operator(&dir, &staged.key.public_key()).unwrap();
    let unlocked = unlock_operator(&dir, &env_sources("another long passphrase")).unwrap();
    assert_eq!(unlocked.public_key(), staged.key.public_key());
}

#[test]
fn a_staged_key_reached_through_a_symbolic_link_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let dir = data_dir(&root);
    let old = create_operator(&dir, &PassphraseSources::default()).unwrap();
    let outside = root.path().join("outside.key");
    fs::copy(dir.join(KEY_FILE), &outside).unwrap();
    symlink(&outside, dir.join(STAGED_KEY_FILE)).unwrap();
    let error = install_staged_operator(&dir, &old.key.public_key()).unwrap_err();
    assert!(error.to_string().contains("symbolic link"), "{error}");
    assert!(read_staged_operator(&dir).is_err());
}
