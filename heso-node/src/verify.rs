//! One receipt, verified offline by heso-receipt.

use heso_receipt::{SignerPins, public_key_from_str, public_key_to_did_key, verify_receipt};
use napi::Status;
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;

use crate::project::Project;
use crate::quoted;

/// One signer of a receipt.
#[napi(object)]
pub struct Signer {
    /// `operator` or `approver`.
    pub role: String,
    /// Their public key as a did:key.
    pub key: String,
    /// The approver's decision (`approved`, `rejected`, `escalated`).
    pub decision: Option<String>,
}

/// The verdict on one receipt.
#[napi(object)]
pub struct VerifyResult {
    /// True for `Valid`.
    pub valid: bool,
    /// The verdict: `Valid`, `Malformed`, `HashMismatch`, `InvalidSignature`, …
    pub kind: String,
    /// What was wrong, in words (empty when valid).
    pub detail: String,
    /// `L0` or `L1`, when the signatures could be checked.
    pub trust_level: Option<String>,
    /// Who signed, when the signatures could be checked.
    pub signers: Vec<Signer>,
    /// True when the signers were checked against pinned keys (given, or the project's).
    pub pinned: bool,
    /// The receipt's action_hash, when it could be read.
    pub action_hash: Option<String>,
}

/// Verifies one receipt's bytes. `signers`: pin exactly these keys (did:key or base64);
/// `None` pins the project's keys when `project` is given, else nothing.
#[napi]
pub fn verify(
    data: Buffer,
    signers: Option<Vec<String>>,
    project: Option<&Project>,
) -> napi::Result<VerifyResult> {
    let pins = match (signers, project) {
        (Some(keys), _) => {
            let mut decoded = Vec::new();
            for key in keys {
                let parsed = public_key_from_str(&key).map_err(|e| {
                    napi::Error::new(
                        Status::InvalidArg,
                        format!(
                            "signer {} is not a public key (did:key or base64): {e}",
                            quoted(&key)
                        ),
                    )
                })?;
                decoded.push(parsed);
            }
            SignerPins::Only(decoded)
        }
        (None, Some(project)) => project
            .engine()
            .pins()
            .map_err(|e| napi::Error::new(Status::GenericFailure, e.to_string()))?,
        (None, None) => SignerPins::Any,
    };
    let pinned = !matches!(pins, SignerPins::Any);
    let checked = verify_receipt(&data, &pins);
    let mut signers = Vec::new();
    let mut trust_level = None;
    if let Some(found) = checked.verdict.signers() {
        trust_level = Some(found.trust_level.to_string());
        signers.push(Signer {
            role: "operator".to_owned(),
            key: public_key_to_did_key(&found.operator),
            decision: None,
        });
        if let Some((key, decision)) = &found.approver {
            signers.push(Signer {
                role: "approver".to_owned(),
                key: public_key_to_did_key(key),
                decision: Some(decision.to_string()),
            });
        }
    }
    Ok(VerifyResult {
        valid: checked.verdict.is_valid(),
        kind: checked.verdict.kind().to_owned(),
        detail: checked.verdict.detail().to_owned(),
        trust_level,
        signers,
        pinned,
        action_hash: checked
            .receipt
            .as_ref()
            .map(|r| r.content.action_hash.clone()),
    })
}
