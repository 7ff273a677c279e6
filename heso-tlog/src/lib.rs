//! The heso log as a transparency log: an RFC 6962 / RFC 9162 Merkle tree over the
//! receipts in log order, inclusion and consistency proofs, C2SP checkpoints signed as C2SP
//! signed notes, and C2SP witness cosignatures.
//!
//! A hash chain shows any edit, removal or reordering inside the log, but not the loss of
//! its last receipts. A signed checkpoint (origin, tree size, root hash) kept somewhere the
//! agent cannot write makes truncation, rollback and rewrite detectable: the log must still
//! contain the checkpoint's tree, which a consistency proof shows in O(log n) hashes.
//!
//! Like `heso-receipt`, this crate does no I/O, reads no clock and uses no randomness, and it
//! builds for `wasm32-unknown-unknown`. Proofs read leaf hashes through [`LeafHashes`],
//! which the caller backs with what it stores (a sidecar of 32-byte leaf hashes).
//!
//! - Leaf hash: SHA-256(`0x00` ‖ the 32 raw bytes of the receipt's `action_hash`)
//!   ([`leaf_hash`]); node: SHA-256(`0x01` ‖ left ‖ right) ([`node_hash`]).
//! - [`CompactRange`]: the tree's right edge, O(log n) hashes; `append` is O(1) amortised
//!   and `root` O(log n), so a log keeps it with its tail state.
//! - [`prove_inclusion`], [`prove_consistency`] and [`verify_inclusion`],
//!   [`verify_consistency`]: RFC 9162 sections 2.1.3 and 2.1.4.
//! - [`Checkpoint`], [`SignedCheckpoint`]: C2SP `tlog-checkpoint` in a C2SP `signed-note`,
//!   Ed25519 (type `0x01`), key name = the origin ([`origin`]). Witness cosignatures: C2SP
//!   `tlog-cosignature` v1 (type `0x04`).
//! - [`InclusionBundle`]: a receipt, its signed checkpoint and the inclusion proof as one
//!   JSON document, checked offline; [`verify_checkpoint_consistency`] for two checkpoints
//!   and a consistency proof.
//!
//! ```
//! use heso_tlog::{
//!     Checkpoint, CompactRange, SignedCheckpoint, SigningKey, leaf_hash, origin,
//!     prove_consistency, prove_inclusion,
//! };
//!
//! // Three receipts' action_hash bytes, in log order.
//! let leaves: Vec<_> = [[1u8; 32], [2; 32], [3; 32]].iter().map(leaf_hash).collect();
//! let mut tree = CompactRange::new();
//! for leaf in &leaves {
//!     tree.append(*leaf)?;
//! }
//!
//! // The operator signs a checkpoint of the log.
//! let operator = SigningKey::from_bytes(&[7; 32]);
//! let origin = origin("z6Mkon3Necd6NkkyfoGoHxid2znGc59LU3K7mubaRcFbLfLX", "3f1c9a")?;
//! let checkpoint = Checkpoint::new(&origin, tree.size(), tree.root())?.sign(&operator);
//! let text = checkpoint.to_string();
//! assert!(text.starts_with("heso.dev/log/z6Mkon3Necd6NkkyfoGoHxid2znGc59LU3K7mubaRcFbLfLX/3f1c9a\n3\n"));
//!
//! // Anyone holding the operator's public key checks it, and that receipt 1 is in it.
//! let parsed = SignedCheckpoint::parse(text.as_bytes())?;
//! let head = parsed.verify(&operator.verifying_key())?;
//! let proof = prove_inclusion(&leaves[..], 1, head.size())?;
//! proof.verify(&leaves[1], head.root())?;
//!
//! // The first two receipts' tree is a prefix of the three: nothing was rewritten.
//! let old_root = heso_tlog::tree_root(&leaves[..], 2)?;
//! prove_consistency(&leaves[..], 2, 3)?.verify(&old_root, head.root())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Why not `signed_note`, `tlog_tiles` or `ct-merkle`
//!
//! The maintained Rust crates of the field were each checked against what heso needs; the
//! formats are small, so what they lack is written here, and tested against independently
//! computed vectors (`tests/vectors/make_vectors.py`, Python's `hashlib` and
//! `cryptography`) and, for the tree, against `ct-merkle` itself (`tests/cross_check.rs`).
//!
//! - `signed_note` 0.2 (Cloudflare's port of Go's `note`): every parse failure is one
//!   `MalformedNote` with no line or cause, and heso's errors say what is wrong and where;
//!   it verifies with `verify`, not `verify_strict` as heso does everywhere; it knows
//!   nothing of cosignatures (the type `0x04` timestamp and signed message); and it would
//!   bring `base64` 0.21, `thiserror` 1 and `rand_core` into the verifier's tree.
//! - `tlog_tiles` 0.2: its checkpoint parser likewise returns one unit error; its proofs
//!   read Go's tile storage layout (every interior hash, by stored-hash index), not leaf
//!   hashes by index; it has no serialisable compact range; and it pulls in `url` (with
//!   IDNA and ICU tables) and `serde_json` for tile paths heso does not serve.
//! - `ct-merkle` 0.3: verification per RFC 6962, but proofs are produced only from a tree
//!   holding every leaf in memory (or from its own in-order node layout), it has no compact
//!   range to keep with a log's tail, and it hashes through `digest` 0.11, a second SHA-256
//!   next to the one `ed25519-dalek` already links. It is a dev-dependency: the property
//!   tests check that both implementations give the same roots and proofs.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod bundle;
mod checkpoint;
mod compact;
mod hash;
mod note;
mod origin;
mod proof;
mod source;

pub use bundle::{
    BundleError, BundleLeaf, BundleParseError, CheckpointConsistencyError, InclusionBundle,
    MAX_BUNDLE_BYTES, verify_checkpoint_consistency,
};
pub use checkpoint::{
    Checkpoint, CheckpointParseError, CosignError, ExtensionError, SignedCheckpoint,
};
pub use compact::{CompactRange, CompactRangeError};
pub use hash::{
    HASH_SIZE, Hash, HashDecodeError, empty_root, leaf_hash, leaf_hash_from_hex, node_hash,
};
pub use note::{
    KeyNameError, MAX_COSIGNATURE_TIME, MAX_NOTE_BYTES, MAX_SIGNATURES, Note, NoteParseError,
    NoteSignature, SignatureType, SignatureVerifyError, TooManySignatures, VerifierKey,
    VerifierKeyError, key_id, validate_key_name,
};
pub use origin::{
    HesoOrigin, MAX_ORIGIN_BYTES, ORIGIN_PREFIX, OriginError, operator_multibase, origin,
    parse_origin, validate_origin,
};
pub use proof::{
    ConsistencyError, ConsistencyProof, InclusionError, InclusionProof, ProveConsistencyError,
    ProveInclusionError, prove_consistency, prove_inclusion, tree_root, verify_consistency,
    verify_inclusion,
};
pub use source::{LeafFn, LeafHashes, LeafOutOfRange, Subtree, from_fn, root_of_leaves};

/// The Ed25519 key types checkpoints and cosignatures are signed and checked with,
/// re-exported so a verifier needs no direct dependency on `ed25519-dalek`.
pub use ed25519_dalek::{SigningKey, VerifyingKey};
