//! The omnichannel inbox, first slice: channels, authenticated webhooks that store the body
//! first and answer at once, and a worker that normalizes stored bodies (omega-channels) into
//! contacts, conversations and messages — idempotently, with statuses applied monotonically.

use axum::http::HeaderMap;
use omega_auth::scope::Scope;
use omega_auth::secret_token;
use omega_channels::{InboundEvent, Source};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::auth::Principal;
use crate::error::HubError;
use crate::hub::Hub;
use crate::store::{ChannelRow, InboundRow, PrivacySettings, channel_tenant, now_ms};
use crate::tenancy::{check_name, new_id};

/// The channel kinds (webhook sources) the hub accepts.
pub fn source_of(kind: &str) -> Option<Source> {
    match kind {
        "whatsapp-wppconnect" => Some(Source::WppConnect),
        "whatsapp-evolution" => Some(Source::Evolution),
        "whatsapp-cloud" => Some(Source::CloudApi),
        "telegram" => Some(Source::Telegram),
        "omega" => Some(Source::Omega),
        _ => None,
    }
}

/// A channel to connect.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChannel {
    /// whatsapp-wppconnect, whatsapp-evolution, whatsapp-cloud, telegram or omega (an embedded
    /// Ômega node as the business identity).
    pub kind: String,
    pub name: String,
    /// WhatsApp Cloud API only: the app secret that signs webhooks (`X-Hub-Signature-256`).
    pub app_secret: Option<String>,
}

/// A connected channel; `webhook_token` appears only in the creation answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ChannelView {
    pub id: String,
    pub kind: String,
    pub name: String,
    /// Where the source posts its webhooks.
    pub webhook_path: String,
    /// WPPConnect/Evolution: send as `X-Omega-Webhook-Token` (or `?token=`); Telegram: give it to
    /// `setWebhook` as `secret_token`; Cloud API: the `hub.verify_token` of the GET handshake.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_token: Option<String>,
    pub created_ms: i64,
    /// Ômega channels: the business's `omega:` card, for customers to add.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub omega_card: Option<String>,
}

impl ChannelView {
    fn from_row(row: &ChannelRow, token: Option<String>) -> ChannelView {
        ChannelView {
            id: row.id.clone(),
            kind: row.kind.clone(),
            name: row.name.clone(),
            webhook_path: format!("/hooks/v1/{}", row.id),
            webhook_token: token,
            created_ms: row.created_ms,
            omega_card: None,
        }
    }
}

/// What the inbox worker reads once per channel per batch.
struct BatchContext {
    channel: ChannelRow,
    privacy: PrivacySettings,
    hidden: crate::privacy::HiddenSet,
}

fn secret_context(channel_id: &str) -> String {
    format!("channel:{channel_id}")
}

