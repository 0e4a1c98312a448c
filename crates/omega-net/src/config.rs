//! [`Config`] and the small types it is made of.

use std::{fmt, sync::Arc, time::Duration};

use libp2p::{Multiaddr, identity::Keypair};

use crate::protocol::{
    BLOB_PROTOCOL, KEYS_PROTOCOL, LINK_PROTOCOL, MAILBOX_PROTOCOL, MSG_PROTOCOL,
};
#[cfg(doc)]
use crate::{NetEvent, RequestError, Responder};

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
    /// Whether GossipSub runs (group messages on `/omega/group/<id>` topics). On for devices,
    /// off for servers, which never see group traffic.
    pub gossip: bool,
    /// Whether and how this node takes part in the Kademlia DHT (`/omega/kad/1.0.0`, records
    /// in memory). Default [`KadMode::Off`]; a device uses [`KadMode::Client`], a server
    /// [`KadMode::Server`].
    pub kad: KadMode,
    /// Servers to join at start: full addresses ending in `/p2p/<peer id>`. Each is remembered
    /// for dialing, added to the DHT routing table (when [`Config::kad`] is on), dialed at
    /// start and redialed every 30 s while disconnected. With [`Config::relay_client`] the
    /// node makes a relay reservation on each of them. Default empty.
    pub bootstrap: Vec<Multiaddr>,
    /// Decides whether a DHT record (`key`, `value`) is acceptable. A server stores an inbound
    /// `PutRecord` only if this accepts it; [`NetHandle::get_record`](crate::NetHandle::get_record)
    /// drops values it refuses; [`NetHandle::put_record`](crate::NetHandle::put_record) refuses
    /// to publish them. `None` accepts everything. It runs on the network task: keep it quick
    /// (a signature check is fine, IO is not). Default `None`.
    pub record_validator: Option<RecordValidator>,
    /// How long a published DHT record lives, locally and on the servers that store it.
    /// Records are never republished by this crate: a publisher that wants its record to stay
    /// calls `put_record` again before this passes. Default 24 h.
    pub record_ttl: Duration,
    /// Most DHT records this node stores (its own and, in server mode, other peers'). Default
    /// 16 384.
    pub max_records: usize,
    /// Largest DHT record value stored, published or accepted. Default 16 KiB.
    pub max_record_bytes: usize,
    /// Act as a circuit relay v2 server for other peers, within [`Config::relay_limits`]. The
    /// relay hands out [`Config::external_addrs`] in reservations. Also answers AutoNAT
    /// probes. Default false.
    pub relay_server: bool,
    /// Limits of the relay server. Default [`RelayLimits::default`].
    pub relay_limits: RelayLimits,
    /// Make a relay reservation on every [`Config::bootstrap`] server once connected (its
    /// relayed address, ending in `/p2p-circuit`, shows up as [`NetEvent::NewListenAddr`]
    /// and in [`NetHandle::listen_addrs`]), try to upgrade relayed connections to direct ones
    /// with DCUtR hole punching, and probe reachability with AutoNAT. Every node can *dial*
    /// relayed addresses whatever this says. Default false.
    ///
    /// [`NetEvent::NewListenAddr`]: crate::NetEvent::NewListenAddr
    /// [`NetHandle::listen_addrs`]: crate::NetHandle::listen_addrs
    pub relay_client: bool,
    /// Addresses at which other peers can reach this node, e.g. a server's public address.
    /// They are announced through identify and, on a relay server, handed out in
    /// reservations. Empty on a relay server: every bound listen address is used instead
    /// (fine on a LAN or in tests; a public server should list its public addresses). Default
    /// empty.
    pub external_addrs: Vec<Multiaddr>,
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
    /// What a device answers: direct messages, key requests and link claims.
    pub const DEVICE_PROTOCOLS: [Protocol; 3] = [Protocol::Msg, Protocol::Keys, Protocol::Link];
    /// Response size limit of [`Protocol::Link`].
    pub const LINK_MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
    /// Request and response size limit of [`Protocol::Blob`]: the longest sealed file chunk
    /// (4 MiB of plaintext + its 16-byte tag) plus 1 KiB for its id and the protobuf framing.
    pub const BLOB_MAX_BYTES: usize = 4 * 1024 * 1024 + 16 + 1024;
    /// Default idle connection timeout.
    pub const DEFAULT_IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(60);
    /// Default lifetime of a published DHT record.
    pub const DEFAULT_RECORD_TTL: Duration = Duration::from_secs(24 * 60 * 60);
    /// Default number of DHT records stored.
    pub const DEFAULT_MAX_RECORDS: usize = 16 * 1024;
    /// Default largest DHT record value.
    pub const DEFAULT_MAX_RECORD_BYTES: usize = 16 * 1024;

    /// A device configuration with the given identity: no listen address, default limits,
    /// answers [`Config::DEVICE_PROTOCOLS`], no mDNS, no DHT, no relay, no bootstrap server.
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
            gossip: true,
            kad: KadMode::Off,
            bootstrap: Vec::new(),
            record_validator: None,
            record_ttl: Self::DEFAULT_RECORD_TTL,
            max_records: Self::DEFAULT_MAX_RECORDS,
            max_record_bytes: Self::DEFAULT_MAX_RECORD_BYTES,
            relay_server: false,
            relay_limits: RelayLimits::default(),
            relay_client: false,
            external_addrs: Vec::new(),
        }
    }

    /// Largest response body sent or accepted on `protocol`: [`Config::max_response_bytes`]
    /// for Msg and Keys, [`Config::mailbox_max_response_bytes`] for Mailbox. Both ends apply
    /// their own limit, so a response must fit the smaller of the two.
    pub fn response_limit(&self, protocol: Protocol) -> usize {
        match protocol {
            Protocol::Msg | Protocol::Keys => self.max_response_bytes,
            Protocol::Mailbox => self.mailbox_max_response_bytes,
            // The link payload carries the contacts' cards.
            Protocol::Link => Self::LINK_MAX_RESPONSE_BYTES,
            Protocol::Blob => Self::BLOB_MAX_BYTES,
        }
    }

    /// Largest request body sent or accepted on `protocol`: [`Config::max_request_bytes`],
    /// except [`Protocol::Blob`], whose puts carry a whole chunk ([`Config::BLOB_MAX_BYTES`]).
    pub fn request_limit(&self, protocol: Protocol) -> usize {
        match protocol {
            Protocol::Blob => Self::BLOB_MAX_BYTES,
            _ => self.max_request_bytes,
        }
    }

    /// Whether this node answers requests on `protocol`.
    pub fn answers(&self, protocol: Protocol) -> bool {
        self.protocols.contains(&protocol)
    }

    /// Whether the node answers AutoNAT probes: a relay server or a DHT server does.
    pub fn answers_nat_probes(&self) -> bool {
        self.relay_server || self.kad == KadMode::Server
    }

    /// Whether the node probes its own reachability with AutoNAT: a relay client or a DHT
    /// client does (asking the servers it is connected to).
    pub fn probes_nat(&self) -> bool {
        self.relay_client || self.kad == KadMode::Client
    }

    /// Whether `key`/`value` passes [`Config::record_validator`] (true without one).
    pub fn accepts_record(&self, key: &[u8], value: &[u8]) -> bool {
        self.record_validator
            .as_ref()
            .is_none_or(|validator| validator(key, value))
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
            gossip,
            kad,
            bootstrap,
            record_validator,
            record_ttl,
            max_records,
            max_record_bytes,
            relay_server,
            relay_limits,
            relay_client,
            external_addrs,
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
            .field("gossip", gossip)
            .field("kad", kad)
            .field("bootstrap", bootstrap)
            .field(
                "record_validator",
                &record_validator.as_ref().map(|_| "<fn>"),
            )
            .field("record_ttl", record_ttl)
            .field("max_records", max_records)
            .field("max_record_bytes", max_record_bytes)
            .field("relay_server", relay_server)
            .field("relay_limits", relay_limits)
            .field("relay_client", relay_client)
            .field("external_addrs", external_addrs)
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
    /// `/omega/blob/1`: put and get content-addressed sealed file chunks (a blob server, or a
    /// sending device's cache). Requests and responses up to [`Config::BLOB_MAX_BYTES`].
    Blob,
    /// `/omega/link/1`: a new device claims a link offer of an existing device of its user.
    Link,
}

