//! The one task that owns the [`Swarm`]: it turns [`Command`]s into swarm calls, swarm events
//! into [`NetEvent`]s, and [`Responder`] answers into `send_response` calls, without ever
//! blocking on the caller.

use std::{
    collections::{HashMap, VecDeque},
    time::Duration,
};

use futures::{FutureExt, StreamExt, future::BoxFuture, stream::FuturesUnordered};
use libp2p::{
    Multiaddr, PeerId, Swarm, SwarmBuilder,
    core::transport::ListenerId,
    identify, mdns, noise,
    request_response::{self, InboundRequestId, OutboundRequestId, ResponseChannel},
    swarm::{DialError, SwarmEvent, dial_opts::DialOpts},
    tcp, yamux,
};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, trace, warn};

use crate::{
    Config, Protocol,
    behaviour::{Behaviour, Event as BehaviourEvent},
    discovery,
    error::{DialFailureReason, RequestError, StartError},
    handle::{Command, NetEvent, NetHandle, Responder},
};

/// Most outbound requests waiting for a response at once; more fail with
/// [`RequestError::TooManyPending`].
pub const MAX_PENDING_REQUESTS: usize = 4096;
/// Capacity of the command channel from [`NetHandle`]s to the task.
const COMMAND_CAPACITY: usize = 256;
/// Capacity of the event channel to the caller.
const EVENT_CAPACITY: usize = 256;
/// Events kept in the task while the event channel is full; beyond that new events are dropped.
const EVENT_BACKLOG: usize = 256;
/// Peers whose last dial error is remembered (to explain a request's dial failure).
const DIAL_REASON_CACHE: usize = 1024;
/// How long [`start`] waits for every listener to bind.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for connections to close cleanly.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

type Reply = oneshot::Sender<Result<Vec<u8>, RequestError>>;
/// Resolves when the caller answers an inbound request (`Some`), or drops the responder or lets
/// the request timeout pass (`None`).
type Answer = BoxFuture<'static, (Protocol, InboundRequestId, Option<Vec<u8>>)>;

/// Builds the swarm, binds every listen address, then runs the node on a new tokio task.
///
/// Returns once every address in `config.listen` is bound, so
/// [`NetHandle::listen_addrs`] is complete. Must be called within a tokio runtime.
pub async fn start(config: Config) -> Result<(NetHandle, mpsc::Receiver<NetEvent>), StartError> {
    let mut swarm = build_swarm(&config)?;
    let mut unbound = HashMap::new();
    for addr in &config.listen {
        let listener_id = swarm
            .listen_on(addr.clone())
            .map_err(|error| StartError::Listen {
                addr: addr.clone(),
                reason: error.to_string(),
            })?;
        unbound.insert(listener_id, addr.clone());
    }
    let (command_tx, command_rx) = mpsc::channel(COMMAND_CAPACITY);
    let (event_tx, event_rx) = mpsc::channel(EVENT_CAPACITY);
    let local_peer_id = *swarm.local_peer_id();
    let mut driver = Driver {
        listeners: unbound.keys().copied().collect(),
        swarm,
        commands: command_rx,
        events: event_tx,
        backlog: VecDeque::new(),
        pending_outbound: HashMap::new(),
        pending_inbound: HashMap::new(),
        answers: FuturesUnordered::new(),
        dial_reasons: HashMap::new(),
        request_timeout: config.request_timeout,
        response_limits: Protocol::ALL
            .into_iter()
            .map(|protocol| (protocol, config.response_limit(protocol)))
            .collect(),
    };
    driver.wait_until_bound(unbound).await?;
    debug!(peer = %local_peer_id, "network node started");
    tokio::spawn(driver.run());
    let handle = NetHandle {
        local_peer_id,
        max_request_bytes: config.max_request_bytes,
        commands: command_tx,
    };
    Ok((handle, event_rx))
}

fn build_swarm(config: &Config) -> Result<Swarm<Behaviour>, StartError> {
    let idle_connection_timeout = config.idle_connection_timeout;
    let behaviour = Behaviour::new(config, config.keypair.public())?;
    let Ok(builder) = SwarmBuilder::with_existing_identity(config.keypair.clone())
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|error| StartError::Transport {
            reason: error.to_string(),
        })?
        .with_behaviour(|_| behaviour);
    Ok(builder
        .with_swarm_config(|swarm_config| {
            swarm_config.with_idle_connection_timeout(idle_connection_timeout)
        })
        .build())
}

/// Waits for room in the event channel and moves the oldest backlog event into it. Returns
/// false if the receiver is gone. Cancel-safe: nothing leaves the backlog before room is held.
async fn deliver_one(events: &mpsc::Sender<NetEvent>, backlog: &mut VecDeque<NetEvent>) -> bool {
    let Ok(permit) = events.reserve().await else {
        return false;
    };
    if let Some(event) = backlog.pop_front() {
        permit.send(event);
    }
    true
}

