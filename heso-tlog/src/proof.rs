//! Inclusion and consistency proofs: produced from a [`LeafHashes`], verified with the
//! algorithms of RFC 9162, sections 2.1.3.2 and 2.1.4.2.

use serde::{Deserialize, Serialize};

use crate::hash::{Hash, empty_root, node_hash};
use crate::source::{LeafHashes, Subtree};

/// The largest power of two strictly below `n` (`n >= 2`).
fn split_point(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// `MTH(D[start : start + n])` for a range the RFC recursion reaches (`start` is a multiple
/// of the largest power of two not above `n`, so every left part is a perfect subtree).
fn range_root<S: LeafHashes + ?Sized>(source: &S, start: u64, n: u64) -> Result<Hash, S::Error> {
    if n == 0 {
        return Ok(empty_root());
    }
    if n.is_power_of_two()
        && let Some(subtree) = Subtree::new(n.trailing_zeros(), start)
    {
        return source.subtree_root(subtree);
    }
    if n == 1 {
        return source.leaf_hash(start);
    }
    let k = split_point(n);
    let left = range_root(source, start, k)?;
    let right = range_root(source, start + k, n - k)?;
    Ok(node_hash(&left, &right))
}

/// The root of the first `size` leaves of `source` (RFC 9162 `MTH(D[0:size])`).
///
/// Reads O(log n) subtree roots; see [`LeafHashes::subtree_root`] for what each costs.
pub fn tree_root<S: LeafHashes + ?Sized>(source: &S, size: u64) -> Result<Hash, S::Error> {
    range_root(source, 0, size)
}

/// A proof that a leaf is at `leaf_index` in the tree of `tree_size` leaves: the hashes of
/// RFC 9162 `PATH(leaf_index, D[tree_size])`, from the leaf up.
///
/// Serialises as `{"leaf_index": i, "tree_size": n, "hashes": ["<hex>", ...]}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionProof {
    /// 0-based index of the leaf in log order.
    pub leaf_index: u64,
    /// Size of the tree the proof is for.
    pub tree_size: u64,
    /// The audit path, leaf to root.
    pub hashes: Vec<Hash>,
}

/// A proof that the tree of `old_size` leaves is a prefix of the tree of `new_size` leaves:
/// the hashes of RFC 9162 `PROOF(old_size, D[new_size])`.
///
/// Serialises as `{"old_size": m, "new_size": n, "hashes": ["<hex>", ...]}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProof {
    /// Size of the older tree.
    pub old_size: u64,
    /// Size of the newer tree.
    pub new_size: u64,
    /// The consistency path.
    pub hashes: Vec<Hash>,
}

/// Why an inclusion proof could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ProveInclusionError<E: std::error::Error + 'static> {
    /// The leaf is not in a tree of that size.
    #[error("leaf {index} is not in a tree of {size} leaves")]
    IndexOutOfRange {
        /// The leaf index asked for.
        index: u64,
        /// The tree size asked for.
        size: u64,
    },
    /// Reading a leaf hash failed.
    #[error("cannot read the tree's leaf hashes")]
    Source(#[source] E),
}

/// Why a consistency proof could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ProveConsistencyError<E: std::error::Error + 'static> {
    /// The "old" tree is larger than the "new" one.
    #[error("no consistency proof from {old} leaves to fewer ({new}): give the older tree first")]
    OldLarger {
        /// The old size asked for.
        old: u64,
        /// The new size asked for.
        new: u64,
    },
    /// Reading a leaf hash failed.
    #[error("cannot read the tree's leaf hashes")]
    Source(#[source] E),
}

/// An inclusion proof did not verify. A verdict: every case is named, none added silently.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InclusionError {
    /// The index is not below the tree size (or the tree is empty).
    #[error("leaf {index} is not in a tree of {size} leaves")]
    IndexOutOfRange {
        /// The claimed leaf index.
        index: u64,
        /// The claimed tree size.
        size: u64,
    },
    /// The proof has the wrong number of hashes for that index and size.
    #[error(
        "an inclusion proof for leaf {index} of {size} has {expected} hashes, this one has {found}"
    )]
    ProofLength {
        /// The claimed leaf index.
        index: u64,
        /// The claimed tree size.
        size: u64,
        /// Hashes such a proof has.
        expected: usize,
        /// Hashes given.
        found: usize,
    },
    /// The proof does not lead from the leaf to the root: the leaf is not at that index of
    /// the tree with that root.
    #[error("the proof does not lead from this leaf to this root")]
    RootMismatch,
}

