//! Paths, wildcards, escapes, overlaps and secrecy of the redaction result.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

use heso_receipt::{
    Draft, MarkerAlgorithm, RedactionMode, SignerPins, SigningKey, Verb, sign_receipt,
    verify_receipt,
};
use heso_redact::{RedactError, RedactRequest, Salt, check_disclosure, redact};
use serde_json::{Map, Value, json};

fn obj(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

fn paths(out: &heso_redact::Redacted) -> Vec<String> {
    out.redaction
        .as_ref()
        .map(|r| r.markers.iter().map(|m| m.field_path.clone()).collect())
        .unwrap_or_default()
}

/// The redacted fields, signed into a receipt, must verify (markers bound to their values).
fn assert_verifies(out: &heso_redact::Redacted) {
    let action: heso_receipt::Action = serde_json::from_value(json!({
        "verb": "tool_call", "tool_name": "t", "workflow": "w", "account": "a",
        "fields": Value::Object(out.fields.clone()),
    }))
    .unwrap();
    assert_eq!(action.verb, Verb::ToolCall);
    let policy = serde_json::from_value(json!({
        "rule_id": "r", "rule_display": "r", "matched_conditions": [], "decision_path": "redact"
    }))
    .unwrap();
    let draft = Draft {
        captured_at: "2026-11-23T12:00:00Z".into(),
        action,
        policy,
        redaction: out.redaction.clone(),
        chain: None,
    };
    let receipt = sign_receipt(draft, &SigningKey::from_bytes(&[7u8; 32])).unwrap();
    let bytes = serde_json::to_vec(&receipt).unwrap();
    let verdict = verify_receipt(&bytes, &SignerPins::Any).verdict;
    assert_eq!(verdict.to_string(), "Valid (L0)", "{verdict}");
}

#[test]
fn escaped_keys() {
    let fields =
        obj(json!({"headers": {"x.api.key": "k1", "a*b": "k2", "back\\slash": "k3", "ok": 1}}));
    let out = redact(
        &fields,
        &[
            RedactRequest::commit("headers.x\\.api\\.key"),
            RedactRequest::commit("headers.a\\*b"),
            RedactRequest::destroy("headers.back\\\\slash"),
        ],
    )
    .unwrap();
    assert_eq!(
        paths(&out),
        [
            "headers.a\\*b",
            "headers.back\\\\slash",
            "headers.x\\.api\\.key"
        ]
    );
    assert_eq!(out.fields["headers"]["back\\slash"], "[redacted]");
    assert!(out.fields["headers"]["x.api.key"]["_sd"].is_string());
    assert_eq!(out.fields["headers"]["ok"], 1);
    assert_eq!(
        out.redaction.as_ref().unwrap().mode,
        RedactionMode::CommitAndReveal
    );
    assert_verifies(&out);
}

#[test]
fn wildcards_over_arrays_and_objects() {
    let fields = obj(json!({
        "items": [{"card": "4111", "n": 1}, {"card": "4242", "n": 2}, {"n": 3}],
        "tokens": {"b": "tb", "a": "ta"},
        "plain": "x"
    }));
    let out = redact(
        &fields,
        &[
            RedactRequest::commit("tokens.*"),
            RedactRequest::commit("items.*.card"),
        ],
    )
    .unwrap();
    assert_eq!(
        paths(&out),
        ["items.0.card", "items.1.card", "tokens.a", "tokens.b"]
    );
    assert_eq!(out.salts.len(), 4);
    assert_eq!(out.fields["items"][2], json!({"n": 3}));
    assert!(out.unmatched.is_empty());
    let redaction = out.redaction.as_ref().unwrap();
    for (marker, record) in redaction.markers.iter().zip(&out.salts) {
        assert_eq!(marker.field_path, record.field_path);
        assert_eq!(marker.commitment, record.commitment);
        let original = heso_receipt::FieldPath::parse(&marker.field_path)
            .unwrap()
            .resolve(&Value::Object(fields.clone()))[0]
            .1
            .clone();
        assert!(check_disclosure(
            marker,
            record.salt.expose_secret(),
            &original
        ));
    }
    assert_verifies(&out);
}

#[test]
fn array_index_paths_and_unmatched() {
    let fields = obj(json!({"list": ["a", "b", "c"], "map": {"0": "zero"}}));
    let out = redact(
        &fields,
        &[
            RedactRequest::destroy("list.1"),
            RedactRequest::destroy("map.0"),
            RedactRequest::commit("list.9"),
            RedactRequest::commit("missing.*"),
        ],
    )
    .unwrap();
    assert_eq!(out.fields["list"], json!(["a", "[redacted]", "c"]));
    assert_eq!(out.fields["map"]["0"], "[redacted]");
    assert_eq!(out.unmatched, ["list.9", "missing.*"]);
    let redaction = out.redaction.as_ref().unwrap();
    assert_eq!(redaction.mode, RedactionMode::Destructive);
    assert!(redaction.merkle_root.is_none());
    assert!(redaction.markers.iter().all(|m| m.commitment.is_empty()));
    assert_verifies(&out);
}

#[test]
fn nothing_matched_gives_no_redaction_block() {
    let fields = obj(json!({"a": 1}));
    let out = redact(&fields, &[RedactRequest::commit("b")]).unwrap();
    assert!(out.redaction.is_none());
    assert_eq!(out.fields, fields);
    assert_eq!(out.unmatched, ["b"]);
}

#[test]
fn bad_pattern_is_an_error_naming_it() {
    let err = redact(&obj(json!({"a": 1})), &[RedactRequest::commit("a..b")]).unwrap_err();
    assert!(matches!(err, RedactError::Path { ref pattern, .. } if pattern == "a..b"));
    assert!(err.to_string().contains("a..b"));
}

/// Found by the `redact` fuzz target: `*` over an empty key made the marker `headers.`,
/// which no verifier can parse, so the signed receipt was `MalformedRedaction`.
#[test]
fn a_value_under_an_empty_key_is_refused_not_marked_unverifiably() {
    let fields = obj(json!({"headers": {"": "Bearer t", "ok": 1}, "": {"x": 2}}));
    for pattern in ["headers.*", "*", "*.x"] {
        let err = redact(&fields, &[RedactRequest::commit(pattern)]).unwrap_err();
        assert!(
            matches!(err, RedactError::Unaddressable { pattern: ref p, .. } if p == pattern),
            "{pattern}: {err:?}"
        );
        assert!(err.to_string().contains("empty key"), "{err}");
        assert!(!err.to_string().contains("Bearer"), "{err}");
    }
    // A pattern that avoids the empty key still works and verifies.
    let out = redact(&fields, &[RedactRequest::commit("headers.ok")]).unwrap();
    assert_eq!(paths(&out), ["headers.ok"]);
    assert_verifies(&out);
}

#[test]
fn mixed_modes_in_one_action() {
    let fields = obj(json!({"api_key": "sk", "ssn": "123-45-6789", "q": "hi"}));
    let out = redact(
        &fields,
        &[
            RedactRequest::commit("api_key"),
            RedactRequest::destroy("ssn"),
        ],
    )
    .unwrap();
    let redaction = out.redaction.as_ref().unwrap();
    assert_eq!(redaction.mode, RedactionMode::CommitAndReveal);
    assert_eq!(
        redaction.markers[0].algorithm,
        MarkerAlgorithm::SaltedBlake3
    );
    assert_eq!(redaction.markers[1].algorithm, MarkerAlgorithm::Drop);
    assert_eq!(
        redaction.merkle_root.as_deref(),
        Some(heso_receipt::merkle_root([redaction.markers[0].commitment.as_str()]).as_str())
    );
    assert_eq!(out.salts.len(), 1);
    assert_verifies(&out);
}

#[test]
fn overlaps_keep_the_outer_marker_and_never_commit_a_dropped_value() {
    let fields = obj(json!({"headers": {"Authorization": "Bearer t", "Accept": "json"}}));
    // Committed outer, destructive inner: the inner value is dropped before committing.
    let out = redact(
        &fields,
        &[
            RedactRequest::destroy("headers.Authorization"),
            RedactRequest::commit("headers"),
        ],
    )
    .unwrap();
    assert_eq!(paths(&out), ["headers"]);
    assert_eq!(out.subsumed, ["headers.Authorization"]);
    let marker = &out.redaction.as_ref().unwrap().markers[0];
    let salt = out.salts[0].salt.expose_secret();
    assert!(check_disclosure(
        marker,
        salt,
        &json!({"Authorization": "[redacted]", "Accept": "json"})
    ));
    assert!(!check_disclosure(marker, salt, &fields["headers"]));
    assert_verifies(&out);

    // The same path in both modes: dropped.
    let out = redact(
        &fields,
        &[
            RedactRequest::commit("headers.*"),
            RedactRequest::destroy("headers.Accept"),
        ],
    )
    .unwrap();
    assert_eq!(out.fields["headers"]["Accept"], "[redacted]");
    assert!(out.fields["headers"]["Authorization"]["_sd"].is_string());
    assert_verifies(&out);

    // Destructive outer swallows everything inside.
    let out = redact(
        &fields,
        &[
            RedactRequest::commit("headers.Authorization"),
            RedactRequest::destroy("headers"),
        ],
    )
    .unwrap();
    assert_eq!(out.fields["headers"], "[redacted]");
    assert!(out.salts.is_empty());
    assert_verifies(&out);
}

#[test]
fn same_value_twice_gives_different_commitments() {
    let fields = obj(json!({"a": "same", "b": "same"}));
    let first = redact(&fields, &[RedactRequest::commit("a")]).unwrap();
    let second = redact(&fields, &[RedactRequest::commit("a")]).unwrap();
    let c1 = &first.redaction.unwrap().markers[0].commitment;
    let c2 = &second.redaction.unwrap().markers[0].commitment;
    assert_ne!(c1, c2);
    let both = redact(&fields, &[RedactRequest::commit("*")]).unwrap();
    let markers = both.redaction.unwrap().markers;
    assert_ne!(markers[0].commitment, markers[1].commitment);
    assert_ne!(
        both.salts[0].salt.expose_secret(),
        both.salts[1].salt.expose_secret()
    );
}

#[test]
fn secrets_print_nothing() {
    let salt = Salt::from_bytes([0xab; 32]);
    let shown = format!("{salt:?}");
    assert!(!shown.contains("ab") && !shown.contains("171"), "{shown}");
    let out = redact(
        &obj(json!({"k": "sk-live-SECRET"})),
        &[RedactRequest::commit("k")],
    )
    .unwrap();
    let debug = format!("{out:?}");
    assert!(!debug.contains("sk-live-SECRET"));
    let salt_bytes = out.salts[0].salt.expose_secret();
    assert!(!debug.contains(&format!("{salt_bytes:?}")));
    let hex: String = salt_bytes.iter().map(|b| format!("{b:02x}")).collect();
    assert!(!debug.contains(&hex));
}

#[test]
fn drop_marker_never_discloses() {
    let fields = obj(json!({"k": "v"}));
    let out = redact(&fields, &[RedactRequest::destroy("k")]).unwrap();
    let marker = &out.redaction.unwrap().markers[0];
    assert!(!check_disclosure(marker, &[0u8; 32], &json!("v")));
    assert!(!check_disclosure(marker, &[0u8; 32], &json!("[redacted]")));
}
