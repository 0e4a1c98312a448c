//! Leads: one row per contact with the running score, the last sentiment, the suggested next
//! action and the reasons (JSON, in Portuguese and English).

use super::rows::col;
use super::{StoreError, TenantDb};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeadRow {
    pub contact_id: String,
    pub score: i64,
    pub messages: i64,
    pub sentiment: String,
    pub next_action: String,
    /// JSON array of reasons.
    pub reasons: String,
    pub updated_ms: i64,
}

fn lead_row(row: &sqlx::any::AnyRow) -> Result<LeadRow, StoreError> {
    Ok(LeadRow {
        contact_id: col(row, "contact_id")?,
        score: col(row, "score")?,
        messages: col(row, "messages")?,
        sentiment: col(row, "sentiment")?,
        next_action: col(row, "next_action")?,
        reasons: col(row, "reasons")?,
        updated_ms: col(row, "updated_ms")?,
    })
}

impl TenantDb<'_> {
    pub async fn lead(&self, contact_id: &str) -> Result<Option<LeadRow>, StoreError> {
        sqlx::query("SELECT * FROM leads WHERE tenant_id = $1 AND contact_id = $2")
            .bind(self.tid())
            .bind(contact_id)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(lead_row)
            .transpose()
    }

    /// Leads of this tenant, highest score first, optionally at or above `min_score`.
    pub async fn leads(&self, min_score: i64, limit: i64) -> Result<Vec<LeadRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM leads WHERE tenant_id = $1 AND score >= $2 \
             ORDER BY score DESC, updated_ms DESC, contact_id LIMIT $3",
        )
        .bind(self.tid())
        .bind(min_score)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(lead_row).collect()
    }

    /// Writes a lead's new state (only while its contact still exists: a contact purged by
    /// hide mode meanwhile gets no lead back).
    pub async fn put_lead(&self, lead: &LeadRow) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let exists: Option<String> =
            sqlx::query_scalar("SELECT id FROM contacts WHERE tenant_id = $1 AND id = $2")
                .bind(self.tid())
                .bind(&lead.contact_id)
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_none() {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO leads (tenant_id, contact_id, score, messages, sentiment, next_action, reasons, updated_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (tenant_id, contact_id) DO UPDATE SET \
             score = $3, messages = $4, sentiment = $5, next_action = $6, reasons = $7, updated_ms = $8",
        )
        .bind(self.tid())
        .bind(&lead.contact_id)
        .bind(lead.score)
        .bind(lead.messages)
        .bind(&lead.sentiment)
        .bind(&lead.next_action)
        .bind(&lead.reasons)
        .bind(lead.updated_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
