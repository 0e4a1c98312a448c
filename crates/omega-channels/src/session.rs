//! The lifecycle of one unofficial WhatsApp session (WPPConnect, Evolution API), as a
//! sans-IO state machine: no clock, no HTTP; the caller passes `now_ms` and performs the
//! actions.
//!
//! ```text
//!             StartSession          Qr{code} ──(scanned)──▶ Connected ◀── any Connected
//!   Starting ─────────────▶ answer ─┤                          │
//!       ▲                           └ NotLogged/Disconnected ◀─┘ (or failure)
//!       │                                   │ backoff(0)
//!       │                                   ▼
//!       │       Reconnecting{1} ─ fails ─▶ backoff(1) ─▶ Reconnecting{2} … {max}
//!       │                                                      │ fails, backoff(max)
//!       └──────── reset answered ◀── Resetting ◀─ ResetInstance ┘
//! ```
//!
//! The driver loop: call [`ConnectorSession::poll`] when [`ConnectorSession::due_at_ms`]
//! comes; perform the action it returns (with [`crate::outbound::session_status`],
//! [`crate::outbound::start_session`] or [`crate::outbound::reset_session`]); feed the
//! answer back with [`ConnectorSession::observe`] (read through
//! [`crate::outbound::session_report`]) or [`ConnectorSession::action_failed`]. Feed webhook
//! session events to `observe` as they come. Record the [`Transition`]s that `observe` and
//! `action_failed` return and that [`ConnectorSession::poll_transition`] hands out after a
//! poll.
//!
//! A session showing a QR is left alone (only its status is polled): a human must scan it.
//! A session that drops is restarted up to `max_reconnects` times with exponential backoff,
//! then logged out and started afresh, which yields a new QR.
//!
//! ```
//! use omega_channels::SessionEvent;
//! use omega_channels::session::{ConnectorSession, SessionAction, SessionConfig, SessionState};
//!
//! let config = SessionConfig::default();
//! let mut session = ConnectorSession::new(0);
//! assert_eq!(session.poll(0, &config), Some(SessionAction::StartSession));
//! session.observe(&SessionEvent::Qr { code: "2@abc".into() }, 500, &config);
//! assert_eq!(session.state(), &SessionState::Qr { code: "2@abc".into() });
//! assert_eq!(session.poll(1_000, &config), None); // the next status check is due at 30 500
//! assert_eq!(session.poll(30_500, &config), Some(SessionAction::CheckStatus));
//! ```

use serde::{Deserialize, Serialize};

use crate::model::SessionEvent;

/// Most characters of a provider reason copied into a [`Transition`] cause.
const CAUSE_REASON_MAX_CHARS: usize = 120;
/// Most transitions kept for [`ConnectorSession::poll_transition`].
const POLL_TRANSITIONS_MAX: usize = 8;

/// Where a session stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SessionState {
    /// Being started afresh (new, or after a reset); no reconnect budget spent.
    Starting,
    /// Waiting for a human to scan this pairing code.
    Qr {
        /// The QR payload to render.
        code: String,
    },
    /// Connected and receiving.
    Connected,
    /// Dropped or logged out; a reconnect is scheduled.
    NotLogged,
    /// Reconnect number `attempt` (from 1) has been made.
    Reconnecting {
        /// Which reconnect this is.
        attempt: u32,
    },
    /// Reconnects were exhausted; the instance is being logged out.
    Resetting,
}

/// Timing and limits of the state machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Reconnects (StartSession after a drop) before resetting the instance.
    pub max_reconnects: u32,
    /// The wait before the first reconnect; doubled for each further one.
    pub backoff_base_ms: i64,
    /// The longest wait between reconnects.
    pub backoff_max_ms: i64,
    /// How often to ask for the status while connected or showing a QR; also how long an
    /// action may go unanswered before it counts as failed.
    pub poll_interval_ms: i64,
}