struct Driver {
    swarm: Swarm<Behaviour>,
    listeners: Vec<ListenerId>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<NetEvent>,
    /// Events waiting for room in `events`, oldest first; at most [`EVENT_BACKLOG`].
    backlog: VecDeque<NetEvent>,
    /// Outbound requests waiting for a response; at most [`MAX_PENDING_REQUESTS`].
    pending_outbound: HashMap<(Protocol, OutboundRequestId), Reply>,
    /// Inbound requests waiting for the caller's answer. Each has a future in `answers` that
    /// ends by the request timeout, and the entry goes with it.
    pending_inbound: HashMap<(Protocol, InboundRequestId), ResponseChannel<Vec<u8>>>,
    answers: FuturesUnordered<Answer>,
    /// Last dial error per peer, cleared when a connection to it is established.
    dial_reasons: HashMap<PeerId, DialFailureReason>,
    request_timeout: Duration,
    /// Largest response the caller may send, per protocol ([`Config::response_limit`]).
    response_limits: HashMap<Protocol, usize>,
}

impl Driver {
    async fn wait_until_bound(
        &mut self,
        mut unbound: HashMap<ListenerId, Multiaddr>,
    ) -> Result<(), StartError> {
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        while !unbound.is_empty() {
            let Ok(event) = tokio::time::timeout_at(deadline, self.swarm.select_next_some()).await
            else {
                let addr = unbound
                    .into_values()
                    .next()
                    .unwrap_or_else(Multiaddr::empty);
                return Err(StartError::ListenTimeout {
                    addr,
                    seconds: START_TIMEOUT.as_secs(),
                });
            };
            match &event {
                SwarmEvent::NewListenAddr { listener_id, .. } => {
                    unbound.remove(listener_id);
                }
                SwarmEvent::ListenerClosed {
                    listener_id,
                    reason,
                    ..
                } => {
                    if let Some(addr) = unbound.remove(listener_id) {
                        let reason = match reason {
                            Ok(()) => "closed".to_owned(),
                            Err(error) => error.to_string(),
                        };
                        return Err(StartError::ListenerClosed { addr, reason });
                    }
                }
                _ => {}
            }
            self.on_swarm_event(event);
        }
        // An unspecified address (`0.0.0.0`) is reported once per interface, in one burst from
        // the interface watcher: take the rest of the burst so `listen_addrs` has them all.
        while let Some(event) = self.swarm.select_next_some().now_or_never() {
            self.on_swarm_event(event);
        }
        Ok(())
    }

