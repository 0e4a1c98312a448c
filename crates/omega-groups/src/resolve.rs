//! The group state and the authorization rules: what one operation does to a state, given its
//! author's standing at that point of the order.

use std::collections::BTreeMap;
use std::fmt;

use omega_crypto::UserKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::MAX_MEMBERS;
use crate::types::{Genesis, OpKind, Role};

/// Domain label of the roster digest.
const ROSTER_LABEL: &[u8] = b"omega/group-roster/v1\0";

/// A group as every member computes it from the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupState {
    name: String,
    members: BTreeMap<UserKey, Role>,
    epoch: u64,
    n_owners: usize,
}

impl GroupState {
    pub(crate) fn from_genesis(genesis: &Genesis) -> Self {
        let mut members = genesis.members.clone();
        members.insert(genesis.creator, Role::Owner);
        let n_owners = members
            .values()
            .filter(|role| **role == Role::Owner)
            .count();
        Self {
            name: genesis.name.clone(),
            members,
            epoch: 0,
            n_owners,
        }
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Every member with their role, ordered by user key.
    pub fn members(&self) -> &BTreeMap<UserKey, Role> {
        &self.members
    }

    /// The membership epoch: how many operations changed who is a member (adds, removals,
    /// leaves) in the resolved order; 0 at creation. Every member computes the same value from
    /// the same operations, but a late operation can reorder history, so the same epoch number
    /// may later stand for another roster: bind sessions to [`Self::roster_digest`] too (the
    /// rotation policy does).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// A user's role, if a member.
    pub fn role(&self, user: &UserKey) -> Option<Role> {
        self.members.get(user).copied()
    }

    /// Whether `user` is a member.
    pub fn is_member(&self, user: &UserKey) -> bool {
        self.members.contains_key(user)
    }

    /// How many members (at most [`MAX_MEMBERS`]).
    pub fn n_members(&self) -> usize {
        self.members.len()
    }

    /// How many owners (at least one, always).
    pub fn n_owners(&self) -> usize {
        self.n_owners
    }

    /// SHA-256 over the sorted member keys (roles left out): who can read the group's messages.
    pub fn roster_digest(&self) -> RosterDigest {
        let mut hasher = Sha256::new();
        hasher.update(ROSTER_LABEL);
        hasher.update((self.members.len() as u32).to_be_bytes());
        for user in self.members.keys() {
            hasher.update(user.as_bytes());
        }
        RosterDigest(hasher.finalize().into())
    }

    /// Applies an authorized change. Returns the member whose role it lowered, with the role
    /// left (`None`: no longer a member).
    fn apply(&mut self, change: Change) -> Option<(UserKey, Option<Role>)> {
        match change {
            Change::Add { user, role } => {
                self.set_role(user, Some(role));
                self.epoch += 1;
                None
            }
            Change::Remove { user } => {
                self.set_role(user, None);
                self.epoch += 1;
                Some((user, None))
            }
            Change::SetRole {
                user,
                role,
                lowered,
            } => {
                self.set_role(user, Some(role));
                lowered.then_some((user, Some(role)))
            }
            Change::Leave { author, successor } => {
                if let Some(successor) = successor {
                    self.set_role(successor, Some(Role::Owner));
                }
                self.set_role(author, None);
                self.epoch += 1;
                Some((author, None))
            }
            Change::Rename { name } => {
                self.name = name;
                None
            }
        }
    }

    fn set_role(&mut self, user: UserKey, role: Option<Role>) {
        let before = match role {
            Some(role) => self.members.insert(user, role),
            None => self.members.remove(&user),
        };
        if before == Some(Role::Owner) {
            self.n_owners -= 1;
        }
        if role == Some(Role::Owner) {
            self.n_owners += 1;
        }
    }
}

/// SHA-256 of a group's roster (see [`GroupState::roster_digest`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RosterDigest(pub [u8; 32]);

impl fmt::Debug for RosterDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RosterDigest({})", &hex::encode(self.0)[..12])
    }
}

impl fmt::Display for RosterDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// What a stored operation does in the resolved order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "effect", content = "reason", rename_all = "snake_case")]
pub enum Effect {
    /// It changed the state.
    Applied,
    /// It is kept in the log but changed nothing, for this reason.
    Ignored(IgnoreReason),
}

