//! mDNS discovery between two real nodes in this process, over the host's LAN interface.
//!
//! libp2p-mdns ignores loopback interfaces, so this needs an up, multicast-capable interface
//! with an IPv4 address; the test is skipped (saying why) when multicast has no route off the
//! loopback. Both nodes join 224.0.0.251 on that interface and hear each other through
//! multicast loopback (`IP_MULTICAST_LOOP`, which libp2p-mdns turns on).

mod common;

use std::net::{Ipv4Addr, UdpSocket};

use libp2p::{Multiaddr, multiaddr::Protocol as AddrProtocol};
use omega_net::{NetEvent, Protocol};

use crate::common::{address_of, node_with, serve, tagged_echo, wait_for};

/// The IPv4 address multicast leaves from, or why there is none worth testing on.
fn multicast_source() -> Result<Ipv4Addr, String> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).map_err(|error| error.to_string())?;
    socket
        .connect((Ipv4Addr::new(224, 0, 0, 251), 5353))
        .map_err(|error| format!("no multicast route: {error}"))?;
    match socket.local_addr().map_err(|error| error.to_string())?.ip() {
        std::net::IpAddr::V4(ip) if !ip.is_loopback() && !ip.is_unspecified() => Ok(ip),
        other => Err(format!(
            "multicast would leave from {other}, which mDNS ignores"
        )),
    }
}

fn any_interface() -> Multiaddr {
    "/ip4/0.0.0.0/tcp/0".parse().unwrap()
}

fn ip_of(addr: &Multiaddr) -> Option<Ipv4Addr> {
    match addr.iter().next() {
        Some(AddrProtocol::Ip4(ip)) => Some(ip),
        _ => None,
    }
}

#[tokio::test]
async fn two_nodes_find_each_other_and_talk_without_being_given_addresses() {
    let lan_ip = match multicast_source() {
        Ok(ip) => ip,
        Err(why) => {
            eprintln!("skipping mDNS test: {why}");
            return;
        }
    };
    let mdns_node = |config: &mut omega_net::Config| {
        config.mdns = true;
        config.listen = vec![any_interface()];
    };
    let (a, mut a_events) = node_with(mdns_node).await;
    let (b, b_events) = node_with(mdns_node).await;
    let (a_id, b_id) = (a.local_peer_id(), b.local_peer_id());
    let (_, b_listen) = address_of(&b).await;
    assert!(
        b_listen.iter().any(|addr| ip_of(addr) == Some(lan_ip)),
        "{b_listen:?}"
    );
    let mut b_events = serve(b_events, tagged_echo);

    // Other processes on this host may run mDNS too: only these two peers count.
    let found_by_a = wait_for(&mut a_events, |event| match event {
        NetEvent::Discovered { peer, addrs } if peer == b_id => Some(addrs),
        _ => None,
    })
    .await;
    let found_by_b = wait_for(&mut b_events, |event| match event {
        NetEvent::Discovered { peer, addrs } if peer == a_id => Some(addrs),
        _ => None,
    })
    .await;
    // Only addresses on LAN interfaces are advertised, never loopback ones.
    for addrs in [&found_by_a, &found_by_b] {
        assert!(!addrs.is_empty());
        assert!(
            addrs
                .iter()
                .all(|addr| ip_of(addr).is_some_and(|ip| !ip.is_loopback())),
            "{addrs:?}"
        );
    }
    assert!(
        found_by_a.iter().all(|addr| b_listen.contains(addr)),
        "{found_by_a:?}"
    );

    // The discovered addresses are remembered: a request with none given reaches b.
    assert!(!a.is_connected(b_id).await);
    let answer = a
        .request(Protocol::Msg, b_id, Vec::new(), b"found you".to_vec())
        .await
        .unwrap();
    assert_eq!(answer, b"/omega/msg/1found you");
}
