//! Which operator key a project trusts, and the check that its files agree on it.
//!
//! `heso.toml` (committed and reviewed) pins the operator key in `[identity] operator`.
//! `heso-local-data/identity.pub` is a convenience copy and `identity.key` holds the key
//! itself (its public key in the clear header); neither is trusted for authority. Any
//! disagreement among the three is an error naming the files, so re-signing the log with
//! another key and replacing `identity.pub` does not move what verification pins.

use std::path::Path;

use heso_keystore::{KEY_FILE, PUBLIC_FILE, ReadPublicError};
use heso_receipt::{VerifyingKey, public_key_from_str, public_key_to_did_key};

use crate::config::{Config, RetiredOperator, shown};
use crate::project::ProjectPaths;

/// The operator key a project trusts, and whether `heso.toml` pins it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorIdentity {
    /// The operator's public key.
    pub key: VerifyingKey,
    /// True when `heso.toml` pins it (`[identity] operator`); false in a project made by a
    /// heso that did not, where it comes from the key files (see [`Self::notice`]).
    pub pinned_in_config: bool,
}

impl OperatorIdentity {
    /// What to tell the user when `heso.toml` does not pin the key, with how to fix it.
    pub fn notice(&self) -> Option<String> {
        (!self.pinned_in_config).then(|| {
            format!(
                "heso.toml does not pin the operator key, so it was taken from \
                 heso-local-data/{PUBLIC_FILE}, which is not reviewed: run `heso init` to add \
                 `[identity] operator = \"{}\"` to heso.toml, and commit it",
                public_key_to_did_key(&self.key)
            )
        })
    }
}

/// Why the project's operator identity cannot be established.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// Two of `heso.toml`, `identity.pub` and the key file name different operator keys.
    #[error(
        "the operator identity files disagree: {first} names {first_key} but {}; {advice}",
        list(disagreeing)
    )]
    Mismatch {
        /// The file trusted most among those present (`heso.toml` when it pins a key).
        first: String,
        /// The key it names, as did:key.
        first_key: String,
        /// Each file that names another key, with that key as did:key.
        disagreeing: Vec<(String, String)>,
        /// What to do.
        advice: &'static str,
    },
    /// A key file could not be read or does not hold a key.
    #[error(transparent)]
    Read(#[from] ReadPublicError),
    /// Neither `heso.toml` nor the data directory names an operator key.
    #[error(
        "no operator identity: {config} has no [identity] operator and {data_dir} holds \
         neither {PUBLIC_FILE} nor {KEY_FILE}; run `heso init`"
    )]
    Missing {
        /// The policy file.
        config: String,
        /// The data directory.
        data_dir: String,
    },
}

const PUB_VS_CONFIG: &str = "heso.toml is the reviewed source of the operator key: if \
    identity.pub was replaced, restore heso-local-data/ from a backup (receipts signed by \
    another key are not this project's); if heso.toml was edited, review that change";
const KEY_VS_CONFIG: &str = "heso-local-data/ holds another operator key than the one \
    heso.toml pins: restore heso-local-data/ from a backup; to change the operator key on \
    purpose, restore it first and run `heso keys rotate`, which keeps what the old key \
    signed valid";
const INTERRUPTED_ROTATION: &str = "a key rotation was interrupted (heso.toml already pins \
    the new key and lists the one in heso-local-data/ under [identity] retired): run \
    `heso keys rotate` again to finish it";
const PUB_VS_KEY: &str = "one of them was replaced: restore heso-local-data/ from a backup";

/// The project's operator identity: the key `heso.toml` pins, checked against
/// `identity.pub` and the key file's clear header wherever they exist; without a pin (an
/// older project), the key files' key, checked against each other. Needs no passphrase;
/// follows no symbolic link inside `heso-local-data/`.
pub fn operator_identity(
    paths: &ProjectPaths,
    config: &Config,
) -> Result<OperatorIdentity, IdentityError> {
    check_operator(paths, config.operator, &config.retired_operators)
}

