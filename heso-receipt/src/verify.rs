//! Verifying one receipt, and a chain of them.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::{Map, Value};

use crate::canonical::{
    APPROVER_DOMAIN, OPERATOR_DOMAIN, action_hash_of, canonical_bytes_without_hash, signed_message,
};
use crate::chain::{ChainHead, check_link};
use crate::keys::{KeyDecodeError, public_key_from_base64, public_key_to_did_key};
use crate::log::LineVerdict;
use crate::model::{ACTION_VERSION, ALG, KeyRole, Receipt, TrustLevel};
use crate::redaction::check_redaction;
use crate::strict::{find_lone_surrogate, parse_strict};
use crate::verdict::{Signers, Verdict};

/// Which keys the caller trusts to sign.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SignerPins {
    /// Nothing pinned: any key may sign, and the verdict names who did.
    #[default]
    Any,
    /// Every signer, in either role, must be one of these keys.
    Only(Vec<VerifyingKey>),
    /// Every signer must be one of these keys, and a key with an end time (a retired
    /// approver, a rotated operator key) only for receipts it signed no later than that
    /// second (timestamps are whole seconds, and the retiring command runs after any
    /// decision dated in its own second): an approver by `approver_decision.decided_at`,
    /// an operator by `captured_at`.
    Dated(Vec<PinnedKey>),
}

/// A pinned key, trusted until an end time or for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedKey {
    /// The key.
    pub key: VerifyingKey,
    /// RFC 3339 UTC (`YYYY-MM-DDTHH:MM:SSZ`): the key signs nothing valid after it.
    pub until: Option<String>,
}

/// The whole seconds of an RFC 3339 UTC time (`YYYY-MM-DDTHH:MM:SS`), when it has that
/// form followed by `Z` or a fraction; such prefixes order as their times do.
fn utc_seconds(time: &str) -> Option<&str> {
    let head = time.get(..19)?;
    let rest = time.get(19..)?;
    let shape = head.bytes().enumerate().all(|(i, b)| match i {
        4 | 7 => b == b'-',
        10 => b == b'T',
        13 | 16 => b == b':',
        _ => b.is_ascii_digit(),
    });
    (shape && (rest == "Z" || (rest.starts_with('.') && rest.ends_with('Z')))).then_some(head)
}

impl SignerPins {
    /// True when `key` may have signed at `signed_at` (the receipt's own claim of when).
    fn admits(&self, key: &VerifyingKey, signed_at: &str) -> bool {
        match self {
            SignerPins::Any => true,
            SignerPins::Only(keys) => keys.contains(key),
            SignerPins::Dated(keys) => keys.iter().any(|pinned| {
                pinned.key == *key
                    && match &pinned.until {
                        None => true,
                        Some(until) => utc_seconds(signed_at)
                            .zip(utc_seconds(until))
                            .is_some_and(|(at, end)| at <= end),
                    }
            }),
        }
    }
}

/// The verdict on one receipt, with the receipt when it parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    /// What verification found.
    pub verdict: Verdict,
    /// The parsed receipt, when its shape was valid (present for every verdict after
    /// `Malformed`), so callers can show what it claims.
    pub receipt: Option<Receipt>,
}

/// Verifies one receipt from its JSON bytes.
///
/// Checks, in order: `WrongAlgorithm`, `Unsupported`, `Malformed`, `HashMismatch`,
/// `InvalidSignature`, `SelfApproval`, `TrustLevelMismatch`, `UntrustedSigner`,
/// `IdentityMismatch`, `MalformedRedaction`; the first that fails is the verdict.
pub fn verify_receipt(bytes: &[u8], pins: &SignerPins) -> Checked {
    verify_with(bytes, pins, &mut public_key_from_base64)
}

/// Lines per thread below which [`verify_receipts`] does not start another thread: a
/// thread costs tens of microseconds to start, a receipt about a hundred to verify.
#[cfg(not(target_arch = "wasm32"))]
const LINES_PER_THREAD: usize = 64;

