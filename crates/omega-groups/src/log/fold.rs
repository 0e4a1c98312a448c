//! Resolution: the two passes over the order described in the crate docs, from scratch, for
//! one new last operation, or from the start of the last Lamport level.

use std::collections::{BTreeMap, HashSet};

use omega_crypto::UserKey;

use super::GroupLog;
use crate::resolve::{self, Effect, GroupState};
use crate::types::{OpHash, Role};

/// A removal or demotion effective in the uncapped pass.
#[derive(Clone, Copy)]
struct Reduction {
    op: OpHash,
    lamport: u64,
    after: Option<Role>,
}

/// Both passes' states after every operation below a Lamport level: where a re-resolution of
/// that level starts.
#[derive(Clone)]
struct Checkpoint {
    level: u64,
    uncapped: GroupState,
    state: GroupState,
}

/// The result of resolving the log.
#[derive(Clone)]
pub(super) struct Resolution {
    /// The state of the first, uncapped pass.
    uncapped: GroupState,
    /// Removals and demotions effective in the first pass, by the member they lower.
    reductions: BTreeMap<UserKey, Vec<Reduction>>,
    /// The state of the second pass: the group's state.
    pub(super) state: GroupState,
    /// Each operation's effect in the second pass.
    pub(super) effects: BTreeMap<OpHash, Effect>,
    checkpoint: Option<Checkpoint>,
}

impl Resolution {
    pub(super) fn new(initial: &GroupState) -> Self {
        Self {
            uncapped: initial.clone(),
            reductions: BTreeMap::new(),
            state: initial.clone(),
            effects: BTreeMap::new(),
            checkpoint: None,
        }
    }
}

impl GroupLog {
    /// Updates the resolution after storing `hash` (nothing stored descends from it yet), by
    /// the cheapest path that gives the same result as [`Self::resolve_full`]:
    ///
    /// - it comes last in the order and lowers nobody with a concurrent operation: one step of
    ///   each pass ([`Self::resolve_last`]);
    /// - it belongs to the last Lamport level, and no operation of that level lowers someone
    ///   with a concurrent operation below the level: both passes over that level only
    ///   ([`Self::resolve_level`]);
    /// - otherwise from scratch.
    pub(super) fn resolve_after_insert(
        &mut self,
        hash: OpHash,
        comes_last: bool,
        starts_level: bool,
    ) {
        let lamport = self.lamport(&hash);
        if comes_last && !self.lowers_author_of_concurrent_op(&hash, u64::MAX) {
            if starts_level {
                self.resolution.checkpoint = Some(Checkpoint {
                    level: lamport,
                    uncapped: self.resolution.uncapped.clone(),
                    state: self.resolution.state.clone(),
                });
            }
            self.resolve_last(hash);
            return;
        }
        let level = self
            .resolution
            .checkpoint
            .as_ref()
            .map(|checkpoint| checkpoint.level);
        match level {
            Some(level) if lamport >= level && self.level_is_closed(level) => {
                self.resolve_level(level);
            }
            _ => self.resolve_full(),
        }
    }

    /// Resolves from scratch: the uncapped pass, then the capped pass. Keeps a checkpoint at
    /// the start of the last level.
    pub(super) fn resolve_full(&mut self) {
        let last_level = self.order.last().map(|(lamport, _)| *lamport);
        let mut checkpoint_uncapped = None;
        let mut uncapped = self.initial.clone();
        let mut reductions: BTreeMap<UserKey, Vec<Reduction>> = BTreeMap::new();
        for (lamport, hash) in &self.order {
            if Some(*lamport) == last_level && checkpoint_uncapped.is_none() {
                checkpoint_uncapped = Some(uncapped.clone());
            }
            self.uncapped_step(&mut uncapped, &mut reductions, hash);
        }
        let mut checkpoint_state = None;
        let mut state = self.initial.clone();
        let mut effects = BTreeMap::new();
        for (lamport, hash) in &self.order {
            if Some(*lamport) == last_level && checkpoint_state.is_none() {
                checkpoint_state = Some(state.clone());
            }
            if let Some(effect) = self.capped_step(&mut state, &reductions, hash) {
                effects.insert(*hash, effect);
            }
        }
        let checkpoint = match (last_level, checkpoint_uncapped, checkpoint_state) {
            (Some(level), Some(uncapped), Some(state)) => Some(Checkpoint {
                level,
                uncapped,
                state,
            }),
            _ => None,
        };
        self.resolution = Resolution {
            uncapped,
            reductions,
            state,
            effects,
            checkpoint,
        };
    }