/// [`operator_identity`] with the key `heso.toml` pins (if any) and the operator keys it
/// retired given (a key file holding a retired key means a rotation was interrupted).
pub(crate) fn check_operator(
    paths: &ProjectPaths,
    pinned: Option<VerifyingKey>,
    retired: &[RetiredOperator],
) -> Result<OperatorIdentity, IdentityError> {
    let data_dir = paths.data_dir();
    let public = read_public_file(&data_dir)?;
    let header = if heso_keystore::operator_key_exists(&data_dir) {
        Some(heso_keystore::read_operator_key_header(&data_dir)?.2)
    } else {
        None
    };
    // In order of authority: heso.toml, then the copies in heso-local-data/.
    let named = [
        pinned.map(|k| (Source::Config, k)),
        public.map(|k| (Source::PublicFile, k)),
        header.map(|k| (Source::KeyFile, k)),
    ];
    let present: Vec<&(Source, VerifyingKey)> = named.iter().flatten().collect();
    if let Some((first, first_key)) = present.first() {
        let disagreeing: Vec<&&(Source, VerifyingKey)> =
            present.iter().filter(|(_, key)| key != first_key).collect();
        if !disagreeing.is_empty() {
            // Interrupted after heso.toml was edited: the files still name the key it
            // retired, and the key it pins is staged or already in place.
            let is_retired = |key: &VerifyingKey| retired.iter().any(|r| r.key == *key);
            let new_key_ready = pinned.is_some()
                && (header == pinned
                    || heso_keystore::read_staged_operator(&data_dir)
                        .ok()
                        .flatten()
                        == pinned);
            let advice = match first {
                Source::Config
                    if new_key_ready && disagreeing.iter().all(|(_, key)| is_retired(key)) =>
                {
                    INTERRUPTED_ROTATION
                }
                Source::Config if disagreeing.iter().any(|(s, _)| *s == Source::KeyFile) => {
                    KEY_VS_CONFIG
                }
                Source::Config => PUB_VS_CONFIG,
                _ => PUB_VS_KEY,
            };
            return Err(IdentityError::Mismatch {
                first: first.describe(paths),
                first_key: public_key_to_did_key(first_key),
                disagreeing: disagreeing
                    .iter()
                    .map(|(source, key)| (source.describe(paths), public_key_to_did_key(key)))
                    .collect(),
                advice,
            });
        }
    }
    match present.first() {
        Some((_, key)) => Ok(OperatorIdentity {
            key: *key,
            pinned_in_config: pinned.is_some(),
        }),
        None => Err(IdentityError::Missing {
            config: shown(&paths.config()),
            data_dir: shown(&data_dir),
        }),
    }
}

/// `A names K1 and B names K2`.
fn list(disagreeing: &[(String, String)]) -> String {
    disagreeing
        .iter()
        .map(|(file, key)| format!("{file} names {key}"))
        .collect::<Vec<_>>()
        .join(" and ")
}

/// A file that names the operator key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Config,
    PublicFile,
    KeyFile,
}

impl Source {
    fn describe(self, paths: &ProjectPaths) -> String {
        match self {
            Source::Config => format!("{} ([identity] operator)", shown(&paths.config())),
            Source::PublicFile => shown(&paths.data_dir().join(PUBLIC_FILE)),
            Source::KeyFile => format!(
                "{} (its public-key header)",
                shown(&paths.data_dir().join(KEY_FILE))
            ),
        }
    }
}

/// `identity.pub`'s key, `None` when the file is absent.
fn read_public_file(data_dir: &Path) -> Result<Option<VerifyingKey>, IdentityError> {
    let path = data_dir.join(PUBLIC_FILE);
    match heso_fs::read_no_follow(&path) {
        Ok(bytes) => public_key_from_str(String::from_utf8_lossy(&bytes).trim())
            .map(Some)
            .map_err(|e| {
                IdentityError::Read(ReadPublicError::Malformed {
                    path,
                    detail: format!("expected one did:key line: {e}"),
                })
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(IdentityError::Read(ReadPublicError::Read { path, source })),
    }
}
