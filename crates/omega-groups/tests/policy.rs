//! Sender-key rotation and key recipients.

mod common;

use std::collections::BTreeSet;

use common::*;
use omega_groups::{
    OpKind, OutboundSessionInfo, ROTATE_AFTER_MESSAGES, ROTATE_AFTER_MS, RekeyError, Role,
    RotateReason, SendDecision, SenderKeyPolicy, SessionBinding, plan_rekey,
};

const OWNER: u32 = 0;
const ADMIN: u32 = 1;
const MEMBER: u32 = 2;
const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// Two devices per user: `(user index, 0)` and `(user index, 1)`.
fn devices_of(user: &omega_crypto::UserKey) -> Vec<(String, u8)> {
    vec![(user.user_id(), 0), (user.user_id(), 1)]
}

#[test]
fn rotation_after_100_messages() {
    let log = group(&[(ADMIN, Role::Admin)]);
    let policy = SenderKeyPolicy::default();
    let mut session = OutboundSessionInfo {
        binding: SessionBinding::of(log.state()),
        created_ms: 1_000,
        messages_sent: 0,
    };
    for _ in 0..ROTATE_AFTER_MESSAGES {
        assert_eq!(
            policy.decide(&key(OWNER), log.state(), Some(&session), 2_000),
            SendDecision::Reuse
        );
        session.messages_sent += 1;
    }
    assert_eq!(session.messages_sent, 100);
    assert_eq!(
        policy.decide(&key(OWNER), log.state(), Some(&session), 2_000),
        SendDecision::Rotate(RotateReason::MessageLimit)
    );
}

#[test]
fn rotation_after_7_days() {
    let log = group(&[(ADMIN, Role::Admin)]);
    let policy = SenderKeyPolicy::default();
    assert_eq!(ROTATE_AFTER_MS, 7 * DAY_MS);
    let created_ms = 1_700_000_000_000;
    let session = OutboundSessionInfo {
        binding: SessionBinding::of(log.state()),
        created_ms,
        messages_sent: 3,
    };
    let decide = |now_ms| policy.decide(&key(OWNER), log.state(), Some(&session), now_ms);
    assert_eq!(decide(created_ms + 7 * DAY_MS - 1), SendDecision::Reuse);
    assert_eq!(
        decide(created_ms + 7 * DAY_MS),
        SendDecision::Rotate(RotateReason::MaxAge)
    );
    assert_eq!(
        decide(created_ms - 1),
        SendDecision::Rotate(RotateReason::ClockWentBack)
    );
}

#[test]
fn rotation_on_any_membership_change_and_none_on_a_role_change() {
    let mut log = group(&[(ADMIN, Role::Admin), (MEMBER, Role::Member)]);
    let policy = SenderKeyPolicy::default();
    assert_eq!(
        policy.decide(&key(OWNER), log.state(), None, 0),
        SendDecision::Rotate(RotateReason::NoSession)
    );
    let session = OutboundSessionInfo {
        binding: SessionBinding::of(log.state()),
        created_ms: 0,
        messages_sent: 0,
    };
    act(
        &mut log,
        &identity(OWNER),
        OpKind::Promote {
            user: key(MEMBER),
            role: Role::Admin,
        },
        1,
    );
    assert_eq!(
        policy.decide(&key(OWNER), log.state(), Some(&session), 2),
        SendDecision::Reuse
    );
    act(
        &mut log,
        &identity(ADMIN),
        OpKind::Add {
            user: key(9),
            role: Role::Member,
        },
        3,
    );
    assert_eq!(
        policy.decide(&key(OWNER), log.state(), Some(&session), 4),
        SendDecision::Rotate(RotateReason::MembershipChanged)
    );
}

#[test]
fn same_epoch_with_another_roster_still_rotates() {
    let log = group(&[(ADMIN, Role::Admin), (MEMBER, Role::Member)]);
    let stale = OutboundSessionInfo {
        binding: SessionBinding {
            epoch: log.state().epoch(),
            roster: omega_groups::RosterDigest([0; 32]),
        },
        created_ms: 0,
        messages_sent: 0,
    };
    assert_eq!(
        SenderKeyPolicy::default().decide(&key(OWNER), log.state(), Some(&stale), 1),
        SendDecision::Rotate(RotateReason::MembershipChanged)
    );
}

#[test]
fn the_removed_member_is_not_among_the_next_epochs_recipients() {
    let mut log = group(&[
        (ADMIN, Role::Admin),
        (MEMBER, Role::Member),
        (3, Role::Member),
    ]);
    let me = (key(OWNER).user_id(), 0u8);
    let before = plan_rekey(log.state(), &key(OWNER), &me, &BTreeSet::new(), devices_of).unwrap();
    assert!(before.includes_user(&key(MEMBER)));
    // 4 users × 2 devices, minus the sending device.
    assert_eq!(before.recipients.len(), 7);
    assert!(
        before
            .recipients
            .iter()
            .any(|r| r.user == key(OWNER) && r.device.1 == 1)
    );
    let previous: BTreeSet<_> = before.recipients.iter().map(|r| r.user).collect();

    act(
        &mut log,
        &identity(ADMIN),
        OpKind::Remove { user: key(MEMBER) },
        2_000,
    );
    let session = OutboundSessionInfo {
        binding: before.binding,
        created_ms: 0,
        messages_sent: 1,
    };
    assert_eq!(
        SenderKeyPolicy::default().decide(&key(OWNER), log.state(), Some(&session), 2_001),
        SendDecision::Rotate(RotateReason::MembershipChanged)
    );
    let after = plan_rekey(log.state(), &key(OWNER), &me, &previous, devices_of).unwrap();
    assert!(!after.includes_user(&key(MEMBER)));
    assert_eq!(after.removed_since, vec![key(MEMBER)]);
    assert_eq!(after.recipients.len(), 5);
    assert_ne!(after.binding, before.binding);
}

#[test]
fn a_non_member_neither_sends_nor_shares_keys() {
    let mut log = group(&[(ADMIN, Role::Admin), (MEMBER, Role::Member)]);
    act(
        &mut log,
        &identity(ADMIN),
        OpKind::Remove { user: key(MEMBER) },
        2_000,
    );
    assert_eq!(
        SenderKeyPolicy::default().decide(&key(MEMBER), log.state(), None, 2_001),
        SendDecision::NotAMember
    );
    assert_eq!(
        plan_rekey(
            log.state(),
            &key(MEMBER),
            &(String::new(), 0),
            &BTreeSet::new(),
            devices_of
        ),
        Err(RekeyError::NotAMember)
    );
}