impl Protocol {
    /// Every protocol, in declaration order.
    pub const ALL: [Protocol; 5] = [
        Protocol::Msg,
        Protocol::Keys,
        Protocol::Mailbox,
        Protocol::Blob,
        Protocol::Link,
    ];

    /// The protocol name negotiated on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Protocol::Msg => MSG_PROTOCOL,
            Protocol::Keys => KEYS_PROTOCOL,
            Protocol::Mailbox => MAILBOX_PROTOCOL,
            Protocol::Blob => BLOB_PROTOCOL,
            Protocol::Link => LINK_PROTOCOL,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Decides whether a DHT record is acceptable: called with the record's key and value. See
/// [`Config::record_validator`].
pub type RecordValidator = Arc<dyn Fn(&[u8], &[u8]) -> bool + Send + Sync>;

/// How a node takes part in the Kademlia DHT.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum KadMode {
    /// No DHT: `put_record` and `get_record` fail with
    /// [`RequestError::DhtDisabled`](crate::RequestError::DhtDisabled).
    #[default]
    Off,
    /// Query and publish, but do not answer queries or store other peers' records (the peer
    /// is never added to other peers' routing tables). For devices, which are often behind
    /// NAT and come and go.
    Client,
    /// Answer queries and store other peers' records (filtered by
    /// [`Config::record_validator`]). For servers with a stable, reachable address.
    Server,
}

