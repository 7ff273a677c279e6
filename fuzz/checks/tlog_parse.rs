//! Any bytes as a signed checkpoint, a signed note, a verifier key, an inclusion bundle, or
//! an inclusion or consistency proof: a value or a typed error, never a panic. Whatever
//! parses writes out as text that parses back to the same value, and verifying it (against
//! a key that did not sign it) gives a verdict, never a panic.

use heso_tlog::{
    BundleLeaf, ConsistencyProof, Hash, InclusionBundle, InclusionProof, Note, SignedCheckpoint,
    SigningKey, VerifierKey, empty_root,
};

pub fn check(data: &[u8]) {
    let stranger = SigningKey::from_bytes(&[3u8; 32]).verifying_key();

    if let Ok(note) = Note::parse(data) {
        let again = Note::parse(note.to_string().as_bytes()).expect("a parsed note re-parses");
        assert_eq!(again, note);
        assert_eq!(
            note.to_string().as_bytes(),
            data,
            "strict parse: one spelling"
        );
    }

    if let Ok(checkpoint) = SignedCheckpoint::parse(data) {
        let text = checkpoint.to_string();
        let again = SignedCheckpoint::parse(text.as_bytes()).expect("a checkpoint re-parses");
        assert_eq!(again, checkpoint);
        assert!(
            checkpoint.verify(&stranger).is_err(),
            "signed by a key nobody has"
        );
        let witness = VerifierKey::cosigner("w.example/w", stranger).expect("a valid name");
        assert!(checkpoint.verify_cosignature(&witness).is_err());
    }

    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(key) = VerifierKey::parse(text)
    {
        assert_eq!(VerifierKey::parse(&key.to_string()), Ok(key));
    }

    if let Ok(bundle) = InclusionBundle::parse(data) {
        let json = bundle.to_json();
        let again = InclusionBundle::parse(json.as_bytes()).expect("a bundle re-parses");
        assert_eq!(again.receipt_json(), bundle.receipt_json());
        assert_eq!(again.checkpoint(), bundle.checkpoint());
        assert_eq!(again.proof(), bundle.proof());
        let leaf = BundleLeaf {
            action_hash: "00",
            session_id: None,
            seq: None,
        };
        assert!(bundle.verify(&stranger, leaf).is_err());
    }

    if let Ok(proof) = serde_json::from_slice::<InclusionProof>(data) {
        let _ = proof.verify(&Hash::from_bytes([1; 32]), &empty_root());
    }
    if let Ok(proof) = serde_json::from_slice::<ConsistencyProof>(data) {
        let _ = proof.verify(&empty_root(), &Hash::from_bytes([1; 32]));
    }
}
