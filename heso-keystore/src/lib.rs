//! heso identities: operator and approver Ed25519 keys, encrypted at rest with `age`.
//!
//! A key file (`identity.key` for the operator, `NAME.key` for an approver) is a small
//! self-describing text file: a header in the clear (format, role, name, did:key) and the
//! 32-byte Ed25519 seed encrypted with an age scrypt (passphrase) recipient, ASCII-armored.
//! The operator's public key is also written beside it as `identity.pub`, so reading the
//! identity never needs the passphrase. Files are written atomically (temp file, fsync,
//! rename or link, fsync of the directory) with mode 0600; a missing directory is created
//! 0700 and an existing one is never changed.
//!
//! Operator passphrase resolution, in order: `HESO_KEY_PASSPHRASE`; else the dev file
//! `DEV-ONLY.passphrase`, unless `HESO_ENV=production` or the project requires a
//! passphrase, which refuse it. See [`PassphraseSources`]. A variable set to bytes that are
//! not UTF-8 is an [`EnvError`], never read as unset. Where the dev file is refused, a
//! person's passphrase has at least [`MIN_PASSPHRASE_CHARS`] characters.
//!
//! No symbolic link is followed to the operator's files: a data directory, `identity.key`,
//! `identity.pub` or `DEV-ONLY.passphrase` that is a link is an error naming it. An
//! approver's key file is wherever its owner says, so a link there is followed.
//!
//! Rotation (`heso keys rotate`): a new operator key is staged as `identity.key.new`
//! ([`stage_operator_key`], same passphrase rules as a new key) and put in place with its
//! `identity.pub` only once the project pins it ([`install_staged_operator`], idempotent, so
//! an interrupted rotation is finished by running it again).
//!
//! KDF cost: a human passphrase is stretched with scrypt at N = 2^[`HUMAN_WORK_FACTOR`]
//! (age's usual cost, around a second). The dev passphrase is 256 random bits: no amount of
//! stretching makes guessing it easier or harder, so it uses N = 2^[`DEV_WORK_FACTOR`] and
//! unlocking costs milliseconds, which every `heso.init()` pays.
//!
//! Secret types ([`UnlockedKey`], [`DerivedKey`], and `SecretString` passphrases) print
//! nothing secret in `Debug`, and are zeroized on drop.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod approver;
mod keyfile;
mod operator;
mod rotation;
mod unlocked;

pub use approver::{create_approver, default_approver_path, load_approver};
pub use keyfile::{
    DEV_WORK_FACTOR, HUMAN_WORK_FACTOR, KEY_FORMAT, MAX_WORK_FACTOR, read_key_file_public,
};
pub use operator::{
    Created, DEV_PASSPHRASE_FILE, ENV_APPROVER_PASSPHRASE, ENV_HESO_ENV, ENV_KEY_PASSPHRASE,
    ENV_OLD_KEY_PASSPHRASE, EnvError, KEY_FILE, MIN_PASSPHRASE_CHARS, OldPassphrase, PUBLIC_FILE,
    PassphraseSource, PassphraseSources, Reencrypted, create_operator, operator_key_exists,
    read_operator_key_header, read_operator_public, reencrypt_operator, secret_from_env,
    unlock_operator,
};
pub use rotation::{
    InstallError, STAGED_KEY_FILE, install_staged_operator, read_staged_operator,
    stage_operator_key,
};
pub use unlocked::{
    CreateError, DerivedKey, ReadPublicError, ReencryptError, RefusalReason, Role, UnlockError,
    UnlockedKey,
};

/// Passphrases cross this API as `secrecy::SecretString` (re-exported deliberately, with
/// `ExposeSecret` to read one), so they print nothing and are zeroized on drop.
pub use secrecy::{ExposeSecret, SecretString};
