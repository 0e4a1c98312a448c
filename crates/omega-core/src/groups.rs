//! Groups in the engine: the membership log (`omega-groups`) kept in memory and in the store,
//! its sync to members over Olm, Megolm sessions (one outbound per group on this device, its key
//! shared over Olm on every rotation), and group messages published on the group's GossipSub
//! topic and carried over Olm (hence through mailboxes) to member devices not on the topic.
//! See docs/groups.md.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use libp2p::PeerId;
use omega_crypto::{InboundGroup, OutboundGroup, UserKey, VerifiedDeviceList, verify_device_list};
use omega_groups::{
    Applied, GroupId, GroupLog, GroupView, OpKind, OutboundSessionInfo, Role, SendDecision,
    SenderKeyPolicy, SessionBinding, SignedOp, decode_genesis, decode_op, plan_rekey,
};
use omega_proto::{Message, v1};
use omega_store::{
    ContactRow, Direction, GroupInboundRow, GroupLocal, GroupOutboundRow, MessageChange,
    MessageKind, NewMessage, NewOutbox, Status, uuid_text,
};
use tracing::{debug, warn};

use crate::engine::Engine;
use crate::kinds::{self, Change, Draft};
use crate::model::{MessageView, NodeEvent, Stats};
use crate::{NodeError, now_ms};

/// A group state message stays under this size; member cards beyond it go in further ones.
const STATE_BUDGET: usize = 160 * 1024;

/// Group messages whose key never came are dropped after the mailbox TTL.
const WAITING_TTL_MS: i64 = 14 * 24 * 60 * 60 * 1000;

/// A membership change asked through the API.
#[derive(Clone, Debug)]
pub enum GroupChange {
    Add { user: UserKey, role: Role },
    Remove { user: UserKey },
    Promote { user: UserKey, role: Role },
    Leave { successor: Option<UserKey> },
    Rename { name: String },
}

/// Who holds the key of this device's current outbound session in a group: the members it was
/// shared with (user ids) and their devices (curve25519 keys).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
struct SharedWith {
    users: BTreeSet<String>,
    #[serde(with = "hex_keys")]
    devices: BTreeSet<[u8; 32]>,
}

mod hex_keys {
    use std::collections::BTreeSet;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(keys: &BTreeSet<[u8; 32]>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(keys.iter().map(hex::encode))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeSet<[u8; 32]>, D::Error> {
        let texts = Vec::<String>::deserialize(d)?;
        texts
            .iter()
            .map(|text| {
                let bytes = hex::decode(text).map_err(serde::de::Error::custom)?;
                <[u8; 32]>::try_from(bytes.as_slice()).map_err(serde::de::Error::custom)
            })
            .collect()
    }
}

/// The Megolm sessions a device holds for one group (`omega group sessions`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GroupSessions {
    /// This device's current outbound session id, if it has sent in the group.
    pub outbound: Option<String>,
    /// Sessions other devices shared with this one, oldest first.
    pub inbound: Vec<InboundSessionView>,
}

/// One received session: whose it is and when its key came.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InboundSessionView {
    pub session_id: String,
    /// The sender's user id.
    pub sender: String,
    pub received_ms: i64,
}

fn id_bytes(id: &GroupId) -> [u8; 32] {
    *id.genesis_hash().as_bytes()
}

impl Engine {
    /// Loads every stored group, follows the topics of those we are a member of.
    pub(crate) async fn load_groups(&mut self) {
        let rows = match self.store.groups().await {
            Ok(rows) => rows,
            Err(error) => return warn!(%error, "could not load groups"),
        };
        for row in rows {
            let Ok(genesis) = decode_genesis(&row.genesis) else {
                warn!("a stored group genesis does not decode");
                continue;
            };
            let Ok(mut log) = GroupLog::new(genesis) else {
                warn!("a stored group genesis is invalid");
                continue;
            };
            let ops: Vec<SignedOp> = row
                .ops
                .iter()
                .filter_map(|bytes| decode_op(bytes).ok())
                .collect();
            let _ = log.apply_all(ops);
            let id = id_bytes(&log.group_id());
            if log.state().is_member(&self.me) {
                self.net.subscribe(&log.group_id().topic(), true).await;
            }
            self.groups.insert(id, log);
        }
        let _ = self
            .store
            .purge_waiting(now_ms() as i64 - WAITING_TTL_MS)
            .await;
        let _ = self
            .store
            .purge_group_sent(now_ms() as i64 - WAITING_TTL_MS)
            .await;
    }

    /// Finds a group by id (base32), id prefix (at least 8 characters) or exact name.
    pub(crate) fn find_group(&self, name: &str) -> Result<[u8; 32], NodeError> {
        let name = name.trim();
        if let Ok(id) = GroupId::parse(name) {
            let id = id_bytes(&id);
            if self.groups.contains_key(&id) {
                return Ok(id);
            }
        }
        let matches: Vec<[u8; 32]> = self
            .groups
            .iter()
            .filter(|(_, log)| {
                log.state().name() == name
                    || (name.len() >= 8 && log.group_id().to_string().starts_with(name))
            })
            .map(|(id, _)| *id)
            .collect();
        match matches.as_slice() {
            [one] => Ok(*one),
            [] => Err(NodeError::UnknownGroup {
                name: name.to_owned(),
            }),
            _ => Err(NodeError::InvalidInput(format!(
                "{name:?} names several groups; use the group id"
            ))),
        }
    }

    fn log(&self, id: &[u8; 32]) -> Result<&GroupLog, NodeError> {
        self.groups.get(id).ok_or_else(|| NodeError::UnknownGroup {
            name: data_encoding::HEXLOWER.encode(id),
        })
    }

    /// Creates a group of my contacts `members` (each a plain member; I am the owner), stores
    /// it, follows its topic and sends its state to every member device.
    pub(crate) async fn create_group(
        &mut self,
        name: String,
        members: Vec<UserKey>,
    ) -> Result<GroupView, NodeError> {
        let mut roles = BTreeMap::new();
        for user in members {
            if user == self.me {
                continue;
            }
            if self.peer_info(&user).await.is_none() {
                return Err(NodeError::UnknownContact {
                    name: user.user_id(),
                });
            }
            roles.insert(user, Role::Member);
        }
        let log = GroupLog::create(&self.user, &name, roles, now_ms(), &mut rand::rngs::OsRng)
            .map_err(|error| NodeError::InvalidInput(error.to_string()))?;
        let id = id_bytes(&log.group_id());
        self.store
            .save_group(&id, &log.genesis().to_bytes(), &[], now_ms() as i64)
            .await?;
        self.net.subscribe(&log.group_id().topic(), true).await;
        let view = GroupView::of(&log);
        self.groups.insert(id, log);
        let everyone: Vec<UserKey> = self.log(&id)?.state().members().keys().copied().collect();
        self.send_group_state(&id, &everyone).await?;
        self.dial_members(&id).await;
        let _ = self.events.send(NodeEvent::Group {
            group: view.clone(),
        });
        Ok(view)
    }

