//! heso-receipt's verification for JavaScript: the browser verifier in `web/` runs the
//! same code as `heso verify`, on the reader's machine, with no network.
//!
//! Inputs are bytes, exactly as read from a file or encoded from pasted text: nothing is
//! decoded or trimmed on the way, so a byte-order mark, UTF-16, a lone `0xFF` or a `\r`
//! get the verdict `heso verify` gives them. Results are JSON strings, so the JavaScript
//! side needs no generated types, and a broken input is a verdict, never an exception.
//!
//! - [`verify_receipt_json`]: one receipt (a file that is not `.jsonl`, or pasted text that
//!   [`pasted_lines`] does not split).
//! - A log: [`verify_lines_json`] verifies a batch of lines (several workers run it at
//!   once), and a [`LogWalk`] folds the batches in line order with heso-receipt's
//!   `LogChecker`: links, heads, counts, signers and a torn tail, as `heso verify LOG.jsonl`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod log;
mod receipt;
mod tlog;

use heso_receipt::{Pasted, SignerPins, split_pasted, verify_receipt};
use serde_json::json;
use wasm_bindgen::prelude::wasm_bindgen;

/// The page's pin field (did:key or base64 keys separated by spaces, commas or lines; empty
/// pins nothing), parsed by heso-receipt as every verifier parses pins.
fn pins_of(field: &str) -> Result<SignerPins, String> {
    SignerPins::from_field(field).map_err(|e| format!("pinned key {e}"))
}

/// Checks the pin field: an empty string when every key in it decodes, else what is wrong.
#[wasm_bindgen]
pub fn check_pins(pinned_keys: &str) -> String {
    pins_of(pinned_keys).err().unwrap_or_default()
}

/// Verifies one receipt from its bytes. Returns JSON: `{cli, text, receipt}` (`cli` is
/// heso-receipt's `ReceiptReport`, `heso verify --json`'s object: verdict, signers, pins),
/// or `{error}` for a pin field that does not decode.
#[wasm_bindgen]
pub fn verify_receipt_json(bytes: &[u8], pinned_keys: &str) -> String {
    match pins_of(pinned_keys) {
        Err(error) => json!({ "error": error }).to_string(),
        Ok(pins) => receipt::describe(&verify_receipt(bytes, &pins), &pins).to_string(),
    }
}

/// Verifies one JSON document from its bytes, as `heso verify FILE` does: an inclusion
/// bundle (a JSON object with `receipt` and `checkpoint`, as `heso prove` writes) gets
/// [`tlog::verify_bundle`]'s result (`{bundle: true, cli, words, ...}`; `cli` is
/// heso-receipt's `BundleReport`), anything else
/// [`verify_receipt_json`]'s.
#[wasm_bindgen]
pub fn verify_document_json(bytes: &[u8], pinned_keys: &str) -> String {
    if !heso_tlog::InclusionBundle::looks_like(bytes) {
        return verify_receipt_json(bytes, pinned_keys);
    }
    match pins_of(pinned_keys) {
        Err(error) => json!({ "error": error }).to_string(),
        Ok(pins) => tlog::verify_bundle(bytes, &pins).to_string(),
    }
}

/// How pasted text is read, as `heso verify -` reads stdin: empty for one receipt, else
/// each receipt line as (line number, start, end) in `bytes`, flattened.
#[wasm_bindgen]
pub fn pasted_lines(bytes: &[u8]) -> Vec<f64> {
    match split_pasted(bytes) {
        Pasted::One(_) => Vec::new(),
        Pasted::Log(lines) => {
            let base = bytes.as_ptr() as usize;
            lines
                .iter()
                .flat_map(|(n, line)| {
                    let start = (line.as_ptr() as usize).saturating_sub(base);
                    [*n as f64, start as f64, (start + line.len()) as f64]
                })
                .collect()
        }
    }
}

/// Verifies a batch of log lines: `bounds` holds (line number, start, end) in `bytes` per
/// line, flattened; `base` is where `bytes` starts in the whole input. Returns the lines'
/// results as JSON, for [`LogWalk::fold`].
#[wasm_bindgen]
pub fn verify_lines_json(
    bytes: &[u8],
    bounds: &[f64],
    base: f64,
    pinned_keys: &str,
) -> Result<String, String> {
    log::verify_lines(bytes, bounds, base, &pins_of(pinned_keys)?)
}

/// A log verified so far: batches of [`verify_lines_json`] folded in line order.
#[wasm_bindgen]
pub struct LogWalk(log::Walk);

#[wasm_bindgen]
impl LogWalk {
    /// An empty log, for signers pinned in `pinned_keys`.
    #[wasm_bindgen(constructor)]
    pub fn new(pinned_keys: &str) -> Result<LogWalk, String> {
        Ok(LogWalk(log::Walk::new(pins_of(pinned_keys)?)))
    }

