//! The engine task: one loop that owns the device account and the outbox scheduler and applies the
//! send pipeline. Inbound processing lives in `inbound.rs`. Network IO runs in spawned tasks whose
//! results come back to the loop, so the loop never waits on a peer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use libp2p::{Multiaddr, PeerId};
use omega_crypto::{DeviceAccount, UserKey, VerifiedDeviceList, verify_device_list};
use omega_net::{NetEvent, NetHandle, Protocol};
use omega_proto::{Message, v1};
use omega_store::{
    ContactRow, Direction, MessageChange, NewMessage, NewOutbox, OutboxRow, Status, StatusChange,
    Store,
};
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::{debug, warn};
use zeroize::Zeroizing;

use crate::delivery::{Attempt, Delivered};
use crate::kinds::{self, Change, Draft};
use crate::model::{MessageView, NodeEvent, Stats};
use crate::outbox::{DeviceKey, Outbox, Transmit};
use crate::{NodeError, now_ms};

/// Requests from [`crate::NodeHandle`] to the engine.
pub(crate) enum Command {
    Send {
        to: UserKey,
        draft: Draft,
        /// The quoted message's id.
        reply_to: Option<String>,
        reply: oneshot::Sender<Result<MessageView, NodeError>>,
    },
    /// A reaction, an edit or a delete for everyone of message `target` in the conversation
    /// with `peer`.
    Change {
        peer: UserKey,
        target: String,
        change: Change,
        reply: oneshot::Sender<Result<MessageView, NodeError>>,
    },

    MarkRead {
        peer: UserKey,
        reply: oneshot::Sender<Result<usize, NodeError>>,
    },
    /// A contact was added or changed in the store: reload it and try to reach it.
    ContactChanged { user: UserKey },
    /// Sign a mailbox server's challenge with the device key.
    SignMailboxAuth {
        server_peer_id: Vec<u8>,
        nonce: Vec<u8>,
        reply: oneshot::Sender<v1::Authenticate>,
    },
    /// Issue (and persist) one-time keys and a new fallback key for the prekey directory.
    IssuePreKeys {
        count: usize,
        reply: oneshot::Sender<Option<(Vec<v1::SignedPreKey>, Option<v1::SignedPreKey>)>>,
    },
    GroupCreate {
        name: String,
        members: Vec<UserKey>,
        reply: oneshot::Sender<Result<omega_groups::GroupView, NodeError>>,
    },
    GroupChange {
        group: String,
        change: crate::groups::GroupChange,
        reply: oneshot::Sender<Result<omega_groups::GroupView, NodeError>>,
    },
    GroupSend {
        group: String,
        draft: Draft,
        reply: oneshot::Sender<Result<MessageView, NodeError>>,
    },
    /// A reaction, an edit or a delete of message `target` of group `group`.
    GroupChangeMessage {
        group: [u8; 32],
        target: String,
        change: Change,
        reply: oneshot::Sender<Result<MessageView, NodeError>>,
    },
    GroupList {
        reply: oneshot::Sender<Vec<omega_groups::GroupView>>,
    },
    GroupShow {
        group: String,
        reply: oneshot::Sender<Result<omega_groups::GroupView, NodeError>>,
    },
    GroupSessions {
        group: String,
        reply: oneshot::Sender<Result<crate::groups::GroupSessions, NodeError>>,
    },
    GroupMessages {
        group: String,
        limit: i64,
        reply: oneshot::Sender<Result<Vec<MessageView>, NodeError>>,
    },
    /// Start waiting for one new device of this user (`omega device link`).
    OfferLink {
        reply: oneshot::Sender<Result<crate::devices::LinkView, NodeError>>,
    },
    /// Read (and with `change`, first change) the shared metadata of the conversation with
    /// `peer`.
    Meta {
        peer: UserKey,
        change: Option<crate::metadata::MetaChange>,
        reply: oneshot::Sender<Result<crate::metadata::ConversationMeta, NodeError>>,
    },
    /// My device list.
    Devices {
        reply: oneshot::Sender<Vec<crate::devices::DeviceView>>,
    },
    /// Remove a device (by id prefix or name) from my device list.
    Revoke {
        device: String,
        reply: oneshot::Sender<Result<Vec<crate::devices::DeviceView>, NodeError>>,
    },
    /// Envelopes fetched from the home mailbox, in order. Replies with the message ids that are
    /// finished (stored, duplicate or refused for good) and may be deleted from the mailbox.
    FromMailbox {
        envelopes: Vec<(Vec<u8>, Vec<u8>)>,
        reply: oneshot::Sender<Vec<Vec<u8>>>,
    },
}