impl Hub {
    /// Connects a channel (plan quota enforced); the webhook token is shown once.
    pub async fn create_channel(
        &self,
        principal: &Principal,
        new: NewChannel,
    ) -> Result<ChannelView, HubError> {
        principal.require(Scope::ChannelsWrite)?;
        let Some(source) = source_of(&new.kind) else {
            return Err(HubError::bad_request(format!(
                "kind {:?}: expected whatsapp-wppconnect, whatsapp-evolution, whatsapp-cloud, telegram or omega",
                new.kind
            )));
        };
        let id = new_id();
        let secret_sealed = match (source, &new.app_secret) {
            (Source::CloudApi, Some(secret)) if !secret.is_empty() && secret.len() <= 256 => {
                Some(self.0.master.seal(&secret_context(&id), secret.as_bytes()))
            }
            (Source::CloudApi, _) => {
                return Err(HubError::bad_request(
                    "app_secret: the Cloud API app secret (1–256 bytes) is required",
                ));
            }
            (_, Some(_)) => {
                return Err(HubError::bad_request(
                    "app_secret: only whatsapp-cloud channels take one",
                ));
            }
            (_, None) => None,
        };
        let mut token_bytes = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut token_bytes);
        let token = hex::encode(token_bytes);
        let row = ChannelRow {
            tenant_id: principal.tenant.as_str().to_owned(),
            id,
            kind: new.kind.clone(),
            name: check_name("name", &new.name)?,
            webhook_token_hash: secret_token::token_hash(&token).to_vec(),
            secret_sealed,
            created_ms: now_ms(),
            credentials_sealed: None,
            session_state: None,
        };
        let (_, plan) = self.tenant_plan(&principal.tenant).await?;
        let max = plan.quotas().channels;
        if !self
            .0
            .db
            .tenant(&principal.tenant)
            .insert_channel_within(&row, max)
            .await?
        {
            return Err(HubError::quota_exceeded(plan.as_str(), "channels", max));
        }
        let event = principal
            .event("channel.created")
            .target(format!("channel/{}", row.id))
            .details(serde_json::json!({ "kind": row.kind }));
        self.0.audit.append(event).await?;
        let mut view = ChannelView::from_row(&row, Some(token));
        if source == Source::Omega {
            self.start_omega_node(&row).await?;
            view.omega_card = self.0.omega.card(&row.id);
        }
        Ok(view)
    }

    pub async fn channels(&self, principal: &Principal) -> Result<Vec<ChannelView>, HubError> {
        principal.require(Scope::InboxRead)?;
        let rows = self.0.db.tenant(&principal.tenant).channels().await?;
        Ok(rows
            .iter()
            .map(|row| {
                let mut view = ChannelView::from_row(row, None);
                view.omega_card = self.0.omega.card(&row.id);
                view
            })
            .collect())
    }

    /// A webhook delivery: authenticated the way its source does it, stored durably, then
    /// answered; normalization happens in the inbox worker.
    pub async fn ingest(
        &self,
        channel_id: &str,
        headers: &HeaderMap,
        query: &[(String, String)],
        body: &[u8],
    ) -> Result<(), HubError> {
        let unauthorized = || {
            HubError::unauthorized(
                "webhook_unauthorized",
                "this webhook delivery is not signed for this channel",
            )
        };
        let channel = self
            .0
            .db
            .channel_by_id(channel_id)
            .await?
            .ok_or_else(unauthorized)?;
        let source = source_of(&channel.kind).ok_or_else(unauthorized)?;
        let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
        let token_ok = |presented: Option<&str>| {
            presented.is_some_and(|token| {
                secret_token::ct_eq(
                    &secret_token::token_hash(token),
                    &channel.webhook_token_hash,
                )
            })
        };
        let authentic = match source {
            Source::CloudApi => {
                let sealed = channel.secret_sealed.as_deref().ok_or_else(unauthorized)?;
                let secret = self
                    .0
                    .master
                    .open(&secret_context(&channel.id), sealed)
                    .map_err(|error| HubError::internal(&error))?;
                omega_channels::cloud_api::verify_signature(
                    &secret,
                    body,
                    header("x-hub-signature-256"),
                )
                .is_ok()
            }
            Source::Telegram => token_ok(header("x-telegram-bot-api-secret-token")),
            // Ômega messages come from the embedded node, never through a webhook.
            Source::Omega => false,
            _ => {
                let from_query = query
                    .iter()
                    .find(|(key, _)| key == "token")
                    .map(|(_, value)| value.as_str());
                token_ok(header("x-omega-webhook-token").or(from_query))
            }
        };
        if !authentic {
            crate::metrics::Metrics::bump(&self.0.metrics.auth_refused);
            return Err(unauthorized());
        }
        // Parsing is microseconds and pure: a body no parser accepts is refused now (400 and a
        // diagnostic line), so the source's own logs show the refusal. Storing, normalizing
        // and scoring happen in the worker.
        if let Err(error) = omega_channels::parse(source, body) {
            crate::metrics::Metrics::bump(&self.0.metrics.webhooks_malformed);
            let message = error.to_string();
            self.diagnose(
                &channel,
                "webhook",
                format!("POST /hooks/v1/{} ({} bytes)", channel.id, body.len()),
                format!("400 refused: {message}"),
                0,
            )
            .await;
            return Err(HubError::bad_request(format!(
                "the webhook body is malformed: {message}"
            )));
        }
        let body = match source {
            Source::Evolution => omega_channels::evolution::redact_raw(body),
            _ => body.to_vec(),
        };
        self.0
            .db
            .enqueue_inbound(&InboundRow {
                id: new_id(),
                tenant_id: channel.tenant_id.clone(),
                channel_id: channel.id.clone(),
                received_ms: now_ms(),
                body,
            })
            .await?;
        self.0.inbox_wakeup.notify_one();
        Ok(())
    }

    /// The tenant's privacy settings.
    pub async fn privacy(&self, principal: &Principal) -> Result<PrivacySettings, HubError> {
        principal.require(Scope::SettingsRead)?;
        Ok(self
            .0
            .db
            .tenant(&principal.tenant)
            .privacy_settings()
            .await?)
    }

    /// Changes the privacy settings (audited with before and after); applies to deliveries
    /// normalized from now on.
    pub async fn set_privacy(
        &self,
        principal: &Principal,
        settings: PrivacySettings,
    ) -> Result<PrivacySettings, HubError> {
        principal.require(Scope::SettingsWrite)?;
        let tenant_db = self.0.db.tenant(&principal.tenant);
        let before = tenant_db.privacy_settings().await?;
        tenant_db.set_privacy_settings(settings, now_ms()).await?;
        let event = principal
            .event("settings.privacy_changed")
            .details(serde_json::json!({ "before": before, "after": settings }));
        self.0.audit.append(event).await?;
        Ok(settings)
    }

    /// Normalizes stored inbound bodies until none is pending; returns how many it handled.
    pub async fn process_inbound(&self) -> Result<usize, HubError> {
        let mut handled = 0;
        loop {
            let batch = self.0.db.pending_inbound(100).await?;
            if batch.is_empty() {
                return Ok(handled);
            }
            // Channel, privacy settings and blacklist are read once per channel per batch.
            let mut contexts = std::collections::HashMap::new();
            for row in batch {
                if !self.0.db.claim_inbound(&row.id).await? {
                    continue;
                }
                if !contexts.contains_key(&row.channel_id) {
                    let context = match self.0.db.channel_by_id(&row.channel_id).await? {
                        Some(channel) => {
                            let tenant = channel_tenant(&channel);
                            let privacy = self.0.db.tenant(&tenant).privacy_settings().await?;
                            let hidden = self.hidden_set(&tenant).await?;
                            Some(BatchContext {
                                channel,
                                privacy,
                                hidden,
                            })
                        }
                        None => None,
                    };
                    contexts.insert(row.channel_id.clone(), context);
                }
                let context = contexts.get_mut(&row.channel_id).and_then(Option::as_mut);
                let (state, error) = self.normalize(&row, context).await?;
                self.0
                    .db
                    .finish_inbound(&row.id, state, error.as_deref())
                    .await?;
                handled += 1;
            }
        }
    }

    async fn normalize(
        &self,
        row: &InboundRow,
        context: Option<&mut BatchContext>,
    ) -> Result<(&'static str, Option<String>), HubError> {
        let Some(BatchContext {
            channel,
            privacy,
            hidden,
        }) = context
        else {
            return Ok(("failed", Some("channel no longer exists".into())));
        };
        let Some(source) = source_of(&channel.kind) else {
            return Ok((
                "failed",
                Some(format!("unknown channel kind {}", channel.kind)),
            ));
        };
        let events = match omega_channels::parse(source, &row.body) {
            Ok(events) => events,
            Err(error) => return Ok(("failed", Some(error.to_string()))),
        };
        let mut unknown = 0;
        for event in &events {
            match event {
                InboundEvent::Message(message) => {
                    // A hidden person's message is purged (with this raw body); the body's
                    // other messages, if any, still go in.
                    self.take_message(channel, privacy, hidden, message).await?;
                }
                InboundEvent::Status {
                    provider_message_id,
                    status,
                    ..
                } => {
                    self.take_status(channel, provider_message_id, *status)
                        .await?;
                }
                InboundEvent::Session(session) => {
                    self.observe_session(channel, session, "webhook").await?;
                }
                InboundEvent::Unknown { .. } => {
                    crate::metrics::Metrics::bump(&self.0.metrics.inbound_unknown);
                    unknown += 1;
                }
                _ => {}
            }
        }
        Ok((
            if unknown > 0 && unknown == events.len() {
                "unknown"
            } else {
                "done"
            },
            None,
        ))
    }

    /// One normalized message into the inbox: the privacy settings, hide mode, storage (once
    /// per provider id), the monthly count, the realtime event and the lead. `true` when the
    /// message named a hidden person and was purged instead.
    pub(crate) async fn take_message(
        &self,
        channel: &ChannelRow,
        privacy: &PrivacySettings,
        hidden: &mut crate::privacy::HiddenSet,
        message: &omega_channels::NormalizedMessage,
    ) -> Result<bool, HubError> {
        let dropped = (privacy.ignore_groups && message.chat.is_group())
            || (privacy.ignore_broadcasts && message.chat.is_broadcast())
            || (privacy.skip_locked_chats && message.locked_chat);
        if dropped {
            crate::metrics::Metrics::bump(&self.0.metrics.inbound_dropped);
            return Ok(false);
        }
        let tenant = channel_tenant(channel);
        if self.purge_if_hidden(&tenant, hidden, message).await? {
            return Ok(true);
        }
        let tenant_db = self.0.db.tenant(&tenant);
        let Some(stored) = tenant_db
            .apply_message(&channel.id, message, now_ms())
            .await?
        else {
            return Ok(false);
        };
        if stored.direction == "in" {
            // Inbound messages are never refused for the quota: they are counted.
            let period = crate::tenancy::month_period(now_ms());
            tenant_db.add_usage("messages", &period, 1, None).await?;
        }
        self.publish(
            &tenant,
            "message.new",
            Scope::InboxRead,
            serde_json::json!({
                "id": stored.message_id,
                "conversation_id": stored.conversation_id,
                "contact_id": stored.contact_id,
                "channel_id": channel.id,
                "direction": stored.direction,
                "kind": stored.kind,
                "sender": message.sender.key(),
                "text": message.text,
                "status": stored.status,
                "sent_at_ms": message.sent_at_ms,
            }),
        );
        if stored.direction == "in" && !message.chat.is_broadcast() {
            self.score_lead(&tenant, &stored, message).await?;
        }
        Ok(false)
    }

    /// A delivery status of a message of this channel (applied monotonically, published).
    pub(crate) async fn take_status(
        &self,
        channel: &ChannelRow,
        provider_message_id: &str,
        status: omega_channels::DeliveryStatus,
    ) -> Result<(), HubError> {
        let tenant = channel_tenant(channel);
        if let Some((id, conversation, status)) = self
            .0
            .db
            .tenant(&tenant)
            .apply_status(&channel.id, provider_message_id, status)
            .await?
        {
            self.publish(
                &tenant,
                "message.status",
                Scope::InboxRead,
                serde_json::json!({ "id": id, "conversation_id": conversation, "status": status }),
            );
        }
        Ok(())
    }

    /// The inbox worker: wakes on every stored delivery (and every second), drains the queue.
    pub(crate) async fn inbox_worker(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        match self.0.db.requeue_interrupted_inbound().await {
            Ok(0) => {}
            Ok(count) => {
                tracing::warn!(count, "inbound bodies interrupted mid-processing requeued")
            }
            Err(error) => tracing::error!(%error, "inbound recovery"),
        }
        loop {
            if let Err(error) = self.process_inbound().await {
                tracing::error!(%error, "inbox worker");
            }
            tokio::select! {
                _ = stop.wait_for(|stop| *stop) => return,
                () = self.0.inbox_wakeup.notified() => {}
                () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            }
        }
    }
}
