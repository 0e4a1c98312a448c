//! Test helpers: a manual clock, users with real device accounts and signed device lists, a
//! harness driving a [`MailboxService`] through encoded bytes, and the two store backends (SQLite on
//! a temp file, a fresh PostgreSQL database per test through `OMEGA_TEST_POSTGRES_URL`).
#![allow(dead_code)] // Each test binary uses a different part of this module.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use omega_crypto::{DeviceAccount, UserIdentity, UserKey, mailbox_address, sign_mailbox_auth};
use omega_proto::{Message, v1};
use omega_server::{Clock, Limits, MailboxService, Metrics};
use omega_store::server::{PgServerStore, ServerStore, SqliteServerStore};

use v1::mailbox_request::Op;
use v1::mailbox_response::Result as Reply;

/// The peer id the harness's service believes it has; devices sign challenges for it.
pub const SERVER_PEER_ID: &[u8] = b"test-mailbox-server";

/// A clock that moves only when the test says so.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn at(now_ms: i64) -> Arc<ManualClock> {
        Arc::new(ManualClock(AtomicI64::new(now_ms)))
    }

    pub fn set(&self, now_ms: i64) {
        self.0.store(now_ms, Ordering::SeqCst);
    }

    pub fn advance(&self, by_ms: i64) {
        self.0.fetch_add(by_ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A user with real device accounts.
pub struct TestUser {
    pub identity: UserIdentity,
    pub devices: Vec<DeviceAccount>,
}

impl TestUser {
    pub fn with_devices(n_devices: usize) -> TestUser {
        TestUser {
            identity: UserIdentity::generate(&mut rand::rngs::OsRng),
            devices: (0..n_devices).map(|_| DeviceAccount::generate()).collect(),
        }
    }

    pub fn key(&self) -> UserKey {
        self.identity.public_key()
    }

    /// The user's device list at `version`, listing the devices at `device_indices`.
    pub fn signed_list(&self, version: u64, device_indices: &[usize]) -> v1::SignedDeviceList {
        let list = v1::DeviceList {
            user_key: self.key().as_bytes().to_vec(),
            version,
            devices: device_indices
                .iter()
                .map(|&index| {
                    self.devices[index].device_info(vec![index as u8], &format!("device {index}"))
                })
                .collect(),
            created_ms: 1_700_000_000_000 + version,
        };
        self.identity.sign_device_list(&list)
    }

    /// The mailbox address of a device, as a depositor computes it.
    pub fn mailbox_of(&self, device_index: usize) -> [u8; 32] {
        mailbox_address(&self.key(), &self.devices[device_index].curve25519())
    }
}

/// A mailbox answer: the result, or the server's refusal.
pub type Answer = Result<Reply, v1::MailboxError>;

/// Decodes response bytes into an [`Answer`].
pub fn answer(bytes: &[u8]) -> Answer {
    let response = omega_proto::decode_mailbox_response(bytes).expect("a mailbox response");
    match response.result.expect("a result") {
        Reply::Error(refusal) => Err(refusal),
        other => Ok(other),
    }
}

pub fn encode(op: Op) -> Vec<u8> {
    v1::MailboxRequest { op: Some(op) }.encode_to_vec()
}

pub fn deposit_op(recipient_hash: &[u8], message_id: &[u8], envelope: &[u8]) -> Op {
    Op::Deposit(v1::Deposit {
        recipient_hash: recipient_hash.to_vec(),
        message_id: message_id.to_vec(),
        envelope: envelope.to_vec(),
    })
}

pub fn challenge_op() -> Op {
    Op::Challenge(v1::ChallengeRequest {})
}

/// A device's answer to a challenge, signed by `signer` on behalf of `device_ed25519`.
pub fn authenticate_op(
    server_peer_id: &[u8],
    nonce: &[u8],
    user: &UserKey,
    device_ed25519: [u8; 32],
    signer: &DeviceAccount,
) -> Op {
    Op::Authenticate(v1::Authenticate {
        user_key: user.as_bytes().to_vec(),
        device_ed25519: device_ed25519.to_vec(),
        nonce: nonce.to_vec(),
        signature: sign_mailbox_auth(signer, server_peer_id, nonce, user).to_vec(),
    })
}

pub fn fetch_op(token: &[u8], after: u64, limit: u32) -> Op {
    Op::Fetch(v1::Fetch {
        token: token.to_vec(),
        after,
        limit,
    })
}

pub fn ack_op(token: &[u8], message_ids: &[Vec<u8>]) -> Op {
    Op::Ack(v1::MailboxAck {
        token: token.to_vec(),
        message_ids: message_ids.to_vec(),
    })
}

pub fn publish_op(signed: v1::SignedDeviceList) -> Op {
    Op::PublishDevices(v1::PublishDevices {
        devices: Some(signed),
    })
}

pub fn upload_op(
    token: &[u8],
    one_time_keys: Vec<v1::SignedPreKey>,
    fallback: Option<v1::SignedPreKey>,
) -> Op {
    Op::UploadPreKeys(v1::UploadPreKeys {
        token: token.to_vec(),
        one_time_keys,
        fallback,
    })
}

pub fn claim_op(user: &UserKey, device_curve25519: [u8; 32]) -> Op {
    Op::ClaimPreKey(v1::ClaimPreKey {
        user_key: user.as_bytes().to_vec(),
        device_curve25519: device_curve25519.to_vec(),
    })
}

/// Picks the expected variant out of an answer; any other successful variant fails the test.
pub fn expect<T>(
    answer: Answer,
    what: &str,
    pick: impl FnOnce(Reply) -> Result<T, Box<Reply>>,
) -> Result<T, v1::MailboxError> {
    answer.map(|reply| pick(reply).unwrap_or_else(|other| panic!("expected {what}, got {other:?}")))
}

pub fn deposited(answer: Answer) -> Result<v1::DepositReceipt, v1::MailboxError> {
    expect(answer, "a deposit receipt", |reply| match reply {
        Reply::Deposited(receipt) => Ok(receipt),
        other => Err(Box::new(other)),
    })
}

pub fn challenged(answer: Answer) -> Result<v1::Challenge, v1::MailboxError> {
    expect(answer, "a challenge", |reply| match reply {
        Reply::Challenge(challenge) => Ok(challenge),
        other => Err(Box::new(other)),
    })
}

pub fn session(answer: Answer) -> Result<v1::Session, v1::MailboxError> {
    expect(answer, "a session", |reply| match reply {
        Reply::Session(session) => Ok(session),
        other => Err(Box::new(other)),
    })
}

pub fn page(answer: Answer) -> Result<v1::FetchPage, v1::MailboxError> {
    expect(answer, "a fetch page", |reply| match reply {
        Reply::Page(page) => Ok(page),
        other => Err(Box::new(other)),
    })
}

pub fn acked(answer: Answer) -> Result<u64, v1::MailboxError> {
    expect(answer, "an ack receipt", |reply| match reply {
        Reply::Acked(receipt) => Ok(receipt.deleted),
        other => Err(Box::new(other)),
    })
}

pub fn published(answer: Answer) -> Result<u64, v1::MailboxError> {
    expect(answer, "a publish receipt", |reply| match reply {
        Reply::Published(receipt) => Ok(receipt.version),
        other => Err(Box::new(other)),
    })
}

pub fn uploaded(answer: Answer) -> Result<u64, v1::MailboxError> {
    expect(answer, "an upload receipt", |reply| match reply {
        Reply::Uploaded(receipt) => Ok(receipt.pool),
        other => Err(Box::new(other)),
    })
}

pub fn claimed(answer: Answer) -> Result<v1::KeysResponse, v1::MailboxError> {
    expect(answer, "claimed keys", |reply| match reply {
        Reply::Claimed(keys) => Ok(keys),
        other => Err(Box::new(other)),
    })
}

/// Asserts a refusal with `code`, returning it for further checks.
#[track_caller]
pub fn refused<T: std::fmt::Debug>(
    result: Result<T, v1::MailboxError>,
    code: &str,
) -> v1::MailboxError {
    match result {
        Err(refusal) if refusal.code == code => refusal,
        other => panic!("expected a {code:?} refusal, got {other:?}"),
    }
}

/// A [`MailboxService`] on a manual clock, called through encoded bytes like the network does.
pub struct Harness<S: ServerStore> {
    pub service: MailboxService<S>,
    pub clock: Arc<ManualClock>,
    pub metrics: Arc<Metrics>,
}

/// The source most requests come from (a peer id or an IP address, to the service).
pub const SOURCE: &[u8] = b"source-a";

impl<S: ServerStore> Harness<S> {
    pub fn new(store: S, limits: Limits) -> Harness<S> {
        let clock = ManualClock::at(0);
        let metrics = Arc::new(Metrics::default());
        let service = MailboxService::new(
            store,
            limits,
            SERVER_PEER_ID.to_vec(),
            clock.clone(),
            metrics.clone(),
        );
        Harness {
            service,
            clock,
            metrics,
        }
    }

    pub fn store(&self) -> &S {
        self.service.store()
    }

    pub async fn call_from(&self, source: &[u8], op: Op) -> Answer {
        answer(&self.service.handle_bytes(source, &encode(op)).await)
    }

    pub async fn call(&self, op: Op) -> Answer {
        self.call_from(SOURCE, op).await
    }

    pub async fn deposit(
        &self,
        recipient_hash: &[u8],
        message_id: &[u8],
        envelope: &[u8],
    ) -> Result<v1::DepositReceipt, v1::MailboxError> {
        deposited(
            self.call(deposit_op(recipient_hash, message_id, envelope))
                .await,
        )
    }

    pub async fn publish(&self, signed: v1::SignedDeviceList) -> Result<u64, v1::MailboxError> {
        published(self.call(publish_op(signed)).await)
    }

    pub async fn nonce(&self) -> Vec<u8> {
        challenged(self.call(challenge_op()).await)
            .expect("a challenge")
            .nonce
    }

    /// Answers `nonce` for `device_ed25519`, signing with `signer`.
    pub async fn authenticate_with(
        &self,
        nonce: &[u8],
        user: &TestUser,
        device_ed25519: [u8; 32],
        signer: &DeviceAccount,
    ) -> Result<v1::Session, v1::MailboxError> {
        let op = authenticate_op(SERVER_PEER_ID, nonce, &user.key(), device_ed25519, signer);
        session(self.call(op).await)
    }

    /// A fresh challenge answered by the user's device `device_index`.
    pub async fn log_in(
        &self,
        user: &TestUser,
        device_index: usize,
    ) -> Result<v1::Session, v1::MailboxError> {
        let nonce = self.nonce().await;
        let device = &user.devices[device_index];
        self.authenticate_with(&nonce, user, device.ed25519(), device)
            .await
    }

    pub async fn fetch(
        &self,
        token: &[u8],
        after: u64,
        limit: u32,
    ) -> Result<v1::FetchPage, v1::MailboxError> {
        page(self.call(fetch_op(token, after, limit)).await)
    }

    pub async fn ack(
        &self,
        token: &[u8],
        message_ids: &[Vec<u8>],
    ) -> Result<u64, v1::MailboxError> {
        acked(self.call(ack_op(token, message_ids)).await)
    }
}

/// A message id made from a number.
pub fn message_id(n: u8) -> Vec<u8> {
    let mut id = vec![0u8; 16];
    id[15] = n;
    id[0] = 0xa0;
    id
}

pub async fn sqlite_store() -> (tempfile::TempDir, SqliteServerStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteServerStore::open(&dir.path().join("server.db"))
        .await
        .unwrap();
    (dir, store)
}

/// A [`PgServerStore`] on a fresh database, or `None` when PostgreSQL tests are skipped.
pub async fn postgres_store() -> Option<(PgDatabase, PgServerStore)> {
    let database = PgDatabase::create().await?;
    let store = PgServerStore::connect(&database.url)
        .await
        .expect("connect to the fresh test database");
    Some((database, store))
}

/// A fresh PostgreSQL database for one test, created through the admin URL.
pub use omega_testkit::pg::PgDatabase;
