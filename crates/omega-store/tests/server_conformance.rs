//! Conformance suite of `omega_store::server::ServerStore`: every behaviour is one generic
//! function, run against SQLite (a temp file) and against PostgreSQL (a fresh database per test).
//!
//! PostgreSQL comes from `OMEGA_TEST_POSTGRES_URL`, an admin URL such as
//! `postgres://postgres@127.0.0.1:5432/postgres` (`./scripts/test` starts a throwaway cluster and
//! sets it). Without it the PostgreSQL tests fail, unless `OMEGA_SKIP_POSTGRES=1`.

mod common;

use std::collections::HashSet;

use omega_store::server::{
    AnyServerStore, ClaimedKey, Deposited, PgServerStore, PutDeviceList, ServerStore,
    ServerStoreError, SqliteServerStore, open_server_store,
};
use sqlx::Connection;

use common::{PgDatabase, sqlite_store, sqlite_url};

const TTL_MS: i64 = 86_400_000;

fn mailbox(n: u8) -> Vec<u8> {
    vec![n; 32]
}

fn message_id(n: u32) -> Vec<u8> {
    let mut id = vec![0xab; 16];
    id[12..].copy_from_slice(&n.to_be_bytes());
    id
}

fn device(n: u8) -> Vec<u8> {
    vec![n; 32]
}

fn user(n: u8) -> Vec<u8> {
    vec![n; 32]
}

/// A signed one-time key: `(key, signature)`.
fn key(n: u8) -> (Vec<u8>, Vec<u8>) {
    (vec![n; 32], vec![n.wrapping_add(100); 64])
}

async fn deposit<S: ServerStore>(store: &S, to: u8, id: u32, envelope: &[u8], now_ms: i64) {
    let outcome = store
        .deposit(
            &mailbox(to),
            &message_id(id),
            envelope,
            now_ms,
            now_ms + TTL_MS,
        )
        .await
        .unwrap();
    assert_eq!(outcome, Deposited::Stored, "deposit of message {id}");
}

/// The message ids of a whole mailbox, in cursor order.
async fn ids_in<S: ServerStore>(store: &S, to: u8) -> Vec<Vec<u8>> {
    let page = store
        .fetch(&mailbox(to), 0, 1000, usize::MAX)
        .await
        .unwrap();
    assert!(!page.more);
    page.envelopes
        .into_iter()
        .map(|stored| stored.message_id)
        .collect()
}

// ---- behaviours --------------------------------------------------------------------------------

