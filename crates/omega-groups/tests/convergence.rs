//! Concurrent edits converge: every delivery order gives every member the same state.

mod common;

use std::collections::BTreeSet;

use common::*;
use omega_groups::{Applied, Effect, GroupLog, IgnoreReason, OpKind, Role, SignedOp};

const OWNER: u32 = 0;
const OWNER_2: u32 = 1;
const ADMIN_1: u32 = 2;
const ADMIN_2: u32 = 3;
const MEMBER: u32 = 4;
const NEWCOMER: u32 = 9;

fn group_with_two_of_each() -> GroupLog {
    group(&[
        (OWNER_2, Role::Owner),
        (ADMIN_1, Role::Admin),
        (ADMIN_2, Role::Admin),
        (MEMBER, Role::Member),
        (5, Role::Member),
    ])
}

fn first_in_order(a: &SignedOp, b: &SignedOp) -> bool {
    (a.op().lamport, a.hash()) < (b.op().lamport, b.hash())
}

#[test]
fn two_owners_removing_each_other_concurrently_converge_on_the_first_in_order() {
    let log = group_with_two_of_each();
    let a = log
        .create_op(
            &identity(OWNER),
            OpKind::Remove { user: key(OWNER_2) },
            2_000,
        )
        .unwrap();
    let b = log
        .create_op(
            &identity(OWNER_2),
            OpKind::Remove { user: key(OWNER) },
            2_000,
        )
        .unwrap();
    assert_eq!(a.op().parents, b.op().parents);
    let summary = converge(&log, &[], &[a.clone(), b.clone()]);
    let (winner, loser) = if first_in_order(&a, &b) {
        (&a, &b)
    } else {
        (&b, &a)
    };
    let effects: Vec<_> = summary
        .effects
        .iter()
        .map(|(hash, effect)| (*hash, *effect))
        .collect();
    assert!(effects.contains(&(winner.hash(), Effect::Applied)));
    assert!(effects.contains(&(loser.hash(), Effect::Ignored(IgnoreReason::NotAMember))));
    assert!(summary.state.is_member(&winner.op().author));
    assert!(!summary.state.is_member(&loser.op().author));
    assert_eq!(summary.state.n_owners(), 1);
}

#[test]
fn two_admins_removing_each_other_has_no_effect() {
    let log = group_with_two_of_each();
    let a = raw_op(
        &log,
        &identity(ADMIN_1),
        OpKind::Remove { user: key(ADMIN_2) },
        2_000,
    );
    let b = raw_op(
        &log,
        &identity(ADMIN_2),
        OpKind::Remove { user: key(ADMIN_1) },
        2_000,
    );
    let summary = converge(&log, &[], &[a, b]);
    assert_eq!(&summary.state, log.state());
}

#[test]
fn two_admins_adding_and_removing_the_same_user_converge() {
    let mut log = group_with_two_of_each();
    let base = vec![act(
        &mut log,
        &identity(ADMIN_1),
        OpKind::Add {
            user: key(NEWCOMER),
            role: Role::Member,
        },
        2_000,
    )];
    // Concurrently: admin 1 removes the newcomer then adds them back; admin 2 removes them;
    // both add another user.
    let remove_1 = log
        .create_op(
            &identity(ADMIN_1),
            OpKind::Remove {
                user: key(NEWCOMER),
            },
            3_000,
        )
        .unwrap();
    let mut branch = log.clone();
    let _ = branch.apply(remove_1.clone()).unwrap();
    let re_add_1 = branch
        .create_op(
            &identity(ADMIN_1),
            OpKind::Add {
                user: key(NEWCOMER),
                role: Role::Member,
            },
            3_100,
        )
        .unwrap();
    let remove_2 = log
        .create_op(
            &identity(ADMIN_2),
            OpKind::Remove {
                user: key(NEWCOMER),
            },
            3_000,
        )
        .unwrap();
    let add_1 = log
        .create_op(
            &identity(ADMIN_1),
            OpKind::Add {
                user: key(10),
                role: Role::Member,
            },
            3_000,
        )
        .unwrap();
    let add_2 = log
        .create_op(
            &identity(ADMIN_2),
            OpKind::Add {
                user: key(10),
                role: Role::Member,
            },
            3_000,
        )
        .unwrap();
    let summary = converge(
        &log,
        &base,
        &[remove_1, re_add_1, remove_2, add_1.clone(), add_2.clone()],
    );
    // The re-add comes after both removals in the order (it descends from one, and has a
    // higher Lamport clock than the other), so the newcomer is in.
    assert!(summary.state.is_member(&key(NEWCOMER)));
    assert!(summary.state.is_member(&key(10)));
    // Exactly one of the two adds of user 10 took effect.
    let applied = summary
        .effects
        .iter()
        .filter(|(hash, effect)| {
            (*hash == add_1.hash() || *hash == add_2.hash()) && *effect == Effect::Applied
        })
        .count();
    assert_eq!(applied, 1);
}

