//! A fresh PostgreSQL database per test, on the cluster named by `OMEGA_TEST_POSTGRES_URL` (an
//! admin URL; `scripts/test` starts a throwaway cluster and sets it).

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;

/// A database created for one test; call [`PgDatabase::drop`] at the end.
pub struct PgDatabase {
    admin_url: String,
    name: String,
    /// URL of the test's own database.
    pub url: String,
}

impl PgDatabase {
    /// Creates the database, or returns `None` when PostgreSQL tests are skipped
    /// (`OMEGA_SKIP_POSTGRES=1`). Panics, saying what to do, when no cluster is configured.
    pub async fn create() -> Option<PgDatabase> {
        let admin_url = admin_url()?;
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.subsec_nanos());
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
            .expect("create the test database");
        admin.close().await.expect("close the admin connection");
        let url = omega_store::server::with_database(&admin_url, &name);
        Some(PgDatabase {
            admin_url,
            name,
            url,
        })
    }

    /// Drops the database (connections still open to it are terminated).
    pub async fn drop(self) {
        let mut admin = sqlx::PgConnection::connect(&self.admin_url)
            .await
            .expect("reach PostgreSQL");
        let drop = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        sqlx::query(sqlx::AssertSqlSafe(drop))
            .execute(&mut admin)
            .await
            .expect("drop the test database");
        admin.close().await.expect("close the admin connection");
    }
}

/// The admin URL of the test cluster; `None` (with a note) when `OMEGA_SKIP_POSTGRES=1`.
pub fn admin_url() -> Option<String> {
    match std::env::var("OMEGA_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("OMEGA_SKIP_POSTGRES").as_deref() == Ok("1") => {
            eprintln!("note: OMEGA_SKIP_POSTGRES=1: skipping a PostgreSQL test");
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
