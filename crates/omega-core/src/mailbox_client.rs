//! The node's side of its home mailbox: publish the device list, keep the prekey pool topped up,
//! authenticate with the server's challenge, fetch waiting envelopes in order, hand them to the
//! engine and ack the ones it is done with. Runs as one task; signing and decrypting happen in the
//! engine (the only holder of the device account), reached through commands.

use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use omega_net::NetHandle;
use omega_proto::v1;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, warn};

use crate::delivery::{MailboxFailure, mailbox_request};
use crate::engine::Command;

/// One-time keys kept in the directory; refilled when it falls under half.
pub const PRE_KEY_POOL: u64 = 100;

/// Page size asked for.
const PAGE: u32 = 200;

pub(crate) struct MailboxClient {
    pub net: NetHandle,
    pub server: (PeerId, Vec<Multiaddr>),
    pub commands: mpsc::Sender<Command>,
    /// My current device list (republished whenever it changes).
    pub devices: watch::Receiver<v1::SignedDeviceList>,
    pub poll: Duration,
    pub kick: mpsc::Receiver<()>,
    pub stop: watch::Receiver<bool>,
    pub stats: std::sync::Arc<crate::model::Stats>,
}

struct Session {
    token: Vec<u8>,
    expires_ms: u64,
}

impl MailboxClient {
    pub(crate) async fn run(mut self) {
        let mut session: Option<Session> = None;
        let mut published = false;
        let mut failures = 0u32;
        loop {
            match self.sync(&mut session, &mut published).await {
                Ok(()) => {
                    failures = 0;
                    crate::model::Stats::bump(&self.stats.mailbox_syncs);
                }
                Err(failure) => {
                    failures = failures.saturating_add(1);
                    if matches!(&failure, MailboxFailure::Refused { code, .. } if code == "unauthorized" || code == "unknown_device")
                    {
                        // Also what a revoked device hears: its user's list no longer names it.
                        crate::model::Stats::bump(&self.stats.mailbox_refused);
                        session = None;
                        published = false;
                    }
                    debug!(%failure, "mailbox sync failed");
                }
            }
            let wait = if failures == 0 {
                self.poll
            } else {
                (self.poll * failures.min(6)).min(Duration::from_secs(60))
            };
            tokio::select! {
                _ = self.stop.changed() => return,
                Ok(()) = self.devices.changed() => published = false,
                _ = tokio::time::sleep(wait) => {}
                Some(()) = self.kick.recv() => {}
            }
            if *self.stop.borrow() {
                return;
            }
        }
    }

    async fn sync(
        &self,
        session: &mut Option<Session>,
        published: &mut bool,
    ) -> Result<(), MailboxFailure> {
        if !*published {
            let publish = v1::mailbox_request::Op::PublishDevices(v1::PublishDevices {
                devices: Some(self.devices.borrow().clone()),
            });
            match mailbox_request(&self.net, &self.server, publish).await {
                Ok(_) => {}
                // A newer list is already there (published by another of our devices): fine.
                Err(MailboxFailure::Refused { code, .. }) if code == "stale_device_list" => {}
                Err(failure) => return Err(failure),
            }
            *published = true;
        }
        let now = crate::now_ms();
        if session.as_ref().is_none_or(|s| s.expires_ms <= now + 5_000) {
            *session = Some(self.authenticate().await?);
            // A fresh session: make sure senders can start sessions with us while we are away.
            let token = session
                .as_ref()
                .map(|s| s.token.clone())
                .unwrap_or_default();
            self.top_up(&token).await?;
        }
        let token = session
            .as_ref()
            .map(|s| s.token.clone())
            .unwrap_or_default();
        self.drain(&token).await
    }

