//! The origin: the first line of a checkpoint and the key name of the log's signature.

use ed25519_dalek::VerifyingKey;

use crate::note::{KeyNameError, validate_key_name};

/// What every heso origin starts with.
pub const ORIGIN_PREFIX: &str = "heso.dev/log/";

/// The longest origin: 255 bytes, the most a C2SP ML-DSA cosignature can carry, so a
/// checkpoint of any heso log can later be cosigned in that format too.
pub const MAX_ORIGIN_BYTES: usize = 255;

/// Why an origin (or one of its parts) is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OriginError {
    /// Not a valid key name: empty, or with a space, `+`, newline or other control
    /// character (the origin is also the key name of the log's signature).
    #[error("the origin {origin:?} cannot be a note key name: {source}")]
    KeyName {
        /// The origin.
        origin: String,
        /// What is wrong.
        source: KeyNameError,
    },
    /// Longer than [`MAX_ORIGIN_BYTES`].
    #[error("the origin is {len} bytes, more than the {max} an origin may have")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The operator part is not the multibase form of an Ed25519 did:key (`z6Mk…`).
    #[error(
        "the operator {found:?} is not the z6Mk… part of an Ed25519 did:key (base58btc after 'z')"
    )]
    Operator {
        /// What was given.
        found: String,
    },
    /// The log id is empty or holds characters an origin part may not (spaces, `+`, `/`,
    /// control characters, anything outside printable ASCII).
    #[error("the log id {found:?} must be printable ASCII without spaces, '+' or '/'")]
    LogId {
        /// What was given.
        found: String,
    },
    /// Not of the form `heso.dev/log/<z6Mk…>/<log id>`.
    #[error("the origin {found:?} is not heso.dev/log/<operator z6Mk…>/<log id>")]
    NotHeso {
        /// The origin.
        found: String,
    },
}

/// Checks that `origin` can be a checkpoint's origin line and a note key name: non-empty,
/// at most [`MAX_ORIGIN_BYTES`], without Unicode spaces, `+`, newlines or other control
/// characters.
pub fn validate_origin(origin: &str) -> Result<(), OriginError> {
    validate_key_name(origin).map_err(|source| OriginError::KeyName {
        origin: origin.to_owned(),
        source,
    })?;
    if origin.len() > MAX_ORIGIN_BYTES {
        return Err(OriginError::TooLong {
            len: origin.len(),
            max: MAX_ORIGIN_BYTES,
        });
    }
    Ok(())
}

const BASE58_ALPHABET: &str = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

fn check_operator(operator_multibase: &str) -> Result<(), OriginError> {
    let ok = operator_multibase.starts_with("z6Mk")
        && operator_multibase.len() <= 64
        && operator_multibase
            .get(1..)
            .is_some_and(|rest| rest.chars().all(|c| BASE58_ALPHABET.contains(c)));
    if ok {
        Ok(())
    } else {
        Err(OriginError::Operator {
            found: operator_multibase.to_owned(),
        })
    }
}

fn check_log_id(log_id: &str) -> Result<(), OriginError> {
    let ok = !log_id.is_empty()
        && log_id
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'+' && b != b'/');
    if ok {
        Ok(())
    } else {
        Err(OriginError::LogId {
            found: log_id.to_owned(),
        })
    }
}

/// The origin of a heso log: `heso.dev/log/<operator>/<log id>`, where `operator` is the
/// multibase part of the operator's did:key (`z6Mk…`) and `log_id` the log's session id.
///
/// It names the log unambiguously: two operators, or two logs of one operator, never share
/// an origin. The host part is a name, not an address; nothing is fetched from it.
pub fn origin(operator_multibase: &str, log_id: &str) -> Result<String, OriginError> {
    check_operator(operator_multibase)?;
    check_log_id(log_id)?;
    let origin = format!("{ORIGIN_PREFIX}{operator_multibase}/{log_id}");
    validate_origin(&origin)?;
    Ok(origin)
}

/// The multicodec prefix of an Ed25519 public key in a did:key (`0xed 0x01`).
const ED25519_MULTICODEC: [u8; 2] = [0xed, 0x01];

/// The multibase part of an Ed25519 key's did:key (`z6Mk…`): what an origin names the
/// operator by.
pub fn operator_multibase(key: &VerifyingKey) -> String {
    let mut bytes = Vec::with_capacity(34);
    bytes.extend_from_slice(&ED25519_MULTICODEC);
    bytes.extend_from_slice(key.as_bytes());
    format!("z{}", bs58::encode(bytes).into_string())
}

/// The parts of a heso origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HesoOrigin<'a> {
    /// The operator's did:key multibase part (`z6Mk…`): the key the log claims to be signed
    /// with. Trust it only when it is a key you expect.
    pub operator_multibase: &'a str,
    /// The log id.
    pub log_id: &'a str,
}

impl HesoOrigin<'_> {
    /// The Ed25519 key the origin names: the key its checkpoints must be signed with. A
    /// claim, like the origin itself: it is the operator's only if you expect that key.
    pub fn operator_key(&self) -> Result<VerifyingKey, OriginError> {
        let bad = || OriginError::Operator {
            found: self.operator_multibase.to_owned(),
        };
        let encoded = self.operator_multibase.strip_prefix('z').ok_or_else(bad)?;
        let bytes = bs58::decode(encoded).into_vec().map_err(|_| bad())?;
        let key = bytes
            .strip_prefix(&ED25519_MULTICODEC[..])
            .and_then(|key| <[u8; 32]>::try_from(key).ok())
            .ok_or_else(bad)?;
        VerifyingKey::from_bytes(&key).map_err(|_| bad())
    }
}

/// Splits a heso origin into its operator and log id.
pub fn parse_origin(origin: &str) -> Result<HesoOrigin<'_>, OriginError> {
    validate_origin(origin)?;
    let not_heso = || OriginError::NotHeso {
        found: origin.to_owned(),
    };
    let rest = origin.strip_prefix(ORIGIN_PREFIX).ok_or_else(not_heso)?;
    let (operator_multibase, log_id) = rest.split_once('/').ok_or_else(not_heso)?;
    check_operator(operator_multibase)?;
    check_log_id(log_id)?;
    Ok(HesoOrigin {
        operator_multibase,
        log_id,
    })
}
