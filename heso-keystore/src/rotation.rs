//! The operator key's side of a key rotation (`heso keys rotate`): the new key is staged
//! beside the current one (`identity.key.new`), and put in place only once the project
//! pins it. The current `identity.key` and `identity.pub` are untouched until then, so an
//! interrupted rotation leaves the old key usable or the new one ready to install.

use std::path::{Path, PathBuf};

use heso_receipt::{VerifyingKey, public_key_to_did_key};
use secrecy::{ExposeSecret, SecretString};

use crate::keyfile::{Links, Protection, read_header, seal};
use crate::operator::{
    Created, DEV_PASSPHRASE_FILE, KEY_FILE, PUBLIC_FILE, PassphraseSources,
    generate_dev_passphrase, generate_signing_key,
};
use crate::unlocked::{CreateError, ReadPublicError, Role, UnlockedKey};
use heso_fs::{
    Existing, PUBLIC_FILE_MODE, SECRET_FILE_MODE, read_no_follow, refuse_symlink, sync_dir,
    write_atomic,
};
use zeroize::Zeroizing;

/// The new operator key while a rotation is in progress, in the data directory.
pub const STAGED_KEY_FILE: &str = "identity.key.new";

/// Why a staged key could not be put in place. Nothing was changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// The staged key file (or the current one) could not be read.
    #[error(transparent)]
    Read(#[from] ReadPublicError),
    /// The key there is not the one expected (the one `heso.toml` pins).
    #[error(
        "{} holds {found}, not the operator key heso.toml pins ({expected}); restore \
         heso-local-data/ from a backup, or review the edit of heso.toml",
        path.display()
    )]
    Mismatch {
        /// The key file looked at.
        path: PathBuf,
        /// The key it holds, as did:key.
        found: String,
        /// The key expected, as did:key.
        expected: String,
    },
    /// The staged file holds an approver's key.
    #[error("{} holds an approver key, not an operator key", path.display())]
    NotOperator {
        /// The staged file.
        path: PathBuf,
    },
    /// Renaming or writing failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Creates a new operator key and writes it, sealed, to `identity.key.new` (replacing one
/// an interrupted rotation left there), leaving the current key, `identity.pub` and the
/// dev passphrase file as they are.
///
/// The passphrase follows the rules of a new project (`heso init`): `HESO_KEY_PASSPHRASE`
/// when set (at least [`crate::MIN_PASSPHRASE_CHARS`] characters under production or
/// `require_passphrase`); else the dev passphrase file, unless production or
/// `require_passphrase` refuse it. An existing dev file is kept and used (it opens the
/// current key too); one is written only when there is none. No symbolic link is
/// followed.
pub fn stage_operator_key(
    data_dir: &Path,
    sources: &PassphraseSources,
) -> Result<Created, CreateError> {
    let io_err = |action: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| CreateError::Io {
            action,
            path,
            source,
        }
    };
    refuse_symlink(data_dir).map_err(io_err("use the data folder", data_dir))?;
    let (passphrase, protection, dev_passphrase_path) = match &sources.key_passphrase {
        Some(p) if p.expose_secret().is_empty() => return Err(CreateError::EmptyPassphrase),
        Some(p) => match sources.too_short(p) {
            Some(reason) => return Err(CreateError::PassphraseTooShort { reason }),
            None => (p.clone(), Protection::Passphrase, None),
        },
        None => {
            if let Some(reason) = sources.refusal() {
                return Err(CreateError::PassphraseRequired { reason });
            }
            let dev_path = data_dir.join(DEV_PASSPHRASE_FILE);
            let existing = match read_no_follow(&dev_path) {
                Ok(bytes) => {
                    let bytes = Zeroizing::new(bytes);
                    let text = String::from_utf8_lossy(&bytes).trim().to_owned();
                    (!text.is_empty()).then(|| SecretString::from(text))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(io_err("read the dev passphrase file", &dev_path)(e)),
            };
            let passphrase = match existing {
                Some(p) => p,
                None => {
                    let fresh = generate_dev_passphrase()?;
                    let line = Zeroizing::new(format!("{}\n", fresh.expose_secret()));
                    write_atomic(&dev_path, line.as_bytes(), SECRET_FILE_MODE, Existing::Keep)
                        .map_err(io_err("write the dev passphrase file", &dev_path))?;
                    fresh
                }
            };
            (passphrase, Protection::DevPassphrase, Some(dev_path))
        }
    };
    let signing = generate_signing_key()?;
    let text = seal(
        &signing,
        Role::Operator,
        "operator",
        &passphrase,
        protection,
    )
    .map_err(CreateError::Encrypt)?;
    let staged = data_dir.join(STAGED_KEY_FILE);
    write_atomic(
        &staged,
        text.as_bytes(),
        SECRET_FILE_MODE,
        Existing::Replace,
    )
    .map_err(io_err("write the staged key file", &staged))?;
    Ok(Created {
        key: UnlockedKey::new(signing, Role::Operator, "operator".into(), staged.clone()),
        key_path: staged,
        public_path: None,
        dev_passphrase_path,
    })
}