async fn round_trip_in_order_across_pages<S: ServerStore>(store: S) {
    assert_eq!(
        store.fetch(&mailbox(1), 0, 10, 1000).await.unwrap(),
        Default::default()
    );
    // Seven envelopes of 100 bytes for mailbox 1, interleaved with another mailbox's.
    for n in 0..7u32 {
        deposit(&store, 1, n, &[n as u8; 100], 1_000 + i64::from(n)).await;
        deposit(&store, 2, n, &[0xee; 10], 1_000).await;
    }

    // Pages of at most 3, each after the previous page's last cursor.
    let mut after = 0;
    let mut seen = Vec::new();
    for (expected_len, expected_more) in [(3, true), (3, true), (1, false)] {
        let page = store.fetch(&mailbox(1), after, 3, 1 << 20).await.unwrap();
        assert_eq!(page.envelopes.len(), expected_len);
        assert_eq!(page.more, expected_more);
        for stored in &page.envelopes {
            assert!(stored.cursor > after, "cursors strictly increase");
            after = stored.cursor;
        }
        seen.extend(page.envelopes);
    }
    for (n, stored) in seen.iter().enumerate() {
        assert_eq!(stored.message_id, message_id(n as u32));
        assert_eq!(stored.envelope, vec![n as u8; 100]);
        assert_eq!(stored.deposited_ms, 1_000 + n as i64);
    }
    let end = store.fetch(&mailbox(1), after, 3, 1 << 20).await.unwrap();
    assert!(end.envelopes.is_empty() && !end.more);

    // max_bytes: as many whole envelopes as fit, but always at least one.
    let cases = [
        (300, 3, true),
        (299, 2, true),
        (250, 2, true),
        (50, 1, true),
        (0, 1, true),
    ];
    for (max_bytes, expected_len, expected_more) in cases {
        let page = store.fetch(&mailbox(1), 0, 10, max_bytes).await.unwrap();
        assert_eq!(page.envelopes.len(), expected_len, "max_bytes {max_bytes}");
        assert_eq!(page.more, expected_more, "max_bytes {max_bytes}");
        assert_eq!(page.envelopes[0].message_id, message_id(0));
    }
    let all = store.fetch(&mailbox(1), 0, 7, 700).await.unwrap();
    assert_eq!((all.envelopes.len(), all.more), (7, false));
    let last_one = store
        .fetch(&mailbox(1), seen[5].cursor, 10, 0)
        .await
        .unwrap();
    assert_eq!((last_one.envelopes.len(), last_one.more), (1, false));

    // A cursor is never reused, even once the newest envelope was acknowledged.
    let newest = seen[6].cursor;
    assert_eq!(store.ack(&mailbox(1), &[message_id(6)]).await.unwrap(), 1);
    deposit(&store, 1, 100, b"later", 2_000).await;
    let page = store.fetch(&mailbox(1), newest, 10, 1 << 20).await.unwrap();
    assert_eq!(page.envelopes.len(), 1);
    assert!(page.envelopes[0].cursor > newest);
    assert_eq!(page.envelopes[0].envelope, b"later");

    // The other mailbox is intact and separate.
    assert_eq!(
        ids_in(&store, 2).await,
        (0..7).map(message_id).collect::<Vec<_>>()
    );
}

async fn duplicate_deposit_is_idempotent<S: ServerStore>(store: S) {
    deposit(&store, 1, 7, b"first", 1_000).await;
    let again = store
        .deposit(
            &mailbox(1),
            &message_id(7),
            b"second",
            2_000,
            2_000 + TTL_MS,
        )
        .await
        .unwrap();
    assert_eq!(again, Deposited::Duplicate);
    let page = store.fetch(&mailbox(1), 0, 10, 1 << 20).await.unwrap();
    assert_eq!(page.envelopes.len(), 1);
    assert_eq!(page.envelopes[0].envelope, b"first");
    assert_eq!(page.envelopes[0].deposited_ms, 1_000);
    assert_eq!(store.mailbox_depth(&mailbox(1)).await.unwrap(), 1);
    // The same message id in another mailbox is another envelope.
    deposit(&store, 2, 7, b"first", 1_000).await;
    assert_eq!(store.depth().await.unwrap(), 2);
    // Ids and addresses of the wrong length are refused, not stored.
    let refused = store.deposit(&mailbox(1), &[1; 15], b"x", 1, 2).await;
    assert!(matches!(
        refused,
        Err(ServerStoreError::InvalidLength {
            expected: 16,
            got: 15,
            ..
        })
    ));
    assert!(
        store
            .deposit(&[1; 31], &message_id(1), b"x", 1, 2)
            .await
            .is_err()
    );
    assert_eq!(store.depth().await.unwrap(), 2);
}

async fn ack_deletes_only_named_ids_of_that_mailbox<S: ServerStore>(store: S) {
    for n in 1..=3 {
        deposit(&store, 1, n, b"for one", 1_000).await;
    }
    for n in 1..=2 {
        deposit(&store, 2, n, b"for two", 1_000).await;
    }
    let acked = store
        .ack(&mailbox(1), &[message_id(1), message_id(3), message_id(99)])
        .await
        .unwrap();
    assert_eq!(acked, 2);
    assert_eq!(ids_in(&store, 1).await, vec![message_id(2)]);
    assert_eq!(ids_in(&store, 2).await, vec![message_id(1), message_id(2)]);
    assert_eq!(store.ack(&mailbox(1), &[message_id(1)]).await.unwrap(), 0);
    assert_eq!(store.ack(&mailbox(1), &[]).await.unwrap(), 0);
    assert_eq!(store.ack(&mailbox(3), &[message_id(2)]).await.unwrap(), 0);
    assert_eq!(store.depth().await.unwrap(), 3);
}

