//! The mailbox through `MailboxService` on a manual clock: deposit, challenge-response
//! authentication, paged fetch, ack, and the limits (size, rate, TTL). Requests go through
//! `handle_bytes`, encoded as the network carries them. SQLite on a temp file; the round trip also
//! runs on PostgreSQL.

mod common;

use omega_server::Limits;
use omega_store::server::ServerStore;

use crate::common::{
    Harness, SOURCE, TestUser, authenticate_op, deposit_op, deposited, fetch_op, message_id, page,
    postgres_store, refused, session, sqlite_store,
};

/// Five envelopes for one device (and one for a stranger's), fetched two at a time in deposit
/// order, acked, and the device's mailbox is empty while the stranger's is untouched.
async fn deposit_authenticate_fetch_ack_round_trip(store: impl ServerStore) {
    let harness = Harness::new(store, Limits::default());
    let bob = TestUser::with_devices(1);
    let stranger = TestUser::with_devices(1);
    assert_eq!(harness.publish(bob.signed_list(1, &[0])).await.unwrap(), 1);

    let mut ids = Vec::new();
    for n in 0..5u8 {
        harness.clock.advance(10);
        let receipt = harness
            .deposit(&bob.mailbox_of(0), &message_id(n), &[b'm', n])
            .await
            .unwrap();
        assert_eq!(receipt.message_id, message_id(n));
        assert!(!receipt.duplicate);
        ids.push(message_id(n));
    }
    harness
        .deposit(&stranger.mailbox_of(0), &message_id(0), b"not bob's")
        .await
        .unwrap();

    let session = harness.log_in(&bob, 0).await.unwrap();
    assert_eq!(session.recipient_hash, bob.mailbox_of(0));
    assert_eq!(session.token.len(), 32);
    assert!(session.expires_ms > 0);

    let mut fetched = Vec::new();
    let mut after = 0;
    let mut more_flags = Vec::new();
    loop {
        let page = harness.fetch(&session.token, after, 2).await.unwrap();
        assert!(page.envelopes.len() <= 2, "the page respects the limit");
        more_flags.push(page.more);
        for stored in &page.envelopes {
            assert!(stored.cursor > after, "cursors increase");
            after = stored.cursor;
            fetched.push(stored.clone());
        }
        if !page.more {
            break;
        }
    }
    assert_eq!(more_flags, [true, true, false]);
    let fetched_ids: Vec<Vec<u8>> = fetched.iter().map(|s| s.message_id.clone()).collect();
    assert_eq!(fetched_ids, ids, "deposit order");
    for (n, stored) in fetched.iter().enumerate() {
        assert_eq!(stored.envelope, [b'm', n as u8]);
        assert_eq!(stored.deposited_ms, 10 * (n as u64 + 1));
    }

    assert_eq!(harness.ack(&session.token, &ids).await.unwrap(), 5);
    let empty = harness.fetch(&session.token, 0, 100).await.unwrap();
    assert!(empty.envelopes.is_empty());
    assert!(!empty.more);
    assert_eq!(
        harness
            .store()
            .mailbox_depth(&bob.mailbox_of(0))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        harness
            .store()
            .mailbox_depth(&stranger.mailbox_of(0))
            .await
            .unwrap(),
        1,
        "another mailbox is untouched by bob's ack"
    );
    let metrics = harness.metrics.render(None);
    assert!(
        metrics.contains("omega_mailbox_deposits_total 6\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("omega_mailbox_fetched_envelopes_total 5\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("omega_mailbox_acks_total 5\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn deposit_authenticate_fetch_in_order_ack_empties_the_mailbox() {
    let (_dir, store) = sqlite_store().await;
    deposit_authenticate_fetch_ack_round_trip(store).await;
}

#[tokio::test]
async fn postgres_deposit_authenticate_fetch_in_order_ack_empties_the_mailbox() {
    let Some((database, store)) = postgres_store().await else {
        return;
    };
    deposit_authenticate_fetch_ack_round_trip(store.clone()).await;
    store.close().await;
    database.drop().await;
}

#[tokio::test]
async fn fetch_with_a_wrong_key_is_refused() {
    let (_dir, store) = sqlite_store().await;
    let harness = Harness::new(store, Limits::default());
    let bob = TestUser::with_devices(2);
    let outsider = TestUser::with_devices(1);
    harness.publish(bob.signed_list(1, &[0, 1])).await.unwrap();
    harness
        .deposit(&bob.mailbox_of(0), &message_id(1), b"secret")
        .await
        .unwrap();

    // Bob's other device signs for device 0: listed, but not the key of device 0.
    let nonce = harness.nonce().await;
    let refusal = refused(
        harness
            .authenticate_with(&nonce, &bob, bob.devices[0].ed25519(), &bob.devices[1])
            .await,
        "unauthorized",
    );
    assert!(refusal.message.contains("signature"), "{}", refusal.message);

    // A device outside the list signs for device 0.
    let nonce = harness.nonce().await;
    refused(
        harness
            .authenticate_with(&nonce, &bob, bob.devices[0].ed25519(), &outsider.devices[0])
            .await,
        "unauthorized",
    );

    // A signature for another server does not open this one.
    let nonce = harness.nonce().await;
    let op = authenticate_op(
        b"another-server",
        &nonce,
        &bob.key(),
        bob.devices[0].ed25519(),
        &bob.devices[0],
    );
    refused(session(harness.call(op).await), "unauthorized");

    // Without a session nothing can be fetched.
    refused(harness.fetch(&[], 0, 10).await, "unauthorized");
    assert_eq!(harness.metrics.refusals_of("unauthorized"), 4);
    assert_eq!(
        harness
            .store()
            .mailbox_depth(&bob.mailbox_of(0))
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn replayed_challenge_is_refused() {
    let (_dir, store) = sqlite_store().await;
    let harness = Harness::new(store, Limits::default());
    let bob = TestUser::with_devices(1);
    harness.publish(bob.signed_list(1, &[0])).await.unwrap();
    let device = &bob.devices[0];

    let nonce = harness.nonce().await;
    harness
        .authenticate_with(&nonce, &bob, device.ed25519(), device)
        .await
        .unwrap();
    let refusal = refused(
        harness
            .authenticate_with(&nonce, &bob, device.ed25519(), device)
            .await,
        "stale_challenge",
    );
    assert!(!refusal.message.is_empty());
    // A nonce the server never issued is just as stale.
    refused(
        harness
            .authenticate_with(&[7; 32], &bob, device.ed25519(), device)
            .await,
        "stale_challenge",
    );
}

#[tokio::test]
async fn expired_challenge_is_refused() {
    let (_dir, store) = sqlite_store().await;
    let harness = Harness::new(store, Limits::default());
    let bob = TestUser::with_devices(1);
    harness.publish(bob.signed_list(1, &[0])).await.unwrap();
    let device = &bob.devices[0];

    let challenge = common::challenged(harness.call(common::challenge_op()).await).unwrap();
    assert_eq!(challenge.nonce.len(), 32);
    assert_eq!(challenge.expires_ms, 60_000, "issued at 0, valid for 60 s");
    harness.clock.advance(60_001);
    refused(
        harness
            .authenticate_with(&challenge.nonce, &bob, device.ed25519(), device)
            .await,
        "stale_challenge",
    );
    // A fresh challenge, answered in time, works.
    harness.clock.advance(1);
    assert!(harness.log_in(&bob, 0).await.is_ok());
}

#[tokio::test]
async fn expired_session_is_refused() {
    let (_dir, store) = sqlite_store().await;
    let harness = Harness::new(store, Limits::default());
    let bob = TestUser::with_devices(1);
    harness.publish(bob.signed_list(1, &[0])).await.unwrap();
    let session = harness.log_in(&bob, 0).await.unwrap();
    harness.clock.set(session.expires_ms as i64 - 1);
    assert!(harness.fetch(&session.token, 0, 10).await.is_ok());
    harness.clock.set(session.expires_ms as i64);
    refused(harness.fetch(&session.token, 0, 10).await, "unauthorized");
}

#[tokio::test]
async fn revoked_device_cannot_fetch() {
    let (_dir, store) = sqlite_store().await;
    let harness = Harness::new(store, Limits::default());
    let bob = TestUser::with_devices(2);
    harness.publish(bob.signed_list(1, &[0, 1])).await.unwrap();
    let lost_device = harness.log_in(&bob, 0).await.unwrap();
    let kept_device = harness.log_in(&bob, 1).await.unwrap();
    assert!(harness.fetch(&lost_device.token, 0, 10).await.is_ok());

    // Bob removes device 0 from his list.
    assert_eq!(harness.publish(bob.signed_list(2, &[1])).await.unwrap(), 2);
    refused(
        harness.fetch(&lost_device.token, 0, 10).await,
        "unauthorized",
    );
    refused(
        harness.ack(&lost_device.token, &[message_id(1)]).await,
        "unauthorized",
    );
    refused(harness.log_in(&bob, 0).await, "unknown_device");
    // The device still listed keeps its session.
    assert!(harness.fetch(&kept_device.token, 0, 10).await.is_ok());
    // An old list cannot be replayed to bring the device back.
    refused(
        harness.publish(bob.signed_list(1, &[0, 1])).await,
        "stale_device_list",
    );
    refused(harness.log_in(&bob, 0).await, "unknown_device");
}

#[tokio::test]
async fn unknown_token_is_refused() {
    let (_dir, store) = sqlite_store().await;
    let harness = Harness::new(store, Limits::default());
    let bob = TestUser::with_devices(1);
    harness.publish(bob.signed_list(1, &[0])).await.unwrap();
    harness
        .deposit(&bob.mailbox_of(0), &message_id(1), b"secret")
        .await
        .unwrap();
    let real = harness.log_in(&bob, 0).await.unwrap();
    let mut forged = real.token.clone();
    forged[0] ^= 1;

    refused(harness.fetch(&forged, 0, 10).await, "unauthorized");
    refused(harness.fetch(&[0; 32], 0, 10).await, "unauthorized");
    refused(harness.fetch(b"short", 0, 10).await, "unauthorized");
    refused(harness.ack(&forged, &[message_id(1)]).await, "unauthorized");
    assert_eq!(
        harness
            .store()
            .mailbox_depth(&bob.mailbox_of(0))
            .await
            .unwrap(),
        1,
        "nothing was acked"
    );
}

#[tokio::test]
async fn authenticating_a_user_without_a_device_list_is_refused() {
    let (_dir, store) = sqlite_store().await;
    let harness = Harness::new(store, Limits::default());
    let nobody = TestUser::with_devices(1);
    refused(harness.log_in(&nobody, 0).await, "unknown_device");
}

#[tokio::test]
async fn deposit_over_the_size_limit_is_refused_with_a_clear_error() {
    let (_dir, store) = sqlite_store().await;
    let limit = Limits::default().max_envelope_bytes;
    let harness = Harness::new(store, Limits::default());
    let bob = TestUser::with_devices(1);

    let refusal = refused(
        harness
            .deposit(&bob.mailbox_of(0), &message_id(1), &vec![1; limit + 1])
            .await,
        "too_large",
    );
    assert!(
        refusal.message.contains(&(limit + 1).to_string())
            && refusal.message.contains(&limit.to_string()),
        "the message names both sizes: {}",
        refusal.message
    );
    assert_eq!(harness.store().depth().await.unwrap(), 0);
    assert_eq!(harness.metrics.refusals_of("too_large"), 1);

    // Exactly the limit is fine.
    let receipt = harness
        .deposit(&bob.mailbox_of(0), &message_id(2), &vec![2; limit])
        .await
        .unwrap();
    assert!(!receipt.duplicate);
}

#[tokio::test]
async fn malformed_deposits_are_refused_as_bad_requests() {
    let (_dir, store) = sqlite_store().await;
    let harness = Harness::new(store, Limits::default());
    refused(
        harness.deposit(&[1; 31], &message_id(1), b"x").await,
        "bad_request",
    );
    refused(
        harness.deposit(&[1; 32], &[1; 15], b"x").await,
        "bad_request",
    );
    refused(
        harness.deposit(&[1; 32], &message_id(1), b"").await,
        "bad_request",
    );
    assert_eq!(harness.store().depth().await.unwrap(), 0);
}

#[tokio::test]
async fn deposit_above_the_rate_limit_is_refused_and_others_keep_being_served() {
    let (_dir, store) = sqlite_store().await;
    let limits = Limits {
        rate_per_second: 1.0,
        rate_burst: 3.0,
        ..Limits::default()
    };
    let harness = Harness::new(store, limits);
    let bob = TestUser::with_devices(1);
    let mailbox = bob.mailbox_of(0);
    let from_a = |n: u8| harness.call_from(b"source-a", deposit_op(&mailbox, &message_id(n), b"a"));

    for n in 0..3 {
        deposited(from_a(n).await).expect("within the burst");
    }
    let refusal = refused(deposited(from_a(3).await), "rate_limited");
    assert!(refusal.retry_after_ms > 0, "{refusal:?}");
    assert!(refusal.retry_after_ms <= 1_000, "{refusal:?}");

    let from_b = harness
        .call_from(b"source-b", deposit_op(&mailbox, &message_id(100), b"b"))
        .await;
    assert!(
        !deposited(from_b).unwrap().duplicate,
        "another source is served"
    );

    harness.clock.advance(refusal.retry_after_ms as i64);
    deposited(from_a(3).await).expect("served again after waiting");
    assert_eq!(harness.store().mailbox_depth(&mailbox).await.unwrap(), 5);
    assert_eq!(harness.metrics.refusals_of("rate_limited"), 1);
}

#[tokio::test]
async fn duplicate_deposit_is_idempotent() {
    let (_dir, store) = sqlite_store().await;
    let harness = Harness::new(store, Limits::default());
    let bob = TestUser::with_devices(1);
    harness.publish(bob.signed_list(1, &[0])).await.unwrap();

    let first = harness
        .deposit(&bob.mailbox_of(0), &message_id(1), b"first")
        .await
        .unwrap();
    assert!(!first.duplicate);
    let retry = harness
        .deposit(&bob.mailbox_of(0), &message_id(1), b"retry")
        .await
        .unwrap();
    assert!(retry.duplicate);
    assert_eq!(retry.message_id, message_id(1));

    let session = harness.log_in(&bob, 0).await.unwrap();
    let page = harness.fetch(&session.token, 0, 100).await.unwrap();
    assert_eq!(page.envelopes.len(), 1, "fetched once");
    assert_eq!(
        page.envelopes[0].envelope, b"first",
        "the first copy is kept"
    );
    let metrics = harness.metrics.render(None);
    assert!(
        metrics.contains("omega_mailbox_deposits_total 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("omega_mailbox_duplicate_deposits_total 1\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn ttl_expired_envelopes_are_purged_and_counted() {
    let (_dir, store) = sqlite_store().await;
    let limits = Limits {
        ttl_ms: 1_000,
        ..Limits::default()
    };
    let harness = Harness::new(store, limits);
    let bob = TestUser::with_devices(1);
    harness.publish(bob.signed_list(1, &[0])).await.unwrap();

    harness.clock.set(0);
    harness
        .deposit(&bob.mailbox_of(0), &message_id(1), b"old")
        .await
        .unwrap();
    harness.clock.set(5_000);
    harness
        .deposit(&bob.mailbox_of(0), &message_id(2), b"new")
        .await
        .unwrap();

    // What `Server`'s purge task does on each tick.
    let purged = harness.store().purge_expired(2_000).await.unwrap();
    harness.metrics.expired(purged);
    assert_eq!(purged, 1);

    let session = harness.log_in(&bob, 0).await.unwrap();
    let page = harness.fetch(&session.token, 0, 100).await.unwrap();
    let ids: Vec<_> = page
        .envelopes
        .iter()
        .map(|s| s.message_id.clone())
        .collect();
    assert_eq!(
        ids,
        [message_id(2)],
        "the unexpired envelope is still fetchable"
    );

    let depth = harness.store().depth().await.unwrap();
    let metrics = harness.metrics.render(Some(depth));
    assert!(
        metrics.contains("\nomega_mailbox_expired_total 1\n"),
        "{metrics}"
    );
    assert!(metrics.contains("\nomega_mailbox_depth 1\n"), "{metrics}");
    assert_eq!(harness.metrics.expired_total(), 1);
}

#[tokio::test]
async fn garbage_request_bytes_are_a_bad_request() {
    let (_dir, store) = sqlite_store().await;
    let harness = Harness::new(store, Limits::default());
    for garbage in [&[0xff, 0xff, 0xff, 0xff][..], b"\x0a\x05ab", b""] {
        let answer = common::answer(&harness.service.handle_bytes(SOURCE, garbage).await);
        let refusal = refused(answer, "bad_request");
        assert!(!refusal.message.is_empty());
    }
    assert_eq!(harness.metrics.refusals_of("bad_request"), 3);
    // The fetch op decodes but carries no session.
    refused(
        page(harness.call(fetch_op(&[], 0, 0)).await),
        "unauthorized",
    );
}
