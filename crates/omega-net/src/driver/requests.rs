//! Requests and dialing: outbound requests and their responses, inbound requests and the
//! caller's answers, and the dial that tries a peer's direct addresses before its relayed ones.
//!
//! A request to a peer with no known relayed address goes straight to `request_response`,
//! which dials by itself. When relayed addresses are known (given to `request`, `dial` or
//! `add_addresses`) the driver dials first, holding the requests back: every direct address
//! it knows, then — only if that dial fails — the relayed addresses. The requests go out as
//! soon as a connection is established, and fail with the dial error if both stages fail.

use std::mem;

use futures::FutureExt;
use libp2p::{
    Multiaddr, PeerId,
    request_response::{self, InboundRequestId},
    swarm::{
        ConnectionId, DialError,
        dial_opts::{DialOpts, PeerCondition},
    },
};
use tokio::sync::oneshot;
use tracing::{debug, trace, warn};

use super::{Driver, MAX_PENDING_REQUESTS, Reply};
use crate::{
    Protocol, address,
    error::{DialFailureReason, RequestError},
    handle::{NetEvent, Responder},
};

/// Peers whose relayed addresses are remembered; when full the memory starts over.
pub(super) const RELAYED_ADDR_PEERS: usize = 1024;
/// Relayed addresses remembered per peer, the most recent ones.
pub(super) const RELAYED_ADDRS_PER_PEER: usize = 8;

/// A dial of one peer that tries direct addresses first, then relayed ones.
pub(super) struct StagedDial {
    /// The dial under way; `None` when another dial of the peer was already under way, whose
    /// outcome then counts.
    connection: Option<ConnectionId>,
    /// Whether the relayed addresses are being tried (the last stage).
    relayed: bool,
    /// Requests to send once connected.
    waiting: Vec<WaitingRequest>,
}

struct WaitingRequest {
    protocol: Protocol,
    body: Vec<u8>,
    reply: Reply,
}

impl Driver {
    pub(super) fn on_request_command(
        &mut self,
        protocol: Protocol,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        body: Vec<u8>,
        reply: Reply,
    ) {
        if self.pending_outbound.len() + self.n_waiting_requests >= MAX_PENDING_REQUESTS {
            let _ = reply.send(Err(RequestError::TooManyPending {
                limit: MAX_PENDING_REQUESTS,
            }));
            return;
        }
        let has_relayed = self.remember_addrs(peer, addrs);
        if self.swarm.is_connected(&peer) {
            self.send_request(protocol, peer, body, reply);
            return;
        }
        if !self.staged_dials.contains_key(&peer) {
            let started = if has_relayed {
                self.start_staged_dial(peer)
            } else {
                self.dial_unless_connected(peer)
                    .map(|()| StagedDialStart::Unstaged)
            };
            match started {
                Ok(StagedDialStart::Staged) => {}
                Ok(StagedDialStart::Unstaged) => {
                    // `request_response` waits for the dial (or dials by itself).
                    self.send_request(protocol, peer, body, reply);
                    return;
                }
                Err(error) => {
                    let _ = reply.send(Err(error));
                    return;
                }
            }
        }
        if let Some(staged) = self.staged_dials.get_mut(&peer) {
            staged.waiting.push(WaitingRequest {
                protocol,
                body,
                reply,
            });
            self.n_waiting_requests += 1;
        }
    }

    pub(super) fn on_dial_command(
        &mut self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
    ) -> Result<(), RequestError> {
        let has_relayed = self.remember_addrs(peer, addrs);
        if self.swarm.is_connected(&peer) || self.staged_dials.contains_key(&peer) {
            return Ok(());
        }
        if has_relayed {
            self.start_staged_dial(peer).map(drop)
        } else {
            self.dial_unless_connected(peer)
        }
    }

    /// Remembers `addrs` for `peer`: direct ones in the swarm (every behaviour offers them
    /// when dialing), relayed ones here, for the second stage of a staged dial. Returns
    /// whether relayed addresses are known for the peer.
    pub(super) fn remember_addrs(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) -> bool {
        let (direct, relayed) = address::split_relayed(addrs);
        for addr in direct {
            self.swarm.add_peer_address(peer, addr);
        }
        if !relayed.is_empty() {
            if self.relayed_addrs.len() >= RELAYED_ADDR_PEERS
                && !self.relayed_addrs.contains_key(&peer)
            {
                self.relayed_addrs.clear();
            }
            let known = self.relayed_addrs.entry(peer).or_default();
            for addr in relayed {
                known.retain(|old| *old != addr);
                known.push(addr);
            }
            let excess = known.len().saturating_sub(RELAYED_ADDRS_PER_PEER);
            known.drain(..excess);
        }
        self.relayed_addrs
            .get(&peer)
            .is_some_and(|known| !known.is_empty())
    }