async fn purge_expired_deletes_exactly_the_expired<S: ServerStore>(store: S) {
    for (n, expires_ms) in [(1, 100), (2, 200), (3, 200), (4, 300)] {
        let outcome = store
            .deposit(&mailbox(n as u8), &message_id(n), b"x", 0, expires_ms)
            .await
            .unwrap();
        assert_eq!(outcome, Deposited::Stored);
    }
    assert_eq!(store.purge_expired(99).await.unwrap(), 0);
    assert_eq!(store.purge_expired(199).await.unwrap(), 1);
    assert_eq!(
        store.purge_expired(200).await.unwrap(),
        2,
        "expires_ms <= now is expired"
    );
    assert_eq!(store.purge_expired(200).await.unwrap(), 0);
    assert_eq!(store.depth().await.unwrap(), 1);
    assert_eq!(ids_in(&store, 4).await, vec![message_id(4)]);
    assert_eq!(store.purge_expired(i64::MAX).await.unwrap(), 1);
    assert_eq!(store.depth().await.unwrap(), 0);
}

async fn depth_counts<S: ServerStore>(store: S) {
    assert_eq!(store.depth().await.unwrap(), 0);
    assert_eq!(store.mailbox_depth(&mailbox(1)).await.unwrap(), 0);
    for n in 0..3 {
        deposit(&store, 1, n, b"x", 1_000).await;
    }
    for n in 0..2 {
        deposit(&store, 2, n, b"y", 1_000).await;
    }
    let duplicate = store
        .deposit(&mailbox(1), &message_id(0), b"x", 1_000, TTL_MS)
        .await
        .unwrap();
    assert_eq!(duplicate, Deposited::Duplicate);
    assert_eq!(store.depth().await.unwrap(), 5);
    assert_eq!(store.mailbox_depth(&mailbox(1)).await.unwrap(), 3);
    assert_eq!(store.mailbox_depth(&mailbox(2)).await.unwrap(), 2);
    assert_eq!(store.mailbox_depth(&mailbox(3)).await.unwrap(), 0);
    store.ack(&mailbox(1), &[message_id(0)]).await.unwrap();
    assert_eq!(store.depth().await.unwrap(), 4);
    assert_eq!(store.mailbox_depth(&mailbox(1)).await.unwrap(), 2);
}

async fn device_list_versions_only_move_forward<S: ServerStore>(store: S) {
    let alice = user(1);
    assert_eq!(store.device_list(&alice).await.unwrap(), None);
    let put = |version: i64, signed: &'static [u8]| {
        let store = store.clone();
        let alice = alice.clone();
        async move {
            store
                .put_device_list(&alice, version, signed)
                .await
                .unwrap()
        }
    };
    assert_eq!(put(1, b"v1").await, PutDeviceList::Stored);
    assert_eq!(put(1, b"v1").await, PutDeviceList::Unchanged);
    assert_eq!(
        put(1, b"v1 forged").await,
        PutDeviceList::Stale { stored_version: 1 }
    );
    assert_eq!(
        put(0, b"v0").await,
        PutDeviceList::Stale { stored_version: 1 }
    );
    assert_eq!(put(3, b"v3").await, PutDeviceList::Stored);
    assert_eq!(
        put(2, b"v2").await,
        PutDeviceList::Stale { stored_version: 3 }
    );
    assert_eq!(
        store.device_list(&alice).await.unwrap(),
        Some((3, b"v3".to_vec()))
    );
    // Another user's list is separate.
    assert_eq!(store.device_list(&user(2)).await.unwrap(), None);
    let bob = store.put_device_list(&user(2), 0, b"bob").await.unwrap();
    assert_eq!(bob, PutDeviceList::Stored);
    assert_eq!(
        store.device_list(&alice).await.unwrap(),
        Some((3, b"v3".to_vec()))
    );
}

