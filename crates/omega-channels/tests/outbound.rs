//! Sending text: requests match each source's REST samples, answers classify as the
//! sources mean them, and secrets never show.

use std::time::Duration;

use omega_channels::outbound::{
    Credentials, HttpRequest, OutboundError, OutboundText, SendOutcome, send_outcome, send_text,
};
use omega_channels::{Address, InboundEvent, Source, evolution, telegram, wppconnect};
use proptest::prelude::*;
use serde_json::{Value, json};

const WPP_TOKEN: &str = "$2b$10$FAKEFAKEFAKEFAKEFAKEFuFAKEFAKEFAKEFAKEFAKEFAKE.FAKEFAKE";
const EVOLUTION_KEY: &str = "FAKE-GLOBAL-OR-INSTANCE-API-KEY";
const CLOUD_TOKEN: &str = "FAKE_SYSTEM_USER_TOKEN";
const BOT_TOKEN: &str = "000000000:FAKE_BOT_TOKEN_FAKE_FAKE_FAKE";

fn fixture(text: &str) -> Value {
    serde_json::from_str(text).expect("fixture is json")
}

fn wppconnect() -> Credentials {
    Credentials::WppConnect {
        base_url: "https://wpp.example.test/".to_owned(),
        session: "NERDWHATS_AMERICA".to_owned(),
        token: WPP_TOKEN.to_owned(),
    }
}

fn evolution() -> Credentials {
    Credentials::Evolution {
        base_url: "https://evo.example.test".to_owned(),
        instance: "loja-centro".to_owned(),
        apikey: EVOLUTION_KEY.to_owned(),
    }
}

fn cloud_api() -> Credentials {
    Credentials::CloudApi {
        base_url: "https://graph.facebook.com/v23.0".to_owned(),
        phone_number_id: "106540352242922".to_owned(),
        access_token: CLOUD_TOKEN.to_owned(),
    }
}

fn telegram() -> Credentials {
    Credentials::Telegram {
        base_url: "https://api.telegram.org".to_owned(),
        bot_token: BOT_TOKEN.to_owned(),
    }
}

fn body_of(request: &HttpRequest) -> Value {
    serde_json::from_slice(request.body.as_deref().expect("a body")).expect("json body")
}

fn send(
    credentials: &Credentials,
    to: &Address,
    text: &str,
    reply_to: Option<&str>,
) -> HttpRequest {
    send_text(credentials, &OutboundText { to, text, reply_to }).expect("request builds")
}

fn send_err(credentials: &Credentials, to: &Address, text: &str) -> OutboundError {
    send_text(
        credentials,
        &OutboundText {
            to,
            text,
            reply_to: None,
        },
    )
    .expect_err("refused")
}

fn phone() -> Address {
    Address::Phone("+5511999990001".to_owned())
}

fn outcome(source: Source, sample: &Value) -> SendOutcome {
    let status = sample["status"].as_u64().expect("status") as u16;
    let body = serde_json::to_vec(&sample["body"]).expect("body");
    send_outcome(source, status, &body)
}

fn reason(outcome: SendOutcome) -> String {
    match outcome {
        SendOutcome::Failed { reason } | SendOutcome::Retry { reason, .. } => reason,
        SendOutcome::Sent { .. } => panic!("expected a failure, got {outcome:?}"),
    }
}

#[test]
fn wppconnect_send_matches_the_fixture_request() {
    let sample = fixture(include_str!("fixtures/wppconnect/rest_send_message.json"));
    let expected = &sample["request"];
    let request = send(
        &wppconnect(),
        &phone(),
        expected["body"]["message"].as_str().expect("text"),
        expected["body"]["options"]["quotedMsg"].as_str(),
    );
    assert_eq!(request.method, expected["method"]);
    assert_eq!(
        request.url,
        format!(
            "https://wpp.example.test{}",
            expected["path"].as_str().expect("path")
        )
    );
    assert_eq!(
        request.header("Authorization"),
        expected["headers"]["Authorization"].as_str()
    );
    assert_eq!(request.header("Content-Type"), Some("application/json"));
    assert_eq!(body_of(&request), expected["body"]);
}

