//! Row types of the local store.

use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::StoreError;

/// This device's identity row.
#[derive(Clone)]
pub struct IdentityRow {
    pub user_key: Vec<u8>,
    pub name: String,
    /// The vodozemac account, pickled and encrypted with the store key.
    pub account_pickle: String,
    pub device_list: Vec<u8>,
    pub created_ms: i64,
}

impl std::fmt::Debug for IdentityRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self {
            user_key,
            name,
            account_pickle: _,
            device_list: _,
            created_ms,
        } = self;
        f.debug_struct("IdentityRow")
            .field("user_key", &hex_short(user_key))
            .field("name", name)
            .field("created_ms", created_ms)
            .finish_non_exhaustive()
    }
}

impl IdentityRow {
    pub(crate) fn from_row(row: &SqliteRow) -> Result<Self, StoreError> {
        Ok(IdentityRow {
            user_key: row.try_get("user_key")?,
            name: row.try_get("name")?,
            account_pickle: row.try_get("account_pickle")?,
            device_list: row.try_get("device_list")?,
            created_ms: row.try_get("created_ms")?,
        })
    }
}

/// A contact: someone whose card we added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContactRow {
    pub user_key: Vec<u8>,
    pub user_id: String,
    pub alias: Option<String>,
    pub name: String,
    /// Encoded SignedDeviceList, verified before it was stored.
    pub device_list: Vec<u8>,
    pub device_list_version: i64,
    pub addrs: Vec<String>,
    /// Home mailbox servers from the contact's card.
    pub mailboxes: Vec<String>,
    pub verified: bool,
    pub added_ms: i64,
}

impl ContactRow {
    pub(crate) const SELECT_BY_KEY: &'static str = "SELECT user_key, user_id, alias, name, device_list, device_list_version, addrs, mailboxes, verified, added_ms FROM contacts WHERE user_key = ?";
    pub(crate) const SELECT_BY_ALIAS: &'static str = "SELECT user_key, user_id, alias, name, device_list, device_list_version, addrs, mailboxes, verified, added_ms FROM contacts WHERE alias = ?";
    pub(crate) const SELECT_BY_USER_ID: &'static str = "SELECT user_key, user_id, alias, name, device_list, device_list_version, addrs, mailboxes, verified, added_ms FROM contacts WHERE user_id = lower(trim(?))";
    pub(crate) const SELECT_BY_NAME: &'static str = "SELECT user_key, user_id, alias, name, device_list, device_list_version, addrs, mailboxes, verified, added_ms FROM contacts WHERE name = ? LIMIT 2";
    pub(crate) const SELECT_ALL: &'static str = "SELECT user_key, user_id, alias, name, device_list, device_list_version, addrs, mailboxes, verified, added_ms FROM contacts ORDER BY COALESCE(alias, name), user_id";

    pub(crate) fn from_row(row: &SqliteRow) -> Result<Self, StoreError> {
        let addrs: String = row.try_get("addrs")?;
        let addrs = serde_json::from_str(&addrs).map_err(|error| StoreError::Corrupt {
            table: "contacts",
            reason: format!("addrs: {error}"),
        })?;
        let mailboxes: String = row.try_get("mailboxes")?;
        let mailboxes = serde_json::from_str(&mailboxes).map_err(|error| StoreError::Corrupt {
            table: "contacts",
            reason: format!("mailboxes: {error}"),
        })?;
        Ok(ContactRow {
            user_key: row.try_get("user_key")?,
            user_id: row.try_get("user_id")?,
            alias: row.try_get("alias")?,
            name: row.try_get("name")?,
            device_list: row.try_get("device_list")?,
            device_list_version: row.try_get("device_list_version")?,
            addrs,
            mailboxes,
            verified: row.try_get("verified")?,
            added_ms: row.try_get("added_ms")?,
        })
    }

    /// Name shown to the user: the alias if set, else the contact's own display name.
    pub fn display_name(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }
}

/// A pickled (encrypted) Olm session.
#[derive(Clone)]
pub struct SessionRow {
    pub session_id: String,
    pub peer_curve25519: Vec<u8>,
    pub pickle: String,
}

impl std::fmt::Debug for SessionRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self {
            session_id,
            peer_curve25519,
            pickle: _,
        } = self;
        f.debug_struct("SessionRow")
            .field("session_id", session_id)
            .field("peer_curve25519", &hex_short(peer_curve25519))
            .finish_non_exhaustive()
    }
}

impl SessionRow {
    pub(crate) fn from_row(row: &SqliteRow) -> Result<Self, StoreError> {
        Ok(SessionRow {
            session_id: row.try_get("session_id")?,
            peer_curve25519: row.try_get("peer_curve25519")?,
            pickle: row.try_get("pickle")?,
        })
    }
}

