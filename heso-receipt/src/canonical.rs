//! The bytes that are hashed and signed.

use serde_json::{Map, Value};

/// Domain prefix of the operator's signature.
pub const OPERATOR_DOMAIN: &[u8] = b"heso-action/v1\0";
/// Domain prefix of an approver's signature.
pub const APPROVER_DOMAIN: &[u8] = b"heso-approval/v1\0";

/// Why canonical bytes could not be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CanonicalError {
    /// RFC 8785 serialisation failed.
    #[error("cannot canonicalise content: {0}")]
    Jcs(String),
}

/// `C`: RFC 8785 (JCS) bytes of `content` exactly as given, minus its `action_hash`.
///
/// Keys the caller does not know are kept, so they stay covered by the hash.
pub fn canonical_bytes(content: &Map<String, Value>) -> Result<Vec<u8>, CanonicalError> {
    canonical_bytes_without_hash(content)
}

/// JCS of `content` skipping its `action_hash` entry, without copying the map.
pub(crate) fn canonical_bytes_without_hash(
    content: &Map<String, Value>,
) -> Result<Vec<u8>, CanonicalError> {
    struct WithoutHash<'a>(&'a Map<String, Value>);
    impl serde::Serialize for WithoutHash<'_> {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap as _;
            let mut map = serializer.serialize_map(None)?;
            for (key, value) in self.0.iter().filter(|(k, _)| k.as_str() != "action_hash") {
                map.serialize_entry(key, value)?;
            }
            map.end()
        }
    }
    serde_jcs::to_vec(&WithoutHash(content)).map_err(|e| CanonicalError::Jcs(e.to_string()))
}

/// Lowercase hex BLAKE3 of canonical bytes.
pub fn action_hash_of(canonical: &[u8]) -> String {
    blake3::hash(canonical).to_hex().to_string()
}

/// `domain ‖ C`, the message an Ed25519 signature covers.
pub(crate) fn signed_message(domain: &[u8], canonical: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(domain.len() + canonical.len());
    message.extend_from_slice(domain);
    message.extend_from_slice(canonical);
    message
}
