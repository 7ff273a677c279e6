//! What a verifier reports, as one serialisable type for a receipt ([`ReceiptReport`]),
//! one for a log ([`PinnedLogReport`]) and one for an inclusion bundle ([`BundleReport`]),
//! and the signer pins they are verified under.
//!
//! `heso verify … --json`, the Python binding's `heso.verify`/`heso.verify_log` and the
//! browser verifier all serialise these, so they agree field for field; each only adds its
//! own words around them. Pins are parsed here too ([`SignerPins::from_keys`],
//! [`SignerPins::from_field`]), so a key is accepted or refused the same way everywhere,
//! and every report carries how it was pinned as the same fields ([`Pinning`]).

use std::collections::BTreeMap;

use ed25519_dalek::VerifyingKey;
use serde::Serialize;

use crate::keys::{
    KeyDecodeError, public_key_from_base64, public_key_from_str, public_key_to_did_key,
};
use crate::log::{LogReport, SessionHead, TornTail};
use crate::model::{ApprovalOutcome, Content, KeyRole, TrustLevel};
use crate::verify::{Checked, SignerPins};

/// A pinned key that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key} is not a public key (did:key or base64): {source}")]
pub struct PinError {
    /// The key as given, quoted, cut to 80 characters (a paste can be huge).
    key: String,
    #[source]
    source: KeyDecodeError,
}

/// `text` quoted, cut to 80 characters with its length when longer.
fn quoted(text: &str) -> String {
    match text.char_indices().nth(80) {
        None => format!("{text:?}"),
        Some((cut, _)) => format!(
            "{:?}… ({} characters)",
            text.get(..cut).unwrap_or_default(),
            text.chars().count()
        ),
    }
}

/// Whether a signer's key is among the pinned keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PinStatus {
    /// Nothing is pinned: any key is accepted.
    NothingPinned,
    /// The key is pinned.
    Pinned,
    /// Keys are pinned and this is not one of them (or it does not decode).
    NotPinned,
}

impl PinStatus {
    /// The words the CLI prints: `pinned`, `NOT pinned`, `nothing pinned`.
    pub fn words(self) -> &'static str {
        match self {
            PinStatus::NothingPinned => "nothing pinned",
            PinStatus::Pinned => "pinned",
            PinStatus::NotPinned => "NOT pinned",
        }
    }
}

/// How a verifier pinned signers, as every report carries it (receipt, log, inclusion
/// bundle, disclosure): produced once here by [`SignerPins::pinning`] and flattened into
/// each report, so the fields are the same everywhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pinning {
    /// Whether signers were pinned at all.
    pub pinned: bool,
    /// The pinned keys as did:key, each once.
    pub pinned_keys: Vec<String>,
}

