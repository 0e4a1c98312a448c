//! JSON views (`omega group list/show --json`): user keys as user ids, hashes as hex.

use serde::{Deserialize, Serialize};

use crate::log::GroupLog;
use crate::resolve::{Effect, GroupState};
use crate::types::{OpKind, Role};

/// A group as `omega group show --json` prints it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupView {
    /// The group id (base32).
    pub group_id: String,
    /// The GossipSub topic.
    pub topic: String,
    /// The name.
    pub name: String,
    /// The membership epoch.
    pub epoch: u64,
    /// The roster digest (hex).
    pub roster: String,
    /// Members ordered by user key.
    pub members: Vec<MemberView>,
    /// Stored operations (the genesis not counted).
    pub n_ops: usize,
    /// Operations waiting for parents.
    pub n_pending: usize,
    /// The current heads (hex).
    pub heads: Vec<String>,
}

/// One member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberView {
    /// The member's user id.
    pub user_id: String,
    /// The role.
    pub role: Role,
}

/// One operation of the log, with its current effect.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpView {
    /// The operation's hash (hex).
    pub hash: String,
    /// The author's user id.
    pub author: String,
    /// The Lamport clock.
    pub lamport: u64,
    /// The author's timestamp (informational).
    pub timestamp_ms: u64,
    /// Parents (hex).
    pub parents: Vec<String>,
    /// What it does.
    pub kind: OpKind,
    /// What it did in the resolved order.
    #[serde(flatten)]
    pub effect: Effect,
}

impl GroupView {
    /// The view of a log's current state.
    pub fn of(log: &GroupLog) -> Self {
        let state: &GroupState = log.state();
        Self {
            group_id: log.group_id().to_string(),
            topic: log.group_id().topic(),
            name: state.name().to_owned(),
            epoch: state.epoch(),
            roster: state.roster_digest().to_string(),
            members: state
                .members()
                .iter()
                .map(|(user, role)| MemberView {
                    user_id: user.user_id(),
                    role: *role,
                })
                .collect(),
            n_ops: log.n_ops(),
            n_pending: log.pending().count(),
            heads: log.heads().iter().map(ToString::to_string).collect(),
        }
    }
}

impl OpView {
    /// Every stored operation of `log` in the resolved order, with its effect.
    pub fn list(log: &GroupLog) -> Vec<Self> {
        log.ops()
            .filter_map(|signed| {
                let op = signed.op();
                Some(Self {
                    hash: signed.hash().to_string(),
                    author: op.author.user_id(),
                    lamport: op.lamport,
                    timestamp_ms: op.timestamp_ms,
                    parents: op.parents.iter().map(ToString::to_string).collect(),
                    kind: op.kind.clone(),
                    effect: log.effect(&signed.hash())?,
                })
            })
            .collect()
    }
}

/// Serde for a [`omega_crypto::UserKey`] as its user id.
pub(crate) mod user_key {
    use omega_crypto::UserKey;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(key: &UserKey, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&key.user_id())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<UserKey, D::Error> {
        let text = String::deserialize(deserializer)?;
        UserKey::parse_user_id(&text).map_err(serde::de::Error::custom)
    }
}

/// Serde for an optional [`omega_crypto::UserKey`] as its user id or null.
pub(crate) mod opt_user_key {
    use omega_crypto::UserKey;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        key: &Option<UserKey>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match key {
            Some(key) => serializer.serialize_some(&key.user_id()),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<UserKey>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| UserKey::parse_user_id(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}
