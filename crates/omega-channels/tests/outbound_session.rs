//! Session calls of the unofficial WhatsApp sources: requests match the REST samples and
//! answers read into session events.

use omega_channels::outbound::{
    Credentials, OutboundError, reset_session, session_report, session_status, start_session,
};
use omega_channels::{SessionEvent, Source};
use serde_json::{Value, json};

const WPP_TOKEN: &str = "$2b$10$FAKEFAKEFAKEFAKEFAKEFuFAKEFAKEFAKEFAKEFAKEFAKE.FAKEFAKE";
const EVOLUTION_KEY: &str = "FAKE-GLOBAL-OR-INSTANCE-API-KEY";
const WEBHOOK: &str = "https://inbox.example.test/hooks/wppconnect/NERDWHATS_AMERICA";

fn fixture(text: &str) -> Value {
    serde_json::from_str(text).expect("fixture is json")
}

fn wppconnect() -> Credentials {
    Credentials::WppConnect {
        base_url: "https://wpp.example.test".to_owned(),
        session: "NERDWHATS_AMERICA".to_owned(),
        token: WPP_TOKEN.to_owned(),
    }
}

fn evolution() -> Credentials {
    Credentials::Evolution {
        base_url: "https://evo.example.test/".to_owned(),
        instance: "loja-centro".to_owned(),
        apikey: EVOLUTION_KEY.to_owned(),
    }
}

fn report(source: Source, sample: &Value) -> Result<SessionEvent, OutboundError> {
    let status = sample["status"].as_u64().expect("status") as u16;
    let body = serde_json::to_vec(&sample["body"]).expect("body");
    session_report(source, status, &body)
}

fn qr(code: &str) -> SessionEvent {
    SessionEvent::Qr {
        code: code.to_owned(),
    }
}

#[test]
fn wppconnect_status_request_matches_the_fixture() {
    let sample = fixture(include_str!("fixtures/wppconnect/rest_status_session.json"));
    let expected = &sample["request"];
    let request = session_status(&wppconnect()).expect("builds");
    assert_eq!(request.method, expected["method"]);
    assert_eq!(
        request.url,
        format!(
            "https://wpp.example.test{}",
            expected["path"].as_str().expect("path")
        )
    );
    assert_eq!(
        request.header("Authorization"),
        expected["headers"]["Authorization"].as_str()
    );
    assert_eq!(request.body, None);
    assert_eq!(request.header("Content-Type"), None);
}

#[test]
fn wppconnect_start_request_waits_for_the_qr_code() {
    let sample = fixture(include_str!("fixtures/wppconnect/rest_start_session.json"));
    let expected = &sample["request"];
    let request = start_session(&wppconnect(), Some(WEBHOOK)).expect("builds");
    assert_eq!(request.method, expected["method"]);
    assert_eq!(
        request.url,
        format!(
            "https://wpp.example.test{}",
            expected["path"].as_str().expect("path")
        )
    );
    assert_eq!(request.header("Content-Type"), Some("application/json"));
    // As the sample, but asking for the QR code in the answer.
    let mut wanted = expected["body"].clone();
    wanted["waitQrCode"] = json!(true);
    let body: Value = serde_json::from_slice(request.body.as_deref().expect("body")).expect("json");
    assert_eq!(body, wanted);

    let without_webhook = start_session(&wppconnect(), None).expect("builds");
    let body: Value =
        serde_json::from_slice(without_webhook.body.as_deref().expect("body")).expect("json");
    assert_eq!(body, json!({ "waitQrCode": true }));
}

#[test]
fn wppconnect_reset_logs_the_session_out() {
    let request = reset_session(&wppconnect()).expect("builds");
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.url,
        "https://wpp.example.test/api/NERDWHATS_AMERICA/logout-session"
    );
    assert_eq!(
        request.header("Authorization"),
        Some(&*format!("Bearer {WPP_TOKEN}"))
    );
}

#[test]
fn evolution_session_requests_match_the_fixture_and_api() {
    let sample = fixture(include_str!(
        "fixtures/evolution/rest_connection_state.json"
    ));
    let expected = &sample["request"];
    let request = session_status(&evolution()).expect("builds");
    assert_eq!(request.method, expected["method"]);
    assert_eq!(
        request.url,
        format!(
            "https://evo.example.test{}",
            expected["path"].as_str().expect("path")
        )
    );
    assert_eq!(
        request.header("apikey"),
        expected["headers"]["apikey"].as_str()
    );

    let start = start_session(&evolution(), Some(WEBHOOK)).expect("builds");
    assert_eq!(
        (start.method, start.url.as_str()),
        (
            "GET",
            "https://evo.example.test/instance/connect/loja-centro"
        )
    );
    assert_eq!(start.body, None);
    let reset = reset_session(&evolution()).expect("builds");
    assert_eq!(
        (reset.method, reset.url.as_str()),
        (
            "DELETE",
            "https://evo.example.test/instance/logout/loja-centro"
        )
    );
    assert_eq!(reset.header("apikey"), Some(EVOLUTION_KEY));
}

