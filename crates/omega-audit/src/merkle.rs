//! RFC 6962 §2.1 Merkle tree hashing, audit paths and consistency proofs, and the
//! RFC 9162 §2.1.3.2 / §2.1.4.2 verification algorithms.
//!
//! Everything here works on leaf hashes (`&[Hash]`), so the leaves may come from memory,
//! a database or tiles; [`Log`] is only a convenient in-memory holder of them.

use sha2::{Digest, Sha256};
use thiserror::Error;

/// A SHA-256 output: a leaf hash, an interior node hash or a tree head.
pub type Hash = [u8; 32];

/// Domain-separation prefix of a leaf hash (RFC 6962 §2.1).
const LEAF_PREFIX: u8 = 0x00;
/// Domain-separation prefix of an interior node hash (RFC 6962 §2.1).
const NODE_PREFIX: u8 = 0x01;

/// Root of the empty tree: SHA-256 of the empty string (RFC 6962 §2.1).
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// Why a proof could not be produced or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is out of range for tree size {tree_size}")]
    IndexOutOfRange {
        /// The requested leaf index.
        index: u64,
        /// The size of the tree.
        tree_size: u64,
    },
    /// A requested tree size is larger than the tree that is available.
    #[error("tree size {requested} exceeds the {available} leaves available")]
    SizeOutOfRange {
        /// The requested tree size.
        requested: u64,
        /// How many leaves there are.
        available: u64,
    },
    /// The old tree of a consistency check is larger than the new one.
    #[error("old tree size {old_size} is larger than new tree size {new_size}")]
    SizeOrder {
        /// The old tree size.
        old_size: u64,
        /// The new tree size.
        new_size: u64,
    },
    /// The proof has more hashes than the tree shape allows.
    #[error("proof is too long: expected {expected} hashes, got {got}")]
    ProofTooLong {
        /// Hashes the tree shape calls for.
        expected: usize,
        /// Hashes in the proof.
        got: usize,
    },
    /// The proof has fewer hashes than the tree shape needs.
    #[error("proof is too short: expected {expected} hashes, got {got}")]
    ProofTooShort {
        /// Hashes the tree shape calls for.
        expected: usize,
        /// Hashes in the proof.
        got: usize,
    },
    /// The proof recomputes a different root than the one given.
    #[error("recomputed root does not match the expected root")]
    RootMismatch,
    /// The proof recomputes a different old root than the one given.
    #[error("recomputed old root does not match the expected old root")]
    OldRootMismatch,
}

/// `SHA-256(0x00 || data)`: the hash of one log entry (RFC 6962 §2.1).
#[must_use]
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([LEAF_PREFIX]);
    hasher.update(data);
    hasher.finalize().into()
}

