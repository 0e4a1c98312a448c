//! Telegram fixtures: updates and the secret-token header.

use omega_channels::{Address, Direction, InboundEvent, MessageKind, SignatureError, telegram};
use serde_json::Value;

fn one(body: &[u8]) -> InboundEvent {
    let mut events = telegram::parse(body).expect("fixture parses");
    assert_eq!(events.len(), 1);
    events.remove(0)
}

#[test]
fn private_text() {
    let InboundEvent::Message(message) = one(include_bytes!(
        "fixtures/telegram/update_message_private_text.json"
    )) else {
        panic!("message")
    };
    assert_eq!(message.provider_message_id, "111111111:1365");
    assert_eq!(message.chat, Address::TelegramUser(111_111_111));
    assert_eq!(message.sender, message.chat);
    assert!(!message.chat.is_group());
    assert_eq!(message.sender.key(), "tg:111111111");
    assert_eq!(message.sender_name.as_deref(), Some("Test Lastname"));
    assert_eq!(message.direction, Direction::Inbound);
    assert_eq!(message.kind, MessageKind::Text);
    assert_eq!(
        message.text.as_deref(),
        Some("Olá, preciso de ajuda com meu pedido #42")
    );
    assert_eq!(message.sent_at_ms, 1_751_371_200_000);
}

#[test]
fn supergroup_text() {
    let InboundEvent::Message(message) = one(include_bytes!(
        "fixtures/telegram/update_message_group_text.json"
    )) else {
        panic!("message")
    };
    assert_eq!(message.provider_message_id, "-1001234567890:5021");
    assert_eq!(message.chat, Address::TelegramChat(-1_001_234_567_890));
    assert!(message.chat.is_group());
    assert_eq!(message.sender, Address::TelegramUser(222_222_222));
    assert_eq!(message.sender_name.as_deref(), Some("Outra"));
    assert_eq!(message.sent_at_ms, 1_751_371_210_000);
}

#[test]
fn edited_message() {
    assert_eq!(
        one(include_bytes!(
            "fixtures/telegram/update_edited_message.json"
        )),
        InboundEvent::Edited {
            provider_message_id: "111111111:1365".into(),
            text: Some("Olá, preciso de ajuda com meu pedido #43".into()),
            at_ms: Some(1_751_371_290_000),
        }
    );
}

#[test]
fn callback_query() {
    assert_eq!(
        one(include_bytes!(
            "fixtures/telegram/update_callback_query.json"
        )),
        InboundEvent::Callback {
            id: "4382bfdwdsb323b2d9".into(),
            from: Address::TelegramUser(111_111_111),
            data: Some("order:42:confirm".into()),
        }
    );
}

#[test]
fn photo_reply_and_other_updates() {
    let body = br#"{"update_id":1,"message":{"message_id":9,"chat":{"id":5,"type":"private"},
        "from":{"id":5,"first_name":"A"},"date":1751371200,"caption":"nota",
        "photo":[{"file_id":"small","file_size":10},{"file_id":"big","file_size":900}],
        "reply_to_message":{"message_id":8,"chat":{"id":5,"type":"private"},"date":1}}}"#;
    let InboundEvent::Message(message) = one(body) else {
        panic!("message")
    };
    assert_eq!(message.kind, MessageKind::Image);
    assert_eq!(message.text.as_deref(), Some("nota"));
    assert_eq!(message.reply_to.as_deref(), Some("5:8"));
    let media = message.media.expect("media");
    assert_eq!(media.provider_id.as_deref(), Some("big"));
    assert_eq!(media.size, Some(900));
    assert!(matches!(
        one(br#"{"update_id":2,"my_chat_member":{}}"#),
        InboundEvent::Ignored { .. }
    ));
    assert_eq!(
        one(br#"{"update_id":3,"future_thing":{}}"#),
        InboundEvent::Unknown {
            event_type: "future_thing".into()
        }
    );
}

#[test]
fn missing_fields_are_named() {
    let error = telegram::parse(br#"{"message":{}}"#).expect_err("no update_id");
    assert_eq!(error.to_string(), "telegram update: missing update_id");
    let error = telegram::parse(br#"{"update_id":1,"message":{"message_id":1,"date":1}}"#)
        .expect_err("no chat");
    assert_eq!(error.to_string(), "telegram message: missing chat.id");
}

#[test]
fn secret_token_from_fixture() {
    let fixture: Value = serde_json::from_slice(include_bytes!(
        "fixtures/telegram/webhook_request_headers.json"
    ))
    .expect("fixture");
    let header = fixture["headers"]["X-Telegram-Bot-Api-Secret-Token"]
        .as_str()
        .expect("header");
    let secret = "fake_tg_secret_0123456789-ABC";
    assert_eq!(telegram::verify_secret_token(secret, Some(header)), Ok(()));
    let mut tampered = header.as_bytes().to_vec();
    tampered[0] ^= 0x01;
    let tampered = String::from_utf8(tampered).expect("ascii");
    let header_name = "X-Telegram-Bot-Api-Secret-Token";
    assert_eq!(
        telegram::verify_secret_token(secret, Some(&tampered)),
        Err(SignatureError::Mismatch {
            header: header_name
        })
    );
    assert_eq!(
        telegram::verify_secret_token(secret, Some(&header[1..])),
        Err(SignatureError::Mismatch {
            header: header_name
        })
    );
    assert_eq!(
        telegram::verify_secret_token(secret, None),
        Err(SignatureError::Missing {
            header: header_name
        })
    );
    assert_eq!(
        telegram::verify_secret_token("", Some("")),
        Err(SignatureError::EmptySecret {
            header: header_name
        })
    );
}
