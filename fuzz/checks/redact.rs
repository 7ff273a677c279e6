//! A field path (first line) over JSON fields (the rest): redaction never panics, and when
//! the unredacted fields sign into a valid receipt, so do the redacted ones (every marker
//! holds exactly its `{"_sd": c}` or `"[redacted]"`, and `merkle_root` is right).

use heso_receipt::{
    Action, Decision, Draft, PolicyRecord, Redaction, SignerPins, SigningKey, Verb, sign_receipt,
    verify_receipt,
};
use heso_redact::{RedactRequest, redact};
use serde_json::{Map, Value};

fn verdict_of(fields: Map<String, Value>, redaction: Option<Redaction>) -> Option<String> {
    let draft = Draft {
        captured_at: "2026-11-24T00:00:00Z".into(),
        action: Action {
            verb: Verb::ToolCall,
            tool_name: "fuzz".into(),
            workflow: "default".into(),
            account: "default".into(),
            fields,
            target_host: None,
            result_hash: None,
            error: None,
        },
        policy: PolicyRecord {
            rule_id: "fuzz".into(),
            rule_display: "fuzz".into(),
            matched_conditions: vec![],
            decision_path: Decision::Allow,
        },
        redaction,
        chain: None,
    };
    let receipt = sign_receipt(draft, &SigningKey::from_bytes(&[3u8; 32])).ok()?;
    let json = receipt.to_json().ok()?;
    Some(
        verify_receipt(json.as_bytes(), &SignerPins::Any)
            .verdict
            .to_string(),
    )
}

pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (path, json) = text.split_once('\n').unwrap_or((text, "{}"));
    let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(json) else {
        return;
    };
    let requests = [
        RedactRequest::commit(path),
        RedactRequest::destroy(format!("{path}.x")),
    ];
    let Ok(redacted) = redact(&fields, &requests) else {
        return;
    };
    if redacted.redaction.is_none() {
        assert_eq!(
            redacted.fields, fields,
            "nothing matched, yet fields changed"
        );
        return;
    }
    if verdict_of(fields, None).is_some_and(|v| v.starts_with("Valid")) {
        let verdict = verdict_of(redacted.fields, redacted.redaction);
        assert!(
            verdict.as_deref().is_some_and(|v| v.starts_with("Valid")),
            "redacted fields do not verify: {verdict:?}"
        );
    }
}
