//! Error types. Messages never repeat secrets, signatures or message contents.

use thiserror::Error;

/// Why a text could not be normalized into an [`crate::Address`].
///
/// Messages describe the input's shape (length, character class) rather than echoing it:
/// addresses are personal data and errors end up in logs.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AddressError {
    /// The input was empty.
    #[error("{what}: expected a value, got an empty string")]
    Empty {
        /// What was being parsed.
        what: &'static str,
    },
    /// A part that must be ASCII digits had something else.
    #[error("{what}: expected ascii digits only, got a non-digit character")]
    NotDigits {
        /// What was being parsed.
        what: &'static str,
    },
    /// A digit string had the wrong length.
    #[error("{what}: expected {min} to {max} digits, got {got}")]
    Length {
        /// What was being parsed.
        what: &'static str,
        /// Fewest digits accepted.
        min: usize,
        /// Most digits accepted.
        max: usize,
        /// Digits (or characters) given.
        got: usize,
    },
    /// A phone number started with 0 (no E.164 country code does).
    #[error("phone number: expected a country code, got a leading 0")]
    LeadingZero,
    /// A WhatsApp JID had no `@`.
    #[error("whatsapp jid: expected user@server, got no '@'")]
    MissingServer,
    /// A WhatsApp JID had a server this crate does not know.
    #[error(
        "whatsapp jid: expected server c.us, s.whatsapp.net, lid, g.us, broadcast or newsletter, got {got:?}"
    )]
    UnknownServer {
        /// The server part, cut to 32 characters.
        got: String,
    },
    /// A group, broadcast or newsletter id had an unexpected shape.
    #[error("{what}: expected {expected}, got something else")]
    Malformed {
        /// What was being parsed.
        what: &'static str,
        /// The accepted shape.
        expected: &'static str,
    },
    /// A Telegram id was out of range for its kind.
    #[error("{what}: expected {expected}, got {got}")]
    TelegramId {
        /// What was being parsed.
        what: &'static str,
        /// The accepted range.
        expected: &'static str,
        /// The id given.
        got: i64,
    },
}

/// Why a webhook body could not be parsed.
///
/// Unknown event types are not errors (they parse to [`crate::InboundEvent::Unknown`]); these
/// are bodies that are not JSON, or known events missing what they must carry.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The body is not JSON (or nests deeper than the JSON parser allows).
    #[error("{context}: expected a json body, got invalid json ({detail})")]
    InvalidJson {
        /// The source or event being parsed.
        context: &'static str,
        /// The JSON parser's message (positions, not contents).
        detail: String,
    },
    /// The body or a part of it is JSON of the wrong type.
    #[error("{context}: {field}: expected {expected}, got {got}")]
    InvalidField {
        /// The source or event being parsed.
        context: &'static str,
        /// The dotted path of the field (`.` for the whole body).
        field: &'static str,
        /// The accepted type or shape.
        expected: &'static str,
        /// The JSON type or shape given.
        got: String,
    },
    /// A required field is absent or null.
    #[error("{context}: missing {field}")]
    MissingField {
        /// The source or event being parsed.
        context: &'static str,
        /// The dotted path of the field.
        field: &'static str,
    },
    /// An address field could not be normalized.
    #[error("{context}: {field}: {error}")]
    InvalidAddress {
        /// The source or event being parsed.
        context: &'static str,
        /// The dotted path of the field.
        field: &'static str,
        /// Why.
        #[source]
        error: AddressError,
    },
}

/// Why a webhook's authentication header was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The configured secret is empty, so nothing can be verified (fails closed).
    #[error("{header}: expected a configured secret, got an empty one")]
    EmptySecret {
        /// The header being checked.
        header: &'static str,
    },
    /// The request did not carry the header.
    #[error("missing {header} header")]
    Missing {
        /// The header expected.
        header: &'static str,
    },
    /// The header is present but not in the expected form.
    #[error("{header}: expected {expected}, got {got}")]
    Malformed {
        /// The header being checked.
        header: &'static str,
        /// The accepted form.
        expected: &'static str,
        /// What was wrong (never the value itself).
        got: &'static str,
    },
    /// The header is well formed but does not match.
    #[error("{header}: does not match the expected value")]
    Mismatch {
        /// The header being checked.
        header: &'static str,
    },
}
