//! Circuit relay v2, direct-before-relayed dialing, DCUtR and AutoNAT between real nodes on
//! 127.0.0.1. On loopback every node can reach every other directly, so a test that must go
//! through the relay gives the sender only the relayed address. No sleeps: every wait is on
//! an event or an answer, with a timeout.

mod common;

use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use omega_net::{Config, KadMode, NatStatus, NetEvent, NetHandle, Protocol, RequestError};
use tokio::sync::mpsc;

use crate::common::{
    full_addrs, is_relayed, node, node_with, serve, tagged_echo, wait_for, wait_for_within,
};

/// A relay server (also a DHT server, as an Ômega server is).
async fn relay_server(
    configure: impl FnOnce(&mut Config),
) -> (NetHandle, mpsc::Receiver<NetEvent>, Vec<Multiaddr>) {
    let (server, events) = node_with(|config| {
        config.relay_server = true;
        config.kad = KadMode::Server;
        configure(config);
    })
    .await;
    let bootstrap = full_addrs(&server).await;
    (server, events, bootstrap)
}

/// A relay client of the servers at `bootstrap`, and its first relayed address (with its
/// own `/p2p` suffix, ready to dial).
async fn relayed_node(bootstrap: &[Multiaddr]) -> (NetHandle, mpsc::Receiver<NetEvent>, Multiaddr) {
    let (node, mut events) = node_with(|config| {
        config.relay_client = true;
        config.kad = KadMode::Client;
        config.bootstrap = bootstrap.to_vec();
    })
    .await;
    let circuit = wait_for(&mut events, |event| match event {
        NetEvent::NewListenAddr { addr } if is_relayed(&addr) => Some(addr),
        _ => None,
    })
    .await;
    let dialable = circuit.with_p2p(node.local_peer_id()).unwrap();
    (node, events, dialable)
}

#[tokio::test]
async fn a_relay_client_reserves_on_its_server_and_reports_a_circuit_address() {
    let (server, _server_events, bootstrap) = relay_server(|_| {}).await;
    let (b, _b_events, circuit) = relayed_node(&bootstrap).await;
    let server_id = server.local_peer_id();
    let expected_prefix = format!("{}/p2p-circuit", bootstrap[0]);
    assert_eq!(
        circuit.to_string(),
        format!("{expected_prefix}/p2p/{}", b.local_peer_id())
    );
    let listen_addrs = b.listen_addrs().await;
    assert!(
        listen_addrs
            .iter()
            .any(|addr| addr.to_string() == expected_prefix),
        "listen_addrs lacks the relayed address: {listen_addrs:?}"
    );
    assert!(b.is_connected(server_id).await);
}

#[tokio::test]
async fn a_request_through_the_relay_reaches_a_peer_known_only_by_its_circuit_address() {
    let (_server, _server_events, bootstrap) = relay_server(|_| {}).await;
    let (b, b_events, circuit) = relayed_node(&bootstrap).await;
    let _b_events = serve(b_events, tagged_echo);
    let b_id = b.local_peer_id();

    // a is no relay client and knows neither the server nor b's direct addresses.
    let (a, _a_events) = node().await;
    let answer = a
        .request(Protocol::Msg, b_id, vec![circuit], b"via relay".to_vec())
        .await
        .unwrap();
    assert_eq!(answer, b"/omega/msg/1via relay");
    let connection_addrs = a.connection_addrs(b_id).await;
    assert!(!connection_addrs.is_empty());
    assert!(
        connection_addrs.iter().all(is_relayed),
        "a reached b directly: {connection_addrs:?}"
    );
}

#[tokio::test]
async fn direct_addresses_are_tried_before_relayed_ones() {
    let (_server, _server_events, bootstrap) = relay_server(|_| {}).await;
    let (b, b_events, circuit) = relayed_node(&bootstrap).await;
    let _b_events = serve(b_events, tagged_echo);
    let b_id = b.local_peer_id();
    let mut addrs = vec![circuit];
    addrs.extend(
        b.listen_addrs()
            .await
            .into_iter()
            .filter(|a| !is_relayed(a)),
    );

    let (a, _a_events) = node().await;
    let answer = a
        .request(Protocol::Msg, b_id, addrs, b"direct?".to_vec())
        .await
        .unwrap();
    assert_eq!(answer, b"/omega/msg/1direct?");
    let connection_addrs = a.connection_addrs(b_id).await;
    assert!(
        !connection_addrs.is_empty() && !connection_addrs.iter().any(is_relayed),
        "a did not reach b directly: {connection_addrs:?}"
    );
}

