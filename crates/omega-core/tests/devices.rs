//! Multi-device, end to end on 127.0.0.1: link a second device, fan-out, sent copies, history
//! backfill, revocation, and every way a link claim is refused.

mod common;

use std::future::Future;
use std::time::Duration;

use common::{Identity, PASSPHRASE, TIMEOUT, introduce, now_ms, wait_all};
use omega_core::join::{JoinError, join};
use omega_core::{DataDir, NodeHandle};
use omega_crypto::link::{InviteError, LinkInvite, LinkSecret};
use omega_store::Status;

/// Checks `condition` whenever `handle` reports something (and at least every 100 ms), until it
/// holds or [`TIMEOUT`] passes; fails the test with `what` then.
async fn eventually<F, Fut>(handle: &NodeHandle, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let mut events = handle.subscribe();
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        if condition().await {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("{what}: not within {TIMEOUT:?}");
        }
        let _ = tokio::time::timeout(Duration::from_millis(100), events.recv()).await;
    }
}

async fn texts(handle: &NodeHandle, with: &str, direction: &str) -> Vec<String> {
    handle
        .messages(Some(with), 10_000)
        .await
        .map(|messages| {
            messages
                .into_iter()
                .filter(|message| message.direction == direction)
                .map(|message| message.text)
                .collect()
        })
        .unwrap_or_default()
}

async fn device_count(handle: &NodeHandle, contact: &str) -> usize {
    handle
        .contact_view(contact)
        .await
        .map(|view| view.devices)
        .unwrap_or(0)
}

struct Dir {
    _dir: tempfile::TempDir,
    data_dir: DataDir,
}

fn new_dir() -> Dir {
    let dir = tempfile::tempdir().expect("temporary directory");
    let data_dir = DataDir::new(dir.path().join("omega"));
    Dir {
        _dir: dir,
        data_dir,
    }
}

