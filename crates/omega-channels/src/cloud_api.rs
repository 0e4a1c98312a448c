//! WhatsApp Business Cloud API webhooks.
//!
//! Bodies are `{ object: "whatsapp_business_account", entry: [{ changes: [{ field:
//! "messages", value: { contacts, messages, statuses } }] }] }`: one body can batch many
//! messages and statuses. Verify [`verify_signature`] on the exact raw bytes before
//! parsing. Timestamps are Unix seconds written as strings; addresses are bare `wa_id`
//! digits. Messages received are always inbound; outbound progress arrives in `statuses`.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::address::phone_from_digits;
use crate::error::{ParseError, SignatureError};
use crate::json::{
    address_error, at, opt_int, opt_str, opt_text, parse_object, req_int, req_str, seconds_to_ms,
};
use crate::model::{
    DeliveryStatus, Direction, InboundEvent, MediaRef, MessageKind, NormalizedMessage,
};

const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";
const SIGNATURE_FORM: &str = "sha256=<64 hex digits>";

/// Checks `X-Hub-Signature-256: sha256=<hex>`: HMAC-SHA256 keyed with the app secret over
/// the raw body bytes, compared in constant time. Pass the header value, or `None` when the
/// request had none.
///
/// ```
/// use omega_channels::cloud_api::verify_signature;
/// assert!(verify_signature(b"secret", b"{}", None).is_err());
/// assert!(verify_signature(b"secret", b"{}", Some("sha256=00")).is_err());
/// ```
pub fn verify_signature(
    app_secret: &[u8],
    raw_body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    if app_secret.is_empty() {
        return Err(SignatureError::EmptySecret {
            header: SIGNATURE_HEADER,
        });
    }
    let header = header.ok_or(SignatureError::Missing {
        header: SIGNATURE_HEADER,
    })?;
    let header = header.trim();
    let malformed = |got| SignatureError::Malformed {
        header: SIGNATURE_HEADER,
        expected: SIGNATURE_FORM,
        got,
    };
    let hex_digest = match header.split_once('=') {
        Some((scheme, digest)) if scheme.eq_ignore_ascii_case("sha256") => digest,
        _ => return Err(malformed("no sha256= prefix")),
    };
    if hex_digest.len() != 64 {
        return Err(malformed("a digest of the wrong length"));
    }
    let expected = hex::decode(hex_digest).map_err(|_| malformed("a non-hex character"))?;
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(app_secret) else {
        // HMAC takes keys of any length; fail closed should that ever change.
        return Err(SignatureError::Mismatch {
            header: SIGNATURE_HEADER,
        });
    };
    mac.update(raw_body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch {
            header: SIGNATURE_HEADER,
        })
}

/// Answers the GET subscription handshake: returns the `hub.challenge` to echo (as
/// `text/plain`, status 200) when `hub.mode` is `subscribe` and `hub.verify_token` equals
/// `verify_token` (constant-time); `None` means reply 403. `query` holds URL-decoded pairs.
///
/// The challenge is echoed only if it is 1–128 ASCII letters, digits, `-` or `_` (Meta sends
/// digits), so the endpoint cannot be used to reflect arbitrary content. An empty
/// `verify_token` matches nothing.
///
/// ```
/// use omega_channels::cloud_api::verification_challenge;
/// let query = [("hub.mode", "subscribe"), ("hub.challenge", "1158201444"), ("hub.verify_token", "tok")]
///     .map(|(k, v)| (k.to_owned(), v.to_owned()));
/// assert_eq!(verification_challenge(&query, "tok").as_deref(), Some("1158201444"));
/// assert_eq!(verification_challenge(&query, "other"), None);
/// ```
#[must_use]
pub fn verification_challenge(query: &[(String, String)], verify_token: &str) -> Option<String> {
    let value_of = |name: &str| {
        query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    if verify_token.is_empty() || value_of("hub.mode")? != "subscribe" {
        return None;
    }
    let token = value_of("hub.verify_token")?;
    if !bool::from(token.as_bytes().ct_eq(verify_token.as_bytes())) {
        return None;
    }
    let challenge = value_of("hub.challenge")?;
    let safe = (1..=128).contains(&challenge.len())
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    safe.then(|| challenge.to_owned())
}

/// Parses one Cloud API webhook body into every message and status it carries.
///
/// A body for another `object` (Messenger, Instagram) or another `field` (account updates,
/// templates) gives [`InboundEvent::Unknown`] / [`InboundEvent::Ignored`].
pub fn parse(body: &[u8]) -> Result<Vec<InboundEvent>, ParseError> {
    let context = "cloud api";
    let value = parse_object(context, body)?;
    let object = req_str(context, &value, "object")?;
    if object != "whatsapp_business_account" {
        return Ok(vec![InboundEvent::Unknown {
            event_type: object.to_owned(),
        }]);
    }
    let entries = array(context, &value, "entry")?;
    let mut events = Vec::new();
    for entry in entries {
        for change in array(context, entry, "entry[].changes")? {
            let field = opt_str(change, "field").unwrap_or_default();
            if field != "messages" {
                events.push(InboundEvent::Ignored {
                    reason: format!("cloud api field {field}"),
                });
                continue;
            }
            let Some(change_value) = at(change, "value") else {
                return Err(ParseError::MissingField {
                    context,
                    field: "entry[].changes[].value",
                });
            };
            parse_change(change_value, &mut events)?;
        }
    }
    Ok(events)
}

/// The array at `path` (the last key of it); absent counts as empty.
fn array<'a>(
    context: &'static str,
    value: &'a Value,
    path: &'static str,
) -> Result<&'a [Value], ParseError> {
    let key = path
        .rsplit('.')
        .next()
        .unwrap_or(path)
        .trim_end_matches("[]");
    match value.get(key) {
        Some(Value::Array(items)) => Ok(items),
        Some(Value::Null) | None if path != "entry" => Ok(&[]),
        None | Some(Value::Null) => Err(ParseError::MissingField {
            context,
            field: path,
        }),
        Some(other) => Err(crate::json::invalid(context, path, "an array", other)),
    }
}

