//! GossipSub topics: who hears a publication, and that a node with gossip off takes no part.
//! Real nodes on 127.0.0.1; every wait is on an event, with a timeout.

mod common;

use std::time::Duration;

use omega_net::{NetEvent, NetHandle, RequestError};
use tokio::sync::mpsc;

use crate::common::{address_of, node, node_with, wait_for};

const TOPIC: &str = "/omega/group/test";

/// Waits until `peer` is known to follow `TOPIC` from `node`'s side.
async fn until_follows(node: &NetHandle, peer: libp2p::PeerId) {
    for _ in 0..200 {
        if node.topic_peers(TOPIC).await.contains(&peer) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{peer} never appeared on the topic");
}

async fn next_gossip(events: &mut mpsc::Receiver<NetEvent>) -> (String, Vec<u8>) {
    wait_for(events, |event| match event {
        NetEvent::Gossip { topic, data, .. } => Some((topic, data)),
        _ => None,
    })
    .await
}

#[tokio::test]
async fn every_connected_follower_hears_a_publication_once() {
    let (a, _a_events) = node().await;
    let (b, mut b_events) = node().await;
    let (c, mut c_events) = node().await;
    for follower in [&a, &b, &c] {
        follower.subscribe(TOPIC, true).await;
    }
    for other in [&b, &c] {
        let (id, addrs) = address_of(other).await;
        a.dial(id, addrs).await.expect("dial");
    }
    until_follows(&a, b.local_peer_id()).await;
    until_follows(&a, c.local_peer_id()).await;

    a.publish(TOPIC, b"hello group".to_vec())
        .await
        .expect("publish");
    for events in [&mut b_events, &mut c_events] {
        let (topic, data) = next_gossip(events).await;
        assert_eq!(topic, TOPIC);
        assert_eq!(data, b"hello group");
    }
    // The same bytes again are the same message: nobody hears them twice.
    let again = a.publish(TOPIC, b"hello group".to_vec()).await;
    assert!(
        matches!(again, Err(RequestError::Publish { .. })),
        "{again:?}"
    );
    a.publish(TOPIC, b"second".to_vec()).await.expect("publish");
    assert_eq!(next_gossip(&mut b_events).await.1, b"second");
}

#[tokio::test]
async fn publishing_with_no_follower_connected_fails_and_a_gossip_less_node_never_follows() {
    let (a, _a_events) = node().await;
    let (server, _server_events) = node_with(|config| config.gossip = false).await;
    a.subscribe(TOPIC, true).await;
    server.subscribe(TOPIC, true).await;
    let (id, addrs) = address_of(&server).await;
    a.dial(id, addrs).await.expect("dial");
    let refused = a.publish(TOPIC, b"anyone?".to_vec()).await;
    assert!(
        matches!(refused, Err(RequestError::Publish { .. })),
        "{refused:?}"
    );
    assert!(a.topic_peers(TOPIC).await.is_empty());
    let off = server.publish(TOPIC, b"x".to_vec()).await;
    assert!(matches!(off, Err(RequestError::Publish { .. })), "{off:?}");
}

#[tokio::test]
async fn a_publication_over_the_size_limit_is_refused() {
    let (a, _a_events) = node().await;
    let (b, _b_events) = node().await;
    a.subscribe(TOPIC, true).await;
    b.subscribe(TOPIC, true).await;
    let (id, addrs) = address_of(&b).await;
    a.dial(id, addrs).await.expect("dial");
    until_follows(&a, b.local_peer_id()).await;
    let big = vec![7u8; omega_net::MAX_GOSSIP_BYTES + 1];
    let refused = a.publish(TOPIC, big).await;
    assert!(
        matches!(refused, Err(RequestError::Publish { .. })),
        "{refused:?}"
    );
}
