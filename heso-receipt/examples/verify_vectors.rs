//! Verifies every receipt in a folder of reference vectors and prints one line each.
#![allow(
    clippy::indexing_slicing,
    reason = "serde_json::Value indexing yields Null for a missing key; it never panics"
)]
//!
//! `cargo run -p heso-receipt --example verify_vectors -- heso-receipt/tests/data`
//! Exit 0 when every valid vector is `Valid` and every tampered one gets its expected kind.

use std::path::PathBuf;
use std::process::ExitCode;

use heso_receipt::{SignerPins, verify_chain, verify_receipt};
use serde_json::Value;

fn main() -> ExitCode {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "heso-receipt/tests/data".into()),
    );
    let mut failures = 0;
    let mut report = |label: String, got: String, expect: &str| {
        let ok = got.split([':', ' ']).next() == Some(expect);
        println!("{} {label} -> {got}", if ok { "ok  " } else { "FAIL" });
        if !ok {
            failures += 1;
        }
    };
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => {
            eprintln!("cannot read {}: {e}", dir.display());
            return ExitCode::from(2);
        }
    };
    files.retain(|p| p.extension().is_some_and(|x| x == "json") && !p.ends_with("keys.json"));
    files.sort();
    for path in files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some(vector) = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        else {
            eprintln!("{name}: not JSON");
            return ExitCode::from(2);
        };
        let one = |receipt: &Value| {
            verify_receipt(receipt.to_string().as_bytes(), &SignerPins::Any)
                .verdict
                .to_string()
        };
        let chain = |receipts: &Value| {
            let lines: Vec<String> = receipts
                .as_array()
                .into_iter()
                .flatten()
                .map(Value::to_string)
                .collect();
            match verify_chain(lines.iter().map(String::as_bytes), &SignerPins::Any) {
                Ok(heads) => format!("Valid ({} receipts, {} session)", lines.len(), heads.len()),
                Err(failure) => failure.verdict.to_string(),
            }
        };
        let expect = vector["expect"].as_str().unwrap_or("Valid");
        if let Some(receipt) = vector.get("receipt") {
            report(name.clone(), one(receipt), expect);
        }
        if let Some(receipts) = vector.get("receipts") {
            report(format!("{name} (chain)"), chain(receipts), expect);
        }
        for case in vector["cases"].as_array().into_iter().flatten() {
            let label = format!("{name}: {}", case["name"].as_str().unwrap_or("?"));
            let expect = case["expect"].as_str().unwrap_or("?");
            if let Some(receipt) = case.get("receipt") {
                report(label, one(receipt), expect);
            } else if let Some(receipts) = case.get("receipts") {
                report(label, chain(receipts), expect);
            }
        }
    }
    if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
