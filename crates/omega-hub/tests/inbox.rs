//! The inbox's first slice over real HTTP, on SQLite and PostgreSQL: channels, webhooks
//! authenticated per source, store-first intake, idempotent normalization, tenant isolation.

mod common;

use common::{Backend, TestHub, fixture};
use omega_hub::tenancy::Plan;
use serde_json::{Value, json};

fn whatsapp_webhooks_are_stored_once_and_one_person_is_one_contact(backend: Backend) {
    let Some(hub) = TestHub::start(backend, "") else {
        return;
    };
    hub.tenant("acme", Plan::Pro);
    let owner = hub.owner_token("acme");
    let wpp = hub.channel(
        &owner,
        json!({ "kind": "whatsapp-wppconnect", "name": "Vendas WPP" }),
    );
    let evo = hub.channel(
        &owner,
        json!({ "kind": "whatsapp-evolution", "name": "Vendas Evolution" }),
    );
    let wpp_path = wpp["webhook_path"].as_str().unwrap();
    let wpp_token = wpp["webhook_token"].as_str().unwrap();
    let body = fixture("wppconnect/onmessage_text_private.json");
    for _ in 0..2 {
        let answer = hub.raw(
            "POST",
            wpp_path,
            None,
            Some(&body),
            &[("X-Omega-Webhook-Token", wpp_token)],
        );
        assert_eq!(answer.status, 200, "{answer:?}");
    }
    // The token may also come in the query string (WPPConnect's webhook setting is a bare URL).
    let evo_path = format!(
        "{}?token={}",
        evo["webhook_path"].as_str().unwrap(),
        evo["webhook_token"].as_str().unwrap()
    );
    let answer = hub.raw(
        "POST",
        &evo_path,
        None,
        Some(&fixture("evolution/messages_upsert_text.json")),
        &[],
    );
    assert_eq!(answer.status, 200, "{answer:?}");
    hub.drain();

    let list = hub.conversations(&owner);
    assert_eq!(list.len(), 2, "one conversation per channel: {list:?}");
    assert_eq!(
        list[0]["contact_id"], list[1]["contact_id"],
        "@c.us and @s.whatsapp.net are one person"
    );
    assert!(
        list.iter().all(|c| c["chat"] == "tel:+5511999990001"),
        "{list:?}"
    );
    let wpp_conversation = list.iter().find(|c| c["channel_id"] == wpp["id"]).unwrap();
    let stored = hub.messages(&owner, wpp_conversation["id"].as_str().unwrap());
    assert_eq!(
        stored.len(),
        1,
        "a redelivered event is stored once: {stored:?}"
    );
    assert_eq!(stored[0]["direction"], "in");
    assert!(
        stored[0]["text"]
            .as_str()
            .is_some_and(|text| !text.is_empty())
    );

    let pending = hub
        .runtime
        .block_on(hub.hub.db().pending_inbound(100))
        .unwrap();
    assert!(pending.is_empty(), "every stored delivery was processed");
}

/// Two workers take a new person's first two messages at the same moment (several hub
/// instances on one PostgreSQL do): the person is still one contact with one lead.
fn first_messages_of_one_person_taken_at_once_make_one_contact(backend: Backend) {
    let Some(hub) = TestHub::start(backend, "") else {
        return;
    };
    hub.tenant("acme", Plan::Pro);
    let owner = hub.owner_token("acme");
    let wpp = hub.channel(
        &owner,
        json!({ "kind": "whatsapp-wppconnect", "name": "Vendas" }),
    );
    let path = wpp["webhook_path"].as_str().unwrap();
    let token = wpp["webhook_token"].as_str().unwrap();
    let people = 12;
    // A person's two messages are queued next to each other, so two workers take them together.
    for person in 0..people {
        for round in 0..2 {
            let phone = format!("55119000001{person:02}");
            let body = json!({
                "event": "onmessage",
                "session": "loja",
                "id": format!("false_{phone}@c.us_3A{round}{person:02}"),
                "body": format!("quanto custa? ({round})"),
                "type": "chat",
                "t": 1_751_371_200 + round,
                "from": format!("{phone}@c.us"),
                "to": "5511999990000@c.us",
                "fromMe": false,
            });
            let answer = hub.raw(
                "POST",
                path,
                None,
                Some(&body.to_string()),
                &[("X-Omega-Webhook-Token", token)],
            );
            assert_eq!(answer.status, 200, "{answer:?}");
        }
    }
    hub.runtime.block_on(async {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let hub = hub.hub.clone();
                tokio::spawn(async move { hub.process_inbound().await.unwrap() })
            })
            .collect();
        for worker in workers {
            worker.await.unwrap();
        }
    });
    hub.drain();
    let list = hub.conversations(&owner);
    assert_eq!(list.len(), people, "{list:?}");
    let mut contacts: Vec<&str> = list
        .iter()
        .map(|c| c["contact_id"].as_str().unwrap())
        .collect();
    contacts.sort_unstable();
    contacts.dedup();
    assert_eq!(contacts.len(), people, "one contact per person");
    let leads = hub.list("/api/v1/leads", &owner);
    assert_eq!(leads.len(), people, "one lead per person: {leads:?}");
    for conversation in &list {
        let messages = hub.messages(&owner, conversation["id"].as_str().unwrap());
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(
            messages.iter().all(|m| m["sender"] == conversation["chat"]),
            "{messages:?}"
        );
    }
}

