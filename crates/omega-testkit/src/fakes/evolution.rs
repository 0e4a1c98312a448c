//! The Evolution API fake (`fixtures/connectors/evolution/rest_*.json`): `apikey` header,
//! instance name in the paths.

use serde_json::{Value, json};

use super::{FakeSession, Reply, Request, SentMessage, State, now_unix, reason};

/// The id Evolution gives the one instance.
const INSTANCE_ID: &str = "6f1d2c3b-4a59-4e8f-9b7a-0c1d2e3f4a5b";

enum Route {
    SendText,
    ConnectionState,
    Connect,
    Logout,
    SetWebhook,
}

pub(super) fn handle(instance: &str, apikey: &str, state: &mut State, request: &Request) -> Reply {
    let segments: Vec<&str> = request.path.trim_start_matches('/').split('/').collect();
    let (route, name) = match (request.method.as_str(), segments.as_slice()) {
        ("POST", ["message", "sendText", name]) => (Route::SendText, name),
        ("GET", ["instance", "connectionState", name]) => (Route::ConnectionState, name),
        ("GET", ["instance", "connect", name]) => (Route::Connect, name),
        ("DELETE", ["instance", "logout", name]) => (Route::Logout, name),
        ("POST", ["webhook", "set", name]) => (Route::SetWebhook, name),
        _ => {
            let message = format!("Cannot {} {}", request.method, request.path);
            return error(404, json!([message]));
        }
    };
    if request.header("apikey") != Some(apikey) {
        return Reply::json(401, unauthorized());
    }
    if *name != instance {
        let message = format!("The \"{name}\" instance does not exist");
        return error(404, json!([message]));
    }
    match route {
        Route::SendText => super::send(state, failure, |state| send_text(state, request)),
        Route::ConnectionState => Reply::json(200, instance_state(instance, state)),
        Route::Connect => {
            state.try_reconnect();
            match state.qr_code() {
                Some(code) => Reply::json(
                    200,
                    json!({
                        "pairingCode": null,
                        "code": code,
                        "base64": super::QR_IMAGE,
                        "count": 1,
                    }),
                ),
                None => Reply::json(200, instance_state(instance, state)),
            }
        }
        Route::Logout => {
            state.enter(FakeSession::Qr);
            Reply::json(
                200,
                json!({
                    "status": "SUCCESS",
                    "error": false,
                    "response": { "message": "Instance logged out" },
                }),
            )
        }
        Route::SetWebhook => set_webhook(state, request),
    }
}

/// Evolution's error envelope.
fn error(status: u16, messages: Value) -> Reply {
    Reply::json(
        status,
        json!({ "status": status, "error": reason(status), "response": { "message": messages } }),
    )
}

fn unauthorized() -> Value {
    json!({ "status": 401, "error": "Unauthorized", "response": { "message": "Unauthorized" } })
}

/// The error shape of an injected failure.
fn failure(status: u16) -> Reply {
    if status == 401 {
        return Reply::json(401, unauthorized());
    }
    error(status, json!([reason(status)]))
}

fn instance_state(instance: &str, state: &State) -> Value {
    let connection = match state.session {
        FakeSession::Connected => "open",
        FakeSession::NotLogged => "close",
        FakeSession::Qr => "connecting",
    };
    json!({ "instance": { "instanceName": instance, "state": connection } })
}

fn send_text(state: &mut State, request: &Request) -> Reply {
    let Some(body) = request.json_object() else {
        return error(400, json!(["the body is not a JSON object"]));
    };
    if state.session != FakeSession::Connected {
        return error(400, json!(["Connection Closed"]));
    }
    let Some(number) = body.get("number").and_then(Value::as_str) else {
        return error(400, json!(["instance requires property \"number\""]));
    };
    let Some(text) = body.get("text").and_then(Value::as_str) else {
        return error(400, json!(["instance requires property \"text\""]));
    };
    let (digits, is_group) = match number.split_once('@') {
        Some((digits, "s.whatsapp.net")) => (digits, false),
        Some((digits, "g.us")) => (digits, true),
        Some(_) => ("", false),
        None => (number, false),
    };
    let valid = digits.starts_with(|c: char| c.is_ascii_digit())
        && digits
            .chars()
            .all(|c| c.is_ascii_digit() || (is_group && c == '-'));
    let remote_jid = if number.contains('@') {
        number.to_owned()
    } else {
        format!("{number}@s.whatsapp.net")
    };
    if !valid {
        return error(
            400,
            json!([{ "jid": remote_jid, "exists": false, "number": number }]),
        );
    }
    let id = format!("3EB0{:018X}", state.next_message_number());
    let mut answer = json!({
        "key": { "remoteJid": remote_jid, "fromMe": true, "id": id },
        "pushName": "Você",
        "status": "PENDING",
        "message": { "conversation": text },
        "messageType": "conversation",
        "messageTimestamp": now_unix(),
        "instanceId": INSTANCE_ID,
        "source": "web",
    });
    if let Some(quoted) = body.get("quoted") {
        answer["contextInfo"] = json!({
            "stanzaId": quoted.pointer("/key/id"),
            "participant": remote_jid,
            "quotedMessage": quoted.get("message"),
        });
    }
    state.sent.push(SentMessage {
        to: number.to_owned(),
        text: text.to_owned(),
        provider_message_id: id,
    });
    Reply::json(201, answer)
}

fn set_webhook(state: &mut State, request: &Request) -> Reply {
    let webhook = request
        .json_object()
        .and_then(|mut body| body.remove("webhook"));
    let Some(url) = webhook
        .as_ref()
        .and_then(|webhook| webhook.get("url"))
        .and_then(Value::as_str)
    else {
        return error(400, json!(["webhook requires property \"url\""]));
    };
    state.webhook_url = Some(url.to_owned());
    let field = |name: &str| {
        webhook
            .as_ref()
            .and_then(|webhook| webhook.get(name))
            .cloned()
    };
    Reply::json(
        201,
        json!({
            "id": "fake-webhook-1",
            "url": url,
            "headers": field("headers"),
            "enabled": field("enabled").unwrap_or(Value::Bool(true)),
            "events": field("events").unwrap_or_else(|| json!([])),
            "webhookByEvents": field("byEvents").unwrap_or(Value::Bool(false)),
            "webhookBase64": field("base64").unwrap_or(Value::Bool(false)),
            "instanceId": INSTANCE_ID,
        }),
    )
}