/// The end of one spawned network exchange.
pub(crate) enum Completion {
    Keys {
        transmit: Transmit,
        row: OutboxRow,
        peer: PeerId,
        attempt: Attempt<v1::KeysResponse>,
    },
    Sent {
        transmit: Transmit,
        row: OutboxRow,
        peer: PeerId,
        attempt: Attempt<Delivered>,
    },
}

/// What the engine knows about a contact's devices and addresses.
#[derive(Clone, Debug)]
pub(crate) struct PeerInfo {
    pub devices: VerifiedDeviceList,
    pub addrs: Vec<Multiaddr>,
    pub name: String,
    /// Home mailbox servers from the contact's card (full multiaddrs with /p2p/).
    pub mailboxes: Vec<Multiaddr>,
}

impl PeerInfo {
    pub(crate) fn addrs_of(&self, peer: &PeerId) -> Vec<Multiaddr> {
        self.addrs
            .iter()
            .filter(|addr| match addr.iter().last() {
                Some(libp2p::multiaddr::Protocol::P2p(id)) => id == *peer,
                _ => true,
            })
            .cloned()
            .collect()
    }
}

/// What the engine needs to keep our public card current as addresses come and go.
pub(crate) struct PublicState {
    pub info: std::sync::Arc<std::sync::RwLock<crate::PublicInfo>>,
    pub data_dir: crate::DataDir,
    pub name: String,
    pub mailboxes: Vec<String>,
}

pub(crate) struct Engine {
    pub public: PublicState,
    /// Opens sealed mailbox deposits.
    pub sealing: omega_crypto::sealed::SealingKey,
    pub store: Store,
    pub account: DeviceAccount,
    pub store_key: Zeroizing<[u8; 32]>,
    pub me: UserKey,
    /// Group messages still to drop on arrival (fault injection, `NodeConfig::drop_gossip`).
    pub drop_gossip: u32,
    /// Every group this device knows, by id.
    pub groups: HashMap<[u8; 32], omega_groups::GroupLog>,
    pub my_devices: VerifiedDeviceList,
    pub net: NetHandle,
    pub outbox: Outbox,
    pub events: broadcast::Sender<NodeEvent>,
    pub stats: Arc<Stats>,
    pub peers: HashMap<UserKey, PeerInfo>,
    pub peer_ids: HashMap<PeerId, (UserKey, DeviceKey)>,
    pub completions: mpsc::Sender<Completion>,
    /// Devices whose direct path failed recently: until then, envelopes go to their mailbox.
    pub unreachable: HashMap<PeerId, Instant>,
    /// Whether a DHT is joined (bootstrap servers given): publish our record, resolve others'.
    pub dht: bool,
    /// When our peer record is due for (re)publication.
    pub republish_at: Option<Instant>,
    /// The user identity (shared by my devices): signs my device list and group operations.
    pub user: omega_crypto::UserIdentity,
    /// The link offer waiting for a new device's claim (`omega device link`).
    pub link_offer: Option<omega_crypto::link::LinkOffer>,
    /// My current signed device list, for the mailbox client (which publishes it).
    pub devices_watch: tokio::sync::watch::Sender<v1::SignedDeviceList>,
    /// Where my other devices were last seen.
    pub own_addrs: HashMap<PeerId, Vec<Multiaddr>>,
    /// Conversation metadata shared with my other devices (Automerge).
    pub metadata: crate::metadata::Metadata,
}

/// How often expired disappearing messages are looked for.
const ERASE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// How long a failed direct path is skipped in favour of the mailbox.
pub(crate) const UNREACHABLE_FOR: std::time::Duration = std::time::Duration::from_secs(30);

