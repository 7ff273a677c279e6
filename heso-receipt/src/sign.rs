//! Building and signing receipts. The caller supplies keys and timestamps.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer as _, SigningKey};
use serde_json::{Map, Value};

use crate::canonical::{
    APPROVER_DOMAIN, CanonicalError, OPERATOR_DOMAIN, action_hash_of, canonical_bytes,
    signed_message, typed_content_bytes,
};
use crate::keys::public_key_to_base64;
use crate::model::{
    ACTION_VERSION, ALG, Action, ApprovalOutcome, ApproverDecision, Content, KeyRole, PolicyRecord,
    Receipt, Redaction, SignatureEntry, TrustLevel,
};
use crate::redaction::{RedactionError, check_redaction};
use crate::strict::MAX_SAFE_INTEGER;

/// Why a receipt could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// A number in the content is outside what every verifier reads exactly.
    #[error("integer at {path} is outside ±(2^53−1); convert it to a string first")]
    IntegerOutOfRange {
        /// Where, e.g. `action.fields.amount`.
        path: String,
    },
    /// The redaction block does not describe the fields exactly (a marker without its
    /// value, markers out of JCS order, an `_sd` object no marker binds…): the receipt
    /// would verify as `MalformedRedaction`, so it is not signed. A caller's own field
    /// holding an object with an `_sd` key ends here too; redact that field or rename it.
    #[error("the receipt would not verify: {0}")]
    Redaction(#[from] RedactionError),
    /// The approver key is the operator key.
    #[error("an approver cannot be the operator")]
    SelfApproval,
    /// Canonicalisation failed.
    #[error(transparent)]
    Canonical(#[from] CanonicalError),
}

/// The chain position the log gives a receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainPosition {
    /// The log session.
    pub session_id: String,
    /// The receipt's seq.
    pub seq: u64,
    /// The link to the predecessor; `None` at seq 0.
    pub prev_receipt_hash: Option<String>,
}

/// Everything in a receipt's content that the signer does not derive.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    /// RFC 3339 UTC capture time.
    pub captured_at: String,
    /// The action, fields already redacted.
    pub action: Action,
    /// The policy's record.
    pub policy: PolicyRecord,
    /// What redaction hid, if anything.
    pub redaction: Option<Redaction>,
    /// Where in the log this receipt goes, if it is chained.
    pub chain: Option<ChainPosition>,
}

/// A person's decision, for an L1 receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// What they decided.
    pub decision: ApprovalOutcome,
    /// Why.
    pub reason: String,
    /// When, RFC 3339 UTC.
    pub decided_at: String,
}

/// Signs an L0 receipt: `agent_identity` is set to the operator's key.
pub fn sign_receipt(draft: Draft, operator: &SigningKey) -> Result<Receipt, SignError> {
    let content = build_content(draft, operator, None)?;
    finish(content, operator, None)
}

/// Signs an L1 receipt: the approver and the operator sign the same canonical bytes;
/// `approver_identity` is set to the approver's key.
pub fn sign_approved_receipt(
    draft: Draft,
    approval: Approval,
    approver: &SigningKey,
    operator: &SigningKey,
) -> Result<Receipt, SignError> {
    if approver.verifying_key() == operator.verifying_key() {
        return Err(SignError::SelfApproval);
    }
    let content = build_content(draft, operator, Some((approval, approver)))?;
    finish(content, operator, Some(approver))
}

fn build_content(
    draft: Draft,
    operator: &SigningKey,
    approval: Option<(Approval, &SigningKey)>,
) -> Result<Content, SignError> {
    check_integers(&draft.action.fields)?;
    // The verifier's own redaction check: heso never signs what it would call malformed.
    check_redaction(&draft.action.fields, draft.redaction.as_ref())?;
    let (trust_level, approver_decision) = match approval {
        None => (TrustLevel::L0, None),
        Some((a, key)) => (
            TrustLevel::L1,
            Some(ApproverDecision {
                decision: a.decision,
                approver_identity: public_key_to_base64(&key.verifying_key()),
                reason: a.reason,
                decided_at: a.decided_at,
            }),
        ),
    };
    let (session_id, seq, prev_receipt_hash) = match draft.chain {
        Some(c) => (Some(c.session_id), Some(c.seq), c.prev_receipt_hash),
        None => (None, None, None),
    };
    Ok(Content {
        action_version: ACTION_VERSION.to_owned(),
        captured_at: draft.captured_at,
        agent_identity: public_key_to_base64(&operator.verifying_key()),
        action: draft.action,
        policy: draft.policy,
        trust_level,
        approver_decision,
        redaction: draft.redaction,
        session_id,
        seq,
        prev_receipt_hash,
        action_hash: String::new(),
    })
}

