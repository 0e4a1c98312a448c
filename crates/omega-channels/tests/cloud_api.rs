//! WhatsApp Cloud API fixtures: parsing, signature verification and the GET handshake.

use omega_channels::{
    Address, DeliveryStatus, Direction, InboundEvent, MessageKind, SignatureError, cloud_api,
};
use serde_json::Value;

const BODY: &[u8] = include_bytes!("fixtures/meta_whatsapp/messages_text.json");

fn headers() -> Value {
    serde_json::from_slice(include_bytes!(
        "fixtures/meta_whatsapp/messages_text.headers.json"
    ))
    .expect("headers fixture")
}

fn header_and_secret() -> (String, String) {
    let headers = headers();
    let header = headers["X-Hub-Signature-256"]
        .as_str()
        .expect("header")
        .to_owned();
    let secret = headers["_test_only"]["app_secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    (header, secret)
}

#[test]
fn text_message() {
    let events = cloud_api::parse(BODY).expect("parses");
    assert_eq!(events.len(), 1);
    let InboundEvent::Message(message) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(
        message.provider_message_id,
        "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
    );
    assert_eq!(message.sender, Address::Phone("+16505551234".into()));
    assert_eq!(message.chat, message.sender);
    assert_eq!(message.sender_name.as_deref(), Some("Sheena Nelson"));
    assert_eq!(message.direction, Direction::Inbound);
    assert_eq!(message.kind, MessageKind::Text);
    assert_eq!(
        message.text.as_deref(),
        Some("Olá! Does it come in another color? ✅")
    );
    assert_eq!(message.sent_at_ms, 1_751_371_200_000);
}

#[test]
fn read_status() {
    let events = cloud_api::parse(include_bytes!("fixtures/meta_whatsapp/statuses_read.json"))
        .expect("parses");
    assert_eq!(
        events,
        vec![InboundEvent::Status {
            provider_message_id: "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI1RkFLRTAwMDAwMDAwMDAwMQA="
                .into(),
            status: DeliveryStatus::Read,
            at_ms: Some(1_751_371_260_000),
        }]
    );
    // Cloud API may skip `delivered`: read first, delivered late stays read.
    assert_eq!(
        DeliveryStatus::Sent
            .advance(DeliveryStatus::Read)
            .advance(DeliveryStatus::Delivered),
        DeliveryStatus::Read
    );
}

#[test]
fn batches_give_every_event() {
    let body = br#"{"object":"whatsapp_business_account","entry":[
      {"changes":[{"field":"messages","value":{
        "messages":[
          {"from":"16505551234","id":"m1","timestamp":"1751371200","type":"text","text":{"body":"a"}},
          {"from":"16505551234","id":"m2","timestamp":"1751371201","type":"image",
           "image":{"id":"MEDIA1","mime_type":"image/jpeg","caption":"foto"},"context":{"id":"m1"}}],
        "statuses":[{"id":"o1","status":"delivered","timestamp":"1751371202","recipient_id":"16505551234"}]}}]},
      {"changes":[{"field":"messages","value":{"statuses":[
          {"id":"o2","status":"failed","timestamp":"1751371203","recipient_id":"16505551234"}]}},
        {"field":"account_update","value":{}}]}]}"#;
    let events = cloud_api::parse(body).expect("parses");
    assert_eq!(events.len(), 5);
    let InboundEvent::Message(image) = &events[1] else {
        panic!("{events:?}")
    };
    assert_eq!(image.kind, MessageKind::Image);
    assert_eq!(image.text.as_deref(), Some("foto"));
    assert_eq!(image.reply_to.as_deref(), Some("m1"));
    assert_eq!(
        image.media.as_ref().and_then(|m| m.provider_id.as_deref()),
        Some("MEDIA1")
    );
    assert!(matches!(
        &events[2],
        InboundEvent::Status {
            status: DeliveryStatus::Delivered,
            ..
        }
    ));
    assert!(matches!(
        &events[3],
        InboundEvent::Status {
            status: DeliveryStatus::Failed,
            ..
        }
    ));
    assert!(matches!(&events[4], InboundEvent::Ignored { .. }));
}

