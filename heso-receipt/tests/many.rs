//! `verify_receipts` (many receipts at once: cached key decoding, several threads) gives
//! exactly `verify_receipt`'s verdicts, line for line: on the reference vectors, the fuzz
//! corpus, and random logs of valid receipts and receipts with broken signatures,
//! including the signatures a batch verifier would get wrong.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::scalar::Scalar;
use heso_receipt::{
    Action, Approval, ApprovalOutcome, ChainPosition, Checked, Decision, Draft, OPERATOR_DOMAIN,
    PolicyRecord, SignerPins, SigningKey, Verb, action_hash_of, canonical_bytes,
    content_canonical_bytes, sign_approved_receipt, sign_receipt, verify_receipt, verify_receipts,
};
use proptest::prelude::*;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha512};

/// The group order ℓ, little-endian.
const ELL: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

fn one_by_one(lines: &[&[u8]], pins: &SignerPins) -> Vec<Checked> {
    lines
        .iter()
        .map(|line| verify_receipt(line, pins))
        .collect()
}

fn assert_same(lines: &[&[u8]], pins: &SignerPins) -> Vec<Checked> {
    let expected = one_by_one(lines, pins);
    let many = verify_receipts(lines, pins);
    assert_eq!(many.len(), expected.len());
    for (n, (got, want)) in many.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "line {n}");
    }
    expected
}

fn data(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Every receipt in the reference vectors, as lines.
fn vector_lines() -> Vec<Vec<u8>> {
    let mut receipts = Vec::new();
    for name in [
        "receipt_l0.json",
        "receipt_l1.json",
        "redaction_commit_reveal.json",
        "redaction_destructive.json",
    ] {
        receipts.push(data(name)["receipt"].clone());
    }
    receipts.extend(data("chain_3.json")["receipts"].as_array().unwrap().clone());
    for case in data("tampered.json")["cases"].as_array().unwrap() {
        receipts.push(case["receipt"].clone());
    }
    for case in data("chain_tampered.json")["cases"].as_array().unwrap() {
        receipts.extend(case["receipts"].as_array().unwrap().clone());
    }
    receipts
        .iter()
        .map(|r| serde_json::to_vec(r).unwrap())
        .collect()
}

#[test]
fn the_reference_vectors_get_the_same_verdicts() {
    let lines = vector_lines();
    // Repeated so the call is long enough to be split over threads.
    let many: Vec<&[u8]> = lines.iter().map(Vec::as_slice).cycle().take(1000).collect();
    let keys = data("keys.json");
    let key = |who: &str| {
        heso_receipt::public_key_from_base64(keys[who]["public_key_b64"].as_str().unwrap()).unwrap()
    };
    let verdicts = assert_same(&many, &SignerPins::Any);
    assert!(verdicts.iter().any(|c| c.verdict.is_valid()));
    assert!(verdicts.iter().any(|c| !c.verdict.is_valid()));
    assert_same(&many, &SignerPins::Only(vec![key("operator")]));
    assert_same(
        &many,
        &SignerPins::Only(vec![key("operator"), key("approver")]),
    );
}

#[test]
fn the_fuzz_corpus_gets_the_same_verdicts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut inputs = Vec::new();
    for dir in ["seeds", "corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join("receipt_verify")) else {
            continue;
        };
        for entry in entries.flatten() {
            inputs.push(std::fs::read(entry.path()).unwrap());
        }
    }
    assert!(inputs.len() > 100, "only {} fuzz inputs", inputs.len());
    let lines: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
    assert_same(&lines, &SignerPins::Any);
}

#[test]
fn few_lines_and_no_lines() {
    assert!(verify_receipts(&[], &SignerPins::Any).is_empty());
    let lines = vector_lines();
    let one: Vec<&[u8]> = vec![&lines[0]];
    assert!(assert_same(&one, &SignerPins::Any)[0].verdict.is_valid());
}

fn operator() -> SigningKey {
    SigningKey::from_bytes(&[11u8; 32])
}

fn approver() -> SigningKey {
    SigningKey::from_bytes(&[12u8; 32])
}

fn stranger() -> SigningKey {
    SigningKey::from_bytes(&[13u8; 32])
}

fn draft(seq: u64) -> Draft {
    Draft {
        captured_at: "2026-11-24T00:00:00Z".into(),
        action: Action {
            verb: Verb::ToolCall,
            tool_name: "search".into(),
            workflow: "run".into(),
            account: "default".into(),
            fields: json!({"query": format!("question {seq}")})
                .as_object()
                .cloned()
                .unwrap(),
            target_host: None,
            result_hash: None,
            error: None,
        },
        policy: PolicyRecord {
            rule_id: "r".into(),
            rule_display: "allow".into(),
            matched_conditions: vec![],
            decision_path: Decision::Allow,
        },
        redaction: None,
        chain: Some(ChainPosition {
            session_id: "s".into(),
            seq,
            prev_receipt_hash: None,
        }),
    }
}

