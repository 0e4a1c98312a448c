//! Who may do what: the rules of the crate docs' table, one behaviour per test.

mod common;

use common::*;
use omega_groups::{
    Applied, CreateError, Effect, GroupLog, IgnoreReason, MAX_MEMBERS, OpKind, Role,
};

const OWNER: u32 = 0;
const ADMIN: u32 = 1;
const MEMBER: u32 = 2;

fn group_of_20() -> GroupLog {
    let mut members = vec![(ADMIN, Role::Admin)];
    members.extend((2..20).map(|index| (index, Role::Member)));
    group(&members)
}

/// Applies a raw op and returns its effect.
fn effect_of(log: &mut GroupLog, author: u32, kind: OpKind) -> Effect {
    let signed = raw_op(log, &identity(author), kind, 5_000);
    match log.apply(signed).unwrap() {
        Applied::Accepted { effect, .. } => effect,
        other => panic!("expected accepted, got {other:?}"),
    }
}

#[test]
fn owner_creates_a_group_of_20() {
    let log = group_of_20();
    let state = log.state();
    assert_eq!(state.n_members(), 20);
    assert_eq!(state.role(&key(OWNER)), Some(Role::Owner));
    assert_eq!(state.role(&key(ADMIN)), Some(Role::Admin));
    assert_eq!(state.role(&key(MEMBER)), Some(Role::Member));
    assert_eq!(state.n_owners(), 1);
    assert_eq!(state.epoch(), 0);
    assert_eq!(state.name(), "test group");
    assert_eq!(log.heads().len(), 1);
    assert!(log.group_id().topic().starts_with("/omega/group/"));
}

#[test]
fn admin_adds_and_removes_members() {
    let mut log = group_of_20();
    act(
        &mut log,
        &identity(ADMIN),
        OpKind::Add {
            user: key(50),
            role: Role::Member,
        },
        2_000,
    );
    assert_eq!(log.state().role(&key(50)), Some(Role::Member));
    assert_eq!(log.state().epoch(), 1);
    act(
        &mut log,
        &identity(ADMIN),
        OpKind::Remove { user: key(MEMBER) },
        3_000,
    );
    assert!(!log.state().is_member(&key(MEMBER)));
    assert_eq!(log.state().epoch(), 2);
    assert_eq!(log.state().n_members(), 20);
}

#[test]
fn a_member_cannot_add_the_op_is_kept_without_effect() {
    let mut log = group_of_20();
    let add = OpKind::Add {
        user: key(50),
        role: Role::Member,
    };
    // Refused when authoring...
    assert_eq!(
        log.create_op(&identity(MEMBER), add.clone(), 2_000),
        Err(CreateError::Unauthorized(IgnoreReason::NotPermitted))
    );
    // ...and without effect when someone signs it anyway.
    let before = log.state().clone();
    assert_eq!(
        effect_of(&mut log, MEMBER, add),
        Effect::Ignored(IgnoreReason::NotPermitted)
    );
    assert_eq!(log.state(), &before);
    assert_eq!(log.n_ops(), 1);
}

#[test]
fn an_admin_cannot_remove_or_demote_an_admin_or_an_owner() {
    let mut log = group(&[
        (ADMIN, Role::Admin),
        (3, Role::Admin),
        (MEMBER, Role::Member),
    ]);
    let before = log.state().clone();
    for kind in [
        OpKind::Remove { user: key(3) },
        OpKind::Remove { user: key(OWNER) },
        OpKind::Promote {
            user: key(3),
            role: Role::Member,
        },
        OpKind::Promote {
            user: key(MEMBER),
            role: Role::Admin,
        },
        OpKind::Add {
            user: key(60),
            role: Role::Admin,
        },
    ] {
        assert_eq!(
            effect_of(&mut log, ADMIN, kind),
            Effect::Ignored(IgnoreReason::NotPermitted)
        );
    }
    assert_eq!(log.state(), &before);
}

#[test]
fn only_owners_promote_and_demote() {
    let mut log = group_of_20();
    assert_eq!(
        effect_of(
            &mut log,
            ADMIN,
            OpKind::Promote {
                user: key(MEMBER),
                role: Role::Admin
            }
        ),
        Effect::Ignored(IgnoreReason::NotPermitted)
    );
    act(
        &mut log,
        &identity(OWNER),
        OpKind::Promote {
            user: key(MEMBER),
            role: Role::Admin,
        },
        3_000,
    );
    assert_eq!(log.state().role(&key(MEMBER)), Some(Role::Admin));
    act(
        &mut log,
        &identity(OWNER),
        OpKind::Promote {
            user: key(ADMIN),
            role: Role::Member,
        },
        4_000,
    );
    assert_eq!(log.state().role(&key(ADMIN)), Some(Role::Member));
    // Role changes are not membership changes.
    assert_eq!(log.state().epoch(), 0);
    // The demoted admin lost its powers.
    assert_eq!(
        effect_of(&mut log, ADMIN, OpKind::Remove { user: key(5) }),
        Effect::Ignored(IgnoreReason::NotPermitted)
    );
}