/// Which way a message went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// Delivery status of a message. Outgoing: queued → sent → delivered → read (or failed).
/// Incoming messages are `delivered` until the user reads them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    Queued,
    Failed,
    Sent,
    Delivered,
    Read,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Failed => "failed",
            Status::Sent => "sent",
            Status::Delivered => "delivered",
            Status::Read => "read",
        }
    }

    /// Order in which statuses may advance (a status never moves to a lower rank).
    pub fn rank(self) -> i64 {
        match self {
            Status::Queued => 0,
            Status::Failed => 1,
            Status::Sent => 2,
            Status::Delivered => 3,
            Status::Read => 4,
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        Some(match text {
            "queued" => Status::Queued,
            "failed" => Status::Failed,
            "sent" => Status::Sent,
            "delivered" => Status::Delivered,
            "read" => Status::Read,
            _ => return None,
        })
    }
}

/// A message to insert.
#[derive(Clone, Debug)]
pub struct NewMessage {
    /// UUID text form.
    pub message_id: String,
    pub peer_user: Vec<u8>,
    pub direction: Direction,
    pub body: String,
    pub status: Status,
    pub timestamp_ms: i64,
    pub meta: MessageMeta,
}

/// What kind of conversation item a message is, beyond its text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MessageKind {
    #[default]
    Text,
    Location,
    Contact,
    Sticker,
    /// A system line: the disappearing-message timer changed.
    Timer,
    /// An end-to-end encrypted file (its manifest is in the `files` table).
    File,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Text => "text",
            MessageKind::Location => "location",
            MessageKind::Contact => "contact",
            MessageKind::Sticker => "sticker",
            MessageKind::Timer => "timer",
            MessageKind::File => "file",
        }
    }

    pub fn parse(text: &str) -> Option<MessageKind> {
        Some(match text {
            "text" => MessageKind::Text,
            "location" => MessageKind::Location,
            "contact" => MessageKind::Contact,
            "sticker" => MessageKind::Sticker,
            "timer" => MessageKind::Timer,
            "file" => MessageKind::File,
            _ => return None,
        })
    }
}

/// A message's kind and what comes with it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageMeta {
    pub kind: MessageKind,
    /// JSON with what the kind carries (mentions, coordinates, a card, a sticker).
    pub extra: Option<String>,
    /// The quoted message (UUID text).
    pub reply_to: Option<String>,
    /// When a disappearing message is erased (ms since the epoch).
    pub expires_at_ms: Option<i64>,
    /// In a group conversation, the member who wrote an incoming message (their user key).
    pub author: Option<Vec<u8>>,
}

/// A stored message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRow {
    pub seq: i64,
    pub message_id: String,
    pub peer_user: Vec<u8>,
    pub direction: Direction,
    pub body: String,
    pub status: Status,
    pub timestamp_ms: i64,
    pub updated_ms: i64,
    pub meta: MessageMeta,
    pub edited_ms: Option<i64>,
    /// Deleted for everyone (body and extra erased).
    pub deleted: bool,
    /// JSON array of `{"by", "emoji"}`.
    pub reactions: Option<String>,
}

impl MessageRow {
    pub(crate) const SELECT_BY_PEER: &'static str = "SELECT seq, message_id, peer_user, direction, body, status, timestamp_ms, updated_ms, kind, extra, reply_to, edited_ms, deleted, reactions, expires_at_ms, author FROM messages WHERE peer_user = ? ORDER BY seq DESC LIMIT ?";
    pub(crate) const SELECT_ALL: &'static str = "SELECT seq, message_id, peer_user, direction, body, status, timestamp_ms, updated_ms, kind, extra, reply_to, edited_ms, deleted, reactions, expires_at_ms, author FROM messages ORDER BY seq DESC LIMIT ?";
    pub(crate) const SELECT_BY_ID: &'static str = "SELECT seq, message_id, peer_user, direction, body, status, timestamp_ms, updated_ms, kind, extra, reply_to, edited_ms, deleted, reactions, expires_at_ms, author FROM messages WHERE message_id = ? ORDER BY direction DESC LIMIT 1";
    pub(crate) const SELECT_IN_CONVERSATION: &'static str = "SELECT seq, message_id, peer_user, direction, body, status, timestamp_ms, updated_ms, kind, extra, reply_to, edited_ms, deleted, reactions, expires_at_ms, author FROM messages WHERE peer_user = ? AND message_id = ? ORDER BY direction DESC LIMIT 1";
    /// 1:1 history in local order, from `seq` > ?, at most ? rows (backfill of a linked device;
    /// group messages are not backfilled: a new device reads a group from its link on).
    pub(crate) const SELECT_PAGE: &'static str = "SELECT seq, message_id, peer_user, direction, body, status, timestamp_ms, updated_ms, kind, extra, reply_to, edited_ms, deleted, reactions, expires_at_ms, author FROM messages WHERE seq > ? AND author IS NULL ORDER BY seq ASC LIMIT ?";
    /// Full-text search: binds the FTS5 expression, the peer (or NULL) twice, the limit.
    pub(crate) const SEARCH: &'static str = "SELECT m.seq, m.message_id, m.peer_user, m.direction, m.body, m.status, m.timestamp_ms, m.updated_ms, m.kind, m.extra, m.reply_to, m.edited_ms, m.deleted, m.reactions, m.expires_at_ms, m.author \
        FROM messages_fts JOIN messages m ON m.seq = messages_fts.rowid \
        WHERE messages_fts MATCH ? AND (? IS NULL OR m.peer_user = ?) AND m.deleted = 0 \
        ORDER BY bm25(messages_fts), m.seq DESC LIMIT ?";

