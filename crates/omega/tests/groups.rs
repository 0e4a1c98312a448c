//! `omega group` with real processes and a real server: a group made on the command line, a
//! member offline while two others send gets everything from its mailbox once back (even with
//! the senders gone), and garbage commands fail with a clear message.

mod common;

use std::path::Path;

use serde_json::{Value, json};

use crate::common::{
    Process, api, free_port, init, omega, server_addr, start_node, start_server, wait_for,
};

/// Runs `omega group ARGS --json` on `dir`'s node; the parsed output, or the error text.
fn group(dir: &Path, args: &[&str]) -> Result<Value, String> {
    let output = omega(dir)
        .arg("--json")
        .arg("group")
        .args(args)
        .output()
        .expect("run omega group");
    if output.status.success() {
        let text = String::from_utf8_lossy(&output.stdout);
        Ok(serde_json::from_str(text.trim()).unwrap_or_else(|_| panic!("not json: {text}")))
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

fn group_texts(dir: &Path) -> Vec<String> {
    group(dir, &["messages", "friends"])
        .expect("messages")
        .as_array()
        .expect("array")
        .iter()
        .map(|message| message["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn add_contact(dir: &Path, card: &str, alias: &str) {
    api(
        dir,
        "POST",
        "/v1/contacts",
        Some(json!({"card": card, "alias": alias})),
    );
}

#[test]
fn a_member_offline_while_others_send_gets_the_group_messages_from_its_mailbox() {
    let root = tempfile::tempdir().unwrap();
    let server = start_server(&root.path().join("server"), 0);
    let server = server_addr(&server).to_owned();
    let alice = init(root.path(), "alice");
    let bob = init(root.path(), "bob");
    let carol = init(root.path(), "carol");
    let carol_port = free_port();
    let alice_node = start_node(&alice, 0, &server);
    let bob_node = start_node(&bob, 0, &server);
    let carol_node = start_node(&carol, carol_port, &server);
    for dir in [&alice, &bob, &carol] {
        wait_for("a first mailbox sync", || {
            api(dir, "GET", "/v1/stats", None)["mailbox_syncs"].as_u64() >= Some(1)
        });
    }
    let card = |process: &Process| process.started["card"].as_str().unwrap().to_owned();
    add_contact(&alice, &card(&bob_node), "bob");
    add_contact(&alice, &card(&carol_node), "carol");
    add_contact(&bob, &card(&alice_node), "alice");
    add_contact(&carol, &card(&alice_node), "alice");

    let created = group(&alice, &["create", "friends", "--members", "bob,carol"]).expect("create");
    assert_eq!(created["members"].as_array().unwrap().len(), 3);
    for dir in [&bob, &carol] {
        wait_for("the members learn the group", || {
            group(dir, &["show", "friends"])
                .is_ok_and(|view| view["members"].as_array().map_or(0, Vec::len) == 3)
        });
    }
    group(&alice, &["send", "friends", "hello all"]).expect("send");
    for dir in [&bob, &carol] {
        wait_for("the first message", || {
            group_texts(dir).contains(&"hello all".to_owned())
        });
    }

    // Carol goes away; Alice and Bob write; then they go away too.
    carol_node.kill_9();
    let mut sent = Vec::new();
    for n in 0..3 {
        let text = format!("alice while carol is away {n}");
        group(&alice, &["send", "friends", &text]).expect("send");
        sent.push(text);
    }
    let text = "bob while carol is away".to_owned();
    group(&bob, &["send", "friends", &text]).expect("send");
    sent.push(text);
    for dir in [&alice, &bob] {
        wait_for("the messages for carol are in her mailbox", || {
            api(dir, "GET", "/v1/stats", None)["mailbox_deposits"].as_u64() >= Some(1)
        });
    }
    wait_for("bob has alice's messages", || {
        let texts = group_texts(&bob);
        sent[..3].iter().all(|text| texts.contains(text))
    });
    alice_node.kill_9();
    bob_node.kill_9();

    let _carol_node = start_node(&carol, carol_port, &server);
    wait_for("carol has every message from her mailbox", || {
        let texts = group_texts(&carol);
        sent.iter().all(|text| texts.contains(text))
    });
    let texts = group_texts(&carol);
    for text in &sent {
        assert_eq!(
            texts.iter().filter(|t| *t == text).count(),
            1,
            "{text} not once"
        );
    }
    let messages = group(&carol, &["messages", "friends"]).expect("messages");
    let from_bob = messages
        .as_array()
        .unwrap()
        .iter()
        .find(|message| message["text"] == "bob while carol is away")
        .expect("bob's message");
    assert_eq!(from_bob["from"], bob_node_user(&bob));
    assert_eq!(from_bob["group"], created["group_id"]);
}

fn bob_node_user(dir: &Path) -> Value {
    let public: Value =
        serde_json::from_slice(&std::fs::read(dir.join("public.json")).unwrap()).unwrap();
    public["user_id"].clone()
}

#[test]
fn garbage_group_commands_fail_with_a_clear_message() {
    let root = tempfile::tempdir().unwrap();
    let alice = init(root.path(), "alice");
    let bob = init(root.path(), "bob");
    let _alice_node = start_node_alone(&alice);
    let bob_node = start_node_alone(&bob);
    add_contact(&alice, bob_node.started["card"].as_str().unwrap(), "bob");
    for (args, expected) in [
        (vec!["send", "nosuch", "hi"], "no group named"),
        (vec!["show", "nosuch"], "no group named"),
        (vec!["create", "", "--members", "bob"], "name"),
        (
            vec!["create", "club", "--members", "stranger"],
            "no contact named",
        ),
    ] {
        let error = group(&alice, &args).expect_err("refused");
        assert!(error.contains(expected), "{args:?}: {error}");
    }
    group(&alice, &["create", "club", "--members", "bob"]).expect("create");
    for (args, expected) in [
        (vec!["promote", "club", "bob", "--role", "emperor"], "role"),
        (vec!["add", "club", "bob"], "not allowed"),
        (vec!["remove", "club", "nobody"], "no contact named"),
        (vec!["messages", "club", "--limit", "0"], "not in"),
    ] {
        let error = group(&alice, &args).expect_err("refused");
        assert!(error.contains(expected), "{args:?}: {error}");
    }
    // Nothing was lost: the group is intact.
    let view = group(&alice, &["show", "club"]).expect("show");
    assert_eq!(view["members"].as_array().unwrap().len(), 2);
}

fn start_node_alone(dir: &Path) -> Process {
    let mut command = omega(dir);
    command.args([
        "--json",
        "node",
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--no-mdns",
    ]);
    Process::spawn(command)
}

/// Runs a plain `omega ARGS --json` command on `dir`'s node.
fn cli(dir: &Path, args: &[&str]) -> Result<Value, String> {
    let output = omega(dir)
        .arg("--json")
        .args(args)
        .output()
        .expect("run omega");
    if output.status.success() {
        Ok(serde_json::from_slice(&output.stdout).expect("json"))
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

fn group_message(dir: &Path, id: &str) -> Option<Value> {
    group(dir, &["messages", "club"])
        .expect("messages")
        .as_array()
        .unwrap()
        .iter()
        .find(|message| message["message_id"] == id)
        .cloned()
}

#[test]
fn reactions_edits_and_deletes_travel_in_a_group_and_only_authors_edit() {
    let root = tempfile::tempdir().unwrap();
    let alice = init(root.path(), "alice");
    let bob = init(root.path(), "bob");
    let alice_node = start_node_alone(&alice);
    let bob_node = start_node_alone(&bob);
    add_contact(&alice, bob_node.started["card"].as_str().unwrap(), "bob");
    add_contact(&bob, alice_node.started["card"].as_str().unwrap(), "alice");
    group(&alice, &["create", "club", "--members", "bob"]).expect("create");
    wait_for("bob learns the group", || {
        group(&bob, &["show", "club"]).is_ok()
    });

    let sent = group(&alice, &["send", "club", "primeira versão"]).expect("send");
    let id = sent["message_id"].as_str().unwrap().to_owned();
    wait_for("bob has the message", || group_message(&bob, &id).is_some());

    // Bob reacts: Alice sees it. Bob may not edit or delete Alice's message.
    cli(&bob, &["react", &id, "🎉"]).expect("react");
    wait_for("alice sees the reaction", || {
        group_message(&alice, &id).is_some_and(|m| m["reactions"][0]["emoji"] == "🎉")
    });
    let refused = cli(&bob, &["edit", &id, "not yours"]).expect_err("refused");
    assert!(refused.contains("only your own"), "{refused}");
    let refused = cli(&bob, &["delete", &id]).expect_err("refused");
    assert!(refused.contains("only your own"), "{refused}");

    // Alice edits, then deletes for everyone.
    cli(&alice, &["edit", &id, "versão corrigida"]).expect("edit");
    wait_for("bob sees the edit", || {
        group_message(&bob, &id)
            .is_some_and(|m| m["text"] == "versão corrigida" && m["edited_at"].is_i64())
    });
    cli(&alice, &["delete", &id]).expect("delete");
    wait_for("bob sees the delete", || {
        group_message(&bob, &id).is_some_and(|m| m["deleted"] == true && m["text"] == "")
    });
}

#[test]
fn a_group_timer_erases_its_messages_on_every_member() {
    let root = tempfile::tempdir().unwrap();
    let alice = init(root.path(), "alice");
    let bob = init(root.path(), "bob");
    let alice_node = start_node_alone(&alice);
    let bob_node = start_node_alone(&bob);
    add_contact(&alice, bob_node.started["card"].as_str().unwrap(), "bob");
    add_contact(&bob, alice_node.started["card"].as_str().unwrap(), "alice");
    group(&alice, &["create", "club", "--members", "bob"]).expect("create");
    wait_for("bob learns the group", || {
        group(&bob, &["show", "club"]).is_ok()
    });
    let error = group(&alice, &["timer", "club", "forever"]).expect_err("refused");
    assert!(!error.is_empty());

    let line = group(&alice, &["timer", "club", "2s"]).expect("timer");
    assert_eq!(line["kind"], "timer");
    wait_for("bob sees the timer line", || {
        group(&bob, &["messages", "club"])
            .expect("messages")
            .as_array()
            .unwrap()
            .iter()
            .any(|message| message["kind"] == "timer" && message["timer_ms"] == 2000)
    });
    // Bob's message after the timer disappears too: the timer is the group's, not Alice's.
    let sent = group(&bob, &["send", "club", "isto some"]).expect("send");
    let id = sent["message_id"].as_str().unwrap().to_owned();
    assert!(sent["expires_at"].is_i64(), "{sent}");
    wait_for("alice has it", || group_message(&alice, &id).is_some());
    wait_for("it is erased on both sides", || {
        group_message(&alice, &id).is_none() && group_message(&bob, &id).is_none()
    });
    group(&alice, &["timer", "club", "off"]).expect("off");
    let kept = group(&alice, &["send", "club", "isto fica"]).expect("send");
    assert!(kept["expires_at"].is_null(), "{kept}");
}
