//! Signed test receipts, shared by the integration tests and the crate's fault-injection
//! unit tests (which include this file by path).

use heso_receipt::{
    Action, ChainPosition, Decision, Draft, PolicyRecord, Receipt, SigningKey, Verb, sign_receipt,
};
use serde_json::{Map, Value};

/// The key every test receipt is signed with.
pub fn test_key() -> SigningKey {
    SigningKey::from_bytes(&[5u8; 32])
}

/// A signed `tool_call` receipt at `position`, as one compact JSON line; `tag` makes each
/// one different.
pub fn signed_line(position: &ChainPosition, tag: &str) -> Result<String, String> {
    signed_receipt(position, tag)?
        .to_json()
        .map_err(|e| e.to_string())
}

/// The receipt of [`signed_line`], typed.
#[allow(dead_code, reason = "not every test binary appends typed receipts")]
pub fn signed_receipt(position: &ChainPosition, tag: &str) -> Result<Receipt, String> {
    let mut fields = Map::new();
    fields.insert("tag".into(), Value::String(tag.into()));
    let draft = Draft {
        captured_at: "2026-11-24T00:00:00Z".into(),
        action: Action {
            verb: Verb::ToolCall,
            tool_name: "search".into(),
            workflow: "default".into(),
            account: "default".into(),
            fields,
            target_host: None,
            result_hash: None,
            error: None,
        },
        policy: PolicyRecord {
            rule_id: "tool.allow".into(),
            rule_display: "allow".into(),
            matched_conditions: vec![],
            decision_path: Decision::Allow,
        },
        redaction: None,
        chain: Some(position.clone()),
    };
    sign_receipt(draft, &test_key()).map_err(|e| e.to_string())
}