fn forged_or_foreign_webhooks_are_refused(backend: Backend) {
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
    let body = fixture("wppconnect/onmessage_text_private.json");
    let acme_path = acme_wpp["webhook_path"].as_str().unwrap();
    // No token, a wrong token, and acme's token on globex's channel: all 401.
    hub.raw("POST", acme_path, None, Some(&body), &[])
        .refused(401, "webhook_unauthorized");
    hub.raw(
        "POST",
        acme_path,
        None,
        Some(&body),
        &[("X-Omega-Webhook-Token", "nope")],
    )
    .refused(401, "webhook_unauthorized");
    hub.raw(
        "POST",
        globex_wpp["webhook_path"].as_str().unwrap(),
        None,
        Some(&body),
        &[(
            "X-Omega-Webhook-Token",
            acme_wpp["webhook_token"].as_str().unwrap(),
        )],
    )
    .refused(401, "webhook_unauthorized");
    hub.raw(
        "POST",
        "/hooks/v1/no-such-channel",
        None,
        Some(&body),
        &[("X-Omega-Webhook-Token", "x")],
    )
    .refused(401, "webhook_unauthorized");
    // Malformed JSON with the right token: 400, nothing stored.
    hub.raw(
        "POST",
        acme_path,
        None,
        Some("{not json"),
        &[(
            "X-Omega-Webhook-Token",
            acme_wpp["webhook_token"].as_str().unwrap(),
        )],
    )
    .refused(400, "bad_request");
    hub.drain();
    assert!(hub.conversations(&acme).is_empty());
    assert!(hub.conversations(&globex).is_empty());

    // Cloud API: the signature over the exact bytes is the credential.
    let cloud = hub.channel(&acme,
        json!({ "kind": "whatsapp-cloud", "name": "Cloud", "app_secret": "FAKE_APP_SECRET_0123456789abcdef" }),
    );
    let cloud_path = cloud["webhook_path"].as_str().unwrap();
    let signed = fixture("meta_whatsapp/messages_text.json");
    let headers: Value =
        serde_json::from_str(&fixture("meta_whatsapp/messages_text.headers.json")).unwrap();
    let signature = headers["X-Hub-Signature-256"].as_str().unwrap();
    let ok = hub.raw(
        "POST",
        cloud_path,
        None,
        Some(&signed),
        &[("X-Hub-Signature-256", signature)],
    );
    assert_eq!(ok.status, 200, "{ok:?}");
    let tampered = signed.replacen('1', "2", 1);
    hub.raw(
        "POST",
        cloud_path,
        None,
        Some(&tampered),
        &[("X-Hub-Signature-256", signature)],
    )
    .refused(401, "webhook_unauthorized");
    // The GET handshake echoes the challenge only for this channel's token.
    let token = cloud["webhook_token"].as_str().unwrap();
    let handshake = hub.raw(
        "GET",
        &format!(
            "{cloud_path}?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444"
        ),
        None,
        None,
        &[],
    );
    assert_eq!(handshake.status, 200, "{handshake:?}");
    assert_eq!(handshake.body, json!(1158201444));
    hub.raw(
        "GET",
        &format!("{cloud_path}?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1"),
        None,
        None,
        &[],
    )
    .refused(403, "webhook_unauthorized");

    // Telegram: the secret token header.
    let telegram = hub.channel(&acme, json!({ "kind": "telegram", "name": "Bot" }));
    let update = fixture("telegram/update_message_private_text.json");
    let tg_path = telegram["webhook_path"].as_str().unwrap();
    hub.raw(
        "POST",
        tg_path,
        None,
        Some(&update),
        &[("X-Telegram-Bot-Api-Secret-Token", "wrong")],
    )
    .refused(401, "webhook_unauthorized");
    let ok = hub.raw(
        "POST",
        tg_path,
        None,
        Some(&update),
        &[(
            "X-Telegram-Bot-Api-Secret-Token",
            telegram["webhook_token"].as_str().unwrap(),
        )],
    );
    assert_eq!(ok.status, 200, "{ok:?}");
    hub.drain();
    let list = hub.conversations(&acme);
    assert_eq!(list.len(), 2, "cloud and telegram conversations: {list:?}");
    assert!(
        hub.conversations(&globex).is_empty(),
        "nothing leaked into the other tenant"
    );
    // Another tenant cannot read acme's conversation by id.
    let id = list[0]["id"].as_str().unwrap();
    hub.call(
        "GET",
        &format!("/api/v1/conversations/{id}/messages"),
        Some(&globex),
        None,
    )
    .refused(404, "not_found");
}