    async fn authenticate(&self) -> Result<Session, MailboxFailure> {
        let nonce = match mailbox_request(
            &self.net,
            &self.server,
            v1::mailbox_request::Op::Challenge(v1::ChallengeRequest {}),
        )
        .await?
        {
            v1::mailbox_response::Result::Challenge(challenge) => challenge.nonce,
            _ => {
                return Err(MailboxFailure::Network(
                    "unexpected answer to a challenge".into(),
                ));
            }
        };
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::SignMailboxAuth {
                server_peer_id: self.server.0.to_bytes(),
                nonce: nonce.clone(),
                reply,
            })
            .await
            .map_err(|_| MailboxFailure::Network("node stopping".into()))?;
        let auth = answer
            .await
            .map_err(|_| MailboxFailure::Network("node stopping".into()))?;
        match mailbox_request(
            &self.net,
            &self.server,
            v1::mailbox_request::Op::Authenticate(auth),
        )
        .await?
        {
            v1::mailbox_response::Result::Session(session) => Ok(Session {
                token: session.token,
                expires_ms: session.expires_ms,
            }),
            _ => Err(MailboxFailure::Network(
                "unexpected answer to authenticate".into(),
            )),
        }
    }

    /// Uploads fresh one-time keys (and a new fallback key) when the directory runs low.
    async fn top_up(&self, token: &[u8]) -> Result<(), MailboxFailure> {
        // An empty upload tells us the pool size.
        let pool = match mailbox_request(
            &self.net,
            &self.server,
            v1::mailbox_request::Op::UploadPreKeys(v1::UploadPreKeys {
                token: token.to_vec(),
                one_time_keys: Vec::new(),
                fallback: None,
            }),
        )
        .await?
        {
            v1::mailbox_response::Result::Uploaded(receipt) => receipt.pool,
            _ => {
                return Err(MailboxFailure::Network(
                    "unexpected answer to upload".into(),
                ));
            }
        };
        if pool >= PRE_KEY_POOL / 2 {
            return Ok(());
        }
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::IssuePreKeys {
                count: (PRE_KEY_POOL - pool) as usize,
                reply,
            })
            .await
            .map_err(|_| MailboxFailure::Network("node stopping".into()))?;
        let Ok(Some((one_time_keys, fallback))) = answer.await else {
            return Err(MailboxFailure::Network("could not issue keys".into()));
        };
        mailbox_request(
            &self.net,
            &self.server,
            v1::mailbox_request::Op::UploadPreKeys(v1::UploadPreKeys {
                token: token.to_vec(),
                one_time_keys,
                fallback,
            }),
        )
        .await?;
        Ok(())
    }

    /// Fetches every waiting envelope, in order, and acks what the engine finished.
    async fn drain(&self, token: &[u8]) -> Result<(), MailboxFailure> {
        let mut after = 0u64;
        loop {
            let page = match mailbox_request(
                &self.net,
                &self.server,
                v1::mailbox_request::Op::Fetch(v1::Fetch {
                    token: token.to_vec(),
                    after,
                    limit: PAGE,
                }),
            )
            .await?
            {
                v1::mailbox_response::Result::Page(page) => page,
                _ => return Err(MailboxFailure::Network("unexpected answer to fetch".into())),
            };
            let Some(last) = page.envelopes.last() else {
                return Ok(());
            };
            after = last.cursor;
            let envelopes = page
                .envelopes
                .into_iter()
                .map(|stored| (stored.message_id, stored.envelope))
                .collect();
            let (reply, answer) = oneshot::channel();
            self.commands
                .send(Command::FromMailbox { envelopes, reply })
                .await
                .map_err(|_| MailboxFailure::Network("node stopping".into()))?;
            let done = answer
                .await
                .map_err(|_| MailboxFailure::Network("node stopping".into()))?;
            if !done.is_empty()
                && let Err(failure) = mailbox_request(
                    &self.net,
                    &self.server,
                    v1::mailbox_request::Op::Ack(v1::MailboxAck {
                        token: token.to_vec(),
                        message_ids: done,
                    }),
                )
                .await
            {
                // Not fatal: unacked envelopes come back and are recognized as duplicates.
                warn!(%failure, "mailbox ack failed");
            }
            if !page.more {
                return Ok(());
            }
        }
    }
}
