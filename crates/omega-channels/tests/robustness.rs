//! Garbage in, errors out: no parser or normalizer panics on any input.

use omega_channels::{
    Address, DeliveryStatus, InboundEvent, MessageKind, NormalizedMessage, SessionEvent, Source,
    address, cloud_api, evolution, telegram, wppconnect,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

type Parser = fn(&[u8]) -> Result<Vec<InboundEvent>, omega_channels::ParseError>;

const PARSERS: &[(&str, Parser)] = &[
    ("wppconnect", wppconnect::parse),
    ("evolution", evolution::parse),
    ("cloud_api", cloud_api::parse),
    ("telegram", telegram::parse),
];

const FIXTURES: &[&[u8]] = &[
    include_bytes!("fixtures/wppconnect/onack.json"),
    include_bytes!("fixtures/wppconnect/onmessage_group.json"),
    include_bytes!("fixtures/wppconnect/onmessage_image.json"),
    include_bytes!("fixtures/wppconnect/onmessage_text_private.json"),
    include_bytes!("fixtures/wppconnect/onpresencechanged.json"),
    include_bytes!("fixtures/evolution/messages_upsert_group.json"),
    include_bytes!("fixtures/evolution/messages_upsert_text.json"),
    include_bytes!("fixtures/evolution/messages_update_read.json"),
    include_bytes!("fixtures/evolution/send_message_event.json"),
    include_bytes!("fixtures/meta_whatsapp/messages_text.json"),
    include_bytes!("fixtures/meta_whatsapp/statuses_read.json"),
    include_bytes!("fixtures/telegram/update_callback_query.json"),
    include_bytes!("fixtures/telegram/update_message_group_text.json"),
];

#[test]
fn garbage_bodies_are_errors() {
    let deep_array = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_object = format!("{}1{}", r#"{"event":"#.repeat(10_000), "}".repeat(10_000));
    let garbage: Vec<&[u8]> = vec![
        b"",
        b"[]",
        b"{}",
        b"null",
        b"42",
        b"\"text\"",
        br#"{"event":5}"#,
        br#"{"event":"onmessage","id":"x""#,
        b"\xff\xfe\x00",
        deep_array.as_bytes(),
        deep_object.as_bytes(),
    ];
    for (name, parse) in PARSERS {
        for body in &garbage {
            let result = parse(body);
            assert!(
                result.is_err(),
                "{name} accepted {:?}: {result:?}",
                String::from_utf8_lossy(&body[..body.len().min(40)])
            );
            // Errors read as sentences and never dump the body.
            let message = result.expect_err("error").to_string();
            assert!(message.len() < 300, "{name}: {message}");
        }
        for fixture in FIXTURES {
            let end = fixture.trim_ascii_end().len();
            for cut in [1, end / 3, end - 1] {
                assert!(
                    parse(&fixture[..cut]).is_err(),
                    "{name} accepted a truncated body"
                );
            }
        }
    }
}

#[test]
fn events_serialize() {
    let message = NormalizedMessage {
        provider_message_id: "m".into(),
        chat: Address::WhatsAppGroup("1@g.us".into()),
        sender: Address::Phone("+5511999990001".into()),
        sender_alt: vec![Address::WhatsAppLid("1".into())],
        sender_name: None,
        direction: omega_channels::Direction::Inbound,
        kind: MessageKind::Unknown("poll".into()),
        text: None,
        media: None,
        reply_to: None,
        sent_at_ms: 1,
        locked_chat: false,
    };
    let events = vec![
        InboundEvent::Message(message),
        InboundEvent::Status {
            provider_message_id: "m".into(),
            status: DeliveryStatus::Read,
            at_ms: None,
        },
        InboundEvent::Session(SessionEvent::Connected),
        InboundEvent::Session(SessionEvent::Other("x".into())),
        InboundEvent::Unknown {
            event_type: "x".into(),
        },
    ];
    let json = serde_json::to_value(&events).expect("serializes");
    assert_eq!(json[0]["event"], "message");
    assert_eq!(
        json[0]["data"]["sender"],
        json!({"type": "phone", "value": "+5511999990001"})
    );
    assert_eq!(json[2], json!({"event": "session", "data": "connected"}));
    let back: Vec<InboundEvent> = serde_json::from_value(json).expect("round trip");
    assert_eq!(back, events);
    assert_eq!(Source::CloudApi.as_str(), "whatsapp-cloud");
    assert_eq!(
        serde_json::to_value(Source::WppConnect).expect("source"),
        json!("wpp-connect")
    );
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[0-9]{0,20}".prop_map(Value::String),
        "[a-zA-Z0-9@._:-]{0,30}".prop_map(Value::String),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(field_name(), inner, 0..8)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Names the parsers look for, so random values land where they are read.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "event",
            "id",
            "from",
            "to",
            "author",
            "chatId",
            "sender",
            "_serialized",
            "type",
            "body",
            "caption",
            "t",
            "timestamp",
            "ack",
            "fromMe",
            "refId",
            "state",
            "status",
            "qrcode",
            "urlcode",
            "data",
            "key",
            "remoteJid",
            "remoteJidAlt",
            "senderPn",
            "participant",
            "participantAlt",
            "message",
            "conversation",
            "messageTimestamp",
            "protocolMessage",
            "imageMessage",
            "fileLength",
            "keyId",
            "presences",
            "object",
            "entry",
            "changes",
            "field",
            "value",
            "messages",
            "statuses",
            "contacts",
            "wa_id",
            "update_id",
            "edited_message",
            "callback_query",
            "chat",
            "message_id",
            "date",
            "photo",
            "text",
            "low",
            "high",
        ])
        .prop_map(str::to_owned),
        "[a-z]{1,8}",
    ]
}

