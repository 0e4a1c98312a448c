//! Helpers shared by the integration tests: real nodes on 127.0.0.1 and event waits with a
//! timeout. Each test binary uses a subset.

#![allow(dead_code)]

use std::time::Duration;

use libp2p::{Multiaddr, PeerId, identity::Keypair};
use omega_net::{Config, NetEvent, NetHandle, Protocol, Responder};
use tokio::sync::mpsc;

pub const WAIT: Duration = Duration::from_secs(10);

pub fn loopback() -> Multiaddr {
    "/ip4/127.0.0.1/tcp/0".parse().unwrap()
}

pub async fn node_with(
    configure: impl FnOnce(&mut Config),
) -> (NetHandle, mpsc::Receiver<NetEvent>) {
    let mut config = Config::new(Keypair::generate_ed25519());
    config.listen = vec![loopback()];
    configure(&mut config);
    omega_net::start(config).await.unwrap()
}

pub async fn node() -> (NetHandle, mpsc::Receiver<NetEvent>) {
    node_with(|_| {}).await
}

/// What a serving node does with one request.
pub enum Answer {
    Respond(Vec<u8>),
    Drop,
    /// Keep the responder alive without answering (until the serving task ends).
    Hold,
}

/// Serves requests with `answer` on a background task; every other event is forwarded to the
/// returned receiver.
pub fn serve(
    mut events: mpsc::Receiver<NetEvent>,
    answer: impl Fn(Protocol, Vec<u8>) -> Answer + Send + 'static,
) -> mpsc::Receiver<NetEvent> {
    let (forward, forwarded) = mpsc::channel(64);
    tokio::spawn(async move {
        let mut held: Vec<Responder> = Vec::new();
        while let Some(event) = events.recv().await {
            match event {
                NetEvent::Request {
                    protocol,
                    body,
                    responder,
                    ..
                } => match answer(protocol, body) {
                    Answer::Respond(body) => responder.respond(body),
                    Answer::Drop => drop(responder),
                    Answer::Hold => held.push(responder),
                },
                other => {
                    let _ = forward.try_send(other);
                }
            }
        }
    });
    forwarded
}

/// Echoes the body prefixed with the protocol name.
pub fn tagged_echo(protocol: Protocol, body: Vec<u8>) -> Answer {
    let mut response = protocol.as_str().as_bytes().to_vec();
    response.extend_from_slice(&body);
    Answer::Respond(response)
}

/// Waits for the first event `pick` accepts, skipping the others.
pub async fn wait_for<T>(
    events: &mut mpsc::Receiver<NetEvent>,
    pick: impl FnMut(NetEvent) -> Option<T>,
) -> T {
    wait_for_within(WAIT, events, pick).await
}

/// Like [`wait_for`] with a timeout of `limit`.
pub async fn wait_for_within<T>(
    limit: Duration,
    events: &mut mpsc::Receiver<NetEvent>,
    mut pick: impl FnMut(NetEvent) -> Option<T>,
) -> T {
    tokio::time::timeout(limit, async {
        loop {
            let event = events.recv().await.expect("event channel closed");
            if let Some(found) = pick(event) {
                return found;
            }
        }
    })
    .await
    .expect("timed out waiting for an event")
}

pub async fn address_of(node: &NetHandle) -> (PeerId, Vec<Multiaddr>) {
    (node.local_peer_id(), node.listen_addrs().await)
}

/// `node`'s listen addresses with its `/p2p/<peer id>`, as bootstrap addresses.
pub async fn full_addrs(node: &NetHandle) -> Vec<Multiaddr> {
    let peer = node.local_peer_id();
    node.listen_addrs()
        .await
        .into_iter()
        .map(|addr| addr.with_p2p(peer).unwrap())
        .collect()
}

/// Whether `addr` goes through a relay.
pub fn is_relayed(addr: &Multiaddr) -> bool {
    addr.iter()
        .any(|protocol| protocol == libp2p::multiaddr::Protocol::P2pCircuit)
}
