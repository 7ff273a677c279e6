//! The operator key in the project's data directory, and its passphrase rules.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use heso_receipt::{SigningKey, VerifyingKey, public_key_from_str, public_key_to_did_key};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::keyfile::{
    KeyFile, Links, LoadFailure, OpenFailure, Protection, load, read_header, seal,
};
use crate::unlocked::{
    CreateError, ReadPublicError, ReencryptError, RefusalReason, Role, UnlockError, UnlockedKey,
};
use heso_fs::{
    Existing, PUBLIC_FILE_MODE, SECRET_FILE_MODE, create_private_dir, read_no_follow,
    refuse_symlink, remove_durably, write_atomic,
};

/// The operator's encrypted key, in the data directory.
pub const KEY_FILE: &str = "identity.key";
/// The operator's public key (did:key), in the clear.
pub const PUBLIC_FILE: &str = "identity.pub";
/// The generated dev passphrase, when no passphrase was given.
pub const DEV_PASSPHRASE_FILE: &str = "DEV-ONLY.passphrase";
/// The operator key's passphrase.
pub const ENV_KEY_PASSPHRASE: &str = "HESO_KEY_PASSPHRASE";
/// The current passphrase when re-encrypting (`heso keys passphrase`).
pub const ENV_OLD_KEY_PASSPHRASE: &str = "HESO_OLD_KEY_PASSPHRASE";
/// `production` here refuses the dev passphrase file.
pub const ENV_HESO_ENV: &str = "HESO_ENV";
/// An approver key's passphrase (`heso approve`, `heso reject`, `heso keys new-approver`).
pub const ENV_APPROVER_PASSPHRASE: &str = "HESO_APPROVER_PASSPHRASE";

/// A variable heso reads is set to a value it cannot use. The value is never shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvError {
    /// The variable holds bytes that are not UTF-8. It is refused rather than read as
    /// unset, so no other passphrase source is tried behind the caller's back.
    #[error(
        "{name} is set but is not valid UTF-8 (its value is not shown); set it to UTF-8 \
         text, or unset it"
    )]
    NotUnicode {
        /// The variable.
        name: String,
    },
}

/// The variable `name` as text: `None` when unset, [`EnvError::NotUnicode`] when it holds
/// bytes that are not UTF-8 (those bytes are wiped, never returned or shown).
fn env_text(name: &str) -> Result<Option<String>, EnvError> {
    match std::env::var_os(name).map(OsString::into_string) {
        None => Ok(None),
        Some(Ok(text)) => Ok(Some(text)),
        Some(Err(raw)) => {
            wipe(raw);
            Err(EnvError::NotUnicode {
                name: name.to_owned(),
            })
        }
    }
}

#[cfg(unix)]
fn wipe(raw: OsString) {
    use std::os::unix::ffi::OsStringExt as _;
    drop(Zeroizing::new(raw.into_vec()));
}

#[cfg(not(unix))]
fn wipe(raw: OsString) {
    drop(raw);
}

/// A secret from the environment variable `name` (e.g. [`ENV_APPROVER_PASSPHRASE`]):
/// `None` when it is unset or empty; [`EnvError::NotUnicode`] when it is set to bytes that
/// are not UTF-8.
pub fn secret_from_env(name: &str) -> Result<Option<SecretString>, EnvError> {
    Ok(env_text(name)?
        .filter(|text| !text.is_empty())
        .map(SecretString::from))
}

/// A dev passphrase file shorter than this (256 bits as hex is 64) is not one of ours.
const MIN_DEV_CHARS: usize = 64;

/// The fewest characters (Unicode scalar values, not bytes) a person's passphrase may have
/// where the dev file is refused: under `HESO_ENV=production` or the project's
/// `[identity] require_passphrase = true`.
pub const MIN_PASSPHRASE_CHARS: usize = 12;

