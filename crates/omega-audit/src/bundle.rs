//! The JSON files an auditor downloads from the hub and verifies offline: a [`SignedHead`]
//! (a signed C2SP checkpoint with its fields repeated for convenience) and a
//! [`ProofBundle`] (an inclusion proof of one entry, or a consistency proof between two
//! heads).
//!
//! The hub builds these with [`SignedHead::new`], [`ProofBundle::inclusion`] and
//! [`ProofBundle::consistency`] and serializes them with serde; the auditor deserializes
//! them and calls [`verify_bundle`]. Only the signed checkpoint note is trusted: the
//! `origin`, `size` and `root` fields of a head are checked against it, and a head whose
//! fields disagree with its note is refused.
//!
//! ```
//! use ed25519_dalek::SigningKey;
//! use omega_audit::{Log, sign_checkpoint, verifier_key};
//! use omega_audit::bundle::{ProofBundle, SignedHead, verify_bundle};
//!
//! let key = SigningKey::from_bytes(&[7; 32]);
//! let mut log = Log::default();
//! let entries = [r#"{"n":0}"#, r#"{"n":1}"#, r#"{"n":2}"#];
//! for entry in entries {
//!     log.append(entry.as_bytes());
//! }
//! let note = sign_checkpoint("example.com/log", log.size(), &log.root(), "example.com/log", &key)?;
//! let head = SignedHead::new(note, verifier_key("example.com/log", &key)?)?;
//! let proof = ProofBundle::inclusion(1, 3, entries[1].to_owned(), &log.prove_inclusion(1, 3)?);
//!
//! // What the auditor downloads, and checks against the key it pinned.
//! let head: SignedHead = serde_json::from_str(&serde_json::to_string(&head)?)?;
//! let proof: ProofBundle = serde_json::from_str(&serde_json::to_string(&proof)?)?;
//! let pinned = verifier_key("example.com/log", &key)?;
//! let verified = verify_bundle(&head, &proof, None, Some(&pinned))?;
//! assert!(verified.to_string().starts_with("entry 1 is in tree size 3 of example.com/log"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use data_encoding::{BASE64, HEXLOWER};
use serde::{Deserialize, Serialize, Serializer};
use thiserror::Error;

use crate::checkpoint::{Checkpoint, CheckpointError, NoteError, NoteVerifier};
use crate::merkle::{Hash, ProofError, leaf_hash, verify_consistency, verify_inclusion};

/// A signed tree head as served by the hub: the C2SP checkpoint note and the verifier key
/// that signed it, with the note's origin, size and root repeated as plain fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedHead {
    /// The log's origin line, as in the checkpoint.
    pub origin: String,
    /// Number of entries in the tree, as in the checkpoint.
    pub size: u64,
    /// Standard base64 of the 32-byte root hash, as in the checkpoint.
    pub root: String,
    /// The full signed note text: checkpoint body, blank line, signature lines.
    pub checkpoint: String,
    /// The C2SP verifier key `<name>+<hex key id>+<base64(0x01 || public key)>` that signed
    /// the note. Informational: an auditor should pin its own copy.
    pub verifier_key: String,
}

impl SignedHead {
    /// A head for a signed checkpoint note, with origin, size and root read from the note
    /// after checking its signature by `verifier_key`.
    ///
    /// # Errors
    /// [`BundleError::HeadKey`] if the verifier key does not parse, or
    /// [`BundleError::Checkpoint`] if the note is not a checkpoint signed by that key.
    pub fn new(checkpoint_note: String, verifier_key: String) -> Result<Self, BundleError> {
        let verifier = NoteVerifier::parse(&verifier_key).map_err(BundleError::HeadKey)?;
        let checkpoint = crate::checkpoint::verify_checkpoint_with(&checkpoint_note, &verifier)
            .map_err(BundleError::Checkpoint)?;
        Ok(Self {
            origin: checkpoint.origin,
            size: checkpoint.size,
            root: BASE64.encode(&checkpoint.root),
            checkpoint: checkpoint_note,
            verifier_key,
        })
    }
}

/// A proof served by the hub, tagged in JSON by `"kind": "inclusion" | "consistency"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProofBundle {
    /// Entry `index` is a leaf of the tree of `tree_size` entries.
    Inclusion {
        /// Zero-based index of the entry in the log.
        index: u64,
        /// Size of the tree the proof is for; must equal the head's size.
        tree_size: u64,
        /// The exact leaf data: the entry's JSON text, whose UTF-8 bytes are the input of
        /// [`leaf_hash`].
        entry: String,
        /// The audit path, leaf to root, each hash in standard base64.
        hashes: Vec<String>,
    },
    /// The tree of `old_size` entries is a prefix of the tree of `new_size` entries.
    Consistency {
        /// Size of the older tree; must equal the old head's size.
        old_size: u64,
        /// Size of the newer tree; must equal the head's size.
        new_size: u64,
        /// The consistency proof, each hash in standard base64.
        hashes: Vec<String>,
    },
}

