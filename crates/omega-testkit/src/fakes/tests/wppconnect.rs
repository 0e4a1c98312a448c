//! WPPConnect: sends, failures, session recovery, tokens.

use serde_json::{Value, json};

use super::*;

async fn wpp(fake: &FakeSource, method: &str, endpoint: &str, body: Option<Value>) -> Answer {
    let url = format!("{}/api/NERDWHATS_AMERICA/{endpoint}", fake.base_url());
    let bearer = format!("Bearer {WPP_TOKEN}");
    call(method, url, &[("Authorization", &bearer)], body).await
}

fn wpp_send_body(phone: &str) -> Value {
    json!({
        "phone": phone,
        "isGroup": false,
        "isNewsletter": false,
        "isLid": false,
        "message": "Olá! Seu pedido saiu para entrega.",
        "options": { "quotedMsg": "false_5511999990001@c.us_3A1F00000000000000A1" },
    })
}

#[tokio::test]
async fn wppconnect_send_is_delivered_recorded_and_answered_like_the_fixture() {
    let fake = wppconnect().await;
    let answer = wpp(
        &fake,
        "POST",
        "send-message",
        Some(wpp_send_body("5511999990001")),
    )
    .await;
    assert_eq!(answer.status, 201, "{answer:?}");
    assert_eq!(answer.body["status"], "success");
    let message = &answer.body["response"][0];
    let id = message["id"].as_str().unwrap();
    assert!(id.starts_with("true_5511999990001@c.us_3EB0"), "{id}");
    assert_eq!(message["chatId"], "5511999990001@c.us");
    assert_eq!(
        message["quotedMsgId"],
        "false_5511999990001@c.us_3A1F00000000000000A1"
    );
    assert_eq!(
        fake.sent(),
        vec![SentMessage {
            to: "5511999990001".to_owned(),
            text: "Olá! Seu pedido saiu para entrega.".to_owned(),
            provider_message_id: id.to_owned(),
        }]
    );
    assert_eq!(
        fake.calls(),
        vec![Call {
            method: "POST".to_owned(),
            path: "/api/NERDWHATS_AMERICA/send-message".to_owned(),
            status: 201,
        }]
    );
    assert_eq!(fake.count("send-message"), 1);

    let group = json!({ "phone": "120363000000000001", "isGroup": true, "message": "Oi" });
    let answer = wpp(&fake, "POST", "send-message", Some(group)).await;
    let second = answer.body["response"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        second.starts_with("true_120363000000000001@g.us_3EB0"),
        "{second}"
    );
    assert_ne!(second, id, "every send gets a fresh id");
}

#[tokio::test]
async fn wppconnect_accepts_the_fixture_request_body() {
    // The request body of `wppconnect/rest_send_message.json`.
    let body = json!({
        "phone": "5511999990001",
        "isGroup": false,
        "isNewsletter": false,
        "isLid": false,
        "message": "Olá! Seu pedido saiu para entrega.",
        "options": { "quotedMsg": "false_5511999990001@c.us_3A1F00000000000000A1" },
    });
    let fake = wppconnect().await;
    let answer = wpp(&fake, "POST", "send-message", Some(body)).await;
    assert_eq!(answer.status, 201, "{answer:?}");
    assert_eq!(fake.sent().len(), 1);
}

#[tokio::test]
async fn wppconnect_wrong_or_missing_token_is_401_and_wrong_session_404() {
    let fake = wppconnect().await;
    let url = format!("{}/api/NERDWHATS_AMERICA/send-message", fake.base_url());
    let body = Some(wpp_send_body("5511999990001"));
    let wrong = call(
        "POST",
        url.clone(),
        &[("Authorization", "Bearer nope")],
        body.clone(),
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(
        wrong.body,
        json!({ "error": "Check that the Session and Token are correct" })
    );
    let missing = call("POST", url, &[], body.clone()).await;
    assert_eq!(missing.status, 401);
    let other_session = format!("{}/api/OTHER/send-message", fake.base_url());
    let bearer = format!("Bearer {WPP_TOKEN}");
    let answer = call("POST", other_session, &[("Authorization", &bearer)], body).await;
    assert_eq!(answer.status, 404);
    assert!(fake.sent().is_empty());
}

#[tokio::test]
async fn wppconnect_failed_send_then_retry_delivers_exactly_once() {
    let fake = wppconnect().await;
    fake.fail_next_sends(1, 504);
    let failed = wpp(
        &fake,
        "POST",
        "send-message",
        Some(wpp_send_body("5511999990001")),
    )
    .await;
    assert_eq!(failed.status, 504);
    assert!(
        failed
            .body
            .as_str()
            .unwrap()
            .contains("504 Gateway Timeout")
    );
    assert!(fake.sent().is_empty());
    let retried = wpp(
        &fake,
        "POST",
        "send-message",
        Some(wpp_send_body("5511999990001")),
    )
    .await;
    assert_eq!(retried.status, 201);
    assert_eq!(fake.sent().len(), 1);
    let statuses: Vec<u16> = fake.calls().iter().map(|call| call.status).collect();
    assert_eq!(statuses, [504, 201]);
}

#[tokio::test]
async fn wppconnect_injected_500_uses_the_error_shape_of_the_source() {
    let fake = wppconnect().await;
    fake.fail_next_sends(2, 500);
    for _ in 0..2 {
        let answer = wpp(
            &fake,
            "POST",
            "send-message",
            Some(wpp_send_body("5511999990001")),
        )
        .await;
        assert_eq!(answer.status, 500);
        assert_eq!(answer.body["status"], "error");
    }
    let answer = wpp(
        &fake,
        "POST",
        "send-message",
        Some(wpp_send_body("5511999990001")),
    )
    .await;
    assert_eq!(answer.status, 201);
}

#[tokio::test]
async fn wppconnect_deliver_but_timeout_records_the_message_and_answers_504() {
    let fake = wppconnect().await;
    fake.deliver_but_timeout_next(1);
    let answer = wpp(
        &fake,
        "POST",
        "send-message",
        Some(wpp_send_body("5511999990001")),
    )
    .await;
    assert_eq!(answer.status, 504);
    assert_eq!(fake.sent().len(), 1);
    let retried = wpp(
        &fake,
        "POST",
        "send-message",
        Some(wpp_send_body("5511999990001")),
    )
    .await;
    assert_eq!(retried.status, 201);
    assert_eq!(fake.sent().len(), 2, "a blind retry duplicates the message");
}

#[tokio::test]
async fn wppconnect_send_while_disconnected_is_404_session_not_active() {
    let fake = wppconnect().await;
    fake.set_session(FakeSession::NotLogged);
    let answer = wpp(
        &fake,
        "POST",
        "send-message",
        Some(wpp_send_body("5511999990001")),
    )
    .await;
    assert_eq!(answer.status, 404);
    assert_eq!(
        answer.body,
        json!({
            "response": null,
            "status": "Disconnected",
            "message": "A sessão do WhatsApp não está ativa.",
        })
    );
    assert!(fake.sent().is_empty());
}

#[tokio::test]
async fn wppconnect_phone_that_is_not_digits_is_400_number_does_not_exist() {
    let fake = wppconnect().await;
    let answer = wpp(&fake, "POST", "send-message", Some(wpp_send_body("55abc"))).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.body["status"], "Connected");
    assert_eq!(answer.body["message"], "O número 55abc não existe.");
}