/// Where the operator's passphrase may come from, gathered once so the rules can be
/// tested without touching the process environment.
#[derive(Debug, Default)]
pub struct PassphraseSources {
    /// `HESO_KEY_PASSPHRASE`, when set (an empty value counts as unset).
    pub key_passphrase: Option<SecretString>,
    /// `HESO_ENV=production`: the dev file is refused.
    pub production: bool,
    /// The project was initialised with `--require-passphrase`
    /// (`[identity] require_passphrase = true`): the dev file is refused.
    pub require_passphrase: bool,
}

impl PassphraseSources {
    /// Reads `HESO_KEY_PASSPHRASE` and `HESO_ENV` (production when it is `production`, any
    /// case); `require_passphrase` comes from the project's `heso.toml`. Either variable
    /// set to bytes that are not UTF-8 is an [`EnvError`], never read as unset.
    pub fn from_env(require_passphrase: bool) -> Result<Self, EnvError> {
        let key_passphrase = secret_from_env(ENV_KEY_PASSPHRASE)?;
        let production =
            env_text(ENV_HESO_ENV)?.is_some_and(|v| v.trim().eq_ignore_ascii_case("production"));
        Ok(Self {
            key_passphrase,
            production,
            require_passphrase,
        })
    }

    /// What makes `passphrase` too short to use here: the rule that requires a person's
    /// passphrase (production or the project's setting) when it has fewer than
    /// [`MIN_PASSPHRASE_CHARS`] characters; `None` when it is long enough or no rule applies.
    /// For callers that set a new passphrase (`heso keys passphrase`).
    pub fn too_short(&self, passphrase: &SecretString) -> Option<RefusalReason> {
        let reason = self.refusal()?;
        (passphrase.expose_secret().chars().count() < MIN_PASSPHRASE_CHARS).then_some(reason)
    }

    pub(crate) fn refusal(&self) -> Option<RefusalReason> {
        if self.production {
            Some(RefusalReason::Production)
        } else if self.require_passphrase {
            Some(RefusalReason::RequirePassphrase)
        } else {
            None
        }
    }
}

/// Which passphrase was tried, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassphraseSource {
    /// `HESO_KEY_PASSPHRASE`.
    EnvVar,
    /// `HESO_OLD_KEY_PASSPHRASE`.
    OldEnvVar,
    /// The dev passphrase file at this path.
    DevFile(PathBuf),
    /// A passphrase the caller gave (typed at a prompt).
    Given,
}

impl fmt::Display for PassphraseSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PassphraseSource::EnvVar => write!(f, "{ENV_KEY_PASSPHRASE}"),
            PassphraseSource::OldEnvVar => write!(f, "{ENV_OLD_KEY_PASSPHRASE}"),
            PassphraseSource::DevFile(path) => {
                write!(f, "the dev passphrase file {}", path.display())
            }
            PassphraseSource::Given => f.write_str("the passphrase given"),
        }
    }
}

/// A newly created operator key.
#[derive(Debug)]
pub struct Created {
    /// The unlocked key, ready to sign (no second unlock needed).
    pub key: UnlockedKey,
    /// The encrypted key file.
    pub key_path: PathBuf,
    /// The public key file (`identity.pub`); `None` for approver keys.
    pub public_path: Option<PathBuf>,
    /// The dev passphrase file, when one was written.
    pub dev_passphrase_path: Option<PathBuf>,
}

/// True when the data directory already holds an operator key file (a symbolic link there
/// counts, even a dangling one: it is refused when used, never replaced by a new key).
pub fn operator_key_exists(data_dir: &Path) -> bool {
    std::fs::symlink_metadata(data_dir.join(KEY_FILE)).is_ok()
}

