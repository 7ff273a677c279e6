//! heso-tlog and ct-merkle (a second, independently written RFC 6962 implementation) give
//! the same roots and the same proofs, and each verifies the other's.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ct_merkle::{ConsistencyProof as CtConsistency, InclusionProof as CtInclusion, RootHash};
use heso_tlog::{Hash, leaf_hash, prove_consistency, prove_inclusion, tree_root};
use proptest::prelude::*;
use sha2_v011::Sha256;

fn action_hashes(n: u64, salt: u64) -> Vec<[u8; 32]> {
    (0..n)
        .map(|i| {
            let mut action = [0u8; 32];
            action[..8].copy_from_slice(&salt.to_be_bytes());
            action[8..16].copy_from_slice(&i.to_be_bytes());
            action
        })
        .collect()
}

fn concat(hashes: &[Hash]) -> Vec<u8> {
    hashes.iter().flat_map(|h| *h.as_bytes()).collect()
}

fn ct_root(tree: &MemoryBackedTree<Sha256, [u8; 32]>) -> [u8; 32] {
    tree.root().as_bytes().as_slice().try_into().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn same_roots_and_proofs_as_ct_merkle(n in 1u64..400, salt: u64, pick: prop::sample::Index) {
        let actions = action_hashes(n, salt);
        let leaves: Vec<Hash> = actions.iter().map(leaf_hash).collect();
        let mut ct = MemoryBackedTree::<Sha256, [u8; 32]>::new();
        for action in &actions {
            ct.push(*action);
        }
        let root = tree_root(&leaves[..], n).unwrap();
        prop_assert_eq!(*root.as_bytes(), ct_root(&ct));

        let index = pick.index(n as usize);
        let ours = prove_inclusion(&leaves[..], index as u64, n).unwrap();
        let theirs = ct.prove_inclusion(index);
        prop_assert_eq!(concat(&ours.hashes), theirs.as_bytes().to_vec());
        let ct_root_hash = ct.root();
        let from_ours = CtInclusion::<Sha256>::try_from_bytes(concat(&ours.hashes)).unwrap();
        prop_assert!(ct_root_hash.verify_inclusion(&actions[index], index as u64, &from_ours).is_ok());

        // ct-merkle proves from a non-empty older tree to the whole tree.
        let old = index as u64 + 1;
        if old < n {
            let ours = prove_consistency(&leaves[..], old, n).unwrap();
            let theirs = ct.prove_consistency((n - old) as usize);
            prop_assert_eq!(concat(&ours.hashes), theirs.as_bytes().to_vec());
            let old_root = tree_root(&leaves[..], old).unwrap();
            let ct_old = RootHash::<Sha256>::new((*old_root.as_bytes()).into(), old);
            let from_ours = CtConsistency::<Sha256>::try_from_bytes(concat(&ours.hashes)).unwrap();
            prop_assert!(ct_root_hash.verify_consistency(&ct_old, &from_ours).is_ok());
        }
    }
}