/// `SHA-256(0x01 || left || right)`: the hash of an interior node (RFC 6962 §2.1).
#[must_use]
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([NODE_PREFIX]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The largest power of two strictly smaller than `n` (`n >= 2`).
fn split_point(n: usize) -> usize {
    debug_assert!(n >= 2);
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

fn to_u64(n: usize) -> u64 {
    // usize is at most 64 bits on every supported target.
    n as u64
}

fn to_index(value: u64, available: usize) -> Result<usize, ProofError> {
    match usize::try_from(value) {
        Ok(v) if v <= available => Ok(v),
        _ => Err(ProofError::SizeOutOfRange {
            requested: value,
            available: to_u64(available),
        }),
    }
}

/// MTH of a non-empty list of leaf hashes.
fn subtree_root(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => EMPTY_ROOT,
        [only] => *only,
        _ => {
            let k = split_point(leaves.len());
            node_hash(&subtree_root(&leaves[..k]), &subtree_root(&leaves[k..]))
        }
    }
}

/// The Merkle Tree Hash (MTH, RFC 6962 §2.1) of the tree whose leaf hashes are `leaves`;
/// [`EMPTY_ROOT`] for no leaves.
#[must_use]
pub fn root(leaves: &[Hash]) -> Hash {
    subtree_root(leaves)
}

/// The audit path PATH(index, leaves) of RFC 6962 §2.1.1, from the leaf up to the root.
///
/// # Errors
/// [`ProofError::IndexOutOfRange`] if `index >= leaves.len()`.
pub fn inclusion_proof(leaves: &[Hash], index: u64) -> Result<Vec<Hash>, ProofError> {
    let position = match usize::try_from(index) {
        Ok(p) if p < leaves.len() => p,
        _ => {
            return Err(ProofError::IndexOutOfRange {
                index,
                tree_size: to_u64(leaves.len()),
            });
        }
    };
    let mut proof = Vec::new();
    path(leaves, position, &mut proof);
    Ok(proof)
}

fn path(leaves: &[Hash], position: usize, out: &mut Vec<Hash>) {
    if leaves.len() <= 1 {
        return;
    }
    let k = split_point(leaves.len());
    if position < k {
        path(&leaves[..k], position, out);
        out.push(subtree_root(&leaves[k..]));
    } else {
        path(&leaves[k..], position - k, out);
        out.push(subtree_root(&leaves[..k]));
    }
}

/// The consistency proof PROOF(old_size, leaves) of RFC 6962 §2.1.2 between the tree of
/// the first `old_size` leaves and the tree of all `leaves`. Empty when `old_size` is 0
/// or equals `leaves.len()`.
///
/// # Errors
/// [`ProofError::SizeOutOfRange`] if `old_size > leaves.len()`.
pub fn consistency_proof(leaves: &[Hash], old_size: u64) -> Result<Vec<Hash>, ProofError> {
    let m = to_index(old_size, leaves.len())?;
    let mut proof = Vec::new();
    if m > 0 && m < leaves.len() {
        subproof(m, leaves, true, &mut proof);
    }
    Ok(proof)
}

fn subproof(m: usize, leaves: &[Hash], complete_subtree: bool, out: &mut Vec<Hash>) {
    let n = leaves.len();
    if m == n {
        if !complete_subtree {
            out.push(subtree_root(leaves));
        }
        return;
    }
    let k = split_point(n);
    if m <= k {
        subproof(m, &leaves[..k], complete_subtree, out);
        out.push(subtree_root(&leaves[k..]));
    } else {
        subproof(m - k, &leaves[k..], false, out);
        out.push(subtree_root(&leaves[..k]));
    }
}

/// Verifies that `leaf` is the leaf hash at `index` in the tree of size `tree_size` whose
/// root is `expected_root`, following RFC 9162 §2.1.3.2.
///
/// # Errors
/// [`ProofError::IndexOutOfRange`], [`ProofError::ProofTooLong`],
/// [`ProofError::ProofTooShort`] or [`ProofError::RootMismatch`].
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    tree_size: u64,
    proof: &[Hash],
    expected_root: &Hash,
) -> Result<(), ProofError> {
    if index >= tree_size {
        return Err(ProofError::IndexOutOfRange { index, tree_size });
    }
    let expected_len = inclusion_proof_len(index, tree_size);
    let mut f_n = index;
    let mut s_n = tree_size - 1;
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return Err(ProofError::ProofTooLong {
                expected: expected_len,
                got: proof.len(),
            });
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(ProofError::ProofTooShort {
            expected: expected_len,
            got: proof.len(),
        });
    }
    if r != *expected_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Number of hashes in the audit path of `index` in a tree of `tree_size` (`index < tree_size`).
fn inclusion_proof_len(index: u64, tree_size: u64) -> usize {
    let mut f_n = index;
    let mut s_n = tree_size - 1;
    let mut len = 0;
    while s_n != 0 {
        if f_n & 1 == 1 || f_n == s_n {
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        }
        f_n >>= 1;
        s_n >>= 1;
        len += 1;
    }
    len
}

