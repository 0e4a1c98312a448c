//! Multi-device, in the engine (docs/devices.md): the existing device's side of linking, changes
//! of my own device list (stored, published to my home mailbox, told to every contact and to my
//! other devices), sent copies, history backfill, revocation, and what arrives from my other
//! devices.

use libp2p::{Multiaddr, PeerId};
use omega_crypto::link::{ClaimError, LinkInvite, LinkOffer, LinkSecret};
use omega_crypto::{DeviceInfo, UserKey, VerifiedDeviceList, verify_device_list};
use omega_proto::{Message, v1};
use omega_store::{Direction, MessageKind, MessageMeta, NewMessage, NewOutbox, Status, uuid_text};
use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use crate::engine::{Engine, PeerInfo};
use crate::metadata::{ConversationMeta, MetaChange};
use crate::model::Stats;
use crate::{NodeError, kinds, now_ms};

/// How long an `omega-link:` URI stays valid.
pub const LINK_VALID_MS: u64 = 10 * 60 * 1000;
/// Largest encoded backfill batch (well under the 256 KiB envelope limit).
pub const BACKFILL_BATCH_BYTES: usize = 48 * 1024;
/// Messages read from the store per backfill page.
const BACKFILL_PAGE: i64 = 500;

/// A link offer as shown to the user.
#[derive(Clone, Serialize, Deserialize)]
pub struct LinkView {
    /// The `omega-link:` URI (holds the one-time secret: show it only to the user).
    pub uri: String,
    /// The URI as a terminal QR code.
    pub qr: String,
    pub expires_ms: u64,
}

/// One device of my device list.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeviceView {
    pub device_id: String,
    pub name: String,
    pub peer_id: String,
    /// This device (the one answering).
    pub current: bool,
}

impl Engine {
    /// My other devices, as a "contact" the send pipeline can route to.
    pub(crate) fn own_info(&self) -> PeerInfo {
        let mut devices = self.my_devices.clone();
        let ours = self.account.ed25519();
        devices.devices.retain(|device| device.ed25519 != ours);
        PeerInfo {
            devices,
            addrs: self.own_addrs.values().flatten().cloned().collect(),
            name: self.public.name.clone(),
            mailboxes: self
                .public
                .mailboxes
                .iter()
                .filter_map(|addr| addr.parse().ok())
                .collect(),
        }
    }

    /// Indexes my other devices by peer id (their addresses learned from identify go to
    /// `own_addrs`).
    pub(crate) fn index_own_devices(&mut self) {
        let me = self.me;
        self.peer_ids.retain(|_, (user, _)| *user != me);
        let ours = self.account.ed25519();
        for device in &self.my_devices.devices {
            if device.ed25519 == ours {
                continue;
            }
            if let Ok(peer) = PeerId::from_bytes(&device.peer_id) {
                self.peer_ids.insert(peer, (me, device.curve25519));
            }
        }
        let listed: Vec<PeerId> = self.peer_ids.keys().copied().collect();
        self.own_addrs.retain(|peer, _| listed.contains(peer));
    }

    /// Loads where my other devices were last seen.
    pub(crate) async fn load_own_devices(&mut self) {
        match self.store.own_device_addrs().await {
            Ok(rows) => {
                for (peer, addrs) in rows {
                    if let Ok(peer) = PeerId::from_bytes(&peer) {
                        let addrs = addrs.iter().filter_map(|addr| addr.parse().ok()).collect();
                        self.own_addrs.insert(peer, addrs);
                    }
                }
            }
            Err(error) => warn!(%error, "could not load my devices' addresses"),
        }
        self.index_own_devices();
    }

    /// Identify told us where one of my other devices listens.
    pub(crate) async fn learn_own_addrs(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        let full: Vec<Multiaddr> = addrs
            .into_iter()
            .map(|addr| addr.with_p2p(peer).unwrap_or_else(|addr| addr))
            .collect();
        if self.own_addrs.get(&peer) == Some(&full) {
            return;
        }
        let strings: Vec<String> = full.iter().map(ToString::to_string).collect();
        self.own_addrs.insert(peer, full);
        if let Err(error) = self
            .store
            .set_own_device_addrs(&peer.to_bytes(), &strings)
            .await
        {
            warn!(%error, "could not store my device's addresses");
        }
    }