    /// Adds a checkpoint file (`heso log checkpoint`'s output) the log must contain, before
    /// the first batch. The report then holds each checkpoint's verdict, as `heso log
    /// verify --checkpoint FILE` gives it. A file that is not a signed checkpoint is an
    /// error (the CLI's message).
    pub fn add_checkpoint(&mut self, name: &str, bytes: &[u8]) -> Result<(), String> {
        self.0.add_checkpoint(name, bytes)
    }

    /// Folds the next batch; returns its rows as JSON: `[{n, o, l, k, t, st, v, tool, q,
    /// s, h, at}]` (line, offset, length, kind and text of its verdict in the log, recorded
    /// status, verb, tool, seq, session, action_hash, captured_at).
    pub fn fold(&mut self, batch: &str) -> Result<String, String> {
        self.0.fold(batch)
    }

    /// Verifies a batch of lines here (as [`verify_lines_json`]) and folds it: for logs
    /// too small to be worth helper workers.
    pub fn verify_fold(
        &mut self,
        bytes: &[u8],
        bounds: &[f64],
        base: f64,
    ) -> Result<String, String> {
        self.0.verify_fold(bytes, bounds, base)
    }

    /// Indexes of the rows of the last batch folded that are not valid.
    pub fn failed(&self) -> Vec<u32> {
        self.0.failed()
    }

    /// The log ends in `bytes` bytes without a newline.
    pub fn torn_tail(&mut self, bytes: f64) {
        self.0.torn_tail(bytes as u64);
    }

    /// `{receipts, counts}` so far.
    pub fn counts(&self) -> String {
        self.0.counts()
    }

    /// The report: `{cli, words, all_valid, log_valid, checkpoints, torn_tail}`; `cli` is
    /// heso-receipt's `PinnedLogReport` (`heso verify LOG.jsonl --json`'s object: counts,
    /// sessions, signers with their pin status, pins), `words` its text lines with `name`
    /// for the file, `torn_tail` the torn tail in words.
    pub fn finish(self, name: &str) -> String {
        self.0.finish(name)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]

    use super::*;
    use serde_json::Value;

