//! No symbolic link inside the data directory is followed: a linked log, lock, session file
//! or data directory is an error that names it, and nothing is written through it.
#![cfg(unix)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use heso_chain::{LOCK_FILE, LOG_FILE, Log, LogOptions, LookupError, OpenError, find_by_prefix};

mod support;
use support::signed_line;

/// A data directory with one receipt, and a folder outside it holding a decoy file.
struct Setup {
    _temp: tempfile::TempDir,
    data: PathBuf,
    outside: PathBuf,
}

fn setup() -> Setup {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("heso-local-data");
    let outside = temp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("decoy"), b"decoy\n").unwrap();
    {
        let (log, _) = Log::open(&data, LogOptions::default()).unwrap();
        log.append(|p| signed_line(p, "one")).unwrap();
    }
    Setup {
        _temp: temp,
        data,
        outside,
    }
}

/// Replaces `name` in the data directory with a link to the decoy.
fn link_to_decoy(setup: &Setup, name: &str) -> PathBuf {
    let path = setup.data.join(name);
    std::fs::remove_file(&path).unwrap();
    symlink(setup.outside.join("decoy"), &path).unwrap();
    path
}

fn open_error(dir: &Path) -> String {
    match Log::open(dir, LogOptions::default()) {
        Ok(_) => panic!("a log with a symlink in it was opened"),
        Err(e @ OpenError::Io { .. }) => e.to_string(),
        Err(e) => panic!("unexpected error: {e:?}"),
    }
}

fn assert_refused(message: &str, link: &Path) {
    assert!(
        message.contains(&link.display().to_string()) && message.contains("symbolic link"),
        "the error does not name the link {}: {message}",
        link.display()
    );
}

#[test]
fn a_symlinked_log_is_refused_by_name() {
    let setup = setup();
    let link = link_to_decoy(&setup, LOG_FILE);
    assert_refused(&open_error(&setup.data), &link);
    assert_eq!(
        std::fs::read(setup.outside.join("decoy")).unwrap(),
        b"decoy\n"
    );
    // Lookup refuses it too, naming it.
    match find_by_prefix(&link, "abcd") {
        Err(e @ LookupError::Read { .. }) => assert_refused(&e.to_string(), &link),
        other => panic!("lookup through a link: {other:?}"),
    }
}

#[test]
fn a_dangling_symlinked_log_is_not_created_through() {
    let setup = setup();
    let path = setup.data.join(LOG_FILE);
    std::fs::remove_file(&path).unwrap();
    symlink(setup.outside.join("made-by-heso"), &path).unwrap();
    assert_refused(&open_error(&setup.data), &path);
    assert!(!setup.outside.join("made-by-heso").exists());
}

#[test]
fn a_symlinked_lock_or_session_file_is_refused_by_name() {
    let setup = setup();
    let link = link_to_decoy(&setup, LOCK_FILE);
    assert_refused(&open_error(&setup.data), &link);

    let setup = self::setup();
    let link = link_to_decoy(&setup, heso_chain::SESSION_FILE);
    assert_refused(&open_error(&setup.data), &link);
}

#[test]
fn a_symlinked_data_directory_is_refused_by_name() {
    let setup = setup();
    let moved = setup.outside.join("real-data");
    std::fs::rename(&setup.data, &moved).unwrap();
    symlink(&moved, &setup.data).unwrap();
    assert_refused(&open_error(&setup.data), &setup.data);
}
