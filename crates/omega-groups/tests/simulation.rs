//! Random concurrent histories: several authors edit from their own replicas while ops are
//! gossiped in random order; in the end every replica holds every op and all agree, with each
//! other and with a batch resolution. A failure prints its seed.

mod common;

use std::collections::BTreeMap;

use common::*;
use omega_groups::{GroupLog, OpKind, Role, SignedOp};
use proptest::prelude::*;
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

/// Actors 0..=7 start in the group; 8..=11 may be added.
const N_ACTORS: u32 = 12;

fn random_role(rng: &mut StdRng) -> Role {
    [Role::Member, Role::Member, Role::Admin, Role::Owner][rng.gen_range(0..4)]
}

fn random_kind(rng: &mut StdRng, author: u32) -> OpKind {
    let user = key(rng.gen_range(0..N_ACTORS));
    match rng.gen_range(0..10) {
        0..=3 => OpKind::Add {
            user,
            role: random_role(rng),
        },
        4..=5 => OpKind::Remove { user },
        6 | 7 => OpKind::Promote {
            user,
            role: random_role(rng),
        },
        8 => OpKind::Leave {
            successor: rng.gen_bool(0.5).then(|| key(rng.gen_range(0..N_ACTORS))),
        },
        _ => OpKind::Rename {
            name: format!("renamed by {author}"),
        },
    }
}

/// Mostly an admin or owner in its own replica, else a member, sometimes anyone: so that many
/// ops are authorized where they were made, and many conflict.
fn random_author(rng: &mut StdRng, replicas: &[GroupLog]) -> u32 {
    let role = |actor: u32| replicas[actor as usize].state().role(&key(actor));
    let managers: Vec<u32> = (0..N_ACTORS)
        .filter(|actor| role(*actor) >= Some(Role::Admin))
        .collect();
    let members: Vec<u32> = (0..N_ACTORS)
        .filter(|actor| role(*actor).is_some())
        .collect();
    let pick = |rng: &mut StdRng, from: &[u32]| from[rng.gen_range(0..from.len())];
    match rng.gen_range(0..10) {
        0..=6 if !managers.is_empty() => pick(rng, &managers),
        0..=8 if !members.is_empty() => pick(rng, &members),
        _ => rng.gen_range(0..N_ACTORS),
    }
}

/// Runs one history; returns how many ops ended with each effect.
fn simulate(seed: u64, n_steps: usize) -> BTreeMap<String, usize> {
    let mut rng = rng(seed);
    let origin = group(&[
        (1, Role::Owner),
        (2, Role::Admin),
        (3, Role::Admin),
        (4, Role::Member),
        (5, Role::Member),
        (6, Role::Member),
        (7, Role::Member),
    ]);
    let mut replicas: Vec<GroupLog> = (0..N_ACTORS).map(|_| origin.clone()).collect();
    let mut pool: Vec<SignedOp> = Vec::new();
    for step in 0..n_steps {
        if rng.gen_bool(0.5) || pool.is_empty() {
            let author = random_author(&mut rng, &replicas);
            let replica = &mut replicas[author as usize];
            let kind = random_kind(&mut rng, author);
            let signed = raw_op(replica, &identity(author), kind, 10_000 + step as u64);
            // Refused only when the author never was a member in its past: then every
            // replica refuses it.
            if replica.apply(signed.clone()).is_ok() {
                pool.push(signed);
            }
        }
        for _ in 0..rng.gen_range(0..4) {
            if pool.is_empty() {
                break;
            }
            let to = rng.gen_range(0..replicas.len());
            let op = pool[rng.gen_range(0..pool.len())].clone();
            let _ = replicas[to]
                .apply(op)
                .expect("an op accepted once is accepted everywhere");
            assert!(
                replicas[to].state().n_owners() >= 1,
                "no owner left (seed {seed})"
            );
        }
    }
    for replica in &mut replicas {
        let mut order = pool.clone();
        order.shuffle(&mut rng);
        for op in order {
            let _ = replica
                .apply(op)
                .expect("an op accepted once is accepted everywhere");
        }
        assert_eq!(replica.pending().count(), 0);
    }
    // Invariants hold on every replica, whatever it has seen.
    for replica in &replicas {
        let state = replica.state();
        let owners = state
            .members()
            .values()
            .filter(|role| **role == Role::Owner)
            .count();
        assert!(owners >= 1, "no owner left (seed {seed})");
        assert_eq!(state.n_owners(), owners);
        assert!(state.n_members() <= omega_groups::MAX_MEMBERS);
    }
    let mut batch = origin.clone();
    let mut order = pool.clone();
    order.shuffle(&mut rng);
    for result in batch.apply_all(order) {
        let _ = result.expect("an op accepted once is accepted everywhere");
    }
    let expected = summary(&batch);
    for (actor, replica) in replicas.iter().enumerate() {
        assert_eq!(
            summary(replica),
            expected,
            "replica {actor} differs (seed {seed})"
        );
    }
    assert!(expected.state.n_owners() >= 1);
    let mut effects = BTreeMap::new();
    for (_, effect) in &expected.effects {
        *effects.entry(format!("{effect:?}")).or_insert(0) += 1;
    }
    effects
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_concurrent_histories_converge(seed in any::<u64>()) {
        let _ = simulate(seed, 60);
    }
}

#[test]
fn a_long_random_history_converges() {
    let effects = simulate(0x0e6a, 400);
    eprintln!("effects after 400 steps: {effects:?}");
    // The history is rich enough to exercise the rules, caps included.
    assert!(effects.contains_key("Applied"));
    assert!(effects.contains_key("Ignored(Superseded)"));
}
