//! SHA-256 hashes of the RFC 6962 tree: leaves, interior nodes, the empty tree.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The length of a hash in bytes (SHA-256).
pub const HASH_SIZE: usize = 32;

/// RFC 6962 domain separation: a leaf hash is SHA-256 of this byte, then the leaf.
const LEAF_PREFIX: u8 = 0x00;
/// RFC 6962 domain separation: a node hash is SHA-256 of this byte, then left, then right.
const NODE_PREFIX: u8 = 0x01;

/// A SHA-256 hash in the tree: a leaf hash, an interior node or a root.
///
/// Compares in constant time. Prints and serialises as 64 lowercase hex characters.
#[derive(Clone, Copy)]
pub struct Hash([u8; HASH_SIZE]);

impl Hash {
    /// Wraps 32 raw bytes.
    pub const fn from_bytes(bytes: [u8; HASH_SIZE]) -> Self {
        Self(bytes)
    }

    /// The 32 raw bytes.
    pub const fn as_bytes(&self) -> &[u8; HASH_SIZE] {
        &self.0
    }

    /// Decodes 64 lowercase hex characters.
    pub fn from_hex(text: &str) -> Result<Self, HashDecodeError> {
        decode_hex32(text).map(Self)
    }

    /// The 64 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        let mut out = String::with_capacity(2 * HASH_SIZE);
        for byte in self.0 {
            out.push(hex_digit(byte >> 4));
            out.push(hex_digit(byte & 0x0f));
        }
        out
    }
}

impl PartialEq for Hash {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for Hash {}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl FromStr for Hash {
    type Err = HashDecodeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::from_hex(text)
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

/// Why a hex hash did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HashDecodeError {
    /// Not 64 characters long.
    #[error("a hash is 64 lowercase hex characters, this one has {len}")]
    Length {
        /// The length found, in bytes.
        len: usize,
    },
    /// A character that is not `0-9` or `a-f`.
    #[error("a hash is 64 lowercase hex characters, character {position} is not one (0-9, a-f)")]
    NotLowercaseHex {
        /// 1-based position of the first bad character.
        position: usize,
    },
}

fn hex_digit(nibble: u8) -> char {
    match nibble {
        0..=9 => char::from(b'0' + nibble),
        _ => char::from(b'a' + (nibble - 10)),
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        _ => None,
    }
}

fn decode_hex32(text: &str) -> Result<[u8; HASH_SIZE], HashDecodeError> {
    let bytes = text.as_bytes();
    if bytes.len() != 2 * HASH_SIZE {
        return Err(HashDecodeError::Length { len: bytes.len() });
    }
    let mut out = [0u8; HASH_SIZE];
    for (i, (slot, pair)) in out.iter_mut().zip(bytes.chunks_exact(2)).enumerate() {
        let [high, low] = pair else {
            return Err(HashDecodeError::Length { len: bytes.len() });
        };
        let high = hex_value(*high).ok_or(HashDecodeError::NotLowercaseHex {
            position: 2 * i + 1,
        })?;
        let low = hex_value(*low).ok_or(HashDecodeError::NotLowercaseHex {
            position: 2 * i + 2,
        })?;
        *slot = (high << 4) | low;
    }
    Ok(out)
}

fn finish(hasher: Sha256) -> Hash {
    Hash(hasher.finalize().into())
}

/// The leaf hash of one receipt: SHA-256(`0x00` ‖ the 32 raw bytes of its `action_hash`).
pub fn leaf_hash(action_hash: &[u8; HASH_SIZE]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([LEAF_PREFIX]);
    hasher.update(action_hash);
    finish(hasher)
}

/// The leaf hash of a receipt given its `action_hash` as written in the receipt (64
/// lowercase hex characters).
pub fn leaf_hash_from_hex(action_hash: &str) -> Result<Hash, HashDecodeError> {
    decode_hex32(action_hash).map(|bytes| leaf_hash(&bytes))
}

/// An interior node: SHA-256(`0x01` ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([NODE_PREFIX]);
    hasher.update(left.0);
    hasher.update(right.0);
    finish(hasher)
}

/// The root of the empty tree: SHA-256 of nothing (RFC 9162, section 2.1.1).
pub fn empty_root() -> Hash {
    finish(Sha256::new())
}

/// SHA-256 of `data`, for the signed-note key IDs.
pub(crate) fn sha256(parts: &[&[u8]]) -> [u8; HASH_SIZE] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_refusals() {
        let hash = leaf_hash(&[7u8; 32]);
        assert_eq!(Hash::from_hex(&hash.to_hex()).unwrap(), hash);
        assert_eq!(
            Hash::from_hex("ab"),
            Err(HashDecodeError::Length { len: 2 })
        );
        let upper = hash.to_hex().to_uppercase();
        assert!(matches!(
            Hash::from_hex(&upper),
            Err(HashDecodeError::NotLowercaseHex { .. })
        ));
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(
            empty_root().to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
