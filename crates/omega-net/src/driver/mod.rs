//! The one task that owns the [`Swarm`]: it turns [`Command`]s into swarm calls, swarm events
//! into [`NetEvent`]s, and [`Responder`] answers into `send_response` calls, without ever
//! blocking on the caller.
//!
//! This module holds the task's state, its loop, start and shutdown; the rest is split by
//! concern: `requests` (request-response and dialing, direct before relayed), `kad` (DHT
//! records) and `reach` (bootstrap servers, relay reservations, DCUtR, AutoNAT).
//!
//! [`Responder`]: crate::Responder

mod kad;
mod reach;
mod requests;

use std::{
    collections::{HashMap, VecDeque},
    time::Duration,
};

use futures::{FutureExt, StreamExt, future::BoxFuture, stream::FuturesUnordered};
use libp2p::{
    Multiaddr, PeerId, Swarm, SwarmBuilder,
    core::transport::ListenerId,
    gossipsub, identify, noise,
    request_response::{InboundRequestId, OutboundRequestId, ResponseChannel},
    swarm::{ConnectionId, DialError, SwarmEvent},
    tcp, yamux,
};
use tokio::{
    sync::{mpsc, oneshot},
    time::{Interval, MissedTickBehavior},
};
use tracing::{debug, trace, warn};

use crate::{
    Config, NatStatus, Protocol, RecordValidator, address,
    behaviour::{Behaviour, Event as BehaviourEvent},
    error::{DialFailureReason, RequestError, StartError},
    handle::{Command, NetEvent, NetHandle},
};

use self::{kad::KadQuery, requests::StagedDial};

/// Most outbound requests waiting for a response (or for a dial) at once; more fail with
/// [`RequestError::TooManyPending`].
pub const MAX_PENDING_REQUESTS: usize = 4096;
/// Most DHT queries (`put_record` and `get_record` together) under way at once; more fail
/// with [`RequestError::TooManyPending`].
pub const MAX_PENDING_QUERIES: usize = 256;
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
/// How often disconnected bootstrap servers are redialed and lost reservations renewed.
const BOOTSTRAP_RETRY: Duration = Duration::from_secs(30);

type Reply = oneshot::Sender<Result<Vec<u8>, RequestError>>;
/// Resolves when the caller answers an inbound request (`Some`), or drops the responder or lets
/// the request timeout pass (`None`).
type Answer = BoxFuture<'static, (Protocol, InboundRequestId, Option<Vec<u8>>)>;

/// Builds the swarm, binds every listen address, then runs the node on a new tokio task.
///
/// Returns once every address in `config.listen` is bound, so
/// [`NetHandle::listen_addrs`] is complete; the bootstrap servers are dialed from then on,
/// without waiting. Must be called within a tokio runtime.
pub async fn start(config: Config) -> Result<(NetHandle, mpsc::Receiver<NetEvent>), StartError> {
    let bootstrap = reach::parse_bootstrap(&config.bootstrap)?;
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
    let mut maintenance = tokio::time::interval_at(
        tokio::time::Instant::now() + BOOTSTRAP_RETRY,
        BOOTSTRAP_RETRY,
    );
    maintenance.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut driver = Driver {
        listeners: unbound.keys().copied().collect(),
        swarm,
        local_peer_id,
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
        connections: HashMap::new(),
        relayed_addrs: HashMap::new(),
        staged_dials: HashMap::new(),
        n_waiting_requests: 0,
        records: RecordPolicy {
            validator: config.record_validator.clone(),
            max_bytes: config.max_record_bytes,
            ttl: config.record_ttl,
        },
        kad_queries: HashMap::new(),
        bootstrap,
        relay_client: config.relay_client,
        relay_listeners: HashMap::new(),
        maintenance,
        nat_status: NatStatus::Unknown,
    };
    driver.wait_until_bound(unbound).await?;
    driver.add_external_addrs(&config);
    driver.join_bootstrap_servers(true);
    debug!(peer = %local_peer_id, "network node started");
    tokio::spawn(driver.run());
    let handle = NetHandle {
        local_peer_id,
        max_request_bytes: config.max_request_bytes,
        blob_max_bytes: config.request_limit(Protocol::Blob),
        commands: command_tx,
    };
    Ok((handle, event_rx))
}

