//! What the node shows the outside world: JSON views of contacts, messages, events and counters.

use std::sync::atomic::{AtomicU64, Ordering};

use omega_crypto::UserKey;
use omega_store::{ContactRow, ConversationRow, Direction, MessageKind, MessageRow};
use serde::{Deserialize, Serialize};

/// A message as the CLI and the API show it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct MessageView {
    pub message_id: String,
    /// User id of the sender.
    pub from: String,
    /// User id of the recipient.
    pub to: String,
    pub text: String,
    /// `queued|sent|delivered|read|failed`.
    pub status: String,
    /// Sender's clock, milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// `in` or `out`.
    pub direction: String,
    /// Alias or name of the other party, when known.
    pub peer: Option<String>,
    /// `text`, `location`, `contact`, `sticker` or `timer` (a system line).
    #[serde(default = "text_kind")]
    pub kind: String,
    /// The quoted message's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// User ids mentioned in the text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<String>,
    /// `{"latitude","longitude","label","accuracy_m"}` of a location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<serde_json::Value>,
    /// `{"card","name","user_id"}` of a shared contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<serde_json::Value>,
    /// `{"pack","name","alt"}` of a sticker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticker: Option<serde_json::Value>,
    /// The disappearing timer a `timer` line set, in ms (0: off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timer_ms: Option<i64>,
    /// When the author last edited it (ms, this device's clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<i64>,
    /// Deleted for everyone by its author: `text` is empty.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<ReactionView>,
    /// When this disappearing message is erased from this device (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// In a group conversation: the group id (`to` is the group id too, and `from` the author).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// A file: `{"name","size","mime","sha256","chunk_count","thumbnail": {"width","height"} |
    /// null, "state", "path", "error"}` (never its key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<serde_json::Value>,
}

/// One person's reaction to a message.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReactionView {
    /// User id of who reacted.
    pub by: String,
    pub emoji: String,
}

fn text_kind() -> String {
    "text".to_owned()
}

impl Default for MessageView {
    /// An empty text message (for tests and for building views field by field).
    fn default() -> Self {
        MessageView {
            message_id: String::new(),
            from: String::new(),
            to: String::new(),
            text: String::new(),
            status: "queued".to_owned(),
            timestamp: 0,
            direction: "out".to_owned(),
            peer: None,
            kind: text_kind(),
            reply_to: None,
            mentions: Vec::new(),
            location: None,
            contact: None,
            sticker: None,
            timer_ms: None,
            edited_at: None,
            group: None,
            deleted: false,
            reactions: Vec::new(),
            expires_at: None,
            file: None,
        }
    }
}