impl Default for SessionConfig {
    /// 3 reconnects, backoff 2 s doubling up to 60 s, status every 30 s.
    fn default() -> Self {
        Self {
            max_reconnects: 3,
            backoff_base_ms: 2_000,
            backoff_max_ms: 60_000,
            poll_interval_ms: 30_000,
        }
    }
}

impl SessionConfig {
    /// The wait after reconnect `attempt` failed (0: before the first reconnect):
    /// `min(backoff_base_ms · 2^attempt, backoff_max_ms)`, never negative.
    #[must_use]
    pub fn backoff_ms(&self, attempt: u32) -> i64 {
        let ceiling = self.backoff_max_ms.max(0);
        2_i64
            .checked_pow(attempt)
            .and_then(|factor| self.backoff_base_ms.max(0).checked_mul(factor))
            .map_or(ceiling, |delay| delay.min(ceiling))
    }
}

/// Something to ask of the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionAction {
    /// Ask for the session's state ([`crate::outbound::session_status`]).
    CheckStatus,
    /// Start or restart the session ([`crate::outbound::start_session`]).
    StartSession,
    /// Log the session out so it pairs afresh ([`crate::outbound::reset_session`]).
    ResetInstance,
}

impl SessionAction {
    /// Stable text form, for logs and transition causes.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::CheckStatus => "check_status",
            Self::StartSession => "start_session",
            Self::ResetInstance => "reset_instance",
        }
    }
}

/// A change of [`SessionState`], with what caused it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// The state left.
    pub from: SessionState,
    /// The state entered.
    pub to: SessionState,
    /// Why, in a few words (`observed connected`, `reconnect 2 of 3`, …).
    pub cause: String,
}

/// The state machine of one connector's session; serializable so it can be stored as
/// JSON between runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorSession {
    state: SessionState,
    /// Reconnects made since the session was last connected, showing a QR, or reset.
    reconnects: u32,
    /// When [`ConnectorSession::poll`] has something to do next.
    due_at_ms: Option<i64>,
    /// The action performed whose answer has not come yet.
    in_flight: Option<SessionAction>,
    /// Transitions made by `poll`, oldest first, until taken.
    #[serde(skip)]
    poll_transitions: Vec<Transition>,
}

impl ConnectorSession {
    /// A session in [`SessionState::Starting`], due at `now_ms` (its first action is
    /// [`SessionAction::StartSession`]).
    #[must_use]
    pub const fn new(now_ms: i64) -> Self {
        Self {
            state: SessionState::Starting,
            reconnects: 0,
            due_at_ms: Some(now_ms),
            in_flight: None,
            poll_transitions: Vec::new(),
        }
    }

    /// The current state.
    #[must_use]
    pub const fn state(&self) -> &SessionState {
        &self.state
    }

    /// Reconnects made since the session was last connected, showing a QR or reset.
    #[must_use]
    pub const fn reconnects(&self) -> u32 {
        self.reconnects
    }

    /// When [`ConnectorSession::poll`] next has something to do; poll returns nothing
    /// before it.
    #[must_use]
    pub const fn due_at_ms(&self) -> Option<i64> {
        self.due_at_ms
    }