fn finish(
    mut content: Content,
    operator: &SigningKey,
    approver: Option<&SigningKey>,
) -> Result<Receipt, SignError> {
    let canonical = content_canonical_bytes(&content)?;
    content.action_hash = action_hash_of(&canonical);
    let mut signatures = vec![entry(
        KeyRole::Operator,
        operator,
        OPERATOR_DOMAIN,
        &canonical,
    )];
    if let Some(approver) = approver {
        signatures.push(entry(
            KeyRole::Approver,
            approver,
            APPROVER_DOMAIN,
            &canonical,
        ));
    }
    Ok(Receipt {
        alg: ALG.to_owned(),
        content,
        signatures,
    })
}

/// `C` for typed content (its `action_hash` is ignored): written from the types, or
/// through a `serde_json::Value` of the content when it holds a float.
pub fn content_canonical_bytes(content: &Content) -> Result<Vec<u8>, CanonicalError> {
    match typed_content_bytes(content) {
        Ok(bytes) => Ok(bytes),
        Err(_declined) => content_canonical_bytes_via_value(content),
    }
}

/// [`content_canonical_bytes`] through a `serde_json::Value` of the content.
pub(crate) fn content_canonical_bytes_via_value(
    content: &Content,
) -> Result<Vec<u8>, CanonicalError> {
    match serde_json::to_value(content) {
        Ok(Value::Object(map)) => canonical_bytes(&map),
        Ok(_) => Err(CanonicalError::Jcs("content is not an object".into())),
        Err(e) => Err(CanonicalError::Jcs(e.to_string())),
    }
}

fn entry(role: KeyRole, key: &SigningKey, domain: &[u8], canonical: &[u8]) -> SignatureEntry {
    let signature = key.sign(&signed_message(domain, canonical));
    SignatureEntry {
        algorithm: "Ed25519".to_owned(),
        key_id: role,
        public_key: public_key_to_base64(&key.verifying_key()),
        signature: STANDARD.encode(signature.to_bytes()),
    }
}

/// Every integer in `fields` within ±(2^53−1), walked in place; the path is only spelled
/// out for the one that is not.
fn check_integers(fields: &Map<String, Value>) -> Result<(), SignError> {
    for (key, value) in fields {
        if let Some(mut inner) = out_of_range(value) {
            inner.push(key.clone());
            let path = inner
                .iter()
                .rev()
                .fold(String::from("action.fields"), |path, step| {
                    format!("{path}.{step}")
                });
            return Err(SignError::IntegerOutOfRange { path });
        }
    }
    Ok(())
}

/// The steps below `value` to its first integer beyond ±(2^53−1), innermost first.
fn out_of_range(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::Number(n) => {
            let out = n.as_u64().is_some_and(|v| v > MAX_SAFE_INTEGER)
                || n.as_i64()
                    .is_some_and(|v| v.unsigned_abs() > MAX_SAFE_INTEGER);
            out.then(Vec::new)
        }
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            out_of_range(item).map(|mut steps| {
                steps.push(i.to_string());
                steps
            })
        }),
        Value::Object(map) => map.iter().find_map(|(k, item)| {
            out_of_range(item).map(|mut steps| {
                steps.push(k.clone());
                steps
            })
        }),
        _ => None,
    }
}

impl Content {
    /// The draft this content was signed from, chain position included, without copying
    /// it: an L1 receipt's approver decision is dropped.
    pub fn into_draft(self) -> Draft {
        let chain = match (self.session_id, self.seq) {
            (Some(session_id), Some(seq)) => Some(ChainPosition {
                session_id,
                seq,
                prev_receipt_hash: self.prev_receipt_hash,
            }),
            _ => None,
        };
        Draft {
            captured_at: self.captured_at,
            action: self.action,
            policy: self.policy,
            redaction: self.redaction,
            chain,
        }
    }
}

