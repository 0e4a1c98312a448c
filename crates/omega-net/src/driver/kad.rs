//! DHT records: the caller's `put_record` and `get_record` queries, the record validator on
//! both sides, and learning other DHT servers from identify.

use std::time::Instant;

use libp2p::{
    PeerId, identify,
    kad::{
        self, GetRecordError, GetRecordOk, InboundRequest, PutRecordError, QueryResult, Quorum,
        Record, RecordKey, store::RecordStore,
    },
};
use tokio::sync::oneshot;
use tracing::{debug, trace};

use super::{Driver, MAX_PENDING_QUERIES};
use crate::{address, error::RequestError, protocol::KAD_PROTOCOL};

/// Distinct values one `get_record` collects at most; further ones are ignored.
const MAX_VALUES_PER_GET: usize = 64;

/// A DHT query started by the caller, with its reply channel.
pub(super) enum KadQuery {
    Put {
        reply: oneshot::Sender<Result<(), RequestError>>,
    },
    Get {
        key: Vec<u8>,
        values: Vec<Vec<u8>>,
        /// The routing table was empty when the query started.
        no_peers: bool,
        reply: oneshot::Sender<Result<Vec<Vec<u8>>, RequestError>>,
    },
}

impl KadQuery {
    pub(super) fn fail(self, error: RequestError) {
        match self {
            KadQuery::Put { reply } => {
                let _ = reply.send(Err(error));
            }
            KadQuery::Get { reply, .. } => {
                let _ = reply.send(Err(error));
            }
        }
    }
}

impl Driver {
    /// Whether the DHT routing table is empty (true when the DHT is off).
    fn no_dht_peers(&mut self) -> bool {
        self.swarm
            .behaviour_mut()
            .kad_mut()
            .is_none_or(|kad| kad.kbuckets().all(|bucket| bucket.num_entries() == 0))
    }

    pub(super) fn on_put_record(
        &mut self,
        key: Vec<u8>,
        value: Vec<u8>,
        reply: oneshot::Sender<Result<(), RequestError>>,
    ) {
        if let Err(error) = self.check_put(&key, &value) {
            let _ = reply.send(Err(error));
            return;
        }
        let mut record = Record::new(RecordKey::new(&key), value);
        // Expires locally too: republishing is the caller's job.
        record.expires = Some(Instant::now() + self.records.ttl);
        let Some(kad) = self.swarm.behaviour_mut().kad_mut() else {
            let _ = reply.send(Err(RequestError::DhtDisabled));
            return;
        };
        match kad.put_record(record, Quorum::One) {
            Ok(query) => {
                debug!(%query, key_len = key.len(), "publishing a record");
                self.kad_queries.insert(query, KadQuery::Put { reply });
            }
            Err(error) => {
                let _ = reply.send(Err(RequestError::RecordNotStored {
                    reason: format!("local store: {error}"),
                }));
            }
        }
    }

    fn check_put(&mut self, key: &[u8], value: &[u8]) -> Result<(), RequestError> {
        if self.swarm.behaviour_mut().kad_mut().is_none() {
            return Err(RequestError::DhtDisabled);
        }
        if value.len() > self.records.max_bytes {
            return Err(RequestError::TooLarge {
                got: value.len(),
                limit: self.records.max_bytes,
            });
        }
        if !self.records.accepts(key, value) {
            return Err(RequestError::InvalidRecord);
        }
        if self.kad_queries.len() >= MAX_PENDING_QUERIES {
            return Err(RequestError::TooManyPending {
                limit: MAX_PENDING_QUERIES,
            });
        }
        if self.no_dht_peers() {
            return Err(RequestError::NoDhtPeers);
        }
        Ok(())
    }

    pub(super) fn on_get_record(
        &mut self,
        key: Vec<u8>,
        reply: oneshot::Sender<Result<Vec<Vec<u8>>, RequestError>>,
    ) {
        if self.kad_queries.len() >= MAX_PENDING_QUERIES {
            let _ = reply.send(Err(RequestError::TooManyPending {
                limit: MAX_PENDING_QUERIES,
            }));
            return;
        }
        let no_peers = self.no_dht_peers();
        let Some(kad) = self.swarm.behaviour_mut().kad_mut() else {
            let _ = reply.send(Err(RequestError::DhtDisabled));
            return;
        };
        let query = kad.get_record(RecordKey::new(&key));
        debug!(%query, key_len = key.len(), "looking a record up");
        self.kad_queries.insert(
            query,
            KadQuery::Get {
                key,
                values: Vec::new(),
                no_peers,
                reply,
            },
        );
    }