#[test]
fn owners_remove_admins_and_other_owners() {
    let mut log = group(&[(ADMIN, Role::Admin), (3, Role::Owner)]);
    act(
        &mut log,
        &identity(OWNER),
        OpKind::Remove { user: key(ADMIN) },
        2_000,
    );
    act(
        &mut log,
        &identity(OWNER),
        OpKind::Remove { user: key(3) },
        3_000,
    );
    assert_eq!(log.state().n_members(), 1);
    assert_eq!(log.state().n_owners(), 1);
}

#[test]
fn the_last_owner_leaves_only_by_naming_a_successor() {
    let mut log = group(&[(ADMIN, Role::Admin), (MEMBER, Role::Member)]);
    assert_eq!(
        log.create_op(&identity(OWNER), OpKind::Leave { successor: None }, 2_000),
        Err(CreateError::Unauthorized(IgnoreReason::LastOwner))
    );
    assert_eq!(
        effect_of(
            &mut log,
            OWNER,
            OpKind::Promote {
                user: key(OWNER),
                role: Role::Admin
            }
        ),
        Effect::Ignored(IgnoreReason::LastOwner)
    );
    assert_eq!(
        effect_of(
            &mut log,
            OWNER,
            OpKind::Leave {
                successor: Some(key(77))
            }
        ),
        Effect::Ignored(IgnoreReason::BadSuccessor)
    );
    act(
        &mut log,
        &identity(OWNER),
        OpKind::Leave {
            successor: Some(key(MEMBER)),
        },
        3_000,
    );
    assert!(!log.state().is_member(&key(OWNER)));
    assert_eq!(log.state().role(&key(MEMBER)), Some(Role::Owner));
    assert_eq!(log.state().n_owners(), 1);
    // A non-owner cannot name a successor.
    assert_eq!(
        effect_of(
            &mut log,
            ADMIN,
            OpKind::Leave {
                successor: Some(key(MEMBER))
            }
        ),
        Effect::Ignored(IgnoreReason::BadSuccessor)
    );
}

#[test]
fn members_leave_and_nobody_removes_themselves() {
    let mut log = group_of_20();
    assert_eq!(
        effect_of(&mut log, ADMIN, OpKind::Remove { user: key(ADMIN) }),
        Effect::Ignored(IgnoreReason::NotPermitted)
    );
    act(
        &mut log,
        &identity(MEMBER),
        OpKind::Leave { successor: None },
        2_000,
    );
    assert!(!log.state().is_member(&key(MEMBER)));
    // Gone members can do nothing, leaving again included.
    assert_eq!(
        effect_of(&mut log, MEMBER, OpKind::Leave { successor: None }),
        Effect::Ignored(IgnoreReason::NotAMember)
    );
}

#[test]
fn renames_need_an_admin_and_a_valid_name() {
    let mut log = group_of_20();
    assert_eq!(
        effect_of(
            &mut log,
            MEMBER,
            OpKind::Rename {
                name: "mine".into()
            }
        ),
        Effect::Ignored(IgnoreReason::NotPermitted)
    );
    act(
        &mut log,
        &identity(ADMIN),
        OpKind::Rename {
            name: "ours".into(),
        },
        2_000,
    );
    assert_eq!(log.state().name(), "ours");
    assert!(matches!(
        log.create_op(
            &identity(ADMIN),
            OpKind::Rename {
                name: "x".repeat(129)
            },
            3_000
        ),
        Err(CreateError::Invalid(_))
    ));
    assert!(matches!(
        log.create_op(
            &identity(ADMIN),
            OpKind::Rename {
                name: "a\nb".into()
            },
            3_000
        ),
        Err(CreateError::Invalid(_))
    ));
}

#[test]
fn adding_beyond_the_member_limit_has_no_effect() {
    let members: Vec<(u32, Role)> = (1..MAX_MEMBERS as u32)
        .map(|index| (index, Role::Member))
        .collect();
    let mut log = group(&members);
    assert_eq!(log.state().n_members(), MAX_MEMBERS);
    assert_eq!(
        effect_of(
            &mut log,
            OWNER,
            OpKind::Add {
                user: key(5_000),
                role: Role::Member
            }
        ),
        Effect::Ignored(IgnoreReason::GroupFull)
    );
    act(
        &mut log,
        &identity(OWNER),
        OpKind::Remove { user: key(1) },
        3_000,
    );
    act(
        &mut log,
        &identity(OWNER),
        OpKind::Add {
            user: key(5_000),
            role: Role::Member,
        },
        4_000,
    );
    assert_eq!(log.state().n_members(), MAX_MEMBERS);
}

#[test]
fn a_removed_member_can_be_added_again() {
    let mut log = group_of_20();
    act(
        &mut log,
        &identity(ADMIN),
        OpKind::Remove { user: key(MEMBER) },
        2_000,
    );
    act(
        &mut log,
        &identity(ADMIN),
        OpKind::Add {
            user: key(MEMBER),
            role: Role::Member,
        },
        3_000,
    );
    assert!(log.state().is_member(&key(MEMBER)));
    // Ops authored after the re-add count again.
    act(
        &mut log,
        &identity(MEMBER),
        OpKind::Leave { successor: None },
        4_000,
    );
    assert!(!log.state().is_member(&key(MEMBER)));
    assert_eq!(log.state().epoch(), 3);
}
