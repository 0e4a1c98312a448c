//! `omega chat` against two real nodes: started in this process with their real local HTTP API and
//! libp2p on loopback. Alice's [`App`] is driven by key presses and fed by the real event stream
//! through [`source::spawn_events`]; frames are rendered to ratatui's `TestBackend`, no terminal.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use omega_core::{DataDir, MessageView, Node, NodeConfig};
use ratatui::crossterm::event::KeyCode;
use serde_json::json;
use zeroize::Zeroizing;

use super::app::tests::{key, type_text};
use super::app::{App, Connection, Update};
use super::perform;
use super::source::{self, NodeSource};
use super::ui::tests::{render, screen};
use crate::client::Client;

/// Generous: a loaded CI machine may be slow; the tests return as soon as the thing happened.
const DEADLINE: Duration = Duration::from_secs(90);

fn start_node(
    runtime: &tokio::runtime::Runtime,
    root: &std::path::Path,
    name: &str,
) -> (DataDir, Node) {
    runtime.block_on(async {
        let data_dir = DataDir::new(root.join(name));
        let passphrase = Zeroizing::new(b"chat test passphrase".to_vec());
        data_dir.init(name, &passphrase, 0).await.unwrap();
        let mut config = NodeConfig::new(data_dir.clone(), passphrase);
        config.api = Some("127.0.0.1:0".parse().unwrap());
        config.outbox.base_backoff = Duration::from_millis(20);
        let node = Node::start(config).await.unwrap();
        (data_dir, node)
    })
}

/// Feeds Alice's app with the event stream (and performs what it asks) until `done` holds.
fn pump_until(
    app: &mut App,
    source: &mut NodeSource,
    updates: &Receiver<Update>,
    what: &str,
    done: impl Fn(&App) -> bool,
) {
    let deadline = Instant::now() + DEADLINE;
    while !done(app) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; the app shows:\n{}",
            screen(&render(app, 100, 30))
        );
        if let Ok(update) = updates.recv_timeout(Duration::from_millis(100)) {
            let actions = app.apply(update);
            assert!(perform(app, source, actions));
        }
    }
}

/// Polls a node's API until `done` holds for the conversation `with`.
fn wait_for_messages(
    client: &Client,
    with: &str,
    what: &str,
    done: impl Fn(&[MessageView]) -> bool,
) -> Vec<MessageView> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let messages: Vec<MessageView> = client
            .get(&format!(
                "/v1/messages?with={}",
                crate::client::segment(with)
            ))
            .unwrap();
        if done(&messages) {
            return messages;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {messages:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn status_of(app: &App, text: &str) -> Option<String> {
    app.selected()?
        .messages
        .iter()
        .find(|message| message.text == text)
        .map(|message| message.status.clone())
}

#[test]
fn chat_sends_through_the_node_shows_the_reply_live_and_ticks_move_to_delivered() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let root = tempfile::tempdir().unwrap();
    let (alice_dir, alice) = start_node(&runtime, root.path(), "alice");
    let (bob_dir, bob) = start_node(&runtime, root.path(), "bob");
    let (a, b) = (alice.handle(), bob.handle());
    runtime.block_on(async {
        a.add_contact(&b.info().card, Some("bob")).await.unwrap();
        b.add_contact(&a.info().card, Some("alice")).await.unwrap();
    });

    // Alice opens `omega chat --with bob`.
    let mut source = NodeSource::connect(&alice_dir).unwrap();
    let mut app = App::new(Some("bob".into()));
    let mut actions = Vec::new();
    for update in source.load().unwrap() {
        actions.extend(app.apply(update));
    }
    assert!(perform(&mut app, &mut source, actions));
    assert_eq!(app.me(), "alice");
    assert_eq!(app.selected().unwrap().title(), "bob");
    let (sender, updates) = mpsc::sync_channel(1024);
    let stop = Arc::new(AtomicBool::new(false));
    let _reader = source::spawn_events(alice_dir.clone(), sender, stop.clone()).unwrap();
    pump_until(&mut app, &mut source, &updates, "the event stream", |app| {
        *app.connection() == Connection::Live
    });

    // She types and presses Enter: the message goes through her node to Bob's.
    type_text(&mut app, "hello bob");
    let actions = app.handle_key(key(KeyCode::Enter));
    assert!(perform(&mut app, &mut source, actions));
    assert!(status_of(&app, "hello bob").is_some(), "shown once queued");
    let bob_api = Client::connect(&bob_dir).unwrap();
    let alice_id = a.info().user_id;
    wait_for_messages(
        &bob_api,
        &alice_id,
        "Alice's message at Bob's node",
        |messages| {
            messages
                .iter()
                .any(|m| m.direction == "in" && m.text == "hello bob")
        },
    );

    // Bob answers, with an escape sequence that would clear a real screen.
    let reply: MessageView = bob_api
        .post(
            "/v1/messages",
            &json!({"to": "alice", "text": "hi alice\u{1b}[2J, welcome"}),
        )
        .unwrap();
    pump_until(
        &mut app,
        &mut source,
        &updates,
        "Bob's reply and the delivered tick",
        |app| {
            status_of(app, "hi alice\u{1b}[2J, welcome").is_some()
                && status_of(app, "hello bob").as_deref() == Some("delivered")
        },
    );
    let buffer = render(&app, 100, 30);
    let shown = screen(&buffer);
    assert!(shown.contains("hi alice, welcome"), "{shown}");
    assert!(shown.contains("hello bob ✓✓"), "{shown}");
    assert!(
        buffer
            .content()
            .iter()
            .all(|cell| !cell.symbol().contains('\u{1b}')),
        "{shown}"
    );
    assert_eq!(
        app.selected().unwrap().unread(),
        0,
        "the open conversation is read"
    );

    // The reply arrived in the open conversation, so Alice's node sent a read receipt.
    wait_for_messages(
        &bob_api,
        &alice_id,
        "Alice's read receipt at Bob's node",
        |messages| {
            messages
                .iter()
                .any(|m| m.message_id == reply.message_id && m.status == "read")
        },
    );

    stop.store(true, Ordering::Relaxed);
    // Alice's node stops abruptly: a graceful stop waits for open event streams to end, and the
    // reader notices `stop` only at the next keep-alive (15 s).
    drop(alice);
    runtime.block_on(bob.shutdown(&bob_dir));
}