    async fn run(mut self) {
        loop {
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown { reply }) => {
                        self.shutdown().await;
                        let _ = reply.send(());
                        return;
                    }
                    Some(command) => self.on_command(command),
                    None => {
                        // Every handle is gone: nobody can ask for anything any more.
                        self.shutdown().await;
                        return;
                    }
                },
                Some((protocol, request_id, answer)) = self.answers.next(),
                    if !self.answers.is_empty() =>
                {
                    self.on_answer(protocol, request_id, answer);
                }
                delivered = deliver_one(&self.events, &mut self.backlog),
                    if !self.backlog.is_empty() =>
                {
                    if !delivered {
                        // The caller dropped the receiver.
                        self.backlog.clear();
                    }
                }
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Request {
                protocol,
                peer,
                addrs,
                body,
                reply,
            } => {
                if self.pending_outbound.len() >= MAX_PENDING_REQUESTS {
                    let _ = reply.send(Err(RequestError::TooManyPending {
                        limit: MAX_PENDING_REQUESTS,
                    }));
                    return;
                }
                if let Err(error) = self.dial_unless_connected(peer, addrs) {
                    let _ = reply.send(Err(error));
                    return;
                }
                let body_len = body.len();
                let request_id = self
                    .swarm
                    .behaviour_mut()
                    .request_response_mut(protocol)
                    .send_request(&peer, body);
                debug!(%peer, %protocol, %request_id, body_len, "request queued");
                self.pending_outbound.insert((protocol, request_id), reply);
            }
            Command::Dial { peer, addrs, reply } => {
                let _ = reply.send(self.dial_unless_connected(peer, addrs));
            }
            Command::AddAddresses { peer, addrs } => {
                for addr in addrs {
                    self.swarm.add_peer_address(peer, addr);
                }
            }
            Command::IsConnected { peer, reply } => {
                let _ = reply.send(self.swarm.is_connected(&peer));
            }
            Command::ListenAddrs { reply } => {
                let _ = reply.send(self.swarm.listeners().cloned().collect());
            }
            Command::Shutdown { reply } => {
                // Handled in `run`; answered here only for completeness.
                let _ = reply.send(());
            }
        }
    }

    /// Remembers `addrs` for `peer` and, unless it is connected or being dialed, dials it.
    /// Fails at once when there is no address to try.
    fn dial_unless_connected(
        &mut self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
    ) -> Result<(), RequestError> {
        for addr in addrs {
            self.swarm.add_peer_address(peer, addr);
        }
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

    fn on_answer(
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

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Msg(event)) => {
                self.on_request_response(Protocol::Msg, event)
            }
            SwarmEvent::Behaviour(BehaviourEvent::Keys(event)) => {
                self.on_request_response(Protocol::Keys, event)
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mailbox(event)) => {
                self.on_request_response(Protocol::Mailbox, event)
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(event)) => self.on_identify(event),
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(event)) => self.on_mdns(event),
            SwarmEvent::Behaviour(BehaviourEvent::Ping(event)) => match event.result {
                Ok(rtt) => trace!(peer = %event.peer, ?rtt, "ping"),
                Err(error) => debug!(peer = %event.peer, %error, "ping failed"),
            },
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                endpoint,
                ..
            } => {
                debug!(peer = %peer_id, address = %endpoint.get_remote_address(), "connection established");
                self.dial_reasons.remove(&peer_id);
                if num_established.get() == 1 {
                    self.emit(NetEvent::Connected { peer: peer_id });
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                cause,
                ..
            } => {
                debug!(peer = %peer_id, ?cause, "connection closed");
                if num_established == 0 {
                    self.emit(NetEvent::Disconnected { peer: peer_id });
                }
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(peer),
                error,
                ..
            } => {
                debug!(%peer, %error, "dial failed");
                if !matches!(error, DialError::DialPeerConditionFalse(_)) {
                    if self.dial_reasons.len() >= DIAL_REASON_CACHE {
                        self.dial_reasons.clear();
                    }
                    self.dial_reasons
                        .insert(peer, DialFailureReason::from_dial_error(&error));
                }
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                debug!(%address, "listening");
                self.emit(NetEvent::NewListenAddr { addr: address });
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                debug!(%address, "listen address expired");
            }
            SwarmEvent::ListenerClosed { reason, .. } => {
                debug!(?reason, "listener closed");
            }
            SwarmEvent::ListenerError { error, .. } => {
                warn!(%error, "listener error");
            }
            SwarmEvent::IncomingConnectionError {
                send_back_addr,
                error,
                ..
            } => {
                debug!(%send_back_addr, %error, "inbound connection failed");
            }
            other => trace!(event = ?other, "swarm event"),
        }
    }

    fn on_request_response(
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

    fn on_identify(&mut self, event: identify::Event) {
        match event {
            identify::Event::Received { peer_id, info, .. } => {
                debug!(peer = %peer_id, addrs = ?info.listen_addrs, "peer identified");
                self.emit(NetEvent::PeerListenAddrs {
                    peer: peer_id,
                    addrs: info.listen_addrs,
                });
            }
            identify::Event::Error { peer_id, error, .. } => {
                debug!(peer = %peer_id, %error, "identify failed");
            }
            identify::Event::Sent { .. } | identify::Event::Pushed { .. } => {}
        }
    }

    /// mDNS has already handed each new address to the swarm (`NewExternalAddrOfPeer`, which
    /// the request-response behaviours remember for dialing) and offers its records for every
    /// dial, so the driver only tells the caller.
    fn on_mdns(&mut self, event: mdns::Event) {
        match event {
            mdns::Event::Discovered(found) => {
                for (peer, addrs) in discovery::group_by_peer(found) {
                    debug!(%peer, ?addrs, "discovered on the local network");
                    self.emit(NetEvent::Discovered { peer, addrs });
                }
            }
            mdns::Event::Expired(expired) => {
                for (peer, _) in discovery::group_by_peer(expired) {
                    if !self.swarm.behaviour().mdns_knows(&peer) {
                        debug!(%peer, "local network record expired");
                        self.emit(NetEvent::Expired { peer });
                    }
                }
            }
        }
    }

    /// Hands an event to the caller without waiting: straight into the channel when it has room
    /// and nothing is queued before it, else into the backlog, else dropped.
    fn emit(&mut self, event: NetEvent) {
        if self.backlog.is_empty() {
            match self.events.try_send(event) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Closed(_)) => return,
                Err(mpsc::error::TrySendError::Full(event)) => {
                    self.backlog.push_back(event);
                    return;
                }
            }
        }
        if self.events.is_closed() {
            self.backlog.clear();
        } else if self.backlog.len() < EVENT_BACKLOG {
            self.backlog.push_back(event);
        } else {
            warn!(event = ?event, "event queue full; dropping event");
        }
    }

    /// Closes listeners and connections, fails everything pending, and flushes what events fit.
    async fn shutdown(&mut self) {
        debug!(peer = %self.swarm.local_peer_id(), "network node shutting down");
        self.commands.close();
        for listener_id in self.listeners.drain(..) {
            self.swarm.remove_listener(listener_id);
        }
        let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        for peer in peers {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
        let grace = tokio::time::sleep(SHUTDOWN_GRACE);
        tokio::pin!(grace);
        while self.swarm.network_info().num_peers() > 0 {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                () = &mut grace => {
                    debug!("connections did not close within the grace period");
                    break;
                }
            }
        }
        for (_, reply) in self.pending_outbound.drain() {
            let _ = reply.send(Err(RequestError::Shutdown));
        }
        while let Ok(command) = self.commands.try_recv() {
            command.refuse();
        }
        self.pending_inbound.clear();
        self.answers.clear();
        while let Some(event) = self.backlog.pop_front() {
            if self.events.try_send(event).is_err() {
                break;
            }
        }
        self.backlog.clear();
    }
}
