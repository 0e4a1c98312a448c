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
    /// The device's sealing key: deposits are sealed to it (sealed sender) when it has one.
    pub sealing_x25519: Option<[u8; 32]>,
    /// False while the device is known to be unreachable (skip straight to the mailbox).
    pub try_direct: bool,
    /// Where to look the device up in the DHT when its known addresses fail: its user and the
    /// record key.
    pub record: Option<(omega_crypto::UserKey, [u8; 32])>,
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
    /// Fresh addresses of the device found in the DHT (the engine remembers them).
    pub learned: Vec<Multiaddr>,
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

/// Looks a device up in the DHT: the addresses of its newest valid record.
pub(crate) async fn resolve(net: &NetHandle, route: &Route) -> Vec<Multiaddr> {
    let Some((user, key)) = &route.record else {
        return Vec::new();
    };
    let Ok(values) = net.get_record(key.to_vec()).await else {
        return Vec::new();
    };
    values
        .iter()
        .filter_map(|value| omega_crypto::verify_peer_record(value, Some(user), Some(key)).ok())
        .max_by_key(|record| record.issued_ms)
        .map(|record| {
            record
                .addrs
                .iter()
                .filter_map(|addr| addr.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// A request straight to the device: known addresses first (an open connection also works with
/// none), then the addresses its DHT record gives. Returns the answer and the addresses learned.
async fn direct(
    net: &NetHandle,
    route: &Route,
    protocol: Protocol,
    body: &[u8],
) -> Result<(Vec<u8>, Vec<Multiaddr>), String> {
    let error = match net
        .request(protocol, route.peer, route.addrs.clone(), body.to_vec())
        .await
    {
        Ok(bytes) => return Ok((bytes, Vec::new())),
        Err(error) => error.to_string(),
    };
    let found: Vec<Multiaddr> = resolve(net, route)
        .await
        .into_iter()
        .filter(|addr| !route.addrs.contains(addr))
        .collect();
    if found.is_empty() {
        return Err(error);
    }
    net.request(protocol, route.peer, found.clone(), body.to_vec())
        .await
        .map(|bytes| (bytes, found))
        .map_err(|error| error.to_string())
}

/// Direct first (when worth trying), then the recipient's mailbox.
pub(crate) async fn deliver(
    net: NetHandle,
    route: Route,
    message_id: Vec<u8>,
    envelope: Vec<u8>,
) -> Attempt<Delivered> {
    let mut last_error = String::from("no route to the recipient");
    if route.try_direct {
        match direct(&net, &route, Protocol::Msg, &envelope).await {
            Ok((bytes, learned)) => {
                return Attempt {
                    result: omega_proto::decode_ack(&bytes)
                        .map(Delivered::Direct)
                        .map_err(|error| error.to_string()),
                    direct_failed: false,
                    learned,
                };
            }
            Err(error) => last_error = error,
        }
    }
    let direct_failed = route.try_direct;
    let result = match &route.mailbox {
        Some(server) => {
            let envelope = match &route.sealing_x25519 {
                Some(key) => {
                    match omega_crypto::sealed::seal(key, &envelope, &mut rand::rngs::OsRng) {
                        Ok(sealed) => sealed.encode_to_vec(),
                        Err(error) => {
                            return Attempt {
                                result: Err(error.to_string()),
                                direct_failed: route.try_direct,
                                learned: Vec::new(),
                            };
                        }
                    }
                }
                None => envelope,
            };
            let deposit = v1::mailbox_request::Op::Deposit(v1::Deposit {
                recipient_hash: route.recipient_hash.to_vec(),
                message_id,
                envelope,
            });
            match mailbox_request(&net, server, deposit).await {
                Ok(v1::mailbox_response::Result::Deposited(_)) => Ok(Delivered::Mailbox),
                Ok(_) => Err("unexpected mailbox answer".into()),
                Err(failure) => Err(failure.to_string()),
            }
        }
        None => Err(last_error),
    };
    Attempt {
        result,
        direct_failed,
        learned: Vec::new(),
    }
}

/// A key bundle to start a session: from the device itself, else from its prekey directory.
pub(crate) async fn fetch_keys(
    net: NetHandle,
    route: Route,
    user_key: Vec<u8>,
    device_curve25519: Vec<u8>,
) -> Attempt<v1::KeysResponse> {
    let mut last_error = String::from("no route to the recipient");
    if route.try_direct {
        let request = v1::KeysRequest {
            user_key: user_key.clone(),
        }
        .encode_to_vec();
        match direct(&net, &route, Protocol::Keys, &request).await {
            Ok((bytes, learned)) => {
                return Attempt {
                    result: omega_proto::decode_keys_response(&bytes).map_err(|e| e.to_string()),
                    direct_failed: false,
                    learned,
                };
            }
            Err(error) => last_error = error,
        }
    }
    let direct_failed = route.try_direct;
    let result = match &route.mailbox {
        Some(server) => {
            let claim = v1::mailbox_request::Op::ClaimPreKey(v1::ClaimPreKey {
                user_key,
                device_curve25519,
            });
            match mailbox_request(&net, server, claim).await {
                Ok(v1::mailbox_response::Result::Claimed(keys)) => Ok(keys),
                Ok(_) => Err("unexpected mailbox answer".into()),
                Err(failure) => Err(failure.to_string()),
            }
        }
        None => Err(last_error),
    };
    Attempt {
        result,
        direct_failed,
        learned: Vec::new(),
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