/// A consistency proof did not verify. A verdict: every case is named, none added silently.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsistencyError {
    /// The "old" tree is larger than the "new" one.
    #[error("the old tree ({old} leaves) is larger than the new one ({new})")]
    OldLarger {
        /// The claimed old size.
        old: u64,
        /// The claimed new size.
        new: u64,
    },
    /// The proof has the wrong number of hashes for those sizes.
    #[error(
        "a consistency proof from {old} to {new} leaves has {expected} hashes, this one has {found}"
    )]
    ProofLength {
        /// The claimed old size.
        old: u64,
        /// The claimed new size.
        new: u64,
        /// Hashes such a proof has.
        expected: usize,
        /// Hashes given.
        found: usize,
    },
    /// The proof does not rebuild the old root: the old tree is not what was claimed.
    #[error("the proof does not lead to the old root")]
    OldRootMismatch,
    /// The proof does not rebuild the new root (or, for equal sizes, the roots differ): the
    /// new tree does not extend the old one.
    #[error("the proof does not lead to the new root: the new tree does not extend the old one")]
    NewRootMismatch,
}

/// The number of hashes in `PATH(index, D[size])` (`index < size`).
fn inclusion_len(mut index: u64, mut size: u64) -> usize {
    let mut len = 0;
    while size > 1 {
        let k = split_point(size);
        if index < k {
            size = k;
        } else {
            index -= k;
            size -= k;
        }
        len += 1;
    }
    len
}

/// The number of hashes in `PROOF(old, D[new])` (`old <= new`).
fn consistency_len(mut old: u64, mut new: u64) -> usize {
    if old == 0 {
        return 0;
    }
    let mut len = 0;
    let mut complete = true;
    while old != new {
        let k = split_point(new);
        if old <= k {
            new = k;
        } else {
            old -= k;
            new -= k;
            complete = false;
        }
        len += 1;
    }
    if !complete {
        len += 1;
    }
    len
}

/// Produces the inclusion proof of leaf `index` in the tree of the first `size` leaves of
/// `source` (RFC 9162, section 2.1.3.1).
pub fn prove_inclusion<S: LeafHashes + ?Sized>(
    source: &S,
    index: u64,
    size: u64,
) -> Result<InclusionProof, ProveInclusionError<S::Error>> {
    if index >= size {
        return Err(ProveInclusionError::IndexOutOfRange { index, size });
    }
    let mut hashes = Vec::with_capacity(inclusion_len(index, size));
    let (mut m, mut start, mut n) = (index, 0u64, size);
    // PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n]) or PATH(m - k, D[k:n]) : MTH(D[0:k]);
    // walked from the top, so the siblings come out root first and are reversed at the end.
    while n > 1 {
        let k = split_point(n);
        let sibling = if m < k {
            let sibling = range_root(source, start + k, n - k);
            n = k;
            sibling
        } else {
            let sibling = range_root(source, start, k);
            m -= k;
            start += k;
            n -= k;
            sibling
        };
        hashes.push(sibling.map_err(ProveInclusionError::Source)?);
    }
    hashes.reverse();
    Ok(InclusionProof {
        leaf_index: index,
        tree_size: size,
        hashes,
    })
}

/// Produces the proof that the first `old_size` leaves of `source` are a prefix of its first
/// `new_size` leaves (RFC 9162, section 2.1.4.1). Empty when `old_size` is 0 or equals
/// `new_size`.
pub fn prove_consistency<S: LeafHashes + ?Sized>(
    source: &S,
    old_size: u64,
    new_size: u64,
) -> Result<ConsistencyProof, ProveConsistencyError<S::Error>> {
    if old_size > new_size {
        return Err(ProveConsistencyError::OldLarger {
            old: old_size,
            new: new_size,
        });
    }
    let mut hashes = Vec::with_capacity(consistency_len(old_size, new_size));
    if old_size > 0 {
        let (mut m, mut start, mut n, mut complete) = (old_size, 0u64, new_size, true);
        // SUBPROOF(m, D[n], b), walked from the top; reversed at the end.
        loop {
            if m == n {
                if !complete {
                    hashes
                        .push(range_root(source, start, n).map_err(ProveConsistencyError::Source)?);
                }
                break;
            }
            let k = split_point(n);
            let sibling = if m <= k {
                let sibling = range_root(source, start + k, n - k);
                n = k;
                sibling
            } else {
                let sibling = range_root(source, start, k);
                m -= k;
                start += k;
                n -= k;
                complete = false;
                sibling
            };
            hashes.push(sibling.map_err(ProveConsistencyError::Source)?);
        }
        hashes.reverse();
    }
    Ok(ConsistencyProof {
        old_size,
        new_size,
        hashes,
    })
}

