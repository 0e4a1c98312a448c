//! The send pipeline after queueing: pick the route, find or create the Olm session (fetching a
//! key bundle when needed), seal the envelope together with the advanced session, transmit it in a
//! spawned task, and record the outcome (`sent`, retry with backoff, or `failed`).

use std::time::Instant;

use libp2p::PeerId;

use omega_crypto::{OlmSession, UserKey, sign_envelope, verify_keys_response};
use omega_proto::{Message, v1};
use omega_store::{OutboxRow, SessionRow, Status};
use tracing::{debug, warn};

use crate::delivery::{Delivered, Route};
use crate::engine::{Completion, Engine, UNREACHABLE_FOR};
use crate::model::Stats;
use crate::now_ms;
use crate::outbox::Transmit;

impl Engine {
    /// Starts every transmission the scheduler allows now.
    pub(crate) async fn pump(&mut self) {
        while let Some(transmit) = self.outbox.poll_transmit(Instant::now()) {
            self.start_transmit(transmit).await;
        }
    }

    async fn start_transmit(&mut self, transmit: Transmit) {
        let row = match self.store.outbox_row(transmit.seq).await {
            Ok(Some(row)) => row,
            Ok(None) => return self.outbox.handle_dropped(transmit.device, transmit.seq),
            Err(error) => {
                warn!(%error, "could not read the outbox");
                return self
                    .outbox
                    .handle_failed(transmit.device, transmit.seq, Instant::now());
            }
        };
        let Some(route) = self.route(&row, &transmit).await else {
            // The device left its user's list (revoked): drop the row without failing the
            // message, which reached (or will reach) the devices still listed.
            if let Ok(user) = UserKey::from_bytes(&row.peer_user)
                && self.peer_info(&user).await.is_some()
            {
                if let Err(error) = self
                    .store
                    .finish_outbox(&row, omega_store::Status::Queued, now_ms() as i64)
                    .await
                {
                    warn!(%error, "could not drop an envelope for a revoked device");
                }
                return self.outbox.handle_dropped(transmit.device, transmit.seq);
            }
            // The recipient or its device is gone: the message can never leave.
            return self.give_up(transmit, row).await;
        };
        if let Some(envelope) = row.envelope.clone() {
            return self.spawn_send(transmit, row, route, envelope);
        }
        let sessions = match self.store.sessions_for(&transmit.device).await {
            Ok(sessions) => sessions,
            Err(error) => {
                warn!(%error, "could not read sessions");
                return self
                    .outbox
                    .handle_failed(transmit.device, transmit.seq, Instant::now());
            }
        };
        let session = sessions
            .first()
            .and_then(|session| OlmSession::from_pickle(&session.pickle, &self.store_key).ok());
        match session {
            Some(session) => self.seal_and_send(transmit, row, session, route).await,
            None => {
                let net = self.net.clone();
                let completions = self.completions.clone();
                let peer = route.peer;
                tokio::spawn(async move {
                    let attempt = crate::delivery::fetch_keys(
                        net,
                        route,
                        row.peer_user.clone(),
                        transmit.device.to_vec(),
                    )
                    .await;
                    let _ = completions
                        .send(Completion::Keys {
                            transmit,
                            row,
                            peer,
                            attempt,
                        })
                        .await;
                });
            }
        }
    }

    /// How to reach the device an outbox row goes to.
    async fn route(&mut self, row: &OutboxRow, transmit: &Transmit) -> Option<Route> {
        let user = UserKey::from_bytes(&row.peer_user).ok()?;
        let info = self.peer_info(&user).await?;
        let device = info.devices.device_by_curve25519(&transmit.device)?;
        let peer = PeerId::from_bytes(&device.peer_id).ok()?;
        let now = Instant::now();
        self.unreachable.retain(|_, until| *until > now);
        Some(Route {
            peer,
            addrs: info.addrs_of(&peer),
            mailbox: info
                .mailboxes
                .iter()
                .find_map(crate::delivery::split_peer_addr)
                .map(|(server, addr)| (server, vec![addr])),
            recipient_hash: omega_crypto::mailbox_address(&user, &device.curve25519),
            sealing_x25519: device.sealing_x25519,
            try_direct: !self.unreachable.contains_key(&peer),
            record: self.dht.then(|| {
                (
                    user,
                    omega_crypto::peer_record_key(&user, &device.curve25519),
                )
            }),
        })
    }

    /// Encrypts the row's content with `session`, stores the envelope and the advanced session in
    /// one transaction, then transmits.
    async fn seal_and_send(
        &mut self,
        transmit: Transmit,
        row: OutboxRow,
        mut session: OlmSession,
        route: Route,
    ) {
        let ciphertext = match session.encrypt(&row.content) {
            Ok(ciphertext) => ciphertext,
            Err(error) => {
                warn!(%error, "encryption failed");
                return self.give_up(transmit, row).await;
            }
        };
        let pre_key = ciphertext.message_type == omega_crypto::device::MESSAGE_TYPE_PRE_KEY;
        let mut envelope = v1::Envelope {
            version: omega_proto::WIRE_VERSION,
            message_id: row.message_id.clone(),
            sender_user: self.me.as_bytes().to_vec(),
            sender_device: self.account.ed25519().to_vec(),
            recipient_user: row.peer_user.clone(),
            recipient_device: transmit.device.to_vec(),
            timestamp_ms: now_ms(),
            ciphertext: Some(ciphertext),
            sender_devices: pre_key.then(|| self.my_devices.signed.clone()),
            signature: Vec::new(),
        };
        sign_envelope(&self.account, &mut envelope);
        let bytes = envelope.encode_to_vec();
        let session_row = SessionRow {
            session_id: session.session_id(),
            peer_curve25519: transmit.device.to_vec(),
            pickle: session.pickle(&self.store_key),
        };
        if let Err(error) = self
            .store
            .seal_outbox(row.seq, &bytes, &session_row, now_ms() as i64)
            .await
        {
            warn!(%error, "could not store the sealed envelope");
            return self
                .outbox
                .handle_failed(transmit.device, transmit.seq, Instant::now());
        }
        self.spawn_send(transmit, row, route, bytes);
    }