impl Receipt {
    /// The receipt as one compact JSON line (no trailing newline).
    pub fn to_json(&self) -> Result<String, CanonicalError> {
        // Room for a typical receipt, so the line is not copied as it grows.
        let mut line = Vec::with_capacity(2048);
        serde_json::to_writer(&mut line, self).map_err(|e| CanonicalError::Jcs(e.to_string()))?;
        // serde_json writes valid UTF-8 only.
        String::from_utf8(line).map_err(|e| CanonicalError::Jcs(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, reason = "test code")]

    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::{
        ChainPosition, Draft, SignError, content_canonical_bytes,
        content_canonical_bytes_via_value, sign_receipt,
    };
    use crate::canonical::typed_content_bytes;
    use crate::model::{
        Action, ApprovalOutcome, ApproverDecision, Content, Decision, Marker, MarkerAlgorithm,
        MatchedCondition, PolicyRecord, Receipt, Redaction, RedactionMode, TrustLevel, Verb,
    };
    use ed25519_dalek::SigningKey;

    fn text() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                Just('"'),
                Just('\\'),
                Just('/'),
                Just('\u{1}'),
                Just('\u{7f}'),
                Just('é'),
                Just('\u{e000}'),
                Just('\u{1f600}'),
                any::<char>(),
                Just('a'),
            ],
            0..5,
        )
        .prop_map(|c| c.into_iter().collect())
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-(1i64 << 53) + 1..(1i64 << 53)).prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            text().prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((text(), inner), 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Values the direct writer takes: no floats, no integers beyond ±(2^53−1).
    fn plain_value() -> impl Strategy<Value = Value> {
        value().prop_filter("no floats", content_value_is_plain)
    }

    fn content_value_is_plain(v: &Value) -> bool {
        match v {
            Value::Number(n) => n
                .as_i64()
                .is_some_and(|i| i.unsigned_abs() <= crate::MAX_SAFE_INTEGER),
            Value::Array(items) => items.iter().all(content_value_is_plain),
            Value::Object(map) => map.values().all(content_value_is_plain),
            _ => true,
        }
    }

    prop_compose! {
        fn content(value: BoxedStrategy<Value>)(
            fields in prop::collection::vec((text(), value.clone()), 0..5),
            verb in prop::sample::select(Verb::ALL.to_vec()),
            decision in prop::sample::select(Decision::ALL.to_vec()),
            strings in prop::collection::vec(text(), 12),
            options in prop::collection::vec(any::<bool>(), 9),
            error in value.clone(),
            operand in value,
            outcome in prop::sample::select(vec![ApprovalOutcome::Approved, ApprovalOutcome::Rejected, ApprovalOutcome::Escalated]),
            seq in prop_oneof![0u64..10, Just(crate::MAX_SAFE_INTEGER), Just(u64::MAX)],
            salted in any::<bool>(),
        ) -> Content {
            let s = |i: usize| strings[i].clone();
            Content {
                action_version: s(0),
                captured_at: s(1),
                agent_identity: s(2),
                action: Action {
                    verb,
                    tool_name: s(3),
                    workflow: s(4),
                    account: s(5),
                    fields: fields.into_iter().collect(),
                    target_host: options[0].then(|| s(6)),
                    result_hash: options[1].then(|| s(7)),
                    error: options[2].then_some(error),
                },
                policy: PolicyRecord {
                    rule_id: s(8),
                    rule_display: s(9),
                    matched_conditions: if options[3] {
                        vec![
                            MatchedCondition { field: s(10), op: "gt".into(), value: operand },
                            MatchedCondition { field: "verb".into(), op: "eq".into(), value: json!("delete") },
                        ]
                    } else {
                        vec![]
                    },
                    decision_path: decision,
                },
                trust_level: if options[4] { TrustLevel::L1 } else { TrustLevel::L0 },
                approver_decision: options[4].then(|| ApproverDecision {
                    decision: outcome,
                    approver_identity: s(11),
                    reason: s(0),
                    decided_at: s(1),
                }),
                redaction: options[5].then(|| Redaction {
                    mode: if salted { RedactionMode::CommitAndReveal } else { RedactionMode::Destructive },
                    markers: vec![
                        Marker { field_path: s(10), algorithm: MarkerAlgorithm::SaltedBlake3, commitment: s(11) },
                        Marker { field_path: s(9), algorithm: MarkerAlgorithm::Drop, commitment: String::new() },
                    ],
                    merkle_root: salted.then(|| s(8)),
                }),
                session_id: options[6].then(|| s(3)),
                seq: options[7].then_some(seq),
                prev_receipt_hash: options[8].then(|| s(4)),
                action_hash: s(5),
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// The typed writer gives the bytes the `Value` path gives, for every member the
        /// content can hold; it declines nothing it could write.
        #[test]
        fn typed_bytes_are_the_value_paths_bytes(c in content(plain_value().boxed())) {
            let typed = typed_content_bytes(&c);
            let via_value = content_canonical_bytes_via_value(&c).unwrap();
            match typed {
                Ok(bytes) => prop_assert_eq!(bytes, via_value),
                Err(_) => prop_assert!(c.seq.is_some_and(|s| s > crate::MAX_SAFE_INTEGER)),
            }
        }

        /// With floats and large integers anywhere, the result is still the `Value` path's.
        #[test]
        fn canonical_bytes_match_with_any_numbers(c in content(value().boxed())) {
            prop_assert_eq!(
                content_canonical_bytes(&c).unwrap(),
                content_canonical_bytes_via_value(&c).unwrap()
            );
        }
    }

    #[test]
    fn vector_receipts_give_their_canonical_bytes() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        for name in [
            "receipt_l0.json",
            "receipt_l1.json",
            "redaction_commit_reveal.json",
            "redaction_destructive.json",
        ] {
            let vector: Value =
                serde_json::from_slice(&std::fs::read(dir.join(name)).unwrap()).unwrap();
            let receipt: Receipt = serde_json::from_value(vector["receipt"].clone()).unwrap();
            let typed = typed_content_bytes(&receipt.content).unwrap_or_else(|_| panic!("{name}"));
            let map = vector["receipt"]["content"].as_object().unwrap();
            assert_eq!(typed, crate::canonical_bytes(map).unwrap(), "{name}");
            if let Some(expected) = vector["canonical_bytes_utf8"].as_str() {
                assert_eq!(std::str::from_utf8(&typed).unwrap(), expected, "{name}");
            }
        }
    }

    fn draft(fields: Value) -> Draft {
        Draft {
            captured_at: "2026-11-24T00:00:00Z".into(),
            action: Action {
                verb: Verb::ToolCall,
                tool_name: "t".into(),
                workflow: "default".into(),
                account: "default".into(),
                fields: fields.as_object().cloned().unwrap_or_default(),
                target_host: None,
                result_hash: None,
                error: None,
            },
            policy: PolicyRecord {
                rule_id: "default".into(),
                rule_display: "allow".into(),
                matched_conditions: vec![],
                decision_path: Decision::Allow,
            },
            redaction: None,
            chain: Some(ChainPosition {
                session_id: "s".into(),
                seq: 3,
                prev_receipt_hash: Some("ab".into()),
            }),
        }
    }

    #[test]
    fn an_integer_out_of_range_is_named_by_its_path() {
        let key = SigningKey::from_bytes(&[3u8; 32]);
        let big = crate::MAX_SAFE_INTEGER + 1;
        for (fields, path) in [
            (json!({"a": 1, "b": [0, {"c": big}]}), "action.fields.b.1.c"),
            (json!({"n": -(big as i64)}), "action.fields.n"),
            (json!({"x": {"y": [[u64::MAX]]}}), "action.fields.x.y.0.0"),
        ] {
            assert_eq!(
                sign_receipt(draft(fields), &key),
                Err(SignError::IntegerOutOfRange { path: path.into() })
            );
        }
        let edge = crate::MAX_SAFE_INTEGER;
        assert!(sign_receipt(draft(json!({"n": edge, "m": -(edge as i64)})), &key).is_ok());
    }

    #[test]
    fn content_gives_back_its_draft() {
        let key = SigningKey::from_bytes(&[3u8; 32]);
        let d = draft(json!({"q": "x", "n": [1, 2]}));
        let receipt = sign_receipt(d.clone(), &key).unwrap();
        assert_eq!(receipt.content.into_draft(), d);
        let unchained = Draft {
            chain: None,
            ..draft(json!({}))
        };
        let receipt = sign_receipt(unchained.clone(), &key).unwrap();
        assert_eq!(receipt.content.into_draft(), unchained);
    }
}
