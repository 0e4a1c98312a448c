//! Connector sessions of WhatsApp instances (WPPConnect, Evolution API): the sans-IO state
//! machine of `omega_channels::session` driven with real HTTP calls. On a logged-out session
//! the hub reconnects (with backoff) a few times, then resets the instance so it offers a
//! fresh QR code — still the same channel, whose id is the instance's persistent UUID. Every
//! action and transition goes to the channel's diagnostic log and to the realtime stream.

use omega_auth::scope::Scope;
use omega_channels::session::{ConnectorSession, SessionAction, SessionConfig, SessionState};
use omega_channels::{SessionEvent, Source};
use serde::Serialize;

use crate::auth::Principal;
use crate::error::HubError;
use crate::hub::Hub;
use crate::inbox::source_of;
use crate::outbound::call_source;
use crate::store::{ChannelRow, channel_tenant, now_ms};

/// A channel's connector session as the console shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionView {
    pub channel_id: String,
    /// starting, qr, connected, not_logged, reconnecting or resetting; `none` when the channel
    /// has no session (not a WhatsApp instance, or no credentials yet).
    pub state: String,
    /// The QR payload to render and scan, while the state is `qr`.
    pub qr: Option<String>,
    pub reconnects: u32,
    pub next_check_ms: Option<i64>,
}

fn has_session(source: Source) -> bool {
    matches!(source, Source::WppConnect | Source::Evolution)
}

fn state_name(state: &SessionState) -> &'static str {
    match state {
        SessionState::Starting => "starting",
        SessionState::Qr { .. } => "qr",
        SessionState::Connected => "connected",
        SessionState::NotLogged => "not_logged",
        SessionState::Reconnecting { .. } => "reconnecting",
        SessionState::Resetting => "resetting",
    }
}

impl Hub {
    fn session_config(&self) -> SessionConfig {
        let config = self.config();
        let connectors = &config.connectors;
        let ms = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
        SessionConfig {
            max_reconnects: connectors.max_reconnects,
            backoff_base_ms: ms(connectors.backoff_base_ms),
            backoff_max_ms: ms(connectors.backoff_max_ms),
            poll_interval_ms: ms(connectors.poll_interval_ms),
        }
    }

    /// Starts tracking the session of a WhatsApp instance (after its credentials are set).
    pub(crate) async fn start_session_tracking(
        &self,
        channel_id: &str,
        source: Source,
    ) -> Result<(), HubError> {
        if !has_session(source) {
            return Ok(());
        }
        let _guard = self.0.sessions_lock.lock().await;
        let session = ConnectorSession::new(now_ms());
        self.save_session(channel_id, &session).await?;
        self.0.outbound_wakeup.notify_one();
        Ok(())
    }

    async fn save_session(
        &self,
        channel_id: &str,
        session: &ConnectorSession,
    ) -> Result<(), HubError> {
        let json = serde_json::to_string(session).map_err(|error| HubError::internal(&error))?;
        self.0
            .db
            .set_session(channel_id, &json, session.due_at_ms())
            .await?;
        Ok(())
    }

    fn load_session(channel: &ChannelRow) -> Option<ConnectorSession> {
        channel
            .session_state
            .as_deref()
            .and_then(|json| serde_json::from_str(json).ok())
    }

    /// Publishes a transition and logs it.
    async fn session_changed(
        &self,
        channel: &ChannelRow,
        session: &ConnectorSession,
        transition: &omega_channels::session::Transition,
        request: String,
        latency_ms: i64,
    ) {
        self.diagnose(
            channel,
            "session",
            request,
            format!(
                "{} → {} ({})",
                state_name(&transition.from),
                state_name(&transition.to),
                transition.cause
            ),
            latency_ms,
        )
        .await;
        let qr = match session.state() {
            SessionState::Qr { code } => Some(code.clone()),
            _ => None,
        };
        self.publish(
            &channel_tenant(channel),
            "channel.session",
            Scope::ChannelsWrite,
            serde_json::json!({
                "channel_id": channel.id,
                "state": state_name(session.state()),
                "qr": qr,
                "reconnects": session.reconnects(),
            }),
        );
    }

