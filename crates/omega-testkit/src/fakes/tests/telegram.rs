//! Telegram Bot API: sends, token redaction, error shapes.

use serde_json::json;

use super::*;

#[tokio::test]
async fn telegram_send_is_delivered_and_the_token_is_hidden_in_calls() {
    let fake = telegram().await;
    // The request body of `telegram/rest_send_message.json`.
    let body = json!({
        "chat_id": 111111111,
        "text": "Seu pedido <b>#42</b> saiu para entrega.",
        "parse_mode": "HTML",
        "reply_parameters": { "message_id": 1365 },
    });
    let url = format!("{}/bot{BOT_TOKEN}/sendMessage", fake.base_url());
    let answer = call("POST", url.clone(), &[], Some(body)).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body["ok"], true);
    let result = &answer.body["result"];
    assert_eq!(result["chat"]["id"], 111111111);
    assert_eq!(result["text"], "Seu pedido #42 saiu para entrega.");
    assert_eq!(result["reply_to_message"]["message_id"], 1365);
    let by_name = json!({ "chat_id": "-1001234567890", "text": "Oi" });
    let second = call("POST", url, &[], Some(by_name)).await;
    assert_eq!(second.body["result"]["chat"]["type"], "supergroup");
    let sent = fake.sent();
    assert_eq!(sent[0].to, "111111111");
    assert_eq!(
        sent[0].provider_message_id,
        result["message_id"].to_string()
    );
    assert_eq!(sent[1].to, "-1001234567890");
    let paths: Vec<String> = fake.calls().into_iter().map(|call| call.path).collect();
    assert_eq!(paths, ["/bot***/sendMessage", "/bot***/sendMessage"]);
    assert_eq!(fake.count("sendMessage"), 2);
}

#[tokio::test]
async fn telegram_wrong_token_empty_text_and_rate_limit_use_the_bot_api_shapes() {
    let fake = telegram().await;
    let body = json!({ "chat_id": 111111111, "text": "Oi" });
    let wrong = format!("{}/bot1:WRONG/sendMessage", fake.base_url());
    let answer = call("POST", wrong, &[], Some(body.clone())).await;
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.body,
        json!({ "ok": false, "error_code": 401, "description": "Unauthorized" })
    );
    assert_eq!(fake.calls()[0].path, "/bot***/sendMessage");

    let url = format!("{}/bot{BOT_TOKEN}/sendMessage", fake.base_url());
    let empty = json!({ "chat_id": 111111111, "text": "" });
    let answer = call("POST", url.clone(), &[], Some(empty)).await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.body,
        json!({ "ok": false, "error_code": 400, "description": "Bad Request: message text is empty" })
    );

    fake.fail_next_sends(1, 429);
    let limited = call("POST", url.clone(), &[], Some(body.clone())).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.body["parameters"]["retry_after"], 1);
    assert!(fake.sent().is_empty());
    assert_eq!(call("POST", url, &[], Some(body)).await.status, 200);
    assert_eq!(fake.sent().len(), 1);
}
