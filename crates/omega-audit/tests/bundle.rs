//! The hub's JSON head and proof bundles: round trips, and every way a bundle must be
//! refused (tampered entry, wrong tree size, wrong key, head fields disagreeing with the
//! note, forked log, mismatched heads).

use data_encoding::{BASE64, HEXLOWER};
use ed25519_dalek::SigningKey;
use omega_audit::bundle::{
    BundleError, ProofBundle, Proven, SignedHead, Which, verify_bundle, verify_head,
};
use omega_audit::{
    CheckpointError, Log, NoteError, ProofError, leaf_hash, sign_checkpoint, verifier_key,
};
use serde::{Deserialize, Serialize};

const ORIGIN: &str = "hub.example/audit";

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn entry(i: u64) -> String {
    format!(r#"{{"seq":{i},"action":"member.add","actor":"alice"}}"#)
}

fn log(n: u64) -> Log {
    let mut log = Log::default();
    for i in 0..n {
        log.append(entry(i).as_bytes());
    }
    log
}

fn head_at(log: &Log, size: u64, key: &SigningKey) -> SignedHead {
    let root = log.root_at(size).unwrap();
    let note = sign_checkpoint(ORIGIN, size, &root, ORIGIN, key).unwrap();
    SignedHead::new(note, verifier_key(ORIGIN, key).unwrap()).unwrap()
}

fn inclusion(log: &Log, index: u64, size: u64) -> ProofBundle {
    let proof = log.prove_inclusion(index, size).unwrap();
    ProofBundle::inclusion(index, size, entry(index), &proof)
}

fn consistency(log: &Log, old: u64, new: u64) -> ProofBundle {
    ProofBundle::consistency(old, new, &log.prove_consistency(old, new).unwrap())
}

fn round_trip<T: Serialize + for<'de> Deserialize<'de>>(value: &T) -> T {
    serde_json::from_str(&serde_json::to_string_pretty(value).unwrap()).unwrap()
}

#[test]
fn json_round_trip_and_shape() {
    let log = log(10);
    let k = key(1);
    let head = head_at(&log, 10, &k);
    assert_eq!(round_trip(&head), head);
    let proof = inclusion(&log, 3, 10);
    assert_eq!(round_trip(&proof), proof);
    let value = serde_json::to_value(&proof).unwrap();
    assert_eq!(value["kind"], "inclusion");
    assert_eq!(value["index"], 3);
    assert_eq!(value["entry"], entry(3));
    let proof = consistency(&log, 4, 10);
    assert_eq!(round_trip(&proof), proof);
    assert_eq!(serde_json::to_value(&proof).unwrap()["kind"], "consistency");
    let value = serde_json::to_value(&head).unwrap();
    assert_eq!(value["size"], 10);
    assert_eq!(value["origin"], ORIGIN);
    assert_eq!(value["root"], BASE64.encode(&log.root()));
}

#[test]
fn valid_bundles_verify_and_describe_themselves() {
    let log = log(10);
    let k = key(1);
    let pinned = verifier_key(ORIGIN, &k).unwrap();
    let head = round_trip(&head_at(&log, 10, &k));
    let verified = verify_bundle(
        &head,
        &round_trip(&inclusion(&log, 7, 10)),
        None,
        Some(&pinned),
    )
    .unwrap();
    assert_eq!(verified.origin, ORIGIN);
    assert!(matches!(
        verified.proven,
        Proven::Inclusion {
            index: 7,
            tree_size: 10,
            ..
        }
    ));
    let value = serde_json::to_value(&verified).unwrap();
    assert_eq!(value["kind"], "inclusion");
    assert_eq!(
        value["leaf_hash"],
        HEXLOWER.encode(&leaf_hash(entry(7).as_bytes()))
    );
    assert_eq!(value["key_id"], format!("{:08x}", verified.key_id));
    assert!(
        verified
            .to_string()
            .starts_with(&format!("entry 7 is in tree size 10 of {ORIGIN}"))
    );

    let old = head_at(&log, 4, &k);
    let verified = verify_bundle(&head, &consistency(&log, 4, 10), Some(&old), None).unwrap();
    assert!(matches!(
        verified.proven,
        Proven::Consistency {
            old_size: 4,
            new_size: 10,
            ..
        }
    ));
    assert!(
        verified
            .to_string()
            .starts_with("tree size 4 is a prefix of tree size 10")
    );
}

#[test]
fn tampered_entry_fails() {
    let log = log(10);
    let head = head_at(&log, 10, &key(1));
    let ProofBundle::Inclusion {
        index,
        tree_size,
        entry,
        hashes,
    } = inclusion(&log, 5, 10)
    else {
        unreachable!()
    };
    let entry = entry.replacen("alice", "alicf", 1);
    let tampered = ProofBundle::Inclusion {
        index,
        tree_size,
        entry,
        hashes,
    };
    let error = verify_bundle(&head, &tampered, None, None).unwrap_err();
    assert!(
        matches!(
            error,
            BundleError::Inclusion {
                index: 5,
                source: ProofError::RootMismatch,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn proof_for_another_tree_size_fails_clearly() {
    let log = log(10);
    let head = head_at(&log, 10, &key(1));
    let error = verify_bundle(&head, &inclusion(&log, 2, 8), None, None).unwrap_err();
    assert_eq!(
        error,
        BundleError::TreeSizeMismatch {
            expected: 10,
            got: 8
        }
    );
    assert!(
        error.to_string().contains("expected tree size 10"),
        "{error}"
    );

    // Relabelling the proof with the head's size does not help.
    let ProofBundle::Inclusion {
        index,
        entry,
        hashes,
        ..
    } = inclusion(&log, 2, 8)
    else {
        unreachable!()
    };
    let relabelled = ProofBundle::Inclusion {
        index,
        tree_size: 10,
        entry,
        hashes,
    };
    assert!(matches!(
        verify_bundle(&head, &relabelled, None, None),
        Err(BundleError::Inclusion { .. })
    ));
}

#[test]
fn wrong_pinned_key_fails() {
    let log = log(10);
    let head = head_at(&log, 10, &key(1));
    let other = verifier_key(ORIGIN, &key(2)).unwrap();
    let error = verify_bundle(&head, &inclusion(&log, 1, 10), None, Some(&other)).unwrap_err();
    assert!(
        matches!(
            error,
            BundleError::Checkpoint(CheckpointError::Note(NoteError::NoTrustedSignature { .. }))
        ),
        "{error}"
    );
    assert!(matches!(
        verify_head(&head, Some("not a key")),
        Err(BundleError::PinnedKey(_))
    ));

    // A head claiming the other key does not pass either: the note is not signed by it.
    let mut relabelled = head.clone();
    relabelled.verifier_key = other;
    assert!(matches!(
        verify_head(&relabelled, None),
        Err(BundleError::Checkpoint(_))
    ));
}

#[test]
fn head_fields_must_match_the_note() {
    let log = log(10);
    let head = head_at(&log, 10, &key(1));
    let mut bad = head.clone();
    bad.size = 11;
    let error = verify_head(&bad, None).unwrap_err();
    assert_eq!(
        error,
        BundleError::HeadMismatch {
            field: "size",
            expected: "10".into(),
            got: "11".into()
        }
    );
    assert!(
        error.to_string().starts_with("head size disagrees"),
        "{error}"
    );
    let mut bad = head.clone();
    bad.origin = "elsewhere/log".into();
    assert!(matches!(
        verify_head(&bad, None),
        Err(BundleError::HeadMismatch {
            field: "origin",
            ..
        })
    ));
    let mut bad = head.clone();
    bad.root = BASE64.encode(&log.root_at(9).unwrap());
    assert!(matches!(
        verify_head(&bad, None),
        Err(BundleError::HeadMismatch { field: "root", .. })
    ));
    let mut bad = head;
    bad.checkpoint = bad.checkpoint.replacen("\n10\n", "\n11\n", 1);
    assert!(matches!(
        verify_head(&bad, None),
        Err(BundleError::Checkpoint(_))
    ));
}

#[test]
fn forked_log_fails_consistency() {
    let k = key(1);
    let honest = log(10);
    let mut forked = Log::default();
    for i in 0..10 {
        let data = if i == 2 { entry(99) } else { entry(i) };
        forked.append(data.as_bytes());
    }
    let old = head_at(&honest, 6, &k);
    // Same size, different content: the forked head cannot extend the honest old head.
    let new = head_at(&forked, 10, &k);
    let error = verify_bundle(&new, &consistency(&forked, 6, 10), Some(&old), None).unwrap_err();
    assert!(
        matches!(
            error,
            BundleError::Consistency {
                old_size: 6,
                new_size: 10,
                ..
            }
        ),
        "{error}"
    );
    let error = verify_bundle(&new, &consistency(&honest, 6, 10), Some(&old), None).unwrap_err();
    assert!(matches!(error, BundleError::Consistency { .. }), "{error}");
    // Two heads of the same size with different roots.
    let error = verify_bundle(
        &new,
        &consistency(&forked, 10, 10),
        Some(&head_at(&honest, 10, &k)),
        None,
    )
    .unwrap_err();
    assert!(
        matches!(
            error,
            BundleError::Consistency {
                source: ProofError::RootMismatch,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn consistency_checks_heads_and_sizes() {
    let log = log(10);
    let k = key(1);
    let new = head_at(&log, 10, &k);
    let old = head_at(&log, 4, &k);
    let proof = consistency(&log, 4, 10);
    assert_eq!(
        verify_bundle(&new, &proof, None, None),
        Err(BundleError::MissingOldHead)
    );
    assert_eq!(
        verify_bundle(&new, &inclusion(&log, 0, 10), Some(&old), None),
        Err(BundleError::UnexpectedOldHead)
    );
    assert_eq!(
        verify_bundle(&new, &consistency(&log, 5, 10), Some(&old), None),
        Err(BundleError::SizeMismatch {
            which: Which::Old,
            expected: 4,
            got: 5
        })
    );
    assert_eq!(
        verify_bundle(&head_at(&log, 9, &k), &proof, Some(&old), None),
        Err(BundleError::SizeMismatch {
            which: Which::New,
            expected: 9,
            got: 10
        })
    );
    let stranger = head_at(&log, 4, &key(2));
    assert!(matches!(
        verify_bundle(&new, &proof, Some(&stranger), None),
        Err(BundleError::KeyMismatch { .. })
    ));
    let pinned = verifier_key(ORIGIN, &k).unwrap();
    assert!(matches!(
        verify_bundle(&new, &proof, Some(&stranger), Some(&pinned)),
        Err(BundleError::OldHead(_))
    ));
    let root = log.root_at(4).unwrap();
    let note = sign_checkpoint("other.example/log", 4, &root, ORIGIN, &k).unwrap();
    let other_origin = SignedHead::new(note, pinned.clone()).unwrap();
    assert!(matches!(
        verify_bundle(&new, &proof, Some(&other_origin), Some(&pinned)),
        Err(BundleError::OriginMismatch { .. })
    ));
    let ProofBundle::Consistency {
        old_size,
        new_size,
        mut hashes,
    } = proof
    else {
        unreachable!()
    };
    hashes[0] = "not base64!".into();
    assert_eq!(
        verify_bundle(
            &new,
            &ProofBundle::Consistency {
                old_size,
                new_size,
                hashes
            },
            Some(&old),
            None
        ),
        Err(BundleError::InvalidProofHash { position: 0 })
    );
}

#[test]
fn signed_head_new_refuses_a_note_not_signed_by_the_key() {
    let log = log(3);
    let note = sign_checkpoint(ORIGIN, 3, &log.root(), ORIGIN, &key(1)).unwrap();
    let error = SignedHead::new(note, verifier_key(ORIGIN, &key(2)).unwrap()).unwrap_err();
    assert!(matches!(error, BundleError::Checkpoint(_)), "{error}");
}
