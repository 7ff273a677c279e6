//! Properties of the tree and its proofs over random sizes, checked against a plain model of
//! RFC 9162 written in the test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

use heso_tlog::{
    CompactRange, Hash, LeafHashes, Subtree, empty_root, from_fn, leaf_hash, node_hash,
    prove_consistency, prove_inclusion, tree_root, verify_consistency, verify_inclusion,
};
use proptest::prelude::*;

/// Distinct leaves: leaf i hashes the bytes of (salt, i).
fn leaves(n: u64, salt: u64) -> Vec<Hash> {
    (0..n)
        .map(|i| {
            let mut action = [0u8; 32];
            action[..8].copy_from_slice(&salt.to_le_bytes());
            action[8..16].copy_from_slice(&i.to_le_bytes());
            leaf_hash(&action)
        })
        .collect()
}

/// The model: RFC 9162's MTH, recursively, as the RFC writes it.
fn model_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            node_hash(&model_root(&leaves[..k]), &model_root(&leaves[k..]))
        }
    }
}

fn flip(hash: &Hash, bit: usize) -> Hash {
    let mut bytes = *hash.as_bytes();
    bytes[(bit / 8) % 32] ^= 1 << (bit % 8);
    Hash::from_bytes(bytes)
}

/// A size up to 700 and a position in it.
fn size_and_index() -> impl Strategy<Value = (u64, u64)> {
    (1u64..700).prop_flat_map(|n| (Just(n), 0..n))
}

