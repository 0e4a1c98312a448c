//! WPPConnect Server webhooks.
//!
//! The envelope is `{ "event": "<name>", "session": "<session>", …event fields… }`: the
//! event's own fields are spread at the top level. WPPConnect signs nothing; protect the
//! webhook URL with a per-channel secret. Quirks handled here: `id`, `chatId`, `from`,
//! `author`, `sender.id` are strings or `{ server, user, _serialized }` objects; any of them
//! may be a `…@lid`; `body` holds base64 media for media messages (their text is
//! `caption`); times are Unix seconds except presence `t` in milliseconds.

use serde_json::Value;

use crate::address::from_whatsapp_jid;
use crate::error::ParseError;
use crate::json::{
    address_error, at, invalid, opt_bool, opt_int, opt_str, opt_text, parse_object, pick_primary,
    req_int, req_str, require, seconds_or_ms_to_ms,
};
use crate::model::{
    Address, DeliveryStatus, Direction, InboundEvent, MediaRef, MessageKind, NormalizedMessage,
    PresenceState, SessionEvent,
};

/// Events WPPConnect sends that the inbox does not use.
const IGNORED_EVENTS: &[&str] = &[
    "onparticipantschanged",
    "onreactionmessage",
    "onpollresponse",
    "onupdatelabel",
    "onlabelupdated",
    "incomingcall",
    "onincomingcall",
    "location-live",
    "onlivelocation",
    "onaddedtogroup",
    "unreadmessages",
    "onnotificationmessage",
    "onorderupdate",
];

/// Parses one WPPConnect webhook body.
///
/// ```
/// use omega_channels::{InboundEvent, wppconnect};
/// let body = br#"{"event":"onmessage","id":"false_5511999990001@c.us_3A1F","type":"chat",
///   "body":"oi","t":1751371200,"from":"5511999990001@c.us","fromMe":false}"#;
/// let events = wppconnect::parse(body)?;
/// let InboundEvent::Message(message) = &events[0] else { panic!() };
/// assert_eq!(message.sender.key(), "tel:+5511999990001");
/// assert_eq!(message.sent_at_ms, 1_751_371_200_000);
/// # Ok::<(), omega_channels::ParseError>(())
/// ```
pub fn parse(body: &[u8]) -> Result<Vec<InboundEvent>, ParseError> {
    let value = parse_object("wppconnect", body)?;
    let event = req_str("wppconnect", &value, "event")?;
    let parsed = match event {
        "onmessage" => message("wppconnect onmessage", &value)?,
        "onselfmessage" => message("wppconnect onselfmessage", &value)?,
        "onanymessage" => message("wppconnect onanymessage", &value)?,
        "onack" => ack(&value)?,
        "onrevokedmessage" => revoked(&value)?,
        "onpresencechanged" => presence(&value)?,
        "status-find" => status_find(&value)?,
        "qrcode" => qrcode(&value)?,
        "onstatechange" => InboundEvent::Session(state_change(&value)),
        other if IGNORED_EVENTS.contains(&other) => InboundEvent::Ignored {
            reason: format!("wppconnect {other}"),
        },
        other => InboundEvent::Unknown {
            event_type: other.to_owned(),
        },
    };
    Ok(vec![parsed])
}

/// A string or a `{ _serialized }` object.
fn serialized(value: &Value) -> Option<&str> {
    match value {
        Value::String(text) => Some(text),
        Value::Object(object) => object.get("_serialized")?.as_str(),
        _ => None,
    }
}

fn req_serialized<'a>(
    context: &'static str,
    value: &'a Value,
    path: &'static str,
) -> Result<&'a str, ParseError> {
    let found = require(context, value, path)?;
    serialized(found).ok_or_else(|| invalid(context, path, "a string or {_serialized}", found))
}

fn opt_serialized<'a>(value: &'a Value, path: &str) -> Option<&'a str> {
    serialized(at(value, path)?)
}

fn opt_person(value: &Value, path: &str) -> Option<Address> {
    let address = from_whatsapp_jid(opt_serialized(value, path)?).ok()?;
    matches!(address, Address::Phone(_) | Address::WhatsAppLid(_)).then_some(address)
}