/// The public key of the staged operator key (`identity.key.new`), `None` when there is
/// none. Needs no passphrase; a symbolic link there is an error.
pub fn read_staged_operator(data_dir: &Path) -> Result<Option<VerifyingKey>, ReadPublicError> {
    let path = data_dir.join(STAGED_KEY_FILE);
    if std::fs::symlink_metadata(&path).is_err() {
        return Ok(None);
    }
    read_header(&path, Links::Refuse).map(|(_, _, key)| Some(key))
}

/// Puts the operator key `expected` in place: the staged `identity.key.new` replaces
/// `identity.key` (an atomic rename, then the folder is synced), then `identity.pub` is
/// rewritten. Idempotent: with nothing staged, `identity.key` must already hold
/// `expected`, and only a stale `identity.pub` is rewritten. A staged or current key that
/// is not `expected` is refused before anything changes. No symbolic link is followed.
pub fn install_staged_operator(
    data_dir: &Path,
    expected: &VerifyingKey,
) -> Result<(), InstallError> {
    refuse_symlink(data_dir).map_err(|source| InstallError::Io {
        action: "use the data folder",
        path: data_dir.to_owned(),
        source,
    })?;
    let staged = data_dir.join(STAGED_KEY_FILE);
    let key_path = data_dir.join(KEY_FILE);
    let mismatch = |path: &Path, found: &VerifyingKey| InstallError::Mismatch {
        path: path.to_owned(),
        found: public_key_to_did_key(found),
        expected: public_key_to_did_key(expected),
    };
    if std::fs::symlink_metadata(&staged).is_ok() {
        let (role, _, key) = read_header(&staged, Links::Refuse)?;
        if role != Role::Operator {
            return Err(InstallError::NotOperator { path: staged });
        }
        if key != *expected {
            return Err(mismatch(&staged, &key));
        }
        std::fs::rename(&staged, &key_path)
            .and_then(|()| sync_dir(data_dir))
            .map_err(|source| InstallError::Io {
                action: "put the new key in place at",
                path: key_path.clone(),
                source,
            })?;
    } else {
        let (_, _, key) = read_header(&key_path, Links::Refuse)?;
        if key != *expected {
            return Err(mismatch(&key_path, &key));
        }
    }
    let public_path = data_dir.join(PUBLIC_FILE);
    let did = public_key_to_did_key(expected);
    let current = read_no_follow(&public_path).ok();
    if current
        .as_deref()
        .map(|b| String::from_utf8_lossy(b).trim().to_owned())
        != Some(did.clone())
    {
        write_atomic(
            &public_path,
            format!("{did}\n").as_bytes(),
            PUBLIC_FILE_MODE,
            Existing::Replace,
        )
        .map_err(|source| InstallError::Io {
            action: "write the public key file",
            path: public_path,
            source,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_staged_secret_is_never_shown() {
        let root = tempfile::tempdir().unwrap();
        let created = stage_operator_key(root.path(), &PassphraseSources::default()).unwrap();
        let shown = format!("{created:?}");
        let seed: String = created
            .key
            .signing_key()
            .to_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(!shown.contains(&seed));
    }
}
