//! Outbound replies (a durable job per idempotency key), channel credentials and connector
//! session state, and the per-channel diagnostic log.

use super::rows::col;
use super::{HubDb, StoreError, TenantDb};

/// A reply waiting to be (or already) sent through a source's API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboundJobRow {
    pub tenant_id: String,
    pub id: String,
    pub idempotency_key: String,
    pub channel_id: String,
    pub conversation_id: String,
    pub message_id: String,
    pub to_key: String,
    pub text: String,
    pub reply_to: Option<String>,
    /// queued, sending, sent or failed.
    pub state: String,
    pub attempts: i64,
    pub next_attempt_ms: i64,
    pub last_error: Option<String>,
    pub created_by: String,
    pub created_ms: i64,
}

fn job_row(row: &sqlx::any::AnyRow) -> Result<OutboundJobRow, StoreError> {
    Ok(OutboundJobRow {
        tenant_id: col(row, "tenant_id")?,
        id: col(row, "id")?,
        idempotency_key: col(row, "idempotency_key")?,
        channel_id: col(row, "channel_id")?,
        conversation_id: col(row, "conversation_id")?,
        message_id: col(row, "message_id")?,
        to_key: col(row, "to_key")?,
        text: col(row, "text")?,
        reply_to: col(row, "reply_to")?,
        state: col(row, "state")?,
        attempts: col(row, "attempts")?,
        next_attempt_ms: col(row, "next_attempt_ms")?,
        last_error: col(row, "last_error")?,
        created_by: col(row, "created_by")?,
        created_ms: col(row, "created_ms")?,
    })
}

/// One line of a channel's diagnostic log.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct DiagnosticRow {
    pub id: String,
    pub at_ms: i64,
    /// webhook, session or send.
    pub kind: String,
    /// What was asked (method and path, secrets redacted; or the webhook's size).
    pub request: String,
    /// What came of it (status, state reached, error).
    pub outcome: String,
    pub latency_ms: i64,
}

/// How many diagnostic lines a channel keeps (older ones are pruned).
pub const DIAGNOSTICS_KEPT: i64 = 500;