async fn prekeys_go_out_oldest_first_then_the_fallback<S: ServerStore>(store: S) {
    let phone = device(1);
    assert_eq!(store.pool_size(&phone).await.unwrap(), 0);
    assert_eq!(
        store
            .add_one_time_keys(&phone, &[key(1), key(2)])
            .await
            .unwrap(),
        2
    );
    // A key already present is ignored, also within one upload.
    let pool = store
        .add_one_time_keys(&phone, &[key(3), key(1), key(3)])
        .await
        .unwrap();
    assert_eq!(pool, 3);
    assert_eq!(
        store
            .add_one_time_keys(&device(2), &[key(9)])
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.add_one_time_keys(&phone, &[]).await.unwrap(), 3);
    for n in 1..=3 {
        let claimed = store.claim_pre_key(&phone).await.unwrap().unwrap();
        let (key, signature) = key(n);
        assert_eq!(
            claimed,
            ClaimedKey {
                key,
                signature,
                fallback: false
            }
        );
    }
    assert_eq!(store.pool_size(&phone).await.unwrap(), 0);
    assert_eq!(store.claim_pre_key(&phone).await.unwrap(), None);

    store
        .set_fallback_key(&phone, b"fallback 1", b"sig 1")
        .await
        .unwrap();
    store
        .set_fallback_key(&phone, b"fallback 2", b"sig 2")
        .await
        .unwrap();
    for _ in 0..2 {
        let claimed = store.claim_pre_key(&phone).await.unwrap().unwrap();
        assert_eq!(
            claimed,
            ClaimedKey {
                key: b"fallback 2".to_vec(),
                signature: b"sig 2".to_vec(),
                fallback: true
            }
        );
    }
    // New one-time keys go out before the fallback again; the other device was untouched.
    store.add_one_time_keys(&phone, &[key(4)]).await.unwrap();
    assert!(!store.claim_pre_key(&phone).await.unwrap().unwrap().fallback);
    assert_eq!(store.pool_size(&device(2)).await.unwrap(), 1);
    assert!(store.add_one_time_keys(&[1; 33], &[key(5)]).await.is_err());
}

async fn concurrent_claims_hand_out_each_key_once<S: ServerStore>(store: S) {
    let phone = device(7);
    let keys: Vec<_> = (1..=20).map(key).collect();
    assert_eq!(store.add_one_time_keys(&phone, &keys).await.unwrap(), 20);
    store
        .set_fallback_key(&phone, b"fallback", b"fallback sig")
        .await
        .unwrap();

    let claims: Vec<_> = (0..50)
        .map(|_| {
            let store = store.clone();
            let phone = phone.clone();
            tokio::spawn(async move { store.claim_pre_key(&phone).await })
        })
        .collect();
    let mut one_time = Vec::new();
    let mut fallbacks = 0;
    for claim in claims {
        let claimed = claim
            .await
            .unwrap()
            .unwrap()
            .expect("a key or the fallback");
        if claimed.fallback {
            assert_eq!(claimed.key, b"fallback");
            assert_eq!(claimed.signature, b"fallback sig");
            fallbacks += 1;
        } else {
            one_time.push((claimed.key, claimed.signature));
        }
    }
    assert_eq!(one_time.len(), 20, "every one-time key handed out");
    assert_eq!(fallbacks, 30);
    let distinct: HashSet<_> = one_time.iter().cloned().collect();
    assert_eq!(distinct.len(), 20, "no one-time key handed out twice");
    assert_eq!(distinct, keys.into_iter().collect::<HashSet<_>>());
    assert_eq!(store.pool_size(&phone).await.unwrap(), 0);
}