/// Sizes m <= n, n up to 700.
fn sizes() -> impl Strategy<Value = (u64, u64)> {
    (0u64..700).prop_flat_map(|n| (0..=n, Just(n)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn compact_range_root_is_the_model_root(n in 0u64..600, salt: u64) {
        let leaves = leaves(n, salt);
        let mut range = CompactRange::new();
        for (i, leaf) in leaves.iter().enumerate() {
            // Every prefix of small trees, a sample of the larger ones (the model is O(n)).
            if i < 70 || i % 61 == 0 {
                prop_assert_eq!(range.root(), model_root(&leaves[..i]));
            }
            range.append(*leaf).unwrap();
        }
        prop_assert_eq!(range.root(), model_root(&leaves));
        prop_assert_eq!(range.hashes().len(), n.count_ones() as usize);
        prop_assert_eq!(tree_root(&leaves[..], n).unwrap(), model_root(&leaves));
        prop_assert_eq!(&CompactRange::from_source(&leaves[..], n).unwrap(), &range);
        // It survives a round trip through JSON, as the chain will store it.
        let json = serde_json::to_string(&range).unwrap();
        prop_assert_eq!(serde_json::from_str::<CompactRange>(&json).unwrap(), range);
    }

    #[test]
    fn every_inclusion_proof_verifies_and_any_flipped_bit_fails(
        (n, index) in size_and_index(),
        salt: u64,
        bit in 0usize..256,
        which: prop::sample::Index,
    ) {
        let leaves = leaves(n, salt);
        let root = model_root(&leaves);
        let leaf = leaves[index as usize];
        let proof = prove_inclusion(&leaves[..], index, n).unwrap();
        prop_assert_eq!(proof.leaf_index, index);
        prop_assert_eq!(proof.tree_size, n);
        proof.verify(&leaf, &root).unwrap();

        prop_assert!(verify_inclusion(index, n, &proof.hashes, &flip(&leaf, bit), &root).is_err());
        prop_assert!(verify_inclusion(index, n, &proof.hashes, &leaf, &flip(&root, bit)).is_err());
        if !proof.hashes.is_empty() {
            let mut bad = proof.hashes.clone();
            let at = which.index(bad.len());
            bad[at] = flip(&bad[at], bit);
            prop_assert!(verify_inclusion(index, n, &bad, &leaf, &root).is_err());
        }
        // Another leaf of the same tree is not at this index.
        if n > 1 {
            let other = leaves[((index + 1) % n) as usize];
            prop_assert!(verify_inclusion(index, n, &proof.hashes, &other, &root).is_err());
        }
    }

    #[test]
    fn every_consistency_proof_verifies_and_any_flipped_bit_fails(
        (old, new) in sizes(),
        salt: u64,
        bit in 0usize..256,
        which: prop::sample::Index,
    ) {
        let leaves = leaves(new, salt);
        let old_root = model_root(&leaves[..old as usize]);
        let new_root = model_root(&leaves);
        let proof = prove_consistency(&leaves[..], old, new).unwrap();
        proof.verify(&old_root, &new_root).unwrap();

        prop_assert!(verify_consistency(old, new, &proof.hashes, &flip(&old_root, bit), &new_root).is_err());
        // Any tree extends the empty one: with old = 0 the new root is not constrained.
        if old > 0 {
            prop_assert!(verify_consistency(old, new, &proof.hashes, &old_root, &flip(&new_root, bit)).is_err());
        }
        if !proof.hashes.is_empty() {
            let mut bad = proof.hashes.clone();
            let at = which.index(bad.len());
            bad[at] = flip(&bad[at], bit);
            prop_assert!(verify_consistency(old, new, &bad, &old_root, &new_root).is_err());
        }
    }

    #[test]
    fn a_fork_is_not_consistent(
        (old, new) in sizes().prop_filter("a fork needs a shared leaf to change", |(o, _)| *o > 0),
        salt: u64,
        changed: prop::sample::Index,
    ) {
        // Two logs share nothing after one of the old tree's leaves is rewritten.
        let leaves = leaves(new, salt);
        let mut forked = leaves.clone();
        let at = changed.index(old as usize);
        forked[at] = flip(&forked[at], 0);
        let old_root = model_root(&leaves[..old as usize]);
        let proof = prove_consistency(&forked[..], old, new).unwrap();
        prop_assert!(proof.verify(&old_root, &model_root(&forked)).is_err());
    }

    #[test]
    fn append_with_reports_the_subtrees_it_completes(n in 1u64..300, salt: u64) {
        let leaves = leaves(n, salt);
        let mut range = CompactRange::new();
        let mut reported: Vec<(Subtree, Hash)> = Vec::new();
        for leaf in &leaves {
            range.append_with(*leaf, |subtree, hash| reported.push((subtree, *hash))).unwrap();
        }
        // Every perfect subtree inside the tree is reported once, with its root.
        let perfect: u64 = (0..64).map(|level| n >> level).sum();
        prop_assert_eq!(reported.len() as u64, perfect);
        for (subtree, hash) in reported {
            let first = subtree.first_leaf() as usize;
            let count = subtree.leaf_count() as usize;
            prop_assert_eq!(hash, model_root(&leaves[first..first + count]));
            prop_assert_eq!(leaves[..].subtree_root(subtree).unwrap(), hash);
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("no leaf {0}")]
struct Missing(u64);

#[test]
fn proofs_read_through_a_closure_and_report_its_errors() {
    let all = leaves(20, 7);
    let short = from_fn(|i: u64| {
        all.get(i as usize)
            .copied()
            .filter(|_| i < 12)
            .ok_or(Missing(i))
    });
    assert!(prove_inclusion(&short, 3, 12).is_ok());
    let error = prove_inclusion(&short, 3, 20).unwrap_err();
    assert!(
        matches!(error, heso_tlog::ProveInclusionError::Source(Missing(_))),
        "{error:?}"
    );
    let error = prove_consistency(&short, 5, 20).unwrap_err();
    assert!(
        matches!(error, heso_tlog::ProveConsistencyError::Source(Missing(_))),
        "{error:?}"
    );
    assert!(matches!(
        prove_inclusion(&all[..], 20, 20),
        Err(heso_tlog::ProveInclusionError::IndexOutOfRange {
            index: 20,
            size: 20
        })
    ));
    assert!(matches!(
        prove_consistency(&all[..], 21, 20),
        Err(heso_tlog::ProveConsistencyError::OldLarger { old: 21, new: 20 })
    ));
}

#[test]
fn a_stored_compact_range_of_the_wrong_shape_is_refused() {
    let hash = leaf_hash(&[1; 32]);
    assert!(CompactRange::from_parts(3, vec![hash, hash]).is_ok());
    assert!(CompactRange::from_parts(3, vec![hash]).is_err());
    let bad = format!(r#"{{"size":4,"hashes":["{hash}","{hash}"]}}"#);
    let error = serde_json::from_str::<CompactRange>(&bad).unwrap_err();
    assert!(error.to_string().contains("one per bit set"), "{error}");
    let unknown = format!(r#"{{"size":1,"hashes":["{hash}"],"extra":1}}"#);
    assert!(serde_json::from_str::<CompactRange>(&unknown).is_err());
}

#[test]
fn a_full_tree_refuses_another_leaf() {
    // 2^64 - 1 leaves: all 64 subtree roots present.
    let hash = leaf_hash(&[2; 32]);
    let mut range = CompactRange::from_parts(u64::MAX, vec![hash; 64]).unwrap();
    assert!(matches!(
        range.append(hash),
        Err(heso_tlog::CompactRangeError::Full { size: u64::MAX })
    ));
    assert_eq!(range.size(), u64::MAX);
}

#[test]
fn proofs_at_sizes_near_u64_max_do_not_overflow() {
    // Verification never reads leaves: huge claimed sizes must be refused or checked
    // without overflow or panic.
    let leaf = leaf_hash(&[3; 32]);
    let root = leaf_hash(&[4; 32]);
    for (index, size) in [(0, u64::MAX), (u64::MAX - 1, u64::MAX), (1 << 63, u64::MAX)] {
        let proof = vec![root; 64];
        assert!(verify_inclusion(index, size, &proof, &leaf, &root).is_err());
    }
    for (old, new) in [(1, u64::MAX), (u64::MAX - 1, u64::MAX), (1 << 63, u64::MAX)] {
        let proof = vec![root; 70];
        assert!(verify_consistency(old, new, &proof, &leaf, &root).is_err());
    }
}
