//! heso-receipt's verification for JavaScript: the browser verifier in `web/` runs the
//! same code as `heso verify`, on the reader's machine, with no network.
//!
//! Both functions take text and return a JSON string, so the JavaScript side needs no
//! generated types and a broken input is a verdict, never an exception.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::collections::HashMap;

use heso_receipt::{
    ChainHead, Checked, KeyRole, Receipt, SignerPins, Verdict, check_link, public_key_from_base64,
    public_key_from_str, public_key_to_did_key, verify_receipt,
};
use serde_json::{Value, json};
use wasm_bindgen::prelude::wasm_bindgen;

/// Pinned keys from a text field: did:key or base64, separated by spaces, commas or lines.
/// An empty field pins nothing.
fn pins_from(text: &str) -> Result<SignerPins, String> {
    let keys: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|k| !k.is_empty())
        .collect();
    if keys.is_empty() {
        return Ok(SignerPins::Any);
    }
    keys.iter()
        .map(|k| public_key_from_str(k).map_err(|e| format!("pinned key {k:?}: {e}")))
        .collect::<Result<Vec<_>, _>>()
        .map(SignerPins::Only)
}

fn did_of(base64: &str) -> String {
    public_key_from_base64(base64)
        .map(|k| public_key_to_did_key(&k))
        .unwrap_or_else(|_| base64.to_owned())
}

fn describe(checked: &Checked) -> Value {
    let verdict = &checked.verdict;
    let signers = verdict.signers();
    let receipt: Option<&Receipt> = checked.receipt.as_ref();
    let claimed: Vec<Value> = receipt
        .map(|r| r.signatures.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|s| {
            json!({
                "role": match s.key_id { KeyRole::Operator => "operator", KeyRole::Approver => "approver" },
                "key": did_of(&s.public_key),
            })
        })
        .collect();
    json!({
        "kind": verdict.kind(),
        "valid": verdict.is_valid(),
        "text": verdict.to_string(),
        "detail": verdict.detail(),
        "trust_level": signers.map(|s| s.trust_level.to_string()),
        "operator": signers.map(|s| public_key_to_did_key(&s.operator)),
        "approver": signers.and_then(|s| s.approver.as_ref().map(|(k, _)| public_key_to_did_key(k))),
        "approver_decision": signers.and_then(|s| s.approver.as_ref().map(|(_, d)| d.to_string())),
        "claimed_signers": claimed,
        "receipt": receipt.map(|r| {
            let c = &r.content;
            json!({
                "action_hash": c.action_hash,
                "captured_at": c.captured_at,
                "verb": c.action.verb.as_str(),
                "tool": c.action.tool_name,
                "workflow": c.action.workflow,
                "account": c.action.account,
                "target_host": c.action.target_host,
                "decision": c.policy.decision_path.as_str(),
                "rule_id": c.policy.rule_id,
                "rule_display": c.policy.rule_display,
                "session_id": c.session_id,
                "seq": c.seq,
                "markers": c.redaction.as_ref().map(|red| red.markers.iter().map(|m| json!({
                    "field_path": m.field_path,
                    "algorithm": match m.algorithm {
                        heso_receipt::MarkerAlgorithm::SaltedBlake3 => "salted-blake3/v1",
                        heso_receipt::MarkerAlgorithm::Drop => "drop/v1",
                    },
                    "commitment": m.commitment,
                })).collect::<Vec<_>>()).unwrap_or_default(),
            })
        }),
    })
}

fn pins_error(message: String) -> String {
    json!({"error": message}).to_string()
}

/// Verifies one receipt. Returns JSON: `{kind, valid, text, detail, trust_level, operator,
/// approver, approver_decision, claimed_signers, receipt}` (or `{error}` for bad pins).
#[wasm_bindgen]
pub fn verify_receipt_json(text: &str, pinned_keys: &str) -> String {
    let pins = match pins_from(pinned_keys) {
        Ok(pins) => pins,
        Err(e) => return pins_error(e),
    };
    describe(&verify_receipt(text.trim().as_bytes(), &pins)).to_string()
}

/// Verifies a `.jsonl` log: one entry per line (its own verdict, or `LinkBroken` when it
/// does not follow its predecessor in its session), then each session's chain status.
#[wasm_bindgen]
pub fn verify_log_json(text: &str, pinned_keys: &str) -> String {
    let pins = match pins_from(pinned_keys) {
        Ok(pins) => pins,
        Err(e) => return pins_error(e),
    };
    let mut heads: HashMap<String, ChainHead> = HashMap::new();
    let mut broken: HashMap<String, String> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut lines = Vec::new();
    let body = text.strip_suffix('\n').unwrap_or(text);
    let torn = !text.is_empty() && !text.ends_with('\n');
    for (n, line) in body.split('\n').enumerate() {
        if line.trim().is_empty() && n + 1 == body.split('\n').count() {
            continue;
        }
        let checked = verify_receipt(line.as_bytes(), &pins);
        let mut entry = describe(&checked);
        if let Some((receipt, session)) = checked
            .receipt
            .as_ref()
            .and_then(|r| r.content.session_id.clone().map(|s| (r, s)))
        {
            if !heads.contains_key(&session) && !order.contains(&session) {
                order.push(session.clone());
            }
            match check_link(heads.get(&session), receipt) {
                Ok(head) => {
                    heads.insert(session, head);
                }
                Err(link) => {
                    broken
                        .entry(session.clone())
                        .or_insert_with(|| format!("line {}: {link}", n + 1));
                    if checked.verdict.is_valid() {
                        entry = describe(&Checked {
                            verdict: link,
                            receipt: checked.receipt.clone(),
                        });
                    }
                    heads.insert(
                        session.clone(),
                        ChainHead {
                            session_id: session,
                            seq: receipt.content.seq.unwrap_or(0),
                            action_hash: receipt.content.action_hash.clone(),
                        },
                    );
                }
            }
        }
        if let Value::Object(map) = &mut entry {
            map.insert("line".into(), json!(n + 1));
        }
        lines.push(entry);
    }
    let sessions: Vec<Value> = order
        .iter()
        .map(|s| {
            let head = heads.get(s);
            json!({
                "session_id": s,
                "last_seq": head.map(|h| h.seq),
                "head_hash": head.map(|h| h.action_hash.clone()),
                "chain": broken.get(s).map_or_else(|| "intact".to_owned(), |b| format!("LinkBroken: {b}")),
            })
        })
        .collect();
    let all_valid = !torn && lines.iter().all(|l| l["valid"] == json!(true));
    let torn_verdict =
        torn.then(|| Verdict::TornTail("the last line has no newline".into()).to_string());
    json!({"lines": lines, "sessions": sessions, "torn_tail": torn_verdict, "all_valid": all_valid})
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        let out: Value = serde_json::from_str(&verify_receipt_json("{not json", "")).unwrap();
        assert_eq!(out["kind"], "Malformed");
        let bad_pin: Value = serde_json::from_str(&verify_receipt_json("{}", "nope")).unwrap();
        assert!(bad_pin["error"].as_str().unwrap().contains("nope"));
        let log: Value = serde_json::from_str(&verify_log_json("{}\n[]\n", "")).unwrap();
        assert_eq!(log["lines"].as_array().unwrap().len(), 2);
        assert_eq!(log["all_valid"], false);
    }
}
