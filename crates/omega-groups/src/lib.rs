//! Ômega groups: the signed membership log every member validates, its deterministic resolution
//! into a state, and the sender-key rotation policy.
//!
//! What it does: defines the log's entries and their canonical signed bytes ([`encoding`]),
//! checks and stores entries in a DAG ([`GroupLog`]), computes the group's state — name, members
//! with roles, membership epoch — so that members holding the same entries agree whatever order
//! they arrived in, and decides when a sending device must start a new outbound (Megolm) session
//! and who gets its key ([`SenderKeyPolicy`], [`plan_rekey`]).
//!
//! What it deliberately does not do: no IO, no clock (callers pass `now_ms`), no storage, no
//! network, no encryption (the Megolm sessions themselves belong to `omega-crypto`, the
//! GossipSub topic and mailbox deposits to `omega-core`/`omega-net`). Randomness only for a
//! genesis nonce, from the caller's RNG.
//!
//! # Entries
//!
//! A group starts with a [`Genesis`] signed by its creator: name, creator's user key (the first
//! owner), the other initial members with their roles, `created_ms` and a random 16-byte nonce.
//! The **group id is the SHA-256 of the genesis's signing bytes**. Every later entry is an
//! [`Op`]: group id, author's user key, `parents` (the hashes of the heads the author knew —
//! the genesis at least, at most [`MAX_PARENTS`]), a Lamport clock, the author's timestamp
//! (informational only) and an [`OpKind`]: `Add{user, role}`, `Remove{user}`,
//! `Promote{user, role}` (any role change), `Leave{successor}`, `Rename{name}`. Ops are
//! user-level: any device of the author signs with the user key. An op's hash (its id) is the
//! SHA-256 of its signing bytes; signatures are Ed25519 by the user key (strict verification)
//! over the canonical layout of [`encoding`], labelled `omega/group-op/v1`.
//!
//! # Accepting an op ([`GroupLog::apply`])
//!
//! Refused (not stored, [`OpError`]): another group's, over the limits, bad signature, a
//! Lamport clock other than `1 + max(parents)`, an author who is neither a genesis member nor
//! the author or target of an `Add` among the op's ancestors (such an op could never take
//! effect; refusing it keeps strangers from growing the log — and since it depends only on the
//! op's past, every member refuses the same ones). Held as pending (up to [`MAX_PENDING`]):
//! an op with unknown parents, until they arrive ([`GroupLog::pending`],
//! [`GroupLog::missing`]). A duplicate changes nothing. Everything else is **stored**, even if
//! its author had no right to make it: its effect is decided by the resolution below and is
//! [`Effect::Ignored`] then. Only [`GroupLog::create_op`] refuses to author an op that would
//! have no effect ([`CreateError::Unauthorized`]).
//!
//! # Resolution
//!
//! The **order** is by `(lamport, hash)`. Since a parent's Lamport clock is always smaller than
//! its child's, it is a topological order of the DAG, and it depends only on the set of ops.
//! The state is a fold over that order starting from the genesis, where each op takes effect
//! only if its author is allowed to make it **in the state at that point**:
//!
//! | op | who may | also |
//! |---|---|---|
//! | `Add{user, Member}` | admins, owners | user not a member; fewer than [`MAX_MEMBERS`] members |
//! | `Add{user, Admin or Owner}` | owners | as above |
//! | `Remove{user}` of a member | admins, owners | not oneself (use `Leave`) |
//! | `Remove{user}` of an admin or owner | owners | not oneself |
//! | `Promote{user, role}` (promote or demote) | owners | user a member; role differs; the last owner cannot be demoted |
//! | `Leave{successor: None}` | any member | not the last owner |
//! | `Leave{successor: Some(s)}` | owners | `s` another member; `s` becomes an owner as the author leaves |
//! | `Rename{name}` | admins, owners | name differs |
//!
//! So an admin can never remove or demote an owner or another admin, and the group always has
//! an owner: **the last owner leaves only by naming a successor** (or by promoting someone
//! first).
//!
//! **Concurrent removals.** A removed admin could otherwise keep acting by back-dating: an op
//! whose parents predate the removal sorts before it and would be authorized there. So a
//! removal or demotion also **caps** its target's concurrent ops (neither ancestors nor
//! descendants of it): such an op is evaluated as if its author had at most the role the
//! removal left (none, for a removal or a leave), and is [`IgnoreReason::Superseded`] when
//! that is not enough. Ops the remover had seen (ancestors) keep their effect. A cap limits
//! what the author may do, never the checks that keep the group valid (an owner is left). The resolution
//! runs in two passes over the order: the first without caps finds the effective removals and
//! demotions; the second, with their caps, gives the state. Two passes (not a fixed point)
//! keep it simple and cheap: a removal that only takes effect in the second pass does not cap
//! in turn (this takes three owners in conflict), and a removal that a cap voids still caps
//! (the safe side: the capped op is dropped and can be made again).
//!
//! **Convergence.** Acceptance depends only on an op and its ancestors, the order only on the
//! set of ops, and both passes are deterministic folds over that order. So members who hold
//! the same ops compute the same state, effects and epoch, whatever order the ops arrived in.
//! Conflicts resolve by the order: of two owners removing each other concurrently, the op
//! first in `(lamport, hash)` order wins and the other is ignored, the loser being removed; of
//! an add and a remove of the same user, whichever comes later in the order wins. The tests
//! check every delivery order of such conflicts, and random interleavings, against each other
//! and against a fresh resolution. The incremental paths give exactly the result of resolving
//! from scratch: an op that comes last in the order and caps nothing is one step of each
//! pass; an op of the last Lamport level (a concurrent sibling arriving late) re-runs that
//! level from a checkpoint, unless a removal in the level caps an op below it; anything else
//! resolves again from the genesis ([`GroupLog::apply_all`] does that once for a batch).
//! What convergence does not give: agreement with a member who has not received every op yet.
//! A member who has not yet seen a removal still shares keys with the removed user.
//!
//! **Epoch.** [`GroupState::epoch`] counts effective adds, removals and leaves in the order.
//! Because a late op can change history, an epoch number can later stand for another roster,
//! so sessions are bound to the epoch **and** the [`GroupState::roster_digest`].
//!
//! # Sender keys
//!
//! One outbound Megolm session per sending device per group, its key shared over Olm.
//! [`SenderKeyPolicy::decide`] asks for a new session when there is none, when the membership
//! changed since it was shared (its [`SessionBinding`] differs), after
//! [`ROTATE_AFTER_MESSAGES`] messages, after [`ROTATE_AFTER_MS`] (7 days), or when the clock is
//! before the session's creation; and refuses to send for a non-member. [`plan_rekey`] lists
//! the devices that receive the new key: every device of every current member except the
//! sending device, so a removed member never gets a key made after the removal (as the sender
//! knows it).
//!
//! ```
//! use std::collections::BTreeMap;
//! use omega_crypto::UserIdentity;
//! use omega_groups::{
//!     CreateError, GroupLog, IgnoreReason, OpKind, Role, RotateReason, SendDecision,
//!     SenderKeyPolicy,
//! };
//!
//! let mut rng = rand::rngs::OsRng;
//! let (alice, bob, carol) = (
//!     UserIdentity::generate(&mut rng),
//!     UserIdentity::generate(&mut rng),
//!     UserIdentity::generate(&mut rng),
//! );
//! let members = BTreeMap::from([(bob.public_key(), Role::Member)]);
//! let mut group = GroupLog::create(&alice, "friends", members, 1_000, &mut rng)?;
//!
//! // Alice (owner) adds Carol; Bob's replica receives the genesis and the op.
//! let carol_key = carol.public_key();
//! let add = group.create_op(&alice, OpKind::Add { user: carol_key, role: Role::Member }, 2_000)?;
//! let _ = group.apply(add.clone())?;
//! let mut bobs = GroupLog::new(group.genesis().clone())?;
//! let _ = bobs.apply(add)?;
//! assert_eq!(bobs.state(), group.state());
//! assert_eq!(group.state().epoch(), 1);
//!
//! // Bob (a member) may not remove Carol.
//! let remove = OpKind::Remove { user: carol_key };
//! assert_eq!(
//!     bobs.create_op(&bob, remove, 3_000),
//!     Err(CreateError::Unauthorized(IgnoreReason::NotPermitted))
//! );
//!
//! // The membership changed: Bob's first message needs a new outbound session.
//! let decision = SenderKeyPolicy::default().decide(&bob.public_key(), bobs.state(), None, 3_000);
//! assert_eq!(decision, SendDecision::Rotate(RotateReason::NoSession));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod encoding;
pub mod error;
pub mod log;
pub mod policy;
pub mod resolve;
pub mod types;
pub mod view;

pub use encoding::{decode_genesis, decode_op};
pub use error::{
    CreateError, DecodeError, GenesisError, InvalidGenesis, InvalidOp, NameError, OpError,
};
pub use log::{Applied, GroupLog};
pub use policy::{
    KeyRecipient, OutboundSessionInfo, ROTATE_AFTER_MESSAGES, ROTATE_AFTER_MS, RekeyError,
    RekeyPlan, RotateReason, SendDecision, SenderKeyPolicy, SessionBinding, plan_rekey,
};
pub use resolve::{Effect, GroupState, IgnoreReason, RosterDigest};
pub use types::{
    Genesis, GroupId, GroupIdError, Op, OpHash, OpKind, Role, RoleError, SignedGenesis, SignedOp,
    check_name,
};
pub use view::{GroupView, MemberView, OpView};

/// Most members a group has, owners included.
pub const MAX_MEMBERS: usize = 1000;
/// Longest group name, in bytes of UTF-8.
pub const MAX_NAME_BYTES: usize = 128;
/// Most parents an op names.
pub const MAX_PARENTS: usize = 32;
/// Most ops held waiting for their parents.
pub const MAX_PENDING: usize = 16_384;