impl SignerPins {
    /// Pins exactly `keys` (did:key or base64 each), in either role. No keys pins nothing
    /// trusted: every signer is then `UntrustedSigner`.
    pub fn from_keys<'a>(keys: impl IntoIterator<Item = &'a str>) -> Result<SignerPins, PinError> {
        let keys = keys
            .into_iter()
            .map(|key| {
                public_key_from_str(key).map_err(|source| PinError {
                    key: quoted(key),
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SignerPins::Only(keys))
    }

    /// Pins the keys of a text field (the browser verifier's): did:key or base64 keys
    /// separated by whitespace or commas. A field with no key pins nothing ([`SignerPins::Any`]).
    pub fn from_field(text: &str) -> Result<SignerPins, PinError> {
        let keys: Vec<&str> = text
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|k| !k.is_empty())
            .collect();
        if keys.is_empty() {
            return Ok(SignerPins::Any);
        }
        SignerPins::from_keys(keys)
    }

    /// True unless any key is accepted ([`SignerPins::Any`]).
    pub fn is_pinned(&self) -> bool {
        !matches!(self, SignerPins::Any)
    }

    /// The pinned keys, each once, in the order they were pinned.
    pub fn keys(&self) -> Vec<VerifyingKey> {
        let all: Vec<VerifyingKey> = match self {
            SignerPins::Any => Vec::new(),
            SignerPins::Only(keys) => keys.clone(),
            SignerPins::Dated(keys) => keys.iter().map(|p| p.key).collect(),
        };
        let mut out: Vec<VerifyingKey> = Vec::with_capacity(all.len());
        for key in all {
            if !out.contains(&key) {
                out.push(key);
            }
        }
        out
    }

    /// The pinned keys as did:key, each once (a report's `pinned_keys`).
    pub fn did_keys(&self) -> Vec<String> {
        self.keys().iter().map(public_key_to_did_key).collect()
    }

    /// The `pinned` and `pinned_keys` fields of every report.
    pub fn pinning(&self) -> Pinning {
        Pinning {
            pinned: self.is_pinned(),
            pinned_keys: self.did_keys(),
        }
    }

    /// Whether `key` is pinned (at any time: a retired key counts as pinned).
    pub fn status(&self, key: &VerifyingKey) -> PinStatus {
        let pinned = match self {
            SignerPins::Any => return PinStatus::NothingPinned,
            SignerPins::Only(keys) => keys.contains(key),
            SignerPins::Dated(keys) => keys.iter().any(|p| p.key == *key),
        };
        if pinned {
            PinStatus::Pinned
        } else {
            PinStatus::NotPinned
        }
    }

    /// [`SignerPins::status`] of a key as a signature entry carries it (base64); one that
    /// does not decode is not pinned.
    pub fn status_of_base64(&self, key: &str) -> PinStatus {
        match public_key_from_base64(key) {
            Ok(key) => self.status(&key),
            Err(_) if self.is_pinned() => PinStatus::NotPinned,
            Err(_) => PinStatus::NothingPinned,
        }
    }
}

/// A key as a report names it: did:key when it decodes, else as the receipt wrote it.
fn named(base64: &str) -> String {
    public_key_from_base64(base64)
        .map(|k| public_key_to_did_key(&k))
        .unwrap_or_else(|_| base64.to_owned())
}

/// A key a receipt says signed it: verified only when the receipt is `Valid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClaimedSigner {
    /// The role of its signature entry.
    pub role: KeyRole,
    /// The key as did:key (as written, when it does not decode).
    pub key: String,
    /// Whether it is pinned.
    pub pin: PinStatus,
}

/// The report on one receipt: `heso verify FILE --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReceiptReport {
    /// The receipt's `action_hash`, when it parsed.
    pub action_hash: Option<String>,
    /// True for `Valid`.
    pub valid: bool,
    /// The verdict's kind (`Valid`, `HashMismatch`, …).
    pub verdict: &'static str,
    /// Its one-line detail (empty for `Valid`).
    pub detail: String,
    /// The level the signatures give, when valid.
    pub trust_level: Option<TrustLevel>,
    /// The operator's key (did:key), when valid.
    pub operator: Option<String>,
    /// The approver's key (did:key), on a valid L1 receipt.
    pub approver: Option<String>,
    /// The approver's decision, on a valid L1 receipt.
    pub approver_decision: Option<ApprovalOutcome>,
    /// `pinned` and `pinned_keys`.
    #[serde(flatten)]
    pub pinning: Pinning,
    /// Every signature entry's role and key, and whether the key is pinned (claims unless
    /// `valid`).
    pub signers: Vec<ClaimedSigner>,
}

impl ReceiptReport {
    /// The report on `checked`, verified under `pins`.
    pub fn new(checked: &Checked, pins: &SignerPins) -> ReceiptReport {
        let verdict = &checked.verdict;
        let signers = verdict.signers();
        let receipt = checked.receipt.as_ref();
        ReceiptReport {
            action_hash: receipt.map(|r| r.content.action_hash.clone()),
            valid: verdict.is_valid(),
            verdict: verdict.kind(),
            detail: verdict.detail().to_owned(),
            trust_level: signers.map(|s| s.trust_level),
            operator: signers.map(|s| public_key_to_did_key(&s.operator)),
            approver: signers
                .and_then(|s| s.approver.as_ref().map(|(k, _)| public_key_to_did_key(k))),
            approver_decision: signers.and_then(|s| s.approver.as_ref().map(|(_, d)| *d)),
            pinning: pins.pinning(),
            signers: receipt
                .map(|r| r.signatures.as_slice())
                .unwrap_or_default()
                .iter()
                .map(|s| ClaimedSigner {
                    role: s.key_id,
                    key: named(&s.public_key),
                    pin: pins.status_of_base64(&s.public_key),
                })
                .collect(),
        }
    }
}

