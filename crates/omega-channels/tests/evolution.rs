//! Evolution API fixtures parse to the expected normalized events.

use omega_channels::{
    Address, DeliveryStatus, Direction, InboundEvent, MessageKind, NormalizedMessage, SessionEvent,
    evolution,
};

fn one(body: &[u8]) -> InboundEvent {
    let mut events = evolution::parse(body).expect("fixture parses");
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

fn lid(digits: &str) -> Address {
    Address::WhatsAppLid(digits.to_owned())
}

#[test]
fn text_with_remote_jid_alt() {
    let message = message(include_bytes!(
        "fixtures/evolution/messages_upsert_text.json"
    ));
    assert_eq!(message.provider_message_id, "3A1F00000000000000A1");
    assert_eq!(message.chat, phone("+5511999990001"));
    assert_eq!(message.sender, phone("+5511999990001"));
    assert_eq!(message.sender_alt, vec![lid("100000000000001")]);
    assert_eq!(message.sender_name.as_deref(), Some("Maria Exemplo"));
    assert_eq!(message.direction, Direction::Inbound);
    assert_eq!(message.kind, MessageKind::Text);
    assert_eq!(message.text.as_deref(), Some("Olá, vocês entregam hoje?"));
    // messageTimestamp, not the misleading local date_time.
    assert_eq!(message.sent_at_ms, 1_751_371_200_000);
}

#[test]
fn image_with_string_file_length() {
    let message = message(include_bytes!(
        "fixtures/evolution/messages_upsert_image.json"
    ));
    assert_eq!(message.provider_message_id, "3EB083096BF5E4096E4137");
    assert_eq!(message.kind, MessageKind::Image);
    assert_eq!(message.text.as_deref(), Some("Foto do produto com defeito"));
    let media = message.media.expect("media");
    assert_eq!(media.mime.as_deref(), Some("image/jpeg"));
    assert_eq!(media.size, Some(52046));
    assert_eq!(media.provider_id.as_deref(), Some("3EB083096BF5E4096E4137"));
    assert_eq!(message.sent_at_ms, 1_751_371_260_000);
}

#[test]
fn group_with_lid_participant() {
    let message = message(include_bytes!(
        "fixtures/evolution/messages_upsert_group.json"
    ));
    assert_eq!(
        message.chat,
        Address::WhatsAppGroup("120363000000000001@g.us".into())
    );
    assert!(message.chat.is_group());
    assert_eq!(message.sender, phone("+5511999990002"));
    assert_eq!(message.sender_alt, vec![lid("100000000000002")]);
    assert_eq!(
        message.text.as_deref(),
        Some("Bom dia grupo, alguém tem o boleto?")
    );
    assert_eq!(message.sent_at_ms, 1_751_371_320_000);
}

#[test]
fn send_message_is_outbound_from_the_instance() {
    let message = message(include_bytes!("fixtures/evolution/send_message_event.json"));
    assert_eq!(message.provider_message_id, "3EB0AABBCCDDEEFF001122");
    assert_eq!(message.direction, Direction::Outbound);
    assert_eq!(message.chat, phone("+5511999990001"));
    assert_eq!(message.sender, phone("+5511999990000"));
    assert_eq!(message.sender_name, None);
    assert_eq!(
        message.text.as_deref(),
        Some("Olá! Seu pedido saiu para entrega.")
    );
    assert_eq!(message.sent_at_ms, 1_751_371_600_000);
}

#[test]
fn update_read() {
    assert_eq!(
        one(include_bytes!(
            "fixtures/evolution/messages_update_read.json"
        )),
        InboundEvent::Status {
            provider_message_id: "3EB0AABBCCDDEEFF001122".into(),
            status: DeliveryStatus::Read,
            at_ms: None,
        }
    );
}

#[test]
fn send_then_update_is_monotonic() {
    // send.message (PENDING) and messages.update (READ) name the same key id; a late
    // DELIVERY_ACK afterwards must not move the stored status back.
    let read = one(include_bytes!(
        "fixtures/evolution/messages_update_read.json"
    ));
    let InboundEvent::Status { status: read, .. } = read else {
        panic!("status")
    };
    let late = one(br#"{"event":"messages.update","data":{"keyId":"3EB0AABBCCDDEEFF001122","status":"DELIVERY_ACK"}}"#);
    let InboundEvent::Status { status: late, .. } = late else {
        panic!("status")
    };
    let stored = DeliveryStatus::Pending.advance(read).advance(late);
    assert_eq!(stored, DeliveryStatus::Read);
}

#[test]
fn connection_and_qr() {
    assert_eq!(
        one(include_bytes!(
            "fixtures/evolution/connection_update_open.json"
        )),
        InboundEvent::Session(SessionEvent::Connected)
    );
    assert_eq!(
        one(include_bytes!(
            "fixtures/evolution/connection_update_close.json"
        )),
        InboundEvent::Session(SessionEvent::NotLogged)
    );
    assert_eq!(
        one(include_bytes!("fixtures/evolution/qrcode_updated.json")),
        InboundEvent::Session(SessionEvent::Qr {
            code: "2@FAKEFAKEFAKEqrRefFAKE==,FAKEpubKey=,FAKEidentityKey=,FAKEadvSecret=".into()
        })
    );
}

#[test]
fn redact_removes_every_apikey() {
    for body in [
        &include_bytes!("fixtures/evolution/messages_upsert_text.json")[..],
        &include_bytes!("fixtures/evolution/connection_update_close.json")[..],
        &include_bytes!("fixtures/evolution/qrcode_updated.json")[..],
    ] {
        let redacted = evolution::redact_raw(body);
        let text = String::from_utf8(redacted.clone()).expect("utf-8");
        assert!(!text.contains("FAKE0000-1111-2222-3333-444455556666"));
        // Still the same events.
        assert_eq!(evolution::parse(&redacted), evolution::parse(body));
    }
    // Not JSON: dropped rather than stored.
    assert!(evolution::redact_raw(br#"{"apikey":"FAKE-KEY""#).is_empty());
    assert!(evolution::redact_raw(b"not json").is_empty());
    // Nested and differently cased keys too.
    let nested = evolution::redact_raw(br#"{"data":[{"ApiKey":"FAKE-KEY"}]}"#);
    assert_eq!(nested, br#"{"data":[{"ApiKey":""}]}"#.to_vec());
}

#[test]
fn uppercase_event_names_and_protocol_messages() {
    let revoke = br#"{"event":"MESSAGES_UPSERT","sender":"5511999990000@s.whatsapp.net","data":{
        "key":{"remoteJid":"5511999990001@s.whatsapp.net","fromMe":false,"id":"R1"},
        "message":{"protocolMessage":{"key":{"id":"3A1F00000000000000A1"},"type":"REVOKE"}},
        "messageTimestamp":1751371300}}"#;
    assert_eq!(
        one(revoke),
        InboundEvent::Revoked {
            provider_message_id: "3A1F00000000000000A1".into()
        }
    );
    let edit = br#"{"event":"messages.upsert","data":{
        "key":{"remoteJid":"5511999990001@s.whatsapp.net","fromMe":false,"id":"E1"},
        "message":{"protocolMessage":{"key":{"id":"3A1F00000000000000A1"},"type":14,
          "editedMessage":{"conversation":"corrigido"},"timestampMs":"1751371300123"}},
        "messageTimestamp":1751371300}}"#;
    assert_eq!(
        one(edit),
        InboundEvent::Edited {
            provider_message_id: "3A1F00000000000000A1".into(),
            text: Some("corrigido".into()),
            at_ms: Some(1_751_371_300_123),
        }
    );
}

#[test]
fn extended_text_and_quotes() {
    let body = br#"{"event":"messages.upsert","data":{
        "key":{"remoteJid":"5511999990001@s.whatsapp.net","fromMe":false,"id":"Q1"},
        "message":{"extendedTextMessage":{"text":"sim","contextInfo":{"stanzaId":"3EB0AABB"}}},
        "messageTimestamp":{"low":1751371300,"high":0,"unsigned":true}}}"#;
    let message = message(body);
    assert_eq!(message.text.as_deref(), Some("sim"));
    assert_eq!(message.reply_to.as_deref(), Some("3EB0AABB"));
    assert_eq!(message.sent_at_ms, 1_751_371_300_000);
}