fn build_swarm(config: &Config) -> Result<Swarm<Behaviour>, StartError> {
    let idle_connection_timeout = config.idle_connection_timeout;
    let transport_error = |error: &dyn std::fmt::Display| StartError::Transport {
        reason: error.to_string(),
    };
    // The builder wants a boxed error from the constructor; keep ours to return it as is.
    let mut behaviour_error = None;
    let built = SwarmBuilder::with_existing_identity(config.keypair.clone())
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|error| transport_error(&error))?
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(|error| transport_error(&error))?
        .with_behaviour(|key, relay_client| {
            Behaviour::new(config, key, relay_client).map_err(|error| {
                behaviour_error = Some(error);
                Box::<dyn std::error::Error + Send + Sync>::from("cannot build the behaviour")
            })
        });
    let builder = match built {
        Ok(builder) => builder,
        Err(error) => return Err(behaviour_error.unwrap_or_else(|| transport_error(&error))),
    };
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

/// What the application allows in the DHT.
struct RecordPolicy {
    validator: Option<RecordValidator>,
    max_bytes: usize,
    ttl: Duration,
}

impl RecordPolicy {
    fn accepts(&self, key: &[u8], value: &[u8]) -> bool {
        value.len() <= self.max_bytes
            && self
                .validator
                .as_ref()
                .is_none_or(|validator| validator(key, value))
    }
}

