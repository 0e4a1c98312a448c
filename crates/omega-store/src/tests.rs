//! Store tests against a real SQLite file.

use super::*;

fn message(id: &str, peer: &[u8], direction: Direction, status: Status) -> NewMessage {
    NewMessage {
        message_id: id.to_owned(),
        peer_user: peer.to_vec(),
        direction,
        body: format!("body of {id}"),
        status,
        timestamp_ms: 1,
        meta: MessageMeta::default(),
    }
}

fn uuid_bytes(n: u8) -> Vec<u8> {
    let mut bytes = vec![0u8; 16];
    bytes[15] = n;
    bytes
}

fn session(id: &str) -> SessionRow {
    SessionRow {
        session_id: id.to_owned(),
        peer_curve25519: vec![9; 32],
        pickle: format!("pickle-{id}"),
    }
}

async fn open_temp() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("omega.db")).await.unwrap();
    (dir, store)
}

#[tokio::test]
async fn queued_message_and_outbox_survive_reopen() {
    let (dir, store) = open_temp().await;
    let id = uuid_text(&uuid_bytes(1)).unwrap();
    store
        .queue_message(
            &message(&id, b"bob", Direction::Out, Status::Queued),
            &[NewOutbox {
                message_id: uuid_bytes(1),
                peer_user: b"bob".to_vec(),
                peer_device: vec![9; 32],
                content: b"hello".to_vec(),
            }],
            10,
        )
        .await
        .unwrap();
    store.close().await;
    let store = Store::open(&dir.path().join("omega.db")).await.unwrap();
    let pending = store.pending_outbox().await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].content, b"hello");
    let messages = store.messages(Some(b"bob"), 10).await.unwrap();
    assert_eq!(messages[0].status, Status::Queued);
}

#[tokio::test]
async fn status_only_moves_forward() {
    let (_dir, store) = open_temp().await;
    let id = uuid_text(&uuid_bytes(2)).unwrap();
    let outbox = NewOutbox {
        message_id: uuid_bytes(2),
        peer_user: b"bob".to_vec(),
        peer_device: vec![9; 32],
        content: vec![1],
    };
    store
        .queue_message(
            &message(&id, b"bob", Direction::Out, Status::Queued),
            &[outbox],
            1,
        )
        .await
        .unwrap();
    let row = store.pending_outbox().await.unwrap().remove(0);
    // The delivery receipt overtakes the transport ack: status must stay delivered.
    let commit = InboundCommit {
        sender_user: b"bob".to_vec(),
        message_id: uuid_bytes(100),
        session: session("s1"),
        account_pickle: None,
        message: None,
        status_updates: vec![(uuid_bytes(2), Status::Delivered)],
        change: None,
        outbox: vec![],
    };
    let outcome = store.commit_inbound(&commit, 2).await.unwrap();
    assert!(matches!(outcome, InboundOutcome::Stored { ref changes, .. } if changes.len() == 1));
    let change = store.finish_outbox(&row, Status::Sent, 3).await.unwrap();
    assert_eq!(change, None);
    assert_eq!(
        store.message(&id).await.unwrap().unwrap().status,
        Status::Delivered
    );
    assert!(store.pending_outbox().await.unwrap().is_empty());
}

#[tokio::test]
async fn inbound_commit_is_idempotent_on_message_id() {
    let (_dir, store) = open_temp().await;
    let id = uuid_text(&uuid_bytes(3)).unwrap();
    let commit = InboundCommit {
        sender_user: b"alice".to_vec(),
        message_id: uuid_bytes(3),
        session: session("s1"),
        account_pickle: Some("account".into()),
        message: Some(message(&id, b"alice", Direction::In, Status::Delivered)),
        status_updates: vec![],
        change: None,
        outbox: vec![NewOutbox {
            message_id: uuid_bytes(4),
            peer_user: b"alice".to_vec(),
            peer_device: vec![1; 32],
            content: vec![2],
        }],
    };
    assert!(matches!(
        store.commit_inbound(&commit, 1).await.unwrap(),
        InboundOutcome::Stored { .. }
    ));
    assert_eq!(
        store.commit_inbound(&commit, 2).await.unwrap(),
        InboundOutcome::Duplicate
    );
    assert!(store.is_seen(b"alice", &uuid_bytes(3)).await.unwrap());
    assert_eq!(store.messages(None, 10).await.unwrap().len(), 1);
    assert_eq!(store.pending_outbox().await.unwrap().len(), 1);
    assert_eq!(store.sessions_for(&[9; 32]).await.unwrap().len(), 1);
}

