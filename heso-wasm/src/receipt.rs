//! One receipt, described for the page: the CLI's `--json` verdict, and everything the
//! receipt records (marked by the page as unverified unless the verdict is `Valid`).

use heso_receipt::{Checked, KeyRole, RecordedStatus, Verdict, public_key_to_did_key};
use serde_json::{Value, json};

use crate::pins::{PinStatus, Pins, did_of};

pub(crate) fn role_name(role: KeyRole) -> &'static str {
    match role {
        KeyRole::Operator => "operator",
        KeyRole::Approver => "approver",
    }
}

/// `heso verify FILE --json` for one receipt: the same keys, the same values.
pub(crate) fn cli_json(checked: &Checked, pins: &Pins) -> Value {
    let verdict = &checked.verdict;
    let signers = verdict.signers();
    json!({
        "action_hash": checked.receipt.as_ref().map(|r| r.content.action_hash.clone()),
        "valid": verdict.is_valid(),
        "verdict": verdict.kind(),
        "detail": verdict.detail(),
        "trust_level": signers.map(|s| s.trust_level.to_string()),
        "operator": signers.map(|s| public_key_to_did_key(&s.operator)),
        "approver": signers.and_then(|s| s.approver.as_ref().map(|(k, _)| public_key_to_did_key(k))),
        "approver_decision": signers.and_then(|s| s.approver.as_ref().map(|(_, d)| d.to_string())),
        "pinned": pins.any(),
        "pinned_keys": pins.did_keys(),
    })
}

/// Whether the receipt's signers were pinned: nothing pinned, every signer pinned, or at
/// least one not.
fn pin_status(checked: &Checked, pins: &Pins) -> PinStatus {
    if !pins.any() {
        return PinStatus::NothingPinned;
    }
    let entries = checked
        .receipt
        .as_ref()
        .map(|r| r.signatures.as_slice())
        .unwrap_or_default();
    if entries.is_empty() {
        return PinStatus::NotPinned;
    }
    if entries
        .iter()
        .all(|e| pins.status_of_base64(&e.public_key) == PinStatus::Pinned)
    {
        PinStatus::Pinned
    } else {
        PinStatus::NotPinned
    }
}

/// Everything the page shows of one receipt.
pub(crate) fn describe(checked: &Checked, pins: &Pins) -> Value {
    let verdict: &Verdict = &checked.verdict;
    let receipt = checked.receipt.as_ref();
    let signers: Vec<Value> = receipt
        .map(|r| r.signatures.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|s| {
            json!({
                "role": role_name(s.key_id),
                "key": did_of(&s.public_key),
                "pins": pins.status_of_base64(&s.public_key).as_str(),
            })
        })
        .collect();
    let recorded = receipt.map(|r| {
        let c = &r.content;
        json!({
            "content": c,
            "status": RecordedStatus::of(c).as_str(),
            "agent_identity_did": did_of(&c.agent_identity),
            "approver_identity_did": c.approver_decision.as_ref().map(|d| did_of(&d.approver_identity)),
        })
    });
    json!({
        "cli": cli_json(checked, pins),
        "kind": verdict.kind(),
        "valid": verdict.is_valid(),
        "text": verdict.to_string(),
        "detail": verdict.detail(),
        "pins": pin_status(checked, pins).as_str(),
        "signers": signers,
        "receipt": recorded,
    })
}
