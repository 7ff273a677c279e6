//! The reference vectors of tests/vectors/ (computed by make_vectors.py with Python's hashlib
//! and cryptography, independently of this crate) must all pass. A failing case names itself.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

use std::fs;
use std::path::PathBuf;

use heso_tlog::{
    Checkpoint, CompactRange, ConsistencyError, Hash, InclusionError, Note, SignatureType,
    SignedCheckpoint, SigningKey, VerifierKey, empty_root, key_id, leaf_hash, leaf_hash_from_hex,
    origin, parse_origin, prove_consistency, prove_inclusion, tree_root, verify_consistency,
    verify_inclusion,
};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name);
    serde_json::from_slice(&fs::read(&path).unwrap()).unwrap()
}

fn hash(value: &Value) -> Hash {
    Hash::from_hex(value.as_str().unwrap()).unwrap()
}

fn hashes(value: &Value) -> Vec<Hash> {
    value.as_array().unwrap().iter().map(hash).collect()
}

fn seed(hex: &Value) -> SigningKey {
    let bytes = Hash::from_hex(hex.as_str().unwrap()).unwrap();
    SigningKey::from_bytes(bytes.as_bytes())
}

fn tree() -> (Value, Vec<Hash>) {
    let tree = load("tree.json");
    let leaves = hashes(&tree["leaf_hashes"]);
    (tree, leaves)
}

#[test]
fn leaf_hashes_match() {
    let (tree, leaves) = tree();
    let actions = tree["action_hashes"].as_array().unwrap();
    assert_eq!(actions.len(), leaves.len());
    for (i, (action, leaf)) in actions.iter().zip(&leaves).enumerate() {
        let action = Hash::from_hex(action.as_str().unwrap()).unwrap();
        assert_eq!(leaf_hash(action.as_bytes()), *leaf, "leaf {i}");
        assert_eq!(
            leaf_hash_from_hex(&action.to_hex()).unwrap(),
            *leaf,
            "leaf {i}"
        );
    }
}

#[test]
fn roots_match_for_every_size() {
    let (tree, leaves) = tree();
    let mut range = CompactRange::new();
    for case in tree["roots"].as_array().unwrap() {
        let size = case["size"].as_u64().unwrap();
        let want = hash(&case["root"]);
        while range.size() < size {
            range.append(leaves[range.size() as usize]).unwrap();
        }
        assert_eq!(range.root(), want, "compact range root of size {size}");
        assert_eq!(
            tree_root(&leaves[..], size).unwrap(),
            want,
            "tree_root of size {size}"
        );
        assert_eq!(
            CompactRange::from_source(&leaves[..], size).unwrap(),
            range,
            "compact range rebuilt from the leaves, size {size}"
        );
    }
    assert_eq!(hash(&tree["roots"][0]["root"]), empty_root());
}

