//! The mailbox and prekey directory service: turns one `MailboxRequest` into one `MailboxResponse`.
//! Protocol state (challenges, sessions, rate limits) lives in the pure machines of `limits.rs`;
//! this service adds the store and the checks. Time comes from the caller's [`Clock`].

use std::sync::Arc;
use std::sync::Mutex;

use omega_crypto::{UserKey, mailbox_address, verify_device_list, verify_mailbox_auth};
use omega_proto::{Message, v1};
use omega_store::server::{ClaimedKey, Deposited, PutDeviceList, ServerStore};
use rand::RngCore;
use tracing::warn;

use crate::Clock;
use crate::limits::{Challenges, Grant, RateLimiter, Sessions};
use crate::metrics::Metrics;

/// Limits of the mailbox service.
#[derive(Clone, Debug)]
pub struct Limits {
    /// How long an envelope waits for its recipient (default 14 days).
    pub ttl_ms: i64,
    /// Largest envelope accepted in a deposit.
    pub max_envelope_bytes: usize,
    /// Deposits and claims per second per source, and the burst allowed above that.
    pub rate_per_second: f64,
    pub rate_burst: f64,
    /// Largest fetch page (count and bytes).
    pub max_page: u32,
    pub max_page_bytes: usize,
    /// Most one-time keys kept per device.
    pub max_pre_keys: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            ttl_ms: 14 * 24 * 3600 * 1000,
            max_envelope_bytes: omega_proto::MAX_ENVELOPE_BYTES,
            rate_per_second: 50.0,
            rate_burst: 2_000.0,
            max_page: 500,
            max_page_bytes: 4 * 1024 * 1024,
            max_pre_keys: 200,
        }
    }
}

struct State {
    challenges: Challenges,
    sessions: Sessions,
    limiter: RateLimiter<Vec<u8>>,
}

/// The service; cheap to clone, safe to call concurrently.
#[derive(Clone)]
pub struct MailboxService<S> {
    store: S,
    limits: Limits,
    server_peer_id: Arc<Vec<u8>>,
    clock: Arc<dyn Clock>,
    state: Arc<Mutex<State>>,
    metrics: Arc<Metrics>,
}

fn error(code: &str, message: impl Into<String>) -> v1::MailboxResponse {
    v1::MailboxResponse {
        result: Some(v1::mailbox_response::Result::Error(v1::MailboxError {
            code: code.to_owned(),
            message: message.into(),
            retry_after_ms: 0,
        })),
    }
}

fn ok(result: v1::mailbox_response::Result) -> v1::MailboxResponse {
    v1::MailboxResponse {
        result: Some(result),
    }
}

fn random32() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}

