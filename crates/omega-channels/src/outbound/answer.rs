//! Reading what a source answered to a send or a session call.
//!
//! Bodies are untrusted: anything that is not the expected JSON is a failure, never a
//! panic. Reasons quote only the fields a source uses for its error message, with long digit
//! runs (phone numbers) and long words (tokens, keys) masked, cut to 200 characters.

use std::time::Duration;

use serde_json::Value;

use super::OutboundError;
use crate::json::{at, opt_bool, opt_int, opt_str, opt_text, type_name};
use crate::model::{SessionEvent, Source};

/// Most characters of a failure reason.
const REASON_MAX_CHARS: usize = 200;
/// Words at least this long are masked in reasons (tokens, keys, ids).
const LONG_WORD_CHARS: usize = 24;
/// Digit runs at least this long are masked in reasons (phone numbers).
const LONG_DIGITS: usize = 8;
/// Most bytes of a message id taken from an answer.
const ID_MAX_BYTES: usize = 1024;
/// Most entries of an error array read into a reason.
const REASON_MAX_ITEMS: usize = 5;

/// What became of a send, from the source's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    /// The source accepted the message.
    Sent {
        /// The id the source gave it, written as the inbound parser of that source writes
        /// ids (Telegram `"<chat_id>:<message_id>"`, WPPConnect serialized id, Evolution
        /// `key.id`, Cloud API `wamid…`), so later acks and statuses match it.
        provider_message_id: String,
    },
    /// Worth trying again: 5xx, 408, 429, or a WPPConnect session that is not running.
    Retry {
        /// How long the source asked to wait (Telegram `parameters.retry_after`), if it
        /// said.
        after: Option<Duration>,
        /// What went wrong, for logs.
        reason: String,
    },
    /// Will never go through as it is (other 4xx, or a 2xx without a message id).
    Failed {
        /// What went wrong, for logs and the operator.
        reason: String,
    },
}

/// Classifies the answer to a request from [`super::send_text`].
///
/// 2xx with the message id → [`SendOutcome::Sent`] (Telegram `result.chat.id` and
/// `result.message_id`, WPPConnect `response[0].id` or its `_serialized`, Evolution
/// `key.id`, Cloud API `messages[0].id`); 2xx without one → [`SendOutcome::Failed`]. 5xx,
/// 408, 429 and a WPPConnect 404 saying the session is not active →
/// [`SendOutcome::Retry`]; anything else → [`SendOutcome::Failed`]. Never panics.
#[must_use]
pub fn send_outcome(source: Source, status: u16, body: &[u8]) -> SendOutcome {
    let value = serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        return match sent_id(source, &value) {
            Some(provider_message_id) => SendOutcome::Sent {
                provider_message_id,
            },
            None => SendOutcome::Failed {
                reason: "the source answered 2xx without a message id".to_owned(),
            },
        };
    }
    let reason = reason(status, &value);
    let session_down =
        source == Source::WppConnect && status == 404 && wppconnect_session_inactive(&value);
    if matches!(status, 408 | 429 | 500..=599) || session_down {
        let after = match source {
            Source::Telegram => opt_int(&value, "parameters.retry_after")
                .and_then(|seconds| u64::try_from(seconds).ok())
                .map(Duration::from_secs),
            _ => None,
        };
        SendOutcome::Retry { after, reason }
    } else {
        SendOutcome::Failed { reason }
    }
}

