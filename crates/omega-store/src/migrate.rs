//! Schema migrations: a list of SQL scripts applied in order, for every database of this crate.
//!
//! Version `n` means the first `n` scripts were applied. SQLite keeps it in `PRAGMA user_version`;
//! PostgreSQL in the one-row table `omega_schema_version`. Never edit an applied script: append one.

use sqlx::Row;
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;

/// The node's local store ([`crate::Store`]).
pub(crate) const NODE_SQLITE: &[&str] = &[
    include_str!("../migrations/0001_init.sql"),
    include_str!("../migrations/0002_contact_mailboxes.sql"),
    include_str!("../migrations/0003_search.sql"),
    include_str!("../migrations/0004_message_kinds.sql"),
    include_str!("../migrations/0005_groups.sql"),
    include_str!("../migrations/0006_files.sql"),
    include_str!("../migrations/0007_devices.sql"),
];

/// The server's store on SQLite ([`crate::server::SqliteServerStore`]).
pub(crate) const SERVER_SQLITE: &[&str] =
    &[include_str!("../migrations/server/sqlite/0001_init.sql")];

/// The server's store on PostgreSQL ([`crate::server::PgServerStore`]).
pub(crate) const SERVER_POSTGRES: &[&str] =
    &[include_str!("../migrations/server/postgres/0001_init.sql")];

/// Key of the transaction-scoped advisory lock that serializes PostgreSQL migrations, so servers
/// starting at the same time against one database do not race ("omega_sv" in ASCII).
const POSTGRES_MIGRATION_LOCK: i64 = 0x6f6d_6567_615f_7376;

/// Why migrations could not be applied; each store turns it into its own error type.
#[derive(Debug)]
pub(crate) enum MigrateError {
    Database(sqlx::Error),
    /// The database was written by a newer build.
    SchemaTooNew {
        found: i64,
        supported: i64,
    },
}

impl From<sqlx::Error> for MigrateError {
    fn from(error: sqlx::Error) -> Self {
        MigrateError::Database(error)
    }
}

/// Brings a SQLite database up to date, in one `BEGIN IMMEDIATE` transaction (so two processes
/// opening the same file cannot both apply a script).
pub(crate) async fn sqlite(
    pool: &SqlitePool,
    migrations: &[&'static str],
) -> Result<(), MigrateError> {
    let supported = migrations.len() as i64;
    if sqlite_version(pool).await? == supported {
        return Ok(());
    }
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let current = sqlite_version(&mut *tx).await?;
    let pending = pending(migrations, current)?;
    for sql in pending {
        sqlx::raw_sql(*sql).execute(&mut *tx).await?;
    }
    // PRAGMA takes no bind parameters; the value is an integer we computed, never input.
    let set_version = sqlx::AssertSqlSafe(format!("PRAGMA user_version = {supported}"));
    sqlx::query(set_version).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

async fn sqlite_version<'c, E>(executor: E) -> Result<i64, sqlx::Error>
where
    E: sqlx::SqliteExecutor<'c>,
{
    sqlx::query("PRAGMA user_version")
        .fetch_one(executor)
        .await?
        .try_get(0)
}

/// Brings a PostgreSQL database up to date, in one transaction holding an advisory lock.
pub(crate) async fn postgres(
    pool: &PgPool,
    migrations: &[&'static str],
) -> Result<(), MigrateError> {
    let supported = migrations.len() as i64;
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(POSTGRES_MIGRATION_LOCK)
        .execute(&mut *tx)
        .await?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS omega_schema_version (\
             id      INTEGER PRIMARY KEY CHECK (id = 1), \
             version BIGINT  NOT NULL); \
         INSERT INTO omega_schema_version (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING",
    )
    .execute(&mut *tx)
    .await?;
    let current: i64 = sqlx::query("SELECT version FROM omega_schema_version WHERE id = 1")
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
    let pending = pending(migrations, current)?;
    if pending.is_empty() {
        tx.rollback().await?;
        return Ok(());
    }
    for sql in pending {
        sqlx::raw_sql(*sql).execute(&mut *tx).await?;
    }
    sqlx::query("UPDATE omega_schema_version SET version = $1 WHERE id = 1")
        .bind(supported)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// The scripts still to apply to a database at version `current`.
fn pending<'m>(
    migrations: &'m [&'static str],
    current: i64,
) -> Result<&'m [&'static str], MigrateError> {
    let supported = migrations.len() as i64;
    match usize::try_from(current) {
        Ok(applied) if current <= supported => Ok(&migrations[applied..]),
        _ => Err(MigrateError::SchemaTooNew {
            found: current,
            supported,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_scripts_follow_the_version() {
        let scripts = ["a", "b", "c"];
        assert_eq!(pending(&scripts, 0).unwrap(), &scripts[..]);
        assert_eq!(pending(&scripts, 2).unwrap(), &["c"]);
        assert!(pending(&scripts, 3).unwrap().is_empty());
        assert!(matches!(
            pending(&scripts, 4),
            Err(MigrateError::SchemaTooNew {
                found: 4,
                supported: 3
            })
        ));
        assert!(matches!(
            pending(&scripts, -1),
            Err(MigrateError::SchemaTooNew { found: -1, .. })
        ));
    }
}
