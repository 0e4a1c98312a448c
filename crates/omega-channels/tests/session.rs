//! The connector session state machine: pairing, polling, reconnects with backoff, reset.

use omega_channels::SessionEvent;
use omega_channels::session::{
    ConnectorSession, SessionAction, SessionConfig, SessionState, Transition,
};
use proptest::prelude::*;

const CONFIG: SessionConfig = SessionConfig {
    max_reconnects: 3,
    backoff_base_ms: 2_000,
    backoff_max_ms: 60_000,
    poll_interval_ms: 30_000,
};

fn qr(code: &str) -> SessionEvent {
    SessionEvent::Qr {
        code: code.to_owned(),
    }
}

fn qr_state(code: &str) -> SessionState {
    SessionState::Qr {
        code: code.to_owned(),
    }
}

/// A session that went Starting → StartSession → Connected at t = 0.
fn connected() -> ConnectorSession {
    let mut session = ConnectorSession::new(0);
    assert_eq!(session.poll(0, &CONFIG), Some(SessionAction::StartSession));
    session.observe(&SessionEvent::Connected, 0, &CONFIG);
    session
}

#[test]
fn a_new_session_starts_at_once() {
    let mut session = ConnectorSession::new(1_000);
    assert_eq!(session.state(), &SessionState::Starting);
    assert_eq!(session.due_at_ms(), Some(1_000));
    assert_eq!(session.poll(999, &CONFIG), None);
    assert_eq!(
        session.poll(1_000, &CONFIG),
        Some(SessionAction::StartSession)
    );
    assert_eq!(session.poll_transition(), None);
    assert_eq!(session.state(), &SessionState::Starting);
}

#[test]
fn a_qr_code_is_shown_and_its_status_polled_never_reset() {
    let mut session = ConnectorSession::new(0);
    let _ = session.poll(0, &CONFIG);
    let transition = session.observe(&qr("2@one"), 100, &CONFIG);
    assert_eq!(
        transition.map(|t| (t.from, t.to)),
        Some((SessionState::Starting, qr_state("2@one")))
    );
    let mut now = 100;
    for _ in 0..20 {
        assert_eq!(session.poll(now + 29_999, &CONFIG), None);
        now += 30_000;
        assert_eq!(session.poll(now, &CONFIG), Some(SessionAction::CheckStatus));
        // Checks fail or answer "still waiting": nothing escalates.
        assert_eq!(
            session.action_failed(&SessionAction::CheckStatus, "timeout", now + 10, &CONFIG),
            None
        );
        now += 10;
        assert_eq!(session.due_at_ms(), Some(now + 2_000));
        now += 2_000;
        assert_eq!(session.poll(now, &CONFIG), Some(SessionAction::CheckStatus));
        assert_eq!(
            session.observe(&SessionEvent::Other("QRCODE".into()), now, &CONFIG),
            None
        );
        assert_eq!(session.observe(&qr("2@one"), now, &CONFIG), None);
    }
    assert_eq!(session.state(), &qr_state("2@one"));
    assert_eq!(session.reconnects(), 0);
}

#[test]
fn a_new_qr_code_replacing_the_shown_one_is_a_transition() {
    let mut session = ConnectorSession::new(0);
    session.observe(&qr("2@one"), 0, &CONFIG);
    let transition = session.observe(&qr("2@two"), 20_000, &CONFIG);
    assert_eq!(
        transition,
        Some(Transition {
            from: qr_state("2@one"),
            to: qr_state("2@two"),
            cause: "observed a new qr code".to_owned(),
        })
    );
}

#[test]
fn connected_sessions_are_checked_every_poll_interval() {
    let mut session = connected();
    assert_eq!(session.state(), &SessionState::Connected);
    assert_eq!(session.due_at_ms(), Some(30_000));
    assert_eq!(session.poll(29_999, &CONFIG), None);
    assert_eq!(
        session.poll(30_000, &CONFIG),
        Some(SessionAction::CheckStatus)
    );
    assert_eq!(
        session.observe(&SessionEvent::Connected, 30_050, &CONFIG),
        None
    );
    assert_eq!(session.due_at_ms(), Some(60_050));
}

