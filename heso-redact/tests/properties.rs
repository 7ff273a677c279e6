//! Properties: every disclosure checks out, and nothing else does.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

use heso_receipt::{FieldPath, Marker};
use heso_redact::{RedactRequest, check_disclosure, redact};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Secret-looking strings that cannot appear by chance inside hex or JSON syntax.
fn secret() -> impl Strategy<Value = String> {
    "[A-Za-z0-9 _.*\\\\-]{1,24}".prop_map(|s| format!("SECRET<{s}>"))
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        secret().prop_map(Value::from),
        any::<i32>().prop_map(Value::from),
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
    ]
}

fn fields() -> impl Strategy<Value = Map<String, Value>> {
    let value = leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z.*\\\\]{1,4}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    prop::collection::btree_map("[a-z.]{1,5}", value, 1..5).prop_map(|m| m.into_iter().collect())
}

fn strings_in(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings_in(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings_in(v, out)),
        _ => {}
    }
}

fn original_at(fields: &Map<String, Value>, marker: &Marker) -> Value {
    let root = Value::Object(fields.clone());
    let found = FieldPath::parse(&marker.field_path).unwrap().resolve(&root);
    assert_eq!(found.len(), 1);
    found[0].1.clone()
}

proptest! {
    #[test]
    fn every_value_committed_discloses_and_nothing_else(fields in fields(), changed in secret()) {
        // Commit every top-level value and every value one level down.
        let out = redact(&fields, &[RedactRequest::commit("*.*"), RedactRequest::commit("*")]).unwrap();
        let Some(redaction) = out.redaction else {
            prop_assert!(fields.is_empty());
            return Ok(());
        };
        prop_assert_eq!(redaction.markers.len(), out.salts.len());
        // Only the top-level paths get markers: the inner ones are subsumed.
        prop_assert_eq!(redaction.markers.len(), fields.len());
        for (marker, record) in redaction.markers.iter().zip(&out.salts) {
            prop_assert_eq!(&marker.field_path, &record.field_path);
            prop_assert_eq!(&marker.commitment, &record.commitment);
            let salt = record.salt.expose_secret();
            let value = original_at(&fields, marker);
            prop_assert!(check_disclosure(marker, salt, &value));
            // A changed value, salt or path does not.
            prop_assert!(!check_disclosure(marker, salt, &json!([value.clone(), changed.clone()])));
            let mut other_salt = *salt;
            other_salt[0] ^= 1;
            prop_assert!(!check_disclosure(marker, &other_salt, &value));
            let mut moved = marker.clone();
            moved.field_path.push('x');
            prop_assert!(!check_disclosure(&moved, salt, &value));
        }
        // No original string survives in the redacted fields, as serialised JSON.
        let text = serde_json::to_string(&out.fields).unwrap();
        let mut originals = Vec::new();
        strings_in(&Value::Object(fields.clone()), &mut originals);
        for original in originals {
            let encoded = serde_json::to_string(&original).unwrap();
            let encoded = &encoded[1..encoded.len() - 1];
            prop_assert!(!text.contains(encoded), "{} found in {}", original, text);
        }
    }

    #[test]
    fn nested_wildcards_verify_and_hide(fields in fields()) {
        let out = redact(&fields, &[RedactRequest::destroy("*.*.*"), RedactRequest::commit("*.*")]).unwrap();
        if let Some(redaction) = &out.redaction {
            // Markers come out in document order, one per concrete path.
            let mut sorted: Vec<_> = redaction.markers.iter().map(|m| {
                FieldPath::parse(&m.field_path).unwrap().resolve(&Value::Object(out.fields.clone()))[0].0.clone()
            }).collect();
            let before = sorted.clone();
            sorted.sort();
            sorted.dedup();
            prop_assert_eq!(before, sorted);
        }
        // Every string at depth >= 2 is gone.
        let text = serde_json::to_string(&out.fields).unwrap();
        for value in fields.values() {
            if let Value::Object(_) | Value::Array(_) = value {
                let mut inner = Vec::new();
                strings_in(value, &mut inner);
                for s in inner {
                    let encoded = serde_json::to_string(&s).unwrap();
                    prop_assert!(!text.contains(&encoded[1..encoded.len() - 1]));
                }
            }
        }
    }
}
