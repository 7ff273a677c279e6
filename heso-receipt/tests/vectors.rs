//! The reference vectors (computed independently of this code) must all pass.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test and bench code: a failure should stop it loudly"
)]

use std::fs;
use std::path::PathBuf;

use heso_receipt::{
    SignerPins, SigningKey, TrustLevel, Verdict, action_hash_of, canonical_bytes,
    public_key_from_base64, public_key_from_did_key, public_key_to_base64, public_key_to_did_key,
    verify_chain, verify_receipt,
};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    serde_json::from_slice(&fs::read(&path).unwrap()).unwrap()
}

fn bytes(receipt: &Value) -> Vec<u8> {
    serde_json::to_vec(receipt).unwrap()
}

fn seed(keys: &Value, who: &str) -> SigningKey {
    let hex = keys[who]["seed_hex"].as_str().unwrap();
    let mut seed = [0u8; 32];
    for (i, byte) in seed.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    SigningKey::from_bytes(&seed)
}

#[test]
fn keys_encode_both_ways() {
    let keys = load("keys.json");
    for who in ["operator", "approver", "other"] {
        let public = seed(&keys, who).verifying_key();
        assert_eq!(
            public_key_to_base64(&public),
            keys[who]["public_key_b64"],
            "{who}"
        );
        assert_eq!(
            public_key_to_did_key(&public),
            keys[who]["did_key"],
            "{who}"
        );
        assert_eq!(
            public_key_from_did_key(keys[who]["did_key"].as_str().unwrap()).unwrap(),
            public
        );
        assert_eq!(
            public_key_from_base64(keys[who]["public_key_b64"].as_str().unwrap()).unwrap(),
            public
        );
    }
}

/// Canonical bytes and action_hash are byte-exact; signing with the seeds reproduces
/// the signatures exactly; the receipt verifies at the stated level.
fn check_valid_vector(file: &str, level: TrustLevel) {
    let vector = load(file);
    let keys = load("keys.json");
    let receipt = &vector["receipt"];
    let content = receipt["content"].as_object().unwrap();
    let canonical = canonical_bytes(content).unwrap();
    if let Some(expected) = vector.get("canonical_bytes_utf8") {
        assert_eq!(
            std::str::from_utf8(&canonical).unwrap(),
            expected.as_str().unwrap(),
            "{file}"
        );
    }
    let hash = action_hash_of(&canonical);
    assert_eq!(hash, content["action_hash"].as_str().unwrap(), "{file}");

    for entry in receipt["signatures"].as_array().unwrap() {
        let (who, domain): (&str, &[u8]) = match entry["key_id"].as_str().unwrap() {
            "operator" => ("operator", heso_receipt::OPERATOR_DOMAIN),
            _ => ("approver", heso_receipt::APPROVER_DOMAIN),
        };
        use base64::Engine as _;
        use ed25519_dalek::Signer as _;
        let mut message = domain.to_vec();
        message.extend_from_slice(&canonical);
        let signature = seed(&keys, who).sign(&message);
        let encoded = base64::engine::general_purpose::STANDARD.encode(signature.to_bytes());
        assert_eq!(
            encoded,
            entry["signature"].as_str().unwrap(),
            "{file}: {who}"
        );
    }

    let checked = verify_receipt(&bytes(receipt), &SignerPins::Any);
    let Verdict::Valid(signers) = &checked.verdict else {
        panic!("{file}: {}", checked.verdict);
    };
    assert_eq!(signers.trust_level, level, "{file}");
    assert_eq!(signers.operator, seed(&keys, "operator").verifying_key());

    // Pinned to the vector keys: still valid. Pinned to another key: UntrustedSigner.
    let pins = SignerPins::Only(vec![
        seed(&keys, "operator").verifying_key(),
        seed(&keys, "approver").verifying_key(),
    ]);
    assert!(
        verify_receipt(&bytes(receipt), &pins).verdict.is_valid(),
        "{file}"
    );
    let other = SignerPins::Only(vec![seed(&keys, "other").verifying_key()]);
    assert_eq!(
        verify_receipt(&bytes(receipt), &other).verdict.kind(),
        "UntrustedSigner"
    );
}

#[test]
fn receipt_l0() {
    check_valid_vector("receipt_l0.json", TrustLevel::L0);
}

