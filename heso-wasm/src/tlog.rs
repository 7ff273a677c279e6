//! Checkpoints and inclusion bundles in the browser, with heso-tlog (the crate `heso
//! verify BUNDLE` and `heso log verify --checkpoint` use): a bundle gets `heso verify
//! BUNDLE`'s verdict, and a log file beside checkpoint files gets, per checkpoint, the
//! verdict `heso log verify --checkpoint` gives (`Contained`, `OriginMismatch`,
//! `InvalidSignature`, `Truncated`, `RootMismatch`, in the same words).
//!
//! The tree is computed from the log's lines as heso-chain's `tree_of_log` computes it:
//! leaves are the complete lines of the checkpoint's session in line order, each
//! SHA-256(`0x00` ‖ its `action_hash` bytes); a line that is not a receipt takes a leaf's
//! place and makes every root that covers it unreadable; lines of other sessions are not
//! leaves. A compact range over them gives the root at each checkpoint's size as the walk
//! passes it.
//!
//! What the page has that the CLI does not: a project's pinned operator key and session
//! file. The log's origin is therefore read from the log itself: the checkpoint's log id
//! must be a session of the log, and its operator the key that signed that session's valid
//! receipts (with pinned keys, a pinned key). A log holding no valid receipt at all (truncated
//! to nothing) is checked against the key the origin names, pinned when keys are pinned.

use heso_receipt::{
    BundleReport, Included, NotIncluded, SignerPins, VerifyingKey, public_key_to_did_key,
    verify_receipt,
};
use heso_tlog::{
    BundleLeaf, CompactRange, Hash, InclusionBundle, SignedCheckpoint, empty_root, leaf_hash,
    leaf_hash_from_hex, operator_multibase, origin as make_origin, parse_origin,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::receipt::describe;

/// `heso verify BUNDLE` for the page: `{bundle: true, cli, words, claimed, receipt_view}`:
/// `cli` is heso-receipt's `BundleReport` (`heso verify BUNDLE --json`'s object), `words`
/// its text lines, `claimed` the checkpoint and leaf as the bundle states them (not
/// verified), `receipt_view` the receipt as the page shows one; or `{bundle: true, error}`
/// when the document is not a well-formed bundle (the CLI's usage error).
pub(crate) fn verify_bundle(bytes: &[u8], pins: &SignerPins) -> Value {
    let bundle = match InclusionBundle::parse(bytes) {
        Ok(bundle) => bundle,
        Err(e) => return json!({"bundle": true, "error": e.to_string()}),
    };
    let checked = verify_receipt(bundle.receipt_json().as_bytes(), pins);
    let leaf_index = bundle.proof().leaf_index;
    let report = BundleReport::new(&checked, leaf_index, pins, |operator, content| {
        let leaf = BundleLeaf {
            action_hash: &content.action_hash,
            session_id: content.session_id.as_deref(),
            seq: content.seq,
        };
        bundle
            .verify(operator, leaf)
            .map(|checkpoint| Included {
                tree_size: checkpoint.size(),
                origin: checkpoint.origin().to_owned(),
            })
            .map_err(|e| NotIncluded {
                kind: e.kind(),
                detail: e.to_string(),
            })
    });
    let claimed = bundle.checkpoint().unverified();
    json!({
        "bundle": true,
        "words": report.text_lines(),
        "claimed": {
            "origin": claimed.origin(), "size": claimed.size(), "root": claimed.root().to_hex(),
            "leaf_index": leaf_index,
        },
        "receipt_view": describe(&checked, pins),
        "cli": report,
    })
}

/// The chain fields of a line that did not parse as a receipt, read as leniently as
/// heso-chain reads them for the tree (unknown keys allowed).
#[derive(Deserialize)]
struct LineShape {
    content: ContentShape,
}

#[derive(Deserialize)]
struct ContentShape {
    session_id: Option<String>,
    seq: Option<u64>,
    action_hash: String,
}

/// `(session_id, action_hash)` of a line as heso-chain's tree reads it, when the strict
/// parse failed: `None` when the line is not a receipt with a session and a seq.
pub(crate) fn lenient_entry(line: &[u8]) -> Option<(String, String)> {
    let shape: LineShape = serde_json::from_slice(line).ok()?;
    shape.content.seq?;
    Some((shape.content.session_id?, shape.content.action_hash))
}

/// A checkpoint file given beside the log.
struct Wanted {
    name: String,
    signed: SignedCheckpoint,
}

/// The tree of one session of the log, as the walk goes.
struct SessionTree {
    session: String,
    range: CompactRange,
    /// The first line that is not a receipt (it makes every later root unreadable).
    unreadable: Option<u64>,
    /// Sizes whose root is still to capture, ascending.
    wanted: Vec<u64>,
    at: Vec<(u64, Result<Hash, u64>)>,
}

impl SessionTree {
    fn capture(&mut self) {
        while self.wanted.first() == Some(&self.range.size()) {
            let root = match self.unreadable {
                Some(line) => Err(line),
                None => Ok(self.range.root()),
            };
            self.at.push((self.range.size(), root));
            self.wanted.remove(0);
        }
    }

    fn root_at(&self, size: u64) -> Option<Result<Hash, u64>> {
        if size == self.range.size() {
            return Some(match self.unreadable {
                Some(line) => Err(line),
                None => Ok(self.range.root()),
            });
        }
        self.at.iter().find(|(s, _)| *s == size).map(|(_, r)| *r)
    }
}

/// The checkpoints given beside a log and the trees they are checked against.
#[derive(Default)]
pub(crate) struct Checkpoints {
    wanted: Vec<Wanted>,
    trees: Vec<SessionTree>,
    /// Every session of the log with the operator keys of its valid receipts (base64, in
    /// the order first seen).
    sessions: Vec<(String, Vec<String>)>,
}

/// One line as the tree sees it.
pub(crate) struct TreeLine<'a> {
    pub(crate) number: u64,
    /// `(session_id, action_hash)`, or `None` for a line that is not a receipt with both.
    pub(crate) entry: Option<(&'a str, &'a str)>,
    /// The operator key (base64) when the line is a valid receipt.
    pub(crate) operator: Option<&'a str>,
}