/// What a bundle's checkpoint and proof show for a valid receipt: the tree it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Included {
    /// The checkpoint's tree size.
    pub tree_size: u64,
    /// The checkpoint's origin.
    pub origin: String,
}

/// Why a bundle's checkpoint or proof does not hold for a valid receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotIncluded {
    /// The verdict's kind (`OriginMismatch`, `InvalidSignature`, `NotIncluded`, …).
    pub kind: &'static str,
    /// Its one-line detail.
    pub detail: String,
}

/// The report on an inclusion bundle (`heso prove`'s output): `heso verify BUNDLE --json`
/// and the browser verifier's. The receipt is verified as any receipt is; only a valid
/// one has its checkpoint and proof checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BundleReport {
    /// The receipt's `action_hash`, when it parsed.
    pub action_hash: Option<String>,
    /// True when the receipt is valid and the bundle shows it in the checkpoint.
    pub valid: bool,
    /// `Included`, the receipt's own verdict kind when it is not valid, or why the
    /// checkpoint or proof does not hold.
    pub verdict: &'static str,
    /// The receipt's own verdict kind.
    pub receipt_verdict: &'static str,
    /// What is wrong, when not valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The receipt's leaf in the tree, when included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leaf_index: Option<u64>,
    /// The checkpoint's tree size, when included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tree_size: Option<u64>,
    /// The checkpoint's origin, when included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The operator (did:key) that signed the receipt and the checkpoint, when included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// `pinned` and `pinned_keys`.
    #[serde(flatten)]
    pub pinning: Pinning,
    /// The receipt's verdict in words, for [`BundleReport::text_lines`].
    #[serde(skip)]
    pub receipt_text: String,
}

impl BundleReport {
    /// The report on a bundle whose receipt verified as `checked` under `pins`, at
    /// `leaf_index` of the bundle's proof. `check` checks the checkpoint and proof (heso-tlog's
    /// `InclusionBundle::verify`) for the operator that signed the receipt and its content;
    /// it runs only when the receipt is valid.
    pub fn new(
        checked: &Checked,
        leaf_index: u64,
        pins: &SignerPins,
        check: impl FnOnce(&VerifyingKey, &Content) -> Result<Included, NotIncluded>,
    ) -> BundleReport {
        let verdict = &checked.verdict;
        let receipt = checked.receipt.as_ref();
        let result = match (verdict.signers(), receipt) {
            (Some(signers), Some(receipt)) => check(&signers.operator, &receipt.content)
                .map(|included| (included, public_key_to_did_key(&signers.operator))),
            _ => Err(NotIncluded {
                kind: verdict.kind(),
                detail: format!("the receipt: {verdict}"),
            }),
        };
        let mut report = BundleReport {
            action_hash: receipt.map(|r| r.content.action_hash.clone()),
            valid: result.is_ok(),
            verdict: "Included",
            receipt_verdict: verdict.kind(),
            detail: None,
            leaf_index: None,
            tree_size: None,
            origin: None,
            operator: None,
            pinning: pins.pinning(),
            receipt_text: verdict.to_string(),
        };
        match result {
            Ok((included, operator)) => {
                report.leaf_index = Some(leaf_index);
                report.tree_size = Some(included.tree_size);
                report.origin = Some(included.origin);
                report.operator = Some(operator);
            }
            Err(not) => {
                report.verdict = not.kind;
                report.detail = Some(not.detail);
            }
        }
        report
    }

    /// The report in words, as `heso verify BUNDLE` prints it but for its last line (how
    /// the verifier pinned, in its own words).
    pub fn text_lines(&self) -> Vec<String> {
        let mut lines = vec![
            format!(
                "action {}",
                self.action_hash.as_deref().unwrap_or("(unreadable)")
            ),
            format!("receipt: {}", self.receipt_text),
        ];
        match (
            self.leaf_index,
            self.tree_size,
            &self.origin,
            &self.operator,
        ) {
            (Some(leaf), Some(size), Some(origin), Some(operator)) if self.valid => {
                lines.push(format!(
                    "Included: receipt {leaf} of checkpoint {size} of {origin}"
                ));
                lines.push(format!("checkpoint signed by operator {operator}"));
            }
            _ => lines.push(format!(
                "{}: {}",
                self.verdict,
                self.detail.as_deref().unwrap_or_default()
            )),
        }
        lines
    }
}