    /// Makes, applies and stores a membership operation, then sends the new state to every
    /// member and to whoever the operation removed.
    pub(crate) async fn change_group(
        &mut self,
        id: [u8; 32],
        change: GroupChange,
    ) -> Result<GroupView, NodeError> {
        let kind = match change {
            GroupChange::Add { user, role } => {
                if self.peer_info(&user).await.is_none() {
                    return Err(NodeError::UnknownContact {
                        name: user.user_id(),
                    });
                }
                OpKind::Add { user, role }
            }
            GroupChange::Remove { user } => OpKind::Remove { user },
            GroupChange::Promote { user, role } => OpKind::Promote { user, role },
            GroupChange::Leave { successor } => OpKind::Leave { successor },
            GroupChange::Rename { name } => OpKind::Rename { name },
        };
        let before: BTreeSet<UserKey> = self.log(&id)?.state().members().keys().copied().collect();
        let log = self.groups.get_mut(&id).ok_or(NodeError::UnknownGroup {
            name: String::new(),
        })?;
        let op = log
            .create_op(&self.user, kind, now_ms())
            .map_err(|error| NodeError::InvalidInput(error.to_string()))?;
        let hash = op.hash();
        match log.apply(op.clone()) {
            Ok(Applied::Accepted { .. }) => {}
            Ok(other) => {
                return Err(NodeError::Internal(format!(
                    "own op not accepted: {other:?}"
                )));
            }
            Err(error) => return Err(NodeError::Internal(error.to_string())),
        }
        self.store
            .save_group(
                &id,
                &log.genesis().to_bytes(),
                &[(hash.as_bytes().to_vec(), op.to_bytes())],
                now_ms() as i64,
            )
            .await?;
        let view = GroupView::of(log);
        let member_now = log.state().is_member(&self.me);
        let topic = log.group_id().topic();
        // A new member gets the whole log and every card; everyone else (members before and
        // after, a removed one included, my other devices) only the op and the new cards.
        let added: Vec<UserKey> = log
            .state()
            .members()
            .keys()
            .filter(|user| !before.contains(user))
            .copied()
            .collect();
        let mut recipients: BTreeSet<UserKey> = log.state().members().keys().copied().collect();
        recipients.extend(before);
        recipients.insert(self.me);
        let others: Vec<UserKey> = recipients
            .into_iter()
            .filter(|user| !added.contains(user))
            .collect();
        if !added.is_empty() {
            self.send_group_state(&id, &added).await?;
        }
        self.send_group_delta(&id, &others, &op, &added).await?;
        if member_now {
            self.dial_members(&id).await;
        } else {
            self.net.subscribe(&topic, false).await;
        }
        let _ = self.events.send(NodeEvent::Group {
            group: view.clone(),
        });
        Ok(view)
    }

    /// A member's card: their device list and where to reach them.
    fn card_of(&self, user: &UserKey) -> Option<v1::ContactCard> {
        if *user == self.me {
            let info = self.public.info.read().ok()?;
            return Some(v1::ContactCard {
                name: self.public.name.clone(),
                devices: Some(self.my_devices.signed.clone()),
                addrs: info.addrs.clone(),
                mailboxes: self.public.mailboxes.clone(),
            });
        }
        let info = self.peers.get(user)?;
        Some(v1::ContactCard {
            name: info.name.clone(),
            devices: Some(info.devices.signed.clone()),
            addrs: info.addrs.iter().map(ToString::to_string).collect(),
            mailboxes: info.mailboxes.iter().map(ToString::to_string).collect(),
        })
    }

    /// The devices of `user` that group traffic goes to (mine: my other devices).
    fn member_devices(&self, user: &UserKey) -> Vec<omega_crypto::DeviceInfo> {
        if *user == self.me {
            let mine = self.account.curve25519();
            return self
                .my_devices
                .devices
                .iter()
                .filter(|device| device.curve25519 != mine)
                .cloned()
                .collect();
        }
        self.peers
            .get(user)
            .map(|info| info.devices.devices.clone())
            .unwrap_or_default()
    }

    /// Outbox rows carrying `content` to every device of each of `users` (mine: my others).
    fn rows_to(&self, users: &[UserKey], content: &[u8]) -> Vec<NewOutbox> {
        users
            .iter()
            .flat_map(|user| crate::devices::device_rows(user, &self.member_devices(user), content))
            .collect()
    }

    /// Sends the whole log and the members' cards to every device of `to`, in messages that
    /// each fit an envelope.
    pub(crate) async fn send_group_state(
        &mut self,
        id: &[u8; 32],
        to: &[UserKey],
    ) -> Result<(), NodeError> {
        let log = self.log(id)?;
        let genesis = log.genesis().to_bytes();
        let ops: Vec<Vec<u8>> = log.ops().map(SignedOp::to_bytes).collect();
        let members: Vec<UserKey> = log.state().members().keys().copied().collect();
        let cards: Vec<v1::ContactCard> = members
            .iter()
            .filter_map(|user| self.card_of(user))
            .collect();
        let first = v1::GroupState {
            genesis,
            ops,
            members: Vec::new(),
            group_id: Vec::new(),
        };
        self.queue_group_states(id, first, cards, to).await
    }

    /// Sends one membership op and the cards of the members it added to every device of `to`,
    /// who know the group already.
    async fn send_group_delta(
        &mut self,
        id: &[u8; 32],
        to: &[UserKey],
        op: &SignedOp,
        added: &[UserKey],
    ) -> Result<(), NodeError> {
        let cards = added.iter().filter_map(|user| self.card_of(user)).collect();
        let first = v1::GroupState {
            genesis: Vec::new(),
            ops: vec![op.to_bytes()],
            members: Vec::new(),
            group_id: id.to_vec(),
        };
        self.queue_group_states(id, first, cards, to).await
    }

