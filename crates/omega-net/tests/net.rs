//! Two or more real nodes on 127.0.0.1. No sleeps: every wait is on an event, with a timeout.

mod common;

use std::time::{Duration, Instant};

use libp2p::{Multiaddr, PeerId};
use omega_net::{Config, NetEvent, Protocol, RequestError};

use crate::common::{
    Answer, WAIT, address_of, loopback, node, node_with, serve, tagged_echo, wait_for,
};

#[tokio::test]
async fn two_nodes_exchange_a_request_and_response_on_each_protocol() {
    let (a, _a_events) = node().await;
    let (b, b_events) = node_with(|config| config.protocols = Protocol::ALL.to_vec()).await;
    let _b_events = serve(b_events, tagged_echo);
    let (b_id, b_addrs) = address_of(&b).await;
    assert!(!b_addrs.is_empty());

    let msg = a
        .request(Protocol::Msg, b_id, b_addrs.clone(), b"hello".to_vec())
        .await
        .unwrap();
    assert_eq!(msg, b"/omega/msg/1hello");
    let keys = a
        .request(Protocol::Keys, b_id, b_addrs.clone(), b"bundle?".to_vec())
        .await
        .unwrap();
    assert_eq!(keys, b"/omega/keys/1bundle?");
    let mailbox = a
        .request(Protocol::Mailbox, b_id, b_addrs, b"fetch".to_vec())
        .await
        .unwrap();
    assert_eq!(mailbox, b"/omega/mailbox/1fetch");
}

#[tokio::test]
async fn inbound_request_carries_protocol_peer_and_body() {
    let (a, _a_events) = node().await;
    let (b, mut b_events) = node().await;
    let (b_id, b_addrs) = address_of(&b).await;
    let request = tokio::spawn({
        let a = a.clone();
        async move {
            a.request(Protocol::Keys, b_id, b_addrs, vec![1, 2, 3])
                .await
        }
    });
    let (protocol, peer, body, responder) = wait_for(&mut b_events, |event| match event {
        NetEvent::Request {
            protocol,
            peer,
            body,
            responder,
        } => Some((protocol, peer, body, responder)),
        _ => None,
    })
    .await;
    assert_eq!(protocol, Protocol::Keys);
    assert_eq!(peer, a.local_peer_id());
    assert_eq!(body, vec![1, 2, 3]);
    assert!(responder.is_waiting());
    responder.respond(vec![4]);
    assert_eq!(request.await.unwrap().unwrap(), vec![4]);
}

#[tokio::test]
async fn two_hundred_sequential_requests_are_all_answered() {
    let (a, _a_events) = node().await;
    let (b, b_events) = node().await;
    let _b_events = serve(b_events, |_, mut body| {
        body.reverse();
        Answer::Respond(body)
    });
    let (b_id, b_addrs) = address_of(&b).await;
    for i in 0u32..200 {
        let protocol = if i % 2 == 0 {
            Protocol::Msg
        } else {
            Protocol::Keys
        };
        let mut body = i.to_be_bytes().to_vec();
        body.resize(4 + (i as usize * 37) % 2000, i as u8);
        let response = a
            .request(protocol, b_id, b_addrs.clone(), body.clone())
            .await
            .unwrap();
        body.reverse();
        assert_eq!(response, body, "request {i}");
    }
}

#[tokio::test]
async fn fifty_concurrent_requests_are_all_answered() {
    let (a, _a_events) = node().await;
    let (b, b_events) = node().await;
    let _b_events = serve(b_events, tagged_echo);
    let (b_id, b_addrs) = address_of(&b).await;
    let requests = (0u32..50).map(|i| {
        let (a, b_addrs) = (a.clone(), b_addrs.clone());
        async move {
            let body = i.to_be_bytes().to_vec();
            let response = a.request(Protocol::Msg, b_id, b_addrs, body.clone()).await;
            (body, response)
        }
    });
    for (body, response) in futures::future::join_all(requests).await {
        let mut expected = b"/omega/msg/1".to_vec();
        expected.extend_from_slice(&body);
        assert_eq!(response.unwrap(), expected);
    }
}