#[tokio::test]
async fn mark_read_queues_receipts_once() {
    let (_dir, store) = open_temp().await;
    for n in 0..3u8 {
        let id = uuid_text(&uuid_bytes(n)).unwrap();
        let commit = InboundCommit {
            sender_user: b"alice".to_vec(),
            message_id: uuid_bytes(n),
            session: session("s1"),
            account_pickle: None,
            message: Some(message(&id, b"alice", Direction::In, Status::Delivered)),
            status_updates: vec![],
            change: None,
            outbox: vec![],
        };
        store.commit_inbound(&commit, 1).await.unwrap();
    }
    let receipt = |ids: &[String]| {
        vec![NewOutbox {
            message_id: uuid_bytes(200 + ids.len() as u8),
            peer_user: b"alice".to_vec(),
            peer_device: vec![1; 32],
            content: vec![],
        }]
    };
    assert_eq!(
        store.mark_read(b"alice", 5, receipt).await.unwrap().0.len(),
        3
    );
    assert_eq!(
        store.mark_read(b"alice", 6, receipt).await.unwrap().0.len(),
        0
    );
    assert_eq!(store.pending_outbox().await.unwrap().len(), 1);
}

#[tokio::test]
async fn sessions_are_ordered_by_last_use() {
    let (_dir, store) = open_temp().await;
    store.save_session(&session("a"), 1).await.unwrap();
    store.save_session(&session("b"), 2).await.unwrap();
    store.save_session(&session("a"), 3).await.unwrap();
    let ids: Vec<_> = store
        .sessions_for(&[9; 32])
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.session_id)
        .collect();
    assert_eq!(ids, ["a", "b"]);
}

#[tokio::test]
async fn contact_alias_conflict_is_a_clear_error() {
    let (_dir, store) = open_temp().await;
    let mut contact = ContactRow {
        user_key: vec![1; 32],
        user_id: "uid1".into(),
        alias: Some("bob".into()),
        name: "Bob".into(),
        device_list: vec![1],
        device_list_version: 1,
        addrs: vec!["/ip4/127.0.0.1/tcp/1".into()],
        mailboxes: vec![],
        verified: false,
        added_ms: 1,
    };
    store.upsert_contact(&contact).await.unwrap();
    contact.user_key = vec![2; 32];
    contact.user_id = "uid2".into();
    let error = store.upsert_contact(&contact).await.unwrap_err();
    assert!(matches!(error, StoreError::AliasTaken { .. }), "{error}");
    assert_eq!(
        store.find_contact("bob").await.unwrap().unwrap().user_id,
        "uid1"
    );
    assert_eq!(
        store.find_contact("uid1").await.unwrap().unwrap().name,
        "Bob"
    );
    assert!(store.find_contact("nobody").await.unwrap().is_none());
}

#[tokio::test]
async fn identity_is_created_once() {
    let (_dir, store) = open_temp().await;
    let identity = IdentityRow {
        user_key: vec![1; 32],
        name: "me".into(),
        account_pickle: "p".into(),
        device_list: vec![],
        created_ms: 1,
    };
    store.create_identity(&identity).await.unwrap();
    assert!(matches!(
        store.create_identity(&identity).await,
        Err(StoreError::IdentityExists)
    ));
    store.save_account("p2").await.unwrap();
    assert_eq!(
        store.identity().await.unwrap().unwrap().account_pickle,
        "p2"
    );
}

#[tokio::test]
async fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("omega.db");
    let store = Store::open(&path).await.unwrap();
    sqlx::query("PRAGMA user_version = 99")
        .execute(&store.pool)
        .await
        .unwrap();
    store.close().await;
    assert!(matches!(
        Store::open(&path).await,
        Err(StoreError::SchemaTooNew { found: 99, .. })
    ));
}

fn contact_row(key: u8, alias: &str) -> ContactRow {
    ContactRow {
        user_key: vec![key; 32],
        user_id: format!("uid{key}"),
        alias: Some(alias.into()),
        name: alias.to_uppercase(),
        device_list: vec![1],
        device_list_version: 1,
        addrs: vec![],
        mailboxes: vec![],
        verified: false,
        added_ms: 1,
    }
}

