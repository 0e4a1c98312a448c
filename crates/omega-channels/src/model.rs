//! The normalized omnichannel model every source parser produces.
//!
//! One [`InboundEvent`] per thing that happened; a webhook body may carry several. Messages
//! are [`NormalizedMessage`]s whose addresses are [`Address`]es normalized so that one
//! person reached through different providers' spellings is one contact (see
//! [`crate::address`]).

use serde::{Deserialize, Serialize};

/// Where an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// WhatsApp through a WPPConnect Server.
    WppConnect,
    /// WhatsApp through an Evolution API server (Baileys).
    Evolution,
    /// The official WhatsApp Business Cloud API.
    CloudApi,
    /// A Telegram bot (Bot API webhooks).
    Telegram,
    /// Ômega's own network.
    Omega,
}

impl Source {
    /// Stable text form, used in storage and logs.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::WppConnect => "whatsapp-wppconnect",
            Self::Evolution => "whatsapp-evolution",
            Self::CloudApi => "whatsapp-cloud",
            Self::Telegram => "telegram",
            Self::Omega => "omega",
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A normalized contact or conversation address.
///
/// Build them with the functions of [`crate::address`], which validate the text forms.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "value")]
pub enum Address {
    /// A phone number in E.164 form with the leading `+` (`"+5511999990001"`).
    Phone(String),
    /// A WhatsApp LID (`<digits>@lid`), digits only; carries no phone number.
    WhatsAppLid(String),
    /// A Telegram user (also a private chat with that user).
    TelegramUser(i64),
    /// A Telegram group, supergroup or channel (negative id).
    TelegramChat(i64),
    /// A WhatsApp group, as its full JID (`"120363…@g.us"`, `"<creator>-<ts>@g.us"`).
    WhatsAppGroup(String),
    /// A WhatsApp broadcast, as its full JID (`"status@broadcast"`, `"<id>@broadcast"`).
    Broadcast(String),
    /// A WhatsApp channel, as its full JID (`"120363…@newsletter"`).
    Newsletter(String),
    /// An Ômega identity.
    Omega(String),
}

impl Address {
    /// Stable text form: one string per contact, suitable as a storage key.
    ///
    /// `tel:+5511999990001`, `wa-lid:100000000000001`, `tg:42`, `tg-chat:-1001234567890`,
    /// `wa-group:120363000000000001@g.us`, `wa-broadcast:status@broadcast`,
    /// `wa-newsletter:120363…@newsletter`, `omega:<id>`.
    #[must_use]
    pub fn key(&self) -> String {
        match self {
            Self::Phone(e164) => format!("tel:{e164}"),
            Self::WhatsAppLid(digits) => format!("wa-lid:{digits}"),
            Self::TelegramUser(id) => format!("tg:{id}"),
            Self::TelegramChat(id) => format!("tg-chat:{id}"),
            Self::WhatsAppGroup(jid) => format!("wa-group:{jid}"),
            Self::Broadcast(jid) => format!("wa-broadcast:{jid}"),
            Self::Newsletter(jid) => format!("wa-newsletter:{jid}"),
            Self::Omega(id) => format!("omega:{id}"),
        }
    }

