//! The operator's files are never read or written through a symbolic link, and a person's
//! passphrase is long enough wherever production or the project demands one.
#![cfg(unix)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use heso_keystore::{
    CreateError, DEV_PASSPHRASE_FILE, KEY_FILE, MIN_PASSPHRASE_CHARS, PUBLIC_FILE,
    PassphraseSources, ReadPublicError, SecretString, UnlockError, create_operator,
    operator_key_exists, read_operator_public, unlock_operator,
};

fn data_dir(root: &tempfile::TempDir) -> PathBuf {
    root.path().join("project").join("heso-local-data")
}

fn dev_project(root: &tempfile::TempDir) -> PathBuf {
    let dir = data_dir(root);
    create_operator(&dir, &PassphraseSources::default()).unwrap();
    dir
}

/// Moves `name` out of the data directory and leaves a link to it in its place.
fn replace_with_link(root: &tempfile::TempDir, dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let moved = root.path().join(format!("moved-{name}"));
    fs::rename(&path, &moved).unwrap();
    symlink(&moved, &path).unwrap();
    path
}

fn assert_names_the_link(text: &str, link: &Path) {
    assert!(
        text.contains(&link.display().to_string()) && text.contains("symbolic link"),
        "the error does not name the link {}: {text}",
        link.display()
    );
}

#[test]
fn a_symlinked_key_file_is_refused_by_name() {
    let root = tempfile::tempdir().unwrap();
    let dir = dev_project(&root);
    let link = replace_with_link(&root, &dir, KEY_FILE);
    let err = unlock_operator(&dir, &PassphraseSources::default()).unwrap_err();
    assert!(matches!(err, UnlockError::Read { .. }), "{err:?}");
    assert_names_the_link(&err.to_string(), &link);
    // It still counts as there: a new key is never created in its place.
    assert!(operator_key_exists(&dir));
}

#[test]
fn a_dangling_symlinked_key_file_is_not_taken_for_a_missing_one() {
    let root = tempfile::tempdir().unwrap();
    let dir = data_dir(&root);
    fs::create_dir_all(&dir).unwrap();
    symlink(root.path().join("nowhere"), dir.join(KEY_FILE)).unwrap();
    assert!(operator_key_exists(&dir));
    let err = create_operator(&dir, &PassphraseSources::default()).unwrap_err();
    assert!(matches!(err, CreateError::Exists { .. }), "{err:?}");
    assert!(!root.path().join("nowhere").exists());
}

#[test]
fn a_symlinked_public_file_or_dev_passphrase_file_is_refused_by_name() {
    let root = tempfile::tempdir().unwrap();
    let dir = dev_project(&root);
    let link = replace_with_link(&root, &dir, PUBLIC_FILE);
    let err = read_operator_public(&dir).unwrap_err();
    assert!(matches!(err, ReadPublicError::Read { .. }), "{err:?}");
    assert_names_the_link(&err.to_string(), &link);

    let root = tempfile::tempdir().unwrap();
    let dir = dev_project(&root);
    let link = replace_with_link(&root, &dir, DEV_PASSPHRASE_FILE);
    let err = unlock_operator(&dir, &PassphraseSources::default()).unwrap_err();
    assert!(
        matches!(err, UnlockError::DevFileUnreadable { .. }),
        "{err:?}"
    );
    assert_names_the_link(&err.to_string(), &link);
}

#[test]
fn a_symlinked_data_directory_is_refused_by_name() {
    let root = tempfile::tempdir().unwrap();
    let dir = dev_project(&root);
    let moved = root.path().join("elsewhere");
    fs::rename(&dir, &moved).unwrap();
    symlink(&moved, &dir).unwrap();
    let err = unlock_operator(&dir, &PassphraseSources::default()).unwrap_err();
    assert_names_the_link(&err.to_string(), &dir);
    let err = read_operator_public(&dir).unwrap_err();
    assert_names_the_link(&err.to_string(), &dir);
    let other = root.path().join("linked-new");
    symlink(root.path().join("empty"), &other).unwrap();
    let err = create_operator(&other, &PassphraseSources::default()).unwrap_err();
    assert_names_the_link(&err.to_string(), &other);
    assert!(!root.path().join("empty").exists());
}

fn strict(passphrase: &str, production: bool) -> PassphraseSources {
    PassphraseSources {
        key_passphrase: Some(SecretString::from(passphrase)),
        production,
        require_passphrase: !production,
    }
}

#[test]
fn production_and_require_passphrase_refuse_a_short_passphrase_without_showing_it() {
    assert_eq!(MIN_PASSPHRASE_CHARS, 12);
    // 11 characters (22 bytes): characters are counted, not bytes.
    let short = "ééééééééééé";
    for production in [true, false] {
        let rule = if production {
            "HESO_ENV=production"
        } else {
            "require_passphrase"
        };
        let root = tempfile::tempdir().unwrap();
        let dir = data_dir(&root);
        let err = create_operator(&dir, &strict(short, production)).unwrap_err();
        assert!(
            matches!(err, CreateError::PassphraseTooShort { .. }),
            "{err:?}"
        );
        let text = err.to_string();
        for needle in ["HESO_KEY_PASSPHRASE", "at least 12 characters", rule] {
            assert!(text.contains(needle), "{needle:?} missing: {text}");
        }
        assert!(!text.contains(short) && !format!("{err:?}").contains(short));
        assert!(!dir.exists(), "a refused key left files");

        // Exactly 12 is enough.
        create_operator(&dir, &strict("twelve chars", production)).unwrap();
        unlock_operator(&dir, &strict("twelve chars", production)).unwrap();
    }
}

#[test]
fn a_short_passphrase_is_refused_when_unlocking_in_production_only() {
    let root = tempfile::tempdir().unwrap();
    let dir = data_dir(&root);
    // Made before the rule, or in development: a short human passphrase.
    let dev = PassphraseSources {
        key_passphrase: Some(SecretString::from("short one")),
        ..PassphraseSources::default()
    };
    create_operator(&dir, &dev).unwrap();
    unlock_operator(&dir, &dev).unwrap();
    for production in [true, false] {
        let err = unlock_operator(&dir, &strict("short one", production)).unwrap_err();
        assert!(
            matches!(err, UnlockError::PassphraseTooShort { .. }),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains("at least 12 characters"), "{text}");
        assert!(text.contains("heso keys passphrase"), "{text}");
        assert!(!text.contains("short one"), "{text}");
    }
}