async fn link(uri: &str, dir: &Dir) -> Result<omega_core::join::Joined, JoinError> {
    join(
        &dir.data_dir,
        uri,
        "phone",
        PASSPHRASE,
        now_ms(),
        Duration::from_secs(20),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_linked_device_gets_history_new_messages_and_my_sent_messages_until_revoked() {
    let alice = Identity::create("Alice").await;
    let bob = Identity::create("Bob").await;
    let alice_a = alice.start().await;
    let bob_node = bob.start().await;
    let (a, b) = (alice_a.handle(), bob_node.handle());
    introduce(&a, "alice", &b, "bob").await;

    // History from before the link.
    let early = b.send_text("alice", "before the link").await.unwrap();
    let mine = a.send_text("bob", "mine, before the link").await.unwrap();
    wait_all(
        &b,
        std::slice::from_ref(&early.message_id),
        Status::Delivered,
    )
    .await;
    wait_all(
        &a,
        std::slice::from_ref(&mine.message_id),
        Status::Delivered,
    )
    .await;

    // Link a second device of Alice.
    let offer = a.link_device().await.expect("link offer");
    assert!(offer.uri.starts_with("omega-link:"));
    assert!(!offer.qr.is_empty());
    let dir = new_dir();
    let joined = link(&offer.uri, &dir).await.expect("join");
    assert_eq!(joined.public.user_id, a.info().user_id);
    assert_ne!(joined.public.device_id, a.info().device_id);
    assert_eq!(joined.contacts, 1);
    assert_eq!(a.devices().await.unwrap().len(), 2);
    assert_eq!(a.stats().links_completed, 1);

    let second = omega_core::Node::start(alice_config(&dir.data_dir))
        .await
        .expect("start the linked device");
    let a2 = second.handle();
    assert_eq!(a2.devices().await.unwrap().len(), 2);

    // The backfill brings the history, in both directions, with the same ids.
    eventually(&a2, "history backfilled", || async {
        texts(&a2, "bob", "in").await == ["before the link"]
            && texts(&a2, "bob", "out").await == ["mine, before the link"]
    })
    .await;
    let backfilled = a2.message(&mine.message_id).await.expect("same id");
    assert_eq!(backfilled.direction, "out");

    // Bob learns Alice's new device list; his next message reaches both devices.
    eventually(&b, "bob sees two devices of alice", || async {
        device_count(&b, "alice").await == 2
    })
    .await;
    b.send_text("alice", "after the link").await.unwrap();
    eventually(&a, "device A gets it", || async {
        texts(&a, "bob", "in")
            .await
            .contains(&"after the link".to_owned())
    })
    .await;
    eventually(&a2, "device A2 gets it", || async {
        texts(&a2, "bob", "in")
            .await
            .contains(&"after the link".to_owned())
    })
    .await;

    // What I send from A appears on A2 as outgoing, with the same id.
    let sent = a.send_text("bob", "sent from A").await.unwrap();
    eventually(&a2, "sent copy on A2", || async {
        texts(&a2, "bob", "out")
            .await
            .contains(&"sent from A".to_owned())
    })
    .await;
    assert_eq!(a2.message(&sent.message_id).await.unwrap().direction, "out");
    // My edit on A reaches A2 (and Bob).
    a.change(
        &sent.message_id,
        omega_core::kinds::Change::Edit {
            body: "sent from A, edited".into(),
            mentions: Vec::new(),
        },
    )
    .await
    .unwrap();
    eventually(&a2, "the edit reaches A2", || async {
        a2.message(&sent.message_id)
            .await
            .is_ok_and(|message| message.text == "sent from A, edited")
    })
    .await;
    // And the other way round.
    a2.send_text("bob", "sent from A2").await.unwrap();
    eventually(&a, "sent copy on A", || async {
        texts(&a, "bob", "out")
            .await
            .contains(&"sent from A2".to_owned())
    })
    .await;
    eventually(&b, "bob gets A2's message", || async {
        texts(&b, "alice", "in")
            .await
            .contains(&"sent from A2".to_owned())
    })
    .await;

    // A device cannot revoke itself.
    let own_id = a.info().device_id;
    assert!(a.revoke_device(&own_id).await.is_err());
    // Revoke A2 from A.
    let left = a
        .revoke_device(&joined.public.device_id)
        .await
        .expect("revoke");
    assert_eq!(left.len(), 1);
    assert!(left[0].current);
    eventually(&b, "bob sees one device of alice", || async {
        device_count(&b, "alice").await == 1
    })
    .await;
    let after = b.send_text("alice", "after the revoke").await.unwrap();
    wait_all(
        &b,
        std::slice::from_ref(&after.message_id),
        Status::Delivered,
    )
    .await;
    assert!(
        texts(&a, "bob", "in")
            .await
            .contains(&"after the revoke".to_owned())
    );
    assert!(
        !texts(&a2, "bob", "in")
            .await
            .contains(&"after the revoke".to_owned()),
        "the revoked device must not get new messages"
    );

    second.shutdown(&dir.data_dir).await;
    alice_a.shutdown(&alice.data_dir).await;
    bob_node.shutdown(&bob.data_dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revoked_device_cannot_fetch_its_mailbox() {
    let server_dir = tempfile::tempdir().unwrap();
    let store = omega_store::server::SqliteServerStore::open(&server_dir.path().join("server.db"))
        .await
        .unwrap();
    let server = omega_server::Server::start(
        omega_server::ServerConfig::new(
            libp2p::identity::Keypair::generate_ed25519(),
            vec![common::ANY_LOOPBACK_PORT.parse().unwrap()],
        ),
        store,
    )
    .await
    .expect("server");
    let mailbox: libp2p::Multiaddr = server.listen_addrs()[0]
        .clone()
        .with_p2p(server.peer_id())
        .unwrap();
    let with_mailbox = |data_dir: &DataDir| {
        let mut config = alice_config(data_dir);
        config.mailbox = Some(mailbox.clone());
        config.mailbox_poll = Duration::from_millis(100);
        config
    };

    let alice = Identity::create("Alice").await;
    let first = omega_core::Node::start(with_mailbox(&alice.data_dir))
        .await
        .unwrap();
    let a = first.handle();
    let offer = a.link_device().await.unwrap();
    let dir = new_dir();
    let joined = link(&offer.uri, &dir).await.expect("join");
    assert_eq!(joined.mailboxes, vec![mailbox.to_string()]);
    let second = omega_core::Node::start(with_mailbox(&dir.data_dir))
        .await
        .unwrap();
    let a2 = second.handle();
    eventually(&a2, "the linked device syncs with the mailbox", || async {
        a2.stats().mailbox_syncs > 0
    })
    .await;
    assert_eq!(a2.stats().mailbox_refused, 0);

    a.revoke_device(&joined.public.device_id).await.unwrap();
    eventually(&a2, "the mailbox refuses the revoked device", || async {
        a2.stats().mailbox_refused > 0
    })
    .await;
    // The device still listed keeps syncing.
    let before = a.stats().mailbox_syncs;
    eventually(&a, "the remaining device keeps syncing", || async {
        a.stats().mailbox_syncs > before
    })
    .await;
    assert_eq!(a.stats().mailbox_refused, 0);

    second.shutdown(&dir.data_dir).await;
    first.shutdown(&alice.data_dir).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conversation_metadata_syncs_between_my_devices_and_converges() {
    use omega_core::metadata::MetaChange;
    let alice = Identity::create("Alice").await;
    let bob = Identity::create("Bob").await;
    let first = alice.start().await;
    let bob_node = bob.start().await;
    let (a, b) = (first.handle(), bob_node.handle());
    introduce(&a, "alice", &b, "bob").await;
    let offer = a.link_device().await.unwrap();
    let dir = new_dir();
    link(&offer.uri, &dir).await.expect("join");
    let second = omega_core::Node::start(alice_config(&dir.data_dir))
        .await
        .unwrap();
    let a2 = second.handle();
    eventually(&b, "bob sees two devices of alice", || async {
        device_count(&b, "alice").await == 2
    })
    .await;

    // Concurrent changes on both devices: archived on one, muted on the other.
    a.conversation_meta("bob", Some(MetaChange::Archived(true)))
        .await
        .unwrap();
    a2.conversation_meta("bob", Some(MetaChange::Muted(true)))
        .await
        .unwrap();
    for (device, name) in [(&a, "A"), (&a2, "A2")] {
        eventually(device, &format!("{name} converges"), || async {
            let meta = device.conversation_meta("bob", None).await.unwrap();
            meta.archived && meta.muted
        })
        .await;
    }
    // An alias set on A2 becomes the contact's alias on A (found by it).
    a2.conversation_meta("bob", Some(MetaChange::Alias(Some("bobby".into()))))
        .await
        .unwrap();
    eventually(&a, "the alias reaches A", || async {
        a.contact_view("bobby").await.is_ok()
    })
    .await;
    // Reading on A marks the message read on A2 too.
    b.send_text("alice", "read me once").await.unwrap();
    eventually(&a2, "A2 has the message", || async {
        texts(&a2, "bobby", "in").await == ["read me once"]
    })
    .await;
    eventually(&a, "A has the message", || async {
        texts(&a, "bobby", "in").await == ["read me once"]
    })
    .await;
    assert_eq!(a.mark_read("bobby").await.unwrap(), 1);
    eventually(&a2, "the read marker reaches A2", || async {
        a2.messages(Some("bobby"), 10)
            .await
            .unwrap()
            .iter()
            .any(|message| message.direction == "in" && message.status == "read")
    })
    .await;

    second.shutdown(&dir.data_dir).await;
    first.shutdown(&alice.data_dir).await;
    bob_node.shutdown(&bob.data_dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_backfill_survives_a_restart_of_the_existing_device() {
    let alice = Identity::create("Alice").await;
    let bob = Identity::create("Bob").await;
    let first = alice.start().await;
    let bob_node = bob.start().await;
    let (a, b) = (first.handle(), bob_node.handle());
    introduce(&a, "alice", &b, "bob").await;
    let early = b
        .send_text("alice", "kept across the restart")
        .await
        .unwrap();
    wait_all(
        &b,
        std::slice::from_ref(&early.message_id),
        Status::Delivered,
    )
    .await;
    let port = common::card_port(&a.info().card);
    let offer = a.link_device().await.unwrap();
    let dir = new_dir();
    link(&offer.uri, &dir).await.expect("join");

    // A stops before the new device ever ran: the backfill waits in A's outbox.
    first.shutdown(&alice.data_dir).await;
    let first = alice.start_on(&format!("/ip4/127.0.0.1/tcp/{port}")).await;
    assert_eq!(first.handle().devices().await.unwrap().len(), 2);
    let second = omega_core::Node::start(alice_config(&dir.data_dir))
        .await
        .unwrap();
    let a2 = second.handle();
    eventually(&a2, "history backfilled after the restart", || async {
        texts(&a2, "bob", "in").await == ["kept across the restart"]
    })
    .await;

    second.shutdown(&dir.data_dir).await;
    first.shutdown(&alice.data_dir).await;
    bob_node.shutdown(&bob.data_dir).await;
}

fn alice_config(data_dir: &DataDir) -> omega_core::NodeConfig {
    let mut config = omega_core::NodeConfig::new(
        data_dir.clone(),
        zeroize::Zeroizing::new(PASSPHRASE.to_vec()),
    );
    config.listen = vec![common::ANY_LOOPBACK_PORT.parse().expect("multiaddr")];
    config.outbox = omega_core::outbox::Config {
        base_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_secs(1),
    };
    config
}

#[tokio::test]
async fn garbage_wrong_reused_and_expired_link_uris_are_refused() {
    let alice = Identity::create("Alice").await;
    let node = alice.start().await;
    let a = node.handle();

    // Garbage.
    let dir = new_dir();
    assert!(matches!(
        link("omega:not-a-link", &dir).await,
        Err(JoinError::Invite(InviteError::MissingPrefix))
    ));
    assert!(matches!(
        link("omega-link:%%%", &dir).await,
        Err(JoinError::Invite(InviteError::Base32 { .. }))
    ));
    assert!(!dir.data_dir.is_initialized(), "nothing written");

    // A wrong secret.
    let offer = a.link_device().await.unwrap();
    let mut wrong = LinkInvite::parse_uri(&offer.uri, now_ms()).unwrap();
    wrong.secret = LinkSecret::generate(&mut rand::rngs::OsRng);
    match link(&wrong.to_uri(), &dir).await {
        Err(JoinError::Refused { code, .. }) => assert_eq!(code, "wrong_secret"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(!dir.data_dir.is_initialized(), "nothing written");
    assert_eq!(a.stats().links_refused, 1);

    // Expired: refused before any network use.
    let mut expired = LinkInvite::parse_uri(&offer.uri, now_ms()).unwrap();
    expired.expires_ms = now_ms() - 1;
    assert!(matches!(
        link(&expired.to_uri(), &dir).await,
        Err(JoinError::Invite(InviteError::Expired))
    ));

    // The right secret works once; a second claim is refused as used.
    link(&offer.uri, &dir).await.expect("first claim");
    let again = new_dir();
    match link(&offer.uri, &again).await {
        Err(JoinError::Refused { code, .. }) => assert_eq!(code, "used"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(!again.data_dir.is_initialized());
    assert_eq!(a.stats().links_refused, 2);
    assert_eq!(a.devices().await.unwrap().len(), 2);

    node.shutdown(&alice.data_dir).await;
}

/// Texts of a group's messages on one device, with their direction.
async fn group_texts(handle: &NodeHandle, group: &str) -> Vec<(String, String)> {
    handle
        .group_messages(group, 10_000)
        .await
        .map(|messages| {
            messages
                .into_iter()
                .map(|message| (message.direction, message.text))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_linked_device_joins_my_groups_and_reads_and_writes_in_them() {
    let alice = Identity::create("Alice").await;
    let bob = Identity::create("Bob").await;
    let alice_a = alice.start().await;
    let bob_node = bob.start().await;
    let (a, b) = (alice_a.handle(), bob_node.handle());
    introduce(&a, "alice", &b, "bob").await;
    let group = b
        .group_create("club", &["alice".to_owned()])
        .await
        .expect("create")
        .group_id;
    eventually(&a, "alice knows the group", || async {
        a.group(&group).await.is_ok()
    })
    .await;
    b.group_send(
        &group,
        omega_core::kinds::Draft::Text {
            body: "before the link".into(),
            mentions: Vec::new(),
        },
    )
    .await
    .expect("send");
    eventually(&a, "alice has the first message", || async {
        group_texts(&a, &group).await.len() == 1
    })
    .await;

    // Alice links a second device: it gets her groups.
    let offer = a.link_device().await.expect("link offer");
    let dir = new_dir();
    link(&offer.uri, &dir).await.expect("join");
    let second = omega_core::Node::start(alice_config(&dir.data_dir))
        .await
        .expect("start the linked device");
    let a2 = second.handle();
    eventually(&a2, "the new device knows the group", || async {
        a2.group(&group).await.is_ok()
    })
    .await;
    eventually(&b, "bob sees two devices of alice", || async {
        device_count(&b, "alice").await == 2
    })
    .await;

    // Bob's next message reaches both of Alice's devices (his session key is shared with the
    // new device from now on); Alice's from her first device shows as hers on the second.
    let text = |body: &str| omega_core::kinds::Draft::Text {
        body: body.into(),
        mentions: Vec::new(),
    };
    b.group_send(&group, text("after the link"))
        .await
        .expect("send");
    a.group_send(&group, text("from alice's laptop"))
        .await
        .expect("send");
    eventually(&a2, "the new device reads the group", || async {
        let texts = group_texts(&a2, &group).await;
        texts.contains(&("in".into(), "after the link".into()))
            && texts.contains(&("out".into(), "from alice's laptop".into()))
    })
    .await;
    assert!(
        !group_texts(&a2, &group)
            .await
            .iter()
            .any(|(_, body)| body == "before the link"),
        "a new device reads only what follows its link"
    );
    // And it writes: Bob gets it.
    a2.group_send(&group, text("from alice's phone"))
        .await
        .expect("send");
    eventually(&b, "bob reads the new device", || async {
        group_texts(&b, &group)
            .await
            .contains(&("in".into(), "from alice's phone".into()))
    })
    .await;
    second.shutdown(&dir.data_dir).await;
}
