//! The caller's side: [`NetHandle`] sends commands to the driver task, [`NetEvent`] and
//! [`Responder`] come back from it.

use std::fmt;

use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};

use crate::{NatStatus, Protocol, RequestError};

/// Work for the driver task; each command carries its reply channel.
pub(crate) enum Command {
    Request {
        protocol: Protocol,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        body: Vec<u8>,
        reply: oneshot::Sender<Result<Vec<u8>, RequestError>>,
    },
    Dial {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        reply: oneshot::Sender<Result<(), RequestError>>,
    },
    AddAddresses {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
    },
    IsConnected {
        peer: PeerId,
        reply: oneshot::Sender<bool>,
    },
    ListenAddrs {
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
    ConnectionAddrs {
        peer: PeerId,
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
    PutRecord {
        key: Vec<u8>,
        value: Vec<u8>,
        reply: oneshot::Sender<Result<(), RequestError>>,
    },
    GetRecord {
        key: Vec<u8>,
        reply: oneshot::Sender<Result<Vec<Vec<u8>>, RequestError>>,
    },
    NatStatus {
        reply: oneshot::Sender<NatStatus>,
    },
    Subscribe {
        topic: String,
        subscribe: bool,
    },
    Publish {
        topic: String,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<(), RequestError>>,
    },
    TopicPeers {
        topic: String,
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

impl Command {
    /// Answers the command as if the node were already shut down.
    pub(crate) fn refuse(self) {
        match self {
            Command::Request { reply, .. } => {
                let _ = reply.send(Err(RequestError::Shutdown));
            }
            Command::Dial { reply, .. } => {
                let _ = reply.send(Err(RequestError::Shutdown));
            }
            Command::AddAddresses { .. } => {}
            Command::IsConnected { reply, .. } => {
                let _ = reply.send(false);
            }
            Command::ListenAddrs { reply } | Command::ConnectionAddrs { reply, .. } => {
                let _ = reply.send(Vec::new());
            }
            Command::PutRecord { reply, .. } => {
                let _ = reply.send(Err(RequestError::Shutdown));
            }
            Command::GetRecord { reply, .. } => {
                let _ = reply.send(Err(RequestError::Shutdown));
            }
            Command::NatStatus { reply } => {
                let _ = reply.send(NatStatus::Unknown);
            }
            Command::Subscribe { .. } => {}
            Command::Publish { reply, .. } => {
                let _ = reply.send(Err(RequestError::Shutdown));
            }
            Command::TopicPeers { reply, .. } => {
                let _ = reply.send(Vec::new());
            }
            Command::Shutdown { reply } => {
                let _ = reply.send(());
            }
        }
    }
}

/// A cheap, cloneable handle on a running node. Every method is answered by the driver task;
/// once the node is shut down they fail with [`RequestError::Shutdown`] (or return empty
/// answers).
#[derive(Clone)]
pub struct NetHandle {
    pub(crate) local_peer_id: PeerId,
    pub(crate) max_request_bytes: usize,
    pub(crate) blob_max_bytes: usize,
    pub(crate) commands: mpsc::Sender<Command>,
}

impl fmt::Debug for NetHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetHandle")
            .field("local_peer_id", &self.local_peer_id)
            .finish_non_exhaustive()
    }
}

impl NetHandle {
    /// This node's peer id.
    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    /// The concrete addresses the node listens on (an unspecified address like `0.0.0.0` is
    /// expanded into one address per interface), without this node's own `/p2p` suffix. With
    /// [`Config::relay_client`](crate::Config::relay_client) this includes one relayed address
    /// per relay reservation, `<relay addr>/p2p/<relay id>/p2p-circuit`. Empty once shut down.
    pub async fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.ask(|reply| Command::ListenAddrs { reply })
            .await
            .unwrap_or_default()
    }

    /// The remote address of every established connection to `peer`, without the peer's
    /// `/p2p` suffix (empty when not connected). A relayed connection's address contains
    /// `/p2p-circuit`.
    pub async fn connection_addrs(&self, peer: PeerId) -> Vec<Multiaddr> {
        self.ask(|reply| Command::ConnectionAddrs { peer, reply })
            .await
            .unwrap_or_default()
    }

    /// Publishes a DHT record under `key` and waits until at least one DHT server
    /// acknowledged storing it (quorum one). The record is also kept locally. It expires after
    /// [`Config::record_ttl`](crate::Config::record_ttl); this crate never republishes it, so
    /// call again (e.g. every TTL/2, and whenever the value changes) to keep it alive.
    ///
    /// Fails with [`RequestError::DhtDisabled`] when the DHT is off,
    /// [`RequestError::InvalidRecord`] when this node's own validator refuses the record,
    /// [`RequestError::TooLarge`] over [`Config::max_record_bytes`](crate::Config::max_record_bytes),
    /// [`RequestError::NoDhtPeers`] when no DHT server is known,
    /// [`RequestError::RecordNotStored`] or [`RequestError::Timeout`] when no server stored it.
    ///
    /// A server that refuses the record with its validator still acknowledges the `PutRecord`
    /// (the Kademlia protocol has no refusal), so give every node the same validator: the
    /// publisher's own check is what reports the refusal.
    pub async fn put_record(&self, key: Vec<u8>, value: Vec<u8>) -> Result<(), RequestError> {
        self.ask(|reply| Command::PutRecord { key, value, reply })
            .await
            .unwrap_or(Err(RequestError::Shutdown))
    }

    /// Looks `key` up in the DHT and returns every distinct value found (the local store
    /// included) that this node's validator accepts, in the order found. A key nobody holds
    /// gives `Ok` with no values, not an error.
    ///
    /// Fails with [`RequestError::DhtDisabled`] when the DHT is off,
    /// [`RequestError::NoDhtPeers`] when no DHT server is known and nothing is stored
    /// locally, and [`RequestError::Timeout`] when the query timed out without finding
    /// anything.
    pub async fn get_record(&self, key: Vec<u8>) -> Result<Vec<Vec<u8>>, RequestError> {
        self.ask(|reply| Command::GetRecord { key, reply })
            .await
            .unwrap_or(Err(RequestError::Shutdown))
    }

    /// What AutoNAT has found out about this node's reachability so far;
    /// [`NatStatus::Unknown`] when it is off (see
    /// [`Config::probes_nat`](crate::Config::probes_nat)) or the node is shut down. Changes
    /// are also reported as [`NetEvent::Reachability`].
    pub async fn nat_status(&self) -> NatStatus {
        self.ask(|reply| Command::NatStatus { reply })
            .await
            .unwrap_or_default()
    }

    /// Follows (`subscribe`) or stops following a GossipSub topic. Messages on followed topics
    /// arrive as [`NetEvent::Gossip`].
    pub async fn subscribe(&self, topic: &str, subscribe: bool) {
        let _ = self
            .commands
            .send(Command::Subscribe {
                topic: topic.to_owned(),
                subscribe,
            })
            .await;
    }

    /// Publishes `data` on a GossipSub topic: to every connected peer that follows it.
    /// Fire and forget: an `Ok` says it left, not that anyone received it.
    pub async fn publish(&self, topic: &str, data: Vec<u8>) -> Result<(), RequestError> {
        self.ask(|reply| Command::Publish {
            topic: topic.to_owned(),
            data,
            reply,
        })
        .await
        .unwrap_or(Err(RequestError::Shutdown))
    }

    /// The connected peers that follow `topic` (empty when GossipSub is off).
    pub async fn topic_peers(&self, topic: &str) -> Vec<PeerId> {
        self.ask(|reply| Command::TopicPeers {
            topic: topic.to_owned(),
            reply,
        })
        .await
        .unwrap_or_default()
    }

    /// Sends the command `make` builds and waits for its answer; `None` once shut down.
    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Option<T> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(make(reply)).await.ok()?;
        answer.await.ok()
    }

