//! Many receipts at once: `verify_receipts` against bare `verify_strict` of as many
//! signatures on the same threads, and what batched Ed25519 verification would cost if it
//! had to give `verify_strict`'s verdicts. Each figure is a ratio to a baseline measured
//! seconds before it, in rounds, so the machine's load shows as the spread between rounds.
//!
//! `HESO_BENCH_MANY_RECEIPTS` (default 100000) sets the number of receipts,
//! `HESO_BENCH_MANY_ROUNDS` (default 3) the rounds.
#![allow(missing_docs, reason = "a bench binary")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test and bench code: a failure should stop it loudly"
)]

use std::time::Instant;

use curve25519_dalek::edwards::CompressedEdwardsY;
use ed25519_dalek::{Signature, Signer as _, SigningKey};
use heso_receipt::{
    Action, ChainPosition, Decision, Draft, OPERATOR_DOMAIN, PolicyRecord, SignerPins, Verb,
    content_canonical_bytes, sign_receipt, verify_receipt, verify_receipts,
};
use serde_json::{Map, Value, json};

/// Lines verified at a time (heso-chain's batch).
const SLICE: usize = 2048;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).map_or(default, |v| v.parse().unwrap())
}

/// The receipt bench's demo-like draft, at position `seq` of one session.
fn draft(seq: u64) -> Draft {
    let fields: Map<String, Value> = json!({
        "query": format!("quarterly revenue for ACME Corp, broken down by region and product line ({seq})"),
        "filters": {"region": ["emea", "amer", "apac"], "year": 2026, "include_forecast": true},
        "limit": 50,
        "notes": "x".repeat(300),
    })
    .as_object()
    .cloned()
    .unwrap();
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
        chain: Some(ChainPosition {
            session_id: "bench".into(),
            seq,
            prev_receipt_hash: None,
        }),
    }
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Runs `work` on each of `items`, split over all cores like `verify_receipts`.
fn on_all_cores<T: Sync, R: Send>(items: &[T], work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let per_thread = items.len().div_ceil(threads()).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = items
            .chunks(per_thread)
            .map(|chunk| scope.spawn(|| chunk.iter().map(&work).collect::<Vec<_>>()))
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    })
}

fn seconds(work: impl FnOnce()) -> f64 {
    let start = Instant::now();
    work();
    start.elapsed().as_secs_f64()
}

fn main() {
    let n = env("HESO_BENCH_MANY_RECEIPTS", 100_000);
    let rounds = env("HESO_BENCH_MANY_ROUNDS", 3);
    let key = SigningKey::from_bytes(&[1u8; 32]);
    let public = key.verifying_key();

    let build = Instant::now();
    let seqs: Vec<u64> = (0..n as u64).collect();
    let lines: Vec<String> = on_all_cores(&seqs, |&seq| {
        sign_receipt(draft(seq), &key).unwrap().to_json().unwrap()
    });
    let line_refs: Vec<&[u8]> = lines.iter().map(String::as_bytes).collect();
    // The baseline verifies the operator signature of every receipt: the same messages.
    let signed: Vec<(Vec<u8>, Signature)> = on_all_cores(&lines, |line| {
        let receipt: heso_receipt::Receipt = serde_json::from_str(line).unwrap();
        let canonical = content_canonical_bytes(&receipt.content).unwrap();
        let message = [OPERATOR_DOMAIN, &canonical].concat();
        let signature = key.sign(&message);
        (message, signature)
    });
    eprintln!(
        "(built {n} receipts of {} bytes in {:.0} s)",
        lines[0].len(),
        build.elapsed().as_secs_f64()
    );

    println!(
        "== {n} L0 receipts on {} threads (ratios: time per receipt / time per bare verify_strict, same round) ==",
        threads()
    );
    for round in 1..=rounds {
        let bare = seconds(|| {
            on_all_cores(&signed, |(m, s)| public.verify_strict(m, s).unwrap());
        });
        // Both in slices of 2,048 lines, as heso-chain's verify_log hands them over; which
        // of the two runs first alternates between rounds.
        let run_one_by_one = || {
            seconds(|| {
                for slice in line_refs.chunks(SLICE) {
                    let verdicts = on_all_cores(slice, |l| verify_receipt(l, &SignerPins::Any));
                    assert!(verdicts.iter().all(|c| c.verdict.is_valid()));
                }
            })
        };
        let run_many = || {
            seconds(|| {
                for slice in line_refs.chunks(SLICE) {
                    let verdicts = verify_receipts(slice, &SignerPins::Any);
                    assert!(verdicts.iter().all(|c| c.verdict.is_valid()));
                }
            })
        };
        let (one_by_one, many) = if round % 2 == 1 {
            let one_by_one = run_one_by_one();
            (one_by_one, run_many())
        } else {
            let many = run_many();
            (run_one_by_one(), many)
        };
        println!(
            "round {round}: bare verify_strict {:>7.0} /s; verify_receipt per line {:>7.0} /s ({:.2}x); verify_receipts {:>7.0} /s ({:.2}x)",
            n as f64 / bare,
            n as f64 / one_by_one,
            one_by_one / bare,
            n as f64 / many,
            many / bare,
        );
    }

    // What exact batching would cost, on one thread: ed25519-dalek's verify_batch, and the
    // check that R has no small-order component (without it a batch accepts signatures
    // verify_strict rejects).
    let sample = signed.len().min(8192);
    let batch = 256;
    let signed = &signed[..sample];
    println!(
        "== batching, one thread, {sample} signatures (ratios: time per signature / one-by-one verify_strict, same round) =="
    );
    for round in 1..=rounds {
        let single = seconds(|| {
            for (m, s) in signed {
                public.verify_strict(m, s).unwrap();
            }
        });
        let batched = seconds(|| {
            for chunk in signed.chunks(batch) {
                let messages: Vec<&[u8]> = chunk.iter().map(|(m, _)| m.as_slice()).collect();
                let signatures: Vec<Signature> = chunk.iter().map(|(_, s)| *s).collect();
                ed25519_dalek::verify_batch(&messages, &signatures, &vec![public; chunk.len()])
                    .unwrap();
            }
        });
        let torsion = seconds(|| {
            for (_, s) in signed {
                let r = CompressedEdwardsY(*s.r_bytes()).decompress().unwrap();
                assert!(r.is_torsion_free());
            }
        });
        println!(
            "round {round}: verify_strict {:>6.1} us; verify_batch ({batch} a batch) {:.2}x; R torsion check {:.2}x; batch + check {:.2}x",
            single / sample as f64 * 1e6,
            batched / single,
            torsion / single,
            (batched + torsion) / single,
        );
    }
}
