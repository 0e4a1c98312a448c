//! Telegram Bot API webhooks.
//!
//! A body is one `Update` with `update_id` and one of `message`, `edited_message`,
//! `channel_post`, `edited_channel_post`, `callback_query`, …. Authenticate it first with
//! [`verify_secret_token`] against the `secret_token` given to `setWebhook`. Message ids are
//! only unique within a chat, so ids are written `"<chat_id>:<message_id>"`. A private chat
//! is filed under its user ([`crate::Address::TelegramUser`]); groups, supergroups and
//! channels (negative ids) under [`crate::Address::TelegramChat`].

use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::address::{telegram_chat, telegram_user};
use crate::error::{ParseError, SignatureError};
use crate::json::{
    address_error, at, opt_int, opt_str, opt_text, parse_object, req_int, req_str, require,
    seconds_to_ms,
};
use crate::model::{Address, Direction, InboundEvent, MediaRef, MessageKind, NormalizedMessage};

const SECRET_HEADER: &str = "X-Telegram-Bot-Api-Secret-Token";

/// Update types the inbox does not use.
const IGNORED_UPDATES: &[&str] = &[
    "inline_query",
    "chosen_inline_result",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
    "message_reaction",
    "message_reaction_count",
    "business_connection",
    "deleted_business_messages",
];

/// Checks `X-Telegram-Bot-Api-Secret-Token` against the `secret_token` passed to
/// `setWebhook`, in constant time. An empty `expected` fails closed.
///
/// ```
/// use omega_channels::telegram::verify_secret_token;
/// assert!(verify_secret_token("s3cret", Some("s3cret")).is_ok());
/// assert!(verify_secret_token("s3cret", Some("s3creT")).is_err());
/// assert!(verify_secret_token("s3cret", None).is_err());
/// ```
pub fn verify_secret_token(expected: &str, header: Option<&str>) -> Result<(), SignatureError> {
    if expected.is_empty() {
        return Err(SignatureError::EmptySecret {
            header: SECRET_HEADER,
        });
    }
    let header = header.ok_or(SignatureError::Missing {
        header: SECRET_HEADER,
    })?;
    if bool::from(header.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch {
            header: SECRET_HEADER,
        })
    }
}

/// Parses one Telegram `Update`.
pub fn parse(body: &[u8]) -> Result<Vec<InboundEvent>, ParseError> {
    let context = "telegram update";
    let value = parse_object(context, body)?;
    req_int(context, &value, "update_id")?;
    let event = if let Some(message) = at(&value, "message") {
        new_message("telegram message", message)?
    } else if let Some(post) = at(&value, "channel_post") {
        new_message("telegram channel_post", post)?
    } else if let Some(message) = at(&value, "business_message") {
        new_message("telegram business_message", message)?
    } else if let Some(message) = at(&value, "edited_message") {
        edited("telegram edited_message", message)?
    } else if let Some(post) = at(&value, "edited_channel_post") {
        edited("telegram edited_channel_post", post)?
    } else if let Some(message) = at(&value, "edited_business_message") {
        edited("telegram edited_business_message", message)?
    } else if let Some(query) = at(&value, "callback_query") {
        callback(query)?
    } else {
        let kind = value
            .as_object()
            .into_iter()
            .flat_map(|object| object.keys())
            .find(|key| *key != "update_id")
            .map_or("", String::as_str);
        if IGNORED_UPDATES.contains(&kind) {
            InboundEvent::Ignored {
                reason: format!("telegram {kind}"),
            }
        } else {
            InboundEvent::Unknown {
                event_type: kind.to_owned(),
            }
        }
    };
    Ok(vec![event])
}

fn chat_of(context: &'static str, message: &Value) -> Result<(i64, Address), ParseError> {
    let chat_id = req_int(context, message, "chat.id")?;
    let is_private = opt_str(message, "chat.type") == Some("private");
    let chat = telegram_chat(chat_id, is_private).map_err(address_error(context, "chat.id"))?;
    Ok((chat_id, chat))
}

fn message_id(context: &'static str, chat_id: i64, message: &Value) -> Result<String, ParseError> {
    let id = req_int(context, message, "message_id")?;
    Ok(format!("{chat_id}:{id}"))
}