/// Reads the answer to [`super::session_status`], [`super::start_session`] or
/// [`super::reset_session`] into what it says about the session.
///
/// WPPConnect `status`: `CONNECTED` → [`SessionEvent::Connected`], `QRCODE` (any case) →
/// [`SessionEvent::Qr`] with `urlcode` (the QR text) or else `qrcode` (a PNG data URL),
/// `CLOSED` → [`SessionEvent::NotLogged`], others (`INITIALIZING`, `PHONECODE`) →
/// [`SessionEvent::Other`]; a logout's `{"status": true}` → `Other("logged_out")`.
/// Evolution `instance.state`: `open` → `Connected`, `close` → `NotLogged`, others
/// (`connecting`) → `Other`; a connect answer with `code` → `Qr`; a logout's `{"status":
/// "SUCCESS"}` → `Other("logged_out")`.
///
/// Errors: [`OutboundError::Http`] for a status outside 2xx, [`OutboundError::Unsupported`]
/// for sources without sessions, [`OutboundError::UnexpectedAnswer`] for a 2xx body of
/// another shape.
pub fn session_report(
    source: Source,
    status: u16,
    body: &[u8],
) -> Result<SessionEvent, OutboundError> {
    if !matches!(source, Source::WppConnect | Source::Evolution) {
        return Err(OutboundError::Unsupported {
            source_name: source.as_str(),
            operation: "session_report",
        });
    }
    let parsed = serde_json::from_slice::<Value>(body);
    if !(200..300).contains(&status) {
        let value = parsed.unwrap_or(Value::Null);
        return Err(OutboundError::Http {
            status,
            reason: detail(&value).unwrap_or_else(|| "no error message".to_owned()),
        });
    }
    let unexpected = |expected, got: &str| OutboundError::UnexpectedAnswer {
        source_name: source.as_str(),
        expected,
        got: got.to_owned(),
    };
    let value = parsed.map_err(|_| unexpected("a json object", "invalid json"))?;
    if !value.is_object() {
        return Err(unexpected("a json object", type_name(&value)));
    }
    if source == Source::WppConnect {
        match at(&value, "status") {
            Some(Value::Bool(true)) => Ok(SessionEvent::Other("logged_out".to_owned())),
            Some(Value::Bool(false)) => Err(unexpected("a session status", "status false")),
            Some(Value::String(status)) => Ok(wppconnect_status(status, &value)),
            Some(other) => Err(unexpected("a session status", type_name(other))),
            None => Err(unexpected("a session status", "no status")),
        }
    } else {
        evolution_state(&value).ok_or_else(|| {
            unexpected(
                "a connection state, a qr code or a logout answer",
                "an object with none",
            )
        })
    }
}

fn wppconnect_status(status: &str, value: &Value) -> SessionEvent {
    match status.to_ascii_uppercase().as_str() {
        "CONNECTED" => SessionEvent::Connected,
        "CLOSED" => SessionEvent::NotLogged,
        "QRCODE" => match opt_text(value, "urlcode").or_else(|| opt_text(value, "qrcode")) {
            Some(code) => SessionEvent::Qr { code },
            None => SessionEvent::Other(status.to_owned()),
        },
        _ => SessionEvent::Other(status.to_owned()),
    }
}

fn evolution_state(value: &Value) -> Option<SessionEvent> {
    if let Some(code) = opt_text(value, "code") {
        return Some(SessionEvent::Qr { code });
    }
    if let Some(state) = opt_str(value, "instance.state").or_else(|| opt_str(value, "state")) {
        return Some(match state {
            "open" => SessionEvent::Connected,
            "close" => SessionEvent::NotLogged,
            other => SessionEvent::Other(other.to_owned()),
        });
    }
    let success = opt_str(value, "status").is_some_and(|s| s.eq_ignore_ascii_case("success"));
    if success && opt_bool(value, "error") != Some(true) {
        return Some(SessionEvent::Other("logged_out".to_owned()));
    }
    // A connect answer before Baileys produced a code: `{"pairingCode": null, "count": 0}`.
    if at(value, "count").is_some() {
        return Some(SessionEvent::Other("connecting".to_owned()));
    }
    None
}

/// The message id in a 2xx answer, written as the source's inbound parser writes ids.
fn sent_id(source: Source, value: &Value) -> Option<String> {
    let id = match source {
        Source::Telegram => {
            let message = opt_int(value, "result.message_id")?;
            let chat = opt_int(value, "result.chat.id")?;
            format!("{chat}:{message}")
        }
        Source::WppConnect => {
            let sent = match at(value, "response")? {
                Value::Array(items) => items.first()?,
                object @ Value::Object(_) => object,
                _ => return None,
            };
            match at(sent, "id")? {
                Value::String(id) => id.clone(),
                object => opt_str(object, "_serialized")?.to_owned(),
            }
        }
        Source::Evolution => opt_str(value, "key.id")?.to_owned(),
        Source::CloudApi => match at(value, "messages")? {
            Value::Array(items) => opt_str(items.first()?, "id")?.to_owned(),
            _ => return None,
        },
        Source::Omega => return None,
    };
    let plausible = !id.is_empty() && id.len() <= ID_MAX_BYTES && !id.chars().any(char::is_control);
    plausible.then_some(id)
}