#[test]
fn wppconnect_sent_id_is_the_serialized_id_its_webhooks_use() {
    let sample = fixture(include_str!("fixtures/wppconnect/rest_send_message.json"));
    let SendOutcome::Sent {
        provider_message_id,
    } = outcome(Source::WppConnect, &sample["response"])
    else {
        panic!("expected sent");
    };
    assert_eq!(
        provider_message_id,
        "true_5511999990001@c.us_3EB0AABBCCDDEEFF001122"
    );
    // The message echoed back is what `onselfmessage` later carries: same id.
    let mut webhook = sample["response"]["body"]["response"][0].clone();
    webhook["event"] = json!("onselfmessage");
    let events = wppconnect::parse(webhook.to_string().as_bytes()).expect("parses");
    let [InboundEvent::Message(message)] = events.as_slice() else {
        panic!("expected one message, got {events:?}");
    };
    assert_eq!(message.provider_message_id, provider_message_id);
}

#[test]
fn wppconnect_object_ids_use_their_serialized_form() {
    let body = br#"{"status":"success","response":[{"id":{"fromMe":true,
        "_serialized":"true_120363000000000001@g.us_3EB0AA"}}]}"#;
    assert_eq!(
        send_outcome(Source::WppConnect, 201, body),
        SendOutcome::Sent {
            provider_message_id: "true_120363000000000001@g.us_3EB0AA".to_owned()
        }
    );
}

#[test]
fn wppconnect_groups_and_lids_set_their_flags() {
    let group = Address::WhatsAppGroup("120363000000000001@g.us".to_owned());
    let body = body_of(&send(&wppconnect(), &group, "oi", None));
    assert_eq!(body["phone"], "120363000000000001");
    assert_eq!(
        (&body["isGroup"], &body["isLid"]),
        (&json!(true), &json!(false))
    );
    assert!(body.get("options").is_none());

    let lid = Address::WhatsAppLid("100000000000001".to_owned());
    let body = body_of(&send(&wppconnect(), &lid, "oi", None));
    assert_eq!(body["phone"], "100000000000001");
    assert_eq!(
        (&body["isGroup"], &body["isLid"]),
        (&json!(false), &json!(true))
    );
}

#[test]
fn wppconnect_session_not_active_is_retried() {
    let sample = fixture(include_str!("fixtures/wppconnect/rest_send_message.json"));
    let SendOutcome::Retry { after, reason } =
        outcome(Source::WppConnect, &sample["error_session_not_active"])
    else {
        panic!("expected a retry");
    };
    assert_eq!(after, None);
    assert_eq!(reason, "http 404: A sessão do WhatsApp não está ativa.");
    // A 404 from something else (a wrong base URL behind a proxy) is not retried.
    assert!(matches!(
        send_outcome(Source::WppConnect, 404, b"<html>Not Found</html>"),
        SendOutcome::Failed { .. }
    ));
}

#[test]
fn wppconnect_unknown_number_fails_without_echoing_the_number() {
    let sample = fixture(include_str!("fixtures/wppconnect/rest_send_message.json"));
    let outcome = outcome(Source::WppConnect, &sample["error_number_not_on_whatsapp"]);
    assert_eq!(
        outcome,
        SendOutcome::Failed {
            reason: "http 400: O número *** não existe.".to_owned()
        }
    );
}

#[test]
fn wppconnect_auth_error_fails_with_its_message() {
    let sample = fixture(include_str!("fixtures/wppconnect/rest_send_message.json"));
    assert_eq!(
        outcome(Source::WppConnect, &sample["error_auth"]),
        SendOutcome::Failed {
            reason: "http 401: Check that the Session and Token are correct".to_owned()
        }
    );
}

#[test]
fn evolution_send_matches_the_fixture_request() {
    let sample = fixture(include_str!("fixtures/evolution/rest_send_text.json"));
    let expected = &sample["request"];
    let request = send(
        &evolution(),
        &phone(),
        expected["body"]["text"].as_str().expect("text"),
        expected["body"]["quoted"]["key"]["id"].as_str(),
    );
    assert_eq!(request.method, expected["method"]);
    assert_eq!(
        request.url,
        format!(
            "https://evo.example.test{}",
            expected["path"].as_str().expect("path")
        )
    );
    assert_eq!(request.header("apikey"), Some(EVOLUTION_KEY));
    assert_eq!(request.header("Content-Type"), Some("application/json"));
    assert_eq!(request.header("Authorization"), None);
    // The sample also sets a typing delay and the quoted text; Evolution finds a quoted
    // message by its id, and no delay is wanted.
    let mut wanted = expected["body"].clone();
    wanted.as_object_mut().expect("object").remove("delay");
    wanted["quoted"]
        .as_object_mut()
        .expect("object")
        .remove("message");
    assert_eq!(body_of(&request), wanted);
}