async fn claim_without_keys_is_none<S: ServerStore>(store: S) {
    assert_eq!(store.claim_pre_key(&device(1)).await.unwrap(), None);
    store
        .add_one_time_keys(&device(2), &[key(1)])
        .await
        .unwrap();
    store
        .set_fallback_key(&device(3), b"fallback", b"sig")
        .await
        .unwrap();
    assert_eq!(store.claim_pre_key(&device(1)).await.unwrap(), None);
    assert_eq!(store.pool_size(&device(2)).await.unwrap(), 1);
}

/// Fills a store, for [`reopened_store_keeps_data`].
async fn fill<S: ServerStore>(store: &S) {
    deposit(store, 1, 1, b"kept", 1_000).await;
    store.put_device_list(&user(1), 4, b"list").await.unwrap();
    store
        .add_one_time_keys(&device(1), &[key(1), key(2)])
        .await
        .unwrap();
    store
        .set_fallback_key(&device(1), b"fallback", b"sig")
        .await
        .unwrap();
}

/// Checks, after a reopen, what [`fill`] stored.
async fn reopened_store_keeps_data(store: AnyServerStore) {
    let page = store.fetch(&mailbox(1), 0, 10, 1 << 20).await.unwrap();
    assert_eq!(page.envelopes.len(), 1);
    assert_eq!(page.envelopes[0].message_id, message_id(1));
    assert_eq!(page.envelopes[0].envelope, b"kept");
    let duplicate = store
        .deposit(&mailbox(1), &message_id(1), b"again", 2_000, TTL_MS)
        .await
        .unwrap();
    assert_eq!(duplicate, Deposited::Duplicate);
    assert_eq!(
        store.device_list(&user(1)).await.unwrap(),
        Some((4, b"list".to_vec()))
    );
    assert_eq!(store.pool_size(&device(1)).await.unwrap(), 2);
    assert_eq!(
        store.claim_pre_key(&device(1)).await.unwrap().unwrap().key,
        key(1).0
    );
    store.claim_pre_key(&device(1)).await.unwrap();
    let fallback = store.claim_pre_key(&device(1)).await.unwrap().unwrap();
    assert!(fallback.fallback);
    assert_eq!(store.depth().await.unwrap(), 1);
}

// ---- runs on each backend ---------------------------------------------------------------------

