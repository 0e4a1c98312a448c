//! The verifiable append-only audit log core of the business hub.
//!
//! What it does: hashes entries into a Merkle tree exactly as RFC 6962 §2.1 (SHA-256,
//! leaf prefix `0x00`, node prefix `0x01`), produces inclusion and consistency proofs,
//! verifies them offline from hashes alone (RFC 9162 §2.1.3.2 and §2.1.4.2), and signs and
//! verifies tree heads as C2SP `tlog-checkpoint`s in the C2SP `signed-note` format with
//! Ed25519 keys, so standard transparency-log tooling agrees with it. [`bundle`] defines the
//! JSON files (signed head, proof bundle) an auditor downloads from the hub and verifies
//! offline.
//!
//! What it does not do: no IO, no clock, no randomness, no storage, no HTTP (the bundle
//! types are only serde shapes). The proof functions take leaf hashes as `&[Hash]` from
//! wherever the caller keeps them; [`Log`] is an in-memory holder for tests and small logs.
//! Keys are generated and kept by the caller. Witness cosignatures and tiles are not
//! implemented.
//!
//! ```
//! use omega_audit::{Log, leaf_hash, verify_inclusion, verify_consistency};
//!
//! let mut log = Log::default();
//! for entry in [b"a".as_slice(), b"b", b"c"] {
//!     log.append(entry);
//! }
//! let root = log.root();
//! let proof = log.prove_inclusion(1, 3)?;
//! verify_inclusion(&leaf_hash(b"b"), 1, 3, &proof, &root)?;
//!
//! let old_root = log.root_at(2)?;
//! let proof = log.prove_consistency(2, 3)?;
//! verify_consistency(2, 3, &old_root, &root, &proof)?;
//! # Ok::<(), omega_audit::ProofError>(())
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod bundle;
pub mod checkpoint;
pub mod merkle;

pub use bundle::{
    BundleError, ProofBundle, Proven, SignedHead, Verified, verify_bundle, verify_head,
};
pub use checkpoint::{
    Checkpoint, CheckpointError, NoteError, NoteVerifier, key_id, open_note, sign_checkpoint,
    sign_note, verifier_key, verify_checkpoint, verify_checkpoint_with,
};
/// The Ed25519 key types of the signing API, re-exported so callers need not depend on a
/// matching `ed25519-dalek`.
pub use ed25519_dalek::{SigningKey, VerifyingKey};
pub use merkle::{
    EMPTY_ROOT, Hash, Log, ProofError, consistency_proof, inclusion_proof, leaf_hash, node_hash,
    root, verify_consistency, verify_inclusion,
};