#[test]
fn evolution_sent_id_is_the_key_id_its_webhooks_use() {
    let sample = fixture(include_str!("fixtures/evolution/rest_send_text.json"));
    let SendOutcome::Sent {
        provider_message_id,
    } = outcome(Source::Evolution, &sample["response"])
    else {
        panic!("expected sent");
    };
    assert_eq!(provider_message_id, "3EB0AABBCCDDEEFF001122");
    let webhook = json!({
        "event": "send.message",
        "instance": "loja-centro",
        "sender": "5511999990000@s.whatsapp.net",
        "data": sample["response"]["body"],
    });
    let events = evolution::parse(webhook.to_string().as_bytes()).expect("parses");
    let [InboundEvent::Message(message)] = events.as_slice() else {
        panic!("expected one message, got {events:?}");
    };
    assert_eq!(message.provider_message_id, provider_message_id);
}

#[test]
fn evolution_groups_and_lids_are_sent_as_full_jids() {
    let group = Address::WhatsAppGroup("120363000000000001@g.us".to_owned());
    let body = body_of(&send(&evolution(), &group, "oi", None));
    assert_eq!(body["number"], "120363000000000001@g.us");
    let lid = Address::WhatsAppLid("100000000000001".to_owned());
    let body = body_of(&send(&evolution(), &lid, "oi", None));
    assert_eq!(body["number"], "100000000000001@lid");
    assert!(body.get("quoted").is_none());
}

#[test]
fn evolution_unauthorized_fails_with_its_message() {
    let sample = fixture(include_str!("fixtures/evolution/rest_send_text.json"));
    assert_eq!(
        outcome(Source::Evolution, &sample["error_unauthorized"]),
        SendOutcome::Failed {
            reason: "http 401: Unauthorized".to_owned()
        }
    );
    let not_on_whatsapp = br#"{"status":400,"error":"Bad Request","response":{"message":
        [{"exists":false,"jid":"5511999990009@s.whatsapp.net","number":"5511999990009"}]}}"#;
    assert_eq!(
        send_outcome(Source::Evolution, 400, not_on_whatsapp),
        SendOutcome::Failed {
            reason: "http 400: the number is not on whatsapp".to_owned()
        }
    );
}

#[test]
fn cloud_api_send_matches_the_fixture_request() {
    let sample = fixture(include_str!("fixtures/meta_whatsapp/rest_send_text.json"));
    let expected = &sample["request"];
    let to = Address::Phone("+16505551234".to_owned());
    let request = send(
        &cloud_api(),
        &to,
        expected["body"]["text"]["body"].as_str().expect("text"),
        expected["body"]["context"]["message_id"].as_str(),
    );
    assert_eq!(request.method, expected["method"]);
    assert_eq!(request.url, expected["url"]);
    assert_eq!(
        request.header("Authorization"),
        expected["headers"]["Authorization"].as_str()
    );
    assert_eq!(request.header("Content-Type"), Some("application/json"));
    assert_eq!(body_of(&request), expected["body"]);
}

#[test]
fn cloud_api_sent_id_is_the_wamid() {
    let sample = fixture(include_str!("fixtures/meta_whatsapp/rest_send_text.json"));
    assert_eq!(
        outcome(Source::CloudApi, &sample["response"]),
        SendOutcome::Sent {
            provider_message_id: "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI1RkFLRTAwMDAwMDAwMDAwMQA="
                .to_owned()
        }
    );
}

#[test]
fn cloud_api_refuses_groups_and_lids() {
    let group = Address::WhatsAppGroup("120363000000000001@g.us".to_owned());
    let lid = Address::WhatsAppLid("100000000000001".to_owned());
    for to in [group, lid] {
        assert!(matches!(
            send_err(&cloud_api(), &to, "oi"),
            OutboundError::Unreachable {
                source_name: "whatsapp-cloud",
                ..
            }
        ));
    }
}