    /// Queues `first` with as many `cards` as fit an envelope, then the rest of the cards in
    /// further states naming the group by id, to every device of `to`.
    async fn queue_group_states(
        &mut self,
        id: &[u8; 32],
        first: v1::GroupState,
        cards: Vec<v1::ContactCard>,
        to: &[UserKey],
    ) -> Result<(), NodeError> {
        let mut messages = Vec::new();
        let mut current = first;
        for card in cards {
            if current.encoded_len() + card.encoded_len() > STATE_BUDGET
                && !current.members.is_empty()
            {
                messages.push(std::mem::replace(
                    &mut current,
                    v1::GroupState {
                        genesis: Vec::new(),
                        ops: Vec::new(),
                        members: Vec::new(),
                        group_id: id.to_vec(),
                    },
                ));
            }
            current.members.push(card);
        }
        messages.push(current);
        let mut rows = Vec::new();
        for state in messages {
            let content = v1::Content {
                body: Some(v1::content::Body::GroupState(state)),
                ..v1::Content::default()
            }
            .encode_to_vec();
            rows.extend(self.rows_to(to, &content));
        }
        let queued = self.store.queue_outbox(&rows, now_ms() as i64).await?;
        self.schedule(&queued);
        Ok(())
    }

    /// Sends every group I am a member of to my other devices (a device was just linked).
    pub(crate) async fn share_groups_with_my_devices(&mut self) {
        let mine: Vec<[u8; 32]> = self
            .groups
            .iter()
            .filter(|(_, log)| log.state().is_member(&self.me))
            .map(|(id, _)| *id)
            .collect();
        for id in mine {
            let me = self.me;
            if let Err(error) = self.send_group_state(&id, &[me]).await {
                warn!(%error, "could not share a group with my new device");
            }
        }
    }

    /// Dials every member device we know an address of (GossipSub needs connections).
    async fn dial_members(&mut self, id: &[u8; 32]) {
        let Some(log) = self.groups.get(id) else {
            return;
        };
        let members: Vec<UserKey> = log.state().members().keys().copied().collect();
        for user in members {
            if user == self.me {
                continue;
            }
            let Some(info) = self.peers.get(&user) else {
                continue;
            };
            for device in &info.devices.devices {
                let Ok(peer) = PeerId::from_bytes(&device.peer_id) else {
                    continue;
                };
                let addrs = info.addrs_of(&peer);
                if !addrs.is_empty() {
                    let net = self.net.clone();
                    tokio::spawn(async move {
                        let _ = net.dial(peer, addrs).await;
                    });
                }
            }
        }
    }

    /// A group's log (or part of it) and member cards arrived over Olm from `sender`.
    pub(crate) async fn on_group_state(
        &mut self,
        sender: &UserKey,
        state: v1::GroupState,
    ) -> Result<(), String> {
        // A full state names its group by its genesis; a change to a known group by its id.
        let (id, genesis) = if state.genesis.is_empty() {
            let id = <[u8; 32]>::try_from(state.group_id.as_slice())
                .map_err(|_| "a group state with neither genesis nor group id".to_owned())?;
            if !self.groups.contains_key(&id) {
                return Err("a change to a group we do not know".into());
            }
            (id, None)
        } else {
            let genesis = decode_genesis(&state.genesis).map_err(|error| error.to_string())?;
            (id_bytes(&genesis.group_id()), Some(genesis))
        };
        let mut ops = Vec::with_capacity(state.ops.len());
        for bytes in &state.ops {
            ops.push(decode_op(bytes).map_err(|error| error.to_string())?);
        }
        // A group learnt just now was not followed yet, whatever its genesis says.
        let was_member = self
            .groups
            .get(&id)
            .is_some_and(|log| log.state().is_member(&self.me));
        let mut log = match (self.groups.get(&id), genesis) {
            (Some(log), _) => log.clone(),
            (None, Some(genesis)) => GroupLog::new(genesis).map_err(|error| error.to_string())?,
            (None, None) => return Err("a change to a group we do not know".into()),
        };
        let results = log.apply_all(ops.iter().cloned());
        // Only a member (now or before these ops) may tell us about a group.
        let known_author = log.genesis().genesis().creator == *sender
            || log.state().is_member(sender)
            || ops.iter().any(|op| op.op().author == *sender);
        if !known_author {
            return Err("group state from someone who is not a member".into());
        }
        let stored: Vec<(Vec<u8>, Vec<u8>)> = ops
            .iter()
            .zip(&results)
            .filter(|(_, result)| {
                matches!(
                    result,
                    Ok(Applied::Accepted { .. } | Applied::Pending { .. })
                )
            })
            .map(|(op, _)| (op.hash().as_bytes().to_vec(), op.to_bytes()))
            .collect();
        self.store
            .save_group(&id, &log.genesis().to_bytes(), &stored, now_ms() as i64)
            .await
            .map_err(|error| error.to_string())?;
        let is_member = log.state().is_member(&self.me);
        let topic = log.group_id().topic();
        let members: BTreeSet<UserKey> = log.state().members().keys().copied().collect();
        let view = GroupView::of(&log);
        self.groups.insert(id, log);
        for card in state.members {
            self.learn_member(&members, card).await;
        }
        if is_member && !was_member {
            self.net.subscribe(&topic, true).await;
        } else if was_member && !is_member {
            self.net.subscribe(&topic, false).await;
        }
        if is_member {
            self.dial_members(&id).await;
        }
        let _ = self.events.send(NodeEvent::Group { group: view });
        Ok(())
    }

    /// Remembers a member's card as a contact (a newer device list replaces an older one; an
    /// existing contact keeps its name and alias).
    async fn learn_member(&mut self, members: &BTreeSet<UserKey>, card: v1::ContactCard) {
        let Some(signed) = card.devices.as_ref() else {
            return;
        };
        let Ok(devices) = verify_device_list(signed, None) else {
            return;
        };
        if devices.user == self.me || !members.contains(&devices.user) {
            return;
        }
        let existing = match self.store.contact(devices.user.as_bytes()).await {
            Ok(existing) => existing,
            Err(error) => return warn!(%error, "could not read a contact"),
        };
        if let Some(existing) = &existing
            && existing.device_list_version as u64 >= devices.version
            && !existing.addrs.is_empty()
        {
            return;
        }
        let row = contact_from_card(&devices, &card, existing.as_ref());
        if let Err(error) = self.store.upsert_contact(&row).await {
            return warn!(%error, "could not store a member's card");
        }
        self.peers.remove(&devices.user);
        self.peer_info(&devices.user).await;
    }