#[test]
fn missing_fields_are_named() {
    let error =
        cloud_api::parse(br#"{"object":"whatsapp_business_account"}"#).expect_err("no entry");
    assert_eq!(error.to_string(), "cloud api: missing entry");
    let error = cloud_api::parse(
        br#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"id":"x","timestamp":"1"}]}}]}]}"#,
    )
    .expect_err("no from");
    assert_eq!(error.to_string(), "cloud api message: missing from");
    assert_eq!(
        cloud_api::parse(br#"{"object":"page","entry":[]}"#).expect("other object"),
        vec![InboundEvent::Unknown {
            event_type: "page".into()
        }]
    );
}

#[test]
fn fixture_signature_verifies() {
    let (header, secret) = header_and_secret();
    assert_eq!(
        cloud_api::verify_signature(secret.as_bytes(), BODY, Some(&header)),
        Ok(())
    );
    // Uppercase hex is the same digest.
    let upper = format!("sha256={}", header["sha256=".len()..].to_ascii_uppercase());
    assert_eq!(
        cloud_api::verify_signature(secret.as_bytes(), BODY, Some(&upper)),
        Ok(())
    );
}

#[test]
fn one_byte_change_fails() {
    let (header, secret) = header_and_secret();
    let mismatch = Err(SignatureError::Mismatch {
        header: "X-Hub-Signature-256",
    });
    for index in [0, BODY.len() / 2, BODY.len() - 1] {
        let mut tampered = BODY.to_vec();
        tampered[index] ^= 0x01;
        assert_eq!(
            cloud_api::verify_signature(secret.as_bytes(), &tampered, Some(&header)),
            mismatch
        );
    }
    let mut wrong_secret = secret.into_bytes();
    wrong_secret[0] ^= 0x01;
    assert_eq!(
        cloud_api::verify_signature(&wrong_secret, BODY, Some(&header)),
        mismatch
    );
}

#[test]
fn signature_errors_are_specific() {
    let (header, secret) = header_and_secret();
    let secret = secret.as_bytes();
    assert_eq!(
        cloud_api::verify_signature(secret, BODY, None),
        Err(SignatureError::Missing {
            header: "X-Hub-Signature-256"
        })
    );
    assert!(matches!(
        cloud_api::verify_signature(b"", BODY, Some(&header)),
        Err(SignatureError::EmptySecret { .. })
    ));
    let digest = &header["sha256=".len()..];
    for malformed in [
        "".to_owned(),
        digest.to_owned(),
        format!("sha1={digest}"),
        format!("sha256={}", &digest[1..]),
        format!("sha256={}zz", &digest[2..]),
        "sha256=é".to_owned(),
    ] {
        let result = cloud_api::verify_signature(secret, BODY, Some(&malformed));
        assert!(
            matches!(result, Err(SignatureError::Malformed { .. })),
            "{malformed:?}: {result:?}"
        );
    }
    let message = cloud_api::verify_signature(secret, BODY, Some("sha1=abc"))
        .expect_err("malformed")
        .to_string();
    assert_eq!(
        message,
        "X-Hub-Signature-256: expected sha256=<64 hex digits>, got no sha256= prefix"
    );
}

#[test]
fn verification_handshake() {
    let fixture: Value = serde_json::from_slice(include_bytes!(
        "fixtures/meta_whatsapp/verification_get.json"
    ))
    .expect("fixture");
    let url = fixture["url"].as_str().expect("url");
    let (_, query) = url.split_once('?').expect("query");
    let pairs: Vec<(String, String)> = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
    let expected = fixture["expected_response"]["body"].as_str().expect("body");
    assert_eq!(
        cloud_api::verification_challenge(&pairs, "FAKE_VERIFY_TOKEN").as_deref(),
        Some(expected)
    );
    assert_eq!(
        cloud_api::verification_challenge(&pairs, "FAKE_VERIFY_TOKEM"),
        None
    );
    assert_eq!(cloud_api::verification_challenge(&pairs, ""), None);
    let unsubscribe: Vec<_> = pairs
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                if k == "hub.mode" {
                    "unsubscribe".to_owned()
                } else {
                    v.clone()
                },
            )
        })
        .collect();
    assert_eq!(
        cloud_api::verification_challenge(&unsubscribe, "FAKE_VERIFY_TOKEN"),
        None
    );
    let reflected: Vec<_> = pairs
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                if k == "hub.challenge" {
                    "<script>".to_owned()
                } else {
                    v.clone()
                },
            )
        })
        .collect();
    assert_eq!(
        cloud_api::verification_challenge(&reflected, "FAKE_VERIFY_TOKEN"),
        None
    );
}
