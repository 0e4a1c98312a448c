//! Schema migrations, tracked with SQLite's `user_version`.

use sqlx::Row;
use sqlx::sqlite::SqlitePool;

use crate::StoreError;

/// Every migration in order; index + 1 is the schema version it produces.
const MIGRATIONS: &[&str] = &[include_str!("../migrations/0001_init.sql")];

pub(crate) async fn run(pool: &SqlitePool) -> Result<(), StoreError> {
    let current: i64 = sqlx::query("PRAGMA user_version")
        .fetch_one(pool)
        .await?
        .try_get(0)?;
    let supported = MIGRATIONS.len() as i64;
    if current > supported {
        return Err(StoreError::SchemaTooNew {
            found: current,
            supported,
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let mut tx = pool.begin().await?;
        sqlx::raw_sql(*sql).execute(&mut *tx).await?;
        // PRAGMA takes no bind parameters; the value is an integer we computed, never input.
        let set_version = sqlx::AssertSqlSafe(format!("PRAGMA user_version = {}", index + 1));
        sqlx::query(set_version).execute(&mut *tx).await?;
        tx.commit().await?;
    }
    Ok(())
}