    /// A Megolm session key arrived over Olm from `sender`'s device `device_curve25519`.
    pub(crate) async fn on_group_key(
        &mut self,
        sender: &UserKey,
        device_curve25519: &[u8; 32],
        key: &v1::GroupKey,
    ) -> Result<(), String> {
        let group_id: [u8; 32] = key
            .group_id
            .as_slice()
            .try_into()
            .map_err(|_| "group id is not 32 bytes".to_owned())?;
        let session = InboundGroup::new(&key.session_key).map_err(|error| error.to_string())?;
        let session_id = session.session_id();
        let row = GroupInboundRow {
            session_id: session_id.clone(),
            group_id: group_id.to_vec(),
            sender_user: sender.as_bytes().to_vec(),
            sender_device: device_curve25519.to_vec(),
            pickle: session.pickle(&self.store_key),
            next_index: i64::from(session.first_known_index()),
            missing: "[]".to_owned(),
        };
        self.store
            .save_group_inbound(&row, now_ms() as i64)
            .await
            .map_err(|error| error.to_string())?;
        let waiting = self
            .store
            .take_waiting(&session_id)
            .await
            .map_err(|error| error.to_string())?;
        for message in waiting {
            self.on_group_message(&message, None).await;
        }
        Ok(())
    }

    /// A group message arrived: on the topic (`topic` is set) or carried over Olm.
    pub(crate) async fn on_group_message(&mut self, bytes: &[u8], topic: Option<&str>) {
        let stats = self.stats.clone();
        let message = match omega_proto::decode_group_message(bytes) {
            Ok(message) => message,
            Err(error) => {
                Stats::bump(&stats.refused_malformed);
                return debug!(%error, "refused a group message");
            }
        };
        let Ok(group_id) = <[u8; 32]>::try_from(message.group_id.as_slice()) else {
            return Stats::bump(&stats.refused_malformed);
        };
        let Some(log) = self.groups.get(&group_id) else {
            return debug!("a message of a group we do not know");
        };
        if topic.is_some_and(|topic| topic != log.group_id().topic()) {
            return Stats::bump(&stats.refused_wrong_recipient);
        }
        let session = match self.store.group_inbound(&message.session_id).await {
            Ok(session) => session,
            Err(error) => return warn!(%error, "store unavailable"),
        };
        let Some(session) = session else {
            // Its key is still on its way (it travels over Olm, the message over GossipSub).
            if let Err(error) = self
                .store
                .wait_for_group_key(&message.session_id, bytes, now_ms() as i64)
                .await
            {
                warn!(%error, "could not keep a group message for later");
            }
            return;
        };
        if session.group_id != message.group_id {
            return Stats::bump(&stats.refused_wrong_recipient);
        }
        let Ok(sender) = UserKey::from_bytes(&session.sender_user) else {
            return;
        };
        // A removed member's sessions are worthless from their removal on.
        if !log.state().is_member(&sender) {
            return Stats::bump(&stats.refused_unknown_device);
        }
        let Ok(mut inbound) = InboundGroup::from_pickle(&session.pickle, &self.store_key) else {
            return warn!("a stored group session does not open");
        };
        let plaintext = match inbound.decrypt(&message.ciphertext) {
            Ok((plaintext, index)) => {
                self.track_gaps(&session, index).await;
                plaintext
            }
            Err(error) => {
                Stats::bump(&stats.refused_undecryptable);
                return debug!(%error, "a group message does not decrypt");
            }
        };
        let Ok(payload) = omega_proto::decode_group_payload(&plaintext) else {
            return Stats::bump(&stats.refused_malformed);
        };
        let Some(message_id) = uuid_text(&payload.message_id) else {
            return Stats::bump(&stats.refused_malformed);
        };
        let Some(content) = payload.content else {
            return Stats::bump(&stats.refused_malformed);
        };
        let (item, expires_in_ms) = match kinds::arrived(&content, &sender) {
            Ok(kinds::Arrived::Item {
                item,
                expires_in_ms,
            }) => (item, expires_in_ms),
            Ok(kinds::Arrived::Change(change)) => {
                return self
                    .on_group_change(group_id, &sender, &payload.message_id, &change)
                    .await;
            }
            Err(reason) => {
                Stats::bump(&stats.refused_malformed);
                return debug!(%reason, "refused a group message");
            }
        };
        let mut meta = item.meta;
        meta.author = Some(sender.as_bytes().to_vec());
        if expires_in_ms > 0 {
            let lifetime = i64::try_from(expires_in_ms).unwrap_or(i64::MAX);
            meta.expires_at_ms = Some((now_ms() as i64).saturating_add(lifetime));
        }
        // My own message sent from another of my devices is outgoing here too.
        let mine = sender == self.me;
        let row = NewMessage {
            message_id: message_id.clone(),
            peer_user: group_id.to_vec(),
            direction: if mine { Direction::Out } else { Direction::In },
            body: item.body,
            status: if mine {
                Status::Sent
            } else {
                Status::Delivered
            },
            timestamp_ms: payload.timestamp_ms.min(i64::MAX as u64) as i64,
            meta,
        };
        match self
            .store
            .commit_group_message(
                sender.as_bytes(),
                &payload.message_id,
                &row,
                now_ms() as i64,
            )
            .await
        {
            Ok(true) => {
                Stats::bump(&stats.received);
                if let Ok(view) = self.group_message_view(&group_id, &message_id).await {
                    let _ = self.events.send(NodeEvent::Message { message: view });
                }
            }
            Ok(false) => Stats::bump(&stats.duplicates),
            Err(error) => warn!(%error, "could not store a group message"),
        }
    }

    /// Notes a decrypted ratchet index of a received session; asks the sending device again for
    /// the messages a jump in indexes shows missing (a connection that died silently loses what
    /// was published meanwhile; GossipSub has no acknowledgements).
    async fn track_gaps(&mut self, session: &GroupInboundRow, index: u32) {
        let mut gaps = Gaps::from_row(session.next_index, &session.missing);
        let before = gaps.clone();
        let wanted = gaps.observe(index);
        if gaps == before {
            return;
        }
        if let Err(error) = self
            .store
            .set_group_gaps(
                &session.session_id,
                i64::from(gaps.next),
                &gaps.missing_json(),
            )
            .await
        {
            return warn!(%error, "could not record a group session's gaps");
        }
        if wanted.is_empty() {
            return;
        }
        let (Ok(sender), Ok(device)) = (
            UserKey::from_bytes(&session.sender_user),
            <[u8; 32]>::try_from(session.sender_device.as_slice()),
        ) else {
            return;
        };
        let content = v1::Content {
            body: Some(v1::content::Body::GroupResend(v1::GroupResend {
                group_id: session.group_id.clone(),
                session_id: session.session_id.clone(),
                indexes: wanted,
            })),
            ..v1::Content::default()
        }
        .encode_to_vec();
        let row = NewOutbox {
            message_id: uuid::Uuid::now_v7().as_bytes().to_vec(),
            peer_user: sender.as_bytes().to_vec(),
            peer_device: device.to_vec(),
            content,
        };
        match self.store.queue_outbox(&[row], now_ms() as i64).await {
            Ok(queued) => {
                Stats::bump(&self.stats.group_resends_asked);
                self.schedule(&queued);
            }
            Err(error) => warn!(%error, "could not ask for missed group messages"),
        }
    }

