//! The log's Merkle tree: what keeping it costs an append (against a handle that keeps
//! none, in the same run), and what a checkpoint, a proof and an open cost at 1M receipts
//! against the same at 10. Run with `cargo bench -p heso-chain --bench tree`.
//!
//! HESO_BENCH_TREE_RECEIPTS sets the large log's size (default 1,000,000). Its receipts
//! are minimal unsigned lines with the chain fields (the log does not check signatures on
//! append, and the tree only reads `action_hash`), written straight to the file; the
//! sidecars are then rebuilt from it by `Log::open`, which is timed once too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "bench code: a failure should stop it loudly"
)]

use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use heso_chain::{Durability, LeafSource, Log, LogOptions};
use heso_receipt::{
    Action, ChainPosition, Decision, Draft, PolicyRecord, SigningKey, Verb, chain_link,
    sign_receipt,
};
use heso_tlog::{prove_consistency, prove_inclusion};
use serde_json::{Map, Value, json};

fn fields() -> Map<String, Value> {
    json!({
        "query": "quarterly revenue for ACME Corp, broken down by region and product line",
        "filters": {"region": ["emea", "amer", "apac"], "year": 2026, "include_forecast": true},
        "limit": 50,
        "notes": "x".repeat(300),
    })
    .as_object()
    .cloned()
    .unwrap()
}

/// A signed receipt at `position`, as the engine appends it.
fn signed(position: &ChainPosition, key: &SigningKey) -> Result<String, String> {
    let draft = Draft {
        captured_at: "2026-11-24T00:00:00Z".into(),
        action: Action {
            verb: Verb::ToolCall,
            tool_name: "search".into(),
            workflow: "run-42".into(),
            account: "default".into(),
            fields: fields(),
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
        chain: Some(position.clone()),
    };
    sign_receipt(draft, key)
        .map_err(|e| e.to_string())?
        .to_json()
        .map_err(|e| e.to_string())
}

/// A minimal unsigned line with the chain fields, padded to a receipt's usual size.
fn bare(position: &ChainPosition) -> String {
    let hash = blake3_like(position.seq);
    let prev = position
        .prev_receipt_hash
        .as_deref()
        .map(|p| format!(",\"prev_receipt_hash\":\"{p}\""))
        .unwrap_or_default();
    format!(
        "{{\"alg\":\"heso-action/v2+ed25519\",\"content\":{{\"session_id\":\"{}\",\"seq\":{}{prev},\"action_hash\":\"{hash}\",\"pad\":\"{}\"}}}}",
        position.session_id,
        position.seq,
        "x".repeat(1000)
    )
}

/// 64 hex digits that differ for every seq.
fn blake3_like(seq: u64) -> String {
    let mut out = String::with_capacity(64);
    let mut x = seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for _ in 0..4 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push_str(&format!("{x:016x}"));
    }
    out
}

/// Writes `n` bare receipts of session `session` straight to `dir`'s log.
fn write_log(dir: &Path, session: &str, n: u64) {
    std::fs::write(dir.join("session"), format!("{session}\n")).unwrap();
    let file = std::fs::File::create(dir.join("receipts.jsonl")).unwrap();
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut prev: Option<String> = None;
    for seq in 0..n {
        let position = ChainPosition {
            session_id: session.into(),
            seq,
            prev_receipt_hash: prev.take(),
        };
        out.write_all(bare(&position).as_bytes()).unwrap();
        out.write_all(b"\n").unwrap();
        prev = Some(chain_link(session, seq, &blake3_like(seq)));
    }
    out.flush().unwrap();
}