    /// Sends one request on `protocol` and waits for the response.
    ///
    /// If the peer is not connected it is dialed, using `addrs` and the addresses remembered for
    /// it (every direct address passed here is remembered until a dial to it fails). Relayed
    /// addresses (`.../p2p-circuit/...`; the 8 most recent per peer are remembered) are held
    /// back: the direct addresses are dialed first, and the relayed ones only if that dial
    /// fails, so a peer reachable both ways is reached directly. A body over
    /// `max_request_bytes` fails with [`RequestError::TooLarge`] without touching the network.
    pub async fn request(
        &self,
        protocol: Protocol,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, RequestError> {
        let limit = match protocol {
            Protocol::Blob => self.blob_max_bytes,
            _ => self.max_request_bytes,
        };
        if body.len() > limit {
            return Err(RequestError::TooLarge {
                got: body.len(),
                limit,
            });
        }
        let (reply, answer) = oneshot::channel();
        let command = Command::Request {
            protocol,
            peer,
            addrs,
            body,
            reply,
        };
        self.commands
            .send(command)
            .await
            .map_err(|_| RequestError::Shutdown)?;
        answer.await.unwrap_or(Err(RequestError::Shutdown))
    }

    /// Starts connecting to `peer` unless it is connected or being dialed (direct addresses
    /// before relayed ones, as for [`request`](Self::request)); returns once the dial is
    /// issued. Success shows as [`NetEvent::Connected`]. Fails at once with
    /// [`RequestError::NoAddresses`] when `addrs` is empty and no address is known.
    pub async fn dial(&self, peer: PeerId, addrs: Vec<Multiaddr>) -> Result<(), RequestError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Dial { peer, addrs, reply })
            .await
            .map_err(|_| RequestError::Shutdown)?;
        answer.await.unwrap_or(Err(RequestError::Shutdown))
    }

    /// Remembers `addrs` for `peer` without dialing: a later [`request`](Self::request) or
    /// [`dial`](Self::dial) with no addresses uses them. Like addresses passed to `request`,
    /// each direct one is forgotten once a dial to it fails, and relayed ones are tried only
    /// after the direct ones failed. Commands are handled in order, so a request
    /// issued after this returns sees the addresses. Fails only with
    /// [`RequestError::Shutdown`].
    pub async fn add_addresses(
        &self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
    ) -> Result<(), RequestError> {
        self.commands
            .send(Command::AddAddresses { peer, addrs })
            .await
            .map_err(|_| RequestError::Shutdown)
    }

    /// Whether at least one connection to `peer` is established.
    pub async fn is_connected(&self, peer: PeerId) -> bool {
        let (reply, answer) = oneshot::channel();
        if self
            .commands
            .send(Command::IsConnected { peer, reply })
            .await
            .is_err()
        {
            return false;
        }
        answer.await.unwrap_or(false)
    }

    /// Closes the listeners and every connection (waiting briefly for them to close cleanly),
    /// fails pending requests with [`RequestError::Shutdown`] and stops the task. The event
    /// receiver ends after the last events. Idempotent.
    pub async fn shutdown(&self) {
        let (reply, answer) = oneshot::channel();
        if self
            .commands
            .send(Command::Shutdown { reply })
            .await
            .is_ok()
        {
            let _ = answer.await;
        }
    }
}

