//! heso's strictness on redaction beyond the bare format: every `{"_sd": …}` object inside
//! `action.fields` is bound to a marker (sits at a salted marker's path), and markers are
//! listed in the order JCS writes the fields. Anything else is `MalformedRedaction`.
//!
//! The receipts here are signed by hand (canonical bytes, hash, Ed25519), not through
//! `sign_receipt`, so a receipt the signer would refuse can still be put to the verifier.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

use std::fs;
use std::path::PathBuf;

use base64::Engine as _;
use ed25519_dalek::Signer as _;
use heso_receipt::{
    Action, Decision, Draft, FieldPath, Marker, MarkerAlgorithm, OPERATOR_DOMAIN, PolicyRecord,
    Redaction, RedactionMode, SignError, SignerPins, SigningKey, Verb, Verdict, action_hash_of,
    canonical_bytes, merkle_root, public_key_to_base64, salted_commitment, sign_receipt,
    verify_receipt,
};
use proptest::prelude::*;
use serde_json::{Value, json};

fn key() -> SigningKey {
    SigningKey::from_bytes(&[5u8; 32])
}

/// A receipt over `fields` and `redaction` as given (markers as JSON, in the order given),
/// hashed and signed correctly, so only the redaction checks can refuse it.
fn signed_by_hand(fields: Value, redaction: Option<Value>) -> Value {
    let key = key();
    let public = public_key_to_base64(&key.verifying_key());
    let mut content = json!({
        "action_version": "heso-action/2.0",
        "captured_at": "2026-11-24T00:00:00Z",
        "agent_identity": public,
        "action": {
            "verb": "tool_call",
            "tool_name": "t",
            "workflow": "default",
            "account": "default",
            "fields": fields,
        },
        "policy": {
            "rule_id": "r",
            "rule_display": "redact",
            "matched_conditions": [],
            "decision_path": "redact",
        },
        "trust_level": "L0",
    });
    if let Some(redaction) = redaction {
        content["redaction"] = redaction;
    }
    let canonical = canonical_bytes(content.as_object().unwrap()).unwrap();
    content["action_hash"] = Value::String(action_hash_of(&canonical));
    let mut message = OPERATOR_DOMAIN.to_vec();
    message.extend_from_slice(&canonical);
    let signature = base64::engine::general_purpose::STANDARD.encode(key.sign(&message).to_bytes());
    json!({
        "alg": "heso-action/v2+ed25519",
        "content": content,
        "signatures": [{
            "algorithm": "Ed25519",
            "key_id": "operator",
            "public_key": public,
            "signature": signature,
        }],
    })
}

fn verdict(receipt: &Value) -> Verdict {
    verify_receipt(&serde_json::to_vec(receipt).unwrap(), &SignerPins::Any).verdict
}

fn salted(path: &str, commitment: &str) -> Value {
    json!({"field_path": path, "algorithm": "salted-blake3/v1", "commitment": commitment})
}

fn dropped(path: &str) -> Value {
    json!({"field_path": path, "algorithm": "drop/v1", "commitment": ""})
}

/// A redaction block for `markers`, with `mode` and `merkle_root` derived from them in the
/// order given, so the only thing wrong (if anything) is binding or order.
fn redaction(markers: &[Value]) -> Value {
    let commitments: Vec<&str> = markers
        .iter()
        .filter(|m| m["algorithm"] == "salted-blake3/v1")
        .map(|m| m["commitment"].as_str().unwrap())
        .collect();
    let mut block = json!({
        "mode": if commitments.is_empty() { "destructive" } else { "commit_and_reveal" },
        "markers": markers,
    });
    if !commitments.is_empty() {
        block["merkle_root"] = Value::String(merkle_root(commitments));
    }
    block
}

/// A commitment of `value` at `path` under a fixed salt (the verifier never sees salts).
fn commit(path: &str, value: &Value) -> String {
    salted_commitment(&[9u8; 32], path, value).unwrap()
}

fn sd(commitment: &str) -> Value {
    json!({"_sd": commitment})
}

fn assert_malformed(receipt: &Value, needle: &str, case: &str) {
    let got = verdict(receipt);
    assert_eq!(got.kind(), "MalformedRedaction", "{case}: got {got}");
    assert!(got.detail().contains(needle), "{case}: {got}");
}

