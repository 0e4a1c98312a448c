//! [`GroupLog`]: the DAG of signed operations, the operations waiting for parents, and the
//! resolved state.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use omega_crypto::{UserIdentity, UserKey};
use rand::{CryptoRng, RngCore};

use crate::error::{CreateError, GenesisError, OpError};
use crate::resolve::{self, Effect, GroupState};
use crate::types::{GroupId, Op, OpHash, OpKind, Role, SignedGenesis, SignedOp};
use crate::{MAX_PARENTS, MAX_PENDING};
use fold::Resolution;

mod fold;

/// What [`GroupLog::apply`] did with an operation.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
#[non_exhaustive]
pub enum Applied {
    /// Stored in the log, with its effect in the resolved order as of now (a later operation
    /// can change it: see the crate docs).
    Accepted {
        /// The operation.
        hash: OpHash,
        /// What it does now.
        effect: Effect,
        /// Operations that were waiting for it (directly or not) and are now stored too.
        released: Vec<OpHash>,
        /// Operations that were waiting for it and were refused (with the operations waiting
        /// for them); they are dropped.
        rejected: Vec<(OpHash, OpError)>,
    },
    /// Held until these parents arrive (ask peers for them).
    Pending {
        /// The operation.
        hash: OpHash,
        /// Its parents not known yet.
        missing: Vec<OpHash>,
    },
    /// Already stored or pending: nothing done.
    Duplicate {
        /// The operation.
        hash: OpHash,
    },
}

/// A stored operation and its place in the DAG.
#[derive(Clone)]
struct Node {
    signed: SignedOp,
}

impl Node {
    fn op(&self) -> &Op {
        self.signed.op()
    }
}

/// A group's operation log and the state every member computes from it.
///
/// Feed it every operation received ([`Self::apply`]); read the state ([`Self::state`]); make
/// new operations with [`Self::create_op`] and apply them like any other before publishing.
/// Members holding the same set of operations compute the same state, whatever the order they
/// arrived in.
#[derive(Clone)]
pub struct GroupLog {
    genesis: SignedGenesis,
    group_id: GroupId,
    initial: GroupState,
    nodes: BTreeMap<OpHash, Node>,
    /// Every stored operation (not the genesis) in the resolved order.
    order: BTreeSet<(u64, OpHash)>,
    heads: BTreeSet<OpHash>,
    by_author: BTreeMap<UserKey, Vec<OpHash>>,
    /// The lowest Lamport clock of an operation by, or adding, each user (genesis members: 0).
    first_seen: BTreeMap<UserKey, u64>,
    pending: BTreeMap<OpHash, SignedOp>,
    /// Missing parent → pending operations waiting for it.
    waiting: BTreeMap<OpHash, BTreeSet<OpHash>>,
    resolution: Resolution,
}

impl std::fmt::Debug for GroupLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupLog")
            .field("group_id", &self.group_id)
            .field("n_ops", &self.nodes.len())
            .field("n_pending", &self.pending.len())
            .field("heads", &self.heads)
            .field("state", &self.resolution.state)
            .finish_non_exhaustive()
    }
}

impl GroupLog {
    /// Starts a log from a group's genesis (received in an invitation, or just created).
    pub fn new(genesis: SignedGenesis) -> Result<Self, GenesisError> {
        genesis.genesis().validate()?;
        if !genesis.verify() {
            return Err(GenesisError::BadSignature);
        }
        let initial = GroupState::from_genesis(genesis.genesis());
        let first_seen = initial.members().keys().map(|user| (*user, 0)).collect();
        Ok(Self {
            group_id: genesis.group_id(),
            heads: BTreeSet::from([genesis.group_id().genesis_hash()]),
            genesis,
            resolution: Resolution::new(&initial),
            initial,
            nodes: BTreeMap::new(),
            order: BTreeSet::new(),
            by_author: BTreeMap::new(),
            first_seen,
            pending: BTreeMap::new(),
            waiting: BTreeMap::new(),
        })
    }

    /// Creates a new group with `identity` as its creator and first owner.
    pub fn create<R: RngCore + CryptoRng>(
        identity: &UserIdentity,
        name: &str,
        members: BTreeMap<UserKey, Role>,
        now_ms: u64,
        rng: &mut R,
    ) -> Result<Self, CreateError> {
        let genesis = SignedGenesis::create(identity, name, members, now_ms, rng)?;
        Self::new(genesis).map_err(|error| match error {
            GenesisError::Invalid(invalid) => CreateError::Genesis(invalid),
            // A genesis we just signed verifies; anything else is the signer's key at fault.
            _ => CreateError::NotTheAuthor,
        })
    }

    /// The group's id.
    pub fn group_id(&self) -> GroupId {
        self.group_id
    }

    /// The genesis, to hand to new members with the operations ([`Self::ops`]).
    pub fn genesis(&self) -> &SignedGenesis {
        &self.genesis
    }