/// Runs a behaviour on a fresh SQLite file and on a fresh PostgreSQL database.
macro_rules! conformance {
    ($(#[$runtime:meta])* $behaviour:ident: $sqlite:ident, $postgres:ident) => {
        $(#[$runtime])*
        async fn $sqlite() {
            let (_dir, store) = sqlite_store().await;
            $behaviour(store.clone()).await;
            store.close().await;
        }

        $(#[$runtime])*
        async fn $postgres() {
            let Some(database) = PgDatabase::create().await else {
                return;
            };
            let store = PgServerStore::connect(&database.url).await.unwrap();
            $behaviour(store.clone()).await;
            store.close().await;
            database.drop().await;
        }
    };
}

conformance!(#[tokio::test] round_trip_in_order_across_pages:
    sqlite_round_trip_in_order_across_pages, postgres_round_trip_in_order_across_pages);
conformance!(#[tokio::test] duplicate_deposit_is_idempotent:
    sqlite_duplicate_deposit_is_idempotent, postgres_duplicate_deposit_is_idempotent);
conformance!(#[tokio::test] ack_deletes_only_named_ids_of_that_mailbox:
    sqlite_ack_deletes_only_named_ids_of_that_mailbox,
    postgres_ack_deletes_only_named_ids_of_that_mailbox);
conformance!(#[tokio::test] purge_expired_deletes_exactly_the_expired:
    sqlite_purge_expired_deletes_exactly_the_expired,
    postgres_purge_expired_deletes_exactly_the_expired);
conformance!(#[tokio::test] depth_counts: sqlite_depth_counts, postgres_depth_counts);
conformance!(#[tokio::test] device_list_versions_only_move_forward:
    sqlite_device_list_versions_only_move_forward,
    postgres_device_list_versions_only_move_forward);
conformance!(#[tokio::test] prekeys_go_out_oldest_first_then_the_fallback:
    sqlite_prekeys_go_out_oldest_first_then_the_fallback,
    postgres_prekeys_go_out_oldest_first_then_the_fallback);
conformance!(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    concurrent_claims_hand_out_each_key_once:
    sqlite_concurrent_claims_hand_out_each_key_once,
    postgres_concurrent_claims_hand_out_each_key_once);
conformance!(#[tokio::test] claim_without_keys_is_none:
    sqlite_claim_without_keys_is_none, postgres_claim_without_keys_is_none);

#[tokio::test]
async fn sqlite_reopened_store_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir.path().join("server.db"));
    let store = open_server_store(&url).await.unwrap();
    assert_eq!(store.backend(), "sqlite");
    fill(&store).await;
    store.close().await;
    reopened_store_keeps_data(open_server_store(&url).await.unwrap()).await;
}

#[tokio::test]
async fn postgres_reopened_store_keeps_data() {
    let Some(database) = PgDatabase::create().await else {
        return;
    };
    let store = open_server_store(&database.url).await.unwrap();
    assert_eq!(store.backend(), "postgres");
    fill(&store).await;
    store.close().await;
    let store = open_server_store(&database.url).await.unwrap();
    reopened_store_keeps_data(store.clone()).await;
    store.close().await;
    database.drop().await;
}

/// Several servers starting at once against a fresh database: migrations run once, all succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_concurrent_first_starts_migrate_once() {
    let Some(database) = PgDatabase::create().await else {
        return;
    };
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let url = database.url.clone();
            tokio::spawn(async move { PgServerStore::connect(&url).await })
        })
        .collect();
    let mut stores = Vec::new();
    for start in starts {
        stores.push(start.await.unwrap().unwrap());
    }
    deposit(&stores[0], 1, 1, b"x", 1_000).await;
    assert_eq!(stores[3].depth().await.unwrap(), 1);
    for store in stores {
        store.close().await;
    }
    database.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_concurrent_first_opens_migrate_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let path = path.clone();
            tokio::spawn(async move { SqliteServerStore::open(&path).await })
        })
        .collect();
    for open in opens {
        open.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn sqlite_newer_schema_is_refused() {
    let (dir, store) = sqlite_store().await;
    store.close().await;
    let path = dir.path().join("server.db");
    let mut connection = sqlx::SqliteConnection::connect(&sqlite_url(&path))
        .await
        .unwrap();
    sqlx::query("PRAGMA user_version = 99")
        .execute(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();
    assert!(matches!(
        SqliteServerStore::open(&path).await,
        Err(ServerStoreError::SchemaTooNew {
            found: 99,
            supported: 1
        })
    ));
}

#[tokio::test]
async fn postgres_newer_schema_is_refused() {
    let Some(database) = PgDatabase::create().await else {
        return;
    };
    let store = PgServerStore::connect(&database.url).await.unwrap();
    store.close().await;
    let mut connection = sqlx::PgConnection::connect(&database.url).await.unwrap();
    sqlx::query("UPDATE omega_schema_version SET version = 99")
        .execute(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();
    assert!(matches!(
        PgServerStore::connect(&database.url).await,
        Err(ServerStoreError::SchemaTooNew {
            found: 99,
            supported: 1
        })
    ));
    database.drop().await;
}

#[tokio::test]
async fn bad_store_urls_are_refused_clearly() {
    let error = open_server_store("mysql://db/omega").await.unwrap_err();
    assert!(
        error.to_string().contains("expected sqlite://PATH"),
        "{error}"
    );
    assert!(matches!(
        open_server_store("sqlite://").await,
        Err(ServerStoreError::MissingSqlitePath)
    ));
}
