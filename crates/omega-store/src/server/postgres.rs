//! [`ServerStore`] on PostgreSQL.

use sqlx::Row;
use sqlx::postgres::{PgPool, PgPoolOptions};

use super::{
    ClaimedKey, DEVICE_KEY_LEN, Deposited, FetchedPage, MESSAGE_ID_LEN, PutDeviceList,
    RECIPIENT_HASH_LEN, ServerStore, ServerStoreError, StoredEnvelope, USER_KEY_LEN, check_len,
    count, plan_page, probe_limit,
};
use crate::migrate;

/// Connections in the pool.
const MAX_CONNECTIONS: u32 = 16;

/// First key of the transaction-scoped advisory locks that serialize deposits to one mailbox
/// ("omeb" in ASCII); the second is taken from the mailbox address. Two-key advisory locks never
/// collide with one-key ones (the migration lock).
const DEPOSIT_LOCK_CLASS: i32 = 0x6f6d_6562;

/// The server's store in a PostgreSQL database, which several servers may share.
#[derive(Clone, Debug)]
pub struct PgServerStore {
    pool: PgPool,
}

impl PgServerStore {
    /// Connects to the database at `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`) and
    /// applies pending migrations; servers starting at once against one database take turns.
    pub async fn connect(url: &str) -> Result<Self, ServerStoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect(url)
            .await?;
        migrate::postgres(&pool, migrate::SERVER_POSTGRES).await?;
        Ok(PgServerStore { pool })
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The second advisory-lock key of a mailbox: its first four bytes. Mailboxes that share it only
/// take turns depositing.
fn deposit_lock_key(recipient_hash: &[u8]) -> i32 {
    let mut prefix = [0u8; 4];
    for (byte, slot) in recipient_hash.iter().zip(prefix.iter_mut()) {
        *slot = *byte;
    }
    i32::from_be_bytes(prefix)
}

impl ServerStore for PgServerStore {
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
        // A sequence hands out values in call order, not commit order: without the lock a fetch
        // could see cursor 6 committed while 5 is still in flight, and page past 5 for good.
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind(DEPOSIT_LOCK_CLASS)
            .bind(deposit_lock_key(recipient_hash))
            .execute(&mut *tx)
            .await?;
        let inserted = sqlx::query(
            "INSERT INTO mailbox (recipient_hash, message_id, envelope, deposited_ms, expires_ms) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (recipient_hash, message_id) DO NOTHING",
        )
        .bind(recipient_hash)
        .bind(message_id)
        .bind(envelope)
        .bind(now_ms)
        .bind(expires_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
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
        // First the sizes (octet_length does not detoast), then only the envelopes of the page.
        let waiting = sqlx::query(
            "SELECT cursor, octet_length(envelope)::BIGINT FROM mailbox \
             WHERE recipient_hash = $1 AND cursor > $2 ORDER BY cursor LIMIT $3",
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
             WHERE recipient_hash = $1 AND cursor > $2 AND cursor <= $3 ORDER BY cursor",
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
        if message_ids.is_empty() {
            return Ok(0);
        }
        let deleted =
            sqlx::query("DELETE FROM mailbox WHERE recipient_hash = $1 AND message_id = ANY($2)")
                .bind(recipient_hash)
                .bind(message_ids)
                .execute(&self.pool)
                .await?;
        Ok(deleted.rows_affected())
    }

    async fn purge_expired(&self, now_ms: i64) -> Result<u64, ServerStoreError> {
        let purged = sqlx::query("DELETE FROM mailbox WHERE expires_ms <= $1")
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
        let depth: i64 = sqlx::query("SELECT COUNT(*) FROM mailbox WHERE recipient_hash = $1")
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
            "INSERT INTO device_lists (user_key, version, signed) VALUES ($1, $2, $3) \
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
        let row = sqlx::query("SELECT version, signed FROM device_lists WHERE user_key = $1")
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
        let (key_bytes, signatures): (Vec<&[u8]>, Vec<&[u8]>) = keys
            .iter()
            .map(|(key, signature)| (key.as_slice(), signature.as_slice()))
            .unzip();
        let mut tx = self.pool.begin().await?;
        // One statement; ids follow the upload order, so the oldest key goes out first.
        sqlx::query(
            "INSERT INTO one_time_keys (device, key, signature) \
             SELECT $1, uploaded.key, uploaded.signature \
             FROM UNNEST($2::BYTEA[], $3::BYTEA[]) WITH ORDINALITY AS uploaded (key, signature, n) \
             ORDER BY uploaded.n \
             ON CONFLICT (device, key) DO NOTHING",
        )
        .bind(device)
        .bind(key_bytes)
        .bind(signatures)
        .execute(&mut *tx)
        .await?;
        let pool: i64 = sqlx::query("SELECT COUNT(*) FROM one_time_keys WHERE device = $1")
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
            "INSERT INTO fallback_keys (device, key, signature) VALUES ($1, $2, $3) \
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
        // The row lock makes each key go to exactly one claimer; SKIP LOCKED lets concurrent
        // claimers take the next key instead of queueing behind the first.
        let one_time = sqlx::query(
            "DELETE FROM one_time_keys WHERE id = \
               (SELECT id FROM one_time_keys WHERE device = $1 ORDER BY id LIMIT 1 \
                FOR UPDATE SKIP LOCKED) \
             RETURNING key, signature",
        )
        .bind(device)
        .fetch_optional(&self.pool)
        .await?;
        let (row, fallback) = match one_time {
            Some(row) => (row, false),
            None => {
                let row = sqlx::query("SELECT key, signature FROM fallback_keys WHERE device = $1")
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
        let pool: i64 = sqlx::query("SELECT COUNT(*) FROM one_time_keys WHERE device = $1")
            .bind(device)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        Ok(count(pool))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deposit_lock_key_is_the_address_prefix() {
        assert_eq!(deposit_lock_key(&[0, 0, 1, 2, 9, 9]), 0x0102);
        assert_eq!(deposit_lock_key(&[0xff; 32]), -1);
        assert_eq!(deposit_lock_key(&[]), 0);
    }
}
