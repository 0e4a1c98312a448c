//! The server's store: the store-and-forward mailbox, signed device lists and the prekey directory.
//!
//! One trait, [`ServerStore`], with two implementations: [`SqliteServerStore`] (one file, for a
//! single server) and [`PgServerStore`] (PostgreSQL, for servers sharing a database). Both pass the
//! same conformance suite (`tests/server_conformance.rs`). [`open_server_store`] picks one from a
//! URL and returns an [`AnyServerStore`], so the server need not be generic at the top.
//!
//! The store keeps opaque bytes: envelopes are end-to-end encrypted and device lists and keys
//! arrive already verified by the server. It does no cryptography and reads no clock (callers pass
//! `now_ms`). Every write returns only after it is committed durably.
//!
//! ```no_run
//! use omega_store::server::{Deposited, ServerStore, open_server_store};
//!
//! # async fn example() -> Result<(), omega_store::server::ServerStoreError> {
//! let store = open_server_store("sqlite:///var/lib/omega/server.db").await?;
//! let outcome = store.deposit(&[7; 32], &[1; 16], b"ciphertext", 1_000, 86_401_000).await?;
//! assert_eq!(outcome, Deposited::Stored);
//! let page = store.fetch(&[7; 32], 0, 100, 1 << 20).await?;
//! assert_eq!(page.envelopes[0].envelope, b"ciphertext");
//! # Ok(())
//! # }
//! ```

mod any;
mod postgres;
mod sqlite;

use std::future::Future;

pub use any::{AnyServerStore, open_server_store};
pub use postgres::PgServerStore;
pub use sqlite::SqliteServerStore;

/// Length of a mailbox address (`recipient_hash`).
pub const RECIPIENT_HASH_LEN: usize = 32;
/// Length of a message id.
pub const MESSAGE_ID_LEN: usize = 16;
/// Length of a device's Curve25519 key, which names its prekeys.
pub const DEVICE_KEY_LEN: usize = 32;
/// Length of a user's Ed25519 key, which names its device list.
pub const USER_KEY_LEN: usize = 32;

/// Errors of the server's store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerStoreError {
    /// The database could not be reached, read or written.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The database was written by a newer version of Ômega.
    #[error(
        "server database schema version {found} is newer than this build supports ({supported})"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    /// The store URL names no backend this build knows.
    #[error(
        "unsupported server store url scheme {scheme:?}: expected sqlite://PATH, \
         postgres://USER@HOST:PORT/DATABASE or postgresql://..."
    )]
    UnsupportedUrl { scheme: String },
    /// A `sqlite://` URL without a path.
    #[error("server store url sqlite:// has no path: expected sqlite://PATH")]
    MissingSqlitePath,
    /// A key or id of the wrong length.
    #[error("{field} must be {expected} bytes, got {got}")]
    InvalidLength {
        field: &'static str,
        expected: usize,
        got: usize,
    },
}

impl From<crate::migrate::MigrateError> for ServerStoreError {
    fn from(error: crate::migrate::MigrateError) -> Self {
        match error {
            crate::migrate::MigrateError::Database(error) => ServerStoreError::Database(error),
            crate::migrate::MigrateError::SchemaTooNew { found, supported } => {
                ServerStoreError::SchemaTooNew { found, supported }
            }
        }
    }
}

/// What [`ServerStore::deposit`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deposited {
    /// The envelope is now stored (durably).
    Stored,
    /// This mailbox already holds an envelope with this message id; nothing changed.
    Duplicate,
}

/// One envelope waiting in a mailbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEnvelope {
    /// Position in the mailbox: strictly increasing in deposit order, never reused.
    pub cursor: i64,
    pub message_id: Vec<u8>,
    pub envelope: Vec<u8>,
    pub deposited_ms: i64,
}

/// A page of [`ServerStore::fetch`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FetchedPage {
    /// In cursor order.
    pub envelopes: Vec<StoredEnvelope>,
    /// Whether more envelopes follow the last one returned.
    pub more: bool,
}

