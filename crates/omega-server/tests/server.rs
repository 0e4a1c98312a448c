//! A real `Server` on 127.0.0.1: libp2p clients (raw `omega_net` nodes speaking
//! `/omega/mailbox/1`) deposit and fetch, and the HTTP port serves `/health`, `/metrics` and the
//! mailbox over `POST /v1/mailbox`. SQLite on a temp file.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use libp2p::identity::Keypair;
use omega_net::{NetHandle, Protocol};
use omega_proto::v1;
use omega_server::{Server, ServerConfig, StartError};
use omega_store::server::SqliteServerStore;

use crate::common::{
    Answer, ManualClock, TestUser, answer, authenticate_op, challenge_op, challenged, deposit_op,
    deposited, encode, fetch_op, message_id, page, publish_op, published, refused, session,
    sqlite_store,
};

/// Longest wait for any one network exchange.
const PATIENCE: Duration = Duration::from_secs(20);

async fn start_server() -> (tempfile::TempDir, Server<SqliteServerStore>) {
    start_server_with(|_| {}).await
}

async fn start_server_with(
    configure: impl FnOnce(&mut ServerConfig),
) -> (tempfile::TempDir, Server<SqliteServerStore>) {
    let (dir, store) = sqlite_store().await;
    let mut config = ServerConfig::new(
        Keypair::generate_ed25519(),
        vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
    );
    config.http = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    configure(&mut config);
    let server = Server::start(config, store)
        .await
        .expect("the server starts");
    assert!(!server.listen_addrs().is_empty());
    (dir, server)
}

/// A dial-only libp2p node that answers nothing (it only sends on `/omega/mailbox/1`).
async fn client() -> NetHandle {
    let mut config = omega_net::Config::new(Keypair::generate_ed25519());
    config.protocols = vec![];
    let (net, mut events) = omega_net::start(config).await.expect("the client starts");
    // Keep the bounded event queue drained; the client has nothing to answer.
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    net
}

async fn over_libp2p(
    net: &NetHandle,
    server: &Server<SqliteServerStore>,
    op: v1::mailbox_request::Op,
) -> Answer {
    let request = net.request(
        Protocol::Mailbox,
        server.peer_id(),
        server.listen_addrs().to_vec(),
        encode(op),
    );
    let response = tokio::time::timeout(PATIENCE, request)
        .await
        .expect("the server answers in time")
        .expect("the request succeeds");
    answer(&response)
}

fn url(server: &Server<SqliteServerStore>, path: &str) -> String {
    format!("http://{}{path}", server.http_addr().expect("an HTTP port"))
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(PATIENCE))
        .build()
        .into()
}

/// `GET url`: status, content type and body.
async fn http_get(url: String) -> (u16, String, String) {
    tokio::task::spawn_blocking(move || {
        let mut response = agent().get(&url).call().expect("GET answered");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response.body_mut().read_to_string().expect("a text body");
        (response.status().as_u16(), content_type, body)
    })
    .await
    .unwrap()
}