/// Verifies many receipts, each on its own: the same verdicts, in the same order, as
/// [`verify_receipt`] on each line, and the entry point for whole logs.
///
/// It costs less per receipt: each signer's key is decoded once per call instead of once
/// per receipt, and outside WebAssembly the lines are split over the machine's cores
/// (scoped threads; a call with few lines stays on the caller's thread). In WebAssembly it
/// runs on the caller's thread.
///
/// Every signature is still checked on its own with `verify_strict`. Batched Ed25519
/// verification (a random linear combination of the signature equations) does not give
/// `verify_strict`'s verdicts: a key holder can put a small-order component into `R`, which
/// `verify_strict` always rejects and a batch accepts whenever the random coefficient kills
/// it (half the time for a point of order 2), even after rejecting non-canonical `s`, weak
/// keys and small-order `R`. Excluding such `R` costs a scalar multiplication per signature,
/// more than batching saves (the receipt section of `docs/benchmarks.md`); `tests/many.rs`
/// keeps these signatures `InvalidSignature` here.
pub fn verify_receipts(lines: &[&[u8]], pins: &SignerPins) -> Vec<Checked> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        let threads = std::thread::available_parallelism()
            .map_or(1, std::num::NonZeroUsize::get)
            .min(lines.len() / LINES_PER_THREAD)
            .max(1);
        if threads > 1 {
            let per_thread = lines.len().div_ceil(threads);
            return std::thread::scope(|scope| {
                let workers: Vec<_> = lines
                    .chunks(per_thread)
                    .map(|chunk| (chunk, scope.spawn(move || verify_in_order(chunk, pins))))
                    .collect();
                workers
                    .into_iter()
                    .flat_map(|(chunk, worker)| {
                        // A worker only ends early by panicking; doing its share again here
                        // raises that panic on the caller's thread, as a plain loop would.
                        worker
                            .join()
                            .unwrap_or_else(|_| verify_in_order(chunk, pins))
                    })
                    .collect()
            });
        }
    }
    verify_in_order(lines, pins)
}

/// [`verify_receipts`] on this thread, with one key cache for all the lines.
fn verify_in_order(lines: &[&[u8]], pins: &SignerPins) -> Vec<Checked> {
    let mut keys = KeyCache::default();
    lines
        .iter()
        .map(|line| verify_with(line, pins, &mut |text| keys.decode(text)))
        .collect()
}

/// The signing keys met so far, as the receipts spell them, decoded (or why not).
#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, Result<VerifyingKey, KeyDecodeError>>,
}

impl KeyCache {
    /// Most logs have one to a few signers; a log with a new key on every line must not
    /// grow the cache without bound.
    const MAX: usize = 64;

    fn decode(&mut self, text: &str) -> Result<VerifyingKey, KeyDecodeError> {
        if let Some(known) = self.keys.get(text) {
            return known.clone();
        }
        let decoded = public_key_from_base64(text);
        if self.keys.len() >= Self::MAX {
            self.keys.clear();
        }
        self.keys.insert(text.to_owned(), decoded.clone());
        decoded
    }
}

/// [`verify_receipt`], decoding the signature entries' keys with `decode_key`.
fn verify_with(
    bytes: &[u8],
    pins: &SignerPins,
    decode_key: &mut dyn FnMut(&str) -> Result<VerifyingKey, KeyDecodeError>,
) -> Checked {
    match parse_receipt(bytes) {
        Err(verdict) => Checked {
            verdict,
            receipt: None,
        },
        Ok(parsed) => {
            let verdict = match check_parsed(&parsed, pins, decode_key) {
                Ok(signers) => Verdict::Valid(Box::new(signers)),
                Err(verdict) => verdict,
            };
            Checked {
                verdict,
                receipt: Some(parsed.receipt),
            }
        }
    }
}

/// A receipt whose shape passed, with the bytes its signatures cover.
struct Parsed {
    receipt: Receipt,
    content: Map<String, Value>,
}

fn parse_receipt(bytes: &[u8]) -> Result<Parsed, Verdict> {
    // Algorithm and version are read from the raw object before the strict shape check,
    // so a receipt of another version is `Unsupported`, not `Malformed`. The common case
    // (strict parse succeeds) parses once; only a failure pays for a lenient second parse.
    let strict = match parse_strict(bytes) {
        Ok(value) => {
            check_alg_and_version(&value)?;
            value
        }
        Err(strict_error) => {
            let lenient: Value =
                serde_json::from_slice(bytes).map_err(|e| match find_lone_surrogate(bytes) {
                    Some(at) => Verdict::Malformed(format!("lone surrogate escape at byte {at}")),
                    None => Verdict::Malformed(format!("not JSON: {e}")),
                })?;
            check_alg_and_version(&lenient)?;
            return Err(Verdict::Malformed(strict_error));
        }
    };
    let receipt: Receipt = serde_path_to_error::deserialize(&strict)
        .map_err(|e| Verdict::Malformed(format!("at {}: {}", e.path(), e.inner())))?;
    check_signature_entries(&receipt)?;
    let Value::Object(mut envelope) = strict else {
        return Err(Verdict::Malformed("a receipt must be a JSON object".into()));
    };
    let Some(Value::Object(content)) = envelope.remove("content") else {
        return Err(Verdict::Malformed("\"content\" is not an object".into()));
    };
    Ok(Parsed { receipt, content })
}