fn envelope() -> impl Strategy<Value = Value> {
    let event = prop::sample::select(vec![
        "onmessage",
        "onselfmessage",
        "onack",
        "onrevokedmessage",
        "onpresencechanged",
        "status-find",
        "qrcode",
        "onstatechange",
        "messages.upsert",
        "send.message",
        "messages.update",
        "messages.delete",
        "connection.update",
        "qrcode.updated",
        "presence.update",
    ]);
    (
        event,
        prop::collection::btree_map(field_name(), arbitrary_json(), 0..12),
    )
        .prop_map(|(event, fields)| {
            let mut object: Map<String, Value> = fields.into_iter().collect();
            object.insert("event".into(), Value::from(event));
            Value::Object(object)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        for (_, parse) in PARSERS {
            let _ = parse(&bytes);
        }
        let _ = evolution::redact_raw(&bytes);
    }

    #[test]
    fn arbitrary_json_never_panics(value in arbitrary_json()) {
        let bytes = serde_json::to_vec(&value).expect("serializes");
        for (_, parse) in PARSERS {
            let _ = parse(&bytes);
        }
    }

    #[test]
    fn arbitrary_envelopes_never_panic(value in envelope(), update_id in any::<i64>()) {
        let bytes = serde_json::to_vec(&value).expect("serializes");
        for (_, parse) in PARSERS {
            let _ = parse(&bytes);
        }
        let mut telegram_update = value;
        telegram_update["update_id"] = Value::from(update_id);
        let _ = telegram::parse(&serde_json::to_vec(&telegram_update).expect("serializes"));
    }

    #[test]
    fn mutated_fixtures_never_panic(
        index in 0..FIXTURES.len(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut body = FIXTURES[index].to_vec();
        for (position, byte) in flips {
            let at = position.index(body.len());
            body[at] = byte;
        }
        for (_, parse) in PARSERS {
            let _ = parse(&body);
        }
        let redacted = evolution::redact_raw(&body);
        // Unless the mutation renamed the field itself, the key never survives.
        let names_the_field = body.windows(8).any(|window| window == b"\"apikey\"");
        prop_assert!(!names_the_field || !String::from_utf8_lossy(&redacted).contains("FAKE0000-1111-2222-3333-444455556666"));
    }

    #[test]
    fn arbitrary_strings_never_panic_as_addresses(text in any::<String>(), digits in "[0-9]{0,40}") {
        let _ = address::from_whatsapp_jid(&text);
        let _ = address::phone_from_digits(&text);
        let _ = address::from_whatsapp_jid(&format!("{digits}@c.us"));
        let _ = address::from_whatsapp_jid(&format!("{text}@s.whatsapp.net"));
        if let Ok(Address::Phone(e164)) = address::phone_from_digits(&digits) {
            prop_assert!(e164.starts_with('+') && (9..=16).contains(&e164.len()));
        }
    }

    #[test]
    fn c_us_and_s_whatsapp_net_agree(digits in "[1-9][0-9]{7,14}", device in 0u8..100) {
        let c_us = address::from_whatsapp_jid(&format!("{digits}@c.us"));
        let baileys = address::from_whatsapp_jid(&format!("{digits}:{device}@s.whatsapp.net"));
        let wa_id = address::phone_from_digits(&digits);
        prop_assert!(c_us.is_ok());
        prop_assert_eq!(&c_us, &baileys);
        prop_assert_eq!(&c_us, &wa_id);
    }

    #[test]
    fn advance_never_goes_back(updates in prop::collection::vec(0u8..5, 0..12)) {
        let all = [
            DeliveryStatus::Pending,
            DeliveryStatus::Sent,
            DeliveryStatus::Delivered,
            DeliveryStatus::Read,
            DeliveryStatus::Failed,
        ];
        let mut stored = DeliveryStatus::Pending;
        let mut reached_delivery = false;
        for update in updates {
            let next = stored.advance(all[usize::from(update)]);
            let rank = |status| all.iter().position(|s| *s == status);
            if stored != DeliveryStatus::Failed && next != DeliveryStatus::Failed {
                prop_assert!(rank(next) >= rank(stored));
            }
            if reached_delivery {
                prop_assert!(matches!(next, DeliveryStatus::Delivered | DeliveryStatus::Read));
            }
            reached_delivery |= matches!(next, DeliveryStatus::Delivered | DeliveryStatus::Read);
            stored = next;
        }
    }
}
