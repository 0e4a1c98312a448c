//! Inbox storage: channels, the durable inbound queue, and the normalized contacts,
//! conversations and messages.

use omega_channels::{DeliveryStatus, NormalizedMessage};

use super::rows::col;
use super::tenant::QuotaTable;
use super::{HubDb, StoreError, TenantDb, TenantId};

#[derive(Clone, PartialEq, Eq)]
pub struct ChannelRow {
    pub tenant_id: String,
    pub id: String,
    pub kind: String,
    pub name: String,
    pub webhook_token_hash: Vec<u8>,
    pub secret_sealed: Option<Vec<u8>>,
    pub created_ms: i64,
    /// The sealed [`omega_channels::outbound::Credentials`] for replies, if configured.
    pub credentials_sealed: Option<Vec<u8>>,
    /// The connector session (JSON), for WhatsApp instances with credentials.
    pub session_state: Option<String>,
}

impl std::fmt::Debug for ChannelRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelRow")
            .field("tenant_id", &self.tenant_id)
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundRow {
    pub id: String,
    pub tenant_id: String,
    pub channel_id: String,
    pub received_ms: i64,
    pub body: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConversationRow {
    pub id: String,
    pub channel_id: String,
    pub chat_key: String,
    pub contact_id: String,
    pub is_group: bool,
    pub last_message_ms: i64,
    /// The contact's lead score, when listed with it.
    pub lead_score: Option<i64>,
    /// The member handling it, if any.
    pub assignee_id: Option<String>,
}

/// What [`TenantDb::apply_message`] stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMessage {
    pub message_id: String,
    pub conversation_id: String,
    pub contact_id: String,
    pub new_contact: bool,
    /// `in` or `out`.
    pub direction: &'static str,
    pub kind: String,
    pub status: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboxMessageRow {
    pub id: String,
    pub channel_id: String,
    pub conversation_id: String,
    pub provider_message_id: String,
    pub direction: String,
    pub kind: String,
    pub sender_key: String,
    pub text: Option<String>,
    pub status: String,
    pub sent_at_ms: i64,
}

pub(super) fn channel_row(row: &sqlx::any::AnyRow) -> Result<ChannelRow, StoreError> {
    Ok(ChannelRow {
        tenant_id: col(row, "tenant_id")?,
        id: col(row, "id")?,
        kind: col(row, "kind")?,
        name: col(row, "name")?,
        webhook_token_hash: col(row, "webhook_token_hash")?,
        secret_sealed: col(row, "secret_sealed")?,
        created_ms: col(row, "created_ms")?,
        credentials_sealed: col(row, "credentials_sealed")?,
        session_state: col(row, "session_state")?,
    })
}

pub(super) fn conversation_row(row: &sqlx::any::AnyRow) -> Result<ConversationRow, StoreError> {
    Ok(ConversationRow {
        id: col(row, "id")?,
        channel_id: col(row, "channel_id")?,
        chat_key: col(row, "chat_key")?,
        contact_id: col(row, "contact_id")?,
        is_group: col::<i64>(row, "is_group")? != 0,
        last_message_ms: col(row, "last_message_ms")?,
        lead_score: sqlx::Row::try_get::<Option<i64>, _>(row, "lead_score")
            .ok()
            .flatten(),
        assignee_id: col(row, "assignee_id")?,
    })
}

pub(crate) fn status_text(status: DeliveryStatus) -> &'static str {
    match status {
        DeliveryStatus::Pending => "pending",
        DeliveryStatus::Sent => "sent",
        DeliveryStatus::Delivered => "delivered",
        DeliveryStatus::Read => "read",
        DeliveryStatus::Failed => "failed",
    }
}

fn status_from_text(text: &str) -> DeliveryStatus {
    match text {
        "sent" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        "read" => DeliveryStatus::Read,
        "failed" => DeliveryStatus::Failed,
        _ => DeliveryStatus::Pending,
    }
}