fn check_alg_and_version(raw: &Value) -> Result<(), Verdict> {
    let Value::Object(envelope) = raw else {
        return Err(Verdict::Malformed("a receipt must be a JSON object".into()));
    };
    match envelope.get("alg") {
        Some(Value::String(alg)) if alg == ALG => {}
        Some(Value::String(alg)) => {
            return Err(Verdict::WrongAlgorithm(format!(
                "alg is {alg:?}, expected {ALG:?}"
            )));
        }
        Some(_) => return Err(Verdict::WrongAlgorithm("alg is not a string".into())),
        None => return Err(Verdict::Malformed("missing key \"alg\"".into())),
    }
    let Some(Value::Object(content)) = envelope.get("content") else {
        return Err(Verdict::Malformed(
            "\"content\" is missing or not an object".into(),
        ));
    };
    match content.get("action_version") {
        Some(Value::String(v)) if v == ACTION_VERSION => Ok(()),
        Some(Value::String(v)) => Err(Verdict::Unsupported(format!(
            "action_version is {v:?}, this verifier reads {ACTION_VERSION:?}"
        ))),
        Some(_) => Err(Verdict::Unsupported(
            "action_version is not a string".into(),
        )),
        None => Err(Verdict::Malformed(
            "missing key \"content.action_version\"".into(),
        )),
    }
}

fn check_signature_entries(receipt: &Receipt) -> Result<(), Verdict> {
    let mut operators = 0;
    let mut approvers = 0;
    for (n, entry) in receipt.signatures.iter().enumerate() {
        if entry.algorithm != "Ed25519" {
            return Err(Verdict::Malformed(format!(
                "signatures[{n}].algorithm is {:?}, expected \"Ed25519\"",
                entry.algorithm
            )));
        }
        match entry.key_id {
            KeyRole::Operator => operators += 1,
            KeyRole::Approver => approvers += 1,
        }
    }
    if operators != 1 {
        return Err(Verdict::Malformed(format!(
            "expected exactly one operator signature, found {operators}"
        )));
    }
    if approvers > 1 {
        return Err(Verdict::Malformed(format!(
            "expected at most one approver signature, found {approvers}"
        )));
    }
    Ok(())
}

