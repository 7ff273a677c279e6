//! Inclusion bundles (a receipt, the signed checkpoint it is in, and the inclusion proof, as
//! one JSON document), and the check that two checkpoints are consistent.

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::checkpoint::{Checkpoint, CheckpointParseError, SignedCheckpoint};
use crate::hash::{Hash, HashDecodeError, leaf_hash_from_hex};
use crate::note::SignatureVerifyError;
use crate::origin::{operator_multibase, parse_origin};
use crate::proof::{ConsistencyError, ConsistencyProof, InclusionError, InclusionProof};

/// The largest inclusion bundle [`InclusionBundle::parse`] reads: 4 MiB (a receipt is a
/// few KiB, a checkpoint at most 1 MiB, a proof 64 hashes).
pub const MAX_BUNDLE_BYTES: usize = 4 << 20;

/// The JSON form: `{"receipt": {...}, "checkpoint": "<note>", "leaf_index": i,
/// "tree_size": n, "hashes": ["<hex>", ...]}`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BundleWire {
    receipt: Box<RawValue>,
    checkpoint: String,
    leaf_index: u64,
    tree_size: u64,
    hashes: Vec<Hash>,
}

/// A receipt with the proof that it is in a signed checkpoint of its log: what `heso
/// prove` writes and `heso verify` (and the browser verifier) check with nothing else.
///
/// Parsing verifies nothing. [`verify`](Self::verify) checks the checkpoint and the proof;
/// the receipt itself is checked by `heso-receipt`, whose verdict gives the operator key and
/// the action hash to call it with.
#[derive(Debug, Clone)]
pub struct InclusionBundle {
    receipt: Box<RawValue>,
    checkpoint: SignedCheckpoint,
    proof: InclusionProof,
}

/// Why an inclusion bundle did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleParseError {
    /// Larger than [`MAX_BUNDLE_BYTES`].
    #[error("the bundle is {len} bytes, more than the {max} a bundle may have")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not the bundle's JSON shape (a missing or unknown key, a hash that is not 64
    /// lowercase hex digits, ...): serde_json's message, with line and column.
    #[error("not an inclusion bundle: {0}")]
    Json(String),
    /// `receipt` is not a JSON object.
    #[error("the bundle's receipt is not a JSON object")]
    ReceiptNotObject,
    /// `checkpoint` is not a signed checkpoint.
    #[error("the bundle's checkpoint: {0}")]
    Checkpoint(#[source] CheckpointParseError),
}

/// The receipt a bundle is checked for, as its verifier read it.
#[derive(Debug, Clone, Copy)]
pub struct BundleLeaf<'a> {
    /// The receipt's `action_hash` (64 lowercase hex digits).
    pub action_hash: &'a str,
    /// Its `session_id`: the log id the origin must name.
    pub session_id: Option<&'a str>,
    /// Its `seq`: the leaf index it must be at.
    pub seq: Option<u64>,
}

/// An inclusion bundle did not verify. A verdict: every case is named, none added silently.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// The checkpoint's origin is not a heso origin of this operator and this receipt's
    /// session.
    #[error("the checkpoint's origin {origin} {detail}")]
    OriginMismatch {
        /// The origin.
        origin: String,
        /// How it differs.
        detail: String,
    },
    /// The checkpoint is not signed by the operator key.
    #[error("the checkpoint: {0}")]
    InvalidSignature(#[source] SignatureVerifyError),
    /// The proof is for another tree size than the checkpoint's.
    #[error(
        "the proof is for a tree of {tree_size} receipts, the checkpoint for {checkpoint_size}"
    )]
    SizeMismatch {
        /// The bundle's `tree_size`.
        tree_size: u64,
        /// The checkpoint's size.
        checkpoint_size: u64,
    },
    /// The receipt's seq is not the proof's leaf index.
    #[error("the receipt is seq {seq}, the proof is for leaf {leaf_index}")]
    LeafIndexMismatch {
        /// The bundle's `leaf_index`.
        leaf_index: u64,
        /// The receipt's seq.
        seq: u64,
    },
    /// The receipt's action_hash is not 64 lowercase hex digits.
    #[error("the receipt's action_hash: {0}")]
    ActionHash(#[source] HashDecodeError),
    /// The proof does not lead from the receipt to the checkpoint's root.
    #[error("the receipt is not shown in the checkpoint: {0}")]
    NotIncluded(#[source] InclusionError),
}

impl BundleError {
    /// The verdict's kind as `heso verify BUNDLE` and the browser verifier name it
    /// (`HashMismatch` for an action_hash that does not decode).
    pub fn kind(&self) -> &'static str {
        match self {
            BundleError::OriginMismatch { .. } => "OriginMismatch",
            BundleError::InvalidSignature(_) => "InvalidSignature",
            BundleError::SizeMismatch { .. } => "SizeMismatch",
            BundleError::LeafIndexMismatch { .. } => "LeafIndexMismatch",
            BundleError::ActionHash(_) => "HashMismatch",
            BundleError::NotIncluded(_) => "NotIncluded",
        }
    }
}