/// Something the network did that the caller should know about.
pub enum NetEvent {
    /// A peer sent a request; answer it through `responder`.
    Request {
        protocol: Protocol,
        peer: PeerId,
        body: Vec<u8>,
        responder: Responder,
    },
    /// The first connection to `peer` is established.
    Connected { peer: PeerId },
    /// The last connection to `peer` closed.
    Disconnected { peer: PeerId },
    /// Identify told us where the peer listens.
    PeerListenAddrs { peer: PeerId, addrs: Vec<Multiaddr> },
    /// A listener bound a new address.
    NewListenAddr { addr: Multiaddr },
    /// mDNS found `peer` on the local network at `addrs` (only the addresses new since the
    /// last report). They are already remembered for dialing; nothing is dialed.
    Discovered { peer: PeerId, addrs: Vec<Multiaddr> },
    /// mDNS's records of `peer` all expired (it stopped answering on the local network).
    /// Addresses already remembered for it are kept.
    Expired { peer: PeerId },
    /// A listen address went away, e.g. a relayed address when the relay connection closed.
    /// A reservation is made again once the relay is reachable.
    ExpiredListenAddr { addr: Multiaddr },
    /// AutoNAT changed its mind about this node's reachability.
    Reachability { status: NatStatus },
    /// A message arrived on a GossipSub topic we subscribed to. `source` is the peer that
    /// published it (its signature checked), `via` the one that forwarded it.
    Gossip {
        topic: String,
        source: Option<PeerId>,
        via: PeerId,
        data: Vec<u8>,
    },
    /// A connected peer subscribed to a topic we also follow.
    TopicJoined { peer: PeerId, topic: String },
    /// DCUtR tried to replace a relayed connection to `peer` with a direct one; `succeeded`
    /// says whether it did. On failure the relayed connection stays.
    HolePunch { peer: PeerId, succeeded: bool },
}