impl MessageView {
    pub fn new(row: &MessageRow, me: &UserKey, peer_name: Option<String>) -> Self {
        let peer = UserKey::from_bytes(&row.peer_user).map_or_else(
            |_| data_encoding::HEXLOWER.encode(&row.peer_user),
            |key| key.user_id(),
        );
        let (from, to) = match row.direction {
            Direction::In => (peer, me.user_id()),
            Direction::Out => (me.user_id(), peer),
        };
        let extra: serde_json::Value = row
            .meta
            .extra
            .as_deref()
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or(serde_json::Value::Null);
        let of_kind =
            |kind: MessageKind| (row.meta.kind == kind && extra.is_object()).then(|| extra.clone());
        MessageView {
            message_id: row.message_id.clone(),
            from,
            to,
            text: row.body.clone(),
            status: row.status.as_str().to_owned(),
            timestamp: row.timestamp_ms,
            direction: row.direction.as_str().to_owned(),
            peer: peer_name,
            kind: row.meta.kind.as_str().to_owned(),
            reply_to: row.meta.reply_to.clone(),
            mentions: extra["mentions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|id| id.as_str().map(str::to_owned))
                .collect(),
            location: of_kind(MessageKind::Location),
            contact: of_kind(MessageKind::Contact),
            sticker: of_kind(MessageKind::Sticker),
            file: of_kind(MessageKind::File),
            timer_ms: (row.meta.kind == MessageKind::Timer)
                .then(|| extra["expires_in_ms"].as_i64().unwrap_or(0)),
            edited_at: row.edited_ms,
            deleted: row.deleted,
            reactions: row
                .reactions
                .as_deref()
                .and_then(|json| serde_json::from_str(json).ok())
                .unwrap_or_default(),
            expires_at: row.meta.expires_at_ms,
            group: None,
        }
    }

    /// A message of a group conversation: `from` is its author, `to` the group, `peer` the
    /// author's name (incoming) or the group's name (outgoing).
    pub fn in_group(
        row: &MessageRow,
        me: &UserKey,
        author: Option<&UserKey>,
        author_name: Option<String>,
        group_id: &str,
        group_name: &str,
    ) -> Self {
        let mut view = MessageView::new(row, me, None);
        view.from = match row.direction {
            Direction::Out => me.user_id(),
            Direction::In => author.map(UserKey::user_id).unwrap_or_default(),
        };
        view.to = group_id.to_owned();
        view.peer = match row.direction {
            Direction::Out => Some(group_name.to_owned()),
            Direction::In => author_name,
        };
        view.group = Some(group_id.to_owned());
        view
    }
}

/// A contact as the CLI and the API show it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ContactView {
    pub user_id: String,
    pub alias: Option<String>,
    pub name: String,
    pub verified: bool,
    pub devices: usize,
    pub addrs: Vec<String>,
    pub safety_number: String,
}

impl ContactView {
    pub fn new(row: &ContactRow, devices: usize, safety_number: String) -> Self {
        ContactView {
            user_id: row.user_id.clone(),
            alias: row.alias.clone(),
            name: row.name.clone(),
            verified: row.verified,
            devices,
            addrs: row.addrs.clone(),
            safety_number,
        }
    }
}

/// A conversation as the conversation list shows it: one per contact.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConversationView {
    /// Alias or name: what to call the contact.
    pub peer: String,
    pub user_id: String,
    pub alias: Option<String>,
    pub name: String,
    pub verified: bool,
    /// The last message either way, if any.
    pub last_text: Option<String>,
    /// Its timestamp (the sender's clock, ms since the Unix epoch).
    pub last_timestamp: Option<i64>,
    /// `in` or `out`.
    pub last_direction: Option<String>,
    /// `queued|sent|delivered|read|failed`.
    pub last_status: Option<String>,
    /// Incoming messages not marked read yet.
    pub unread: i64,
}

impl ConversationView {
    pub fn new(row: &ConversationRow) -> Self {
        let last = row.last.as_ref();
        ConversationView {
            peer: row.contact.display_name().to_owned(),
            user_id: row.contact.user_id.clone(),
            alias: row.contact.alias.clone(),
            name: row.contact.name.clone(),
            verified: row.contact.verified,
            last_text: last.map(|message| message.body.clone()),
            last_timestamp: last.map(|message| message.timestamp_ms),
            last_direction: last.map(|message| message.direction.as_str().to_owned()),
            last_status: last.map(|message| message.status.as_str().to_owned()),
            unread: row.unread,
        }
    }
}

/// Something that happened, streamed to API clients.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NodeEvent {
    /// A message was received (or sent from this device).
    Message { message: MessageView },
    /// A message changed after it arrived: an edit, a reaction, a delete for everyone.
    Updated { message: MessageView },
    /// Disappearing messages whose time came were erased from this device.
    Erased { message_ids: Vec<String> },
    /// A group was created, joined, or its membership or name changed.
    Group { group: omega_groups::GroupView },
    /// An outgoing message's status moved forward.
    Status {
        message_id: String,
        peer: String,
        status: String,
    },
}