    /// A session event reported by the source's webhook.
    pub(crate) async fn observe_session(
        &self,
        channel: &ChannelRow,
        event: &SessionEvent,
        origin: &str,
    ) -> Result<(), HubError> {
        let _guard = self.0.sessions_lock.lock().await;
        // Fresh from the database: the batch's copy may predate the session worker's update.
        let Some(channel) = self.0.db.channel_by_id(&channel.id).await? else {
            return Ok(());
        };
        let Some(mut session) = Self::load_session(&channel) else {
            self.diagnose(
                &channel,
                "session",
                origin.to_owned(),
                format!("{event:?} (no session tracked)"),
                0,
            )
            .await;
            return Ok(());
        };
        if let Some(transition) = session.observe(event, now_ms(), &self.session_config()) {
            self.save_session(&channel.id, &session).await?;
            self.session_changed(&channel, &session, &transition, origin.to_owned(), 0)
                .await;
        }
        Ok(())
    }

    /// Performs every due session action once; returns how many it performed.
    pub async fn process_sessions(&self) -> Result<usize, HubError> {
        let config = self.session_config();
        let mut performed = 0;
        for channel in self.0.db.due_sessions(now_ms()).await? {
            let _guard = self.0.sessions_lock.lock().await;
            let Some(mut session) = Self::load_session(&channel) else {
                continue;
            };
            let polled = session.poll(now_ms(), &config);
            while let Some(transition) = session.poll_transition() {
                self.session_changed(&channel, &session, &transition, "(scheduled)".into(), 0)
                    .await;
            }
            let Some(action) = polled else {
                self.save_session(&channel.id, &session).await?;
                continue;
            };
            performed += 1;
            let credentials = match self.channel_credentials(&channel)? {
                Some(credentials) => credentials,
                None => {
                    self.0.db.set_session(&channel.id, "null", None).await?;
                    continue;
                }
            };
            let public_url = self.config().connectors.public_url.clone();
            let webhook =
                (!public_url.is_empty()).then(|| format!("{public_url}/hooks/v1/{}", channel.id));
            let request = match &action {
                SessionAction::CheckStatus => {
                    omega_channels::outbound::session_status(&credentials)
                }
                SessionAction::StartSession => {
                    omega_channels::outbound::start_session(&credentials, webhook.as_deref())
                }
                SessionAction::ResetInstance => {
                    omega_channels::outbound::reset_session(&credentials)
                }
            };
            let request = match request {
                Ok(request) => request,
                Err(error) => {
                    self.diagnose(
                        &channel,
                        "session",
                        format!("{action:?}"),
                        format!("refused: {error}"),
                        0,
                    )
                    .await;
                    self.0.db.set_session(&channel.id, "null", None).await?;
                    continue;
                }
            };
            let described = format!(
                "{:?}: {} {}",
                action,
                request.method,
                request.redacted_url()
            );
            let call = call_source(request).await;
            let source = credentials.source();
            let report = match (call.status, &call.error) {
                (Some(status), _) => {
                    omega_channels::outbound::session_report(source, status, &call.body)
                        .map_err(|error| error.to_string())
                }
                (None, error) => Err(error.clone().unwrap_or_else(|| "no answer".into())),
            };
            let now = now_ms();
            let transition = match &report {
                Ok(event) => session.observe(event, now, &config),
                Err(reason) => session.action_failed(&action, reason, now, &config),
            };
            self.save_session(&channel.id, &session).await?;
            match transition {
                Some(transition) => {
                    self.session_changed(
                        &channel,
                        &session,
                        &transition,
                        described,
                        call.latency_ms,
                    )
                    .await;
                }
                None => {
                    let outcome = match &report {
                        Ok(event) => format!("{event:?}; still {}", state_name(session.state())),
                        Err(reason) => format!("failed: {reason}"),
                    };
                    self.diagnose(&channel, "session", described, outcome, call.latency_ms)
                        .await;
                }
            }
        }
        Ok(performed)
    }

    /// A channel's connector session.
    pub async fn session(
        &self,
        principal: &Principal,
        channel_id: &str,
    ) -> Result<SessionView, HubError> {
        principal.require(Scope::ChannelsWrite)?;
        let channel = self
            .0
            .db
            .tenant(&principal.tenant)
            .channel(channel_id)
            .await?
            .ok_or_else(|| HubError::not_found("channel"))?;
        let tracked = source_of(&channel.kind)
            .filter(|source| has_session(*source))
            .and_then(|_| Self::load_session(&channel));
        Ok(match tracked {
            Some(session) => SessionView {
                channel_id: channel.id,
                state: state_name(session.state()).to_owned(),
                qr: match session.state() {
                    SessionState::Qr { code } => Some(code.clone()),
                    _ => None,
                },
                reconnects: session.reconnects(),
                next_check_ms: session.due_at_ms(),
            },
            None => SessionView {
                channel_id: channel.id,
                state: "none".into(),
                qr: None,
                reconnects: 0,
                next_check_ms: None,
            },
        })
    }
}
