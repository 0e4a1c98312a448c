//! The Kademlia DHT between real nodes on 127.0.0.1: one server-mode node and client-mode
//! nodes that know only the server. No sleeps: every wait is on an answer, with a timeout.

mod common;

use std::sync::Arc;

use libp2p::Multiaddr;
use omega_net::{Config, KadMode, NetEvent, NetHandle, Protocol, RequestError};
use tokio::sync::mpsc;

use crate::common::{full_addrs, is_relayed, node_with, serve, tagged_echo};

async fn dht_server(
    configure: impl FnOnce(&mut Config),
) -> (NetHandle, mpsc::Receiver<NetEvent>, Vec<Multiaddr>) {
    let (server, events) = node_with(|config| {
        config.kad = KadMode::Server;
        configure(config);
    })
    .await;
    let bootstrap = full_addrs(&server).await;
    (server, events, bootstrap)
}

async fn dht_client(
    bootstrap: &[Multiaddr],
    configure: impl FnOnce(&mut Config),
) -> (NetHandle, mpsc::Receiver<NetEvent>) {
    node_with(|config| {
        config.kad = KadMode::Client;
        config.bootstrap = bootstrap.to_vec();
        configure(config);
    })
    .await
}

/// The test's own record format: one address per line.
fn encode_addrs(addrs: &[Multiaddr]) -> Vec<u8> {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
        .into_bytes()
}

fn decode_addrs(value: &[u8]) -> Vec<Multiaddr> {
    String::from_utf8(value.to_vec())
        .unwrap()
        .lines()
        .map(|line| line.parse().unwrap())
        .collect()
}

fn refuse_bad(_key: &[u8], value: &[u8]) -> bool {
    !value.starts_with(b"bad")
}

#[tokio::test]
async fn two_nodes_that_only_know_the_server_find_each_other_through_the_dht() {
    let (_server, _server_events, bootstrap) = dht_server(|_| {}).await;
    let (a, _a_events) = dht_client(&bootstrap, |_| {}).await;
    let (b, b_events) = dht_client(&bootstrap, |_| {}).await;
    let _b_events = serve(b_events, tagged_echo);
    let b_id = b.local_peer_id();

    let key_b = format!("peer/{b_id}").into_bytes();
    let b_addrs = b.listen_addrs().await;
    b.put_record(key_b.clone(), encode_addrs(&b_addrs))
        .await
        .unwrap();

    let values = a.get_record(key_b).await.unwrap();
    assert_eq!(values.len(), 1, "expected b's record, got {values:?}");
    let found_addrs = decode_addrs(&values[0]);
    assert_eq!(found_addrs, b_addrs);
    assert!(!a.is_connected(b_id).await, "a met b before looking it up");

    let answer = a
        .request(Protocol::Msg, b_id, found_addrs.clone(), b"hi b".to_vec())
        .await
        .unwrap();
    assert_eq!(answer, b"/omega/msg/1hi b");
    let connection_addrs = a.connection_addrs(b_id).await;
    assert!(!connection_addrs.is_empty());
    for addr in &connection_addrs {
        assert!(!is_relayed(addr), "a reached b through a relay: {addr}");
        assert!(
            found_addrs.contains(addr),
            "a reached b at {addr}, not at an address from the record"
        );
    }
}

#[tokio::test]
async fn a_missing_key_gives_no_values() {
    let (_server, _server_events, bootstrap) = dht_server(|_| {}).await;
    let (a, _a_events) = dht_client(&bootstrap, |_| {}).await;
    assert_eq!(a.get_record(b"nobody".to_vec()).await, Ok(Vec::new()));
}

#[tokio::test]
async fn a_newer_value_is_found_after_republishing() {
    let (_server, _server_events, bootstrap) = dht_server(|_| {}).await;
    let (a, _a_events) = dht_client(&bootstrap, |_| {}).await;
    let (b, _b_events) = dht_client(&bootstrap, |_| {}).await;
    b.put_record(b"k".to_vec(), b"v1".to_vec()).await.unwrap();
    assert_eq!(a.get_record(b"k".to_vec()).await, Ok(vec![b"v1".to_vec()]));
    b.put_record(b"k".to_vec(), b"v2".to_vec()).await.unwrap();
    assert_eq!(a.get_record(b"k".to_vec()).await, Ok(vec![b"v2".to_vec()]));
}