fn message(context: &'static str, value: &Value) -> Result<InboundEvent, ParseError> {
    let id = req_serialized(context, value, "id")?;
    let from_me = opt_bool(value, "fromMe")
        .or_else(|| opt_bool(value, "id.fromMe"))
        .unwrap_or_else(|| id.starts_with("true_"));
    let direction = if from_me {
        Direction::Outbound
    } else {
        Direction::Inbound
    };

    let chat_path = match (at(value, "chatId").is_some(), from_me) {
        (true, _) => "chatId",
        (false, true) => "to",
        (false, false) => "from",
    };
    let chat_jid = req_serialized(context, value, chat_path)?;
    let chat = from_whatsapp_jid(chat_jid).map_err(address_error(context, chat_path))?;
    let one_to_one = matches!(chat, Address::Phone(_) | Address::WhatsAppLid(_));

    let sender_paths: &[&str] = match (from_me, one_to_one) {
        (true, _) => &["author", "from", "sender.id"],
        (false, true) => &[
            "author",
            "sender.id",
            "from",
            "chatId",
            "sender.phoneNumber",
        ],
        (false, false) => &["author", "sender.id", "sender.phoneNumber"],
    };
    let candidates = sender_paths
        .iter()
        .filter_map(|path| opt_person(value, path))
        .collect();
    let Some((sender, sender_alt)) = pick_primary(candidates) else {
        return Err(ParseError::MissingField {
            context,
            field: if one_to_one { "from" } else { "author" },
        });
    };
    // In a one-to-one chat the contact is the conversation: file it under the same address.
    let chat = if one_to_one && !from_me {
        sender.clone()
    } else if one_to_one {
        let chat_candidates = ["chatId", "to"]
            .iter()
            .filter_map(|path| opt_person(value, path))
            .collect();
        pick_primary(chat_candidates).map_or(chat, |(primary, _)| primary)
    } else {
        chat
    };

    let type_name = opt_str(value, "type").unwrap_or_default();
    let kind = kind_of(type_name);
    let is_media = matches!(
        kind,
        MessageKind::Image
            | MessageKind::Audio
            | MessageKind::Video
            | MessageKind::Document
            | MessageKind::Sticker
    ) || opt_bool(value, "isMedia") == Some(true);
    let caption = opt_text(value, "caption");
    let text = if is_media {
        caption.clone()
    } else if kind == MessageKind::Text || matches!(kind, MessageKind::Unknown(_)) {
        opt_text(value, "body").or_else(|| opt_text(value, "content"))
    } else {
        caption.clone()
    };
    let media = is_media.then(|| MediaRef {
        mime: opt_text(value, "mimetype"),
        url: opt_text(value, "deprecatedMms3Url").or_else(|| opt_text(value, "clientUrl")),
        caption,
        size: opt_int(value, "size").and_then(|size| u64::try_from(size).ok()),
        provider_id: Some(id.to_owned()),
    });

    let time_path = if at(value, "t").is_some() {
        "t"
    } else {
        "timestamp"
    };
    let time = req_int(context, value, time_path)?;
    let sent_at_ms = seconds_or_ms_to_ms(time).ok_or_else(|| ParseError::InvalidField {
        context,
        field: time_path,
        expected: "unix seconds or milliseconds",
        got: "an out-of-range number".to_owned(),
    })?;

    let sender_name = if from_me {
        None
    } else {
        opt_text(value, "notifyName")
            .or_else(|| opt_text(value, "sender.pushname"))
            .or_else(|| opt_text(value, "sender.verifiedName"))
    };
    let reply_to = opt_serialized(value, "quotedMsgId")
        .or_else(|| opt_str(value, "quotedStanzaID"))
        .filter(|quoted| !quoted.is_empty())
        .map(str::to_owned);

    Ok(InboundEvent::Message(NormalizedMessage {
        provider_message_id: id.to_owned(),
        chat,
        sender,
        sender_alt,
        sender_name,
        direction,
        kind,
        text,
        media,
        reply_to,
        sent_at_ms,
        locked_chat: opt_bool(value, "isLocked")
            .or_else(|| opt_bool(value, "chat.isLocked"))
            .unwrap_or(false),
    }))
}

