//! The prekey directory through `MailboxService`: a device uploads signed one-time keys and a
//! fallback key with its session, and claimers get each one-time key exactly once, then the
//! fallback, every answer verifying against the user. SQLite on a temp file and PostgreSQL.

mod common;

use std::collections::HashSet;

use omega_crypto::verify_keys_response;
use omega_proto::v1;
use omega_server::Limits;
use omega_store::server::ServerStore;

use crate::common::{
    Harness, SOURCE, TestUser, answer, claim_op, claimed, postgres_store, refused, sqlite_store,
    upload_op, uploaded,
};

const N_KEYS: usize = 20;
const N_CLAIMS: usize = 50;

/// Bob with one device, its list published and `N_KEYS` one-time keys plus a fallback uploaded.
/// Returns the uploaded one-time keys and the fallback key.
async fn bob_with_uploaded_keys<S: ServerStore>(
    harness: &Harness<S>,
) -> (TestUser, Vec<Vec<u8>>, Vec<u8>) {
    let mut bob = TestUser::with_devices(1);
    harness.publish(bob.signed_list(1, &[0])).await.unwrap();
    let session = harness.log_in(&bob, 0).await.unwrap();
    let one_time_keys = bob.devices[0].issue_pre_keys(N_KEYS);
    let fallback = bob.devices[0]
        .rotate_fallback_key()
        .expect("a fallback key");
    let uploaded_keys = one_time_keys.iter().map(|key| key.key.clone()).collect();
    let fallback_key = fallback.key.clone();
    let pool = uploaded(
        harness
            .call(upload_op(&session.token, one_time_keys, Some(fallback)))
            .await,
    )
    .unwrap();
    assert_eq!(pool, N_KEYS as u64);
    (bob, uploaded_keys, fallback_key)
}