    pub(crate) fn from_row(row: &SqliteRow) -> Result<Self, StoreError> {
        let direction: String = row.try_get("direction")?;
        let status: String = row.try_get("status")?;
        Ok(MessageRow {
            seq: row.try_get("seq")?,
            message_id: row.try_get("message_id")?,
            peer_user: row.try_get("peer_user")?,
            direction: match direction.as_str() {
                "in" => Direction::In,
                "out" => Direction::Out,
                other => {
                    return Err(StoreError::Corrupt {
                        table: "messages",
                        reason: format!("direction {other:?}"),
                    });
                }
            },
            body: row.try_get("body")?,
            status: Status::parse(&status).ok_or_else(|| StoreError::Corrupt {
                table: "messages",
                reason: format!("status {status:?}"),
            })?,
            timestamp_ms: row.try_get("timestamp_ms")?,
            updated_ms: row.try_get("updated_ms")?,
            meta: {
                let kind: String = row.try_get("kind")?;
                MessageMeta {
                    kind: MessageKind::parse(&kind).ok_or_else(|| StoreError::Corrupt {
                        table: "messages",
                        reason: format!("kind {kind:?}"),
                    })?,
                    extra: row.try_get("extra")?,
                    reply_to: row.try_get("reply_to")?,
                    expires_at_ms: row.try_get("expires_at_ms")?,
                    author: row.try_get("author")?,
                }
            },
            edited_ms: row.try_get("edited_ms")?,
            deleted: row.try_get::<i64, _>("deleted")? != 0,
            reactions: row.try_get("reactions")?,
        })
    }
}

/// A conversation: a contact, its last message and its unread count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConversationRow {
    pub contact: ContactRow,
    /// The most recent message either way, if any.
    pub last: Option<MessageRow>,
    /// Incoming messages not marked read.
    pub unread: i64,
}

impl ConversationRow {
    // The contacts' and the messages' column names do not overlap, so each row type reads its own.
    pub(crate) const SELECT_ALL: &'static str = "SELECT c.user_key, c.user_id, c.alias, c.name, \
        c.device_list, c.device_list_version, c.addrs, c.mailboxes, c.verified, c.added_ms, \
        m.seq, m.message_id, m.peer_user, m.direction, m.body, m.status, m.timestamp_ms, m.updated_ms, \
        m.kind, m.extra, m.reply_to, m.edited_ms, m.deleted, m.reactions, m.expires_at_ms, m.author, \
        (SELECT COUNT(*) FROM messages u \
         WHERE u.peer_user = c.user_key AND u.direction = 'in' AND u.status != 'read') AS unread \
        FROM contacts c \
        LEFT JOIN messages m ON m.seq = (SELECT MAX(x.seq) FROM messages x WHERE x.peer_user = c.user_key) \
        ORDER BY m.seq IS NULL, m.seq DESC, COALESCE(c.alias, c.name), c.user_id";

    pub(crate) fn from_row(row: &SqliteRow) -> Result<Self, StoreError> {
        let seq: Option<i64> = row.try_get("seq")?;
        Ok(ConversationRow {
            contact: ContactRow::from_row(row)?,
            last: seq.map(|_| MessageRow::from_row(row)).transpose()?,
            unread: row.try_get("unread")?,
        })
    }
}

/// An outbox row to insert.
#[derive(Clone, Debug)]
pub struct NewOutbox {
    /// 16 raw bytes of the envelope's message id.
    pub message_id: Vec<u8>,
    pub peer_user: Vec<u8>,
    pub peer_device: Vec<u8>,
    /// Encoded `Content` to encrypt.
    pub content: Vec<u8>,
}