impl Engine {
    /// Runs until the command channel closes (every handle dropped or shutdown requested).
    pub(crate) async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut net_events: mpsc::Receiver<NetEvent>,
        mut completions: mpsc::Receiver<Completion>,
        mut shutdown: oneshot::Receiver<()>,
    ) {
        if let Err(error) = self.load().await {
            warn!(%error, "could not load contacts and outbox");
        }
        self.load_groups().await;
        // Disappearing messages are erased within a second of their time.
        let mut sweep = tokio::time::interval(ERASE_EVERY);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.pump().await;
            let timeout = self.outbox.poll_timeout();
            tokio::select! {
                _ = &mut shutdown => break,
                command = commands.recv() => match command {
                    Some(command) => self.handle_command(command).await,
                    None => break,
                },
                event = net_events.recv() => match event {
                    Some(event) => self.handle_net_event(event).await,
                    None => break,
                },
                Some(completion) = completions.recv() => self.handle_completion(completion).await,
                () = sleep_until(timeout) => {}
                _ = sweep.tick() => self.erase_expired().await,
                () = sleep_until(self.republish_at), if self.dht => self.publish_record().await,
            }
        }
        self.net.shutdown().await;
    }

    /// Loads contacts and the durable outbox, then tries to reach every contact.
    async fn load(&mut self) -> Result<(), NodeError> {
        for contact in self.store.contacts().await? {
            self.remember_contact(&contact);
        }
        self.load_own_devices().await;
        for row in self.store.pending_outbox().await? {
            if let Ok(device) = <DeviceKey>::try_from(row.peer_device.as_slice()) {
                self.outbox.insert(device, row.seq);
            }
        }
        let targets: Vec<_> = self
            .peer_ids
            .keys()
            .filter_map(|peer| {
                let (user, _) = self.peer_ids.get(peer)?;
                if *user == self.me {
                    return Some((*peer, self.own_addrs.get(peer)?.clone()));
                }
                Some((*peer, self.peers.get(user)?.addrs_of(peer)))
            })
            .collect();
        for (peer, addrs) in targets {
            if !addrs.is_empty() {
                let _ = self.net.dial(peer, addrs).await;
            }
        }
        Ok(())
    }

    /// Verifies a stored contact and indexes its devices. Returns its info.
    pub(crate) fn remember_contact(&mut self, contact: &ContactRow) -> Option<PeerInfo> {
        let signed = v1::SignedDeviceList::decode(contact.device_list.as_slice()).ok()?;
        let user = UserKey::from_bytes(&contact.user_key).ok()?;
        let devices = verify_device_list(&signed, Some(&user)).ok()?;
        let addrs = contact
            .addrs
            .iter()
            .filter_map(|addr| addr.parse().ok())
            .collect();
        for device in &devices.devices {
            if let Ok(peer) = PeerId::from_bytes(&device.peer_id) {
                self.peer_ids.insert(peer, (user, device.curve25519));
            }
        }
        let mailboxes = contact
            .mailboxes
            .iter()
            .filter_map(|addr| addr.parse().ok())
            .collect();
        let info = PeerInfo {
            devices,
            addrs,
            name: contact.display_name().to_owned(),
            mailboxes,
        };
        self.peers.insert(user, info.clone());
        Some(info)
    }

    pub(crate) async fn peer_info(&mut self, user: &UserKey) -> Option<PeerInfo> {
        if *user == self.me {
            return Some(self.own_info());
        }
        if let Some(info) = self.peers.get(user) {
            return Some(info.clone());
        }
        let contact = self.store.contact(user.as_bytes()).await.ok()??;
        self.remember_contact(&contact)
    }

    async fn handle_command(&mut self, command: Command) {
        match command {
            Command::Send {
                to,
                draft,
                reply_to,
                reply,
            } => {
                let _ = reply.send(self.queue_item(to, draft, reply_to).await);
            }
            Command::Change {
                peer,
                target,
                change,
                reply,
            } => {
                let _ = reply.send(self.change_message(peer, target, change).await);
            }

            Command::OfferLink { reply } => {
                let _ = reply.send(self.offer_link().await);
            }
            Command::Meta {
                peer,
                change,
                reply,
            } => {
                let _ = reply.send(self.meta(peer, change).await);
            }
            Command::Devices { reply } => {
                let _ = reply.send(self.device_views());
            }
            Command::Revoke { device, reply } => {
                let _ = reply.send(self.revoke(&device).await);
            }
            Command::MarkRead { peer, reply } => {
                let _ = reply.send(self.mark_read(peer).await);
            }
            Command::GroupCreate {
                name,
                members,
                reply,
            } => {
                let _ = reply.send(self.create_group(name, members).await);
            }
            Command::GroupChange {
                group,
                change,
                reply,
            } => {
                let result = match self.find_group(&group) {
                    Ok(id) => self.change_group(id, change).await,
                    Err(error) => Err(error),
                };
                let _ = reply.send(result);
            }
            Command::GroupSend {
                group,
                draft,
                reply,
            } => {
                let result = match self.find_group(&group) {
                    Ok(id) => self.group_send(id, draft).await,
                    Err(error) => Err(error),
                };
                let _ = reply.send(result);
            }
            Command::GroupChangeMessage {
                group,
                target,
                change,
                reply,
            } => {
                let _ = reply.send(self.group_change_message(group, target, change).await);
            }
            Command::GroupList { reply } => {
                let _ = reply.send(self.group_views());
            }
            Command::GroupShow { group, reply } => {
                let _ = reply.send(
                    self.find_group(&group)
                        .and_then(|id| self.group_view_of(&id)),
                );
            }
            Command::GroupSessions { group, reply } => {
                let result = match self.find_group(&group) {
                    Ok(id) => self.group_sessions(id).await,
                    Err(error) => Err(error),
                };
                let _ = reply.send(result);
            }
            Command::GroupMessages {
                group,
                limit,
                reply,
            } => {
                let result = match self.find_group(&group) {
                    Ok(id) => self.group_messages(id, limit).await,
                    Err(error) => Err(error),
                };
                let _ = reply.send(result);
            }
            Command::SignMailboxAuth {
                server_peer_id,
                nonce,
                reply,
            } => {
                let signature = omega_crypto::sign_mailbox_auth(
                    &self.account,
                    &server_peer_id,
                    &nonce,
                    &self.me,
                );
                let _ = reply.send(v1::Authenticate {
                    user_key: self.me.as_bytes().to_vec(),
                    device_ed25519: self.account.ed25519().to_vec(),
                    nonce,
                    signature: signature.to_vec(),
                });
            }
            Command::IssuePreKeys { count, reply } => {
                let keys = self.account.issue_pre_keys(count);
                let fallback = self.account.rotate_fallback_key();
                let saved = self
                    .store
                    .save_account(&self.account.pickle(&self.store_key))
                    .await;
                let _ = reply.send(saved.is_ok().then_some((keys, fallback)));
            }
            Command::FromMailbox { envelopes, reply } => {
                let mut done = Vec::with_capacity(envelopes.len());
                for (message_id, deposit) in envelopes {
                    // Sealed deposits are opened with our sealing key; older ones are plain.
                    let envelope = match omega_proto::decode_sealed_envelope(&deposit) {
                        Ok(sealed) => match self.sealing.unseal(&sealed) {
                            Ok(envelope) => envelope,
                            Err(error) => {
                                debug!(%error, "dropping a deposit we cannot unseal");
                                Stats::bump(&self.stats.refused_undecryptable);
                                done.push(message_id);
                                continue;
                            }
                        },
                        Err(_) => deposit,
                    };
                    if self.handle_envelope(&envelope).await.is_some() {
                        done.push(message_id);
                    }
                }
                let _ = reply.send(done);
            }
            Command::ContactChanged { user } => {
                self.peers.remove(&user);
                if let Some(info) = self.peer_info(&user).await {
                    for device in &info.devices.devices {
                        if let Ok(peer) = PeerId::from_bytes(&device.peer_id) {
                            let addrs = info.addrs_of(&peer);
                            if !addrs.is_empty() {
                                let _ = self.net.dial(peer, addrs).await;
                            }
                            self.outbox.handle_reachable(device.curve25519);
                        }
                    }
                }
            }
        }
    }

    /// One outbox row per device of `to` carrying `content`.
    fn outbox_rows(
        info: &PeerInfo,
        to: &UserKey,
        message_id: &[u8],
        content: &[u8],
    ) -> Vec<NewOutbox> {
        info.devices
            .devices
            .iter()
            .map(|device| NewOutbox {
                message_id: message_id.to_vec(),
                peer_user: to.as_bytes().to_vec(),
                peer_device: device.curve25519.to_vec(),
                content: content.to_vec(),
            })
            .collect()
    }

    /// The send pipeline's first step: durably queue the item, one outbox row per device.
    async fn queue_item(
        &mut self,
        to: UserKey,
        draft: Draft,
        reply_to: Option<String>,
    ) -> Result<MessageView, NodeError> {
        let info = self
            .peer_info(&to)
            .await
            .ok_or_else(|| NodeError::UnknownContact { name: to.user_id() })?;
        let timer = self.store.disappearing_ms(to.as_bytes()).await?;
        let (content, item) = kinds::draft(
            &draft,
            reply_to.as_deref(),
            u64::try_from(timer).unwrap_or(0),
        )?;
        let message_id = uuid::Uuid::now_v7();
        let encoded = content.encode_to_vec();
        let mut outbox = Self::outbox_rows(&info, &to, message_id.as_bytes(), &encoded);
        outbox.extend(self.sent_copy_rows(&to, message_id.as_bytes(), &encoded));
        let now = now_ms() as i64;
        let mut meta = item.meta;
        if content.expires_in_ms > 0 {
            meta.expires_at_ms = Some(now.saturating_add(timer));
        }
        let message = NewMessage {
            message_id: message_id.to_string(),
            peer_user: to.as_bytes().to_vec(),
            direction: Direction::Out,
            body: item.body,
            status: Status::Queued,
            timestamp_ms: now,
            meta,
        };
        let timer_change = item.timer_ms.map(|ms| MessageChange::Timer { ms });
        let queued = self
            .store
            .queue_item(&message, &outbox, timer_change.as_ref(), now)
            .await?;
        self.schedule(&queued);
        let row = self
            .store
            .message(&message.message_id)
            .await?
            .ok_or_else(|| NodeError::Internal("queued message vanished".into()))?;
        let view = MessageView::new(&row, &self.me, Some(info.name));
        let _ = self.events.send(NodeEvent::Message {
            message: view.clone(),
        });
        Ok(view)
    }

    /// Applies my reaction, edit or delete to a message here and tells the peer's devices.
    async fn change_message(
        &mut self,
        peer: UserKey,
        target: String,
        change: Change,
    ) -> Result<MessageView, NodeError> {
        let info = self
            .peer_info(&peer)
            .await
            .ok_or_else(|| NodeError::UnknownContact {
                name: peer.user_id(),
            })?;
        let (content, local) = kinds::change(&change, &target, &self.me)?;
        let envelope_id = uuid::Uuid::now_v7();
        let encoded = content.encode_to_vec();
        let mut outbox = Self::outbox_rows(&info, &peer, envelope_id.as_bytes(), &encoded);
        outbox.extend(self.sent_copy_rows(&peer, envelope_id.as_bytes(), &encoded));
        let (changed, queued) = self
            .store
            .change_message(peer.as_bytes(), &local, &outbox, now_ms() as i64)
            .await?;
        if changed.is_none() {
            return Err(NodeError::InvalidInput(match change {
                Change::React { .. } => {
                    "that message cannot take reactions (unknown or deleted)".into()
                }
                Change::Edit { .. } => {
                    "only your own text messages can be edited (and not once deleted)".into()
                }
                Change::Delete => "only your own messages can be deleted for everyone".into(),
            }));
        }
        self.schedule(&queued);
        let view = self.view_of(&peer, &target).await?;
        let _ = self.events.send(NodeEvent::Updated {
            message: view.clone(),
        });
        Ok(view)
    }

    /// The current view of one message of the conversation with `peer`.
    pub(crate) async fn view_of(
        &mut self,
        peer: &UserKey,
        message_id: &str,
    ) -> Result<MessageView, NodeError> {
        let row = self
            .store
            .message_in(peer.as_bytes(), message_id)
            .await?
            .ok_or_else(|| NodeError::UnknownMessage {
                id: message_id.to_owned(),
            })?;
        let name = self.peer_info(peer).await.map(|info| info.name);
        Ok(MessageView::new(&row, &self.me, name))
    }

    /// Erases expired disappearing messages and tells API clients which.
    async fn erase_expired(&mut self) {
        match self.store.erase_expired(now_ms() as i64).await {
            Ok(erased) if !erased.is_empty() => {
                let _ = self.events.send(NodeEvent::Erased {
                    message_ids: erased.into_iter().map(|(_, id)| id).collect(),
                });
            }
            Ok(_) => {}
            Err(error) => warn!(%error, "could not erase expired messages"),
        }
    }

    async fn mark_read(&mut self, peer: UserKey) -> Result<usize, NodeError> {
        let Some(info) = self.peer_info(&peer).await else {
            return Err(NodeError::UnknownContact {
                name: peer.user_id(),
            });
        };
        let (ids, queued) = self
            .store
            .mark_read(peer.as_bytes(), now_ms() as i64, |ids| {
                let message_ids = ids
                    .iter()
                    .filter_map(|id| uuid::Uuid::parse_str(id).ok())
                    .map(|id| id.as_bytes().to_vec())
                    .collect::<Vec<_>>();
                let content = v1::Content {
                    body: Some(v1::content::Body::Receipt(v1::Receipt {
                        kind: v1::ReceiptKind::Read as i32,
                        message_ids,
                    })),
                    ..v1::Content::default()
                }
                .encode_to_vec();
                receipt_rows(&peer, &info.devices, &content)
            })
            .await?;
        self.schedule(&queued);
        if !ids.is_empty()
            && let Some(latest) = self.store.latest_incoming_id(peer.as_bytes()).await?
        {
            self.meta(peer, Some(crate::metadata::MetaChange::ReadUntil(latest)))
                .await?;
        }
        Ok(ids.len())
    }

    pub(crate) fn schedule(&mut self, queued: &[omega_store::QueuedOutbox]) {
        for row in queued {
            if let Ok(device) = <DeviceKey>::try_from(row.peer_device.as_slice()) {
                self.outbox.insert(device, row.seq);
            }
        }
    }

    pub(crate) fn emit_changes(&self, changes: &[StatusChange]) {
        for change in changes {
            let peer = UserKey::from_bytes(&change.peer_user)
                .map(|key| key.user_id())
                .unwrap_or_default();
            let _ = self.events.send(NodeEvent::Status {
                message_id: change.message_id.clone(),
                peer,
                status: change.status.as_str().to_owned(),
            });
        }
    }

    async fn handle_net_event(&mut self, event: NetEvent) {
        match event {
            NetEvent::Request {
                protocol,
                peer,
                body,
                responder,
            } => match protocol {
                Protocol::Msg => {
                    if let Some(ack) = self.handle_envelope(&body).await {
                        responder.respond(ack.encode_to_vec());
                    }
                }
                Protocol::Keys => {
                    if let Some(response) = self.handle_keys_request(&body).await {
                        responder.respond(response.encode_to_vec());
                    }
                }
                Protocol::Blob => {
                    crate::files::serve(self.public.data_dir.root().to_path_buf(), body, responder)
                }
                Protocol::Link => {
                    let response = self.handle_link_request(peer, &body).await;
                    responder.respond(response);
                }
                #[allow(unreachable_patterns)]
                _ => debug!(%peer, "request on an unknown protocol"),
            },
            NetEvent::Connected { peer } => {
                self.unreachable.remove(&peer);
                if let Some((_, device)) = self.peer_ids.get(&peer) {
                    self.outbox.handle_reachable(*device);
                }
            }
            NetEvent::PeerListenAddrs { peer, addrs } => self.learn_addrs(peer, addrs).await,
            // A contact's device showed up on the local network (mDNS): use it now.
            NetEvent::Discovered { peer, addrs } => {
                if let Some((_, device)) = self.peer_ids.get(&peer).copied() {
                    self.learn_addrs(peer, addrs).await;
                    self.unreachable.remove(&peer);
                    self.outbox.handle_reachable(device);
                }
            }
            // A new address (a relay reservation, an interface): refresh our card, and tell the
            // DHT soon.
            NetEvent::NewListenAddr { .. } | NetEvent::ExpiredListenAddr { .. } => {
                self.refresh_card().await;
                if self.dht {
                    self.republish_at =
                        Some(Instant::now() + std::time::Duration::from_millis(200));
                }
            }
            NetEvent::Gossip { topic, data, .. } => {
                Stats::bump(&self.stats.gossip_received);
                if self.drop_gossip > 0 {
                    self.drop_gossip -= 1;
                    Stats::bump(&self.stats.gossip_dropped);
                } else {
                    self.on_group_message(&data, Some(&topic)).await;
                }
            }
            NetEvent::TopicJoined { peer, .. } => self.on_topic_joined(peer),
            NetEvent::Disconnected { .. } => {}
            #[allow(unreachable_patterns)]
            _ => {}
        }
    }

    /// Identify told us where a contact's device listens: remember it for the next dial.
    pub(crate) async fn learn_addrs(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        let Some((user, _)) = self.peer_ids.get(&peer).copied() else {
            return;
        };
        if user == self.me {
            return self.learn_own_addrs(peer, addrs).await;
        }
        let Some(info) = self.peers.get_mut(&user) else {
            return;
        };
        let mut updated: Vec<Multiaddr> = info
            .addrs
            .iter()
            .filter(|addr| !matches!(addr.iter().last(), Some(libp2p::multiaddr::Protocol::P2p(id)) if id == peer))
            .cloned()
            .collect();
        for addr in addrs {
            let addr = addr.with_p2p(peer).unwrap_or_else(|addr| addr);
            if !updated.contains(&addr) {
                updated.push(addr);
            }
        }
        if updated == info.addrs {
            return;
        }
        info.addrs = updated;
        let strings: Vec<String> = info.addrs.iter().map(ToString::to_string).collect();
        if let Err(error) = self
            .store
            .set_contact_addrs(user.as_bytes(), &strings)
            .await
        {
            warn!(%error, "could not store a contact's addresses");
        }
    }
}

