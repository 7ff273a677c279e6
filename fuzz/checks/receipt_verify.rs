//! Any bytes as a receipt: a verdict, never a panic. A valid receipt verifies again when
//! its own signers are pinned, is refused when they are not, and stays valid, with the
//! same hash, when its parsed form is written out again.

use heso_receipt::{SignerPins, SigningKey, verify_receipt};

pub fn check(data: &[u8]) {
    let checked = verify_receipt(data, &SignerPins::Any);
    let _ = checked.verdict.to_string();
    let stranger = SignerPins::Only(vec![SigningKey::from_bytes(&[0xee; 32]).verifying_key()]);
    let refused = verify_receipt(data, &stranger);
    assert!(
        !refused.verdict.is_valid(),
        "a receipt verified under a key that did not sign it"
    );
    let Some(signers) = checked.verdict.signers() else {
        return;
    };
    let mut own = vec![signers.operator];
    own.extend(signers.approver.as_ref().map(|(key, _)| *key));
    let pinned = verify_receipt(data, &SignerPins::Only(own));
    assert!(pinned.verdict.is_valid(), "{}", pinned.verdict);

    let receipt = checked.receipt.as_ref().unwrap();
    let again = verify_receipt(receipt.to_json().unwrap().as_bytes(), &SignerPins::Any);
    assert!(again.verdict.is_valid(), "{}", again.verdict);
    assert_eq!(
        again.receipt.unwrap().content.action_hash,
        receipt.content.action_hash
    );
}
