//! Logs in the browser: lines verified in batches (by several workers at once), then folded
//! in order by heso-receipt's `LogChecker`, the code `heso verify LOG.jsonl` runs.
//!
//! A batch's results cross from a verifying worker to the folding one as JSON
//! ([`LineOut`]); the fold rebuilds each line's verdict from it. Nothing is decided here:
//! the verdict is `verify_receipts`'s (`verify_receipt`'s, line for line), the links, heads, counts and torn tail the
//! checker's.

use std::collections::HashMap;

use heso_receipt::{
    ApprovalOutcome, ChainClaim, KeyRole, LineCheck, LogChecker, PinnedLogReport, RecordedStatus,
    SignerPins, Signers, TrustLevel, Verdict, VerifyingKey, public_key_from_base64,
    verify_receipts,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::tlog::{Checkpoints, TreeLine, lenient_entry};

/// One verified line, as a verifying worker hands it to the fold.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct LineOut {
    /// Line number.
    n: u64,
    /// Byte offset of the line in the input, and its length.
    o: f64,
    l: f64,
    /// The line's own verdict: kind and detail.
    k: String,
    d: String,
    /// A valid receipt's signers (base64) and derived level, for the rebuilt verdict.
    tl: Option<TrustLevel>,
    op: Option<String>,
    ap: Option<String>,
    apd: Option<ApprovalOutcome>,
    /// Its chain fields, when it parsed.
    c: Option<ChainClaimOut>,
    /// Its claimed signers: (role, base64 key).
    sg: Vec<(KeyRole, String)>,
    /// What the table shows of it.
    st: Option<String>,
    v: Option<String>,
    tool: Option<String>,
    at: Option<String>,
    /// For a line that did not parse as a receipt: its session and action_hash as the
    /// log's tree reads them (leniently), when it has them with a seq.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    x: Option<(String, String)>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ChainClaimOut {
    s: Option<String>,
    q: Option<u64>,
    p: Option<String>,
    h: String,
}

/// Verifies the lines of one batch. `bounds` holds, per line, its number and its start and
/// end in `bytes`; `base` is the batch's offset in the whole input.
pub(crate) fn verify_lines(
    bytes: &[u8],
    bounds: &[f64],
    base: f64,
    pins: &SignerPins,
) -> Result<String, String> {
    let lines = verify_lines_out(bytes, bounds, base, pins)?;
    serde_json::to_string(&lines).map_err(|e| e.to_string())
}

fn verify_lines_out(
    bytes: &[u8],
    bounds: &[f64],
    base: f64,
    pins: &SignerPins,
) -> Result<Vec<LineOut>, String> {
    let mut lines = Vec::with_capacity(bounds.len() / 3);
    let mut spans = Vec::with_capacity(bounds.len() / 3);
    for triple in bounds.chunks_exact(3) {
        let &[n, start, end] = triple else {
            continue;
        };
        let line = bytes
            .get(start as usize..end as usize)
            .ok_or_else(|| format!("line {n}: bounds {start}..{end} outside the batch"))?;
        lines.push(line);
        spans.push((n, start, end, line));
    }
    // One call for the batch, so each signer's key is decoded once, not once a line.
    let verified = verify_receipts(&lines, pins);
    let mut out = Vec::with_capacity(verified.len());
    for ((n, start, end, line), checked) in spans.into_iter().zip(verified) {
        let receipt = checked.receipt.as_ref();
        let signers = checked.verdict.signers();
        out.push(LineOut {
            n: n as u64,
            o: base + start,
            l: end - start,
            k: checked.verdict.kind().to_owned(),
            d: checked.verdict.detail().to_owned(),
            tl: signers.map(|s| s.trust_level),
            op: signers.map(|s| heso_receipt::public_key_to_base64(&s.operator)),
            ap: signers.and_then(|s| {
                s.approver
                    .as_ref()
                    .map(|(k, _)| heso_receipt::public_key_to_base64(k))
            }),
            apd: signers.and_then(|s| s.approver.as_ref().map(|(_, d)| *d)),
            c: receipt.map(|r| {
                let claim = ChainClaim::of(r);
                ChainClaimOut {
                    s: claim.session_id,
                    q: claim.seq,
                    p: claim.prev_receipt_hash,
                    h: claim.action_hash,
                }
            }),
            sg: receipt
                .map(|r| {
                    r.signatures
                        .iter()
                        .map(|s| (s.key_id, s.public_key.clone()))
                        .collect()
                })
                .unwrap_or_default(),
            st: receipt.map(|r| RecordedStatus::of(&r.content).as_str().to_owned()),
            v: receipt.map(|r| r.content.action.verb.as_str().to_owned()),
            tool: receipt.map(|r| r.content.action.tool_name.clone()),
            at: receipt.map(|r| r.content.captured_at.clone()),
            x: if receipt.is_none() {
                lenient_entry(line)
            } else {
                None
            },
        });
    }
    Ok(out)
}

