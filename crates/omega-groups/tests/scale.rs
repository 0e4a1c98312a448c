//! Groups at the size limit: the state of 1,000 members computes, and a log of thousands of ops
//! replays. Times are printed (no assertions on them).

mod common;

use std::time::Instant;

use common::*;
use omega_groups::{GroupLog, GroupView, MAX_MEMBERS, OpKind, Role, SignedOp};
use rand::Rng;
use rand::seq::SliceRandom;

#[test]
fn a_1000_member_group_computes() {
    let started = Instant::now();
    let members: Vec<(u32, Role)> = (1..MAX_MEMBERS as u32)
        .map(|index| {
            (
                index,
                if index < 10 {
                    Role::Admin
                } else {
                    Role::Member
                },
            )
        })
        .collect();
    let log = group(&members);
    let created = started.elapsed();
    assert_eq!(log.state().n_members(), 1_000);
    let started = Instant::now();
    let replica =
        GroupLog::new(omega_groups::decode_genesis(&log.genesis().to_bytes()).unwrap()).unwrap();
    let received = started.elapsed();
    assert_eq!(replica.state(), log.state());
    let view = GroupView::of(&replica);
    assert_eq!(view.members.len(), 1_000);
    eprintln!(
        "1000-member genesis: {} bytes, created in {created:?}, decoded and verified in {received:?}",
        log.genesis().to_bytes().len()
    );
}

#[test]
fn a_log_of_thousands_of_ops_replays() {
    let mut rng = rng(42);
    let admins: Vec<u32> = (1..=5).collect();
    let mut members: Vec<(u32, Role)> = admins.iter().map(|admin| (*admin, Role::Admin)).collect();
    members.extend((6..900).map(|index| (index, Role::Member)));
    let mut log = group(&members);
    let mut ops: Vec<SignedOp> = Vec::new();
    let mut next_user = 10_000u32;
    let started = Instant::now();
    // Rounds of up to 3 concurrent ops by different admins, then the round is applied.
    while ops.len() < 3_000 {
        let mut round = Vec::new();
        let mut authors = admins.clone();
        authors.shuffle(&mut rng);
        for author in authors.into_iter().take(rng.gen_range(1..=3)) {
            let kind = if rng.gen_bool(0.5) || log.state().n_members() < 500 {
                next_user += 1;
                if log.state().n_members() >= MAX_MEMBERS {
                    continue;
                }
                OpKind::Add {
                    user: key(next_user),
                    role: Role::Member,
                }
            } else {
                let candidates: Vec<_> = log
                    .state()
                    .members()
                    .iter()
                    .filter(|(_, role)| **role == Role::Member)
                    .map(|(user, _)| *user)
                    .collect();
                OpKind::Remove {
                    user: candidates[rng.gen_range(0..candidates.len())],
                }
            };
            round.push(
                log.create_op(&identity(author), kind, 2_000 + ops.len() as u64)
                    .unwrap(),
            );
        }
        for op in round {
            let _ = log.apply(op.clone()).unwrap();
            ops.push(op);
        }
    }
    let built = started.elapsed();
    let n_concurrent = ops.iter().filter(|op| op.op().parents.len() > 1).count();

    let started = Instant::now();
    let in_order = replay(&log, &ops);
    let replayed = started.elapsed();
    assert_eq!(summary(&in_order), summary(&log));

    let mut shuffled = ops.clone();
    shuffled.shuffle(&mut rng);
    let started = Instant::now();
    let mut batch = GroupLog::new(log.genesis().clone()).unwrap();
    for result in batch.apply_all(shuffled) {
        let _ = result.unwrap();
    }
    let batched = started.elapsed();
    assert_eq!(summary(&batch), summary(&log));

    eprintln!(
        "{} ops ({n_concurrent} merging concurrent heads), {} members, epoch {}: authored and applied in {built:?}, replayed one by one in {replayed:?}, shuffled batch in {batched:?}",
        ops.len(),
        log.state().n_members(),
        log.state().epoch()
    );
}