/// What a checkpoint says about the log, as heso-chain's `CheckpointVerdict`.
enum Verdict {
    OriginMismatch { expected: String, found: String },
    InvalidSignature(String),
    Truncated { checkpoint_size: u64, log_size: u64 },
    RootMismatch { size: u64, detail: String },
    Contained { size: u64, log_size: u64 },
}

impl Verdict {
    fn kind(&self) -> &'static str {
        match self {
            Verdict::OriginMismatch { .. } => "OriginMismatch",
            Verdict::InvalidSignature(_) => "InvalidSignature",
            Verdict::Truncated { .. } => "Truncated",
            Verdict::RootMismatch { .. } => "RootMismatch",
            Verdict::Contained { .. } => "Contained",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::OriginMismatch { expected, found } => write!(
                f,
                "OriginMismatch: the checkpoint is of {found}, this log is {expected}"
            ),
            Verdict::InvalidSignature(e) => write!(f, "InvalidSignature: {e}"),
            Verdict::Truncated {
                checkpoint_size,
                log_size,
            } => write!(
                f,
                "Truncated: the checkpoint covers {checkpoint_size} receipts, the log holds {log_size}"
            ),
            Verdict::RootMismatch { size, detail } => {
                write!(f, "RootMismatch: the log's first {size} receipts {detail}")
            }
            Verdict::Contained { size, log_size } => write!(
                f,
                "Contained: the log's first {size} receipts (of {log_size}) give the checkpoint's root"
            ),
        }
    }
}

impl Checkpoints {
    /// True when no checkpoint was given: the walk skips the tree.
    pub(crate) fn is_empty(&self) -> bool {
        self.wanted.is_empty()
    }

    /// Adds a checkpoint file, parsed (verified at the end). Its error is the CLI's.
    pub(crate) fn add(&mut self, name: &str, bytes: &[u8]) -> Result<(), String> {
        let signed = SignedCheckpoint::parse(bytes)
            .map_err(|e| format!("{name} is not a signed checkpoint: {e}"))?;
        let body = signed.unverified();
        if let Ok(parts) = parse_origin(body.origin()) {
            let index = match self.trees.iter().position(|t| t.session == parts.log_id) {
                Some(index) => index,
                None => {
                    self.trees.push(SessionTree {
                        session: parts.log_id.to_owned(),
                        range: CompactRange::new(),
                        unreadable: None,
                        wanted: Vec::new(),
                        at: Vec::new(),
                    });
                    self.trees.len() - 1
                }
            };
            if let Some(tree) = self.trees.get_mut(index) {
                if let Err(at) = tree.wanted.binary_search(&body.size()) {
                    tree.wanted.insert(at, body.size());
                }
                tree.capture();
            }
        }
        self.wanted.push(Wanted {
            name: name.to_owned(),
            signed,
        });
        Ok(())
    }

    /// Takes the next complete line of the log.
    pub(crate) fn push(&mut self, line: TreeLine<'_>) {
        if let (Some((session, _)), Some(operator)) = (line.entry, line.operator) {
            match self.sessions.iter_mut().find(|(s, _)| s == session) {
                Some((_, operators)) => {
                    if !operators.iter().any(|o| o == operator) {
                        operators.push(operator.to_owned());
                    }
                }
                None => self
                    .sessions
                    .push((session.to_owned(), vec![operator.to_owned()])),
            }
        }
        for tree in &mut self.trees {
            let leaf = match line.entry {
                Some((session, _)) if session != tree.session => continue,
                Some((_, hash)) => leaf_hash_from_hex(hash).ok(),
                None => None,
            };
            let leaf = leaf.unwrap_or_else(|| {
                tree.unreadable.get_or_insert(line.number);
                leaf_hash(&[0u8; 32])
            });
            if tree.range.append(leaf).is_ok() {
                tree.capture();
            }
        }
    }