/// Creates the operator key in `data_dir` (created 0700 when missing).
///
/// Under `HESO_KEY_PASSPHRASE` when set (then no dev file is written); otherwise under a
/// fresh 256-bit dev passphrase written to `DEV-ONLY.passphrase` (0600), unless production
/// or `require_passphrase` forbid it; there a passphrase shorter than
/// [`MIN_PASSPHRASE_CHARS`] is refused. An existing key is never replaced:
/// [`CreateError::Exists`]. A data directory that is a symbolic link is refused.
pub fn create_operator(
    data_dir: &Path,
    sources: &PassphraseSources,
) -> Result<Created, CreateError> {
    let key_path = data_dir.join(KEY_FILE);
    if operator_key_exists(data_dir) {
        return Err(CreateError::Exists { path: key_path });
    }
    let (passphrase, protection) = match &sources.key_passphrase {
        Some(p) if p.expose_secret().is_empty() => return Err(CreateError::EmptyPassphrase),
        Some(p) => match sources.too_short(p) {
            Some(reason) => return Err(CreateError::PassphraseTooShort { reason }),
            None => (p.clone(), Protection::Passphrase),
        },
        None => match sources.refusal() {
            Some(reason) => return Err(CreateError::PassphraseRequired { reason }),
            None => (generate_dev_passphrase()?, Protection::DevPassphrase),
        },
    };
    let io_err = |action: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| CreateError::Io {
            action,
            path,
            source,
        }
    };
    create_private_dir(data_dir).map_err(io_err("create the directory", data_dir))?;

    let signing = generate_signing_key()?;

    // The dev passphrase goes to disk before the key it opens. It is written only if
    // absent: a dev file left without its key (an interrupted init), or written by a
    // concurrent init, is reused, so the key that wins the race below always opens.
    let dev_path = data_dir.join(DEV_PASSPHRASE_FILE);
    let mut passphrase = passphrase;
    let dev_passphrase_path = if protection == Protection::DevPassphrase {
        let line = Zeroizing::new(format!("{}\n", passphrase.expose_secret()));
        match write_atomic(&dev_path, line.as_bytes(), SECRET_FILE_MODE, Existing::Keep) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                match read_dev_passphrase(&dev_path) {
                    Ok(Some(existing)) if existing.expose_secret().len() >= MIN_DEV_CHARS => {
                        passphrase = existing;
                    }
                    // Too short to be ours, or unreadable: replace it.
                    _ => write_atomic(
                        &dev_path,
                        line.as_bytes(),
                        SECRET_FILE_MODE,
                        Existing::Replace,
                    )
                    .map_err(io_err("write the dev passphrase file", &dev_path))?,
                }
            }
            Err(e) => return Err(io_err("write the dev passphrase file", &dev_path)(e)),
        }
        Some(dev_path)
    } else {
        None
    };
    let text = seal(
        &signing,
        Role::Operator,
        "operator",
        &passphrase,
        protection,
    )
    .map_err(CreateError::Encrypt)?;
    match write_atomic(&key_path, text.as_bytes(), SECRET_FILE_MODE, Existing::Keep) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            // Another process created it meanwhile: theirs stands.
            return Err(CreateError::Exists { path: key_path });
        }
        Err(e) => return Err(io_err("write the key file", &key_path)(e)),
    }
    let public_path = data_dir.join(PUBLIC_FILE);
    let did = public_key_to_did_key(&signing.verifying_key());
    write_atomic(
        &public_path,
        format!("{did}\n").as_bytes(),
        PUBLIC_FILE_MODE,
        Existing::Replace,
    )
    .map_err(io_err("write the public key file", &public_path))?;

    Ok(Created {
        key: UnlockedKey::new(signing, Role::Operator, "operator".into(), key_path.clone()),
        key_path,
        public_path: Some(public_path),
        dev_passphrase_path,
    })
}