/// What [`ServerStore::put_device_list`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutDeviceList {
    /// The list is now the user's newest.
    Stored,
    /// The same version with the same bytes was already stored.
    Unchanged,
    /// A list with this version or a newer one (and different bytes) is stored; nothing changed.
    Stale { stored_version: i64 },
}

impl PutDeviceList {
    /// Why an insert that changed no row changed nothing, given what is stored now.
    pub(crate) fn not_stored(stored: Option<(i64, Vec<u8>)>, version: i64, signed: &[u8]) -> Self {
        match stored {
            Some((stored_version, stored)) if stored_version == version && stored == signed => {
                PutDeviceList::Unchanged
            }
            Some((stored_version, _)) => PutDeviceList::Stale { stored_version },
            // Only reachable if the row vanished in between (rows are never deleted).
            None => PutDeviceList::Stale { stored_version: 0 },
        }
    }
}

/// A prekey handed out by [`ServerStore::claim_pre_key`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimedKey {
    pub key: Vec<u8>,
    pub signature: Vec<u8>,
    /// `true` for the device's fallback key (which stays available), `false` for a one-time key
    /// (which was deleted and will never be handed out again).
    pub fallback: bool,
}

/// Storage of the server: mailboxes, device lists and prekeys. Implementations are cheap to clone
/// handles to a connection pool; every method is one atomic operation.
pub trait ServerStore: Clone + Send + Sync + 'static {
    /// Stores an envelope for `recipient_hash` (32 bytes) under `message_id` (16 bytes), to be
    /// purged once `expires_ms` has passed. Idempotent: depositing the same `message_id` to the
    /// same mailbox again answers [`Deposited::Duplicate`] and keeps the first envelope. Returns
    /// only after the envelope is committed.
    fn deposit(
        &self,
        recipient_hash: &[u8],
        message_id: &[u8],
        envelope: &[u8],
        now_ms: i64,
        expires_ms: i64,
    ) -> impl Future<Output = Result<Deposited, ServerStoreError>> + Send;

    /// The envelopes of a mailbox with a cursor above `after_cursor`, in cursor order: at most
    /// `limit`, and no more than fit in `max_bytes` of envelope, except that a page holds at least
    /// one envelope when any is waiting (however large).
    fn fetch(
        &self,
        recipient_hash: &[u8],
        after_cursor: i64,
        limit: u32,
        max_bytes: usize,
    ) -> impl Future<Output = Result<FetchedPage, ServerStoreError>> + Send;

    /// Deletes the envelopes of this mailbox with these message ids (those of other mailboxes stay).
    /// Returns how many were deleted.
    fn ack(
        &self,
        recipient_hash: &[u8],
        message_ids: &[Vec<u8>],
    ) -> impl Future<Output = Result<u64, ServerStoreError>> + Send;

    /// Deletes every envelope with `expires_ms <= now_ms`; returns how many.
    fn purge_expired(
        &self,
        now_ms: i64,
    ) -> impl Future<Output = Result<u64, ServerStoreError>> + Send;

    /// How many envelopes are stored, in all mailboxes.
    fn depth(&self) -> impl Future<Output = Result<u64, ServerStoreError>> + Send;

    /// How many envelopes wait in one mailbox.
    fn mailbox_depth(
        &self,
        recipient_hash: &[u8],
    ) -> impl Future<Output = Result<u64, ServerStoreError>> + Send;

    /// Stores a user's signed device list (verified by the caller) if `version` is newer than the
    /// stored one. Versions only move forward.
    fn put_device_list(
        &self,
        user_key: &[u8],
        version: i64,
        signed: &[u8],
    ) -> impl Future<Output = Result<PutDeviceList, ServerStoreError>> + Send;

    /// The newest device list of a user: its version and signed bytes.
    fn device_list(
        &self,
        user_key: &[u8],
    ) -> impl Future<Output = Result<Option<(i64, Vec<u8>)>, ServerStoreError>> + Send;

    /// Adds signed one-time keys, each `(key, signature)`, to a device's pool, ignoring any key
    /// already in it. Returns the pool size afterwards.
    fn add_one_time_keys(
        &self,
        device: &[u8],
        keys: &[(Vec<u8>, Vec<u8>)],
    ) -> impl Future<Output = Result<u64, ServerStoreError>> + Send;

    /// Sets (or replaces) a device's signed fallback key.
    fn set_fallback_key(
        &self,
        device: &[u8],
        key: &[u8],
        signature: &[u8],
    ) -> impl Future<Output = Result<(), ServerStoreError>> + Send;

    /// Hands out the device's oldest one-time key and deletes it atomically, so that each key goes
    /// to exactly one claimer even under concurrent claims. When the pool is empty, hands out the
    /// fallback key (and keeps it). `None` when the device has neither.
    fn claim_pre_key(
        &self,
        device: &[u8],
    ) -> impl Future<Output = Result<Option<ClaimedKey>, ServerStoreError>> + Send;

    /// How many one-time keys a device has left.
    fn pool_size(
        &self,
        device: &[u8],
    ) -> impl Future<Output = Result<u64, ServerStoreError>> + Send;
}

