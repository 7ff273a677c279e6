//! Unlocked keys, derived keys, roles, and the error of each operation.

use std::fmt;
use std::io;
use std::path::PathBuf;

use heso_receipt::{SigningKey, VerifyingKey, public_key_to_base64, public_key_to_did_key};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::operator::PassphraseSource;

/// What a key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The project's operator: signs every receipt.
    Operator,
    /// A person who approves or rejects actions (L1).
    Approver,
}

impl Role {
    /// `operator` or `approver`, as written in the key file.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Approver => "approver",
        }
    }

    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        match text {
            "operator" => Ok(Role::Operator),
            "approver" => Ok(Role::Approver),
            other => Err(format!(
                "header role {other:?} is neither 'operator' nor 'approver'"
            )),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An identity whose seed has been decrypted. The seed lives inside the `SigningKey`
/// (zeroized on drop); `Debug` shows only the role, name and public key.
pub struct UnlockedKey {
    signing: SigningKey,
    role: Role,
    name: String,
    path: PathBuf,
}

impl UnlockedKey {
    pub(crate) fn new(signing: SigningKey, role: Role, name: String, path: PathBuf) -> Self {
        Self {
            signing,
            role,
            name,
            path,
        }
    }

    /// The signing key, for `heso_receipt::sign_receipt`.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// The public key.
    pub fn public_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// The public key as `did:key:z6Mk…`.
    pub fn did_key(&self) -> String {
        public_key_to_did_key(&self.public_key())
    }

    /// The public key as padded standard base64 (the receipt's `agent_identity`).
    pub fn public_key_base64(&self) -> String {
        public_key_to_base64(&self.public_key())
    }

    /// Operator or approver.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The identity's name (`operator`, or the approver's name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key file this was unlocked from.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// A 32-byte key for one purpose, derived from the seed with BLAKE3 `derive_key`.
    ///
    /// `context` must be a hard-coded, globally unique string naming the purpose, e.g.
    /// `"heso 2026 salts.jsonl record key v1"`. Distinct contexts give independent keys, so
    /// other parts can encrypt local secrets without ever holding the seed.
    pub fn derive_key(&self, context: &str) -> DerivedKey {
        let seed = zeroize::Zeroizing::new(self.signing.to_bytes());
        DerivedKey(blake3::derive_key(context, seed.as_slice()))
    }
}

impl fmt::Debug for UnlockedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnlockedKey")
            .field("role", &self.role)
            .field("name", &self.name)
            .field("public_key", &self.did_key())
            .field("seed", &"[redacted]")
            .finish()
    }
}

/// A secret 32-byte key derived from a seed: `Debug` prints nothing of it, the bytes are
/// reached only through [`DerivedKey::expose_secret`], and they are zeroized on drop.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct DerivedKey([u8; 32]);

impl DerivedKey {
    /// The key bytes.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for DerivedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DerivedKey([redacted])")
    }
}

/// Why a key could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CreateError {
    /// A key file is already there; it is never replaced.
    #[error(
        "a key already exists at {}; it was kept, never replaced (use it, or move it away \
         first to create a new one)",
        path.display()
    )]
    Exists {
        /// The existing key file.
        path: PathBuf,
    },
    /// No passphrase may be used for a new operator key.
    #[error(
        "no passphrase for the new operator key: {reason} forbids the dev passphrase file; \
         set HESO_KEY_PASSPHRASE"
    )]
    PassphraseRequired {
        /// What forbids the dev file.
        reason: RefusalReason,
    },
    /// The passphrase given is empty.
    #[error("the passphrase is empty; choose a non-empty passphrase")]
    EmptyPassphrase,
    /// `HESO_KEY_PASSPHRASE` is shorter than `MIN_PASSPHRASE_CHARS` where a person's
    /// passphrase is required. The passphrase is never shown.
    #[error(
        "HESO_KEY_PASSPHRASE is too short: {reason} requires a passphrase of at least \
         {min} characters (its value is not shown); choose a longer one (nothing was written)",
        min = crate::operator::MIN_PASSPHRASE_CHARS
    )]
    PassphraseTooShort {
        /// The rule that requires a person's passphrase.
        reason: RefusalReason,
    },
    /// An approver name that cannot be a file name.
    #[error("approver name {name:?} is not allowed: use 1-64 letters, digits, '-' or '_'")]
    BadName {
        /// The name given.
        name: String,
    },
    /// A file or directory could not be written.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The OS random source failed.
    #[error("cannot read random bytes from the operating system: {0}; no key was written")]
    Random(String),
    /// age could not encrypt.
    #[error("cannot encrypt the seed: {0}; no key was written")]
    Encrypt(String),
}