fn kind_of(type_name: &str) -> MessageKind {
    match type_name {
        "chat" | "text" => MessageKind::Text,
        "image" => MessageKind::Image,
        "ptt" | "audio" => MessageKind::Audio,
        "video" | "gif" | "ptv" => MessageKind::Video,
        "document" => MessageKind::Document,
        "location" => MessageKind::Location,
        "vcard" | "multi_vcard" => MessageKind::Contact,
        "sticker" => MessageKind::Sticker,
        "reaction" => MessageKind::Reaction,
        "e2e_notification"
        | "notification"
        | "notification_template"
        | "gp2"
        | "call_log"
        | "protocol"
        | "revoked"
        | "ciphertext" => MessageKind::System,
        other => MessageKind::Unknown(other.to_owned()),
    }
}

fn ack(value: &Value) -> Result<InboundEvent, ParseError> {
    let context = "wppconnect onack";
    let id = req_serialized(context, value, "id")?;
    let ack = req_int(context, value, "ack")?;
    let status = match ack {
        i64::MIN..=-1 => DeliveryStatus::Failed,
        0 => DeliveryStatus::Pending,
        1 => DeliveryStatus::Sent,
        2 => DeliveryStatus::Delivered,
        _ => DeliveryStatus::Read,
    };
    Ok(InboundEvent::Status {
        provider_message_id: id.to_owned(),
        status,
        at_ms: None,
    })
}

fn revoked(value: &Value) -> Result<InboundEvent, ParseError> {
    let context = "wppconnect onrevokedmessage";
    // `refId` names the deleted message; `id` is the revoke notice itself.
    let id = match opt_serialized(value, "refId") {
        Some(reference) => reference,
        None => req_serialized(context, value, "id")?,
    };
    Ok(InboundEvent::Revoked {
        provider_message_id: id.to_owned(),
    })
}

fn presence(value: &Value) -> Result<InboundEvent, ParseError> {
    let context = "wppconnect onpresencechanged";
    let jid = req_serialized(context, value, "id")?;
    let address = from_whatsapp_jid(jid).map_err(address_error(context, "id"))?;
    let state = match (opt_str(value, "state"), opt_bool(value, "isOnline")) {
        (Some(state), _) => PresenceState::from_provider(state),
        (None, Some(true)) => PresenceState::Available,
        (None, Some(false)) => PresenceState::Unavailable,
        (None, None) => {
            return Err(ParseError::MissingField {
                context,
                field: "state",
            });
        }
    };
    let at_ms = opt_int(value, "t").and_then(seconds_or_ms_to_ms);
    Ok(InboundEvent::Presence {
        address,
        state,
        at_ms,
    })
}

fn status_find(value: &Value) -> Result<InboundEvent, ParseError> {
    let status = req_str("wppconnect status-find", value, "status")?;
    let session = match status {
        "inChat" | "successChat" | "isLogged" => SessionEvent::Connected,
        "notLogged" | "deleteToken" | "desconnectedMobile" | "disconnectedMobile" => {
            SessionEvent::NotLogged
        }
        "browserClose" | "autocloseCalled" | "serverClose" | "phoneNotConnected" => {
            SessionEvent::Disconnected {
                reason: status.to_owned(),
            }
        }
        other => SessionEvent::Other(other.to_owned()),
    };
    Ok(InboundEvent::Session(session))
}

fn qrcode(value: &Value) -> Result<InboundEvent, ParseError> {
    // `urlcode` is the QR payload; `qrcode` a rendered PNG (base64) as a fallback.
    let code = match opt_text(value, "urlcode") {
        Some(code) => code,
        None => req_str("wppconnect qrcode", value, "qrcode")?.to_owned(),
    };
    Ok(InboundEvent::Session(SessionEvent::Qr { code }))
}

fn state_change(value: &Value) -> SessionEvent {
    match opt_str(value, "state") {
        Some("CONNECTED") => SessionEvent::Connected,
        Some("UNPAIRED" | "UNPAIRED_IDLE" | "UNLAUNCHED") => SessionEvent::NotLogged,
        Some(state @ ("CONFLICT" | "DISCONNECTED" | "TIMEOUT")) => SessionEvent::Disconnected {
            reason: state.to_owned(),
        },
        Some(other) => SessionEvent::Other(other.to_owned()),
        None => SessionEvent::Other("onstatechange".to_owned()),
    }
}