impl InclusionBundle {
    /// A bundle of `receipt` (its JSON, an object), the checkpoint and the proof.
    pub fn new(
        receipt: &str,
        checkpoint: SignedCheckpoint,
        proof: InclusionProof,
    ) -> Result<Self, BundleParseError> {
        let receipt = RawValue::from_string(receipt.trim().to_owned())
            .map_err(|e| BundleParseError::Json(e.to_string()))?;
        if !receipt.get().starts_with('{') {
            return Err(BundleParseError::ReceiptNotObject);
        }
        Ok(Self {
            receipt,
            checkpoint,
            proof,
        })
    }

    /// Parses a bundle strictly: exactly the five keys, hashes as lowercase hex, the
    /// checkpoint as a signed note. Verifies nothing.
    pub fn parse(input: &[u8]) -> Result<Self, BundleParseError> {
        if input.len() > MAX_BUNDLE_BYTES {
            return Err(BundleParseError::TooLarge {
                len: input.len(),
                max: MAX_BUNDLE_BYTES,
            });
        }
        let wire: BundleWire =
            serde_json::from_slice(input).map_err(|e| BundleParseError::Json(e.to_string()))?;
        if !wire.receipt.get().starts_with('{') {
            return Err(BundleParseError::ReceiptNotObject);
        }
        let checkpoint = SignedCheckpoint::parse(wire.checkpoint.as_bytes())
            .map_err(BundleParseError::Checkpoint)?;
        Ok(Self {
            receipt: wire.receipt,
            checkpoint,
            proof: InclusionProof {
                leaf_index: wire.leaf_index,
                tree_size: wire.tree_size,
                hashes: wire.hashes,
            },
        })
    }

    /// The receipt's JSON, exactly as in the bundle: give it to the receipt verifier.
    pub fn receipt_json(&self) -> &str {
        self.receipt.get()
    }

    /// The signed checkpoint (not verified).
    pub fn checkpoint(&self) -> &SignedCheckpoint {
        &self.checkpoint
    }

    /// The inclusion proof (not verified).
    pub fn proof(&self) -> &InclusionProof {
        &self.proof
    }

    /// True when `bytes` is a JSON object with `receipt` and `checkpoint` keys: the shape
    /// `heso verify` and the browser verifier read as a bundle (and then [`Self::parse`],
    /// whose errors name what is wrong with it).
    pub fn looks_like(bytes: &[u8]) -> bool {
        serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(bytes)
            .is_ok_and(|map| map.contains_key("receipt") && map.contains_key("checkpoint"))
    }