impl HubDb {
    /// A channel by id (webhooks name the channel; the channel names the tenant).
    pub async fn channel_by_id(&self, id: &str) -> Result<Option<ChannelRow>, StoreError> {
        sqlx::query("SELECT * FROM channels WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(channel_row)
            .transpose()
    }

    /// Stores an inbound body durably, before anything else happens to it.
    pub async fn enqueue_inbound(&self, row: &InboundRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO inbound_events (id, tenant_id, channel_id, received_ms, body, state) \
             VALUES ($1, $2, $3, $4, $5, 'pending')",
        )
        .bind(&row.id)
        .bind(&row.tenant_id)
        .bind(&row.channel_id)
        .bind(row.received_ms)
        .bind(&row.body)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The oldest pending inbound bodies.
    pub async fn pending_inbound(&self, limit: i64) -> Result<Vec<InboundRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, channel_id, received_ms, body FROM inbound_events \
             WHERE state = 'pending' ORDER BY received_ms, id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(InboundRow {
                    id: col(row, "id")?,
                    tenant_id: col(row, "tenant_id")?,
                    channel_id: col(row, "channel_id")?,
                    received_ms: col(row, "received_ms")?,
                    body: col(row, "body")?,
                })
            })
            .collect()
    }

    /// Claims a pending body for this worker (`false` when another worker has it).
    pub async fn claim_inbound(&self, id: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE inbound_events SET state = 'processing' WHERE id = $1 AND state = 'pending'",
        )
        .bind(id)
        .execute(self.pool())
        .await?
        .rows_affected()
            == 1)
    }

    /// Bodies a stopped worker left half-processed go back to the queue (normalizing is
    /// idempotent, so doing one again changes nothing).
    pub async fn requeue_interrupted_inbound(&self) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("UPDATE inbound_events SET state = 'pending' WHERE state = 'processing'")
                .execute(self.pool())
                .await?
                .rows_affected(),
        )
    }

    /// Marks an inbound body processed (`done`, `unknown` or `failed` with the reason).
    pub async fn finish_inbound(
        &self,
        id: &str,
        state: &str,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        // A processed body is not kept: its content lives on in the normalized rows (which
        // hide mode and erasure can find); failed and unknown bodies stay for diagnosis.
        let query = if state == "done" {
            sqlx::query("UPDATE inbound_events SET state = $2, error = $3, body = $4 WHERE id = $1")
                .bind(id)
                .bind(state)
                .bind(error)
                .bind(Vec::<u8>::new())
        } else {
            sqlx::query("UPDATE inbound_events SET state = $2, error = $3 WHERE id = $1")
                .bind(id)
                .bind(state)
                .bind(error)
        };
        query.execute(self.pool()).await?;
        Ok(())
    }

    /// Inbound bodies by state, for `/metrics`.
    pub async fn inbound_count(&self, state: &str) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM inbound_events WHERE state = $1")
                .bind(state)
                .fetch_one(self.pool())
                .await?,
        )
    }
}

/// What the inbox drops before storing (defaults: groups kept, broadcasts and status dropped).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(deny_unknown_fields)]
pub struct PrivacySettings {
    /// Drop messages of WhatsApp groups and Telegram group chats.
    pub ignore_groups: bool,
    /// Drop broadcast lists, `status@broadcast` and newsletters.
    pub ignore_broadcasts: bool,
    /// Drop messages of chats the source flags as locked (WhatsApp Chat Lock).
    #[serde(default = "yes")]
    pub skip_locked_chats: bool,
}

fn yes() -> bool {
    true
}

impl Default for PrivacySettings {
    fn default() -> Self {
        PrivacySettings {
            ignore_groups: false,
            ignore_broadcasts: true,
            skip_locked_chats: true,
        }
    }
}