/// One line of a log that is not valid, as a report lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailureReport {
    /// 1-based line number.
    pub line: u64,
    /// The receipt's seq, when it has one.
    pub seq: Option<u64>,
    /// The verdict's kind (`LinkBroken` for a valid receipt whose link is broken).
    pub verdict: &'static str,
    /// Its detail.
    pub detail: String,
}

/// A key that signed receipts of a log, as a report lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignerReport {
    /// The role it signed in.
    pub role: KeyRole,
    /// The key as did:key (as written, when it does not decode).
    pub key: String,
    /// Receipts carrying its signature in this role.
    pub receipts: u64,
    /// Of those, the ones counted `Valid`.
    pub valid: u64,
    /// Whether it is pinned.
    pub pin: PinStatus,
}

/// The report on a log: `heso verify LOG.jsonl --json` and `heso log verify --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PinnedLogReport {
    /// Complete lines seen.
    pub receipts: u64,
    /// True when every receipt is valid, every link holds and there is no torn tail.
    pub all_valid: bool,
    /// Verdict kind -> count.
    pub counts: BTreeMap<String, u64>,
    /// The first failures, in line order.
    pub failures: Vec<FailureReport>,
    /// A torn last line, if any.
    pub torn_tail: Option<TornTail>,
    /// Every session's head, in order of first appearance.
    pub sessions: Vec<SessionHead>,
    /// Every key that signed, in order of first appearance.
    pub signers: Vec<SignerReport>,
    /// `pinned` and `pinned_keys`.
    #[serde(flatten)]
    pub pinning: Pinning,
}

impl PinnedLogReport {
    /// The report on a log walked by [`crate::LogChecker`] under `pins`.
    pub fn new(report: &LogReport, pins: &SignerPins) -> PinnedLogReport {
        PinnedLogReport {
            receipts: report.receipts,
            all_valid: report.all_valid(),
            counts: report.counts.clone(),
            failures: report
                .failures
                .iter()
                .map(|f| FailureReport {
                    line: f.line,
                    seq: f.seq,
                    verdict: f.verdict.kind(),
                    detail: f.verdict.detail().to_owned(),
                })
                .collect(),
            torn_tail: report.torn_tail.clone(),
            sessions: report.sessions.clone(),
            signers: report
                .signers
                .iter()
                .map(|s| SignerReport {
                    role: s.role,
                    key: named(&s.public_key),
                    receipts: s.receipts,
                    valid: s.valid,
                    pin: pins.status_of_base64(&s.public_key),
                })
                .collect(),
            pinning: pins.pinning(),
        }
    }
}

