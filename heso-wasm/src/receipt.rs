//! One receipt, described for the page: heso-receipt's report (`heso verify --json`, as
//! `cli`), the verdict in words, and everything the receipt records (marked by the page as
//! unverified unless the report says it is valid).

use heso_receipt::{Checked, ReceiptReport, RecordedStatus, SignerPins, public_key_from_base64};
use serde_json::{Value, json};

/// A key as the page names it: did:key when it decodes, else as written.
pub(crate) fn did_of(base64: &str) -> String {
    public_key_from_base64(base64)
        .map(|k| heso_receipt::public_key_to_did_key(&k))
        .unwrap_or_else(|_| base64.to_owned())
}

/// Everything the page shows of one receipt: `cli` is the report (its verdict, signers
/// and pins are read from it), `text` the verdict as `heso verify` prints it, `receipt`
/// what the receipt records.
pub(crate) fn describe(checked: &Checked, pins: &SignerPins) -> Value {
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
        "text": checked.verdict.to_string(),
        "receipt": recorded,
        "cli": ReceiptReport::new(checked, pins),
    })
}
