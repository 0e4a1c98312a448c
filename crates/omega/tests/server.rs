//! `omega server` with real nodes: offline recipients reach their messages through the mailbox,
//! sessions start from the prekey directory, and a crashing server loses nothing it acknowledged.

mod common;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::common::{
    Process, agent, api, free_port, init, server_addr, start_node, start_server, wait_for,
};

fn server_depth(server: &Process) -> u64 {
    let url = format!("http://{}/health", server.started["http"].as_str().unwrap());
    let mut response = agent().get(&url).call().unwrap();
    let health: Value = response.body_mut().read_json().unwrap();
    health["store"]["depth"].as_u64().expect("depth")
}

fn incoming(dir: &Path, with: &str) -> Vec<String> {
    api(
        dir,
        "GET",
        &format!("/v1/messages?with={with}&limit=100000"),
        None,
    )
    .as_array()
    .unwrap()
    .iter()
    .filter(|m| m["direction"] == "in")
    .map(|m| m["text"].as_str().unwrap().to_owned())
    .collect()
}

fn statuses(dir: &Path, with: &str) -> Vec<String> {
    api(
        dir,
        "GET",
        &format!("/v1/messages?with={with}&limit=100000"),
        None,
    )
    .as_array()
    .unwrap()
    .iter()
    .filter(|m| m["direction"] == "out")
    .map(|m| m["status"].as_str().unwrap().to_owned())
    .collect()
}

/// What the server stores reveals neither the sender nor the exact size: every deposit is a
/// sealed envelope padded to a bucket, not an envelope.
fn assert_deposits_are_sealed(db: &Path) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let deposits: Vec<Vec<u8>> = runtime.block_on(async {
        use sqlx::{Connection, Row};
        let mut connection = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        sqlx::query("SELECT envelope FROM mailbox")
            .fetch_all(&mut connection)
            .await
            .unwrap()
            .iter()
            .map(|row| row.get::<Vec<u8>, _>(0))
            .collect()
    });
    assert!(!deposits.is_empty());
    let sizes: std::collections::BTreeSet<usize> = deposits.iter().map(Vec::len).collect();
    for deposit in &deposits {
        assert!(
            omega_proto::decode_envelope(deposit).is_err(),
            "a plain envelope was stored"
        );
        let sealed = omega_proto::decode_sealed_envelope(deposit).expect("a sealed envelope");
        let padded = sealed.ciphertext.len() - 16;
        assert!(
            omega_crypto::sealed::BUCKETS.contains(&padded),
            "padded to a bucket, got {padded}"
        );
    }
    assert_eq!(
        sizes.len(),
        1,
        "pre-key and later messages look the same size: {sizes:?}"
    );
}

/// Alice and Bob know each other's cards (with the server as home mailbox); Bob has published
/// his device list and prekeys, then goes offline. Returns (alice dir, bob dir, bob port).
fn pair_with_bob_offline(root: &Path, server: &str) -> (PathBuf, Process, PathBuf, u16) {
    let alice = init(root, "alice");
    let bob = init(root, "bob");
    let bob_port = free_port();
    let alice_node = start_node(&alice, 0, server);
    let bob_node = start_node(&bob, bob_port, server);
    wait_for("bob's first mailbox sync", || {
        api(&bob, "GET", "/v1/stats", None)["mailbox_syncs"].as_u64() >= Some(1)
    });
    let bob_card = bob_node.started["card"].as_str().unwrap().to_owned();
    let alice_card = alice_node.started["card"].as_str().unwrap().to_owned();
    api(
        &alice,
        "POST",
        "/v1/contacts",
        Some(json!({"card": bob_card, "alias": "bob"})),
    );
    api(
        &bob,
        "POST",
        "/v1/contacts",
        Some(json!({"card": alice_card, "alias": "alice"})),
    );
    bob_node.kill_9();
    (alice, alice_node, bob, bob_port)
}

#[test]
fn offline_recipient_gets_1000_messages_through_the_mailbox_once_each_in_order() {
    let root = tempfile::tempdir().unwrap();
    let server = start_server(&root.path().join("server"), 0);
    let addr = server_addr(&server);
    let (alice, _alice_node, bob, bob_port) = pair_with_bob_offline(root.path(), &addr);

    // Alice never talked to Bob: the session starts from a one-time key of the directory.
    let count = 1000;
    for n in 0..count {
        api(
            &alice,
            "POST",
            "/v1/messages",
            Some(json!({"to": "bob", "text": format!("m{n}")})),
        );
    }
    wait_for("every message deposited", || {
        let statuses = statuses(&alice, "bob");
        statuses.len() == count && statuses.iter().all(|s| s != "queued")
    });
    assert!(
        statuses(&alice, "bob").iter().all(|s| s == "sent"),
        "sent = stored by the mailbox"
    );
    assert_eq!(server_depth(&server), count as u64);
    assert_deposits_are_sealed(&root.path().join("server").join("server.db"));

    let _bob_node = start_node(&bob, bob_port, &addr);
    wait_for("bob received everything", || {
        incoming(&bob, "alice").len() >= count
    });
    let expected: Vec<String> = (0..count).map(|n| format!("m{n}")).collect();
    assert_eq!(incoming(&bob, "alice"), expected, "exactly once, in order");
    wait_for("the mailbox is emptied by acks", || {
        server_depth(&server) == 0
    });
    wait_for("delivery receipts reach alice", || {
        statuses(&alice, "bob").iter().all(|s| s == "delivered")
    });
}

