//! The tenant-scoped handle: every query here filters on the handle's tenant id.

use sqlx::{Any, AnyPool, Executor};

use super::StoreError;
use super::rows::*;

/// Tables whose row count a plan limits.
#[derive(Clone, Copy, Debug)]
pub(super) enum QuotaTable {
    Members,
    Channels,
}

/// All rows of one tenant. Obtained from [`super::HubDb::tenant`] with a [`TenantId`] that
/// comes from a verified credential or from the store itself.
#[derive(Clone, Debug)]
pub struct TenantDb<'a> {
    pool: &'a AnyPool,
    tenant_id: TenantId,
    postgres: bool,
}

pub(super) async fn insert_member<'e, E>(
    executor: E,
    tenant_id: &TenantId,
    member: &MemberRow,
) -> Result<(), StoreError>
where
    E: Executor<'e, Database = Any>,
{
    sqlx::query(
        "INSERT INTO members (tenant_id, id, email, display_name, role, scopes, department_id, \
         password_hash, disabled, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(tenant_id.as_str())
    .bind(&member.id)
    .bind(&member.email)
    .bind(&member.display_name)
    .bind(&member.role)
    .bind(&member.scopes)
    .bind(&member.department_id)
    .bind(&member.password_hash)
    .bind(i64::from(member.disabled))
    .bind(member.created_ms)
    .execute(executor)
    .await
    .map_err(|error| StoreError::conflict_or(error, "a member with this email"))?;
    Ok(())
}

impl<'a> TenantDb<'a> {
    pub(super) fn new(pool: &'a AnyPool, tenant_id: TenantId, postgres: bool) -> TenantDb<'a> {
        TenantDb {
            pool,
            tenant_id,
            postgres,
        }
    }

    /// A transaction that reads before it writes: on SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`), so it cannot fail to upgrade when another writer commits meanwhile.
    pub(super) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Any>, sqlx::Error> {
        super::begin_write(self.pool, self.postgres).await
    }

    /// The tenant this handle is bound to.
    pub fn tenant_id(&self) -> &TenantId {
        &self.tenant_id
    }

    pub(super) fn tid(&self) -> &str {
        self.tenant_id.as_str()
    }

    pub(super) fn pool(&self) -> &'a AnyPool {
        self.pool
    }

    // ---- departments ----

    pub async fn create_department(&self, row: &DepartmentRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO departments (tenant_id, id, name, created_ms) VALUES ($1, $2, $3, $4)",
        )
        .bind(self.tid())
        .bind(&row.id)
        .bind(&row.name)
        .bind(row.created_ms)
        .execute(self.pool)
        .await
        .map_err(|error| StoreError::conflict_or(error, "a department with this name"))?;
        Ok(())
    }

    pub async fn departments(&self) -> Result<Vec<DepartmentRow>, StoreError> {
        let rows = sqlx::query("SELECT * FROM departments WHERE tenant_id = $1 ORDER BY name")
            .bind(self.tid())
            .fetch_all(self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(DepartmentRow {
                    id: col(row, "id")?,
                    name: col(row, "name")?,
                    created_ms: col(row, "created_ms")?,
                })
            })
            .collect()
    }

    pub async fn department_exists(&self, id: &str) -> Result<bool, StoreError> {
        let found: Option<String> =
            sqlx::query_scalar("SELECT id FROM departments WHERE tenant_id = $1 AND id = $2")
                .bind(self.tid())
                .bind(id)
                .fetch_optional(self.pool)
                .await?;
        Ok(found.is_some())
    }

    /// Whether the tenant already has `max` rows in `table`, checked inside `tx` after taking a
    /// write lock on the tenant row (on SQLite and PostgreSQL alike), so concurrent adds cannot
    /// overshoot. `None` = unlimited.
    pub(super) async fn quota_full(
        &self,
        tx: &mut sqlx::Transaction<'static, Any>,
        table: QuotaTable,
        max: Option<i64>,
    ) -> Result<bool, StoreError> {
        let Some(max) = max else { return Ok(false) };
        sqlx::query("UPDATE tenants SET plan = plan WHERE id = $1")
            .bind(self.tid())
            .execute(&mut **tx)
            .await?;
        let count_sql = match table {
            QuotaTable::Members => "SELECT COUNT(*) FROM members WHERE tenant_id = $1",
            QuotaTable::Channels => "SELECT COUNT(*) FROM channels WHERE tenant_id = $1",
        };
        let count: i64 = sqlx::query_scalar(count_sql)
            .bind(self.tid())
            .fetch_one(&mut **tx)
            .await?;
        Ok(count >= max)
    }

    // ---- members ----

    /// Adds a member unless the tenant already has `max_members` (checked in the same
    /// transaction, so concurrent adds cannot overshoot). `Ok(false)` means the quota is full.
    pub async fn insert_member_within(
        &self,
        member: &MemberRow,
        max_members: Option<i64>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        if self
            .quota_full(&mut tx, QuotaTable::Members, max_members)
            .await?
        {
            return Ok(false);
        }
        insert_member(&mut *tx, &self.tenant_id, member).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn members(&self) -> Result<Vec<MemberRow>, StoreError> {
        let rows =
            sqlx::query("SELECT * FROM members WHERE tenant_id = $1 ORDER BY created_ms, id")
                .bind(self.tid())
                .fetch_all(self.pool)
                .await?;
        rows.iter().map(member_row).collect()
    }

    pub async fn member_count(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM members WHERE tenant_id = $1")
                .bind(self.tid())
                .fetch_one(self.pool)
                .await?,
        )
    }

    pub async fn member(&self, id: &str) -> Result<Option<MemberRow>, StoreError> {
        sqlx::query("SELECT * FROM members WHERE tenant_id = $1 AND id = $2")
            .bind(self.tid())
            .bind(id)
            .fetch_optional(self.pool)
            .await?
            .as_ref()
            .map(member_row)
            .transpose()
    }

    pub async fn member_by_email(&self, email: &str) -> Result<Option<MemberRow>, StoreError> {
        sqlx::query("SELECT * FROM members WHERE tenant_id = $1 AND email = $2")
            .bind(self.tid())
            .bind(email)
            .fetch_optional(self.pool)
            .await?
            .as_ref()
            .map(member_row)
            .transpose()
    }

    pub async fn update_member_access(
        &self,
        id: &str,
        role: &str,
        scopes: &str,
        department_id: Option<&str>,
        disabled: bool,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE members SET role = $3, scopes = $4, department_id = $5, disabled = $6 \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(self.tid())
        .bind(id)
        .bind(role)
        .bind(scopes)
        .bind(department_id)
        .bind(i64::from(disabled))
        .execute(self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Stores a TOTP secret awaiting confirmation (2FA stays off until confirmed).
    pub async fn set_totp_pending(&self, id: &str, sealed: &[u8]) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE members SET totp_sealed = $3, totp_enabled = 0, totp_last_step = NULL \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(self.tid())
        .bind(id)
        .bind(sealed)
        .execute(self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records that the code of `step` was accepted, atomically refusing a step at or before
    /// the last one used (a replayed code). Turns 2FA on when `enable`.
    pub async fn accept_totp_step(
        &self,
        id: &str,
        step: i64,
        enable: bool,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE members SET totp_last_step = $3, \
             totp_enabled = CASE WHEN $4 = 1 THEN 1 ELSE totp_enabled END \
             WHERE tenant_id = $1 AND id = $2 AND totp_sealed IS NOT NULL \
             AND (totp_last_step IS NULL OR totp_last_step < $3)",
        )
        .bind(self.tid())
        .bind(id)
        .bind(step)
        .bind(i64::from(enable))
        .execute(self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn disable_totp(&self, id: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE members SET totp_sealed = NULL, totp_enabled = 0, totp_last_step = NULL \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(self.tid())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM recovery_codes WHERE tenant_id = $1 AND member_id = $2")
            .bind(self.tid())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces a member's recovery codes (hashes).
    pub async fn replace_recovery_codes(
        &self,
        member_id: &str,
        hashes: &[[u8; 32]],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM recovery_codes WHERE tenant_id = $1 AND member_id = $2")
            .bind(self.tid())
            .bind(member_id)
            .execute(&mut *tx)
            .await?;
        for hash in hashes {
            sqlx::query(
                "INSERT INTO recovery_codes (tenant_id, member_id, code_hash) VALUES ($1, $2, $3)",
            )
            .bind(self.tid())
            .bind(member_id)
            .bind(hash.as_slice())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Spends a recovery code: `true` once, `false` when unknown or already used.
    pub async fn use_recovery_code(
        &self,
        member_id: &str,
        hash: &[u8; 32],
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE recovery_codes SET used_ms = $4 \
             WHERE tenant_id = $1 AND member_id = $2 AND code_hash = $3 AND used_ms IS NULL",
        )
        .bind(self.tid())
        .bind(member_id)
        .bind(hash.as_slice())
        .bind(now_ms)
        .execute(self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    // ---- devices ----

    pub async fn insert_device(&self, row: &DeviceRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO devices (tenant_id, id, member_id, name, ip, user_agent, created_ms, last_seen_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(self.tid())
        .bind(&row.id)
        .bind(&row.member_id)
        .bind(&row.name)
        .bind(&row.ip)
        .bind(&row.user_agent)
        .bind(row.created_ms)
        .bind(row.last_seen_ms)
        .execute(self.pool)
        .await
        .map_err(|error| StoreError::conflict_or(error, "device"))?;
        Ok(())
    }

    pub async fn device(&self, id: &str) -> Result<Option<DeviceRow>, StoreError> {
        sqlx::query("SELECT * FROM devices WHERE tenant_id = $1 AND id = $2")
            .bind(self.tid())
            .bind(id)
            .fetch_optional(self.pool)
            .await?
            .as_ref()
            .map(device_row)
            .transpose()
    }

    pub async fn devices_of(&self, member_id: &str) -> Result<Vec<DeviceRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM devices WHERE tenant_id = $1 AND member_id = $2 ORDER BY created_ms, id",
        )
        .bind(self.tid())
        .bind(member_id)
        .fetch_all(self.pool)
        .await?;
        rows.iter().map(device_row).collect()
    }

    /// Updates last seen (and IP) of a live device.
    pub async fn touch_device(&self, id: &str, ip: &str, now_ms: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE devices SET last_seen_ms = $3, ip = $4 \
             WHERE tenant_id = $1 AND id = $2 AND revoked_ms IS NULL",
        )
        .bind(self.tid())
        .bind(id)
        .bind(now_ms)
        .bind(ip)
        .execute(self.pool)
        .await?;
        Ok(())
    }

    /// Revokes one device of a member and its refresh tokens; `false` if it was not live.
    pub async fn revoke_device(
        &self,
        member_id: &str,
        id: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE devices SET revoked_ms = $4 \
             WHERE tenant_id = $1 AND member_id = $2 AND id = $3 AND revoked_ms IS NULL",
        )
        .bind(self.tid())
        .bind(member_id)
        .bind(id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_ms = $3 \
             WHERE tenant_id = $1 AND device_id = $2 AND revoked_ms IS NULL",
        )
        .bind(self.tid())
        .bind(id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Revokes every live device of a member except `keep`; returns how many.
    pub async fn revoke_member_devices(
        &self,
        member_id: &str,
        keep: Option<&str>,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let keep = keep.unwrap_or("");
        let done = sqlx::query(
            "UPDATE devices SET revoked_ms = $4 \
             WHERE tenant_id = $1 AND member_id = $2 AND id <> $3 AND revoked_ms IS NULL",
        )
        .bind(self.tid())
        .bind(member_id)
        .bind(keep)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_ms = $4 \
             WHERE tenant_id = $1 AND member_id = $2 AND device_id <> $3 AND revoked_ms IS NULL",
        )
        .bind(self.tid())
        .bind(member_id)
        .bind(keep)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    // ---- API keys ----

    pub async fn insert_api_key(&self, row: &ApiKeyRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_keys (tenant_id, id, name, scopes, secret_hash, created_by, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(self.tid())
        .bind(&row.id)
        .bind(&row.name)
        .bind(&row.scopes)
        .bind(&row.secret_hash)
        .bind(&row.created_by)
        .bind(row.created_ms)
        .execute(self.pool)
        .await
        .map_err(|error| StoreError::conflict_or(error, "API key"))?;
        Ok(())
    }

    pub async fn api_keys(&self) -> Result<Vec<ApiKeyRow>, StoreError> {
        let rows =
            sqlx::query("SELECT * FROM api_keys WHERE tenant_id = $1 ORDER BY created_ms, id")
                .bind(self.tid())
                .fetch_all(self.pool)
                .await?;
        rows.iter().map(api_key_row).collect()
    }

    pub async fn revoke_api_key(&self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_ms = $3 WHERE tenant_id = $1 AND id = $2 AND revoked_ms IS NULL",
        )
        .bind(self.tid())
        .bind(id)
        .bind(now_ms)
        .execute(self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn touch_api_key(&self, id: &str, now_ms: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_keys SET last_used_ms = $3 WHERE tenant_id = $1 AND id = $2")
            .bind(self.tid())
            .bind(id)
            .bind(now_ms)
            .execute(self.pool)
            .await?;
        Ok(())
    }

    // ---- usage quotas ----

    /// Adds `by` to a usage counter unless that would pass `limit`; returns the new count, or
    /// `None` when the limit refuses it. Atomic under concurrency on both databases.
    pub async fn add_usage(
        &self,
        metric: &str,
        period: &str,
        by: i64,
        limit: Option<i64>,
    ) -> Result<Option<i64>, StoreError> {
        let limit = limit.unwrap_or(i64::MAX);
        if by > limit {
            return Ok(None);
        }
        let count: Option<i64> = sqlx::query_scalar(
            "INSERT INTO usage_counters (tenant_id, metric, period, count) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, metric, period) DO UPDATE SET count = usage_counters.count + $4 \
             WHERE usage_counters.count + $4 <= $5 \
             RETURNING count",
        )
        .bind(self.tid())
        .bind(metric)
        .bind(period)
        .bind(by)
        .bind(limit)
        .fetch_optional(self.pool)
        .await?;
        Ok(count)
    }

    pub async fn usage(&self, metric: &str, period: &str) -> Result<i64, StoreError> {
        let count: Option<i64> = sqlx::query_scalar(
            "SELECT count FROM usage_counters WHERE tenant_id = $1 AND metric = $2 AND period = $3",
        )
        .bind(self.tid())
        .bind(metric)
        .bind(period)
        .fetch_optional(self.pool)
        .await?;
        Ok(count.unwrap_or(0))
    }

    // ---- audit ----

    /// This tenant's audit entries from index `from`, at most `limit`.
    pub async fn audit_entries(&self, from: i64, limit: i64) -> Result<Vec<AuditRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM audit_entries WHERE tenant_id = $1 AND idx >= $2 ORDER BY idx LIMIT $3",
        )
        .bind(self.tid())
        .bind(from)
        .bind(limit)
        .fetch_all(self.pool)
        .await?;
        rows.iter().map(audit_row).collect()
    }

    /// One audit entry, only if it belongs to this tenant.
    pub async fn audit_entry(&self, idx: i64) -> Result<Option<AuditRow>, StoreError> {
        sqlx::query("SELECT * FROM audit_entries WHERE tenant_id = $1 AND idx = $2")
            .bind(self.tid())
            .bind(idx)
            .fetch_optional(self.pool)
            .await?
            .as_ref()
            .map(audit_row)
            .transpose()
    }
}
