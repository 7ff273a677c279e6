//! `salts.jsonl`: the salts of commit-and-reveal commitments, each record encrypted.
//!
//! A salt beside its commitment lets anyone who can read the folder brute-force a short
//! value, so each salt is sealed with ChaCha20-Poly1305 under a key derived from the
//! operator seed. The record is bound to its commitment (used as associated data), so a
//! record cannot be moved to another commitment. The clear value is written nowhere. The
//! file is never reached through a symbolic link (`O_NOFOLLOW`).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use heso_redact::Salt;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The context string of the salts key (BLAKE3 `derive_key`).
pub const SALTS_KEY_CONTEXT: &str = "heso 2026-11 salts.jsonl ChaCha20-Poly1305 v1";

#[derive(Serialize, Deserialize)]
struct SaltLine {
    commitment: String,
    nonce: String,
    sealed: String,
}

/// Why a salt could not be stored or found.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SaltStoreError {
    /// Writing or syncing the file failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Reading the file failed.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// No record for this commitment.
    #[error("no salt is stored for commitment {0}")]
    NotFound(String),
    /// A record exists but does not open with this project's key.
    #[error("the salt record for commitment {0} does not decrypt with this project's operator key")]
    Undecryptable(String),
    /// The OS random source failed.
    #[error("the OS random source failed")]
    Random,
}

/// The encrypted salt file of one project.
pub struct SaltStore {
    path: PathBuf,
    cipher: ChaCha20Poly1305,
    writer: Mutex<Option<File>>,
}

impl std::fmt::Debug for SaltStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaltStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SaltStore {
    /// A store at `path` sealing with `key` (32 bytes from the keystore's derive_key).
    pub fn new(path: &Path, key: &[u8; 32]) -> Self {
        Self {
            path: path.to_path_buf(),
            cipher: ChaCha20Poly1305::new(Key::from_slice(key)),
            writer: Mutex::new(None),
        }
    }

    /// Seals and appends one record per salt, then fsyncs, before returning.
    pub fn put(&self, salts: &[(&str, &Salt)]) -> Result<(), SaltStoreError> {
        if salts.is_empty() {
            return Ok(());
        }
        // Each batch starts on a line of its own: if a writer died mid-record (or a disk
        // filled), its torn bytes end at this newline instead of swallowing this record.
        // Readers skip blank and unreadable lines.
        let mut text = String::from("\n");
        for (commitment, salt) in salts {
            let mut nonce = [0u8; 12];
            getrandom::fill(&mut nonce).map_err(|_| SaltStoreError::Random)?;
            let sealed = self
                .cipher
                .encrypt(
                    Nonce::from_slice(&nonce),
                    Payload {
                        msg: salt.expose_secret(),
                        aad: commitment.as_bytes(),
                    },
                )
                .map_err(|_| SaltStoreError::Random)?;
            let line = SaltLine {
                commitment: (*commitment).to_owned(),
                nonce: STANDARD.encode(nonce),
                sealed: STANDARD.encode(sealed),
            };
            text.push_str(&serde_json::to_string(&line).unwrap_or_default());
            text.push('\n');
        }
        let write_error = |source: std::io::Error| SaltStoreError::Write {
            path: self.path.display().to_string(),
            source,
        };
        let mut guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            *guard = Some(open_private_append(&self.path).map_err(write_error)?);
        }
        let Some(file) = guard.as_mut() else {
            return Err(SaltStoreError::Random);
        };
        let result = file
            .write_all(text.as_bytes())
            .and_then(|()| file.sync_data());
        if let Err(e) = result {
            // Never reuse a handle after a failed write or fsync.
            *guard = None;
            return Err(write_error(e));
        }
        Ok(())
    }

    /// Finds and opens the salt of `commitment`. Records sealed under another key (an
    /// operator key rotated away, whose records were copied under the new one) are
    /// skipped; [`SaltStoreError::Undecryptable`] when records exist but none opens.
    pub fn get(&self, commitment: &str) -> Result<Zeroizing<[u8; 32]>, SaltStoreError> {
        let mut found_sealed_otherwise = false;
        let mut result = None;
        self.each_record(|record| {
            if record.commitment != commitment {
                return true;
            }
            match self.open(record) {
                Some(salt) => {
                    result = Some(salt);
                    false
                }
                None => {
                    found_sealed_otherwise = true;
                    true
                }
            }
        })?;
        match result {
            Some(salt) => Ok(salt),
            None if found_sealed_otherwise => {
                Err(SaltStoreError::Undecryptable(commitment.to_owned()))
            }
            None => Err(SaltStoreError::NotFound(commitment.to_owned())),
        }
    }

    /// For an operator key rotation: appends, sealed under `key` (the new operator key's
    /// salts key), a copy of every record this store opens whose commitment has no record
    /// that opens under `key` yet (so running it again copies nothing twice). Records are
    /// only appended, never rewritten. Returns how many were copied.
    pub(crate) fn reseal_under(&self, key: &[u8; 32]) -> Result<usize, SaltStoreError> {
        let target = SaltStore::new(&self.path, key);
        let mut done = std::collections::BTreeSet::new();
        // `Salt` zeroizes its bytes when dropped.
        let mut copies: Vec<(String, Salt)> = Vec::new();
        self.each_record(|record| {
            if target.open(record).is_some() {
                done.insert(record.commitment.clone());
            } else if let Some(salt) = self.open(record) {
                copies.push((record.commitment.clone(), Salt::from_bytes(*salt)));
            }
            true
        })?;
        copies.retain(|(commitment, _)| done.insert(commitment.clone()));
        let copied = copies.len();
        let records: Vec<(&str, &Salt)> = copies.iter().map(|(c, s)| (c.as_str(), s)).collect();
        target.put(&records).map(|()| copied)
    }

    /// Calls `visit` with each readable record in file order until it returns false. A
    /// missing file has none; a symbolic link is refused.
    fn each_record(&self, mut visit: impl FnMut(&SaltLine) -> bool) -> Result<(), SaltStoreError> {
        let read_error = |source: std::io::Error| SaltStoreError::Read {
            path: self.path.display().to_string(),
            source,
        };
        let file = match heso_fs::open_no_follow(&self.path, File::options().read(true)) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(read_error(e)),
        };
        for line in BufReader::new(file).lines() {
            let line = line.map_err(read_error)?;
            let Ok(record) = serde_json::from_str::<SaltLine>(&line) else {
                continue;
            };
            if !visit(&record) {
                break;
            }
        }
        Ok(())
    }

    /// The salt in `record`, when it opens under this store's key.
    fn open(&self, record: &SaltLine) -> Option<Zeroizing<[u8; 32]>> {
        let nonce = STANDARD
            .decode(&record.nonce)
            .ok()
            .filter(|n| n.len() == 12)?;
        let sealed = STANDARD.decode(&record.sealed).ok()?;
        let opened = Zeroizing::new(
            self.cipher
                .decrypt(
                    Nonce::from_slice(&nonce),
                    Payload {
                        msg: &sealed,
                        aad: record.commitment.as_bytes(),
                    },
                )
                .ok()?,
        );
        let salt: [u8; 32] = opened.as_slice().try_into().ok()?;
        Some(Zeroizing::new(salt))
    }
}

