//! Log append (with and without fsync, 1 and 4 threads) and whole-log verification, each
//! against a baseline measured in the same run. Run with `cargo bench -p heso-chain`.
//!
//! Sizes: HESO_BENCH_APPENDS (default 2000); HESO_BENCH_VERIFY_RECEIPTS, a comma-separated
//! list of log sizes (default `100000,1000000`; empty skips verification): L0 logs of each
//! size, an L1 log of the first.
//!
//! Group commit: the 4-thread fsync rate is also given as a ratio to the 1-thread one of
//! the same run (threads of one process share fsyncs).
//!
//! Verification and its baseline each run in a child process (this binary started again
//! with HESO_BENCH_CHILD set) that does only that and then reports its own peak resident
//! memory (VmHWM in /proc/self/status, so Linux only), so the peak is that of verifying
//! alone, not of building the log.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "bench code: a failure should stop it loudly"
)]

use std::io::Write;
use std::path::Path;
use std::process::Command;
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

/// Appends `n` receipts (L1 when `approver` is given) through [`Log::append`].
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

fn operator() -> SigningKey {
    SigningKey::from_bytes(&[1u8; 32])
}

fn approver() -> SigningKey {
    SigningKey::from_bytes(&[2u8; 32])
}

/// This process's peak resident set in KiB, or 0 where /proc is not there.
fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// What a child reports: wall seconds of the work and its peak memory.
struct ChildReport {
    seconds: f64,
    peak_kib: u64,
}

/// The child's side: `verify <path>` runs [`verify_log`]; `bare <signatures>` runs
/// `verify_strict` that many times on all cores. Prints `<seconds> <peak KiB>`.
fn child(task: &str) {
    let key = operator();
    let (kind, arg) = task.split_once(' ').unwrap();
    let start = Instant::now();
    match kind {
        "verify" => {
            let pins = SignerPins::Only(vec![key.verifying_key(), approver().verifying_key()]);
            let report = verify_log(Path::new(arg), &pins, None).unwrap();
            assert!(report.all_valid(), "{:?}", report.failures);
        }
        "bare" => {
            let signatures: usize = arg.parse().unwrap();
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
            let public = key.verifying_key();
            (0..signatures)
                .into_par_iter()
                .for_each(|_| public.verify_strict(&message, &signature).unwrap());
        }
        _ => panic!("unknown child task {task:?}"),
    }
    println!("{} {}", start.elapsed().as_secs_f64(), peak_kib());
}

fn run_child(task: &str) -> ChildReport {
    let output = Command::new(std::env::current_exe().unwrap())
        .env("HESO_BENCH_CHILD", task)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "child {task:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let mut words = stdout.split_whitespace();
    ChildReport {
        seconds: words.next().unwrap().parse().unwrap(),
        peak_kib: words.next().unwrap().parse().unwrap(),
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn main() {
    if let Ok(task) = std::env::var("HESO_BENCH_CHILD") {
        child(&task);
        return;
    }
    let key = operator();
    let approver = approver();
    let appends = env("HESO_BENCH_APPENDS", 2000);
    let sizes: Vec<usize> = std::env::var("HESO_BENCH_VERIFY_RECEIPTS")
        .unwrap_or_else(|_| "100000,1000000".into())
        .split(',')
        .filter(|n| !n.trim().is_empty())
        .map(|n| n.trim().parse().unwrap())
        .collect();

    println!("== append ({appends} receipts, each signed inside the lock) ==");
    let bare_fsync = bare_write_loop(appends, true);
    let bare = bare_write_loop(appends, false);
    println!("baseline: bare 1.1 KB write + fsync loop      {bare_fsync:>10.0} /s");
    let mut one_thread = None;
    for threads in [1, 4] {
        let rate = bench_appends(&key, Durability::Fsync, threads, appends);
        println!(
            "append, fsync, {threads} thread(s)                {rate:>10.0} /s  ({:.2}x the bare fsync loop's time per line)",
            bare_fsync / rate
        );
        match one_thread {
            None => one_thread = Some(rate),
            Some(one) => println!(
                "group commit: 4 threads append at {:.2}x the rate of 1 thread",
                rate / one
            ),
        }
    }
    println!("baseline: bare 1.1 KB write loop (no fsync)   {bare:>10.0} /s");
    for threads in [1, 4] {
        let rate = bench_appends(&key, Durability::Os, threads, appends);
        println!(
            "append, no fsync, {threads} thread(s)             {rate:>10.0} /s  ({:.2}x the bare write loop's time per line)",
            bare / rate
        );
    }

    if sizes.is_empty() {
        return;
    }
    let idle = run_child("bare 0");
    println!(
        "== verify_log (each in a child process; peak memory is the child's VmHWM; a child that verifies nothing peaks at {:.1} MiB) ==",
        mib(idle.peak_kib)
    );
    let mut runs: Vec<(&str, Option<&SigningKey>, usize)> =
        sizes.iter().map(|&n| ("L0", None, n)).collect();
    if let Some(&first) = sizes.first() {
        runs.push(("L1", Some(&approver), first));
    }
    for (label, approver, n) in runs {
        let build = Instant::now();
        let dir = build_log(&key, approver, n);
        let path = dir.path().join("receipts.jsonl");
        let bytes = std::fs::metadata(&path).unwrap().len();
        eprintln!(
            "(built {n} {label} receipts in {:.0} s)",
            build.elapsed().as_secs_f64()
        );
        let verified = run_child(&format!("verify {}", path.display()));
        let signatures = if approver.is_some() { 2 * n } else { n };
        let bare = run_child(&format!("bare {signatures}"));
        println!(
            "verify_log, {n} {label} receipts ({:.0} bytes each): {:>8.0} receipts/s, peak {:.1} MiB; \
             baseline: bare verify_strict of {signatures} signatures on all cores: {:>8.0} receipts/s, peak {:.1} MiB; \
             ratio {:.2}x the time",
            bytes as f64 / n as f64,
            per_second(n, verified.seconds),
            mib(verified.peak_kib),
            per_second(n, bare.seconds),
            mib(bare.peak_kib),
            verified.seconds / bare.seconds
        );
    }
}