#[test]
fn errors_name_the_missing_field() {
    let error = evolution::parse(
        br#"{"event":"messages.upsert","data":{"key":{"remoteJid":"5511999990001@s.whatsapp.net"},"messageTimestamp":1}}"#,
    )
    .expect_err("no key id");
    assert_eq!(
        error.to_string(),
        "evolution messages.upsert: missing data.key.id"
    );
    let error = evolution::parse(br#"{"event":"messages.upsert"}"#).expect_err("no data");
    assert_eq!(error.to_string(), "evolution messages.upsert: missing data");
    let error = evolution::parse(
        br#"{"event":"messages.upsert","data":{"key":{"id":"X","remoteJid":"garbage"},"messageTimestamp":1}}"#,
    )
    .expect_err("bad jid");
    assert_eq!(
        error.to_string(),
        "evolution messages.upsert: data.key.remoteJid: whatsapp jid: expected user@server, got no '@'"
    );
}

#[test]
fn unknown_and_ignored_events() {
    assert_eq!(
        one(br#"{"event":"brand.new","data":{}}"#),
        InboundEvent::Unknown {
            event_type: "brand.new".into()
        }
    );
    assert!(matches!(
        one(br#"{"event":"chats.upsert","data":[]}"#),
        InboundEvent::Ignored { .. }
    ));
}
