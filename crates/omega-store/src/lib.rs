//! Ômega's storage. At the root, the node's local store: identity, contacts, Olm sessions, messages,
//! the inbound dedup set and the outbox, in one SQLite database (sqlx, WAL). In [`server`], the
//! server's store (mailboxes, device lists, prekeys) behind one trait, on SQLite or PostgreSQL.
//!
//! Every operation that must be atomic for crash safety is one method here running one transaction:
//! [`Store::queue_message`] writes the message and its outbox rows before any network attempt;
//! [`Store::commit_inbound`] records the dedup key, the advanced Olm session, the message and the
//! receipt to send back all at once, so a crash can neither lose an acknowledged message nor store it
//! twice. Secrets arrive already encrypted (pickles sealed by `omega-crypto`); this crate never sees
//! keys and does no cryptography. It reads no clock: callers pass `now_ms`. Every table and index is
//! declared in `migrations/` (applied by one migration runner for all databases).
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod groups;
mod migrate;
mod rows;
pub mod server;
mod sqlite;

use std::path::Path;

use sqlx::Row;
use sqlx::sqlite::{SqlitePool, SqliteSynchronous};

pub use groups::{GroupInboundRow, GroupLocal, GroupOutboundRow, GroupRow, MAX_WAITING};
pub use rows::{
    ContactRow, ConversationRow, Direction, FileRow, IdentityRow, InboundCommit, InboundOutcome,
    MessageChange, MessageKind, MessageMeta, MessageRow, NewMessage, NewOutbox, OutboxRow,
    QueuedOutbox, SessionRow, Status, StatusChange, uuid_text,
};

/// Errors of the local store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be opened, read or written.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The database was written by a newer version of Ômega.
    #[error("database schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew { found: i64, supported: i64 },
    /// Another contact already uses this alias.
    #[error("alias {alias:?} is already used by another contact")]
    AliasTaken { alias: String },
    /// A stored value does not parse (corruption or a manual edit).
    #[error("corrupt row in {table}: {reason}")]
    Corrupt { table: &'static str, reason: String },
    /// An identity already exists in this store.
    #[error("this data directory already holds an identity")]
    IdentityExists,
}

impl From<migrate::MigrateError> for StoreError {
    fn from(error: migrate::MigrateError) -> Self {
        match error {
            migrate::MigrateError::Database(error) => StoreError::Database(error),
            migrate::MigrateError::SchemaTooNew { found, supported } => {
                StoreError::SchemaTooNew { found, supported }
            }
        }
    }
}

/// Handle to the local store; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
}

/// Moves an outgoing message's status forward only; the ranks match [`Status::rank`].
const RAISE_STATUS: &str = "UPDATE messages SET status = ?4, updated_ms = ?1 \
     WHERE peer_user = ?2 AND direction = 'out' AND message_id = ?3 \
     AND (CASE status WHEN 'queued' THEN 0 WHEN 'failed' THEN 1 WHEN 'sent' THEN 2 \
          WHEN 'delivered' THEN 3 WHEN 'read' THEN 4 ELSE 0 END) < ?5";