    /// Every device of my list.
    pub(crate) fn device_views(&self) -> Vec<DeviceView> {
        let ours = self.account.ed25519();
        self.my_devices
            .devices
            .iter()
            .map(|device| DeviceView {
                device_id: device.device_id(),
                name: device.name.clone(),
                peer_id: PeerId::from_bytes(&device.peer_id)
                    .map(|peer| peer.to_string())
                    .unwrap_or_default(),
                current: device.ed25519 == ours,
            })
            .collect()
    }

    /// Starts waiting for one new device: a fresh secret, valid [`LINK_VALID_MS`].
    pub(crate) async fn offer_link(&mut self) -> Result<LinkView, NodeError> {
        let addrs: Vec<String> = self.full_listen_addrs().await;
        if addrs.is_empty() {
            return Err(NodeError::InvalidInput(
                "this node listens on no address a new device could dial".into(),
            ));
        }
        let secret = LinkSecret::generate(&mut rand::rngs::OsRng);
        let expires_ms = now_ms() + LINK_VALID_MS;
        let invite = LinkInvite {
            peer_id: self.net.local_peer_id().to_bytes(),
            addrs: addrs
                .into_iter()
                .take(omega_crypto::link::MAX_INVITE_ADDRS)
                .collect(),
            secret: secret.clone(),
            expires_ms,
            user: self.me,
        };
        let uri = invite.to_uri();
        let qr = omega_crypto::card::uri_qr(&uri)
            .map(|qr| qr.to_terminal())
            .unwrap_or_default();
        self.link_offer = Some(LinkOffer::new(secret, expires_ms));
        Ok(LinkView {
            uri,
            qr,
            expires_ms,
        })
    }

    /// Answers `/omega/link/1` from `peer` (authenticated by Noise).
    pub(crate) async fn handle_link_request(&mut self, peer: PeerId, body: &[u8]) -> Vec<u8> {
        let refuse = |engine: &Engine, code: &str, message: String| {
            Stats::bump(&engine.stats.links_refused);
            debug!(%code, "refused a link claim");
            v1::LinkResponse {
                result: Some(v1::link_response::Result::Refused(v1::LinkRefusal {
                    code: code.to_owned(),
                    message,
                })),
            }
            .encode_to_vec()
        };
        let request = match omega_proto::decode_link_request(body) {
            Ok(request) => request,
            Err(error) => return refuse(self, "malformed", error.to_string()),
        };
        let inviter = self.net.local_peer_id().to_bytes();
        let requester = peer.to_bytes();
        let claimed = match self.link_offer.as_mut() {
            None => Err(ClaimError::NoOffer),
            Some(offer) => offer
                .claim(now_ms(), &inviter, &requester, &request.proof)
                .map(|()| offer.secret().clone()),
        };
        let secret = match claimed {
            Ok(secret) => secret,
            Err(error) => return refuse(self, error.code(), error.to_string()),
        };
        // The offer is spent whatever happens next (kept, so a second claim hears "used").
        let Some(device) = request.device else {
            return refuse(self, "malformed", "the request names no device".into());
        };
        if device.peer_id != requester {
            return refuse(
                self,
                "malformed",
                "the device's peer id is not the connection's".into(),
            );
        }
        let mut list = v1::DeviceList {
            user_key: self.me.as_bytes().to_vec(),
            version: self.my_devices.version + 1,
            devices: self
                .my_devices
                .devices
                .iter()
                .map(DeviceInfo::to_proto)
                .collect(),
            created_ms: now_ms(),
        };
        list.devices.push(device.clone());
        let signed = self.user.sign_device_list(&list);
        let new_list = match verify_device_list(&signed, Some(&self.me)) {
            Ok(list) => list,
            Err(error) => return refuse(self, "bad_device", error.to_string()),
        };
        let payload = match self.link_payload(&new_list).await {
            Ok(payload) => payload,
            Err(error) => {
                warn!(%error, "could not build the link payload");
                return refuse(self, "unavailable", "the existing device failed".into());
            }
        };
        // Refuse before the list changes when the answer could never be carried.
        if payload.len() + 1024 > omega_proto::MAX_LINK_RESPONSE_BYTES {
            return refuse(
                self,
                "too_large",
                "too many contacts to carry in one link answer".into(),
            );
        }
        let sealed = omega_crypto::link::seal_payload(
            &secret,
            &inviter,
            &requester,
            &device.ed25519,
            &payload,
            &mut rand::rngs::OsRng,
        );
        let sealed = match sealed {
            Ok(sealed) => sealed,
            Err(error) => return refuse(self, "unavailable", error.to_string()),
        };
        if let Err(error) = self.adopt_own_list(new_list.clone()).await {
            warn!(%error, "could not store the new device list");
            return refuse(self, "unavailable", "the existing device failed".into());
        }
        Stats::bump(&self.stats.links_completed);
        if let Some(new_device) = new_list.device_by_ed25519(&device.ed25519).cloned() {
            self.announce_devices().await;
            self.queue_backfill(&new_device).await;
            self.share_groups_with_my_devices().await;
        }
        v1::LinkResponse {
            result: Some(v1::link_response::Result::Sealed(sealed)),
        }
        .encode_to_vec()
    }