impl ProofBundle {
    /// An inclusion bundle for `entry` at `index` in the tree of `tree_size` entries.
    #[must_use]
    pub fn inclusion(index: u64, tree_size: u64, entry: String, proof: &[Hash]) -> Self {
        Self::Inclusion {
            index,
            tree_size,
            entry,
            hashes: encode_hashes(proof),
        }
    }

    /// A consistency bundle from the tree of `old_size` entries to that of `new_size`.
    #[must_use]
    pub fn consistency(old_size: u64, new_size: u64, proof: &[Hash]) -> Self {
        Self::Consistency {
            old_size,
            new_size,
            hashes: encode_hashes(proof),
        }
    }
}

fn encode_hashes(proof: &[Hash]) -> Vec<String> {
    proof.iter().map(|hash| BASE64.encode(hash)).collect()
}

fn decode_hashes(hashes: &[String]) -> Result<Vec<Hash>, BundleError> {
    hashes
        .iter()
        .enumerate()
        .map(|(position, text)| {
            BASE64
                .decode(text.as_bytes())
                .ok()
                .and_then(|bytes| Hash::try_from(bytes).ok())
                .ok_or(BundleError::InvalidProofHash { position })
        })
        .collect()
}

/// Which of the two heads of a consistency check a size refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Which {
    /// The older head (`old_size`).
    Old,
    /// The newer head (`new_size`).
    New,
}

impl fmt::Display for Which {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Old => "old",
            Self::New => "new",
        })
    }
}

/// Why a head or proof bundle was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The pinned verifier key does not parse.
    #[error("pinned key: {0}")]
    PinnedKey(#[source] NoteError),
    /// The head's own verifier key does not parse.
    #[error("head verifier key: {0}")]
    HeadKey(#[source] NoteError),
    /// The checkpoint note is malformed, not signed by the key, or not a checkpoint.
    #[error("signed head: {0}")]
    Checkpoint(#[source] CheckpointError),
    /// A field of the head's JSON disagrees with its signed checkpoint.
    #[error(
        "head {field} disagrees with its signed checkpoint: expected {expected:?}, got {got:?}"
    )]
    HeadMismatch {
        /// `"origin"`, `"size"` or `"root"`.
        field: &'static str,
        /// The value in the signed note.
        expected: String,
        /// The value in the JSON field.
        got: String,
    },
    /// A refusal of the old head of a consistency check.
    #[error("old head: {0}")]
    OldHead(#[source] Box<BundleError>),
    /// The two heads name different verifier keys and no key was pinned.
    #[error("old head is signed by another key: expected {expected:?}, got {got:?}")]
    KeyMismatch {
        /// The new head's verifier key.
        expected: String,
        /// The old head's verifier key.
        got: String,
    },
    /// The two heads are for different logs.
    #[error("old head is for another log: expected origin {expected:?}, got {got:?}")]
    OriginMismatch {
        /// The new head's origin.
        expected: String,
        /// The old head's origin.
        got: String,
    },
    /// An inclusion proof is for a tree of another size than the head.
    #[error(
        "inclusion proof is for another tree: expected tree size {expected} (the head's), got {got}"
    )]
    TreeSizeMismatch {
        /// The head's size.
        expected: u64,
        /// The proof's `tree_size`.
        got: u64,
    },
    /// A consistency proof's size does not match the corresponding head.
    #[error(
        "consistency proof {which} size does not match the {which} head: expected {expected}, got {got}"
    )]
    SizeMismatch {
        /// Which head.
        which: Which,
        /// The head's size.
        expected: u64,
        /// The proof's size.
        got: u64,
    },
    /// A consistency proof was given without the old head it starts from.
    #[error("a consistency proof needs the old head: expected one, got none")]
    MissingOldHead,
    /// An old head was given with an inclusion proof, which does not use one.
    #[error("an inclusion proof takes no old head: expected none, got one")]
    UnexpectedOldHead,
    /// A proof hash is not 32 bytes in standard base64.
    #[error("proof hash {position}: expected 32 bytes in standard base64")]
    InvalidProofHash {
        /// Zero-based position in `hashes`.
        position: usize,
    },
    /// The inclusion proof does not prove the entry at that index under the head's root.
    #[error("entry {index} is not proven in tree size {tree_size}: {source}")]
    Inclusion {
        /// The entry index of the proof.
        index: u64,
        /// The tree size of the proof.
        tree_size: u64,
        /// Why the proof failed.
        source: ProofError,
    },
    /// The consistency proof does not link the two heads' roots.
    #[error("tree size {old_size} is not proven a prefix of tree size {new_size}: {source}")]
    Consistency {
        /// The old size.
        old_size: u64,
        /// The new size.
        new_size: u64,
        /// Why the proof failed.
        source: ProofError,
    },
}

