//! WPPConnect fixtures parse to the expected normalized events.

use omega_channels::{
    Address, DeliveryStatus, Direction, InboundEvent, MessageKind, NormalizedMessage,
    PresenceState, SessionEvent, wppconnect,
};

fn one(body: &[u8]) -> InboundEvent {
    let mut events = wppconnect::parse(body).expect("fixture parses");
    assert_eq!(events.len(), 1);
    events.remove(0)
}

fn message(body: &[u8]) -> NormalizedMessage {
    match one(body) {
        InboundEvent::Message(message) => message,
        other => panic!("expected a message, got {other:?}"),
    }
}

fn phone(e164: &str) -> Address {
    Address::Phone(e164.to_owned())
}

#[test]
fn private_text() {
    let message = message(include_bytes!(
        "fixtures/wppconnect/onmessage_text_private.json"
    ));
    assert_eq!(
        message.provider_message_id,
        "false_5511999990001@c.us_3A1F00000000000000A1"
    );
    assert_eq!(message.chat, phone("+5511999990001"));
    assert_eq!(message.sender, phone("+5511999990001"));
    assert!(message.sender_alt.is_empty());
    assert_eq!(message.sender_name.as_deref(), Some("Maria Exemplo"));
    assert_eq!(message.direction, Direction::Inbound);
    assert_eq!(message.kind, MessageKind::Text);
    assert_eq!(message.text.as_deref(), Some("Olá, vocês entregam hoje?"));
    assert_eq!(message.media, None);
    assert_eq!(message.sent_at_ms, 1_751_371_200_000);
}

#[test]
fn image_uses_caption_not_base64_body() {
    let message = message(include_bytes!("fixtures/wppconnect/onmessage_image.json"));
    assert_eq!(message.kind, MessageKind::Image);
    assert_eq!(message.text.as_deref(), Some("Foto do produto com defeito"));
    let media = message.media.expect("media");
    assert_eq!(media.mime.as_deref(), Some("image/jpeg"));
    assert_eq!(media.size, Some(52046));
    assert_eq!(
        media.caption.as_deref(),
        Some("Foto do produto com defeito")
    );
    assert_eq!(
        media.provider_id.as_deref(),
        Some("false_5511999990001@c.us_3EB0A1B2C3D4E5F6A7B8C9")
    );
    assert!(
        media
            .url
            .is_some_and(|url| url.starts_with("https://mmg.whatsapp.net/"))
    );
    assert_eq!(message.sent_at_ms, 1_751_371_260_000);
}

#[test]
fn group_message_names_group_and_author() {
    let message = message(include_bytes!("fixtures/wppconnect/onmessage_group.json"));
    assert_eq!(
        message.chat,
        Address::WhatsAppGroup("120363000000000001@g.us".into())
    );
    assert!(message.chat.is_group());
    assert_eq!(message.sender, phone("+5511999990002"));
    assert_eq!(message.sender_name.as_deref(), Some("João Teste"));
    assert_eq!(
        message.text.as_deref(),
        Some("Bom dia grupo, alguém tem o boleto?")
    );
    assert_eq!(message.sent_at_ms, 1_751_371_320_000);
}

#[test]
fn ack_with_object_id() {
    let event = one(include_bytes!("fixtures/wppconnect/onack.json"));
    assert_eq!(
        event,
        InboundEvent::Status {
            provider_message_id: "true_5511999990001@c.us_3EB0FFEEDDCCBBAA998877".into(),
            status: DeliveryStatus::Read,
            at_ms: None,
        }
    );
}

#[test]
fn revoke_names_the_deleted_message() {
    let event = one(include_bytes!("fixtures/wppconnect/onrevokedmessage.json"));
    assert_eq!(
        event,
        InboundEvent::Revoked {
            provider_message_id: "false_5511999990001@c.us_3A1F00000000000000A1".into(),
        }
    );
}

#[test]
fn presence_time_is_already_milliseconds() {
    let event = one(include_bytes!("fixtures/wppconnect/onpresencechanged.json"));
    assert_eq!(
        event,
        InboundEvent::Presence {
            address: phone("+5511999990001"),
            state: PresenceState::Composing,
            at_ms: Some(1_751_371_450_123),
        }
    );
}

