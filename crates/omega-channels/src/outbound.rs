//! Outbound calls to each source's REST API, built and read without doing any IO.
//!
//! [`send_text`] turns a reply into the [`HttpRequest`] that sends it through WPPConnect,
//! Evolution API, the WhatsApp Cloud API or a Telegram bot; the caller performs it with
//! whatever HTTP client it owns and hands the answer to [`send_outcome`], which says whether
//! the message was sent (with the id the inbound parsers will later report acks under),
//! should be retried, or will never go through. [`RetryPolicy`] spaces the retries.
//! [`session_status`], [`start_session`] and [`reset_session`] build the session calls of
//! the two unofficial WhatsApp sources, and [`session_report`] reads their answers into a
//! [`SessionEvent`](crate::SessionEvent) for [`crate::session::ConnectorSession`].
//!
//! Secrets live in [`Credentials`]; neither it nor [`HttpRequest`] prints them through
//! `Debug`, and [`HttpRequest::redacted_url`] hides the Telegram bot token that sits in the
//! URL path. Text is always sent as plain text (no Telegram `parse_mode`), so what a user
//! typed is never interpreted as markup.
//!
//! ```
//! use omega_channels::Address;
//! use omega_channels::outbound::{Credentials, OutboundText, SendOutcome, send_outcome, send_text};
//!
//! let credentials = Credentials::Telegram {
//!     base_url: "https://api.telegram.org".to_owned(),
//!     bot_token: "123456:FAKE_token".to_owned(),
//! };
//! let to = Address::TelegramUser(111_111_111);
//! let request = send_text(&credentials, &OutboundText { to: &to, text: "Olá!", reply_to: None })?;
//! assert_eq!(request.redacted_url(), "https://api.telegram.org/bot***/sendMessage");
//! assert!(!format!("{request:?}").contains("FAKE_token"));
//!
//! let answer = br#"{"ok":true,"result":{"message_id":1371,"chat":{"id":111111111}}}"#;
//! let sent = send_outcome(credentials.source(), 200, answer);
//! assert_eq!(sent, SendOutcome::Sent { provider_message_id: "111111111:1371".to_owned() });
//! # Ok::<(), omega_channels::outbound::OutboundError>(())
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use thiserror::Error;

use self::check::{
    check_bot_token, check_name, check_reply_to, check_text, check_token, check_url,
};
use crate::address::{from_whatsapp_jid, phone_from_digits};
use crate::model::{Address, Source};

mod answer;
mod check;
mod retry;
mod session_calls;

pub use answer::{SendOutcome, send_outcome, session_report};
pub use retry::RetryPolicy;
pub use session_calls::{reset_session, session_status, start_session};

/// Most characters of a Telegram message text.
pub const TELEGRAM_TEXT_MAX_CHARS: usize = 4096;
/// Most characters of a text sent through the WhatsApp sources.
pub const WHATSAPP_TEXT_MAX_CHARS: usize = 65_536;

