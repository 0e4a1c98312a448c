//! The inbox's operations over real HTTP, on SQLite and PostgreSQL, against local fakes of the
//! sources' APIs: replies with retries and idempotency, connector session recovery, hide mode,
//! malformed webhooks, leads, quotas and the realtime stream.

mod common;

use std::io::{BufRead as _, BufReader};
use std::time::{Duration, Instant};

use common::{Backend, TestHub, fixture};
use omega_hub::tenancy::Plan;
use omega_testkit::fakes::{FakeKind, FakeSession, FakeSource};
use serde_json::{Value, json};

/// Short backoffs so recovery runs in test time.
const FAST: &str = "[connectors]\nbackoff_base_ms = 20\nbackoff_max_ms = 100\npoll_interval_ms = 200\nsend_backoff_base_ms = 20\nsend_backoff_max_ms = 100\nsend_echo_wait_ms = 50\n";

fn post_webhook(hub: &TestHub, channel: &Value, body: &str) -> common::Answer {
    let path = channel["webhook_path"].as_str().unwrap();
    let token = channel["webhook_token"].as_str().unwrap();
    let header = if channel["kind"] == "telegram" {
        "X-Telegram-Bot-Api-Secret-Token"
    } else {
        "X-Omega-Webhook-Token"
    };
    hub.raw("POST", path, None, Some(body), &[(header, token)])
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn diagnostics(hub: &TestHub, token: &str, channel: &str) -> Vec<Value> {
    hub.list(&format!("/api/v1/channels/{channel}/diagnostics"), token)
}

fn fake(hub: &TestHub, kind: FakeKind) -> FakeSource {
    hub.runtime.block_on(FakeSource::start(kind))
}

fn wpp_kind() -> FakeKind {
    FakeKind::WppConnect {
        session: "loja".into(),
        token: "FAKE-WPP-BEARER".into(),
    }
}

fn wpp_credentials(source: &FakeSource) -> Value {
    json!({ "kind": "wpp_connect", "base_url": source.base_url(), "session": "loja", "token": "FAKE-WPP-BEARER" })
}

fn set_credentials(hub: &TestHub, token: &str, channel: &str, credentials: &Value) {
    let answer = hub.call(
        "PUT",
        &format!("/api/v1/channels/{channel}/credentials"),
        Some(token),
        Some(credentials),
    );
    assert_eq!(answer.status, 204, "{answer:?}");
}

fn reply(hub: &TestHub, token: &str, conversation: &str, text: &str, key: &str) -> common::Answer {
    hub.raw(
        "POST",
        &format!("/api/v1/conversations/{conversation}/messages"),
        Some(token),
        Some(&json!({ "text": text }).to_string()),
        &[("Idempotency-Key", key)],
    )
}

/// A WPPConnect channel with one inbound conversation; returns (owner, channel, conversation).
fn wpp_with_conversation(hub: &TestHub, plan: Plan) -> (String, Value, String) {
    hub.tenant("acme", plan);
    let owner = hub.owner_token("acme");
    let wpp = hub.channel(
        &owner,
        json!({ "kind": "whatsapp-wppconnect", "name": "Vendas" }),
    );
    let answer = post_webhook(
        hub,
        &wpp,
        &fixture("wppconnect/onmessage_text_private.json"),
    );
    assert_eq!(answer.status, 200, "{answer:?}");
    hub.drain();
    let list = hub.conversations(&owner);
    let conversation = list[0]["id"].as_str().unwrap().to_owned();
    (owner, wpp, conversation)
}

fn reply_after_a_504_is_sent_exactly_once(backend: Backend) {
    let Some(hub) = TestHub::start(backend, FAST) else {
        return;
    };
    let (owner, wpp, conversation) = wpp_with_conversation(&hub, Plan::Pro);
    let source = fake(&hub, wpp_kind());
    set_credentials(
        &hub,
        &owner,
        wpp["id"].as_str().unwrap(),
        &wpp_credentials(&source),
    );
    source.set_session(FakeSession::Connected);
    source.fail_next_sends(1, 504);

    let first = reply(
        &hub,
        &owner,
        &conversation,
        "Olá! Seu pedido saiu.",
        "reply-1",
    );
    assert_eq!(first.status, 202, "{first:?}");
    // The agent's client retries the same request: same job, nothing new queued.
    let again = reply(
        &hub,
        &owner,
        &conversation,
        "Olá! Seu pedido saiu.",
        "reply-1",
    );
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(again.body["job_id"], first.body["job_id"]);
    // The same key for a different reply is refused.
    reply(&hub, &owner, &conversation, "outra coisa", "reply-1")
        .refused(409, "idempotency_key_reused");

    wait_until("the reply to be sent", || {
        hub.messages(&owner, &conversation)
            .iter()
            .any(|m| m["direction"] == "out" && m["status"] == "sent")
    });
    let sent = source.sent();
    assert_eq!(sent.len(), 1, "one delivery despite the 504: {sent:?}");
    assert_eq!(sent[0].text, "Olá! Seu pedido saiu.");
    assert_eq!(sent[0].to, "5511999990001");
    assert_eq!(source.count("send-message"), 2, "one 504, one success");
    let stored = hub.messages(&owner, &conversation);
    let out: Vec<&Value> = stored.iter().filter(|m| m["direction"] == "out").collect();
    assert_eq!(out.len(), 1, "{stored:?}");
    assert_eq!(
        out[0]["provider_message_id"].as_str(),
        Some(sent[0].provider_message_id.as_str())
    );

    let log = diagnostics(&hub, &owner, wpp["id"].as_str().unwrap());
    assert!(
        log.iter().any(|line| line["kind"] == "send"
            && line["outcome"]
                .as_str()
                .unwrap()
                .starts_with("504 will retry")),
        "{log:?}"
    );
    assert!(
        log.iter().any(
            |line| line["kind"] == "send" && line["outcome"].as_str().unwrap().contains("sent")
        ),
        "{log:?}"
    );
    let text = serde_json::to_string(&log).unwrap();
    assert!(
        !text.contains("FAKE-WPP-BEARER"),
        "no secret in diagnostics"
    );
    let channels = hub.call("GET", "/api/v1/channels", Some(&owner), None);
    assert!(
        !channels.body.to_string().contains("FAKE-WPP-BEARER"),
        "no secret in responses"
    );
}

/// A send the source delivered but answered with 504: its `fromMe` echo arrives before the retry
/// and is adopted as the reply, so the customer gets it once and the inbox shows it once.
fn reply_delivered_despite_a_504_is_adopted_from_its_echo(backend: Backend) {
    let slow_retry = FAST.replace("send_echo_wait_ms = 50", "send_echo_wait_ms = 4000");
    let Some(hub) = TestHub::start(backend, &slow_retry) else {
        return;
    };
    let (owner, wpp, conversation) = wpp_with_conversation(&hub, Plan::Pro);
    let source = fake(&hub, wpp_kind());
    set_credentials(
        &hub,
        &owner,
        wpp["id"].as_str().unwrap(),
        &wpp_credentials(&source),
    );
    source.set_session(FakeSession::Connected);
    source.deliver_but_timeout_next(1);

    let text = "Seu pedido 4417 saiu para entrega.";
    let queued = reply(&hub, &owner, &conversation, text, "echo-1");
    assert_eq!(queued.status, 202, "{queued:?}");
    let reply_id = queued.body["message_id"].clone();
    wait_until("the fake to receive the send", || source.sent().len() == 1);
    let delivered = source.sent().remove(0);
    // WPPConnect reports our own send back as a fromMe message.
    let echo = json!({
        "event": "onmessage",
        "session": "loja",
        "id": delivered.provider_message_id,
        "body": text,
        "type": "chat",
        "t": 1_751_371_300,
        "from": "5511999990000@c.us",
        "to": "5511999990001@c.us",
        "fromMe": true,
        "ack": 1,
    });
    assert_eq!(post_webhook(&hub, &wpp, &echo.to_string()).status, 200);
    hub.drain();

    wait_until("the reply to be marked sent", || {
        hub.messages(&owner, &conversation)
            .iter()
            .any(|m| m["id"] == reply_id && m["status"] == "sent")
    });
    assert_eq!(source.sent().len(), 1, "{:?}", source.sent());
    assert_eq!(source.count("send-message"), 1, "no second send");
    let stored = hub.messages(&owner, &conversation);
    let out: Vec<&Value> = stored.iter().filter(|m| m["direction"] == "out").collect();
    assert_eq!(
        out.len(),
        1,
        "the echo and the reply are one message: {stored:?}"
    );
    assert_eq!(
        out[0]["provider_message_id"].as_str(),
        Some(delivered.provider_message_id.as_str())
    );
    let log = diagnostics(&hub, &owner, wpp["id"].as_str().unwrap());
    assert!(
        log.iter().any(|line| line["outcome"]
            .as_str()
            .unwrap()
            .contains("echoed the reply")),
        "{log:?}"
    );
}

fn replies_reach_evolution_cloud_api_and_telegram(backend: Backend) {
    let Some(hub) = TestHub::start(backend, FAST) else {
        return;
    };
    hub.tenant("acme", Plan::Pro);
    let owner = hub.owner_token("acme");
    let cases = [
        (
            "whatsapp-evolution",
            "evolution/messages_upsert_text.json",
            FakeKind::Evolution {
                instance: "loja-centro".into(),
                apikey: "FAKE-EVO-KEY".into(),
            },
            None,
        ),
        (
            "whatsapp-cloud",
            "meta_whatsapp/messages_text.json",
            FakeKind::CloudApi {
                phone_number_id: "106540352242922".into(),
                access_token: "FAKE-CLOUD-TOKEN".into(),
            },
            Some("FAKE_APP_SECRET_0123456789abcdef"),
        ),
        (
            "telegram",
            "telegram/update_message_private_text.json",
            FakeKind::Telegram {
                bot_token: "000000000:FAKE_BOT_TOKEN".into(),
            },
            None,
        ),
    ];
    for (kind, body_fixture, fake_kind, app_secret) in cases {
        let mut new = json!({ "kind": kind, "name": kind });
        if let Some(secret) = app_secret {
            new["app_secret"] = json!(secret);
        }
        let created = hub.channel(&owner, new);
        let body = fixture(body_fixture);
        let answer = if kind == "whatsapp-cloud" {
            let headers: Value =
                serde_json::from_str(&fixture("meta_whatsapp/messages_text.headers.json")).unwrap();
            let signature = headers["X-Hub-Signature-256"]
                .as_str()
                .or_else(|| headers["headers"]["X-Hub-Signature-256"].as_str())
                .unwrap()
                .to_owned();
            hub.raw(
                "POST",
                created["webhook_path"].as_str().unwrap(),
                None,
                Some(&body),
                &[("X-Hub-Signature-256", &signature)],
            )
        } else {
            post_webhook(&hub, &created, &body)
        };
        assert_eq!(answer.status, 200, "{kind}: {answer:?}");
        hub.drain();
        let conversation = hub
            .conversations(&owner)
            .into_iter()
            .find(|c| c["channel_id"] == created["id"])
            .unwrap();
        let source = fake(&hub, fake_kind.clone());
        let credentials = match &fake_kind {
            FakeKind::Evolution { instance, apikey } => {
                json!({ "kind": "evolution", "base_url": source.base_url(), "instance": instance, "apikey": apikey })
            }
            FakeKind::CloudApi {
                phone_number_id,
                access_token,
            } => {
                json!({ "kind": "cloud_api", "base_url": source.base_url(), "phone_number_id": phone_number_id, "access_token": access_token })
            }
            FakeKind::Telegram { bot_token } => {
                json!({ "kind": "telegram", "base_url": source.base_url(), "bot_token": bot_token })
            }
            FakeKind::WppConnect { .. } => unreachable!(),
        };
        set_credentials(&hub, &owner, created["id"].as_str().unwrap(), &credentials);
        source.set_session(FakeSession::Connected);
        let id = conversation["id"].as_str().unwrap();
        let answer = reply(
            &hub,
            &owner,
            id,
            &format!("resposta via {kind}"),
            &format!("k-{kind}"),
        );
        assert_eq!(answer.status, 202, "{kind}: {answer:?}");
        wait_until(kind, || source.sent().len() == 1);
        assert_eq!(source.sent()[0].text, format!("resposta via {kind}"));
        wait_until("sent status", || {
            hub.messages(&owner, id)
                .iter()
                .any(|m| m["direction"] == "out" && m["status"] == "sent")
        });
    }
}

fn logged_out_instance_reconnects_three_times_then_resets_to_a_new_qr(backend: Backend) {
    let Some(hub) = TestHub::start(backend, FAST) else {
        return;
    };
    hub.tenant("acme", Plan::Pro);
    let owner = hub.owner_token("acme");
    let wpp = hub.channel(
        &owner,
        json!({ "kind": "whatsapp-wppconnect", "name": "Vendas" }),
    );
    let id = wpp["id"].as_str().unwrap().to_owned();
    let source = fake(&hub, wpp_kind());
    source.set_session(FakeSession::Connected);
    set_credentials(&hub, &owner, &id, &wpp_credentials(&source));
    let session = |hub: &TestHub| {
        hub.call(
            "GET",
            &format!("/api/v1/channels/{id}/session"),
            Some(&owner),
            None,
        )
        .body
    };
    wait_until("connected", || session(&hub)["state"] == "connected");

    // The phone logs the session out; reconnecting does not help.
    source.set_reconnect_succeeds(false);
    source.set_session(FakeSession::NotLogged);
    let starts_before = source.count("start-session");
    wait_until("a fresh QR", || session(&hub)["state"] == "qr");
    let calls = source.calls();
    let reset_at = calls
        .iter()
        .position(|call| call.path.ends_with("logout-session"))
        .expect("a reset");
    let reconnects = calls[..reset_at]
        .iter()
        .filter(|call| call.path.ends_with("start-session"))
        .count()
        - starts_before;
    assert_eq!(
        reconnects, 3,
        "three reconnects before the reset: {calls:?}"
    );
    assert_eq!(source.count("logout-session"), 1);
    let view = session(&hub);
    assert_eq!(
        view["qr"].as_str(),
        source.qr_code().as_deref(),
        "the fake's new QR is offered: {view}"
    );

    let qr = source.qr_code().unwrap();
    // Someone scans it: the same channel (same id) is connected again.
    source.scan_qr();
    wait_until("connected again", || session(&hub)["state"] == "connected");
    let log = diagnostics(&hub, &owner, &id);
    assert!(
        !serde_json::to_string(&log).unwrap().contains(&qr),
        "the pairing code stays out of the diagnostic log: {log:?}"
    );
    let transitions: Vec<&str> = log
        .iter()
        .filter(|line| line["kind"] == "session")
        .map(|line| line["outcome"].as_str().unwrap())
        .collect();
    assert!(
        transitions
            .iter()
            .any(|t| t.starts_with("connected → not_logged")),
        "{transitions:?}"
    );
    assert!(
        transitions.iter().any(|t| t.contains("→ resetting")),
        "{transitions:?}"
    );
    assert!(
        transitions.iter().any(|t| t.contains("→ qr")),
        "{transitions:?}"
    );
    assert!(
        log.iter()
            .all(|line| line["latency_ms"].as_i64().is_some() && line["at_ms"].as_i64().is_some())
    );
}

fn hidden_number_leaves_no_rows_and_stays_hidden(backend: Backend) {
    let Some(hub) = TestHub::start(backend, "") else {
        return;
    };
    hub.tenant("acme", Plan::Pro);
    let owner = hub.owner_token("acme");
    let wpp = hub.channel(
        &owner,
        json!({ "kind": "whatsapp-wppconnect", "name": "Vendas" }),
    );
    let evo = hub.channel(
        &owner,
        json!({ "kind": "whatsapp-evolution", "name": "Evo" }),
    );
    let hidden_body = fixture("wppconnect/onmessage_text_private.json");
    let other_body = hidden_body
        .replace("5511999990001", "5511999990077")
        .replace("3A1F00000000000000A1", "3A1F00000000000000B7");
    assert_eq!(post_webhook(&hub, &wpp, &hidden_body).status, 200);
    assert_eq!(post_webhook(&hub, &wpp, &other_body).status, 200);
    hub.drain();
    assert_eq!(hub.conversations(&owner).len(), 2);
    // One more message of theirs may still be queued (not normalized) when they are hidden:
    // either way it is purged, as a message row or as a raw queued body.
    assert_eq!(
        post_webhook(&hub, &evo, &fixture("evolution/messages_upsert_text.json")).status,
        200
    );

    let hidden = hub.call(
        "POST",
        "/api/v1/privacy/hidden",
        Some(&owner),
        Some(&json!({ "address": "+5511999990001", "reason": "personal contact" })),
    );
    assert_eq!(hidden.status, 200, "{hidden:?}");
    let purged = &hidden.body["purged"];
    // (3 when the worker had stored the message but not yet emptied its raw body.)
    assert!(
        purged["messages"].as_u64().unwrap() + purged["raw_events"].as_u64().unwrap() >= 2,
        "{hidden:?}"
    );
    assert_eq!(hidden.body["purged"]["contacts"], 1, "{hidden:?}");
    hub.drain();

    // They write again on both channels, after the hide.
    let later = hidden_body.replace("3A1F00000000000000A1", "3A1F00000000000000C9");
    assert_eq!(post_webhook(&hub, &wpp, &later).status, 200);
    assert_eq!(
        post_webhook(&hub, &evo, &fixture("evolution/messages_upsert_text.json")).status,
        200
    );
    hub.drain();
    hub.runtime.block_on(hub.hub.sweep_hidden()).unwrap();

    let list = hub.conversations(&owner);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["chat"], "tel:+5511999990077");
    // Nothing in the database names them: every table, every text and byte column.
    let leftovers = hub.runtime.block_on(count_mentions(&hub, "5511999990001"));
    assert_eq!(
        leftovers,
        Vec::<String>::new(),
        "rows still naming the hidden number"
    );
    let leftovers = hub.runtime.block_on(count_mentions(&hub, "5511999990077"));
    assert!(!leftovers.is_empty(), "the other customer is untouched");

    let audit = hub.audit_actions();
    let purges: Vec<&Value> = audit
        .iter()
        .filter(|entry| {
            entry["action"]
                .as_str()
                .is_some_and(|a| a.starts_with("privacy."))
        })
        .collect();
    assert!(
        purges
            .iter()
            .any(|e| e["action"] == "privacy.contact_hidden"),
        "{purges:?}"
    );
    assert!(
        purges.iter().any(|e| e["action"] == "privacy.purged"),
        "{purges:?}"
    );
    assert!(
        !serde_json::to_string(&purges).unwrap().contains("99990001"),
        "audit entries carry counts, not the number"
    );

    // The blacklist lists fingerprints only; unhiding needs the number again.
    let listed = hub.call("GET", "/api/v1/privacy/hidden", Some(&owner), None);
    assert!(!listed.body.to_string().contains("99990001"), "{listed:?}");
    assert!(!listed.body.as_array().unwrap().is_empty());
    let removed = hub.call(
        "POST",
        "/api/v1/privacy/hidden/remove",
        Some(&owner),
        Some(&json!({ "address": "+5511999990001" })),
    );
    assert_eq!(removed.status, 204, "{removed:?}");
    // Garbage is refused with a reason.
    hub.call(
        "POST",
        "/api/v1/privacy/hidden",
        Some(&owner),
        Some(&json!({ "address": "not a number" })),
    )
    .refused(400, "bad_request");
    hub.call(
        "POST",
        "/api/v1/privacy/hidden",
        Some(&owner),
        Some(&json!({})),
    )
    .refused(400, "bad_request");
}

