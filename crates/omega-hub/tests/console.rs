//! What the business console needs from the hub, over real HTTP on SQLite and PostgreSQL: its
//! files served under the strict policy, the conversation list's filters, assignment, the
//! dashboard's statistics, the session's QR code image and the Members screen's controls.

mod common;

use std::time::{Duration, Instant};

use common::{Backend, TestHub, fixture};
use omega_hub::tenancy::Plan;
use omega_testkit::fakes::{FakeKind, FakeSession, FakeSource};
use serde_json::{Value, json};

const FAST: &str =
    "[connectors]\nbackoff_base_ms = 20\nbackoff_max_ms = 100\npoll_interval_ms = 200\n";

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The WPPConnect private text fixture, sent now by `phone` with `text`.
fn wpp_message(phone: &str, id: &str, text: &str) -> String {
    let mut body: Value =
        serde_json::from_str(&fixture("wppconnect/onmessage_text_private.json")).unwrap();
    let jid = format!("{phone}@c.us");
    body["id"] = json!(format!("false_{jid}_{id}"));
    body["from"] = json!(jid);
    body["chatId"] = json!(jid);
    body["sender"]["id"] = json!(jid);
    body["body"] = json!(text);
    body["content"] = json!(text);
    body["t"] = json!(now_secs());
    body["timestamp"] = json!(now_secs());
    body.to_string()
}

/// The Telegram private text fixture, sent now.
fn telegram_message(text: &str) -> String {
    let mut body: Value =
        serde_json::from_str(&fixture("telegram/update_message_private_text.json")).unwrap();
    body["message"]["date"] = json!(now_secs());
    body["message"]["text"] = json!(text);
    body.to_string()
}

fn post_webhook(hub: &TestHub, channel: &Value, body: &str) {
    let header = if channel["kind"] == "telegram" {
        "X-Telegram-Bot-Api-Secret-Token"
    } else {
        "X-Omega-Webhook-Token"
    };
    let answer = hub.raw(
        "POST",
        channel["webhook_path"].as_str().unwrap(),
        None,
        Some(body),
        &[(header, channel["webhook_token"].as_str().unwrap())],
    );
    assert_eq!(answer.status, 200, "{answer:?}");
}

fn add_member(hub: &TestHub, owner: &str, email: &str, role: &str) -> String {
    let answer = hub.call(
        "POST",
        "/api/v1/members",
        Some(owner),
        Some(&json!({
            "email": email,
            "display_name": role,
            "role": role,
            "password": common::OWNER_PASSWORD,
        })),
    );
    assert_eq!(answer.status, 201, "{answer:?}");
    answer.body["id"].as_str().unwrap().to_owned()
}