/// Where and how to call one channel's source API.
///
/// Holds secrets: `Debug` prints `***` in place of the token, API key or bot token. Check a
/// configuration with [`Credentials::validate`] when it is saved; every request builder
/// checks it again.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Credentials {
    /// A WPPConnect Server session; calls carry `Authorization: Bearer <token>`.
    WppConnect {
        /// The server root, such as `https://wpp.example.com` (without `/api`).
        base_url: String,
        /// The session name, the `{session}` of `/api/{session}/…`.
        session: String,
        /// The bearer token `generate-token` gave for the session.
        token: String,
    },
    /// An Evolution API instance; calls carry an `apikey` header.
    Evolution {
        /// The server root, such as `https://evo.example.com`.
        base_url: String,
        /// The instance name.
        instance: String,
        /// The global API key or the instance token.
        apikey: String,
    },
    /// A WhatsApp Cloud API phone number; calls carry `Authorization: Bearer <token>`.
    CloudApi {
        /// The Graph API root with its version, such as `https://graph.facebook.com/v23.0`.
        base_url: String,
        /// The business phone number's id (not the number itself).
        phone_number_id: String,
        /// A system user or user access token.
        access_token: String,
    },
    /// A Telegram bot; the token is part of the URL (`{base_url}/bot{token}/sendMessage`).
    Telegram {
        /// The Bot API root, such as `https://api.telegram.org`.
        base_url: String,
        /// The token BotFather gave, `<digits>:<letters, digits, _ or ->`.
        bot_token: String,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HIDDEN: &str = "***";
        match self {
            Self::WppConnect {
                base_url,
                session,
                token: _,
            } => f
                .debug_struct("WppConnect")
                .field("base_url", base_url)
                .field("session", session)
                .field("token", &HIDDEN)
                .finish(),
            Self::Evolution {
                base_url,
                instance,
                apikey: _,
            } => f
                .debug_struct("Evolution")
                .field("base_url", base_url)
                .field("instance", instance)
                .field("apikey", &HIDDEN)
                .finish(),
            Self::CloudApi {
                base_url,
                phone_number_id,
                access_token: _,
            } => f
                .debug_struct("CloudApi")
                .field("base_url", base_url)
                .field("phone_number_id", phone_number_id)
                .field("access_token", &HIDDEN)
                .finish(),
            Self::Telegram {
                base_url,
                bot_token: _,
            } => f
                .debug_struct("Telegram")
                .field("base_url", base_url)
                .field("bot_token", &HIDDEN)
                .finish(),
        }
    }
}

impl Credentials {
    /// The source these credentials reach.
    #[must_use]
    pub const fn source(&self) -> Source {
        match self {
            Self::WppConnect { .. } => Source::WppConnect,
            Self::Evolution { .. } => Source::Evolution,
            Self::CloudApi { .. } => Source::CloudApi,
            Self::Telegram { .. } => Source::Telegram,
        }
    }

    /// Checks the shape of every field; errors name the field and never repeat its value.
    ///
    /// `base_url` must be an `http://` or `https://` URL of visible ASCII with a host, no
    /// user info, query or fragment; session, instance and phone number id 1–128 of
    /// `[A-Za-z0-9._-]` and not `.` or `..` (they become a path segment); tokens and keys
    /// 1–4096 visible ASCII characters (they become a header); the Telegram bot token
    /// `<digits>:<letters, digits, _ or ->` (it becomes part of the URL path).
    pub fn validate(&self) -> Result<(), OutboundError> {
        match self {
            Self::WppConnect {
                base_url,
                session,
                token,
            } => {
                check_url("base_url", base_url, false)?;
                check_name("session", session)?;
                check_token("token", token)
            }
            Self::Evolution {
                base_url,
                instance,
                apikey,
            } => {
                check_url("base_url", base_url, false)?;
                check_name("instance", instance)?;
                check_token("apikey", apikey)
            }
            Self::CloudApi {
                base_url,
                phone_number_id,
                access_token,
            } => {
                check_url("base_url", base_url, false)?;
                check_name("phone_number_id", phone_number_id)?;
                check_token("access_token", access_token)
            }
            Self::Telegram {
                base_url,
                bot_token,
            } => {
                check_url("base_url", base_url, false)?;
                check_bot_token(bot_token)
            }
        }
    }

    /// The base URL without trailing slashes.
    fn base(&self) -> &str {
        let (Self::WppConnect { base_url, .. }
        | Self::Evolution { base_url, .. }
        | Self::CloudApi { base_url, .. }
        | Self::Telegram { base_url, .. }) = self;
        base_url.trim_end_matches('/')
    }

    /// The authentication headers plus, for requests with a body, the JSON content type.
    fn headers(&self, with_body: bool) -> Vec<(String, String)> {
        let mut headers = Vec::with_capacity(2);
        match self {
            Self::WppConnect { token, .. }
            | Self::CloudApi {
                access_token: token,
                ..
            } => headers.push(("Authorization".to_owned(), format!("Bearer {token}"))),
            Self::Evolution { apikey, .. } => headers.push(("apikey".to_owned(), apikey.clone())),
            Self::Telegram { .. } => {}
        }
        if with_body {
            headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
        }
        headers
    }