    /// Dials `peer` unless it is connected or being dialed, with the addresses the swarm
    /// remembers for it. Fails at once when there is no address to try.
    fn dial_unless_connected(&mut self, peer: PeerId) -> Result<(), RequestError> {
        if self.swarm.is_connected(&peer) {
            return Ok(());
        }
        match self.swarm.dial(DialOpts::peer_id(peer).build()) {
            Ok(()) => {
                debug!(%peer, "dialing");
                Ok(())
            }
            // Already connected or a dial is under way.
            Err(DialError::DialPeerConditionFalse(_)) => Ok(()),
            Err(error) => {
                debug!(%peer, %error, "dial refused");
                Err(DialFailureReason::from_dial_error(&error).into_request_error())
            }
        }
    }

    /// Starts a staged dial of `peer`: its direct addresses, or its relayed ones at once when
    /// no direct address is known.
    fn start_staged_dial(&mut self, peer: PeerId) -> Result<StagedDialStart, RequestError> {
        let opts = DialOpts::peer_id(peer).build();
        let connection = opts.connection_id();
        match self.swarm.dial(opts) {
            Ok(()) => {
                debug!(%peer, "dialing direct addresses first");
                self.staged_dials.insert(
                    peer,
                    StagedDial {
                        connection: Some(connection),
                        relayed: false,
                        waiting: Vec::new(),
                    },
                );
                Ok(StagedDialStart::Staged)
            }
            Err(DialError::DialPeerConditionFalse(_)) => {
                debug!(%peer, "a dial is under way; relayed addresses are next if it fails");
                self.staged_dials.insert(
                    peer,
                    StagedDial {
                        connection: None,
                        relayed: false,
                        waiting: Vec::new(),
                    },
                );
                Ok(StagedDialStart::Staged)
            }
            Err(error) => {
                debug!(%peer, %error, "no direct dial; trying relayed addresses");
                let connection = self.dial_relayed(peer)?;
                self.staged_dials.insert(
                    peer,
                    StagedDial {
                        connection: Some(connection),
                        relayed: true,
                        waiting: Vec::new(),
                    },
                );
                Ok(StagedDialStart::Staged)
            }
        }
    }

    /// Dials `peer` on its remembered relayed addresses only.
    fn dial_relayed(&mut self, peer: PeerId) -> Result<ConnectionId, RequestError> {
        let addrs = self.relayed_addrs.get(&peer).cloned().unwrap_or_default();
        if addrs.is_empty() {
            return Err(RequestError::NoAddresses);
        }
        let opts = DialOpts::peer_id(peer)
            .addresses(addrs)
            .condition(PeerCondition::Disconnected)
            .build();
        let connection = opts.connection_id();
        match self.swarm.dial(opts) {
            Ok(()) => {
                debug!(%peer, "dialing relayed addresses");
                Ok(connection)
            }
            Err(error) => {
                debug!(%peer, %error, "relayed dial refused");
                Err(DialFailureReason::from_dial_error(&error).into_request_error())
            }
        }
    }

    /// A connection to `peer` is up: the requests waiting for a staged dial go out.
    pub(super) fn flush_staged_dial(&mut self, peer: PeerId) {
        let Some(staged) = self.staged_dials.remove(&peer) else {
            return;
        };
        self.n_waiting_requests -= staged.waiting.len();
        for WaitingRequest {
            protocol,
            body,
            reply,
        } in staged.waiting
        {
            self.send_request(protocol, peer, body, reply);
        }
    }

    /// A dial of `peer` failed: a staged dial moves on to the relayed addresses, or gives up
    /// and fails its requests.
    pub(super) fn on_staged_dial_failed(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        error: &DialError,
    ) {
        let Some(staged) = self.staged_dials.get(&peer) else {
            return;
        };
        if staged.connection.is_some_and(|ours| ours != connection)
            || self.swarm.is_connected(&peer)
        {
            return;
        }
        let failure = DialFailureReason::from_dial_error(error).into_request_error();
        if !staged.relayed {
            match self.dial_relayed(peer) {
                Ok(connection) => {
                    if let Some(staged) = self.staged_dials.get_mut(&peer) {
                        staged.connection = Some(connection);
                        staged.relayed = true;
                    }
                    return;
                }
                Err(relayed_error) => {
                    debug!(%peer, %relayed_error, "no relayed dial either");
                }
            }
        }
        if let Some(staged) = self.staged_dials.remove(&peer) {
            self.n_waiting_requests -= staged.waiting.len();
            for waiting in staged.waiting {
                let _ = waiting.reply.send(Err(failure.clone()));
            }
        }
    }

