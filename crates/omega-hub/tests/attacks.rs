//! Bad input and attacks against a running hub, each refused (and audited where it is a
//! credential), on SQLite and PostgreSQL.

mod common;

use std::sync::Arc;

use common::{Backend, OWNER_PASSWORD, TestHub};
use data_encoding::BASE64URL_NOPAD;
use omega_auth::jwt::AccessClaims;
use omega_hub::keys::KeyRing;
use omega_hub::seal::MasterKey;
use omega_hub::tenancy::Plan;
use serde_json::{Value, json};

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Signs `claims` with the hub's own current key (what a token of ours looks like).
fn forge_with_hub_key(hub: &TestHub, claims: &AccessClaims) -> String {
    hub.runtime.block_on(async {
        let master =
            Arc::new(MasterKey::load_or_create(&hub.dir.path().join("hub-master.key")).unwrap());
        let day = 24 * 3600 * 1000;
        let keys = KeyRing::load(hub.hub.db().clone(), master, 365 * day, day)
            .await
            .unwrap();
        keys.current().jwt_signer.sign(claims).unwrap()
    })
}

fn claims_from(token: &str) -> AccessClaims {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&BASE64URL_NOPAD.decode(payload.as_bytes()).unwrap()).unwrap()
}

fn refused_count(hub: &TestHub) -> usize {
    hub.audit_actions()
        .iter()
        .filter(|e| e["action"] == "auth.refused")
        .count()
}

fn forged_expired_and_foreign_tokens_are_refused_and_audited(backend: Backend) {
    let Some(hub) = TestHub::start(backend, "") else {
        return;
    };
    hub.tenant("acme", Plan::Free);
    hub.tenant("globex", Plan::Free);
    let token = hub.owner_token("acme");
    let globex = hub.owner_token("globex");
    let parts: Vec<&str> = token.split('.').collect();
    let before = refused_count(&hub);

    // alg none, with and without a signature part.
    let none_header = BASE64URL_NOPAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    for forged in [
        format!("{none_header}.{}.", parts[1]),
        format!("{none_header}.{}", parts[1]),
    ] {
        hub.call("GET", "/api/v1/me", Some(&forged), None)
            .refused(401, "token_invalid");
    }
    // HS256 with the public key as the HMAC secret (algorithm confusion).
    let hs_header = BASE64URL_NOPAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    hub.call(
        "GET",
        "/api/v1/me",
        Some(&format!("{hs_header}.{}.{}", parts[1], parts[2])),
        None,
    )
    .refused(401, "token_invalid");
    // Wrong signature: a flipped bit.
    let mut signature = BASE64URL_NOPAD.decode(parts[2].as_bytes()).unwrap();
    signature[5] ^= 1;
    let flipped = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        BASE64URL_NOPAD.encode(&signature)
    );
    hub.call("GET", "/api/v1/me", Some(&flipped), None)
        .refused(401, "token_invalid");
    // Claims swapped to the other tenant, signature kept.
    let mut claims = claims_from(&token);
    claims.tid = claims_from(&globex).tid;
    let swapped = format!(
        "{}.{}.{}",
        parts[0],
        BASE64URL_NOPAD.encode(serde_json::to_vec(&claims).unwrap().as_slice()),
        parts[2]
    );
    hub.call("GET", "/api/v1/me", Some(&swapped), None)
        .refused(401, "token_invalid");
    // Expired, signed with the hub's real key.
    let mut expired = claims_from(&token);
    expired.iat = now_secs() - 3600;
    expired.exp = now_secs() - 1800;
    hub.call(
        "GET",
        "/api/v1/me",
        Some(&forge_with_hub_key(&hub, &expired)),
        None,
    )
    .refused(401, "token_expired");
    // A genuine token naming a device of another tenant.
    let mut foreign = claims_from(&token);
    foreign.did = claims_from(&globex).did;
    hub.call(
        "GET",
        "/api/v1/me",
        Some(&forge_with_hub_key(&hub, &foreign)),
        None,
    )
    .refused(401, "token_invalid");
    // The client says it means another tenant.
    let globex_id = claims_from(&globex).tid;
    hub.raw(
        "GET",
        "/api/v1/me",
        Some(&token),
        None,
        &[("X-Omega-Tenant", &globex_id)],
    )
    .refused(403, "wrong_tenant");
    // Garbage and missing credentials.
    for garbage in [
        "",
        "a.b.c",
        "....",
        "Bearer",
        &"x".repeat(10_000),
        "omk_",
        "omk_zz_zz",
    ] {
        let answer = hub.call("GET", "/api/v1/me", Some(garbage), None);
        assert_eq!(answer.status, 401, "{garbage:?}: {answer:?}");
    }
    hub.call("GET", "/api/v1/me", None, None)
        .refused(401, "missing_token");
    assert!(
        refused_count(&hub) >= before + 9,
        "every refused credential is an audit entry"
    );
    assert_eq!(
        hub.call("GET", "/api/v1/me", Some(&token), None).status,
        200
    );
}

