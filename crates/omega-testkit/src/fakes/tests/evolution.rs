//! Evolution API: sends, credentials, instance recovery.

use serde_json::{Value, json};

use super::*;

async fn evo(fake: &FakeSource, method: &str, path: &str, body: Option<Value>) -> Answer {
    let url = format!("{}{path}", fake.base_url());
    call(method, url, &[("apikey", "FAKE-API-KEY")], body).await
}

#[tokio::test]
async fn evolution_send_text_is_delivered_with_the_quote_context() {
    let fake = evolution().await;
    // The request body of `evolution/rest_send_text.json`.
    let body = json!({
        "number": "5511999990001",
        "text": "Olá! Seu pedido saiu para entrega.",
        "delay": 1200,
        "linkPreview": false,
        "quoted": {
            "key": { "id": "3A1F00000000000000A1" },
            "message": { "conversation": "Olá, vocês entregam hoje?" },
        },
    });
    let answer = evo(&fake, "POST", "/message/sendText/loja-centro", Some(body)).await;
    assert_eq!(answer.status, 201, "{answer:?}");
    let id = answer.body["key"]["id"].as_str().unwrap();
    assert!(id.starts_with("3EB0"), "{id}");
    assert_eq!(
        answer.body["key"]["remoteJid"],
        "5511999990001@s.whatsapp.net"
    );
    assert_eq!(
        answer.body["contextInfo"]["stanzaId"],
        "3A1F00000000000000A1"
    );
    assert_eq!(answer.body["status"], "PENDING");
    let sent = fake.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, "5511999990001");
    assert_eq!(sent[0].provider_message_id, id);
}

#[tokio::test]
async fn evolution_wrong_apikey_is_401_and_wrong_instance_404() {
    let fake = evolution().await;
    let body = json!({ "number": "5511999990001", "text": "Oi" });
    let url = format!("{}/message/sendText/loja-centro", fake.base_url());
    let wrong = call("POST", url, &[("apikey", "nope")], Some(body.clone())).await;
    assert_eq!(wrong.status, 401);
    assert_eq!(
        wrong.body,
        json!({ "status": 401, "error": "Unauthorized", "response": { "message": "Unauthorized" } })
    );
    let other = evo(&fake, "POST", "/message/sendText/other", Some(body)).await;
    assert_eq!(other.status, 404);
    assert!(fake.sent().is_empty());
}

#[tokio::test]
async fn evolution_send_while_closed_is_rejected_without_delivering() {
    let fake = evolution().await;
    fake.set_session(FakeSession::NotLogged);
    let body = json!({ "number": "5511999990001", "text": "Oi" });
    let answer = evo(&fake, "POST", "/message/sendText/loja-centro", Some(body)).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.body["response"]["message"][0], "Connection Closed");
    assert!(fake.sent().is_empty());
}

#[tokio::test]
async fn evolution_session_recovery_goes_through_logout_and_a_qr_scan() {
    let fake = evolution().await;
    let state = |answer: &Answer| {
        answer.body["instance"]["state"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let open = evo(&fake, "GET", "/instance/connectionState/loja-centro", None).await;
    assert_eq!(
        open.body,
        json!({ "instance": { "instanceName": "loja-centro", "state": "open" } })
    );
    fake.set_session(FakeSession::NotLogged);
    fake.set_reconnect_succeeds(false);
    let connect = evo(&fake, "GET", "/instance/connect/loja-centro", None).await;
    assert_eq!(state(&connect), "close");
    let logout = evo(&fake, "DELETE", "/instance/logout/loja-centro", None).await;
    assert_eq!(logout.body["status"], "SUCCESS");
    let connecting = evo(&fake, "GET", "/instance/connectionState/loja-centro", None).await;
    assert_eq!(state(&connecting), "connecting");
    let connect = evo(&fake, "GET", "/instance/connect/loja-centro", None).await;
    assert_eq!(connect.body["code"], fake.qr_code().unwrap().as_str());
    assert_eq!(connect.body["count"], 1);
    fake.scan_qr();
    let connect = evo(&fake, "GET", "/instance/connect/loja-centro", None).await;
    assert_eq!(state(&connect), "open");
}