    /// A request to `url` with these credentials' headers and an optional JSON body.
    fn request(&self, method: &'static str, url: String, body: Option<&Value>) -> HttpRequest {
        HttpRequest {
            method,
            url,
            headers: self.headers(body.is_some()),
            body: body.map(Value::to_string).map(String::into_bytes),
        }
    }

    /// The error for an operation this source has no endpoint for.
    fn unsupported(&self, operation: &'static str) -> OutboundError {
        OutboundError::Unsupported {
            source_name: self.source().as_str(),
            operation,
        }
    }
}

/// One HTTP request to perform.
///
/// `Debug` prints [`HttpRequest::redacted_url`], hides the values of `Authorization`,
/// `apikey` and other credential headers, and gives only the body's length (it holds
/// message text).
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// `GET`, `POST` or `DELETE`.
    pub method: &'static str,
    /// The full URL; for Telegram it contains the bot token.
    pub url: String,
    /// Header names and values, in order.
    pub headers: Vec<(String, String)>,
    /// The JSON body, if any.
    pub body: Option<Vec<u8>>,
}

impl HttpRequest {
    /// The URL with secrets replaced by `***` (the `bot<token>` path segment of Telegram
    /// URLs), for logs and diagnostics.
    #[must_use]
    pub fn redacted_url(&self) -> String {
        let (scheme, rest) = match self.url.find("://") {
            Some(end) => self.url.split_at(end + 3),
            None => ("", self.url.as_str()),
        };
        let path: Vec<&str> = rest
            .split('/')
            .enumerate()
            .map(|(index, segment)| {
                if index > 0 && segment.starts_with("bot") && segment.contains(':') {
                    "bot***"
                } else {
                    segment
                }
            })
            .collect();
        format!("{scheme}{}", path.join("/"))
    }

    /// The value of the first header named `name` (ASCII case-insensitive).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            method,
            url: _,
            headers,
            body,
        } = self;
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(name, value)| {
                let shown = if is_secret_header(name) {
                    "***"
                } else {
                    value.as_str()
                };
                (name.as_str(), shown)
            })
            .collect();
        f.debug_struct("HttpRequest")
            .field("method", method)
            .field("url", &self.redacted_url())
            .field("headers", &headers)
            .field(
                "body",
                &body
                    .as_ref()
                    .map(|bytes| format!("<{} bytes>", bytes.len())),
            )
            .finish()
    }
}

/// Whether a header carries a credential.
fn is_secret_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name == "authorization"
        || name == "apikey"
        || ["token", "key", "secret", "auth", "cookie"]
            .iter()
            .any(|part| name.contains(part))
}

/// A text reply to send.
///
/// `Debug` prints the text's length, not the text.
#[derive(Clone, Copy)]
pub struct OutboundText<'a> {
    /// The conversation to send to: the contact of a one-to-one chat, or the group.
    pub to: &'a Address,
    /// The text, sent as plain text.
    pub text: &'a str,
    /// The provider message id to quote, if any (as the inbound parser of the same source
    /// gave it: Telegram `"<chat_id>:<message_id>"`, WPPConnect serialized id, Evolution
    /// `key.id`, Cloud API `wamid…`).
    pub reply_to: Option<&'a str>,
}

impl fmt::Debug for OutboundText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self { to, text, reply_to } = self;
        f.debug_struct("OutboundText")
            .field("to", to)
            .field("text", &format!("<{} chars>", text.chars().count()))
            .field("reply_to", reply_to)
            .finish()
    }
}