/// Signed receipts to build logs from: even ones L0, odd ones L1.
fn pool() -> &'static [Value] {
    static POOL: OnceLock<Vec<Value>> = OnceLock::new();
    POOL.get_or_init(|| {
        (0..16u64)
            .map(|seq| {
                let receipt = if seq % 2 == 0 {
                    sign_receipt(draft(seq), &operator()).unwrap()
                } else {
                    let approval = Approval {
                        decision: ApprovalOutcome::Approved,
                        reason: "ok".into(),
                        decided_at: "2026-11-24T00:00:01Z".into(),
                    };
                    sign_approved_receipt(draft(seq), approval, &approver(), &operator()).unwrap()
                };
                serde_json::from_str(&receipt.to_json().unwrap()).unwrap()
            })
            .collect()
    })
}

/// The operator's secret scalar, as Ed25519 derives it from the seed.
fn secret_scalar(key: &SigningKey) -> Scalar {
    let hash = Sha512::digest(key.as_bytes());
    let mut bytes: [u8; 32] = hash[..32].try_into().unwrap();
    bytes[0] &= 248;
    bytes[31] &= 127;
    bytes[31] |= 64;
    Scalar::from_bytes_mod_order(bytes)
}

/// A signature by `key` over `message` whose `R` carries the small-order point `torsion`
/// (`[r]B + T`) and whose `s` satisfies the cofactored equation: `verify_strict` rejects
/// it, and a batch equation with random coefficients accepts it whenever the coefficient
/// kills `T`.
fn torsion_signature(key: &SigningKey, message: &[u8], torsion: usize) -> [u8; 64] {
    let r = Scalar::from_bytes_mod_order_wide(&Sha512::digest(message).into());
    let big_r = (ED25519_BASEPOINT_POINT * r + EIGHT_TORSION[torsion]).compress();
    let k = Scalar::from_bytes_mod_order_wide(
        &Sha512::new()
            .chain_update(big_r.as_bytes())
            .chain_update(key.verifying_key().as_bytes())
            .chain_update(message)
            .finalize()
            .into(),
    );
    let s = r + k * secret_scalar(key);
    let mut signature = [0u8; 64];
    signature[..32].copy_from_slice(big_r.as_bytes());
    signature[32..].copy_from_slice(s.as_bytes());
    signature
}

/// A signature that satisfies the equation for a small-order key `A` whenever `[k]A`
/// vanishes (`s = r`, `R = [r]B`), which `verify_strict` rejects as a weak key.
fn weak_key_signature(message: &[u8]) -> [u8; 64] {
    let r = Scalar::from_bytes_mod_order_wide(&Sha512::digest(message).into());
    let mut signature = [0u8; 64];
    signature[..32].copy_from_slice((ED25519_BASEPOINT_POINT * r).compress().as_bytes());
    signature[32..].copy_from_slice(r.as_bytes());
    signature
}

/// `s + ℓ`: the same signature under a non-canonical `s`.
fn non_canonical_s(signature: &mut [u8; 64]) {
    let mut carry = 0u16;
    for (byte, add) in signature[32..].iter_mut().zip(ELL) {
        let sum = u16::from(*byte) + u16::from(add) + carry;
        *byte = sum as u8;
        carry = sum >> 8;
    }
}

#[derive(Debug, Clone)]
enum Change {
    None,
    /// Flip one bit of the signature in entry `0` (operator) or the last entry.
    FlipSignatureBit {
        last: bool,
        bit: usize,
    },
    /// Another key in the operator's entry (and in agent_identity when `both`).
    WrongKey {
        both: bool,
    },
    NonCanonicalS,
    /// The operator's entry and agent_identity name a small-order key.
    WeakKey(usize),
    /// The operator's signature carries a small-order component in R.
    TorsionR(usize),
    /// R replaced by a small-order point.
    SmallOrderR(usize),
    /// One byte of the line changed.
    Byte {
        at: usize,
        to: u8,
    },
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        4 => Just(Change::None),
        1 => (any::<bool>(), 0..512usize).prop_map(|(last, bit)| Change::FlipSignatureBit { last, bit }),
        1 => any::<bool>().prop_map(|both| Change::WrongKey { both }),
        1 => Just(Change::NonCanonicalS),
        1 => (0..8usize).prop_map(Change::WeakKey),
        1 => (1..8usize).prop_map(Change::TorsionR),
        1 => (0..8usize).prop_map(Change::SmallOrderR),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(at, to)| Change::Byte { at, to }),
    ]
}

