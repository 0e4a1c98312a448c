//! The receive pipeline: decode → check addressing → verify the signature → dedup → bind the sender
//! device to its user key → decrypt → store everything in one transaction → acknowledge.
//! Refused envelopes are counted and never stored.

use std::sync::atomic::AtomicU64;

use omega_crypto::{
    OlmSession, UserKey, VerifiedDeviceList, verify_device_list, verify_envelope_signature,
};
use omega_proto::{Message, v1};
use omega_store::{
    ContactRow, Direction, InboundCommit, InboundOutcome, MessageChange, NewMessage, SessionRow,
    Status, uuid_text,
};
use tracing::{debug, warn};

use crate::devices::DeviceContent;
use crate::engine::{Engine, receipt_rows};
use crate::model::{MessageView, NodeEvent, Stats};
use crate::{kinds, now_ms};

fn ack(message_id: &[u8], status: v1::AckStatus, reason: &str) -> v1::Ack {
    v1::Ack {
        message_id: message_id.to_vec(),
        status: status as i32,
        reason: reason.to_owned(),
    }
}

impl Engine {
    fn refuse(&self, counter: &AtomicU64, message_id: &[u8], reason: &str) -> Option<v1::Ack> {
        Stats::bump(counter);
        debug!(%reason, "refused an envelope");
        Some(ack(message_id, v1::AckStatus::Refused, reason))
    }

    /// Answers `/omega/keys/1`: a fresh signed one-time key, persisted as issued before it leaves.
    pub(crate) async fn handle_keys_request(&mut self, body: &[u8]) -> Option<v1::KeysResponse> {
        let request = omega_proto::decode_keys_request(body).ok()?;
        if request.user_key != self.me.as_bytes() {
            return None;
        }
        let response = self.account.issue_one_time_key(&self.my_devices.signed);
        if let Err(error) = self
            .store
            .save_account(&self.account.pickle(&self.store_key))
            .await
        {
            warn!(%error, "could not persist the account; not handing out the key");
            self.reload_account().await;
            return None;
        }
        Some(response)
    }

