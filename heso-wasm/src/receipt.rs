//! One receipt, described for the page: heso-receipt's report (`heso verify --json`), and
//! everything the receipt records (marked by the page as unverified unless it is `Valid`).

use heso_receipt::{Checked, KeyRole, ReceiptReport, RecordedStatus, public_key_from_base64};
use serde_json::{Value, json};

use crate::pins::{Pins, all_of, page_word};

pub(crate) fn role_name(role: KeyRole) -> &'static str {
    match role {
        KeyRole::Operator => "operator",
        KeyRole::Approver => "approver",
    }
}

/// A key as the page names it: did:key when it decodes, else as written.
pub(crate) fn did_of(base64: &str) -> String {
    public_key_from_base64(base64)
        .map(|k| heso_receipt::public_key_to_did_key(&k))
        .unwrap_or_else(|_| base64.to_owned())
}

/// Everything the page shows of one receipt: `cli` is the report, the rest its words.
pub(crate) fn describe(checked: &Checked, pins: &Pins) -> Value {
    let report = ReceiptReport::new(checked, &pins.pins);
    let signers: Vec<Value> = report
        .signers
        .iter()
        .map(|s| {
            json!({
                "role": role_name(s.role),
                "key": s.key,
                "pins": page_word(s.pin),
            })
        })
        .collect();
    let recorded = checked.receipt.as_ref().map(|r| {
        let c = &r.content;
        json!({
            "content": c,
            "status": RecordedStatus::of(c).as_str(),
            "agent_identity_did": did_of(&c.agent_identity),
            "approver_identity_did": c.approver_decision.as_ref().map(|d| did_of(&d.approver_identity)),
        })
    });
    json!({
        "kind": report.verdict,
        "valid": report.valid,
        "text": checked.verdict.to_string(),
        "detail": report.detail,
        "pins": page_word(all_of(pins, report.signers.iter().map(|s| s.pin))),
        "signers": signers,
        "receipt": recorded,
        "cli": report,
    })
}
