//! Shared helpers: deterministic identities, raw (unchecked) ops, replicas, permutations.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use omega_crypto::{UserIdentity, UserKey};
use omega_groups::{Effect, GroupLog, GroupState, Op, OpHash, OpKind, Role, SignedOp};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// A deterministic identity per index.
pub fn identity(index: u32) -> UserIdentity {
    let mut secret = [0u8; 32];
    secret[..4].copy_from_slice(&index.to_be_bytes());
    secret[31] = 0x5a;
    UserIdentity::from_secret_bytes(&secret)
}

pub fn key(index: u32) -> UserKey {
    identity(index).public_key()
}

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// A group created by `identity(0)` with the given others.
pub fn group(members: &[(u32, Role)]) -> GroupLog {
    let members: BTreeMap<UserKey, Role> = members
        .iter()
        .map(|(index, role)| (key(*index), *role))
        .collect();
    GroupLog::create(&identity(0), "test group", members, 1_000, &mut rng(7)).unwrap()
}

/// Lamport clock of an entry of `log` (0 for the genesis).
pub fn lamport(log: &GroupLog, hash: &OpHash) -> u64 {
    log.op(hash).map_or(0, |signed| signed.op().lamport)
}

/// Signs an op by `author` with the given parents, whatever the author's rights.
pub fn raw_op_on(
    log: &GroupLog,
    author: &UserIdentity,
    parents: BTreeSet<OpHash>,
    kind: OpKind,
    now_ms: u64,
) -> SignedOp {
    let lamport = parents.iter().map(|hash| lamport(log, hash)).max().unwrap() + 1;
    Op {
        group_id: log.group_id(),
        author: author.public_key(),
        parents,
        lamport,
        timestamp_ms: now_ms,
        kind,
    }
    .sign(author)
    .unwrap()
}

/// Signs an op by `author` on top of `log`'s heads, whatever the author's rights.
pub fn raw_op(log: &GroupLog, author: &UserIdentity, kind: OpKind, now_ms: u64) -> SignedOp {
    raw_op_on(log, author, log.heads().clone(), kind, now_ms)
}

/// Makes (checked) and applies an op; returns it.
pub fn act(log: &mut GroupLog, author: &UserIdentity, kind: OpKind, now_ms: u64) -> SignedOp {
    let signed = log.create_op(author, kind, now_ms).unwrap();
    let _ = log.apply(signed.clone()).unwrap();
    signed
}

/// Everything two replicas must agree on.
#[derive(Debug, PartialEq, Eq)]
pub struct Summary {
    pub state: GroupState,
    pub effects: Vec<(OpHash, Effect)>,
    pub heads: BTreeSet<OpHash>,
}

pub fn summary(log: &GroupLog) -> Summary {
    Summary {
        state: log.state().clone(),
        effects: log
            .ops()
            .map(|signed| (signed.hash(), log.effect(&signed.hash()).unwrap()))
            .collect(),
        heads: log.heads().clone(),
    }
}

/// A fresh replica of `log`'s genesis that receives `ops` one by one, in that order.
pub fn replay(log: &GroupLog, ops: &[SignedOp]) -> GroupLog {
    let mut replica = GroupLog::new(log.genesis().clone()).unwrap();
    for op in ops {
        let _ = replica.apply(op.clone()).unwrap();
    }
    assert_eq!(replica.pending().count(), 0, "ops still pending");
    replica
}

/// Every permutation of `items` (Heap's algorithm).
pub fn permutations<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
    fn heap<T: Clone>(k: usize, items: &mut Vec<T>, out: &mut Vec<Vec<T>>) {
        if k <= 1 {
            out.push(items.clone());
            return;
        }
        heap(k - 1, items, out);
        for i in 0..k - 1 {
            if k.is_multiple_of(2) {
                items.swap(i, k - 1);
            } else {
                items.swap(0, k - 1);
            }
            heap(k - 1, items, out);
        }
    }
    let mut out = Vec::new();
    heap(items.len(), &mut items.to_vec(), &mut out);
    out
}

/// Delivers `base` then every permutation of `concurrent` to fresh replicas; asserts they all
/// agree with each other and with a batch resolution; returns the common summary.
pub fn converge(log: &GroupLog, base: &[SignedOp], concurrent: &[SignedOp]) -> Summary {
    let mut all = base.to_vec();
    all.extend_from_slice(concurrent);
    let mut batch = GroupLog::new(log.genesis().clone()).unwrap();
    for result in batch.apply_all(all.iter().rev().cloned()) {
        let _ = result.unwrap();
    }
    let expected = summary(&batch);
    let orders = permutations(concurrent);
    for order in &orders {
        let mut ops = base.to_vec();
        ops.extend_from_slice(order);
        assert_eq!(summary(&replay(log, &ops)), expected);
    }
    eprintln!(
        "{} delivery orders of {} concurrent ops converge",
        orders.len(),
        concurrent.len()
    );
    expected
}