/// What [`verify_bundle`] proved, for display (`Display`) or as JSON (`Serialize`: `key_id`
/// as 8 hex digits, `leaf_hash` in hex, roots in standard base64, `kind` flattened in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Verified {
    /// The log's origin.
    pub origin: String,
    /// Name of the key that signed the head(s).
    pub key_name: String,
    /// Id of the key that signed the head(s).
    #[serde(serialize_with = "serialize_key_id")]
    pub key_id: u32,
    /// The proven statement.
    #[serde(flatten)]
    pub proven: Proven,
}

/// The statement a bundle proved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Proven {
    /// The entry with `leaf_hash` is at `index` in the tree of `tree_size` with `root`.
    Inclusion {
        /// Index of the entry.
        index: u64,
        /// Size of the tree.
        tree_size: u64,
        /// [`leaf_hash`] of the entry.
        #[serde(serialize_with = "serialize_hex")]
        leaf_hash: Hash,
        /// Root of the tree, as signed.
        #[serde(serialize_with = "serialize_base64")]
        root: Hash,
    },
    /// The tree of `old_size` with `old_root` is a prefix of the tree of `new_size` with `new_root`.
    Consistency {
        /// Size of the older tree.
        old_size: u64,
        /// Size of the newer tree.
        new_size: u64,
        /// Root of the older tree, as signed.
        #[serde(serialize_with = "serialize_base64")]
        old_root: Hash,
        /// Root of the newer tree, as signed.
        #[serde(serialize_with = "serialize_base64")]
        new_root: Hash,
    },
}

fn serialize_key_id<S: Serializer>(key_id: &u32, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format!("{key_id:08x}"))
}

fn serialize_hex<S: Serializer>(hash: &Hash, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&HEXLOWER.encode(hash))
}

fn serialize_base64<S: Serializer>(hash: &Hash, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&BASE64.encode(hash))
}

impl fmt::Display for Verified {
    /// `entry 7 is in tree size 10 of <origin> (key <name> <id>, leaf hash <hex>)` or
    /// `tree size 4 is a prefix of tree size 10 of <origin> (key <name> <id>)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = format!("key {} {:08x}", self.key_name, self.key_id);
        match &self.proven {
            Proven::Inclusion {
                index,
                tree_size,
                leaf_hash,
                ..
            } => write!(
                f,
                "entry {index} is in tree size {tree_size} of {} ({key}, leaf hash {})",
                self.origin,
                HEXLOWER.encode(leaf_hash),
            ),
            Proven::Consistency {
                old_size, new_size, ..
            } => write!(
                f,
                "tree size {old_size} is a prefix of tree size {new_size} of {} ({key})",
                self.origin,
            ),
        }
    }
}

/// Verifies the head's checkpoint note against `pinned_key` if given, else against the
/// head's own `verifier_key`, and checks that the head's `origin`, `size` and `root` fields
/// equal those of the signed note. Returns the signed checkpoint.
///
/// Without a pinned key this only shows the head is self-consistent; an auditor pins the
/// hub's key to know who signed it.
///
/// # Errors
/// [`BundleError::PinnedKey`] or [`BundleError::HeadKey`] for a key that does not parse,
/// [`BundleError::Checkpoint`] for a bad note or signature, [`BundleError::HeadMismatch`]
/// naming the field that disagrees with the note.
pub fn verify_head(head: &SignedHead, pinned_key: Option<&str>) -> Result<Checkpoint, BundleError> {
    let verifier = trusted_verifier(head, pinned_key)?;
    open_head(head, &verifier)
}

fn trusted_verifier(
    head: &SignedHead,
    pinned_key: Option<&str>,
) -> Result<NoteVerifier, BundleError> {
    match pinned_key {
        Some(key) => NoteVerifier::parse(key).map_err(BundleError::PinnedKey),
        None => NoteVerifier::parse(&head.verifier_key).map_err(BundleError::HeadKey),
    }
}

