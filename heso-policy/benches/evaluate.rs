//! Evaluation of a 100-rule policy against a 1-rule policy, in the same run.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs,
    reason = "bench code"
)]

use criterion::{Criterion, criterion_group, criterion_main};
use heso_policy::{ActionInput, Policy};
use heso_receipt::Verb;
use serde_json::{Map, json};

/// 100 rules spread over the seven verbs, each with a tool glob, a quarter with one
/// condition; the action matches none of them until the last of its verb.
fn hundred_rules() -> String {
    let mut text = String::new();
    for i in 0..100 {
        let verb = Verb::ALL[i % 7];
        text.push_str(&format!("[[rule]]\nid = \"r{i}\"\nverb = \"{verb}\"\ntool = \"tool_{i}_*\"\ndecision = \"allow\"\n"));
        if i % 4 == 0 {
            text.push_str("conditions = [{ field = \"amount\", op = \"gt\", value = 1000 }]\n");
        }
        text.push('\n');
    }
    text
}

fn benches(c: &mut Criterion) {
    let big = Policy::parse(&hundred_rules(), "heso.toml").unwrap();
    let one = Policy::parse(
        "[[rule]]\nid = \"r\"\nverb = \"tool_call\"\ntool = \"search*\"\ndecision = \"allow\"\n",
        "heso.toml",
    )
    .unwrap();
    let fields: Map<String, serde_json::Value> = json!({"query": "pricing", "amount": 5})
        .as_object()
        .cloned()
        .unwrap();
    let action = ActionInput {
        verb: Verb::ToolCall,
        tool_name: "search",
        workflow: "run-42",
        account: "default",
        target_host: None,
        fields: &fields,
    };
    let mut group = c.benchmark_group("policy");
    group.bench_function("baseline: 1-rule policy", |b| {
        b.iter(|| one.evaluate(&action))
    });
    group.bench_function("100-rule policy", |b| b.iter(|| big.evaluate(&action)));
    group.finish();
}

criterion_group!(all, benches);
criterion_main!(all);