/// WPPConnect answers `404 {"status": "Disconnected", "message": "…não está ativa."}` when
/// the session is not running (its route exists; the session does not).
fn wppconnect_session_inactive(value: &Value) -> bool {
    let disconnected =
        opt_str(value, "status").is_some_and(|status| status.eq_ignore_ascii_case("disconnected"));
    let says_inactive = opt_str(value, "message").is_some_and(|message| {
        let message = message.to_lowercase();
        message.contains("não está ativa") || message.contains("not active")
    });
    disconnected || says_inactive
}

/// `http <status>: <the body's error message>`, cleaned for logs.
fn reason(status: u16, value: &Value) -> String {
    match detail(value) {
        Some(detail) => clean(&format!("http {status}: {detail}")),
        None => format!("http {status}"),
    }
}

/// The body's error message, cleaned for logs: Telegram `description`, Cloud API
/// `error.message`, WPPConnect `message`, Evolution `response.message` (a string or an
/// array), WPPConnect and Evolution `error`.
fn detail(value: &Value) -> Option<String> {
    [
        "description",
        "error.message",
        "message",
        "response.message",
        "error",
    ]
    .iter()
    .find_map(|path| detail_at(value, path))
    .map(|detail| clean(&detail))
    .filter(|detail| !detail.is_empty())
}

fn detail_at(value: &Value, path: &str) -> Option<String> {
    match at(value, path)? {
        Value::String(text) if !text.trim().is_empty() => Some(text.clone()),
        Value::Array(items) => {
            let parts: Vec<String> = items
                .iter()
                .take(REASON_MAX_ITEMS)
                .filter_map(|item| match item {
                    Value::String(text) => Some(text.clone()),
                    // Evolution: `[{"exists": false, "jid": …, "number": …}]`.
                    Value::Object(_) if opt_bool(item, "exists") == Some(false) => {
                        Some("the number is not on whatsapp".to_owned())
                    }
                    _ => None,
                })
                .collect();
            (!parts.is_empty()).then(|| parts.join("; "))
        }
        _ => None,
    }
}

/// Collapses whitespace and control characters, masks long words and long digit runs,
/// and cuts to [`REASON_MAX_CHARS`].
fn clean(text: &str) -> String {
    let words: Vec<String> = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|word| !word.is_empty())
        .map(|word| {
            if word.chars().count() >= LONG_WORD_CHARS {
                "***".to_owned()
            } else {
                mask_digit_runs(word)
            }
        })
        .collect();
    let joined = words.join(" ");
    if joined.chars().count() <= REASON_MAX_CHARS {
        return joined;
    }
    let mut cut: String = joined.chars().take(REASON_MAX_CHARS - 1).collect();
    cut.push('…');
    cut
}

fn mask_digit_runs(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= LONG_DIGITS {
            out.push_str("***");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in word.chars() {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_mask_numbers_and_tokens() {
        assert_eq!(
            clean("O número 5511999990009 não existe."),
            "O número *** não existe."
        );
        assert_eq!(
            clean("(#131030) Recipient phone number not in allowed list"),
            "(#131030) Recipient phone number not in allowed list"
        );
        assert_eq!(
            clean("bad token $2b$10$FAKEFAKEFAKEFAKEFAKEFuFAKE\r\nx"),
            "bad token *** x"
        );
    }

    #[test]
    fn reasons_are_cut_to_200_chars() {
        let long = "ação ".repeat(100);
        let cleaned = clean(&long);
        assert_eq!(cleaned.chars().count(), REASON_MAX_CHARS);
        assert!(cleaned.ends_with('…'));
    }
}
