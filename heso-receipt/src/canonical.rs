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

/// JCS of `content` skipping its `action_hash` entry, without copying the map: written by
/// [`crate::jcs`], or by `serde_jcs` for the values that declines (floats).
pub(crate) fn canonical_bytes_without_hash(
    content: &Map<String, Value>,
) -> Result<Vec<u8>, CanonicalError> {
    let mut out = Vec::with_capacity(1024);
    if crate::jcs::write_object_without(&mut out, content, "action_hash").is_ok() {
        return Ok(out);
    }
    serde_jcs_without_hash(content)
}

/// [`canonical_bytes_without_hash`] by `serde_jcs` alone.
pub(crate) fn serde_jcs_without_hash(
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use proptest::prelude::*;
    use serde_json::{Map, Value, json};

    use super::{canonical_bytes_without_hash, serde_jcs_without_hash};

    /// Characters where JCS's rules bite: escapes, controls, DEL, `/`, non-ASCII, the
    /// private-use area just below U+FFFF and characters beyond the BMP (their UTF-16 and
    /// UTF-8 orders differ).
    fn text() -> impl Strategy<Value = String> {
        let special = prop_oneof![
            Just('"'),
            Just('\\'),
            Just('/'),
            Just('\u{0}'),
            Just('\u{8}'),
            Just('\u{c}'),
            Just('\u{1f}'),
            Just('\u{7f}'),
            Just('é'),
            Just('\u{e000}'),
            Just('\u{fb01}'),
            Just('\u{ffff}'),
            Just('\u{10000}'),
            Just('\u{1f600}'),
            any::<char>(),
        ];
        prop::collection::vec(
            prop_oneof![special, "[a-c]".prop_map(|s| s.chars().next().unwrap())],
            0..5,
        )
        .prop_map(|c| c.into_iter().collect())
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-(1i64 << 53) + 1..(1i64 << 53)).prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            text().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 40, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec(
                    (prop_oneof![text(), Just("action_hash".to_owned())], inner),
                    0..5
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn the_direct_writer_gives_serde_jcs_bytes(
            members in prop::collection::vec((prop_oneof![text(), Just("action_hash".to_owned())], value()), 0..8)
        ) {
            let map: Map<String, Value> = members.into_iter().collect();
            prop_assert_eq!(
                canonical_bytes_without_hash(&map).unwrap(),
                serde_jcs_without_hash(&map).unwrap()
            );
        }
    }

    #[test]
    fn keys_order_by_utf16_and_nested_action_hashes_stay() {
        let map = json!({"\u{e000}": 1, "\u{1f600}": 2, "b": {"action_hash": "x"}, "action_hash": "y", "a": [1, -2, "\n\u{1}"]});
        let bytes = canonical_bytes_without_hash(map.as_object().unwrap()).unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "{\"a\":[1,-2,\"\\n\\u0001\"],\"b\":{\"action_hash\":\"x\"},\"\u{1f600}\":2,\"\u{e000}\":1}"
        );
    }
}
