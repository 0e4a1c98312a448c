//! LAN mode: two nodes with mDNS and no server find each other even when the addresses in their
//! cards are stale, and chat.

mod common;

use std::net::{Ipv4Addr, UdpSocket};
use std::time::Duration;

use common::Identity;
use omega_store::Status;

/// The IPv4 address multicast leaves from, or why mDNS cannot be exercised on this machine.
fn multicast_source() -> Result<Ipv4Addr, String> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).map_err(|error| error.to_string())?;
    socket
        .connect((Ipv4Addr::new(224, 0, 0, 251), 5353))
        .map_err(|error| format!("no multicast route: {error}"))?;
    match socket.local_addr().map_err(|error| error.to_string())?.ip() {
        std::net::IpAddr::V4(ip) if !ip.is_loopback() && !ip.is_unspecified() => Ok(ip),
        other => Err(format!(
            "multicast would leave from {other}, which mDNS ignores"
        )),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lan_nodes_find_each_other_by_mdns_with_stale_cards_and_no_server() {
    if let Err(why) = multicast_source() {
        eprintln!("skipping the LAN test: {why}");
        return;
    }
    let alice = Identity::create("alice").await;
    let bob = Identity::create("bob").await;

    // Bob's card is taken from a first run; he then restarts on another port.
    let first = bob.start_on("/ip4/127.0.0.1/tcp/0").await;
    let stale_card = first.handle().info().card;
    first.shutdown(&bob.data_dir).await;

    let mut alice_config = alice.config("/ip4/0.0.0.0/tcp/0", common::PASSPHRASE);
    alice_config.mdns = true;
    let alice_node = omega_core::Node::start(alice_config).await.unwrap();
    let mut bob_config = bob.config("/ip4/0.0.0.0/tcp/0", common::PASSPHRASE);
    bob_config.mdns = true;
    let bob_node = omega_core::Node::start(bob_config).await.unwrap();

    let (a, b) = (alice_node.handle(), bob_node.handle());
    // Only Alice knows a (stale) card; Bob does not dial her: mDNS is the only way they meet.
    a.add_contact(&stale_card, Some("bob")).await.unwrap();
    let message = a.send_text("bob", "found you on the LAN").await.unwrap();
    let reached = a
        .wait_for_status(
            &message.message_id,
            Status::Delivered,
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert_eq!(reached.status, "delivered");
    let at_bob = b.messages(None, 10).await.unwrap();
    assert_eq!(at_bob.len(), 1);
    assert_eq!(at_bob[0].text, "found you on the LAN");
    alice_node.shutdown(&alice.data_dir).await;
    bob_node.shutdown(&bob.data_dir).await;
}