impl TenantDb<'_> {
    pub async fn privacy_settings(&self) -> Result<PrivacySettings, StoreError> {
        let row = sqlx::query(
            "SELECT ignore_groups, ignore_broadcasts, skip_locked_chats FROM privacy_settings WHERE tenant_id = $1",
        )
        .bind(self.tid())
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => Ok(PrivacySettings {
                ignore_groups: col::<i64>(&row, "ignore_groups")? != 0,
                ignore_broadcasts: col::<i64>(&row, "ignore_broadcasts")? != 0,
                skip_locked_chats: col::<i64>(&row, "skip_locked_chats")? != 0,
            }),
            None => Ok(PrivacySettings::default()),
        }
    }

    pub async fn set_privacy_settings(
        &self,
        settings: PrivacySettings,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO privacy_settings (tenant_id, ignore_groups, ignore_broadcasts, updated_ms, skip_locked_chats) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id) DO UPDATE SET \
             ignore_groups = $2, ignore_broadcasts = $3, updated_ms = $4, skip_locked_chats = $5",
        )
        .bind(self.tid())
        .bind(i64::from(settings.ignore_groups))
        .bind(i64::from(settings.ignore_broadcasts))
        .bind(now_ms)
        .bind(i64::from(settings.skip_locked_chats))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Adds a channel unless the plan's channel quota is full (`Ok(false)`).
    pub async fn insert_channel_within(
        &self,
        row: &ChannelRow,
        max: Option<i64>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        if self.quota_full(&mut tx, QuotaTable::Channels, max).await? {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO channels (tenant_id, id, kind, name, webhook_token_hash, secret_sealed, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(self.tid())
        .bind(&row.id)
        .bind(&row.kind)
        .bind(&row.name)
        .bind(&row.webhook_token_hash)
        .bind(&row.secret_sealed)
        .bind(row.created_ms)
        .execute(&mut *tx)
        .await
        .map_err(|error| StoreError::conflict_or(error, "channel"))?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn channels(&self) -> Result<Vec<ChannelRow>, StoreError> {
        let rows =
            sqlx::query("SELECT * FROM channels WHERE tenant_id = $1 ORDER BY created_ms, id")
                .bind(self.tid())
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(channel_row).collect()
    }

    /// Stores a normalized message: one contact per person (any of its addresses finds it), one
    /// conversation per channel and chat, the message once per provider id. `Ok(None)` when the
    /// message was already stored (a redelivery).
    pub async fn apply_message(
        &self,
        channel_id: &str,
        message: &NormalizedMessage,
        now_ms: i64,
    ) -> Result<Option<StoredMessage>, StoreError> {
        let mut tx = self.begin_write().await?;
        let exists: Option<String> = sqlx::query_scalar(
            "SELECT id FROM inbox_messages WHERE tenant_id = $1 AND channel_id = $2 AND provider_message_id = $3",
        )
        .bind(self.tid())
        .bind(channel_id)
        .bind(&message.provider_message_id)
        .fetch_optional(&mut *tx)
        .await?;
        if exists.is_some() {
            return Ok(None);
        }
        // The person: any known address names them; new addresses join them.
        let mut keys = vec![message.sender.key()];
        keys.extend(message.sender_alt.iter().map(|address| address.key()));
        let mut contact_id = None;
        for key in &keys {
            let found: Option<String> = sqlx::query_scalar(
                "SELECT contact_id FROM contact_addresses WHERE tenant_id = $1 AND address_key = $2",
            )
            .bind(self.tid())
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
            if found.is_some() {
                contact_id = found;
                break;
            }
        }
        let new_contact = contact_id.is_none();
        let contact_id = match contact_id {
            Some(id) => id,
            None => {
                let id = uuid::Uuid::now_v7().to_string();
                sqlx::query("INSERT INTO contacts (tenant_id, id, display_name, created_ms) VALUES ($1, $2, $3, $4)")
                    .bind(self.tid())
                    .bind(&id)
                    .bind(&message.sender_name)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                id
            }
        };
        for key in &keys {
            sqlx::query(
                "INSERT INTO contact_addresses (tenant_id, address_key, contact_id) VALUES ($1, $2, $3) \
                 ON CONFLICT (tenant_id, address_key) DO NOTHING",
            )
            .bind(self.tid())
            .bind(key)
            .bind(&contact_id)
            .execute(&mut *tx)
            .await?;
        }
        // Two first messages of one person processed at once (PostgreSQL runs them in
        // parallel): the one whose address row landed first owns the person; the other
        // folds its new contact into that one.
        let (contact_id, new_contact) = if new_contact {
            let owner: String = sqlx::query_scalar(
                "SELECT contact_id FROM contact_addresses WHERE tenant_id = $1 AND address_key = $2",
            )
            .bind(self.tid())
            .bind(&keys[0])
            .fetch_one(&mut *tx)
            .await?;
            if owner == contact_id {
                (contact_id, true)
            } else {
                sqlx::query(
                    "UPDATE contact_addresses SET contact_id = $3 WHERE tenant_id = $1 AND contact_id = $2",
                )
                .bind(self.tid())
                .bind(&contact_id)
                .bind(&owner)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM contacts WHERE tenant_id = $1 AND id = $2")
                    .bind(self.tid())
                    .bind(&contact_id)
                    .execute(&mut *tx)
                    .await?;
                (owner, false)
            }
        } else {
            (contact_id, false)
        };
        let chat_key = message.chat.key();
        let new_conversation = uuid::Uuid::now_v7().to_string();
        sqlx::query(
            "INSERT INTO conversations (tenant_id, id, channel_id, chat_key, contact_id, is_group, last_message_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id, channel_id, chat_key) DO NOTHING",
        )
        .bind(self.tid())
        .bind(&new_conversation)
        .bind(channel_id)
        .bind(&chat_key)
        .bind(&contact_id)
        .bind(i64::from(message.chat.is_group()))
        .bind(message.sent_at_ms)
        .execute(&mut *tx)
        .await?;
        let conversation_id: String = sqlx::query_scalar(
            "SELECT id FROM conversations WHERE tenant_id = $1 AND channel_id = $2 AND chat_key = $3",
        )
        .bind(self.tid())
        .bind(channel_id)
        .bind(&chat_key)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE conversations SET last_message_ms = $3 WHERE tenant_id = $1 AND id = $2 AND last_message_ms < $3",
        )
        .bind(self.tid())
        .bind(&conversation_id)
        .bind(message.sent_at_ms)
        .execute(&mut *tx)
        .await?;
        let direction = match message.direction {
            omega_channels::Direction::Inbound => "in",
            omega_channels::Direction::Outbound => "out",
        };
        let kind = serde_json::to_value(&message.kind)
            .ok()
            .and_then(|value| value.as_str().map(str::to_owned))
            .unwrap_or_else(|| "unknown".into());
        let media = message
            .media
            .as_ref()
            .and_then(|media| serde_json::to_string(media).ok());
        let message_id = uuid::Uuid::now_v7().to_string();
        let status = if direction == "in" {
            "delivered"
        } else {
            "sent"
        };
        let inserted = sqlx::query(
            "INSERT INTO inbox_messages (tenant_id, id, channel_id, conversation_id, provider_message_id, direction, \
             kind, sender_key, text, media, status, sent_at_ms, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(self.tid())
        .bind(&message_id)
        .bind(channel_id)
        .bind(&conversation_id)
        .bind(&message.provider_message_id)
        .bind(direction)
        .bind(&kind)
        .bind(message.sender.key())
        .bind(&message.text)
        .bind(media)
        .bind(status)
        .bind(message.sent_at_ms)
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(|error| StoreError::conflict_or(error, "message"));
        match inserted {
            // Another worker stored it first: a redelivery, nothing to do.
            Err(StoreError::Conflict { .. }) => Ok(None),
            Err(error) => Err(error),
            Ok(_) => {
                tx.commit().await?;
                Ok(Some(StoredMessage {
                    message_id,
                    conversation_id,
                    contact_id,
                    new_contact,
                    direction,
                    kind,
                    status,
                }))
            }
        }
    }

    /// Applies a delivery status, never moving backwards (read then delivered stays read).
    /// Returns the message (id, conversation) and its new status when it changed.
    pub async fn apply_status(
        &self,
        channel_id: &str,
        provider_message_id: &str,
        status: DeliveryStatus,
    ) -> Result<Option<(String, String, &'static str)>, StoreError> {
        let current = sqlx::query(
            "SELECT id, conversation_id, status FROM inbox_messages \
             WHERE tenant_id = $1 AND channel_id = $2 AND provider_message_id = $3",
        )
        .bind(self.tid())
        .bind(channel_id)
        .bind(provider_message_id)
        .fetch_optional(self.pool())
        .await?;
        let Some(current) = current else {
            return Ok(None);
        };
        let id: String = col(&current, "id")?;
        let conversation: String = col(&current, "conversation_id")?;
        let current: String = col(&current, "status")?;
        let next = status_text(status_from_text(&current).advance(status));
        if next == current {
            return Ok(None);
        }
        let changed = sqlx::query(
            "UPDATE inbox_messages SET status = $3 WHERE tenant_id = $1 AND id = $2 AND status = $4",
        )
        .bind(self.tid())
        .bind(&id)
        .bind(next)
        .bind(&current)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok((changed == 1).then_some((id, conversation, next)))
    }

    /// Messages of one conversation of this tenant, oldest first (`None` if not this tenant's).
    pub async fn conversation_messages(
        &self,
        conversation_id: &str,
    ) -> Result<Option<Vec<InboxMessageRow>>, StoreError> {
        let known: Option<String> =
            sqlx::query_scalar("SELECT id FROM conversations WHERE tenant_id = $1 AND id = $2")
                .bind(self.tid())
                .bind(conversation_id)
                .fetch_optional(self.pool())
                .await?;
        if known.is_none() {
            return Ok(None);
        }
        let rows = sqlx::query(
            "SELECT * FROM inbox_messages WHERE tenant_id = $1 AND conversation_id = $2 ORDER BY sent_at_ms, id",
        )
        .bind(self.tid())
        .bind(conversation_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(InboxMessageRow {
                    id: col(row, "id")?,
                    channel_id: col(row, "channel_id")?,
                    conversation_id: col(row, "conversation_id")?,
                    provider_message_id: col(row, "provider_message_id")?,
                    direction: col(row, "direction")?,
                    kind: col(row, "kind")?,
                    sender_key: col(row, "sender_key")?,
                    text: col(row, "text")?,
                    status: col(row, "status")?,
                    sent_at_ms: col(row, "sent_at_ms")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()
            .map(Some)
    }
}

/// A `TenantId` for the tenant a channel belongs to.
pub(crate) fn channel_tenant(row: &ChannelRow) -> TenantId {
    TenantId::new(row.tenant_id.clone())
}