/// Every (table, column) whose text or bytes contain `needle`.
async fn count_mentions(hub: &TestHub, needle: &str) -> Vec<String> {
    let tables = [
        ("contacts", vec!["id", "display_name"]),
        ("contact_addresses", vec!["address_key", "contact_id"]),
        ("conversations", vec!["chat_key"]),
        (
            "inbox_messages",
            vec!["sender_key", "provider_message_id", "text"],
        ),
        ("outbound_jobs", vec!["to_key", "text"]),
        ("inbound_events", vec!["body"]),
        ("leads", vec!["contact_id"]),
        ("audit_entries", vec!["entry"]),
        ("hidden_addresses", vec!["address_hash"]),
    ];
    let mut found = Vec::new();
    for (table, columns) in tables {
        for column in columns {
            let sql = format!("SELECT {column} FROM {table}");
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_all(hub.hub.db().pool_for_tests())
                .await
                .unwrap();
            for row in rows {
                use sqlx::Row as _;
                let text: Option<String> = row.try_get::<Option<String>, _>(0).ok().flatten();
                let bytes: Option<Vec<u8>> = row.try_get::<Option<Vec<u8>>, _>(0).ok().flatten();
                let hit = text.is_some_and(|t| t.contains(needle))
                    || bytes
                        .is_some_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()));
                if hit {
                    found.push(format!("{table}.{column}"));
                }
            }
        }
    }
    found
}

