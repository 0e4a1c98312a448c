//! Being reachable and finding peers: bootstrap servers, relay reservations, the relay server,
//! DCUtR hole punching, AutoNAT and mDNS.

use libp2p::{
    Multiaddr, PeerId, autonat,
    core::transport::ListenerId,
    dcutr, mdns, relay,
    swarm::{ConnectionId, DialError, dial_opts::DialOpts},
};
use tracing::debug;

use super::Driver;
use crate::{Config, NatStatus, address, discovery, error::StartError, handle::NetEvent};

/// Checks and groups [`Config::bootstrap`]: each address must be direct and end in
/// `/p2p/<peer>`. Returns each server with its addresses (without `/p2p`), in order.
pub(super) fn parse_bootstrap(
    addrs: &[Multiaddr],
) -> Result<Vec<(PeerId, Vec<Multiaddr>)>, StartError> {
    let mut servers: Vec<(PeerId, Vec<Multiaddr>)> = Vec::new();
    for addr in addrs {
        let (peer, transport) = address::split_peer(addr)
            .ok_or_else(|| StartError::Bootstrap { addr: addr.clone() })?;
        match servers.iter_mut().find(|(known, _)| *known == peer) {
            Some((_, known)) if known.contains(&transport) => {}
            Some((_, known)) => known.push(transport),
            None => servers.push((peer, vec![transport])),
        }
    }
    Ok(servers)
}

impl Driver {
    /// Announces [`Config::external_addrs`]; a relay server without any announces its bound
    /// listen addresses, since its reservations must carry at least one address.
    pub(super) fn add_external_addrs(&mut self, config: &Config) {
        let addrs: Vec<Multiaddr> = if config.external_addrs.is_empty() && config.relay_server {
            self.swarm.listeners().cloned().collect()
        } else {
            config.external_addrs.clone()
        };
        for addr in addrs {
            debug!(%addr, "announcing external address");
            self.swarm.add_external_address(addr);
        }
    }

    /// Dials every bootstrap server that is not connected (re-adding its addresses to the
    /// routing table, which forgets addresses that failed) and renews missing reservations.
    /// `first`: also remember the addresses for ordinary dials.
    pub(super) fn join_bootstrap_servers(&mut self, first: bool) {
        for (peer, addrs) in self.bootstrap.clone() {
            if first {
                for addr in &addrs {
                    self.swarm.add_peer_address(peer, addr.clone());
                }
            }
            if self.swarm.is_connected(&peer) {
                self.reserve_on(peer);
                continue;
            }
            if let Some(kad) = self.swarm.behaviour_mut().kad_mut() {
                for addr in &addrs {
                    kad.add_address(&peer, addr.clone());
                }
            }
            match self
                .swarm
                .dial(DialOpts::peer_id(peer).addresses(addrs).build())
            {
                Ok(()) => debug!(%peer, "dialing bootstrap server"),
                Err(DialError::DialPeerConditionFalse(_)) => {}
                Err(error) => debug!(%peer, %error, "cannot dial bootstrap server"),
            }
        }
    }

    /// A connection to `peer` is up.
    pub(super) fn on_connected(&mut self, peer: PeerId) {
        self.flush_staged_dial(peer);
        self.reserve_on(peer);
    }

    /// A dial of `peer` failed (for a reason other than another dial being under way).
    pub(super) fn on_dial_failed(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        error: &DialError,
    ) {
        self.on_staged_dial_failed(peer, connection, error);
    }

    /// Makes a relay reservation on `peer` when we are a relay client, `peer` is a bootstrap
    /// server and no reservation listener is open on it yet.
    fn reserve_on(&mut self, peer: PeerId) {
        if !self.relay_client || self.relay_listeners.contains_key(&peer) {
            return;
        }
        let Some(relay_addr) = self
            .bootstrap
            .iter()
            .find(|(server, _)| *server == peer)
            .and_then(|(_, addrs)| addrs.first())
        else {
            return;
        };
        let circuit = address::circuit_listen_addr(peer, relay_addr);
        match self.swarm.listen_on(circuit.clone()) {
            Ok(listener_id) => {
                debug!(relay = %peer, %circuit, "requesting a relay reservation");
                self.relay_listeners.insert(peer, listener_id);
            }
            Err(error) => debug!(relay = %peer, %error, "cannot listen through the relay"),
        }
    }

