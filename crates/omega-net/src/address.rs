//! Small facts about multiaddrs: relayed or direct, and the `/p2p/<peer>` suffix.
//!
//! A relayed address goes through a relay server:
//! `/ip4/203.0.113.7/tcp/4001/p2p/<relay>/p2p-circuit/p2p/<target>`. Everything else is direct.

use libp2p::{Multiaddr, PeerId, multiaddr::Protocol};

/// Whether `addr` goes through a relay (contains `/p2p-circuit`).
pub(crate) fn is_relayed(addr: &Multiaddr) -> bool {
    addr.iter().any(|protocol| protocol == Protocol::P2pCircuit)
}

/// Splits `addrs` into direct and relayed addresses, keeping their order.
pub(crate) fn split_relayed(addrs: Vec<Multiaddr>) -> (Vec<Multiaddr>, Vec<Multiaddr>) {
    addrs.into_iter().partition(|addr| !is_relayed(addr))
}

/// The peer a full address ends with, and the address without that `/p2p/<peer>`; `None`
/// when the address does not end in `/p2p/<peer>` or is relayed.
pub(crate) fn split_peer(addr: &Multiaddr) -> Option<(PeerId, Multiaddr)> {
    if is_relayed(addr) {
        return None;
    }
    let mut transport = addr.clone();
    match transport.pop() {
        Some(Protocol::P2p(peer)) => Some((peer, transport)),
        _ => None,
    }
}

/// `addr` without a trailing `/p2p/<peer>`.
pub(crate) fn without_peer(mut addr: Multiaddr, peer: PeerId) -> Multiaddr {
    if addr.iter().last() == Some(Protocol::P2p(peer)) {
        addr.pop();
    }
    addr
}

/// The address at which a relay client listens through `relay` reached at `relay_addr`.
pub(crate) fn circuit_listen_addr(relay: PeerId, relay_addr: &Multiaddr) -> Multiaddr {
    relay_addr
        .clone()
        .with(Protocol::P2p(relay))
        .with(Protocol::P2pCircuit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(port: u16) -> Multiaddr {
        format!("/ip4/192.0.2.7/tcp/{port}").parse().unwrap()
    }

    #[test]
    fn circuit_addresses_are_relayed_and_others_are_not() {
        let (relay, target) = (PeerId::random(), PeerId::random());
        let circuit = circuit_listen_addr(relay, &tcp(1)).with(Protocol::P2p(target));
        assert!(is_relayed(&circuit));
        assert!(!is_relayed(&tcp(1)));
        assert!(!is_relayed(&tcp(1).with(Protocol::P2p(target))));
        let (direct, relayed) = split_relayed(vec![circuit.clone(), tcp(2), tcp(3)]);
        assert_eq!(direct, vec![tcp(2), tcp(3)]);
        assert_eq!(relayed, vec![circuit]);
    }

    #[test]
    fn a_full_address_splits_into_peer_and_transport() {
        let peer = PeerId::random();
        assert_eq!(
            split_peer(&tcp(1).with(Protocol::P2p(peer))),
            Some((peer, tcp(1)))
        );
        assert_eq!(split_peer(&tcp(1)), None);
        let circuit = circuit_listen_addr(PeerId::random(), &tcp(1)).with(Protocol::P2p(peer));
        assert_eq!(split_peer(&circuit), None);
    }

    #[test]
    fn only_the_own_peer_suffix_is_removed() {
        let (own, other) = (PeerId::random(), PeerId::random());
        assert_eq!(without_peer(tcp(1).with(Protocol::P2p(own)), own), tcp(1));
        let foreign = tcp(1).with(Protocol::P2p(other));
        assert_eq!(without_peer(foreign.clone(), own), foreign);
        let circuit = circuit_listen_addr(other, &tcp(1));
        assert_eq!(
            without_peer(circuit.clone().with(Protocol::P2p(own)), own),
            circuit
        );
    }
}
