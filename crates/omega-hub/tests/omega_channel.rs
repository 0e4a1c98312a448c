//! Ômega as a channel: a customer's real Ômega node writes to the business's embedded node and
//! the message lands in the inbox (with a lead); an agent's reply reaches the customer's node.

mod common;

use std::time::{Duration, Instant};

use common::{Backend, TestHub};
use omega_core::{DataDir, Node, NodeConfig};
use omega_hub::tenancy::Plan;
use serde_json::json;
use zeroize::Zeroizing;

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn omega_contacts_share_the_inbox_end_to_end(backend: Backend) {
    let Some(hub) = TestHub::start(backend, "") else {
        return;
    };
    hub.tenant("acme", Plan::Pro);
    let owner = hub.owner_token("acme");
    let channel = hub.channel(&owner, json!({ "kind": "omega", "name": "Acme Store" }));
    let card = channel["omega_card"]
        .as_str()
        .expect("the business card")
        .to_owned();
    assert!(card.starts_with("omega:"), "{card}");
    // No webhook reaches an Ômega channel.
    hub.raw(
        "POST",
        channel["webhook_path"].as_str().unwrap(),
        None,
        Some("{}"),
        &[(
            "X-Omega-Webhook-Token",
            channel["webhook_token"].as_str().unwrap(),
        )],
    )
    .refused(401, "webhook_unauthorized");

    // A customer with their own node adds the business and writes.
    let dir = tempfile::tempdir().unwrap();
    let data_dir = DataDir::new(dir.path().join("customer"));
    let passphrase = b"customer passphrase";
    let customer = hub.runtime.block_on(async {
        data_dir
            .init("Maria", passphrase, 1_795_521_600_000)
            .await
            .unwrap();
        let mut config = NodeConfig::new(data_dir.clone(), Zeroizing::new(passphrase.to_vec()));
        config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
        let node = Node::start(config).await.unwrap();
        let handle = node.handle();
        handle.add_contact(&card, Some("acme")).await.unwrap();
        handle
            .send_text(
                "acme",
                "Oi! Quanto custa a cesta de café? Quero 2 para hoje",
            )
            .await
            .unwrap();
        node
    });
    let customer_id = customer.handle().info().user_id;

    wait_until("the customer's message in the inbox", || {
        hub.conversations(&owner)
            .iter()
            .any(|c| c["chat"] == format!("omega:{customer_id}"))
    });
    let conversation = hub
        .conversations(&owner)
        .into_iter()
        .find(|c| c["chat"] == format!("omega:{customer_id}"))
        .unwrap();
    let id = conversation["id"].as_str().unwrap().to_owned();
    let stored = hub.messages(&owner, &id);
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(
        stored[0]["text"],
        "Oi! Quanto custa a cesta de café? Quero 2 para hoje"
    );
    wait_until("a lead", || {
        hub.call("GET", "/api/v1/leads", Some(&owner), None).body[0]["score"]
            .as_i64()
            .is_some_and(|score| score > 20)
    });

    // The agent answers from the inbox; the customer's node gets it.
    let answer = hub.raw(
        "POST",
        &format!("/api/v1/conversations/{id}/messages"),
        Some(&owner),
        Some(&json!({ "text": "Custa R$ 89,90. Separo duas?" }).to_string()),
        &[("Idempotency-Key", "omega-1")],
    );
    assert_eq!(answer.status, 202, "{answer:?}");
    let handle = customer.handle();
    wait_until("the reply at the customer", || {
        hub.runtime
            .block_on(handle.messages(Some("acme"), 100))
            .unwrap()
            .iter()
            .any(|m| m.direction == "in" && m.text == "Custa R$ 89,90. Separo duas?")
    });
    wait_until("the reply delivered", || {
        hub.messages(&owner, &id).iter().any(|m| {
            m["direction"] == "out" && (m["status"] == "delivered" || m["status"] == "read")
        })
    });
    hub.runtime.block_on(customer.shutdown(&data_dir));
}

on_both!(omega_contacts_share_the_inbox_end_to_end);
