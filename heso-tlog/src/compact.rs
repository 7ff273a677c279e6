//! The right edge of the tree (its compact range): enough to append and to compute the root
//! without reading any earlier leaf.

use serde::{Deserialize, Serialize};

use crate::hash::{Hash, node_hash};
use crate::source::{LeafHashes, Subtree, fold_right};

/// The tree's right edge: the roots of the perfect subtrees that make up a tree of `size`
/// leaves, left to right (largest first), one per bit set in `size`.
///
/// `append` is O(1) amortised and `root` is O(log n), whatever the size, so a log can keep
/// this next to its tail state and checkpoint a million receipts as cheaply as ten.
/// It serialises as `{"size": n, "hashes": ["<hex>", ...]}` and refuses, when read back,
/// a list whose length does not match the size.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "CompactRangeParts", into = "CompactRangeParts")]
pub struct CompactRange {
    size: u64,
    hashes: Vec<Hash>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CompactRangeParts {
    size: u64,
    hashes: Vec<Hash>,
}

impl From<CompactRange> for CompactRangeParts {
    fn from(range: CompactRange) -> Self {
        Self {
            size: range.size,
            hashes: range.hashes,
        }
    }
}

impl TryFrom<CompactRangeParts> for CompactRange {
    type Error = CompactRangeError;

    fn try_from(parts: CompactRangeParts) -> Result<Self, CompactRangeError> {
        Self::from_parts(parts.size, parts.hashes)
    }
}

/// Why a compact range cannot be built or grown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompactRangeError {
    /// The number of hashes does not match the size (one per bit set in it).
    #[error(
        "a compact range of size {size} holds {expected} subtree hashes (one per bit set in the size), this one holds {found}"
    )]
    HashCount {
        /// The tree size.
        size: u64,
        /// Hashes a range of that size holds.
        expected: u32,
        /// Hashes given.
        found: usize,
    },
    /// The tree already holds `u64::MAX` leaves.
    #[error("the tree is full: it already holds {size} leaves, the most a u64 counts")]
    Full {
        /// The tree size.
        size: u64,
    },
}

impl CompactRange {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// A range from its stored parts: the tree size and the perfect-subtree roots, left to
    /// right.
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Result<Self, CompactRangeError> {
        let expected = size.count_ones();
        if hashes.len() != expected as usize {
            return Err(CompactRangeError::HashCount {
                size,
                expected,
                found: hashes.len(),
            });
        }
        Ok(Self { size, hashes })
    }

    /// The range of the first `size` leaves of `source`, from O(log n) subtree roots (each
    /// computed by [`LeafHashes::subtree_root`]). Rebuilds a tail state from the leaf sidecar.
    pub fn from_source<S: LeafHashes + ?Sized>(source: &S, size: u64) -> Result<Self, S::Error> {
        let mut hashes = Vec::with_capacity(size.count_ones() as usize);
        let mut first = 0u64;
        for level in (0..64u32).rev() {
            if size & (1u64 << level) == 0 {
                continue;
            }
            // `first` is a sum of higher bits of `size`: aligned to 2^level and in range.
            if let Some(subtree) = Subtree::new(level, first) {
                hashes.push(source.subtree_root(subtree)?);
            }
            first += 1u64 << level;
        }
        Ok(Self { size, hashes })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The perfect-subtree roots, left to right (largest first).
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Appends one leaf hash.
    pub fn append(&mut self, leaf: Hash) -> Result<(), CompactRangeError> {
        self.append_with(leaf, |_, _| {})
    }

    /// Appends one leaf hash and reports each perfect subtree this completes, smallest first
    /// (the leaf itself, then every subtree it closes), for a caller that stores interior
    /// nodes to make proofs cheaper.
    pub fn append_with(
        &mut self,
        leaf: Hash,
        mut completed: impl FnMut(Subtree, &Hash),
    ) -> Result<(), CompactRangeError> {
        let new_size = self
            .size
            .checked_add(1)
            .ok_or(CompactRangeError::Full { size: self.size })?;
        let mut hash = leaf;
        let mut level = 0u32;
        let mut first = self.size;
        if let Some(subtree) = Subtree::new(level, first) {
            completed(subtree, &hash);
        }
        // Each low set bit of the old size is a subtree of that level to merge with.
        while self.size & (1u64 << level) != 0 {
            let Some(left) = self.hashes.pop() else {
                break;
            };
            hash = node_hash(&left, &hash);
            first -= 1u64 << level;
            level += 1;
            if let Some(subtree) = Subtree::new(level, first) {
                completed(subtree, &hash);
            }
        }
        self.hashes.push(hash);
        self.size = new_size;
        Ok(())
    }

    /// The root hash (RFC 9162 `MTH`) of the tree; for the empty tree, SHA-256 of nothing.
    pub fn root(&self) -> Hash {
        fold_right(self.hashes.iter().copied())
    }
}