/// An envelope waiting to leave.
#[derive(Clone, Debug)]
pub struct OutboxRow {
    pub seq: i64,
    pub message_id: Vec<u8>,
    pub peer_user: Vec<u8>,
    pub peer_device: Vec<u8>,
    pub content: Vec<u8>,
    pub envelope: Option<Vec<u8>>,
    pub attempts: i64,
}

impl OutboxRow {
    pub(crate) const SELECT_ALL: &'static str = "SELECT seq, message_id, peer_user, peer_device, content, envelope, attempts FROM outbox ORDER BY seq";
    pub(crate) const SELECT_ONE: &'static str = "SELECT seq, message_id, peer_user, peer_device, content, envelope, attempts FROM outbox WHERE seq = ?";

    pub(crate) fn from_row(row: &SqliteRow) -> Result<Self, StoreError> {
        Ok(OutboxRow {
            seq: row.try_get("seq")?,
            message_id: row.try_get("message_id")?,
            peer_user: row.try_get("peer_user")?,
            peer_device: row.try_get("peer_device")?,
            content: row.try_get("content")?,
            envelope: row.try_get("envelope")?,
            attempts: row.try_get("attempts")?,
        })
    }
}

/// Everything an accepted inbound envelope changes, applied in one transaction.
#[derive(Clone, Debug)]
pub struct InboundCommit {
    pub sender_user: Vec<u8>,
    /// 16 raw bytes.
    pub message_id: Vec<u8>,
    /// The session after decryption (its ratchet advanced).
    pub session: SessionRow,
    /// The account after an inbound session consumed a one-time key.
    pub account_pickle: Option<String>,
    /// A text message to store.
    pub message: Option<NewMessage>,
    /// Receipts: statuses of our outgoing messages to this sender (raw 16-byte ids).
    pub status_updates: Vec<(Vec<u8>, Status)>,
    /// Envelopes to send back (a delivery receipt).
    pub outbox: Vec<NewOutbox>,
    /// What the sender did to an earlier message (or to the conversation).
    pub change: Option<MessageChange>,
}

/// Something that happens to a message after it was sent (or to its conversation), applied in
/// the same transaction that accepts it. Message ids are UUID text, in the conversation with
/// the peer the change is applied for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessageChange {
    /// `by` (a user id) reacts to a message; `None` takes their reaction back.
    React {
        target: String,
        by: String,
        emoji: Option<String>,
    },
    /// The author (`author`: which way the message went) replaces its text.
    Edit {
        target: String,
        author: Direction,
        body: String,
        extra: Option<String>,
    },
    /// The author deletes the message for everyone: its text is erased, a tombstone stays.
    Delete { target: String, author: Direction },
    /// The conversation's disappearing-message timer (0: off).
    Timer { ms: i64 },
}

/// An outbox row just written: what the outbox core needs to schedule it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedOutbox {
    pub seq: i64,
    pub peer_device: Vec<u8>,
}

/// Result of [`crate::Store::commit_inbound`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InboundOutcome {
    Stored {
        changes: Vec<StatusChange>,
        queued: Vec<QueuedOutbox>,
        /// The message a [`MessageChange`] altered, if it altered one.
        changed: Option<String>,
    },
    /// The same envelope was accepted before; nothing changed.
    Duplicate,
}

/// A status that moved forward.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusChange {
    pub message_id: String,
    pub peer_user: Vec<u8>,
    pub status: Status,
}

/// Text form (hyphenated, lowercase) of a 16-byte UUID.
pub fn uuid_text(bytes: &[u8]) -> Option<String> {
    if bytes.len() != 16 {
        return None;
    }
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

fn hex_short(bytes: &[u8]) -> String {
    bytes
        .iter()
        .take(6)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A received file: what fetching it needs (table `files`). The manifest holds the file key:
/// `Debug` does not print it, and it is zeroized when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct FileRow {
    /// The message (UUID text).
    pub message_id: String,
    pub manifest: zeroize::Zeroizing<Vec<u8>>,
    /// Full multiaddrs answering `/omega/blob/1` gets, in the order to try them.
    pub sources: Vec<String>,
    /// `available`, `fetching`, `done` or `failed`.
    pub state: String,
    /// Where the fetched file was written.
    pub path: Option<String>,
    /// Why the last fetch failed.
    pub error: Option<String>,
}

impl std::fmt::Debug for FileRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileRow")
            .field("message_id", &self.message_id)
            .field("manifest", &format_args!("<{} bytes>", self.manifest.len()))
            .field("sources", &self.sources)
            .field("state", &self.state)
            .field("path", &self.path)
            .field("error", &self.error)
            .finish()
    }
}
