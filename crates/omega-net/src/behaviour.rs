//! The swarm-wide behaviour: one `request_response` instance per Ômega protocol, identify,
//! ping, the relay client, and — each behind a [`Toggle`] as the [`Config`] says — mDNS,
//! Kademlia, the relay server, DCUtR and the two halves of AutoNAT v2. Each field's events are
//! handled in the `driver` modules.

use std::time::Duration;

use libp2p::{
    PeerId, StreamProtocol, autonat, dcutr, gossipsub, identify,
    identity::Keypair,
    kad::{self, store::MemoryStore},
    mdns, ping, relay, request_response,
    request_response::ProtocolSupport,
    swarm::{NetworkBehaviour, behaviour::toggle::Toggle},
};

use crate::{
    Config, KadMode, Protocol, RelayLimits,
    error::StartError,
    protocol::{FrameCodec, IDENTIFY_PROTOCOL, KAD_PROTOCOL},
};

/// How long one DHT query (all its requests together) may take.
const KAD_QUERY_TIMEOUT: Duration = Duration::from_secs(30);
/// Room for the rest of a DHT message (closer peers, key, framing) beside the record value.
const KAD_PACKET_OVERHEAD: usize = 16 * 1024;

/// Every protocol a node speaks.
#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    pub(crate) msg: request_response::Behaviour<FrameCodec>,
    pub(crate) keys: request_response::Behaviour<FrameCodec>,
    pub(crate) mailbox: request_response::Behaviour<FrameCodec>,
    pub(crate) blob: request_response::Behaviour<FrameCodec>,
    pub(crate) link: request_response::Behaviour<FrameCodec>,
    pub(crate) identify: identify::Behaviour,
    pub(crate) ping: ping::Behaviour,
    pub(crate) mdns: Toggle<mdns::tokio::Behaviour>,
    /// Group messages (`/omega/group/<id>` topics), when [`Config::gossip`] is on.
    pub(crate) gossip: Toggle<gossipsub::Behaviour>,
    pub(crate) kad: Toggle<kad::Behaviour<MemoryStore>>,
    /// Always present: it is what lets any node dial a `/p2p-circuit` address. It listens
    /// (reserves) only when the driver asks it to.
    pub(crate) relay_client: relay::client::Behaviour,
    pub(crate) relay_server: Toggle<relay::Behaviour>,
    pub(crate) dcutr: Toggle<dcutr::Behaviour>,
    pub(crate) autonat_client: Toggle<autonat::v2::client::Behaviour>,
    pub(crate) autonat_server: Toggle<autonat::v2::server::Behaviour>,
}

/// Events of [`Behaviour`], one variant per field.
pub(crate) type Event = BehaviourEvent;

impl Behaviour {
    /// Must be called within a tokio runtime when `config.mdns` is set (mDNS watches the
    /// interfaces from there). `relay_client` comes from the swarm builder, which pairs it
    /// with the relayed transport.
    pub(crate) fn new(
        config: &Config,
        keypair: &Keypair,
        relay_client: relay::client::Behaviour,
    ) -> Result<Self, StartError> {
        let local_key = keypair.public();
        let local_peer_id = PeerId::from_public_key(&local_key);
        let request_response_config =
            request_response::Config::default().with_request_timeout(config.request_timeout);
        let request_response = |protocol: Protocol| {
            let codec = FrameCodec {
                max_request_bytes: config.request_limit(protocol),
                max_response_bytes: config.response_limit(protocol),
            };
            // `Outbound`: we send on the protocol but do not offer it to peers, so their
            // requests fail negotiation with `UnsupportedProtocols`.
            let support = if config.answers(protocol) {
                ProtocolSupport::Full
            } else {
                ProtocolSupport::Outbound
            };
            request_response::Behaviour::with_codec(
                codec,
                [(StreamProtocol::new(protocol.as_str()), support)],
                request_response_config.clone(),
            )
        };
        let identify = identify::Behaviour::new(
            identify::Config::new(IDENTIFY_PROTOCOL.to_owned(), local_key)
                .with_agent_version(format!("omega-net/{}", env!("CARGO_PKG_VERSION"))),
        );
        let mdns = if config.mdns {
            let behaviour = mdns::tokio::Behaviour::new(mdns::Config::default(), local_peer_id)
                .map_err(|error| StartError::Mdns {
                    reason: error.to_string(),
                })?;
            Some(behaviour)
        } else {
            None
        };
        Ok(Self {
            msg: request_response(Protocol::Msg),
            keys: request_response(Protocol::Keys),
            mailbox: request_response(Protocol::Mailbox),
            blob: request_response(Protocol::Blob),
            link: request_response(Protocol::Link),
            identify,
            ping: ping::Behaviour::default(),
            mdns: Toggle::from(mdns),
            gossip: Toggle::from(if config.gossip {
                Some(new_gossip(keypair)?)
            } else {
                None
            }),
            kad: Toggle::from(new_kad(config, local_peer_id)),
            relay_client,
            relay_server: Toggle::from(
                config.relay_server.then(|| {
                    relay::Behaviour::new(local_peer_id, relay_config(&config.relay_limits))
                }),
            ),
            dcutr: Toggle::from(
                config
                    .relay_client
                    .then(|| dcutr::Behaviour::new(local_peer_id)),
            ),
            // Tests a new address candidate every 5 s.
            autonat_client: Toggle::from(
                config
                    .probes_nat()
                    .then(autonat::v2::client::Behaviour::default),
            ),
            autonat_server: Toggle::from(
                config
                    .answers_nat_probes()
                    .then(autonat::v2::server::Behaviour::default),
            ),
        })
    }