#[test]
fn other_events_change_nothing() {
    let mut session = connected();
    for name in ["connecting", "INITIALIZING", "logged_out"] {
        assert_eq!(
            session.observe(&SessionEvent::Other(name.into()), 5, &CONFIG),
            None
        );
    }
    assert_eq!(session.state(), &SessionState::Connected);
}

#[test]
fn a_drop_schedules_a_reconnect_after_backoff() {
    let mut session = connected();
    let transition = session.observe(
        &SessionEvent::Disconnected {
            reason: "status 428".into(),
        },
        1_000,
        &CONFIG,
    );
    assert_eq!(
        transition,
        Some(Transition {
            from: SessionState::Connected,
            to: SessionState::NotLogged,
            cause: "observed disconnected: status 428".to_owned(),
        })
    );
    assert_eq!(session.due_at_ms(), Some(3_000));
    assert_eq!(session.poll(2_999, &CONFIG), None);
    assert_eq!(
        session.poll(3_000, &CONFIG),
        Some(SessionAction::StartSession)
    );
    assert_eq!(session.state(), &SessionState::Reconnecting { attempt: 1 });
    assert_eq!(session.reconnects(), 1);
    assert_eq!(
        session.poll_transition().map(|t| t.to),
        Some(SessionState::Reconnecting { attempt: 1 })
    );
}

#[test]
fn a_failed_first_start_begins_recovery() {
    let mut session = ConnectorSession::new(0);
    let _ = session.poll(0, &CONFIG);
    let transition = session.action_failed(
        &SessionAction::StartSession,
        "connection refused",
        10,
        &CONFIG,
    );
    assert_eq!(
        transition.map(|t| (t.to, t.cause)),
        Some((
            SessionState::NotLogged,
            "start_session failed: connection refused".to_owned()
        ))
    );
    assert_eq!(session.due_at_ms(), Some(2_010));
}

#[test]
fn a_connected_answer_ends_recovery_at_any_point() {
    let mut session = connected();
    session.observe(&SessionEvent::NotLogged, 0, &CONFIG);
    let _ = session.poll(2_000, &CONFIG);
    session.observe(&SessionEvent::NotLogged, 2_100, &CONFIG);
    let _ = session.poll(6_100, &CONFIG);
    assert_eq!(session.state(), &SessionState::Reconnecting { attempt: 2 });
    let transition = session.observe(&SessionEvent::Connected, 6_200, &CONFIG);
    assert_eq!(transition.map(|t| t.to), Some(SessionState::Connected));
    assert_eq!(session.reconnects(), 0);
    // A later drop gets the full reconnect budget again.
    session.observe(&SessionEvent::NotLogged, 7_000, &CONFIG);
    assert_eq!(
        session.poll(9_000, &CONFIG),
        Some(SessionAction::StartSession)
    );
    assert_eq!(session.state(), &SessionState::Reconnecting { attempt: 1 });
}

#[test]
fn a_duplicate_failure_report_counts_once() {
    let mut session = connected();
    session.observe(&SessionEvent::NotLogged, 0, &CONFIG);
    let _ = session.poll(2_000, &CONFIG);
    // The answer and a webhook both say not logged; a stale status failure comes too.
    session.observe(&SessionEvent::NotLogged, 2_100, &CONFIG);
    session.observe(&SessionEvent::NotLogged, 2_200, &CONFIG);
    let stale = session.action_failed(&SessionAction::CheckStatus, "timeout", 2_300, &CONFIG);
    assert_eq!(stale, None);
    assert_eq!(session.due_at_ms(), Some(6_100));
    assert_eq!(session.reconnects(), 1);
}

#[test]
fn an_unanswered_reconnect_counts_as_failed() {
    let mut session = connected();
    session.observe(&SessionEvent::NotLogged, 0, &CONFIG);
    assert_eq!(
        session.poll(2_000, &CONFIG),
        Some(SessionAction::StartSession)
    );
    // No answer within the poll interval: the attempt failed, the next comes after backoff(1).
    assert_eq!(session.poll(32_000, &CONFIG), None);
    assert_eq!(session.due_at_ms(), Some(36_000));
    assert_eq!(
        session.poll(36_000, &CONFIG),
        Some(SessionAction::StartSession)
    );
    assert_eq!(session.state(), &SessionState::Reconnecting { attempt: 2 });
}