fn malformed_webhook_gets_400_and_a_diagnostic_line(backend: Backend) {
    let Some(hub) = TestHub::start(backend, "") else {
        return;
    };
    hub.tenant("acme", Plan::Pro);
    let owner = hub.owner_token("acme");
    let wpp = hub.channel(
        &owner,
        json!({ "kind": "whatsapp-wppconnect", "name": "Vendas" }),
    );
    for garbage in ["{not json", "[1,2,3]", r#"{"event":"onmessage","id":42}"#] {
        let answer = post_webhook(&hub, &wpp, garbage);
        answer.refused(400, "bad_request");
    }
    // Unknown event types are accepted and kept raw, not refused.
    let answer = post_webhook(
        &hub,
        &wpp,
        r#"{"event":"onbrandnewthing","session":"loja"}"#,
    );
    assert_eq!(answer.status, 200, "{answer:?}");
    hub.drain();
    let log = diagnostics(&hub, &owner, wpp["id"].as_str().unwrap());
    let refused: Vec<&Value> = log
        .iter()
        .filter(|line| line["kind"] == "webhook")
        .collect();
    assert_eq!(refused.len(), 3, "{log:?}");
    assert!(
        refused
            .iter()
            .all(|line| line["outcome"].as_str().unwrap().starts_with("400"))
    );
    let metrics = hub.raw("GET", "/metrics", None, None, &[]);
    let text = metrics
        .body
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| metrics.body.to_string());
    assert!(
        text.contains("omega_hub_webhooks_malformed_total 3"),
        "{text}"
    );
    assert!(text.contains("omega_hub_inbound_unknown_total 1"), "{text}");
    // Another tenant cannot read this channel's log.
    hub.tenant("globex", Plan::Pro);
    let globex = hub.owner_token("globex");
    hub.call(
        "GET",
        &format!(
            "/api/v1/channels/{}/diagnostics",
            wpp["id"].as_str().unwrap()
        ),
        Some(&globex),
        None,
    )
    .refused(404, "not_found");
}