#[test]
fn cloud_api_5xx_is_retried() {
    let body = br#"{"error":{"message":"(#131000) Something went wrong","type":"OAuthException",
        "code":131000,"fbtrace_id":"AbCdEfGhIjKlMnOpQrStUv"}}"#;
    assert_eq!(
        send_outcome(Source::CloudApi, 500, body),
        SendOutcome::Retry {
            after: None,
            reason: "http 500: (#131000) Something went wrong".to_owned()
        }
    );
}

#[test]
fn cloud_api_4xx_fails_with_the_error_message() {
    let body = br#"{"error":{"message":"(#131030) Recipient phone number not in allowed list",
        "type":"OAuthException","code":131030}}"#;
    assert_eq!(
        send_outcome(Source::CloudApi, 400, body),
        SendOutcome::Failed {
            reason: "http 400: (#131030) Recipient phone number not in allowed list".to_owned()
        }
    );
}

#[test]
fn telegram_send_matches_the_fixture_request_as_plain_text() {
    let sample = fixture(include_str!("fixtures/telegram/rest_send_message.json"));
    let expected = &sample["request"];
    let text = expected["body"]["text"].as_str().expect("text");
    let to = Address::TelegramUser(111_111_111);
    let request = send(&telegram(), &to, text, Some("111111111:1365"));
    assert_eq!(request.method, expected["method"]);
    assert_eq!(request.url, expected["url"]);
    assert_eq!(request.header("Content-Type"), Some("application/json"));
    // The sample asks for HTML; replies go out as plain text, the markup verbatim.
    let mut wanted = expected["body"].clone();
    wanted.as_object_mut().expect("object").remove("parse_mode");
    wanted["reply_parameters"]["allow_sending_without_reply"] = json!(true);
    let body = body_of(&request);
    assert_eq!(body, wanted);
    assert_eq!(body["text"], "Seu pedido <b>#42</b> saiu para entrega.");
}

#[test]
fn telegram_groups_take_their_negative_chat_id() {
    let to = Address::TelegramChat(-1_001_234_567_890);
    let request = send(&telegram(), &to, "oi", Some("-1001234567890:77"));
    let body = body_of(&request);
    assert_eq!(body["chat_id"], -1_001_234_567_890_i64);
    assert_eq!(body["reply_parameters"]["message_id"], 77);
}

#[test]
fn telegram_sent_id_matches_the_inbound_parser() {
    let sample = fixture(include_str!("fixtures/telegram/rest_send_message.json"));
    let SendOutcome::Sent {
        provider_message_id,
    } = outcome(Source::Telegram, &sample["response"])
    else {
        panic!("expected sent");
    };
    assert_eq!(provider_message_id, "111111111:1371");
    let update = json!({ "update_id": 1, "message": sample["response"]["body"]["result"] });
    let events = telegram::parse(update.to_string().as_bytes()).expect("parses");
    let [InboundEvent::Message(message)] = events.as_slice() else {
        panic!("expected one message, got {events:?}");
    };
    assert_eq!(message.provider_message_id, provider_message_id);
    assert_eq!(message.reply_to.as_deref(), Some("111111111:1365"));
}

#[test]
fn telegram_rate_limit_is_retried_after_retry_after() {
    let sample = fixture(include_str!("fixtures/telegram/rest_send_message.json"));
    assert_eq!(
        outcome(Source::Telegram, &sample["error_rate_limited"]),
        SendOutcome::Retry {
            after: Some(Duration::from_secs(5)),
            reason: "http 429: Too Many Requests: retry after 5".to_owned()
        }
    );
}

#[test]
fn telegram_blocked_bot_fails_with_the_description() {
    let sample = fixture(include_str!("fixtures/telegram/rest_send_message.json"));
    assert_eq!(
        outcome(Source::Telegram, &sample["error_blocked"]),
        SendOutcome::Failed {
            reason: "http 403: Forbidden: bot was blocked by the user".to_owned()
        }
    );
    let migrated = reason(outcome(Source::Telegram, &sample["error_group_migrated"]));
    assert_eq!(
        migrated,
        "http 400: Bad Request: group chat was upgraded to a supergroup chat"
    );
}

