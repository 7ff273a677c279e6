//! `heso verify PREFIX` against `heso verify FILE` on a 100,000-receipt log, same run.
//!
//! `HESO_BENCH_HESO=target/release/heso cargo bench -p heso-chain --bench verify_prefix`
//! (build the CLI first: `cargo build --release -p heso-cli`); without it the bench says
//! so and does nothing. HESO_BENCH_RECEIPTS (default 100000), HESO_BENCH_RUNS (default 40).
//!
//! In a fresh project (`heso init`, `heso demo`), the log is grown through [`Log::append`]
//! (which keeps `receipts.index`) with receipts signed by a bench key (not the project's:
//! only the receipt looked up is verified, so the timing is the same; the newest one's
//! verdict is "untrusted signer"). Timed, as the median wall time of the runs, from inside
//! the project: `heso verify receipt.json` (the baseline, the demo's receipt), `heso verify
//! PREFIX` (12 digits) for the first and the last line of the log, and the same two with
//! `receipts.index` deleted (the lookup reads the whole log, as before the index).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "bench code: a failure should stop it loudly"
)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use heso_chain::{Durability, INDEX_FILE, Log, LogOptions};
use heso_receipt::{
    Action, ChainPosition, Decision, Draft, PolicyRecord, SigningKey, Verb, sign_receipt,
};
use serde_json::{Map, Value};

fn draft(position: &ChainPosition, n: usize) -> Draft {
    let mut fields = Map::new();
    fields.insert("query".into(), Value::String(format!("filler {n}")));
    Draft {
        captured_at: "2026-11-24T00:00:00Z".into(),
        action: Action {
            verb: Verb::ToolCall,
            tool_name: "filler".into(),
            workflow: "default".into(),
            account: "default".into(),
            fields,
            target_host: None,
            result_hash: None,
            error: None,
        },
        policy: PolicyRecord {
            rule_id: "tool.allow".into(),
            rule_display: "allow".into(),
            matched_conditions: vec![],
            decision_path: Decision::Allow,
        },
        redaction: None,
        chain: Some(position.clone()),
    }
}

fn run(heso: &Path, cwd: &Path, args: &[&str]) -> String {
    let out = Command::new(heso)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "heso {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Median wall milliseconds of `runs` starts, after one warm-up; the exit status is not
/// checked (the verdict does not change the work).
fn wall_ms(heso: &Path, cwd: &Path, args: &[&str], runs: usize) -> f64 {
    let start = || {
        Command::new(heso)
            .args(args)
            .current_dir(cwd)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
    };
    start();
    let mut samples: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            start();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let Ok(heso) = std::env::var("HESO_BENCH_HESO") else {
        println!("set HESO_BENCH_HESO to a heso binary (target/release/heso) to run this bench");
        return;
    };
    let heso = std::fs::canonicalize(heso).unwrap();
    let receipts = env("HESO_BENCH_RECEIPTS", 100_000);
    let runs = env("HESO_BENCH_RUNS", 40);
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path();
    run(&heso, root, &["init"]);
    let demo = run(&heso, root, &["demo"]);
    let first: String = demo
        .lines()
        .find_map(|l| l.trim().strip_prefix("allow"))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(12)
        .collect();
    let shown = run(&heso, root, &["show", &first]);
    std::fs::write(root.join("receipt.json"), shown).unwrap();

    let data = root.join("heso-local-data");
    let (log, _) = Log::open(
        &data,
        LogOptions {
            durability: Durability::Os,
        },
    )
    .unwrap();
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let grow = Instant::now();
    let mut last = String::new();
    for n in 0..receipts {
        last = log
            .append(|p| sign_receipt(draft(p, n), &key).unwrap().to_json())
            .unwrap()
            .action_hash;
    }
    drop(log);
    eprintln!(
        "(grew the log by {receipts} in {:.0} s)",
        grow.elapsed().as_secs_f64()
    );
    let log_mb = std::fs::metadata(data.join("receipts.jsonl"))
        .unwrap()
        .len() as f64
        / 1e6;
    let index_mb = std::fs::metadata(data.join(INDEX_FILE)).unwrap().len() as f64 / 1e6;

    let base = wall_ms(&heso, root, &["verify", "receipt.json"], runs);
    let mut rows = vec![("verify receipt.json (baseline)".to_owned(), base)];
    let prefixes = [
        ("first line", first.clone()),
        ("last line", last[..12].to_owned()),
    ];
    for (label, prefix) in &prefixes {
        rows.push((
            format!("verify PREFIX, {label}, through receipts.index"),
            wall_ms(&heso, root, &["verify", prefix], runs),
        ));
    }
    std::fs::remove_file(data.join(INDEX_FILE)).unwrap();
    for (label, prefix) in &prefixes {
        rows.push((
            format!("verify PREFIX, {label}, index deleted (reads the log)"),
            wall_ms(&heso, root, &["verify", prefix], (runs / 5).max(5)),
        ));
    }
    println!(
        "{} receipts: log {log_mb:.1} MB, receipts.index {index_mb:.1} MB",
        receipts + 2
    );
    for (name, ms) in rows {
        println!("{name:<58} {ms:>9.2} ms  ({:.2}x the baseline)", ms / base);
    }
}