/// `1 receipt`, `2 receipts`.
fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl PinnedLogReport {
    /// The report in words, as `heso verify LOG.jsonl` prints it, but for its last line
    /// (which says how the verifier pinned, in its own words; see [`Self::verdict_words`]):
    /// `NAME: N receipts in M sessions`, each verdict's count, the failures, the torn tail,
    /// each session's head and each signer with its pin status.
    pub fn text_lines(&self, name: &str) -> Vec<String> {
        let mut lines = vec![format!(
            "{name}: {} in {}",
            counted(self.receipts, "receipt", "receipts"),
            counted(self.sessions.len() as u64, "session", "sessions")
        )];
        lines.extend(self.counts.iter().map(|(k, n)| format!("  {k}: {n}")));
        lines.extend(self.failures.iter().map(|f| match f.seq {
            Some(seq) => format!("  line {} (seq {seq}): {}: {}", f.line, f.verdict, f.detail),
            None => format!("  line {}: {}: {}", f.line, f.verdict, f.detail),
        }));
        lines.extend(self.torn_tail.iter().map(|t| format!("  {t}")));
        lines.extend(self.sessions.iter().map(|s| {
            format!(
                "session {}: head seq {} action_hash {} (record it elsewhere to detect truncation)",
                s.session_id, s.last_seq, s.head_hash
            )
        }));
        lines.extend(self.signers.iter().map(|s| {
            let role = match s.role {
                KeyRole::Operator => "operator",
                KeyRole::Approver => "approver",
            };
            format!(
                "signer {role} {}: {} ({} valid), {}",
                s.key,
                counted(s.receipts, "receipt", "receipts"),
                s.valid,
                s.pin.words()
            )
        }));
        lines
    }

    /// The start of the last line: `all receipts valid, chains intact`, or `NOT VALID`.
    pub fn verdict_words(&self) -> &'static str {
        if self.all_valid {
            "all receipts valid, chains intact"
        } else {
            "NOT VALID"
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]

    use serde_json::{Value, json};

    use super::*;
    use crate::{LogChecker, verify_receipt};

    const OPERATOR: &str = "did:key:z6Mkon3Necd6NkkyfoGoHxid2znGc59LU3K7mubaRcFbLfLX";
    const OPERATOR_B64: &str = "iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=";
    const APPROVER: &str = "did:key:z6Mko9hTggMwjSTEaJaPUfE6tqcy2xvU6BnNq3e3o8qVBiyH";

    fn receipt(file: &str) -> String {
        let doc: Value = serde_json::from_str(file).unwrap();
        serde_json::to_string(&doc["receipt"]).unwrap()
    }

    #[test]
    fn pins_parse_from_keys_and_from_a_field_and_dedupe() {
        let field = SignerPins::from_field(&format!(" {OPERATOR},\n{OPERATOR_B64} ")).unwrap();
        assert_eq!(field.did_keys(), vec![OPERATOR.to_owned()]);
        assert_eq!(SignerPins::from_field(" ,\n").unwrap(), SignerPins::Any);
        let given = SignerPins::from_keys([OPERATOR, APPROVER]).unwrap();
        assert_eq!(
            given.did_keys(),
            vec![OPERATOR.to_owned(), APPROVER.to_owned()]
        );
        assert_eq!(SignerPins::from_keys([]).unwrap(), SignerPins::Only(vec![]));
        let error = SignerPins::from_field(&format!("{OPERATOR} nope")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "\"nope\" is not a public key (did:key or base64): expected 32 key bytes, got 3"
        );
        let huge = "A".repeat(100_000);
        let error = SignerPins::from_keys([huge.as_str()])
            .unwrap_err()
            .to_string();
        assert!(error.contains("… (100000 characters)"), "{error}");
        assert!(error.len() < 200, "{error}");
    }

    #[test]
    fn a_receipt_report_names_its_verdict_signers_and_pins() {
        let l1 = receipt(include_str!("../tests/data/receipt_l1.json"));
        let pins = SignerPins::from_keys([OPERATOR]).unwrap();
        let report = ReceiptReport::new(&verify_receipt(l1.as_bytes(), &pins), &pins);
        assert_eq!(
            serde_json::to_value(&report).unwrap(),
            json!({
                "action_hash": "beea92d9bfa25f1290da08546b2b946639b58dbae9a23eaa6c567d9b2a447ae9",
                "valid": false,
                "verdict": "UntrustedSigner",
                "detail": report.detail,
                "trust_level": null, "operator": null, "approver": null, "approver_decision": null,
                "pinned": true,
                "pinned_keys": [OPERATOR],
                "signers": [
                    {"role": "operator", "key": OPERATOR, "pin": "pinned"},
                    {"role": "approver", "key": APPROVER, "pin": "not_pinned"},
                ],
            })
        );
        let any = SignerPins::Any;
        let report = ReceiptReport::new(&verify_receipt(l1.as_bytes(), &any), &any);
        let value = serde_json::to_value(&report).unwrap();
        assert_eq!(value["trust_level"], "L1");
        assert_eq!(value["approver"], APPROVER);
        assert_eq!(value["approver_decision"], "approved");
        assert_eq!(value["signers"][1]["pin"], "nothing_pinned");
    }

    #[test]
    fn a_bundle_report_checks_inclusion_only_for_a_valid_receipt() {
        let l0 = receipt(include_str!("../tests/data/receipt_l0.json"));
        let pins = SignerPins::from_keys([APPROVER]).unwrap();
        let untrusted = verify_receipt(l0.as_bytes(), &pins);
        let report = BundleReport::new(&untrusted, 4, &pins, |_, _| {
            unreachable!("an untrusted receipt's inclusion is not checked")
        });
        let value = serde_json::to_value(&report).unwrap();
        assert_eq!(value["verdict"], "UntrustedSigner");
        assert_eq!(value["receipt_verdict"], "UntrustedSigner");
        assert_eq!(value["pinned_keys"], json!([APPROVER]));
        assert!(value.get("leaf_index").is_none() && value.get("receipt_text").is_none());
        assert!(report.text_lines()[2].starts_with("UntrustedSigner: the receipt: "));

        let any = SignerPins::Any;
        let valid = verify_receipt(l0.as_bytes(), &any);
        let included = BundleReport::new(&valid, 4, &any, |operator, content| {
            assert_eq!(public_key_to_did_key(operator), OPERATOR);
            Ok(Included {
                tree_size: 9,
                origin: format!("heso.dev/log/x/{}", &content.action_hash[..4]),
            })
        });
        let value = serde_json::to_value(&included).unwrap();
        assert_eq!(
            value,
            json!({
                "action_hash": "6b61e4b5b8d3c0459eaacb96e8a0b8fa212d15d44912783b67b65bc8ade8d8f0",
                "valid": true, "verdict": "Included", "receipt_verdict": "Valid",
                "leaf_index": 4, "tree_size": 9, "origin": "heso.dev/log/x/6b61",
                "operator": OPERATOR, "pinned": false, "pinned_keys": [],
            })
        );
        assert_eq!(
            included.text_lines()[2..],
            [
                "Included: receipt 4 of checkpoint 9 of heso.dev/log/x/6b61".to_owned(),
                format!("checkpoint signed by operator {OPERATOR}"),
            ]
        );
        let refused = BundleReport::new(&valid, 4, &any, |_, _| {
            Err(NotIncluded {
                kind: "NotIncluded",
                detail: "no".into(),
            })
        });
        assert!(!refused.valid);
        assert_eq!(refused.text_lines()[2], "NotIncluded: no");
    }

    #[test]
    fn a_log_report_counts_signers_with_their_pins() {
        let l0 = receipt(include_str!("../tests/data/receipt_l0.json"));
        let l1 = receipt(include_str!("../tests/data/receipt_l1.json"));
        let pins = SignerPins::from_keys([OPERATOR]).unwrap();
        let mut checker = LogChecker::new();
        checker.push(1, verify_receipt(l0.as_bytes(), &pins).into());
        checker.push(2, verify_receipt(l1.as_bytes(), &pins).into());
        checker.torn_tail(3);
        let report = PinnedLogReport::new(&checker.finish(), &pins);
        let value = serde_json::to_value(&report).unwrap();
        assert_eq!(value["all_valid"], false);
        assert_eq!(value["torn_tail"], json!({"line": 3, "bytes": 3}));
        assert_eq!(
            value["signers"],
            json!([
                {"role": "operator", "key": OPERATOR, "receipts": 2, "valid": 1, "pin": "pinned"},
                {"role": "approver", "key": APPROVER, "receipts": 1, "valid": 0, "pin": "not_pinned"},
            ])
        );
        assert_eq!(value["failures"][0]["verdict"], "UntrustedSigner");
        assert_eq!(value["failures"][0]["line"], 2);
        let lines = report.text_lines("log.jsonl");
        assert_eq!(lines[0], "log.jsonl: 2 receipts in 0 sessions");
        assert_eq!(
            lines[3],
            format!("  line 2: {}", verify_receipt(l1.as_bytes(), &pins).verdict)
        );
        assert_eq!(
            lines[4],
            "  TornTail: line 3 is 3 bytes without a newline (a writer stopped mid-write; the next append moves it aside)"
        );
        assert_eq!(
            lines[6],
            format!("signer approver {APPROVER}: 1 receipt (0 valid), NOT pinned")
        );
        assert_eq!(report.verdict_words(), "NOT VALID");
    }
}
