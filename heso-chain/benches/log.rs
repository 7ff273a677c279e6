//! Log append (with and without fsync, 1 and 4 threads) and whole-log verification, each
//! against a baseline measured in the same run. Run with `cargo bench -p heso-chain`.
//! Sizes: HESO_BENCH_VERIFY_RECEIPTS (default 100000), HESO_BENCH_APPENDS (default 2000).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "bench code: a failure should stop it loudly"
)]

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use heso_chain::{Durability, Log, LogOptions, verify_log};
use heso_receipt::{
    Action, Approval, ApprovalOutcome, ChainPosition, Decision, Draft, PolicyRecord, SignerPins,
    SigningKey, Verb, content_canonical_bytes, sign_approved_receipt, sign_receipt,
};
use rayon::prelude::*;
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

fn draft(position: &ChainPosition) -> Draft {
    Draft {
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
    }
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn per_second(n: usize, seconds: f64) -> f64 {
    n as f64 / seconds
}

fn bench_appends(key: &SigningKey, durability: Durability, threads: usize, total: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = Log::open(dir.path(), LogOptions { durability }).unwrap();
    let log = Arc::new(log);
    // Pre-sign nothing: the closure signs, as the engine does, so the figure is the
    // whole append (sign + write + fsync).
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let log = Arc::clone(&log);
            scope.spawn(move || {
                for _ in 0..total / threads {
                    log.append(|p| sign_receipt(draft(p), key).unwrap().to_json())
                        .unwrap();
                }
            });
        }
    });
    per_second(total, start.elapsed().as_secs_f64())
}

fn bare_write_loop(total: usize, fsync: bool) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join("bare.jsonl"))
        .unwrap();
    let line = vec![b'x'; 1100];
    let start = Instant::now();
    for _ in 0..total {
        file.write_all(&line).unwrap();
        if fsync {
            file.sync_data().unwrap();
        }
    }
    per_second(total, start.elapsed().as_secs_f64())
}

fn build_log(key: &SigningKey, approver: Option<&SigningKey>, n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = Log::open(
        dir.path(),
        LogOptions {
            durability: Durability::Os,
        },
    )
    .unwrap();
    for _ in 0..n {
        log.append(|p| match approver {
            None => sign_receipt(draft(p), key).unwrap().to_json(),
            Some(approver) => sign_approved_receipt(
                draft(p),
                Approval {
                    decision: ApprovalOutcome::Approved,
                    reason: "bench".into(),
                    decided_at: "2026-11-24T00:01:00Z".into(),
                },
                approver,
                key,
            )
            .unwrap()
            .to_json(),
        })
        .unwrap();
    }
    dir
}

fn main() {
    let key = SigningKey::from_bytes(&[1u8; 32]);
    let approver = SigningKey::from_bytes(&[2u8; 32]);
    let appends = env("HESO_BENCH_APPENDS", 2000);
    let n = env("HESO_BENCH_VERIFY_RECEIPTS", 100_000);

    println!("== append ({appends} receipts, each signed inside the lock) ==");
    let bare_fsync = bare_write_loop(appends, true);
    let bare = bare_write_loop(appends, false);
    println!("baseline: bare 1.1 KB write + fsync loop      {bare_fsync:>10.0} /s");
    for threads in [1, 4] {
        let rate = bench_appends(&key, Durability::Fsync, threads, appends);
        println!(
            "append, fsync, {threads} thread(s)                {rate:>10.0} /s  ({:.2}x the bare fsync loop's time per line)",
            bare_fsync / rate
        );
    }
    println!("baseline: bare 1.1 KB write loop (no fsync)   {bare:>10.0} /s");
    for threads in [1, 4] {
        let rate = bench_appends(&key, Durability::Os, threads, appends);
        println!(
            "append, no fsync, {threads} thread(s)             {rate:>10.0} /s  ({:.2}x the bare write loop's time per line)",
            bare / rate
        );
    }

    let approver_key = approver.verifying_key();
    for (label, approver) in [("L0", None), ("L1", Some(&approver))] {
        let dir = build_log(&key, approver, n);
        let path = dir.path().join("receipts.jsonl");
        let bytes = std::fs::metadata(&path).unwrap().len();
        let pins = SignerPins::Only(vec![key.verifying_key(), approver_key]);
        let start = Instant::now();
        let report = verify_log(&path, &pins, None).unwrap();
        let elapsed = start.elapsed().as_secs_f64();
        assert!(report.all_valid());
        // Baseline: bare verify_strict of the same number of signatures, on all cores.
        let receipt = sign_receipt(
            draft(&ChainPosition {
                session_id: "s".into(),
                seq: 0,
                prev_receipt_hash: None,
            }),
            &key,
        )
        .unwrap();
        let message = content_canonical_bytes(&receipt.content).unwrap();
        let signature = ed25519_dalek::Signer::sign(&key, &message);
        let signatures = if approver.is_some() { 2 * n } else { n };
        let public = key.verifying_key();
        let start = Instant::now();
        (0..signatures)
            .into_par_iter()
            .for_each(|_| public.verify_strict(&message, &signature).unwrap());
        let bare = start.elapsed().as_secs_f64();
        println!(
            "== verify_log, {n} {label} receipts ({:.0} bytes each): {:>8.0} receipts/s; bare verify_strict of {signatures} signatures on all cores: {:>8.0} receipts/s equivalent; ratio {:.2}x",
            bytes as f64 / n as f64,
            per_second(n, elapsed),
            per_second(n, bare),
            elapsed / bare
        );
    }
}
