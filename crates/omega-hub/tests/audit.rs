//! The audit log through the API: an auditor fetches heads and proofs and verifies them
//! offline; tampering and rewriting are detected; redaction keeps the tree; configuration
//! reloads and rollbacks are recorded. On SQLite and PostgreSQL.

mod common;

use common::{Backend, TestHub};
use omega_audit::bundle::{ProofBundle, SignedHead, verify_bundle, verify_head};
use omega_hub::tenancy::Plan;
use serde_json::json;

fn auditor_token(hub: &TestHub, owner: &str) -> String {
    let created = hub.call(
        "POST",
        "/api/v1/members",
        Some(owner),
        Some(&json!({ "email": "audit@acme.test", "display_name": "Auditor", "role": "auditor", "password": "auditor password 1" })),
    );
    assert_eq!(created.status, 201, "{created:?}");
    hub.login("acme", "audit@acme.test", "auditor password 1")["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn head(hub: &TestHub, token: &str, size: Option<u64>) -> SignedHead {
    let path = match size {
        Some(size) => format!("/api/v1/audit/head?size={size}"),
        None => "/api/v1/audit/head".to_owned(),
    };
    let answer = hub.call("GET", &path, Some(token), None);
    assert_eq!(answer.status, 200, "{answer:?}");
    serde_json::from_value(answer.body).unwrap()
}

fn auditor_verifies_inclusion_and_consistency_offline(backend: Backend) {
    let Some(hub) = TestHub::start(backend, "") else {
        return;
    };
    hub.tenant("acme", Plan::Free);
    let owner = hub.owner_token("acme");
    let auditor = auditor_token(&hub, &owner);
    hub.call("GET", "/api/v1/me", Some(&owner), None);
    let old = head(&hub, &auditor, None);
    let pinned = old.verifier_key.clone();
    verify_head(&old, Some(&pinned)).unwrap();

    // More happens: departments, a read of personal data, a failed login.
    hub.call(
        "POST",
        "/api/v1/departments",
        Some(&owner),
        Some(&json!({ "name": "Suporte" })),
    );
    hub.call("GET", "/api/v1/members", Some(&owner), None);
    hub.call(
        "POST",
        "/api/v1/auth/login",
        None,
        Some(
            &json!({ "tenant": "acme", "email": "owner@acme.test", "password": "nope nope nope" }),
        ),
    );
    let new = head(&hub, &auditor, None);
    assert!(new.size > old.size);

    let consistency = hub.call(
        "GET",
        &format!(
            "/api/v1/audit/proof/consistency?from={}&to={}",
            old.size, new.size
        ),
        Some(&auditor),
        None,
    );
    let proof: ProofBundle = serde_json::from_value(consistency.body).unwrap();
    verify_bundle(&new, &proof, Some(&old), Some(&pinned)).unwrap();

    let entries = hub.call(
        "GET",
        "/api/v1/audit/entries?from=0&limit=1000",
        Some(&auditor),
        None,
    );
    let list = entries.body.as_array().unwrap();
    let read = list
        .iter()
        .find(|e| e["entry"].as_str().unwrap().contains("personal_data.read"))
        .expect("the read of members is in the log");
    let index = read["index"].as_u64().unwrap();
    let inclusion = hub.call(
        "GET",
        &format!(
            "/api/v1/audit/proof/inclusion?index={index}&size={}",
            new.size
        ),
        Some(&auditor),
        None,
    );
    assert_eq!(inclusion.status, 200, "{inclusion:?}");
    let proof: ProofBundle = serde_json::from_value(inclusion.body).unwrap();
    verify_bundle(&new, &proof, None, Some(&pinned)).unwrap();

    // Someone with database access rewrites that entry: the proof the hub now serves fails.
    hub.runtime.block_on(async {
        let row = hub
            .hub
            .db()
            .audit_entry(index as i64)
            .await
            .unwrap()
            .unwrap();
        let forged = row
            .entry
            .replace("personal_data.read", "personal_data.none");
        hub.hub
            .db()
            .redact_audit_entry(index as i64, &forged, 1)
            .await
            .unwrap();
    });
    let tampered = hub.call(
        "GET",
        &format!(
            "/api/v1/audit/proof/inclusion?index={index}&size={}",
            new.size
        ),
        Some(&auditor),
        None,
    );
    let proof: ProofBundle = serde_json::from_value(tampered.body).unwrap();
    assert!(
        verify_bundle(&new, &proof, None, Some(&pinned)).is_err(),
        "a rewritten entry must not verify"
    );

    // Other entries still prove against the same head.
    let first = list[0]["index"].as_u64().unwrap();
    let other = hub.call(
        "GET",
        &format!(
            "/api/v1/audit/proof/inclusion?index={first}&size={}",
            new.size
        ),
        Some(&auditor),
        None,
    );
    let proof: ProofBundle = serde_json::from_value(other.body).unwrap();
    verify_bundle(&new, &proof, None, Some(&pinned)).unwrap();

    // Heads and proofs need audit:read.
    let agent = hub.call(
        "POST",
        "/api/v1/members",
        Some(&owner),
        Some(&json!({ "email": "ag@acme.test", "display_name": "Agent", "role": "agent", "password": "agent password 1" })),
    );
    assert_eq!(agent.status, 201);
    let agent_token = hub.login("acme", "ag@acme.test", "agent password 1")["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    hub.call("GET", "/api/v1/audit/head", Some(&agent_token), None)
        .refused(403, "missing_scope");
    hub.call(
        "GET",
        "/api/v1/audit/proof/consistency?from=5&to=1",
        Some(&auditor),
        None,
    )
    .refused(404, "not_found");
    hub.call(
        "GET",
        "/api/v1/audit/head?size=999999",
        Some(&auditor),
        None,
    )
    .refused(404, "not_found");
}

fn old_heads_stay_consistent_as_the_log_grows(backend: Backend) {
    let Some(hub) = TestHub::start(backend, "") else {
        return;
    };
    hub.tenant("acme", Plan::Enterprise);
    let owner = hub.owner_token("acme");
    let auditor = auditor_token(&hub, &owner);
    let mut heads = vec![head(&hub, &auditor, None)];
    for round in 0..5 {
        for n in 0..(round * 3 + 1) {
            hub.call(
                "POST",
                "/api/v1/departments",
                Some(&owner),
                Some(&json!({ "name": format!("d{round}-{n}") })),
            );
        }
        heads.push(head(&hub, &auditor, None));
    }
    let pinned = heads[0].verifier_key.clone();
    for (i, old) in heads.iter().enumerate() {
        for new in &heads[i..] {
            let answer = hub.call(
                "GET",
                &format!(
                    "/api/v1/audit/proof/consistency?from={}&to={}",
                    old.size, new.size
                ),
                Some(&auditor),
                None,
            );
            let proof: ProofBundle = serde_json::from_value(answer.body).unwrap();
            verify_bundle(new, &proof, Some(old), Some(&pinned)).unwrap();
        }
    }
    // A head of an earlier size is the same tree head as the one handed out then.
    let again = head(&hub, &auditor, Some(heads[2].size));
    assert_eq!(again.root, heads[2].root);
}

fn configuration_reloads_are_versioned_and_a_bad_file_keeps_the_running_one(backend: Backend) {
    let Some(hub) = TestHub::start(backend, "[limits]\nper_ip_burst = 500\n") else {
        return;
    };
    let path = hub.dir.path().join("hub.toml");
    let first = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, "[limits]\nper_ip_burst = 400\n").unwrap();
    let version = hub.runtime.block_on(hub.hub.reload_config()).unwrap();
    assert_eq!(version, 2);
    assert_eq!(hub.hub.config().limits.per_ip_burst, 400);
    std::fs::write(&path, "[limits]\nper_ip_burst = \"lots\"\n").unwrap();
    let refused = hub.runtime.block_on(hub.hub.reload_config()).unwrap_err();
    assert!(
        format!("{refused:#}").contains("per_ip_burst"),
        "{refused:#}"
    );
    assert_eq!(
        hub.hub.config().limits.per_ip_burst,
        400,
        "the running configuration stays"
    );
    std::fs::write(&path, &first).unwrap();
    assert_eq!(hub.runtime.block_on(hub.hub.reload_config()).unwrap(), 3);
    let versions = hub
        .runtime
        .block_on(hub.hub.db().config_versions())
        .unwrap();
    assert_eq!(versions.len(), 3);
    assert_eq!(versions[2].source, "rollback to 1");
    let actions = hub.audit_actions();
    assert_eq!(
        actions
            .iter()
            .filter(|e| e["action"] == "config.applied")
            .count(),
        3
    );
    assert_eq!(
        actions
            .iter()
            .filter(|e| e["action"] == "config.reload" && e["outcome"] == "denied")
            .count(),
        1
    );
}

on_both!(
    auditor_verifies_inclusion_and_consistency_offline,
    old_heads_stay_consistent_as_the_log_grows,
    configuration_reloads_are_versioned_and_a_bad_file_keeps_the_running_one,
);