    fn spawn_send(&self, transmit: Transmit, row: OutboxRow, route: Route, envelope: Vec<u8>) {
        let net = self.net.clone();
        let completions = self.completions.clone();
        let peer = route.peer;
        tokio::spawn(async move {
            let attempt =
                crate::delivery::deliver(net, route, row.message_id.clone(), envelope).await;
            let _ = completions
                .send(Completion::Sent {
                    transmit,
                    row,
                    peer,
                    attempt,
                })
                .await;
        });
    }

    pub(crate) async fn handle_completion(&mut self, completion: Completion) {
        match completion {
            Completion::Keys {
                transmit,
                row,
                peer,
                attempt,
            } => {
                self.note_direct(peer, attempt.direct_failed, attempt.learned)
                    .await;
                let bundle = attempt.result.and_then(|response| {
                    let user = UserKey::from_bytes(&row.peer_user).map_err(|e| e.to_string())?;
                    verify_keys_response(&response, &user).map_err(|error| error.to_string())
                });
                let bundle = match bundle {
                    Ok(bundle) if bundle.device.curve25519 == transmit.device => bundle,
                    Ok(_) => {
                        warn!("the peer answered with keys of another device");
                        return self.failed(transmit).await;
                    }
                    Err(reason) => {
                        debug!(%reason, "could not fetch a one-time key");
                        return self.failed(transmit).await;
                    }
                };
                let session = match self.account.create_outbound(&bundle) {
                    Ok(session) => session,
                    Err(error) => {
                        warn!(%error, "could not create an Olm session");
                        return self.failed(transmit).await;
                    }
                };
                match self.route(&row, &transmit).await {
                    Some(route) => self.seal_and_send(transmit, row, session, route).await,
                    None => self.give_up(transmit, row).await,
                }
            }
            Completion::Sent {
                transmit,
                row,
                peer,
                attempt,
            } => {
                self.note_direct(peer, attempt.direct_failed, attempt.learned)
                    .await;
                match attempt.result {
                    Ok(Delivered::Direct(ack))
                        if ack.status == v1::AckStatus::Accepted as i32
                            || ack.status == v1::AckStatus::Duplicate as i32 =>
                    {
                        self.sent(transmit, row).await;
                    }
                    Ok(Delivered::Mailbox) => {
                        Stats::bump(&self.stats.mailbox_deposits);
                        self.sent(transmit, row).await;
                    }
                    Ok(Delivered::Direct(ack)) => {
                        warn!(reason = %ack.reason, "the recipient refused an envelope");
                        self.give_up(transmit, row).await;
                    }
                    Err(reason) => {
                        debug!(%reason, "transmission failed");
                        self.failed(transmit).await;
                    }
                }
            }
        }
    }

    async fn note_direct(&mut self, peer: PeerId, failed: bool, learned: Vec<libp2p::Multiaddr>) {
        if failed {
            self.unreachable
                .insert(peer, Instant::now() + UNREACHABLE_FOR);
        }
        if !learned.is_empty() {
            self.learn_addrs(peer, learned).await;
        }
    }

    /// The recipient device or a mailbox acknowledged durable storage.
    async fn sent(&mut self, transmit: Transmit, row: OutboxRow) {
        Stats::bump(&self.stats.sent);
        match self
            .store
            .finish_outbox(&row, Status::Sent, now_ms() as i64)
            .await
        {
            Ok(change) => {
                self.emit_changes(change.as_slice());
                self.outbox.handle_delivered(transmit.device, transmit.seq);
            }
            Err(error) => {
                warn!(%error, "could not record a delivery");
                self.outbox
                    .handle_failed(transmit.device, transmit.seq, Instant::now());
            }
        }
    }

    async fn failed(&mut self, transmit: Transmit) {
        Stats::bump(&self.stats.send_failures);
        let _ = self.store.record_attempt(transmit.seq).await;
        self.outbox
            .handle_failed(transmit.device, transmit.seq, Instant::now());
    }

    /// The row can never be delivered: drop it and mark its message failed.
    async fn give_up(&mut self, transmit: Transmit, row: OutboxRow) {
        match self
            .store
            .finish_outbox(&row, Status::Failed, now_ms() as i64)
            .await
        {
            Ok(change) => self.emit_changes(change.as_slice()),
            Err(error) => warn!(%error, "could not mark a message failed"),
        }
        self.outbox.handle_dropped(transmit.device, transmit.seq);
    }
}
