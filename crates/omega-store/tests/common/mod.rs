//! Backends for the conformance suite: a SQLite store on a temp file, and a fresh PostgreSQL
//! database per test, created (and dropped) through the admin URL in `OMEGA_TEST_POSTGRES_URL`.

use std::path::Path;

use omega_store::server::SqliteServerStore;

pub async fn sqlite_store() -> (tempfile::TempDir, SqliteServerStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteServerStore::open(&dir.path().join("server.db"))
        .await
        .unwrap();
    (dir, store)
}

pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// A fresh PostgreSQL database for one test, created through the admin URL.
pub use omega_testkit::pg::PgDatabase;