    /// Both passes over the operations of Lamport level `level` and above, from the checkpoint.
    fn resolve_level(&mut self, level: u64) {
        let Some(checkpoint) = self.resolution.checkpoint.as_ref() else {
            return self.resolve_full();
        };
        let mut uncapped = checkpoint.uncapped.clone();
        let mut state = checkpoint.state.clone();
        let suffix: Vec<OpHash> = self
            .order
            .range((level, OpHash([0; 32]))..)
            .map(|(_, hash)| *hash)
            .collect();
        let mut reductions = std::mem::take(&mut self.resolution.reductions);
        for lowered in reductions.values_mut() {
            lowered.retain(|reduction| reduction.lamport < level);
        }
        for hash in &suffix {
            self.uncapped_step(&mut uncapped, &mut reductions, hash);
        }
        let mut effects = std::mem::take(&mut self.resolution.effects);
        for hash in &suffix {
            if let Some(effect) = self.capped_step(&mut state, &reductions, hash) {
                effects.insert(*hash, effect);
            }
        }
        self.resolution.uncapped = uncapped;
        self.resolution.reductions = reductions;
        self.resolution.state = state;
        self.resolution.effects = effects;
    }

    /// One step of each pass for a new operation that comes last.
    fn resolve_last(&mut self, hash: OpHash) {
        let mut uncapped = std::mem::replace(&mut self.resolution.uncapped, self.initial.clone());
        let mut reductions = std::mem::take(&mut self.resolution.reductions);
        let mut state = std::mem::replace(&mut self.resolution.state, self.initial.clone());
        // Capped with the reductions known before its own, as in the full resolution.
        let effect = self.capped_step(&mut state, &reductions, &hash);
        self.uncapped_step(&mut uncapped, &mut reductions, &hash);
        if let Some(effect) = effect {
            self.resolution.effects.insert(hash, effect);
        }
        self.resolution.uncapped = uncapped;
        self.resolution.reductions = reductions;
        self.resolution.state = state;
    }

    fn uncapped_step(
        &self,
        uncapped: &mut GroupState,
        reductions: &mut BTreeMap<UserKey, Vec<Reduction>>,
        hash: &OpHash,
    ) {
        let Some(node) = self.nodes.get(hash) else {
            return;
        };
        let op = node.op();
        let step = resolve::step(uncapped, &op.author, &op.kind, None);
        if let Some((target, after)) = step.lowered {
            reductions.entry(target).or_default().push(Reduction {
                op: *hash,
                lamport: op.lamport,
                after,
            });
        }
    }

    /// The capped step of `hash`: its author's standing is capped by every removal or demotion
    /// of the author that is concurrent with it.
    fn capped_step(
        &self,
        state: &mut GroupState,
        reductions: &BTreeMap<UserKey, Vec<Reduction>>,
        hash: &OpHash,
    ) -> Option<Effect> {
        let op = self.nodes.get(hash)?.op();
        let cap = reductions
            .get(&op.author)
            .into_iter()
            .flatten()
            .filter(|reduction| {
                reduction.op != *hash
                    && !self.is_ancestor(&reduction.op, hash)
                    && !self.is_ancestor(hash, &reduction.op)
            })
            .map(|reduction| reduction.after)
            .min();
        Some(resolve::step(state, &op.author, &op.kind, cap).effect)
    }

    /// Whether no operation of level `level` or above lowers a member who authored an operation
    /// below the level that it has not seen (such a removal would cap operations below the
    /// checkpoint).
    fn level_is_closed(&self, level: u64) -> bool {
        self.order
            .range((level, OpHash([0; 32]))..)
            .all(|(_, hash)| !self.lowers_author_of_concurrent_op(hash, level))
    }

    /// Whether `hash` may lower a member who authored an operation below Lamport `below` that
    /// is not its ancestor (operations below it in the order cannot descend from it).
    fn lowers_author_of_concurrent_op(&self, hash: &OpHash, below: u64) -> bool {
        let Some(node) = self.nodes.get(hash) else {
            return false;
        };
        let op = node.op();
        let Some(target) = op.kind.lowers(&op.author) else {
            return false;
        };
        self.by_author.get(&target).is_some_and(|authored| {
            authored.iter().any(|other| {
                other != hash && self.lamport(other) < below && !self.is_ancestor(other, hash)
            })
        })
    }

    /// Whether stored entry `a` is a strict ancestor of stored entry `b`.
    pub(super) fn is_ancestor(&self, a: &OpHash, b: &OpHash) -> bool {
        if a == b || !self.contains(b) {
            return false;
        }
        if *a == self.group_id.genesis_hash() {
            return true;
        }
        let floor = self.lamport(a);
        if self.lamport(b) <= floor {
            return false;
        }
        let mut stack = vec![*b];
        let mut visited = HashSet::new();
        while let Some(hash) = stack.pop() {
            let Some(node) = self.nodes.get(&hash) else {
                continue;
            };
            for parent in &node.op().parents {
                if parent == a {
                    return true;
                }
                if self.lamport(parent) > floor && visited.insert(*parent) {
                    stack.push(*parent);
                }
            }
        }
        false
    }
}
