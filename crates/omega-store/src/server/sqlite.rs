//! [`ServerStore`] on one SQLite file.

use std::path::Path;

use sqlx::Row;
use sqlx::sqlite::{SqlitePool, SqliteSynchronous};

use super::{
    ClaimedKey, DEVICE_KEY_LEN, Deposited, FetchedPage, MESSAGE_ID_LEN, PutDeviceList,
    RECIPIENT_HASH_LEN, ServerStore, ServerStoreError, StoredEnvelope, USER_KEY_LEN, check_len,
    count, plan_page, probe_limit,
};
use crate::{migrate, sqlite};

/// Connections in the pool. SQLite runs one writer at a time; the others serve reads.
const MAX_CONNECTIONS: u32 = 8;

/// The server's store in one SQLite file (WAL, `synchronous = FULL`). For a single server.
#[derive(Clone, Debug)]
pub struct SqliteServerStore {
    pool: SqlitePool,
}

impl SqliteServerStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    /// `synchronous = FULL`: an acknowledged deposit survives power loss, not only a crash.
    pub async fn open(path: &Path) -> Result<Self, ServerStoreError> {
        let pool = sqlite::open_pool(path, SqliteSynchronous::Full, MAX_CONNECTIONS).await?;
        migrate::sqlite(&pool, migrate::SERVER_SQLITE).await?;
        Ok(SqliteServerStore { pool })
    }

    /// Closes every connection (checkpointing the WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

