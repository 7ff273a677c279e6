#![no_main]
//! Any bytes as a receipt: a verdict, never a panic.
use heso_receipt::{SignerPins, SigningKey, verify_receipt};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let checked = verify_receipt(data, &SignerPins::Any);
    let _ = checked.verdict.to_string();
    let pinned = SignerPins::Only(vec![SigningKey::from_bytes(&[1u8; 32]).verifying_key()]);
    let _ = verify_receipt(data, &pinned);
});
