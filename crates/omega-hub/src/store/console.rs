//! What the console reads beyond single rows: the filtered conversation list with each
//! conversation's contact, lead score and last message; conversation assignment; and the
//! dashboard's aggregates (messages per channel per day, the lead score histogram).

use super::inbox::conversation_row;
use super::rows::col;
use super::{ConversationRow, StoreError, TenantDb};

/// Whose conversations to list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AssigneeFilter {
    /// Assigned or not.
    #[default]
    Anyone,
    /// Nobody's.
    Unassigned,
    /// This member's.
    Member(String),
}

/// Which conversations to list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConversationFilter {
    pub channel_id: Option<String>,
    pub assignee: AssigneeFilter,
    /// Only contacts whose lead scores at least this (unscored contacts are left out).
    pub min_score: Option<i64>,
    pub limit: i64,
}

impl Default for ConversationFilter {
    fn default() -> Self {
        ConversationFilter {
            channel_id: None,
            assignee: AssigneeFilter::Anyone,
            min_score: None,
            limit: 500,
        }
    }
}

/// A conversation as the inbox lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConversationSummary {
    pub conversation: ConversationRow,
    /// The contact's display name as the source gave it.
    pub contact_name: Option<String>,
    pub last_text: Option<String>,
    pub last_direction: Option<String>,
    pub last_kind: Option<String>,
    pub last_status: Option<String>,
}

/// Messages of one channel, one direction, on one day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayCount {
    pub channel_id: String,
    /// `in` or `out`.
    pub direction: String,
    /// Days since the Unix epoch, in the caller's time zone.
    pub day: i64,
    pub count: i64,
}

/// Leads whose score is in `[bucket × 10, bucket × 10 + 9]` (100 is in bucket 10).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScoreBucket {
    pub bucket: i64,
    pub count: i64,
}

const DAY_MS: i64 = 86_400_000;

const SUMMARY_SELECT: &str = "SELECT c.*, l.score AS lead_score, ct.display_name AS contact_name, \
     m.text AS last_text, m.direction AS last_direction, m.kind AS last_kind, m.status AS last_status \
     FROM conversations c \
     LEFT JOIN leads l ON l.tenant_id = c.tenant_id AND l.contact_id = c.contact_id \
     LEFT JOIN contacts ct ON ct.tenant_id = c.tenant_id AND ct.id = c.contact_id \
     LEFT JOIN inbox_messages m ON m.tenant_id = c.tenant_id AND m.id = ( \
         SELECT m2.id FROM inbox_messages m2 WHERE m2.tenant_id = c.tenant_id AND m2.conversation_id = c.id \
         ORDER BY m2.sent_at_ms DESC, m2.id DESC LIMIT 1) \
     WHERE c.tenant_id = $1 ";

fn summary(row: &sqlx::any::AnyRow) -> Result<ConversationSummary, StoreError> {
    Ok(ConversationSummary {
        conversation: conversation_row(row)?,
        contact_name: col(row, "contact_name")?,
        last_text: col(row, "last_text")?,
        last_direction: col(row, "last_direction")?,
        last_kind: col(row, "last_kind")?,
        last_status: col(row, "last_status")?,
    })
}

impl TenantDb<'_> {
    /// Conversations matching `filter`, most recent first.
    pub async fn conversation_list(
        &self,
        filter: &ConversationFilter,
    ) -> Result<Vec<ConversationSummary>, StoreError> {
        let (mode, member) = match &filter.assignee {
            AssigneeFilter::Anyone => ("any", ""),
            AssigneeFilter::Unassigned => ("none", ""),
            AssigneeFilter::Member(id) => ("member", id.as_str()),
        };
        let sql = format!(
            "{SUMMARY_SELECT} AND ($2 = '' OR c.channel_id = $2) \
             AND ($3 = 'any' OR ($3 = 'none' AND c.assignee_id IS NULL) OR ($3 = 'member' AND c.assignee_id = $4)) \
             AND ($5 < 0 OR l.score >= $5) \
             ORDER BY c.last_message_ms DESC, c.id LIMIT $6"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.tid())
            .bind(filter.channel_id.as_deref().unwrap_or(""))
            .bind(mode)
            .bind(member)
            .bind(filter.min_score.unwrap_or(-1))
            .bind(filter.limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(summary).collect()
    }

    /// One conversation as the inbox lists it.
    pub async fn conversation_summary(
        &self,
        conversation_id: &str,
    ) -> Result<Option<ConversationSummary>, StoreError> {
        let sql = format!("{SUMMARY_SELECT} AND c.id = $2");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.tid())
            .bind(conversation_id)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(summary)
            .transpose()
    }

    /// Hands a conversation to a member (`None`: to nobody). `false` when the conversation is
    /// not this tenant's.
    pub async fn set_assignee(
        &self,
        conversation_id: &str,
        assignee_id: Option<&str>,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE conversations SET assignee_id = $3 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(self.tid())
        .bind(conversation_id)
        .bind(assignee_id)
        .execute(self.pool())
        .await?
        .rows_affected()
            == 1)
    }

    /// Messages per channel, direction and day from `since_ms` (inclusive) to `until_ms`
    /// (exclusive); days start at midnight `offset_ms` from UTC.
    pub async fn messages_per_day(
        &self,
        since_ms: i64,
        until_ms: i64,
        offset_ms: i64,
    ) -> Result<Vec<DayCount>, StoreError> {
        let rows = sqlx::query(
            "SELECT channel_id, direction, (sent_at_ms + $2) / $5 AS day, COUNT(*) AS n \
             FROM inbox_messages WHERE tenant_id = $1 AND sent_at_ms >= $3 AND sent_at_ms < $4 \
             GROUP BY 1, 2, 3 ORDER BY 3, 1, 2",
        )
        .bind(self.tid())
        .bind(offset_ms)
        .bind(since_ms)
        .bind(until_ms)
        .bind(DAY_MS)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DayCount {
                    channel_id: col(row, "channel_id")?,
                    direction: col(row, "direction")?,
                    day: col(row, "day")?,
                    count: col(row, "n")?,
                })
            })
            .collect()
    }

    /// How many leads score in each tenth of 0–100.
    pub async fn score_histogram(&self) -> Result<Vec<ScoreBucket>, StoreError> {
        let rows = sqlx::query(
            "SELECT score / 10 AS bucket, COUNT(*) AS n FROM leads WHERE tenant_id = $1 \
             GROUP BY 1 ORDER BY 1",
        )
        .bind(self.tid())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ScoreBucket {
                    bucket: col(row, "bucket")?,
                    count: col(row, "n")?,
                })
            })
            .collect()
    }
}