    fn chain() -> Vec<String> {
        let doc: Value =
            serde_json::from_str(include_str!("../../heso-receipt/tests/data/chain_3.json"))
                .unwrap();
        doc["receipts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| serde_json::to_string(r).unwrap())
            .collect()
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        let out: Value = serde_json::from_str(&verify_receipt_json(b"{not json", "")).unwrap();
        assert_eq!(out["cli"]["verdict"], "Malformed");
        let lone: Value = serde_json::from_str(&verify_receipt_json(&[0xff], "")).unwrap();
        assert_eq!(lone["cli"]["verdict"], "Malformed");
        let bad_pin: Value = serde_json::from_str(&verify_receipt_json(b"{}", "nope")).unwrap();
        assert!(bad_pin["error"].as_str().unwrap().contains("nope"));
        assert!(check_pins("nope").contains("nope"));
        assert_eq!(check_pins(""), "");
    }

    #[test]
    fn batches_folded_in_order_are_the_log() {
        let lines = chain();
        let text = format!("{}\n\n{}\n{}", lines[0], lines[2], lines[1]);
        let bytes = text.as_bytes();
        let mut bounds = Vec::new();
        let mut start = 0;
        for (n, line) in text.split('\n').enumerate() {
            bounds.extend([(n + 1) as f64, start as f64, (start + line.len()) as f64]);
            start += line.len() + 1;
        }
        let mut walk = LogWalk::new("").unwrap();
        let first = verify_lines_json(bytes, &bounds[..6], 0.0, "").unwrap();
        let second = verify_lines_json(bytes, &bounds[6..], 0.0, "").unwrap();
        let rows: Value = serde_json::from_str(&walk.fold(&first).unwrap()).unwrap();
        assert_eq!(rows[0]["k"], "Valid");
        assert_eq!(rows[1]["k"], "Malformed");
        let rows: Value = serde_json::from_str(&walk.fold(&second).unwrap()).unwrap();
        assert_eq!(rows[0]["k"], "LinkBroken");
        assert_eq!(rows[0]["n"], 3);
        let report: Value = serde_json::from_str(&walk.finish("log.jsonl")).unwrap();
        assert_eq!(report["cli"]["receipts"], 4);
        assert_eq!(report["cli"]["counts"]["LinkBroken"], 2);
        assert_eq!(report["cli"]["signers"][0]["receipts"], 3);
        assert_eq!(report["cli"]["signers"][0]["pin"], "nothing_pinned");
        assert_eq!(report["words"][0], "log.jsonl: 4 receipts in 1 session");
    }

    /// A log walked with checkpoint files beside it: `lines` folded as one batch.
    fn checked(lines: &[String], checkpoints: &[(&str, String)], pins: &str) -> Value {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let mut bounds = Vec::new();
        let mut start = 0;
        for (n, line) in lines.iter().enumerate() {
            bounds.extend([(n + 1) as f64, start as f64, (start + line.len()) as f64]);
            start += line.len() + 1;
        }
        let mut walk = LogWalk::new(pins).unwrap();
        for (name, text) in checkpoints {
            walk.add_checkpoint(name, text.as_bytes()).unwrap();
        }
        walk.verify_fold(text.as_bytes(), &bounds, 0.0).unwrap();
        serde_json::from_str(&walk.finish("log.jsonl")).unwrap()
    }

    /// A checkpoint of the first `size` receipts of `lines`, of `session`, naming
    /// `named` as operator and signed with the seed `signer`.
    fn checkpoint(lines: &[String], size: usize, session: &str, named: u8, signer: u8) -> String {
        let leaves: Vec<_> = lines[..size]
            .iter()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                heso_tlog::leaf_hash_from_hex(v["content"]["action_hash"].as_str().unwrap())
                    .unwrap()
            })
            .collect();
        let root = heso_tlog::tree_root(&leaves[..], size as u64).unwrap();
        let named = heso_tlog::SigningKey::from_bytes(&[named; 32]).verifying_key();
        let origin = heso_tlog::origin(&heso_tlog::operator_multibase(&named), session).unwrap();
        heso_tlog::Checkpoint::new(&origin, size as u64, root)
            .unwrap()
            .sign(&heso_tlog::SigningKey::from_bytes(&[signer; 32]))
            .to_string()
    }

    #[test]
    fn a_log_beside_its_checkpoints_gets_the_cli_verdicts() {
        let lines = chain();
        let three = checkpoint(&lines, 3, "sess-vec", 1, 1);
        let verdict = |report: &Value| report["cli"]["checkpoints"][0]["verdict"].clone();
        let whole = checked(&lines, &[("three", three.clone())], "");
        assert_eq!(verdict(&whole), "Contained", "{whole}");
        assert_eq!(whole["all_valid"], true);
        assert_eq!(
            whole["cli"]["checkpoints"][0]["detail"],
            "Contained: the log's first 3 receipts (of 3) give the checkpoint's root"
        );
        // Two checkpoints, one of an earlier size: both roots are taken on the way.
        let two = checkpoint(&lines, 2, "sess-vec", 1, 1);
        let both = checked(&lines, &[("three", three.clone()), ("two", two)], "");
        assert_eq!(
            both["cli"]["checkpoints"][1]["verdict"], "Contained",
            "{both}"
        );

        let cut = checked(&lines[..2], &[("three", three.clone())], "");
        assert_eq!(verdict(&cut), "Truncated");
        assert_eq!(cut["all_valid"], false);
        assert_eq!(cut["log_valid"], true);
        let empty = checked(&[], &[("three", three.clone())], "");
        assert_eq!(
            empty["cli"]["checkpoints"][0]["detail"],
            "Truncated: the checkpoint covers 3 receipts, the log holds 0"
        );
        let swapped = [lines[1].clone(), lines[0].clone(), lines[2].clone()];
        assert_eq!(
            verdict(&checked(&swapped, &[("three", three.clone())], "")),
            "RootMismatch"
        );
        let garbled = [lines[0].clone(), "{".into(), lines[2].clone()];
        let report = checked(&garbled, &[("three", three.clone())], "");
        assert_eq!(
            report["cli"]["checkpoints"][0]["detail"],
            "RootMismatch: the log's first 3 receipts include line 2, which is not a receipt"
        );

        // Signed by another key than the one its origin names.
        let forged = checkpoint(&lines, 3, "sess-vec", 1, 3);
        assert_eq!(
            verdict(&checked(&lines, &[("f", forged)], "")),
            "InvalidSignature"
        );
        // Another operator's log, or another log of this operator.
        let theirs = checkpoint(&lines, 3, "sess-vec", 3, 3);
        assert_eq!(
            verdict(&checked(&lines, &[("t", theirs)], "")),
            "OriginMismatch"
        );
        let elsewhere = checkpoint(&lines, 3, "sess-other", 1, 1);
        assert_eq!(
            verdict(&checked(&lines, &[("e", elsewhere)], "")),
            "OriginMismatch"
        );
        // An emptied log: the key the origin names, which must be pinned when keys are.
        let other_pin = "did:key:z6MkvRXNYcE7MMduynWTgeKbDaT1iijDSC8pZqXZc8rHPrf2";
        assert_eq!(
            verdict(&checked(&[], &[("three", three.clone())], other_pin)),
            "OriginMismatch"
        );

        let mut walk = LogWalk::new("").unwrap();
        let error = walk
            .add_checkpoint("cp.txt", b"heso.dev/log/x\n")
            .err()
            .unwrap();
        assert!(
            error.starts_with("cp.txt is not a signed checkpoint: "),
            "{error}"
        );
    }

    #[test]
    fn pasted_text_keeps_its_line_numbers_and_offsets() {
        assert!(pasted_lines(b"{\n}\n").is_empty());
        assert_eq!(
            pasted_lines(b"{}\n\n{ }\n"),
            vec![1.0, 0.0, 2.0, 3.0, 4.0, 7.0]
        );
    }
}
