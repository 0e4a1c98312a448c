//! What is refused before it reaches the log: forgeries, tampering, other groups' ops, wrong
//! clocks, strangers.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use omega_groups::{
    Applied, GenesisError, GroupLog, Op, OpError, OpHash, OpKind, Role, SignedGenesis, SignedOp,
    decode_genesis, decode_op,
};

fn add(user: u32) -> OpKind {
    OpKind::Add {
        user: key(user),
        role: Role::Member,
    }
}

#[test]
fn a_forged_signature_is_refused() {
    let mut log = group(&[(1, Role::Admin)]);
    // Signed by someone else than the author it names.
    let op = raw_op(&log, &identity(1), add(5), 2_000).op().clone();
    let forged = SignedOp::from_parts(
        op.clone(),
        *raw_op(&log, &identity(2), add(5), 2_000).signature(),
    );
    assert_eq!(log.apply(forged), Err(OpError::BadSignature));
    let zeros = SignedOp::from_parts(op, [0; 64]);
    assert_eq!(log.apply(zeros), Err(OpError::BadSignature));
    assert_eq!(log.n_ops(), 0);
}

#[test]
fn a_tampered_field_is_refused() {
    let log = group(&[(1, Role::Admin), (2, Role::Member)]);
    let signed = log.create_op(&identity(1), add(5), 2_000).unwrap();
    let original = signed.op().clone();
    let tampered: Vec<Op> = vec![
        Op {
            author: key(2),
            ..original.clone()
        },
        Op {
            timestamp_ms: 2_001,
            ..original.clone()
        },
        Op {
            kind: OpKind::Add {
                user: key(6),
                role: Role::Member,
            },
            ..original.clone()
        },
        Op {
            kind: OpKind::Add {
                user: key(5),
                role: Role::Admin,
            },
            ..original.clone()
        },
        Op {
            kind: OpKind::Remove { user: key(5) },
            ..original.clone()
        },
        Op {
            parents: BTreeSet::from([OpHash([1; 32])]),
            ..original.clone()
        },
    ];
    for op in tampered {
        let mut log = log.clone();
        assert_eq!(
            log.apply(SignedOp::from_parts(op, *signed.signature())),
            Err(OpError::BadSignature)
        );
    }
    // Through the wire form too: flip one bit anywhere in the signed part.
    let bytes = signed.to_bytes();
    for index in 0..bytes.len() - 64 {
        let mut damaged = bytes.clone();
        damaged[index] ^= 0x01;
        if let Ok(decoded) = decode_op(&damaged) {
            let mut log = log.clone();
            assert!(log.apply(decoded).is_err(), "byte {index}");
        }
    }
}

#[test]
fn an_op_for_another_group_is_refused() {
    let mine = group(&[(1, Role::Admin)]);
    let theirs = GroupLog::create(
        &identity(0),
        "test group",
        BTreeMap::from([(key(1), Role::Admin)]),
        1_000,
        &mut rng(8),
    )
    .unwrap();
    assert_ne!(mine.group_id(), theirs.group_id());
    let op = theirs.create_op(&identity(1), add(5), 2_000).unwrap();
    let mut mine = mine;
    assert_eq!(
        mine.apply(op),
        Err(OpError::WrongGroup {
            expected: mine.group_id(),
            got: theirs.group_id()
        })
    );
}

#[test]
fn a_wrong_lamport_clock_is_refused() {
    let mut log = group(&[(1, Role::Admin)]);
    act(&mut log, &identity(1), add(5), 2_000);
    for lamport in [0, 1, 3, u64::MAX] {
        let op = Op {
            group_id: log.group_id(),
            author: key(1),
            parents: log.heads().clone(),
            lamport,
            timestamp_ms: 3_000,
            kind: add(6),
        }
        .sign(&identity(1))
        .unwrap();
        assert_eq!(
            log.apply(op),
            Err(OpError::BadLamport {
                expected: 2,
                got: lamport
            })
        );
    }
}

