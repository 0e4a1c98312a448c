//! Who answers which protocol, per-protocol response limits, and remembered addresses. Real
//! nodes on 127.0.0.1; every wait is on an event, with a timeout.

mod common;

use omega_net::{Config, NetEvent, Protocol, RequestError};

use crate::common::{Answer, address_of, node, node_with, serve, tagged_echo, wait_for};

const TWO_MIB: usize = 2 * 1024 * 1024;

#[tokio::test]
async fn a_node_that_answers_mailbox_serves_a_device_that_sends_it() {
    let (device, _device_events) = node().await;
    let (server, mut server_events) =
        node_with(|config| config.protocols = vec![Protocol::Mailbox]).await;
    let (server_id, server_addrs) = address_of(&server).await;

    let request = tokio::spawn({
        let device = device.clone();
        async move {
            device
                .request(
                    Protocol::Mailbox,
                    server_id,
                    server_addrs,
                    b"deposit".to_vec(),
                )
                .await
        }
    });
    let (protocol, peer, body, responder) = wait_for(&mut server_events, |event| match event {
        NetEvent::Request {
            protocol,
            peer,
            body,
            responder,
        } => Some((protocol, peer, body, responder)),
        _ => None,
    })
    .await;
    assert_eq!(protocol, Protocol::Mailbox);
    assert_eq!(peer, device.local_peer_id());
    assert_eq!(body, b"deposit");
    responder.respond(b"stored".to_vec());
    assert_eq!(request.await.unwrap().unwrap(), b"stored");
}

#[tokio::test]
async fn a_device_refuses_mailbox_requests_with_unsupported_protocol() {
    let (server, _server_events) =
        node_with(|config| config.protocols = vec![Protocol::Mailbox]).await;
    let (device, device_events) = node().await;
    let _device_events = serve(device_events, tagged_echo);
    let (device_id, device_addrs) = address_of(&device).await;

    let error = server
        .request(
            Protocol::Mailbox,
            device_id,
            device_addrs.clone(),
            b"x".to_vec(),
        )
        .await
        .unwrap_err();
    assert_eq!(error, RequestError::UnsupportedProtocol);
    // The connection is fine and the device still answers what it serves.
    let answer = server
        .request(Protocol::Msg, device_id, device_addrs, b"hi".to_vec())
        .await
        .unwrap();
    assert_eq!(answer, b"/omega/msg/1hi");
}

#[tokio::test]
async fn a_server_only_node_refuses_msg_and_keys_with_unsupported_protocol() {
    let (device, _device_events) = node().await;
    let (server, server_events) =
        node_with(|config| config.protocols = vec![Protocol::Mailbox]).await;
    // A Msg or Keys request reaching the server's caller would be answered and fail the test.
    let _server_events = serve(server_events, tagged_echo);
    let (server_id, server_addrs) = address_of(&server).await;

    for protocol in [Protocol::Msg, Protocol::Keys] {
        let error = device
            .request(protocol, server_id, server_addrs.clone(), b"x".to_vec())
            .await
            .unwrap_err();
        assert_eq!(error, RequestError::UnsupportedProtocol, "{protocol}");
    }
    let answer = device
        .request(Protocol::Mailbox, server_id, server_addrs, b"ok".to_vec())
        .await
        .unwrap();
    assert_eq!(answer, b"/omega/mailbox/1ok");
}

#[tokio::test]
async fn a_node_answering_nothing_still_sends_on_every_protocol() {
    let (quiet, _quiet_events) = node_with(|config| config.protocols = Vec::new()).await;
    let (both, both_events) = node_with(|config| config.protocols = Protocol::ALL.to_vec()).await;
    let _both_events = serve(both_events, tagged_echo);
    let (both_id, both_addrs) = address_of(&both).await;
    let (quiet_id, quiet_addrs) = address_of(&quiet).await;

    for protocol in Protocol::ALL {
        let answer = quiet
            .request(protocol, both_id, both_addrs.clone(), b"!".to_vec())
            .await
            .unwrap();
        assert_eq!(answer, format!("{protocol}!").into_bytes());
        let error = both
            .request(protocol, quiet_id, quiet_addrs.clone(), b"?".to_vec())
            .await
            .unwrap_err();
        assert_eq!(error, RequestError::UnsupportedProtocol, "{protocol}");
    }
}