    /// A member's device missed some of my messages: they go to it again, carried over Olm.
    pub(crate) async fn on_group_resend(
        &mut self,
        sender: &UserKey,
        device_curve25519: &[u8; 32],
        request: &v1::GroupResend,
    ) -> Result<(), String> {
        let group_id: [u8; 32] = request
            .group_id
            .as_slice()
            .try_into()
            .map_err(|_| "group id is not 32 bytes".to_owned())?;
        let log = self.groups.get(&group_id).ok_or("unknown group")?;
        if !log.state().is_member(sender) {
            return Err("a resend request from someone who is not a member".into());
        }
        if request.indexes.len() > Gaps::MAX_ASK {
            return Err("too many indexes asked at once".into());
        }
        let found = self
            .store
            .group_sent(&request.session_id, &request.indexes)
            .await
            .map_err(|error| error.to_string())?;
        let mut rows = Vec::new();
        for wire in found {
            // Only messages of this group (session ids are unique; this is belt and braces).
            let Ok(message) = omega_proto::decode_group_message(&wire) else {
                continue;
            };
            if message.group_id != request.group_id {
                continue;
            }
            rows.push(NewOutbox {
                message_id: uuid::Uuid::now_v7().as_bytes().to_vec(),
                peer_user: sender.as_bytes().to_vec(),
                peer_device: device_curve25519.to_vec(),
                content: v1::Content {
                    body: Some(v1::content::Body::GroupMessage(wire)),
                    ..v1::Content::default()
                }
                .encode_to_vec(),
            });
        }
        if rows.is_empty() {
            return Ok(());
        }
        let queued = self
            .store
            .queue_outbox(&rows, now_ms() as i64)
            .await
            .map_err(|error| error.to_string())?;
        for _ in &queued {
            Stats::bump(&self.stats.group_resends_served);
        }
        self.schedule(&queued);
        Ok(())
    }

    /// A reaction, edit or delete arrived in a group.
    async fn on_group_change(
        &mut self,
        group_id: [u8; 32],
        sender: &UserKey,
        envelope_id: &[u8],
        change: &MessageChange,
    ) {
        match self
            .store
            .commit_group_change(
                sender.as_bytes(),
                envelope_id,
                &group_id,
                change,
                now_ms() as i64,
            )
            .await
        {
            Ok(Some(Some(target))) => {
                Stats::bump(&self.stats.received);
                if let Ok(message) = self.group_message_view(&group_id, &target).await {
                    let _ = self.events.send(NodeEvent::Updated { message });
                }
            }
            Ok(Some(None)) => debug!("a group change that changes nothing"),
            Ok(None) => Stats::bump(&self.stats.duplicates),
            Err(error) => warn!(%error, "could not store a group change"),
        }
    }

    /// Sends a conversation item to a group.
    pub(crate) async fn group_send(
        &mut self,
        id: [u8; 32],
        draft: Draft,
    ) -> Result<MessageView, NodeError> {
        let timer = self.store.group_timer(&id).await?;
        let (content, item) = kinds::draft(&draft, None, u64::try_from(timer).unwrap_or(0))?;
        let message_id = uuid::Uuid::now_v7();
        let mut meta = item.meta;
        meta.author = Some(self.me.as_bytes().to_vec());
        if content.expires_in_ms > 0 {
            meta.expires_at_ms = Some((now_ms() as i64).saturating_add(timer));
        }
        let mine = NewMessage {
            message_id: message_id.to_string(),
            peer_user: id.to_vec(),
            direction: Direction::Out,
            body: item.body,
            status: Status::Sent,
            timestamp_ms: now_ms() as i64,
            meta,
        };
        self.group_publish(id, content, message_id, GroupLocal::Item(&mine))
            .await?;
        let view = self
            .group_message_view(&id, &message_id.to_string())
            .await?;
        let _ = self.events.send(NodeEvent::Message {
            message: view.clone(),
        });
        Ok(view)
    }

    /// My reaction, edit or delete of a message of a group, applied here and sent to the group.
    pub(crate) async fn group_change_message(
        &mut self,
        id: [u8; 32],
        target: String,
        change: Change,
    ) -> Result<MessageView, NodeError> {
        let row = self
            .store
            .message_in(&id, &target)
            .await?
            .ok_or_else(|| NodeError::UnknownMessage { id: target.clone() })?;
        let allowed = match &change {
            Change::React { .. } => !row.deleted,
            Change::Edit { .. } => {
                row.direction == Direction::Out
                    && !row.deleted
                    && row.meta.kind == MessageKind::Text
            }
            Change::Delete => row.direction == Direction::Out,
        };
        if !allowed {
            return Err(NodeError::InvalidInput(match change {
                Change::React { .. } => "that message cannot take reactions (deleted)".into(),
                Change::Edit { .. } => {
                    "only your own text messages can be edited (and not once deleted)".into()
                }
                Change::Delete => "only your own messages can be deleted for everyone".into(),
            }));
        }
        let (content, local) = kinds::change(&change, &target, &self.me)?;
        let me = self.me.as_bytes().to_vec();
        self.group_publish(
            id,
            content,
            uuid::Uuid::now_v7(),
            GroupLocal::Change {
                group_id: &id,
                author: &me,
                change: &local,
            },
        )
        .await?;
        let view = self.group_message_view(&id, &target).await?;
        let _ = self.events.send(NodeEvent::Updated {
            message: view.clone(),
        });
        Ok(view)
    }