/// Builds the request that sends `message` through the source of `credentials`.
///
/// WPPConnect: `POST {base}/api/{session}/send-message`. Evolution: `POST
/// {base}/message/sendText/{instance}` (link previews off). Cloud API: `POST
/// {base}/{phone_number_id}/messages`, to phone numbers only. Telegram: `POST
/// {base}/bot{token}/sendMessage` without `parse_mode`; a quoted message must be in the same
/// chat, and the text still goes out if it was deleted.
///
/// Errors: invalid credentials or quote id, empty (or blank) text, text over
/// [`TELEGRAM_TEXT_MAX_CHARS`] / [`WHATSAPP_TEXT_MAX_CHARS`], and
/// [`OutboundError::Unreachable`] for an address the source cannot send to (another
/// network's address, broadcasts and channels, Ômega identities; groups and LIDs on the
/// Cloud API).
pub fn send_text(
    credentials: &Credentials,
    message: &OutboundText<'_>,
) -> Result<HttpRequest, OutboundError> {
    credentials.validate()?;
    check_text(credentials.source(), message.text)?;
    if let Some(reply_to) = message.reply_to {
        check_reply_to(reply_to)?;
    }
    let base = credentials.base();
    let (url, body) = match credentials {
        Credentials::WppConnect { session, .. } => {
            let (phone, is_group, is_lid) = match whatsapp_target(credentials, message.to)? {
                WhatsAppTarget::Phone(digits) => (digits, false, false),
                WhatsAppTarget::Group(jid) => (jid_user(jid).to_owned(), true, false),
                WhatsAppTarget::Lid(digits) => (digits.to_owned(), false, true),
            };
            let mut body = json!({
                "phone": phone,
                "isGroup": is_group,
                "isNewsletter": false,
                "isLid": is_lid,
                "message": message.text,
            });
            if let Some(quoted) = message.reply_to {
                body["options"] = json!({ "quotedMsg": quoted });
            }
            (format!("{base}/api/{session}/send-message"), body)
        }
        Credentials::Evolution { instance, .. } => {
            let number = match whatsapp_target(credentials, message.to)? {
                WhatsAppTarget::Phone(digits) => digits,
                WhatsAppTarget::Group(jid) => jid.to_owned(),
                WhatsAppTarget::Lid(digits) => format!("{digits}@lid"),
            };
            let mut body = json!({
                "number": number,
                "text": message.text,
                "linkPreview": false,
            });
            if let Some(quoted) = message.reply_to {
                body["quoted"] = json!({ "key": { "id": quoted } });
            }
            (format!("{base}/message/sendText/{instance}"), body)
        }
        Credentials::CloudApi {
            phone_number_id, ..
        } => {
            let WhatsAppTarget::Phone(digits) = whatsapp_target(credentials, message.to)? else {
                return Err(unreachable_error(credentials, message.to));
            };
            let mut body = json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": digits,
                "type": "text",
                "text": { "preview_url": false, "body": message.text },
            });
            if let Some(quoted) = message.reply_to {
                body["context"] = json!({ "message_id": quoted });
            }
            (format!("{base}/{phone_number_id}/messages"), body)
        }
        Credentials::Telegram { bot_token, .. } => {
            let chat_id = match message.to {
                Address::TelegramUser(id) if *id > 0 => *id,
                Address::TelegramChat(id) if *id != 0 => *id,
                other => return Err(unreachable_error(credentials, other)),
            };
            let mut body = json!({ "chat_id": chat_id, "text": message.text });
            if let Some(quoted) = message.reply_to {
                body["reply_parameters"] = json!({
                    "message_id": telegram_quote(chat_id, quoted)?,
                    "allow_sending_without_reply": true,
                });
            }
            (format!("{base}/bot{bot_token}/sendMessage"), body)
        }
    };
    Ok(credentials.request("POST", url, Some(&body)))
}