fn open_head(head: &SignedHead, verifier: &NoteVerifier) -> Result<Checkpoint, BundleError> {
    let checkpoint = crate::checkpoint::verify_checkpoint_with(&head.checkpoint, verifier)
        .map_err(BundleError::Checkpoint)?;
    let mismatch = |field, expected: String, got: String| BundleError::HeadMismatch {
        field,
        expected,
        got,
    };
    if checkpoint.origin != head.origin {
        return Err(mismatch("origin", checkpoint.origin, head.origin.clone()));
    }
    if checkpoint.size != head.size {
        return Err(mismatch(
            "size",
            checkpoint.size.to_string(),
            head.size.to_string(),
        ));
    }
    let root = BASE64.encode(&checkpoint.root);
    if root != head.root {
        return Err(mismatch("root", root, head.root.clone()));
    }
    Ok(checkpoint)
}

/// Verifies a proof bundle offline against a signed head (and, for a consistency proof,
/// the older signed head), trusting `pinned_key` if given, else the head's own key.
///
/// Inclusion: the proof's `tree_size` must equal the head's size, and the leaf hash of the
/// entry's UTF-8 bytes must be at `index` under the head's root. Consistency: both heads
/// are verified with the same key and must have the same origin, `old_size` and `new_size`
/// must equal the old and new heads' sizes, and the proof must link the two roots.
///
/// # Errors
/// Any [`BundleError`]; errors about the old head are wrapped in [`BundleError::OldHead`].
pub fn verify_bundle(
    head: &SignedHead,
    proof: &ProofBundle,
    old_head: Option<&SignedHead>,
    pinned_key: Option<&str>,
) -> Result<Verified, BundleError> {
    let verifier = trusted_verifier(head, pinned_key)?;
    let checkpoint = open_head(head, &verifier)?;
    let proven = match proof {
        ProofBundle::Inclusion {
            index,
            tree_size,
            entry,
            hashes,
        } => {
            if old_head.is_some() {
                return Err(BundleError::UnexpectedOldHead);
            }
            if *tree_size != checkpoint.size {
                return Err(BundleError::TreeSizeMismatch {
                    expected: checkpoint.size,
                    got: *tree_size,
                });
            }
            let path = decode_hashes(hashes)?;
            let leaf = leaf_hash(entry.as_bytes());
            verify_inclusion(&leaf, *index, *tree_size, &path, &checkpoint.root).map_err(
                |source| BundleError::Inclusion {
                    index: *index,
                    tree_size: *tree_size,
                    source,
                },
            )?;
            Proven::Inclusion {
                index: *index,
                tree_size: *tree_size,
                leaf_hash: leaf,
                root: checkpoint.root,
            }
        }
        ProofBundle::Consistency {
            old_size,
            new_size,
            hashes,
        } => {
            let old_head = old_head.ok_or(BundleError::MissingOldHead)?;
            if pinned_key.is_none() {
                let old_verifier = NoteVerifier::parse(&old_head.verifier_key)
                    .map_err(|error| BundleError::OldHead(Box::new(BundleError::HeadKey(error))))?;
                if old_verifier != verifier {
                    return Err(BundleError::KeyMismatch {
                        expected: head.verifier_key.clone(),
                        got: old_head.verifier_key.clone(),
                    });
                }
            }
            let old_checkpoint = open_head(old_head, &verifier)
                .map_err(|error| BundleError::OldHead(Box::new(error)))?;
            if old_checkpoint.origin != checkpoint.origin {
                return Err(BundleError::OriginMismatch {
                    expected: checkpoint.origin,
                    got: old_checkpoint.origin,
                });
            }
            if *old_size != old_checkpoint.size {
                return Err(BundleError::SizeMismatch {
                    which: Which::Old,
                    expected: old_checkpoint.size,
                    got: *old_size,
                });
            }
            if *new_size != checkpoint.size {
                return Err(BundleError::SizeMismatch {
                    which: Which::New,
                    expected: checkpoint.size,
                    got: *new_size,
                });
            }
            let path = decode_hashes(hashes)?;
            verify_consistency(
                *old_size,
                *new_size,
                &old_checkpoint.root,
                &checkpoint.root,
                &path,
            )
            .map_err(|source| BundleError::Consistency {
                old_size: *old_size,
                new_size: *new_size,
                source,
            })?;
            Proven::Consistency {
                old_size: *old_size,
                new_size: *new_size,
                old_root: old_checkpoint.root,
                new_root: checkpoint.root,
            }
        }
    };
    Ok(Verified {
        origin: checkpoint.origin,
        key_name: verifier.name().to_owned(),
        key_id: verifier.key_id(),
        proven,
    })
}
