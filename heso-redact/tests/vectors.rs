//! The reference redaction vectors, reproduced byte for byte from their salts.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

use std::collections::BTreeMap;

use heso_receipt::{
    Draft, Receipt, RedactionMode, SignerPins, SigningKey, sign_receipt, verify_receipt,
};
use heso_redact::{RedactRequest, Salt, check_disclosure, redact_with_salts};
use serde_json::{Map, Value};

fn load(name: &str) -> Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

fn hex32(text: &str) -> [u8; 32] {
    let bytes: Vec<u8> = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect();
    bytes.try_into().unwrap()
}

fn operator() -> SigningKey {
    SigningKey::from_bytes(&[1u8; 32])
}

/// Re-signs the vector's content with our fields and redaction block: the whole receipt
/// must come out identical, signature included (Ed25519 is deterministic).
fn resign(vector: &Value, fields: Map<String, Value>, redacted: &heso_redact::Redacted) -> Value {
    let original: Receipt = serde_json::from_value(vector["receipt"].clone()).unwrap();
    let mut action = original.content.action.clone();
    action.fields = fields;
    let draft = Draft {
        captured_at: original.content.captured_at.clone(),
        action,
        policy: original.content.policy.clone(),
        redaction: redacted.redaction.clone(),
        chain: None,
    };
    serde_json::to_value(sign_receipt(draft, &operator()).unwrap()).unwrap()
}

fn jcs(value: &Value) -> Vec<u8> {
    serde_jcs::to_vec(value).unwrap()
}

#[test]
fn commit_reveal_vector_reproduced() {
    let vector = load("redaction_commit_reveal.json");
    let original = vector["original_fields"].as_object().unwrap().clone();
    let mut salts = BTreeMap::new();
    for reveal in vector["reveals"].as_array().unwrap() {
        salts.insert(
            reveal["field_path"].as_str().unwrap().to_owned(),
            Salt::from_bytes(hex32(reveal["salt_hex"].as_str().unwrap())),
        );
    }
    // Asked in a different order from document order: markers must come out sorted.
    let requests = [
        RedactRequest::commit("headers.Authorization"),
        RedactRequest::commit("api_key"),
    ];
    let out = redact_with_salts(&original, &requests, &salts).unwrap();
    let expected_content = &vector["receipt"]["content"];
    assert_eq!(
        jcs(&Value::Object(out.fields.clone())),
        jcs(&expected_content["action"]["fields"])
    );
    assert_eq!(
        jcs(&serde_json::to_value(out.redaction.as_ref().unwrap()).unwrap()),
        jcs(&expected_content["redaction"])
    );
    assert!(out.unmatched.is_empty());
    assert_eq!(out.salts.len(), 2);
    assert_eq!(out.salts[0].field_path, "api_key");

    let resigned = resign(&vector, out.fields.clone(), &out);
    assert_eq!(jcs(&resigned), jcs(&vector["receipt"]));
    let bytes = serde_json::to_vec(&resigned).unwrap();
    assert_eq!(
        verify_receipt(&bytes, &SignerPins::Any).verdict.to_string(),
        "Valid (L0)"
    );

    // Every reveal in the vector checks out against our markers.
    let redaction = out.redaction.unwrap();
    for (reveal, marker) in vector["reveals"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&redaction.markers)
    {
        assert_eq!(marker.commitment, reveal["commitment"].as_str().unwrap());
        let salt = hex32(reveal["salt_hex"].as_str().unwrap());
        assert!(check_disclosure(marker, &salt, &reveal["value"]));
        assert!(!check_disclosure(marker, &salt, &Value::from("other")));
    }
}

#[test]
fn destructive_vector_reproduced() {
    let vector = load("redaction_destructive.json");
    let mut original = vector["receipt"]["content"]["action"]["fields"]
        .as_object()
        .unwrap()
        .clone();
    original.insert("api_key".into(), Value::from("sk-live-123"));
    let out = redact_with_salts(
        &original,
        &[RedactRequest::destroy("api_key")],
        &BTreeMap::new(),
    )
    .unwrap();
    let redaction = out.redaction.as_ref().unwrap();
    assert_eq!(redaction.mode, RedactionMode::Destructive);
    assert!(redaction.merkle_root.is_none());
    assert!(out.salts.is_empty());
    let resigned = resign(&vector, out.fields.clone(), &out);
    assert_eq!(jcs(&resigned), jcs(&vector["receipt"]));
}
