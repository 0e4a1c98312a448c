//! Evolution API (Baileys) webhooks.
//!
//! The envelope is `{ event, instance, data, destination, date_time, sender, server_url,
//! apikey }`. Evolution signs nothing, and the body may carry the instance `apikey`: store
//! raw bodies only through [`redact_raw`]. `date_time` is server local time with a
//! misleading `Z`, so it is never used; message times come from `messageTimestamp`.
//!
//! One person may appear as a phone JID and as a LID, depending on the Evolution version:
//! up to 2.3.0 the phone is in `key.senderPn`; 2.3.1–2.3.4 put the phone in `remoteJid` and
//! the LID in `key.previousRemoteJid`; from 2.3.5 `remoteJid` may be the LID with the phone
//! in `remoteJidAlt` (groups: `participant` / `participantAlt`). Every spelling is
//! gathered; the phone becomes the address and the LID goes to `sender_alt`.

use serde_json::{Map, Value};

use crate::error::ParseError;
use crate::json::{
    address_error, at, int_value, opt_bool, opt_int, opt_jid, opt_str, opt_text, parse_object,
    pick_primary, req_int, req_jid, req_str, seconds_to_ms,
};
use crate::model::{
    Address, DeliveryStatus, Direction, InboundEvent, MediaRef, MessageKind, NormalizedMessage,
    PresenceState, SessionEvent,
};

/// Events Evolution sends that the inbox does not use.
const IGNORED_EVENTS: &[&str] = &[
    "application.startup",
    "instance.create",
    "instance.delete",
    "messages.set",
    "messages.edited",
    "chats.set",
    "chats.upsert",
    "chats.update",
    "chats.delete",
    "contacts.set",
    "contacts.upsert",
    "contacts.update",
    "groups.upsert",
    "groups.update",
    "group.participants.update",
    "group-participants.update",
    "labels.edit",
    "labels.association",
    "call",
    "typebot.start",
    "typebot.change.status",
    "logout.instance",
    "remove.instance",
];

/// Blanks every `apikey` field (any case, any depth) to an empty string, for storing the
/// raw body. The result is re-serialized compactly. A body that is not JSON gives an empty
/// vector: a key cannot be found reliably in it, and losing a garbage body is better than
/// storing a key.
///
/// ```
/// let raw = br#"{"event":"send.message","apikey":"FAKE-KEY","data":{}}"#;
/// let redacted = omega_channels::evolution::redact_raw(raw);
/// let text = String::from_utf8_lossy(&redacted);
/// assert!(text.contains(r#""apikey":"""#) && !text.contains("FAKE-KEY"));
/// assert!(omega_channels::evolution::redact_raw(br#"{"apikey":"FAKE-KEY""#).is_empty());
/// ```
#[must_use]
pub fn redact_raw(body: &[u8]) -> Vec<u8> {
    let Ok(mut value) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    redact_value(&mut value);
    serde_json::to_vec(&value).unwrap_or_default()
}