/// The walk over a whole log, in line order.
pub(crate) struct Walk {
    checker: LogChecker,
    pins: SignerPins,
    keys: HashMap<String, VerifyingKey>,
    /// Indexes (in the last batch folded) of its rows that are not valid.
    failed: Vec<u32>,
    /// Checkpoint files given beside the log, and the trees they are checked against.
    checkpoints: Checkpoints,
}

/// A row of the page's table.
#[derive(Serialize)]
struct Row<'a> {
    n: u64,
    o: f64,
    l: f64,
    /// The line's verdict in the log (its own, or `LinkBroken`) and its text.
    k: &'a str,
    t: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    st: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    v: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    q: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    s: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    h: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    at: Option<&'a str>,
}

impl Walk {
    pub(crate) fn new(pins: SignerPins) -> Walk {
        Walk {
            checker: LogChecker::new(),
            pins,
            keys: HashMap::new(),
            failed: Vec::new(),
            checkpoints: Checkpoints::default(),
        }
    }

    /// Adds a checkpoint file to check the log against (before any batch is folded).
    pub(crate) fn add_checkpoint(&mut self, name: &str, bytes: &[u8]) -> Result<(), String> {
        if self.checker.report().receipts > 0 {
            return Err("checkpoints are given before the log's lines".into());
        }
        self.checkpoints.add(name, bytes)
    }

    fn key(&mut self, base64: &str) -> Result<VerifyingKey, String> {
        if let Some(key) = self.keys.get(base64) {
            return Ok(*key);
        }
        let key = public_key_from_base64(base64).map_err(|e| format!("signer {base64}: {e}"))?;
        self.keys.insert(base64.to_owned(), key);
        Ok(key)
    }

    /// The line's own verdict, rebuilt from what its worker sent (heso-receipt's
    /// `Verdict::from_kind`).
    fn verdict(&mut self, line: &LineOut) -> Result<Verdict, String> {
        let signers = if line.k == "Valid" {
            let operator = self.key(line.op.as_deref().unwrap_or_default())?;
            let approver = match (&line.ap, line.apd) {
                (Some(key), Some(decision)) => Some((self.key(key)?, decision)),
                _ => None,
            };
            Some(Signers {
                trust_level: line.tl.unwrap_or(TrustLevel::L0),
                operator,
                approver,
            })
        } else {
            None
        };
        Verdict::from_kind(&line.k, line.d.clone(), signers)
            .ok_or_else(|| format!("line {}: unknown verdict {}", line.n, line.k))
    }

    /// Folds a batch (the JSON of [`verify_lines`]) and returns its rows.
    pub(crate) fn fold(&mut self, batch: &str) -> Result<String, String> {
        let lines: Vec<LineOut> = serde_json::from_str(batch).map_err(|e| e.to_string())?;
        self.fold_lines(&lines)
    }

    /// Verifies a batch here and folds it: [`verify_lines`] then [`Walk::fold`], without
    /// the JSON between them.
    pub(crate) fn verify_fold(
        &mut self,
        bytes: &[u8],
        bounds: &[f64],
        base: f64,
    ) -> Result<String, String> {
        let lines = verify_lines_out(bytes, bounds, base, &self.pins)?;
        self.fold_lines(&lines)
    }

    /// Indexes of the rows of the last batch folded that are not valid.
    pub(crate) fn failed(&self) -> Vec<u32> {
        self.failed.clone()
    }