#[test]
fn an_owner_removing_an_admin_supersedes_the_admins_concurrent_changes() {
    let log = group_with_two_of_each();
    let removal = log
        .create_op(
            &identity(OWNER),
            OpKind::Remove { user: key(ADMIN_1) },
            2_000,
        )
        .unwrap();
    let add = log
        .create_op(
            &identity(ADMIN_1),
            OpKind::Add {
                user: key(NEWCOMER),
                role: Role::Member,
            },
            2_000,
        )
        .unwrap();
    let kick = log
        .create_op(
            &identity(ADMIN_1),
            OpKind::Remove { user: key(MEMBER) },
            2_000,
        )
        .unwrap();
    let summary = converge(&log, &[], &[removal.clone(), add.clone(), kick.clone()]);
    assert!(!summary.state.is_member(&key(ADMIN_1)));
    assert!(!summary.state.is_member(&key(NEWCOMER)));
    assert!(summary.state.is_member(&key(MEMBER)));
    // Before the removal in the order they are capped; after it the admin is gone.
    for op in [&add, &kick] {
        let expected = if first_in_order(op, &removal) {
            IgnoreReason::Superseded
        } else {
            IgnoreReason::NotAMember
        };
        assert!(
            summary
                .effects
                .contains(&(op.hash(), Effect::Ignored(expected)))
        );
    }
}

#[test]
fn a_removed_admin_cannot_act_by_back_dating() {
    let mut log = group_with_two_of_each();
    let genesis = log.group_id().genesis_hash();
    let mut base = vec![act(
        &mut log,
        &identity(ADMIN_2),
        OpKind::Rename { name: "n1".into() },
        2_000,
    )];
    base.push(act(
        &mut log,
        &identity(OWNER),
        OpKind::Remove { user: key(ADMIN_1) },
        3_000,
    ));
    // The removed admin signs an op whose only parent is the genesis: it sorts before the
    // removal, where the admin still was one.
    let back_dated = raw_op_on(
        &log,
        &identity(ADMIN_1),
        BTreeSet::from([genesis]),
        OpKind::Add {
            user: key(NEWCOMER),
            role: Role::Member,
        },
        4_000,
    );
    assert_eq!(back_dated.op().lamport, 1);
    match log.apply(back_dated.clone()).unwrap() {
        Applied::Accepted { effect, .. } => {
            assert_eq!(effect, Effect::Ignored(IgnoreReason::Superseded));
        }
        other => panic!("expected accepted, got {other:?}"),
    }
    assert!(!log.state().is_member(&key(NEWCOMER)));
    let summary = converge(&log, &[], &[base[0].clone(), base[1].clone(), back_dated]);
    assert_eq!(summary.state, log.state().clone());
}

#[test]
fn a_demotion_caps_concurrent_ops_at_the_new_role() {
    let log = group_with_two_of_each();
    let demote = log
        .create_op(
            &identity(OWNER),
            OpKind::Promote {
                user: key(ADMIN_1),
                role: Role::Member,
            },
            2_000,
        )
        .unwrap();
    let add = log
        .create_op(
            &identity(ADMIN_1),
            OpKind::Add {
                user: key(NEWCOMER),
                role: Role::Member,
            },
            2_000,
        )
        .unwrap();
    // Leaving needs no more than member: it stands.
    let leave = log
        .create_op(&identity(ADMIN_1), OpKind::Leave { successor: None }, 2_000)
        .unwrap();
    let summary = converge(&log, &[], &[demote.clone(), add.clone(), leave.clone()]);
    // The add is capped by the demotion (and by the author's own concurrent leave).
    assert!(
        summary
            .effects
            .iter()
            .any(|(hash, effect)| *hash == add.hash() && matches!(effect, Effect::Ignored(_)))
    );
    assert!(summary.effects.contains(&(leave.hash(), Effect::Applied)));
    assert!(!summary.state.is_member(&key(ADMIN_1)));
    assert!(!summary.state.is_member(&key(NEWCOMER)));
}

