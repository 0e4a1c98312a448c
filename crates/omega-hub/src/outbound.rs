//! Replies: an agent answers from the inbox; the reply becomes a durable job (one per
//! idempotency key) and a pending message; the outbound worker calls the source's REST API
//! (request shapes in `omega_channels::outbound`), retrying 5xx, 408, 429 and timeouts with
//! jittered exponential backoff, and records every attempt in the channel's diagnostic log.
//! Source credentials are sealed with the master key and never leave the hub.

use std::time::{Duration, Instant};

use omega_auth::scope::Scope;
use omega_channels::Address;
use omega_channels::outbound::{
    Credentials, HttpRequest, OutboundText, RetryPolicy, SendOutcome, send_outcome, send_text,
};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::auth::Principal;
use crate::error::HubError;
use crate::hub::Hub;
use crate::inbox::source_of;
use crate::store::{ChannelRow, DiagnosticRow, OutboundJobRow, channel_tenant, now_ms};
use crate::tenancy::new_id;

/// How long one call to a source may take before it counts as a timeout (retried).
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// The largest answer body read from a source.
const MAX_ANSWER: u64 = 1 << 20;

/// A reply to send.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyRequest {
    pub text: String,
    /// The provider message id to quote, if any.
    pub reply_to: Option<String>,
}

/// A queued (or already known) reply.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReplyView {
    pub job_id: String,
    pub message_id: String,
    pub conversation_id: String,
    /// queued, sending, sent or failed.
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub idempotency_key: String,
}

impl ReplyView {
    fn from_row(row: &OutboundJobRow) -> ReplyView {
        ReplyView {
            job_id: row.id.clone(),
            message_id: row.message_id.clone(),
            conversation_id: row.conversation_id.clone(),
            state: row.state.clone(),
            attempts: row.attempts,
            last_error: row.last_error.clone(),
            idempotency_key: row.idempotency_key.clone(),
        }
    }
}

/// What one HTTP call to a source came to.
pub(crate) struct CallResult {
    pub status: Option<u16>,
    pub body: Vec<u8>,
    pub error: Option<String>,
    pub latency_ms: i64,
}

/// Performs one request (blocking client on the blocking pool; answers of any status are
/// returned, network failures and timeouts as `error`).
pub(crate) async fn call_source(request: HttpRequest) -> CallResult {
    let started = Instant::now();
    let outcome = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(CALL_TIMEOUT))
            .build()
            .into();
        let mut builder = ureq::http::Request::builder()
            .method(request.method)
            .uri(&request.url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let built = builder
            .body(request.body.unwrap_or_default())
            .map_err(|error| format!("bad request: {error}"))?;
        let mut response = agent.run(built).map_err(|error| match error {
            ureq::Error::Timeout(_) => "timeout".to_owned(),
            other => format!("network: {other}"),
        })?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER)
            .read_to_vec()
            .unwrap_or_default();
        Ok::<_, String>((status, body))
    })
    .await
    .unwrap_or_else(|error| Err(format!("call task failed: {error}")));
    let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    match outcome {
        Ok((status, body)) => CallResult {
            status: Some(status),
            body,
            error: None,
            latency_ms,
        },
        Err(error) => CallResult {
            status: None,
            body: Vec::new(),
            error: Some(error),
            latency_ms,
        },
    }
}

fn credentials_context(channel_id: &str) -> String {
    format!("channel-credentials:{channel_id}")
}

impl Hub {
    /// A channel's outbound credentials, opened (`None` when not configured).
    pub(crate) fn channel_credentials(
        &self,
        channel: &ChannelRow,
    ) -> Result<Option<Credentials>, HubError> {
        let Some(sealed) = channel.credentials_sealed.as_deref() else {
            return Ok(None);
        };
        let opened = self
            .0
            .master
            .open(&credentials_context(&channel.id), sealed)
            .map_err(|error| HubError::internal(&error))?;
        serde_json::from_slice(&opened)
            .map(Some)
            .map_err(|error| HubError::internal(&error))
    }

