//! Approver keys: each a person's own key file, under their own passphrase.

use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};

use crate::keyfile::{Links, Protection, seal};
use crate::operator::{Created, PassphraseSource, generate_signing_key, load_for_unlock, open_as};
use crate::unlocked::{CreateError, Role, UnlockError, UnlockedKey};
use heso_fs::{Existing, SECRET_FILE_MODE, create_private_dir, parent_of, write_atomic};

/// The default place of an approver key: `$XDG_CONFIG_HOME/heso/approvers/NAME.key`, else
/// `$HOME/.config/heso/approvers/NAME.key`. `None` when neither variable is set.
pub fn default_approver_path(name: &str) -> Option<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|home| PathBuf::from(home).join(".config"))
        })?;
    Some(
        config
            .join("heso")
            .join("approvers")
            .join(format!("{name}.key")),
    )
}

/// Creates an approver key at `path` (its directory created 0700 when missing), encrypted
/// under the approver's own `passphrase` with the full scrypt cost. Never replaces a file.
pub fn create_approver(
    path: &Path,
    name: &str,
    passphrase: &SecretString,
) -> Result<Created, CreateError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return Err(CreateError::BadName {
            name: name.to_owned(),
        });
    }
    if passphrase.expose_secret().is_empty() {
        return Err(CreateError::EmptyPassphrase);
    }
    if path.exists() {
        return Err(CreateError::Exists {
            path: path.to_owned(),
        });
    }
    let dir = parent_of(path);
    create_private_dir(dir).map_err(|source| CreateError::Io {
        action: "create the directory",
        path: dir.to_owned(),
        source,
    })?;
    let signing = generate_signing_key()?;
    let text = seal(
        &signing,
        Role::Approver,
        name,
        passphrase,
        Protection::Passphrase,
    )
    .map_err(CreateError::Encrypt)?;
    write_atomic(path, text.as_bytes(), SECRET_FILE_MODE, Existing::Keep).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            CreateError::Exists {
                path: path.to_owned(),
            }
        } else {
            CreateError::Io {
                action: "write the key file",
                path: path.to_owned(),
                source,
            }
        }
    })?;
    Ok(Created {
        key: UnlockedKey::new(signing, Role::Approver, name.to_owned(), path.to_owned()),
        key_path: path.to_owned(),
        public_path: None,
        dev_passphrase_path: None,
    })
}

/// Unlocks the approver key at `path` with the passphrase the person gave.
pub fn load_approver(path: &Path, passphrase: &SecretString) -> Result<UnlockedKey, UnlockError> {
    let file = load_for_unlock(path, Links::Follow)?;
    open_as(
        &file,
        path,
        passphrase,
        PassphraseSource::Given,
        Role::Approver,
    )
}
