//! WhatsApp Cloud API: sends and Graph error envelopes.

use serde_json::json;

use super::*;

#[tokio::test]
async fn cloud_api_send_is_delivered_under_any_version_prefix() {
    let fake = FakeSource::start(FakeKind::CloudApi {
        phone_number_id: "106540352242922".to_owned(),
        access_token: "FAKE_SYSTEM_USER_TOKEN".to_owned(),
    })
    .await;
    assert!(fake.base_url().ends_with("/v23.0"));
    // The request body of `meta_whatsapp/rest_send_text.json`.
    let body = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "16505551234",
        "type": "text",
        "text": { "preview_url": false, "body": "Sim, temos em azul." },
        "context": {
            "message_id": "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
        },
    });
    let auth = [("Authorization", "Bearer FAKE_SYSTEM_USER_TOKEN")];
    let url = format!("{}/106540352242922/messages", fake.base_url());
    let answer = call("POST", url.clone(), &auth, Some(body.clone())).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(
        answer.body["messages"][0]["id"]
            .as_str()
            .unwrap()
            .starts_with("wamid.FAKE")
    );
    assert_eq!(answer.body["contacts"][0]["wa_id"], "16505551234");
    let older = url.replace("/v23.0/", "/v21.0/");
    assert_eq!(
        call("POST", older, &auth, Some(body.clone())).await.status,
        200
    );
    assert_eq!(fake.sent().len(), 2);
    assert_eq!(fake.sent()[0].text, "Sim, temos em azul.");

    let wrong = call("POST", url, &[("Authorization", "Bearer nope")], Some(body)).await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.body["error"]["code"], 190);
    assert_eq!(wrong.body["error"]["type"], "OAuthException");
    assert_eq!(
        wrong.body["error"]["message"],
        "Invalid OAuth access token."
    );
}

#[tokio::test]
async fn cloud_api_invalid_body_is_400_with_code_100() {
    let fake = FakeSource::start(FakeKind::CloudApi {
        phone_number_id: "106540352242922".to_owned(),
        access_token: "FAKE_SYSTEM_USER_TOKEN".to_owned(),
    })
    .await;
    let auth = [("Authorization", "Bearer FAKE_SYSTEM_USER_TOKEN")];
    let url = format!("{}/106540352242922/messages", fake.base_url());
    let bodies = [
        json!({ "messaging_product": "whatsapp", "type": "text", "text": { "body": "x" } }),
        json!({ "messaging_product": "whatsapp", "to": "1650", "type": "text", "text": {} }),
        json!({ "messaging_product": "messenger", "to": "1650", "text": { "body": "x" } }),
    ];
    for body in bodies {
        let answer = call("POST", url.clone(), &auth, Some(body)).await;
        assert_eq!(answer.status, 400, "{answer:?}");
        assert_eq!(answer.body["error"]["code"], 100);
        assert_eq!(answer.body["error"]["type"], "OAuthException");
    }
    assert!(fake.sent().is_empty());
}