fn parse_change(value: &Value, events: &mut Vec<InboundEvent>) -> Result<(), ParseError> {
    let contacts = array("cloud api", value, "entry[].changes[].value.contacts")?;
    for message in array("cloud api", value, "entry[].changes[].value.messages")? {
        events.push(parse_message(message, contacts)?);
    }
    for status in array("cloud api", value, "entry[].changes[].value.statuses")? {
        events.push(parse_status(status)?);
    }
    Ok(())
}

fn parse_message(message: &Value, contacts: &[Value]) -> Result<InboundEvent, ParseError> {
    let context = "cloud api message";
    let id = req_str(context, message, "id")?;
    let from = req_str(context, message, "from")?;
    let sender = phone_from_digits(from).map_err(address_error(context, "from"))?;
    let seconds = req_int(context, message, "timestamp")?;
    let sent_at_ms = seconds_to_ms(context, "timestamp", seconds)?;
    let sender_name = contacts
        .iter()
        .find(|contact| opt_str(contact, "wa_id") == Some(from))
        .and_then(|contact| opt_text(contact, "profile.name"));

    let type_name = opt_str(message, "type").unwrap_or_default();
    let media_kind = match type_name {
        "image" => Some(MessageKind::Image),
        "video" => Some(MessageKind::Video),
        "audio" | "voice" => Some(MessageKind::Audio),
        "document" => Some(MessageKind::Document),
        "sticker" => Some(MessageKind::Sticker),
        _ => None,
    };
    let mut reply_to = opt_text(message, "context.id");
    let (kind, text, media) = if let Some(kind) = media_kind {
        let object = at(message, type_name).unwrap_or(&Value::Null);
        let caption = opt_text(object, "caption");
        let media = MediaRef {
            mime: opt_text(object, "mime_type"),
            url: opt_text(object, "url"),
            caption: caption.clone(),
            size: opt_int(object, "file_size").and_then(|size| u64::try_from(size).ok()),
            provider_id: opt_text(object, "id"),
        };
        (kind, caption, Some(media))
    } else {
        match type_name {
            "text" => (MessageKind::Text, opt_text(message, "text.body"), None),
            "location" => (
                MessageKind::Location,
                opt_text(message, "location.name"),
                None,
            ),
            "contacts" => (MessageKind::Contact, None, None),
            "reaction" => {
                reply_to = opt_text(message, "reaction.message_id");
                let emoji = opt_str(message, "reaction.emoji").map(str::to_owned);
                (MessageKind::Reaction, emoji, None)
            }
            "button" => (MessageKind::Text, opt_text(message, "button.text"), None),
            "interactive" => {
                let title = opt_text(message, "interactive.button_reply.title")
                    .or_else(|| opt_text(message, "interactive.list_reply.title"));
                (MessageKind::Text, title, None)
            }
            "system" => (MessageKind::System, opt_text(message, "system.body"), None),
            other => (MessageKind::Unknown(other.to_owned()), None, None),
        }
    };
    Ok(InboundEvent::Message(NormalizedMessage {
        provider_message_id: id.to_owned(),
        chat: sender.clone(),
        sender,
        sender_alt: Vec::new(),
        sender_name,
        direction: Direction::Inbound,
        kind,
        text,
        media,
        reply_to,
        sent_at_ms,
        locked_chat: false,
    }))
}

fn parse_status(status: &Value) -> Result<InboundEvent, ParseError> {
    let context = "cloud api status";
    let id = req_str(context, status, "id")?;
    let name = req_str(context, status, "status")?;
    let status_value = match name {
        "sent" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        "read" | "played" => DeliveryStatus::Read,
        "failed" => DeliveryStatus::Failed,
        "deleted" => {
            return Ok(InboundEvent::Revoked {
                provider_message_id: id.to_owned(),
            });
        }
        other => {
            return Ok(InboundEvent::Ignored {
                reason: format!("cloud api status {other}"),
            });
        }
    };
    let at_ms = opt_int(status, "timestamp").and_then(|seconds| seconds.checked_mul(1000));
    Ok(InboundEvent::Status {
        provider_message_id: id.to_owned(),
        status: status_value,
        at_ms,
    })
}