/// Shifts `fn_` and `sn` right together until the low bit of `fn_` is set or `fn_` is 0.
fn shift_while_even(fn_: &mut u64, sn: &mut u64) {
    while *fn_ != 0 && *fn_ & 1 == 0 {
        *fn_ >>= 1;
        *sn >>= 1;
    }
}

/// Checks that `leaf` is at `index` in the tree of `size` leaves whose root is `root`
/// (RFC 9162, section 2.1.3.2).
pub fn verify_inclusion(
    index: u64,
    size: u64,
    proof: &[Hash],
    leaf: &Hash,
    root: &Hash,
) -> Result<(), InclusionError> {
    if index >= size {
        return Err(InclusionError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_len(index, size);
    if proof.len() != expected {
        return Err(InclusionError::ProofLength {
            index,
            size,
            expected,
            found: proof.len(),
        });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err(InclusionError::RootMismatch);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                shift_while_even(&mut fn_, &mut sn);
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn == 0 && r == *root {
        Ok(())
    } else {
        Err(InclusionError::RootMismatch)
    }
}

/// Checks that the tree of `old_size` leaves with root `old_root` is a prefix of the tree of
/// `new_size` leaves with root `new_root` (RFC 9162, section 2.1.4.2; an old size of 0 or
/// equal sizes take an empty proof).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> Result<(), ConsistencyError> {
    if old_size > new_size {
        return Err(ConsistencyError::OldLarger {
            old: old_size,
            new: new_size,
        });
    }
    let expected = consistency_len(old_size, new_size);
    if proof.len() != expected {
        return Err(ConsistencyError::ProofLength {
            old: old_size,
            new: new_size,
            expected,
            found: proof.len(),
        });
    }
    if old_size == 0 {
        // Every tree extends the empty tree, whose root is fixed.
        return if *old_root == empty_root() {
            Ok(())
        } else {
            Err(ConsistencyError::OldRootMismatch)
        };
    }
    if old_size == new_size {
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ConsistencyError::NewRootMismatch)
        };
    }
    // 2. If first is an exact power of 2, prepend first_hash to the path.
    let mut path = proof.iter();
    let seed = if old_size.is_power_of_two() {
        *old_root
    } else {
        match path.next() {
            Some(first) => *first,
            None => return Err(ConsistencyError::OldRootMismatch),
        }
    };
    // 3. fn = first - 1, sn = second - 1. 4. While LSB(fn) is set, shift both right.
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    // 5. fr = sr = the first value.
    let (mut fr, mut sr) = (seed, seed);
    // 6. For each subsequent value c.
    for c in path {
        if sn == 0 {
            return Err(ConsistencyError::NewRootMismatch);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                shift_while_even(&mut fn_, &mut sn);
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    // 7. fr must be the old root, sr the new root, and sn 0.
    if fr != *old_root {
        return Err(ConsistencyError::OldRootMismatch);
    }
    if sn != 0 || sr != *new_root {
        return Err(ConsistencyError::NewRootMismatch);
    }
    Ok(())
}

impl InclusionProof {
    /// Checks that `leaf` is at this proof's index in the tree with root `root`.
    pub fn verify(&self, leaf: &Hash, root: &Hash) -> Result<(), InclusionError> {
        verify_inclusion(self.leaf_index, self.tree_size, &self.hashes, leaf, root)
    }
}

impl ConsistencyProof {
    /// Checks that the tree with root `old_root` is a prefix of the tree with root
    /// `new_root`, at this proof's sizes.
    pub fn verify(&self, old_root: &Hash, new_root: &Hash) -> Result<(), ConsistencyError> {
        verify_consistency(
            self.old_size,
            self.new_size,
            &self.hashes,
            old_root,
            new_root,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_match_produced_proofs() {
        let leaves: Vec<Hash> = (0u8..40).map(|i| crate::leaf_hash(&[i; 32])).collect();
        for n in 1..=40u64 {
            for m in 0..n {
                let proof = prove_inclusion(&leaves[..], m, n).unwrap();
                assert_eq!(proof.hashes.len(), inclusion_len(m, n), "inclusion {m} {n}");
            }
            for m in 0..=n {
                let proof = prove_consistency(&leaves[..], m, n).unwrap();
                assert_eq!(
                    proof.hashes.len(),
                    consistency_len(m, n),
                    "consistency {m} {n}"
                );
            }
        }
    }

    #[test]
    fn split_point_is_the_largest_power_of_two_below() {
        assert_eq!(split_point(2), 1);
        assert_eq!(split_point(3), 2);
        assert_eq!(split_point(4), 2);
        assert_eq!(split_point(5), 4);
        assert_eq!(split_point(u64::MAX), 1 << 63);
    }
}