/// Counters of the node since it started.
#[derive(Debug, Default)]
pub struct Stats {
    pub received: AtomicU64,
    pub sent: AtomicU64,
    pub duplicates: AtomicU64,
    pub refused_malformed: AtomicU64,
    pub refused_wrong_recipient: AtomicU64,
    pub refused_bad_signature: AtomicU64,
    pub refused_unknown_device: AtomicU64,
    pub refused_undecryptable: AtomicU64,
    pub send_failures: AtomicU64,
    pub mailbox_syncs: AtomicU64,
    pub mailbox_deposits: AtomicU64,
    pub records_published: AtomicU64,
    pub links_completed: AtomicU64,
    pub links_refused: AtomicU64,
    pub mailbox_refused: AtomicU64,
    pub group_resends_asked: AtomicU64,
    pub group_resends_served: AtomicU64,
    pub gossip_dropped: AtomicU64,
    pub gossip_received: AtomicU64,
}

/// A copy of [`Stats`] for display.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub received: u64,
    pub sent: u64,
    pub duplicates: u64,
    pub refused_malformed: u64,
    pub refused_wrong_recipient: u64,
    pub refused_bad_signature: u64,
    pub refused_unknown_device: u64,
    pub refused_undecryptable: u64,
    pub send_failures: u64,
    /// Completed rounds with the home mailbox (publish, keys, fetch, ack).
    pub mailbox_syncs: u64,
    /// Envelopes deposited at a recipient's mailbox (recipient unreachable directly).
    pub mailbox_deposits: u64,
    /// Times our signed peer record was stored in the DHT.
    pub records_published: u64,
    /// New devices linked to this user by this device.
    #[serde(default)]
    pub links_completed: u64,
    /// Link claims refused (wrong, reused or expired secret, no offer).
    #[serde(default)]
    pub links_refused: u64,
    /// Times the home mailbox refused this device (`unauthorized`, `unknown_device`: e.g. revoked).
    #[serde(default)]
    pub mailbox_refused: u64,
    /// Group messages asked again from their sender (a gap in a sender's ratchet indexes).
    #[serde(default)]
    pub group_resends_asked: u64,
    /// Group messages sent again to a member who missed them.
    #[serde(default)]
    pub group_resends_served: u64,
    /// Group messages that arrived on a GossipSub topic (before any check).
    #[serde(default)]
    pub gossip_received: u64,
    /// Group messages dropped on arrival by fault injection ([`crate::NodeConfig::drop_gossip`]).
    #[serde(default)]
    pub gossip_dropped: u64,
}

impl Stats {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let Self {
            received,
            sent,
            duplicates,
            refused_malformed,
            refused_wrong_recipient,
            refused_bad_signature,
            refused_unknown_device,
            refused_undecryptable,
            send_failures,
            mailbox_syncs,
            mailbox_deposits,
            records_published,
            links_completed,
            links_refused,
            mailbox_refused,
            group_resends_asked,
            group_resends_served,
            gossip_dropped,
            gossip_received,
        } = self;
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        StatsSnapshot {
            received: get(received),
            sent: get(sent),
            duplicates: get(duplicates),
            refused_malformed: get(refused_malformed),
            refused_wrong_recipient: get(refused_wrong_recipient),
            refused_bad_signature: get(refused_bad_signature),
            refused_unknown_device: get(refused_unknown_device),
            refused_undecryptable: get(refused_undecryptable),
            send_failures: get(send_failures),
            mailbox_syncs: get(mailbox_syncs),
            mailbox_deposits: get(mailbox_deposits),
            records_published: get(records_published),
            links_completed: get(links_completed),
            links_refused: get(links_refused),
            mailbox_refused: get(mailbox_refused),
            group_resends_asked: get(group_resends_asked),
            group_resends_served: get(group_resends_served),
            gossip_dropped: get(gossip_dropped),
            gossip_received: get(gossip_received),
        }
    }
}

impl StatsSnapshot {
    /// Envelopes refused for any reason.
    pub fn refused(&self) -> u64 {
        self.refused_malformed
            + self.refused_wrong_recipient
            + self.refused_bad_signature
            + self.refused_unknown_device
            + self.refused_undecryptable
    }
}
