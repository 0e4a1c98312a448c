//! Backends for the conformance suite: a SQLite store on a temp file, and a fresh PostgreSQL
//! database per test, created (and dropped) through the admin URL in `OMEGA_TEST_POSTGRES_URL`.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use omega_store::server::SqliteServerStore;
use sqlx::Connection;

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
pub struct PgDatabase {
    admin_url: String,
    name: String,
    /// URL of the test's own database.
    pub url: String,
}

impl PgDatabase {
    /// Creates the database, or returns `None` when PostgreSQL tests are skipped.
    pub async fn create() -> Option<PgDatabase> {
        let admin_url = postgres_admin_url()?;
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "omega_test_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|error| {
                panic!("cannot reach PostgreSQL at OMEGA_TEST_POSTGRES_URL: {error}")
            });
        // The name is ours (digits and underscores), never input.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
        let url = with_database(&admin_url, &name);
        Some(PgDatabase {
            admin_url,
            name,
            url,
        })
    }

    pub async fn drop(self) {
        let mut admin = sqlx::PgConnection::connect(&self.admin_url).await.unwrap();
        let drop = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        sqlx::query(sqlx::AssertSqlSafe(drop))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
    }
}

/// The admin URL of the test PostgreSQL; `None` (with a note) when `OMEGA_SKIP_POSTGRES=1`.
fn postgres_admin_url() -> Option<String> {
    match std::env::var("OMEGA_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("OMEGA_SKIP_POSTGRES").as_deref() == Ok("1") => {
            eprintln!("note: OMEGA_SKIP_POSTGRES=1: skipping a PostgreSQL conformance test");
            None
        }
        _ => panic!(
            "OMEGA_TEST_POSTGRES_URL is not set: run ./scripts/test (it starts a throwaway \
             PostgreSQL), or set OMEGA_TEST_POSTGRES_URL to an admin URL such as \
             postgres://postgres@127.0.0.1:5432/postgres, or set OMEGA_SKIP_POSTGRES=1 to skip \
             the PostgreSQL tests"
        ),
    }
}

/// `admin_url` with its database replaced by `name` (query parameters kept).
fn with_database(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (admin_url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |index| index + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    format!("{base}/{name}{query}")
}

#[test]
fn database_is_swapped_in_the_admin_url() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5433/postgres", "t1"),
        "postgres://postgres@127.0.0.1:5433/t1"
    );
    assert_eq!(
        with_database("postgresql://u:p@h/db?sslmode=disable", "t2"),
        "postgresql://u:p@h/t2?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h:1", "t3"), "postgres://h:1/t3");
}