fn inbound_messages_make_scored_leads_with_reasons(backend: Backend) {
    let Some(hub) = TestHub::start(backend, "") else {
        return;
    };
    hub.tenant("acme", Plan::Pro);
    let owner = hub.owner_token("acme");
    let tg = hub.channel(&owner, json!({ "kind": "telegram", "name": "Bot" }));
    let base: Value =
        serde_json::from_str(&fixture("telegram/update_message_private_text.json")).unwrap();
    let texts = [
        "Oi, quanto custa o bolo de chocolate? Quero 3 unidades pra hoje",
        "Posso pagar no pix? Quero fechar o pedido",
    ];
    for (index, text) in texts.iter().enumerate() {
        let mut update = base.clone();
        update["update_id"] = json!(900 + index);
        update["message"]["message_id"] = json!(7000 + index);
        update["message"]["text"] = json!(text);
        assert_eq!(post_webhook(&hub, &tg, &update.to_string()).status, 200);
        hub.drain();
    }
    let leads = hub.call("GET", "/api/v1/leads", Some(&owner), None);
    assert_eq!(leads.status, 200, "{leads:?}");
    let lead = &leads.body[0];
    assert!(
        lead["score"].as_i64().unwrap() >= 60,
        "buying intent scores high: {lead}"
    );
    assert_eq!(lead["messages"], 2);
    assert!(
        lead["reasons"]
            .as_array()
            .is_some_and(|r| r.iter().all(|r| r["pt"].is_string() && r["en"].is_string())),
        "{lead}"
    );
    assert!(
        lead["next_action"]["pt"].is_string() && lead["next_action"]["en"].is_string(),
        "{lead}"
    );
    let list = hub.conversations(&owner);
    assert_eq!(list[0]["lead_score"], lead["score"]);
    let one = hub.call(
        "GET",
        &format!(
            "/api/v1/contacts/{}/lead",
            lead["contact_id"].as_str().unwrap()
        ),
        Some(&owner),
        None,
    );
    assert_eq!(one.body["score"], lead["score"]);
    hub.call("GET", "/api/v1/leads?min_score=500", Some(&owner), None)
        .refused(400, "bad_request");
    hub.call("GET", "/api/v1/leads?bogus=1", Some(&owner), None)
        .refused(400, "bad_request");
}