    /// Handles one envelope of `/omega/msg/1`. `None` means "no answer" (a transient local
    /// failure): the sender will retry.
    pub(crate) async fn handle_envelope(&mut self, body: &[u8]) -> Option<v1::Ack> {
        let stats = self.stats.clone();
        let envelope = match omega_proto::decode_envelope(body) {
            Ok(envelope) => envelope,
            Err(error) => return self.refuse(&stats.refused_malformed, &[], &error.to_string()),
        };
        let id = envelope.message_id.clone();
        if envelope.recipient_user != self.me.as_bytes()
            || envelope.recipient_device != self.account.curve25519()
        {
            return self.refuse(
                &stats.refused_wrong_recipient,
                &id,
                "not addressed to this device",
            );
        }
        if verify_envelope_signature(&envelope).is_err() {
            return self.refuse(&stats.refused_bad_signature, &id, "bad envelope signature");
        }
        let Ok(sender) = UserKey::from_bytes(&envelope.sender_user) else {
            return self.refuse(&stats.refused_malformed, &id, "invalid sender key");
        };
        match self.store.is_seen(sender.as_bytes(), &id).await {
            Ok(true) => {
                Stats::bump(&stats.duplicates);
                return Some(ack(&id, v1::AckStatus::Duplicate, ""));
            }
            Ok(false) => {}
            Err(error) => {
                warn!(%error, "store unavailable");
                return None;
            }
        }
        // Bind the signing device to the sender's user key through a device list signed by it.
        let attached = match envelope.sender_devices.as_ref() {
            Some(signed) => match verify_device_list(signed, Some(&sender)) {
                Ok(list) => Some(list),
                Err(_) => {
                    return self.refuse(&stats.refused_bad_signature, &id, "bad device list");
                }
            },
            None => None,
        };
        // My own devices are bound through my current list only (a newer attached list of mine
        // is adopted when it still lists this device); this device never talks to itself.
        if sender == self.me {
            if let Some(attached) = attached.as_ref()
                && attached.version > self.my_devices.version
                && attached
                    .device_by_ed25519(&self.account.ed25519())
                    .is_some()
                && let Err(error) = self.adopt_own_list(attached.clone()).await
            {
                warn!(%error, "could not adopt my newer device list");
                return None;
            }
            if envelope.sender_device == self.account.ed25519()
                || self
                    .my_devices
                    .device_by_ed25519(&envelope.sender_device)
                    .is_none()
            {
                return self.refuse(
                    &stats.refused_unknown_device,
                    &id,
                    "not a device of my current device list",
                );
            }
        }
        let known = self.peer_info(&sender).await.map(|info| info.devices);
        let known = if sender == self.me {
            Some(self.my_devices.clone())
        } else {
            known
        };
        let attached = if sender == self.me { None } else { attached };
        let devices = match (known, attached) {
            (Some(known), Some(attached)) if attached.version > known.version => attached,
            (Some(known), _) => known,
            (None, Some(attached)) => attached,
            (None, None) => {
                return self.refuse(&stats.refused_unknown_device, &id, "unknown sender device");
            }
        };
        let Some(device) = devices.device_by_ed25519(&envelope.sender_device).cloned() else {
            return self.refuse(&stats.refused_unknown_device, &id, "unknown sender device");
        };
        let Some(ciphertext) = envelope.ciphertext.as_ref() else {
            return self.refuse(&stats.refused_malformed, &id, "no ciphertext");
        };

        // Decrypt with a known session, or open one from a pre-key message.
        let sessions = match self.store.sessions_for(&device.curve25519).await {
            Ok(sessions) => sessions,
            Err(error) => {
                warn!(%error, "store unavailable");
                return None;
            }
        };
        let pre_key = ciphertext.message_type == omega_crypto::device::MESSAGE_TYPE_PRE_KEY;
        let mut decrypted = None;
        for row in &sessions {
            let Ok(mut session) = OlmSession::from_pickle(&row.pickle, &self.store_key) else {
                continue;
            };
            if pre_key && !session.matches_prekey(ciphertext) {
                continue;
            }
            if let Ok(plaintext) = session.decrypt(ciphertext) {
                decrypted = Some((session, plaintext, false));
                break;
            }
        }
        if decrypted.is_none()
            && pre_key
            && let Ok((session, plaintext)) =
                self.account.create_inbound(&device.curve25519, ciphertext)
        {
            decrypted = Some((session, plaintext, true));
        }
        let Some((session, plaintext, account_changed)) = decrypted else {
            return self.refuse(&stats.refused_undecryptable, &id, "cannot decrypt");
        };
        let content = match omega_proto::decode_content(&plaintext) {
            Ok(content) => content,
            Err(error) => {
                if account_changed {
                    self.reload_account().await;
                }
                return self.refuse(&stats.refused_malformed, &id, &error.to_string());
            }
        };

        // Device contents (list updates, sent copies, backfill) are applied here.
        let device_content = match &content.body {
            Some(
                body @ (v1::content::Body::DeviceList(_)
                | v1::content::Body::SentCopy(_)
                | v1::content::Body::Backfill(_)
                | v1::content::Body::Sync(_)),
            ) => match self.apply_device_content(&sender, body).await {
                Ok(applied) => Some(applied),
                Err(reason) => {
                    if account_changed {
                        self.reload_account().await;
                    }
                    return self.refuse(&stats.refused_malformed, &id, &reason);
                }
            },
            // Group traffic goes to every member device, my other devices included.
            Some(
                v1::content::Body::GroupState(_)
                | v1::content::Body::GroupKey(_)
                | v1::content::Body::GroupMessage(_)
                | v1::content::Body::GroupResend(_),
            ) => None,
            _ if sender == self.me => {
                if account_changed {
                    self.reload_account().await;
                }
                return self.refuse(
                    &stats.refused_malformed,
                    &id,
                    "my own devices send only device and group contents",
                );
            }
            _ => None,
        };

        // A first message from someone not in our contacts: remember them (as a message request).
        if sender != self.me
            && let Err(error) = self.remember_sender(&sender, &devices).await
        {
            warn!(%error, "could not record the sender");
        }

        let mut pending_file = None;
        let mut commit = InboundCommit {
            sender_user: sender.as_bytes().to_vec(),
            message_id: id.clone(),
            session: SessionRow {
                session_id: session.session_id(),
                peer_curve25519: device.curve25519.to_vec(),
                pickle: session.pickle(&self.store_key),
            },
            account_pickle: account_changed.then(|| self.account.pickle(&self.store_key)),
            message: None,
            status_updates: Vec::new(),
            outbox: Vec::new(),
            change: None,
        };
        let mut sent_item = None;
        match device_content {
            None | Some(DeviceContent::Done) => {}
            Some(DeviceContent::ContactList { list, addrs }) => {
                if let Err(error) = self.adopt_contact_list(&sender, &list, &addrs).await {
                    warn!(%error, "could not store a contact's device list");
                    return None;
                }
            }
            Some(DeviceContent::SentItem {
                peer,
                timer_ms,
                message,
            }) => {
                if let Some(ms) = timer_ms
                    && let Err(error) = self
                        .store
                        .change_message(
                            peer.as_bytes(),
                            &MessageChange::Timer { ms },
                            &[],
                            now_ms() as i64,
                        )
                        .await
                {
                    warn!(%error, "could not apply my timer change");
                    return None;
                }
                match self
                    .store
                    .message_in(peer.as_bytes(), &message.message_id)
                    .await
                {
                    Ok(Some(_)) => {}
                    Ok(None) => {
                        sent_item = Some(peer);
                        commit.message = Some(message);
                    }
                    Err(error) => {
                        warn!(%error, "store unavailable");
                        return None;
                    }
                }
            }
            Some(DeviceContent::SentChange { peer, change }) => {
                match self
                    .store
                    .change_message(peer.as_bytes(), &change, &[], now_ms() as i64)
                    .await
                {
                    Ok((Some(target), _)) => {
                        if let Ok(message) = self.view_of(&peer, &target).await {
                            let _ = self.events.send(NodeEvent::Updated { message });
                        }
                    }
                    Ok((None, _)) => {}
                    Err(error) => {
                        warn!(%error, "could not apply my change");
                        return None;
                    }
                }
            }
        }
        match &content.body {
            Some(v1::content::Body::Receipt(_)) | None => {}
            // Group traffic is handled (idempotently) before the envelope is committed; a
            // group-level problem is logged, the envelope itself stays accepted.
            Some(v1::content::Body::GroupState(state)) => {
                if let Err(reason) = self.on_group_state(&sender, state.clone()).await {
                    debug!(%reason, "ignored a group state");
                }
            }
            Some(v1::content::Body::GroupKey(key)) => {
                if let Err(reason) = self.on_group_key(&sender, &device.curve25519, key).await {
                    debug!(%reason, "ignored a group key");
                }
            }
            Some(v1::content::Body::GroupMessage(bytes)) => {
                self.on_group_message(bytes, None).await;
            }
            Some(v1::content::Body::GroupResend(request)) => {
                if let Err(reason) = self
                    .on_group_resend(&sender, &device.curve25519, request)
                    .await
                {
                    debug!(%reason, "ignored a group resend request");
                }
            }
            Some(
                v1::content::Body::DeviceList(_)
                | v1::content::Body::SentCopy(_)
                | v1::content::Body::Backfill(_)
                | v1::content::Body::Sync(_),
            ) => {}
            Some(_) => match kinds::arrived(&content, &sender) {
                Err(reason) => return self.refuse(&stats.refused_malformed, &id, &reason),
                Ok(kinds::Arrived::Change(change)) => commit.change = Some(change),
                Ok(kinds::Arrived::Item {
                    item,
                    expires_in_ms,
                }) => {
                    let Some(message_id) = uuid_text(&id) else {
                        return self.refuse(
                            &stats.refused_malformed,
                            &id,
                            "message id is not a uuid",
                        );
                    };
                    if let Some(file) = item.file {
                        pending_file = Some(omega_store::FileRow {
                            message_id: message_id.clone(),
                            manifest: file.manifest,
                            sources: file.sources,
                            state: "available".to_owned(),
                            path: None,
                            error: None,
                        });
                    }
                    let mut meta = item.meta;
                    if expires_in_ms > 0 {
                        let lifetime = i64::try_from(expires_in_ms).unwrap_or(i64::MAX);
                        meta.expires_at_ms = Some((now_ms() as i64).saturating_add(lifetime));
                    }
                    commit.message = Some(NewMessage {
                        message_id,
                        peer_user: sender.as_bytes().to_vec(),
                        direction: Direction::In,
                        body: item.body,
                        status: Status::Delivered,
                        timestamp_ms: envelope.timestamp_ms.min(i64::MAX as u64) as i64,
                        meta,
                    });
                    commit.change = item.timer_ms.map(|ms| MessageChange::Timer { ms });
                    let receipt = v1::Content {
                        body: Some(v1::content::Body::Receipt(v1::Receipt {
                            kind: v1::ReceiptKind::Delivered as i32,
                            message_ids: vec![id.clone()],
                        })),
                        ..v1::Content::default()
                    }
                    .encode_to_vec();
                    commit.outbox =
                        receipt_rows(&sender, &single_device(&devices, &device), &receipt);
                }
            },
        }
        match content.body {
            Some(v1::content::Body::Receipt(receipt)) => {
                let status = match v1::ReceiptKind::try_from(receipt.kind) {
                    Ok(v1::ReceiptKind::Delivered) => Status::Delivered,
                    Ok(v1::ReceiptKind::Read) => Status::Read,
                    _ => return self.refuse(&stats.refused_malformed, &id, "unknown receipt kind"),
                };
                commit.status_updates = receipt
                    .message_ids
                    .into_iter()
                    .map(|message_id| (message_id, status))
                    .collect();
            }
            None => return self.refuse(&stats.refused_malformed, &id, "empty content"),
            Some(_) => {}
        }

        // A file's manifest first: a row whose message then fails to commit is never read.
        if let Some(file) = &pending_file
            && let Err(error) = self.store.put_file(file, now_ms() as i64).await
        {
            warn!(%error, "could not store a file's manifest");
            if account_changed {
                self.reload_account().await;
            }
            return None;
        }
        let outcome = match self.store.commit_inbound(&commit, now_ms() as i64).await {
            Ok(outcome) => outcome,
            Err(error) => {
                warn!(%error, "could not store an inbound message");
                if account_changed {
                    self.reload_account().await;
                }
                return None;
            }
        };
        match outcome {
            InboundOutcome::Duplicate => {
                Stats::bump(&stats.duplicates);
                Some(ack(&id, v1::AckStatus::Duplicate, ""))
            }
            InboundOutcome::Stored {
                changes,
                queued,
                changed,
            } => {
                Stats::bump(&stats.received);
                self.schedule(&queued);
                self.emit_changes(&changes);
                if let Some(target) = changed
                    && let Ok(message) = self.view_of(&sender, &target).await
                {
                    let _ = self.events.send(NodeEvent::Updated { message });
                }
                if let Some(message) = &commit.message
                    && let Ok(Some(row)) = self.store.message(&message.message_id).await
                {
                    let conversation = sent_item.unwrap_or(sender);
                    let name = self.peers.get(&conversation).map(|info| info.name.clone());
                    let _ = self.events.send(NodeEvent::Message {
                        message: MessageView::new(&row, &self.me, name),
                    });
                }
                Some(ack(&id, v1::AckStatus::Accepted, ""))
            }
        }
    }