impl Store {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        let pool = sqlite::open_pool(path, SqliteSynchronous::Normal, 4).await?;
        migrate::sqlite(&pool, migrate::NODE_SQLITE).await?;
        Ok(Store { pool })
    }

    /// Closes every connection (checkpointing the WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    // ---- identity -------------------------------------------------------------------------------

    /// This device's identity, if one was created.
    pub async fn identity(&self) -> Result<Option<IdentityRow>, StoreError> {
        let row = sqlx::query(
            "SELECT user_key, name, account_pickle, device_list, created_ms FROM identity WHERE id = 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| IdentityRow::from_row(&row)).transpose()
    }

    /// Stores a new identity; refuses if one exists.
    pub async fn create_identity(&self, identity: &IdentityRow) -> Result<(), StoreError> {
        let result = sqlx::query(
            "INSERT INTO identity (id, user_key, name, account_pickle, device_list, created_ms) \
             VALUES (1, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
        )
        .bind(identity.user_key.clone())
        .bind(identity.name.clone())
        .bind(identity.account_pickle.clone())
        .bind(identity.device_list.clone())
        .bind(identity.created_ms)
        .execute(&self.pool)
        .await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::IdentityExists);
        }
        Ok(())
    }

    /// Replaces our signed device list (a newer version).
    pub async fn save_device_list(&self, device_list: &[u8]) -> Result<(), StoreError> {
        sqlx::query("UPDATE identity SET device_list = ? WHERE id = 1")
            .bind(device_list.to_vec())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Replaces the encrypted account pickle (after one-time keys were issued or consumed).
    pub async fn save_account(&self, account_pickle: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE identity SET account_pickle = ? WHERE id = 1")
            .bind(account_pickle.to_owned())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---- contacts -------------------------------------------------------------------------------

    /// Adds a contact or refreshes it. A stored device list is replaced only by a newer version;
    /// an alias, when given, replaces the old one.
    pub async fn upsert_contact(&self, contact: &ContactRow) -> Result<(), StoreError> {
        let json = |list: &[String]| {
            serde_json::to_string(list).map_err(|error| StoreError::Corrupt {
                table: "contacts",
                reason: error.to_string(),
            })
        };
        let addrs = json(&contact.addrs)?;
        let mailboxes = json(&contact.mailboxes)?;
        let result = sqlx::query(
            "INSERT INTO contacts (user_key, user_id, alias, name, device_list, device_list_version, addrs, mailboxes, verified, added_ms) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?) \
             ON CONFLICT (user_key) DO UPDATE SET \
               alias = COALESCE(excluded.alias, contacts.alias), \
               name = excluded.name, \
               addrs = excluded.addrs, \
               mailboxes = excluded.mailboxes, \
               device_list = CASE WHEN excluded.device_list_version >= contacts.device_list_version \
                             THEN excluded.device_list ELSE contacts.device_list END, \
               device_list_version = MAX(excluded.device_list_version, contacts.device_list_version)",
        )
        .bind(contact.user_key.clone())
        .bind(contact.user_id.clone())
        .bind(contact.alias.clone())
        .bind(contact.name.clone())
        .bind(contact.device_list.clone())
        .bind(contact.device_list_version)
        .bind(addrs)
        .bind(mailboxes)
        .bind(contact.added_ms)
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
                Err(StoreError::AliasTaken {
                    alias: contact.alias.clone().unwrap_or_default(),
                })
            }
            Err(error) => Err(error.into()),
        }
    }

    /// The contact with this user key.
    pub async fn contact(&self, user_key: &[u8]) -> Result<Option<ContactRow>, StoreError> {
        let row = sqlx::query(ContactRow::SELECT_BY_KEY)
            .bind(user_key.to_vec())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| ContactRow::from_row(&row)).transpose()
    }

    /// Finds a contact by alias, then by user id, then by display name (only if unambiguous).
    pub async fn find_contact(&self, name: &str) -> Result<Option<ContactRow>, StoreError> {
        for query in [ContactRow::SELECT_BY_ALIAS, ContactRow::SELECT_BY_USER_ID] {
            if let Some(row) = sqlx::query(query)
                .bind(name.to_owned())
                .fetch_optional(&self.pool)
                .await?
            {
                return ContactRow::from_row(&row).map(Some);
            }
        }
        let rows = sqlx::query(ContactRow::SELECT_BY_NAME)
            .bind(name.to_owned())
            .fetch_all(&self.pool)
            .await?;
        match rows.as_slice() {
            [row] => ContactRow::from_row(row).map(Some),
            _ => Ok(None),
        }
    }

    /// Every contact, by alias or name.
    pub async fn contacts(&self) -> Result<Vec<ContactRow>, StoreError> {
        let rows = sqlx::query(ContactRow::SELECT_ALL)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(ContactRow::from_row).collect()
    }

    /// Every contact with its last message and how many incoming messages are not read yet
    /// (the ones [`Store::mark_read`] would mark), most recent conversation first; contacts
    /// without messages come last, by alias or name.
    pub async fn conversations(&self) -> Result<Vec<ConversationRow>, StoreError> {
        let rows = sqlx::query(ConversationRow::SELECT_ALL)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(ConversationRow::from_row).collect()
    }

    /// Marks a contact verified (safety number compared) or not.
    pub async fn set_contact_verified(
        &self,
        user_key: &[u8],
        verified: bool,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query("UPDATE contacts SET verified = ? WHERE user_key = ?")
            .bind(verified)
            .bind(user_key.to_vec())
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Replaces the addresses a contact is reached at (learned from the network).
    pub async fn set_contact_addrs(
        &self,
        user_key: &[u8],
        addrs: &[String],
    ) -> Result<(), StoreError> {
        let addrs = serde_json::to_string(addrs).map_err(|error| StoreError::Corrupt {
            table: "contacts",
            reason: error.to_string(),
        })?;
        sqlx::query("UPDATE contacts SET addrs = ? WHERE user_key = ?")
            .bind(addrs)
            .bind(user_key.to_vec())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---- sessions -------------------------------------------------------------------------------

    /// Olm sessions with a remote device, most recently used first.
    pub async fn sessions_for(
        &self,
        peer_curve25519: &[u8],
    ) -> Result<Vec<SessionRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT session_id, peer_curve25519, pickle FROM sessions \
             WHERE peer_curve25519 = ? ORDER BY used_seq DESC",
        )
        .bind(peer_curve25519.to_vec())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(SessionRow::from_row).collect()
    }

    // ---- outgoing -------------------------------------------------------------------------------

    /// Durably queues an outgoing text message and its per-device outbox rows, in one transaction.
    pub async fn queue_message(
        &self,
        message: &NewMessage,
        outbox: &[NewOutbox],
        now_ms: i64,
    ) -> Result<Vec<QueuedOutbox>, StoreError> {
        self.queue_item(message, outbox, None, now_ms).await
    }

    /// [`Store::queue_message`] with a change that comes with the item (a timer line sets the
    /// conversation's timer), all in one transaction.
    pub async fn queue_item(
        &self,
        message: &NewMessage,
        outbox: &[NewOutbox],
        change: Option<&MessageChange>,
        now_ms: i64,
    ) -> Result<Vec<QueuedOutbox>, StoreError> {
        let mut tx = self.pool.begin().await?;
        insert_message(&mut tx, message, now_ms).await?;
        if let Some(change) = change {
            apply_change(&mut tx, &message.peer_user, change, now_ms).await?;
        }
        let queued = insert_outboxes(&mut tx, outbox, now_ms).await?;
        tx.commit().await?;
        Ok(queued)
    }

    /// One message of the conversation with `peer_user`, by id.
    pub async fn message_in(
        &self,
        peer_user: &[u8],
        message_id: &str,
    ) -> Result<Option<MessageRow>, StoreError> {
        let row = sqlx::query(MessageRow::SELECT_IN_CONVERSATION)
            .bind(peer_user.to_vec())
            .bind(message_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| MessageRow::from_row(&row)).transpose()
    }

    /// Every envelope still waiting to leave, oldest first.
    pub async fn pending_outbox(&self) -> Result<Vec<OutboxRow>, StoreError> {
        let rows = sqlx::query(OutboxRow::SELECT_ALL)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(OutboxRow::from_row).collect()
    }

    /// One outbox row.
    pub async fn outbox_row(&self, seq: i64) -> Result<Option<OutboxRow>, StoreError> {
        let row = sqlx::query(OutboxRow::SELECT_ONE)
            .bind(seq)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| OutboxRow::from_row(&row)).transpose()
    }

    /// Stores the encrypted envelope of an outbox row together with the advanced Olm session (and
    /// account, when a session was just created), erasing the plaintext copy of the content.
    pub async fn seal_outbox(
        &self,
        seq: i64,
        envelope: &[u8],
        session: &SessionRow,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE outbox SET envelope = ?, content = x'' WHERE seq = ?")
            .bind(envelope.to_vec())
            .bind(seq)
            .execute(&mut *tx)
            .await?;
        upsert_session(&mut tx, session, now_ms).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores a session outside any message (a freshly created outbound session).
    pub async fn save_session(&self, session: &SessionRow, now_ms: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        upsert_session(&mut tx, session, now_ms).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Counts one more delivery attempt of an outbox row.
    pub async fn record_attempt(&self, seq: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET attempts = attempts + 1 WHERE seq = ?")
            .bind(seq)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Removes a delivered (or definitively refused) outbox row and moves the message's status to
    /// `status` if that is a step forward. Returns the change applied, if any.
    pub async fn finish_outbox(
        &self,
        row: &OutboxRow,
        status: Status,
        now_ms: i64,
    ) -> Result<Option<StatusChange>, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM outbox WHERE seq = ?")
            .bind(row.seq)
            .execute(&mut *tx)
            .await?;
        let change = raise_status(&mut tx, &row.peer_user, &row.message_id, status, now_ms).await?;
        tx.commit().await?;
        Ok(change)
    }

    // ---- incoming -------------------------------------------------------------------------------

    /// Whether an envelope from this sender with this id was already accepted.
    pub async fn is_seen(&self, sender_user: &[u8], message_id: &[u8]) -> Result<bool, StoreError> {
        let row =
            sqlx::query("SELECT 1 FROM seen_envelopes WHERE sender_user = ? AND message_id = ?")
                .bind(sender_user.to_vec())
                .bind(message_id.to_vec())
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.is_some())
    }

    /// Atomically records an accepted inbound envelope with everything it causes.
    pub async fn commit_inbound(
        &self,
        commit: &InboundCommit,
        now_ms: i64,
    ) -> Result<InboundOutcome, StoreError> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO seen_envelopes (sender_user, message_id, seen_ms) VALUES (?, ?, ?) \
             ON CONFLICT DO NOTHING",
        )
        .bind(commit.sender_user.clone())
        .bind(commit.message_id.clone())
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(InboundOutcome::Duplicate);
        }
        upsert_session(&mut tx, &commit.session, now_ms).await?;
        if let Some(pickle) = &commit.account_pickle {
            sqlx::query("UPDATE identity SET account_pickle = ? WHERE id = 1")
                .bind(pickle.clone())
                .execute(&mut *tx)
                .await?;
        }
        if let Some(message) = &commit.message {
            insert_message(&mut tx, message, now_ms).await?;
        }
        let changed = match &commit.change {
            Some(change) => apply_change(&mut tx, &commit.sender_user, change, now_ms).await?,
            None => None,
        };
        let queued = insert_outboxes(&mut tx, &commit.outbox, now_ms).await?;
        let mut changes = Vec::new();
        for (message_id, status) in &commit.status_updates {
            if let Some(change) =
                raise_status(&mut tx, &commit.sender_user, message_id, *status, now_ms).await?
            {
                changes.push(change);
            }
        }
        tx.commit().await?;
        Ok(InboundOutcome::Stored {
            changes,
            queued,
            changed,
        })
    }

    /// Marks every unread incoming message of a conversation read and queues the read receipts
    /// built by `receipts` (given the ids marked), in one transaction. Returns the ids marked.
    pub async fn mark_read(
        &self,
        peer_user: &[u8],
        now_ms: i64,
        receipts: impl FnOnce(&[String]) -> Vec<NewOutbox>,
    ) -> Result<(Vec<String>, Vec<QueuedOutbox>), StoreError> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "UPDATE messages SET status = 'read', updated_ms = ? \
             WHERE peer_user = ? AND direction = 'in' AND status != 'read' RETURNING message_id",
        )
        .bind(now_ms)
        .bind(peer_user.to_vec())
        .fetch_all(&mut *tx)
        .await?;
        let ids = rows
            .iter()
            .map(|row| row.try_get::<String, _>("message_id"))
            .collect::<Result<Vec<_>, _>>()?;
        let queued = if ids.is_empty() {
            Vec::new()
        } else {
            insert_outboxes(&mut tx, &receipts(&ids), now_ms).await?
        };
        tx.commit().await?;
        Ok((ids, queued))
    }

    // ---- reading messages -----------------------------------------------------------------------

    /// The last `limit` messages, of one conversation or of all, in conversation order.
    pub async fn messages(
        &self,
        peer_user: Option<&[u8]>,
        limit: i64,
    ) -> Result<Vec<MessageRow>, StoreError> {
        let rows = match peer_user {
            Some(peer) => {
                sqlx::query(MessageRow::SELECT_BY_PEER)
                    .bind(peer.to_vec())
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query(MessageRow::SELECT_ALL)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        let mut messages = rows
            .iter()
            .map(MessageRow::from_row)
            .collect::<Result<Vec<_>, _>>()?;
        messages.reverse();
        Ok(messages)
    }

    /// Messages whose text contains every word of `query` (a word also matches as a prefix;
    /// case and accents are ignored), best match first, of one conversation or all. The query
    /// is plain words, never FTS5 syntax: quotes, `*`, `NEAR`, `-` are taken literally.
    pub async fn search(
        &self,
        query: &str,
        peer_user: Option<&[u8]>,
        limit: i64,
    ) -> Result<Vec<MessageRow>, StoreError> {
        let Some(expression) = fts_expression(query) else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query(MessageRow::SEARCH)
            .bind(expression)
            .bind(peer_user.map(<[u8]>::to_vec))
            .bind(peer_user.map(<[u8]>::to_vec))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(MessageRow::from_row).collect()
    }

    /// Applies our own change to a message (a reaction, an edit, a delete for everyone) or to a
    /// conversation (the timer) and queues the envelopes telling the peer, in one transaction.
    /// Returns the id of the message changed, or `None` when the change applies to nothing (an
    /// unknown message, someone else's message to edit) — then nothing is queued either.
    pub async fn change_message(
        &self,
        peer_user: &[u8],
        change: &MessageChange,
        outbox: &[NewOutbox],
        now_ms: i64,
    ) -> Result<(Option<String>, Vec<QueuedOutbox>), StoreError> {
        let mut tx = self.pool.begin().await?;
        let changed = apply_change(&mut tx, peer_user, change, now_ms).await?;
        if changed.is_none() && !matches!(change, MessageChange::Timer { .. }) {
            tx.rollback().await?;
            return Ok((None, Vec::new()));
        }
        let queued = insert_outboxes(&mut tx, outbox, now_ms).await?;
        tx.commit().await?;
        Ok((changed, queued))
    }

    /// A conversation's disappearing-message timer in ms (0: off).
    pub async fn disappearing_ms(&self, peer_user: &[u8]) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT disappearing_ms FROM contacts WHERE user_key = ?")
                .bind(peer_user.to_vec())
                .fetch_optional(&self.pool)
                .await?
                .unwrap_or(0),
        )
    }

    /// Records what fetching a received file needs. Idempotent: a row already there is kept
    /// (a redelivered envelope carries the same manifest).
    pub async fn put_file(&self, file: &FileRow, now_ms: i64) -> Result<(), StoreError> {
        let sources = serde_json::to_string(&file.sources).unwrap_or_else(|_| "[]".to_owned());
        sqlx::query(
            "INSERT INTO files (message_id, manifest, sources, state, path, error, updated_ms) \
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (message_id) DO NOTHING",
        )
        .bind(file.message_id.clone())
        .bind(file.manifest.to_vec())
        .bind(sources)
        .bind(file.state.clone())
        .bind(file.path.clone())
        .bind(file.error.clone())
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The received file of message `message_id`, if it is one.
    pub async fn file(&self, message_id: &str) -> Result<Option<FileRow>, StoreError> {
        let row = sqlx::query(
            "SELECT message_id, manifest, sources, state, path, error FROM files \
             WHERE message_id = ?",
        )
        .bind(message_id.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let sources: String = row.try_get("sources")?;
        Ok(Some(FileRow {
            message_id: row.try_get("message_id")?,
            manifest: zeroize::Zeroizing::new(row.try_get("manifest")?),
            sources: serde_json::from_str(&sources).map_err(|error| StoreError::Corrupt {
                table: "files",
                reason: format!("sources: {error}"),
            })?,
            state: row.try_get("state")?,
            path: row.try_get("path")?,
            error: row.try_get("error")?,
        }))
    }

    /// Sets a received file's fetch state (`fetching`, `done` with its path, `failed` with why).
    pub async fn set_file_state(
        &self,
        message_id: &str,
        state: &str,
        path: Option<&str>,
        error: Option<&str>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE files SET state = ?, path = ?, error = ?, updated_ms = ? WHERE message_id = ?",
        )
        .bind(state.to_owned())
        .bind(path.map(str::to_owned))
        .bind(error.map(str::to_owned))
        .bind(now_ms)
        .bind(message_id.to_owned())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Erases every disappearing message whose time has come (rows and search index alike);
    /// returns `(peer_user, message_id)` of each.
    pub async fn erase_expired(&self, now_ms: i64) -> Result<Vec<(Vec<u8>, String)>, StoreError> {
        let rows = sqlx::query(
            "DELETE FROM messages WHERE expires_at_ms IS NOT NULL AND expires_at_ms <= ? \
             RETURNING peer_user, message_id",
        )
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("peer_user")?, row.try_get("message_id")?)))
            .collect()
    }

    /// One outgoing or incoming message by id.
    pub async fn message(&self, message_id: &str) -> Result<Option<MessageRow>, StoreError> {
        let row = sqlx::query(MessageRow::SELECT_BY_ID)
            .bind(message_id.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| MessageRow::from_row(&row)).transpose()
    }
}