#[test]
fn receipt_l1() {
    check_valid_vector("receipt_l1.json", TrustLevel::L1);
    let vector = load("receipt_l1.json");
    let checked = verify_receipt(&bytes(&vector["receipt"]), &SignerPins::Any);
    let signers = checked.verdict.signers().unwrap();
    let (approver, decision) = signers.approver.unwrap();
    assert_eq!(
        public_key_to_did_key(&approver),
        load("keys.json")["approver"]["did_key"]
    );
    assert_eq!(decision.to_string(), "approved");
}

#[test]
fn redaction_vectors() {
    check_valid_vector("redaction_commit_reveal.json", TrustLevel::L0);
    check_valid_vector("redaction_destructive.json", TrustLevel::L0);
    // Each reveal's commitment is reproduced from salt, path and value.
    let vector = load("redaction_commit_reveal.json");
    for reveal in vector["reveals"].as_array().unwrap() {
        let hex = reveal["salt_hex"].as_str().unwrap();
        let mut salt = [0u8; 32];
        for (i, byte) in salt.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
        }
        let commitment = heso_receipt::salted_commitment(
            &salt,
            reveal["field_path"].as_str().unwrap(),
            &reveal["value"],
        )
        .unwrap();
        assert_eq!(commitment, reveal["commitment"].as_str().unwrap());
    }
}

#[test]
fn tampered_cases_get_their_verdict() {
    let vector = load("tampered.json");
    let cases = vector["cases"].as_array().unwrap();
    assert!(cases.len() >= 9);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let expect = case["expect"].as_str().unwrap();
        let verdict = verify_receipt(&bytes(&case["receipt"]), &SignerPins::Any).verdict;
        assert_eq!(verdict.kind(), expect, "case {name:?}: got {verdict}");
        assert!(!verdict.detail().is_empty(), "case {name:?} has no detail");
    }
}

#[test]
fn a_hash_mismatch_names_both_hashes_in_full() {
    let mut receipt = load("receipt_l0.json")["receipt"].clone();
    let claimed = receipt["content"]["action_hash"]
        .as_str()
        .unwrap()
        .to_owned();
    receipt["content"]["action"]["tool_name"] = "other".into();
    let verdict = verify_receipt(&bytes(&receipt), &SignerPins::Any).verdict;
    assert_eq!(verdict.kind(), "HashMismatch");
    let computed = action_hash_of(
        &canonical_bytes(
            receipt["content"]
                .as_object()
                .map(|c| {
                    let mut c = c.clone();
                    c.remove("action_hash");
                    c
                })
                .as_ref()
                .unwrap(),
        )
        .unwrap(),
    );
    assert_eq!(
        verdict.detail(),
        format!("action_hash is {claimed:?}, the content hashes to {computed}")
    );
    // A claimed "hash" of any length is cut, with its length said.
    receipt["content"]["action_hash"] = "a".repeat(500).into();
    let long = verify_receipt(&bytes(&receipt), &SignerPins::Any).verdict;
    assert!(
        long.detail().starts_with(&format!(
            "action_hash is {:?}… (500 characters)",
            "a".repeat(128)
        )),
        "{long}"
    );
}

#[test]
fn chain_of_three_is_valid() {
    let vector = load("chain_3.json");
    let receipts: Vec<Vec<u8>> = vector["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .map(bytes)
        .collect();
    let heads = verify_chain(receipts.iter().map(Vec::as_slice), &SignerPins::Any).unwrap();
    assert_eq!(heads.len(), 1);
    assert_eq!(heads[0].session_id, "sess-vec");
    assert_eq!(heads[0].seq, 2);
    assert_eq!(
        heads[0].action_hash,
        vector["receipts"][2]["content"]["action_hash"]
    );
}

#[test]
fn tampered_chains_are_link_broken() {
    let vector = load("chain_tampered.json");
    for case in vector["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let receipts: Vec<Vec<u8>> = case["receipts"]
            .as_array()
            .unwrap()
            .iter()
            .map(bytes)
            .collect();
        let failure =
            verify_chain(receipts.iter().map(Vec::as_slice), &SignerPins::Any).expect_err(name);
        assert_eq!(
            failure.verdict.kind(),
            case["expect"].as_str().unwrap(),
            "case {name:?}"
        );
    }
}
