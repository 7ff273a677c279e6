//! Building and signing receipts. The caller supplies keys and timestamps.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer as _, SigningKey};
use serde_json::Value;

use crate::canonical::{
    APPROVER_DOMAIN, CanonicalError, OPERATOR_DOMAIN, action_hash_of, canonical_bytes,
    signed_message,
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
    check_integers(&Value::Object(draft.action.fields.clone()), "action.fields")?;
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

/// `C` for typed content (its `action_hash` is ignored).
pub fn content_canonical_bytes(content: &Content) -> Result<Vec<u8>, CanonicalError> {
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

fn check_integers(value: &Value, path: &str) -> Result<(), SignError> {
    match value {
        Value::Number(n) => {
            let out_of_range = n.as_u64().is_some_and(|v| v > MAX_SAFE_INTEGER)
                || n.as_i64()
                    .is_some_and(|v| v.unsigned_abs() > MAX_SAFE_INTEGER);
            if out_of_range {
                return Err(SignError::IntegerOutOfRange {
                    path: path.to_owned(),
                });
            }
            Ok(())
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| check_integers(item, &format!("{path}.{i}"))),
        Value::Object(map) => map
            .iter()
            .try_for_each(|(k, item)| check_integers(item, &format!("{path}.{k}"))),
        _ => Ok(()),
    }
}

impl Receipt {
    /// The receipt as one compact JSON line (no trailing newline).
    pub fn to_json(&self) -> Result<String, CanonicalError> {
        serde_json::to_string(self).map_err(|e| CanonicalError::Jcs(e.to_string()))
    }
}
