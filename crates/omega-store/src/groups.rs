//! Groups in the local store: membership logs, Megolm sessions (pickles arrive encrypted),
//! group messages that wait for their key, and the atomic writes of the group pipelines.

use sqlx::Row;

use crate::{
    MessageChange, NewMessage, NewOutbox, QueuedOutbox, Store, StoreError, Tx, apply_change,
    insert_message, insert_outboxes,
};

/// A group as stored: its genesis and every operation of its log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupRow {
    pub group_id: Vec<u8>,
    pub genesis: Vec<u8>,
    pub ops: Vec<Vec<u8>>,
}

/// This device's outbound Megolm session in a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupOutboundRow {
    pub group_id: Vec<u8>,
    pub session_id: String,
    /// Encrypted with the store key.
    pub pickle: String,
    /// omega-groups' `OutboundSessionInfo`, as JSON.
    pub info: String,
    /// JSON array of the user ids the key went to.
    pub shared_with: String,
}

/// Another device's Megolm session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupInboundRow {
    pub session_id: String,
    pub group_id: Vec<u8>,
    pub sender_user: Vec<u8>,
    /// The sending device's curve25519 key.
    pub sender_device: Vec<u8>,
    /// Encrypted with the store key.
    pub pickle: String,
    /// The ratchet index after the highest one decrypted (first: the key's first index).
    pub next_index: i64,
    /// JSON array of indexes below `next_index` never seen.
    pub missing: String,
}

/// What sending to a group does here, in the same transaction.
#[derive(Clone, Copy, Debug)]
pub enum GroupLocal<'a> {
    /// My new message.
    Item(&'a NewMessage),
    /// My reaction, edit or delete of a message of the group.
    Change {
        group_id: &'a [u8],
        author: &'a [u8],
        change: &'a MessageChange,
    },
}