#[test]
fn a_failed_reset_still_starts_afresh() {
    let config = SessionConfig {
        max_reconnects: 0,
        ..CONFIG
    };
    let mut session = ConnectorSession::new(0);
    session.observe(&SessionEvent::Connected, 0, &config);
    session.observe(&SessionEvent::NotLogged, 0, &config);
    assert_eq!(
        session.poll(2_000, &config),
        Some(SessionAction::ResetInstance)
    );
    let transition =
        session.action_failed(&SessionAction::ResetInstance, "http 400", 2_100, &config);
    assert_eq!(transition.map(|t| t.to), Some(SessionState::Starting));
    assert_eq!(
        session.poll(2_100, &config),
        Some(SessionAction::StartSession)
    );
}

fn record(transition: Option<Transition>, into: &mut Vec<Transition>) {
    into.extend(transition);
}

/// Connected → NotLogged → 3 failing reconnects → ResetInstance → StartSession → Qr(new
/// code) → Connected.
#[test]
fn a_dropped_session_reconnects_three_times_then_resets_and_pairs_again() {
    let mut session = connected();
    let mut transitions = Vec::new();
    let mut actions = Vec::new();
    let mut now = 10_000;

    record(
        session.observe(&SessionEvent::NotLogged, now, &CONFIG),
        &mut transitions,
    );
    // Reconnect n is made backoff(n - 1) after the previous failure: 2 s, 4 s, 8 s.
    for (attempt, wait) in [(1, 2_000), (2, 4_000), (3, 8_000)] {
        assert_eq!(session.due_at_ms(), Some(now + wait));
        assert_eq!(session.poll(now + wait - 1, &CONFIG), None);
        now += wait;
        let action = session.poll(now, &CONFIG);
        assert_eq!(action, Some(SessionAction::StartSession));
        actions.extend(action);
        record(session.poll_transition(), &mut transitions);
        assert_eq!(session.state(), &SessionState::Reconnecting { attempt });
        now += 500;
        let answer = if attempt == 2 {
            session.action_failed(&SessionAction::StartSession, "http 503", now, &CONFIG)
        } else {
            session.observe(&SessionEvent::NotLogged, now, &CONFIG)
        };
        record(answer, &mut transitions);
    }
    // The third failure waits backoff(3) = 16 s, then resets.
    assert_eq!(session.due_at_ms(), Some(now + 16_000));
    now += 16_000;
    let action = session.poll(now, &CONFIG);
    assert_eq!(action, Some(SessionAction::ResetInstance));
    actions.extend(action);
    record(session.poll_transition(), &mut transitions);
    now += 300;
    record(
        session.observe(&SessionEvent::Other("logged_out".into()), now, &CONFIG),
        &mut transitions,
    );
    let action = session.poll(now, &CONFIG);
    assert_eq!(action, Some(SessionAction::StartSession));
    actions.extend(action);
    now += 1_000;
    record(
        session.observe(&qr("2@fresh"), now, &CONFIG),
        &mut transitions,
    );
    now += 40_000;
    record(
        session.observe(&SessionEvent::Connected, now, &CONFIG),
        &mut transitions,
    );

    let path: Vec<(SessionState, SessionState)> = transitions
        .iter()
        .map(|t| (t.from.clone(), t.to.clone()))
        .collect();
    use SessionState::{Connected, NotLogged, Reconnecting, Resetting, Starting};
    assert_eq!(
        path,
        vec![
            (Connected, NotLogged),
            (NotLogged, Reconnecting { attempt: 1 }),
            (Reconnecting { attempt: 1 }, Reconnecting { attempt: 2 }),
            (Reconnecting { attempt: 2 }, Reconnecting { attempt: 3 }),
            (Reconnecting { attempt: 3 }, Resetting),
            (Resetting, Starting),
            (Starting, qr_state("2@fresh")),
            (qr_state("2@fresh"), Connected),
        ]
    );
    let reset_at = actions
        .iter()
        .position(|action| *action == SessionAction::ResetInstance)
        .expect("a reset");
    assert_eq!(
        reset_at, 3,
        "exactly 3 reconnects before the reset: {actions:?}"
    );
    assert!(
        actions[..reset_at]
            .iter()
            .all(|action| *action == SessionAction::StartSession)
    );
    assert_eq!(actions[reset_at + 1..], [SessionAction::StartSession]);
    assert_eq!(transitions[4].cause, "3 reconnects failed: resetting");
    assert_eq!(session.state(), &Connected);
    assert_eq!(session.reconnects(), 0);
}