    /// The resolved state.
    pub fn state(&self) -> &GroupState {
        &self.resolution.state
    }

    /// The entries no stored operation names as a parent: the parents of the next operation.
    pub fn heads(&self) -> &BTreeSet<OpHash> {
        &self.heads
    }

    /// How many operations are stored (the genesis not counted).
    pub fn n_ops(&self) -> usize {
        self.nodes.len()
    }

    /// Whether an entry (operation or genesis) is stored.
    pub fn contains(&self, hash: &OpHash) -> bool {
        *hash == self.group_id.genesis_hash() || self.nodes.contains_key(hash)
    }

    /// A stored operation.
    pub fn op(&self, hash: &OpHash) -> Option<&SignedOp> {
        self.nodes.get(hash).map(|node| &node.signed)
    }

    /// What a stored operation does in the resolved order.
    pub fn effect(&self, hash: &OpHash) -> Option<Effect> {
        self.resolution.effects.get(hash).copied()
    }

    /// Every stored operation in the resolved order (parents before children): what a new
    /// member needs after the genesis.
    pub fn ops(&self) -> impl Iterator<Item = &SignedOp> + '_ {
        self.order
            .iter()
            .filter_map(|(_, hash)| self.nodes.get(hash).map(|node| &node.signed))
    }

    /// The operations held until their parents arrive.
    pub fn pending(&self) -> impl Iterator<Item = &SignedOp> + '_ {
        self.pending.values()
    }

    /// The parents pending operations wait for that are not themselves pending: what to ask
    /// peers for.
    pub fn missing(&self) -> BTreeSet<OpHash> {
        self.waiting
            .keys()
            .filter(|hash| !self.pending.contains_key(hash))
            .copied()
            .collect()
    }

    /// Makes and signs an operation by `identity` on top of the current heads. Refuses one
    /// that would have no effect in the current state. It is not applied: apply it (and store
    /// it) before publishing it.
    pub fn create_op(
        &self,
        identity: &UserIdentity,
        kind: OpKind,
        now_ms: u64,
    ) -> Result<SignedOp, CreateError> {
        let author = identity.public_key();
        resolve::check(self.state(), &author, &kind).map_err(CreateError::Unauthorized)?;
        let mut heads: Vec<(u64, OpHash)> = self
            .heads
            .iter()
            .map(|hash| (self.lamport(hash), *hash))
            .collect();
        // The highest heads if there are too many: the op still comes last in the order.
        heads.sort_unstable_by(|a, b| b.cmp(a));
        heads.truncate(MAX_PARENTS);
        let lamport = heads.iter().map(|(lamport, _)| *lamport).max().unwrap_or(0) + 1;
        Op {
            group_id: self.group_id,
            author,
            parents: heads.into_iter().map(|(_, hash)| hash).collect(),
            lamport,
            timestamp_ms: now_ms,
            kind,
        }
        .sign(identity)
    }

    /// Checks an operation and stores it (or holds it until its parents arrive), then updates
    /// the state. An operation its author was not allowed to make at its place in the order is
    /// stored with [`Effect::Ignored`], not refused, so that every member keeps the same set.
    pub fn apply(&mut self, signed: SignedOp) -> Result<Applied, OpError> {
        self.apply_inner(signed, false)
    }

    /// Applies many operations (a sync, or a restart from storage) and resolves once at the
    /// end: faster than one [`Self::apply`] each when they arrive out of order. The effects in
    /// the results are those after the last one.
    pub fn apply_all(
        &mut self,
        ops: impl IntoIterator<Item = SignedOp>,
    ) -> Vec<Result<Applied, OpError>> {
        let mut results: Vec<_> = ops
            .into_iter()
            .map(|signed| self.apply_inner(signed, true))
            .collect();
        self.resolve_full();
        for result in &mut results {
            if let Ok(Applied::Accepted { hash, effect, .. }) = result
                && let Some(now) = self.effect(hash)
            {
                *effect = now;
            }
        }
        results
    }

    fn apply_inner(&mut self, signed: SignedOp, defer: bool) -> Result<Applied, OpError> {
        let hash = signed.hash();
        let op = signed.op();
        if op.group_id != self.group_id {
            return Err(OpError::WrongGroup {
                expected: self.group_id,
                got: op.group_id,
            });
        }
        op.validate()?;
        if self.contains(&hash) || self.pending.contains_key(&hash) {
            return Ok(Applied::Duplicate { hash });
        }
        if !signed.verify() {
            return Err(OpError::BadSignature);
        }
        let missing: Vec<OpHash> = op
            .parents
            .iter()
            .filter(|parent| !self.contains(parent))
            .copied()
            .collect();
        if !missing.is_empty() {
            if self.pending.len() >= MAX_PENDING {
                return Err(OpError::PendingFull { max: MAX_PENDING });
            }
            for parent in &missing {
                self.waiting.entry(*parent).or_default().insert(hash);
            }
            self.pending.insert(hash, signed);
            return Ok(Applied::Pending { hash, missing });
        }
        self.insert(signed, defer)?;
        let (released, rejected) = self.release(hash, defer);
        Ok(Applied::Accepted {
            hash,
            effect: self.effect(&hash).unwrap_or(Effect::Applied),
            released,
            rejected,
        })
    }

    /// Stores the pending operations whose last missing parent was `arrived`, and theirs.
    fn release(&mut self, arrived: OpHash, defer: bool) -> (Vec<OpHash>, Vec<(OpHash, OpError)>) {
        let mut released = Vec::new();
        let mut rejected = Vec::new();
        let mut arrivals = vec![arrived];
        while let Some(arrived) = arrivals.pop() {
            for waiter in self.waiting.remove(&arrived).unwrap_or_default() {
                let ready = self.pending.get(&waiter).is_some_and(|signed| {
                    signed
                        .op()
                        .parents
                        .iter()
                        .all(|parent| self.contains(parent))
                });
                if !ready {
                    continue;
                }
                let Some(signed) = self.pending.remove(&waiter) else {
                    continue;
                };
                match self.insert(signed, defer) {
                    Ok(()) => {
                        released.push(waiter);
                        arrivals.push(waiter);
                    }
                    Err(error) => {
                        rejected.push((waiter, error));
                        self.drop_descendants(waiter, &mut rejected);
                    }
                }
            }
        }
        (released, rejected)
    }

    /// Drops the pending operations that wait, directly or not, for the refused `parent`: the
    /// same bytes would be refused again, so they could never be stored.
    fn drop_descendants(&mut self, parent: OpHash, rejected: &mut Vec<(OpHash, OpError)>) {
        let mut refused = vec![parent];
        while let Some(parent) = refused.pop() {
            for waiter in self.waiting.remove(&parent).unwrap_or_default() {
                let Some(signed) = self.pending.remove(&waiter) else {
                    continue;
                };
                for other in &signed.op().parents {
                    if let Some(waiters) = self.waiting.get_mut(other) {
                        waiters.remove(&waiter);
                        if waiters.is_empty() {
                            self.waiting.remove(other);
                        }
                    }
                }
                rejected.push((waiter, OpError::ParentRefused { parent }));
                refused.push(waiter);
            }
        }
    }

    /// Stores an operation whose parents are all stored, and resolves (unless `defer`).
    fn insert(&mut self, signed: SignedOp, defer: bool) -> Result<(), OpError> {
        let hash = signed.hash();
        let op = signed.op();
        let expected = op
            .parents
            .iter()
            .map(|parent| self.lamport(parent))
            .max()
            .unwrap_or(0)
            .saturating_add(1);
        if op.lamport != expected {
            return Err(OpError::BadLamport {
                expected,
                got: op.lamport,
            });
        }
        if !self.author_known(op) {
            return Err(OpError::UnknownAuthor);
        }
        let key = (op.lamport, hash);
        let previous_last = self.order.last().copied();
        let comes_last = previous_last.is_none_or(|last| key > last);
        for parent in &op.parents {
            self.heads.remove(parent);
        }
        self.heads.insert(hash);
        self.order.insert(key);
        self.by_author.entry(op.author).or_default().push(hash);
        let mut seen = vec![op.author];
        if let OpKind::Add { user, .. } = &op.kind {
            seen.push(*user);
        }
        for user in seen {
            let first = self.first_seen.entry(user).or_insert(op.lamport);
            *first = (*first).min(op.lamport);
        }
        let lamport = op.lamport;
        self.nodes.insert(hash, Node { signed });
        if !defer {
            let starts_a_level = previous_last.is_none_or(|(last, _)| lamport > last);
            self.resolve_after_insert(hash, comes_last, starts_a_level);
        }
        Ok(())
    }

    /// The Lamport clock of a stored entry (0 for the genesis or an unknown hash).
    fn lamport(&self, hash: &OpHash) -> u64 {
        self.nodes.get(hash).map_or(0, |node| node.op().lamport)
    }

    /// Whether the author appears in the operation's past: a genesis member, or the author or
    /// the target of an `Add` among its ancestors.
    fn author_known(&self, op: &Op) -> bool {
        let author = op.author;
        if self.initial.is_member(&author) {
            return true;
        }
        let Some(&first) = self.first_seen.get(&author) else {
            return false;
        };
        let mut stack: Vec<OpHash> = op.parents.iter().copied().collect();
        let mut visited = HashSet::new();
        while let Some(hash) = stack.pop() {
            let Some(node) = self.nodes.get(&hash) else {
                continue;
            };
            if !visited.insert(hash) {
                continue;
            }
            let ancestor = node.op();
            let adds_author = matches!(&ancestor.kind, OpKind::Add { user, .. } if *user == author);
            if ancestor.author == author || adds_author {
                return true;
            }
            if ancestor.lamport > first {
                stack.extend(ancestor.parents.iter().copied());
            }
        }
        false
    }
}