fn signature_of(receipt: &Value, entry: usize) -> [u8; 64] {
    STANDARD
        .decode(receipt["signatures"][entry]["signature"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

fn set_signature(receipt: &mut Value, entry: usize, signature: &[u8]) {
    receipt["signatures"][entry]["signature"] = STANDARD.encode(signature).into();
}

/// Sets `action_hash` to the hash of the content as it now is.
fn rehash(receipt: &mut Value) {
    let content = receipt["content"].as_object().unwrap();
    let hash = action_hash_of(&canonical_bytes(content).unwrap());
    receipt["content"]["action_hash"] = hash.into();
}

fn operator_message(receipt: &Value) -> Vec<u8> {
    let parsed: heso_receipt::Receipt = serde_json::from_value(receipt.clone()).unwrap();
    let canonical = content_canonical_bytes(&parsed.content).unwrap();
    [OPERATOR_DOMAIN, &canonical].concat()
}

/// The line, and whether its verdict must be `InvalidSignature`.
fn apply(receipt: &Value, change: &Change) -> (Vec<u8>, bool) {
    let mut receipt = receipt.clone();
    let entries = receipt["signatures"].as_array().unwrap().len();
    let invalid = match change {
        Change::None => false,
        Change::FlipSignatureBit { last, bit } => {
            let entry = if *last { entries - 1 } else { 0 };
            let mut signature = signature_of(&receipt, entry);
            signature[bit / 8] ^= 1 << (bit % 8);
            set_signature(&mut receipt, entry, &signature);
            true
        }
        Change::WrongKey { both } => {
            let other = STANDARD.encode(stranger().verifying_key().as_bytes());
            receipt["signatures"][0]["public_key"] = other.clone().into();
            if *both {
                receipt["content"]["agent_identity"] = other.into();
                rehash(&mut receipt);
            }
            true
        }
        Change::NonCanonicalS => {
            let mut signature = signature_of(&receipt, 0);
            non_canonical_s(&mut signature);
            set_signature(&mut receipt, 0, &signature);
            true
        }
        Change::WeakKey(torsion) => {
            let key = STANDARD.encode(EIGHT_TORSION[*torsion].compress().as_bytes());
            receipt["signatures"][0]["public_key"] = key.clone().into();
            receipt["content"]["agent_identity"] = key.into();
            rehash(&mut receipt);
            let signature = weak_key_signature(&operator_message(&receipt));
            set_signature(&mut receipt, 0, &signature);
            true
        }
        Change::TorsionR(torsion) => {
            let signature = torsion_signature(&operator(), &operator_message(&receipt), *torsion);
            set_signature(&mut receipt, 0, &signature);
            true
        }
        Change::SmallOrderR(torsion) => {
            let mut signature = signature_of(&receipt, 0);
            signature[..32].copy_from_slice(EIGHT_TORSION[*torsion].compress().as_bytes());
            set_signature(&mut receipt, 0, &signature);
            true
        }
        Change::Byte { at, to } => {
            let mut line = serde_json::to_vec(&receipt).unwrap();
            let at = at % line.len();
            line[at] = *to;
            return (line, false);
        }
    };
    (serde_json::to_vec(&receipt).unwrap(), invalid)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn random_logs_get_the_same_verdicts(
        picks in prop::collection::vec((0..16usize, change()), 100..300),
        pinned in any::<bool>(),
    ) {
        let pool = pool();
        let made: Vec<(Vec<u8>, bool)> =
            picks.iter().map(|(i, change)| apply(&pool[*i], change)).collect();
        let lines: Vec<&[u8]> = made.iter().map(|(line, _)| line.as_slice()).collect();
        let pins = if pinned {
            SignerPins::Only(vec![operator().verifying_key(), approver().verifying_key()])
        } else {
            SignerPins::Any
        };
        let verdicts = assert_same(&lines, &pins);
        for ((checked, (_, invalid)), (i, change)) in verdicts.iter().zip(&made).zip(&picks) {
            if *invalid {
                prop_assert_eq!(checked.verdict.kind(), "InvalidSignature", "{:?} on {}", change, i);
            }
            if matches!(change, Change::None) {
                prop_assert!(checked.verdict.is_valid(), "{}", checked.verdict);
            }
        }
    }
}

#[test]
fn a_small_order_component_in_r_is_an_invalid_signature() {
    for torsion in 1..8 {
        let (line, _) = apply(&pool()[0], &Change::TorsionR(torsion));
        let checked = verify_receipt(&line, &SignerPins::Any);
        assert_eq!(
            checked.verdict.to_string(),
            "InvalidSignature: operator signature: does not verify",
            "torsion point {torsion}"
        );
    }
}