/// Refuses a key or id of the wrong length before it is stored.
fn check_len(field: &'static str, bytes: &[u8], expected: usize) -> Result<(), ServerStoreError> {
    if bytes.len() == expected {
        Ok(())
    } else {
        Err(ServerStoreError::InvalidLength {
            field,
            expected,
            got: bytes.len(),
        })
    }
}

/// A count read from the database (never negative) as `u64`.
fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// How much of a mailbox a fetch returns, decided from the `(cursor, envelope size)` of the first
/// `limit + 1` waiting envelopes: the cursor of the last envelope of the page (`None` for an empty
/// page) and whether more follow.
fn plan_page(waiting: &[(i64, i64)], limit: u32, max_bytes: usize) -> (Option<i64>, bool) {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut total: usize = 0;
    let mut taken: usize = 0;
    for &(_, size) in waiting.iter().take(limit) {
        total = total.saturating_add(usize::try_from(size).unwrap_or(usize::MAX));
        if taken > 0 && total > max_bytes {
            break;
        }
        taken += 1;
    }
    let last = taken.checked_sub(1).map(|index| waiting[index].0);
    (last, waiting.len() > taken)
}

/// How many rows the first query of a fetch reads: one more than the page, to learn `more`.
fn probe_limit(limit: u32) -> i64 {
    i64::from(limit) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_stops_at_limit_or_bytes_but_holds_at_least_one() {
        let waiting = [(3, 10), (5, 10), (9, 10)];
        assert_eq!(plan_page(&waiting, 2, 100), (Some(5), true));
        assert_eq!(plan_page(&waiting, 3, 100), (Some(9), false));
        assert_eq!(plan_page(&waiting[..2], 3, 100), (Some(5), false));
        assert_eq!(plan_page(&waiting, 3, 20), (Some(5), true));
        assert_eq!(plan_page(&waiting, 3, 19), (Some(3), true));
        assert_eq!(plan_page(&waiting, 3, 0), (Some(3), true));
        assert_eq!(plan_page(&waiting[..1], 3, 0), (Some(3), false));
        assert_eq!(plan_page(&[], 3, 100), (None, false));
        assert_eq!(plan_page(&waiting[..1], 0, 100), (None, true));
    }

    #[test]
    fn wrong_lengths_are_refused() {
        assert!(check_len("message_id", &[0; 16], MESSAGE_ID_LEN).is_ok());
        let error = check_len("message_id", &[0; 15], MESSAGE_ID_LEN).unwrap_err();
        assert_eq!(error.to_string(), "message_id must be 16 bytes, got 15");
    }
}

/// A PostgreSQL URL with its database replaced by `name` (query parameters kept); used to reach a
/// scratch database next to an admin URL.
pub fn with_database(admin_url: &str, name: &str) -> String {
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

#[cfg(test)]
mod url_tests {
    use super::with_database;

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
}