fn new_message(context: &'static str, message: &Value) -> Result<InboundEvent, ParseError> {
    let (chat_id, chat) = chat_of(context, message)?;
    let provider_message_id = message_id(context, chat_id, message)?;
    let (sender, sender_name) = if let Some(from_id) = opt_int(message, "from.id") {
        let sender = telegram_user(from_id).map_err(address_error(context, "from.id"))?;
        let first = opt_text(message, "from.first_name");
        let last = opt_text(message, "from.last_name");
        let name = match (first, last) {
            (Some(first), Some(last)) => Some(format!("{first} {last}")),
            (first, last) => first.or(last),
        };
        (sender, name)
    } else if let Some(sender_chat) = opt_int(message, "sender_chat.id") {
        let sender =
            telegram_chat(sender_chat, false).map_err(address_error(context, "sender_chat.id"))?;
        (sender, opt_text(message, "sender_chat.title"))
    } else {
        (chat.clone(), opt_text(message, "chat.title"))
    };
    let seconds = req_int(context, message, "date")?;
    let sent_at_ms = seconds_to_ms(context, "date", seconds)?;
    let (kind, media) = kind_of(message);
    let text = opt_text(message, "text").or_else(|| opt_text(message, "caption"));
    let reply_to =
        opt_int(message, "reply_to_message.message_id").map(|id| format!("{chat_id}:{id}"));
    Ok(InboundEvent::Message(NormalizedMessage {
        provider_message_id,
        chat,
        sender,
        sender_alt: Vec::new(),
        sender_name,
        // Bots never receive their own messages through webhooks.
        direction: Direction::Inbound,
        kind,
        text,
        media,
        reply_to,
        sent_at_ms,
        locked_chat: false,
    }))
}

fn kind_of(message: &Value) -> (MessageKind, Option<MediaRef>) {
    let media = |object: &Value, mime: Option<String>| MediaRef {
        mime: opt_text(object, "mime_type").or(mime),
        url: None,
        caption: opt_text(message, "caption"),
        size: opt_int(object, "file_size").and_then(|size| u64::try_from(size).ok()),
        provider_id: opt_text(object, "file_id"),
    };
    if at(message, "text").is_some() {
        return (MessageKind::Text, None);
    }
    if let Some(Value::Array(sizes)) = at(message, "photo") {
        // Sizes come smallest first; point at the largest.
        let largest = sizes.last().unwrap_or(&Value::Null);
        return (
            MessageKind::Image,
            Some(media(largest, Some("image/jpeg".to_owned()))),
        );
    }
    let media_fields: &[(&str, MessageKind)] = &[
        ("voice", MessageKind::Audio),
        ("audio", MessageKind::Audio),
        ("video", MessageKind::Video),
        ("video_note", MessageKind::Video),
        ("animation", MessageKind::Video),
        ("document", MessageKind::Document),
        ("sticker", MessageKind::Sticker),
    ];
    for (field, kind) in media_fields {
        if let Some(object) = at(message, field) {
            return (kind.clone(), Some(media(object, None)));
        }
    }
    let other_fields: &[(&str, MessageKind)] = &[
        ("location", MessageKind::Location),
        ("venue", MessageKind::Location),
        ("contact", MessageKind::Contact),
        ("new_chat_members", MessageKind::System),
        ("left_chat_member", MessageKind::System),
        ("new_chat_title", MessageKind::System),
        ("new_chat_photo", MessageKind::System),
        ("delete_chat_photo", MessageKind::System),
        ("group_chat_created", MessageKind::System),
        ("supergroup_chat_created", MessageKind::System),
        ("channel_chat_created", MessageKind::System),
        ("migrate_to_chat_id", MessageKind::System),
        ("migrate_from_chat_id", MessageKind::System),
        ("pinned_message", MessageKind::System),
    ];
    for (field, kind) in other_fields {
        if at(message, field).is_some() {
            return (kind.clone(), None);
        }
    }
    let known = ["poll", "dice", "game", "invoice", "story"];
    let name = known
        .iter()
        .find(|field| at(message, field).is_some())
        .copied()
        .unwrap_or("");
    (MessageKind::Unknown(name.to_owned()), None)
}

fn edited(context: &'static str, message: &Value) -> Result<InboundEvent, ParseError> {
    let (chat_id, _chat) = chat_of(context, message)?;
    let provider_message_id = message_id(context, chat_id, message)?;
    let text = opt_text(message, "text").or_else(|| opt_text(message, "caption"));
    let at_ms = opt_int(message, "edit_date").and_then(|seconds| seconds.checked_mul(1000));
    Ok(InboundEvent::Edited {
        provider_message_id,
        text,
        at_ms,
    })
}

fn callback(query: &Value) -> Result<InboundEvent, ParseError> {
    let context = "telegram callback_query";
    let id = req_str(context, query, "id")?;
    let from_value = require(context, query, "from.id")?;
    let from_id = crate::json::int_value(from_value)
        .ok_or_else(|| crate::json::invalid(context, "from.id", "an integer", from_value))?;
    let from = telegram_user(from_id).map_err(address_error(context, "from.id"))?;
    Ok(InboundEvent::Callback {
        id: id.to_owned(),
        from,
        data: opt_str(query, "data").map(str::to_owned),
    })
}