    fn fold_lines(&mut self, lines: &[LineOut]) -> Result<String, String> {
        self.failed.clear();
        let mut rows = String::with_capacity(lines.len() * 200);
        rows.push('[');
        for (i, line) in lines.iter().enumerate() {
            let verdict = self.verdict(line)?;
            let own_text = verdict.to_string();
            let check = LineCheck {
                verdict,
                chain: line.c.as_ref().map(|c| ChainClaim {
                    session_id: c.s.clone(),
                    seq: c.q,
                    prev_receipt_hash: c.p.clone(),
                    action_hash: c.h.clone(),
                }),
                signers: line.sg.clone(),
            };
            if !self.checkpoints.is_empty() {
                let entry = match &line.c {
                    Some(c) => {
                        c.s.as_deref()
                            .filter(|_| c.q.is_some())
                            .map(|s| (s, c.h.as_str()))
                    }
                    None => line.x.as_ref().map(|(s, h)| (s.as_str(), h.as_str())),
                };
                self.checkpoints.push(TreeLine {
                    number: line.n,
                    entry,
                    operator: line.op.as_deref().filter(|_| line.k == "Valid"),
                });
            }
            let relinked = self.checker.push(line.n, check);
            if relinked.is_some() || line.k != "Valid" {
                self.failed.push(u32::try_from(i).unwrap_or(u32::MAX));
            }
            let row = Row {
                n: line.n,
                o: line.o,
                l: line.l,
                k: relinked.as_ref().map_or(line.k.as_str(), |v| v.kind()),
                t: relinked.as_ref().map_or(own_text, ToString::to_string),
                st: line.st.as_deref(),
                v: line.v.as_deref(),
                tool: line.tool.as_deref(),
                q: line.c.as_ref().and_then(|c| c.q),
                s: line.c.as_ref().and_then(|c| c.s.as_deref()),
                h: line.c.as_ref().map(|c| c.h.as_str()),
                at: line.at.as_deref(),
            };
            if i > 0 {
                rows.push(',');
            }
            rows.push_str(&serde_json::to_string(&row).map_err(|e| e.to_string())?);
        }
        rows.push(']');
        Ok(rows)
    }

    pub(crate) fn torn_tail(&mut self, bytes: u64) {
        self.checker.torn_tail(bytes);
    }

    /// Counts so far, for the progress line.
    pub(crate) fn counts(&self) -> String {
        let report = self.checker.report();
        json!({"receipts": report.receipts, "counts": report.counts}).to_string()
    }

    /// The finished report: the CLI's JSON (heso-receipt's `PinnedLogReport`, with the
    /// checkpoints' verdicts when checkpoints were given) and words.
    pub(crate) fn finish(self, name: &str) -> String {
        let Walk {
            checker,
            pins,
            checkpoints,
            ..
        } = self;
        let report = checker.finish();
        let shared = PinnedLogReport::new(&report, &pins);
        let mut words = cli_words(&shared, name, &pins);
        let mut cli = serde_json::to_value(&shared).unwrap_or_default();
        let mut all_valid = report.all_valid();
        let given = !checkpoints.is_empty();
        let (checks, check_words, contained) = checkpoints.finish(&pins);
        if let Some(object) = cli.as_object_mut() {
            // As `heso log verify --checkpoint FILE --json`: the checkpoints' verdicts,
            // and all_valid only when the log also contains every one of them.
            if given {
                all_valid &= contained;
                object.insert("checkpoints".into(), json!(checks));
                object.insert("all_valid".into(), json!(all_valid));
            }
        }
        if given {
            words.extend(check_words);
        }
        json!({
            "cli": cli,
            "words": words,
            "all_valid": all_valid,
            "log_valid": report.all_valid(),
            "checkpoints": given.then_some(checks),
            "torn_tail": report.torn_tail.as_ref().map(ToString::to_string),
        })
        .to_string()
    }
}

/// What `heso verify LOG.jsonl` prints, line for line (heso-receipt's words); its last
/// line says how this page pinned instead of how the CLI did.
fn cli_words(shared: &PinnedLogReport, name: &str, pins: &SignerPins) -> Vec<String> {
    let mut lines = shared.text_lines(name);
    let pinned = if pins.is_pinned() {
        "signers pinned to the keys given"
    } else {
        "no signer pinned"
    };
    lines.push(format!(
        "{} (checked offline in this browser — {pinned})",
        shared.verdict_words()
    ));
    lines
}