fn guessing_another_tenants_ids_finds_nothing(backend: Backend) {
    let Some(hub) = TestHub::start(backend, "") else {
        return;
    };
    let (_, acme_owner) = hub.tenant("acme", Plan::Free);
    hub.tenant("globex", Plan::Free);
    let acme = hub.owner_token("acme");
    let globex = hub.owner_token("globex");
    let acme_me = hub.call("GET", "/api/v1/me", Some(&acme), None);
    let acme_device = acme_me.body["device_id"].as_str().unwrap();
    for path in [
        format!("/api/v1/members/{acme_owner}"),
        format!("/api/v1/members/{acme_owner}/devices"),
    ] {
        hub.call("GET", &path, Some(&globex), None)
            .refused(404, "not_found");
    }
    hub.call(
        "PATCH",
        &format!("/api/v1/members/{acme_owner}"),
        Some(&globex),
        Some(&json!({ "role": "viewer" })),
    )
    .refused(404, "not_found");
    hub.call(
        "POST",
        &format!("/api/v1/security/devices/{acme_device}/revoke"),
        Some(&globex),
        None,
    )
    .refused(404, "not_found");
    hub.call(
        "POST",
        &format!("/api/v1/members/{acme_owner}/devices/revoke"),
        Some(&globex),
        Some(&json!({})),
    )
    .refused(404, "not_found");
    assert_eq!(
        hub.call("GET", "/api/v1/me", Some(&acme), None).status,
        200,
        "acme's session is untouched"
    );
    let members = hub.call("GET", "/api/v1/members", Some(&globex), None);
    assert_eq!(members.body.as_array().unwrap().len(), 1);
    // Audit entries and proofs of another tenant are invisible too.
    let acme_entries = hub.call("GET", "/api/v1/audit/entries", Some(&acme), None);
    let acme_index = acme_entries.body[0]["index"].as_i64().unwrap();
    hub.call(
        "GET",
        &format!("/api/v1/audit/proof/inclusion?index={acme_index}"),
        Some(&globex),
        None,
    )
    .refused(404, "not_found");
    let globex_entries = hub.call("GET", "/api/v1/audit/entries", Some(&globex), None);
    assert!(
        globex_entries
            .body
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["index"] != acme_index)
    );
}