#[test]
fn sessions_survive_a_json_round_trip() {
    let mut session = connected();
    session.observe(&SessionEvent::NotLogged, 0, &CONFIG);
    let _ = session.poll(2_000, &CONFIG);
    let _ = session.poll_transition();
    let json = serde_json::to_string(&session).expect("serializes");
    let mut back: ConnectorSession = serde_json::from_str(&json).expect("deserializes");
    assert_eq!(back, session);
    assert!(
        json.contains(r#""state":{"state":"reconnecting","attempt":1}"#),
        "{json}"
    );
    // The restored machine carries on where it was.
    back.observe(&SessionEvent::NotLogged, 2_100, &CONFIG);
    assert_eq!(back.poll(6_100, &CONFIG), Some(SessionAction::StartSession));
    assert_eq!(back.state(), &SessionState::Reconnecting { attempt: 2 });
}

#[derive(Clone, Debug)]
enum Step {
    Observe(SessionEvent),
    Fail(SessionAction),
    Advance(i64),
}

fn event() -> impl Strategy<Value = SessionEvent> {
    prop_oneof![
        Just(SessionEvent::Connected),
        Just(SessionEvent::NotLogged),
        Just(SessionEvent::Disconnected {
            reason: "status 428".into()
        }),
        prop::sample::select(vec!["2@a", "2@b", "2@c"]).prop_map(qr),
        Just(SessionEvent::Other("logged_out".into())),
        Just(SessionEvent::Other("connecting".into())),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => event().prop_map(Step::Observe),
        2 => prop::sample::select(vec![
            SessionAction::CheckStatus,
            SessionAction::StartSession,
            SessionAction::ResetInstance,
        ])
        .prop_map(Step::Fail),
        4 => (0_i64..70_000).prop_map(Step::Advance),
    ]
}

fn config() -> impl Strategy<Value = SessionConfig> {
    (0_u32..5, 0_i64..5_000, 0_i64..70_000, 1_i64..40_000).prop_map(
        |(max_reconnects, backoff_base_ms, backoff_max_ms, poll_interval_ms)| SessionConfig {
            max_reconnects,
            backoff_base_ms,
            backoff_max_ms,
            poll_interval_ms,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Between two Connected/Qr states, without a ResetInstance in between, at most
    /// `max_reconnects` StartSession reconnects are made (plus the one fresh start of a new
    /// or reset session), and poll never acts before `due_at_ms`.
    #[test]
    fn reconnects_are_bounded_and_never_early(
        config in config(),
        steps in prop::collection::vec(step(), 1..120),
    ) {
        let mut now = 0_i64;
        let mut session = ConnectorSession::new(now);
        let mut reconnect_starts = 0_u32;
        let mut starts = 0_u32;
        for step in steps {
            match step {
                Step::Observe(event) => {
                    let _ = session.observe(&event, now, &config);
                }
                Step::Fail(action) => {
                    let _ = session.action_failed(&action, "boom", now, &config);
                }
                Step::Advance(ms) => now += ms,
            }
            if matches!(session.state(), SessionState::Connected | SessionState::Qr { .. }) {
                reconnect_starts = 0;
                starts = 0;
            }
            let due = session.due_at_ms();
            let action = session.poll(now, &config);
            if action.is_some() {
                prop_assert!(due.is_some_and(|due| due <= now), "acted at {now} before {due:?}");
            }
            while session.poll_transition().is_some() {}
            match action {
                Some(SessionAction::StartSession) => {
                    starts += 1;
                    // A reconnect, or the fresh start of a new or reset session.
                    match session.state() {
                        SessionState::Reconnecting { .. } => reconnect_starts += 1,
                        state => prop_assert_eq!(state, &SessionState::Starting),
                    }
                }
                Some(SessionAction::ResetInstance) => {
                    reconnect_starts = 0;
                    starts = 0;
                }
                Some(SessionAction::CheckStatus) | None => {}
            }
            prop_assert!(reconnect_starts <= config.max_reconnects);
            prop_assert!(starts <= config.max_reconnects + 1);
            prop_assert!(session.reconnects() <= config.max_reconnects);
            // Something is always scheduled: the machine never stalls.
            prop_assert!(session.due_at_ms().is_some());
        }
    }
}