    /// Something reported the session's state: a webhook event or the answer to an action
    /// (through [`crate::outbound::session_report`]). Returns the transition if the state
    /// changed.
    ///
    /// `Connected` and `Qr` are taken at any point and end any recovery (a new QR code
    /// replacing the shown one is a transition too). `NotLogged` and `Disconnected` start a
    /// recovery when connected, starting or showing a QR; while reconnecting they fail the
    /// reconnect in flight; while resetting they mean the reset took effect. `Other` events
    /// change nothing, except `Other("logged_out")` while resetting, which completes it.
    pub fn observe(
        &mut self,
        event: &SessionEvent,
        now_ms: i64,
        config: &SessionConfig,
    ) -> Option<Transition> {
        match event {
            SessionEvent::Connected => {
                self.settle(now_ms, config);
                self.enter(SessionState::Connected, "observed connected".to_owned())
            }
            SessionEvent::Qr { code } => {
                self.settle(now_ms, config);
                let cause = if matches!(self.state, SessionState::Qr { .. }) {
                    "observed a new qr code"
                } else {
                    "observed a qr code"
                };
                self.enter(SessionState::Qr { code: code.clone() }, cause.to_owned())
            }
            SessionEvent::NotLogged => self.lost("observed not logged".to_owned(), now_ms, config),
            SessionEvent::Disconnected { reason } => self.lost(
                format!("observed disconnected: {}", clip(reason)),
                now_ms,
                config,
            ),
            SessionEvent::Other(name)
                if name == "logged_out" && self.state == SessionState::Resetting =>
            {
                self.reset_done("reset answered: logged out".to_owned(), now_ms)
            }
            SessionEvent::Other(_) => None,
        }
    }

    /// The action to perform now, if one is due (never before [`Self::due_at_ms`]). The
    /// caller performs it and feeds the answer back with [`Self::observe`] or
    /// [`Self::action_failed`].
    ///
    /// An action left unanswered for `poll_interval_ms` counts as failed here. A poll that
    /// changes the state (NotLogged → Reconnecting, Reconnecting → Resetting, …) leaves
    /// the [`Transition`] for [`Self::poll_transition`].
    #[must_use]
    pub fn poll(&mut self, now_ms: i64, config: &SessionConfig) -> Option<SessionAction> {
        if now_ms < self.due_at_ms? {
            return None;
        }
        if let Some(action) = self.in_flight {
            let cause = format!("no answer to {}", action.as_str());
            if let Some(transition) = self.fail_in_flight(cause, now_ms, config) {
                self.push_poll_transition(transition);
            }
            if now_ms < self.due_at_ms? {
                return None;
            }
        }
        let (action, transition) = match self.state {
            SessionState::Starting => (SessionAction::StartSession, None),
            SessionState::Connected | SessionState::Qr { .. } => (SessionAction::CheckStatus, None),
            SessionState::NotLogged | SessionState::Reconnecting { .. }
                if self.reconnects < config.max_reconnects =>
            {
                self.reconnects += 1;
                let attempt = self.reconnects;
                let cause = format!("reconnect {attempt} of {}", config.max_reconnects);
                (
                    SessionAction::StartSession,
                    self.enter(SessionState::Reconnecting { attempt }, cause),
                )
            }
            SessionState::NotLogged | SessionState::Reconnecting { .. } => {
                let cause = format!("{} reconnects failed: resetting", self.reconnects);
                (
                    SessionAction::ResetInstance,
                    self.enter(SessionState::Resetting, cause),
                )
            }
            // Resetting always has its reset in flight: handled above.
            SessionState::Resetting => return None,
        };
        if let Some(transition) = transition {
            self.push_poll_transition(transition);
        }
        self.in_flight = Some(action);
        self.due_at_ms = Some(now_ms.saturating_add(config.poll_interval_ms.max(0)));
        Some(action)
    }

    /// Takes the oldest transition a [`Self::poll`] made and nobody took yet (at most the
    /// last 8 are kept).
    #[must_use = "a transition not taken is lost once 8 more are made"]
    pub fn poll_transition(&mut self) -> Option<Transition> {
        (!self.poll_transitions.is_empty()).then(|| self.poll_transitions.remove(0))
    }

    /// The action could not be performed (timeout, 5xx, network error, an error from
    /// [`crate::outbound::session_report`]). Returns the transition if the state changed.
    ///
    /// Only the action in flight counts; others are stale and ignored. A failed start
    /// while starting begins a recovery; a failed reconnect counts like a reconnect answered
    /// `NotLogged`; a failed reset counts as done (the next start pairs afresh either way);
    /// a failed status check while connected or showing a QR changes nothing (the provider,
    /// not the session, failed) and is retried after `backoff_ms(0)`.
    pub fn action_failed(
        &mut self,
        action: &SessionAction,
        reason: &str,
        now_ms: i64,
        config: &SessionConfig,
    ) -> Option<Transition> {
        if self.in_flight != Some(*action) {
            return None;
        }
        let cause = format!("{} failed: {}", action.as_str(), clip(reason));
        self.fail_in_flight(cause, now_ms, config)
    }