#[test]
fn inclusion_proofs_match_and_verify() {
    let (tree, leaves) = tree();
    for case in tree["inclusion"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let index = case["leaf_index"].as_u64().unwrap();
        let size = case["tree_size"].as_u64().unwrap();
        let want = hashes(&case["hashes"]);
        let proof = prove_inclusion(&leaves[..], index, size).unwrap();
        assert_eq!(proof.hashes, want, "{name}: produced");
        let root = tree_root(&leaves[..], size).unwrap();
        verify_inclusion(index, size, &want, &leaves[index as usize], &root)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn consistency_proofs_match_and_verify() {
    let (tree, leaves) = tree();
    for case in tree["consistency"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let old = case["old_size"].as_u64().unwrap();
        let new = case["new_size"].as_u64().unwrap();
        let want = hashes(&case["hashes"]);
        let proof = prove_consistency(&leaves[..], old, new).unwrap();
        assert_eq!(proof.hashes, want, "{name}: produced");
        let old_root = tree_root(&leaves[..], old).unwrap();
        let new_root = tree_root(&leaves[..], new).unwrap();
        verify_consistency(old, new, &want, &old_root, &new_root)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

fn error_name<E: std::fmt::Debug>(error: &E) -> String {
    let debug = format!("{error:?}");
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn invalid_inclusion_proofs_fail_as_named() {
    let (tree, _) = tree();
    for case in tree["inclusion_invalid"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let result: Result<(), InclusionError> = verify_inclusion(
            case["leaf_index"].as_u64().unwrap(),
            case["tree_size"].as_u64().unwrap(),
            &hashes(&case["hashes"]),
            &hash(&case["leaf"]),
            &hash(&case["root"]),
        );
        let error = result.expect_err(name);
        assert_eq!(
            error_name(&error),
            case["error"].as_str().unwrap(),
            "{name}"
        );
    }
}

#[test]
fn invalid_consistency_proofs_fail_as_named() {
    let (tree, _) = tree();
    for case in tree["consistency_invalid"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let result: Result<(), ConsistencyError> = verify_consistency(
            case["old_size"].as_u64().unwrap(),
            case["new_size"].as_u64().unwrap(),
            &hashes(&case["hashes"]),
            &hash(&case["old_root"]),
            &hash(&case["new_root"]),
        );
        let error = result.expect_err(name);
        assert_eq!(
            error_name(&error),
            case["error"].as_str().unwrap(),
            "{name}"
        );
    }
}

#[test]
fn checkpoint_signed_here_is_byte_for_byte_the_reference() {
    let notes = load("notes.json");
    let operator = seed(&notes["operator"]["seed_hex"]);
    let public = operator.verifying_key();
    assert_eq!(
        Hash::from_bytes(public.to_bytes()).to_hex(),
        notes["operator"]["public_key_hex"].as_str().unwrap()
    );
    let multibase = notes["operator"]["did_key_multibase"].as_str().unwrap();
    let log_id = notes["log_id"].as_str().unwrap();
    let origin = origin(multibase, log_id).unwrap();
    assert_eq!(origin, notes["origin"].as_str().unwrap());
    let parts = parse_origin(&origin).unwrap();
    assert_eq!(
        (parts.operator_multibase, parts.log_id),
        (multibase, log_id)
    );

    let (_, leaves) = tree();
    let size = notes["checkpoint"]["size"].as_u64().unwrap();
    let root = tree_root(&leaves[..], size).unwrap();
    assert_eq!(root, hash(&notes["checkpoint"]["root_hex"]));

    let checkpoint = Checkpoint::new(&origin, size, root).unwrap();
    assert_eq!(
        checkpoint.body(),
        notes["checkpoint"]["body"].as_str().unwrap()
    );
    assert_eq!(
        format!("{:08x}", key_id(&origin, SignatureType::Ed25519, &public)),
        notes["checkpoint"]["key_id_hex"].as_str().unwrap()
    );
    let signed = checkpoint.sign(&operator);
    assert_eq!(
        signed.to_string(),
        notes["checkpoint"]["signed"].as_str().unwrap()
    );
    let vkey = VerifierKey::ed25519(&origin, public).unwrap();
    assert_eq!(
        vkey.to_string(),
        notes["operator"]["vkey"].as_str().unwrap()
    );
    assert_eq!(
        VerifierKey::parse(notes["operator"]["vkey"].as_str().unwrap()).unwrap(),
        vkey
    );
}

#[test]
fn reference_checkpoints_parse_and_verify() {
    let notes = load("notes.json");
    let public = seed(&notes["operator"]["seed_hex"]).verifying_key();
    for (case, size) in [
        ("checkpoint", 10),
        ("with_extension", 10),
        ("empty_tree", 0),
    ] {
        let text = notes[case]["signed"].as_str().unwrap();
        let signed = SignedCheckpoint::parse(text.as_bytes()).unwrap();
        let checkpoint = signed
            .verify(&public)
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(checkpoint.size(), size, "{case}");
        assert_eq!(checkpoint.origin(), notes["origin"].as_str().unwrap());
        assert_eq!(signed.to_string(), text, "{case}: prints back as read");
        let vkey = VerifierKey::parse(notes["operator"]["vkey"].as_str().unwrap()).unwrap();
        signed.note().verify(&vkey).unwrap();
    }
    let extended = SignedCheckpoint::parse(
        notes["with_extension"]["signed"]
            .as_str()
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(
        extended.unverified().extensions(),
        ["heso-extension example"]
    );
    let empty = SignedCheckpoint::parse(notes["empty_tree"]["signed"].as_str().unwrap().as_bytes())
        .unwrap();
    assert_eq!(*empty.unverified().root(), empty_root());
}

#[test]
fn cosignature_made_here_is_the_reference_and_verifies() {
    let notes = load("notes.json");
    let witness = seed(&notes["witness"]["seed_hex"]);
    let name = notes["witness"]["name"].as_str().unwrap();
    let timestamp = notes["cosignature"]["timestamp"].as_u64().unwrap();
    let signed =
        SignedCheckpoint::parse(notes["checkpoint"]["signed"].as_str().unwrap().as_bytes())
            .unwrap();

    let line = signed.cosign(name, &witness, timestamp).unwrap();
    assert_eq!(
        line.to_line(),
        notes["cosignature"]["line"].as_str().unwrap()
    );
    assert_eq!(
        format!("{:08x}", line.key_id()),
        notes["cosignature"]["key_id_hex"].as_str().unwrap()
    );

    let mut cosigned = signed.clone();
    cosigned.add_signature(line).unwrap();
    assert_eq!(
        cosigned.to_string(),
        notes["cosignature"]["cosigned"].as_str().unwrap()
    );

    let reference = SignedCheckpoint::parse(
        notes["cosignature"]["cosigned"]
            .as_str()
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    let vkey = VerifierKey::parse(notes["witness"]["vkey"].as_str().unwrap()).unwrap();
    assert_eq!(
        vkey,
        VerifierKey::cosigner(name, witness.verifying_key()).unwrap()
    );
    assert_eq!(reference.verify_cosignature(&vkey).unwrap(), timestamp);
    // The operator's signature still verifies next to the cosignature.
    let operator = seed(&notes["operator"]["seed_hex"]).verifying_key();
    reference.verify(&operator).unwrap();
}

/// A third-party vector: the signed note of Go's golang.org/x/mod/sumdb/note tests (also in
/// C2SP implementations' tests), verified with its published verifier key.
#[test]
fn go_note_reference_verifies() {
    let vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    let text = "If you think cryptography is the answer to your problem,\n\
                then you don't know what your problem is.\n";
    let msg = format!(
        "{text}\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
    );
    let key = VerifierKey::parse(vkey).unwrap();
    assert_eq!(key.key_id(), 0xc74f_20a3);
    assert_eq!(key.to_string(), vkey);
    let note = Note::parse(msg.as_bytes()).unwrap();
    assert_eq!(note.text(), text);
    note.verify(&key).unwrap();
    assert_eq!(note.to_string(), msg);
}
