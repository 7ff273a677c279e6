//! Prints what the browser verifier reports for a file, through heso-wasm's exported
//! functions called natively, for heso-py/tests/test_one_report.py, which compares it with
//! `heso verify FILE --json` and `heso.verify`/`heso.verify_log` field for field.
//!
//! Arguments are jobs of three, each printing one line of JSON:
//! `receipt FILE PINS`: `verify_document_json`'s `cli` object for the file's bytes.
//! `log FILE PINS`: the file split as web/worker.js splits a log file (every complete
//! line a receipt, bytes after the last newline a torn tail), folded by a `LogWalk`; prints
//! `finish`'s `cli` object. PINS is the page's pin field (keys separated by spaces or
//! commas; empty pins nothing). A pin field that does not decode prints `{"error": …}`.
#![allow(missing_docs, reason = "a test helper")]

use std::process::ExitCode;

use heso_wasm::{LogWalk, verify_document_json};
use serde_json::{Value, json};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || !args.len().is_multiple_of(3) {
        eprintln!("usage: report (receipt|log FILE PINS)...");
        return ExitCode::from(2);
    }
    // One line of JSON per job, in order: one process for a test's many cases.
    for job in args.chunks_exact(3) {
        let [what, file, pins] = job else {
            return ExitCode::from(2);
        };
        let bytes = match std::fs::read(file) {
            Ok(bytes) => bytes,
            Err(e) => {
                eprintln!("report: cannot read {file}: {e}");
                return ExitCode::from(2);
            }
        };
        let out = match what.as_str() {
            "receipt" => cli_of(&verify_document_json(&bytes, pins)),
            "log" => log(&bytes, pins),
            other => {
                eprintln!("report: {other}: give receipt or log");
                return ExitCode::from(2);
            }
        };
        println!("{out}");
    }
    ExitCode::SUCCESS
}

/// The `cli` object of a result, or the result itself when it has none (`{error}`).
fn cli_of(result: &str) -> Value {
    let mut value: Value =
        serde_json::from_str(result).unwrap_or_else(|e| json!({"bad": e.to_string()}));
    match value.get_mut("cli") {
        Some(cli) => cli.take(),
        None => value,
    }
}

fn log(bytes: &[u8], pins: &str) -> Value {
    let mut walk = match LogWalk::new(pins) {
        Ok(walk) => walk,
        Err(error) => return json!({ "error": error }),
    };
    let mut bounds = Vec::new();
    let mut start = 0usize;
    let mut number = 0u32;
    for (at, byte) in bytes.iter().enumerate() {
        if *byte == b'\n' {
            number += 1;
            bounds.extend([f64::from(number), start as f64, at as f64]);
            start = at + 1;
        }
    }
    if let Err(error) = walk.verify_fold(bytes, &bounds, 0.0) {
        return json!({ "error": error });
    }
    if start < bytes.len() {
        walk.torn_tail((bytes.len() - start) as f64);
    }
    cli_of(&walk.finish("log"))
}
