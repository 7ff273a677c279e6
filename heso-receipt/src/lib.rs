//! The heso Action Receipt (`heso-action/2.0`): wire format, canonical bytes, signing,
//! and offline verification.
//!
//! This crate is all a third-party verifier needs. It does no I/O, reads no clock and
//! uses no randomness, and it builds for `wasm32-unknown-unknown`. Its one use of threads
//! is [`verify_receipts`], which splits many receipts over the cores (not in WebAssembly).
//!
//! ```
//! use heso_receipt::{SignerPins, verify_receipt};
//!
//! let receipt = br#"{"alg":"heso-action/v2+ed25519","content":{"action_version":"heso-action/2.0","captured_at":"2026-11-23T12:00:00Z","agent_identity":"iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=","action":{"verb":"tool_call","tool_name":"search","workflow":"run-42","account":"default","fields":{"query":"quarterly revenue, ACME Corp"}},"policy":{"rule_id":"tool.allow","rule_display":"allow tool_call","matched_conditions":[],"decision_path":"allow"},"trust_level":"L0","action_hash":"6b61e4b5b8d3c0459eaacb96e8a0b8fa212d15d44912783b67b65bc8ade8d8f0"},"signatures":[{"algorithm":"Ed25519","key_id":"operator","public_key":"iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=","signature":"Mz1j2ObQZJY8k1wwsEU/Qr2wRgcrPE2Gb4TAtIl0E4v2E2V2NJIVNmuCU1U3ABmPLMtmWC5c5bVDHSMhVl49BA=="}]}"#;
//!
//! let checked = verify_receipt(receipt, &SignerPins::Any);
//! assert_eq!(checked.verdict.to_string(), "Valid (L0)");
//! let signers = checked.verdict.signers().unwrap();
//! assert_eq!(
//!     heso_receipt::public_key_to_did_key(&signers.operator),
//!     "did:key:z6Mkon3Necd6NkkyfoGoHxid2znGc59LU3K7mubaRcFbLfLX"
//! );
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod canonical;
mod chain;
mod jcs;
mod keys;
mod log;
mod model;
mod path;
mod redaction;
mod report;
mod sign;
mod status;
mod strict;
mod verdict;
mod verify;

pub use canonical::{
    APPROVER_DOMAIN, CanonicalError, OPERATOR_DOMAIN, action_hash_of, canonical_bytes,
};
pub use chain::{ChainClaim, ChainHead, LinkBroken, chain_link, check_claim, check_link};
pub use keys::{
    KeyDecodeError, public_key_from_base64, public_key_from_did_key, public_key_from_str,
    public_key_to_base64, public_key_to_did_key, public_key_to_multibase,
};
pub use log::{
    LineCheck, LineFailure, LineVerdict, LogChecker, LogReport, MAX_FAILURES, Pasted, SessionHead,
    SignerCount, TornTail, split_pasted, verify_log_bytes,
};
pub use model::{
    ACTION_VERSION, ALG, Action, ApprovalOutcome, ApproverDecision, Content, Decision, KeyRole,
    Marker, MarkerAlgorithm, MatchedCondition, PolicyRecord, Receipt, Redaction, RedactionMode,
    SignatureEntry, TrustLevel, Verb,
};
pub use path::{ConcretePath, FieldPath, PathError, Segment, Step, jcs_key_cmp};
pub use redaction::{RedactionError, merkle_root, salted_commitment};
pub use report::{
    BundleReport, ClaimedSigner, FailureReport, Included, NotIncluded, PinError, PinStatus,
    PinnedLogReport, Pinning, ReceiptReport, SignerReport,
};
pub use sign::{
    Approval, ChainPosition, Draft, SignError, content_canonical_bytes, sign_approved_receipt,
    sign_receipt,
};
pub use status::{EXPIRED_MARK, OBSERVED_SUFFIX, RESUMED_MARK, RecordedStatus};
pub use strict::{MAX_SAFE_INTEGER, parse_strict};
pub use verdict::{Signers, Verdict};
pub use verify::{
    ChainFailure, Checked, PinnedKey, SignerPins, verify_chain, verify_receipt, verify_receipts,
};

/// The Ed25519 key types callers sign with and pin, re-exported so a verifier needs no
/// direct dependency on `ed25519-dalek`.
pub use ed25519_dalek::{SigningKey, VerifyingKey};
