//! When a sending device starts a new outbound (Megolm) session, and who receives its key.
//!
//! Pure policy: no vodozemac here. The engine keeps, per group and per sending device, the
//! [`OutboundSessionInfo`] of its current outbound session, asks [`SenderKeyPolicy::decide`]
//! before every message, and on [`SendDecision::Rotate`] creates a session and shares its key
//! over Olm with [`plan_rekey`]'s recipients.

use std::collections::BTreeSet;

use omega_crypto::UserKey;
use serde::{Deserialize, Serialize};

use crate::resolve::{GroupState, RosterDigest};

/// Messages one outbound session encrypts at most.
pub const ROTATE_AFTER_MESSAGES: u32 = 100;
/// How long one outbound session lives at most: 7 days.
pub const ROTATE_AFTER_MS: u64 = 7 * 24 * 60 * 60 * 1000;

/// The membership an outbound session was shared with: the epoch and the roster digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SessionBinding {
    /// [`GroupState::epoch`] when the session was created.
    pub epoch: u64,
    /// [`GroupState::roster_digest`] when the session was created.
    pub roster: RosterDigest,
}

impl SessionBinding {
    /// The binding of a session created now.
    pub fn of(state: &GroupState) -> Self {
        Self {
            epoch: state.epoch(),
            roster: state.roster_digest(),
        }
    }
}

/// What the engine remembers about its current outbound session in a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundSessionInfo {
    /// The membership it was shared with.
    pub binding: SessionBinding,
    /// When it was created.
    pub created_ms: u64,
    /// How many messages it has encrypted.
    pub messages_sent: u32,
}

/// Whether the next message may use the current outbound session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum SendDecision {
    /// Encrypt with the current session.
    Reuse,
    /// Create a new session, share its key ([`plan_rekey`]), then encrypt with it.
    Rotate(RotateReason),
    /// The sender is not a member: send nothing.
    NotAMember,
}

/// Why a new outbound session is needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RotateReason {
    /// There is no session yet.
    NoSession,
    /// The membership changed since the session was shared (epoch or roster).
    MembershipChanged,
    /// The session encrypted the maximum number of messages.
    MessageLimit,
    /// The session is older than the maximum age.
    MaxAge,
    /// The clock is before the session's creation time: its age is unknown, so it is not
    /// trusted to be young.
    ClockWentBack,
}

/// The rotation rule: on any membership change, after `max_messages`, after `max_age_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SenderKeyPolicy {
    /// Messages per session (default [`ROTATE_AFTER_MESSAGES`]).
    pub max_messages: u32,
    /// Session lifetime (default [`ROTATE_AFTER_MS`]).
    pub max_age_ms: u64,
}

impl Default for SenderKeyPolicy {
    fn default() -> Self {
        Self {
            max_messages: ROTATE_AFTER_MESSAGES,
            max_age_ms: ROTATE_AFTER_MS,
        }
    }
}

impl SenderKeyPolicy {
    /// Decides, before sending a message as `me` at `now_ms`, whether `session` may encrypt it.
    /// Checks in this order: membership of `me`, no session, membership change, message count,
    /// age.
    pub fn decide(
        &self,
        me: &UserKey,
        state: &GroupState,
        session: Option<&OutboundSessionInfo>,
        now_ms: u64,
    ) -> SendDecision {
        if !state.is_member(me) {
            return SendDecision::NotAMember;
        }
        let Some(session) = session else {
            return SendDecision::Rotate(RotateReason::NoSession);
        };
        if session.binding != SessionBinding::of(state) {
            return SendDecision::Rotate(RotateReason::MembershipChanged);
        }
        if session.messages_sent >= self.max_messages {
            return SendDecision::Rotate(RotateReason::MessageLimit);
        }
        match now_ms.checked_sub(session.created_ms) {
            None => SendDecision::Rotate(RotateReason::ClockWentBack),
            Some(age) if age >= self.max_age_ms => SendDecision::Rotate(RotateReason::MaxAge),
            Some(_) => SendDecision::Reuse,
        }
    }
}

/// One device that must receive a new session key over Olm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRecipient<D> {
    /// The member.
    pub user: UserKey,
    /// One of the member's devices.
    pub device: D,
}

/// Who receives a new outbound session's key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RekeyPlan<D> {
    /// What to record as the new session's binding.
    pub binding: SessionBinding,
    /// Every device of every current member, the sender's other devices included, the sending
    /// device excluded. Ordered by user key, then as `devices_of` listed them.
    pub recipients: Vec<KeyRecipient<D>>,
    /// Users who received the previous session's key and are no longer members: they get
    /// nothing from now on.
    pub removed_since: Vec<UserKey>,
}

impl<D> RekeyPlan<D> {
    /// Whether any device of `user` receives the key.
    pub fn includes_user(&self, user: &UserKey) -> bool {
        self.recipients
            .iter()
            .any(|recipient| recipient.user == *user)
    }
}

/// Why no rekey plan can be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RekeyError {
    /// The sender is not a member.
    #[error("the sender is not a member of the group")]
    NotAMember,
}

/// Lists the devices that must receive a new session key: every device of every member in
/// `state` except `my_device`. `devices_of` returns a member's known devices (from their signed
/// device list); `previous` is the set of users who received the previous session's key.
///
/// Recipients come only from `state`'s members, so a removed member is never among them;
/// `removed_since` names them for the caller's log (and debug builds assert it).
pub fn plan_rekey<D: PartialEq>(
    state: &GroupState,
    me: &UserKey,
    my_device: &D,
    previous: &BTreeSet<UserKey>,
    mut devices_of: impl FnMut(&UserKey) -> Vec<D>,
) -> Result<RekeyPlan<D>, RekeyError> {
    if !state.is_member(me) {
        return Err(RekeyError::NotAMember);
    }
    let mut recipients = Vec::new();
    for user in state.members().keys() {
        for device in devices_of(user) {
            if user == me && device == *my_device {
                continue;
            }
            recipients.push(KeyRecipient {
                user: *user,
                device,
            });
        }
    }
    let removed_since: Vec<UserKey> = previous
        .iter()
        .filter(|user| !state.is_member(user))
        .copied()
        .collect();
    let plan = RekeyPlan {
        binding: SessionBinding::of(state),
        recipients,
        removed_since,
    };
    debug_assert!(
        plan.removed_since
            .iter()
            .all(|user| !plan.includes_user(user)),
        "a removed member is among the recipients"
    );
    Ok(plan)
}