impl<S: ServerStore> MailboxService<S> {
    pub fn new(
        store: S,
        limits: Limits,
        server_peer_id: Vec<u8>,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let state = State {
            challenges: Challenges::new(60_000, 100_000),
            sessions: Sessions::new(10 * 60_000, 100_000),
            limiter: RateLimiter::new(limits.rate_per_second, limits.rate_burst, 100_000),
        };
        MailboxService {
            store,
            limits,
            server_peer_id: Arc::new(server_peer_id),
            clock,
            state: Arc::new(Mutex::new(state)),
            metrics,
        }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Handles raw request bytes from `source` (a peer id or an IP) and returns response bytes.
    pub async fn handle_bytes(&self, source: &[u8], body: &[u8]) -> Vec<u8> {
        let response = match omega_proto::decode_mailbox_request(body) {
            Ok(request) => self.handle(source, request).await,
            Err(omega_proto::DecodeError::TooLarge { got, limit, .. }) => error(
                "too_large",
                format!("request is {got} bytes, more than the limit of {limit}"),
            ),
            Err(decode) => error("bad_request", decode.to_string()),
        };
        if let Some(v1::mailbox_response::Result::Error(refusal)) = &response.result {
            self.metrics.refused(&refusal.code);
        }
        response.encode_to_vec()
    }

    /// Handles one request.
    pub async fn handle(&self, source: &[u8], request: v1::MailboxRequest) -> v1::MailboxResponse {
        use v1::mailbox_request::Op;
        let Some(op) = request.op else {
            return error("bad_request", "empty request");
        };
        match op {
            Op::Deposit(deposit) => self.deposit(source, deposit).await,
            Op::Challenge(_) => self.challenge(),
            Op::Authenticate(auth) => self.authenticate(auth).await,
            Op::Fetch(fetch) => self.fetch(fetch).await,
            Op::Ack(ack) => self.ack(ack).await,
            Op::PublishDevices(publish) => self.publish(publish).await,
            Op::UploadPreKeys(upload) => self.upload(upload).await,
            Op::ClaimPreKey(claim) => self.claim(source, claim).await,
        }
    }

    fn rate_limited(&self, source: &[u8]) -> Option<v1::MailboxResponse> {
        let now = self.clock.now_ms();
        let wait = self.state().limiter.check(&source.to_vec(), now).err()?;
        Some(v1::MailboxResponse {
            result: Some(v1::mailbox_response::Result::Error(v1::MailboxError {
                code: "rate_limited".into(),
                message: format!("too many requests from this source; retry in {wait} ms"),
                retry_after_ms: wait,
            })),
        })
    }

    async fn deposit(&self, source: &[u8], deposit: v1::Deposit) -> v1::MailboxResponse {
        if deposit.recipient_hash.len() != 32 || deposit.message_id.len() != 16 {
            return error(
                "bad_request",
                format!(
                    "recipient_hash must be 32 bytes and message_id 16 (got {} and {})",
                    deposit.recipient_hash.len(),
                    deposit.message_id.len()
                ),
            );
        }
        if deposit.envelope.len() > self.limits.max_envelope_bytes {
            return error(
                "too_large",
                format!(
                    "envelope is {} bytes, more than the limit of {}",
                    deposit.envelope.len(),
                    self.limits.max_envelope_bytes
                ),
            );
        }
        if deposit.envelope.is_empty() {
            return error("bad_request", "empty envelope");
        }
        if let Some(refusal) = self.rate_limited(source) {
            return refusal;
        }
        let now = self.clock.now_ms();
        match self
            .store
            .deposit(
                &deposit.recipient_hash,
                &deposit.message_id,
                &deposit.envelope,
                now,
                now.saturating_add(self.limits.ttl_ms),
            )
            .await
        {
            Ok(outcome) => {
                let duplicate = matches!(outcome, Deposited::Duplicate);
                self.metrics.deposited(duplicate);
                ok(v1::mailbox_response::Result::Deposited(
                    v1::DepositReceipt {
                        message_id: deposit.message_id,
                        duplicate,
                    },
                ))
            }
            Err(failure) => {
                warn!(error = %failure, "deposit failed");
                error("unavailable", "storage unavailable; retry later")
            }
        }
    }

    fn challenge(&self) -> v1::MailboxResponse {
        let nonce = random32();
        let expires_ms = self.state().challenges.issue(nonce, self.clock.now_ms());
        ok(v1::mailbox_response::Result::Challenge(v1::Challenge {
            nonce: nonce.to_vec(),
            expires_ms: expires_ms.max(0) as u64,
        }))
    }

    async fn authenticate(&self, auth: v1::Authenticate) -> v1::MailboxResponse {
        let now = self.clock.now_ms();
        if self.state().challenges.redeem(&auth.nonce, now).is_err() {
            return error("stale_challenge", "unknown, used or expired challenge");
        }
        let Ok(user) = UserKey::from_bytes(&auth.user_key) else {
            return error("bad_request", "invalid user key");
        };
        let (version, list) = match self.store.device_list(user.as_bytes()).await {
            Ok(Some(found)) => found,
            Ok(None) => return error("unknown_device", "no device list published for this user"),
            Err(failure) => {
                warn!(error = %failure, "device list lookup failed");
                return error("unavailable", "storage unavailable; retry later");
            }
        };
        let devices = match v1::SignedDeviceList::decode(list.as_slice())
            .ok()
            .and_then(|signed| verify_device_list(&signed, Some(&user)).ok())
        {
            Some(devices) => devices,
            None => return error("unavailable", "stored device list does not verify"),
        };
        let Some(device) = devices.device_by_ed25519(&auth.device_ed25519) else {
            return error(
                "unknown_device",
                "this device is not in the user's device list",
            );
        };
        if verify_mailbox_auth(
            &device.ed25519,
            &self.server_peer_id,
            &auth.nonce,
            &user,
            &auth.signature,
        )
        .is_err()
        {
            return error(
                "unauthorized",
                "the signature does not verify for this device",
            );
        }
        let recipient_hash = mailbox_address(&user, &device.curve25519);
        let token = random32();
        let grant = Grant {
            recipient_hash,
            user_key: *user.as_bytes(),
            device_ed25519: device.ed25519,
            device_curve25519: device.curve25519,
            expires_ms: 0,
        };
        let device_ed25519 = grant.device_ed25519;
        let expires_ms = self.state().sessions.open(token, grant, now);
        // A publish that dropped this device may have landed since we read the list: if the list
        // changed, the device must still be in it.
        if let Ok(Some((now_version, now_list))) = self.store.device_list(user.as_bytes()).await
            && now_version != version
        {
            let still_listed = v1::SignedDeviceList::decode(now_list.as_slice())
                .ok()
                .and_then(|signed| verify_device_list(&signed, Some(&user)).ok())
                .is_some_and(|devices| devices.device_by_ed25519(&device_ed25519).is_some());
            if !still_listed {
                self.state().sessions.revoke_device(&device_ed25519);
                return error(
                    "unknown_device",
                    "this device is not in the user's device list",
                );
            }
        }
        ok(v1::mailbox_response::Result::Session(v1::Session {
            token: token.to_vec(),
            expires_ms: expires_ms.max(0) as u64,
            recipient_hash: recipient_hash.to_vec(),
        }))
    }

    fn grant(&self, token: &[u8]) -> Option<Grant> {
        self.state()
            .sessions
            .check(token, self.clock.now_ms())
            .cloned()
    }

    async fn fetch(&self, fetch: v1::Fetch) -> v1::MailboxResponse {
        let Some(grant) = self.grant(&fetch.token) else {
            return error("unauthorized", "missing, expired or revoked session");
        };
        let limit = fetch.limit.clamp(1, self.limits.max_page);
        let after = i64::try_from(fetch.after).unwrap_or(i64::MAX);
        match self
            .store
            .fetch(
                &grant.recipient_hash,
                after,
                limit,
                self.limits.max_page_bytes,
            )
            .await
        {
            Ok(page) => {
                self.metrics.fetched(page.envelopes.len());
                ok(v1::mailbox_response::Result::Page(v1::FetchPage {
                    envelopes: page
                        .envelopes
                        .into_iter()
                        .map(|stored| v1::StoredEnvelope {
                            cursor: stored.cursor.max(0) as u64,
                            message_id: stored.message_id,
                            envelope: stored.envelope,
                            deposited_ms: stored.deposited_ms.max(0) as u64,
                        })
                        .collect(),
                    more: page.more,
                }))
            }
            Err(failure) => {
                warn!(error = %failure, "fetch failed");
                error("unavailable", "storage unavailable; retry later")
            }
        }
    }

    async fn ack(&self, ack: v1::MailboxAck) -> v1::MailboxResponse {
        let Some(grant) = self.grant(&ack.token) else {
            return error("unauthorized", "missing, expired or revoked session");
        };
        if ack.message_ids.len() > 10_000 {
            return error("bad_request", "at most 10000 ids per ack");
        }
        match self
            .store
            .ack(&grant.recipient_hash, &ack.message_ids)
            .await
        {
            Ok(deleted) => {
                self.metrics.acked(deleted);
                ok(v1::mailbox_response::Result::Acked(v1::AckReceipt {
                    deleted,
                }))
            }
            Err(failure) => {
                warn!(error = %failure, "ack failed");
                error("unavailable", "storage unavailable; retry later")
            }
        }
    }

    async fn publish(&self, publish: v1::PublishDevices) -> v1::MailboxResponse {
        let Some(signed) = publish.devices else {
            return error("bad_request", "no device list");
        };
        let devices = match verify_device_list(&signed, None) {
            Ok(devices) => devices,
            Err(invalid) => return error("bad_request", format!("device list: {invalid}")),
        };
        let version = i64::try_from(devices.version).unwrap_or(i64::MAX);
        match self
            .store
            .put_device_list(devices.user.as_bytes(), version, &signed.encode_to_vec())
            .await
        {
            Ok(PutDeviceList::Stale { stored_version }) => error(
                "stale_device_list",
                format!("version {version} is not newer than the stored {stored_version}"),
            ),
            Ok(_) => {
                // Devices dropped from the list lose their open sessions at once.
                let mut state = self.state();
                let listed: Vec<[u8; 32]> = devices.devices.iter().map(|d| d.ed25519).collect();
                let user = *devices.user.as_bytes();
                let revoked: Vec<[u8; 32]> = state
                    .sessions
                    .devices_of(&user)
                    .into_iter()
                    .filter(|device| !listed.contains(device))
                    .collect();
                for device in revoked {
                    state.sessions.revoke_device(&device);
                }
                ok(v1::mailbox_response::Result::Published(
                    v1::PublishReceipt {
                        version: devices.version,
                    },
                ))
            }
            Err(failure) => {
                warn!(error = %failure, "publish failed");
                error("unavailable", "storage unavailable; retry later")
            }
        }
    }

    async fn upload(&self, upload: v1::UploadPreKeys) -> v1::MailboxResponse {
        let Some(grant) = self.grant(&upload.token) else {
            return error("unauthorized", "missing, expired or revoked session");
        };
        let signed_by_device = |key: &v1::SignedPreKey| {
            key.key.len() == 32
                && omega_crypto::identity::verify_ed25519(
                    &grant.device_ed25519,
                    &omega_proto::signing::one_time_key_signing_bytes(
                        &grant.device_curve25519,
                        &key.key,
                    ),
                    &key.signature,
                )
                .is_ok()
        };
        if upload.one_time_keys.len() as u64 > self.limits.max_pre_keys {
            return error(
                "too_large",
                format!("at most {} keys per upload", self.limits.max_pre_keys),
            );
        }
        if !upload.one_time_keys.iter().all(signed_by_device)
            || upload
                .fallback
                .as_ref()
                .is_some_and(|key| !signed_by_device(key))
        {
            return error("unauthorized", "a key is not signed by this device");
        }
        let device = grant.device_curve25519;
        let pool = match self.store.pool_size(&device).await {
            Ok(pool) => pool,
            Err(_) => return error("unavailable", "storage unavailable; retry later"),
        };
        let room = self.limits.max_pre_keys.saturating_sub(pool) as usize;
        let keys: Vec<(Vec<u8>, Vec<u8>)> = upload
            .one_time_keys
            .into_iter()
            .take(room)
            .map(|key| (key.key, key.signature))
            .collect();
        let result = async {
            let pool = self.store.add_one_time_keys(&device, &keys).await?;
            if let Some(fallback) = &upload.fallback {
                self.store
                    .set_fallback_key(&device, &fallback.key, &fallback.signature)
                    .await?;
            }
            Ok::<u64, omega_store::server::ServerStoreError>(pool)
        }
        .await;
        match result {
            Ok(pool) => ok(v1::mailbox_response::Result::Uploaded(v1::UploadReceipt {
                pool,
            })),
            Err(failure) => {
                warn!(error = %failure, "upload failed");
                error("unavailable", "storage unavailable; retry later")
            }
        }
    }

    async fn claim(&self, source: &[u8], claim: v1::ClaimPreKey) -> v1::MailboxResponse {
        if let Some(refusal) = self.rate_limited(source) {
            return refusal;
        }
        let Ok(user) = UserKey::from_bytes(&claim.user_key) else {
            return error("bad_request", "invalid user key");
        };
        let signed = match self.store.device_list(user.as_bytes()).await {
            Ok(Some((_, signed))) => signed,
            Ok(None) => return error("not_found", "no device list published for this user"),
            Err(_) => return error("unavailable", "storage unavailable; retry later"),
        };
        let Ok(signed) = v1::SignedDeviceList::decode(signed.as_slice()) else {
            return error("unavailable", "stored device list is unreadable");
        };
        let Ok(devices) = verify_device_list(&signed, Some(&user)) else {
            return error("unavailable", "stored device list does not verify");
        };
        if devices
            .device_by_curve25519(&claim.device_curve25519)
            .is_none()
        {
            return error(
                "unknown_device",
                "this device is not in the user's device list",
            );
        }
        match self.store.claim_pre_key(&claim.device_curve25519).await {
            Ok(Some(ClaimedKey {
                key,
                signature,
                fallback,
            })) => {
                self.metrics.claimed(fallback);
                ok(v1::mailbox_response::Result::Claimed(v1::KeysResponse {
                    devices: Some(signed),
                    device_curve25519: claim.device_curve25519,
                    one_time_key: key,
                    fallback,
                    key_signature: signature,
                }))
            }
            Ok(None) => error("not_found", "this device has no keys in the directory"),
            Err(_) => error("unavailable", "storage unavailable; retry later"),
        }
    }
}
