//! Properties of signing and verification over random contents.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test and bench code: a failure should stop it loudly"
)]

use heso_receipt::{
    Action, Decision, Draft, PolicyRecord, SignerPins, SigningKey, Verb, Verdict, sign_receipt,
    verify_receipt,
};
use proptest::prelude::*;
use serde_json::{Map, Value};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-(1i64 << 53) + 1..(1i64 << 53)).prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
        // Characters outside the BMP, escapes and controls.
        prop::collection::vec(
            prop_oneof![
                Just('\u{1f600}'),
                Just('"'),
                Just('\\'),
                Just('\u{7}'),
                Just('é'),
                Just('\u{fb01}')
            ],
            0..6
        )
        .prop_map(|c| Value::String(c.into_iter().collect())),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("\\PC{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn fields() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map("[a-z\u{1f600}\u{e9}]{1,6}", json_value(), 0..5)
        .prop_map(|m| m.into_iter().collect())
}

fn signed(fields: Map<String, Value>, verb: Verb) -> Value {
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let draft = Draft {
        captured_at: "2026-11-24T00:00:00Z".into(),
        action: Action {
            verb,
            tool_name: "tool".into(),
            workflow: "default".into(),
            account: "default".into(),
            fields,
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
        redaction: None,
        chain: None,
    };
    let receipt = sign_receipt(draft, &key).unwrap();
    serde_json::from_str(&receipt.to_json().unwrap()).unwrap()
}

fn verdict_of(value: &Value) -> Verdict {
    verify_receipt(
        serde_json::to_string(value).unwrap().as_bytes(),
        &SignerPins::Any,
    )
    .verdict
}

/// Every JSON pointer to a scalar or container inside `value`.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                pointers(
                    v,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                pointers(v, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Writes JSON with keys in reverse order and extra whitespace.
fn reordered(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let parts: Vec<String> = map
                .iter()
                .rev()
                .map(|(k, v)| {
                    format!(
                        "\n  {} :  {}",
                        serde_json::to_string(k).unwrap(),
                        reordered(v)
                    )
                })
                .collect();
            format!("{{ {} \n}}", parts.join(" ,"))
        }
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(reordered).collect();
            format!("[ {} ]", parts.join(" , "))
        }
        other => serde_json::to_string(other).unwrap(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn signed_receipts_verify(fields in fields(), verb in prop::sample::select(Verb::ALL.to_vec())) {
        let receipt = signed(fields, verb);
        prop_assert_eq!(verdict_of(&receipt).to_string(), "Valid (L0)");
    }

    #[test]
    fn any_change_to_content_is_detected(fields in fields(), pick in any::<prop::sample::Index>()) {
        let receipt = signed(fields, Verb::ToolCall);
        let mut all = Vec::new();
        pointers(&receipt["content"], String::new(), &mut all);
        let target = pick.get(&all[1..]).clone(); // not the content object itself
        let mut tampered = receipt.clone();
        let slot = tampered["content"].pointer_mut(&target).unwrap();
        *slot = match slot {
            Value::String(s) => Value::String(format!("{s}x")),
            Value::Number(n) => Value::from(n.as_i64().unwrap_or(0).wrapping_add(1) % (1i64 << 52)),
            Value::Bool(b) => Value::Bool(!*b),
            Value::Null => Value::Bool(true),
            Value::Array(items) => { items.push(Value::Null); slot.clone() }
            Value::Object(map) => { map.insert("added".into(), Value::Null); slot.clone() }
        };
        prop_assume!(tampered != receipt);
        let verdict = verdict_of(&tampered);
        prop_assert!(!verdict.is_valid(), "{} still valid after changing {}", verdict, target);
    }

    #[test]
    fn signature_key_and_alg_changes_are_detected(fields in fields(), byte in 0usize..64, bit in 0u8..8) {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::STANDARD;
        let receipt = signed(fields, Verb::Payment);

        let mut flipped = receipt.clone();
        let mut sig = engine.decode(flipped["signatures"][0]["signature"].as_str().unwrap()).unwrap();
        sig[byte] ^= 1 << bit;
        flipped["signatures"][0]["signature"] = Value::String(engine.encode(&sig));
        prop_assert_eq!(verdict_of(&flipped).kind(), "InvalidSignature");

        let mut other_key = receipt.clone();
        let other = SigningKey::from_bytes(&[8u8; 32]).verifying_key();
        other_key["signatures"][0]["public_key"] = Value::String(engine.encode(other.as_bytes()));
        prop_assert_eq!(verdict_of(&other_key).kind(), "InvalidSignature");

        let mut alg = receipt.clone();
        alg["alg"] = Value::String("heso-action/v2+ed25519x".into());
        prop_assert_eq!(verdict_of(&alg).kind(), "WrongAlgorithm");
    }

    #[test]
    fn key_order_and_whitespace_do_not_matter(fields in fields()) {
        let receipt = signed(fields, Verb::HttpRequest);
        let text = reordered(&receipt);
        let verdict = verify_receipt(text.as_bytes(), &SignerPins::Any).verdict;
        prop_assert!(verdict.is_valid(), "{}", verdict);
    }
}

#[test]
fn signature_entry_order_does_not_matter() {
    let vector: Value = serde_json::from_slice(
        &std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/receipt_l1.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let mut receipt = vector["receipt"].clone();
    receipt["signatures"].as_array_mut().unwrap().reverse();
    assert_eq!(verdict_of(&receipt).to_string(), "Valid (L1)");
}

/// JCS edge cases: the bytes hashed are RFC 8785's, not serde_json's.
#[test]
fn jcs_edge_cases() {
    use heso_receipt::canonical_bytes;
    let content: Map<String, Value> = serde_json::from_str(
        r#"{"\ud83d\ude00": 1, "\ufb01": 2, "a": "\u0007\"\\/\u00e9", "n": 1.0, "action_hash": "x"}"#,
    )
    .unwrap();
    let bytes = canonical_bytes(&content).unwrap();
    // Keys by UTF-16 code units (U+1F600 sorts before U+FB01), action_hash dropped,
    // control characters as \u00XX, '/' and non-ASCII unescaped, 1.0 as 1.
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        "{\"a\":\"\\u0007\\\"\\\\/\u{e9}\",\"n\":1,\"\u{1f600}\":1,\"\u{fb01}\":2}"
    );
}

#[test]
fn strict_parse_rejections_are_malformed() {
    let vector: Value = serde_json::from_slice(
        &std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/receipt_l0.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let good = serde_json::to_string(&vector["receipt"]).unwrap();
    let cases = [
        (
            "duplicate key",
            good.replacen(
                "\"tool_name\":\"search\"",
                "\"tool_name\":\"search\",\"tool_name\":\"search\"",
                1,
            ),
            "duplicate key at $.content.action.tool_name",
        ),
        (
            "big integer",
            good.replacen("\"fields\":{", "\"fields\":{\"n\":9007199254740992,", 1),
            "outside",
        ),
        (
            "lone surrogate",
            good.replacen("\"fields\":{", "\"fields\":{\"s\":\"\\ud800\",", 1),
            "surrogate",
        ),
        (
            "unknown envelope key",
            good.replacen("{\"alg\"", "{\"extra\":1,\"alg\"", 1),
            "extra",
        ),
        (
            "unknown content key",
            good.replacen("\"captured_at\"", "\"extra\":1,\"captured_at\"", 1),
            "extra",
        ),
        (
            "null optional",
            good.replacen("\"captured_at\"", "\"seq\":null,\"captured_at\"", 1),
            "content.seq",
        ),
        ("array", "[]".to_owned(), "object"),
        ("truncated", good[..good.len() / 2].to_owned(), "not JSON"),
    ];
    for (name, text, needle) in cases {
        let verdict = verify_receipt(text.as_bytes(), &SignerPins::Any).verdict;
        assert_eq!(verdict.kind(), "Malformed", "{name}: {verdict}");
        assert!(verdict.detail().contains(needle), "{name}: {verdict}");
    }
    // Another version is Unsupported, not Malformed, even with unknown keys.
    let other = good
        .replacen("heso-action/2.0", "heso-action/3.0", 1)
        .replacen("\"captured_at\"", "\"new_field\":1,\"captured_at\"", 1);
    assert_eq!(
        verify_receipt(other.as_bytes(), &SignerPins::Any)
            .verdict
            .kind(),
        "Unsupported"
    );
}