    /// Rotates the Megolm session when the policy says so (sharing the new key over Olm),
    /// encrypts `content`, stores it with `local` in one transaction, publishes on the topic,
    /// and carries it over Olm to the member devices that are not on the topic.
    async fn group_publish(
        &mut self,
        id: [u8; 32],
        content: v1::Content,
        message_id: uuid::Uuid,
        local: GroupLocal<'_>,
    ) -> Result<(), NodeError> {
        let now = now_ms();
        let log = self.log(&id)?;
        let state = log.state().clone();
        let topic = log.group_id().topic();
        let stored = self.store.group_outbound(&id).await?;
        let current = stored.as_ref().and_then(|row| {
            let info: OutboundSessionInfo = serde_json::from_str(&row.info).ok()?;
            let session = OutboundGroup::from_pickle(&row.pickle, &self.store_key).ok()?;
            let shared: SharedWith = serde_json::from_str(&row.shared_with).ok()?;
            Some((info, session, shared))
        });
        // Every device the current session's key must reach now: every device of every member,
        // mine included, this one excepted.
        let my_device = self.account.curve25519();
        let devices_now: BTreeMap<[u8; 32], UserKey> = state
            .members()
            .keys()
            .flat_map(|user| {
                self.member_devices_with_me(user)
                    .into_iter()
                    .map(move |device| (device, *user))
            })
            .filter(|(device, _)| *device != my_device)
            .collect();
        let mut decision = SenderKeyPolicy::default().decide(
            &self.me,
            &state,
            current.as_ref().map(|(info, _, _)| info),
            now,
        );
        // A device that had the key and is no longer listed (revoked) forces a new session.
        if decision == SendDecision::Reuse
            && let Some((_, _, shared)) = &current
            && shared
                .devices
                .iter()
                .any(|device| !devices_now.contains_key(device))
        {
            decision = SendDecision::Rotate(omega_groups::RotateReason::MembershipChanged);
        }
        let mut rows = Vec::new();
        let (mut info, mut session, mut shared) = match (decision, current) {
            (SendDecision::NotAMember, _) => {
                return Err(NodeError::InvalidInput(
                    "you are not a member of this group".into(),
                ));
            }
            (SendDecision::Reuse, Some(current)) => current,
            (decision, current) => {
                debug!(?decision, "new group session");
                let previous: BTreeSet<UserKey> = current
                    .map(|(_, _, shared)| {
                        shared
                            .users
                            .iter()
                            .filter_map(|id| UserKey::parse_user_id(id).ok())
                            .collect()
                    })
                    .unwrap_or_default();
                let plan = plan_rekey(&state, &self.me, &my_device, &previous, |user| {
                    self.member_devices_with_me(user)
                })
                .map_err(|error| NodeError::InvalidInput(error.to_string()))?;
                let session = OutboundGroup::new();
                let key = v1::Content {
                    body: Some(v1::content::Body::GroupKey(v1::GroupKey {
                        group_id: id.to_vec(),
                        session_key: session.session_key().to_vec(),
                        epoch: plan.binding.epoch,
                    })),
                    ..v1::Content::default()
                }
                .encode_to_vec();
                let key_id = uuid::Uuid::now_v7();
                for recipient in &plan.recipients {
                    rows.push(NewOutbox {
                        message_id: key_id.as_bytes().to_vec(),
                        peer_user: recipient.user.as_bytes().to_vec(),
                        peer_device: recipient.device.to_vec(),
                        content: key.clone(),
                    });
                }
                let info = OutboundSessionInfo {
                    binding: SessionBinding::of(&state),
                    created_ms: now,
                    messages_sent: 0,
                };
                let shared = SharedWith {
                    users: state.members().keys().map(UserKey::user_id).collect(),
                    devices: plan
                        .recipients
                        .iter()
                        .map(|recipient| recipient.device)
                        .collect(),
                };
                (info, session, shared)
            }
        };
        // A device that appeared since (a member's new device, or mine) gets the current key,
        // from the current index on: it reads what follows, not what came before.
        let newcomers: Vec<([u8; 32], UserKey)> = devices_now
            .iter()
            .filter(|(device, _)| !shared.devices.contains(*device))
            .map(|(device, user)| (*device, *user))
            .collect();
        if !newcomers.is_empty() {
            let key = v1::Content {
                body: Some(v1::content::Body::GroupKey(v1::GroupKey {
                    group_id: id.to_vec(),
                    session_key: session.session_key().to_vec(),
                    epoch: info.binding.epoch,
                })),
                ..v1::Content::default()
            }
            .encode_to_vec();
            let key_id = uuid::Uuid::now_v7();
            for (device, user) in newcomers {
                rows.push(NewOutbox {
                    message_id: key_id.as_bytes().to_vec(),
                    peer_user: user.as_bytes().to_vec(),
                    peer_device: device.to_vec(),
                    content: key.clone(),
                });
                shared.devices.insert(device);
            }
        }
        let payload = v1::GroupPayload {
            message_id: message_id.as_bytes().to_vec(),
            timestamp_ms: now,
            content: Some(content),
        };
        let index = session.message_index();
        let wire = v1::GroupMessage {
            version: omega_proto::WIRE_VERSION,
            group_id: id.to_vec(),
            session_id: session.session_id(),
            ciphertext: session.encrypt(&payload.encode_to_vec()),
        }
        .encode_to_vec();
        if wire.len() > omega_net::MAX_GOSSIP_BYTES {
            return Err(NodeError::InvalidInput(
                "message too large for a group".into(),
            ));
        }
        info.messages_sent += 1;
        // Member devices not following the topic now get the message over Olm (and so
        // through their mailbox when they are offline).
        let following: HashSet<PeerId> = self.net.topic_peers(&topic).await.into_iter().collect();
        let carried = v1::Content {
            body: Some(v1::content::Body::GroupMessage(wire.clone())),
            ..v1::Content::default()
        }
        .encode_to_vec();
        let carry_id = uuid::Uuid::now_v7();
        for user in state.members().keys() {
            for device in self.member_devices(user) {
                let on_topic =
                    PeerId::from_bytes(&device.peer_id).is_ok_and(|peer| following.contains(&peer));
                if !on_topic {
                    rows.push(NewOutbox {
                        message_id: carry_id.as_bytes().to_vec(),
                        peer_user: user.as_bytes().to_vec(),
                        peer_device: device.curve25519.to_vec(),
                        content: carried.clone(),
                    });
                }
            }
        }
        let outbound = GroupOutboundRow {
            group_id: id.to_vec(),
            session_id: session.session_id(),
            pickle: session.pickle(&self.store_key),
            info: serde_json::to_string(&info).map_err(|e| NodeError::Internal(e.to_string()))?,
            shared_with: serde_json::to_string(&shared)
                .map_err(|e| NodeError::Internal(e.to_string()))?,
        };
        let (queued, _) = self
            .store
            .queue_group_send(local, &outbound, (index, &wire), &rows, now as i64)
            .await?;
        self.schedule(&queued);
        Stats::bump(&self.stats.sent);
        if !following.is_empty()
            && let Err(error) = self.net.publish(&topic, wire).await
        {
            debug!(%error, "could not publish on the group topic");
        }
        Ok(())
    }