#[tokio::test]
async fn a_server_stores_only_records_its_validator_accepts() {
    let (_server, _server_events, bootstrap) =
        dht_server(|config| config.record_validator = Some(Arc::new(refuse_bad))).await;
    let (a, _a_events) = dht_client(&bootstrap, |_| {}).await;
    // b has no validator of its own, so it cannot tell that the server refused the record:
    // Kademlia acknowledges every PutRecord.
    let (b, _b_events) = dht_client(&bootstrap, |_| {}).await;

    b.put_record(b"k-bad".to_vec(), b"bad value".to_vec())
        .await
        .unwrap();
    assert_eq!(a.get_record(b"k-bad".to_vec()).await, Ok(Vec::new()));

    b.put_record(b"k-good".to_vec(), b"good value".to_vec())
        .await
        .unwrap();
    assert_eq!(
        a.get_record(b"k-good".to_vec()).await,
        Ok(vec![b"good value".to_vec()])
    );
}

#[tokio::test]
async fn the_publishers_and_the_getters_validators_apply_too() {
    let (_server, _server_events, bootstrap) = dht_server(|_| {}).await;
    let validated = |config: &mut Config| config.record_validator = Some(Arc::new(refuse_bad));
    let (strict_publisher, _events_1) = dht_client(&bootstrap, validated).await;
    assert_eq!(
        strict_publisher
            .put_record(b"k".to_vec(), b"bad value".to_vec())
            .await,
        Err(RequestError::InvalidRecord)
    );

    // The server has no validator: a lax publisher gets the record stored...
    let (lax_publisher, _events_2) = dht_client(&bootstrap, |_| {}).await;
    lax_publisher
        .put_record(b"k".to_vec(), b"bad value".to_vec())
        .await
        .unwrap();
    let (lax_getter, _events_3) = dht_client(&bootstrap, |_| {}).await;
    assert_eq!(
        lax_getter.get_record(b"k".to_vec()).await,
        Ok(vec![b"bad value".to_vec()])
    );
    // ...but a getter with a validator drops it.
    let (strict_getter, _events_4) = dht_client(&bootstrap, validated).await;
    assert_eq!(
        strict_getter.get_record(b"k".to_vec()).await,
        Ok(Vec::new())
    );
}

#[tokio::test]
async fn records_over_the_size_limit_are_refused_before_publishing() {
    let (_server, _server_events, bootstrap) = dht_server(|_| {}).await;
    let (b, _b_events) = dht_client(&bootstrap, |config| config.max_record_bytes = 100).await;
    assert_eq!(
        b.put_record(b"k".to_vec(), vec![0; 101]).await,
        Err(RequestError::TooLarge {
            got: 101,
            limit: 100
        })
    );
}

#[tokio::test]
async fn dht_calls_fail_clearly_when_the_dht_is_off_or_no_server_is_known() {
    let (off, _off_events) = node_with(|_| {}).await;
    assert_eq!(
        off.put_record(b"k".to_vec(), b"v".to_vec()).await,
        Err(RequestError::DhtDisabled)
    );
    assert_eq!(
        off.get_record(b"k".to_vec()).await,
        Err(RequestError::DhtDisabled)
    );

    let (alone, _alone_events) = dht_client(&[], |_| {}).await;
    assert_eq!(
        alone.put_record(b"k".to_vec(), b"v".to_vec()).await,
        Err(RequestError::NoDhtPeers)
    );
    assert_eq!(
        alone.get_record(b"k".to_vec()).await,
        Err(RequestError::NoDhtPeers)
    );
}

#[tokio::test]
async fn a_bootstrap_address_without_a_peer_id_is_refused_at_start() {
    let mut config = Config::new(libp2p::identity::Keypair::generate_ed25519());
    config.bootstrap = vec!["/ip4/127.0.0.1/tcp/1".parse().unwrap()];
    let error = omega_net::start(config).await.unwrap_err();
    assert!(
        matches!(error, omega_net::StartError::Bootstrap { .. }),
        "got {error:?}"
    );
}
