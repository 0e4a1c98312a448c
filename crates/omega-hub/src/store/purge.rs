//! Hide mode's storage: the blacklist of keyed address hashes, and the purge that removes every
//! row of a person — messages, conversations, queued replies, raw queued bodies, the lead, the
//! contact and its addresses — in one transaction.

use super::rows::col;
use super::{HubDb, StoreError, TenantDb, TenantId};

impl HubDb {
    /// Tenants with a non-empty blacklist.
    pub async fn tenant_ids_with_hidden(&self) -> Result<Vec<TenantId>, StoreError> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT tenant_id FROM hidden_addresses ORDER BY tenant_id",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(ids.into_iter().map(TenantId::new).collect())
    }
}

/// What a purge removed (counts only: an audit entry carries these, never content).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct PurgeCounts {
    pub contacts: u64,
    pub conversations: u64,
    pub messages: u64,
    pub queued_replies: u64,
    pub raw_events: u64,
    pub leads: u64,
}

impl PurgeCounts {
    pub fn is_empty(&self) -> bool {
        *self == PurgeCounts::default()
    }

    pub fn add(&mut self, other: &PurgeCounts) {
        self.contacts += other.contacts;
        self.conversations += other.conversations;
        self.messages += other.messages;
        self.queued_replies += other.queued_replies;
        self.raw_events += other.raw_events;
        self.leads += other.leads;
    }
}

/// One entry of the blacklist, as listed (the address itself is not stored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HiddenRow {
    pub address_hash: Vec<u8>,
    pub hidden_by: String,
    pub created_ms: i64,
}

