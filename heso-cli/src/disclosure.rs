//! `heso verify DISCLOSURE.json`: a disclosure exported by `heso reveal --export` (the
//! receipt, the marker's path and commitment, the salt, the value) checked offline with
//! nothing else: the receipt must verify, and salt ‖ path ‖ JCS(value) must hash to the
//! commitment the receipt signed.

use heso_receipt::{MarkerAlgorithm, Pinning, SignerPins, parse_strict, verify_receipt};
use serde::Serialize;
use serde_json::Value;

use crate::Outcome;

/// True when `bytes` look like a disclosure (an object with a receipt, a path and a salt).
pub(crate) fn is_disclosure(bytes: &[u8]) -> bool {
    serde_json::from_slice::<Value>(bytes).is_ok_and(|v| {
        v.get("receipt").is_some() && v.get("salt_hex").is_some() && v.get("field_path").is_some()
    })
}

/// What checking a disclosure found.
struct Checked {
    action_hash: String,
    field_path: String,
    receipt_verdict: String,
    trust_level: Option<String>,
    /// Why it does not hold, when it does not.
    failure: Option<String>,
}

/// `heso verify DISCLOSURE.json --json`: what [`check`] found, and how signers were pinned
/// (heso-receipt's [`Pinning`], the fields every report carries).
#[derive(Serialize)]
struct DisclosureReport<'a> {
    /// Always `disclosure`: says what was verified.
    kind: &'static str,
    valid: bool,
    action_hash: &'a str,
    field_path: &'a str,
    /// The receipt's verdict in words (`Valid (L0)`, `HashMismatch: …`).
    receipt_verdict: &'a str,
    trust_level: Option<&'a str>,
    /// Why it does not hold; empty when valid.
    detail: &'a str,
    #[serde(flatten)]
    pinning: Pinning,
}

fn salt_of(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut salt = [0u8; 32];
    for (out, pair) in salt.iter_mut().zip(bytes.chunks_exact(2)) {
        let text = std::str::from_utf8(pair).ok()?;
        *out = u8::from_str_radix(text, 16).ok()?;
    }
    Some(salt)
}

fn check(bytes: &[u8], pins: &SignerPins) -> Checked {
    let mut checked = Checked {
        action_hash: String::new(),
        field_path: String::new(),
        receipt_verdict: String::new(),
        trust_level: None,
        failure: None,
    };
    let document = match parse_strict(bytes) {
        Ok(document) => document,
        Err(e) => {
            checked.failure = Some(format!("the disclosure is not strict JSON: {e}"));
            return checked;
        }
    };
    let text = |key: &str| {
        document
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    checked.action_hash = text("action_hash").to_owned();
    checked.field_path = text("field_path").to_owned();
    let receipt_bytes = document
        .get("receipt")
        .map(|r| r.to_string().into_bytes())
        .unwrap_or_default();
    let verified = verify_receipt(&receipt_bytes, pins);
    checked.receipt_verdict = verified.verdict.to_string();
    checked.trust_level = verified
        .verdict
        .signers()
        .map(|s| s.trust_level.to_string());
    let fail = |why: String| Some(why);
    let Some(receipt) = verified.receipt.filter(|_| verified.verdict.is_valid()) else {
        checked.failure = fail(format!(
            "its receipt does not verify: {}",
            checked.receipt_verdict
        ));
        return checked;
    };
    if receipt.content.action_hash != checked.action_hash {
        checked.failure = fail(format!(
            "it names action {} but holds the receipt of action {}",
            checked.action_hash, receipt.content.action_hash
        ));
        return checked;
    }
    let marker = receipt.content.redaction.as_ref().and_then(|r| {
        r.markers
            .iter()
            .find(|m| m.field_path == checked.field_path)
    });
    let Some(marker) = marker else {
        checked.failure = fail(format!(
            "the receipt has no redaction marker at {:?}",
            checked.field_path
        ));
        return checked;
    };
    if marker.algorithm != MarkerAlgorithm::SaltedBlake3 || marker.commitment != text("commitment")
    {
        checked.failure = fail(format!(
            "the marker at {:?} is not the salted commitment the disclosure names",
            checked.field_path
        ));
        return checked;
    }
    let Some(salt) = salt_of(text("salt_hex")) else {
        checked.failure = fail("salt_hex is not 64 hex digits".into());
        return checked;
    };
    let value = document.get("value").cloned().unwrap_or(Value::Null);
    if !heso_redact::check_disclosure(marker, &salt, &value) {
        checked.failure = fail(format!(
            "the value with this salt does not give the commitment at {:?}: it is not the value the receipt committed",
            checked.field_path
        ));
    }
    checked
}

pub(crate) fn verify_disclosure(bytes: &[u8], pins: &crate::verify::Pins, json: bool) -> Outcome {
    let checked = check(bytes, &pins.pins);
    let valid = checked.failure.is_none();
    if json {
        let report = DisclosureReport {
            kind: "disclosure",
            valid,
            action_hash: &checked.action_hash,
            field_path: &checked.field_path,
            receipt_verdict: &checked.receipt_verdict,
            trust_level: checked.trust_level.as_deref(),
            detail: checked.failure.as_deref().unwrap_or_default(),
            pinning: pins.pins.pinning(),
        };
        out!(
            "{}",
            serde_json::to_string(&report).map_err(crate::Failure::usage)?
        );
        return Ok(if valid { 0 } else { 1 });
    }
    out!(
        "  disclosure of {} in action {}",
        checked.field_path,
        checked.action_hash
    );
    match &checked.failure {
        None => out!(
            "  Valid: the receipt verifies ({}) and the value matches its commitment",
            checked.receipt_verdict
        ),
        Some(why) => out!("  NOT VALID: {why}"),
    }
    out!("  (verified offline — re-ran BLAKE3 + Ed25519 locally, zero network)");
    out!("  {}", pins.said);
    if valid {
        out!(
            "  proves: when this receipt was signed, its field {} held exactly the value in this file; it reveals nothing about the receipt's other redacted fields",
            checked.field_path
        );
    }
    Ok(if valid { 0 } else { 1 })
}