/// How often our peer record is republished in the DHT.
const REPUBLISH_EVERY: std::time::Duration = std::time::Duration::from_secs(300);

impl Engine {
    /// Our current addresses, as full multiaddrs.
    pub(crate) async fn full_listen_addrs(&self) -> Vec<String> {
        let peer = self.net.local_peer_id();
        self.net
            .listen_addrs()
            .await
            .into_iter()
            .map(|addr| addr.with_p2p(peer).unwrap_or_else(|addr| addr).to_string())
            .collect()
    }

    /// Rewrites our card (API, `public.json`) with the addresses we listen on now.
    pub(crate) async fn refresh_card(&mut self) {
        let addrs = self.full_listen_addrs().await;
        let public = crate::datadir::public_info(
            &self.public.name,
            &self.my_devices,
            &self.account,
            addrs,
            self.public.mailboxes.clone(),
        );
        if let Err(error) = self.public.data_dir.write_public(&public) {
            warn!(%error, "could not update public.json");
        }
        if let Ok(mut info) = self.public.info.write() {
            *info = public;
        }
    }

    /// Signs a fresh peer record with our current addresses and puts it in the DHT (retrying a few
    /// times in the background while the DHT is still being joined).
    pub(crate) async fn publish_record(&mut self) {
        self.republish_at = Some(Instant::now() + REPUBLISH_EVERY);
        let mut addrs = self.full_listen_addrs().await;
        addrs.truncate(omega_crypto::peer_record::MAX_RECORD_ADDRS);
        let record =
            omega_crypto::sign_peer_record(&self.account, &self.my_devices.signed, addrs, now_ms())
                .encode_to_vec();
        let key = omega_crypto::peer_record_key(&self.me, &self.account.curve25519()).to_vec();
        let net = self.net.clone();
        let stats = self.stats.clone();
        tokio::spawn(async move {
            let mut wait = std::time::Duration::from_millis(200);
            for _ in 0..8 {
                match net.put_record(key.clone(), record.clone()).await {
                    Ok(()) => return Stats::bump(&stats.records_published),
                    Err(error) => debug!(%error, "could not publish our peer record yet"),
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(10));
            }
        });
    }
}

/// Outbox rows carrying `content` to every device of `user`.
pub(crate) fn receipt_rows(
    user: &UserKey,
    devices: &VerifiedDeviceList,
    content: &[u8],
) -> Vec<NewOutbox> {
    crate::devices::device_rows(user, &devices.devices, content)
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => std::future::pending().await,
    }
}