fn load_vector(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

#[test]
fn a_marker_removed_while_its_sd_stays_is_malformed() {
    let vector = load_vector("redaction_commit_reveal.json");
    let receipt = &vector["receipt"]["content"];
    let fields = receipt["action"]["fields"].clone();
    let markers = receipt["redaction"]["markers"].as_array().unwrap().clone();
    assert_eq!(markers.len(), 2);

    // Both markers, re-signed by hand: the control, so the cases below fail for their
    // one defect and not for how they were built.
    let control = signed_by_hand(fields.clone(), Some(redaction(&markers)));
    assert_eq!(verdict(&control).to_string(), "Valid (L0)");

    for (removed, left) in [(0, 1), (1, 0)] {
        let dangling = markers[removed]["field_path"].as_str().unwrap();
        let receipt = signed_by_hand(
            fields.clone(),
            Some(redaction(std::slice::from_ref(&markers[left]))),
        );
        assert_malformed(&receipt, dangling, &format!("marker {removed} removed"));
    }
    // Every marker removed, and the redaction block with them.
    let receipt = signed_by_hand(fields, None);
    assert_malformed(&receipt, "api_key", "no redaction block");
}

#[test]
fn a_fake_sd_object_is_malformed() {
    let c = commit("a", &json!("secret"));
    let fake = "ab".repeat(32);
    let cases = [
        ("top level", json!({"a": sd(&c), "b": sd(&fake)}), "\"b\""),
        (
            "nested in an object",
            json!({"a": sd(&c), "z": {"y": sd(&fake)}}),
            "z.y",
        ),
        (
            "inside an array",
            json!({"a": sd(&c), "list": [1, sd(&fake)]}),
            "list.1",
        ),
        (
            "with other keys",
            json!({"a": sd(&c), "b": {"_sd": fake, "other": 1}}),
            "\"b\"",
        ),
        (
            "holding a non-string",
            json!({"a": sd(&c), "b": {"_sd": 7}}),
            "\"b\"",
        ),
        (
            "inside a value next to a marker",
            json!({"a": sd(&c), "b": {"c": [{"d": {"_sd": fake}}]}}),
            "b.c.0.d",
        ),
    ];
    for (case, fields, needle) in cases {
        let receipt = signed_by_hand(fields, Some(redaction(&[salted("a", &c)])));
        assert_malformed(&receipt, needle, case);
    }
    // `fields` itself is no marker's path.
    let receipt = signed_by_hand(json!({"_sd": fake}), None);
    assert_malformed(&receipt, "action.fields", "fields itself");
    // A dropped marker does not bind an `_sd` object either.
    let receipt = signed_by_hand(
        json!({"a": "[redacted]", "b": sd(&fake)}),
        Some(redaction(&[dropped("a")])),
    );
    assert_malformed(&receipt, "\"b\"", "beside a drop marker");
}

#[test]
fn markers_out_of_jcs_order_are_malformed() {
    // Each list is in JCS order; reversed, it is not. Each pair is chosen where a naive
    // order disagrees with JCS: string order of the paths, UTF-8 order of keys, decimal
    // text order of indexes.
    let cases: [(&str, Value, [&str; 2]); 4] = [
        ("plain keys", json!({"a": 1, "b": 2}), ["a", "b"]),
        (
            // JCS writes "a" (and all of it) before "a!"; as strings "a!" < "a.z".
            "depth first",
            json!({"a": {"z": 1}, "a!": 2}),
            ["a.z", "a!"],
        ),
        (
            // U+1F600 is D83D.. in UTF-16, before U+FB01; in UTF-8 it sorts after.
            "UTF-16 key order",
            json!({"\u{fb01}": 1, "\u{1f600}": 2}),
            ["\u{1f600}", "\u{fb01}"],
        ),
        (
            "array indexes by number",
            json!({"items": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}),
            ["items.2", "items.10"],
        ),
    ];
    for (case, original, paths) in cases {
        let mut fields = original.clone();
        let mut markers = Vec::new();
        for (n, path) in paths.iter().enumerate() {
            let concrete = FieldPath::parse(path).unwrap().resolve(&original)[0]
                .0
                .clone();
            let slot = concrete.get_mut(&mut fields).unwrap();
            // One salted, one dropped: order holds across algorithms.
            if n == 0 {
                let c = commit(path, slot);
                *slot = sd(&c);
                markers.push(salted(path, &c));
            } else {
                *slot = json!("[redacted]");
                markers.push(dropped(path));
            }
        }
        let in_order = signed_by_hand(fields.clone(), Some(redaction(&markers)));
        assert_eq!(verdict(&in_order).to_string(), "Valid (L0)", "{case}");
        markers.reverse();
        let reversed = signed_by_hand(fields, Some(redaction(&markers)));
        assert_malformed(&reversed, "order", case);
    }
}

#[test]
fn bound_sd_objects_in_arrays_and_nested_objects_are_valid() {
    let a = commit("list.1", &json!("x"));
    let b = commit("deep.k\\.1.0", &json!({"n": 1}));
    let fields = json!({
        "list": [1, sd(&a), "[redacted]"],
        "deep": {"k.1": [sd(&b)]},
        "plain": {"_sdx": 1, "sd": 2},
    });
    let markers = [
        salted("deep.k\\.1.0", &b),
        salted("list.1", &a),
        dropped("list.2"),
    ];
    let receipt = signed_by_hand(fields, Some(redaction(&markers)));
    assert_eq!(verdict(&receipt).to_string(), "Valid (L0)");
}

#[test]
fn the_reference_redaction_vectors_still_verify() {
    for file in ["redaction_commit_reveal.json", "redaction_destructive.json"] {
        let vector = load_vector(file);
        assert!(verdict(&vector["receipt"]).is_valid(), "{file}");
    }
}

fn draft(fields: Value, redaction: Option<Redaction>) -> Draft {
    Draft {
        captured_at: "2026-11-24T00:00:00Z".into(),
        action: Action {
            verb: Verb::ToolCall,
            tool_name: "t".into(),
            workflow: "default".into(),
            account: "default".into(),
            fields: fields.as_object().unwrap().clone(),
            target_host: None,
            result_hash: None,
            error: None,
        },
        policy: PolicyRecord {
            rule_id: "r".into(),
            rule_display: "allow".into(),
            matched_conditions: vec![],
            decision_path: Decision::Allow,
        },
        redaction,
        chain: None,
    }
}

/// The signer refuses what the verifier would call `MalformedRedaction`, so heso never
/// writes a receipt that fails its own verification.
#[test]
fn the_signer_refuses_a_receipt_that_would_not_verify() {
    let fake = "cd".repeat(32);
    let unbound = sign_receipt(draft(json!({"x": {"_sd": fake}}), None), &key());
    match unbound {
        Err(SignError::Redaction(e)) => assert!(e.to_string().contains("\"x\""), "{e}"),
        other => panic!("expected a redaction error, got {other:?}"),
    }

    let marker = |path: &str| Marker {
        field_path: path.into(),
        algorithm: MarkerAlgorithm::Drop,
        commitment: String::new(),
    };
    let out_of_order = Redaction {
        mode: RedactionMode::Destructive,
        markers: vec![marker("b"), marker("a")],
        merkle_root: None,
    };
    let fields = json!({"a": "[redacted]", "b": "[redacted]"});
    assert!(matches!(
        sign_receipt(draft(fields.clone(), Some(out_of_order.clone())), &key()),
        Err(SignError::Redaction(_))
    ));
    let mut in_order = out_of_order;
    in_order.markers.reverse();
    let receipt = sign_receipt(draft(fields, Some(in_order)), &key()).unwrap();
    let checked = verify_receipt(receipt.to_json().unwrap().as_bytes(), &SignerPins::Any);
    assert!(checked.verdict.is_valid(), "{}", checked.verdict);
}

// ---- properties: a plain model of binding and order ----

fn leafy() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<i32>().prop_map(Value::from),
        "[a-z]{0,4}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(Value::Array),
            prop::collection::btree_map("[ab.\u{1f600}\u{fb01}]{1,2}", inner, 1..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every leaf's concrete path (none lies inside another, so each can be redacted alone).
fn leaf_paths(fields: &Value) -> Vec<String> {
    let every = (1..=4).flat_map(|depth| {
        let pattern = vec!["*"; depth].join(".");
        FieldPath::parse(&pattern).unwrap().resolve(fields)
    });
    let mut out: Vec<_> = every
        .filter(|(_, v)| !v.is_object() && !v.is_array())
        .map(|(p, _)| p)
        .collect();
    out.sort();
    out.into_iter().map(|p| p.to_string()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Markers in document order verify; any other order of the same markers, a marker
    /// dropped from the list, or a fake `_sd` added, is `MalformedRedaction`.
    #[test]
    fn binding_and_order_match_a_plain_model(
        fields in prop::collection::btree_map("[a-c]", leafy(), 1..4)
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        pick in prop::collection::vec(any::<bool>(), 8),
        perm in any::<prop::sample::Index>(),
        drop_one in any::<prop::sample::Index>(),
    ) {
        let paths = leaf_paths(&fields);
        let chosen: Vec<&String> = paths.iter().zip(pick.iter().cycle()).filter(|(_, p)| **p).map(|(s, _)| s).collect();
        prop_assume!(!chosen.is_empty());
        let mut redacted = fields.clone();
        let mut markers = Vec::new();
        for path in &chosen {
            let concrete = FieldPath::parse(path).unwrap().resolve(&fields)[0].0.clone();
            let slot = concrete.get_mut(&mut redacted).unwrap();
            let c = commit(path, slot);
            *slot = sd(&c);
            markers.push(salted(path, &c));
        }
        let good = signed_by_hand(redacted.clone(), Some(redaction(&markers)));
        prop_assert_eq!(verdict(&good).to_string(), "Valid (L0)");

        // Another order: rotate by a random amount (a no-op rotation is skipped).
        let by = perm.index(markers.len());
        if by != 0 {
            let mut rotated = markers.clone();
            rotated.rotate_left(by);
            let receipt = signed_by_hand(redacted.clone(), Some(redaction(&rotated)));
            prop_assert_eq!(verdict(&receipt).kind(), "MalformedRedaction");
        }

        // One marker dropped from the list; its `_sd` stays.
        let mut fewer = markers.clone();
        fewer.remove(drop_one.index(fewer.len()));
        let block = (!fewer.is_empty()).then(|| redaction(&fewer));
        let receipt = signed_by_hand(redacted.clone(), block);
        prop_assert_eq!(verdict(&receipt).kind(), "MalformedRedaction");

        // A fake `_sd` beside the real ones.
        let mut faked = redacted;
        faked.as_object_mut().unwrap().insert("zz".into(), sd(&"ef".repeat(32)));
        let receipt = signed_by_hand(faked, Some(redaction(&markers)));
        prop_assert_eq!(verdict(&receipt).kind(), "MalformedRedaction");
    }
}
