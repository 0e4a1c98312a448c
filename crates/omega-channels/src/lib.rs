//! The normalized message model and inbound webhook parsers of the Ômega business hub's
//! omnichannel inbox.
//!
//! What it does: turns the webhook bodies of WhatsApp through WPPConnect ([`wppconnect`]),
//! WhatsApp through Evolution API ([`evolution`]), the WhatsApp Cloud API ([`cloud_api`])
//! and Telegram bots ([`telegram`]) into [`InboundEvent`]s of one shape ([`model`]);
//! normalizes every provider's address spellings so one person is one contact
//! ([`address`]); verifies the Cloud API signature and the Telegram secret token in
//! constant time; redacts the `apikey` Evolution puts in its bodies. For the way out, it
//! builds the HTTP requests that send a text reply or manage a session through each source
//! and reads their answers ([`outbound`]), and runs the reconnect/reset lifecycle of an
//! unofficial WhatsApp session as a state machine driven by the caller ([`session`]).
//!
//! What it does not do: no IO, no HTTP client, no clock, no storage (requests are built
//! here and performed by the caller). It does not deduplicate (providers retry and
//! overlap: deduplicate on `provider_message_id`), does not keep status state (apply
//! [`DeliveryStatus::advance`] to what you stored), does not download media, and does not
//! filter groups or broadcasts (check [`Address::is_group`] / [`Address::is_broadcast`]).
//! Unknown event types parse to [`InboundEvent::Unknown`]; only bodies that are not JSON or
//! lack what a known event must carry are errors. Parsers never panic.
//!
//! ```
//! use omega_channels::{InboundEvent, MessageKind, Source, cloud_api};
//!
//! let body = br#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages",
//!   "value":{"contacts":[{"profile":{"name":"Sheena"},"wa_id":"16505551234"}],
//!   "messages":[{"from":"16505551234","id":"wamid.X","timestamp":"1751371200",
//!   "type":"text","text":{"body":"hi"}}]}}]}]}"#;
//! // Verify first (with the app secret and the X-Hub-Signature-256 header), then parse.
//! assert!(cloud_api::verify_signature(b"app secret", body, None).is_err());
//! let events = omega_channels::parse(Source::CloudApi, body)?;
//! let InboundEvent::Message(message) = &events[0] else { unreachable!() };
//! assert_eq!(message.sender.key(), "tel:+16505551234");
//! assert_eq!(message.kind, MessageKind::Text);
//! assert_eq!(message.text.as_deref(), Some("hi"));
//! assert_eq!(message.sent_at_ms, 1_751_371_200_000);
//! # Ok::<(), omega_channels::ParseError>(())
//! ```

#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod address;
pub mod cloud_api;
mod error;
pub mod evolution;
mod json;
pub mod model;
pub mod outbound;
pub mod session;
pub mod telegram;
pub mod wppconnect;

pub use error::{AddressError, ParseError, SignatureError};
pub use model::{
    Address, DeliveryStatus, Direction, InboundEvent, MediaRef, MessageKind, NormalizedMessage,
    PresenceState, SessionEvent, Source,
};

/// Parses a webhook body from `source` with that source's parser.
///
/// [`Source::Omega`] has no webhooks: its bodies parse to [`InboundEvent::Unknown`].
pub fn parse(source: Source, body: &[u8]) -> Result<Vec<InboundEvent>, ParseError> {
    match source {
        Source::WppConnect => wppconnect::parse(body),
        Source::Evolution => evolution::parse(body),
        Source::CloudApi => cloud_api::parse(body),
        Source::Telegram => telegram::parse(body),
        Source::Omega => Ok(vec![InboundEvent::Unknown {
            event_type: "omega".to_owned(),
        }]),
    }
}