#[test]
fn a_stranger_cannot_grow_the_log() {
    let mut log = group(&[(1, Role::Admin)]);
    let stranger = raw_op(
        &log,
        &identity(66),
        OpKind::Leave { successor: None },
        2_000,
    );
    assert_eq!(log.apply(stranger), Err(OpError::UnknownAuthor));
    // Once added, the same user's ops descending from the add are stored.
    act(&mut log, &identity(1), add(66), 3_000);
    let leave = raw_op(
        &log,
        &identity(66),
        OpKind::Leave { successor: None },
        4_000,
    );
    assert!(matches!(
        log.apply(leave).unwrap(),
        Applied::Accepted { .. }
    ));
    // But not one that does not descend from the add.
    let genesis = log.group_id().genesis_hash();
    let unrelated = raw_op_on(
        &log,
        &identity(66),
        BTreeSet::from([genesis]),
        add(67),
        5_000,
    );
    assert_eq!(log.apply(unrelated), Err(OpError::UnknownAuthor));
}

#[test]
fn a_duplicate_changes_nothing() {
    let mut log = group(&[(1, Role::Admin)]);
    let op = act(&mut log, &identity(1), add(5), 2_000);
    let before = summary(&log);
    assert_eq!(
        log.apply(op.clone()),
        Ok(Applied::Duplicate { hash: op.hash() })
    );
    assert_eq!(summary(&log), before);
}

#[test]
fn operations_over_the_limits_are_refused() {
    let log = group(&[(1, Role::Admin)]);
    let no_parents = Op {
        group_id: log.group_id(),
        author: key(1),
        parents: BTreeSet::new(),
        lamport: 1,
        timestamp_ms: 0,
        kind: add(5),
    };
    assert!(no_parents.clone().sign(&identity(1)).is_err());
    let mut log = log;
    assert!(matches!(
        log.apply(SignedOp::from_parts(no_parents, [0; 64])),
        Err(OpError::Invalid(_))
    ));
}

#[test]
fn a_forged_or_oversized_genesis_is_refused() {
    let genesis = group(&[(1, Role::Admin)]).genesis().clone();
    let mut other = genesis.genesis().clone();
    other.name = "another name".into();
    assert_eq!(
        GroupLog::new(SignedGenesis::from_parts(other, *genesis.signature())).err(),
        Some(GenesisError::BadSignature)
    );
    let members: BTreeMap<_, _> = (1..=1_000)
        .map(|index| (key(index), Role::Member))
        .collect();
    assert!(GroupLog::create(&identity(0), "too big", members, 0, &mut rng(1)).is_err());
    // Round trip of the stored form.
    assert_eq!(decode_genesis(&genesis.to_bytes()).unwrap(), genesis);
}

#[test]
fn pending_ops_that_turn_out_invalid_are_dropped_with_their_descendants() {
    let mut log = group(&[(1, Role::Admin)]);
    let origin = log.clone();
    let parent = act(&mut log, &identity(1), add(5), 2_000);
    // A stranger's op on top of it, and an admin's op on top of the stranger's.
    let stranger = raw_op(
        &log,
        &identity(66),
        OpKind::Leave { successor: None },
        3_000,
    );
    let child = raw_op_on(
        &log,
        &identity(1),
        BTreeSet::from([stranger.hash()]),
        add(6),
        4_000,
    );
    // raw_op_on computed the child's clock from a log without the stranger's op: fix it.
    let child = Op {
        lamport: stranger.op().lamport + 1,
        ..child.op().clone()
    }
    .sign(&identity(1))
    .unwrap();

    let mut replica = origin;
    assert!(matches!(
        replica.apply(child.clone()).unwrap(),
        Applied::Pending { .. }
    ));
    assert!(matches!(
        replica.apply(stranger.clone()).unwrap(),
        Applied::Pending { .. }
    ));
    assert_eq!(replica.missing(), BTreeSet::from([parent.hash()]));
    match replica.apply(parent.clone()).unwrap() {
        Applied::Accepted {
            released, rejected, ..
        } => {
            assert!(released.is_empty());
            assert_eq!(
                rejected,
                vec![
                    (stranger.hash(), OpError::UnknownAuthor),
                    (
                        child.hash(),
                        OpError::ParentRefused {
                            parent: stranger.hash()
                        }
                    ),
                ]
            );
        }
        other => panic!("expected accepted, got {other:?}"),
    }
    assert_eq!(replica.pending().count(), 0);
    assert!(replica.missing().is_empty());
    assert_eq!(replica.n_ops(), 1);
}