impl fmt::Debug for NetEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Bodies are never printed, only their length.
            NetEvent::Request {
                protocol,
                peer,
                body,
                responder: _,
            } => f
                .debug_struct("Request")
                .field("protocol", protocol)
                .field("peer", peer)
                .field("body_len", &body.len())
                .finish_non_exhaustive(),
            NetEvent::Connected { peer } => {
                f.debug_struct("Connected").field("peer", peer).finish()
            }
            NetEvent::Disconnected { peer } => {
                f.debug_struct("Disconnected").field("peer", peer).finish()
            }
            NetEvent::PeerListenAddrs { peer, addrs } => f
                .debug_struct("PeerListenAddrs")
                .field("peer", peer)
                .field("addrs", addrs)
                .finish(),
            NetEvent::NewListenAddr { addr } => {
                f.debug_struct("NewListenAddr").field("addr", addr).finish()
            }
            NetEvent::Discovered { peer, addrs } => f
                .debug_struct("Discovered")
                .field("peer", peer)
                .field("addrs", addrs)
                .finish(),
            NetEvent::Expired { peer } => f.debug_struct("Expired").field("peer", peer).finish(),
            NetEvent::ExpiredListenAddr { addr } => f
                .debug_struct("ExpiredListenAddr")
                .field("addr", addr)
                .finish(),
            NetEvent::Reachability { status } => f
                .debug_struct("Reachability")
                .field("status", status)
                .finish(),
            NetEvent::HolePunch { peer, succeeded } => f
                .debug_struct("HolePunch")
                .field("peer", peer)
                .field("succeeded", succeeded)
                .finish(),
            NetEvent::Gossip {
                topic,
                source,
                via,
                data,
            } => f
                .debug_struct("Gossip")
                .field("topic", topic)
                .field("source", source)
                .field("via", via)
                .field("data_len", &data.len())
                .finish(),
            NetEvent::TopicJoined { peer, topic } => f
                .debug_struct("TopicJoined")
                .field("peer", peer)
                .field("topic", topic)
                .finish(),
        }
    }
}

/// Answers one inbound request. Dropping it without calling [`respond`](Self::respond) closes
/// the stream: the requester gets [`RequestError::NoResponse`]. An answer after the request
/// timeout, or one over the protocol's [`response_limit`](crate::Config::response_limit), is
/// dropped the same way.
pub struct Responder {
    pub(crate) sender: oneshot::Sender<Vec<u8>>,
}

impl Responder {
    /// Sends the response body. Does nothing if the requester is already gone.
    pub fn respond(self, body: Vec<u8>) {
        let _ = self.sender.send(body);
    }

    /// Whether the request is still waiting for an answer (false once the request timeout has
    /// passed or the node is shut down).
    pub fn is_waiting(&self) -> bool {
        !self.sender.is_closed()
    }
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder")
            .field("waiting", &self.is_waiting())
            .finish()
    }
}