type Tx<'a> = sqlx::Transaction<'a, sqlx::Sqlite>;

// ---- multi-device -------------------------------------------------------------------------------

impl Store {
    /// Messages with `seq` > `after_seq`, oldest first, at most `limit` (history to backfill).
    pub async fn messages_page(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<MessageRow>, StoreError> {
        let rows = sqlx::query(MessageRow::SELECT_PAGE)
            .bind(after_seq)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(MessageRow::from_row).collect()
    }

    /// Stores messages of a backfill, skipping any already held (same conversation, direction
    /// and id): idempotent. Returns how many were new.
    pub async fn import_messages(
        &self,
        messages: &[NewMessage],
        now_ms: i64,
    ) -> Result<usize, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut added = 0;
        for message in messages {
            let result = sqlx::query(
                "INSERT INTO messages (message_id, peer_user, direction, body, status, timestamp_ms, updated_ms, \
                 kind, extra, reply_to, expires_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(message.message_id.clone())
            .bind(message.peer_user.clone())
            .bind(message.direction.as_str())
            .bind(message.body.clone())
            .bind(message.status.as_str())
            .bind(message.timestamp_ms)
            .bind(now_ms)
            .bind(message.meta.kind.as_str())
            .bind(message.meta.extra.clone())
            .bind(message.meta.reply_to.clone())
            .bind(message.meta.expires_at_ms)
            .execute(&mut *tx)
            .await?;
            added += result.rows_affected() as usize;
        }
        tx.commit().await?;
        Ok(added)
    }

    /// Durably queues outbox rows that belong to no stored message (device contents).
    pub async fn queue_outbox(
        &self,
        outbox: &[NewOutbox],
        now_ms: i64,
    ) -> Result<Vec<QueuedOutbox>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let queued = insert_outboxes(&mut tx, outbox, now_ms).await?;
        tx.commit().await?;
        Ok(queued)
    }