    /// Stores a first-time sender as a contact without alias, or a newer device list of a contact.
    async fn remember_sender(
        &mut self,
        sender: &UserKey,
        devices: &VerifiedDeviceList,
    ) -> Result<(), omega_store::StoreError> {
        let existing = self.store.contact(sender.as_bytes()).await?;
        if existing
            .as_ref()
            .is_some_and(|contact| contact.device_list_version as u64 >= devices.version)
        {
            return Ok(());
        }
        let user_id = sender.user_id();
        let contact = ContactRow {
            mailboxes: existing
                .as_ref()
                .map(|contact| contact.mailboxes.clone())
                .unwrap_or_default(),
            user_key: sender.as_bytes().to_vec(),
            name: existing
                .as_ref()
                .map_or_else(|| user_id[..12].to_owned(), |contact| contact.name.clone()),
            user_id,
            alias: None,
            device_list: devices.signed.encode_to_vec(),
            device_list_version: devices.version as i64,
            addrs: existing.map(|contact| contact.addrs).unwrap_or_default(),
            verified: false,
            added_ms: now_ms() as i64,
        };
        self.store.upsert_contact(&contact).await?;
        self.peers.remove(sender);
        self.peer_info(sender).await;
        Ok(())
    }

    /// A contact told us its newer device list (and where its devices are).
    async fn adopt_contact_list(
        &mut self,
        sender: &UserKey,
        list: &VerifiedDeviceList,
        addrs: &[String],
    ) -> Result<(), omega_store::StoreError> {
        self.remember_sender(sender, list).await?;
        let Some(contact) = self.store.contact(sender.as_bytes()).await? else {
            return Ok(());
        };
        let mut merged = contact.addrs.clone();
        for addr in addrs.iter().take(omega_crypto::card::MAX_CARD_ADDRS) {
            if addr.parse::<libp2p::Multiaddr>().is_ok() && !merged.contains(addr) {
                merged.push(addr.clone());
            }
        }
        if merged != contact.addrs {
            self.store
                .set_contact_addrs(sender.as_bytes(), &merged)
                .await?;
        }
        self.peers.remove(sender);
        self.peer_info(sender).await;
        Ok(())
    }

    /// Reverts the in-memory account to the stored one (after a failed commit).
    async fn reload_account(&mut self) {
        if let Ok(Some(identity)) = self.store.identity().await
            && let Ok(account) =
                omega_crypto::DeviceAccount::from_pickle(&identity.account_pickle, &self.store_key)
        {
            self.account = account;
        }
    }
}

/// A device list narrowed to one device (receipts go back to the device that sent the message).
fn single_device(
    devices: &VerifiedDeviceList,
    device: &omega_crypto::DeviceInfo,
) -> VerifiedDeviceList {
    let mut narrowed = devices.clone();
    narrowed.devices = vec![device.clone()];
    narrowed
}