    /// The action in flight failed or went unanswered.
    fn fail_in_flight(
        &mut self,
        cause: String,
        now_ms: i64,
        config: &SessionConfig,
    ) -> Option<Transition> {
        match self.state {
            SessionState::Starting | SessionState::Reconnecting { .. } => {
                self.lost(cause, now_ms, config)
            }
            SessionState::Resetting => self.reset_done(cause, now_ms),
            SessionState::Connected | SessionState::Qr { .. } | SessionState::NotLogged => {
                self.in_flight = None;
                self.due_at_ms = Some(now_ms.saturating_add(config.backoff_ms(0)));
                None
            }
        }
    }

    /// The session is (still) down.
    fn lost(&mut self, cause: String, now_ms: i64, config: &SessionConfig) -> Option<Transition> {
        match self.state {
            SessionState::Connected | SessionState::Starting | SessionState::Qr { .. } => {
                self.reconnects = 0;
                self.in_flight = None;
                self.due_at_ms = Some(now_ms.saturating_add(config.backoff_ms(0)));
                self.enter(SessionState::NotLogged, cause)
            }
            SessionState::Reconnecting { .. } if self.in_flight.is_some() => {
                // This reconnect failed; the next one (or the reset) comes after backoff.
                self.in_flight = None;
                self.due_at_ms = Some(now_ms.saturating_add(config.backoff_ms(self.reconnects)));
                None
            }
            SessionState::Resetting => self.reset_done(cause, now_ms),
            // Already waiting for the next reconnect.
            SessionState::NotLogged | SessionState::Reconnecting { .. } => None,
        }
    }

    /// The reset is over: start afresh now.
    fn reset_done(&mut self, cause: String, now_ms: i64) -> Option<Transition> {
        self.reconnects = 0;
        self.in_flight = None;
        self.due_at_ms = Some(now_ms);
        self.enter(SessionState::Starting, format!("reset done ({cause})"))
    }

    /// Connected or showing a QR: recovery is over; check the status every poll interval.
    fn settle(&mut self, now_ms: i64, config: &SessionConfig) {
        self.reconnects = 0;
        self.in_flight = None;
        self.due_at_ms = Some(now_ms.saturating_add(config.poll_interval_ms.max(0)));
    }

    fn enter(&mut self, to: SessionState, cause: String) -> Option<Transition> {
        if self.state == to {
            return None;
        }
        let from = std::mem::replace(&mut self.state, to.clone());
        Some(Transition { from, to, cause })
    }

    fn push_poll_transition(&mut self, transition: Transition) {
        if self.poll_transitions.len() == POLL_TRANSITIONS_MAX {
            self.poll_transitions.remove(0);
        }
        self.poll_transitions.push(transition);
    }
}

/// A provider's reason, single-line and cut short.
fn clip(reason: &str) -> String {
    reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(CAUSE_REASON_MAX_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let config = SessionConfig::default();
        assert_eq!(
            [0, 1, 2, 3, 4, 5, 63, u32::MAX].map(|attempt| config.backoff_ms(attempt)),
            [2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]
        );
        let odd = SessionConfig {
            backoff_base_ms: -5,
            backoff_max_ms: i64::MAX,
            ..config
        };
        assert_eq!(odd.backoff_ms(3), 0);
    }

    #[test]
    fn causes_are_single_line_and_short() {
        let long = format!("a\nb{}", "x".repeat(500));
        let clipped = clip(&long);
        assert_eq!(clipped.chars().count(), CAUSE_REASON_MAX_CHARS);
        assert!(clipped.starts_with("a b"));
    }
}