    /// Drops every envelope still waiting for one device (a revoked one).
    pub async fn drop_outbox_for(&self, peer_device: &[u8]) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM outbox WHERE peer_device = ?")
            .bind(peer_device.to_vec())
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected())
    }

    /// The saved conversation-metadata document, if any.
    pub async fn metadata_doc(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT doc FROM metadata_doc WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Replaces the saved conversation-metadata document.
    pub async fn save_metadata_doc(&self, doc: &[u8]) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO metadata_doc (id, doc) VALUES (1, ?) \
             ON CONFLICT (id) DO UPDATE SET doc = excluded.doc",
        )
        .bind(doc.to_vec())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Sets (or, with `None`, clears) a contact's alias. An alias another contact holds is
    /// [`StoreError::AliasTaken`].
    pub async fn set_contact_alias(
        &self,
        user_key: &[u8],
        alias: Option<&str>,
    ) -> Result<(), StoreError> {
        match sqlx::query("UPDATE contacts SET alias = ? WHERE user_key = ?")
            .bind(alias.map(str::to_owned))
            .bind(user_key.to_vec())
            .execute(&self.pool)
            .await
        {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
                Err(StoreError::AliasTaken {
                    alias: alias.unwrap_or_default().to_owned(),
                })
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Marks incoming messages of a conversation up to the id `until` read (ids are UUIDv7 text,
    /// so one sender's ids order by time; a read on another of my devices: no receipts).
    /// Returns how many changed.
    pub async fn mark_read_until(
        &self,
        peer_user: &[u8],
        until: &str,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let result = sqlx::query(
            "UPDATE messages SET status = 'read', updated_ms = ? \
             WHERE peer_user = ? AND direction = 'in' AND status != 'read' AND message_id <= ?",
        )
        .bind(now_ms)
        .bind(peer_user.to_vec())
        .bind(until.to_owned())
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected())
    }

    /// The newest (largest UUIDv7) incoming message id of a conversation.
    pub async fn latest_incoming_id(&self, peer_user: &[u8]) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT MAX(message_id) FROM messages WHERE peer_user = ? AND direction = 'in'",
        )
        .bind(peer_user.to_vec())
        .fetch_one(&self.pool)
        .await?)
    }

    /// Where my other devices were last seen: (peer id, addresses).
    pub async fn own_device_addrs(&self) -> Result<Vec<(Vec<u8>, Vec<String>)>, StoreError> {
        let rows = sqlx::query("SELECT peer_id, addrs FROM own_device_addrs")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let peer: Vec<u8> = row.try_get("peer_id")?;
                let addrs: String = row.try_get("addrs")?;
                let addrs = serde_json::from_str(&addrs).map_err(|error| StoreError::Corrupt {
                    table: "own_device_addrs",
                    reason: error.to_string(),
                })?;
                Ok((peer, addrs))
            })
            .collect()
    }

    /// Replaces the addresses one of my other devices is reached at.
    pub async fn set_own_device_addrs(
        &self,
        peer_id: &[u8],
        addrs: &[String],
    ) -> Result<(), StoreError> {
        let addrs = serde_json::to_string(addrs).map_err(|error| StoreError::Corrupt {
            table: "own_device_addrs",
            reason: error.to_string(),
        })?;
        sqlx::query(
            "INSERT INTO own_device_addrs (peer_id, addrs) VALUES (?, ?) \
             ON CONFLICT (peer_id) DO UPDATE SET addrs = excluded.addrs",
        )
        .bind(peer_id.to_vec())
        .bind(addrs)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

async fn insert_message(
    tx: &mut Tx<'_>,
    message: &NewMessage,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO messages (message_id, peer_user, direction, body, status, timestamp_ms, updated_ms, \
         kind, extra, reply_to, expires_at_ms, author) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(message.message_id.clone())
    .bind(message.peer_user.clone())
    .bind(message.direction.as_str())
    .bind(message.body.clone())
    .bind(message.status.as_str())
    .bind(message.timestamp_ms)
    .bind(now_ms)
    .bind(message.meta.kind.as_str())
    .bind(message.meta.extra.clone())
    .bind(message.meta.reply_to.clone())
    .bind(message.meta.expires_at_ms)
    .bind(message.meta.author.clone())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Applies a [`MessageChange`] for the conversation with `peer_user`; returns the message id
/// changed (the timer: a system line is added, its id is returned).
async fn apply_change(
    tx: &mut Tx<'_>,
    peer_user: &[u8],
    change: &MessageChange,
    now_ms: i64,
) -> Result<Option<String>, StoreError> {
    let affected = match change {
        MessageChange::React { target, by, emoji } => {
            let current: Option<Option<String>> = sqlx::query_scalar(
                "SELECT reactions FROM messages WHERE peer_user = ? AND message_id = ? AND deleted = 0",
            )
            .bind(peer_user.to_vec())
            .bind(target)
            .fetch_optional(&mut **tx)
            .await?;
            let Some(current) = current else {
                return Ok(None);
            };
            let mut list: Vec<serde_json::Value> = current
                .as_deref()
                .and_then(|json| serde_json::from_str(json).ok())
                .unwrap_or_default();
            list.retain(|reaction| reaction["by"].as_str() != Some(by.as_str()));
            if let Some(emoji) = emoji {
                list.push(serde_json::json!({ "by": by, "emoji": emoji }));
            }
            let json = (!list.is_empty()).then(|| serde_json::Value::Array(list).to_string());
            sqlx::query(
                "UPDATE messages SET reactions = ?, updated_ms = ? WHERE peer_user = ? AND message_id = ?",
            )
            .bind(json)
            .bind(now_ms)
            .bind(peer_user.to_vec())
            .bind(target)
            .execute(&mut **tx)
            .await?
            .rows_affected()
        }
        MessageChange::Edit {
            target,
            author,
            body,
            extra,
        } => sqlx::query(
            "UPDATE messages SET body = ?, extra = ?, edited_ms = ?, updated_ms = ? \
             WHERE peer_user = ? AND message_id = ? AND direction = ? AND deleted = 0 AND kind = 'text'",
        )
        .bind(body)
        .bind(extra)
        .bind(now_ms)
        .bind(now_ms)
        .bind(peer_user.to_vec())
        .bind(target)
        .bind(author.as_str())
        .execute(&mut **tx)
        .await?
        .rows_affected(),
        MessageChange::Delete { target, author } => sqlx::query(
            "UPDATE messages SET body = '', extra = NULL, reactions = NULL, deleted = 1, updated_ms = ? \
             WHERE peer_user = ? AND message_id = ? AND direction = ? AND kind != 'timer'",
        )
        .bind(now_ms)
        .bind(peer_user.to_vec())
        .bind(target)
        .bind(author.as_str())
        .execute(&mut **tx)
        .await?
        .rows_affected(),
        MessageChange::Timer { ms } => {
            sqlx::query("UPDATE contacts SET disappearing_ms = ? WHERE user_key = ?")
                .bind(ms)
                .bind(peer_user.to_vec())
                .execute(&mut **tx)
                .await?;
            return Ok(None);
        }
    };
    Ok(match change {
        MessageChange::React { target, .. }
        | MessageChange::Edit { target, .. }
        | MessageChange::Delete { target, .. } => (affected > 0).then(|| target.clone()),
        MessageChange::Timer { .. } => None,
    })
}

async fn insert_outboxes(
    tx: &mut Tx<'_>,
    rows: &[NewOutbox],
    now_ms: i64,
) -> Result<Vec<QueuedOutbox>, StoreError> {
    let mut queued = Vec::with_capacity(rows.len());
    for row in rows {
        if let Some(seq) = insert_outbox(tx, row, now_ms).await? {
            queued.push(QueuedOutbox {
                seq,
                peer_device: row.peer_device.clone(),
            });
        }
    }
    Ok(queued)
}

/// Inserts an outbox row; returns its `seq`, or `None` if the same (message, device) was queued already.
async fn insert_outbox(
    tx: &mut Tx<'_>,
    row: &NewOutbox,
    now_ms: i64,
) -> Result<Option<i64>, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO outbox (message_id, peer_user, peer_device, content, created_ms) \
         VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING seq",
    )
    .bind(row.message_id.clone())
    .bind(row.peer_user.clone())
    .bind(row.peer_device.clone())
    .bind(row.content.clone())
    .bind(now_ms)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(inserted.map(|row| row.try_get("seq")).transpose()?)
}

