//! Any text as heso.toml: a policy or an error; evaluation and lint never panic, and a
//! delete never comes out `allow` or `redact` (the floor).

use heso_policy::{ActionInput, Policy};
use heso_receipt::{Decision, Verb};

pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(policy) = Policy::parse(text, "heso.toml") else {
        return;
    };
    let fields =
        serde_json::json!({"amount": 5000, "to": "eve@acme.example", "items": [{"sku": "a"}]});
    let fields = fields.as_object().cloned().unwrap_or_default();
    for verb in Verb::ALL {
        let evaluation = policy.evaluate(&ActionInput {
            verb,
            tool_name: "search",
            workflow: "run-42",
            account: "default",
            target_host: Some("api.example"),
            fields: &fields,
        });
        assert!(
            verb != Verb::Delete
                || !matches!(evaluation.decision, Decision::Allow | Decision::Redact),
            "a delete came out {:?}",
            evaluation.decision
        );
    }
    let _ = policy.lint();
}