    pub(super) fn on_kad(&mut self, event: kad::Event) {
        match event {
            kad::Event::InboundRequest {
                request:
                    InboundRequest::PutRecord {
                        source,
                        record: Some(record),
                        ..
                    },
            } => self.on_inbound_record(source, record),
            kad::Event::OutboundQueryProgressed {
                id, result, step, ..
            } => match result {
                QueryResult::PutRecord(result) => {
                    let Some(KadQuery::Put { reply }) = self.kad_queries.remove(&id) else {
                        trace!(query = %id, "put record result of a background query");
                        return;
                    };
                    let result = result.map(drop).map_err(|error| match error {
                        PutRecordError::QuorumFailed { .. } => RequestError::RecordNotStored {
                            reason: error.to_string(),
                        },
                        PutRecordError::Timeout { .. } => RequestError::Timeout,
                    });
                    debug!(query = %id, ?result, "record publication finished");
                    let _ = reply.send(result);
                }
                QueryResult::GetRecord(result) => {
                    self.on_get_record_progress(id, result, step.last)
                }
                other => trace!(query = %id, result = ?other, "dht query progressed"),
            },
            kad::Event::RoutingUpdated {
                peer, addresses, ..
            } => {
                debug!(%peer, addrs = ?addresses.iter().collect::<Vec<_>>(), "dht routing table updated");
            }
            kad::Event::ModeChanged { new_mode } => debug!(%new_mode, "dht mode changed"),
            other => trace!(event = ?other, "dht event"),
        }
    }

    /// Stores a record a peer sent us if the validator accepts it (server mode only: a client
    /// refuses inbound DHT streams).
    fn on_inbound_record(&mut self, source: PeerId, record: Record) {
        if !self.records.accepts(record.key.as_ref(), &record.value) {
            debug!(%source, "inbound record refused by the validator");
            return;
        }
        let Some(kad) = self.swarm.behaviour_mut().kad_mut() else {
            return;
        };
        match kad.store_mut().put(record) {
            Ok(()) => debug!(%source, "inbound record stored"),
            Err(error) => debug!(%source, %error, "inbound record not stored"),
        }
    }

    fn on_get_record_progress(
        &mut self,
        id: kad::QueryId,
        result: Result<GetRecordOk, GetRecordError>,
        last: bool,
    ) {
        let Some(KadQuery::Get {
            key,
            values,
            no_peers,
            ..
        }) = self.kad_queries.get_mut(&id)
        else {
            return;
        };
        let outcome = match result {
            Ok(GetRecordOk::FoundRecord(found)) => {
                let value = found.record.value;
                if !self.records.accepts(key, &value) {
                    debug!(query = %id, peer = ?found.peer, "found record refused by the validator");
                } else if !values.contains(&value) && values.len() < MAX_VALUES_PER_GET {
                    values.push(value);
                }
                None
            }
            Ok(GetRecordOk::FinishedWithNoAdditionalRecord { .. }) => Some(Ok(())),
            Err(GetRecordError::NotFound { .. }) if values.is_empty() && *no_peers => {
                Some(Err(RequestError::NoDhtPeers))
            }
            Err(GetRecordError::NotFound { .. }) => Some(Ok(())),
            Err(GetRecordError::Timeout { .. }) if values.is_empty() => {
                Some(Err(RequestError::Timeout))
            }
            Err(GetRecordError::Timeout { .. }) => Some(Ok(())),
        };
        if outcome.is_none() && !last {
            return;
        }
        if let Some(KadQuery::Get { values, reply, .. }) = self.kad_queries.remove(&id) {
            let result = match outcome {
                Some(Err(error)) => Err(error),
                Some(Ok(())) | None => Ok(values),
            };
            debug!(query = %id, found = ?result.as_ref().map(Vec::len), "record lookup finished");
            let _ = reply.send(result);
        }
    }

    /// Identify told us `peer` speaks our DHT protocol in server mode: add its direct listen
    /// addresses to the routing table. Kademlia adds peers we dialed by itself; this covers
    /// servers that dialed us.
    pub(super) fn learn_dht_server(&mut self, peer: PeerId, info: &identify::Info) {
        if !info
            .protocols
            .iter()
            .any(|protocol| protocol.as_ref() == KAD_PROTOCOL)
        {
            return;
        }
        let Some(kad) = self.swarm.behaviour_mut().kad_mut() else {
            return;
        };
        for addr in info
            .listen_addrs
            .iter()
            .filter(|addr| !address::is_relayed(addr))
        {
            kad.add_address(&peer, address::without_peer(addr.clone(), peer));
        }
    }
}