fn token(hub: &TestHub, email: &str) -> String {
    hub.login("acme", email, common::OWNER_PASSWORD)["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn ids(list: &[Value]) -> Vec<&str> {
    list.iter().map(|c| c["id"].as_str().unwrap()).collect()
}

fn assign(hub: &TestHub, token: &str, conversation: &str, member: Value) -> common::Answer {
    hub.call(
        "PUT",
        &format!("/api/v1/conversations/{conversation}/assignee"),
        Some(token),
        Some(&json!({ "member_id": member })),
    )
}

fn console_is_served_under_the_strict_policy(backend: Backend) {
    let Some(hub) = TestHub::start(backend, "") else {
        return;
    };
    // `/` and `/console` redirect to `/console/` (the client follows redirects; the browser test
    // checks the final URL).
    for path in ["/", "/console"] {
        let answer = hub.call("GET", path, None, None);
        assert_eq!(answer.status, 200, "{path}: {answer:?}");
        assert!(
            answer
                .body
                .as_str()
                .is_some_and(|html| html.contains("console.js")),
            "{path}: {answer:?}"
        );
    }
    hub.call("GET", "/console/no-such-file.js", None, None)
        .refused(404, "not_found");

    let page = hub.call("GET", "/console/", None, None);
    assert_eq!(page.status, 200, "{page:?}");
    assert!(
        page.header("content-type")
            .is_some_and(|value| value.starts_with("text/html")),
        "{page:?}"
    );
    assert_eq!(
        page.header("content-security-policy"),
        Some(omega_web::CSP),
        "{page:?}"
    );
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    let html = page.body.as_str().unwrap();
    assert!(html.contains("console.js"), "{html}");

    for asset in omega_web::CONSOLE {
        let path = format!("/console{}", asset.path);
        let answer = hub.call("GET", &path, None, None);
        assert_eq!(answer.status, 200, "{path}: {answer:?}");
        assert_eq!(answer.header("content-type"), Some(asset.content_type));
    }
    // The API's answers carry the same policy (they are the same origin).
    let health = hub.call("GET", "/health", None, None);
    assert_eq!(
        health.header("content-security-policy"),
        Some(omega_web::CSP)
    );
}

fn conversations_filter_by_channel_assignee_and_score(backend: Backend) {
    let Some(hub) = TestHub::start(backend, "") else {
        return;
    };
    let (_, owner_id) = hub.tenant("acme", Plan::Pro);
    let owner = hub.owner_token("acme");
    let agent_id = add_member(&hub, &owner, "agent@acme.test", "agent");
    let agent = token(&hub, "agent@acme.test");
    add_member(&hub, &owner, "viewer@acme.test", "viewer");
    let viewer = token(&hub, "viewer@acme.test");
    let wpp = hub.channel(
        &owner,
        json!({ "kind": "whatsapp-wppconnect", "name": "Vendas" }),
    );
    let telegram = hub.channel(&owner, json!({ "kind": "telegram", "name": "Bot" }));
    post_webhook(
        &hub,
        &wpp,
        &wpp_message(
            "5511999990001",
            "A1",
            "Quanto custa? Quero comprar 3 unidades, aceita pix?",
        ),
    );
    hub.drain();
    post_webhook(&hub, &telegram, &telegram_message("<b>oi</b> tudo bem?"));
    hub.drain();

    let all = hub.conversations(&owner);
    assert_eq!(all.len(), 2, "{all:?}");
    // Each with its contact, newest message and (unassigned) assignee.
    let of = |channel: &Value| {
        all.iter()
            .find(|c| c["channel_id"] == channel["id"])
            .unwrap()
    };
    let (tg, wa) = (of(&telegram), of(&wpp));
    assert_eq!(tg["channel_id"], telegram["id"]);
    assert_eq!(tg["last_text"], "<b>oi</b> tudo bem?");
    assert_eq!(tg["last_direction"], "in");
    assert_eq!(wa["contact_name"], "Maria Exemplo");
    assert_eq!(wa["chat"], "tel:+5511999990001");
    assert!(wa["assignee_id"].is_null(), "{wa}");
    let wa_score = wa["lead_score"].as_i64().expect("scored");
    let tg_score = tg["lead_score"].as_i64().expect("scored");
    assert!(
        wa_score > tg_score,
        "purchase intent scores higher: {all:?}"
    );
    let (wa_id, tg_id) = (wa["id"].as_str().unwrap(), tg["id"].as_str().unwrap());

    let list =
        |query: &str, token: &str| hub.list(&format!("/api/v1/conversations?{query}"), token);
    let by_channel = list(&format!("channel={}", wpp["id"].as_str().unwrap()), &owner);
    assert_eq!(ids(&by_channel), [wa_id]);
    assert_eq!(
        ids(&list(&format!("min_score={wa_score}"), &owner)),
        [wa_id]
    );
    assert_eq!(list("min_score=0", &owner).len(), 2);
    assert_eq!(list("assignee=none", &owner).len(), 2);
    assert!(list("assignee=me", &owner).is_empty());

    // Assign to me (the owner), then to the agent.
    let mine = assign(&hub, &owner, wa_id, json!("me"));
    assert_eq!(mine.status, 200, "{mine:?}");
    assert_eq!(mine.body["assignee_id"], owner_id.as_str());
    assert_eq!(ids(&list("assignee=me", &owner)), [wa_id]);
    assert_eq!(ids(&list("assignee=none", &owner)), [tg_id]);
    assert_eq!(ids(&list(&format!("assignee={owner_id}"), &agent)), [wa_id]);
    let theirs = assign(&hub, &owner, tg_id, json!(agent_id));
    assert_eq!(theirs.status, 200, "{theirs:?}");
    assert_eq!(ids(&list("assignee=me", &agent)), [tg_id]);
    assert!(list("assignee=none", &owner).is_empty());
    let one = hub.call(
        "GET",
        &format!("/api/v1/conversations/{tg_id}"),
        Some(&agent),
        None,
    );
    assert_eq!(one.status, 200, "{one:?}");
    assert_eq!(one.body["assignee_id"], agent_id.as_str());
    assert_eq!(one.body["last_text"], "<b>oi</b> tudo bem?");

    // Unassign; combined filters.
    let cleared = assign(&hub, &agent, tg_id, Value::Null);
    assert_eq!(cleared.status, 200, "{cleared:?}");
    assert!(cleared.body["assignee_id"].is_null());
    assert_eq!(
        ids(&list(
            &format!("assignee=none&channel={}", telegram["id"].as_str().unwrap()),
            &owner
        )),
        [tg_id]
    );
    assert!(list(&format!("assignee=none&min_score={}", wa_score + 1), &owner).is_empty());

    // Refusals: a viewer cannot assign, nobody assigns to a stranger or another tenant's row.
    assign(&hub, &viewer, wa_id, json!("me")).refused(403, "missing_scope");
    assign(&hub, &owner, wa_id, json!("no-such-member")).refused(404, "not_found");
    assign(&hub, &owner, "no-such-conversation", json!("me")).refused(404, "not_found");
    hub.tenant("other", Plan::Pro);
    let other = hub.owner_token("other");
    assign(&hub, &other, wa_id, json!("me")).refused(404, "not_found");
    hub.call(
        "GET",
        &format!("/api/v1/conversations/{wa_id}"),
        Some(&other),
        None,
    )
    .refused(404, "not_found");
    assert!(hub.conversations(&other).is_empty());
    let answer = hub.call(
        "GET",
        "/api/v1/conversations?min_score=101",
        Some(&owner),
        None,
    );
    answer.refused(400, "bad_request");
    let answer = hub.call("GET", "/api/v1/conversations?sort=name", Some(&owner), None);
    answer.refused(400, "bad_request");

    // Each assignment is an audit entry.
    let assigned = hub
        .audit_actions()
        .into_iter()
        .filter(|entry| entry["action"] == "inbox.assigned")
        .count();
    assert_eq!(assigned, 3);
}

fn stats_count_messages_per_channel_per_day_and_scores(backend: Backend) {
    let Some(hub) = TestHub::start(backend, "") else {
        return;
    };
    hub.tenant("acme", Plan::Pro);
    let owner = hub.owner_token("acme");
    let wpp = hub.channel(
        &owner,
        json!({ "kind": "whatsapp-wppconnect", "name": "Vendas" }),
    );
    let telegram = hub.channel(&owner, json!({ "kind": "telegram", "name": "Bot" }));
    // One at a time: the test's drain and the hub's own worker both normalize, and two first
    // messages of one new person normalized at once can make two contacts on PostgreSQL.
    for (n, phone) in ["5511999990001", "5511999990002", "5511999990001"]
        .iter()
        .enumerate()
    {
        post_webhook(
            &hub,
            &wpp,
            &wpp_message(phone, &format!("M{n}"), "Quanto custa a entrega?"),
        );
        hub.drain();
    }
    post_webhook(&hub, &telegram, &telegram_message("oi"));
    // An old message (the fixture's own date, 2025-07-01) is outside the window.
    post_webhook(
        &hub,
        &wpp,
        &fixture("wppconnect/onmessage_text_private.json").replace("3A1F00000000000000A1", "OLD"),
    );
    hub.drain();
    // Another tenant's messages are not counted.
    hub.tenant("other", Plan::Pro);
    let other = hub.owner_token("other");
    let other_wpp = hub.channel(
        &other,
        json!({ "kind": "whatsapp-wppconnect", "name": "X" }),
    );
    post_webhook(&hub, &other_wpp, &wpp_message("5511999990009", "Z", "oi"));
    hub.drain();

    let stats = hub.call("GET", "/api/v1/stats/inbox?days=14", Some(&owner), None);
    assert_eq!(stats.status, 200, "{stats:?}");
    let body = &stats.body;
    let days = body["days"].as_array().unwrap();
    assert_eq!(days.len(), 14);
    assert!(
        days.windows(2)
            .all(|pair| pair[0].as_str() < pair[1].as_str())
    );
    let series = body["channels"].as_array().unwrap();
    assert_eq!(series.len(), 2, "{body}");
    let of = |channel: &Value| {
        series
            .iter()
            .find(|s| s["channel_id"] == channel["id"])
            .unwrap()
            .clone()
    };
    let wpp_series = of(&wpp);
    assert_eq!(wpp_series["name"], "Vendas");
    assert_eq!(wpp_series["kind"], "whatsapp-wppconnect");
    let inbound: Vec<i64> = wpp_series["inbound"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_i64().unwrap())
        .collect();
    assert_eq!(inbound.len(), 14);
    assert_eq!(inbound.iter().sum::<i64>(), 3, "{wpp_series}");
    // Today is the last day (a message sent right at midnight may count for the day before).
    assert!(inbound[13] + inbound[12] == 3, "{wpp_series}");
    assert_eq!(
        of(&telegram)["inbound"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_i64().unwrap())
            .sum::<i64>(),
        1
    );
    let histogram = body["score_histogram"].as_array().unwrap();
    assert_eq!(histogram.len(), 10);
    assert_eq!(histogram[0]["from"], 0);
    assert_eq!(histogram[9]["to"], 100);
    let leads: i64 = histogram.iter().map(|b| b["count"].as_i64().unwrap()).sum();
    assert_eq!(leads, 3, "two WhatsApp contacts and one Telegram: {body}");

    // Days cut in another time zone still cover the same messages.
    let east = hub.call(
        "GET",
        "/api/v1/stats/inbox?days=3&tz_offset_minutes=-180",
        Some(&owner),
        None,
    );
    assert_eq!(east.status, 200, "{east:?}");
    assert_eq!(east.body["days"].as_array().unwrap().len(), 3);
    assert_eq!(east.body["tz_offset_minutes"], -180);

    hub.call("GET", "/api/v1/stats/inbox?days=0", Some(&owner), None)
        .refused(400, "bad_request");
    hub.call(
        "GET",
        "/api/v1/stats/inbox?tz_offset_minutes=900",
        Some(&owner),
        None,
    )
    .refused(400, "bad_request");
    hub.call("GET", "/api/v1/stats/inbox", None, None)
        .refused(401, "missing_token");
    // Without leads:read the histogram is left out.
    add_member(&hub, &owner, "auditor@acme.test", "auditor");
    let auditor = token(&hub, "auditor@acme.test");
    hub.call("GET", "/api/v1/stats/inbox", Some(&auditor), None)
        .refused(403, "missing_scope");
}

fn session_qr_is_an_svg_image_while_a_scan_is_awaited(backend: Backend) {
    let Some(hub) = TestHub::start(backend, FAST) else {
        return;
    };
    hub.tenant("acme", Plan::Pro);
    let owner = hub.owner_token("acme");
    let wpp = hub.channel(
        &owner,
        json!({ "kind": "whatsapp-wppconnect", "name": "Vendas" }),
    );
    let id = wpp["id"].as_str().unwrap();
    let qr_path = format!("/api/v1/channels/{id}/session/qr");
    hub.call("GET", &qr_path, Some(&owner), None)
        .refused(404, "not_found");

    let source = hub
        .runtime
        .block_on(FakeSource::start(FakeKind::WppConnect {
            session: "loja".into(),
            token: "FAKE-WPP-BEARER".into(),
        }));
    source.set_session(FakeSession::Qr);
    let answer = hub.call(
        "PUT",
        &format!("/api/v1/channels/{id}/credentials"),
        Some(&owner),
        Some(&json!({ "kind": "wpp_connect", "base_url": source.base_url(), "session": "loja", "token": "FAKE-WPP-BEARER" })),
    );
    assert_eq!(answer.status, 204, "{answer:?}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let qr = loop {
        let answer = hub.call("GET", &qr_path, Some(&owner), None);
        if answer.status == 200 {
            break answer;
        }
        assert!(Instant::now() < deadline, "no QR: {answer:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(qr.header("content-type"), Some("image/svg+xml"));
    let svg = qr.body.as_str().unwrap();
    assert!(svg.starts_with("<svg"), "{svg}");
    assert!(svg.contains("<path d=\"M"), "{svg}");

    // Another tenant cannot see it; a member without channels:write cannot either.
    hub.tenant("other", Plan::Pro);
    let other = hub.owner_token("other");
    hub.call("GET", &qr_path, Some(&other), None)
        .refused(404, "not_found");
    add_member(&hub, &owner, "agent@acme.test", "agent");
    let agent = token(&hub, "agent@acme.test");
    hub.call("GET", &qr_path, Some(&agent), None)
        .refused(403, "missing_scope");
}

/// The Members screen's controls (role, department, disable/enable, a member's devices) are
/// `PATCH /api/v1/members/{id}` and `/members/{id}/devices[/revoke]`: the rules and the refusals
/// it shows.
fn member_controls_follow_the_role_rules(backend: Backend) {
    let Some(hub) = TestHub::start(backend, "") else {
        return;
    };
    hub.tenant("acme", Plan::Pro);
    let owner = hub.owner_token("acme");
    let me = hub.call("GET", "/api/v1/me", Some(&owner), None);
    let owner_id = me.body["member"]["id"].as_str().unwrap().to_owned();
    let admin_id = add_member(&hub, &owner, "admin@acme.test", "admin");
    let agent_id = add_member(&hub, &owner, "agent@acme.test", "agent");
    let admin = token(&hub, "admin@acme.test");
    let agent_login = hub.login("acme", "agent@acme.test", common::OWNER_PASSWORD);
    let agent = agent_login["access_token"].as_str().unwrap().to_owned();
    let patch = |token: &str, id: &str, body: Value| {
        hub.call(
            "PATCH",
            &format!("/api/v1/members/{id}"),
            Some(token),
            Some(&body),
        )
    };

    // An admin changes an agent's role, but never an owner nor to owner; an agent changes nobody.
    let changed = patch(&admin, &agent_id, json!({ "role": "viewer" }));
    assert_eq!(changed.status, 200, "{changed:?}");
    assert_eq!(changed.body["role"], "viewer");
    assert_eq!(
        changed.body["scopes"],
        json!(["contacts:read", "inbox:read", "leads:read"])
    );
    patch(&admin, &agent_id, json!({ "role": "owner" })).refused(403, "role_not_grantable");
    patch(&admin, &owner_id, json!({ "role": "admin" })).refused(403, "role_not_grantable");
    patch(&admin, &owner_id, json!({ "disabled": true })).refused(403, "role_not_grantable");
    patch(&agent, &admin_id, json!({ "role": "viewer" })).refused(403, "missing_scope");
    patch(&owner, &agent_id, json!({ "role": "boss" })).refused(400, "bad_request");
    // The last owner cannot step down or switch themselves off.
    patch(&owner, &owner_id, json!({ "role": "admin" })).refused(409, "conflict");
    patch(&owner, &owner_id, json!({ "disabled": true })).refused(409, "conflict");

    // Departments: set, cleared with "", an unknown one is 404.
    let department = hub.call(
        "POST",
        "/api/v1/departments",
        Some(&owner),
        Some(&json!({ "name": "Vendas" })),
    );
    assert_eq!(department.status, 201, "{department:?}");
    let department_id = department.body["id"].as_str().unwrap();
    let moved = patch(&owner, &agent_id, json!({ "department_id": department_id }));
    assert_eq!(moved.body["department_id"], department_id, "{moved:?}");
    assert_eq!(moved.body["role"], "viewer", "other fields stay");
    let cleared = patch(&owner, &agent_id, json!({ "department_id": "" }));
    assert_eq!(cleared.body["department_id"], Value::Null, "{cleared:?}");
    patch(
        &owner,
        &agent_id,
        json!({ "department_id": "no-such-department" }),
    )
    .refused(404, "not_found");

    // A member's devices: listed and revoked one at a time by a security admin; an owner's only
    // by an owner.
    let devices = hub.list(&format!("/api/v1/members/{agent_id}/devices"), &admin);
    assert_eq!(ids(&devices), [agent_login["device_id"].as_str().unwrap()]);
    hub.call(
        "GET",
        &format!("/api/v1/members/{admin_id}/devices"),
        Some(&agent),
        None,
    )
    .refused(403, "missing_scope");
    hub.call(
        "POST",
        &format!("/api/v1/members/{owner_id}/devices/revoke"),
        Some(&admin),
        Some(&json!({})),
    )
    .refused(403, "role_not_grantable");
    let revoked = hub.call(
        "POST",
        &format!("/api/v1/members/{agent_id}/devices/revoke"),
        Some(&admin),
        Some(&json!({ "device_id": agent_login["device_id"] })),
    );
    assert_eq!(revoked.body["revoked"], 1, "{revoked:?}");
    hub.call("GET", "/api/v1/me", Some(&agent), None)
        .refused(401, "device_revoked");
    let devices = hub.list(&format!("/api/v1/members/{agent_id}/devices"), &admin);
    assert!(devices[0]["revoked_ms"].is_i64(), "{devices:?}");

    // Disabled: every session ends and sign-in is refused; enabled again, sign-in works.
    let agent = token(&hub, "agent@acme.test");
    let disabled = patch(
        &admin,
        &agent_id,
        json!({ "disabled": true, "reason": "left" }),
    );
    assert_eq!(disabled.body["disabled"], true, "{disabled:?}");
    hub.call("GET", "/api/v1/me", Some(&agent), None)
        .refused(401, "device_revoked");
    let login =
        json!({ "tenant": "acme", "email": "agent@acme.test", "password": common::OWNER_PASSWORD });
    hub.call("POST", "/api/v1/auth/login", None, Some(&login))
        .refused(403, "member_disabled");
    let enabled = patch(&admin, &agent_id, json!({ "disabled": false }));
    assert_eq!(enabled.body["disabled"], false, "{enabled:?}");
    let agent = token(&hub, "agent@acme.test");
    let me = hub.call("GET", "/api/v1/me", Some(&agent), None);
    assert_eq!(me.body["member"]["role"], "viewer", "{me:?}");
    let change = hub
        .audit_actions()
        .into_iter()
        .filter(|e| e["action"] == "member.access_changed")
        .find(|e| e["details"]["after"]["disabled"] == true)
        .unwrap();
    assert_eq!(change["reason"], "left");
}

on_both!(
    console_is_served_under_the_strict_policy,
    conversations_filter_by_channel_assignee_and_score,
    stats_count_messages_per_channel_per_day_and_scores,
    session_qr_is_an_svg_image_while_a_scan_is_awaited,
    member_controls_follow_the_role_rules,
);