impl HubDb {
    /// Jobs due now (queued with `next_attempt_ms <= now`), oldest first, across tenants.
    pub async fn due_outbound(
        &self,
        now_ms: i64,
        limit: i64,
    ) -> Result<Vec<OutboundJobRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM outbound_jobs WHERE state = 'queued' AND next_attempt_ms <= $1 \
             ORDER BY next_attempt_ms, id LIMIT $2",
        )
        .bind(now_ms)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(job_row).collect()
    }

    /// Claims a queued job for one attempt (`false` when another worker took it, or it is gone).
    pub async fn claim_outbound(&self, tenant_id: &str, id: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE outbound_jobs SET state = 'sending', attempts = attempts + 1 \
             WHERE tenant_id = $1 AND id = $2 AND state = 'queued'",
        )
        .bind(tenant_id)
        .bind(id)
        .execute(self.pool())
        .await?
        .rows_affected()
            == 1)
    }

    /// Records the end of an attempt: `sent`, `failed`, or `queued` again at `next_attempt_ms`.
    pub async fn finish_outbound(
        &self,
        tenant_id: &str,
        id: &str,
        state: &str,
        next_attempt_ms: i64,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbound_jobs SET state = $3, next_attempt_ms = $4, last_error = $5 \
             WHERE tenant_id = $1 AND id = $2 AND state = 'sending'",
        )
        .bind(tenant_id)
        .bind(id)
        .bind(state)
        .bind(next_attempt_ms)
        .bind(error)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Jobs left `sending` by a hub that stopped mid-call: whether the source got them is
    /// unknown, so they are not sent again blindly; they become `failed` with that reason.
    pub async fn abandon_in_flight_outbound(&self) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE outbound_jobs SET state = 'failed', \
             last_error = 'the hub stopped during the send; the source may or may not have it' \
             WHERE state = 'sending'",
        )
        .execute(self.pool())
        .await?
        .rows_affected())
    }

    /// Every channel of a kind, across tenants (the hub starts what they need).
    pub async fn channels_of_kind(&self, kind: &str) -> Result<Vec<super::ChannelRow>, StoreError> {
        let rows = sqlx::query("SELECT * FROM channels WHERE kind = $1 ORDER BY created_ms, id")
            .bind(kind)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(super::inbox::channel_row).collect()
    }

    /// Channels whose connector session has an action due.
    pub async fn due_sessions(&self, now_ms: i64) -> Result<Vec<super::ChannelRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM channels WHERE session_due_ms IS NOT NULL AND session_due_ms <= $1 \
             ORDER BY session_due_ms, id",
        )
        .bind(now_ms)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(super::inbox::channel_row).collect()
    }

    /// Appends a diagnostic line to a channel's log, pruning the oldest beyond the limit.
    pub async fn add_diagnostic(
        &self,
        tenant_id: &str,
        channel_id: &str,
        line: &DiagnosticRow,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO channel_diagnostics (tenant_id, channel_id, id, at_ms, kind, request, outcome, latency_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(tenant_id)
        .bind(channel_id)
        .bind(&line.id)
        .bind(line.at_ms)
        .bind(&line.kind)
        .bind(&line.request)
        .bind(&line.outcome)
        .bind(line.latency_ms)
        .execute(self.pool())
        .await?;
        sqlx::query(
            "DELETE FROM channel_diagnostics WHERE tenant_id = $1 AND channel_id = $2 AND id IN \
             (SELECT id FROM channel_diagnostics WHERE tenant_id = $1 AND channel_id = $2 \
              ORDER BY id DESC LIMIT 1000000 OFFSET $3)",
        )
        .bind(tenant_id)
        .bind(channel_id)
        .bind(DIAGNOSTICS_KEPT)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Stores a channel's connector session (JSON) and when its next action is due.
    pub async fn set_session(
        &self,
        channel_id: &str,
        state_json: &str,
        due_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE channels SET session_state = $2, session_due_ms = $3 WHERE id = $1")
            .bind(channel_id)
            .bind(state_json)
            .bind(due_ms)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

impl TenantDb<'_> {
    /// The job of an idempotency key, if one exists.
    pub async fn outbound_by_key(&self, key: &str) -> Result<Option<OutboundJobRow>, StoreError> {
        sqlx::query("SELECT * FROM outbound_jobs WHERE tenant_id = $1 AND idempotency_key = $2")
            .bind(self.tid())
            .bind(key)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(job_row)
            .transpose()
    }

    /// Queues a reply and its pending message row together. `Ok(false)` when the idempotency
    /// key is already taken (the caller answers with the existing job).
    pub async fn queue_outbound(
        &self,
        job: &OutboundJobRow,
        sender_key: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO outbound_jobs (tenant_id, id, idempotency_key, channel_id, conversation_id, message_id, \
             to_key, text, reply_to, state, attempts, next_attempt_ms, last_error, created_by, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'queued', 0, $10, NULL, $11, $12)",
        )
        .bind(self.tid())
        .bind(&job.id)
        .bind(&job.idempotency_key)
        .bind(&job.channel_id)
        .bind(&job.conversation_id)
        .bind(&job.message_id)
        .bind(&job.to_key)
        .bind(&job.text)
        .bind(&job.reply_to)
        .bind(job.next_attempt_ms)
        .bind(&job.created_by)
        .bind(job.created_ms)
        .execute(&mut *tx)
        .await
        .map_err(|error| StoreError::conflict_or(error, "idempotency key"));
        match inserted {
            Err(StoreError::Conflict { .. }) => return Ok(false),
            Err(error) => return Err(error),
            Ok(_) => {}
        }
        sqlx::query(
            "INSERT INTO inbox_messages (tenant_id, id, channel_id, conversation_id, provider_message_id, direction, \
             kind, sender_key, text, media, status, sent_at_ms, created_ms) \
             VALUES ($1, $2, $3, $4, $5, 'out', 'text', $6, $7, NULL, 'pending', $8, $8)",
        )
        .bind(self.tid())
        .bind(&job.message_id)
        .bind(&job.channel_id)
        .bind(&job.conversation_id)
        .bind(format!("omega-out:{}", job.id))
        .bind(sender_key)
        .bind(&job.text)
        .bind(job.created_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE conversations SET last_message_ms = $3 WHERE tenant_id = $1 AND id = $2 AND last_message_ms < $3",
        )
        .bind(self.tid())
        .bind(&job.conversation_id)
        .bind(job.created_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// A sent reply's message row takes the source's id (so its acks find it) and `sent`.
    /// When a webhook already stored the source's echo of it under that id, the echo row goes
    /// and the reply's row stays (one message, not two).
    pub async fn mark_outbound_sent(
        &self,
        message_id: &str,
        provider_message_id: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let channel: Option<String> = sqlx::query_scalar(
            "SELECT channel_id FROM inbox_messages WHERE tenant_id = $1 AND id = $2",
        )
        .bind(self.tid())
        .bind(message_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(channel) = channel else {
            return Ok(());
        };
        let echo: Option<String> = sqlx::query_scalar(
            "SELECT status FROM inbox_messages WHERE tenant_id = $1 AND channel_id = $2 \
             AND provider_message_id = $3 AND id <> $4",
        )
        .bind(self.tid())
        .bind(&channel)
        .bind(provider_message_id)
        .bind(message_id)
        .fetch_optional(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM inbox_messages WHERE tenant_id = $1 AND channel_id = $2 \
             AND provider_message_id = $3 AND id <> $4",
        )
        .bind(self.tid())
        .bind(&channel)
        .bind(provider_message_id)
        .bind(message_id)
        .execute(&mut *tx)
        .await?;
        let status = match echo.as_deref() {
            Some(status @ ("delivered" | "read")) => status.to_owned(),
            _ => "sent".to_owned(),
        };
        sqlx::query(
            "UPDATE inbox_messages SET provider_message_id = $3, status = $4 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(self.tid())
        .bind(message_id)
        .bind(provider_message_id)
        .bind(status)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The source's echo of a reply that may already have gone out: an outgoing message with the
    /// same text in the same conversation, stored since the reply was queued, that no reply
    /// row has claimed. Returns its provider id (oldest first).
    pub async fn unclaimed_echo(&self, job: &OutboundJobRow) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT m.provider_message_id FROM inbox_messages m WHERE m.tenant_id = $1 \
             AND m.conversation_id = $2 AND m.direction = 'out' AND m.text = $3 \
             AND m.created_ms >= $4 AND m.id <> $5 \
             AND NOT EXISTS (SELECT 1 FROM outbound_jobs j WHERE j.tenant_id = m.tenant_id \
             AND j.message_id = m.id) \
             ORDER BY m.created_ms, m.id LIMIT 1",
        )
        .bind(self.tid())
        .bind(&job.conversation_id)
        .bind(&job.text)
        .bind(job.created_ms)
        .bind(&job.message_id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Marks a reply's message row failed.
    pub async fn mark_outbound_failed(&self, message_id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE inbox_messages SET status = 'failed' WHERE tenant_id = $1 AND id = $2")
            .bind(self.tid())
            .bind(message_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// A channel's diagnostic log, newest first.
    pub async fn diagnostics(
        &self,
        channel_id: &str,
        limit: i64,
    ) -> Result<Vec<DiagnosticRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM channel_diagnostics WHERE tenant_id = $1 AND channel_id = $2 \
             ORDER BY id DESC LIMIT $3",
        )
        .bind(self.tid())
        .bind(channel_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DiagnosticRow {
                    id: col(row, "id")?,
                    at_ms: col(row, "at_ms")?,
                    kind: col(row, "kind")?,
                    request: col(row, "request")?,
                    outcome: col(row, "outcome")?,
                    latency_ms: col(row, "latency_ms")?,
                })
            })
            .collect()
    }

    /// Stores a channel's sealed outbound credentials (`None` removes them).
    pub async fn set_channel_credentials(
        &self,
        channel_id: &str,
        sealed: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE channels SET credentials_sealed = $3 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(self.tid())
        .bind(channel_id)
        .bind(sealed)
        .execute(self.pool())
        .await?
        .rows_affected()
            == 1)
    }

    /// A channel of this tenant.
    pub async fn channel(&self, channel_id: &str) -> Result<Option<super::ChannelRow>, StoreError> {
        sqlx::query("SELECT * FROM channels WHERE tenant_id = $1 AND id = $2")
            .bind(self.tid())
            .bind(channel_id)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(super::inbox::channel_row)
            .transpose()
    }

    /// A conversation of this tenant.
    pub async fn conversation(
        &self,
        conversation_id: &str,
    ) -> Result<Option<super::ConversationRow>, StoreError> {
        sqlx::query("SELECT * FROM conversations WHERE tenant_id = $1 AND id = $2")
            .bind(self.tid())
            .bind(conversation_id)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(super::inbox::conversation_row)
            .transpose()
    }
}
