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
//! What it deliberately does not do: it knows nothing about messages, envelopes or keys — bodies
//! are opaque bytes, never parsed and never logged; it does not retry, queue for offline peers,
//! or decide whom to trust (that is `omega-core`'s outbox and policy); it does no discovery
//! beyond mDNS on the LAN, the addresses it is given and the ones identify reports. QUIC,
//! Kademlia, relay, DCUtR and AutoNAT are not wired yet; they slot into `behaviour.rs` as extra
//! fields.
//!
//! Every queue is bounded: commands (256), events (256 plus a 256-event backlog; when both are
//! full further events are dropped and the dropped inbound request fails at the requester),
//! pending outbound requests ([`MAX_PENDING_REQUESTS`]), and inbound requests awaiting an
//! answer (each expires after the request timeout).
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

mod behaviour;
mod discovery;
mod driver;
mod error;
mod handle;
mod protocol;

use std::{fmt, time::Duration};

use libp2p::{Multiaddr, identity::Keypair};

pub use crate::{
    driver::{MAX_PENDING_REQUESTS, start},
    error::{RequestError, StartError},
    handle::{NetEvent, NetHandle, Responder},
    protocol::{IDENTIFY_PROTOCOL, KEYS_PROTOCOL, MAILBOX_PROTOCOL, MSG_PROTOCOL},
};

/// Configuration of a node. [`Config::new`] fills in the defaults.
#[derive(Clone)]
pub struct Config {
    /// The node's identity; its public key is the [`libp2p::PeerId`].
    pub keypair: Keypair,
    /// Addresses to listen on, e.g. `/ip4/127.0.0.1/tcp/0`. Empty: dial-only node.
    pub listen: Vec<Multiaddr>,
    /// How long a request may wait for its response once the stream is open; also how long an
    /// inbound request waits for the [`Responder`]. Default 10 s.
    pub request_timeout: Duration,
    /// Largest request body sent or accepted, on every protocol; larger inbound frames are
    /// refused before being read. Default 512 KiB.
    pub max_request_bytes: usize,
    /// Largest response body sent or accepted on [`Protocol::Msg`] and [`Protocol::Keys`].
    /// Default 64 KiB.
    pub max_response_bytes: usize,
    /// Largest response body sent or accepted on [`Protocol::Mailbox`]: a fetch page carries
    /// many envelopes. Default 8 MiB. See [`Config::response_limit`].
    pub mailbox_max_response_bytes: usize,
    /// How long a connection with no open stream stays up. Default 60 s.
    pub idle_connection_timeout: Duration,
    /// The protocols this node answers. Requests on the others are refused during protocol
    /// negotiation (the requester gets [`RequestError::UnsupportedProtocol`]); the node can
    /// still send on every protocol. Default [`Config::DEVICE_PROTOCOLS`]; a mailbox server
    /// passes `vec![Protocol::Mailbox]`.
    pub protocols: Vec<Protocol>,
    /// Discover peers on the local network with mDNS (IPv4, on every non-loopback interface).
    /// Discovered addresses are remembered for dialing and reported as
    /// [`NetEvent::Discovered`]. Only listen addresses on a LAN interface are advertised (e.g.
    /// `/ip4/0.0.0.0/tcp/0`; a node listening on `127.0.0.1` alone can find others but cannot
    /// be found). Default false.
    pub mdns: bool,
}

impl Config {
    /// Default request timeout.
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default request size limit.
    pub const DEFAULT_MAX_REQUEST_BYTES: usize = 512 * 1024;
    /// Default response size limit of [`Protocol::Msg`] and [`Protocol::Keys`].
    pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024;
    /// Default response size limit of [`Protocol::Mailbox`].
    pub const DEFAULT_MAILBOX_MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;
    /// What a device answers: direct messages and key requests.
    pub const DEVICE_PROTOCOLS: [Protocol; 2] = [Protocol::Msg, Protocol::Keys];
    /// Default idle connection timeout.
    pub const DEFAULT_IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(60);

    /// A device configuration with the given identity: no listen address, default limits,
    /// answers [`Config::DEVICE_PROTOCOLS`], no mDNS.
    pub fn new(keypair: Keypair) -> Self {
        Self {
            keypair,
            listen: Vec::new(),
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
            max_request_bytes: Self::DEFAULT_MAX_REQUEST_BYTES,
            max_response_bytes: Self::DEFAULT_MAX_RESPONSE_BYTES,
            mailbox_max_response_bytes: Self::DEFAULT_MAILBOX_MAX_RESPONSE_BYTES,
            idle_connection_timeout: Self::DEFAULT_IDLE_CONNECTION_TIMEOUT,
            protocols: Self::DEVICE_PROTOCOLS.to_vec(),
            mdns: false,
        }
    }

    /// Largest response body sent or accepted on `protocol`: [`Config::max_response_bytes`]
    /// for Msg and Keys, [`Config::mailbox_max_response_bytes`] for Mailbox. Both ends apply
    /// their own limit, so a response must fit the smaller of the two.
    pub fn response_limit(&self, protocol: Protocol) -> usize {
        match protocol {
            Protocol::Msg | Protocol::Keys => self.max_response_bytes,
            Protocol::Mailbox => self.mailbox_max_response_bytes,
        }
    }

    /// Whether this node answers requests on `protocol`.
    pub fn answers(&self, protocol: Protocol) -> bool {
        self.protocols.contains(&protocol)
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            keypair,
            listen,
            request_timeout,
            max_request_bytes,
            max_response_bytes,
            mailbox_max_response_bytes,
            idle_connection_timeout,
            protocols,
            mdns,
        } = self;
        f.debug_struct("Config")
            .field("peer_id", &keypair.public().to_peer_id())
            .field("listen", listen)
            .field("request_timeout", request_timeout)
            .field("max_request_bytes", max_request_bytes)
            .field("max_response_bytes", max_response_bytes)
            .field("mailbox_max_response_bytes", mailbox_max_response_bytes)
            .field("idle_connection_timeout", idle_connection_timeout)
            .field("protocols", protocols)
            .field("mdns", mdns)
            .finish()
    }
}

/// One of the Ômega request-response protocols. All share one framing (see the `protocol`
/// module docs) and differ in name, response limit and who answers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `/omega/msg/1`: message delivery.
    Msg,
    /// `/omega/keys/1`: key bundles and device lists.
    Keys,
    /// `/omega/mailbox/1`: deposit, fetch and acknowledge envelopes on a mailbox server.
    Mailbox,
}

impl Protocol {
    /// Every protocol, in declaration order.
    pub const ALL: [Protocol; 3] = [Protocol::Msg, Protocol::Keys, Protocol::Mailbox];

    /// The protocol name negotiated on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Protocol::Msg => MSG_PROTOCOL,
            Protocol::Keys => KEYS_PROTOCOL,
            Protocol::Mailbox => MAILBOX_PROTOCOL,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