/// Verifies that the tree of `old_size` with root `old_root` is a prefix of the tree of
/// `new_size` with root `new_root`, following RFC 9162 §2.1.4.2.
///
/// Degenerate cases: equal sizes need an empty proof and equal roots; an old size of 0
/// needs an empty proof and `old_root` equal to [`EMPTY_ROOT`].
///
/// # Errors
/// [`ProofError::SizeOrder`], [`ProofError::ProofTooLong`], [`ProofError::ProofTooShort`],
/// [`ProofError::OldRootMismatch`] or [`ProofError::RootMismatch`].
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size > new_size {
        return Err(ProofError::SizeOrder { old_size, new_size });
    }
    if old_size == 0 || old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::ProofTooLong {
                expected: 0,
                got: proof.len(),
            });
        }
        if old_size == 0 {
            return if *old_root == EMPTY_ROOT {
                Ok(())
            } else {
                Err(ProofError::OldRootMismatch)
            };
        }
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }

    let expected_len = consistency_proof_len(old_size, new_size);
    let Some((first, rest)) = proof.split_first() else {
        return Err(ProofError::ProofTooShort {
            expected: expected_len,
            got: 0,
        });
    };
    // RFC 9162 step 2: when old_size is a power of two the old root is itself a node of
    // the new tree and is not sent; start from it instead.
    let (seed, path): (&Hash, &[Hash]) = if old_size.is_power_of_two() {
        (old_root, proof)
    } else {
        (first, rest)
    };

    let mut f_n = old_size - 1;
    let mut s_n = new_size - 1;
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let mut f_r = *seed;
    let mut s_r = *seed;
    for c in path {
        if s_n == 0 {
            return Err(ProofError::ProofTooLong {
                expected: expected_len,
                got: proof.len(),
            });
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            s_r = node_hash(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(ProofError::ProofTooShort {
            expected: expected_len,
            got: proof.len(),
        });
    }
    if f_r != *old_root {
        return Err(ProofError::OldRootMismatch);
    }
    if s_r != *new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Number of hashes in PROOF(old_size, D[new_size]) for `0 < old_size < new_size`.
fn consistency_proof_len(old_size: u64, new_size: u64) -> usize {
    let mut f_n = old_size - 1;
    let mut s_n = new_size - 1;
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let mut len = usize::from(!old_size.is_power_of_two());
    while s_n != 0 {
        if f_n & 1 == 1 || f_n == s_n {
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        }
        f_n >>= 1;
        s_n >>= 1;
        len += 1;
    }
    len
}

/// An in-memory append-only log of leaf hashes, with no IO.
///
/// A store-backed log computes the same things by calling the free functions of this
/// module over the leaf hashes it loads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Log {
    leaves: Vec<Hash>,
}

impl Log {
    /// A log holding these leaf hashes, in order.
    #[must_use]
    pub fn from_leaf_hashes(leaves: Vec<Hash>) -> Self {
        Self { leaves }
    }

    /// Appends an entry, hashing it with [`leaf_hash`]; returns its index.
    pub fn append(&mut self, data: &[u8]) -> u64 {
        self.append_leaf_hash(leaf_hash(data))
    }

    /// Appends an already computed leaf hash; returns its index.
    pub fn append_leaf_hash(&mut self, leaf: Hash) -> u64 {
        self.leaves.push(leaf);
        to_u64(self.leaves.len() - 1)
    }

    /// Number of entries.
    #[must_use]
    pub fn size(&self) -> u64 {
        to_u64(self.leaves.len())
    }

    /// All leaf hashes, in order.
    #[must_use]
    pub fn leaf_hashes(&self) -> &[Hash] {
        &self.leaves
    }

    /// The tree head of the whole log.
    #[must_use]
    pub fn root(&self) -> Hash {
        root(&self.leaves)
    }

    fn prefix(&self, size: u64) -> Result<&[Hash], ProofError> {
        let n = to_index(size, self.leaves.len())?;
        Ok(&self.leaves[..n])
    }

    /// The tree head of the log when it had `size` entries.
    ///
    /// # Errors
    /// [`ProofError::SizeOutOfRange`] if `size > self.size()`.
    pub fn root_at(&self, size: u64) -> Result<Hash, ProofError> {
        Ok(root(self.prefix(size)?))
    }

    /// The audit path of entry `index` in the tree of the first `tree_size` entries.
    ///
    /// # Errors
    /// [`ProofError::SizeOutOfRange`] or [`ProofError::IndexOutOfRange`].
    pub fn prove_inclusion(&self, index: u64, tree_size: u64) -> Result<Vec<Hash>, ProofError> {
        inclusion_proof(self.prefix(tree_size)?, index)
    }

    /// The consistency proof from the tree of `old_size` entries to that of `new_size`.
    ///
    /// # Errors
    /// [`ProofError::SizeOutOfRange`] or [`ProofError::SizeOrder`].
    pub fn prove_consistency(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash>, ProofError> {
        if old_size > new_size {
            return Err(ProofError::SizeOrder { old_size, new_size });
        }
        consistency_proof(self.prefix(new_size)?, old_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        let digest: Hash = Sha256::digest([]).into();
        assert_eq!(EMPTY_ROOT, digest);
        assert_eq!(root(&[]), EMPTY_ROOT);
    }

    #[test]
    fn split_point_is_largest_power_of_two_below() {
        assert_eq!(split_point(2), 1);
        assert_eq!(split_point(3), 2);
        assert_eq!(split_point(4), 2);
        assert_eq!(split_point(5), 4);
        assert_eq!(split_point(8), 4);
        assert_eq!(split_point(9), 8);
    }

    #[test]
    fn predicted_lengths_match_generated_proofs() {
        let leaves: Vec<Hash> = (0u32..70).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        for n in 1..=leaves.len() {
            let tree = &leaves[..n];
            for i in 0..n {
                let proof = inclusion_proof(tree, i as u64).unwrap();
                assert_eq!(
                    proof.len(),
                    inclusion_proof_len(i as u64, n as u64),
                    "{i}/{n}"
                );
            }
            for m in 1..n {
                let proof = consistency_proof(tree, m as u64).unwrap();
                assert_eq!(
                    proof.len(),
                    consistency_proof_len(m as u64, n as u64),
                    "{m}/{n}"
                );
            }
        }
    }
}