#[tokio::test]
async fn response_over_the_requester_limit_gives_too_large_and_both_nodes_survive() {
    let (a, _a_events) = node_with(|config| config.max_response_bytes = 1024).await;
    let (b, b_events) = node().await;
    let _b_events = serve(b_events, |_, body| {
        if body == b"big" {
            Answer::Respond(vec![7; 4096])
        } else {
            Answer::Respond(body)
        }
    });
    let (b_id, b_addrs) = address_of(&b).await;

    let error = a
        .request(Protocol::Msg, b_id, b_addrs.clone(), b"big".to_vec())
        .await
        .unwrap_err();
    assert_eq!(
        error,
        RequestError::TooLarge {
            got: 4096,
            limit: 1024
        }
    );
    let small = a
        .request(Protocol::Msg, b_id, b_addrs, b"small".to_vec())
        .await
        .unwrap();
    assert_eq!(small, b"small");
}

#[tokio::test]
async fn response_over_the_responder_limit_is_not_sent() {
    let (a, _a_events) = node_with(|config| config.max_response_bytes = 1 << 20).await;
    let (b, b_events) = node_with(|config| config.max_response_bytes = 1024).await;
    let _b_events = serve(b_events, |_, _| Answer::Respond(vec![7; 4096]));
    let (b_id, b_addrs) = address_of(&b).await;

    let error = a
        .request(Protocol::Msg, b_id, b_addrs, b"big please".to_vec())
        .await
        .unwrap_err();
    assert_eq!(error, RequestError::NoResponse);
}

#[tokio::test]
async fn request_over_the_local_limit_is_refused_before_sending() {
    let (a, _a_events) = node().await;
    let limit = Config::DEFAULT_MAX_REQUEST_BYTES;
    let error = a
        .request(
            Protocol::Msg,
            PeerId::random(),
            vec![loopback()],
            vec![0; limit + 1],
        )
        .await
        .unwrap_err();
    assert_eq!(
        error,
        RequestError::TooLarge {
            got: limit + 1,
            limit
        }
    );
}

#[tokio::test]
async fn request_over_the_remote_limit_fails_and_both_nodes_survive() {
    let (a, _a_events) = node_with(|config| config.max_request_bytes = 1 << 20).await;
    let (b, mut b_events) = node_with(|config| config.max_request_bytes = 1024).await;
    let (b_id, b_addrs) = address_of(&b).await;

    let error = a
        .request(Protocol::Msg, b_id, b_addrs.clone(), vec![1; 300_000])
        .await;
    assert!(error.is_err(), "oversized request was answered: {error:?}");

    // b never saw the oversized request, and both still work.
    let small = tokio::spawn({
        let (a, b_addrs) = (a.clone(), b_addrs.clone());
        async move {
            a.request(Protocol::Msg, b_id, b_addrs, b"small".to_vec())
                .await
        }
    });
    let body = wait_for(&mut b_events, |event| match event {
        NetEvent::Request {
            body, responder, ..
        } => {
            let seen = body.clone();
            responder.respond(body);
            Some(seen)
        }
        _ => None,
    })
    .await;
    assert_eq!(body, b"small");
    assert_eq!(small.await.unwrap().unwrap(), b"small");
}

