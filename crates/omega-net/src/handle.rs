//! The caller's side: [`NetHandle`] sends commands to the driver task, [`NetEvent`] and
//! [`Responder`] come back from it.

use std::fmt;

use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};

use crate::{Protocol, RequestError};

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
            Command::ListenAddrs { reply } => {
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
    /// expanded into one address per interface), without a `/p2p` suffix. Empty once shut down.
    pub async fn listen_addrs(&self) -> Vec<Multiaddr> {
        let (reply, answer) = oneshot::channel();
        if self
            .commands
            .send(Command::ListenAddrs { reply })
            .await
            .is_err()
        {
            return Vec::new();
        }
        answer.await.unwrap_or_default()
    }

    /// Sends one request on `protocol` and waits for the response.
    ///
    /// If the peer is not connected it is dialed, using `addrs` and the addresses remembered for
    /// it (every address passed here is remembered until a dial to it fails). A body over
    /// `max_request_bytes` fails with [`RequestError::TooLarge`] without touching the network.
    pub async fn request(
        &self,
        protocol: Protocol,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, RequestError> {
        if body.len() > self.max_request_bytes {
            return Err(RequestError::TooLarge {
                got: body.len(),
                limit: self.max_request_bytes,
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

    /// Starts connecting to `peer` unless it is connected or being dialed; returns once the dial
    /// is issued. Success shows as [`NetEvent::Connected`]. Fails at once with
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
    /// each is forgotten once a dial to it fails. Commands are handled in order, so a request
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