    /// A listener closed; a relay reservation is requested again on the next connection to
    /// the relay or the next maintenance tick.
    pub(super) fn on_listener_closed(&mut self, listener_id: ListenerId) {
        self.listeners.retain(|id| *id != listener_id);
        self.relay_listeners.retain(|relay, id| {
            if *id == listener_id {
                debug!(%relay, "relay reservation ended");
            }
            *id != listener_id
        });
    }

    pub(super) fn on_relay_client(&mut self, event: relay::client::Event) {
        match event {
            relay::client::Event::ReservationReqAccepted {
                relay_peer_id,
                renewal,
                limit,
            } => debug!(relay = %relay_peer_id, renewal, ?limit, "relay reservation accepted"),
            relay::client::Event::OutboundCircuitEstablished {
                relay_peer_id,
                limit,
            } => debug!(relay = %relay_peer_id, ?limit, "outbound relayed circuit established"),
            relay::client::Event::InboundCircuitEstablished { src_peer_id, limit } => {
                debug!(peer = %src_peer_id, ?limit, "inbound relayed circuit established")
            }
        }
    }

    pub(super) fn on_relay_server(&mut self, event: relay::Event) {
        // Several variants are deprecated in libp2p 0.57; the log shows them all.
        debug!(?event, "relay server");
    }

    pub(super) fn on_dcutr(&mut self, event: dcutr::Event) {
        let peer = event.remote_peer_id;
        match &event.result {
            Ok(connection) => debug!(%peer, %connection, "hole punch succeeded"),
            Err(error) => debug!(%peer, %error, "hole punch failed"),
        }
        self.emit(NetEvent::HolePunch {
            peer,
            succeeded: event.result.is_ok(),
        });
    }

    /// One address tested by an AutoNAT server: reachable makes us public; unreachable makes
    /// us private unless another address was found reachable.
    pub(super) fn on_autonat_client(&mut self, event: autonat::v2::client::Event) {
        let status = match &event.result {
            Ok(()) => {
                debug!(addr = %event.tested_addr, server = %event.server, "address is reachable");
                NatStatus::Public(event.tested_addr)
            }
            Err(error) => {
                debug!(addr = %event.tested_addr, server = %event.server, %error, "address is not reachable");
                if matches!(self.nat_status, NatStatus::Public(_)) {
                    return;
                }
                NatStatus::Private
            }
        };
        if status != self.nat_status {
            self.nat_status = status.clone();
            self.emit(NetEvent::Reachability { status });
        }
    }

    pub(super) fn on_autonat_server(&mut self, event: autonat::v2::server::Event) {
        debug!(
            client = %event.client,
            addr = %event.tested_addr,
            reachable = event.result.is_ok(),
            "answered a reachability probe"
        );
    }

    /// mDNS has already handed each new address to the swarm (`NewExternalAddrOfPeer`, which
    /// the request-response behaviours remember for dialing) and offers its records for every
    /// dial, so the driver only tells the caller.
    pub(super) fn on_mdns(&mut self, event: mdns::Event) {
        match event {
            mdns::Event::Discovered(found) => {
                for (peer, addrs) in discovery::group_by_peer(found) {
                    debug!(%peer, ?addrs, "discovered on the local network");
                    self.emit(NetEvent::Discovered { peer, addrs });
                }
            }
            mdns::Event::Expired(expired) => {
                for (peer, _) in discovery::group_by_peer(expired) {
                    if !self.swarm.behaviour().mdns_knows(&peer) {
                        debug!(%peer, "local network record expired");
                        self.emit(NetEvent::Expired { peer });
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use libp2p::multiaddr::Protocol;

    use super::*;

    fn tcp(port: u16) -> Multiaddr {
        format!("/ip4/192.0.2.7/tcp/{port}").parse().unwrap()
    }

    #[test]
    fn bootstrap_addresses_are_grouped_per_server() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let full = |port, peer| tcp(port).with(Protocol::P2p(peer));
        let servers = parse_bootstrap(&[full(1, a), full(2, b), full(3, a), full(1, a)]).unwrap();
        assert_eq!(servers, vec![(a, vec![tcp(1), tcp(3)]), (b, vec![tcp(2)])]);
    }

    #[test]
    fn a_bootstrap_address_without_peer_id_is_refused() {
        let error = parse_bootstrap(&[tcp(1)]).unwrap_err();
        assert!(matches!(error, StartError::Bootstrap { addr } if addr == tcp(1)));
    }
}