/// Unlocks the operator key in `data_dir`, with the passphrase the rules pick:
/// `HESO_KEY_PASSPHRASE`, else the dev file unless production or `require_passphrase`
/// (which also refuse a `HESO_KEY_PASSPHRASE` shorter than [`MIN_PASSPHRASE_CHARS`]).
/// No symbolic link is followed: not the data directory, the key file or the dev file.
pub fn unlock_operator(
    data_dir: &Path,
    sources: &PassphraseSources,
) -> Result<UnlockedKey, UnlockError> {
    refuse_symlink(data_dir).map_err(|source| UnlockError::DataDir {
        path: data_dir.to_owned(),
        source,
    })?;
    let key_path = data_dir.join(KEY_FILE);
    let file = load_for_unlock(&key_path, Links::Refuse)?;
    let (passphrase, source) = match &sources.key_passphrase {
        Some(p) => {
            if let Some(reason) = sources.too_short(p) {
                return Err(UnlockError::PassphraseTooShort { key_path, reason });
            }
            (p.clone(), PassphraseSource::EnvVar)
        }
        None => {
            if let Some(reason) = sources.refusal() {
                return Err(UnlockError::DevFileRefused { key_path, reason });
            }
            let dev_path = data_dir.join(DEV_PASSPHRASE_FILE);
            match read_dev_passphrase(&dev_path)? {
                Some(p) => (p, PassphraseSource::DevFile(dev_path)),
                None => {
                    return Err(UnlockError::NoPassphrase { key_path, dev_path });
                }
            }
        }
    };
    open_as(&file, &key_path, &passphrase, source, Role::Operator)
}

/// The operator's public key, from `identity.pub` (or the key file's clear header when
/// `identity.pub` is missing). Needs no passphrase. No symbolic link is followed.
///
/// Inside a project, the key to trust is the one `heso.toml` pins (`[identity] operator`);
/// this file is a convenience copy that heso-engine checks against it.
pub fn read_operator_public(data_dir: &Path) -> Result<VerifyingKey, ReadPublicError> {
    refuse_symlink(data_dir).map_err(|source| ReadPublicError::Read {
        path: data_dir.to_owned(),
        source,
    })?;
    let public_path = data_dir.join(PUBLIC_FILE);
    match read_no_follow(&public_path) {
        Ok(bytes) => public_key_from_str(String::from_utf8_lossy(&bytes).trim()).map_err(|e| {
            ReadPublicError::Malformed {
                path: public_path,
                detail: format!("expected one did:key line: {e}"),
            }
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let (_, _, key) = read_operator_key_header(data_dir)?;
            Ok(key)
        }
        Err(source) => Err(ReadPublicError::Read {
            path: public_path,
            source,
        }),
    }
}

/// The public key in the clear header of the operator's key file (`identity.key`), read
/// without a passphrase and without following a symbolic link; with its role and name.
pub fn read_operator_key_header(
    data_dir: &Path,
) -> Result<(Role, String, VerifyingKey), ReadPublicError> {
    read_header(&data_dir.join(KEY_FILE), Links::Refuse)
}

/// The current passphrase, for [`reencrypt_operator`] (the normal resolution order does not
/// apply there: the caller says which one).
#[derive(Debug)]
pub enum OldPassphrase {
    /// The dev passphrase file in the data directory.
    DevFile,
    /// `HESO_OLD_KEY_PASSPHRASE`.
    OldEnvVar(SecretString),
    /// A passphrase the caller gave (typed at a prompt).
    Given(SecretString),
}

impl OldPassphrase {
    /// `HESO_OLD_KEY_PASSPHRASE` when set and non-empty; an [`EnvError`] when it is set to
    /// bytes that are not UTF-8.
    pub fn from_env() -> Result<Option<Self>, EnvError> {
        Ok(secret_from_env(ENV_OLD_KEY_PASSPHRASE)?.map(Self::OldEnvVar))
    }
}

/// The outcome of [`reencrypt_operator`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reencrypted {
    /// The (unchanged) public key.
    pub public_key: VerifyingKey,
    /// Whether a dev passphrase file was removed.
    pub dev_file_removed: bool,
}