#[test]
fn session_events() {
    assert_eq!(
        one(include_bytes!("fixtures/wppconnect/status_find.json")),
        InboundEvent::Session(SessionEvent::Connected)
    );
    assert_eq!(
        one(include_bytes!("fixtures/wppconnect/qrcode.json")),
        InboundEvent::Session(SessionEvent::Qr {
            code: "2@FAKEFAKEFAKEqrRefFAKE==,FAKEpubKey=,FAKEidentityKey=,FAKEadvSecret=".into()
        })
    );
}

#[test]
fn polymorphic_and_lid_fields() {
    // chatId and from as {_serialized} objects, a LID in `from`, the phone in sender.id.
    let body = br#"{"event":"onmessage","session":"s",
        "id":{"fromMe":false,"_serialized":"false_100000000000001@lid_AAA"},
        "type":"chat","body":"oi","t":1751371200000,"fromMe":false,
        "from":{"server":"lid","user":"100000000000001","_serialized":"100000000000001@lid"},
        "chatId":{"server":"lid","user":"100000000000001","_serialized":"100000000000001@lid"},
        "sender":{"id":"5511999990001@c.us","pushname":"Maria"}}"#;
    let message = message(body);
    assert_eq!(message.provider_message_id, "false_100000000000001@lid_AAA");
    assert_eq!(message.sender, phone("+5511999990001"));
    assert_eq!(message.chat, phone("+5511999990001"));
    assert_eq!(
        message.sender_alt,
        vec![Address::WhatsAppLid("100000000000001".into())]
    );
    assert_eq!(message.sender_name.as_deref(), Some("Maria"));
    assert_eq!(message.sent_at_ms, 1_751_371_200_000);
}

#[test]
fn self_message_is_outbound() {
    let body = br#"{"event":"onselfmessage","id":"true_5511999990001@c.us_3EB0","type":"chat",
        "body":"ok","t":1751371600,"from":"5511999990000@c.us","to":"5511999990001@c.us",
        "chatId":"5511999990001@c.us","fromMe":true,"quotedMsgId":"false_5511999990001@c.us_3A1F"}"#;
    let message = message(body);
    assert_eq!(message.direction, Direction::Outbound);
    assert_eq!(message.chat, phone("+5511999990001"));
    assert_eq!(message.sender, phone("+5511999990000"));
    assert_eq!(message.sender_name, None);
    assert_eq!(
        message.reply_to.as_deref(),
        Some("false_5511999990001@c.us_3A1F")
    );
}

#[test]
fn status_broadcast_is_recognizable() {
    let body = br#"{"event":"onmessage","id":"false_status@broadcast_X_5511999990001@c.us",
        "type":"image","caption":"promo","t":1751371200,"from":"status@broadcast",
        "author":"5511999990001@c.us","fromMe":false}"#;
    let message = message(body);
    assert!(message.chat.is_broadcast());
    assert_eq!(message.sender, phone("+5511999990001"));
}

#[test]
fn unknown_and_ignored_events() {
    assert_eq!(
        one(br#"{"event":"onsomethingnew"}"#),
        InboundEvent::Unknown {
            event_type: "onsomethingnew".into()
        }
    );
    assert!(matches!(
        one(br#"{"event":"onparticipantschanged","groupId":"1@g.us"}"#),
        InboundEvent::Ignored { .. }
    ));
}

#[test]
fn missing_fields_are_named() {
    let error =
        wppconnect::parse(br#"{"event":"onmessage","type":"chat","t":1}"#).expect_err("no id");
    assert_eq!(error.to_string(), "wppconnect onmessage: missing id");
    let error = wppconnect::parse(br#"{"event":"onack","id":"x"}"#).expect_err("no ack");
    assert_eq!(error.to_string(), "wppconnect onack: missing ack");
    let error = wppconnect::parse(br#"{"event":5}"#).expect_err("event not a string");
    assert_eq!(
        error.to_string(),
        "wppconnect: event: expected a string, got a number"
    );
}

#[test]
fn locked_chat_flag_is_carried() {
    let plain = include_str!("fixtures/wppconnect/onmessage_text_private.json");
    assert!(!message(plain.as_bytes()).locked_chat);
    let top = plain.replacen('{', r#"{"isLocked": true,"#, 1);
    assert!(message(top.as_bytes()).locked_chat);
    let nested = plain.replacen('{', r#"{"chat": {"isLocked": true},"#, 1);
    assert!(message(nested.as_bytes()).locked_chat);
}
