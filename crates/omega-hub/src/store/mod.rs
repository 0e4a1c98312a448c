//! The hub's storage: one SQL text that runs on SQLite (embedded default) and PostgreSQL,
//! through sqlx's `Any` driver. See docs/decisions/005-hub-storage.md.
//!
//! Tenant-owned rows are reached only through [`TenantDb`], a handle bound to one tenant id:
//! every one of its queries filters on that id, so a handler cannot forget the tenant.

mod console;
mod global;
mod inbox;
mod leads;
mod outbound;
mod purge;
mod rows;
mod tenant;

use std::time::{Duration, Instant};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub use console::{AssigneeFilter, ConversationFilter, ConversationSummary, DayCount, ScoreBucket};
pub(crate) use inbox::channel_tenant;
pub use inbox::{
    ChannelRow, ConversationRow, InboundRow, InboxMessageRow, PrivacySettings, StoredMessage,
};
pub use leads::LeadRow;
pub use outbound::{DIAGNOSTICS_KEPT, DiagnosticRow, OutboundJobRow};
pub use purge::{HiddenRow, PurgeCounts};
pub use rows::*;
pub use tenant::TenantDb;

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{what} already exists")]
    Conflict { what: &'static str },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("unsupported database url {url:?}: expected sqlite://PATH or postgres://…")]
    UnsupportedUrl { url: String },
}

impl StoreError {
    /// Maps a unique-constraint violation to [`StoreError::Conflict`].
    fn conflict_or(error: sqlx::Error, what: &'static str) -> StoreError {
        match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict { what },
            _ => StoreError::Database(error),
        }
    }
}

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/0001_hub.sql")),
    (2, include_str!("../../migrations/0002_inbox.sql")),
    (3, include_str!("../../migrations/0003_privacy.sql")),
    (4, include_str!("../../migrations/0004_inbox_ops.sql")),
    (5, include_str!("../../migrations/0005_locked_chats.sql")),
    (6, include_str!("../../migrations/0006_console.sql")),
];

/// The hub database (a pool).
#[derive(Clone, Debug)]
pub struct HubDb {
    pool: AnyPool,
    postgres: bool,
}

impl HubDb {
    /// Opens (creating if needed) and migrates the database at `url`
    /// (`sqlite://PATH` or `postgres://…`).
    pub async fn open(url: &str) -> Result<HubDb, StoreError> {
        sqlx::any::install_default_drivers();
        let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
        let url = if postgres {
            url.to_owned()
        } else if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(StoreError::UnsupportedUrl {
                    url: url.to_owned(),
                });
            }
            if path.contains('?') {
                url.to_owned()
            } else {
                format!("{url}?mode=rwc")
            }
        } else {
            return Err(StoreError::UnsupportedUrl {
                url: url.to_owned(),
            });
        };
        let options: AnyConnectOptions = url.parse()?;
        let pool = AnyPoolOptions::new()
            .max_connections(if postgres { 16 } else { 8 })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |connection, _| {
                Box::pin(async move {
                    if !postgres {
                        for pragma in [
                            "PRAGMA busy_timeout = 10000",
                            "PRAGMA foreign_keys = ON",
                            "PRAGMA synchronous = FULL",
                        ] {
                            connection.execute(pragma).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        if !postgres {
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
        }
        let db = HubDb { pool, postgres };
        db.migrate().await?;
        Ok(db)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        self.pool
            .execute(
                "CREATE TABLE IF NOT EXISTS hub_migrations \
                 (version BIGINT PRIMARY KEY, applied_ms BIGINT NOT NULL)",
            )
            .await?;
        for (version, sql) in MIGRATIONS {
            let mut tx = self.pool.begin().await?;
            let done: Option<i64> =
                sqlx::query_scalar("SELECT version FROM hub_migrations WHERE version = $1")
                    .bind(*version)
                    .fetch_optional(&mut *tx)
                    .await?;
            if done.is_some() {
                continue;
            }
            for statement in split_statements(sql) {
                tx.execute(sqlx::AssertSqlSafe(statement)).await?;
            }
            sqlx::query("INSERT INTO hub_migrations (version, applied_ms) VALUES ($1, $2)")
                .bind(*version)
                .bind(now_ms())
                .execute(&mut *tx)
                .await
                .map_err(|error| StoreError::conflict_or(error, "migration"))?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// Whether this is PostgreSQL (else SQLite).
    pub fn is_postgres(&self) -> bool {
        self.postgres
    }

    /// Round-trips a trivial query; the latency feeds `/health`.
    pub async fn ping(&self) -> Result<Duration, StoreError> {
        let started = Instant::now();
        let _: i64 = sqlx::query_scalar("SELECT CAST(1 AS BIGINT)")
            .fetch_one(&self.pool)
            .await?;
        Ok(started.elapsed())
    }

    /// The handle for one tenant's rows.
    pub fn tenant(&self, tenant_id: &TenantId) -> TenantDb<'_> {
        TenantDb::new(&self.pool, tenant_id.clone(), self.postgres)
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The raw pool, for tests that inspect every table (not for application code).
    #[doc(hidden)]
    pub fn pool_for_tests(&self) -> &AnyPool {
        &self.pool
    }
}

/// A read-then-write transaction (`BEGIN IMMEDIATE` on SQLite).
pub(crate) async fn begin_write(
    pool: &AnyPool,
    postgres: bool,
) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
    if postgres {
        pool.begin().await
    } else {
        pool.begin_with("BEGIN IMMEDIATE").await
    }
}

/// Splits a migration file into statements (no statement in our migrations contains `;`
/// inside a literal).
fn split_statements(sql: &str) -> Vec<String> {
    let without_comments: String = sql
        .lines()
        .filter(|line| !line.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    without_comments
        .split(';')
        .map(str::trim)
        .filter(|statement| !statement.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Unix milliseconds now (the store stamps migrations; everything else gets `now` passed in).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_splits_into_statements_without_comments() {
        let statements = split_statements(MIGRATIONS[0].1);
        assert!(statements.len() > 10);
        assert!(statements.iter().all(|statement| !statement.contains("--")));
    }
}