/// A timer line of a group sets the group's disappearing-message timer (its `extra` holds it).
async fn set_timer_from(tx: &mut Tx<'_>, message: &NewMessage) -> Result<(), StoreError> {
    if message.meta.kind != crate::MessageKind::Timer {
        return Ok(());
    }
    let ms = message
        .meta
        .extra
        .as_deref()
        .and_then(|extra| serde_json::from_str::<serde_json::Value>(extra).ok())
        .and_then(|extra| extra["expires_in_ms"].as_i64())
        .unwrap_or(0)
        .max(0);
    sqlx::query("UPDATE groups SET disappearing_ms = ? WHERE group_id = ?")
        .bind(ms)
        .bind(message.peer_user.clone())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Applies a change by `author` (a user key) in a group's conversation: anyone reacts to a
/// message not deleted; only a message's author edits (text) or deletes it. Timers are not
/// group-wide yet and change nothing. Returns the id of the message changed.
async fn apply_group_change(
    tx: &mut Tx<'_>,
    group_id: &[u8],
    author: &[u8],
    change: &MessageChange,
    now_ms: i64,
) -> Result<Option<String>, StoreError> {
    let affected = match change {
        MessageChange::React { .. } => return apply_change(tx, group_id, change, now_ms).await,
        MessageChange::Timer { .. } => return Ok(None),
        MessageChange::Edit {
            target, body, extra, ..
        } => sqlx::query(
            "UPDATE messages SET body = ?, extra = ?, edited_ms = ?, updated_ms = ? \
             WHERE peer_user = ? AND message_id = ? AND author = ? AND deleted = 0 AND kind = 'text'",
        )
        .bind(body)
        .bind(extra)
        .bind(now_ms)
        .bind(now_ms)
        .bind(group_id.to_vec())
        .bind(target)
        .bind(author.to_vec())
        .execute(&mut **tx)
        .await?
        .rows_affected(),
        MessageChange::Delete { target, .. } => sqlx::query(
            "UPDATE messages SET body = '', extra = NULL, reactions = NULL, deleted = 1, updated_ms = ? \
             WHERE peer_user = ? AND message_id = ? AND author = ? AND kind != 'timer'",
        )
        .bind(now_ms)
        .bind(group_id.to_vec())
        .bind(target)
        .bind(author.to_vec())
        .execute(&mut **tx)
        .await?
        .rows_affected(),
    };
    Ok(match change {
        MessageChange::Edit { target, .. } | MessageChange::Delete { target, .. } => {
            (affected > 0).then(|| target.clone())
        }
        _ => None,
    })
}

/// Group messages kept waiting for their session key, at most this many.
pub const MAX_WAITING: i64 = 10_000;

impl Store {
    /// Records a group (once) and any of its operations not yet stored, in one transaction.
    pub async fn save_group(
        &self,
        group_id: &[u8],
        genesis: &[u8],
        ops: &[(Vec<u8>, Vec<u8>)],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO groups (group_id, genesis, joined_ms) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(group_id.to_vec())
        .bind(genesis.to_vec())
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        for (hash, op) in ops {
            sqlx::query(
                "INSERT INTO group_ops (group_id, hash, op) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            )
            .bind(group_id.to_vec())
            .bind(hash.clone())
            .bind(op.clone())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A group's disappearing-message timer (0: off).
    pub async fn group_timer(&self, group_id: &[u8]) -> Result<i64, StoreError> {
        let ms: Option<i64> =
            sqlx::query_scalar("SELECT disappearing_ms FROM groups WHERE group_id = ?")
                .bind(group_id.to_vec())
                .fetch_optional(&self.pool)
                .await?;
        Ok(ms.unwrap_or(0))
    }

    /// Every group with its operations.
    pub async fn groups(&self) -> Result<Vec<GroupRow>, StoreError> {
        let rows = sqlx::query("SELECT group_id, genesis FROM groups ORDER BY joined_ms")
            .fetch_all(&self.pool)
            .await?;
        let mut groups = Vec::with_capacity(rows.len());
        for row in rows {
            let group_id: Vec<u8> = row.try_get("group_id")?;
            let ops = sqlx::query_scalar("SELECT op FROM group_ops WHERE group_id = ?")
                .bind(group_id.clone())
                .fetch_all(&self.pool)
                .await?;
            groups.push(GroupRow {
                group_id,
                genesis: row.try_get("genesis")?,
                ops,
            });
        }
        Ok(groups)
    }

    /// This device's outbound session in a group.
    pub async fn group_outbound(
        &self,
        group_id: &[u8],
    ) -> Result<Option<GroupOutboundRow>, StoreError> {
        let row = sqlx::query(
            "SELECT group_id, session_id, pickle, info, shared_with FROM group_outbound WHERE group_id = ?",
        )
        .bind(group_id.to_vec())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(GroupOutboundRow {
                group_id: row.try_get("group_id")?,
                session_id: row.try_get("session_id")?,
                pickle: row.try_get("pickle")?,
                info: row.try_get("info")?,
                shared_with: row.try_get("shared_with")?,
            })
        })
        .transpose()
    }

    /// A received session, by id.
    pub async fn group_inbound(
        &self,
        session_id: &str,
    ) -> Result<Option<GroupInboundRow>, StoreError> {
        let row = sqlx::query(
            "SELECT session_id, group_id, sender_user, sender_device, pickle, next_index, missing FROM group_inbound WHERE session_id = ?",
        )
        .bind(session_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(GroupInboundRow {
                session_id: row.try_get("session_id")?,
                group_id: row.try_get("group_id")?,
                sender_user: row.try_get("sender_user")?,
                sender_device: row.try_get("sender_device")?,
                pickle: row.try_get("pickle")?,
                next_index: row.try_get("next_index")?,
                missing: row.try_get("missing")?,
            })
        })
        .transpose()
    }

    /// Records what has been seen of a received session (gap repair).
    pub async fn set_group_gaps(
        &self,
        session_id: &str,
        next_index: i64,
        missing: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE group_inbound SET next_index = ?, missing = ? WHERE session_id = ?")
            .bind(next_index)
            .bind(missing)
            .bind(session_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// My published messages of one session at these ratchet indexes.
    pub async fn group_sent(
        &self,
        session_id: &str,
        indexes: &[u32],
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut found = Vec::with_capacity(indexes.len());
        for index in indexes {
            let message: Option<Vec<u8>> = sqlx::query_scalar(
                "SELECT message FROM group_sent WHERE session_id = ? AND idx = ?",
            )
            .bind(session_id)
            .bind(i64::from(*index))
            .fetch_optional(&self.pool)
            .await?;
            found.extend(message);
        }
        Ok(found)
    }

    /// Drops my published messages older than `before_ms`.
    pub async fn purge_group_sent(&self, before_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM group_sent WHERE sent_ms < ?")
            .bind(before_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// The received sessions of a group: (session id, sender user key, received ms), oldest first.
    pub async fn group_inbound_sessions(
        &self,
        group_id: &[u8],
    ) -> Result<Vec<(String, Vec<u8>, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT session_id, sender_user, received_ms FROM group_inbound WHERE group_id = ? ORDER BY received_ms, session_id",
        )
        .bind(group_id.to_vec())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("session_id")?,
                    row.try_get("sender_user")?,
                    row.try_get("received_ms")?,
                ))
            })
            .collect()
    }

    /// Keeps a received session; a session id already known keeps its first key (a later copy
    /// could only start at a later index).
    pub async fn save_group_inbound(
        &self,
        session: &GroupInboundRow,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO group_inbound (session_id, group_id, sender_user, sender_device, pickle, received_ms, next_index, missing) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(session.session_id.clone())
        .bind(session.group_id.clone())
        .bind(session.sender_user.clone())
        .bind(session.sender_device.clone())
        .bind(session.pickle.clone())
        .bind(now_ms)
        .bind(session.next_index)
        .bind(session.missing.clone())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Keeps a group message whose session key has not arrived (refused beyond [`MAX_WAITING`]).
    pub async fn wait_for_group_key(
        &self,
        session_id: &str,
        message: &[u8],
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let waiting: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM group_waiting")
            .fetch_one(&self.pool)
            .await?;
        if waiting >= MAX_WAITING {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO group_waiting (session_id, message, received_ms) VALUES (?, ?, ?)",
        )
        .bind(session_id)
        .bind(message.to_vec())
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(true)
    }

    /// Takes (and deletes) the messages waiting for `session_id`, oldest first.
    pub async fn take_waiting(&self, session_id: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        let rows =
            sqlx::query_scalar("DELETE FROM group_waiting WHERE session_id = ? RETURNING message")
                .bind(session_id)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows)
    }

    /// Drops waiting messages older than `before_ms` (their key never came).
    pub async fn purge_waiting(&self, before_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM group_waiting WHERE received_ms < ?")
            .bind(before_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Sends a group message: my copy of it, the advanced outbound session (or a new one) and
    /// the outbox rows (session keys, carried copies) in one transaction. The session is stored
    /// before anything leaves, so a crash never reuses a ratchet index.
    pub async fn queue_group_send(
        &self,
        local: GroupLocal<'_>,
        outbound: &GroupOutboundRow,
        sent: (u32, &[u8]),
        outbox: &[NewOutbox],
        now_ms: i64,
    ) -> Result<(Vec<QueuedOutbox>, Option<String>), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO group_sent (session_id, idx, message, sent_ms) VALUES (?, ?, ?, ?)",
        )
        .bind(outbound.session_id.clone())
        .bind(i64::from(sent.0))
        .bind(sent.1.to_vec())
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        let changed = match local {
            GroupLocal::Item(message) => {
                insert_message(&mut tx, message, now_ms).await?;
                set_timer_from(&mut tx, message).await?;
                None
            }
            GroupLocal::Change {
                group_id,
                author,
                change,
            } => apply_group_change(&mut tx, group_id, author, change, now_ms).await?,
        };
        sqlx::query(
            "INSERT INTO group_outbound (group_id, session_id, pickle, info, shared_with) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (group_id) DO UPDATE SET session_id = excluded.session_id, pickle = excluded.pickle, \
             info = excluded.info, shared_with = excluded.shared_with",
        )
        .bind(outbound.group_id.clone())
        .bind(outbound.session_id.clone())
        .bind(outbound.pickle.clone())
        .bind(outbound.info.clone())
        .bind(outbound.shared_with.clone())
        .execute(&mut *tx)
        .await?;
        let queued = insert_outboxes(&mut tx, outbox, now_ms).await?;
        tx.commit().await?;
        Ok((queued, changed))
    }

    /// Records an arrived reaction, edit or delete in a group once per (sender, id): `None` for a
    /// duplicate, else the id of the message changed (if the change applied).
    pub async fn commit_group_change(
        &self,
        sender_user: &[u8],
        envelope_id: &[u8],
        group_id: &[u8],
        change: &MessageChange,
        now_ms: i64,
    ) -> Result<Option<Option<String>>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO seen_envelopes (sender_user, message_id, seen_ms) VALUES (?, ?, ?) \
             ON CONFLICT DO NOTHING",
        )
        .bind(sender_user.to_vec())
        .bind(envelope_id.to_vec())
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        let changed = apply_group_change(&mut tx, group_id, sender_user, change, now_ms).await?;
        tx.commit().await?;
        Ok(Some(changed))
    }

    /// Stores an arrived group message once per (sender, id). False for a duplicate.
    pub async fn commit_group_message(
        &self,
        sender_user: &[u8],
        message_id: &[u8],
        message: &NewMessage,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO seen_envelopes (sender_user, message_id, seen_ms) VALUES (?, ?, ?) \
             ON CONFLICT DO NOTHING",
        )
        .bind(sender_user.to_vec())
        .bind(message_id.to_vec())
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_message(&mut tx, message, now_ms).await?;
        set_timer_from(&mut tx, message).await?;
        tx.commit().await?;
        Ok(true)
    }
}
