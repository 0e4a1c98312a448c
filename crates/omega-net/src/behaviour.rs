//! The swarm-wide behaviour: one `request_response` instance per Ômega protocol, plus identify
//! and ping. New protocols (QUIC has no behaviour; kad, relay client, mdns do) are added as
//! fields here and handled in `driver.rs`.

use libp2p::{
    StreamProtocol, identify, identity::PublicKey, ping, request_response,
    request_response::ProtocolSupport, swarm::NetworkBehaviour,
};

use crate::{
    Config, Protocol,
    protocol::{FrameCodec, IDENTIFY_PROTOCOL},
};

/// Every protocol a node speaks.
#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    pub(crate) msg: request_response::Behaviour<FrameCodec>,
    pub(crate) keys: request_response::Behaviour<FrameCodec>,
    pub(crate) identify: identify::Behaviour,
    pub(crate) ping: ping::Behaviour,
}

/// Events of [`Behaviour`], one variant per field.
pub(crate) type Event = BehaviourEvent;

impl Behaviour {
    pub(crate) fn new(config: &Config, local_key: PublicKey) -> Self {
        let codec = FrameCodec {
            max_request_bytes: config.max_request_bytes,
            max_response_bytes: config.max_response_bytes,
        };
        let request_response_config =
            request_response::Config::default().with_request_timeout(config.request_timeout);
        let request_response = |protocol: Protocol| {
            request_response::Behaviour::with_codec(
                codec,
                [(
                    StreamProtocol::new(protocol.as_str()),
                    ProtocolSupport::Full,
                )],
                request_response_config.clone(),
            )
        };
        let identify = identify::Behaviour::new(
            identify::Config::new(IDENTIFY_PROTOCOL.to_owned(), local_key)
                .with_agent_version(format!("omega-net/{}", env!("CARGO_PKG_VERSION"))),
        );
        Self {
            msg: request_response(Protocol::Msg),
            keys: request_response(Protocol::Keys),
            identify,
            ping: ping::Behaviour::default(),
        }
    }

    /// The `request_response` instance carrying `protocol`.
    pub(crate) fn request_response_mut(
        &mut self,
        protocol: Protocol,
    ) -> &mut request_response::Behaviour<FrameCodec> {
        match protocol {
            Protocol::Msg => &mut self.msg,
            Protocol::Keys => &mut self.keys,
        }
    }
}
