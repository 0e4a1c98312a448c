//! Queries that are not scoped to one tenant: tenant lookup for login, refresh tokens and API
//! keys (the secret identifies the tenant), the audit log, signing keys, configuration history.

use super::rows::*;
use super::{HubDb, StoreError};

impl HubDb {
    /// Creates a tenant and its first member (the owner) in one transaction.
    pub async fn create_tenant(
        &self,
        tenant: &TenantRow,
        owner: &MemberRow,
    ) -> Result<TenantId, StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO tenants (id, slug, name, kind, plan, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&tenant.id)
        .bind(&tenant.slug)
        .bind(&tenant.name)
        .bind(&tenant.kind)
        .bind(&tenant.plan)
        .bind(tenant.created_ms)
        .execute(&mut *tx)
        .await
        .map_err(|error| StoreError::conflict_or(error, "a tenant with this slug"))?;
        let tenant_id = TenantId::new(tenant.id.clone());
        super::tenant::insert_member(&mut *tx, &tenant_id, owner).await?;
        tx.commit().await?;
        Ok(tenant_id)
    }

    pub async fn tenant_by_slug(&self, slug: &str) -> Result<Option<TenantRow>, StoreError> {
        sqlx::query("SELECT * FROM tenants WHERE slug = $1")
            .bind(slug)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(tenant_row)
            .transpose()
    }

    /// The id of an existing tenant, as the store hands it out.
    pub async fn tenant_id_of(&self, id: &str) -> Result<Option<TenantId>, StoreError> {
        let found: Option<String> = sqlx::query_scalar("SELECT id FROM tenants WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        Ok(found.map(TenantId::new))
    }

    pub async fn tenant_row(&self, tenant_id: &TenantId) -> Result<Option<TenantRow>, StoreError> {
        sqlx::query("SELECT * FROM tenants WHERE id = $1")
            .bind(tenant_id.as_str())
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(tenant_row)
            .transpose()
    }

    /// The tenant id of a tenant named by id or slug (the CLI and login accept either).
    pub async fn resolve_tenant(&self, id_or_slug: &str) -> Result<Option<TenantRow>, StoreError> {
        sqlx::query("SELECT * FROM tenants WHERE id = $1 OR slug = $1")
            .bind(id_or_slug)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(tenant_row)
            .transpose()
    }

    pub async fn set_plan(&self, tenant_id: &TenantId, plan: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE tenants SET plan = $2 WHERE id = $1")
            .bind(tenant_id.as_str())
            .bind(plan)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    // ---- refresh tokens ----

    pub async fn insert_refresh(&self, row: &RefreshRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, tenant_id, member_id, device_id, family_id, \
             created_ms, expires_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&row.token_hash)
        .bind(&row.tenant_id)
        .bind(&row.member_id)
        .bind(&row.device_id)
        .bind(&row.family_id)
        .bind(row.created_ms)
        .bind(row.expires_ms)
        .execute(self.pool())
        .await
        .map_err(|error| StoreError::conflict_or(error, "refresh token"))?;
        Ok(())
    }

    pub async fn refresh_by_hash(&self, hash: &[u8]) -> Result<Option<RefreshRow>, StoreError> {
        sqlx::query("SELECT * FROM refresh_tokens WHERE token_hash = $1")
            .bind(hash)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(refresh_row)
            .transpose()
    }

    /// Marks a refresh token used, atomically: `false` when it was already used or revoked
    /// (a concurrent refresh won, or this is a replay).
    pub async fn use_refresh(&self, hash: &[u8], now_ms: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE refresh_tokens SET used_ms = $2 \
             WHERE token_hash = $1 AND used_ms IS NULL AND revoked_ms IS NULL",
        )
        .bind(hash)
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Revokes every token of a family.
    pub async fn revoke_refresh_family(
        &self,
        family_id: &str,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE refresh_tokens SET revoked_ms = $2 WHERE family_id = $1 AND revoked_ms IS NULL",
        )
        .bind(family_id)
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    // ---- API keys ----

    pub async fn api_key_by_id(&self, id: &str) -> Result<Option<ApiKeyRow>, StoreError> {
        sqlx::query("SELECT * FROM api_keys WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(api_key_row)
            .transpose()
    }

    // ---- audit log ----

    /// Appends entries at consecutive indexes starting at `first_idx`, in one transaction.
    /// A conflict means another writer appended first: the caller reloads and retries.
    pub async fn append_audit(&self, first_idx: i64, rows: &[AuditRow]) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        for (offset, row) in rows.iter().enumerate() {
            let idx = first_idx + i64::try_from(offset).unwrap_or(i64::MAX);
            sqlx::query(
                "INSERT INTO audit_entries (idx, tenant_id, entry, leaf_hash) VALUES ($1, $2, $3, $4)",
            )
            .bind(idx)
            .bind(&row.tenant_id)
            .bind(&row.entry)
            .bind(&row.leaf_hash)
            .execute(&mut *tx)
            .await
            .map_err(|error| StoreError::conflict_or(error, "audit entry index"))?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Leaf hashes from index `from` on, in order.
    pub async fn audit_leaf_hashes(&self, from: i64) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        let rows =
            sqlx::query("SELECT idx, leaf_hash FROM audit_entries WHERE idx >= $1 ORDER BY idx")
                .bind(from)
                .fetch_all(self.pool())
                .await?;
        rows.iter()
            .map(|row| Ok((col(row, "idx")?, col(row, "leaf_hash")?)))
            .collect()
    }

    pub async fn audit_entry(&self, idx: i64) -> Result<Option<AuditRow>, StoreError> {
        sqlx::query("SELECT * FROM audit_entries WHERE idx = $1")
            .bind(idx)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(audit_row)
            .transpose()
    }

    /// Replaces an entry's text with a redaction marker, keeping its leaf hash (so proofs of
    /// the tree still verify; the entry itself no longer does, by design).
    pub async fn redact_audit_entry(
        &self,
        idx: i64,
        marker: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE audit_entries SET entry = $2, redacted_ms = $3 WHERE idx = $1 AND redacted_ms IS NULL",
        )
        .bind(idx)
        .bind(marker)
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn save_checkpoint(
        &self,
        size: i64,
        note: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_checkpoints (size, note, created_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (size) DO NOTHING",
        )
        .bind(size)
        .bind(note)
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn checkpoint(&self, size: i64) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT note FROM audit_checkpoints WHERE size = $1")
                .bind(size)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    // ---- signing keys ----

    pub async fn insert_signing_key(&self, row: &SigningKeyRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO signing_keys (purpose, kid, secret_sealed, public_key, created_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&row.purpose)
        .bind(&row.kid)
        .bind(&row.secret_sealed)
        .bind(&row.public_key)
        .bind(row.created_ms)
        .execute(self.pool())
        .await
        .map_err(|error| StoreError::conflict_or(error, "signing key"))?;
        Ok(())
    }

    /// Keys of one purpose, newest first (retired ones included).
    pub async fn signing_keys(&self, purpose: &str) -> Result<Vec<SigningKeyRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM signing_keys WHERE purpose = $1 ORDER BY created_ms DESC, kid DESC",
        )
        .bind(purpose)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(signing_key_row).collect()
    }

    pub async fn retire_signing_key(
        &self,
        purpose: &str,
        kid: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE signing_keys SET retired_ms = $3 WHERE purpose = $1 AND kid = $2 AND retired_ms IS NULL",
        )
        .bind(purpose)
        .bind(kid)
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    // ---- configuration history ----

    /// Records a configuration as the next version; returns its number.
    pub async fn insert_config_version(
        &self,
        toml: &str,
        sha256: &str,
        source: &str,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        let mut tx = super::begin_write(self.pool(), self.is_postgres()).await?;
        let version: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) + 1 FROM config_versions")
                .fetch_one(&mut *tx)
                .await?;
        sqlx::query(
            "INSERT INTO config_versions (version, toml, sha256, source, applied_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(version)
        .bind(toml)
        .bind(sha256)
        .bind(source)
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(|error| StoreError::conflict_or(error, "config version"))?;
        tx.commit().await?;
        Ok(version)
    }

    /// Every recorded configuration, oldest first.
    pub async fn config_versions(&self) -> Result<Vec<ConfigVersionRow>, StoreError> {
        let rows = sqlx::query("SELECT * FROM config_versions ORDER BY version")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(config_version_row).collect()
    }

    /// Baseline for `omega bench hub`: raw autocommitted single-row inserts of audit-sized rows
    /// into a scratch table, `in_flight` at a time; returns rows per second. The table is dropped.
    pub async fn raw_insert_rate(&self, count: usize, in_flight: usize) -> Result<f64, StoreError> {
        sqlx::query("DROP TABLE IF EXISTS bench_raw_inserts")
            .execute(self.pool())
            .await?;
        sqlx::query("CREATE TABLE bench_raw_inserts (idx BIGINT PRIMARY KEY, entry TEXT NOT NULL, leaf_hash BYTEA NOT NULL)")
            .execute(self.pool())
            .await?;
        let started = std::time::Instant::now();
        let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut workers = Vec::new();
        for _ in 0..in_flight.max(1) {
            let pool = self.pool().clone();
            let next = next.clone();
            workers.push(tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n >= count {
                        return Ok::<(), sqlx::Error>(());
                    }
                    sqlx::query(
                        "INSERT INTO bench_raw_inserts (idx, entry, leaf_hash) VALUES ($1, $2, $3)",
                    )
                    .bind(n as i64)
                    .bind(format!("{{\"action\":\"bench.raw\",\"n\":{n}}}"))
                    .bind(vec![0u8; 32])
                    .execute(&pool)
                    .await?;
                }
            }));
        }
        for worker in workers {
            worker
                .await
                .map_err(|error| StoreError::Corrupt(format!("bench worker: {error}")))??;
        }
        let per_second = count as f64 / started.elapsed().as_secs_f64();
        sqlx::query("DROP TABLE bench_raw_inserts")
            .execute(self.pool())
            .await?;
        Ok(per_second)
    }
}
