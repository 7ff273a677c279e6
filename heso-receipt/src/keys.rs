//! Public key encodings: padded standard base64 of the raw 32 bytes, and `did:key`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::VerifyingKey;

/// The multicodec prefix of an Ed25519 public key (0xed as an unsigned varint).
const ED25519_MULTICODEC: [u8; 2] = [0xed, 0x01];
const DID_KEY_PREFIX: &str = "did:key:";

/// Why a public key string could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyDecodeError {
    /// Not valid padded standard base64.
    #[error("not valid padded standard base64")]
    Base64,
    /// Decoded, but not 32 bytes long.
    #[error("expected 32 key bytes, got {0}")]
    Length(usize),
    /// The 32 bytes are not a valid Ed25519 point.
    #[error("not a valid Ed25519 public key")]
    NotOnCurve,
    /// A `did:key` that is not `did:key:z…` base58btc.
    #[error("did:key must be 'did:key:z' followed by base58btc")]
    DidKeyEncoding,
    /// A `did:key` whose multicodec is not Ed25519 (0xed01).
    #[error("did:key is not an Ed25519 key (multicodec 0xed01)")]
    DidKeyCodec,
}

/// Encodes a public key as padded standard base64 of its 32 bytes.
pub fn public_key_to_base64(key: &VerifyingKey) -> String {
    STANDARD.encode(key.as_bytes())
}

/// Decodes padded standard base64 into a public key (strict: canonical padding only).
pub fn public_key_from_base64(text: &str) -> Result<VerifyingKey, KeyDecodeError> {
    let bytes = STANDARD.decode(text).map_err(|_| KeyDecodeError::Base64)?;
    key_from_slice(&bytes)
}

/// Encodes a public key as `did:key:z6Mk…`.
pub fn public_key_to_did_key(key: &VerifyingKey) -> String {
    format!("{DID_KEY_PREFIX}{}", public_key_to_multibase(key))
}

/// Encodes a public key as the bare multibase string `z6Mk…` (a did:key without its prefix).
pub fn public_key_to_multibase(key: &VerifyingKey) -> String {
    let mut bytes = Vec::with_capacity(34);
    bytes.extend_from_slice(&ED25519_MULTICODEC);
    bytes.extend_from_slice(key.as_bytes());
    format!("z{}", bs58::encode(bytes).into_string())
}

/// Decodes `did:key:z…` (or the bare `z…` multibase form) into a public key.
pub fn public_key_from_did_key(text: &str) -> Result<VerifyingKey, KeyDecodeError> {
    let multibase = text.strip_prefix(DID_KEY_PREFIX).unwrap_or(text);
    let encoded = multibase
        .strip_prefix('z')
        .ok_or(KeyDecodeError::DidKeyEncoding)?;
    let bytes = bs58::decode(encoded)
        .into_vec()
        .map_err(|_| KeyDecodeError::DidKeyEncoding)?;
    let raw = bytes
        .strip_prefix(&ED25519_MULTICODEC)
        .ok_or(KeyDecodeError::DidKeyCodec)?;
    key_from_slice(raw)
}

/// Decodes a key given either as did:key or as base64, the two forms users paste.
pub fn public_key_from_str(text: &str) -> Result<VerifyingKey, KeyDecodeError> {
    let text = text.trim();
    if text.starts_with(DID_KEY_PREFIX) || (text.starts_with("z6Mk") && !text.ends_with('=')) {
        public_key_from_did_key(text)
    } else {
        public_key_from_base64(text)
    }
}

fn key_from_slice(bytes: &[u8]) -> Result<VerifyingKey, KeyDecodeError> {
    let raw: [u8; 32] = bytes
        .try_into()
        .map_err(|_| KeyDecodeError::Length(bytes.len()))?;
    VerifyingKey::from_bytes(&raw).map_err(|_| KeyDecodeError::NotOnCurve)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_key_round_trip() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[1u8; 32]).verifying_key();
        let did = public_key_to_did_key(&key);
        assert!(did.starts_with("did:key:z6Mk"));
        assert_eq!(public_key_from_did_key(&did).unwrap(), key);
        assert_eq!(public_key_from_str(&did).unwrap(), key);
        let b64 = public_key_to_base64(&key);
        assert_eq!(public_key_from_str(&b64).unwrap(), key);
    }

    #[test]
    fn bad_keys_are_errors() {
        assert_eq!(public_key_from_base64("abc"), Err(KeyDecodeError::Base64));
        assert_eq!(
            public_key_from_base64("AAAA"),
            Err(KeyDecodeError::Length(3))
        );
        assert_eq!(
            public_key_from_did_key("did:key:abc"),
            Err(KeyDecodeError::DidKeyEncoding)
        );
        // secp256k1 multicodec (0xe7 0x01) is not ours.
        let other = format!(
            "did:key:z{}",
            bs58::encode([0xe7, 0x01, 1, 2]).into_string()
        );
        assert_eq!(
            public_key_from_did_key(&other),
            Err(KeyDecodeError::DidKeyCodec)
        );
    }
}