#[tokio::test]
async fn wppconnect_session_recovery_needs_a_new_qr_when_reconnect_fails() {
    let fake = wppconnect().await;
    fake.set_session(FakeSession::NotLogged);
    fake.set_reconnect_succeeds(false);
    let status = wpp(&fake, "GET", "status-session", None).await;
    assert_eq!(status.body, json!({ "status": "CLOSED", "qrcode": null }));

    let start = json!({ "webhook": "https://inbox.example.test/hooks/w", "waitQrCode": false });
    let started = wpp(&fake, "POST", "start-session", Some(start)).await;
    assert_eq!(started.status, 200);
    assert_eq!(started.body, json!({ "status": "CLOSED", "qrcode": null }));
    assert_eq!(fake.session(), FakeSession::NotLogged);
    assert_eq!(
        fake.webhook_url().as_deref(),
        Some("https://inbox.example.test/hooks/w")
    );

    let logout = wpp(&fake, "POST", "logout-session", None).await;
    assert_eq!(
        logout.body,
        json!({ "status": true, "message": "Session successfully closed" })
    );
    assert_eq!(fake.session(), FakeSession::Qr);
    let qr = fake.qr_code().unwrap();
    let status = wpp(&fake, "GET", "status-session", None).await;
    assert_eq!(status.body["status"], "QRCODE");
    assert_eq!(status.body["urlcode"], qr.as_str());
    let started = wpp(
        &fake,
        "POST",
        "start-session",
        Some(json!({ "waitQrCode": true })),
    )
    .await;
    assert_eq!(started.body["status"], "qrcode");
    assert_eq!(started.body["urlcode"], qr.as_str());
    assert!(
        started.body["qrcode"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,")
    );

    wpp(&fake, "POST", "logout-session", None).await;
    assert_ne!(
        fake.qr_code().unwrap(),
        qr,
        "every logout offers a new code"
    );
    fake.scan_qr();
    let status = wpp(&fake, "GET", "status-session", None).await;
    assert_eq!(status.body["status"], "CONNECTED");
    assert_eq!(fake.qr_code(), None);
    let sent = wpp(
        &fake,
        "POST",
        "send-message",
        Some(wpp_send_body("5511999990001")),
    )
    .await;
    assert_eq!(sent.status, 201);
    assert_eq!(fake.count("logout-session"), 2);
    assert_eq!(fake.count("start-session"), 2);
}

#[tokio::test]
async fn wppconnect_start_session_reconnects_a_dropped_session_by_default() {
    let fake = wppconnect().await;
    fake.set_session(FakeSession::NotLogged);
    let started = wpp(&fake, "POST", "start-session", None).await;
    assert_eq!(started.body["status"], "CONNECTED");
    assert_eq!(fake.session(), FakeSession::Connected);
}

#[tokio::test]
async fn wppconnect_generate_token_hands_out_the_configured_token_for_the_secret() {
    let fake = wppconnect().await;
    let url = |secret: &str| {
        format!(
            "{}/api/NERDWHATS_AMERICA/{secret}/generate-token",
            fake.base_url()
        )
    };
    let answer = call("POST", url("THISISMYSECURETOKEN"), &[], None).await;
    assert_eq!(answer.status, 201);
    assert_eq!(answer.body["token"], WPP_TOKEN);
    assert_eq!(
        answer.body["full"],
        format!("NERDWHATS_AMERICA:{WPP_TOKEN}").as_str()
    );
    let wrong = call("POST", url("WRONG"), &[], None).await;
    assert_eq!(wrong.status, 400);
}
