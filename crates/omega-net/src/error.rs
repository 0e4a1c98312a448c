//! Errors of [`start`](crate::start) and of the [`NetHandle`](crate::NetHandle) operations.

use libp2p::{Multiaddr, request_response::OutboundFailure, swarm::DialError};

use crate::protocol::FrameError;

/// Why [`start`](crate::start) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The transport (TCP + Noise + Yamux) could not be built.
    #[error("cannot build the transport: {reason}")]
    Transport { reason: String },
    /// A listen address is not supported or could not be bound.
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: Multiaddr, reason: String },
    /// A listener closed before reporting a bound address.
    #[error("listener for {addr} closed before binding: {reason}")]
    ListenerClosed { addr: Multiaddr, reason: String },
    /// A listener did not report a bound address in time.
    #[error("listener for {addr} reported no bound address within {seconds} s")]
    ListenTimeout { addr: Multiaddr, seconds: u64 },
    /// mDNS was asked for but its interface watcher could not start.
    #[error("cannot start mdns discovery: {reason}")]
    Mdns { reason: String },
    /// GossipSub could not be configured.
    #[error("cannot start gossipsub: {reason}")]
    Gossip { reason: String },
    /// A [`Config::bootstrap`](crate::Config::bootstrap) address is not a full direct address
    /// ending in `/p2p/<peer id>`.
    #[error("bootstrap address {addr} must be direct and end in /p2p/<peer id>")]
    Bootstrap { addr: Multiaddr },
}

/// Why a request (or a dial) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// No response arrived within the request timeout. The peer may or may not have seen the
    /// request.
    #[error("no response within the request timeout")]
    Timeout,
    /// Every address of the peer failed to connect.
    #[error("cannot reach the peer: {reason}")]
    DialFailure { reason: String },
    /// The connection closed before the response arrived. The peer may or may not have seen
    /// the request.
    #[error("connection closed before the response arrived")]
    ConnectionClosed,
    /// The peer does not speak the protocol.
    #[error("the peer does not support the protocol")]
    UnsupportedProtocol,
    /// The stream failed while writing the request or reading the response.
    #[error("stream failed: {reason}")]
    Io { reason: String },
    /// A request or response body is larger than allowed: `got` bytes, `limit` allowed.
    #[error("body of {got} bytes is over the limit of {limit} bytes")]
    TooLarge { got: usize, limit: usize },
    /// The peer closed the stream without responding (it dropped the
    /// [`Responder`](crate::Responder), refused the request, or was overloaded).
    #[error("the peer closed the stream without responding")]
    NoResponse,
    /// The node is shut down.
    #[error("the network node is shut down")]
    Shutdown,
    /// A GossipSub publication failed: no subscribed peer is connected, the message is too
    /// large, or GossipSub is off.
    #[error("cannot publish: {reason}")]
    Publish { reason: String },
    /// The peer is not connected and no address is known for it.
    #[error("no address known for the peer")]
    NoAddresses,
    /// Too many requests (or DHT queries) are waiting for a response; `limit` may be pending
    /// at once.
    #[error("too many pending requests (limit {limit})")]
    TooManyPending { limit: usize },
    /// The DHT is off ([`KadMode::Off`](crate::KadMode::Off)).
    #[error("the dht is off on this node")]
    DhtDisabled,
    /// The DHT routing table is empty: no DHT server was ever known (check
    /// [`Config::bootstrap`](crate::Config::bootstrap)).
    #[error("no dht server known")]
    NoDhtPeers,
    /// The record was refused by this node's own
    /// [`Config::record_validator`](crate::Config::record_validator); nothing was published.
    #[error("the record validator refused the record")]
    InvalidRecord,
    /// No DHT server acknowledged storing the record.
    #[error("no dht server stored the record: {reason}")]
    RecordNotStored { reason: String },
}

/// What the last failed dial to a peer said, kept so that a request's
/// [`OutboundFailure::DialFailure`] can carry the reason.
#[derive(Debug, Clone)]
pub(crate) enum DialFailureReason {
    NoAddresses,
    Other(String),
}

impl DialFailureReason {
    pub(crate) fn from_dial_error(error: &DialError) -> Self {
        match error {
            DialError::NoAddresses => Self::NoAddresses,
            other => Self::Other(other.to_string()),
        }
    }

    pub(crate) fn into_request_error(self) -> RequestError {
        match self {
            Self::NoAddresses => RequestError::NoAddresses,
            Self::Other(reason) => RequestError::DialFailure { reason },
        }
    }
}

impl RequestError {
    /// Maps a `request_response` failure; `dial_reason` is the last dial error seen for the peer.
    pub(crate) fn from_outbound_failure(
        failure: &OutboundFailure,
        dial_reason: Option<DialFailureReason>,
    ) -> Self {
        match failure {
            OutboundFailure::DialFailure => match dial_reason {
                Some(reason) => reason.into_request_error(),
                None => RequestError::DialFailure {
                    reason: "dial failed".to_owned(),
                },
            },
            OutboundFailure::Timeout => RequestError::Timeout,
            OutboundFailure::ConnectionClosed => RequestError::ConnectionClosed,
            OutboundFailure::UnsupportedProtocols => RequestError::UnsupportedProtocol,
            OutboundFailure::Io(error) => match FrameError::from_io(error) {
                Some(FrameError::TooLarge { got, limit }) => RequestError::TooLarge { got, limit },
                Some(FrameError::Closed) => RequestError::NoResponse,
                Some(FrameError::BadLength) | None => RequestError::Io {
                    reason: error.to_string(),
                },
            },
        }
    }
}
