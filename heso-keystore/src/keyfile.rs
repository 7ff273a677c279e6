//! The key file: a clear header and the age-encrypted seed.
//!
//! ```text
//! heso-key/v1
//! role: operator
//! name: operator
//! public-key: did:key:z6Mk...
//! protection: dev-passphrase
//! -----BEGIN AGE ENCRYPTED FILE-----
//! ...
//! -----END AGE ENCRYPTED FILE-----
//! ```

use std::fs;
use std::io;
use std::path::Path;

use age::secrecy::SecretString;
use heso_receipt::{SigningKey, VerifyingKey, public_key_from_did_key, public_key_to_did_key};
use zeroize::Zeroizing;

use crate::unlocked::{ReadPublicError, Role};

/// First line of every key file.
pub const KEY_FORMAT: &str = "heso-key/v1";
/// scrypt work factor (log2 N) for a human passphrase: age's usual cost, about a second.
pub const HUMAN_WORK_FACTOR: u8 = 18;
/// scrypt work factor (log2 N) for the random 256-bit dev passphrase: stretching a 256-bit
/// random secret adds no security, so this keeps unlocking to milliseconds.
pub const DEV_WORK_FACTOR: u8 = 10;
/// The largest work factor a key file may ask for (bounds the memory and time a damaged
/// or hostile file can make us spend: 2^20 is 1 GiB of scrypt memory).
pub const MAX_WORK_FACTOR: u8 = 20;

const ARMOR_BEGIN: &str = "-----BEGIN AGE ENCRYPTED FILE-----";

/// How the seed is protected, recorded in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protection {
    /// Under the generated dev passphrase (cheap KDF).
    DevPassphrase,
    /// Under a person's passphrase (costly KDF).
    Passphrase,
}

impl Protection {
    fn as_str(self) -> &'static str {
        match self {
            Protection::DevPassphrase => "dev-passphrase",
            Protection::Passphrase => "passphrase",
        }
    }

    fn work_factor(self) -> u8 {
        match self {
            Protection::DevPassphrase => DEV_WORK_FACTOR,
            Protection::Passphrase => HUMAN_WORK_FACTOR,
        }
    }
}

/// A parsed key file, seed still encrypted.
pub(crate) struct KeyFile {
    pub(crate) role: Role,
    pub(crate) name: String,
    pub(crate) public: VerifyingKey,
    armored: String,
}

/// Why a key file could not be opened with a passphrase (internal; mapped per operation).
pub(crate) enum OpenFailure {
    /// The passphrase does not open it.
    WrongPassphrase,
    /// The file is damaged, truncated, or not what it claims.
    Damaged(String),
}

/// Encrypts `seed` into the text of a key file.
pub(crate) fn seal(
    signing: &SigningKey,
    role: Role,
    name: &str,
    passphrase: &SecretString,
    protection: Protection,
) -> Result<String, String> {
    let mut recipient = age::scrypt::Recipient::new(passphrase.clone());
    recipient.set_work_factor(protection.work_factor());
    let seed = Zeroizing::new(signing.to_bytes());
    let armored = age::encrypt_and_armor(&recipient, seed.as_slice()).map_err(|e| e.to_string())?;
    Ok(format!(
        "{KEY_FORMAT}\nrole: {}\nname: {name}\npublic-key: {}\nprotection: {}\n{armored}",
        role.as_str(),
        public_key_to_did_key(&signing.verifying_key()),
        protection.as_str(),
    ))
}