async fn concurrent_claims_hand_out_each_key_once(store: impl ServerStore) {
    let limits = Limits {
        rate_per_second: 1.0,
        rate_burst: 1.0,
        ..Limits::default()
    };
    let harness = Harness::new(store, limits);
    let (bob, uploaded_keys, fallback_key) = bob_with_uploaded_keys(&harness).await;
    let device = bob.devices[0].curve25519();

    let claims: Vec<_> = (0..N_CLAIMS)
        .map(|claimer| {
            let service = harness.service.clone();
            let request = common::encode(claim_op(&bob.key(), device));
            // One claim per source: the strict rate limit (burst 1) never interferes.
            let source = format!("claimer-{claimer}").into_bytes();
            tokio::spawn(async move { service.handle_bytes(&source, &request).await })
        })
        .collect();
    let mut one_time = Vec::new();
    let mut fallbacks = 0;
    for claim in claims {
        let keys = claimed(answer(&claim.await.unwrap())).expect("a claim is answered");
        let bundle = verify_keys_response(&keys, &bob.key()).expect("the answer verifies");
        assert_eq!(bundle.device.curve25519, device);
        assert_eq!(bundle.fallback, keys.fallback);
        if keys.fallback {
            assert_eq!(keys.one_time_key, fallback_key);
            fallbacks += 1;
        } else {
            one_time.push(keys.one_time_key);
        }
    }
    let distinct: HashSet<_> = one_time.iter().cloned().collect();
    assert_eq!(one_time.len(), N_KEYS, "every one-time key is handed out");
    assert_eq!(
        distinct.len(),
        N_KEYS,
        "no one-time key is handed out twice"
    );
    assert_eq!(distinct, uploaded_keys.into_iter().collect::<HashSet<_>>());
    assert_eq!(fallbacks, N_CLAIMS - N_KEYS);
    assert_eq!(harness.store().pool_size(&device).await.unwrap(), 0);
    let metrics = harness.metrics.render(None);
    assert!(
        metrics.contains("omega_prekey_claims_total 50\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("omega_prekey_fallback_claims_total 30\n"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_claims_on_twenty_keys_give_twenty_distinct_keys_then_fallback() {
    let (_dir, store) = sqlite_store().await;
    concurrent_claims_hand_out_each_key_once(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_fifty_concurrent_claims_on_twenty_keys_give_twenty_distinct_keys_then_fallback() {
    let Some((database, store)) = postgres_store().await else {
        return;
    };
    concurrent_claims_hand_out_each_key_once(store.clone()).await;
    store.close().await;
    database.drop().await;
}

async fn upload_signed_by_another_device_is_refused(store: impl ServerStore) {
    let harness = Harness::new(store, Limits::default());
    let (mut bob, _, fallback_key) = bob_with_uploaded_keys(&harness).await;
    let mut stranger = TestUser::with_devices(1);
    let session = harness.log_in(&bob, 0).await.unwrap();
    let device = bob.devices[0].curve25519();

    // A one-time key signed by another device, among good ones.
    let mut foreign = bob.devices[0].issue_pre_keys(2);
    foreign.insert(1, stranger.devices[0].issue_pre_keys(1).remove(0));
    let refusal = refused(
        uploaded(harness.call(upload_op(&session.token, foreign, None)).await),
        "unauthorized",
    );
    assert!(refusal.message.contains("signed"), "{}", refusal.message);

    // A fallback key signed by another device.
    let foreign_fallback = stranger.devices[0].rotate_fallback_key();
    refused(
        uploaded(
            harness
                .call(upload_op(&session.token, vec![], foreign_fallback))
                .await,
        ),
        "unauthorized",
    );

    // A key signed by bob's device, then altered.
    let mut forged = bob.devices[0].issue_pre_keys(1);
    forged[0].key[0] ^= 1;
    refused(
        uploaded(harness.call(upload_op(&session.token, forged, None)).await),
        "unauthorized",
    );

    // Without a session, even good keys are refused.
    refused(
        uploaded(harness.call(upload_op(&[0; 32], vec![], None)).await),
        "unauthorized",
    );

    assert_eq!(
        harness.store().pool_size(&device).await.unwrap(),
        N_KEYS as u64,
        "nothing was added"
    );
    // The fallback is still bob's own.
    for _ in 0..N_KEYS {
        claimed(harness.call(claim_op(&bob.key(), device)).await).unwrap();
    }
    let last = claimed(harness.call(claim_op(&bob.key(), device)).await).unwrap();
    assert!(last.fallback);
    assert_eq!(last.one_time_key, fallback_key);
}

#[tokio::test]
async fn an_upload_with_a_key_signed_by_another_device_is_unauthorized() {
    let (_dir, store) = sqlite_store().await;
    upload_signed_by_another_device_is_refused(store).await;
}

#[tokio::test]
async fn postgres_an_upload_with_a_key_signed_by_another_device_is_unauthorized() {
    let Some((database, store)) = postgres_store().await else {
        return;
    };
    upload_signed_by_another_device_is_refused(store.clone()).await;
    store.close().await;
    database.drop().await;
}

#[tokio::test]
async fn garbage_request_bytes_are_refused_as_bad_request() {
    let (_dir, store) = sqlite_store().await;
    let harness = Harness::new(store, Limits::default());
    // A ClaimPreKey field (8) whose length runs past the end, then bytes that are no protobuf.
    for garbage in [&b"\x42\x40\x01\x02"[..], &[0xff; 16][..]] {
        let response = harness.service.handle_bytes(SOURCE, garbage).await;
        refused(answer(&response), "bad_request");
    }
}

#[tokio::test]
async fn claims_for_unknown_users_or_devices_are_refused() {
    let (_dir, store) = sqlite_store().await;
    let harness = Harness::new(store, Limits::default());
    let bob = TestUser::with_devices(2);
    let nobody = TestUser::with_devices(1);
    harness.publish(bob.signed_list(1, &[0])).await.unwrap();

    refused(
        claimed(
            harness
                .call(claim_op(&nobody.key(), nobody.devices[0].curve25519()))
                .await,
        ),
        "not_found",
    );
    // Device 1 exists but is not in bob's list.
    refused(
        claimed(
            harness
                .call(claim_op(&bob.key(), bob.devices[1].curve25519()))
                .await,
        ),
        "unknown_device",
    );
    // Listed, but it never uploaded keys.
    refused(
        claimed(
            harness
                .call(claim_op(&bob.key(), bob.devices[0].curve25519()))
                .await,
        ),
        "not_found",
    );
    let bad_user = v1::mailbox_request::Op::ClaimPreKey(v1::ClaimPreKey {
        user_key: vec![1; 5],
        device_curve25519: vec![2; 32],
    });
    refused(claimed(harness.call(bad_user).await), "bad_request");
}

#[tokio::test]
async fn an_upload_keeps_the_pool_within_its_limit() {
    let (_dir, store) = sqlite_store().await;
    let limits = Limits {
        max_pre_keys: 25,
        ..Limits::default()
    };
    let harness = Harness::new(store, limits);
    let (mut bob, _, _) = bob_with_uploaded_keys(&harness).await;
    let session = harness.log_in(&bob, 0).await.unwrap();
    let more = bob.devices[0].issue_pre_keys(10);
    let pool = uploaded(harness.call(upload_op(&session.token, more, None)).await).unwrap();
    assert_eq!(pool, 25, "only the room left is filled");
    let too_many = bob.devices[0].issue_pre_keys(26);
    refused(
        uploaded(
            harness
                .call(upload_op(&session.token, too_many, None))
                .await,
        ),
        "too_large",
    );
}
