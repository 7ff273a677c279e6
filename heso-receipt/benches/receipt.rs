//! Sign path and verify per receipt, against bare Ed25519 on the same bytes.
#![allow(missing_docs, reason = "criterion macros generate undocumented items")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test and bench code: a failure should stop it loudly"
)]

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ed25519_dalek::{Signer as _, SigningKey};
use heso_receipt::{
    Action, Decision, Draft, PolicyRecord, SignerPins, Verb, content_canonical_bytes, sign_receipt,
    verify_receipt,
};
use serde_json::{Map, Value, json};

/// A demo-like draft of about 1 KB once signed.
fn draft() -> Draft {
    let fields: Map<String, Value> = json!({
        "query": "quarterly revenue for ACME Corp, broken down by region and product line",
        "filters": {"region": ["emea", "amer", "apac"], "year": 2026, "include_forecast": true},
        "limit": 50,
        "notes": "x".repeat(300),
    })
    .as_object()
    .cloned()
    .unwrap_or_default();
    Draft {
        captured_at: "2026-11-24T00:00:00Z".into(),
        action: Action {
            verb: Verb::ToolCall,
            tool_name: "search".into(),
            workflow: "run-42".into(),
            account: "default".into(),
            fields,
            target_host: None,
            result_hash: None,
            error: None,
        },
        policy: PolicyRecord {
            rule_id: "tool.allow".into(),
            rule_display: "When any agent calls tool_call on any tool, allow".into(),
            matched_conditions: vec![],
            decision_path: Decision::Allow,
        },
        redaction: None,
        chain: None,
    }
}

fn benches(c: &mut Criterion) {
    let key = SigningKey::from_bytes(&[1u8; 32]);
    let receipt = sign_receipt(draft(), &key).unwrap();
    let line = receipt.to_json().unwrap();
    let canonical = content_canonical_bytes(&receipt.content).unwrap();
    let signature = key.sign(&canonical);
    let public = key.verifying_key();
    println!("receipt size: {} bytes", line.len());

    let mut group = c.benchmark_group("receipt");
    group.bench_function("baseline: bare ed25519 sign of C", |b| {
        b.iter(|| key.sign(&canonical))
    });
    // The draft is made outside the timing: a caller has it in hand (the engine builds it
    // from the call), and making it here (json!, a 300-byte string) is no part of signing.
    group.bench_function(
        "sign path: build + JCS + BLAKE3 + ed25519 + serialise",
        |b| {
            b.iter_batched(
                draft,
                |d| sign_receipt(d, &key).unwrap().to_json().unwrap(),
                BatchSize::SmallInput,
            )
        },
    );
    group.bench_function("baseline: bare ed25519 verify_strict of C", |b| {
        b.iter(|| public.verify_strict(&canonical, &signature).unwrap())
    });
    group.bench_function(
        "verify: parse + strict checks + JCS + BLAKE3 + verify_strict",
        |b| {
            b.iter(|| {
                assert!(
                    verify_receipt(line.as_bytes(), &SignerPins::Any)
                        .verdict
                        .is_valid()
                )
            })
        },
    );
    group.finish();
}

criterion_group!(all, benches);
criterion_main!(all);
