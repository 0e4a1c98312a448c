//! What survives a restart, and who may open a data directory.

mod common;

use common::{Identity, PASSPHRASE, card_port, incoming_texts, introduce, wait_all};
use omega_core::{ContactView, Node, OpenError};
use omega_store::{Status, Store};

/// Number of Olm sessions stored in a (stopped) node's database with a remote device.
async fn n_sessions(identity: &Identity, peer_curve25519: &[u8; 32]) -> usize {
    let store = Store::open(&identity.data_dir.path(omega_core::datadir::DATABASE_FILE))
        .await
        .expect("open store");
    let n = store
        .sessions_for(peer_curve25519)
        .await
        .expect("sessions")
        .len();
    store.close().await;
    n
}

fn curve25519_of(card: &str) -> [u8; 32] {
    omega_crypto::ContactCard::parse_uri(card)
        .expect("card")
        .devices
        .devices[0]
        .curve25519
}

/// What identifies a contact (its addresses may change as the network reports new ones).
fn names(contacts: Vec<ContactView>) -> Vec<(String, Option<String>, String)> {
    contacts
        .into_iter()
        .map(|contact| (contact.user_id, contact.alias, contact.name))
        .collect()
}

fn same_port(card: &str) -> String {
    format!("/ip4/127.0.0.1/tcp/{}", card_port(card))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_history_contacts_and_sessions() {
    let alice_id = Identity::create("Alice").await;
    let bob_id = Identity::create("Bob").await;
    let alice = alice_id.start().await;
    let bob = bob_id.start().await;
    let (a, b) = (alice.handle(), bob.handle());
    introduce(&a, "alice", &b, "bob").await;

    let hello = a.send_text("bob", "hello bob").await.expect("send");
    wait_all(
        &a,
        std::slice::from_ref(&hello.message_id),
        Status::Delivered,
    )
    .await;
    let reply = b.send_text("alice", "hello alice").await.expect("send");
    wait_all(
        &b,
        std::slice::from_ref(&reply.message_id),
        Status::Delivered,
    )
    .await;
    let history_a = a.messages(Some("bob"), 100).await.expect("messages");
    let history_b = b.messages(Some("alice"), 100).await.expect("messages");
    let contacts_a = names(a.contacts().await.expect("contacts"));
    let contacts_b = names(b.contacts().await.expect("contacts"));
    let (alice_card, bob_card) = (a.info().card, b.info().card);
    alice.shutdown(&alice_id.data_dir).await;
    bob.shutdown(&bob_id.data_dir).await;

    let sessions_at_alice = n_sessions(&alice_id, &curve25519_of(&bob_card)).await;
    let sessions_at_bob = n_sessions(&bob_id, &curve25519_of(&alice_card)).await;
    assert_eq!(
        (sessions_at_alice, sessions_at_bob),
        (1, 1),
        "one session each way"
    );

    // Same ports as before, so the addresses the contacts hold are still right.
    let alice = alice_id.start_on(&same_port(&alice_card)).await;
    let bob = bob_id.start_on(&same_port(&bob_card)).await;
    let (a, b) = (alice.handle(), bob.handle());
    assert_eq!(
        a.messages(Some("bob"), 100).await.expect("messages"),
        history_a
    );
    assert_eq!(
        b.messages(Some("alice"), 100).await.expect("messages"),
        history_b
    );
    assert_eq!(names(a.contacts().await.expect("contacts")), contacts_a);
    assert_eq!(names(b.contacts().await.expect("contacts")), contacts_b);
    assert_eq!(a.info().user_id, alice_id.public.user_id);

    let again = a.send_text("bob", "still there?").await.expect("send");
    wait_all(
        &a,
        std::slice::from_ref(&again.message_id),
        Status::Delivered,
    )
    .await;
    let back = b.send_text("alice", "yes").await.expect("send");
    wait_all(
        &b,
        std::slice::from_ref(&back.message_id),
        Status::Delivered,
    )
    .await;
    assert_eq!(
        incoming_texts(&b, "alice").await,
        ["hello bob", "still there?"]
    );
    assert_eq!(incoming_texts(&a, "bob").await, ["hello alice", "yes"]);
    alice.shutdown(&alice_id.data_dir).await;
    bob.shutdown(&bob_id.data_dir).await;

    // The persisted sessions were reused: no new key fetch, no new session.
    assert_eq!(n_sessions(&alice_id, &curve25519_of(&bob_card)).await, 1);
    assert_eq!(n_sessions(&bob_id, &curve25519_of(&alice_card)).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passphrase_refuses_to_open_the_store() {
    let identity = Identity::create("Alice").await;

    let opened = identity.data_dir.open(b"wrong").await;
    assert!(
        matches!(opened, Err(OpenError::WrongPassphrase)),
        "open: {:?}",
        opened.err()
    );
    let started = Node::start(identity.config(common::ANY_LOOPBACK_PORT, b"wrong")).await;
    assert!(
        matches!(started, Err(OpenError::WrongPassphrase)),
        "start: {:?}",
        started.err()
    );

    let opened = identity
        .data_dir
        .open(PASSPHRASE)
        .await
        .expect("right passphrase");
    assert_eq!(opened.user.public_key().user_id(), identity.public.user_id);
    opened.store.close().await;
    drop(opened);
    // A failed start leaves the directory usable.
    let node = identity.start().await;
    assert_eq!(node.handle().info().user_id, identity.public.user_id);
    node.shutdown(&identity.data_dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_node_on_same_data_dir_is_refused() {
    let identity = Identity::create("Alice").await;
    let first = identity.start().await;

    let second = Node::start(identity.config(common::ANY_LOOPBACK_PORT, PASSPHRASE)).await;
    assert!(
        matches!(second, Err(OpenError::Locked { .. })),
        "second start: {:?}",
        second.err()
    );
    assert_eq!(
        first.handle().info().user_id,
        identity.public.user_id,
        "the first node keeps running"
    );
    first.shutdown(&identity.data_dir).await;

    // Once the first node stopped, the directory can be opened again.
    let again = identity.start().await;
    again.shutdown(&identity.data_dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_message_survives_a_sender_restart() {
    let alice_id = Identity::create("Alice").await;
    let bob_id = Identity::create("Bob").await;
    let bob = bob_id.start().await;
    let bob_card = bob.handle().info().card;
    bob.shutdown(&bob_id.data_dir).await;

    let alice = alice_id.start().await;
    let a = alice.handle();
    a.add_contact(&bob_card, Some("bob"))
        .await
        .expect("add bob");
    let sent = a
        .send_text("bob", "written while bob was away")
        .await
        .expect("send");
    alice.shutdown(&alice_id.data_dir).await;

    // Alice comes back first, then Bob on his old address: the durable outbox delivers.
    let alice = alice_id.start().await;
    let a = alice.handle();
    assert_eq!(
        a.message(&sent.message_id).await.expect("message").status,
        "queued"
    );
    let bob = bob_id.start_on(&same_port(&bob_card)).await;
    wait_all(
        &a,
        std::slice::from_ref(&sent.message_id),
        Status::Delivered,
    )
    .await;
    assert_eq!(
        incoming_texts(&bob.handle(), &a.info().user_id).await,
        ["written while bob was away"]
    );
    alice.shutdown(&alice_id.data_dir).await;
    bob.shutdown(&bob_id.data_dir).await;
}