#[test]
fn telegram_quotes_must_come_from_the_same_chat() {
    let to = Address::TelegramUser(111_111_111);
    for quoted in ["222222222:5", "1365", "111111111:x", "111111111:0", "a:1"] {
        let refused = send_text(
            &telegram(),
            &OutboundText {
                to: &to,
                text: "oi",
                reply_to: Some(quoted),
            },
        );
        assert!(
            matches!(
                refused,
                Err(OutboundError::Invalid {
                    field: "reply_to",
                    ..
                })
            ),
            "{quoted}: {refused:?}"
        );
    }
}

#[test]
fn unreachable_addresses_are_refused_naming_only_their_kind() {
    let whatsapp_only = [
        Address::TelegramUser(42),
        Address::TelegramChat(-100),
        Address::Broadcast("status@broadcast".to_owned()),
        Address::Newsletter("120363000000000002@newsletter".to_owned()),
        Address::Omega("b3f1".to_owned()),
    ];
    for credentials in [wppconnect(), evolution(), cloud_api()] {
        for to in &whatsapp_only {
            let error = send_err(&credentials, to, "oi");
            assert!(
                matches!(error, OutboundError::Unreachable { .. }),
                "{to:?}: {error:?}"
            );
        }
    }
    for to in [phone(), Address::Omega("b3f1".to_owned())] {
        let error = send_err(&telegram(), &to, "oi");
        assert!(matches!(error, OutboundError::Unreachable { .. }));
    }
    let error = send_err(&wppconnect(), &Address::TelegramUser(42), "oi");
    assert_eq!(
        error.to_string(),
        "whatsapp-wppconnect: cannot send to a tg address"
    );
    let error = send_err(&cloud_api(), &phone_like_group(), "oi");
    assert!(!error.to_string().contains("120363"));
}

fn phone_like_group() -> Address {
    Address::WhatsAppGroup("120363000000000001@g.us".to_owned())
}

#[test]
fn malformed_addresses_are_invalid() {
    for to in [
        Address::Phone("5511999990001".to_owned()),
        Address::Phone("+55 11 99999".to_owned()),
        Address::WhatsAppGroup("nope".to_owned()),
        Address::WhatsAppLid("12ab".to_owned()),
    ] {
        assert!(matches!(
            send_err(&evolution(), &to, "oi"),
            OutboundError::Invalid { field: "to", .. }
        ));
    }
    assert!(matches!(
        send_err(&telegram(), &Address::TelegramUser(-5), "oi"),
        OutboundError::Unreachable { .. }
    ));
}

#[test]
fn empty_and_oversized_texts_are_refused() {
    let telegram_max = "é".repeat(4096);
    let telegram_over = "é".repeat(4097);
    let whatsapp_over = "a".repeat(65_537);
    let user = Address::TelegramUser(42);
    for (credentials, to) in [
        (wppconnect(), phone()),
        (evolution(), phone()),
        (cloud_api(), phone()),
        (telegram(), user.clone()),
    ] {
        for text in ["", "  \n\t "] {
            assert!(matches!(
                send_err(&credentials, &to, text),
                OutboundError::Invalid { field: "text", .. }
            ));
        }
    }
    send(&telegram(), &user, &telegram_max, None);
    assert_eq!(
        send_err(&telegram(), &user, &telegram_over).to_string(),
        "text: expected at most 4096 characters, got 4097"
    );
    send(&wppconnect(), &phone(), &telegram_over, None);
    assert!(matches!(
        send_err(&wppconnect(), &phone(), &whatsapp_over),
        OutboundError::Invalid { field: "text", .. }
    ));
}

#[test]
fn timeouts_rate_limits_and_server_errors_are_retried_everywhere() {
    let sources = [
        Source::WppConnect,
        Source::Evolution,
        Source::CloudApi,
        Source::Telegram,
    ];
    for source in sources {
        for status in [408, 429, 500, 502, 503, 504, 599] {
            assert!(
                matches!(
                    send_outcome(source, status, b"upstream down"),
                    SendOutcome::Retry { after: None, .. }
                ),
                "{source} {status}"
            );
        }
        for status in [400, 401, 403, 404, 413, 422, 301, 600] {
            assert!(
                matches!(
                    send_outcome(source, status, b""),
                    SendOutcome::Failed { .. }
                ),
                "{source} {status}"
            );
        }
    }
}

