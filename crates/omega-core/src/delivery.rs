//! The network legs of the send pipeline, run in spawned tasks (they hold no engine state): deliver
//! an envelope directly or, failing that, deposit it at the recipient's mailbox; fetch a one-time
//! key directly or claim one from the recipient's prekey directory; and the mailbox request helper.

use libp2p::{Multiaddr, PeerId};
use omega_net::{NetHandle, Protocol};
use omega_proto::{Message, v1};

/// Where an envelope for one device can go.
#[derive(Clone, Debug)]
pub(crate) struct Route {
    pub peer: PeerId,
    pub addrs: Vec<Multiaddr>,
    /// The recipient's home mailbox server, if its card names one.
    pub mailbox: Option<(PeerId, Vec<Multiaddr>)>,
    /// The device's mailbox address there.
    pub recipient_hash: [u8; 32],
    /// False while the device is known to be unreachable (skip straight to the mailbox).
    pub try_direct: bool,
}

/// How an envelope left.
#[derive(Debug)]
pub(crate) enum Delivered {
    /// The recipient device answered.
    Direct(v1::Ack),
    /// A mailbox server stored it durably.
    Mailbox,
}

/// The outcome of one delivery attempt.
#[derive(Debug)]
pub(crate) struct Attempt<T> {
    pub result: Result<T, String>,
    /// The direct path was tried and failed (the engine stops trying it for a while).
    pub direct_failed: bool,
}

/// Sends a request on /omega/mailbox/1 and returns the result, or the server's refusal as text.
pub(crate) async fn mailbox_request(
    net: &NetHandle,
    server: &(PeerId, Vec<Multiaddr>),
    op: v1::mailbox_request::Op,
) -> Result<v1::mailbox_response::Result, MailboxFailure> {
    let request = v1::MailboxRequest { op: Some(op) }.encode_to_vec();
    let bytes = net
        .request(Protocol::Mailbox, server.0, server.1.clone(), request)
        .await
        .map_err(|error| MailboxFailure::Network(error.to_string()))?;
    let response = omega_proto::decode_mailbox_response(&bytes)
        .map_err(|error| MailboxFailure::Network(error.to_string()))?;
    match response.result {
        Some(v1::mailbox_response::Result::Error(refusal)) => Err(MailboxFailure::Refused {
            code: refusal.code,
            message: refusal.message,
        }),
        Some(result) => Ok(result),
        None => Err(MailboxFailure::Network("empty mailbox response".into())),
    }
}

/// Why a mailbox request failed.
#[derive(Debug, Clone)]
pub(crate) enum MailboxFailure {
    Network(String),
    Refused { code: String, message: String },
}

impl std::fmt::Display for MailboxFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MailboxFailure::Network(reason) => write!(f, "mailbox unreachable: {reason}"),
            MailboxFailure::Refused { code, message } => {
                write!(f, "mailbox refused ({code}): {message}")
            }
        }
    }
}

/// Direct first (when worth trying), then the recipient's mailbox.
pub(crate) async fn deliver(
    net: NetHandle,
    route: Route,
    message_id: Vec<u8>,
    envelope: Vec<u8>,
) -> Attempt<Delivered> {
    let mut direct_failed = false;
    let mut last_error = String::from("no route to the recipient");
    // With no known address the request still succeeds over an open connection (the peer dialed us).
    if route.try_direct {
        match net
            .request(
                Protocol::Msg,
                route.peer,
                route.addrs.clone(),
                envelope.clone(),
            )
            .await
        {
            Ok(bytes) => {
                return Attempt {
                    result: omega_proto::decode_ack(&bytes)
                        .map(Delivered::Direct)
                        .map_err(|error| error.to_string()),
                    direct_failed: false,
                };
            }
            Err(error) => {
                direct_failed = true;
                last_error = error.to_string();
            }
        }
    }
    if let Some(server) = &route.mailbox {
        let deposit = v1::mailbox_request::Op::Deposit(v1::Deposit {
            recipient_hash: route.recipient_hash.to_vec(),
            message_id,
            envelope,
        });
        return Attempt {
            result: match mailbox_request(&net, server, deposit).await {
                Ok(v1::mailbox_response::Result::Deposited(_)) => Ok(Delivered::Mailbox),
                Ok(_) => Err("unexpected mailbox answer".into()),
                Err(failure) => Err(failure.to_string()),
            },
            direct_failed,
        };
    }
    Attempt {
        result: Err(last_error),
        direct_failed,
    }
}

/// A key bundle to start a session: from the device itself, else from its prekey directory.
pub(crate) async fn fetch_keys(
    net: NetHandle,
    route: Route,
    user_key: Vec<u8>,
    device_curve25519: Vec<u8>,
) -> Attempt<v1::KeysResponse> {
    let mut direct_failed = false;
    let mut last_error = String::from("no route to the recipient");
    // With no known address the request still succeeds over an open connection (the peer dialed us).
    if route.try_direct {
        let request = v1::KeysRequest {
            user_key: user_key.clone(),
        }
        .encode_to_vec();
        match net
            .request(Protocol::Keys, route.peer, route.addrs.clone(), request)
            .await
        {
            Ok(bytes) => {
                return Attempt {
                    result: omega_proto::decode_keys_response(&bytes).map_err(|e| e.to_string()),
                    direct_failed: false,
                };
            }
            Err(error) => {
                direct_failed = true;
                last_error = error.to_string();
            }
        }
    }
    if let Some(server) = &route.mailbox {
        let claim = v1::mailbox_request::Op::ClaimPreKey(v1::ClaimPreKey {
            user_key,
            device_curve25519,
        });
        return Attempt {
            result: match mailbox_request(&net, server, claim).await {
                Ok(v1::mailbox_response::Result::Claimed(keys)) => Ok(keys),
                Ok(_) => Err("unexpected mailbox answer".into()),
                Err(failure) => Err(failure.to_string()),
            },
            direct_failed,
        };
    }
    Attempt {
        result: Err(last_error),
        direct_failed,
    }
}

/// Splits a full multiaddr (ending in `/p2p/<peer id>`) into the peer and its address.
pub fn split_peer_addr(addr: &Multiaddr) -> Option<(PeerId, Multiaddr)> {
    let mut without = addr.clone();
    match without.pop() {
        Some(libp2p::multiaddr::Protocol::P2p(peer)) => Some((peer, without)),
        _ => None,
    }
}