    /// Parses the text form [`Address::key`] produces (stored keys back into addresses);
    /// `None` for anything else. Phone numbers and LIDs are re-validated.
    #[must_use]
    pub fn from_key(key: &str) -> Option<Address> {
        let (scheme, rest) = key.split_once(':')?;
        let digits = |text: &str| {
            !text.is_empty() && text.len() <= 32 && text.bytes().all(|b| b.is_ascii_digit())
        };
        let jid = |text: &str, suffix: &str| {
            text.len() <= 128 && text.ends_with(suffix) && text.len() > suffix.len()
        };
        match scheme {
            "tel" => rest
                .strip_prefix('+')
                .and_then(|number| crate::address::phone_from_digits(number).ok()),
            "wa-lid" if digits(rest) => Some(Self::WhatsAppLid(rest.to_owned())),
            "tg" => rest
                .parse()
                .ok()
                .filter(|id: &i64| *id > 0)
                .map(Self::TelegramUser),
            "tg-chat" => rest.parse().ok().map(Self::TelegramChat),
            "wa-group" if jid(rest, "@g.us") => Some(Self::WhatsAppGroup(rest.to_owned())),
            "wa-broadcast" if jid(rest, "@broadcast") => Some(Self::Broadcast(rest.to_owned())),
            "wa-newsletter" if jid(rest, "@newsletter") => Some(Self::Newsletter(rest.to_owned())),
            "omega" if !rest.is_empty() && rest.len() <= 256 => Some(Self::Omega(rest.to_owned())),
            _ => None,
        }
    }

    /// Whether this addresses a multi-party conversation (WhatsApp group, Telegram group,
    /// supergroup or channel).
    #[must_use]
    pub const fn is_group(&self) -> bool {
        matches!(self, Self::WhatsAppGroup(_) | Self::TelegramChat(_))
    }

    /// Whether this is a broadcast (status updates, broadcast lists) or a channel
    /// (newsletter): one-to-many, never a conversation to answer in.
    #[must_use]
    pub const fn is_broadcast(&self) -> bool {
        matches!(self, Self::Broadcast(_) | Self::Newsletter(_))
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.key())
    }
}

/// What a message contains.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// Plain text.
    Text,
    /// A picture; text is its caption.
    Image,
    /// Audio or a voice note.
    Audio,
    /// Video, GIF-like animation or video note.
    Video,
    /// A file.
    Document,
    /// A location pin.
    Location,
    /// A shared contact card.
    Contact,
    /// A reaction; `text` is the emoji (empty when removed), `reply_to` the target.
    Reaction,
    /// A sticker.
    Sticker,
    /// A service or notification message (member joined, title changed, …).
    System,
    /// A type this crate does not know, with the provider's type name.
    Unknown(String),
}

/// Whether a message was received or sent by the business account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From a contact to the business.
    Inbound,
    /// From the business (through the API or the linked phone).
    Outbound,
}

/// Delivery progress of an outbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Queued, not yet accepted by the provider's server.
    Pending,
    /// Accepted by the server (one tick).
    Sent,
    /// Delivered to the recipient's device (two ticks).
    Delivered,
    /// Read or played by the recipient.
    Read,
    /// The provider gave up.
    Failed,
}

impl DeliveryStatus {
    /// Applies a status update monotonically: providers repeat and reorder updates.
    ///
    /// Progress only moves forward (`Pending` → `Sent` → `Delivered` → `Read`; skipping is
    /// fine, going back is ignored, so read-then-delivered stays `Read`). `Failed` is taken
    /// only before `Delivered`. A `Failed` message that later reports `Delivered` or `Read`
    /// did arrive, so that evidence wins; `Pending` or `Sent` after `Failed` is ignored.
    #[must_use]
    pub const fn advance(self, next: Self) -> Self {
        match (self.rank(), next.rank()) {
            // Failed → only real delivery evidence moves it.
            (None, Some(next_rank)) if next_rank >= 2 => next,
            (None, _) => self,
            // Failed is taken only before Delivered.
            (Some(rank), None) if rank < 2 => next,
            (Some(_), None) => self,
            (Some(rank), Some(next_rank)) if next_rank > rank => next,
            (Some(_), Some(_)) => self,
        }
    }

    /// Position on the success path; `None` for `Failed`.
    const fn rank(self) -> Option<u8> {
        match self {
            Self::Pending => Some(0),
            Self::Sent => Some(1),
            Self::Delivered => Some(2),
            Self::Read => Some(3),
            Self::Failed => None,
        }
    }
}