/// `POST url` with a protobuf body: status, content type and body.
async fn http_post(url: String, body: Vec<u8>) -> (u16, String, Vec<u8>) {
    tokio::task::spawn_blocking(move || {
        let mut response = agent()
            .post(&url)
            .header("content-type", "application/x-protobuf")
            .send(&body[..])
            .expect("POST answered");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response.body_mut().read_to_vec().expect("a body");
        (response.status().as_u16(), content_type, body)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn an_envelope_deposited_over_libp2p_is_fetched_by_its_device_over_libp2p() {
    let (_dir, server) = start_server().await;
    let bob = TestUser::with_devices(1);
    let alice_node = client().await;
    let bob_node = client().await;

    let receipt = deposited(
        over_libp2p(
            &alice_node,
            &server,
            deposit_op(&bob.mailbox_of(0), &message_id(1), b"sealed for bob"),
        )
        .await,
    )
    .unwrap();
    assert!(!receipt.duplicate);

    // Bob's device publishes its list, answers a challenge signed for this server's peer id, and
    // fetches.
    let version =
        published(over_libp2p(&bob_node, &server, publish_op(bob.signed_list(1, &[0]))).await);
    assert_eq!(version.unwrap(), 1);
    let nonce = challenged(over_libp2p(&bob_node, &server, challenge_op()).await)
        .unwrap()
        .nonce;
    let device = &bob.devices[0];
    let server_peer_id = server.peer_id().to_bytes();
    let auth = authenticate_op(
        &server_peer_id,
        &nonce,
        &bob.key(),
        device.ed25519(),
        device,
    );
    let session = session(over_libp2p(&bob_node, &server, auth).await).unwrap();
    assert_eq!(session.recipient_hash, bob.mailbox_of(0));

    let page =
        page(over_libp2p(&bob_node, &server, fetch_op(&session.token, 0, 100)).await).unwrap();
    assert_eq!(page.envelopes.len(), 1);
    assert_eq!(page.envelopes[0].message_id, message_id(1));
    assert_eq!(page.envelopes[0].envelope, b"sealed for bob");
    assert!(!page.more);

    alice_node.shutdown().await;
    bob_node.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_challenge_signed_for_another_server_does_not_open_the_mailbox() {
    let (_dir, server) = start_server().await;
    let bob = TestUser::with_devices(1);
    let bob_node = client().await;
    published(over_libp2p(&bob_node, &server, publish_op(bob.signed_list(1, &[0]))).await).unwrap();
    let nonce = challenged(over_libp2p(&bob_node, &server, challenge_op()).await)
        .unwrap()
        .nonce;
    let device = &bob.devices[0];
    let other_server = Keypair::generate_ed25519().public().to_peer_id().to_bytes();
    let auth = authenticate_op(&other_server, &nonce, &bob.key(), device.ed25519(), device);
    refused(
        session(over_libp2p(&bob_node, &server, auth).await),
        "unauthorized",
    );
    bob_node.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn health_answers_ok_with_the_mailbox_depth() {
    let (_dir, server) = start_server().await;
    let (status, content_type, body) = http_get(url(&server, "/health")).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["ok"], true, "{body}");
    assert_eq!(health["store"]["ok"], true, "{body}");
    assert_eq!(health["store"]["depth"], 0, "{body}");

    let bob = TestUser::with_devices(1);
    let alice_node = client().await;
    for n in 0..2 {
        let op = deposit_op(&bob.mailbox_of(0), &message_id(n), b"x");
        deposited(over_libp2p(&alice_node, &server, op).await).unwrap();
    }
    let (_, _, body) = http_get(url(&server, "/health")).await;
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["store"]["depth"], 2, "{body}");
    alice_node.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn metrics_count_a_deposit_in_prometheus_text() {
    let (_dir, server) = start_server().await;
    let bob = TestUser::with_devices(1);
    let alice_node = client().await;
    let op = deposit_op(&bob.mailbox_of(0), &message_id(1), b"x");
    deposited(over_libp2p(&alice_node, &server, op).await).unwrap();

    let (status, content_type, body) = http_get(url(&server, "/metrics")).await;
    assert_eq!(status, 200, "{body}");
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    assert!(
        body.contains("\nomega_mailbox_deposits_total 1\n"),
        "{body}"
    );
    assert!(
        body.contains("# TYPE omega_mailbox_deposits_total counter\n"),
        "{body}"
    );
    assert!(body.contains("\nomega_mailbox_depth 1\n"), "{body}");
    alice_node.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn http_mailbox_accepts_a_protobuf_deposit() {
    let (_dir, server) = start_server().await;
    let bob = TestUser::with_devices(1);
    let body = encode(deposit_op(&bob.mailbox_of(0), &message_id(7), b"over http"));

    let (status, content_type, response) =
        http_post(url(&server, "/v1/mailbox"), body.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "application/x-protobuf");
    let receipt = deposited(answer(&response)).unwrap();
    assert_eq!(receipt.message_id, message_id(7));
    assert!(!receipt.duplicate);

    let (_, _, response) = http_post(url(&server, "/v1/mailbox"), body).await;
    assert!(
        deposited(answer(&response)).unwrap().duplicate,
        "a retry is idempotent"
    );

    use omega_store::server::ServerStore;
    let stored = server
        .service()
        .store()
        .fetch(&bob.mailbox_of(0), 0, 10, 1 << 20)
        .await
        .unwrap();
    assert_eq!(stored.envelopes.len(), 1);
    assert_eq!(stored.envelopes[0].envelope, b"over http");
    server.shutdown().await;
}

#[tokio::test]
async fn http_mailbox_answers_garbage_with_a_protobuf_bad_request() {
    let (_dir, server) = start_server().await;
    let (status, content_type, response) =
        http_post(url(&server, "/v1/mailbox"), vec![0xff; 32]).await;
    assert_eq!(status, 200, "the refusal travels in the protobuf answer");
    assert_eq!(content_type, "application/x-protobuf");
    let refusal = refused(answer(&response), "bad_request");
    assert!(!refusal.message.is_empty());
    assert_eq!(server.metrics().refusals_of("bad_request"), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn purge_removes_expired_envelopes_keeps_the_others_and_counts_them_in_metrics() {
    // The server's clock never reaches the first expiry (10 s), so its own purge task removes
    // nothing, whenever it ticks; `purge_now` is given the time explicitly.
    let clock = ManualClock::at(0);
    let (_dir, server) = start_server_with(|config| {
        config.limits.ttl_ms = 10_000;
        config.clock = clock.clone();
    })
    .await;
    let bob = TestUser::with_devices(1);
    let alice_node = client().await;
    let op = deposit_op(&bob.mailbox_of(0), &message_id(1), b"old");
    deposited(over_libp2p(&alice_node, &server, op).await).unwrap();
    clock.set(5_000);
    let op = deposit_op(&bob.mailbox_of(0), &message_id(2), b"new");
    deposited(over_libp2p(&alice_node, &server, op).await).unwrap();

    assert_eq!(server.purge_now(12_000).await.unwrap(), 1);
    assert_eq!(server.metrics().expired_total(), 1);

    let (_, _, body) = http_get(url(&server, "/metrics")).await;
    assert!(body.contains("\nomega_mailbox_expired_total 1\n"), "{body}");
    assert!(body.contains("\nomega_mailbox_depth 1\n"), "{body}");

    let bob_node = client().await;
    published(over_libp2p(&bob_node, &server, publish_op(bob.signed_list(1, &[0]))).await).unwrap();
    let nonce = challenged(over_libp2p(&bob_node, &server, challenge_op()).await)
        .unwrap()
        .nonce;
    let device = &bob.devices[0];
    let server_peer_id = server.peer_id().to_bytes();
    let auth = authenticate_op(
        &server_peer_id,
        &nonce,
        &bob.key(),
        device.ed25519(),
        device,
    );
    let session = session(over_libp2p(&bob_node, &server, auth).await).unwrap();
    let page =
        page(over_libp2p(&bob_node, &server, fetch_op(&session.token, 0, 100)).await).unwrap();
    let ids: Vec<_> = page
        .envelopes
        .iter()
        .map(|s| s.message_id.clone())
        .collect();
    assert_eq!(
        ids,
        [message_id(2)],
        "the unexpired envelope is still fetchable"
    );

    alice_node.shutdown().await;
    bob_node.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_busy_http_port_fails_the_start_and_names_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap();
    let (_dir, store) = sqlite_store().await;
    let mut config = ServerConfig::new(
        Keypair::generate_ed25519(),
        vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
    );
    config.http = Some(busy);
    match Server::start(config, store).await {
        Err(error @ StartError::Http { addr, .. }) => {
            assert_eq!(addr, busy);
            assert!(error.to_string().contains(&busy.to_string()), "{error}");
        }
        Err(other) => panic!("expected an HTTP start error, got {other}"),
        Ok(_) => panic!("started on a busy port"),
    }
}