/// Why an operation has no effect at its place in the order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum IgnoreReason {
    /// The author is not a member at that point.
    #[error("the author is not a member")]
    NotAMember,
    /// The author's role does not allow it.
    #[error("the author's role does not allow it")]
    NotPermitted,
    /// The author's role allowed it, but it is concurrent with a removal or demotion of the
    /// author that leaves too little (see the crate docs on caps).
    #[error("the author was removed or demoted concurrently")]
    Superseded,
    /// Adds someone already a member.
    #[error("the user is already a member")]
    AlreadyMember,
    /// Removes or changes someone who is not a member.
    #[error("the user is not a member")]
    NotMember,
    /// The group has [`MAX_MEMBERS`] members.
    #[error("the group is full")]
    GroupFull,
    /// Would leave the group without an owner.
    #[error("the group would have no owner left")]
    LastOwner,
    /// Changes nothing (same role, same name).
    #[error("it changes nothing")]
    NoChange,
    /// A leave naming a successor who is not another member, or named by a non-owner.
    #[error("the successor must be another member, named by an owner")]
    BadSuccessor,
}

/// A change an operation is authorized to make.
enum Change {
    Add {
        user: UserKey,
        role: Role,
    },
    Remove {
        user: UserKey,
    },
    SetRole {
        user: UserKey,
        role: Role,
        lowered: bool,
    },
    Leave {
        author: UserKey,
        successor: Option<UserKey>,
    },
    Rename {
        name: String,
    },
}

/// The outcome of one step of the fold.
pub(crate) struct Step {
    pub(crate) effect: Effect,
    /// The member whose role the step lowered, and the role left.
    pub(crate) lowered: Option<(UserKey, Option<Role>)>,
}

/// Applies one operation to `state` if its author is authorized. `cap` bounds the author's
/// standing (`Some(None)`: no standing at all) when the operation is concurrent with a removal
/// or demotion of its author.
pub(crate) fn step(
    state: &mut GroupState,
    author: &UserKey,
    kind: &OpKind,
    cap: Option<Option<Role>>,
) -> Step {
    let standing = state.role(author);
    let capped = match cap {
        Some(cap) => standing.min(cap),
        None => standing,
    };
    match authorize(state, author, capped, kind) {
        Ok(change) => Step {
            effect: Effect::Applied,
            lowered: state.apply(change),
        },
        Err(reason) => {
            let reason = if capped < standing && authorize(state, author, standing, kind).is_ok() {
                IgnoreReason::Superseded
            } else {
                reason
            };
            Step {
                effect: Effect::Ignored(reason),
                lowered: None,
            }
        }
    }
}

/// Would `kind` by `author` take effect in `state` now (no cap)? Used before authoring.
pub(crate) fn check(
    state: &GroupState,
    author: &UserKey,
    kind: &OpKind,
) -> Result<(), IgnoreReason> {
    authorize(state, author, state.role(author), kind).map(|_| ())
}