#[tokio::test]
async fn a_two_mib_mailbox_response_passes_but_a_two_mib_msg_response_is_refused() {
    let (device, _device_events) = node().await;
    let (server, server_events) =
        node_with(|config| config.protocols = vec![Protocol::Msg, Protocol::Mailbox]).await;
    let _server_events = serve(server_events, |_, _| Answer::Respond(vec![9; TWO_MIB]));
    let (server_id, server_addrs) = address_of(&server).await;

    let page = device
        .request(
            Protocol::Mailbox,
            server_id,
            server_addrs.clone(),
            b"fetch".to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(page.len(), TWO_MIB);
    assert!(page.iter().all(|&byte| byte == 9));

    // Over the responder's own Msg limit: never sent, the stream just closes.
    let error = device
        .request(
            Protocol::Msg,
            server_id,
            server_addrs.clone(),
            b"big".to_vec(),
        )
        .await
        .unwrap_err();
    assert_eq!(error, RequestError::NoResponse);
    // The connection survived both.
    let again = device
        .request(
            Protocol::Mailbox,
            server_id,
            server_addrs,
            b"again".to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(again.len(), TWO_MIB);
}

#[tokio::test]
async fn a_two_mib_msg_response_over_the_requester_limit_gives_too_large() {
    let (device, _device_events) = node().await;
    // This responder allows big Msg responses; the requester's default limit refuses them.
    let (peer, peer_events) = node_with(|config| config.max_response_bytes = 4 * TWO_MIB).await;
    let _peer_events = serve(peer_events, |_, _| Answer::Respond(vec![1; TWO_MIB]));
    let (peer_id, peer_addrs) = address_of(&peer).await;

    let error = device
        .request(Protocol::Msg, peer_id, peer_addrs, b"big".to_vec())
        .await
        .unwrap_err();
    assert_eq!(
        error,
        RequestError::TooLarge {
            got: TWO_MIB,
            limit: Config::DEFAULT_MAX_RESPONSE_BYTES
        }
    );
}

#[tokio::test]
async fn mailbox_response_over_its_limit_gives_too_large() {
    let (device, _device_events) =
        node_with(|config| config.mailbox_max_response_bytes = 1024).await;
    let (server, server_events) =
        node_with(|config| config.protocols = vec![Protocol::Mailbox]).await;
    let _server_events = serve(server_events, |_, _| Answer::Respond(vec![1; 4096]));
    let (server_id, server_addrs) = address_of(&server).await;

    let error = device
        .request(Protocol::Mailbox, server_id, server_addrs, b"page".to_vec())
        .await
        .unwrap_err();
    assert_eq!(
        error,
        RequestError::TooLarge {
            got: 4096,
            limit: 1024
        }
    );
}

#[test]
fn response_limits_are_per_protocol() {
    let config = Config::new(libp2p::identity::Keypair::generate_ed25519());
    assert_eq!(
        config.protocols,
        vec![Protocol::Msg, Protocol::Keys, Protocol::Link]
    );
    assert!(!config.mdns);
    assert_eq!(config.response_limit(Protocol::Msg), 64 * 1024);
    assert_eq!(config.response_limit(Protocol::Keys), 64 * 1024);
    assert_eq!(config.response_limit(Protocol::Mailbox), 8 * 1024 * 1024);
    assert_eq!(config.response_limit(Protocol::Link), 4 * 1024 * 1024);
    assert_eq!(Protocol::Mailbox.as_str(), "/omega/mailbox/1");
    assert_eq!(Protocol::Link.as_str(), "/omega/link/1");
}

#[tokio::test]
async fn addresses_added_without_dialing_are_used_by_a_later_request() {
    let (a, mut a_events) = node().await;
    let (b, b_events) = node().await;
    let _b_events = serve(b_events, tagged_echo);
    let (b_id, b_addrs) = address_of(&b).await;

    a.add_addresses(b_id, b_addrs).await.unwrap();
    assert!(!a.is_connected(b_id).await, "add_addresses must not dial");
    let answer = a
        .request(Protocol::Msg, b_id, Vec::new(), b"remembered".to_vec())
        .await
        .unwrap();
    assert_eq!(answer, b"/omega/msg/1remembered");
    wait_for(&mut a_events, |event| match event {
        NetEvent::Connected { peer } if peer == b_id => Some(()),
        _ => None,
    })
    .await;

    a.shutdown().await;
    assert_eq!(
        a.add_addresses(b_id, Vec::new()).await,
        Err(RequestError::Shutdown)
    );
}

#[tokio::test]
async fn a_blob_request_carries_a_whole_chunk_both_ways_where_other_protocols_refuse_it() {
    let (client, _client_events) = node().await;
    let (server, server_events) =
        node_with(|config| config.protocols = vec![Protocol::Blob, Protocol::Msg]).await;
    let _server_events = serve(server_events, |_, body| Answer::Respond(body));
    let (server_id, server_addrs) = address_of(&server).await;
    // The largest sealed chunk (4 MiB + tag) plus its id fits a blob request and its answer.
    let chunk = vec![7u8; 4 * 1024 * 1024 + 16 + 64];
    let echoed = client
        .request(
            Protocol::Blob,
            server_id,
            server_addrs.clone(),
            chunk.clone(),
        )
        .await
        .unwrap();
    assert_eq!(echoed, chunk);
    // The same body on another protocol is over its request limit.
    let error = client
        .request(Protocol::Msg, server_id, server_addrs.clone(), chunk)
        .await
        .unwrap_err();
    assert!(matches!(error, RequestError::TooLarge { .. }), "{error:?}");
    // And a blob body over the blob limit is refused before it leaves.
    let error = client
        .request(
            Protocol::Blob,
            server_id,
            server_addrs,
            vec![0u8; Config::BLOB_MAX_BYTES + 1],
        )
        .await
        .unwrap_err();
    assert_eq!(
        error,
        RequestError::TooLarge {
            got: Config::BLOB_MAX_BYTES + 1,
            limit: Config::BLOB_MAX_BYTES
        }
    );
}