    /// Fails every request waiting for a staged dial with `error`.
    pub(super) fn fail_staged_dials(&mut self, error: RequestError) {
        for (_, staged) in mem::take(&mut self.staged_dials) {
            for waiting in staged.waiting {
                let _ = waiting.reply.send(Err(error.clone()));
            }
        }
        self.n_waiting_requests = 0;
    }

    fn send_request(&mut self, protocol: Protocol, peer: PeerId, body: Vec<u8>, reply: Reply) {
        let body_len = body.len();
        let request_id = self
            .swarm
            .behaviour_mut()
            .request_response_mut(protocol)
            .send_request(&peer, body);
        debug!(%peer, %protocol, %request_id, body_len, "request queued");
        self.pending_outbound.insert((protocol, request_id), reply);
    }

    pub(super) fn on_answer(
        &mut self,
        protocol: Protocol,
        request_id: InboundRequestId,
        answer: Option<Vec<u8>>,
    ) {
        let Some(channel) = self.pending_inbound.remove(&(protocol, request_id)) else {
            trace!(%protocol, %request_id, "answer for a request that already failed");
            return;
        };
        let Some(body) = answer else {
            debug!(%protocol, %request_id, "inbound request not answered; closing the stream");
            return;
        };
        let limit = self.response_limits.get(&protocol).copied().unwrap_or(0);
        if body.len() > limit {
            warn!(
                %protocol,
                %request_id,
                body_len = body.len(),
                limit,
                "response over the size limit; closing the stream instead"
            );
            return;
        }
        let sent = self
            .swarm
            .behaviour_mut()
            .request_response_mut(protocol)
            .send_response(channel, body);
        if sent.is_err() {
            debug!(%protocol, %request_id, "requester gone before the response");
        }
    }

    pub(super) fn on_request_response(
        &mut self,
        protocol: Protocol,
        event: request_response::Event<Vec<u8>, Vec<u8>>,
    ) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request_id,
                        request,
                        channel,
                    },
                ..
            } => {
                debug!(%peer, %protocol, %request_id, body_len = request.len(), "inbound request");
                let (sender, receiver) = oneshot::channel();
                let timeout = self.request_timeout;
                self.pending_inbound.insert((protocol, request_id), channel);
                self.answers.push(
                    async move {
                        let answer = tokio::time::timeout(timeout, receiver).await;
                        (protocol, request_id, answer.ok().and_then(Result::ok))
                    }
                    .boxed(),
                );
                // If the event cannot be delivered the responder is dropped with it, the answer
                // future ends with `None`, and the requester sees the stream close.
                self.emit(NetEvent::Request {
                    protocol,
                    peer,
                    body: request,
                    responder: Responder { sender },
                });
            }
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                debug!(%peer, %protocol, %request_id, body_len = response.len(), "response");
                if let Some(reply) = self.pending_outbound.remove(&(protocol, request_id)) {
                    let _ = reply.send(Ok(response));
                }
            }
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                debug!(%peer, %protocol, %request_id, %error, "request failed");
                let dial_reason = self.dial_reasons.get(&peer).cloned();
                if let Some(reply) = self.pending_outbound.remove(&(protocol, request_id)) {
                    let _ = reply.send(Err(RequestError::from_outbound_failure(
                        &error,
                        dial_reason,
                    )));
                }
            }
            request_response::Event::InboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                debug!(%peer, %protocol, %request_id, %error, "inbound request failed");
                // The stream is gone; an answer arriving later is discarded.
                self.pending_inbound.remove(&(protocol, request_id));
            }
            request_response::Event::ResponseSent {
                peer, request_id, ..
            } => {
                trace!(%peer, %protocol, %request_id, "response sent");
            }
        }
    }
}

/// How a request's dial began.
enum StagedDialStart {
    /// A staged dial holds the requests until connected.
    Staged,
    /// An ordinary dial (or none needed): `request_response` takes the requests now.
    Unstaged,
}
