//! Shape checks of credentials, texts and quoted ids. Errors name the field and the shape
//! expected, never the value.

use super::{OutboundError, TELEGRAM_TEXT_MAX_CHARS, WHATSAPP_TEXT_MAX_CHARS};
use crate::model::Source;

/// Most bytes of a token, API key or bot token.
const TOKEN_MAX_BYTES: usize = 4096;
/// Most bytes of a session, instance or phone number id.
const NAME_MAX_BYTES: usize = 128;
/// Most bytes of a base or webhook URL.
const URL_MAX_BYTES: usize = 2048;
/// Most bytes of a provider message id to quote.
const REPLY_TO_MAX_BYTES: usize = 512;

pub(super) fn check_text(source: Source, text: &str) -> Result<(), OutboundError> {
    let max = if source == Source::Telegram {
        TELEGRAM_TEXT_MAX_CHARS
    } else {
        WHATSAPP_TEXT_MAX_CHARS
    };
    if text.trim().is_empty() {
        return Err(OutboundError::Invalid {
            field: "text",
            reason: "expected some text, got an empty or blank one".to_owned(),
        });
    }
    let chars = text.chars().count();
    if chars > max {
        return Err(OutboundError::Invalid {
            field: "text",
            reason: format!("expected at most {max} characters, got {chars}"),
        });
    }
    Ok(())
}

pub(super) fn check_reply_to(reply_to: &str) -> Result<(), OutboundError> {
    let reason = if reply_to.is_empty() {
        "expected a message id, got an empty string"
    } else if reply_to.len() > REPLY_TO_MAX_BYTES {
        "expected at most 512 bytes, got more"
    } else if reply_to.chars().any(char::is_control) {
        "expected printable characters, got a control character"
    } else {
        return Ok(());
    };
    Err(OutboundError::Invalid {
        field: "reply_to",
        reason: reason.to_owned(),
    })
}

pub(super) fn check_url(
    field: &'static str,
    url: &str,
    allow_query: bool,
) -> Result<(), OutboundError> {
    let invalid = |reason: &str| {
        Err(OutboundError::Invalid {
            field,
            reason: reason.to_owned(),
        })
    };
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return invalid("expected an http:// or https:// url, got another scheme");
    };
    if url.len() > URL_MAX_BYTES {
        return invalid("expected at most 2048 bytes, got more");
    }
    if !url.bytes().all(|b| b.is_ascii_graphic()) {
        return invalid("expected visible ascii only, got a space, control or non-ascii byte");
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() {
        return invalid("expected a host, got none");
    }
    if authority.contains('@') {
        return invalid("expected no user info, got an '@' before the path");
    }
    if url.contains('#') || (!allow_query && url.contains('?')) {
        return invalid("expected no query or fragment, got one");
    }
    Ok(())
}

pub(super) fn check_name(field: &'static str, name: &str) -> Result<(), OutboundError> {
    let reason = if name.is_empty() {
        "expected a name, got an empty string"
    } else if name.len() > NAME_MAX_BYTES {
        "expected at most 128 bytes, got more"
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        "expected only letters, digits, '.', '_' or '-', got another character"
    } else if name == "." || name == ".." {
        "expected a name, got a relative path segment"
    } else {
        return Ok(());
    };
    Err(OutboundError::Invalid {
        field,
        reason: reason.to_owned(),
    })
}

pub(super) fn check_token(field: &'static str, token: &str) -> Result<(), OutboundError> {
    let reason = if token.is_empty() {
        "expected a secret, got an empty string"
    } else if token.len() > TOKEN_MAX_BYTES {
        "expected at most 4096 bytes, got more"
    } else if !token.bytes().all(|b| b.is_ascii_graphic()) {
        "expected visible ascii only, got a space, control or non-ascii byte"
    } else {
        return Ok(());
    };
    Err(OutboundError::Invalid {
        field,
        reason: reason.to_owned(),
    })
}

pub(super) fn check_bot_token(token: &str) -> Result<(), OutboundError> {
    check_token("bot_token", token)?;
    let well_formed = token.split_once(':').is_some_and(|(bot_id, secret)| {
        !bot_id.is_empty()
            && bot_id.bytes().all(|b| b.is_ascii_digit())
            && !secret.is_empty()
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
    });
    if well_formed {
        Ok(())
    } else {
        Err(OutboundError::Invalid {
            field: "bot_token",
            reason: "expected <digits>:<letters, digits, _ or ->, got another shape".to_owned(),
        })
    }
}
