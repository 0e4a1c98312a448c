//! Ômega's peer-to-peer IO edge: a libp2p swarm that moves opaque byte requests and responses
//! between peers on three protocols — `/omega/msg/1` (direct delivery), `/omega/keys/1` (key
//! bundles) and `/omega/mailbox/1` (store-and-forward servers) — and optionally finds peers on
//! the local network with mDNS.
//!
//! [`start`] builds the swarm (TCP + Noise + Yamux, with identify and ping, and mDNS when
//! [`Config::mdns`] is set), binds the listen addresses and runs it on one tokio task. The
//! returned [`NetHandle`] sends requests, dials peers and remembers addresses; the [`NetEvent`]
//! receiver carries inbound requests (each with a [`Responder`]), connection news and discovered
//! peers.
//!
//! Every node can *send* on all three protocols; it *answers* only those in
//! [`Config::protocols`] (a device answers Msg and Keys, a mailbox server answers Mailbox). A
//! request on any other protocol is refused during protocol negotiation, so the requester gets
//! [`RequestError::UnsupportedProtocol`] and the node never sees it.
//!
//! Reaching peers beyond the LAN, each part switched on in [`Config`]:
//!
//! - **DHT** ([`Config::kad`]): Kademlia on our own protocol `/omega/kad/1.0.0` with records in
//!   memory. Servers run in server mode, devices in client mode; both join through
//!   [`Config::bootstrap`]. [`NetHandle::put_record`] and [`NetHandle::get_record`] store and
//!   find opaque records, which the application vets with [`Config::record_validator`] (a
//!   server stores only records it accepts). Records expire after [`Config::record_ttl`];
//!   republishing is the caller's job.
//! - **Relay** (circuit relay v2): a server with [`Config::relay_server`] relays within
//!   [`RelayLimits`]; a device with [`Config::relay_client`] reserves a slot on each bootstrap
//!   server and so becomes reachable at `<server>/p2p/<server id>/p2p-circuit/p2p/<its id>`.
//!   Every node can dial such an address.
//! - **Direct first**: when a request's peer has both direct and relayed addresses, the direct
//!   ones are dialed first and the relayed ones only once that dial fails.
//! - **DCUtR** (with `relay_client`): a relayed connection is upgraded to a direct one by hole
//!   punching when both ends support it ([`NetEvent::HolePunch`]).
//! - **AutoNAT** (v2): servers answer probes, clients probe them and learn whether they are
//!   reachable ([`NetHandle::nat_status`], [`NetEvent::Reachability`]).
//!
//! What it deliberately does not do: it knows nothing about messages, envelopes, keys or what
//! a DHT record means — bodies and records are opaque bytes, never parsed and never logged; it
//! does not retry, queue for offline peers, republish records, or decide whom to trust (that
//! is `omega-core`'s outbox and policy). QUIC is not wired yet.
//!
//! Every queue is bounded: commands (256), events (256 plus a 256-event backlog; when both are
//! full further events are dropped and the dropped inbound request fails at the requester),
//! pending outbound requests ([`MAX_PENDING_REQUESTS`], counting those waiting for a dial),
//! DHT queries ([`MAX_PENDING_QUERIES`]), remembered relayed addresses (1024 peers), inbound
//! requests awaiting an answer (each expires after the request timeout), the DHT record store
//! ([`Config::max_records`]) and the relay's reservations and circuits ([`RelayLimits`]).
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use omega_net::{Config, NetEvent, Protocol};
//!
//! let mut config = Config::new(libp2p::identity::Keypair::generate_ed25519());
//! config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
//! let (net, mut events) = omega_net::start(config).await?;
//! tokio::spawn(async move {
//!     while let Some(event) = events.recv().await {
//!         if let NetEvent::Request { body, responder, .. } = event {
//!             responder.respond(body); // echo
//!         }
//!     }
//! });
//! # let (peer, addrs) = (net.local_peer_id(), net.listen_addrs().await);
//! let answer = net.request(Protocol::Msg, peer, addrs, b"hello".to_vec()).await?;
//! # Ok(()) }
//! ```

#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod address;
mod behaviour;
mod config;
mod discovery;
mod driver;
mod error;
mod handle;
mod protocol;

pub use crate::{
    behaviour::MAX_GOSSIP_BYTES,
    config::{Config, KadMode, NatStatus, Protocol, RecordValidator, RelayLimits},
    driver::{MAX_PENDING_QUERIES, MAX_PENDING_REQUESTS, start},
    error::{RequestError, StartError},
    handle::{NetEvent, NetHandle, Responder},
    protocol::{
        BLOB_PROTOCOL, IDENTIFY_PROTOCOL, KAD_PROTOCOL, KEYS_PROTOCOL, LINK_PROTOCOL,
        MAILBOX_PROTOCOL, MSG_PROTOCOL,
    },
};