#[test]
fn server_killed_20_times_during_deposits_loses_nothing_it_acknowledged() {
    let root = tempfile::tempdir().unwrap();
    let server_dir = root.path().join("server");
    let server_port = free_port();
    let mut server = start_server(&server_dir, server_port);
    let addr = server_addr(&server);
    let (alice, _alice_node, bob, bob_port) = pair_with_bob_offline(root.path(), &addr);

    let mut sent_total = 0;
    for round in 0..20 {
        for n in 0..10 {
            api(
                &alice,
                "POST",
                "/v1/messages",
                Some(json!({"to": "bob", "text": format!("r{round}m{n}")})),
            );
        }
        sent_total += 10;
        // Kill as soon as part of the burst is acknowledged.
        wait_for("some deposits", || {
            statuses(&alice, "bob")
                .iter()
                .filter(|s| *s == "sent")
                .count()
                > sent_total - 10
        });
        server.kill_9();
        let acknowledged = statuses(&alice, "bob")
            .iter()
            .filter(|s| *s == "sent")
            .count() as u64;
        server = start_server(&server_dir, server_port);
        let depth = server_depth(&server);
        assert!(
            depth >= acknowledged,
            "round {round}: the server acknowledged {acknowledged} deposits but holds {depth}"
        );
    }
    wait_for("every message deposited", || {
        statuses(&alice, "bob").iter().all(|s| s == "sent")
    });
    let _bob_node = start_node(&bob, bob_port, &addr);
    wait_for("bob received everything", || {
        incoming(&bob, "alice").len() >= sent_total
    });
    let mut got = incoming(&bob, "alice");
    assert_eq!(got.len(), sent_total, "nothing twice");
    got.sort();
    got.dedup();
    assert_eq!(got.len(), sent_total, "nothing lost");
}

#[test]
fn nodes_that_only_know_the_server_find_each_other_through_the_dht_and_talk_directly() {
    let root = tempfile::tempdir().unwrap();
    let server = start_server(&root.path().join("server"), 0);
    let addr = server_addr(&server);
    let alice = init(root.path(), "alice");
    let bob = init(root.path(), "bob");

    // Bob's card comes from an earlier run; he now listens on another port.
    let first = start_node(&bob, 0, &addr);
    let stale_card = first.started["card"].as_str().unwrap().to_owned();
    first.kill_9();
    let _bob_node = start_node(&bob, 0, &addr);
    wait_for("bob's peer record in the DHT", || {
        api(&bob, "GET", "/v1/stats", None)["records_published"].as_u64() >= Some(1)
    });

    let _alice_node = start_node(&alice, 0, &addr);
    api(
        &alice,
        "POST",
        "/v1/contacts",
        Some(json!({"card": stale_card, "alias": "bob"})),
    );
    let stale_addrs = api(&alice, "GET", "/v1/contacts/bob", None)["addrs"].clone();
    let sent = api(
        &alice,
        "POST",
        "/v1/messages",
        Some(json!({"to": "bob", "text": "via the DHT"})),
    );
    let id = sent["message_id"].as_str().unwrap();
    let reached = api(
        &alice,
        "GET",
        &format!("/v1/messages/{id}?wait=delivered&timeout_ms=60000"),
        None,
    );
    assert_eq!(reached["status"], "delivered", "{reached}");
    let stats = api(&alice, "GET", "/v1/stats", None);
    assert_eq!(
        stats["mailbox_deposits"], 0,
        "delivered directly, not through the mailbox: {stats}"
    );
    assert_eq!(server_depth(&server), 0);
    // Alice keeps Bob's current addresses (from his record or from identify) for next time.
    let bob_addrs = api(&bob, "GET", "/v1/id", None)["addrs"].clone();
    wait_for("alice remembering bob's new addresses", || {
        let known = api(&alice, "GET", "/v1/contacts/bob", None)["addrs"].clone();
        known != stale_addrs
            && known
                .as_array()
                .unwrap()
                .iter()
                .any(|addr| bob_addrs.as_array().unwrap().contains(addr))
    });
}
