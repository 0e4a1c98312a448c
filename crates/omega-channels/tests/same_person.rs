//! One person reached through every WhatsApp spelling is one contact.

use omega_channels::{Address, InboundEvent, NormalizedMessage, evolution, wppconnect};

fn message(events: Vec<InboundEvent>) -> NormalizedMessage {
    match events.into_iter().next() {
        Some(InboundEvent::Message(message)) => message,
        other => panic!("expected a message, got {other:?}"),
    }
}

fn evolution_key(key: &str) -> Vec<u8> {
    format!(
        r#"{{"event":"messages.upsert","instance":"i","sender":"5511999990000@s.whatsapp.net",
        "data":{{"key":{key},"pushName":"Maria","message":{{"conversation":"oi"}},
        "messageTimestamp":1751371200}}}}"#
    )
    .into_bytes()
}

#[test]
fn every_spelling_is_one_phone_key() {
    let expected = "tel:+5511999990001";
    let lid = Address::WhatsAppLid("100000000000001".into());

    // WPPConnect @c.us.
    let wpp = message(
        wppconnect::parse(include_bytes!(
            "fixtures/wppconnect/onmessage_text_private.json"
        ))
        .expect("parses"),
    );
    // Evolution @s.whatsapp.net + remoteJidAlt LID (fixture).
    let evo = message(
        evolution::parse(include_bytes!(
            "fixtures/evolution/messages_upsert_text.json"
        ))
        .expect("parses"),
    );
    // Evolution ≤ 2.3.0: remoteJid is the LID, phone in senderPn.
    let sender_pn = message(
        evolution::parse(&evolution_key(
            r#"{"remoteJid":"100000000000001@lid","senderPn":"5511999990001@s.whatsapp.net","fromMe":false,"id":"A"}"#,
        ))
        .expect("parses"),
    );
    // Evolution 2.3.1–2.3.4: phone in remoteJid, LID in previousRemoteJid.
    let previous = message(
        evolution::parse(&evolution_key(
            r#"{"remoteJid":"5511999990001@s.whatsapp.net","previousRemoteJid":"100000000000001@lid","fromMe":false,"id":"B"}"#,
        ))
        .expect("parses"),
    );
    // Evolution ≥ 2.3.5: remoteJid is the LID, phone in remoteJidAlt; device suffix too.
    let alt = message(
        evolution::parse(&evolution_key(
            r#"{"remoteJid":"100000000000001@lid","remoteJidAlt":"5511999990001:12@s.whatsapp.net","addressingMode":"lid","fromMe":false,"id":"C"}"#,
        ))
        .expect("parses"),
    );

    for message in [&wpp, &evo, &sender_pn, &previous, &alt] {
        assert_eq!(message.sender.key(), expected, "{message:?}");
        assert_eq!(message.chat.key(), expected, "{message:?}");
    }
    for message in [&evo, &sender_pn, &previous, &alt] {
        assert_eq!(message.sender_alt, vec![lid.clone()], "{message:?}");
    }
}

#[test]
fn lid_without_phone_stays_a_lid() {
    let only_lid = message(
        evolution::parse(&evolution_key(
            r#"{"remoteJid":"100000000000001@lid","fromMe":false,"id":"D"}"#,
        ))
        .expect("parses"),
    );
    assert_eq!(only_lid.sender.key(), "wa-lid:100000000000001");
    assert_eq!(only_lid.chat, only_lid.sender);
    assert!(only_lid.sender_alt.is_empty());
}

#[test]
fn group_and_broadcast_are_recognizable() {
    let group = message(
        evolution::parse(include_bytes!(
            "fixtures/evolution/messages_upsert_group.json"
        ))
        .expect("parses"),
    );
    assert!(group.chat.is_group() && !group.chat.is_broadcast());
    assert!(!group.sender.is_group());
    let status = message(
        evolution::parse(&evolution_key(
            r#"{"remoteJid":"status@broadcast","participant":"5511999990001@s.whatsapp.net","fromMe":false,"id":"S"}"#,
        ))
        .expect("parses"),
    );
    assert!(status.chat.is_broadcast() && !status.chat.is_group());
    assert_eq!(status.sender.key(), "tel:+5511999990001");
}
