//! The redaction format's two hashes: a salted commitment and the `merkle_root`.

use serde_json::Value;

use crate::canonical::CanonicalError;

/// `salted-blake3/v1`: lowercase hex BLAKE3(salt ‖ field_path ‖ JCS(value)).
pub fn salted_commitment(
    salt: &[u8; 32],
    field_path: &str,
    value: &Value,
) -> Result<String, CanonicalError> {
    let jcs = serde_jcs::to_vec(value).map_err(|e| CanonicalError::Jcs(e.to_string()))?;
    let mut hasher = blake3::Hasher::new();
    hasher.update(salt);
    hasher.update(field_path.as_bytes());
    hasher.update(&jcs);
    Ok(hasher.finalize().to_hex().to_string())
}

/// Lowercase hex BLAKE3 of each salted commitment's hex followed by `\n`, in marker order.
pub fn merkle_root<'a>(commitments: impl IntoIterator<Item = &'a str>) -> String {
    let mut hasher = blake3::Hasher::new();
    for commitment in commitments {
        hasher.update(commitment.as_bytes());
        hasher.update(b"\n");
    }
    hasher.finalize().to_hex().to_string()
}