fn replies_past_the_monthly_quota_are_refused(backend: Backend) {
    let Some(hub) = TestHub::start(backend, FAST) else {
        return;
    };
    let (owner, wpp, conversation) = wpp_with_conversation(&hub, Plan::Free);
    let source = fake(&hub, wpp_kind());
    set_credentials(
        &hub,
        &owner,
        wpp["id"].as_str().unwrap(),
        &wpp_credentials(&source),
    );
    // The month's messages are used up (Free: 1,000), counting the inbound one already stored.
    let period = omega_hub::tenancy::month_period(omega_hub::store::now_ms());
    hub.runtime.block_on(async {
        let tenant = hub.hub.db().tenant_by_slug("acme").await.unwrap().unwrap();
        let tenant_id = hub
            .hub
            .db()
            .tenant_id_of(&tenant.id)
            .await
            .unwrap()
            .unwrap();
        let used = hub
            .hub
            .db()
            .tenant(&tenant_id)
            .usage("messages", &period)
            .await
            .unwrap();
        assert_eq!(used, 1, "the inbound message counts");
        hub.hub
            .db()
            .tenant(&tenant_id)
            .add_usage("messages", &period, 999, None)
            .await
            .unwrap();
    });
    reply(&hub, &owner, &conversation, "over", "q-1").refused(403, "quota_exceeded");
    assert!(source.sent().is_empty());
}