    /// The encoded (and zeroized when dropped) payload for a new device listed in `list`.
    async fn link_payload(
        &self,
        list: &VerifiedDeviceList,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, NodeError> {
        let contacts = self
            .store
            .contacts()
            .await?
            .into_iter()
            .filter_map(|contact| {
                let signed = v1::SignedDeviceList::decode(contact.device_list.as_slice()).ok()?;
                Some(v1::LinkContact {
                    card: Some(v1::ContactCard {
                        name: contact.name.clone(),
                        devices: Some(signed),
                        addrs: contact.addrs.clone(),
                        mailboxes: contact.mailboxes.clone(),
                    }),
                    alias: contact.alias.clone().unwrap_or_default(),
                    verified: contact.verified,
                })
            })
            .collect();
        let secret = self.user.secret_bytes();
        let payload = v1::LinkPayload {
            user_secret: secret.to_vec(),
            name: self.public.name.clone(),
            mailboxes: self.public.mailboxes.clone(),
            devices: Some(list.signed.clone()),
            contacts,
            addrs: self.full_listen_addrs().await,
        };
        let bytes = zeroize::Zeroizing::new(payload.encode_to_vec());
        let mut payload = payload;
        zeroize::Zeroize::zeroize(&mut payload.user_secret);
        Ok(bytes)
    }

    /// Makes `list` my device list: stored, in our card, given to the mailbox client (which
    /// publishes it), my other devices indexed.
    pub(crate) async fn adopt_own_list(
        &mut self,
        list: VerifiedDeviceList,
    ) -> Result<(), NodeError> {
        self.store
            .save_device_list(&list.signed.encode_to_vec())
            .await?;
        self.my_devices = list;
        self.index_own_devices();
        let _ = self.devices_watch.send(self.my_devices.signed.clone());
        self.refresh_card().await;
        Ok(())
    }

    /// Tells every contact's devices and my other devices about my current device list.
    pub(crate) async fn announce_devices(&mut self) {
        let mut addrs = self.full_listen_addrs().await;
        for known in self.own_addrs.values() {
            addrs.extend(known.iter().map(ToString::to_string));
        }
        addrs.truncate(omega_crypto::card::MAX_CARD_ADDRS);
        let content = v1::Content {
            body: Some(v1::content::Body::DeviceList(v1::DeviceListUpdate {
                devices: Some(self.my_devices.signed.clone()),
                addrs,
            })),
            ..v1::Content::default()
        }
        .encode_to_vec();
        let mut rows = Vec::new();
        let contacts = match self.store.contacts().await {
            Ok(contacts) => contacts,
            Err(error) => {
                warn!(%error, "could not read contacts to announce my devices");
                Vec::new()
            }
        };
        for contact in contacts {
            let Ok(user) = UserKey::from_bytes(&contact.user_key) else {
                continue;
            };
            if let Some(info) = self.peer_info(&user).await {
                rows.extend(device_rows(&user, &info.devices.devices, &content));
            }
        }
        let own = self.own_info();
        rows.extend(device_rows(&self.me, &own.devices.devices, &content));
        self.queue_rows(&rows).await;
    }

    /// Durably queues outbox rows that belong to no message.
    pub(crate) async fn queue_rows(&mut self, rows: &[NewOutbox]) {
        if rows.is_empty() {
            return;
        }
        match self.store.queue_outbox(rows, now_ms() as i64).await {
            Ok(queued) => self.schedule(&queued),
            Err(error) => warn!(%error, "could not queue device envelopes"),
        }
    }

    /// Rows carrying a copy of what I sent to `peer` to each of my other devices.
    pub(crate) fn sent_copy_rows(
        &self,
        peer: &UserKey,
        message_id: &[u8],
        content: &[u8],
    ) -> Vec<NewOutbox> {
        let own = self.own_info();
        if own.devices.devices.is_empty() {
            return Vec::new();
        }
        let copy = v1::Content {
            body: Some(v1::content::Body::SentCopy(v1::SentCopy {
                peer_user: peer.as_bytes().to_vec(),
                message_id: message_id.to_vec(),
                content: content.to_vec(),
                timestamp_ms: now_ms(),
            })),
            ..v1::Content::default()
        }
        .encode_to_vec();
        device_rows(&self.me, &own.devices.devices, &copy)
    }

    /// Reads, and with `change` first changes, the shared metadata of the conversation with
    /// `peer`; a change is stored and sent to my other devices.
    pub(crate) async fn meta(
        &mut self,
        peer: UserKey,
        change: Option<MetaChange>,
    ) -> Result<ConversationMeta, NodeError> {
        let user_id = peer.user_id();
        let Some(change) = change else {
            return Ok(self.metadata.view(&user_id));
        };
        if let MetaChange::Alias(alias) = &change {
            // The alias is also the local name a contact is found by: it must be free here.
            self.store
                .set_contact_alias(peer.as_bytes(), alias.as_deref())
                .await?;
            self.peers.remove(&peer);
        }
        let changes = self
            .metadata
            .apply(&user_id, &change)
            .map_err(|error| NodeError::Internal(error.to_string()))?;
        self.store.save_metadata_doc(&self.metadata.save()).await?;
        self.queue_sync(changes).await;
        Ok(self.metadata.view(&user_id))
    }

    /// Sends metadata changes (or the whole document) to my other devices.
    pub(crate) async fn queue_sync(&mut self, changes: Vec<u8>) {
        if changes.is_empty() {
            return;
        }
        let own = self.own_info();
        let content = v1::Content {
            body: Some(v1::content::Body::Sync(v1::SyncChanges {
                automerge: changes,
            })),
            ..v1::Content::default()
        }
        .encode_to_vec();
        let rows = device_rows(&self.me, &own.devices.devices, &content);
        self.queue_rows(&rows).await;
    }

    /// Merges metadata changes from another device of mine and applies them here.
    async fn merge_metadata(&mut self, changes: &[u8]) -> Result<(), String> {
        self.metadata
            .merge(changes)
            .map_err(|error| error.to_string())?;
        self.store
            .save_metadata_doc(&self.metadata.save())
            .await
            .map_err(|error| error.to_string())?;
        let contacts = self
            .store
            .contacts()
            .await
            .map_err(|error| error.to_string())?;
        for contact in contacts {
            let view = self.metadata.view(&contact.user_id);
            if let Some(alias) = self.metadata.alias_set(&contact.user_id)
                && alias != contact.alias
            {
                match self
                    .store
                    .set_contact_alias(&contact.user_key, alias.as_deref())
                    .await
                {
                    Ok(()) => {
                        if let Ok(user) = UserKey::from_bytes(&contact.user_key) {
                            self.peers.remove(&user);
                        }
                    }
                    Err(error) => warn!(%error, "could not apply an alias from another device"),
                }
            }
            if let Some(read_until) = &view.read_until
                && let Err(error) = self
                    .store
                    .mark_read_until(&contact.user_key, read_until, now_ms() as i64)
                    .await
            {
                warn!(%error, "could not apply a read marker from another device");
            }
        }
        Ok(())
    }

    /// Queues my history for `device` (a newly linked device of mine) in bounded batches.
    pub(crate) async fn queue_backfill(&mut self, device: &DeviceInfo) {
        // The shared metadata first (the whole document; a merge of what it already has is a
        // no-op).
        let document = self.metadata.save();
        if document.len() <= crate::metadata::MAX_SYNC_BYTES {
            let content = v1::Content {
                body: Some(v1::content::Body::Sync(v1::SyncChanges {
                    automerge: document,
                })),
                ..v1::Content::default()
            }
            .encode_to_vec();
            let rows = device_rows(&self.me, std::slice::from_ref(device), &content);
            self.queue_rows(&rows).await;
        }
        let mut after = 0;
        let mut batch: Vec<v1::BackfillMessage> = Vec::new();
        let mut batch_bytes = 0;
        let mut rows = Vec::new();
        let flush = |batch: &mut Vec<v1::BackfillMessage>, rows: &mut Vec<NewOutbox>| {
            if batch.is_empty() {
                return;
            }
            let content = v1::Content {
                body: Some(v1::content::Body::Backfill(v1::BackfillBatch {
                    messages: std::mem::take(batch),
                })),
                ..v1::Content::default()
            }
            .encode_to_vec();
            rows.extend(device_rows(
                &self.me,
                std::slice::from_ref(device),
                &content,
            ));
        };
        loop {
            let page = match self.store.messages_page(after, BACKFILL_PAGE).await {
                Ok(page) => page,
                Err(error) => {
                    warn!(%error, "could not read history to backfill");
                    break;
                }
            };
            let Some(last) = page.last() else { break };
            after = last.seq;
            for row in page {
                if row.deleted {
                    continue;
                }
                let Ok(id) = uuid::Uuid::parse_str(&row.message_id) else {
                    continue;
                };
                let message = v1::BackfillMessage {
                    peer_user: row.peer_user,
                    message_id: id.as_bytes().to_vec(),
                    outgoing: row.direction == Direction::Out,
                    body: row.body,
                    status: row.status.as_str().to_owned(),
                    timestamp_ms: row.timestamp_ms,
                    kind: row.meta.kind.as_str().to_owned(),
                    extra: row.meta.extra.unwrap_or_default(),
                    reply_to: row.meta.reply_to.unwrap_or_default(),
                };
                let size = message.encoded_len() + 8;
                if batch_bytes + size > BACKFILL_BATCH_BYTES {
                    flush(&mut batch, &mut rows);
                    batch_bytes = 0;
                }
                batch_bytes += size;
                batch.push(message);
            }
        }
        flush(&mut batch, &mut rows);
        self.queue_rows(&rows).await;
    }

    /// Removes a device (by id prefix or name) from my list: signed, stored, published, told to
    /// contacts and to my remaining devices.
    pub(crate) async fn revoke(&mut self, selector: &str) -> Result<Vec<DeviceView>, NodeError> {
        let selector = selector.trim();
        if selector.is_empty() {
            return Err(NodeError::InvalidInput("name the device to revoke".into()));
        }
        let matches: Vec<&DeviceInfo> = self
            .my_devices
            .devices
            .iter()
            .filter(|device| {
                device.name == selector
                    || device
                        .device_id()
                        .starts_with(&selector.to_ascii_lowercase())
            })
            .collect();
        let target = match matches.as_slice() {
            [one] => (*one).clone(),
            [] => {
                return Err(NodeError::InvalidInput(format!(
                    "no device {selector:?} in my device list (see `omega device list`)"
                )));
            }
            _ => {
                return Err(NodeError::InvalidInput(format!(
                    "{selector:?} names {} devices: give more of the device id",
                    matches.len()
                )));
            }
        };
        if target.ed25519 == self.account.ed25519() {
            return Err(NodeError::InvalidInput(
                "a device cannot revoke itself: revoke it from another device".into(),
            ));
        }
        let list = v1::DeviceList {
            user_key: self.me.as_bytes().to_vec(),
            version: self.my_devices.version + 1,
            devices: self
                .my_devices
                .devices
                .iter()
                .filter(|device| device.ed25519 != target.ed25519)
                .map(DeviceInfo::to_proto)
                .collect(),
            created_ms: now_ms(),
        };
        let signed = self.user.sign_device_list(&list);
        let verified = verify_device_list(&signed, Some(&self.me))
            .map_err(|error| NodeError::Internal(error.to_string()))?;
        // Nothing more leaves for the revoked device.
        if let Err(error) = self.store.drop_outbox_for(&target.curve25519).await {
            warn!(%error, "could not drop the revoked device's outbox");
        }
        self.adopt_own_list(verified).await?;
        if let Ok(peer) = PeerId::from_bytes(&target.peer_id) {
            self.own_addrs.remove(&peer);
        }
        self.announce_devices().await;
        Ok(self.device_views())
    }

    /// A device content (list update, sent copy, backfill) that arrived from `sender`.
    /// Returns `Err(reason)` to refuse the envelope as malformed.
    pub(crate) async fn apply_device_content(
        &mut self,
        sender: &UserKey,
        body: &v1::content::Body,
    ) -> Result<DeviceContent, String> {
        let own = *sender == self.me;
        match body {
            v1::content::Body::DeviceList(update) => {
                let signed = update
                    .devices
                    .as_ref()
                    .ok_or("device list update is empty")?;
                let list = verify_device_list(signed, Some(sender))
                    .map_err(|error| format!("device list update: {error}"))?;
                if own {
                    if list.version > self.my_devices.version {
                        if list.device_by_ed25519(&self.account.ed25519()).is_none() {
                            warn!("this device was revoked by another device of this user");
                            return Ok(DeviceContent::Done);
                        }
                        self.adopt_own_list(list)
                            .await
                            .map_err(|error| error.to_string())?;
                    }
                    return Ok(DeviceContent::Done);
                }
                Ok(DeviceContent::ContactList {
                    list,
                    addrs: update.addrs.clone(),
                })
            }
            v1::content::Body::SentCopy(copy) if own => {
                let peer = UserKey::from_bytes(&copy.peer_user)
                    .map_err(|_| "sent copy names a bad user key")?;
                let message_id =
                    uuid_text(&copy.message_id).ok_or("sent copy message id is not a uuid")?;
                let inner = omega_proto::decode_content(&copy.content)
                    .map_err(|error| format!("sent copy content: {error}"))?;
                match kinds::arrived(&inner, &self.me)? {
                    kinds::Arrived::Item {
                        item,
                        expires_in_ms,
                    } => {
                        let mut meta = item.meta;
                        if expires_in_ms > 0 {
                            let lifetime = i64::try_from(expires_in_ms).unwrap_or(i64::MAX);
                            meta.expires_at_ms = Some((now_ms() as i64).saturating_add(lifetime));
                        }
                        Ok(DeviceContent::SentItem {
                            peer,
                            timer_ms: item.timer_ms,
                            message: NewMessage {
                                message_id,
                                peer_user: peer.as_bytes().to_vec(),
                                direction: Direction::Out,
                                body: item.body,
                                status: Status::Sent,
                                timestamp_ms: copy.timestamp_ms.min(i64::MAX as u64) as i64,
                                meta,
                            },
                        })
                    }
                    kinds::Arrived::Change(change) => Ok(DeviceContent::SentChange {
                        peer,
                        change: as_mine(change),
                    }),
                }
            }
            v1::content::Body::Backfill(batch) if own => {
                let mut messages = Vec::with_capacity(batch.messages.len());
                for message in &batch.messages {
                    messages.push(backfilled(message)?);
                }
                let added = self
                    .store
                    .import_messages(&messages, now_ms() as i64)
                    .await
                    .map_err(|error| error.to_string())?;
                debug!(added, "history backfilled");
                Ok(DeviceContent::Done)
            }
            v1::content::Body::Sync(sync) if own => {
                self.merge_metadata(&sync.automerge).await?;
                Ok(DeviceContent::Done)
            }
            _ => Err("only a user's own devices send this".into()),
        }
    }
}

/// What a device content asks the inbound pipeline to commit.
pub(crate) enum DeviceContent {
    /// Applied already (idempotently); commit only the envelope.
    Done,
    /// A contact's newer device list (and where its devices are).
    ContactList {
        list: VerifiedDeviceList,
        addrs: Vec<String>,
    },
    /// A copy of an item I sent from another device.
    SentItem {
        peer: UserKey,
        timer_ms: Option<i64>,
        message: NewMessage,
    },
    /// A copy of a change I made from another device.
    SentChange {
        peer: UserKey,
        change: omega_store::MessageChange,
    },
}

/// A change that arrived as if from the peer, turned into the same change made by me.
fn as_mine(change: omega_store::MessageChange) -> omega_store::MessageChange {
    use omega_store::MessageChange;
    match change {
        MessageChange::Edit {
            target,
            body,
            extra,
            ..
        } => MessageChange::Edit {
            target,
            author: Direction::Out,
            body,
            extra,
        },
        MessageChange::Delete { target, .. } => MessageChange::Delete {
            target,
            author: Direction::Out,
        },
        other => other,
    }
}

/// A backfilled message, every field checked.
fn backfilled(message: &v1::BackfillMessage) -> Result<NewMessage, String> {
    UserKey::from_bytes(&message.peer_user).map_err(|_| "backfill names a bad user key")?;
    let message_id = uuid_text(&message.message_id).ok_or("backfill message id is not a uuid")?;
    let status = Status::parse(&message.status).ok_or("backfill status is unknown")?;
    let kind = MessageKind::parse(&message.kind).ok_or("backfill kind is unknown")?;
    if message.body.len() > 64 * 1024 || message.extra.len() > 64 * 1024 {
        return Err("backfill message is too long".into());
    }
    let reply_to = match message.reply_to.as_str() {
        "" => None,
        text => Some(
            uuid::Uuid::parse_str(text)
                .map_err(|_| "backfill reply_to is not a uuid")?
                .to_string(),
        ),
    };
    Ok(NewMessage {
        message_id,
        peer_user: message.peer_user.clone(),
        direction: if message.outgoing {
            Direction::Out
        } else {
            Direction::In
        },
        body: message.body.clone(),
        status,
        timestamp_ms: message.timestamp_ms,
        meta: MessageMeta {
            kind,
            extra: (!message.extra.is_empty()).then(|| message.extra.clone()),
            reply_to,
            expires_at_ms: None,
            author: None,
        },
    })
}

/// One outbox row per device, each with a fresh envelope id.
pub(crate) fn device_rows(
    user: &UserKey,
    devices: &[DeviceInfo],
    content: &[u8],
) -> Vec<NewOutbox> {
    let message_id = uuid::Uuid::now_v7();
    devices
        .iter()
        .map(|device| NewOutbox {
            message_id: message_id.as_bytes().to_vec(),
            peer_user: user.as_bytes().to_vec(),
            peer_device: device.curve25519.to_vec(),
            content: content.to_vec(),
        })
        .collect()
}
