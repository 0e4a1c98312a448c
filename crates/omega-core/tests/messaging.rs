//! Two real nodes on 127.0.0.1 exchanging messages: delivery, ordering, offline recipients, receipts.

mod common;

use std::time::Duration;

use common::{Identity, card_port, incoming_texts, introduce, reached, wait_all};
use omega_store::Status;

const N_MESSAGES: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_exchange_100_messages_both_ways_exactly_once_in_order() {
    let alice_id = Identity::create("Alice").await;
    let bob_id = Identity::create("Bob").await;
    let alice = alice_id.start().await;
    let bob = bob_id.start().await;
    let (a, b) = (alice.handle(), bob.handle());
    introduce(&a, "alice", &b, "bob").await;

    let texts = |from: &str| -> Vec<String> {
        (0..N_MESSAGES)
            .map(|index| format!("{from} #{index:03}"))
            .collect()
    };
    let (alice_texts, bob_texts) = (texts("alice"), texts("bob"));
    let send_all = |handle: omega_core::NodeHandle, to: &'static str, texts: Vec<String>| {
        tokio::spawn(async move {
            let mut ids = Vec::with_capacity(texts.len());
            for text in &texts {
                let sent = handle.send_text(to, text).await.expect("send_text");
                assert_eq!(sent.status, "queued");
                ids.push(sent.message_id);
            }
            ids
        })
    };
    let alice_sends = send_all(a.clone(), "bob", alice_texts.clone());
    let bob_sends = send_all(b.clone(), "alice", bob_texts.clone());
    let alice_ids = alice_sends.await.expect("alice's sender task");
    let bob_ids = bob_sends.await.expect("bob's sender task");

    wait_all(&a, &alice_ids, Status::Delivered).await;
    wait_all(&b, &bob_ids, Status::Delivered).await;

    assert_eq!(incoming_texts(&b, "alice").await, alice_texts);
    assert_eq!(incoming_texts(&a, "bob").await, bob_texts);
    for (handle, peer, ids) in [(&a, "bob", &alice_ids), (&b, "alice", &bob_ids)] {
        let outgoing: Vec<_> = handle
            .messages(Some(peer), 10_000)
            .await
            .expect("messages")
            .into_iter()
            .filter(|message| message.direction == "out")
            .collect();
        let outgoing_ids: Vec<_> = outgoing.iter().map(|m| m.message_id.clone()).collect();
        assert_eq!(
            &outgoing_ids, ids,
            "outgoing messages of one side, in send order"
        );
        for message in &outgoing {
            assert!(
                reached(message, Status::Delivered),
                "{} is {}",
                message.message_id,
                message.status
            );
        }
    }
    // Each side stored the other's 100 texts and 100 delivery receipts for its own, once each.
    assert_eq!(a.stats().received, 2 * N_MESSAGES as u64);
    assert_eq!(b.stats().received, 2 * N_MESSAGES as u64);
    assert_eq!(b.stats().refused(), 0);
    assert_eq!(a.stats().refused(), 0);

    alice.shutdown(&alice_id.data_dir).await;
    bob.shutdown(&bob_id.data_dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_recipient_gets_message_after_it_starts() {
    let alice_id = Identity::create("Alice").await;
    let bob_id = Identity::create("Bob").await;

    // Run Bob once to learn the address his card advertises, then stop him.
    let bob = bob_id.start().await;
    let bob_card = bob.handle().info().card;
    let bob_listen = format!("/ip4/127.0.0.1/tcp/{}", card_port(&bob_card));
    bob.shutdown(&bob_id.data_dir).await;

    let alice = alice_id.start().await;
    let a = alice.handle();
    a.add_contact(&bob_card, Some("bob"))
        .await
        .expect("add bob");
    let sent = a.send_text("bob", "are you there?").await.expect("send");

    // While Bob is down the message stays queued (Alice keeps trying and failing).
    let still = a
        .wait_for_status(&sent.message_id, Status::Sent, Duration::from_secs(2))
        .await
        .expect("wait");
    assert_eq!(still.status, "queued");
    assert!(a.stats().send_failures >= 1, "alice tried to reach bob");

    let bob = bob_id.start_on(&bob_listen).await;
    let b = bob.handle();
    wait_all(
        &a,
        std::slice::from_ref(&sent.message_id),
        Status::Delivered,
    )
    .await;
    let alice_user_id = a.info().user_id;
    assert_eq!(incoming_texts(&b, &alice_user_id).await, ["are you there?"]);

    alice.shutdown(&alice_id.data_dir).await;
    bob.shutdown(&bob_id.data_dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_receipt_moves_status_to_read() {
    let alice_id = Identity::create("Alice").await;
    let bob_id = Identity::create("Bob").await;
    let alice = alice_id.start().await;
    let bob = bob_id.start().await;
    let (a, b) = (alice.handle(), bob.handle());
    introduce(&a, "alice", &b, "bob").await;

    let sent = a.send_text("bob", "read me").await.expect("send");
    wait_all(
        &a,
        std::slice::from_ref(&sent.message_id),
        Status::Delivered,
    )
    .await;
    assert_eq!(
        a.message(&sent.message_id).await.expect("message").status,
        "delivered",
        "not read before bob reads it"
    );

    assert_eq!(b.mark_read("alice").await.expect("mark_read"), 1);
    wait_all(&a, std::slice::from_ref(&sent.message_id), Status::Read).await;
    let at_bob = b.messages(Some("alice"), 10).await.expect("messages");
    assert_eq!(at_bob.len(), 1);
    assert_eq!(at_bob[0].status, "read");
    assert_eq!(
        b.mark_read("alice").await.expect("mark_read again"),
        0,
        "nothing left unread"
    );

    alice.shutdown(&alice_id.data_dir).await;
    bob.shutdown(&bob_id.data_dir).await;
}