/// Where to find a message's media. Nothing is downloaded by this crate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaRef {
    /// MIME type as the provider reported it.
    pub mime: Option<String>,
    /// A provider URL (often encrypted or short-lived; fetch through the provider).
    pub url: Option<String>,
    /// The caption, also copied to the message's `text`.
    pub caption: Option<String>,
    /// Size in bytes.
    pub size: Option<u64>,
    /// The id to ask the provider for the media with (Cloud API media id, Telegram
    /// `file_id`, or the message id for WPPConnect and Evolution).
    pub provider_id: Option<String>,
}

/// A message normalized across sources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NormalizedMessage {
    /// The provider's id, unique per source and account: deduplicate on it. Telegram ids
    /// are only unique per chat, so they are written `"<chat_id>:<message_id>"`.
    pub provider_message_id: String,
    /// The conversation: the contact for one-to-one chats, else the group or broadcast.
    pub chat: Address,
    /// Who wrote it (for outbound messages, the business account when known).
    pub sender: Address,
    /// Other addresses that name the same sender (a LID next to its phone number, …).
    pub sender_alt: Vec<Address>,
    /// The display name the sender gave themselves, if any.
    pub sender_name: Option<String>,
    /// Received or sent.
    pub direction: Direction,
    /// What it contains.
    pub kind: MessageKind,
    /// The text, or the caption of media.
    pub text: Option<String>,
    /// Media reference, for media kinds.
    pub media: Option<MediaRef>,
    /// The provider id of the quoted or reacted-to message.
    pub reply_to: Option<String>,
    /// When it was sent, Unix milliseconds UTC.
    pub sent_at_ms: i64,
    /// The source flags the chat as locked (WhatsApp's Chat Lock, as WPPConnect reports it in
    /// `isLocked` / `chat.isLocked`); sources without the notion say `false`.
    #[serde(default)]
    pub locked_chat: bool,
}

/// A connection or pairing event of an unofficial WhatsApp session. Its `Debug` form (what logs
/// and diagnostic lines print) leaves the QR payload out: it is a pairing secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionEvent {
    /// A new pairing QR code; `code` is the text to render as a QR code.
    Qr {
        /// The QR payload.
        code: String,
    },
    /// The session is connected and receiving.
    Connected,
    /// The session dropped.
    Disconnected {
        /// Why, as far as the provider said.
        reason: String,
    },
    /// The session is logged out; it needs a new QR pairing.
    NotLogged,
    /// Any other state, with the provider's name for it.
    Other(String),
}

impl std::fmt::Debug for SessionEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionEvent::Qr { code } => write!(f, "Qr {{ code: <{} characters> }}", code.len()),
            SessionEvent::Connected => f.write_str("Connected"),
            SessionEvent::Disconnected { reason } => f
                .debug_struct("Disconnected")
                .field("reason", reason)
                .finish(),
            SessionEvent::NotLogged => f.write_str("NotLogged"),
            SessionEvent::Other(state) => f.debug_tuple("Other").field(state).finish(),
        }
    }
}

#[cfg(test)]
mod session_event_tests {
    use super::SessionEvent;

    #[test]
    fn debug_form_never_shows_the_qr_payload() {
        let event = SessionEvent::Qr {
            code: "2@SECRET-PAIRING-CODE".into(),
        };
        let shown = format!("{event:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert_eq!(shown, "Qr { code: <21 characters> }");
    }
}

/// What someone is doing, per a presence update.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceState {
    /// Online.
    Available,
    /// Offline.
    Unavailable,
    /// Typing.
    Composing,
    /// Recording audio.
    Recording,
    /// Stopped typing.
    Paused,
    /// Any other state, with the provider's name for it.
    Other(String),
}

impl PresenceState {
    pub(crate) fn from_provider(state: &str) -> Self {
        match state.to_ascii_lowercase().as_str() {
            "available" | "online" => Self::Available,
            "unavailable" | "offline" => Self::Unavailable,
            "composing" | "typing" => Self::Composing,
            "recording" => Self::Recording,
            "paused" => Self::Paused,
            _ => Self::Other(state.to_owned()),
        }
    }
}