#[tokio::test]
async fn request_to_a_dead_address_fails_quickly_with_dial_failure() {
    let (a, _a_events) = node_with(|config| config.request_timeout = Duration::from_secs(30)).await;
    let dead_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let dead: Multiaddr = format!("/ip4/127.0.0.1/tcp/{dead_port}").parse().unwrap();

    let started = Instant::now();
    let error = a
        .request(Protocol::Msg, PeerId::random(), vec![dead], b"hi".to_vec())
        .await
        .unwrap_err();
    assert!(
        matches!(error, RequestError::DialFailure { .. }),
        "expected a dial failure, got {error:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn request_without_any_known_address_fails_with_no_addresses() {
    let (a, _a_events) = node().await;
    let peer = PeerId::random();
    let error = a
        .request(Protocol::Msg, peer, Vec::new(), b"hi".to_vec())
        .await
        .unwrap_err();
    assert_eq!(error, RequestError::NoAddresses);
    assert_eq!(
        a.dial(peer, Vec::new()).await,
        Err(RequestError::NoAddresses)
    );
}

#[tokio::test]
async fn addresses_given_once_are_remembered_for_the_peer() {
    // Without GossipSub: its long-lived stream would keep the connection open.
    let (a, _a_events) = node_with(|config| {
        config.idle_connection_timeout = Duration::ZERO;
        config.gossip = false;
    })
    .await;
    let (b, b_events) = node_with(|config| config.gossip = false).await;
    let mut b_events = serve(b_events, tagged_echo);
    let (b_id, b_addrs) = address_of(&b).await;
    a.request(Protocol::Msg, b_id, b_addrs, b"first".to_vec())
        .await
        .unwrap();
    // With no idle timeout the connection closes once the exchange is done.
    wait_for(&mut b_events, |event| match event {
        NetEvent::Disconnected { peer } if peer == a.local_peer_id() => Some(()),
        _ => None,
    })
    .await;
    let second = a
        .request(Protocol::Msg, b_id, Vec::new(), b"second".to_vec())
        .await
        .unwrap();
    assert_eq!(second, b"/omega/msg/1second");
}

#[tokio::test]
async fn dropped_responder_gives_an_error_to_the_requester() {
    let (a, _a_events) = node().await;
    let (b, b_events) = node().await;
    let _b_events = serve(b_events, |_, _| Answer::Drop);
    let (b_id, b_addrs) = address_of(&b).await;
    let error = a
        .request(Protocol::Msg, b_id, b_addrs, b"anyone?".to_vec())
        .await
        .unwrap_err();
    assert_eq!(error, RequestError::NoResponse);
}

#[tokio::test]
async fn unanswered_request_times_out() {
    let timeout = Duration::from_millis(500);
    let (a, _a_events) = node_with(|config| config.request_timeout = timeout).await;
    let (b, b_events) = node_with(|config| config.request_timeout = Duration::from_secs(30)).await;
    let _b_events = serve(b_events, |_, _| Answer::Hold);
    let (b_id, b_addrs) = address_of(&b).await;
    let started = Instant::now();
    let error = a
        .request(Protocol::Msg, b_id, b_addrs, b"hello?".to_vec())
        .await
        .unwrap_err();
    assert_eq!(error, RequestError::Timeout);
    assert!(started.elapsed() >= timeout);
}

#[tokio::test]
async fn connected_event_fires_on_both_sides() {
    let (a, mut a_events) = node().await;
    let (b, mut b_events) = node().await;
    let (b_id, b_addrs) = address_of(&b).await;
    let a_id = a.local_peer_id();
    assert!(!a.is_connected(b_id).await);

    a.dial(b_id, b_addrs).await.unwrap();
    wait_for(&mut a_events, |event| match event {
        NetEvent::Connected { peer } if peer == b_id => Some(()),
        _ => None,
    })
    .await;
    wait_for(&mut b_events, |event| match event {
        NetEvent::Connected { peer } if peer == a_id => Some(()),
        _ => None,
    })
    .await;
    assert!(a.is_connected(b_id).await);
    assert!(b.is_connected(a_id).await);
    // Dialing a connected peer is a no-op.
    a.dial(b_id, Vec::new()).await.unwrap();
}

#[tokio::test]
async fn peer_listen_addrs_arrive_after_connecting() {
    let (a, mut a_events) = node().await;
    let (b, mut b_events) = node().await;
    let (a_id, a_addrs) = address_of(&a).await;
    let (b_id, b_addrs) = address_of(&b).await;

    a.dial(b_id, b_addrs.clone()).await.unwrap();
    let told_a = wait_for(&mut a_events, |event| match event {
        NetEvent::PeerListenAddrs { peer, addrs } if peer == b_id => Some(addrs),
        _ => None,
    })
    .await;
    assert!(
        b_addrs.iter().all(|addr| told_a.contains(addr)),
        "{b_addrs:?} not all in {told_a:?}"
    );
    let told_b = wait_for(&mut b_events, |event| match event {
        NetEvent::PeerListenAddrs { peer, addrs } if peer == a_id => Some(addrs),
        _ => None,
    })
    .await;
    assert!(
        a_addrs.iter().all(|addr| told_b.contains(addr)),
        "{a_addrs:?} not all in {told_b:?}"
    );
}

#[tokio::test]
async fn listen_addrs_are_concrete_and_reported_as_events() {
    let (a, mut a_events) = node().await;
    let addrs = a.listen_addrs().await;
    assert_eq!(addrs.len(), 1);
    let addr = addrs[0].to_string();
    assert!(addr.starts_with("/ip4/127.0.0.1/tcp/"), "{addr}");
    assert!(
        !addr.ends_with("/tcp/0") && !addr.contains("/p2p/"),
        "{addr}"
    );
    let reported = wait_for(&mut a_events, |event| match event {
        NetEvent::NewListenAddr { addr } => Some(addr),
        _ => None,
    })
    .await;
    assert_eq!(reported, addrs[0]);
}

#[tokio::test]
async fn shutdown_stops_the_node_and_the_peer_sees_disconnected() {
    let (a, a_events) = node().await;
    let (b, mut b_events) = node().await;
    let mut a_events = serve(a_events, tagged_echo);
    let (a_id, a_addrs) = address_of(&a).await;
    let (b_id, b_addrs) = address_of(&b).await;

    // Connected by a request from b to a.
    let b_serving = tokio::spawn({
        let b = b.clone();
        async move {
            b.request(Protocol::Msg, a_id, a_addrs, b"hi".to_vec())
                .await
        }
    });
    assert_eq!(b_serving.await.unwrap().unwrap(), b"/omega/msg/1hi");
    wait_for(&mut a_events, |event| match event {
        NetEvent::Connected { peer } if peer == b_id => Some(()),
        _ => None,
    })
    .await;

    b.shutdown().await;
    wait_for(&mut a_events, |event| match event {
        NetEvent::Disconnected { peer } if peer == b_id => Some(()),
        _ => None,
    })
    .await;
    assert_eq!(
        b.request(Protocol::Msg, a_id, Vec::new(), b"x".to_vec())
            .await,
        Err(RequestError::Shutdown)
    );
    assert_eq!(b.dial(a_id, Vec::new()).await, Err(RequestError::Shutdown));
    assert!(!b.is_connected(a_id).await);
    assert!(b.listen_addrs().await.is_empty());
    b.shutdown().await; // idempotent

    // b's event stream ends, and a cannot reach b any more.
    tokio::time::timeout(WAIT, async { while b_events.recv().await.is_some() {} })
        .await
        .expect("b's event channel did not close");
    let error = a
        .request(Protocol::Msg, b_id, b_addrs, b"still there?".to_vec())
        .await
        .unwrap_err();
    assert!(
        matches!(error, RequestError::DialFailure { .. }),
        "expected a dial failure, got {error:?}"
    );
}

#[tokio::test]
async fn a_caller_that_stops_reading_events_does_not_stall_the_node() {
    let timeout = Duration::from_millis(300);
    let (a, a_events) = node_with(|config| config.request_timeout = timeout).await;
    let _a_events = serve(a_events, tagged_echo);
    // b's events are never read: its channel and backlog fill up.
    let (b, _b_events_unread) = node_with(|config| config.request_timeout = timeout).await;
    let (a_id, a_addrs) = address_of(&a).await;
    let (b_id, b_addrs) = address_of(&b).await;

    let mut no_response = 0;
    for batch in 0..12 {
        let requests = (0..50).map(|i| {
            let (a, b_addrs) = (a.clone(), b_addrs.clone());
            async move {
                let body = vec![batch, i];
                a.request(Protocol::Msg, b_id, b_addrs, body).await
            }
        });
        for result in futures::future::join_all(requests).await {
            match result {
                Err(RequestError::NoResponse) => no_response += 1,
                Err(RequestError::Timeout) => {}
                other => panic!("unexpected result {other:?}"),
            }
        }
    }
    // 600 requests, at most 512 queued for the caller: the rest were refused at once.
    assert!(no_response >= 600 - 512, "only {no_response} refused");
    // b still answers its handle and still talks to a.
    assert!(b.is_connected(a_id).await);
    let answer = b
        .request(Protocol::Keys, a_id, a_addrs, b"ok?".to_vec())
        .await
        .unwrap();
    assert_eq!(answer, b"/omega/keys/1ok?");
}