fn os() -> LogOptions {
    LogOptions {
        durability: Durability::Os,
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Appends through a handle with the tree and one without, in alternating batches (the
/// order swapped every round), so a machine that gets busier or quieter during the run
/// moves both alike; prints the medians per append and the median of the per-round
/// ratios.
fn interleaved(label: &str, sign: bool, rounds: usize, batch: usize) {
    let key = SigningKey::from_bytes(&[1u8; 32]);
    let (with_dir, without_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let with = Log::open(with_dir.path(), os()).unwrap().0;
    let without = Log::open_without_tree(without_dir.path(), os()).unwrap().0;
    let append = |log: &Log| {
        log.append(|p| if sign { signed(p, &key) } else { Ok(bare(p)) })
            .unwrap();
    };
    for _ in 0..batch * 4 {
        append(&with);
        append(&without);
    }
    let (mut t_with, mut t_without, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let mut pair = [0.0f64; 2];
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for which in order {
            let log = if which == 0 { &with } else { &without };
            let start = Instant::now();
            for _ in 0..batch {
                append(log);
            }
            pair[which] = start.elapsed().as_secs_f64() * 1e6 / batch as f64;
        }
        t_with.push(pair[0]);
        t_without.push(pair[1]);
        ratios.push(pair[0] / pair[1]);
    }
    println!(
        "append, {label}: with the tree {:.2} µs, without (baseline) {:.2} µs per append \
         (medians of {rounds} interleaved batches of {batch}); ratio {:.3}x (median of \
         per-round ratios)",
        median(&mut t_with),
        median(&mut t_without),
        median(&mut ratios)
    );
}

fn bench_append(c: &mut Criterion) {
    println!("== append with the tree against append without it (durability os) ==");
    interleaved("signed receipt", true, 200, 20);
    interleaved("bare line, no signing", false, 400, 50);
    let key = SigningKey::from_bytes(&[1u8; 32]);
    let mut group = c.benchmark_group("append (durability os)");
    for (label, sign) in [("signed receipt", true), ("bare line, no signing", false)] {
        for tree in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let log = if tree {
                Log::open(dir.path(), os()).unwrap().0
            } else {
                Log::open_without_tree(dir.path(), os()).unwrap().0
            };
            let name = if tree {
                "with the tree"
            } else {
                "without the tree (baseline)"
            };
            group.bench_function(BenchmarkId::new(label, name), |b| {
                b.iter(|| {
                    log.append(|p| if sign { signed(p, &key) } else { Ok(bare(p)) })
                        .unwrap()
                });
            });
        }
    }
    group.finish();
}

/// A log of `n` receipts with its sidecars built; returns the dir and the open log.
fn built(n: u64) -> (tempfile::TempDir, Log) {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), "bench", n);
    let start = Instant::now();
    let (log, _) = Log::open(dir.path(), os()).unwrap();
    if n > 1000 {
        eprintln!(
            "(rebuilt the sidecars of {n} receipts from the log in {:.2} s)",
            start.elapsed().as_secs_f64()
        );
    }
    (dir, log)
}

fn bench_tree(c: &mut Criterion) {
    let large: u64 = std::env::var("HESO_BENCH_TREE_RECEIPTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let origin = "heso.dev/log/z6Mkon3Necd6NkkyfoGoHxid2znGc59LU3K7mubaRcFbLfLX/bench";
    let key = heso_tlog::SigningKey::from_bytes(&[2u8; 32]);
    let logs: Vec<(u64, tempfile::TempDir, Log)> = [10, large]
        .into_iter()
        .map(|n| {
            let (dir, log) = built(n);
            (n, dir, log)
        })
        .collect();

    let mut group = c.benchmark_group("tree");
    group.measurement_time(Duration::from_secs(3));
    for (n, dir, log) in &logs {
        let (head, source): (_, LeafSource) = log.tree_snapshot().unwrap();
        assert_eq!(head.size, *n);
        group.bench_function(
            BenchmarkId::new("signed checkpoint of the whole log", n),
            |b| {
                b.iter(|| log.checkpoint(origin).unwrap().sign(&key));
            },
        );
        let index = n / 3;
        group.bench_function(BenchmarkId::new("inclusion proof", n), |b| {
            b.iter(|| prove_inclusion(&source, index, *n).unwrap());
        });
        group.bench_function(BenchmarkId::new("consistency proof from n/3", n), |b| {
            b.iter(|| prove_consistency(&source, index, *n).unwrap());
        });
        group.bench_function(
            BenchmarkId::new("open the log (sidecars checked)", n),
            |b| {
                b.iter(|| Log::open(dir.path(), os()).unwrap());
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench_append, bench_tree);
criterion_main!(benches);