fn sql_metacharacters_are_stored_literally_and_break_nothing(backend: Backend) {
    let Some(hub) = TestHub::start(backend, "") else {
        return;
    };
    hub.tenant("acme", Plan::Enterprise);
    let owner = hub.owner_token("acme");
    let evil = "Robert'); DROP TABLE members;-- \" \\ % _ $1 ?1 ;";
    let department = hub.call(
        "POST",
        "/api/v1/departments",
        Some(&owner),
        Some(&json!({ "name": evil })),
    );
    assert_eq!(department.status, 201, "{department:?}");
    assert_eq!(department.body["name"], evil);
    let member = hub.call(
        "POST",
        "/api/v1/members",
        Some(&owner),
        Some(&json!({ "email": "o'brien@acme.test", "display_name": evil, "role": "viewer", "password": evil })),
    );
    assert_eq!(member.status, 201, "{member:?}");
    assert_eq!(member.body["display_name"], evil);
    let login = hub.login("acme", "o'brien@acme.test", evil);
    assert!(login["access_token"].is_string());
    for field in ["tenant", "email", "password"] {
        let mut body =
            json!({ "tenant": "acme", "email": "owner@acme.test", "password": OWNER_PASSWORD });
        body[field] = Value::String(evil.to_owned());
        let answer = hub.call("POST", "/api/v1/auth/login", None, Some(&body));
        assert!(
            answer.status == 401 || answer.status == 400,
            "{field}: {answer:?}"
        );
    }
    for path in [
        format!("/api/v1/members/{}", urlencode(evil)),
        format!("/api/v1/security/devices/{}/revoke", urlencode(evil)),
    ] {
        let method = if path.ends_with("revoke") {
            "POST"
        } else {
            "GET"
        };
        hub.call(method, &path, Some(&owner), None)
            .refused(404, "not_found");
    }
    let members = hub.call("GET", "/api/v1/members", Some(&owner), None);
    assert_eq!(
        members.body.as_array().unwrap().len(),
        2,
        "the members table is intact"
    );
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn malformed_and_oversized_bodies_get_clear_errors(backend: Backend) {
    let Some(hub) = TestHub::start(backend, "[http]\nbody_limit_bytes = 4096\n") else {
        return;
    };
    hub.tenant("acme", Plan::Free);
    let owner = hub.owner_token("acme");
    let broken = hub.raw(
        "POST",
        "/api/v1/auth/login",
        None,
        Some("{\"tenant\": \"acme\", "),
        &[],
    );
    broken.refused(400, "bad_request");
    assert!(
        broken.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("JSON"),
        "{broken:?}"
    );
    let missing = hub.raw(
        "POST",
        "/api/v1/auth/login",
        None,
        Some("{\"tenant\": \"acme\"}"),
        &[],
    );
    missing.refused(400, "bad_request");
    assert!(
        missing.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("email"),
        "{missing:?}"
    );
    let wrong_type = hub.raw(
        "POST",
        "/api/v1/departments",
        Some(&owner),
        Some("{\"name\": 7}"),
        &[],
    );
    wrong_type.refused(400, "bad_request");
    let unknown = hub.raw(
        "POST",
        "/api/v1/departments",
        Some(&owner),
        Some("{\"name\": \"a\", \"admin\": true}"),
        &[],
    );
    unknown.refused(400, "bad_request");
    assert!(
        unknown.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("admin"),
        "{unknown:?}"
    );
    let not_json = hub.raw(
        "POST",
        "/api/v1/departments",
        Some(&owner),
        Some("name=a"),
        &[("Content-Type", "text/plain")],
    );
    not_json.refused(415, "unsupported_media_type");
    let huge = json!({ "name": "x".repeat(10_000) }).to_string();
    hub.raw(
        "POST",
        "/api/v1/departments",
        Some(&owner),
        Some(&huge),
        &[],
    )
    .refused(413, "payload_too_large");
    let long_name = json!({ "name": "x".repeat(500) }).to_string();
    hub.raw(
        "POST",
        "/api/v1/departments",
        Some(&owner),
        Some(&long_name),
        &[],
    )
    .refused(400, "bad_request");
    hub.call("GET", "/api/v1/nope", Some(&owner), None)
        .refused(404, "not_found");
    hub.call(
        "POST",
        "/api/v1/members",
        Some(&owner),
        Some(&json!({ "email": "not-an-email", "display_name": "X", "role": "viewer", "password": "0123456789" })),
    )
    .refused(400, "bad_request");
    hub.call(
        "POST",
        "/api/v1/members",
        Some(&owner),
        Some(&json!({ "email": "x@acme.test", "display_name": "X", "role": "emperor", "password": "0123456789" })),
    )
    .refused(400, "bad_request");
    hub.call(
        "POST",
        "/api/v1/members",
        Some(&owner),
        Some(&json!({ "email": "x@acme.test", "display_name": "X", "role": "viewer", "password": "short" })),
    )
    .refused(400, "bad_request");
    // Nothing was half-created by any of the above.
    assert_eq!(
        hub.call("GET", "/api/v1/departments", Some(&owner), None)
            .body,
        json!([])
    );
    assert_eq!(
        hub.call("GET", "/api/v1/members", Some(&owner), None)
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

fn brute_force_login_locks_the_account_with_backoff(backend: Backend) {
    let config =
        "[limits]\nlockout_free_failures = 3\nlockout_base_ms = 60000\nlogin_per_ip_burst = 100\n";
    let Some(hub) = TestHub::start(backend, config) else {
        return;
    };
    hub.tenant("acme", Plan::Free);
    let attempt = |password: &str| {
        hub.call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(&json!({ "tenant": "acme", "email": "owner@acme.test", "password": password })),
        )
    };
    for _ in 0..3 {
        attempt("wrong password 123").refused(401, "invalid_credentials");
    }
    let locked = attempt(OWNER_PASSWORD);
    locked.refused(429, "account_locked");
    let retry: u64 = locked.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{locked:?}");
    // Another account is not locked by this one's failures.
    hub.tenant("globex", Plan::Free);
    assert!(hub.login("globex", "owner@globex.test", OWNER_PASSWORD)["access_token"].is_string());
    let failures = hub
        .audit_actions()
        .iter()
        .filter(|e| e["action"] == "auth.login" && e["outcome"] == "denied")
        .count();
    assert!(failures >= 3);
}

fn per_ip_and_per_token_rate_limits_answer_429_with_retry_after(backend: Backend) {
    let config = "[limits]\nper_token_burst = 5\nper_token_per_second = 0.01\nlogin_per_ip_burst = 3\nlogin_per_ip_per_second = 0.01\n";
    let Some(hub) = TestHub::start(backend, config) else {
        return;
    };
    hub.tenant("acme", Plan::Free);
    let token = hub.owner_token("acme");
    let statuses: Vec<u16> = (0..8)
        .map(|_| hub.call("GET", "/api/v1/me", Some(&token), None).status)
        .collect();
    assert_eq!(&statuses[..5], &[200; 5]);
    let limited = hub.call("GET", "/api/v1/me", Some(&token), None);
    limited.refused(429, "rate_limited");
    assert!(
        limited
            .header("retry-after")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    // Logins per IP: one was used by owner_token, two more pass, then 429.
    let body = json!({ "tenant": "acme", "email": "nobody@acme.test", "password": "whatever123" });
    for _ in 0..2 {
        assert_eq!(
            hub.call("POST", "/api/v1/auth/login", None, Some(&body))
                .status,
            401
        );
    }
    hub.call("POST", "/api/v1/auth/login", None, Some(&body))
        .refused(429, "rate_limited");
}

fn operations_endpoints_describe_the_hub_and_cors_stays_closed(backend: Backend) {
    let Some(hub) = TestHub::start(backend, "") else {
        return;
    };
    hub.tenant("acme", Plan::Free);
    let health = hub.call("GET", "/health", None, None);
    assert_eq!(health.status, 200, "{health:?}");
    assert_eq!(health.body["checks"]["database"]["ok"], true);
    assert_eq!(health.body["checks"]["audit_log"]["ok"], true);
    let token = hub.owner_token("acme");
    hub.call("GET", "/api/v1/me", Some("bad"), None);
    let metrics = hub.call("GET", "/metrics", None, None);
    let text = metrics.body.as_str().unwrap();
    assert!(text.contains("omega_hub_logins_total 1"), "{text}");
    assert!(text.contains("omega_hub_auth_refused_total 1"), "{text}");
    assert!(text.contains("omega_hub_http_request_duration_seconds_bucket"));
    let openapi = hub.call("GET", "/api/openapi.json", None, None);
    let paths = openapi.body["paths"].as_object().unwrap();
    for path in [
        "/api/v1/auth/login",
        "/api/v1/members/{id}",
        "/api/v1/audit/proof/inclusion",
        "/api/v1/security/devices",
    ] {
        assert!(paths.contains_key(path), "OpenAPI lacks {path}");
    }
    let jwks = hub.call("GET", "/.well-known/jwks.json", None, None);
    let key = &jwks.body["keys"][0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    let header: Value = serde_json::from_slice(
        &BASE64URL_NOPAD
            .decode(token.split('.').next().unwrap().as_bytes())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "EdDSA");
    assert!(
        jwks.body["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == header["kid"])
    );
    // CORS is closed: a cross-origin request gets no Access-Control-Allow-Origin.
    let cross = hub.raw(
        "GET",
        "/api/v1/me",
        Some(&token),
        None,
        &[("Origin", "https://evil.example")],
    );
    assert!(cross.header("access-control-allow-origin").is_none());
    let preflight = hub.raw(
        "OPTIONS",
        "/api/v1/me",
        None,
        None,
        &[("Origin", "https://evil.example")],
    );
    assert!(preflight.header("access-control-allow-origin").is_none());
    // Request ids: ours when valid, a fresh one otherwise.
    let echoed = hub.raw(
        "GET",
        "/health",
        None,
        None,
        &[("X-Request-Id", "trace-42")],
    );
    assert_eq!(echoed.header("x-request-id"), Some("trace-42"));
    let fresh = hub.raw(
        "GET",
        "/health",
        None,
        None,
        &[("X-Request-Id", "bad id with spaces")],
    );
    assert_ne!(fresh.header("x-request-id"), Some("bad id with spaces"));
}

fn an_allowed_origin_gets_cors_headers(backend: Backend) {
    let config = "[http]\ncors_allowed_origins = [\"https://console.example.com\"]\n";
    let Some(hub) = TestHub::start(backend, config) else {
        return;
    };
    let preflight = hub.raw(
        "OPTIONS",
        "/api/v1/me",
        None,
        None,
        &[("Origin", "https://console.example.com")],
    );
    assert_eq!(preflight.status, 204);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("https://console.example.com")
    );
    let other = hub.raw(
        "OPTIONS",
        "/api/v1/me",
        None,
        None,
        &[("Origin", "https://console.example.com.evil")],
    );
    assert!(other.header("access-control-allow-origin").is_none());
}

on_both!(
    forged_expired_and_foreign_tokens_are_refused_and_audited,
    guessing_another_tenants_ids_finds_nothing,
    sql_metacharacters_are_stored_literally_and_break_nothing,
    malformed_and_oversized_bodies_get_clear_errors,
    brute_force_login_locks_the_account_with_backoff,
    per_ip_and_per_token_rate_limits_answer_429_with_retry_after,
    operations_endpoints_describe_the_hub_and_cors_stays_closed,
    an_allowed_origin_gets_cors_headers,
);

#[test]
fn bad_query_parameters_get_the_json_error_shape() {
    let Some(hub) = TestHub::start(Backend::Sqlite, "") else {
        return;
    };
    hub.tenant("acme", Plan::Free);
    let token = hub.owner_token("acme");
    let auditor = hub.call(
        "POST",
        "/api/v1/members",
        Some(&token),
        Some(&json!({ "email": "au@acme.test", "display_name": "Au", "role": "auditor", "password": "auditor pass 1" })),
    );
    assert_eq!(auditor.status, 201);
    for query in ["index=abc", "index=-1", "size=1", "index=1&bogus=2"] {
        let answer = hub.call(
            "GET",
            &format!("/api/v1/audit/proof/inclusion?{query}"),
            Some(&token),
            None,
        );
        answer.refused(400, "bad_request");
    }
}