#[tokio::test]
async fn conversations_show_the_last_message_and_unread_incoming_count() {
    let (_dir, store) = open_temp().await;
    let (bob, carol, dave) = (
        contact_row(1, "bob"),
        contact_row(2, "carol"),
        contact_row(3, "dave"),
    );
    for contact in [&bob, &carol, &dave] {
        store.upsert_contact(contact).await.unwrap();
    }
    for n in 0..2u8 {
        let id = uuid_text(&uuid_bytes(n)).unwrap();
        let commit = InboundCommit {
            sender_user: bob.user_key.clone(),
            message_id: uuid_bytes(n),
            session: session("s1"),
            account_pickle: None,
            message: Some(message(
                &id,
                &bob.user_key,
                Direction::In,
                Status::Delivered,
            )),
            status_updates: vec![],
            change: None,
            outbox: vec![],
        };
        store.commit_inbound(&commit, 1).await.unwrap();
    }
    let out = uuid_text(&uuid_bytes(9)).unwrap();
    store
        .queue_message(
            &message(&out, &carol.user_key, Direction::Out, Status::Queued),
            &[],
            2,
        )
        .await
        .unwrap();

    let conversations = store.conversations().await.unwrap();
    let summary: Vec<_> = conversations
        .iter()
        .map(|conversation| {
            (
                conversation.contact.alias.clone().unwrap(),
                conversation
                    .last
                    .as_ref()
                    .map(|last| last.message_id.clone()),
                conversation.unread,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("carol".to_owned(), Some(out), 0),
            ("bob".to_owned(), uuid_text(&uuid_bytes(1)), 2),
            ("dave".to_owned(), None, 0),
        ]
    );

    store
        .mark_read(&bob.user_key, 3, |_| Vec::new())
        .await
        .unwrap();
    let bob_now = store
        .conversations()
        .await
        .unwrap()
        .into_iter()
        .find(|conversation| conversation.contact.user_key == bob.user_key)
        .unwrap();
    assert_eq!(bob_now.unread, 0);
    assert_eq!(bob_now.last.unwrap().direction, Direction::In);
}

#[tokio::test]
async fn search_finds_words_and_prefixes_ignoring_case_and_accents() {
    let (_dir, store) = open_temp().await;
    let texts = [
        (b"bob".as_slice(), "A reunião mudou para as 15h"),
        (b"bob".as_slice(), "Trago o bolo de chocolate"),
        (b"ana".as_slice(), "REUNIÃO cancelada, desculpa"),
        (b"ana".as_slice(), "quote \" star * NEAR(a b) -minus"),
    ];
    for (n, (peer, text)) in texts.iter().enumerate() {
        let mut new = message(
            &uuid_text(&uuid_bytes(u8::try_from(n).unwrap() + 1)).unwrap(),
            peer,
            Direction::Out,
            Status::Queued,
        );
        new.body = (*text).to_owned();
        store.queue_message(&new, &[], 5).await.unwrap();
    }
    let bodies = |rows: Vec<MessageRow>| -> Vec<String> {
        let mut bodies: Vec<String> = rows.into_iter().map(|row| row.body).collect();
        bodies.sort();
        bodies
    };
    assert_eq!(
        bodies(store.search("reuniao", None, 10).await.unwrap()),
        ["A reunião mudou para as 15h", "REUNIÃO cancelada, desculpa"]
    );
    assert_eq!(
        bodies(store.search("reun", Some(b"bob"), 10).await.unwrap()),
        ["A reunião mudou para as 15h"],
        "a prefix, in one conversation"
    );
    assert_eq!(
        bodies(store.search("bolo choc", None, 10).await.unwrap()),
        ["Trago o bolo de chocolate"],
        "every word must match"
    );
    assert!(
        store
            .search("bolo reunião", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // What would be FTS5 syntax is just text.
    for query in [
        "\"",
        "*",
        "NEAR(a b)",
        "-minus",
        "a OR b",
        "\"unterminated",
        "",
    ] {
        store.search(query, None, 10).await.unwrap();
    }
    assert_eq!(
        bodies(store.search("NEAR(a b) -minus", None, 10).await.unwrap()),
        ["quote \" star * NEAR(a b) -minus"]
    );
}

#[tokio::test]
async fn reactions_edits_and_deletes_apply_only_where_they_may() {
    let (_dir, store) = open_temp().await;
    let mine = uuid_text(&uuid_bytes(1)).unwrap();
    let theirs = uuid_text(&uuid_bytes(2)).unwrap();
    store
        .queue_message(
            &message(&mine, b"bob", Direction::Out, Status::Queued),
            &[],
            1,
        )
        .await
        .unwrap();
    let mut incoming = message(&theirs, b"bob", Direction::In, Status::Delivered);
    incoming.body = "segredo".into();
    store.queue_message(&incoming, &[], 1).await.unwrap();
    let change = |change: MessageChange| {
        let store = store.clone();
        async move {
            store
                .change_message(b"bob", &change, &[], 5)
                .await
                .unwrap()
                .0
        }
    };
    // One reaction per person; a second one replaces it; None takes it back.
    for emoji in ["👍", "❤️"] {
        let changed = change(MessageChange::React {
            target: theirs.clone(),
            by: "me".into(),
            emoji: Some(emoji.into()),
        })
        .await;
        assert_eq!(changed.as_deref(), Some(theirs.as_str()));
    }
    let row = store.message(&theirs).await.unwrap().unwrap();
    assert_eq!(
        row.reactions.as_deref(),
        Some(r#"[{"by":"me","emoji":"❤️"}]"#)
    );
    change(MessageChange::React {
        target: theirs.clone(),
        by: "me".into(),
        emoji: None,
    })
    .await;
    assert_eq!(
        store.message(&theirs).await.unwrap().unwrap().reactions,
        None
    );
    // Only the author edits or deletes.
    let not_mine = change(MessageChange::Edit {
        target: theirs.clone(),
        author: Direction::Out,
        body: "forged".into(),
        extra: None,
    })
    .await;
    assert_eq!(not_mine, None);
    assert_eq!(
        store.message(&theirs).await.unwrap().unwrap().body,
        "segredo"
    );
    let edited = change(MessageChange::Edit {
        target: mine.clone(),
        author: Direction::Out,
        body: "corrigido".into(),
        extra: None,
    })
    .await;
    assert_eq!(edited.as_deref(), Some(mine.as_str()));
    let row = store.message(&mine).await.unwrap().unwrap();
    assert_eq!((row.body.as_str(), row.edited_ms), ("corrigido", Some(5)));
    // Deleted for everyone: the text leaves the row and the search index.
    assert_eq!(store.search("segredo", None, 10).await.unwrap().len(), 1);
    change(MessageChange::Delete {
        target: theirs.clone(),
        author: Direction::In,
    })
    .await;
    let row = store.message(&theirs).await.unwrap().unwrap();
    assert!(row.deleted);
    assert_eq!(row.body, "");
    assert!(store.search("segredo", None, 10).await.unwrap().is_empty());
    // Nothing to edit: nothing changes, nothing is queued.
    let (changed, queued) = store
        .change_message(
            b"bob",
            &MessageChange::Edit {
                target: theirs.clone(),
                author: Direction::In,
                body: "after delete".into(),
                extra: None,
            },
            &[NewOutbox {
                message_id: uuid_bytes(9),
                peer_user: b"bob".to_vec(),
                peer_device: vec![1; 32],
                content: vec![1],
            }],
            6,
        )
        .await
        .unwrap();
    assert_eq!((changed, queued.len()), (None, 0));
}

#[tokio::test]
async fn expired_disappearing_messages_are_erased_with_their_search_entries() {
    let (_dir, store) = open_temp().await;
    for (n, expires) in [(1u8, Some(1_000)), (2, Some(5_000)), (3, None)] {
        let mut new = message(
            &uuid_text(&uuid_bytes(n)).unwrap(),
            b"bob",
            Direction::In,
            Status::Delivered,
        );
        new.body = format!("efemera {n}");
        new.meta.expires_at_ms = expires;
        store.queue_message(&new, &[], 1).await.unwrap();
    }
    assert!(store.erase_expired(999).await.unwrap().is_empty());
    let erased = store.erase_expired(1_000).await.unwrap();
    assert_eq!(
        erased,
        [(b"bob".to_vec(), uuid_text(&uuid_bytes(1)).unwrap())]
    );
    assert_eq!(store.search("efemera", None, 10).await.unwrap().len(), 2);
    store.erase_expired(10_000).await.unwrap();
    let left = store.messages(None, 10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].body, "efemera 3");
    assert_eq!(store.search("efemera", None, 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_received_file_row_keeps_its_state_and_goes_with_its_message() {
    let (_dir, store) = open_temp().await;
    let id = uuid_text(&uuid_bytes(7)).unwrap();
    let mut new = message(&id, b"bob", Direction::In, Status::Delivered);
    new.meta.kind = MessageKind::File;
    new.meta.expires_at_ms = Some(50);
    store.queue_message(&new, &[], 10).await.unwrap();
    let file = FileRow {
        message_id: id.clone(),
        manifest: zeroize::Zeroizing::new(vec![1, 2, 3]),
        sources: vec!["/ip4/127.0.0.1/tcp/1".to_owned()],
        state: "available".to_owned(),
        path: None,
        error: None,
    };
    store.put_file(&file, 10).await.unwrap();
    let mut other = file.clone();
    other.manifest = zeroize::Zeroizing::new(vec![9]);
    store.put_file(&other, 11).await.unwrap();
    assert_eq!(
        store.file(&id).await.unwrap(),
        Some(file.clone()),
        "first kept"
    );
    assert!(
        !format!("{file:?}").contains("[1, 2, 3]"),
        "no manifest in Debug"
    );
    store
        .set_file_state(&id, "done", Some("/tmp/x"), None, 20)
        .await
        .unwrap();
    let done = store.file(&id).await.unwrap().unwrap();
    assert_eq!(
        (done.state.as_str(), done.path.as_deref()),
        ("done", Some("/tmp/x"))
    );
    assert_eq!(
        store.messages(None, 10).await.unwrap()[0].meta.kind,
        MessageKind::File
    );
    store.erase_expired(100).await.unwrap();
    assert_eq!(
        store.file(&id).await.unwrap(),
        None,
        "erased with its message"
    );
}
