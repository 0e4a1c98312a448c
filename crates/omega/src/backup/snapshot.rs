//! The store's side of a backup: a consistent copy taken with SQLite's `VACUUM INTO` (a read
//! transaction, so it works while a node writes in WAL mode, and the copy holds no freed pages:
//! erased messages stay erased), and the few facts a backup reports about a store.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

/// Facts read from a copy of the store.
pub struct StoreFacts {
    pub user_key: Vec<u8>,
    pub schema_version: i64,
    pub messages: i64,
    pub contacts: i64,
}

/// A consistent copy of the store, taken while a node may be writing to it.
pub async fn snapshot_store(database: &Path, snapshot: &Path) -> Result<()> {
    let Some(snapshot) = snapshot.to_str() else {
        bail!("the data directory's path is not UTF-8; SQLite cannot write a snapshot there");
    };
    let mut connection = connect(database).await?;
    sqlx::query("VACUUM INTO ?")
        .bind(snapshot)
        .execute(&mut connection)
        .await
        .context("cannot take a snapshot of the store")?;
    connection.close().await?;
    Ok(())
}

/// The identity's user key, the schema version and the counts of messages and contacts.
pub async fn store_facts(database: &Path) -> Result<StoreFacts> {
    let mut connection = connect(database).await?;
    let user_key: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT user_key FROM identity WHERE id = 1")
            .fetch_optional(&mut connection)
            .await?;
    let schema_version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut connection)
        .await?;
    let messages: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages")
        .fetch_one(&mut connection)
        .await?;
    let contacts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM contacts")
        .fetch_one(&mut connection)
        .await?;
    connection.close().await?;
    let Some(user_key) = user_key else {
        bail!("the store holds no identity");
    };
    Ok(StoreFacts {
        user_key,
        schema_version,
        messages,
        contacts,
    })
}

async fn connect(database: &Path) -> Result<SqliteConnection> {
    let options = SqliteConnectOptions::new()
        .filename(database)
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(10));
    SqliteConnection::connect_with(&options)
        .await
        .with_context(|| format!("cannot open {}", database.display()))
}