    /// Checks the bundle for `leaf`, the receipt as its verifier read it, and `operator`,
    /// the key that signed the receipt (pinned, or named as the signer): the checkpoint's
    /// origin names that operator and the receipt's session, the checkpoint is signed by
    /// that key, the proof is for the checkpoint's size and for the receipt's seq, and it
    /// leads from the receipt's leaf hash to the checkpoint's root. Returns the checkpoint.
    pub fn verify(
        &self,
        operator: &VerifyingKey,
        leaf: BundleLeaf<'_>,
    ) -> Result<&Checkpoint, BundleError> {
        let claimed = self.checkpoint.unverified();
        let origin = claimed.origin();
        let mismatch = |detail: String| BundleError::OriginMismatch {
            origin: origin.to_owned(),
            detail,
        };
        let parts =
            parse_origin(origin).map_err(|e| mismatch(format!("is not a heso origin: {e}")))?;
        let expected = operator_multibase(operator);
        if parts.operator_multibase != expected {
            return Err(mismatch(format!(
                "names operator {}, but the receipt is signed by {expected}",
                parts.operator_multibase
            )));
        }
        if let Some(session) = leaf.session_id
            && parts.log_id != session
        {
            return Err(mismatch(format!(
                "names log {}, but the receipt is of session {session}",
                parts.log_id
            )));
        }
        let checkpoint = self
            .checkpoint
            .verify(operator)
            .map_err(BundleError::InvalidSignature)?;
        if self.proof.tree_size != checkpoint.size() {
            return Err(BundleError::SizeMismatch {
                tree_size: self.proof.tree_size,
                checkpoint_size: checkpoint.size(),
            });
        }
        if let Some(seq) = leaf.seq
            && seq != self.proof.leaf_index
        {
            return Err(BundleError::LeafIndexMismatch {
                leaf_index: self.proof.leaf_index,
                seq,
            });
        }
        let leaf_hash = leaf_hash_from_hex(leaf.action_hash).map_err(BundleError::ActionHash)?;
        self.proof
            .verify(&leaf_hash, checkpoint.root())
            .map_err(BundleError::NotIncluded)?;
        Ok(checkpoint)
    }

    /// The bundle as one JSON document (pretty-printed; the receipt as it came).
    pub fn to_json(&self) -> String {
        let wire = BundleWire {
            receipt: self.receipt.clone(),
            checkpoint: self.checkpoint.to_string(),
            leaf_index: self.proof.leaf_index,
            tree_size: self.proof.tree_size,
            hashes: self.proof.hashes.clone(),
        };
        // Serialising strings, numbers, hex hashes and an already valid raw value cannot
        // fail.
        serde_json::to_string_pretty(&wire).unwrap_or_default()
    }
}

/// Two checkpoints are not shown to be of one log, the older a prefix of the newer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointConsistencyError {
    /// They name different logs.
    #[error("the checkpoints are of different logs: {old} and {new}")]
    OriginMismatch {
        /// The older checkpoint's origin.
        old: String,
        /// The newer one's.
        new: String,
    },
    /// The proof is for other sizes than the checkpoints'.
    #[error(
        "the proof is from {proof_old} to {proof_new} receipts, the checkpoints are of {old} and {new}"
    )]
    SizeMismatch {
        /// The proof's old size.
        proof_old: u64,
        /// The proof's new size.
        proof_new: u64,
        /// The older checkpoint's size.
        old: u64,
        /// The newer one's.
        new: u64,
    },
    /// The proof does not verify: the newer tree does not extend the older one (a
    /// rollback, a rewrite or a fork).
    #[error("{0}")]
    Proof(#[source] ConsistencyError),
}

/// Checks that `proof` shows the tree of `old` to be a prefix of the tree of `new`, both of
/// one origin. Check both checkpoints' signatures first: this compares what they say.
pub fn verify_checkpoint_consistency(
    old: &Checkpoint,
    new: &Checkpoint,
    proof: &ConsistencyProof,
) -> Result<(), CheckpointConsistencyError> {
    if old.origin() != new.origin() {
        return Err(CheckpointConsistencyError::OriginMismatch {
            old: old.origin().to_owned(),
            new: new.origin().to_owned(),
        });
    }
    if proof.old_size != old.size() || proof.new_size != new.size() {
        return Err(CheckpointConsistencyError::SizeMismatch {
            proof_old: proof.old_size,
            proof_new: proof.new_size,
            old: old.size(),
            new: new.size(),
        });
    }
    proof
        .verify(old.root(), new.root())
        .map_err(CheckpointConsistencyError::Proof)
}