/// Why an outbound request could not be built or its answer not read.
///
/// Messages name fields and shapes, never secrets, addresses or message text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum OutboundError {
    /// A credential, the text or the quoted id has the wrong shape.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field at fault (`base_url`, `token`, `text`, `reply_to`, …).
        field: &'static str,
        /// What was expected and what was wrong, without the value.
        reason: String,
    },
    /// The source cannot send to this kind of address.
    #[error("{source_name}: cannot send to a {address} address")]
    Unreachable {
        /// The source ([`Source::as_str`]).
        source_name: &'static str,
        /// The kind of address (the scheme of [`Address::key`], such as `wa-group`, `tg`
        /// or `omega`); never the address itself.
        address: String,
    },
    /// The source has no such operation (session calls on the Cloud API or Telegram).
    #[error("{source_name}: {operation} is not supported")]
    Unsupported {
        /// The source ([`Source::as_str`]).
        source_name: &'static str,
        /// The operation asked for.
        operation: &'static str,
    },
    /// The source answered with a status outside 2xx.
    #[error("http {status}: {reason}")]
    Http {
        /// The HTTP status.
        status: u16,
        /// What the body said, cut to 200 characters, with long digit runs and
        /// token-like words masked.
        reason: String,
    },
    /// A 2xx answer did not have the expected shape.
    #[error("{source_name}: expected {expected}, got {got}")]
    UnexpectedAnswer {
        /// The source ([`Source::as_str`]).
        source_name: &'static str,
        /// The shape expected.
        expected: &'static str,
        /// What came instead (a JSON type or a short description, never the body).
        got: String,
    },
}

/// The destination of a WhatsApp send, re-validated.
enum WhatsAppTarget<'a> {
    /// Phone digits without `+`.
    Phone(String),
    /// A group JID (`…@g.us`).
    Group(&'a str),
    /// LID digits.
    Lid(&'a str),
}

/// Checks that `to` is a WhatsApp address this crate could have produced.
fn whatsapp_target<'a>(
    credentials: &Credentials,
    to: &'a Address,
) -> Result<WhatsAppTarget<'a>, OutboundError> {
    let malformed = || OutboundError::Invalid {
        field: "to",
        reason: "expected a normalized whatsapp address, got a malformed one".to_owned(),
    };
    match to {
        Address::Phone(e164) => {
            let digits = e164.strip_prefix('+').ok_or_else(malformed)?;
            match phone_from_digits(digits) {
                Ok(ref parsed) if parsed == to => Ok(WhatsAppTarget::Phone(digits.to_owned())),
                _ => Err(malformed()),
            }
        }
        Address::WhatsAppGroup(jid) => match from_whatsapp_jid(jid) {
            Ok(ref parsed) if parsed == to => Ok(WhatsAppTarget::Group(jid)),
            _ => Err(malformed()),
        },
        Address::WhatsAppLid(digits) => match from_whatsapp_jid(&format!("{digits}@lid")) {
            Ok(ref parsed) if parsed == to => Ok(WhatsAppTarget::Lid(digits)),
            _ => Err(malformed()),
        },
        other => Err(unreachable_error(credentials, other)),
    }
}

/// The user part of a JID.
fn jid_user(jid: &str) -> &str {
    jid.split_once('@').map_or(jid, |(user, _)| user)
}

/// The error for an address the source cannot reach, naming only its kind.
fn unreachable_error(credentials: &Credentials, to: &Address) -> OutboundError {
    let key = to.key();
    let kind = key.split_once(':').map_or("unknown", |(scheme, _)| scheme);
    OutboundError::Unreachable {
        source_name: credentials.source().as_str(),
        address: kind.to_owned(),
    }
}

/// The Telegram message id of a quote id `"<chat_id>:<message_id>"` from the same chat.
fn telegram_quote(chat_id: i64, quoted: &str) -> Result<i64, OutboundError> {
    let invalid = |reason: &str| OutboundError::Invalid {
        field: "reply_to",
        reason: reason.to_owned(),
    };
    let (chat, message) = quoted
        .split_once(':')
        .ok_or_else(|| invalid("expected <chat_id>:<message_id>, got no ':'"))?;
    let chat: i64 = chat
        .parse()
        .map_err(|_| invalid("expected <chat_id>:<message_id>, got a non-numeric chat id"))?;
    let message: i64 = message
        .parse()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| invalid("expected <chat_id>:<message_id>, got a bad message id"))?;
    if chat != chat_id {
        return Err(invalid(
            "expected a message of the chat being answered, got one from another chat",
        ));
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_headers_are_recognized() {
        for name in ["Authorization", "apikey", "X-Api-Key", "x-inbox-secret"] {
            assert!(is_secret_header(name), "{name}");
        }
        assert!(!is_secret_header("Content-Type"));
    }
}