fn redact_value(value: &mut Value) {
    match value {
        Value::Object(object) => {
            for (key, field) in object.iter_mut() {
                if key.eq_ignore_ascii_case("apikey") {
                    *field = Value::String(String::new());
                } else {
                    redact_value(field);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_value),
        _ => {}
    }
}

/// Parses one Evolution API webhook body.
///
/// Event names are accepted as `messages.upsert` or `MESSAGES_UPSERT`.
pub fn parse(body: &[u8]) -> Result<Vec<InboundEvent>, ParseError> {
    let value = parse_object("evolution", body)?;
    let event = req_str("evolution", &value, "event")?
        .to_ascii_lowercase()
        .replace('_', ".");
    let envelope_sender = opt_jid(&value, "sender");
    match event.as_str() {
        "messages.upsert" => each_data("evolution messages.upsert", &value, |data| {
            message("evolution messages.upsert", data, envelope_sender.as_ref())
        }),
        "send.message" => each_data("evolution send.message", &value, |data| {
            message("evolution send.message", data, envelope_sender.as_ref())
        }),
        "messages.update" => each_data("evolution messages.update", &value, update),
        "messages.delete" => each_data("evolution messages.delete", &value, delete),
        "connection.update" => each_data("evolution connection.update", &value, connection),
        "qrcode.updated" => each_data("evolution qrcode.updated", &value, |data| {
            let code = in_data(
                req_str("evolution qrcode.updated", data, "qrcode.code"),
                "data.qrcode.code",
            )?;
            Ok(InboundEvent::Session(SessionEvent::Qr {
                code: code.to_owned(),
            }))
        }),
        "presence.update" => presence(&value),
        other if IGNORED_EVENTS.contains(&other) => Ok(vec![InboundEvent::Ignored {
            reason: format!("evolution {other}"),
        }]),
        other => Ok(vec![InboundEvent::Unknown {
            event_type: other.to_owned(),
        }]),
    }
}

/// Names a field of `data` by its full path in errors.
fn in_data<T>(result: Result<T, ParseError>, full_path: &'static str) -> Result<T, ParseError> {
    result.map_err(|error| match error {
        ParseError::MissingField { context, .. } => ParseError::MissingField {
            context,
            field: full_path,
        },
        ParseError::InvalidField {
            context,
            expected,
            got,
            ..
        } => ParseError::InvalidField {
            context,
            field: full_path,
            expected,
            got,
        },
        ParseError::InvalidAddress { context, error, .. } => ParseError::InvalidAddress {
            context,
            field: full_path,
            error,
        },
        other => other,
    })
}

/// Runs `parse_one` on `data`, or on each element when `data` is an array.
fn each_data(
    context: &'static str,
    value: &Value,
    mut parse_one: impl FnMut(&Value) -> Result<InboundEvent, ParseError>,
) -> Result<Vec<InboundEvent>, ParseError> {
    match value.get("data") {
        Some(Value::Array(items)) => items.iter().map(parse_one).collect(),
        Some(data @ Value::Object(_)) => Ok(vec![parse_one(data)?]),
        Some(Value::Null) | None => Err(ParseError::MissingField {
            context,
            field: "data",
        }),
        Some(other) => Err(crate::json::invalid(context, "data", "an object", other)),
    }
}

fn message(
    context: &'static str,
    data: &Value,
    envelope_sender: Option<&Address>,
) -> Result<InboundEvent, ParseError> {
    let id = in_data(req_str(context, data, "key.id"), "data.key.id")?;
    let from_me = opt_bool(data, "key.fromMe").unwrap_or(false);
    let remote = in_data(
        req_jid(context, data, "key.remoteJid"),
        "data.key.remoteJid",
    )?;
    let content = data
        .get("message")
        .map(unwrap_message)
        .unwrap_or(&Value::Null);

    // Protocol messages are edits and deletes of earlier messages, not new messages.
    if let Some(protocol) = at(content, "protocolMessage") {
        return Ok(protocol_event(protocol));
    }

    let one_to_one = matches!(remote, Address::Phone(_) | Address::WhatsAppLid(_));
    let peer_candidates: Vec<Address> = std::iter::once(remote.clone())
        .chain(
            [
                "key.remoteJidAlt",
                "key.senderPn",
                "key.previousRemoteJid",
                "key.senderLid",
            ]
            .iter()
            .filter_map(|path| opt_jid(data, path)),
        )
        .filter(|address| matches!(address, Address::Phone(_) | Address::WhatsAppLid(_)))
        .collect();

    let (chat, sender, sender_alt) = if one_to_one {
        let (peer, peer_alt) = pick_primary(peer_candidates).unwrap_or((remote, Vec::new()));
        if from_me {
            (
                peer,
                own_sender(context, data, envelope_sender)?,
                Vec::new(),
            )
        } else {
            (peer.clone(), peer, peer_alt)
        }
    } else {
        let participants = [
            "key.participant",
            "key.participantAlt",
            "key.participantPn",
            "participant",
        ]
        .iter()
        .filter_map(|path| opt_jid(data, path))
        .filter(|address| matches!(address, Address::Phone(_) | Address::WhatsAppLid(_)))
        .collect();
        match (from_me, pick_primary(participants)) {
            (false, Some((sender, alt))) => (remote, sender, alt),
            (true, _) => (
                remote,
                own_sender(context, data, envelope_sender)?,
                Vec::new(),
            ),
            (false, None) => {
                return Err(ParseError::MissingField {
                    context,
                    field: "data.key.participant",
                });
            }
        }
    };

    let seconds = in_data(
        req_int(context, data, "messageTimestamp"),
        "data.messageTimestamp",
    )?;
    let sent_at_ms = seconds_to_ms(context, "data.messageTimestamp", seconds)?;
    let (kind, text, mut media, mut reply_to) = content_of(content, opt_str(data, "messageType"));
    if let Some(media) = media.as_mut() {
        media.provider_id = Some(id.to_owned());
    }
    if reply_to.is_none() {
        reply_to = opt_text(data, "contextInfo.stanzaId");
    }
    Ok(InboundEvent::Message(NormalizedMessage {
        provider_message_id: id.to_owned(),
        chat,
        sender,
        sender_alt,
        sender_name: if from_me {
            None
        } else {
            opt_text(data, "pushName")
        },
        direction: if from_me {
            Direction::Outbound
        } else {
            Direction::Inbound
        },
        kind,
        text,
        media,
        reply_to,
        sent_at_ms,
        locked_chat: false,
    }))
}

/// The business account for outbound messages: the envelope's `sender`.
fn own_sender(
    context: &'static str,
    data: &Value,
    envelope_sender: Option<&Address>,
) -> Result<Address, ParseError> {
    if let Some(participant) = opt_jid(data, "key.participant") {
        return Ok(participant);
    }
    envelope_sender.cloned().ok_or(ParseError::MissingField {
        context,
        field: "sender",
    })
}

/// Looks through the wrappers Baileys puts around real content.
fn unwrap_message(content: &Value) -> &Value {
    let mut current = content;
    for _ in 0..4 {
        let inner = [
            "ephemeralMessage.message",
            "viewOnceMessage.message",
            "viewOnceMessageV2.message",
            "viewOnceMessageV2Extension.message",
            "documentWithCaptionMessage.message",
            "editedMessage.message",
        ]
        .iter()
        .find_map(|path| at(current, path));
        match inner {
            Some(inner) => current = inner,
            None => break,
        }
    }
    current
}

fn protocol_event(protocol: &Value) -> InboundEvent {
    let target = opt_text(protocol, "key.id");
    let kind = protocol.get("type");
    let kind_name = kind.and_then(Value::as_str);
    let kind_number = kind.and_then(int_value);
    match (target, kind_name, kind_number) {
        (Some(id), Some("REVOKE"), _) | (Some(id), _, Some(0)) => InboundEvent::Revoked {
            provider_message_id: id,
        },
        (Some(id), Some("MESSAGE_EDIT"), _) | (Some(id), _, Some(14)) => {
            let edited = protocol.get("editedMessage").unwrap_or(&Value::Null);
            let text = opt_text(edited, "conversation")
                .or_else(|| opt_text(edited, "extendedTextMessage.text"))
                .or_else(|| media_caption(edited));
            InboundEvent::Edited {
                provider_message_id: id,
                text,
                at_ms: opt_int(protocol, "timestampMs"),
            }
        }
        _ => InboundEvent::Ignored {
            reason: "evolution protocol message".to_owned(),
        },
    }
}

const MEDIA_KEYS: &[(&str, MessageKind)] = &[
    ("imageMessage", MessageKind::Image),
    ("videoMessage", MessageKind::Video),
    ("ptvMessage", MessageKind::Video),
    ("audioMessage", MessageKind::Audio),
    ("documentMessage", MessageKind::Document),
    ("stickerMessage", MessageKind::Sticker),
];

fn media_caption(content: &Value) -> Option<String> {
    MEDIA_KEYS.iter().find_map(|(key, _)| {
        content
            .get(*key)
            .and_then(|media| opt_text(media, "caption"))
    })
}

type Content = (
    MessageKind,
    Option<String>,
    Option<MediaRef>,
    Option<String>,
);

fn content_of(content: &Value, message_type: Option<&str>) -> Content {
    let quoted = |inner: &Value| opt_text(inner, "contextInfo.stanzaId");
    if let Some(text) = opt_text(content, "conversation") {
        return (MessageKind::Text, Some(text), None, None);
    }
    if let Some(extended) = at(content, "extendedTextMessage") {
        return (
            MessageKind::Text,
            opt_text(extended, "text"),
            None,
            quoted(extended),
        );
    }
    for (key, kind) in MEDIA_KEYS {
        if let Some(media) = at(content, key) {
            let caption = opt_text(media, "caption");
            let media_ref = MediaRef {
                mime: opt_text(media, "mimetype"),
                url: opt_text(media, "url"),
                caption: caption.clone(),
                size: opt_int(media, "fileLength").and_then(|size| u64::try_from(size).ok()),
                provider_id: None,
            };
            return (kind.clone(), caption, Some(media_ref), quoted(media));
        }
    }
    if let Some(reaction) = at(content, "reactionMessage") {
        let emoji = opt_str(reaction, "text").map(str::to_owned);
        return (
            MessageKind::Reaction,
            emoji,
            None,
            opt_text(reaction, "key.id"),
        );
    }
    let simple: &[(&str, MessageKind)] = &[
        ("locationMessage", MessageKind::Location),
        ("liveLocationMessage", MessageKind::Location),
        ("contactMessage", MessageKind::Contact),
        ("contactsArrayMessage", MessageKind::Contact),
    ];
    for (key, kind) in simple {
        if let Some(inner) = at(content, key) {
            return (kind.clone(), None, None, quoted(inner));
        }
    }
    let kind = match message_type {
        Some(other) if !other.is_empty() => MessageKind::Unknown(other.to_owned()),
        _ => MessageKind::Unknown(first_message_key(content)),
    };
    (kind, None, None, None)
}

fn first_message_key(content: &Value) -> String {
    content
        .as_object()
        .into_iter()
        .flat_map(Map::keys)
        .find(|key| key.ends_with("Message"))
        .cloned()
        .unwrap_or_default()
}

fn update(data: &Value) -> Result<InboundEvent, ParseError> {
    let context = "evolution messages.update";
    let Some(id) = opt_str(data, "keyId").or_else(|| opt_str(data, "key.id")) else {
        return Err(ParseError::MissingField {
            context,
            field: "data.keyId",
        });
    };
    let status = at(data, "status").or_else(|| at(data, "update.status"));
    let status = match status {
        Some(Value::String(name)) => status_from_name(name),
        Some(number @ Value::Number(_)) => int_value(number).and_then(status_from_number),
        _ => None,
    };
    let provider_message_id = id.to_owned();
    Ok(match status {
        Some(Ok(status)) => InboundEvent::Status {
            provider_message_id,
            status,
            at_ms: None,
        },
        Some(Err(Revoke)) => InboundEvent::Revoked {
            provider_message_id,
        },
        None => InboundEvent::Ignored {
            reason: "evolution messages.update without a known status".to_owned(),
        },
    })
}

/// A `messages.update` status that means the message was deleted.
struct Revoke;

fn status_from_name(name: &str) -> Option<Result<DeliveryStatus, Revoke>> {
    Some(Ok(match name.to_ascii_uppercase().as_str() {
        "ERROR" | "FAILED" => DeliveryStatus::Failed,
        "PENDING" => DeliveryStatus::Pending,
        "SERVER_ACK" | "SENT" => DeliveryStatus::Sent,
        "DELIVERY_ACK" | "DELIVERED" => DeliveryStatus::Delivered,
        "READ" | "PLAYED" => DeliveryStatus::Read,
        "DELETED" | "REVOKED" => return Some(Err(Revoke)),
        _ => return None,
    }))
}

fn status_from_number(number: i64) -> Option<Result<DeliveryStatus, Revoke>> {
    Some(Ok(match number {
        0 => DeliveryStatus::Failed,
        1 => DeliveryStatus::Pending,
        2 => DeliveryStatus::Sent,
        3 => DeliveryStatus::Delivered,
        4 | 5 => DeliveryStatus::Read,
        _ => return None,
    }))
}

fn delete(data: &Value) -> Result<InboundEvent, ParseError> {
    let Some(id) = opt_str(data, "key.id").or_else(|| opt_str(data, "keyId")) else {
        return Err(ParseError::MissingField {
            context: "evolution messages.delete",
            field: "data.key.id",
        });
    };
    Ok(InboundEvent::Revoked {
        provider_message_id: id.to_owned(),
    })
}

fn connection(data: &Value) -> Result<InboundEvent, ParseError> {
    let state = in_data(
        req_str("evolution connection.update", data, "state"),
        "data.state",
    )?;
    let reason = opt_int(data, "statusReason");
    let session = match (state, reason) {
        ("open", _) => SessionEvent::Connected,
        // Baileys DisconnectReason.loggedOut: the session must be paired again.
        ("close", Some(401)) => SessionEvent::NotLogged,
        ("close", Some(code)) => SessionEvent::Disconnected {
            reason: format!("status {code}"),
        },
        ("close", None) => SessionEvent::Disconnected {
            reason: "closed".to_owned(),
        },
        (other, _) => SessionEvent::Other(other.to_owned()),
    };
    Ok(InboundEvent::Session(session))
}

fn presence(value: &Value) -> Result<Vec<InboundEvent>, ParseError> {
    let context = "evolution presence.update";
    let presences = at(value, "data.presences").and_then(Value::as_object);
    let Some(presences) = presences else {
        return Err(ParseError::MissingField {
            context,
            field: "data.presences",
        });
    };
    let mut events = Vec::with_capacity(presences.len());
    for (jid, presence) in presences {
        let address = crate::address::from_whatsapp_jid(jid)
            .map_err(address_error(context, "data.presences"))?;
        let state = opt_str(presence, "lastKnownPresence").unwrap_or("unknown");
        events.push(InboundEvent::Presence {
            address,
            state: PresenceState::from_provider(state),
            at_ms: opt_int(presence, "lastSeen").and_then(|seconds| seconds.checked_mul(1000)),
        });
    }
    Ok(events)
}
