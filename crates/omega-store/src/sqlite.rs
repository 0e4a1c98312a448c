//! Opening a SQLite database the way every store of this crate does.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// How long a connection waits for another writer before giving up with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens (creating if needed) the database at `path`: WAL, foreign keys on, a busy timeout, and
/// the given `synchronous` level (`Full` when an acknowledged write must survive power loss).
pub(crate) async fn open_pool(
    path: &Path,
    synchronous: SqliteSynchronous,
    max_connections: u32,
) -> Result<SqlitePool, sqlx::Error> {
    let options = SqliteConnectOptions::from_str("sqlite://")?
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(synchronous)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true);
    // Several processes opening a brand-new file at once race on switching it to WAL, and SQLite
    // reports that race as "database is locked" without waiting on the busy timeout: retry.
    let mut attempt = 0;
    loop {
        match SqlitePoolOptions::new()
            .max_connections(max_connections)
            .connect_with(options.clone())
            .await
        {
            Err(sqlx::Error::Database(error))
                if attempt < 20 && error.message().contains("locked") =>
            {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(10 * attempt)).await;
            }
            result => return result,
        }
    }
}