impl ServerStore for SqliteServerStore {
    async fn deposit(
        &self,
        recipient_hash: &[u8],
        message_id: &[u8],
        envelope: &[u8],
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<Deposited, ServerStoreError> {
        check_len("recipient_hash", recipient_hash, RECIPIENT_HASH_LEN)?;
        check_len("message_id", message_id, MESSAGE_ID_LEN)?;
        let inserted = sqlx::query(
            "INSERT INTO mailbox (recipient_hash, message_id, envelope, deposited_ms, expires_ms) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (recipient_hash, message_id) DO NOTHING",
        )
        .bind(recipient_hash)
        .bind(message_id)
        .bind(envelope)
        .bind(now_ms)
        .bind(expires_ms)
        .execute(&self.pool)
        .await?;
        Ok(if inserted.rows_affected() == 1 {
            Deposited::Stored
        } else {
            Deposited::Duplicate
        })
    }

    async fn fetch(
        &self,
        recipient_hash: &[u8],
        after_cursor: i64,
        limit: u32,
        max_bytes: usize,
    ) -> Result<FetchedPage, ServerStoreError> {
        // First the sizes (without reading envelopes), then only the envelopes of the page.
        let waiting = sqlx::query(
            "SELECT cursor, length(envelope) FROM mailbox \
             WHERE recipient_hash = ? AND cursor > ? ORDER BY cursor LIMIT ?",
        )
        .bind(recipient_hash)
        .bind(after_cursor)
        .bind(probe_limit(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect::<Result<Vec<(i64, i64)>, sqlx::Error>>()?;
        let (last_cursor, more) = plan_page(&waiting, limit, max_bytes);
        let Some(last_cursor) = last_cursor else {
            return Ok(FetchedPage {
                envelopes: Vec::new(),
                more,
            });
        };
        let envelopes = sqlx::query(
            "SELECT cursor, message_id, envelope, deposited_ms FROM mailbox \
             WHERE recipient_hash = ? AND cursor > ? AND cursor <= ? ORDER BY cursor",
        )
        .bind(recipient_hash)
        .bind(after_cursor)
        .bind(last_cursor)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(StoredEnvelope {
                cursor: row.try_get("cursor")?,
                message_id: row.try_get("message_id")?,
                envelope: row.try_get("envelope")?,
                deposited_ms: row.try_get("deposited_ms")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok(FetchedPage { envelopes, more })
    }

    async fn ack(
        &self,
        recipient_hash: &[u8],
        message_ids: &[Vec<u8>],
    ) -> Result<u64, ServerStoreError> {
        let mut tx = self.pool.begin().await?;
        let mut deleted = 0;
        for message_id in message_ids {
            deleted +=
                sqlx::query("DELETE FROM mailbox WHERE recipient_hash = ? AND message_id = ?")
                    .bind(recipient_hash)
                    .bind(message_id.as_slice())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
        }
        tx.commit().await?;
        Ok(deleted)
    }

    async fn purge_expired(&self, now_ms: i64) -> Result<u64, ServerStoreError> {
        let purged = sqlx::query("DELETE FROM mailbox WHERE expires_ms <= ?")
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        Ok(purged.rows_affected())
    }

    async fn depth(&self) -> Result<u64, ServerStoreError> {
        let depth: i64 = sqlx::query("SELECT COUNT(*) FROM mailbox")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        Ok(count(depth))
    }

    async fn mailbox_depth(&self, recipient_hash: &[u8]) -> Result<u64, ServerStoreError> {
        let depth: i64 = sqlx::query("SELECT COUNT(*) FROM mailbox WHERE recipient_hash = ?")
            .bind(recipient_hash)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        Ok(count(depth))
    }

    async fn put_device_list(
        &self,
        user_key: &[u8],
        version: i64,
        signed: &[u8],
    ) -> Result<PutDeviceList, ServerStoreError> {
        check_len("user_key", user_key, USER_KEY_LEN)?;
        let stored = sqlx::query(
            "INSERT INTO device_lists (user_key, version, signed) VALUES (?, ?, ?) \
             ON CONFLICT (user_key) DO UPDATE SET version = excluded.version, signed = excluded.signed \
             WHERE excluded.version > device_lists.version",
        )
        .bind(user_key)
        .bind(version)
        .bind(signed)
        .execute(&self.pool)
        .await?;
        if stored.rows_affected() == 1 {
            return Ok(PutDeviceList::Stored);
        }
        Ok(PutDeviceList::not_stored(
            self.device_list(user_key).await?,
            version,
            signed,
        ))
    }

    async fn device_list(
        &self,
        user_key: &[u8],
    ) -> Result<Option<(i64, Vec<u8>)>, ServerStoreError> {
        let row = sqlx::query("SELECT version, signed FROM device_lists WHERE user_key = ?")
            .bind(user_key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(|row| Ok::<_, sqlx::Error>((row.try_get(0)?, row.try_get(1)?)))
            .transpose()?)
    }

    async fn add_one_time_keys(
        &self,
        device: &[u8],
        keys: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<u64, ServerStoreError> {
        check_len("device_curve25519", device, DEVICE_KEY_LEN)?;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for (key, signature) in keys {
            sqlx::query(
                "INSERT INTO one_time_keys (device, key, signature) VALUES (?, ?, ?) \
                 ON CONFLICT (device, key) DO NOTHING",
            )
            .bind(device)
            .bind(key.as_slice())
            .bind(signature.as_slice())
            .execute(&mut *tx)
            .await?;
        }
        let pool: i64 = sqlx::query("SELECT COUNT(*) FROM one_time_keys WHERE device = ?")
            .bind(device)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        tx.commit().await?;
        Ok(count(pool))
    }

    async fn set_fallback_key(
        &self,
        device: &[u8],
        key: &[u8],
        signature: &[u8],
    ) -> Result<(), ServerStoreError> {
        check_len("device_curve25519", device, DEVICE_KEY_LEN)?;
        sqlx::query(
            "INSERT INTO fallback_keys (device, key, signature) VALUES (?, ?, ?) \
             ON CONFLICT (device) DO UPDATE SET key = excluded.key, signature = excluded.signature",
        )
        .bind(device)
        .bind(key)
        .bind(signature)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn claim_pre_key(&self, device: &[u8]) -> Result<Option<ClaimedKey>, ServerStoreError> {
        // One statement, so SQLite's single writer makes the pick-and-delete atomic.
        let one_time = sqlx::query(
            "DELETE FROM one_time_keys WHERE id = \
               (SELECT id FROM one_time_keys WHERE device = ? ORDER BY id LIMIT 1) \
             RETURNING key, signature",
        )
        .bind(device)
        .fetch_optional(&self.pool)
        .await?;
        let (row, fallback) = match one_time {
            Some(row) => (row, false),
            None => {
                let row = sqlx::query("SELECT key, signature FROM fallback_keys WHERE device = ?")
                    .bind(device)
                    .fetch_optional(&self.pool)
                    .await?;
                match row {
                    Some(row) => (row, true),
                    None => return Ok(None),
                }
            }
        };
        Ok(Some(ClaimedKey {
            key: row.try_get("key")?,
            signature: row.try_get("signature")?,
            fallback,
        }))
    }

    async fn pool_size(&self, device: &[u8]) -> Result<u64, ServerStoreError> {
        let pool: i64 = sqlx::query("SELECT COUNT(*) FROM one_time_keys WHERE device = ?")
            .bind(device)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        Ok(count(pool))
    }
}