#[tokio::test]
async fn relayed_addresses_are_used_once_the_direct_ones_fail() {
    let (_server, _server_events, bootstrap) = relay_server(|_| {}).await;
    let (b, b_events, circuit) = relayed_node(&bootstrap).await;
    let _b_events = serve(b_events, tagged_echo);
    let b_id = b.local_peer_id();
    // A direct address where nobody listens any more.
    let (gone, _gone_events) = node().await;
    let dead = gone.listen_addrs().await;
    gone.shutdown().await;

    let (a, _a_events) = node().await;
    let mut addrs = dead;
    addrs.push(circuit);
    let answer = a
        .request(Protocol::Keys, b_id, addrs, b"fallback".to_vec())
        .await
        .unwrap();
    assert_eq!(answer, b"/omega/keys/1fallback");
    assert!(a.connection_addrs(b_id).await.iter().all(is_relayed));
}

#[tokio::test]
async fn a_relayed_dial_to_a_peer_without_reservation_fails_with_dial_failure() {
    let (_server, _server_events, bootstrap) = relay_server(|_| {}).await;
    let nobody = PeerId::random();
    let circuit: Multiaddr = format!("{}/p2p-circuit/p2p/{nobody}", bootstrap[0])
        .parse()
        .unwrap();
    let (a, _a_events) = node().await;
    let error = a
        .request(Protocol::Msg, nobody, vec![circuit], b"anyone?".to_vec())
        .await
        .unwrap_err();
    assert!(
        matches!(error, RequestError::DialFailure { .. }),
        "got {error:?}"
    );
}

/// Sends a small and a 32 KiB request through a relay whose circuits carry at most
/// `max_circuit_bytes`; returns whether the large one was answered.
async fn large_request_through_relay(max_circuit_bytes: u64) -> bool {
    let (_server, _server_events, bootstrap) =
        relay_server(|config| config.relay_limits.max_circuit_bytes = max_circuit_bytes).await;
    let (b, b_events, circuit) = relayed_node(&bootstrap).await;
    let _b_events = serve(b_events, tagged_echo);
    let b_id = b.local_peer_id();
    let (a, _a_events) = node().await;

    let small = a
        .request(
            Protocol::Msg,
            b_id,
            vec![circuit.clone()],
            b"small".to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(small, b"/omega/msg/1small");
    a.request(Protocol::Msg, b_id, vec![circuit], vec![7; 32 * 1024])
        .await
        .is_ok()
}

#[tokio::test]
async fn the_relay_cuts_a_circuit_that_exceeds_its_byte_limit() {
    assert!(
        !large_request_through_relay(8 * 1024).await,
        "32 KiB went through an 8 KiB circuit"
    );
}

#[tokio::test]
async fn the_default_circuit_limit_carries_a_large_message() {
    let default_limit = omega_net::RelayLimits::default().max_circuit_bytes;
    assert!(large_request_through_relay(default_limit).await);
}

#[tokio::test]
async fn dcutr_upgrades_a_relayed_connection_to_a_direct_one() {
    let (_server, _server_events, bootstrap) = relay_server(|_| {}).await;
    let (a, mut a_events, _) = relayed_node(&bootstrap).await;
    let (b, b_events, b_circuit) = relayed_node(&bootstrap).await;
    let _b_events = serve(b_events, tagged_echo);
    let b_id = b.local_peer_id();

    let answer = a
        .request(Protocol::Msg, b_id, vec![b_circuit], b"punch".to_vec())
        .await
        .unwrap();
    assert_eq!(answer, b"/omega/msg/1punch");
    let succeeded = wait_for(&mut a_events, |event| match event {
        NetEvent::HolePunch { peer, succeeded } if peer == b_id => Some(succeeded),
        _ => None,
    })
    .await;
    assert!(succeeded, "hole punching failed on loopback");
    let connection_addrs = a.connection_addrs(b_id).await;
    assert!(
        connection_addrs.iter().any(|addr| !is_relayed(addr)),
        "no direct connection after the hole punch: {connection_addrs:?}"
    );
}

#[tokio::test]
async fn a_client_learns_it_is_reachable_from_the_servers_autonat_probe() {
    let (_server, _server_events, bootstrap) = relay_server(|_| {}).await;
    let (b, mut b_events) = node_with(|config| {
        config.kad = KadMode::Client;
        config.bootstrap = bootstrap.clone();
    })
    .await;
    assert_eq!(b.nat_status().await, NatStatus::Unknown);
    let status = wait_for_within(
        Duration::from_secs(30),
        &mut b_events,
        |event| match event {
            NetEvent::Reachability { status } => Some(status),
            _ => None,
        },
    )
    .await;
    let b_addrs = b.listen_addrs().await;
    match &status {
        NatStatus::Public(addr) => assert!(b_addrs.contains(addr), "{addr} is not b's"),
        other => panic!("expected public on loopback, got {other:?}"),
    }
    assert_eq!(b.nat_status().await, status);
}