#[test]
fn two_hundred_without_a_message_id_fails() {
    let expected = SendOutcome::Failed {
        reason: "the source answered 2xx without a message id".to_owned(),
    };
    for (source, body) in [
        (
            Source::WppConnect,
            &br#"{"status":"success","response":[]}"#[..],
        ),
        (Source::WppConnect, br#"{"response":[{"id":""}]}"#),
        (Source::Evolution, br#"{"key":{"remoteJid":"x"}}"#),
        (Source::CloudApi, br#"{"messages":[]}"#),
        (Source::Telegram, br#"{"ok":true,"result":true}"#),
        (
            Source::Telegram,
            br#"{"ok":true,"result":{"message_id":5}}"#,
        ),
        (Source::Omega, br#"{}"#),
        (Source::Evolution, b"not json"),
    ] {
        assert_eq!(send_outcome(source, 200, body), expected, "{source}");
    }
}

#[test]
fn reasons_are_short_and_never_echo_tokens() {
    let body = json!({ "description": format!("bad token {BOT_TOKEN} {}", "x ".repeat(300)) });
    let reason = reason(send_outcome(
        Source::Telegram,
        400,
        body.to_string().as_bytes(),
    ));
    assert!(reason.chars().count() <= 200, "{reason}");
    assert!(!reason.contains("FAKE_BOT_TOKEN"), "{reason}");
    assert!(reason.starts_with("http 400: bad token *** x x"));
}

#[test]
fn credentials_debug_hides_secrets() {
    for credentials in [wppconnect(), evolution(), cloud_api(), telegram()] {
        let debug = format!("{credentials:?}");
        for secret in [WPP_TOKEN, EVOLUTION_KEY, CLOUD_TOKEN, BOT_TOKEN, "FAKE"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(debug.contains("***"));
    }
}

#[test]
fn request_debug_hides_secrets_and_the_text() {
    let to = Address::TelegramUser(42);
    let requests = [
        send(&wppconnect(), &phone(), "segredo do cliente", None),
        send(&evolution(), &phone(), "segredo do cliente", None),
        send(&cloud_api(), &phone(), "segredo do cliente", None),
        send(&telegram(), &to, "segredo do cliente", None),
    ];
    for request in &requests {
        let debug = format!("{request:?}");
        for secret in ["FAKE", "segredo"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(debug.contains("bytes>"), "{debug}");
    }
    assert_eq!(
        requests[3].redacted_url(),
        "https://api.telegram.org/bot***/sendMessage"
    );
    assert_eq!(
        requests[0].redacted_url(),
        "https://wpp.example.test/api/NERDWHATS_AMERICA/send-message"
    );
}

#[test]
fn credentials_validation_rejects_malformed_fields() {
    let cases: Vec<(Credentials, &str)> = vec![
        (
            Credentials::WppConnect {
                base_url: "ftp://wpp.example.test".into(),
                session: "s".into(),
                token: "t".into(),
            },
            "base_url",
        ),
        (
            Credentials::WppConnect {
                base_url: "https://wpp.example.test ".into(),
                session: "s".into(),
                token: "t".into(),
            },
            "base_url",
        ),
        (
            Credentials::WppConnect {
                base_url: "https://user:pw@wpp.example.test".into(),
                session: "s".into(),
                token: "t".into(),
            },
            "base_url",
        ),
        (
            Credentials::WppConnect {
                base_url: "https://".into(),
                session: "s".into(),
                token: "t".into(),
            },
            "base_url",
        ),
        (
            Credentials::WppConnect {
                base_url: "https://wpp.example.test?x=1".into(),
                session: "s".into(),
                token: "t".into(),
            },
            "base_url",
        ),
        (
            Credentials::WppConnect {
                base_url: "https://wpp.example.test".into(),
                session: "../admin".into(),
                token: "t".into(),
            },
            "session",
        ),
        (
            Credentials::WppConnect {
                base_url: "https://wpp.example.test".into(),
                session: "..".into(),
                token: "t".into(),
            },
            "session",
        ),
        (
            Credentials::WppConnect {
                base_url: "https://wpp.example.test".into(),
                session: "s".into(),
                token: "t\r\nX-Injected: 1".into(),
            },
            "token",
        ),
        (
            Credentials::Evolution {
                base_url: "https://evo.example.test".into(),
                instance: String::new(),
                apikey: "k".into(),
            },
            "instance",
        ),
        (
            Credentials::Evolution {
                base_url: "https://evo.example.test".into(),
                instance: "i".into(),
                apikey: "k".repeat(4097),
            },
            "apikey",
        ),
        (
            Credentials::CloudApi {
                base_url: "https://graph.facebook.com/v23.0".into(),
                phone_number_id: "1065 40".into(),
                access_token: "t".into(),
            },
            "phone_number_id",
        ),
        (
            Credentials::CloudApi {
                base_url: "https://graph.facebook.com/v23.0".into(),
                phone_number_id: "1".into(),
                access_token: String::new(),
            },
            "access_token",
        ),
        (
            Credentials::Telegram {
                base_url: "https://api.telegram.org".into(),
                bot_token: "no-colon".into(),
            },
            "bot_token",
        ),
        (
            Credentials::Telegram {
                base_url: "https://api.telegram.org".into(),
                bot_token: "123:abc/../x".into(),
            },
            "bot_token",
        ),
        (
            Credentials::Telegram {
                base_url: "https://api.telegram.org".into(),
                bot_token: "abc:def".into(),
            },
            "bot_token",
        ),
    ];
    for (credentials, field) in cases {
        let error = credentials.validate().expect_err("invalid");
        let OutboundError::Invalid {
            field: named,
            reason,
        } = &error
        else {
            panic!("expected invalid, got {error:?}");
        };
        assert_eq!(*named, field, "{error}");
        assert!(!reason.contains("X-Injected") && !reason.contains("admin"));
        // Builders check too.
        let to = phone();
        let message = OutboundText {
            to: &to,
            text: "oi",
            reply_to: None,
        };
        assert!(send_text(&credentials, &message).is_err());
    }
    for valid in [wppconnect(), evolution(), cloud_api(), telegram()] {
        assert_eq!(valid.validate(), Ok(()));
    }
    let http = Credentials::Evolution {
        base_url: "http://127.0.0.1:8080/evolution".into(),
        instance: "loja.centro_1-a".into(),
        apikey: "k".into(),
    };
    assert_eq!(http.validate(), Ok(()));
}

#[test]
fn credentials_round_trip_through_json_and_reject_unknown_fields() {
    for credentials in [wppconnect(), evolution(), cloud_api(), telegram()] {
        let text = serde_json::to_string(&credentials).expect("serializes");
        let back: Credentials = serde_json::from_str(&text).expect("deserializes");
        assert_eq!(back, credentials);
    }
    let stored = json!({
        "kind": "evolution", "base_url": "https://evo.example.test",
        "instance": "loja-centro", "apikey": "k"
    });
    let parsed: Credentials = serde_json::from_value(stored).expect("parses");
    assert_eq!(parsed.source(), Source::Evolution);
    let extra = json!({
        "kind": "telegram", "base_url": "https://api.telegram.org",
        "bot_token": "1:a", "webhook_secret": "s"
    });
    assert!(serde_json::from_value::<Credentials>(extra).is_err());
    assert_eq!(
        serde_json::to_value(wppconnect()).expect("serializes")["kind"],
        "wpp_connect"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn garbage_answers_never_panic(status in any::<u16>(), body in proptest::collection::vec(any::<u8>(), 0..256)) {
        for source in [Source::WppConnect, Source::Evolution, Source::CloudApi, Source::Telegram, Source::Omega] {
            match send_outcome(source, status, &body) {
                SendOutcome::Sent { provider_message_id } => prop_assert!(!provider_message_id.is_empty()),
                SendOutcome::Retry { reason, .. } | SendOutcome::Failed { reason } => {
                    prop_assert!(reason.chars().count() <= 200);
                }
            }
        }
    }

    #[test]
    fn any_text_is_sent_verbatim(text in "\\PC{1,64}", quote in 1_i64..i64::MAX) {
        prop_assume!(!text.trim().is_empty());
        let to = Address::TelegramChat(-100);
        let quoted = format!("-100:{quote}");
        let request = send(&telegram(), &to, &text, Some(&quoted));
        let body = body_of(&request);
        prop_assert_eq!(body["text"].as_str(), Some(text.as_str()));
        prop_assert_eq!(body["reply_parameters"]["message_id"].as_i64(), Some(quote));
        prop_assert!(body.get("parse_mode").is_none());
    }
}