/// The rules. `standing` is the author's (possibly capped) role.
fn authorize(
    state: &GroupState,
    author: &UserKey,
    standing: Option<Role>,
    kind: &OpKind,
) -> Result<Change, IgnoreReason> {
    let Some(author_role) = standing else {
        return Err(IgnoreReason::NotAMember);
    };
    match kind {
        OpKind::Add { user, role } => {
            // Admins add members; owners add anyone with any role.
            let required = if *role == Role::Member {
                Role::Admin
            } else {
                Role::Owner
            };
            if author_role < required {
                return Err(IgnoreReason::NotPermitted);
            }
            if state.is_member(user) {
                return Err(IgnoreReason::AlreadyMember);
            }
            if state.n_members() >= MAX_MEMBERS {
                return Err(IgnoreReason::GroupFull);
            }
            Ok(Change::Add {
                user: *user,
                role: *role,
            })
        }
        OpKind::Remove { user } => {
            // Admins remove members; owners remove anyone. Nobody removes themselves (Leave).
            if user == author {
                return Err(IgnoreReason::NotPermitted);
            }
            let target_role = state.role(user).ok_or(IgnoreReason::NotMember)?;
            let required = if target_role == Role::Member {
                Role::Admin
            } else {
                Role::Owner
            };
            if author_role < required {
                return Err(IgnoreReason::NotPermitted);
            }
            // The author is an owner whenever the target is one, so an owner is left.
            Ok(Change::Remove { user: *user })
        }
        OpKind::Promote { user, role } => {
            // Only owners change roles, their own included, as long as an owner is left.
            if author_role < Role::Owner {
                return Err(IgnoreReason::NotPermitted);
            }
            let target_role = state.role(user).ok_or(IgnoreReason::NotMember)?;
            if target_role == *role {
                return Err(IgnoreReason::NoChange);
            }
            if target_role == Role::Owner && state.n_owners() == 1 {
                return Err(IgnoreReason::LastOwner);
            }
            Ok(Change::SetRole {
                user: *user,
                role: *role,
                lowered: *role < target_role,
            })
        }
        OpKind::Leave { successor } => {
            if let Some(successor) = successor
                && (author_role < Role::Owner || successor == author || !state.is_member(successor))
            {
                return Err(IgnoreReason::BadSuccessor);
            }
            // The author's role in the state, not the capped one: a cap limits what the author
            // may do, never what the group must keep.
            let last_owner = state.role(author) == Some(Role::Owner) && state.n_owners() == 1;
            if last_owner && successor.is_none() {
                return Err(IgnoreReason::LastOwner);
            }
            Ok(Change::Leave {
                author: *author,
                successor: *successor,
            })
        }
        OpKind::Rename { name } => {
            if author_role < Role::Admin {
                return Err(IgnoreReason::NotPermitted);
            }
            if *name == state.name {
                return Err(IgnoreReason::NoChange);
            }
            Ok(Change::Rename { name: name.clone() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use omega_crypto::UserIdentity;

    fn key(byte: u8) -> UserKey {
        UserIdentity::from_secret_bytes(&[byte; 32]).public_key()
    }

    fn state(members: &[(u8, Role)]) -> GroupState {
        GroupState::from_genesis(&Genesis {
            name: "g".into(),
            creator: key(0),
            members: members
                .iter()
                .map(|(byte, role)| (key(*byte), *role))
                .collect(),
            created_ms: 0,
            nonce: [0; 16],
        })
    }

    #[test]
    fn the_roster_digest_covers_who_not_their_roles() {
        let a = state(&[(1, Role::Member), (2, Role::Member)]);
        let b = state(&[(1, Role::Admin), (2, Role::Owner)]);
        let c = state(&[(1, Role::Member)]);
        assert_eq!(a.roster_digest(), b.roster_digest());
        assert_ne!(a.roster_digest(), c.roster_digest());
        assert_eq!(b.n_owners(), 2);
    }

    #[test]
    fn a_superseded_op_is_told_apart_from_an_unauthorized_one() {
        let mut group = state(&[(1, Role::Admin)]);
        let add = OpKind::Add {
            user: key(9),
            role: Role::Member,
        };
        let capped = step(&mut group, &key(1), &add, Some(None));
        assert_eq!(capped.effect, Effect::Ignored(IgnoreReason::Superseded));
        let capped_to_member = step(&mut group, &key(1), &add, Some(Some(Role::Member)));
        assert_eq!(
            capped_to_member.effect,
            Effect::Ignored(IgnoreReason::Superseded)
        );
        // A cap above the author's role changes nothing.
        let capped_high = step(&mut group, &key(1), &add, Some(Some(Role::Owner)));
        assert_eq!(capped_high.effect, Effect::Applied);
        assert!(group.is_member(&key(9)));
    }

    #[test]
    fn a_capped_last_owner_still_cannot_leave_the_group_ownerless() {
        let mut group = state(&[(1, Role::Member)]);
        let leave = OpKind::Leave { successor: None };
        for cap in [Some(Role::Admin), Some(Role::Member)] {
            let capped = step(&mut group, &key(0), &leave, Some(cap));
            assert_eq!(capped.effect, Effect::Ignored(IgnoreReason::LastOwner));
        }
        // Capped below owner, it cannot name a successor either.
        let handover = OpKind::Leave {
            successor: Some(key(1)),
        };
        let capped = step(&mut group, &key(0), &handover, Some(Some(Role::Admin)));
        assert_eq!(capped.effect, Effect::Ignored(IgnoreReason::Superseded));
        assert_eq!(group.n_owners(), 1);
    }

    #[test]
    fn removals_demotions_and_leaves_report_whom_they_lowered() {
        let mut group = state(&[(1, Role::Admin), (2, Role::Member), (3, Role::Owner)]);
        let owner = key(0);
        let demote = OpKind::Promote {
            user: key(1),
            role: Role::Member,
        };
        assert_eq!(
            step(&mut group, &owner, &demote, None).lowered,
            Some((key(1), Some(Role::Member)))
        );
        let promote = OpKind::Promote {
            user: key(2),
            role: Role::Admin,
        };
        assert_eq!(step(&mut group, &owner, &promote, None).lowered, None);
        let remove = OpKind::Remove { user: key(2) };
        assert_eq!(
            step(&mut group, &owner, &remove, None).lowered,
            Some((key(2), None))
        );
        let leave = OpKind::Leave { successor: None };
        assert_eq!(
            step(&mut group, &key(3), &leave, None).lowered,
            Some((key(3), None))
        );
        assert_eq!(group.epoch(), 2);
    }
}