impl KeyFile {
    /// Parses the clear header; the seed stays encrypted.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut lines = text.lines();
        match lines.next() {
            Some(first) if first.trim_end() == KEY_FORMAT => {}
            Some(first) => {
                return Err(format!(
                    "not a heso key file: the first line is {:?}, expected {KEY_FORMAT:?}",
                    first.chars().take(40).collect::<String>()
                ));
            }
            None => return Err("the file is empty".into()),
        }
        let (mut role, mut name, mut public) = (None, None, None);
        let mut armor_at = None;
        let mut offset = text.find('\n').map_or(text.len(), |n| n + 1);
        for line in lines {
            if line.trim_end() == ARMOR_BEGIN {
                armor_at = Some(offset);
                break;
            }
            offset += line.len() + 1;
            let Some((key, value)) = line.split_once(": ") else {
                return Err(format!("header line {line:?} is not 'key: value'"));
            };
            match key {
                "role" => role = Some(Role::parse(value)?),
                "name" => name = Some(value.to_owned()),
                "public-key" => {
                    public = Some(public_key_from_did_key(value).map_err(|e| {
                        format!("header public-key {value:?} is not an Ed25519 did:key: {e}")
                    })?);
                }
                "protection" => {}
                other => return Err(format!("unknown header key {other:?}")),
            }
        }
        let armored = armor_at
            .and_then(|at| text.get(at..))
            .ok_or("the encrypted seed is missing (no age armor block): the file is truncated")?;
        Ok(Self {
            role: role.ok_or("header has no 'role'")?,
            name: name.ok_or("header has no 'name'")?,
            public: public.ok_or("header has no 'public-key'")?,
            armored: armored.to_owned(),
        })
    }

    /// Decrypts the seed and checks it against the header's public key.
    pub(crate) fn open(&self, passphrase: &SecretString) -> Result<SigningKey, OpenFailure> {
        let mut identity = age::scrypt::Identity::new(passphrase.clone());
        identity.set_max_work_factor(MAX_WORK_FACTOR);
        let plain = age::decrypt(&identity, self.armored.as_bytes()).map_err(|e| match e {
            age::DecryptError::DecryptionFailed
            | age::DecryptError::NoMatchingKeys
            | age::DecryptError::KeyDecryptionFailed => OpenFailure::WrongPassphrase,
            age::DecryptError::ExcessiveWork { required, .. } => OpenFailure::Damaged(format!(
                "the file asks for scrypt work factor {required}, above the limit of \
                 {MAX_WORK_FACTOR}"
            )),
            other => OpenFailure::Damaged(format!(
                "the encrypted seed is damaged or truncated ({other})"
            )),
        })?;
        let plain = Zeroizing::new(plain);
        let seed: Zeroizing<[u8; 32]> =
            Zeroizing::new(plain.as_slice().try_into().map_err(|_| {
                OpenFailure::Damaged(format!(
                    "the decrypted seed is {} bytes, expected 32",
                    plain.len()
                ))
            })?);
        let signing = SigningKey::from_bytes(&seed);
        if signing.verifying_key() != self.public {
            return Err(OpenFailure::Damaged(
                "the header's public-key does not match the encrypted seed (edited file?)".into(),
            ));
        }
        Ok(signing)
    }
}

/// Reads a key file's header: its role, name and public key, without any passphrase. A
/// symbolic link at `path` is followed (the path is the caller's choice); the operator's
/// own files are read through [`crate::read_operator_public`], which follows none.
pub fn read_key_file_public(path: &Path) -> Result<(Role, String, VerifyingKey), ReadPublicError> {
    read_header(path, Links::Follow)
}

/// [`read_key_file_public`], following a link at `path` or not.
pub(crate) fn read_header(
    path: &Path,
    links: Links,
) -> Result<(Role, String, VerifyingKey), ReadPublicError> {
    let file = load(path, links).map_err(|failure| match failure {
        LoadFailure::Missing => ReadPublicError::NoKey {
            path: path.to_owned(),
        },
        LoadFailure::Io(source) => ReadPublicError::Read {
            path: path.to_owned(),
            source,
        },
        LoadFailure::Malformed(detail) => ReadPublicError::Malformed {
            path: path.to_owned(),
            detail,
        },
    })?;
    Ok((file.role, file.name, file.public))
}

/// Why a key file could not be loaded.
pub(crate) enum LoadFailure {
    /// There is no file there.
    Missing,
    /// It could not be read.
    Io(io::Error),
    /// It is not a well-formed key file.
    Malformed(String),
}

/// Whether a key file may be reached through a symbolic link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Links {
    /// The operator's files in the data directory: a link there is refused, never followed.
    Refuse,
    /// A path a person gave (an approver's key file): followed like any path they type.
    Follow,
}

/// Reads and parses a key file (the seed stays encrypted).
pub(crate) fn load(path: &Path, links: Links) -> Result<KeyFile, LoadFailure> {
    let read = match links {
        Links::Refuse => heso_fs::read_no_follow(path),
        Links::Follow => fs::read(path),
    };
    let bytes = read.map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => LoadFailure::Missing,
        _ => LoadFailure::Io(e),
    })?;
    let text = String::from_utf8(bytes).map_err(|_| {
        LoadFailure::Malformed("not UTF-8 text (a heso key file is plain ASCII)".into())
    })?;
    KeyFile::parse(&text).map_err(LoadFailure::Malformed)
}