fn realtime_stream_carries_my_tenants_events_only(backend: Backend) {
    let Some(hub) = TestHub::start(backend, "") else {
        return;
    };
    hub.tenant("acme", Plan::Pro);
    hub.tenant("globex", Plan::Pro);
    let acme = hub.owner_token("acme");
    let globex = hub.owner_token("globex");
    let acme_wpp = hub.channel(&acme, json!({ "kind": "whatsapp-wppconnect", "name": "A" }));
    let globex_wpp = hub.channel(
        &globex,
        json!({ "kind": "whatsapp-wppconnect", "name": "G" }),
    );
    let open = |token: &str| {
        let url = format!("{}/api/v1/events", hub.url);
        let token = token.to_owned();
        let (sender, receiver) = std::sync::mpsc::channel::<(String, Value)>();
        std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into();
            let response = agent
                .get(&url)
                .header("Authorization", &format!("Bearer {token}"))
                .call()
                .unwrap();
            assert_eq!(response.status(), 200);
            let mut event = String::new();
            for line in BufReader::new(response.into_body().into_reader()).lines() {
                let Ok(line) = line else { return };
                if let Some(name) = line.strip_prefix("event: ") {
                    event = name.to_owned();
                } else if let Some(data) = line.strip_prefix("data: ") {
                    let parsed = serde_json::from_str(data).unwrap_or(Value::Null);
                    if sender.send((event.clone(), parsed)).is_err() {
                        return;
                    }
                }
            }
        });
        receiver
    };
    let acme_events = open(&acme);
    let globex_events = open(&globex);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        post_webhook(
            &hub,
            &acme_wpp,
            &fixture("wppconnect/onmessage_text_private.json")
        )
        .status,
        200
    );
    let (kind, data) = acme_events
        .recv_timeout(Duration::from_secs(20))
        .expect("acme sees its message");
    assert_eq!(kind, "message.new");
    assert_eq!(data["direction"], "in");
    assert!(data["text"].is_string());
    let (kind, data) = acme_events
        .recv_timeout(Duration::from_secs(20))
        .expect("and the lead");
    assert_eq!(kind, "lead.updated", "{data}");
    // Globex hears nothing of acme; then its own message arrives and only that.
    assert_eq!(
        post_webhook(
            &hub,
            &globex_wpp,
            &fixture("wppconnect/onmessage_image.json")
        )
        .status,
        200
    );
    let (kind, data) = globex_events
        .recv_timeout(Duration::from_secs(20))
        .expect("globex sees its own");
    assert_eq!(kind, "message.new");
    assert_eq!(data["channel_id"], globex_wpp["id"]);
    let unauthenticated = hub.raw("GET", "/api/v1/events", None, None, &[]);
    assert_eq!(unauthenticated.status, 401);
}

on_both!(
    reply_after_a_504_is_sent_exactly_once,
    reply_delivered_despite_a_504_is_adopted_from_its_echo,
    replies_reach_evolution_cloud_api_and_telegram,
    logged_out_instance_reconnects_three_times_then_resets_to_a_new_qr,
    hidden_number_leaves_no_rows_and_stays_hidden,
    malformed_webhook_gets_400_and_a_diagnostic_line,
    inbound_messages_make_scored_leads_with_reasons,
    replies_past_the_monthly_quota_are_refused,
    realtime_stream_carries_my_tenants_events_only,
);