/// What refused the dev passphrase file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalReason {
    /// `HESO_ENV=production`.
    Production,
    /// The project requires a passphrase (`[identity] require_passphrase = true`).
    RequirePassphrase,
}

impl fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RefusalReason::Production => "HESO_ENV=production",
            RefusalReason::RequirePassphrase => {
                "the project's `[identity] require_passphrase = true` (heso init --require-passphrase)"
            }
        })
    }
}

/// Why a key could not be unlocked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnlockError {
    /// No key file.
    #[error("no key file at {}; run `heso init` to create the operator key", path.display())]
    NoKey {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The key file could not be read.
    #[error("cannot read the key file {}: {source}", path.display())]
    Read {
        /// The key file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The key file is not a well-formed heso key file.
    #[error("{} is not a usable heso key file: {detail}; restore it from a backup", path.display())]
    Malformed {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The dev passphrase file is refused here.
    #[error(
        "cannot unlock {}: {reason} refuses the dev passphrase file; set HESO_KEY_PASSPHRASE \
         to the key's passphrase (move a dev key to a real passphrase with `heso keys passphrase`)",
        key_path.display()
    )]
    DevFileRefused {
        /// The key file.
        key_path: PathBuf,
        /// What refused it.
        reason: RefusalReason,
    },
    /// No passphrase source is available.
    #[error(
        "cannot unlock {}: HESO_KEY_PASSPHRASE is not set and there is no dev passphrase \
         file at {}; set HESO_KEY_PASSPHRASE",
        key_path.display(),
        dev_path.display()
    )]
    NoPassphrase {
        /// The key file.
        key_path: PathBuf,
        /// Where the dev file was looked for.
        dev_path: PathBuf,
    },
    /// The data directory cannot be used (it is a symbolic link, or cannot be examined).
    #[error("cannot use the data folder {}: {source}", path.display())]
    DataDir {
        /// The data directory.
        path: PathBuf,
        /// The OS error, or the refusal to follow a link.
        source: io::Error,
    },
    /// `HESO_KEY_PASSPHRASE` is shorter than `MIN_PASSPHRASE_CHARS` where a person's
    /// passphrase is required. The passphrase is never shown.
    #[error(
        "HESO_KEY_PASSPHRASE is too short to unlock {}: {reason} requires a passphrase of at \
         least {min} characters (its value is not shown); re-encrypt the key under a longer \
         one with `heso keys passphrase` (current passphrase in HESO_OLD_KEY_PASSPHRASE)",
        key_path.display(),
        min = crate::operator::MIN_PASSPHRASE_CHARS
    )]
    PassphraseTooShort {
        /// The key file.
        key_path: PathBuf,
        /// The rule that requires a person's passphrase.
        reason: RefusalReason,
    },
    /// The dev passphrase file exists but could not be read.
    #[error("cannot read the dev passphrase file {}: {source}", path.display())]
    DevFileUnreadable {
        /// The dev file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The passphrase does not open the key.
    #[error(
        "the passphrase from {tried} does not open {}; check it (nothing was changed)",
        path.display()
    )]
    WrongPassphrase {
        /// The key file.
        path: PathBuf,
        /// Which passphrase was tried.
        tried: PassphraseSource,
    },
    /// The passphrase was accepted but the content is damaged or inconsistent.
    #[error("{} is damaged: {detail}; restore it from a backup", path.display())]
    Damaged {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The file holds a key of the other role.
    #[error("{} holds an {found} key, expected an {expected} key", path.display())]
    RoleMismatch {
        /// The key file.
        path: PathBuf,
        /// The role asked for.
        expected: Role,
        /// The role in the file.
        found: Role,
    },
}

/// Why a public key could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadPublicError {
    /// Neither `identity.pub` nor the key file is there.
    #[error("no identity at {}; run `heso init` to create one", path.display())]
    NoKey {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The file does not hold a public key.
    #[error("{} does not hold a valid identity: {detail}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

/// Why a key could not be re-encrypted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReencryptError {
    /// The old key could not be opened (no file, wrong old passphrase, damaged...).
    #[error(transparent)]
    Open(#[from] UnlockError),
    /// The dev passphrase file was named as the old passphrase but is not there.
    #[error(
        "there is no dev passphrase file at {}; give the current passphrase in \
         HESO_OLD_KEY_PASSPHRASE or at the prompt",
        path.display()
    )]
    NoDevFile {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The new passphrase is empty.
    #[error("the new passphrase is empty; choose a non-empty passphrase")]
    EmptyPassphrase,
    /// A file could not be written or removed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// age could not encrypt.
    #[error("cannot encrypt the seed: {0}; the old key file is unchanged")]
    Encrypt(String),
}
