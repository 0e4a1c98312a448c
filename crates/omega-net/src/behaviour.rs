//! The swarm-wide behaviour: one `request_response` instance per Ômega protocol, identify, ping
//! and (optionally) mDNS. Each field's events are handled in `driver.rs`.
//!
//! Next to come, each as one more field here plus one arm in `Driver::on_swarm_event`:
//! `kad::Behaviour` (our own `/omega/kad/1.0.0` DHT), the relay client (which needs the builder's
//! `with_relay_client` phase in `driver::build_swarm`), `dcutr::Behaviour` and
//! `autonat::Behaviour`. Optional ones go behind a [`Toggle`] like `mdns`.

use libp2p::{
    PeerId, StreamProtocol, identify,
    identity::PublicKey,
    mdns, ping, request_response,
    request_response::ProtocolSupport,
    swarm::{NetworkBehaviour, behaviour::toggle::Toggle},
};

use crate::{
    Config, Protocol,
    error::StartError,
    protocol::{FrameCodec, IDENTIFY_PROTOCOL},
};

/// Every protocol a node speaks.
#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    pub(crate) msg: request_response::Behaviour<FrameCodec>,
    pub(crate) keys: request_response::Behaviour<FrameCodec>,
    pub(crate) mailbox: request_response::Behaviour<FrameCodec>,
    pub(crate) identify: identify::Behaviour,
    pub(crate) ping: ping::Behaviour,
    pub(crate) mdns: Toggle<mdns::tokio::Behaviour>,
}

/// Events of [`Behaviour`], one variant per field.
pub(crate) type Event = BehaviourEvent;

impl Behaviour {
    /// Must be called within a tokio runtime when `config.mdns` is set (mDNS watches the
    /// interfaces from there).
    pub(crate) fn new(config: &Config, local_key: PublicKey) -> Result<Self, StartError> {
        let local_peer_id = PeerId::from_public_key(&local_key);
        let request_response_config =
            request_response::Config::default().with_request_timeout(config.request_timeout);
        let request_response = |protocol: Protocol| {
            let codec = FrameCodec {
                max_request_bytes: config.max_request_bytes,
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
            identify,
            ping: ping::Behaviour::default(),
            mdns: Toggle::from(mdns),
        })
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
        }
    }

    /// Whether mDNS still holds an unexpired address for `peer` (false when mDNS is off).
    pub(crate) fn mdns_knows(&self, peer: &PeerId) -> bool {
        self.mdns
            .as_ref()
            .is_some_and(|mdns| mdns.discovered_nodes().any(|known| known == peer))
    }
}
