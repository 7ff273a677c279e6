//! A whole allowed gate in Rust (policy, redaction, sign, append with `durability =
//! "os"`), against the sign path of the very receipt it writes, in the same run: what the
//! gate adds to signing before any binding (Python, Node) is involved.
#![allow(missing_docs, reason = "criterion macros generate undocumented items")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "bench code: a failure should stop it loudly"
)]

use std::time::{Duration, SystemTime};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use heso_engine::{ActionRequest, Engine, GateStatus, init_project};
use heso_keystore::PassphraseSources;
use heso_receipt::{Receipt, SigningKey, Verb, sign_receipt};
use serde_json::{Map, Value, json};

/// The fields of `bench_gate.py`'s call: `bare(query="pricing")`.
fn fields() -> Map<String, Value> {
    json!({"query": "pricing"}).as_object().cloned().unwrap()
}

fn benches(c: &mut Criterion) {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    init_project(dir, false, &PassphraseSources::default()).unwrap();
    let config = dir.join("heso.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("durability = \"fsync\"", "durability = \"os\""),
    )
    .unwrap();
    // Within 2 s of an edit each call reads heso.toml again (an edit could keep its
    // timestamp): wait for the steady state.
    let written = std::fs::metadata(&config).unwrap().modified().unwrap();
    let settled = written + Duration::from_millis(2100);
    if let Ok(wait) = settled.duration_since(SystemTime::now()) {
        std::thread::sleep(wait);
    }
    let engine = Engine::open(Some(dir)).unwrap();
    let request = ActionRequest::new(Verb::ToolCall, "bare", fields());
    let outcome = engine.gate(&request).unwrap();
    assert_eq!(outcome.status, GateStatus::Allowed);

    // The receipt the gate just wrote, signed again from its draft: the sign path of the
    // same content, same size.
    let log = std::fs::read_to_string(dir.join("heso-local-data/receipts.jsonl")).unwrap();
    let line = log.lines().last().unwrap();
    let receipt: Receipt = serde_json::from_str(line).unwrap();
    let draft = receipt.content.into_draft();
    let key = SigningKey::from_bytes(&[7u8; 32]);
    println!("receipt size: {} bytes", line.len());

    let mut group = c.benchmark_group("gate");
    group.bench_function("baseline: sign path of the same receipt", |b| {
        b.iter_batched(
            || draft.clone(),
            |d| sign_receipt(d, &key).unwrap().to_json().unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("Engine::gate, allowed, durability os", |b| {
        b.iter(|| engine.gate(&request).unwrap())
    });
    group.finish();
}

criterion_group!(gate, benches);
criterion_main!(gate);