    /// Like [`Self::member_devices`], as curve25519 keys, my own devices included.
    fn member_devices_with_me(&self, user: &UserKey) -> Vec<[u8; 32]> {
        if *user == self.me {
            return self
                .my_devices
                .devices
                .iter()
                .map(|device| device.curve25519)
                .collect();
        }
        self.member_devices(user)
            .into_iter()
            .map(|device| device.curve25519)
            .collect()
    }

    /// The view of one message of a group conversation.
    pub(crate) async fn group_message_view(
        &mut self,
        id: &[u8; 32],
        message_id: &str,
    ) -> Result<MessageView, NodeError> {
        let row = self
            .store
            .message_in(id, message_id)
            .await?
            .ok_or_else(|| NodeError::UnknownMessage {
                id: message_id.to_owned(),
            })?;
        let log = self.log(id)?;
        let group_id = log.group_id().to_string();
        let group_name = log.state().name().to_owned();
        let author = row
            .meta
            .author
            .as_deref()
            .and_then(|bytes| UserKey::from_bytes(bytes).ok());
        let author_name = match &author {
            Some(user) if *user != self.me => self.peer_info(user).await.map(|info| info.name),
            _ => None,
        };
        Ok(MessageView::in_group(
            &row,
            &self.me,
            author.as_ref(),
            author_name,
            &group_id,
            &group_name,
        ))
    }

    /// Every group I know, and whether I am a member.
    pub(crate) fn group_views(&self) -> Vec<GroupView> {
        let mut views: Vec<GroupView> = self.groups.values().map(GroupView::of).collect();
        views.sort_by(|a, b| a.name.cmp(&b.name).then(a.group_id.cmp(&b.group_id)));
        views
    }

    /// One group's view.
    pub(crate) fn group_view_of(&self, id: &[u8; 32]) -> Result<GroupView, NodeError> {
        Ok(GroupView::of(self.log(id)?))
    }

    /// The Megolm sessions this device holds for a group: its own outbound one and the ones
    /// other devices shared with it.
    pub(crate) async fn group_sessions(
        &mut self,
        id: [u8; 32],
    ) -> Result<GroupSessions, NodeError> {
        self.log(&id)?;
        let outbound = self
            .store
            .group_outbound(&id)
            .await?
            .map(|row| row.session_id);
        let inbound = self
            .store
            .group_inbound_sessions(&id)
            .await?
            .into_iter()
            .map(|(session_id, sender, received_ms)| InboundSessionView {
                session_id,
                sender: UserKey::from_bytes(&sender)
                    .map(|key| key.user_id())
                    .unwrap_or_default(),
                received_ms,
            })
            .collect();
        Ok(GroupSessions { outbound, inbound })
    }

    /// Messages of a group conversation, oldest first.
    pub(crate) async fn group_messages(
        &mut self,
        id: [u8; 32],
        limit: i64,
    ) -> Result<Vec<MessageView>, NodeError> {
        let rows = self.store.messages(Some(&id), limit).await?;
        let mut views = Vec::with_capacity(rows.len());
        for row in rows {
            views.push(self.group_message_view(&id, &row.message_id).await?);
        }
        Ok(views)
    }

    /// A peer started following a group topic: if it is a member device, it is reachable now.
    pub(crate) fn on_topic_joined(&mut self, peer: PeerId) {
        if let Some((_, device)) = self.peer_ids.get(&peer) {
            self.outbox.handle_reachable(*device);
        }
    }
}

/// A contact row from a member's card.
fn contact_from_card(
    devices: &VerifiedDeviceList,
    card: &v1::ContactCard,
    existing: Option<&ContactRow>,
) -> ContactRow {
    let user_id = devices.user.user_id();
    ContactRow {
        user_key: devices.user.as_bytes().to_vec(),
        name: existing.map_or_else(
            || {
                let name = card.name.trim();
                if name.is_empty() || name.len() > 64 {
                    user_id[..12].to_owned()
                } else {
                    name.to_owned()
                }
            },
            |contact| contact.name.clone(),
        ),
        alias: existing.and_then(|contact| contact.alias.clone()),
        user_id,
        device_list: devices.signed.encode_to_vec(),
        device_list_version: devices.version as i64,
        addrs: card
            .addrs
            .iter()
            .filter(|addr| addr.parse::<libp2p::Multiaddr>().is_ok())
            .take(16)
            .cloned()
            .collect(),
        mailboxes: card
            .mailboxes
            .iter()
            .filter(|addr| addr.parse::<libp2p::Multiaddr>().is_ok())
            .take(4)
            .cloned()
            .collect(),
        verified: existing.is_some_and(|contact| contact.verified),
        added_ms: existing.map_or_else(|| now_ms() as i64, |contact| contact.added_ms),
    }
}

impl crate::NodeHandle {
    /// A member named by contact alias, name or user id (a user id needs no contact).
    async fn member(&self, name: &str) -> Result<UserKey, NodeError> {
        match self.find_contact(name).await {
            Ok(contact) => UserKey::from_bytes(&contact.user_key)
                .map_err(|error| NodeError::Internal(error.to_string())),
            Err(error) => UserKey::parse_user_id(name.trim()).map_err(|_| error),
        }
    }

    /// Creates a group named `name` with my contacts `members`; I am its owner.
    pub async fn group_create(
        &self,
        name: &str,
        members: &[String],
    ) -> Result<GroupView, NodeError> {
        let mut keys = Vec::with_capacity(members.len());
        for member in members {
            keys.push(self.member(member).await?);
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.command(crate::engine::Command::GroupCreate {
            name: name.to_owned(),
            members: keys,
            reply,
        })
        .await?;
        answer.await.map_err(|_| NodeError::ShuttingDown)?
    }

    /// Adds, removes, promotes or demotes a member, leaves, or renames the group.
    pub async fn group_change(
        &self,
        group: &str,
        change: GroupChange,
    ) -> Result<GroupView, NodeError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.command(crate::engine::Command::GroupChange {
            group: group.to_owned(),
            change,
            reply,
        })
        .await?;
        answer.await.map_err(|_| NodeError::ShuttingDown)?
    }

