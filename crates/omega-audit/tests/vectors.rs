//! Known-answer tests against published RFC 6962 / Certificate Transparency vectors.
//!
//! Sources (facts, not code):
//! - The eight test leaves, the roots for sizes 0..=8, the inclusion proofs for leaves
//!   (0,8), (5,8), (2,3), (1,5) and the consistency proofs (1,8), (6,8), (2,5), (6,7) are the
//!   CT reference test tree published in transparency-dev/merkle `proof/verify_test.go`
//!   (originally from the Certificate Transparency C++/Go implementations; the Go file
//!   numbers leaves from 1, here they are 0-based).

use omega_audit::{
    EMPTY_ROOT, Hash, Log, ProofError, consistency_proof, inclusion_proof, leaf_hash, root,
    verify_consistency, verify_inclusion,
};

fn h(hex: &str) -> Hash {
    let bytes = data_encoding::HEXLOWER.decode(hex.as_bytes()).unwrap();
    bytes.try_into().unwrap()
}

const LEAVES: [&[u8]; 8] = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
];

/// Roots for tree sizes 0..=8.
const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// (leaf index, tree size, audit path).
const INCLUSION: [(u64, u64, &[&str]); 4] = [
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        3,
        &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        1,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

/// (old size, new size, proof).
const CONSISTENCY: [(u64, u64, &[&str]); 4] = [
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

fn leaf_hashes() -> Vec<Hash> {
    LEAVES.iter().map(|l| leaf_hash(l)).collect()
}

fn root_of(size: u64) -> Hash {
    h(ROOTS[size as usize])
}

#[test]
fn empty_root_matches_published() {
    assert_eq!(EMPTY_ROOT, root_of(0));
    assert_eq!(root(&[]), root_of(0));
    assert_eq!(Log::default().root(), root_of(0));
}

#[test]
fn roots_match_published_for_every_size() {
    let leaves = leaf_hashes();
    let mut log = Log::default();
    for (n, data) in LEAVES.iter().enumerate() {
        assert_eq!(log.append(data), n as u64);
        assert_eq!(root(&leaves[..=n]), root_of(n as u64 + 1), "size {}", n + 1);
        assert_eq!(log.root(), root_of(n as u64 + 1));
    }
    for size in 0..=8 {
        assert_eq!(log.root_at(size).unwrap(), root_of(size));
    }
    assert_eq!(
        log.root_at(9),
        Err(ProofError::SizeOutOfRange {
            requested: 9,
            available: 8
        })
    );
}

#[test]
fn inclusion_proofs_match_published() {
    let leaves = leaf_hashes();
    for (index, size, expected) in INCLUSION {
        let expected: Vec<Hash> = expected.iter().map(|x| h(x)).collect();
        let got = inclusion_proof(&leaves[..size as usize], index).unwrap();
        assert_eq!(got, expected, "inclusion ({index}, {size})");
        verify_inclusion(
            &leaves[index as usize],
            index,
            size,
            &expected,
            &root_of(size),
        )
        .unwrap();
    }
}

#[test]
fn consistency_proofs_match_published() {
    let leaves = leaf_hashes();
    for (old, new, expected) in CONSISTENCY {
        let expected: Vec<Hash> = expected.iter().map(|x| h(x)).collect();
        let got = consistency_proof(&leaves[..new as usize], old).unwrap();
        assert_eq!(got, expected, "consistency ({old}, {new})");
        verify_consistency(old, new, &root_of(old), &root_of(new), &expected).unwrap();
    }
}

#[test]
fn every_inclusion_pair_up_to_8_verifies_and_tampering_fails() {
    let mut log = Log::default();
    for data in LEAVES {
        log.append(data);
    }
    let leaves = leaf_hashes();
    for size in 1..=8u64 {
        let tree_root = root_of(size);
        for index in 0..size {
            let leaf = leaves[index as usize];
            let proof = log.prove_inclusion(index, size).unwrap();
            verify_inclusion(&leaf, index, size, &proof, &tree_root).unwrap();

            // Wrong index, wrong size, wrong leaf, wrong root.
            for other in 0..size {
                if other != index {
                    assert!(verify_inclusion(&leaf, other, size, &proof, &tree_root).is_err());
                }
            }
            // Wrong tree height (the probes of transparency-dev/merkle; a size that only
            // differs in leaves the path does not cross is not bound by the path itself,
            // it is bound by the checkpoint that signs size and root together).
            assert!(verify_inclusion(&leaf, index, size * 2, &proof, &tree_root).is_err());
            if size > 1 {
                assert!(verify_inclusion(&leaf, index, size / 2, &proof, &tree_root).is_err());
            }
            assert!(
                verify_inclusion(&leaf_hash(b"wrong"), index, size, &proof, &tree_root).is_err()
            );
            assert!(verify_inclusion(&leaf, index, size, &proof, &EMPTY_ROOT).is_err());
            // Bit flips, truncation, extension.
            for i in 0..proof.len() {
                let mut bad = proof.clone();
                bad[i][0] ^= 8;
                assert!(verify_inclusion(&leaf, index, size, &bad, &tree_root).is_err());
            }
            if !proof.is_empty() {
                let bad = &proof[..proof.len() - 1];
                assert!(matches!(
                    verify_inclusion(&leaf, index, size, bad, &tree_root),
                    Err(ProofError::ProofTooShort { .. })
                ));
            }
            let mut longer = proof.clone();
            longer.push(tree_root);
            assert!(matches!(
                verify_inclusion(&leaf, index, size, &longer, &tree_root),
                Err(ProofError::ProofTooLong { .. })
            ));
            let mut prefixed = vec![tree_root];
            prefixed.extend_from_slice(&proof);
            assert!(verify_inclusion(&leaf, index, size, &prefixed, &tree_root).is_err());
        }
        assert_eq!(
            log.prove_inclusion(size, size),
            Err(ProofError::IndexOutOfRange {
                index: size,
                tree_size: size
            })
        );
        assert!(verify_inclusion(&leaves[0], size, size, &[], &tree_root).is_err());
    }
}

#[test]
fn every_consistency_pair_up_to_8_verifies_and_tampering_fails() {
    let mut log = Log::default();
    for data in LEAVES {
        log.append(data);
    }
    for new in 0..=8u64 {
        for old in 0..=new {
            let proof = log.prove_consistency(old, new).unwrap();
            let (old_root, new_root) = (root_of(old), root_of(new));
            verify_consistency(old, new, &old_root, &new_root, &proof).unwrap();
            if old == 0 || old == new {
                assert!(proof.is_empty());
                assert!(verify_consistency(old, new, &old_root, &new_root, &[EMPTY_ROOT]).is_err());
                if old == new && new > 0 {
                    assert!(
                        verify_consistency(old, new, &old_root, &leaf_hash(b"x"), &[]).is_err()
                    );
                }
                if old == 0 {
                    assert!(verify_consistency(0, new, &leaf_hash(b"x"), &new_root, &[]).is_err());
                }
                continue;
            }
            // Wrong roots, swapped roots, wrong sizes, empty proof.
            assert!(verify_consistency(old, new, &new_root, &old_root, &proof).is_err());
            assert!(verify_consistency(old, new, &leaf_hash(b"x"), &new_root, &proof).is_err());
            assert!(verify_consistency(old, new, &old_root, &leaf_hash(b"x"), &proof).is_err());
            assert!(verify_consistency(old, new, &old_root, &new_root, &[]).is_err());
            assert!(verify_consistency(old - 1, new, &old_root, &new_root, &proof).is_err());
            assert!(verify_consistency(old + 1, new, &old_root, &new_root, &proof).is_err());
            assert!(verify_consistency(old, new * 2, &old_root, &new_root, &proof).is_err());
            assert!(verify_consistency(old, new / 2, &old_root, &new_root, &proof).is_err());
            assert!(matches!(
                verify_consistency(new, old, &new_root, &old_root, &proof),
                Err(ProofError::SizeOrder { .. })
            ));
            for i in 0..proof.len() {
                let mut bad = proof.clone();
                bad[i][0] ^= 16;
                assert!(verify_consistency(old, new, &old_root, &new_root, &bad).is_err());
            }
            let truncated = &proof[..proof.len() - 1];
            assert!(verify_consistency(old, new, &old_root, &new_root, truncated).is_err());
            for extra in [old_root, new_root, proof[0]] {
                let mut longer = proof.clone();
                longer.push(extra);
                assert!(verify_consistency(old, new, &old_root, &new_root, &longer).is_err());
                let mut prefixed = vec![extra];
                prefixed.extend_from_slice(&proof);
                assert!(verify_consistency(old, new, &old_root, &new_root, &prefixed).is_err());
            }
        }
    }
    assert_eq!(
        log.prove_consistency(5, 3),
        Err(ProofError::SizeOrder {
            old_size: 5,
            new_size: 3
        })
    );
    assert_eq!(
        log.prove_consistency(3, 9),
        Err(ProofError::SizeOutOfRange {
            requested: 9,
            available: 8
        })
    );
}
