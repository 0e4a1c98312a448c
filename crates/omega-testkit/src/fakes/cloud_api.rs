//! The WhatsApp Cloud API fake (`fixtures/connectors/meta_whatsapp/rest_send_text.json`):
//! `POST /vNN.N/{phone_number_id}/messages` with a bearer token; Graph API error envelopes.

use serde_json::{Map, Value, json};

use super::{Reply, Request, SentMessage, State};

const FBTRACE_ID: &str = "AFAKEFbTraceId0000000";

pub(super) fn handle(
    phone_number_id: &str,
    access_token: &str,
    state: &mut State,
    request: &Request,
) -> Reply {
    if request.bearer() != Some(access_token) {
        return error(401, "Invalid OAuth access token.", 190);
    }
    let segments: Vec<&str> = request.path.trim_start_matches('/').split('/').collect();
    let [version, id, edge] = segments.as_slice() else {
        return unknown_path(request.path);
    };
    if !is_version(version) {
        return unknown_path(&format!("/{version}/"));
    }
    if *id != phone_number_id {
        return Reply::json(
            400,
            json!({
                "error": {
                    "message": format!(
                        "Unsupported post request. Object with ID '{id}' does not exist, cannot \
                         be loaded due to missing permissions, or does not support this \
                         operation. Please read the Graph API documentation at \
                         https://developers.facebook.com/docs/graph-api"
                    ),
                    "type": "GraphMethodException",
                    "code": 100,
                    "error_subcode": 33,
                    "fbtrace_id": FBTRACE_ID,
                }
            }),
        );
    }
    if request.method.as_str() != "POST" || *edge != "messages" {
        return unknown_path(&format!("/{edge}"));
    }
    super::send(state, failure, |state| send_message(state, request))
}

/// `vNN.N`.
fn is_version(segment: &str) -> bool {
    let Some((major, minor)) = segment
        .strip_prefix('v')
        .and_then(|number| number.split_once('.'))
    else {
        return false;
    };
    let digits = |part: &str| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit());
    digits(major) && digits(minor)
}

/// The Graph API error envelope.
fn error(status: u16, message: &str, code: u32) -> Reply {
    Reply::json(
        status,
        json!({
            "error": {
                "message": message,
                "type": "OAuthException",
                "code": code,
                "fbtrace_id": FBTRACE_ID,
            }
        }),
    )
}

fn unknown_path(components: &str) -> Reply {
    error(400, &format!("Unknown path components: {components}"), 2500)
}

fn invalid(message: &str) -> Reply {
    error(400, message, 100)
}

/// The error shape of an injected failure.
fn failure(status: u16) -> Reply {
    match status {
        400 => invalid("(#100) Invalid parameter"),
        401 => error(401, "Invalid OAuth access token.", 190),
        403 => error(
            403,
            "(#10) Application does not have permission for this action",
            10,
        ),
        429 => error(429, "(#130429) Rate limit hit", 130429),
        500 => error(500, "(#131000) Something went wrong", 131000),
        _ => error(status, "An unknown error occurred", 1),
    }
}

fn send_message(state: &mut State, request: &Request) -> Reply {
    let Some(body) = request.json_object() else {
        return invalid("(#100) The request body is not a JSON object");
    };
    let text_field = |body: &Map<String, Value>, name: &str| -> Option<String> {
        let value = body.get(name)?.as_str()?;
        (!value.is_empty()).then(|| value.to_owned())
    };
    match body.get("messaging_product").and_then(Value::as_str) {
        None => return invalid("(#100) The parameter messaging_product is required."),
        Some("whatsapp") => {}
        Some(other) => {
            return invalid(&format!(
                "(#100) Param messaging_product must be 'whatsapp', got '{other}'"
            ));
        }
    }
    let Some(to) = text_field(&body, "to") else {
        return invalid("(#100) The parameter to is required.");
    };
    let kind = body.get("type").and_then(Value::as_str).unwrap_or("text");
    if kind != "text" {
        return invalid(&format!(
            "(#100) This fake accepts only messages of type text, got '{kind}'"
        ));
    }
    let Some(text) = body
        .get("text")
        .and_then(Value::as_object)
        .and_then(|text| text_field(text, "body"))
    else {
        return invalid("(#100) The parameter text['body'] is required.");
    };
    let id = format!("wamid.FAKE{:016X}", state.next_message_number());
    let wa_id: String = to.chars().filter(char::is_ascii_digit).collect();
    state.sent.push(SentMessage {
        to: to.clone(),
        text,
        provider_message_id: id.clone(),
    });
    Reply::json(
        200,
        json!({
            "messaging_product": "whatsapp",
            "contacts": [{ "input": to, "wa_id": wa_id }],
            "messages": [{ "id": id }],
        }),
    )
}