#[test]
fn cloud_api_and_telegram_have_no_session_calls() {
    let cloud = Credentials::CloudApi {
        base_url: "https://graph.facebook.com/v23.0".to_owned(),
        phone_number_id: "106540352242922".to_owned(),
        access_token: "t".to_owned(),
    };
    let bot = Credentials::Telegram {
        base_url: "https://api.telegram.org".to_owned(),
        bot_token: "1:a".to_owned(),
    };
    for credentials in [cloud, bot] {
        for result in [
            session_status(&credentials),
            start_session(&credentials, None),
            reset_session(&credentials),
        ] {
            assert!(matches!(result, Err(OutboundError::Unsupported { .. })));
        }
        assert!(matches!(
            session_report(credentials.source(), 200, b"{}"),
            Err(OutboundError::Unsupported { .. })
        ));
    }
}

#[test]
fn bad_webhook_urls_are_refused() {
    for url in [
        "javascript:alert(1)",
        "https://",
        "https://x/ y",
        "https://a@b/x",
    ] {
        assert!(matches!(
            start_session(&wppconnect(), Some(url)),
            Err(OutboundError::Invalid {
                field: "webhook_url",
                ..
            })
        ));
    }
    assert!(start_session(&wppconnect(), Some("https://inbox.example.test/h?secret=s")).is_ok());
}

#[test]
fn wppconnect_status_answers_read_into_session_events() {
    let status = fixture(include_str!("fixtures/wppconnect/rest_status_session.json"));
    let start = fixture(include_str!("fixtures/wppconnect/rest_start_session.json"));
    let cases = [
        (&status["response_connected"], SessionEvent::Connected),
        (&status["response_qr_pending"], qr("2@FAKE...")),
        (&status["response_never_started"], SessionEvent::NotLogged),
        (&start["response_first_call"], SessionEvent::NotLogged),
        (&start["response_when_waitQrCode_true"], qr("2@FAKE...")),
        (
            &start["response_when_already_running"],
            SessionEvent::Connected,
        ),
    ];
    for (sample, expected) in cases {
        assert_eq!(report(Source::WppConnect, sample), Ok(expected), "{sample}");
    }
    for name in ["INITIALIZING", "PHONECODE"] {
        let body = json!({ "status": name, "qrcode": null }).to_string();
        assert_eq!(
            session_report(Source::WppConnect, 200, body.as_bytes()),
            Ok(SessionEvent::Other(name.to_owned()))
        );
    }
}

#[test]
fn wppconnect_qr_without_urlcode_falls_back_to_the_png() {
    let body =
        br#"{"status":"QRCODE","qrcode":"data:image/png;base64,iVBORw0KGgo","urlcode":null}"#;
    assert_eq!(
        session_report(Source::WppConnect, 200, body),
        Ok(qr("data:image/png;base64,iVBORw0KGgo"))
    );
}

#[test]
fn wppconnect_logout_answer_is_logged_out() {
    let body = br#"{"status":true,"message":"Session successfully closed"}"#;
    assert_eq!(
        session_report(Source::WppConnect, 200, body),
        Ok(SessionEvent::Other("logged_out".to_owned()))
    );
}

#[test]
fn evolution_connection_states_read_into_session_events() {
    let sample = fixture(include_str!(
        "fixtures/evolution/rest_connection_state.json"
    ));
    assert_eq!(
        report(Source::Evolution, &sample["response"]),
        Ok(SessionEvent::Connected)
    );
    for (state, expected) in [
        ("close", SessionEvent::NotLogged),
        ("connecting", SessionEvent::Other("connecting".to_owned())),
    ] {
        let body = json!({ "instance": { "instanceName": "loja-centro", "state": state } });
        assert_eq!(
            session_report(Source::Evolution, 200, body.to_string().as_bytes()),
            Ok(expected)
        );
    }
}

#[test]
fn evolution_connect_answer_is_a_qr_code() {
    let body = br#"{"pairingCode":null,"code":"2@FAKEqr==,FAKEkey=","base64":"data:image/png;base64,iVBORw0KGgo","count":1}"#;
    assert_eq!(
        session_report(Source::Evolution, 200, body),
        Ok(qr("2@FAKEqr==,FAKEkey="))
    );
}

#[test]
fn evolution_logout_answer_is_logged_out() {
    let body =
        br#"{"status":"SUCCESS","error":false,"response":{"message":"Instance logged out"}}"#;
    assert_eq!(
        session_report(Source::Evolution, 200, body),
        Ok(SessionEvent::Other("logged_out".to_owned()))
    );
}

#[test]
fn non_2xx_session_answers_are_http_errors() {
    let body = br#"{"status":400,"error":"Bad Request","response":{"message":["The \"loja-centro\" instance is not connected"]}}"#;
    assert_eq!(
        session_report(Source::Evolution, 400, body),
        Err(OutboundError::Http {
            status: 400,
            reason: "The \"loja-centro\" instance is not connected".to_owned()
        })
    );
    let error = session_report(Source::WppConnect, 401, b"<html>nope</html>").expect_err("http");
    assert_eq!(error.to_string(), "http 401: no error message");
}

#[test]
fn garbage_session_answers_are_errors() {
    for source in [Source::WppConnect, Source::Evolution] {
        for body in [
            &b""[..],
            b"null",
            b"[]",
            b"{",
            b"{}",
            br#"{"status":5}"#,
            b"\xff",
        ] {
            assert!(
                matches!(
                    session_report(source, 200, body),
                    Err(OutboundError::UnexpectedAnswer { .. })
                ),
                "{source} {body:?}"
            );
        }
    }
}