/// Re-encrypts the operator key under `new` (`heso keys passphrase`, dev to production):
/// opens it with `old`, writes the new file atomically (the old one stays until the
/// rename), then removes the dev passphrase file.
pub fn reencrypt_operator(
    data_dir: &Path,
    old: OldPassphrase,
    new: &SecretString,
) -> Result<Reencrypted, ReencryptError> {
    if new.expose_secret().is_empty() {
        return Err(ReencryptError::EmptyPassphrase);
    }
    refuse_symlink(data_dir).map_err(|source| UnlockError::DataDir {
        path: data_dir.to_owned(),
        source,
    })?;
    let key_path = data_dir.join(KEY_FILE);
    let dev_path = data_dir.join(DEV_PASSPHRASE_FILE);
    let file = load_for_unlock(&key_path, Links::Refuse)?;
    let (passphrase, source) = match old {
        OldPassphrase::DevFile => match read_dev_passphrase(&dev_path)? {
            Some(p) => (p, PassphraseSource::DevFile(dev_path.clone())),
            None => return Err(ReencryptError::NoDevFile { path: dev_path }),
        },
        OldPassphrase::OldEnvVar(p) => (p, PassphraseSource::OldEnvVar),
        OldPassphrase::Given(p) => (p, PassphraseSource::Given),
    };
    let key = open_as(&file, &key_path, &passphrase, source, Role::Operator)?;
    let text = seal(
        key.signing_key(),
        Role::Operator,
        key.name(),
        new,
        Protection::Passphrase,
    )
    .map_err(ReencryptError::Encrypt)?;
    write_atomic(
        &key_path,
        text.as_bytes(),
        SECRET_FILE_MODE,
        Existing::Replace,
    )
    .map_err(|source| ReencryptError::Io {
        action: "write the re-encrypted key file",
        path: key_path.clone(),
        source,
    })?;
    let dev_file_removed = remove_durably(&dev_path).map_err(|source| ReencryptError::Io {
        action: "remove the dev passphrase file",
        path: dev_path.clone(),
        source,
    })?;
    Ok(Reencrypted {
        public_key: key.public_key(),
        dev_file_removed,
    })
}

pub(crate) fn load_for_unlock(key_path: &Path, links: Links) -> Result<KeyFile, UnlockError> {
    load(key_path, links).map_err(|failure| match failure {
        LoadFailure::Missing => UnlockError::NoKey {
            path: key_path.to_owned(),
        },
        LoadFailure::Io(source) => UnlockError::Read {
            path: key_path.to_owned(),
            source,
        },
        LoadFailure::Malformed(detail) => UnlockError::Malformed {
            path: key_path.to_owned(),
            detail,
        },
    })
}

pub(crate) fn open_as(
    file: &KeyFile,
    key_path: &Path,
    passphrase: &SecretString,
    source: PassphraseSource,
    role: Role,
) -> Result<UnlockedKey, UnlockError> {
    if file.role != role {
        return Err(UnlockError::RoleMismatch {
            path: key_path.to_owned(),
            expected: role,
            found: file.role,
        });
    }
    let signing = file.open(passphrase).map_err(|failure| match failure {
        OpenFailure::WrongPassphrase => UnlockError::WrongPassphrase {
            path: key_path.to_owned(),
            tried: source,
        },
        OpenFailure::Damaged(detail) => UnlockError::Damaged {
            path: key_path.to_owned(),
            detail,
        },
    })?;
    Ok(UnlockedKey::new(
        signing,
        file.role,
        file.name.clone(),
        key_path.to_owned(),
    ))
}

/// The dev passphrase, or `None` when the file is absent. A symbolic link is refused.
fn read_dev_passphrase(path: &Path) -> Result<Option<SecretString>, UnlockError> {
    match read_no_follow(path) {
        Ok(bytes) => {
            let bytes = Zeroizing::new(bytes);
            let text = String::from_utf8_lossy(&bytes);
            Ok(Some(SecretString::from(text.trim().to_owned())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(UnlockError::DevFileUnreadable {
            path: path.to_owned(),
            source,
        }),
    }
}

/// 256 random bits as 64 lowercase hex digits.
pub(crate) fn generate_dev_passphrase() -> Result<SecretString, CreateError> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut_slice()).map_err(|e| CreateError::Random(e.to_string()))?;
    let mut text = String::with_capacity(64);
    for byte in bytes.iter() {
        text.push_str(&format!("{byte:02x}"));
    }
    Ok(SecretString::from(text))
}

pub(crate) fn generate_signing_key() -> Result<SigningKey, CreateError> {
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut_slice()).map_err(|e| CreateError::Random(e.to_string()))?;
    Ok(SigningKey::from_bytes(&seed))
}
