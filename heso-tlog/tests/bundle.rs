//! Inclusion bundles and the consistency of two checkpoints: each verdict, by a case that
//! gets it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use heso_tlog::{
    BundleError, BundleLeaf, BundleParseError, Checkpoint, CheckpointConsistencyError, Hash,
    InclusionBundle, SignedCheckpoint, SigningKey, leaf_hash, operator_multibase, origin,
    parse_origin, prove_consistency, prove_inclusion, root_of_leaves,
    verify_checkpoint_consistency,
};

const SESSION: &str = "4f9a1c2b7d3e8f60a1b2c3d4e5f60718";

fn action_hashes() -> Vec<[u8; 32]> {
    (0u8..13).map(|i| [i; 32]).collect()
}

fn hex(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn operator() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

fn checkpoint_of(key: &SigningKey, session: &str, size: usize) -> SignedCheckpoint {
    let leaves: Vec<Hash> = action_hashes().iter().map(leaf_hash).collect();
    let origin = origin(&operator_multibase(&key.verifying_key()), session).unwrap();
    Checkpoint::new(&origin, size as u64, root_of_leaves(&leaves[..size]))
        .unwrap()
        .sign(key)
}

fn bundle_for(index: u64, checkpoint: SignedCheckpoint) -> InclusionBundle {
    let leaves: Vec<Hash> = action_hashes().iter().map(leaf_hash).collect();
    let size = checkpoint.unverified().size();
    let proof = prove_inclusion(&leaves[..], index, size).unwrap();
    let receipt = format!(
        r#"{{"alg":"heso-action/v2+ed25519","content":{{"action_hash":"{}"}}}}"#,
        hex(&action_hashes()[index as usize])
    );
    InclusionBundle::new(&receipt, checkpoint, proof).unwrap()
}

fn leaf_of(index: usize) -> (String, u64) {
    (hex(&action_hashes()[index]), index as u64)
}

#[test]
fn a_bundle_verifies_offline_and_round_trips_as_json() {
    let bundle = bundle_for(5, checkpoint_of(&operator(), SESSION, 13));
    let (hash, seq) = leaf_of(5);
    let leaf = BundleLeaf {
        action_hash: &hash,
        session_id: Some(SESSION),
        seq: Some(seq),
    };
    let checkpoint = bundle.verify(&operator().verifying_key(), leaf).unwrap();
    assert_eq!(checkpoint.size(), 13);
    let again = InclusionBundle::parse(bundle.to_json().as_bytes()).unwrap();
    assert_eq!(again.receipt_json(), bundle.receipt_json());
    assert_eq!(again.proof(), bundle.proof());
    again.verify(&operator().verifying_key(), leaf).unwrap();
}

#[test]
fn each_way_a_bundle_fails_has_its_verdict() {
    let key = operator().verifying_key();
    let (hash, seq) = leaf_of(5);
    let leaf = BundleLeaf {
        action_hash: &hash,
        session_id: Some(SESSION),
        seq: Some(seq),
    };
    let good = bundle_for(5, checkpoint_of(&operator(), SESSION, 13));

    // Another operator's key: the origin does not name it.
    let other = SigningKey::from_bytes(&[8; 32]).verifying_key();
    assert!(matches!(
        good.verify(&other, leaf),
        Err(BundleError::OriginMismatch { .. })
    ));
    // Another session's receipt.
    let elsewhere = BundleLeaf {
        session_id: Some("another"),
        ..leaf
    };
    assert!(matches!(
        good.verify(&key, elsewhere),
        Err(BundleError::OriginMismatch { .. })
    ));
    // A checkpoint naming this operator but signed by another key.
    let forged = {
        let text = checkpoint_of(&SigningKey::from_bytes(&[8; 32]), SESSION, 13).to_string();
        let body_by_other = checkpoint_of(&operator(), SESSION, 13)
            .to_string()
            .split("\n\n")
            .next()
            .unwrap()
            .to_owned();
        let signature = text.split("\n\n").nth(1).unwrap();
        let name = checkpoint_of(&operator(), SESSION, 13)
            .unverified()
            .origin()
            .to_owned();
        let line = signature.replacen(signature.split(' ').nth(1).unwrap(), &name, 1);
        SignedCheckpoint::parse(format!("{body_by_other}\n\n{line}").as_bytes()).unwrap()
    };
    assert!(matches!(
        bundle_for(5, forged).verify(&key, leaf),
        Err(BundleError::InvalidSignature(_))
    ));
    // The receipt is another seq than the proof's leaf.
    let moved = BundleLeaf {
        seq: Some(6),
        ..leaf
    };
    assert!(matches!(
        good.verify(&key, moved),
        Err(BundleError::LeafIndexMismatch { .. })
    ));
    // Another receipt's hash.
    let (other_hash, _) = leaf_of(6);
    let wrong = BundleLeaf {
        action_hash: &other_hash,
        seq: None,
        ..leaf
    };
    assert!(matches!(
        good.verify(&key, wrong),
        Err(BundleError::NotIncluded(_))
    ));
    // A proof for another tree size than the checkpoint's.
    let json = good
        .to_json()
        .replace("\"tree_size\": 13", "\"tree_size\": 12");
    assert!(matches!(
        InclusionBundle::parse(json.as_bytes())
            .unwrap()
            .verify(&key, leaf),
        Err(BundleError::SizeMismatch { .. })
    ));
}

#[test]
fn bundles_parse_strictly() {
    let good = bundle_for(5, checkpoint_of(&operator(), SESSION, 13)).to_json();
    for (name, text) in [
        ("unknown key", good.replacen('{', "{\"x\": 1,", 1)),
        ("missing key", good.replace("\"leaf_index\": 5,", "")),
        (
            "uppercase hex",
            good.replace("\"hashes\": [\n    \"", "\"hashes\": [\n    \"A"),
        ),
        ("not JSON", "nope".to_owned()),
    ] {
        assert!(
            matches!(
                InclusionBundle::parse(text.as_bytes()),
                Err(BundleParseError::Json(_))
            ),
            "{name}"
        );
    }
    let array = good
        .replacen("\"receipt\": {", "\"receipt\": [{", 1)
        .replacen("},\n  \"checkpoint\"", "}],\n  \"checkpoint\"", 1);
    assert_eq!(
        InclusionBundle::parse(array.as_bytes()).unwrap_err(),
        BundleParseError::ReceiptNotObject
    );
    let crlf = good.replace("\\n", "\\r\\n");
    assert!(matches!(
        InclusionBundle::parse(crlf.as_bytes()),
        Err(BundleParseError::Checkpoint(_))
    ));
}

#[test]
fn two_checkpoints_of_one_log_are_consistent_and_a_fork_is_not() {
    let leaves: Vec<Hash> = action_hashes().iter().map(leaf_hash).collect();
    let old = checkpoint_of(&operator(), SESSION, 7);
    let new = checkpoint_of(&operator(), SESSION, 13);
    let proof = prove_consistency(&leaves[..], 7, 13).unwrap();
    verify_checkpoint_consistency(old.unverified(), new.unverified(), &proof).unwrap();

    let elsewhere = checkpoint_of(&operator(), "another", 13);
    assert!(matches!(
        verify_checkpoint_consistency(old.unverified(), elsewhere.unverified(), &proof),
        Err(CheckpointConsistencyError::OriginMismatch { .. })
    ));
    let short = prove_consistency(&leaves[..], 6, 13).unwrap();
    assert!(matches!(
        verify_checkpoint_consistency(old.unverified(), new.unverified(), &short),
        Err(CheckpointConsistencyError::SizeMismatch { .. })
    ));
    // A fork: the same first 6 receipts, then another one.
    let mut forked = leaves.clone();
    forked[6] = leaf_hash(&[99; 32]);
    let fork_origin = new.unverified().origin().to_owned();
    let fork = Checkpoint::new(&fork_origin, 13, root_of_leaves(&forked)).unwrap();
    let fork_proof = prove_consistency(&forked[..], 7, 13).unwrap();
    assert!(matches!(
        verify_checkpoint_consistency(old.unverified(), &fork, &fork_proof),
        Err(CheckpointConsistencyError::Proof(_))
    ));
}

#[test]
fn an_origin_names_its_operator_key() {
    let key = operator().verifying_key();
    let origin = origin(&operator_multibase(&key), SESSION).unwrap();
    let parts = parse_origin(&origin).unwrap();
    assert_eq!(parts.operator_key().unwrap(), key);
    assert_eq!(parts.log_id, SESSION);
    // The doc example's multibase, decoded and encoded again.
    let example = "z6MkehRgf7yJbgaGfYsdoAsKdBPE3dj2CYhowQdcjqSJgvVd";
    let text = format!("heso.dev/log/{example}/x");
    let parts = parse_origin(&text).unwrap();
    assert_eq!(operator_multibase(&parts.operator_key().unwrap()), example);
    let bad = parse_origin("heso.dev/log/z6MkehRgf7yJbgaGfYsdoAsKdBPE3dj2CYhowQdcjqSJgvV1/x");
    assert!(bad.is_err() || bad.unwrap().operator_key().is_err());
}
