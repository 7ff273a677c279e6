//! Where proofs read the tree from: the leaf hashes by index, and optionally whole perfect
//! subtrees. The crate does no I/O; the caller backs this with whatever it stores.

use crate::hash::{Hash, node_hash};

/// A perfect subtree of the tree: the `2^level` leaves starting at `index * 2^level`.
///
/// Only this crate makes them, and only for subtrees inside the tree a proof was asked for,
/// so an implementation of [`LeafHashes::subtree_root`] may rely on
/// `first_leaf() + leaf_count()` not overflowing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subtree {
    level: u8,
    index: u64,
}

impl Subtree {
    /// The subtree of `2^level` leaves starting at leaf `first`; `None` unless `first` is a
    /// multiple of `2^level` and the subtree's end fits in a `u64`.
    pub(crate) fn new(level: u32, first: u64) -> Option<Self> {
        let level = u8::try_from(level).ok().filter(|level| *level < 64)?;
        let count = 1u64 << level;
        if !first.is_multiple_of(count) || first.checked_add(count).is_none() {
            return None;
        }
        Some(Self {
            level,
            index: first >> level,
        })
    }

    /// Height above the leaves: 0 is a single leaf.
    pub fn level(&self) -> u8 {
        self.level
    }

    /// Position among the subtrees of the same level, from the left.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Index of its first leaf.
    pub fn first_leaf(&self) -> u64 {
        self.index << self.level
    }

    /// Number of leaves: `2^level`.
    pub fn leaf_count(&self) -> u64 {
        1u64 << self.level
    }
}

/// Read access to the tree's leaf hashes, in log order.
///
/// Proofs and roots call [`leaf_hash`](Self::leaf_hash) only for indexes below the tree size
/// they were asked for. The provided [`subtree_root`](Self::subtree_root) hashes the leaves
/// of a subtree one by one, so a proof over `n` leaves reads up to `n` leaf hashes; an
/// implementation that can do better (one read of a whole range, or stored interior nodes)
/// overrides it and proofs become cheaper without changing.
pub trait LeafHashes {
    /// The error of a failed read (a short sidecar file, an I/O error).
    type Error: std::error::Error + 'static;

    /// The leaf hash at `index` (0-based, in log order).
    fn leaf_hash(&self, index: u64) -> Result<Hash, Self::Error>;

    /// The root of a perfect subtree. By default, computed from its leaves.
    fn subtree_root(&self, subtree: Subtree) -> Result<Hash, Self::Error> {
        let mut stack: Vec<(u8, Hash)> = Vec::with_capacity(usize::from(subtree.level) + 1);
        let first = subtree.first_leaf();
        for offset in 0..subtree.leaf_count() {
            let mut level = 0u8;
            let mut hash = self.leaf_hash(first + offset)?;
            while let Some((top_level, top)) = stack.last() {
                if *top_level != level {
                    break;
                }
                hash = node_hash(top, &hash);
                level += 1;
                stack.pop();
            }
            stack.push((level, hash));
        }
        // A perfect subtree folds to exactly one entry.
        Ok(fold_right(stack.iter().map(|(_, hash)| *hash)))
    }
}

/// Folds perfect-subtree roots (left to right, largest first) into one root, from the right.
/// An empty list folds to the empty tree's root.
pub(crate) fn fold_right(roots: impl DoubleEndedIterator<Item = Hash>) -> Hash {
    let mut roots = roots.rev();
    let Some(mut acc) = roots.next() else {
        return crate::hash::empty_root();
    };
    for left in roots {
        acc = node_hash(&left, &acc);
    }
    acc
}

/// A leaf index at or past the end of an in-memory list of leaf hashes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("leaf {index} was asked for, but only {len} leaf hashes are there")]
pub struct LeafOutOfRange {
    /// The index asked for.
    pub index: u64,
    /// How many leaf hashes there are.
    pub len: u64,
}

impl LeafHashes for [Hash] {
    type Error = LeafOutOfRange;

    fn leaf_hash(&self, index: u64) -> Result<Hash, LeafOutOfRange> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.get(i))
            .copied()
            .ok_or(LeafOutOfRange {
                index,
                len: self.len() as u64,
            })
    }

    fn subtree_root(&self, subtree: Subtree) -> Result<Hash, LeafOutOfRange> {
        let out_of_range = || LeafOutOfRange {
            index: subtree.first_leaf() + subtree.leaf_count() - 1,
            len: self.len() as u64,
        };
        let first = usize::try_from(subtree.first_leaf()).map_err(|_| out_of_range())?;
        let count = usize::try_from(subtree.leaf_count()).map_err(|_| out_of_range())?;
        let leaves = first
            .checked_add(count)
            .and_then(|end| self.get(first..end))
            .ok_or_else(out_of_range)?;
        Ok(root_of_leaves(leaves))
    }
}

/// Leaf hashes read through a closure: `from_fn(|index| sidecar.read(index))`.
#[derive(Debug, Clone, Copy)]
pub struct LeafFn<F>(F);

/// Wraps a closure that reads one leaf hash by index as a [`LeafHashes`].
pub fn from_fn<F, E>(read: F) -> LeafFn<F>
where
    F: Fn(u64) -> Result<Hash, E>,
    E: std::error::Error + 'static,
{
    LeafFn(read)
}

impl<F, E> LeafHashes for LeafFn<F>
where
    F: Fn(u64) -> Result<Hash, E>,
    E: std::error::Error + 'static,
{
    type Error = E;

    fn leaf_hash(&self, index: u64) -> Result<Hash, E> {
        (self.0)(index)
    }
}

/// The Merkle tree hash (RFC 9162 `MTH`) of a list of leaf hashes held in memory.
pub fn root_of_leaves(leaves: &[Hash]) -> Hash {
    let mut range = crate::compact::CompactRange::new();
    for leaf in leaves {
        // A slice in memory is far below 2^64 leaves.
        if range.append(*leaf).is_err() {
            break;
        }
    }
    range.root()
}
