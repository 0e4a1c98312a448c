//! Property tests: every proof of random trees up to 300 leaves verifies, tampered ones
//! do not, and the verifiers never panic on arbitrary input.

use omega_audit::{
    Hash, consistency_proof, inclusion_proof, leaf_hash, root, verify_consistency, verify_inclusion,
};
use proptest::prelude::*;

fn tree(seed: u64, n: usize) -> Vec<Hash> {
    (0..n)
        .map(|i| leaf_hash(&[seed.to_le_bytes(), (i as u64).to_le_bytes()].concat()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn inclusion_verifies_in_random_trees(
        seed in any::<u64>(), n in 1usize..=300, pick in any::<prop::sample::Index>(), flip in any::<prop::sample::Index>(),
    ) {
        let leaves = tree(seed, n);
        let index = pick.index(n);
        let tree_root = root(&leaves);
        let proof = inclusion_proof(&leaves, index as u64).unwrap();
        prop_assert!(verify_inclusion(&leaves[index], index as u64, n as u64, &proof, &tree_root).is_ok());
        if !proof.is_empty() {
            let mut bad = proof.clone();
            let at = flip.index(bad.len());
            bad[at][31] ^= 1;
            prop_assert!(verify_inclusion(&leaves[index], index as u64, n as u64, &bad, &tree_root).is_err());
        }
        if n > 1 {
            let other = (index + 1) % n;
            prop_assert!(verify_inclusion(&leaves[index], other as u64, n as u64, &proof, &tree_root).is_err());
            prop_assert!(verify_inclusion(&leaves[other], index as u64, n as u64, &proof, &tree_root).is_err());
        }
    }

    #[test]
    fn consistency_verifies_in_random_trees(
        seed in any::<u64>(), n in 1usize..=300, pick in any::<prop::sample::Index>(), flip in any::<prop::sample::Index>(),
    ) {
        let leaves = tree(seed, n);
        let m = pick.index(n + 1);
        let old_root = root(&leaves[..m]);
        let new_root = root(&leaves);
        let proof = consistency_proof(&leaves, m as u64).unwrap();
        prop_assert!(verify_consistency(m as u64, n as u64, &old_root, &new_root, &proof).is_ok());
        if !proof.is_empty() {
            let mut bad = proof.clone();
            let at = flip.index(bad.len());
            bad[at][0] ^= 0x80;
            prop_assert!(verify_consistency(m as u64, n as u64, &old_root, &new_root, &bad).is_err());
            prop_assert!(verify_consistency(m as u64, n as u64, &new_root, &old_root, &proof).is_err());
        }
        if m > 0 && m < n {
            // A tree that differs in one old leaf is not consistent.
            let mut forked = leaves.clone();
            forked[m - 1][0] ^= 1;
            let forked_root = root(&forked);
            prop_assert!(verify_consistency(m as u64, n as u64, &old_root, &forked_root, &proof).is_err());
        }
    }

    #[test]
    fn verifiers_never_panic(
        leaf in any::<[u8; 32]>(), index in any::<u64>(), size in any::<u64>(),
        proof in prop::collection::vec(any::<[u8; 32]>(), 0..70), a in any::<[u8; 32]>(), b in any::<[u8; 32]>(),
    ) {
        let _ = verify_inclusion(&leaf, index, size, &proof, &a);
        let _ = verify_consistency(index, size, &a, &b, &proof);
        let _ = verify_inclusion(&leaf, index % 300, size % 300, &proof, &a);
        let _ = verify_consistency(index % 300, size % 300, &a, &b, &proof);
    }
}
