//! The WPPConnect Server fake (`fixtures/connectors/wppconnect/rest_*.json`): `/api/{session}/…`
//! with a bearer token, plus the unauthenticated `generate-token`.

use serde_json::{Value, json};

use super::{FakeSession, Reply, Request, SentMessage, State, now_unix, reason};

/// The server's `SECRET_KEY`, as in the fixture.
const SECRET_KEY: &str = "THISISMYSECURETOKEN";
const VERSION: &str = "2.10.4";
/// The number the session is logged in with.
const OWN_ID: &str = "5511999990000@c.us";

enum Route {
    SendMessage,
    StatusSession,
    StartSession,
    LogoutSession,
}

pub(super) fn handle(session: &str, token: &str, state: &mut State, request: &Request) -> Reply {
    let Some(rest) = request.path.strip_prefix("/api/") else {
        return not_found(request);
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let (path_session, route) = match (request.method.as_str(), segments.as_slice()) {
        ("POST", [path_session, secret, "generate-token"]) => {
            return generate_token(session, token, path_session, secret);
        }
        ("POST", [path_session, "send-message"]) => (path_session, Route::SendMessage),
        ("GET", [path_session, "status-session"]) => (path_session, Route::StatusSession),
        ("POST", [path_session, "start-session"]) => (path_session, Route::StartSession),
        ("POST", [path_session, "logout-session"]) => (path_session, Route::LogoutSession),
        _ => return not_found(request),
    };
    if request.bearer() != Some(token) {
        return Reply::json(401, auth_error());
    }
    if *path_session != session {
        return Reply::json(
            404,
            json!({
                "response": null,
                "status": "error",
                "message": format!("Session {path_session} not found"),
            }),
        );
    }
    match route {
        Route::SendMessage => super::send(state, failure, |state| send_message(state, request)),
        Route::StatusSession => Reply::json(200, status_body(state)),
        Route::StartSession => start_session(session, state, request),
        Route::LogoutSession => {
            state.enter(FakeSession::Qr);
            Reply::json(
                200,
                json!({ "status": true, "message": "Session successfully closed" }),
            )
        }
    }
}

/// Express's default answer for an unknown route.
fn not_found(request: &Request) -> Reply {
    Reply::html(
        404,
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <title>Error</title>\n</head>\n<body>\n<pre>Cannot {} {}</pre>\n</body>\n</html>\n",
            request.method, request.path
        ),
    )
}

fn auth_error() -> Value {
    json!({ "error": "Check that the Session and Token are correct" })
}

fn not_active() -> Value {
    json!({
        "response": null,
        "status": "Disconnected",
        "message": "A sessão do WhatsApp não está ativa.",
    })
}

fn bad_request(message: &str) -> Reply {
    Reply::json(400, json!({ "status": "error", "message": message }))
}

/// The error shape of an injected failure.
fn failure(status: u16) -> Reply {
    let body = match status {
        401 => auth_error(),
        404 => not_active(),
        500 => json!({ "status": "error", "message": "Error on send message", "error": {} }),
        _ => json!({ "status": "error", "message": reason(status) }),
    };
    Reply::json(status, body)
}

fn generate_token(session: &str, token: &str, path_session: &str, secret: &str) -> Reply {
    if secret != SECRET_KEY {
        return Reply::json(
            400,
            json!({ "response": false, "message": "The SECRET_KEY is incorrect" }),
        );
    }
    if path_session != session {
        return Reply::json(
            404,
            json!({
                "response": null,
                "status": "error",
                "message": format!("Session {path_session} not found"),
            }),
        );
    }
    Reply::json(
        201,
        json!({
            "status": "success",
            "session": session,
            "token": token,
            "full": format!("{session}:{token}"),
        }),
    )
}

fn send_message(state: &mut State, request: &Request) -> Reply {
    let Some(body) = request.json_object() else {
        return bad_request("the body is not a JSON object");
    };
    if state.session != FakeSession::Connected {
        return Reply::json(404, not_active());
    }
    let Some(phone) = body.get("phone").and_then(Value::as_str) else {
        return bad_request("phone is required");
    };
    let Some(message) = body.get("message").and_then(Value::as_str) else {
        return bad_request("message is required");
    };
    let flag = |name: &str| body.get(name).and_then(Value::as_bool).unwrap_or(false);
    let is_group = flag("isGroup");
    let suffix = if is_group {
        "@g.us"
    } else if flag("isLid") {
        "@lid"
    } else {
        "@c.us"
    };
    let digits = ["@c.us", "@g.us", "@lid"]
        .iter()
        .find_map(|known| phone.strip_suffix(known))
        .unwrap_or(phone);
    let valid = !digits.is_empty()
        && digits.starts_with(|c: char| c.is_ascii_digit())
        && digits
            .chars()
            .all(|c| c.is_ascii_digit() || (is_group && c == '-'));
    if !valid {
        return Reply::json(
            400,
            json!({
                "response": null,
                "status": "Connected",
                "message": format!("O número {phone} não existe."),
            }),
        );
    }
    let chat_id = format!("{digits}{suffix}");
    let id = format!("true_{chat_id}_3EB0{:018X}", state.next_message_number());
    let quoted = body
        .get("options")
        .and_then(|options| options.get("quotedMsg"))
        .and_then(Value::as_str);
    let now = now_unix();
    state.sent.push(SentMessage {
        to: phone.to_owned(),
        text: message.to_owned(),
        provider_message_id: id.clone(),
    });
    Reply::json(
        201,
        json!({
            "status": "success",
            "mapper": "return",
            "response": [{
                "id": id,
                "body": message,
                "type": "chat",
                "t": now,
                "from": OWN_ID,
                "to": chat_id,
                "self": "out",
                "ack": 1,
                "isNewMsg": true,
                "chatId": chat_id,
                "fromMe": true,
                "timestamp": now,
                "content": message,
                "isGroupMsg": is_group,
                "quotedMsgId": quoted,
                "mediaData": {},
            }],
        }),
    )
}

fn status_body(state: &State) -> Value {
    match state.session {
        FakeSession::Connected => json!({
            "status": "CONNECTED",
            "qrcode": null,
            "urlcode": null,
            "version": VERSION,
        }),
        FakeSession::NotLogged => json!({ "status": "CLOSED", "qrcode": null }),
        FakeSession::Qr => json!({
            "status": "QRCODE",
            "qrcode": super::QR_IMAGE,
            "urlcode": state.qr_code(),
            "version": VERSION,
        }),
    }
}

/// Restarts a dropped session when it can; with a QR pending, offers it (`"qrcode"` in lower case
/// when the caller waited for it, as the real server answers then).
fn start_session(session: &str, state: &mut State, request: &Request) -> Reply {
    let Some(body) = request.json_object() else {
        return bad_request("the body is not a JSON object");
    };
    if let Some(webhook) = body.get("webhook").and_then(Value::as_str) {
        state.webhook_url = Some(webhook.to_owned());
    }
    state.try_reconnect();
    if state.session != FakeSession::Qr {
        return Reply::json(200, status_body(state));
    }
    let waited = body
        .get("waitQrCode")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Reply::json(
        200,
        json!({
            "status": if waited { "qrcode" } else { "QRCODE" },
            "qrcode": super::QR_IMAGE,
            "urlcode": state.qr_code(),
            "session": session,
        }),
    )
}
