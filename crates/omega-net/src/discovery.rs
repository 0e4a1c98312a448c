//! Turning mDNS's per-address records into per-peer news.
//!
//! libp2p-mdns reports `(peer, address)` pairs, several per peer and several peers per event. The
//! caller wants one [`NetEvent::Discovered`](crate::NetEvent::Discovered) per peer with all its
//! new addresses, and one [`NetEvent::Expired`](crate::NetEvent::Expired) per peer once none of
//! its addresses is left. Addresses are reported like everywhere else in this crate: without
//! the `/p2p/<peer>` suffix mDNS puts on them.

use libp2p::{Multiaddr, PeerId, multiaddr::Protocol};

/// Groups `(peer, address)` pairs by peer, keeping the first-seen order of peers and of each
/// peer's addresses, without duplicate addresses and without a trailing `/p2p/<peer>`.
pub(crate) fn group_by_peer(
    pairs: impl IntoIterator<Item = (PeerId, Multiaddr)>,
) -> Vec<(PeerId, Vec<Multiaddr>)> {
    let mut grouped: Vec<(PeerId, Vec<Multiaddr>)> = Vec::new();
    for (peer, mut addr) in pairs {
        if addr.iter().last() == Some(Protocol::P2p(peer)) {
            addr.pop();
        }
        match grouped.iter_mut().find(|(known, _)| *known == peer) {
            Some((_, addrs)) => {
                if !addrs.contains(&addr) {
                    addrs.push(addr);
                }
            }
            None => grouped.push((peer, vec![addr])),
        }
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> Multiaddr {
        format!("/ip4/192.0.2.7/tcp/{port}").parse().unwrap()
    }

    #[test]
    fn pairs_are_grouped_per_peer_in_first_seen_order() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let grouped = group_by_peer([(a, addr(1)), (b, addr(2)), (a, addr(3)), (a, addr(1))]);
        assert_eq!(
            grouped,
            vec![(a, vec![addr(1), addr(3)]), (b, vec![addr(2)])]
        );
    }

    #[test]
    fn the_peers_own_p2p_suffix_is_stripped() {
        let peer = PeerId::random();
        let other = PeerId::random();
        let with_other = addr(2).with_p2p(other).unwrap();
        let grouped = group_by_peer([
            (peer, addr(1).with_p2p(peer).unwrap()),
            (peer, addr(1)),
            (peer, with_other.clone()),
        ]);
        assert_eq!(grouped, vec![(peer, vec![addr(1), with_other])]);
    }

    #[test]
    fn nothing_in_gives_nothing_out() {
        assert!(group_by_peer([]).is_empty());
    }
}