fn channel_kinds_secrets_and_quota_are_checked(backend: Backend) {
    let Some(hub) = TestHub::start(backend, "") else {
        return;
    };
    hub.tenant("acme", Plan::Free);
    let owner = hub.owner_token("acme");
    hub.call(
        "POST",
        "/api/v1/channels",
        Some(&owner),
        Some(&json!({ "kind": "fax", "name": "x" })),
    )
    .refused(400, "bad_request");
    hub.call(
        "POST",
        "/api/v1/channels",
        Some(&owner),
        Some(&json!({ "kind": "whatsapp-cloud", "name": "x" })),
    )
    .refused(400, "bad_request");
    hub.channel(&owner, json!({ "kind": "telegram", "name": "Bot" }));
    hub.call(
        "POST",
        "/api/v1/channels",
        Some(&owner),
        Some(&json!({ "kind": "telegram", "name": "Bot 2" })),
    )
    .refused(403, "quota_exceeded");
    let listed = hub.call("GET", "/api/v1/channels", Some(&owner), None);
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    assert!(
        listed.body[0].get("webhook_token").is_none(),
        "the token is shown once"
    );
}

fn privacy_settings_drop_groups_and_broadcasts_before_storing(backend: Backend) {
    let Some(hub) = TestHub::start(backend, "") else {
        return;
    };
    hub.tenant("acme", Plan::Pro);
    let owner = hub.owner_token("acme");
    let defaults = hub.call("GET", "/api/v1/settings/privacy", Some(&owner), None);
    assert_eq!(
        defaults.body,
        json!({ "ignore_groups": false, "ignore_broadcasts": true, "skip_locked_chats": true })
    );
    let wpp = hub.channel(
        &owner,
        json!({ "kind": "whatsapp-wppconnect", "name": "WPP" }),
    );
    let path = wpp["webhook_path"].as_str().unwrap().to_owned();
    let token = wpp["webhook_token"].as_str().unwrap().to_owned();
    let post = |body: &str| {
        let answer = hub.raw(
            "POST",
            &path,
            None,
            Some(body),
            &[("X-Omega-Webhook-Token", &token)],
        );
        assert_eq!(answer.status, 200, "{answer:?}");
    };
    // A status broadcast is dropped by default; a group message is kept by default.
    // (A status post names its author, as WhatsApp sends it.)
    post(
        &fixture("wppconnect/onmessage_text_private.json")
            .replace("5511999990001@c.us", "status@broadcast")
            .replacen('{', r#"{"author": "5511999990001@c.us","#, 1),
    );
    post(&fixture("wppconnect/onmessage_group.json"));
    // A chat the phone has locked (WhatsApp Chat Lock) is skipped by default.
    post(
        &fixture("wppconnect/onmessage_text_private.json")
            .replace("5511999990001", "5511999990055")
            .replacen('{', r#"{"isLocked": true,"#, 1),
    );
    hub.drain();
    let list = hub.conversations(&owner);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["is_group"], true);

    // An agent cannot change the settings; the owner can, and it is audited.
    hub.call(
        "POST",
        "/api/v1/members",
        Some(&owner),
        Some(&json!({ "email": "ag@acme.test", "display_name": "Ag", "role": "agent", "password": "agent password 1" })),
    );
    let agent = hub.login("acme", "ag@acme.test", "agent password 1")["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let change =
        json!({ "ignore_groups": true, "ignore_broadcasts": true, "skip_locked_chats": true });
    hub.call(
        "PUT",
        "/api/v1/settings/privacy",
        Some(&agent),
        Some(&change),
    )
    .refused(403, "missing_scope");
    hub.call(
        "PUT",
        "/api/v1/settings/privacy",
        Some(&owner),
        Some(&json!({ "ignore_groups": "yes" })),
    )
    .refused(400, "bad_request");
    let changed = hub.call(
        "PUT",
        "/api/v1/settings/privacy",
        Some(&owner),
        Some(&change),
    );
    assert_eq!(changed.body, change, "{changed:?}");
    let evolution = hub.channel(
        &owner,
        json!({ "kind": "whatsapp-evolution", "name": "Evo" }),
    );
    let answer = hub.raw(
        "POST",
        evolution["webhook_path"].as_str().unwrap(),
        None,
        Some(&fixture("evolution/messages_upsert_group.json")),
        &[(
            "X-Omega-Webhook-Token",
            evolution["webhook_token"].as_str().unwrap(),
        )],
    );
    assert_eq!(answer.status, 200);
    hub.drain();
    assert_eq!(
        hub.conversations(&owner).len(),
        1,
        "the group message was dropped"
    );
    let audit = hub.audit_actions();
    let entry = audit
        .iter()
        .find(|e| e["action"] == "settings.privacy_changed")
        .unwrap();
    assert_eq!(entry["details"]["before"]["ignore_groups"], false);
    assert_eq!(entry["details"]["after"]["ignore_groups"], true);
}

on_both!(
    first_messages_of_one_person_taken_at_once_make_one_contact,
    privacy_settings_drop_groups_and_broadcasts_before_storing,
    whatsapp_webhooks_are_stored_once_and_one_person_is_one_contact,
    forged_or_foreign_webhooks_are_refused,
    channel_kinds_secrets_and_quota_are_checked,
);