impl TenantDb<'_> {
    /// Adds keyed address hashes to the blacklist (existing ones are kept as they are).
    pub async fn hide_hashes(
        &self,
        hashes: &[Vec<u8>],
        member_id: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        for hash in hashes {
            sqlx::query(
                "INSERT INTO hidden_addresses (tenant_id, address_hash, hidden_by, created_ms) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, address_hash) DO NOTHING",
            )
            .bind(self.tid())
            .bind(hash)
            .bind(member_id)
            .bind(now_ms)
            .execute(self.pool())
            .await?;
        }
        Ok(())
    }

    /// Removes hashes from the blacklist; how many were there.
    pub async fn unhide_hashes(&self, hashes: &[Vec<u8>]) -> Result<u64, StoreError> {
        let mut removed = 0;
        for hash in hashes {
            removed += sqlx::query(
                "DELETE FROM hidden_addresses WHERE tenant_id = $1 AND address_hash = $2",
            )
            .bind(self.tid())
            .bind(hash)
            .execute(self.pool())
            .await?
            .rows_affected();
        }
        Ok(removed)
    }

    pub async fn hidden(&self) -> Result<Vec<HiddenRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT address_hash, hidden_by, created_ms FROM hidden_addresses \
             WHERE tenant_id = $1 ORDER BY created_ms, address_hash",
        )
        .bind(self.tid())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(HiddenRow {
                    address_hash: col(row, "address_hash")?,
                    hidden_by: col(row, "hidden_by")?,
                    created_ms: col(row, "created_ms")?,
                })
            })
            .collect()
    }

    /// Every address key the tenant has stored (the recurring sweep hashes them to find
    /// hidden people that slipped in concurrently with a hide).
    pub async fn address_keys(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT address_key FROM contact_addresses WHERE tenant_id = $1 ORDER BY address_key",
        )
        .bind(self.tid())
        .fetch_all(self.pool())
        .await?)
    }

    /// The address keys of the contact holding `key` (all of them: phone, LID…), or just `key`
    /// when no contact holds it.
    pub async fn person_keys(&self, key: &str) -> Result<Vec<String>, StoreError> {
        let contact: Option<String> = sqlx::query_scalar(
            "SELECT contact_id FROM contact_addresses WHERE tenant_id = $1 AND address_key = $2",
        )
        .bind(self.tid())
        .bind(key)
        .fetch_optional(self.pool())
        .await?;
        match contact {
            Some(contact) => self.contact_keys(&contact).await,
            None => Ok(vec![key.to_owned()]),
        }
    }

    /// The address keys of a contact (empty when the contact is not this tenant's).
    pub async fn contact_keys(&self, contact_id: &str) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT address_key FROM contact_addresses WHERE tenant_id = $1 AND contact_id = $2 \
             ORDER BY address_key",
        )
        .bind(self.tid())
        .bind(contact_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Deletes everything stored of the person holding `keys`: their one-to-one conversations
    /// with every message and queued reply, their messages in groups, their lead, contact and
    /// addresses, and raw bodies still held for which `mentions(channel_id, body)` says yes.
    pub async fn purge_person(
        &self,
        keys: &[String],
        mentions: impl Fn(&str, &[u8]) -> bool,
    ) -> Result<PurgeCounts, StoreError> {
        let mut counts = PurgeCounts::default();
        let mut tx = self.begin_write().await?;
        let mut contacts: Vec<String> = Vec::new();
        for key in keys {
            let found: Option<String> = sqlx::query_scalar(
                "SELECT contact_id FROM contact_addresses WHERE tenant_id = $1 AND address_key = $2",
            )
            .bind(self.tid())
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(contact) = found
                && !contacts.contains(&contact)
            {
                contacts.push(contact);
            }
        }
        let mut all_keys: Vec<String> = keys.to_vec();
        for contact in &contacts {
            let more: Vec<String> = sqlx::query_scalar(
                "SELECT address_key FROM contact_addresses WHERE tenant_id = $1 AND contact_id = $2",
            )
            .bind(self.tid())
            .bind(contact)
            .fetch_all(&mut *tx)
            .await?;
            for key in more {
                if !all_keys.contains(&key) {
                    all_keys.push(key);
                }
            }
        }
        // One-to-one conversations: by their contact, or by their chat address.
        let mut conversations: Vec<String> = Vec::new();
        for contact in &contacts {
            let found: Vec<String> = sqlx::query_scalar(
                "SELECT id FROM conversations WHERE tenant_id = $1 AND contact_id = $2 AND is_group = 0",
            )
            .bind(self.tid())
            .bind(contact)
            .fetch_all(&mut *tx)
            .await?;
            conversations.extend(found);
        }
        for key in &all_keys {
            let found: Vec<String> = sqlx::query_scalar(
                "SELECT id FROM conversations WHERE tenant_id = $1 AND chat_key = $2",
            )
            .bind(self.tid())
            .bind(key)
            .fetch_all(&mut *tx)
            .await?;
            for id in found {
                if !conversations.contains(&id) {
                    conversations.push(id);
                }
            }
        }
        for conversation in &conversations {
            counts.messages += sqlx::query(
                "DELETE FROM inbox_messages WHERE tenant_id = $1 AND conversation_id = $2",
            )
            .bind(self.tid())
            .bind(conversation)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            counts.queued_replies += sqlx::query(
                "DELETE FROM outbound_jobs WHERE tenant_id = $1 AND conversation_id = $2",
            )
            .bind(self.tid())
            .bind(conversation)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            counts.conversations +=
                sqlx::query("DELETE FROM conversations WHERE tenant_id = $1 AND id = $2")
                    .bind(self.tid())
                    .bind(conversation)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
        }
        // What they wrote in groups, and queued replies addressed to them anywhere.
        for key in &all_keys {
            counts.messages +=
                sqlx::query("DELETE FROM inbox_messages WHERE tenant_id = $1 AND sender_key = $2")
                    .bind(self.tid())
                    .bind(key)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            counts.queued_replies +=
                sqlx::query("DELETE FROM outbound_jobs WHERE tenant_id = $1 AND to_key = $2")
                    .bind(self.tid())
                    .bind(key)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
        }
        for contact in &contacts {
            // A group conversation first seen from them stops pointing at them.
            sqlx::query(
                "UPDATE conversations SET contact_id = '' WHERE tenant_id = $1 AND contact_id = $2",
            )
            .bind(self.tid())
            .bind(contact)
            .execute(&mut *tx)
            .await?;
            counts.leads +=
                sqlx::query("DELETE FROM leads WHERE tenant_id = $1 AND contact_id = $2")
                    .bind(self.tid())
                    .bind(contact)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            sqlx::query("DELETE FROM contact_addresses WHERE tenant_id = $1 AND contact_id = $2")
                .bind(self.tid())
                .bind(contact)
                .execute(&mut *tx)
                .await?;
            counts.contacts += sqlx::query("DELETE FROM contacts WHERE tenant_id = $1 AND id = $2")
                .bind(self.tid())
                .bind(contact)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        // Raw bodies still held (pending, failed or unknown ones; processed bodies are emptied).
        let raw = sqlx::query(
            "SELECT id, channel_id, body FROM inbound_events WHERE tenant_id = $1 AND state <> 'done'",
        )
        .bind(self.tid())
        .fetch_all(&mut *tx)
        .await?;
        for row in &raw {
            let body: Vec<u8> = col(row, "body")?;
            let channel_id: String = col(row, "channel_id")?;
            if mentions(&channel_id, &body) {
                let id: String = col(row, "id")?;
                counts.raw_events += sqlx::query("DELETE FROM inbound_events WHERE id = $1")
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
        }
        tx.commit().await?;
        Ok(counts)
    }
}
