//! Does the log contain a checkpoint? The verdicts of `heso log verify --checkpoint`.

use std::fmt;

use heso_tlog::{SignatureVerifyError, SignedCheckpoint, VerifierKey, VerifyingKey};

use crate::tree::LogTree;

/// What a checkpoint says about the log now. A verdict: every case is named, none added
/// silently; only [`Contained`](Self::Contained) is valid. Checked in this order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointVerdict {
    /// The checkpoint is of another log (another operator or another log id).
    OriginMismatch {
        /// This log's origin.
        expected: String,
        /// The checkpoint's.
        found: String,
    },
    /// The checkpoint is not signed by the operator key (or a signature line of that key
    /// does not verify).
    InvalidSignature(SignatureVerifyError),
    /// A witness the caller requires did not cosign it (or its cosignature does not
    /// verify).
    NotCosigned {
        /// The witness (its verifier key).
        witness: String,
        /// Why.
        error: SignatureVerifyError,
    },
    /// The log holds fewer receipts than the checkpoint: receipts were lost or removed
    /// from its end (or the whole log was replaced by a shorter one).
    Truncated {
        /// The checkpoint's size.
        checkpoint_size: u64,
        /// The receipts the log holds now.
        log_size: u64,
    },
    /// The log's first `size` receipts do not give the checkpoint's root: a receipt was
    /// rewritten, removed, inserted or reordered, or this is a fork of the log.
    RootMismatch {
        /// The checkpoint's size.
        size: u64,
        /// What was found instead.
        detail: String,
    },
    /// The log holds the checkpoint's tree: nothing before it was removed or changed.
    Contained {
        /// The checkpoint's size.
        size: u64,
        /// The receipts the log holds now.
        log_size: u64,
        /// The witnesses whose cosignatures verified, with their timestamps.
        cosigned_by: Vec<(String, u64)>,
    },
}

impl CheckpointVerdict {
    /// The verdict's name: `Contained`, `OriginMismatch`, `InvalidSignature`,
    /// `NotCosigned`, `Truncated` or `RootMismatch`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::OriginMismatch { .. } => "OriginMismatch",
            Self::InvalidSignature(_) => "InvalidSignature",
            Self::NotCosigned { .. } => "NotCosigned",
            Self::Truncated { .. } => "Truncated",
            Self::RootMismatch { .. } => "RootMismatch",
            Self::Contained { .. } => "Contained",
        }
    }

    /// True for [`Contained`](Self::Contained).
    pub fn is_valid(&self) -> bool {
        matches!(self, Self::Contained { .. })
    }
}

impl fmt::Display for CheckpointVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OriginMismatch { expected, found } => write!(
                f,
                "OriginMismatch: the checkpoint is of {found}, this log is {expected}"
            ),
            Self::InvalidSignature(e) => write!(f, "InvalidSignature: {e}"),
            Self::NotCosigned { witness, error } => {
                write!(f, "NotCosigned: witness {witness}: {error}")
            }
            Self::Truncated {
                checkpoint_size,
                log_size,
            } => write!(
                f,
                "Truncated: the checkpoint covers {checkpoint_size} receipts, the log holds {log_size}"
            ),
            Self::RootMismatch { size, detail } => {
                write!(f, "RootMismatch: the log's first {size} receipts {detail}")
            }
            Self::Contained {
                size,
                log_size,
                cosigned_by,
            } => {
                write!(
                    f,
                    "Contained: the log's first {size} receipts (of {log_size}) give the checkpoint's root"
                )?;
                for (witness, time) in cosigned_by {
                    write!(f, "; cosigned by {witness} at {time}")?;
                }
                Ok(())
            }
        }
    }
}

/// Checks `checkpoint` against the log whose tree is `tree` (from
/// [`tree_of_log`](crate::tree_of_log), with the checkpoint's size among the sizes asked
/// for), whose origin is `origin` and whose operator key is `operator`, requiring a
/// cosignature by each of `witnesses`.
pub fn check_checkpoint(
    checkpoint: &SignedCheckpoint,
    tree: &LogTree,
    origin: &str,
    operator: &VerifyingKey,
    witnesses: &[VerifierKey],
) -> CheckpointVerdict {
    let claimed = checkpoint.unverified();
    if claimed.origin() != origin {
        return CheckpointVerdict::OriginMismatch {
            expected: origin.to_owned(),
            found: claimed.origin().to_owned(),
        };
    }
    let body = match checkpoint.verify(operator) {
        Ok(body) => body,
        Err(e) => return CheckpointVerdict::InvalidSignature(e),
    };
    let mut cosigned_by = Vec::new();
    for witness in witnesses {
        match checkpoint.verify_cosignature(witness) {
            Ok(time) => cosigned_by.push((witness.to_string(), time)),
            Err(error) => {
                return CheckpointVerdict::NotCosigned {
                    witness: witness.to_string(),
                    error,
                };
            }
        }
    }
    let size = body.size();
    if tree.size() < size {
        return CheckpointVerdict::Truncated {
            checkpoint_size: size,
            log_size: tree.size(),
        };
    }
    match tree.root_at(size) {
        Some(Ok(root)) if root == *body.root() => CheckpointVerdict::Contained {
            size,
            log_size: tree.size(),
            cosigned_by,
        },
        Some(Ok(root)) => CheckpointVerdict::RootMismatch {
            size,
            detail: format!(
                "give root {root}, the checkpoint says {}: a receipt was rewritten, removed, added or reordered, or this log is a fork",
                body.root()
            ),
        },
        Some(Err(bad)) => CheckpointVerdict::RootMismatch {
            size,
            detail: format!("include line {}, which is not a receipt", bad.line),
        },
        None => CheckpointVerdict::RootMismatch {
            size,
            detail: "were not computed (the checkpoint's size was not asked for)".into(),
        },
    }
}
