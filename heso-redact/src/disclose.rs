//! Checking a reveal: does a claimed value match a marker's commitment?

use heso_receipt::{Marker, MarkerAlgorithm, salted_commitment};
use serde_json::Value;

/// True when `value`, with `salt`, is the value committed in `marker`.
///
/// Only a `salted-blake3/v1` marker can be checked; a `drop/v1` marker, a commitment that
/// is not 64 hex digits, or a value that cannot be canonicalised gives `false`. The two
/// commitments are compared in constant time (as BLAKE3 hashes), so the comparison tells
/// nothing about how many leading digits matched.
pub fn check_disclosure(marker: &Marker, salt: &[u8; 32], value: &Value) -> bool {
    if marker.algorithm != MarkerAlgorithm::SaltedBlake3 {
        return false;
    }
    let Ok(expected) = blake3::Hash::from_hex(marker.commitment.as_bytes()) else {
        return false;
    };
    let Ok(computed) = salted_commitment(salt, &marker.field_path, value) else {
        return false;
    };
    let Ok(computed) = blake3::Hash::from_hex(computed.as_bytes()) else {
        return false;
    };
    // `blake3::Hash`'s equality is constant-time.
    computed == expected
}
