//! Choosing the backend from a URL at run time.

use std::path::Path;

use super::{
    ClaimedKey, Deposited, FetchedPage, PgServerStore, PutDeviceList, ServerStore,
    ServerStoreError, SqliteServerStore,
};

/// Either backend, chosen at run time by [`open_server_store`]; implements [`ServerStore`] by
/// delegating to the one inside.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum AnyServerStore {
    Sqlite(SqliteServerStore),
    Postgres(PgServerStore),
}

/// Opens the store named by `url`: `sqlite://PATH` (the rest of the URL is the file path, taken
/// literally: `sqlite:///var/lib/omega/server.db` is absolute, `sqlite://server.db` relative) or
/// `postgres://...` / `postgresql://...` (a PostgreSQL connection URL). Applies pending migrations.
pub async fn open_server_store(url: &str) -> Result<AnyServerStore, ServerStoreError> {
    match parse_url(url)? {
        StoreUrl::Sqlite(path) => Ok(AnyServerStore::Sqlite(
            SqliteServerStore::open(Path::new(path)).await?,
        )),
        StoreUrl::Postgres(url) => Ok(AnyServerStore::Postgres(PgServerStore::connect(url).await?)),
    }
}

impl AnyServerStore {
    /// Closes every connection.
    pub async fn close(&self) {
        match self {
            AnyServerStore::Sqlite(store) => store.close().await,
            AnyServerStore::Postgres(store) => store.close().await,
        }
    }

    /// The backend's name, `"sqlite"` or `"postgres"` (for logs and health output).
    pub fn backend(&self) -> &'static str {
        match self {
            AnyServerStore::Sqlite(_) => "sqlite",
            AnyServerStore::Postgres(_) => "postgres",
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum StoreUrl<'a> {
    Sqlite(&'a str),
    Postgres(&'a str),
}

fn parse_url(url: &str) -> Result<StoreUrl<'_>, ServerStoreError> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err(ServerStoreError::MissingSqlitePath);
        }
        return Ok(StoreUrl::Sqlite(path));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(StoreUrl::Postgres(url));
    }
    // Only the scheme goes into the error: the rest may hold a password.
    let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
    Err(ServerStoreError::UnsupportedUrl {
        scheme: scheme.to_owned(),
    })
}

/// Calls the same method on whichever backend is inside.
macro_rules! delegate {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            AnyServerStore::Sqlite($store) => $call.await,
            AnyServerStore::Postgres($store) => $call.await,
        }
    };
}

impl ServerStore for AnyServerStore {
    async fn deposit(
        &self,
        recipient_hash: &[u8],
        message_id: &[u8],
        envelope: &[u8],
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<Deposited, ServerStoreError> {
        delegate!(self, store => store.deposit(recipient_hash, message_id, envelope, now_ms, expires_ms))
    }

    async fn fetch(
        &self,
        recipient_hash: &[u8],
        after_cursor: i64,
        limit: u32,
        max_bytes: usize,
    ) -> Result<FetchedPage, ServerStoreError> {
        delegate!(self, store => store.fetch(recipient_hash, after_cursor, limit, max_bytes))
    }

    async fn ack(
        &self,
        recipient_hash: &[u8],
        message_ids: &[Vec<u8>],
    ) -> Result<u64, ServerStoreError> {
        delegate!(self, store => store.ack(recipient_hash, message_ids))
    }

    async fn purge_expired(&self, now_ms: i64) -> Result<u64, ServerStoreError> {
        delegate!(self, store => store.purge_expired(now_ms))
    }

    async fn depth(&self) -> Result<u64, ServerStoreError> {
        delegate!(self, store => store.depth())
    }

    async fn mailbox_depth(&self, recipient_hash: &[u8]) -> Result<u64, ServerStoreError> {
        delegate!(self, store => store.mailbox_depth(recipient_hash))
    }

    async fn put_device_list(
        &self,
        user_key: &[u8],
        version: i64,
        signed: &[u8],
    ) -> Result<PutDeviceList, ServerStoreError> {
        delegate!(self, store => store.put_device_list(user_key, version, signed))
    }

    async fn device_list(
        &self,
        user_key: &[u8],
    ) -> Result<Option<(i64, Vec<u8>)>, ServerStoreError> {
        delegate!(self, store => store.device_list(user_key))
    }

    async fn add_one_time_keys(
        &self,
        device: &[u8],
        keys: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<u64, ServerStoreError> {
        delegate!(self, store => store.add_one_time_keys(device, keys))
    }

    async fn set_fallback_key(
        &self,
        device: &[u8],
        key: &[u8],
        signature: &[u8],
    ) -> Result<(), ServerStoreError> {
        delegate!(self, store => store.set_fallback_key(device, key, signature))
    }

    async fn claim_pre_key(&self, device: &[u8]) -> Result<Option<ClaimedKey>, ServerStoreError> {
        delegate!(self, store => store.claim_pre_key(device))
    }

    async fn pool_size(&self, device: &[u8]) -> Result<u64, ServerStoreError> {
        delegate!(self, store => store.pool_size(device))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_the_backend() {
        assert_eq!(
            parse_url("sqlite:///var/lib/omega/server.db").unwrap(),
            StoreUrl::Sqlite("/var/lib/omega/server.db")
        );
        assert_eq!(
            parse_url("sqlite://server.db").unwrap(),
            StoreUrl::Sqlite("server.db")
        );
        for url in [
            "postgres://omega@127.0.0.1:5432/omega",
            "postgresql://omega:secret@db/omega?sslmode=disable",
        ] {
            assert_eq!(parse_url(url).unwrap(), StoreUrl::Postgres(url));
        }
    }

    #[test]
    fn bad_urls_say_what_is_accepted_without_echoing_secrets() {
        assert!(matches!(
            parse_url("sqlite://"),
            Err(ServerStoreError::MissingSqlitePath)
        ));
        let error = parse_url("mysql://root:hunter2@db/omega").unwrap_err();
        let message = error.to_string();
        assert!(message.contains("\"mysql\""), "{message}");
        assert!(message.contains("sqlite://PATH"), "{message}");
        assert!(message.contains("postgres://"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
        assert!(matches!(
            parse_url("/var/lib/omega/server.db"),
            Err(ServerStoreError::UnsupportedUrl { scheme }) if scheme.is_empty()
        ));
    }
}
