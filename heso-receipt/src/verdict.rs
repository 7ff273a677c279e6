//! Verdicts: the outcome of verifying one receipt. A log's verdicts on its lines add a
//! broken link ([`crate::LinkBroken`], in [`crate::LineVerdict`]) and its torn tail
//! ([`crate::TornTail`]); neither is a receipt's own.

use std::fmt;

use ed25519_dalek::VerifyingKey;

use crate::keys::public_key_to_did_key;
use crate::model::{ApprovalOutcome, TrustLevel};

/// Who signed a valid receipt, and the trust level derived from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signers {
    /// Derived from the signatures, never read from the receipt.
    pub trust_level: TrustLevel,
    /// The operator's key.
    pub operator: VerifyingKey,
    /// The approver's key and decision, on L1 receipts.
    pub approver: Option<(VerifyingKey, ApprovalOutcome)>,
}

/// The outcome of a verification. Every kind but `Valid` carries a one-line detail.
///
/// Not `non_exhaustive` on purpose: callers must handle every verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every check passed (boxed: two public keys make it the largest variant).
    Valid(Box<Signers>),
    /// `alg` is not `heso-action/v2+ed25519`.
    WrongAlgorithm(String),
    /// `action_version` is not `heso-action/2.0`.
    Unsupported(String),
    /// Not a receipt of this format's shape.
    Malformed(String),
    /// `action_hash` differs from the hash of the canonical bytes.
    HashMismatch(String),
    /// A signature does not verify (or its key or bytes do not decode).
    InvalidSignature(String),
    /// The approver key is the operator key.
    SelfApproval(String),
    /// `trust_level` differs from the level the signatures give.
    TrustLevelMismatch(String),
    /// A signer is not among the keys the caller pinned.
    UntrustedSigner(String),
    /// `agent_identity` or `approver_identity` names another key than the one that signed.
    IdentityMismatch(String),
    /// A redaction marker does not match `fields`, markers are out of JCS order, an
    /// `_sd` object in `fields` is bound to no marker, or `merkle_root` is wrong.
    MalformedRedaction(String),
}

impl Verdict {
    /// True only for `Valid`.
    pub fn is_valid(&self) -> bool {
        matches!(self, Verdict::Valid(_))
    }

    /// The PascalCase kind, e.g. `HashMismatch`.
    pub fn kind(&self) -> &'static str {
        match self {
            Verdict::Valid(_) => "Valid",
            Verdict::WrongAlgorithm(_) => "WrongAlgorithm",
            Verdict::Unsupported(_) => "Unsupported",
            Verdict::Malformed(_) => "Malformed",
            Verdict::HashMismatch(_) => "HashMismatch",
            Verdict::InvalidSignature(_) => "InvalidSignature",
            Verdict::SelfApproval(_) => "SelfApproval",
            Verdict::TrustLevelMismatch(_) => "TrustLevelMismatch",
            Verdict::UntrustedSigner(_) => "UntrustedSigner",
            Verdict::IdentityMismatch(_) => "IdentityMismatch",
            Verdict::MalformedRedaction(_) => "MalformedRedaction",
        }
    }

    /// The one-line detail (empty for `Valid`).
    pub fn detail(&self) -> &str {
        match self {
            Verdict::Valid(_) => "",
            Verdict::WrongAlgorithm(d)
            | Verdict::Unsupported(d)
            | Verdict::Malformed(d)
            | Verdict::HashMismatch(d)
            | Verdict::InvalidSignature(d)
            | Verdict::SelfApproval(d)
            | Verdict::TrustLevelMismatch(d)
            | Verdict::UntrustedSigner(d)
            | Verdict::IdentityMismatch(d)
            | Verdict::MalformedRedaction(d) => d,
        }
    }

    /// The verdict [`Verdict::kind`] names `kind`, with `detail` (ignored for `Valid`, which
    /// takes `signers`): how a verdict sent as its parts (the browser verifier's workers
    /// hand lines to the log walk as JSON) becomes a verdict again. `None` for a kind that
    /// is not a verdict's, or `Valid` without signers.
    pub fn from_kind(kind: &str, detail: String, signers: Option<Signers>) -> Option<Verdict> {
        Some(match kind {
            "Valid" => Verdict::Valid(Box::new(signers?)),
            "WrongAlgorithm" => Verdict::WrongAlgorithm(detail),
            "Unsupported" => Verdict::Unsupported(detail),
            "Malformed" => Verdict::Malformed(detail),
            "HashMismatch" => Verdict::HashMismatch(detail),
            "InvalidSignature" => Verdict::InvalidSignature(detail),
            "SelfApproval" => Verdict::SelfApproval(detail),
            "TrustLevelMismatch" => Verdict::TrustLevelMismatch(detail),
            "UntrustedSigner" => Verdict::UntrustedSigner(detail),
            "IdentityMismatch" => Verdict::IdentityMismatch(detail),
            "MalformedRedaction" => Verdict::MalformedRedaction(detail),
            _ => return None,
        })
    }

    /// The signers of a valid receipt.
    pub fn signers(&self) -> Option<&Signers> {
        match self {
            Verdict::Valid(signers) => Some(signers),
            _ => None,
        }
    }
}

/// `Valid (L0)`, or `Kind: detail`.
impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Valid(signers) => write!(f, "Valid ({})", signers.trust_level),
            other => write!(f, "{}: {}", other.kind(), other.detail()),
        }
    }
}

impl fmt::Display for Signers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "operator {}", public_key_to_did_key(&self.operator))?;
        if let Some((key, decision)) = &self.approver {
            write!(f, ", approver {} ({decision})", public_key_to_did_key(key))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;

    #[test]
    fn every_verdict_is_rebuilt_from_its_kind() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
        let signers = Signers {
            trust_level: TrustLevel::L0,
            operator: key,
            approver: None,
        };
        let d = || "why".to_owned();
        let all = [
            Verdict::Valid(Box::new(signers.clone())),
            Verdict::WrongAlgorithm(d()),
            Verdict::Unsupported(d()),
            Verdict::Malformed(d()),
            Verdict::HashMismatch(d()),
            Verdict::InvalidSignature(d()),
            Verdict::SelfApproval(d()),
            Verdict::TrustLevelMismatch(d()),
            Verdict::UntrustedSigner(d()),
            Verdict::IdentityMismatch(d()),
            Verdict::MalformedRedaction(d()),
        ];
        for verdict in all {
            let rebuilt = Verdict::from_kind(
                verdict.kind(),
                verdict.detail().to_owned(),
                verdict.signers().cloned(),
            );
            assert_eq!(rebuilt.as_ref(), Some(&verdict));
        }
        assert_eq!(Verdict::from_kind("Valid", String::new(), None), None);
        assert_eq!(Verdict::from_kind("LinkBroken", d(), None), None);
    }
}