fn check_parsed(
    parsed: &Parsed,
    pins: &SignerPins,
    decode_key: &mut dyn FnMut(&str) -> Result<VerifyingKey, KeyDecodeError>,
) -> Result<Signers, Verdict> {
    let receipt = &parsed.receipt;
    let content = &receipt.content;

    let canonical = canonical_bytes_without_hash(&parsed.content)
        .map_err(|e| Verdict::Malformed(e.to_string()))?;
    let computed = action_hash_of(&canonical);
    if computed != content.action_hash {
        return Err(Verdict::HashMismatch(format!(
            "action_hash is {}, the content hashes to {computed}",
            claimed_hash(&content.action_hash)
        )));
    }

    let mut operator = None;
    let mut approver = None;
    for entry in &receipt.signatures {
        let (domain, role) = match entry.key_id {
            KeyRole::Operator => (OPERATOR_DOMAIN, "operator"),
            KeyRole::Approver => (APPROVER_DOMAIN, "approver"),
        };
        let key = check_signature(
            decode_key(entry.public_key.as_str()),
            &entry.signature,
            domain,
            &canonical,
        )
        .map_err(|why| Verdict::InvalidSignature(format!("{role} signature: {why}")))?;
        match entry.key_id {
            KeyRole::Operator => operator = Some(key),
            KeyRole::Approver => approver = Some(key),
        }
    }
    let Some(operator) = operator else {
        return Err(Verdict::Malformed("no operator signature".into()));
    };

    if approver.is_some_and(|a| a == operator) {
        return Err(Verdict::SelfApproval(format!(
            "the approver key is the operator key ({})",
            public_key_to_did_key(&operator)
        )));
    }

    let derived = if approver.is_some() {
        TrustLevel::L1
    } else {
        TrustLevel::L0
    };
    if derived != content.trust_level {
        return Err(Verdict::TrustLevelMismatch(format!(
            "trust_level says {}, the signatures give {derived}",
            content.trust_level
        )));
    }

    let decided_at = content
        .approver_decision
        .as_ref()
        .map_or("", |d| d.decided_at.as_str());
    for (role, key, signed_at) in [
        ("operator", Some(operator), content.captured_at.as_str()),
        ("approver", approver, decided_at),
    ] {
        if let Some(key) = key.filter(|k| !pins.admits(k, signed_at)) {
            let known =
                matches!(pins, SignerPins::Dated(keys) if keys.iter().any(|p| p.key == key));
            return Err(Verdict::UntrustedSigner(if known {
                format!(
                    "{role} key {} was retired before this receipt says it signed ({signed_at})",
                    public_key_to_did_key(&key)
                )
            } else {
                format!(
                    "{role} key {} is not among the pinned keys",
                    public_key_to_did_key(&key)
                )
            }));
        }
    }

    if !names_key(&content.agent_identity, &operator) {
        return Err(Verdict::IdentityMismatch(
            "agent_identity is not the operator's signing key".into(),
        ));
    }
    let approval = match (approver, &content.approver_decision) {
        (None, None) => None,
        (Some(_), None) => {
            return Err(Verdict::IdentityMismatch(
                "an L1 receipt must carry approver_decision".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(Verdict::IdentityMismatch(
                "approver_decision without an approver signature".into(),
            ));
        }
        (Some(key), Some(decision)) => {
            if !names_key(&decision.approver_identity, &key) {
                return Err(Verdict::IdentityMismatch(
                    "approver_decision.approver_identity is not the approver's signing key".into(),
                ));
            }
            Some((key, decision.decision))
        }
    };

    check_redaction(&content.action.fields, content.redaction.as_ref())
        .map_err(|e| Verdict::MalformedRedaction(e.to_string()))?;

    Ok(Signers {
        trust_level: derived,
        operator,
        approver: approval,
    })
}

/// True when `text` decodes to `key`: the same as `public_key_from_base64(text) ==
/// Ok(key)`, since keys are equal when their 32 bytes are, and bytes equal to a decoded
/// key's decode to it. Without the second point decompression.
fn names_key(text: &str, key: &VerifyingKey) -> bool {
    STANDARD
        .decode(text)
        .is_ok_and(|bytes| bytes.as_slice() == key.as_bytes())
}

fn check_signature(
    key: Result<VerifyingKey, KeyDecodeError>,
    signature: &str,
    domain: &[u8],
    canonical: &[u8],
) -> Result<VerifyingKey, String> {
    let key = key.map_err(|e| format!("public_key {e}"))?;
    let bytes = STANDARD
        .decode(signature)
        .map_err(|_| "signature is not padded standard base64".to_owned())?;
    let bytes: [u8; 64] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| format!("signature is {} bytes, expected 64", bytes.len()))?;
    let signature = Signature::from_bytes(&bytes);
    key.verify_strict(&signed_message(domain, canonical), &signature)
        .map_err(|_| "does not verify".to_owned())?;
    Ok(key)
}

/// A claimed hash in full, so it can be compared with the computed one character for
/// character; one longer than any hash is cut at 128 characters and its length given.
fn claimed_hash(hash: &str) -> String {
    match hash.char_indices().nth(128) {
        None => format!("{hash:?}"),
        Some((cut, _)) => format!(
            "{:?}… ({} characters)",
            hash.get(..cut).unwrap_or_default(),
            hash.chars().count()
        ),
    }
}

/// Where a chain check failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainFailure {
    /// Index of the receipt (0-based, in the order given).
    pub index: usize,
    /// Its verdict: the receipt's own failure, or a broken link.
    pub verdict: LineVerdict,
}

/// Verifies receipts in order: each one on its own, then its link to the previous
/// receipt of the same session (sessions may interleave). Returns every session's head.
pub fn verify_chain<'a>(
    receipts: impl IntoIterator<Item = &'a [u8]>,
    pins: &SignerPins,
) -> Result<Vec<ChainHead>, ChainFailure> {
    let mut heads: HashMap<String, ChainHead> = HashMap::new();
    let mut order = Vec::new();
    for (index, bytes) in receipts.into_iter().enumerate() {
        let checked = verify_receipt(bytes, pins);
        let receipt = match (checked.verdict, checked.receipt) {
            (Verdict::Valid(_), Some(receipt)) => receipt,
            (verdict, _) => {
                return Err(ChainFailure {
                    index,
                    verdict: LineVerdict::Receipt(verdict),
                });
            }
        };
        let session = receipt.content.session_id.clone().unwrap_or_default();
        let head = check_link(heads.get(&session), &receipt).map_err(|broken| ChainFailure {
            index,
            verdict: LineVerdict::LinkBroken(broken),
        })?;
        if !heads.contains_key(&session) {
            order.push(session.clone());
        }
        heads.insert(session, head);
    }
    Ok(order.into_iter().filter_map(|s| heads.remove(&s)).collect())
}