/// Opens a file for appending, creating it 0600; a symbolic link there is refused.
pub(crate) fn open_private_append(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    heso_fs::open_no_follow(path, &mut options)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;

    #[test]
    fn a_torn_record_does_not_swallow_the_next_one() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("salts.jsonl");
        let store = SaltStore::new(&path, &[9u8; 32]);
        store.put(&[("aa", &Salt::from_bytes([1u8; 32]))]).unwrap();
        // A writer that died mid-record.
        let mut file = open_private_append(&path).unwrap();
        file.write_all(b"{\"commitment\":\"bb\",\"nonce\":\"AAAA")
            .unwrap();
        drop(file);
        store.put(&[("cc", &Salt::from_bytes([3u8; 32]))]).unwrap();
        assert_eq!(*store.get("aa").unwrap(), [1u8; 32]);
        assert_eq!(*store.get("cc").unwrap(), [3u8; 32]);
        assert!(matches!(store.get("bb"), Err(SaltStoreError::NotFound(_))));
    }

    #[test]
    fn records_resealed_under_a_new_key_open_with_it_and_are_copied_once() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("salts.jsonl");
        let old = SaltStore::new(&path, &[1u8; 32]);
        old.put(&[
            ("aa", &Salt::from_bytes([1u8; 32])),
            ("bb", &Salt::from_bytes([2u8; 32])),
        ])
        .unwrap();
        let foreign = SaltStore::new(&path, &[9u8; 32]);
        foreign
            .put(&[("cc", &Salt::from_bytes([3u8; 32]))])
            .unwrap();

        let new = SaltStore::new(&path, &[2u8; 32]);
        assert!(matches!(
            new.get("aa"),
            Err(SaltStoreError::Undecryptable(_))
        ));
        assert_eq!(old.reseal_under(&[2u8; 32]).unwrap(), 2);
        assert_eq!(old.reseal_under(&[2u8; 32]).unwrap(), 0, "copied twice");
        assert_eq!(*new.get("aa").unwrap(), [1u8; 32]);
        assert_eq!(*new.get("bb").unwrap(), [2u8; 32]);
        // The old records stay, and the old key still opens them.
        assert_eq!(*old.get("bb").unwrap(), [2u8; 32]);
        // What neither key sealed stays unreadable to both.
        assert!(matches!(
            new.get("cc"),
            Err(SaltStoreError::Undecryptable(_))
        ));
        assert!(matches!(new.get("dd"), Err(SaltStoreError::NotFound(_))));
    }
}