    /// [`Self::group_change`] with members named as the CLI and the API name them.
    pub async fn group_change_named(
        &self,
        group: &str,
        action: &str,
        user: Option<&str>,
        role: Option<&str>,
        name: Option<&str>,
    ) -> Result<GroupView, NodeError> {
        let parse_role = |role: Option<&str>, default: Role| -> Result<Role, NodeError> {
            match role {
                None => Ok(default),
                Some(text) => text
                    .parse::<Role>()
                    .map_err(|error| NodeError::InvalidInput(error.to_string())),
            }
        };
        let need_user =
            || user.ok_or_else(|| NodeError::InvalidInput(format!("{action} needs a member")));
        let change = match action {
            "add" => GroupChange::Add {
                user: self.member(need_user()?).await?,
                role: parse_role(role, Role::Member)?,
            },
            "remove" => GroupChange::Remove {
                user: self.member(need_user()?).await?,
            },
            "promote" => GroupChange::Promote {
                user: self.member(need_user()?).await?,
                role: parse_role(role, Role::Admin)?,
            },
            "leave" => GroupChange::Leave {
                successor: match user {
                    Some(user) => Some(self.member(user).await?),
                    None => None,
                },
            },
            "rename" => GroupChange::Rename {
                name: name
                    .ok_or_else(|| NodeError::InvalidInput("rename needs a name".into()))?
                    .to_owned(),
            },
            other => {
                return Err(NodeError::InvalidInput(format!(
                    "unknown group action {other:?} (add, remove, promote, leave, rename)"
                )));
            }
        };
        self.group_change(group, change).await
    }

    /// Sends a conversation item to a group.
    pub async fn group_send(&self, group: &str, draft: Draft) -> Result<MessageView, NodeError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.command(crate::engine::Command::GroupSend {
            group: group.to_owned(),
            draft,
            reply,
        })
        .await?;
        answer.await.map_err(|_| NodeError::ShuttingDown)?
    }

    /// Every group this device knows.
    pub async fn groups(&self) -> Result<Vec<GroupView>, NodeError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.command(crate::engine::Command::GroupList { reply })
            .await?;
        answer.await.map_err(|_| NodeError::ShuttingDown)
    }

    /// One group, by id, id prefix or name.
    pub async fn group(&self, group: &str) -> Result<GroupView, NodeError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.command(crate::engine::Command::GroupShow {
            group: group.to_owned(),
            reply,
        })
        .await?;
        answer.await.map_err(|_| NodeError::ShuttingDown)?
    }

    /// The Megolm sessions this device holds for a group.
    pub async fn group_sessions(&self, group: &str) -> Result<GroupSessions, NodeError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.command(crate::engine::Command::GroupSessions {
            group: group.to_owned(),
            reply,
        })
        .await?;
        answer.await.map_err(|_| NodeError::ShuttingDown)?
    }

    /// The last `limit` messages of a group, oldest first.
    pub async fn group_messages(
        &self,
        group: &str,
        limit: i64,
    ) -> Result<Vec<MessageView>, NodeError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.command(crate::engine::Command::GroupMessages {
            group: group.to_owned(),
            limit,
            reply,
        })
        .await?;
        answer.await.map_err(|_| NodeError::ShuttingDown)?
    }
}

/// What a receiver has seen of one sender's session: the ratchet index after the highest one
/// decrypted, and the indexes below it never seen. Sans IO.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Gaps {
    pub next: u32,
    pub missing: BTreeSet<u32>,
}

impl Gaps {
    /// Most indexes remembered as missing; the oldest are forgotten first.
    pub const MAX_MISSING: usize = 1024;
    /// Most indexes asked for at once.
    pub const MAX_ASK: usize = 256;

    pub fn from_row(next_index: i64, missing: &str) -> Gaps {
        Gaps {
            next: u32::try_from(next_index).unwrap_or(0),
            missing: serde_json::from_str(missing).unwrap_or_default(),
        }
    }

    pub fn missing_json(&self) -> String {
        serde_json::to_string(&self.missing).unwrap_or_else(|_| "[]".to_owned())
    }

    /// Records that message `index` arrived. Returns the indexes newly found missing (to ask
    /// the sender for: at most [`Self::MAX_ASK`], the nearest to `index`).
    pub fn observe(&mut self, index: u32) -> Vec<u32> {
        if index < self.next {
            self.missing.remove(&index);
            return Vec::new();
        }
        let first = self
            .next
            .max(index.saturating_sub(u32::try_from(Self::MAX_ASK).unwrap_or(u32::MAX)));
        let new: Vec<u32> = (first..index).collect();
        self.missing.extend(new.iter().copied());
        while self.missing.len() > Self::MAX_MISSING {
            self.missing.pop_first();
        }
        self.next = index.saturating_add(1);
        new
    }
}

#[cfg(test)]
mod tests {
    use super::Gaps;

    #[test]
    fn a_jump_in_indexes_is_a_gap_and_a_late_arrival_fills_it() {
        let mut gaps = Gaps::default();
        assert!(gaps.observe(0).is_empty());
        assert!(gaps.observe(1).is_empty());
        assert_eq!(gaps.observe(4), vec![2, 3]);
        assert_eq!(gaps.next, 5);
        assert!(gaps.observe(3).is_empty(), "a late arrival is no new gap");
        assert_eq!(gaps.missing.iter().copied().collect::<Vec<_>>(), vec![2]);
        assert!(gaps.observe(3).is_empty(), "a duplicate changes nothing");
        let again = Gaps::from_row(i64::from(gaps.next), &gaps.missing_json());
        assert_eq!(again, gaps);
    }

    #[test]
    fn a_session_shared_late_starts_at_its_first_index_and_huge_gaps_are_bounded() {
        let mut gaps = Gaps::from_row(10, "[]");
        assert!(
            gaps.observe(10).is_empty(),
            "the key's first index is no gap"
        );
        let asked = gaps.observe(100_000);
        assert_eq!(asked.len(), Gaps::MAX_ASK);
        assert_eq!(asked.last(), Some(&99_999));
        for index in (200_000..210_000).step_by(2) {
            gaps.observe(index);
        }
        assert!(gaps.missing.len() <= Gaps::MAX_MISSING);
        assert_eq!(Gaps::from_row(-1, "garbage"), Gaps::default());
    }
}