#[test]
fn five_concurrent_edits_by_four_authors_converge_in_all_120_orders() {
    let mut log = group_with_two_of_each();
    let base = vec![act(
        &mut log,
        &identity(ADMIN_2),
        OpKind::Add {
            user: key(20),
            role: Role::Member,
        },
        1_500,
    )];
    let concurrent = vec![
        log.create_op(
            &identity(OWNER),
            OpKind::Promote {
                user: key(ADMIN_2),
                role: Role::Member,
            },
            2_000,
        )
        .unwrap(),
        log.create_op(
            &identity(ADMIN_2),
            OpKind::Remove { user: key(MEMBER) },
            2_000,
        )
        .unwrap(),
        log.create_op(&identity(MEMBER), OpKind::Leave { successor: None }, 2_000)
            .unwrap(),
        log.create_op(&identity(ADMIN_1), OpKind::Remove { user: key(20) }, 2_000)
            .unwrap(),
        log.create_op(
            &identity(OWNER_2),
            OpKind::Rename {
                name: "five".into(),
            },
            2_000,
        )
        .unwrap(),
    ];
    let summary = converge(&log, &base, &concurrent);
    assert_eq!(summary.state.role(&key(ADMIN_2)), Some(Role::Member));
    assert!(!summary.state.is_member(&key(MEMBER)));
    assert!(!summary.state.is_member(&key(20)));
    assert_eq!(summary.state.name(), "five");
}

#[test]
fn ops_with_unknown_parents_wait_and_apply_when_the_parents_arrive() {
    let mut log = group_with_two_of_each();
    let first = act(
        &mut log,
        &identity(ADMIN_1),
        OpKind::Add {
            user: key(20),
            role: Role::Member,
        },
        2_000,
    );
    let second = act(
        &mut log,
        &identity(ADMIN_1),
        OpKind::Add {
            user: key(21),
            role: Role::Member,
        },
        3_000,
    );
    let third = act(
        &mut log,
        &identity(20),
        OpKind::Leave { successor: None },
        4_000,
    );

    let mut replica = GroupLog::new(log.genesis().clone()).unwrap();
    assert_eq!(
        replica.apply(third.clone()).unwrap(),
        Applied::Pending {
            hash: third.hash(),
            missing: vec![second.hash()]
        }
    );
    assert_eq!(
        replica.apply(second.clone()).unwrap(),
        Applied::Pending {
            hash: second.hash(),
            missing: vec![first.hash()]
        }
    );
    assert_eq!(replica.pending().count(), 2);
    assert_eq!(replica.missing(), BTreeSet::from([first.hash()]));
    assert_eq!(replica.state().epoch(), 0);
    assert_eq!(
        replica.apply(third.clone()).unwrap(),
        Applied::Duplicate { hash: third.hash() }
    );

    match replica.apply(first.clone()).unwrap() {
        Applied::Accepted {
            hash,
            effect,
            released,
            rejected,
        } => {
            assert_eq!(hash, first.hash());
            assert_eq!(effect, Effect::Applied);
            assert_eq!(released, vec![second.hash(), third.hash()]);
            assert!(rejected.is_empty());
        }
        other => panic!("expected accepted, got {other:?}"),
    }
    assert_eq!(replica.pending().count(), 0);
    assert!(replica.missing().is_empty());
    assert_eq!(summary(&replica), summary(&log));
    assert_eq!(replica.state().epoch(), 3);
}

#[test]
fn a_restart_replays_the_stored_ops_in_one_batch() {
    let mut log = group_with_two_of_each();
    for index in 0..30 {
        act(
            &mut log,
            &identity(ADMIN_1),
            OpKind::Add {
                user: key(100 + index),
                role: Role::Member,
            },
            2_000,
        );
    }
    let stored: Vec<SignedOp> = log.ops().cloned().collect();
    let mut restarted = GroupLog::new(log.genesis().clone()).unwrap();
    for result in restarted.apply_all(stored.into_iter().rev()) {
        assert!(matches!(
            result.unwrap(),
            Applied::Accepted {
                effect: Effect::Applied,
                ..
            } | Applied::Pending { .. }
        ));
    }
    assert_eq!(summary(&restarted), summary(&log));
}