    /// The origins the log's valid receipts show, for an `OriginMismatch`.
    fn log_origins(&self, only: Option<&str>) -> Vec<String> {
        self.sessions
            .iter()
            .filter(|(s, _)| only.is_none_or(|o| o == s))
            .flat_map(|(session, operators)| {
                operators.iter().filter_map(move |key| {
                    let key = heso_receipt::public_key_from_base64(key).ok()?;
                    make_origin(&operator_multibase(&key), session).ok()
                })
            })
            .collect()
    }

    fn check(&self, wanted: &Wanted, pins: &SignerPins) -> Verdict {
        let claimed = wanted.signed.unverified();
        let found = claimed.origin().to_owned();
        let mismatch = |expected: Vec<String>| Verdict::OriginMismatch {
            expected: if expected.is_empty() {
                "a log with no receipt".to_owned()
            } else {
                expected.join(" or ")
            },
            found: found.clone(),
        };
        let Ok(parts) = parse_origin(&found) else {
            return mismatch(self.log_origins(None));
        };
        let key = match parts.operator_key() {
            Ok(key) => key,
            Err(_) => return mismatch(self.log_origins(None)),
        };
        let session_origins = self.log_origins(Some(parts.log_id));
        if !session_origins.is_empty() {
            if !session_origins.contains(&found) {
                return mismatch(session_origins);
            }
        } else if !self.sessions.is_empty() {
            return mismatch(self.log_origins(None));
        } else if pins.is_pinned() && !pins.keys().contains(&key) {
            return mismatch(
                pins.keys()
                    .iter()
                    .filter_map(|k| make_origin(&operator_multibase(k), parts.log_id).ok())
                    .collect(),
            );
        }
        verdict_for(&wanted.signed, &key, self.tree(parts.log_id))
    }

    fn tree(&self, session: &str) -> Option<&SessionTree> {
        self.trees.iter().find(|t| t.session == session)
    }

    /// Each checkpoint's verdict as `heso log verify --checkpoint FILE --json` lists it,
    /// and the lines it prints for them.
    pub(crate) fn finish(&self, pins: &SignerPins) -> (Vec<Value>, Vec<String>, bool) {
        let mut values = Vec::new();
        let mut words = Vec::new();
        let mut contained = true;
        for wanted in &self.wanted {
            let verdict = self.check(wanted, pins);
            let body = wanted.signed.unverified();
            let valid = matches!(verdict, Verdict::Contained { .. });
            contained &= valid;
            words.push(format!(
                "checkpoint {} ({} receipts): {verdict}",
                wanted.name,
                body.size()
            ));
            values.push(json!({
                "file": wanted.name,
                "origin": body.origin(),
                "size": body.size(),
                "valid": valid,
                "verdict": verdict.kind(),
                "detail": verdict.to_string(),
                "cosigned_by": [],
                "operator": parse_origin(body.origin()).ok()
                    .and_then(|p| p.operator_key().ok())
                    .map(|k| public_key_to_did_key(&k)),
            }));
        }
        words.push(
            if contained {
                "the log contains every checkpoint given"
            } else {
                "NOT VALID: the log does not contain every checkpoint given"
            }
            .to_owned(),
        );
        (values, words, contained)
    }
}

fn verdict_for(
    signed: &SignedCheckpoint,
    key: &VerifyingKey,
    tree: Option<&SessionTree>,
) -> Verdict {
    let body = match signed.verify(key) {
        Ok(body) => body,
        Err(e) => return Verdict::InvalidSignature(e.to_string()),
    };
    let size = body.size();
    let log_size = tree.map_or(0, |t| t.range.size());
    if log_size < size {
        return Verdict::Truncated {
            checkpoint_size: size,
            log_size,
        };
    }
    let root = match tree {
        Some(tree) => tree.root_at(size),
        None if size == 0 => Some(Ok(empty_root())),
        None => None,
    };
    match root {
        Some(Ok(root)) if root == *body.root() => Verdict::Contained { size, log_size },
        Some(Ok(root)) => Verdict::RootMismatch {
            size,
            detail: format!(
                "give root {root}, the checkpoint says {}: a receipt was rewritten, removed, added or reordered, or this log is a fork",
                body.root()
            ),
        },
        Some(Err(line)) => Verdict::RootMismatch {
            size,
            detail: format!("include line {line}, which is not a receipt"),
        },
        None => Verdict::RootMismatch {
            size,
            detail: "were not computed (the checkpoint's size was not asked for)".into(),
        },
    }
}