struct Driver {
    swarm: Swarm<Behaviour>,
    local_peer_id: PeerId,
    /// Listeners on [`Config::listen`], closed at shutdown (relay listeners are in
    /// `relay_listeners`).
    listeners: Vec<ListenerId>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<NetEvent>,
    /// Events waiting for room in `events`, oldest first; at most [`EVENT_BACKLOG`].
    backlog: VecDeque<NetEvent>,
    /// Outbound requests waiting for a response. With `n_waiting_requests`, at most
    /// [`MAX_PENDING_REQUESTS`].
    pending_outbound: HashMap<(Protocol, OutboundRequestId), Reply>,
    /// Inbound requests waiting for the caller's answer. Each has a future in `answers` that
    /// ends by the request timeout, and the entry goes with it.
    pending_inbound: HashMap<(Protocol, InboundRequestId), ResponseChannel<Vec<u8>>>,
    answers: FuturesUnordered<Answer>,
    /// Last dial error per peer, cleared when a connection to it is established.
    dial_reasons: HashMap<PeerId, DialFailureReason>,
    request_timeout: Duration,
    response_limits: HashMap<Protocol, usize>,
    /// Every established connection: its peer and remote address. As large as the swarm's
    /// own connection table.
    connections: HashMap<ConnectionId, (PeerId, Multiaddr)>,
    /// Relayed addresses per peer, held back until a direct dial fails; at most
    /// `requests::RELAYED_ADDR_PEERS` peers with `requests::RELAYED_ADDRS_PER_PEER` each.
    relayed_addrs: HashMap<PeerId, Vec<Multiaddr>>,
    /// Dials that try direct addresses first and relayed ones next, with the requests
    /// waiting for them.
    staged_dials: HashMap<PeerId, StagedDial>,
    /// Requests waiting in `staged_dials`.
    n_waiting_requests: usize,
    records: RecordPolicy,
    /// DHT queries started by the caller; at most [`MAX_PENDING_QUERIES`].
    kad_queries: HashMap<libp2p::kad::QueryId, KadQuery>,
    /// Bootstrap servers and their addresses (without `/p2p`), in configuration order.
    bootstrap: Vec<(PeerId, Vec<Multiaddr>)>,
    relay_client: bool,
    /// The listener holding the reservation on each bootstrap relay.
    relay_listeners: HashMap<PeerId, ListenerId>,
    /// Ticks every [`BOOTSTRAP_RETRY`] to rejoin bootstrap servers.
    maintenance: Interval,
    nat_status: NatStatus,
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
                _ = self.maintenance.tick(), if !self.bootstrap.is_empty() => {
                    self.join_bootstrap_servers(false);
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
            } => self.on_request_command(protocol, peer, addrs, body, reply),
            Command::Dial { peer, addrs, reply } => {
                let _ = reply.send(self.on_dial_command(peer, addrs));
            }
            Command::AddAddresses { peer, addrs } => {
                self.remember_addrs(peer, addrs);
            }
            Command::IsConnected { peer, reply } => {
                let _ = reply.send(self.swarm.is_connected(&peer));
            }
            Command::ListenAddrs { reply } => {
                let local_peer_id = self.local_peer_id;
                let addrs = self
                    .swarm
                    .listeners()
                    .map(|addr| address::without_peer(addr.clone(), local_peer_id))
                    .collect();
                let _ = reply.send(addrs);
            }
            Command::ConnectionAddrs { peer, reply } => {
                let addrs = self
                    .connections
                    .values()
                    .filter(|(connected, _)| *connected == peer)
                    .map(|(_, addr)| addr.clone())
                    .collect();
                let _ = reply.send(addrs);
            }
            Command::PutRecord { key, value, reply } => self.on_put_record(key, value, reply),
            Command::GetRecord { key, reply } => self.on_get_record(key, reply),
            Command::NatStatus { reply } => {
                let _ = reply.send(self.nat_status.clone());
            }
            Command::Subscribe { topic, subscribe } => {
                if let Some(gossip) = self.swarm.behaviour_mut().gossip.as_mut() {
                    let topic = gossipsub::IdentTopic::new(topic);
                    if subscribe {
                        if let Err(error) = gossip.subscribe(&topic) {
                            warn!(%error, "cannot follow a topic");
                        }
                    } else {
                        gossip.unsubscribe(&topic);
                    }
                }
            }
            Command::Publish { topic, data, reply } => {
                let result = match self.swarm.behaviour_mut().gossip.as_mut() {
                    Some(gossip) => gossip
                        .publish(gossipsub::IdentTopic::new(topic), data)
                        .map(|_| ())
                        .map_err(|error| RequestError::Publish {
                            reason: error.to_string(),
                        }),
                    None => Err(RequestError::Publish {
                        reason: "gossipsub is off".into(),
                    }),
                };
                let _ = reply.send(result);
            }
            Command::TopicPeers { topic, reply } => {
                let hash = gossipsub::IdentTopic::new(topic).hash();
                let peers = match self.swarm.behaviour().gossip.as_ref() {
                    Some(gossip) => gossip
                        .all_peers()
                        .filter(|(_, topics)| topics.contains(&&hash))
                        .map(|(peer, _)| *peer)
                        .collect(),
                    None => Vec::new(),
                };
                let _ = reply.send(peers);
            }
            Command::Shutdown { reply } => {
                // Handled in `run`; answered here only for completeness.
                let _ = reply.send(());
            }
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
            SwarmEvent::Behaviour(BehaviourEvent::Blob(event)) => {
                self.on_request_response(Protocol::Blob, event)
            }
            SwarmEvent::Behaviour(BehaviourEvent::Link(event)) => {
                self.on_request_response(Protocol::Link, event)
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(event)) => self.on_identify(event),
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(event)) => self.on_mdns(event),
            SwarmEvent::Behaviour(BehaviourEvent::Gossip(event)) => match event {
                gossipsub::Event::Message {
                    propagation_source,
                    message,
                    ..
                } => self.emit(NetEvent::Gossip {
                    topic: message.topic.into_string(),
                    source: message.source,
                    via: propagation_source,
                    data: message.data,
                }),
                gossipsub::Event::Subscribed { peer_id, topic, .. } => {
                    self.emit(NetEvent::TopicJoined {
                        peer: peer_id,
                        topic: topic.into_string(),
                    });
                }
                _ => {}
            },
            SwarmEvent::Behaviour(BehaviourEvent::Ping(event)) => match event.result {
                Ok(rtt) => trace!(peer = %event.peer, ?rtt, "ping"),
                Err(error) => debug!(peer = %event.peer, %error, "ping failed"),
            },
            SwarmEvent::Behaviour(BehaviourEvent::Kad(event)) => self.on_kad(event),
            SwarmEvent::Behaviour(BehaviourEvent::RelayClient(event)) => {
                self.on_relay_client(event)
            }
            SwarmEvent::Behaviour(BehaviourEvent::RelayServer(event)) => {
                self.on_relay_server(event)
            }
            SwarmEvent::Behaviour(BehaviourEvent::Dcutr(event)) => self.on_dcutr(event),
            SwarmEvent::Behaviour(BehaviourEvent::AutonatClient(event)) => {
                self.on_autonat_client(event)
            }
            SwarmEvent::Behaviour(BehaviourEvent::AutonatServer(event)) => {
                self.on_autonat_server(event)
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                num_established,
                endpoint,
                ..
            } => {
                let remote = address::without_peer(endpoint.get_remote_address().clone(), peer_id);
                debug!(peer = %peer_id, address = %remote, "connection established");
                self.connections.insert(connection_id, (peer_id, remote));
                self.dial_reasons.remove(&peer_id);
                if num_established.get() == 1 {
                    self.emit(NetEvent::Connected { peer: peer_id });
                }
                self.on_connected(peer_id);
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                cause,
                ..
            } => {
                debug!(peer = %peer_id, ?cause, "connection closed");
                self.connections.remove(&connection_id);
                if num_established == 0 {
                    self.emit(NetEvent::Disconnected { peer: peer_id });
                }
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(peer),
                connection_id,
                error,
            } => {
                debug!(%peer, %error, "dial failed");
                if !matches!(error, DialError::DialPeerConditionFalse(_)) {
                    if self.dial_reasons.len() >= DIAL_REASON_CACHE {
                        self.dial_reasons.clear();
                    }
                    self.dial_reasons
                        .insert(peer, DialFailureReason::from_dial_error(&error));
                    self.on_dial_failed(peer, connection_id, &error);
                }
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                let addr = address::without_peer(address, self.local_peer_id);
                debug!(%addr, "listening");
                self.emit(NetEvent::NewListenAddr { addr });
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                let addr = address::without_peer(address, self.local_peer_id);
                debug!(%addr, "listen address expired");
                self.emit(NetEvent::ExpiredListenAddr { addr });
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                reason,
                ..
            } => {
                debug!(?reason, "listener closed");
                self.on_listener_closed(listener_id);
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
            SwarmEvent::ExternalAddrConfirmed { address } => {
                debug!(%address, "external address confirmed");
            }
            other => trace!(event = ?other, "swarm event"),
        }
    }

    fn on_identify(&mut self, event: identify::Event) {
        match event {
            identify::Event::Received { peer_id, info, .. } => {
                debug!(peer = %peer_id, addrs = ?info.listen_addrs, "peer identified");
                self.learn_dht_server(peer_id, &info);
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
        let relay_listeners: Vec<ListenerId> =
            self.relay_listeners.drain().map(|(_, id)| id).collect();
        for listener_id in self.listeners.drain(..).chain(relay_listeners) {
            self.swarm.remove_listener(listener_id);
        }
        // Nothing may be redialed from here on.
        self.bootstrap.clear();
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
        self.fail_staged_dials(RequestError::Shutdown);
        for (_, query) in self.kad_queries.drain() {
            query.fail(RequestError::Shutdown);
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