    /// The DHT, when [`Config::kad`] is on.
    pub(crate) fn kad_mut(&mut self) -> Option<&mut kad::Behaviour<MemoryStore>> {
        self.kad.as_mut()
    }

    /// The `request_response` instance carrying `protocol`.
    pub(crate) fn request_response_mut(
        &mut self,
        protocol: Protocol,
    ) -> &mut request_response::Behaviour<FrameCodec> {
        match protocol {
            Protocol::Msg => &mut self.msg,
            Protocol::Keys => &mut self.keys,
            Protocol::Mailbox => &mut self.mailbox,
            Protocol::Blob => &mut self.blob,
            Protocol::Link => &mut self.link,
        }
    }

    /// Whether mDNS still holds an unexpired address for `peer` (false when mDNS is off).
    pub(crate) fn mdns_knows(&self, peer: &PeerId) -> bool {
        self.mdns
            .as_ref()
            .is_some_and(|mdns| mdns.discovered_nodes().any(|known| known == peer))
    }
}

/// Largest group message carried on a topic.
pub const MAX_GOSSIP_BYTES: usize = 256 * 1024;

/// GossipSub for group topics: messages signed by the publishing peer and checked strictly, a
/// message's id is the SHA-256 of its bytes (the same bytes published twice are one message),
/// and a publication goes to every subscribed peer we are connected to (flood publishing), not
/// only to the mesh, so a group's members hear it in one hop when they are connected.
fn new_gossip(keypair: &Keypair) -> Result<gossipsub::Behaviour, StartError> {
    use sha2::Digest;
    let config = gossipsub::ConfigBuilder::default()
        .validation_mode(gossipsub::ValidationMode::Strict)
        .max_transmit_size(MAX_GOSSIP_BYTES)
        .flood_publish(true)
        .heartbeat_interval(Duration::from_millis(700))
        .message_id_fn(|message: &gossipsub::Message| {
            gossipsub::MessageId::from(sha2::Sha256::digest(&message.data).to_vec())
        })
        .build()
        .map_err(|error| StartError::Gossip {
            reason: error.to_string(),
        })?;
    gossipsub::Behaviour::new(
        gossipsub::MessageAuthenticity::Signed(keypair.clone()),
        config,
    )
    .map_err(|reason| StartError::Gossip {
        reason: reason.to_owned(),
    })
}

/// The Kademlia behaviour [`Config::kad`] asks for, or `None` when it is off.
fn new_kad(config: &Config, local_peer_id: PeerId) -> Option<kad::Behaviour<MemoryStore>> {
    let mode = match config.kad {
        KadMode::Off => return None,
        KadMode::Client => kad::Mode::Client,
        KadMode::Server => kad::Mode::Server,
    };
    let mut kad_config = kad::Config::new(StreamProtocol::new(KAD_PROTOCOL));
    kad_config
        .set_query_timeout(KAD_QUERY_TIMEOUT)
        .set_record_ttl(Some(config.record_ttl))
        // Republishing is the publisher's job (it calls `put_record` again).
        .set_publication_interval(None)
        // Every inbound record goes through the application's validator first.
        .set_record_filtering(kad::StoreInserts::FilterBoth)
        .set_max_packet_size(config.max_record_bytes + KAD_PACKET_OVERHEAD);
    let store = MemoryStore::with_config(
        local_peer_id,
        kad::store::MemoryStoreConfig {
            max_records: config.max_records,
            max_value_bytes: config.max_record_bytes,
            ..Default::default()
        },
    );
    let mut kad = kad::Behaviour::with_config(local_peer_id, store, kad_config);
    // Fixed, not inferred from confirmed external addresses: a device never serves the DHT,
    // a server always does.
    kad.set_mode(Some(mode));
    Some(kad)
}

/// The relay server's configuration for `limits`, keeping libp2p's default rate limiters.
fn relay_config(limits: &RelayLimits) -> relay::Config {
    let RelayLimits {
        max_reservations,
        max_reservations_per_peer,
        reservation_duration,
        max_circuits,
        max_circuits_per_peer,
        max_circuit_duration,
        max_circuit_bytes,
    } = limits.clone();
    relay::Config {
        max_reservations,
        max_reservations_per_peer,
        reservation_duration,
        max_circuits,
        max_circuits_per_peer,
        // libp2p panics above `u32::MAX` seconds.
        max_circuit_duration: max_circuit_duration.min(Duration::from_secs(u64::from(u32::MAX))),
        max_circuit_bytes,
        ..relay::Config::default()
    }
}