async fn upsert_session(
    tx: &mut Tx<'_>,
    session: &SessionRow,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sessions (session_id, peer_curve25519, pickle, used_seq, created_ms) \
         VALUES (?, ?, ?, (SELECT COALESCE(MAX(used_seq), 0) + 1 FROM sessions), ?) \
         ON CONFLICT (session_id) DO UPDATE SET pickle = excluded.pickle, used_seq = excluded.used_seq",
    )
    .bind(session.session_id.clone())
    .bind(session.peer_curve25519.clone())
    .bind(session.pickle.clone())
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Moves an outgoing message's status forward (never backward). `message_id` is the 16 raw bytes.
async fn raise_status(
    tx: &mut Tx<'_>,
    peer_user: &[u8],
    message_id: &[u8],
    status: Status,
    now_ms: i64,
) -> Result<Option<StatusChange>, StoreError> {
    let Some(message_id) = rows::uuid_text(message_id) else {
        return Ok(None);
    };
    if status == Status::Queued {
        return Ok(None);
    }
    let result = sqlx::query(RAISE_STATUS)
        .bind(now_ms)
        .bind(peer_user.to_vec())
        .bind(message_id.clone())
        .bind(status.as_str())
        .bind(status.rank())
        .execute(&mut **tx)
        .await?;
    Ok((result.rows_affected() == 1).then(|| StatusChange {
        message_id,
        peer_user: peer_user.to_vec(),
        status,
    }))
}

#[cfg(test)]
mod tests;

/// Turns what a person typed into an FTS5 expression: each word quoted (so no word is read as
/// syntax) and matched as a prefix, all words required. `None` when there is no word.
fn fts_expression(query: &str) -> Option<String> {
    let terms: Vec<String> = query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .take(16)
        .map(|word| format!("\"{}\"*", word.chars().take(64).collect::<String>()))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}