/// Resource limits of a relay server ([`Config::relay_server`]). Circuits are meant for
/// messages and for the DCUtR handshake that replaces them with a direct connection, not for
/// bulk transfer. Per-peer and per-IP rate limits are libp2p's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayLimits {
    /// Most reservations held at once. Default 1024.
    pub max_reservations: usize,
    /// Most reservations one peer holds at once. Default 4.
    pub max_reservations_per_peer: usize,
    /// How long a reservation lasts before the client must renew it (the client renews by
    /// itself). Default 1 h.
    pub reservation_duration: Duration,
    /// Most relayed circuits open at once. Default 256.
    pub max_circuits: usize,
    /// Most relayed circuits one peer has open at once. Default 16.
    pub max_circuits_per_peer: usize,
    /// How long one circuit may stay open. Default 5 min. At most `u32::MAX` seconds.
    pub max_circuit_duration: Duration,
    /// Most bytes relayed on one circuit, both directions together. Default 4 MiB.
    pub max_circuit_bytes: u64,
}

impl Default for RelayLimits {
    fn default() -> Self {
        Self {
            max_reservations: 1024,
            max_reservations_per_peer: 4,
            reservation_duration: Duration::from_secs(60 * 60),
            max_circuits: 256,
            max_circuits_per_peer: 16,
            max_circuit_duration: Duration::from_secs(5 * 60),
            max_circuit_bytes: 4 * 1024 * 1024,
        }
    }
}

/// What AutoNAT found out about this node's reachability (see
/// [`NetHandle::nat_status`](crate::NetHandle::nat_status)).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum NatStatus {
    /// Nothing tested yet (or AutoNAT is off: see [`Config::probes_nat`]).
    #[default]
    Unknown,
    /// A server dialed this node back at this address.
    Public(Multiaddr),
    /// Servers could not dial back any tested address: the node is behind NAT or a firewall
    /// and is reachable only through its relay.
    Private,
}
