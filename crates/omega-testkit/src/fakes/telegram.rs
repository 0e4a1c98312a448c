//! The Telegram Bot API fake (`fixtures/connectors/telegram/rest_*.json`): `/bot{token}/{method}`
//! with JSON bodies.

use serde_json::{Value, json};

use super::{Reply, Request, SentMessage, State, now_unix, reason};

pub(super) fn handle(bot_token: &str, state: &mut State, request: &Request) -> Reply {
    let Some((token, method)) = request
        .path
        .strip_prefix("/bot")
        .and_then(|rest| rest.split_once('/'))
    else {
        return error(404, "Not Found");
    };
    if token != bot_token {
        return error(401, "Unauthorized");
    }
    match (request.method.as_str(), method) {
        ("POST", "sendMessage") => {
            super::send(state, failure, |state| send_message(state, request))
        }
        ("POST", "setWebhook") => set_webhook(state, request),
        _ => error(404, "Not Found"),
    }
}

/// `path` with the bot token replaced by `***`.
pub(super) fn redact(path: &str) -> String {
    match path.strip_prefix("/bot") {
        Some(rest) => match rest.find('/') {
            Some(end) => format!("/bot***{}", &rest[end..]),
            None => "/bot***".to_owned(),
        },
        None => path.to_owned(),
    }
}

fn error(status: u16, description: &str) -> Reply {
    Reply::json(
        status,
        json!({ "ok": false, "error_code": status, "description": description }),
    )
}

/// The error shape of an injected failure (a 429 asks to retry after 1 s).
fn failure(status: u16) -> Reply {
    match status {
        429 => Reply::json(
            429,
            json!({
                "ok": false,
                "error_code": 429,
                "description": "Too Many Requests: retry after 1",
                "parameters": { "retry_after": 1 },
            }),
        ),
        403 => error(403, "Forbidden: bot was blocked by the user"),
        _ => error(status, reason(status)),
    }
}

fn bot_user() -> Value {
    json!({
        "id": 7000000001_i64,
        "is_bot": true,
        "first_name": "Inbox Bot",
        "username": "example_inbox_bot",
    })
}

/// The `Chat` a `chat_id` names: its number, or a channel for an `@username`.
fn chat(chat_id: &Value) -> Result<Value, &'static str> {
    let id = match chat_id {
        Value::Number(number) => number.as_i64().ok_or("Bad Request: chat not found")?,
        Value::String(text) if text.is_empty() => return Err("Bad Request: chat_id is empty"),
        Value::String(text) if text.starts_with('@') => {
            let username = &text[1..];
            return Ok(
                json!({ "id": -1000000000001_i64, "title": username, "username": username, "type": "channel" }),
            );
        }
        Value::String(text) => text.parse().map_err(|_| "Bad Request: chat not found")?,
        Value::Null => return Err("Bad Request: chat_id is empty"),
        _ => return Err("Bad Request: chat not found"),
    };
    let kind = if id > 0 {
        "private"
    } else if id <= -1_000_000_000_000 {
        "supergroup"
    } else {
        "group"
    };
    Ok(json!({ "id": id, "type": kind }))
}

fn send_message(state: &mut State, request: &Request) -> Reply {
    let Some(body) = request.json_object() else {
        return error(400, "Bad Request: can't parse JSON object");
    };
    let chat_id = body.get("chat_id").unwrap_or(&Value::Null);
    let chat = match chat(chat_id) {
        Ok(chat) => chat,
        Err(description) => return error(400, description),
    };
    let text = body.get("text").and_then(Value::as_str).unwrap_or("");
    if text.trim().is_empty() {
        return error(400, "Bad Request: message text is empty");
    }
    let html = body
        .get("parse_mode")
        .and_then(Value::as_str)
        .is_some_and(|mode| mode.eq_ignore_ascii_case("html"));
    let shown = if html {
        strip_html(text)
    } else {
        text.to_owned()
    };
    let message_id = state.next_message_number();
    let now = now_unix();
    let mut result = json!({
        "message_id": message_id,
        "from": bot_user(),
        "chat": chat,
        "date": now,
        "text": shown,
    });
    let replied = body
        .get("reply_parameters")
        .and_then(|parameters| parameters.get("message_id"))
        .or_else(|| body.get("reply_to_message_id"))
        .and_then(Value::as_i64);
    if let Some(replied) = replied {
        result["reply_to_message"] = json!({ "message_id": replied, "chat": chat, "date": now });
    }
    let to = match chat_id {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    state.sent.push(SentMessage {
        to,
        text: text.to_owned(),
        provider_message_id: message_id.to_string(),
    });
    Reply::json(200, json!({ "ok": true, "result": result }))
}

/// What Telegram shows of an HTML-formatted text: tags dropped, entities decoded.
fn strip_html(text: &str) -> String {
    let mut shown = String::with_capacity(text.len());
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => shown.push(c),
            _ => {}
        }
    }
    shown
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

fn set_webhook(state: &mut State, request: &Request) -> Reply {
    let Some(body) = request.json_object() else {
        return error(400, "Bad Request: can't parse JSON object");
    };
    let url = body.get("url").and_then(Value::as_str).unwrap_or("");
    state.webhook_url = (!url.is_empty()).then(|| url.to_owned());
    let description = if url.is_empty() {
        "Webhook was deleted"
    } else {
        "Webhook was set"
    };
    Reply::json(
        200,
        json!({ "ok": true, "result": true, "description": description }),
    )
}