/// One thing a webhook reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "event", content = "data")]
#[allow(
    clippy::large_enum_variant,
    reason = "events are short-lived and mostly messages; boxing would only add an allocation"
)]
pub enum InboundEvent {
    /// A new message, inbound or outbound.
    Message(NormalizedMessage),
    /// A delivery status change of a message; apply with [`DeliveryStatus::advance`].
    Status {
        /// The message it is about.
        provider_message_id: String,
        /// The reported status.
        status: DeliveryStatus,
        /// When, Unix milliseconds UTC, if the provider said.
        at_ms: Option<i64>,
    },
    /// A message was deleted for everyone.
    Revoked {
        /// The deleted message.
        provider_message_id: String,
    },
    /// A message was edited.
    Edited {
        /// The edited message.
        provider_message_id: String,
        /// The new text or caption, if any.
        text: Option<String>,
        /// When it was edited, Unix milliseconds UTC, if the provider said.
        at_ms: Option<i64>,
    },
    /// A contact's presence changed.
    Presence {
        /// Whose presence.
        address: Address,
        /// The new state.
        state: PresenceState,
        /// When, Unix milliseconds UTC, if the provider said.
        at_ms: Option<i64>,
    },
    /// The provider session's connection changed.
    Session(SessionEvent),
    /// A Telegram inline-keyboard button was pressed (`callback_query`); answer it.
    Callback {
        /// The callback query id to answer.
        id: String,
        /// Who pressed.
        from: Address,
        /// The button's `callback_data`.
        data: Option<String>,
    },
    /// A known event type the inbox does not use.
    Ignored {
        /// Which, for logs.
        reason: String,
    },
    /// An event type this crate does not know.
    Unknown {
        /// The provider's name for it.
        event_type: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_is_monotonic() {
        use DeliveryStatus::*;
        assert_eq!(Pending.advance(Sent), Sent);
        assert_eq!(Read.advance(Delivered), Read);
        assert_eq!(Sent.advance(Read), Read);
        assert_eq!(Sent.advance(Failed), Failed);
        assert_eq!(Delivered.advance(Failed), Delivered);
        assert_eq!(Failed.advance(Sent), Failed);
        assert_eq!(Failed.advance(Read), Read);
    }

    #[test]
    fn every_key_parses_back_to_its_address() {
        let all = [
            Address::Phone("+5511999990001".into()),
            Address::WhatsAppLid("100000000000001".into()),
            Address::TelegramUser(42),
            Address::TelegramChat(-1001234567890),
            Address::WhatsAppGroup("120363000000000001@g.us".into()),
            Address::Broadcast("status@broadcast".into()),
            Address::Newsletter("120363000000000002@newsletter".into()),
            Address::Omega("b3f1".into()),
        ];
        for address in all {
            assert_eq!(Address::from_key(&address.key()), Some(address));
        }
        for garbage in [
            "",
            "tel:",
            "tel:5511",
            "tel:+0123",
            "tg:-5",
            "tg:x",
            "wa-group:abc",
            "nope:1",
            "wa-lid:12a",
        ] {
            assert_eq!(Address::from_key(garbage), None, "{garbage:?}");
        }
    }

    #[test]
    fn keys_are_stable() {
        assert_eq!(
            Address::Phone("+5511999990001".into()).key(),
            "tel:+5511999990001"
        );
        assert_eq!(Address::WhatsAppLid("123".into()).key(), "wa-lid:123");
        assert_eq!(Address::TelegramUser(42).key(), "tg:42");
        assert!(Address::WhatsAppGroup("1@g.us".into()).is_group());
        assert!(Address::Broadcast("status@broadcast".into()).is_broadcast());
    }
}
