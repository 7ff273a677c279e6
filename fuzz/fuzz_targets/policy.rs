#![no_main]
//! Any text as heso.toml: a policy or an error, then evaluation and lint never panic.
use heso_policy::{ActionInput, Policy};
use heso_receipt::Verb;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(policy) = Policy::parse(text, "heso.toml") else { return };
    let fields = serde_json::json!({"amount": 5000, "to": "eve@acme.example", "items": [{"sku": "a"}]});
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
        assert!(verb != Verb::Delete || !matches!(evaluation.decision, heso_receipt::Decision::Allow | heso_receipt::Decision::Redact));
    }
    let _ = policy.lint();
});
