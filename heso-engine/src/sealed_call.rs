//! The arguments of a parked call, sealed in its pending item.
//!
//! `heso.resume(ID)` may run in another process than the one that parked the call, so the
//! call's arguments (before redaction: they may hold secrets) are kept in the pending item,
//! encrypted and authenticated with ChaCha20-Poly1305 under a key derived from the operator
//! seed, like the salts. The parked receipt's action_hash is the associated data, so a
//! sealed call cannot be moved to another item. The fingerprint, a keyed BLAKE3 of the
//! arguments' canonical (JCS) bytes, is what an in-process resume compares with the
//! arguments it holds: what runs is what was approved.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

/// The context string of the sealing key (BLAKE3 `derive_key`).
pub(crate) const SEAL_KEY_CONTEXT: &str = "heso 2026-12 pending call ChaCha20-Poly1305 v1";
/// The context string of the fingerprint key (BLAKE3 `derive_key`).
pub(crate) const FINGERPRINT_KEY_CONTEXT: &str = "heso 2026-12 call fingerprint keyed BLAKE3 v1";

/// A sealed call as stored in `pending/ID.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedCall {
    /// The 12-byte nonce, base64.
    pub nonce: String,
    /// The ciphertext with its tag, base64.
    pub sealed: String,
}

/// What is inside a sealed call.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Plain {
    fields: Map<String, Value>,
    exact: bool,
    fingerprint: String,
}

/// The opened arguments of a parked call.
pub(crate) struct OpenedCall {
    /// The arguments as gated, before redaction.
    pub(crate) fields: Map<String, Value>,
    /// True when the caller said the fields are the arguments exactly (so a call can be
    /// rebuilt from them in another process).
    pub(crate) exact: bool,
    /// Keyed BLAKE3 of the fields' JCS bytes.
    pub(crate) fingerprint: blake3::Hash,
}

/// Why a sealed call could not be made or opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The OS random source failed.
    #[error("the OS random source failed")]
    Random,
    /// The fields cannot be written as canonical JSON.
    #[error("the arguments cannot be encoded: {0}")]
    Encode(#[source] serde_json::Error),
    /// The record does not open with this project's key, or was altered.
    #[error(
        "the sealed arguments do not open with this project's operator key (altered, or sealed for another item)"
    )]
    Undecryptable,
}

/// Seals and fingerprints one call's arguments.
pub(crate) struct CallSealer {
    cipher: ChaCha20Poly1305,
    fingerprint_key: Zeroizing<[u8; 32]>,
}

impl CallSealer {
    /// A sealer from two keys derived from the operator seed.
    pub(crate) fn new(seal_key: &[u8; 32], fingerprint_key: &[u8; 32]) -> Self {
        Self {
            cipher: ChaCha20Poly1305::new(Key::from_slice(seal_key)),
            fingerprint_key: Zeroizing::new(*fingerprint_key),
        }
    }

    /// The fingerprint of `fields`: keyed BLAKE3 of their JCS bytes (key order and number
    /// spelling do not change it; any value does).
    pub(crate) fn fingerprint(
        &self,
        fields: &Map<String, Value>,
    ) -> Result<blake3::Hash, SealError> {
        let bytes = Zeroizing::new(serde_jcs::to_vec(fields).map_err(SealError::Encode)?);
        Ok(blake3::keyed_hash(&self.fingerprint_key, &bytes))
    }

    /// Seals `fields` for the item parked by receipt `action_hash`.
    pub(crate) fn seal(
        &self,
        action_hash: &str,
        fields: &Map<String, Value>,
        exact: bool,
    ) -> Result<SealedCall, SealError> {
        let plain = Plain {
            fields: fields.clone(),
            exact,
            fingerprint: self.fingerprint(fields)?.to_hex().to_string(),
        };
        let text = Zeroizing::new(serde_json::to_vec(&plain).map_err(SealError::Encode)?);
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|_| SealError::Random)?;
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &text,
                    aad: action_hash.as_bytes(),
                },
            )
            .map_err(|_| SealError::Random)?;
        Ok(SealedCall {
            nonce: STANDARD.encode(nonce),
            sealed: STANDARD.encode(sealed),
        })
    }

    /// Opens the sealed call of the item parked by receipt `action_hash`.
    pub(crate) fn open(
        &self,
        action_hash: &str,
        call: &SealedCall,
    ) -> Result<OpenedCall, SealError> {
        let nonce = STANDARD
            .decode(&call.nonce)
            .ok()
            .filter(|n| n.len() == 12)
            .ok_or(SealError::Undecryptable)?;
        let sealed = STANDARD
            .decode(&call.sealed)
            .map_err(|_| SealError::Undecryptable)?;
        let text = Zeroizing::new(
            self.cipher
                .decrypt(
                    Nonce::from_slice(&nonce),
                    Payload {
                        msg: &sealed,
                        aad: action_hash.as_bytes(),
                    },
                )
                .map_err(|_| SealError::Undecryptable)?,
        );
        let plain: Plain = serde_json::from_slice(&text).map_err(|_| SealError::Undecryptable)?;
        let fingerprint = self.fingerprint(&plain.fields)?;
        if fingerprint.to_hex().as_str() != plain.fingerprint {
            return Err(SealError::Undecryptable);
        }
        Ok(OpenedCall {
            fields: plain.fields,
            exact: plain.exact,
            fingerprint,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;
    use serde_json::json;

    fn fields(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn a_sealed_call_opens_only_for_its_item_and_key() {
        let sealer = CallSealer::new(&[1; 32], &[2; 32]);
        let args = fields(json!({"record_id": "r-1", "api_key": "sk-secret"}));
        let sealed = sealer.seal("aa", &args, true).unwrap();
        assert!(!sealed.sealed.contains("sk-secret"));
        let opened = sealer.open("aa", &sealed).unwrap();
        assert_eq!(opened.fields, args);
        assert!(opened.exact);
        assert!(matches!(
            sealer.open("bb", &sealed),
            Err(SealError::Undecryptable)
        ));
        let other = CallSealer::new(&[3; 32], &[2; 32]);
        assert!(matches!(
            other.open("aa", &sealed),
            Err(SealError::Undecryptable)
        ));
        let mut flipped = sealed.clone();
        flipped.sealed = STANDARD.encode([0u8; 40]);
        assert!(matches!(
            sealer.open("aa", &flipped),
            Err(SealError::Undecryptable)
        ));
    }

    #[test]
    fn the_fingerprint_sees_values_not_key_order() {
        let sealer = CallSealer::new(&[1; 32], &[2; 32]);
        let a = sealer
            .fingerprint(&fields(json!({"a": 1, "b": [1, 2]})))
            .unwrap();
        let b = sealer
            .fingerprint(&fields(json!({"b": [1, 2], "a": 1})))
            .unwrap();
        let c = sealer
            .fingerprint(&fields(json!({"a": 1, "b": [1, 3]})))
            .unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
