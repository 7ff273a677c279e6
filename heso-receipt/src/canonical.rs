//! The bytes that are hashed and signed.

use serde_json::{Map, Value};

use crate::jcs::{Declined, write_members, write_string, write_value};
use crate::model::{
    Action, ApprovalOutcome, ApproverDecision, Content, MarkerAlgorithm, PolicyRecord, Redaction,
    TrustLevel,
};

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

/// JCS of typed content without its `action_hash`, written straight from the types (no
/// `serde_json::Value` of the content is made). `Err` when a value inside is one the
/// direct writer declines (a float, an integer beyond ±(2^53−1)); the caller then goes
/// through the `Value`. The members are written in JCS order, fixed here by hand: every
/// key is lowercase ASCII, so that is byte order, and the tests check these bytes
/// against the `Value` path's.
pub(crate) fn typed_content_bytes(content: &Content) -> Result<Vec<u8>, Declined> {
    let mut out = Vec::with_capacity(2048);
    let mut o = Members::open(&mut out);
    write_action(o.key("action"), &content.action)?;
    write_string(o.key("action_version"), &content.action_version)?;
    write_string(o.key("agent_identity"), &content.agent_identity)?;
    if let Some(a) = &content.approver_decision {
        write_approver(o.key("approver_decision"), a)?;
    }
    write_string(o.key("captured_at"), &content.captured_at)?;
    write_policy(o.key("policy"), &content.policy)?;
    if let Some(prev) = &content.prev_receipt_hash {
        write_string(o.key("prev_receipt_hash"), prev)?;
    }
    if let Some(r) = &content.redaction {
        write_redaction(o.key("redaction"), r)?;
    }
    if let Some(seq) = content.seq {
        write_value(o.key("seq"), &Value::from(seq))?;
    }
    if let Some(session) = &content.session_id {
        write_string(o.key("session_id"), session)?;
    }
    let trust = match content.trust_level {
        TrustLevel::L0 => "L0",
        TrustLevel::L1 => "L1",
    };
    word(o.key("trust_level"), trust);
    o.close();
    Ok(out)
}

/// An object being written: members go in the order they are given.
struct Members<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Members<'a> {
    fn open(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Members { out, first: true }
    }

    /// Writes `"key":` and returns the buffer for the value. Keys are the format's
    /// names, which need no escaping.
    fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        word(self.out, key);
        self.out.push(b':');
        self.out
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

/// A string the format fixes (a key or an enum's wire name): nothing in it is escaped.
fn word(out: &mut Vec<u8>, text: &str) {
    debug_assert!(
        text.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
    );
    out.push(b'"');
    out.extend_from_slice(text.as_bytes());
    out.push(b'"');
}

fn write_action(out: &mut Vec<u8>, action: &Action) -> Result<(), Declined> {
    let mut o = Members::open(out);
    write_string(o.key("account"), &action.account)?;
    if let Some(error) = &action.error {
        write_value(o.key("error"), error)?;
    }
    write_members(o.key("fields"), action.fields.iter())?;
    if let Some(hash) = &action.result_hash {
        write_string(o.key("result_hash"), hash)?;
    }
    if let Some(host) = &action.target_host {
        write_string(o.key("target_host"), host)?;
    }
    write_string(o.key("tool_name"), &action.tool_name)?;
    word(o.key("verb"), action.verb.as_str());
    write_string(o.key("workflow"), &action.workflow)?;
    o.close();
    Ok(())
}

fn write_approver(out: &mut Vec<u8>, a: &ApproverDecision) -> Result<(), Declined> {
    let mut o = Members::open(out);
    write_string(o.key("approver_identity"), &a.approver_identity)?;
    write_string(o.key("decided_at"), &a.decided_at)?;
    let decision = match a.decision {
        ApprovalOutcome::Approved => "approved",
        ApprovalOutcome::Rejected => "rejected",
        ApprovalOutcome::Escalated => "escalated",
    };
    word(o.key("decision"), decision);
    write_string(o.key("reason"), &a.reason)?;
    o.close();
    Ok(())
}

fn write_policy(out: &mut Vec<u8>, policy: &PolicyRecord) -> Result<(), Declined> {
    let mut o = Members::open(out);
    word(o.key("decision_path"), policy.decision_path.as_str());
    let list = o.key("matched_conditions");
    list.push(b'[');
    for (n, c) in policy.matched_conditions.iter().enumerate() {
        if n > 0 {
            list.push(b',');
        }
        let mut m = Members::open(list);
        write_string(m.key("field"), &c.field)?;
        write_string(m.key("op"), &c.op)?;
        write_value(m.key("value"), &c.value)?;
        m.close();
    }
    list.push(b']');
    write_string(o.key("rule_display"), &policy.rule_display)?;
    write_string(o.key("rule_id"), &policy.rule_id)?;
    o.close();
    Ok(())
}

fn write_redaction(out: &mut Vec<u8>, r: &Redaction) -> Result<(), Declined> {
    let mut o = Members::open(out);
    let list = o.key("markers");
    list.push(b'[');
    for (n, marker) in r.markers.iter().enumerate() {
        if n > 0 {
            list.push(b',');
        }
        let algorithm = match marker.algorithm {
            MarkerAlgorithm::SaltedBlake3 => "salted-blake3/v1",
            MarkerAlgorithm::Drop => "drop/v1",
        };
        let mut m = Members::open(list);
        word(m.key("algorithm"), algorithm);
        write_string(m.key("commitment"), &marker.commitment)?;
        write_string(m.key("field_path"), &marker.field_path)?;
        m.close();
    }
    list.push(b']');
    if let Some(root) = &r.merkle_root {
        write_string(o.key("merkle_root"), root)?;
    }
    word(o.key("mode"), r.mode.as_str());
    o.close();
    Ok(())
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