    /// Sets (or replaces) the credentials the hub uses to send through a channel's source.
    /// They are sealed at rest and never shown again. A WhatsApp instance (WPPConnect or
    /// Evolution) also gets its connector session started.
    pub async fn set_channel_credentials(
        &self,
        principal: &Principal,
        channel_id: &str,
        credentials: Credentials,
    ) -> Result<(), HubError> {
        principal.require(Scope::ChannelsWrite)?;
        let tenant_db = self.0.db.tenant(&principal.tenant);
        let channel = tenant_db
            .channel(channel_id)
            .await?
            .ok_or_else(|| HubError::not_found("channel"))?;
        let source = source_of(&channel.kind).ok_or_else(|| HubError::not_found("channel"))?;
        if credentials.source() != source {
            return Err(HubError::bad_request(format!(
                "kind: this is a {} channel; its credentials are of that kind",
                channel.kind
            )));
        }
        credentials
            .validate()
            .map_err(|error| HubError::bad_request(error.to_string()))?;
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(&credentials).map_err(|error| HubError::internal(&error))?,
        );
        let sealed = self
            .0
            .master
            .seal(&credentials_context(&channel.id), &plain);
        tenant_db
            .set_channel_credentials(&channel.id, Some(&sealed))
            .await?;
        let event = principal
            .event("channel.credentials_set")
            .target(format!("channel/{}", channel.id));
        self.0.audit.append(event).await?;
        self.start_session_tracking(&channel.id, source).await?;
        Ok(())
    }

    /// Queues a reply in a conversation. With an idempotency key already used for the same
    /// reply, answers the existing job (`false`) and sends nothing again.
    pub async fn reply(
        &self,
        principal: &Principal,
        conversation_id: &str,
        request: ReplyRequest,
        idempotency_key: Option<String>,
    ) -> Result<(bool, ReplyView), HubError> {
        principal.require(Scope::InboxWrite)?;
        let text = request.text;
        if text.trim().is_empty() || text.chars().count() > 4096 {
            return Err(HubError::bad_request("text: 1 to 4096 characters"));
        }
        if let Some(reply_to) = &request.reply_to
            && (reply_to.is_empty() || reply_to.len() > 256)
        {
            return Err(HubError::bad_request("reply_to: 1 to 256 bytes"));
        }
        let key = match idempotency_key {
            Some(key) if !key.is_empty() && key.len() <= 128 && key.is_ascii() => key,
            Some(_) => {
                return Err(HubError::bad_request(
                    "Idempotency-Key: 1 to 128 ASCII characters",
                ));
            }
            None => new_id(),
        };
        let tenant_db = self.0.db.tenant(&principal.tenant);
        if let Some(existing) = tenant_db.outbound_by_key(&key).await? {
            return existing_job(existing, conversation_id, &text);
        }
        let conversation = tenant_db
            .conversation(conversation_id)
            .await?
            .ok_or_else(|| HubError::not_found("conversation"))?;
        let channel = tenant_db
            .channel(&conversation.channel_id)
            .await?
            .ok_or_else(|| HubError::not_found("conversation"))?;
        if channel.credentials_sealed.is_none() && channel.kind != "omega" {
            return Err(HubError::new(
                axum::http::StatusCode::CONFLICT,
                "channel_not_configured",
                "this channel has no outbound credentials yet (PUT /api/v1/channels/{id}/credentials)",
            ));
        }
        let to = Address::from_key(&conversation.chat_key)
            .filter(|address| !address.is_broadcast())
            .ok_or_else(|| {
                HubError::bad_request("this conversation cannot be answered (a broadcast)")
            })?;
        let (_, plan) = self.tenant_plan(&principal.tenant).await?;
        let limit = plan.quotas().messages_per_month;
        let period = crate::tenancy::month_period(now_ms());
        if tenant_db
            .add_usage("messages", &period, 1, limit)
            .await?
            .is_none()
        {
            return Err(HubError::quota_exceeded(
                plan.as_str(),
                "messages this month",
                limit,
            ));
        }
        let now = now_ms();
        let job = OutboundJobRow {
            tenant_id: principal.tenant.as_str().to_owned(),
            id: new_id(),
            idempotency_key: key.clone(),
            channel_id: channel.id.clone(),
            conversation_id: conversation.id.clone(),
            message_id: uuid::Uuid::now_v7().to_string(),
            to_key: to.key(),
            text,
            reply_to: request.reply_to,
            state: "queued".into(),
            attempts: 0,
            next_attempt_ms: now,
            last_error: None,
            created_by: principal.subject(),
            created_ms: now,
        };
        if !tenant_db
            .queue_outbound(&job, &format!("agent:{}", principal.subject()))
            .await?
        {
            // Lost a race with the same key.
            let existing = tenant_db
                .outbound_by_key(&key)
                .await?
                .ok_or_else(|| HubError::internal(&"idempotency key vanished"))?;
            return existing_job(existing, conversation_id, &job.text);
        }
        let event = principal
            .event("inbox.reply_queued")
            .target(format!("conversation/{}", conversation.id))
            .details(serde_json::json!({ "job": job.id }));
        self.0.audit.append(event).await?;
        self.publish(
            &principal.tenant,
            "message.new",
            Scope::InboxRead,
            serde_json::json!({
                "id": job.message_id,
                "conversation_id": job.conversation_id,
                "channel_id": job.channel_id,
                "direction": "out",
                "kind": "text",
                "text": job.text,
                "status": "pending",
                "sent_at_ms": now,
            }),
        );
        self.0.outbound_wakeup.notify_one();
        Ok((true, ReplyView::from_row(&job)))
    }

    /// Sends every due reply once (one attempt each); returns how many attempts it made.
    pub async fn process_outbound(&self) -> Result<usize, HubError> {
        let mut attempts = 0;
        let jobs = self.0.db.due_outbound(now_ms(), 50).await?;
        for job in jobs {
            if !self.0.db.claim_outbound(&job.tenant_id, &job.id).await? {
                continue;
            }
            attempts += 1;
            self.attempt(job).await?;
        }
        Ok(attempts)
    }

    async fn attempt(&self, mut job: OutboundJobRow) -> Result<(), HubError> {
        job.attempts += 1;
        let channel = self.0.db.channel_by_id(&job.channel_id).await?;
        let tenant = crate::store::TenantId::new(job.tenant_id.clone());
        if let Some(omega) = channel.as_ref().filter(|channel| channel.kind == "omega") {
            return self.attempt_omega(&tenant, &job, omega).await;
        }
        // A retry after an answer that did not say whether the message went out (504, a
        // timeout): if the source has since echoed it back (WhatsApp reports our own sends as
        // `fromMe` messages), that echo is this reply, so it is adopted instead of sent twice.
        if job.attempts > 1
            && let Some(channel) = &channel
            && let Some(provider_message_id) =
                self.0.db.tenant(&tenant).unclaimed_echo(&job).await?
        {
            self.diagnose(
                channel,
                "send",
                "(not sent again)".into(),
                format!(
                    "sent: the source echoed the reply before retry {}",
                    job.attempts
                ),
                0,
            )
            .await;
            return self
                .complete_sent(&tenant, &job, &provider_message_id)
                .await;
        }
        let prepared = match &channel {
            None => Err("the channel no longer exists".to_owned()),
            Some(channel) => match self.channel_credentials(channel) {
                Ok(Some(credentials)) => match Address::from_key(&job.to_key) {
                    Some(to) => send_text(
                        &credentials,
                        &OutboundText {
                            to: &to,
                            text: &job.text,
                            reply_to: job.reply_to.as_deref(),
                        },
                    )
                    .map(|request| (credentials.source(), request))
                    .map_err(|error| error.to_string()),
                    None => Err("the recipient address is not valid".to_owned()),
                },
                Ok(None) => Err("the channel has no outbound credentials".to_owned()),
                Err(error) => Err(error.to_string()),
            },
        };
        let (source, request) = match prepared {
            Ok(prepared) => prepared,
            Err(reason) => {
                return self
                    .give_up(&tenant, &job, channel.as_ref(), &reason, None)
                    .await;
            }
        };
        let described = format!("{} {}", request.method, request.redacted_url());
        let call = call_source(request).await;
        let outcome = match (call.status, &call.error) {
            (Some(status), _) => send_outcome(source, status, &call.body),
            (None, error) => SendOutcome::Retry {
                after: None,
                reason: error.clone().unwrap_or_else(|| "no answer".into()),
            },
        };
        let status_text = call
            .status
            .map_or_else(|| "no answer".to_owned(), |s| s.to_string());
        match outcome {
            SendOutcome::Sent {
                provider_message_id,
            } => {
                if let Some(channel) = &channel {
                    self.diagnose(
                        channel,
                        "send",
                        described,
                        format!("{status_text} sent (attempt {})", job.attempts),
                        call.latency_ms,
                    )
                    .await;
                }
                self.complete_sent(&tenant, &job, &provider_message_id)
                    .await
            }
            SendOutcome::Retry { after, reason } => {
                let connectors = &self.config().connectors;
                let policy = RetryPolicy {
                    max_attempts: connectors.send_max_attempts,
                    base: Duration::from_millis(connectors.send_backoff_base_ms),
                    max: Duration::from_millis(connectors.send_backoff_max_ms),
                };
                if policy.exhausted(u32::try_from(job.attempts).unwrap_or(u32::MAX)) {
                    let reason = format!("{reason} (gave up after {} attempts)", job.attempts);
                    return self
                        .give_up(
                            &tenant,
                            &job,
                            channel.as_ref(),
                            &reason,
                            Some((described, status_text, call.latency_ms)),
                        )
                        .await;
                }
                let jitter: f64 = rand::thread_rng().r#gen();
                let backoff = policy.delay(u32::try_from(job.attempts - 1).unwrap_or(0), jitter);
                let mut delay = after.map_or(backoff, |after| after.max(backoff));
                if matches!(call.status, None | Some(500 | 502 | 504)) {
                    delay = delay.max(Duration::from_millis(connectors.send_echo_wait_ms));
                }
                let next = now_ms() + i64::try_from(delay.as_millis()).unwrap_or(60_000);
                if let Some(channel) = &channel {
                    self.diagnose(
                        channel,
                        "send",
                        described,
                        format!(
                            "{status_text} will retry in {} ms (attempt {}): {reason}",
                            delay.as_millis(),
                            job.attempts
                        ),
                        call.latency_ms,
                    )
                    .await;
                }
                crate::metrics::Metrics::bump(&self.0.metrics.outbound_retried);
                self.0
                    .db
                    .finish_outbound(&job.tenant_id, &job.id, "queued", next, Some(&reason))
                    .await?;
                Ok(())
            }
            SendOutcome::Failed { reason } => {
                self.give_up(
                    &tenant,
                    &job,
                    channel.as_ref(),
                    &reason,
                    Some((described, status_text, call.latency_ms)),
                )
                .await
            }
        }
    }

    /// A reply through an embedded Ômega node: the node's outbox delivers it (directly, via the
    /// mailbox, with its own retries), so one hand-over is the whole send.
    async fn attempt_omega(
        &self,
        tenant: &crate::store::TenantId,
        job: &OutboundJobRow,
        channel: &ChannelRow,
    ) -> Result<(), HubError> {
        let started = std::time::Instant::now();
        let to = Address::from_key(&job.to_key);
        let sent = match &to {
            Some(to) => self.omega_send(&channel.id, to, &job.text).await,
            None => Err("the recipient address is not valid".into()),
        };
        let latency = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        match sent {
            Ok(message_id) => {
                self.diagnose(
                    channel,
                    "send",
                    "omega node send_text".into(),
                    "queued in the node's outbox".into(),
                    latency,
                )
                .await;
                self.complete_sent(tenant, job, &message_id).await?;
                // The node may have reported delivery before the row carried its id.
                self.omega_catch_up_status(channel, &message_id).await
            }
            Err(reason) => {
                self.give_up(tenant, job, Some(channel), &reason, None)
                    .await
            }
        }
    }

    /// Records a reply as sent under the source's id and tells the console.
    async fn complete_sent(
        &self,
        tenant: &crate::store::TenantId,
        job: &OutboundJobRow,
        provider_message_id: &str,
    ) -> Result<(), HubError> {
        self.0
            .db
            .finish_outbound(&job.tenant_id, &job.id, "sent", now_ms(), None)
            .await?;
        self.0
            .db
            .tenant(tenant)
            .mark_outbound_sent(&job.message_id, provider_message_id)
            .await?;
        crate::metrics::Metrics::bump(&self.0.metrics.outbound_sent);
        self.publish(
            tenant,
            "message.status",
            Scope::InboxRead,
            serde_json::json!({ "id": job.message_id, "conversation_id": job.conversation_id, "status": "sent" }),
        );
        Ok(())
    }

    async fn give_up(
        &self,
        tenant: &crate::store::TenantId,
        job: &OutboundJobRow,
        channel: Option<&ChannelRow>,
        reason: &str,
        call: Option<(String, String, i64)>,
    ) -> Result<(), HubError> {
        if let Some(channel) = channel {
            let (request, status, latency) =
                call.unwrap_or_else(|| ("(not sent)".into(), "refused".into(), 0));
            self.diagnose(
                channel,
                "send",
                request,
                format!("{status} failed: {reason}"),
                latency,
            )
            .await;
        }
        self.0
            .db
            .finish_outbound(&job.tenant_id, &job.id, "failed", now_ms(), Some(reason))
            .await?;
        self.0
            .db
            .tenant(tenant)
            .mark_outbound_failed(&job.message_id)
            .await?;
        crate::metrics::Metrics::bump(&self.0.metrics.outbound_failed);
        self.publish(
            tenant,
            "message.status",
            Scope::InboxRead,
            serde_json::json!({ "id": job.message_id, "conversation_id": job.conversation_id, "status": "failed", "error": reason }),
        );
        Ok(())
    }

    /// Appends a line to a channel's diagnostic log (a failure to log is itself logged, never
    /// fatal to the operation it describes).
    pub(crate) async fn diagnose(
        &self,
        channel: &ChannelRow,
        kind: &str,
        request: String,
        outcome: String,
        latency_ms: i64,
    ) {
        let line = DiagnosticRow {
            id: uuid::Uuid::now_v7().to_string(),
            at_ms: now_ms(),
            kind: kind.to_owned(),
            request,
            outcome,
            latency_ms,
        };
        if let Err(error) = self
            .0
            .db
            .add_diagnostic(channel_tenant(channel).as_str(), &channel.id, &line)
            .await
        {
            tracing::error!(%error, channel = %channel.id, "diagnostic log write failed");
        }
    }

    /// A channel's diagnostic log, newest first.
    pub async fn diagnostics(
        &self,
        principal: &Principal,
        channel_id: &str,
    ) -> Result<Vec<DiagnosticRow>, HubError> {
        principal.require(Scope::ChannelsWrite)?;
        let tenant_db = self.0.db.tenant(&principal.tenant);
        tenant_db
            .channel(channel_id)
            .await?
            .ok_or_else(|| HubError::not_found("channel"))?;
        Ok(tenant_db
            .diagnostics(channel_id, crate::store::DIAGNOSTICS_KEPT)
            .await?)
    }

    /// The outbound worker: wakes on every queued reply (and every second).
    pub(crate) async fn outbound_worker(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        match self.0.db.abandon_in_flight_outbound().await {
            Ok(0) => {}
            Ok(count) => tracing::warn!(count, "replies interrupted mid-send marked failed"),
            Err(error) => tracing::error!(%error, "outbound recovery"),
        }
        loop {
            if let Err(error) = self.process_outbound().await {
                tracing::error!(%error, "outbound worker");
            }
            if let Err(error) = self.process_sessions().await {
                tracing::error!(%error, "session worker");
            }
            tokio::select! {
                _ = stop.wait_for(|stop| *stop) => return,
                () = self.0.outbound_wakeup.notified() => {}
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    }
}

/// The answer for a reused idempotency key: the same job when the request is the same, a
/// conflict when the key is reused for something else.
fn existing_job(
    existing: OutboundJobRow,
    conversation_id: &str,
    text: &str,
) -> Result<(bool, ReplyView), HubError> {
    if existing.conversation_id != conversation_id || existing.text != text {
        return Err(HubError::new(
            axum::http::StatusCode::CONFLICT,
            "idempotency_key_reused",
            "this Idempotency-Key was used for a different reply",
        ));
    }
    Ok((false, ReplyView::from_row(&existing)))
}
