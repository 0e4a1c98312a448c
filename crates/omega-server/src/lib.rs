//! `omega server`: the self-hostable piece of Ômega's network — a store-and-forward mailbox
//! (14-day TTL) and a prekey directory over `/omega/mailbox/1` (libp2p) and over HTTP, with
//! `/health` and Prometheus `/metrics`.
//!
//! - [`limits`]: pure state machines (one-time challenges, fetch sessions, rate limits), driven with
//!   injected time.
//! - [`mailbox`]: the service turning a request into a response over any [`ServerStore`]
//!   (SQLite or PostgreSQL, from `omega-store`).
//! - [`blobs`]: the blob store, content-addressed sealed file chunks on disk over
//!   `/omega/blob/1` (14-day TTL, per-peer byte rate, total size cap).
//! - [`Server`]: the driver that wires the service to the network, the HTTP port and the purge task.
//!
//! What it deliberately does not do: see plaintext (envelopes are opaque, end-to-end encrypted
//! bytes), parse configuration files or command lines (the binary does), or hold user keys.
//! Kademlia bootstrap, relay v2 and AutoNAT service come next.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod blobs;
mod http;
pub mod limits;
pub mod mailbox;
pub mod metrics;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use libp2p::Multiaddr;
use libp2p::identity::Keypair;
use omega_net::{NetEvent, NetHandle, Protocol};
use omega_store::server::ServerStore;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tracing::warn;

pub use blobs::{BlobLimits, BlobStore, BlobStoreError};
pub use mailbox::{Limits, MailboxService};
pub use metrics::Metrics;

/// Where the server reads time (injectable, so TTL expiry is testable).
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_millis() as i64)
    }
}

/// How to run a server.
pub struct ServerConfig {
    pub keypair: Keypair,
    pub listen: Vec<Multiaddr>,
    /// HTTP address for `/health`, `/metrics` and the HTTP mailbox; `None` serves no HTTP.
    pub http: Option<SocketAddr>,
    pub limits: Limits,
    /// How often expired envelopes are purged.
    pub purge_every: Duration,
    /// Requests handled at once (bounded; the rest wait in the network queue).
    pub concurrency: usize,
    pub clock: Arc<dyn Clock>,
    /// The blob store's directory (sealed file chunks over `/omega/blob/1`); `None` runs none.
    pub blobs: Option<std::path::PathBuf>,
    pub blob_limits: BlobLimits,
}

impl ServerConfig {
    pub fn new(keypair: Keypair, listen: Vec<Multiaddr>) -> Self {
        ServerConfig {
            keypair,
            listen,
            http: None,
            limits: Limits::default(),
            purge_every: Duration::from_secs(60),
            concurrency: 64,
            clock: Arc::new(SystemClock),
            blobs: None,
            blob_limits: BlobLimits::default(),
        }
    }
}

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    #[error("network: {0}")]
    Network(#[from] omega_net::StartError),
    #[error(transparent)]
    Blobs(#[from] BlobStoreError),
    #[error("http listener on {addr}: {source}")]
    Http {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A running server.
pub struct Server<S: ServerStore> {
    service: MailboxService<S>,
    blobs: Option<BlobStore>,
    net: NetHandle,
    listen_addrs: Vec<Multiaddr>,
    http_addr: Option<SocketAddr>,
    tasks: Vec<JoinHandle<()>>,
    stop: Vec<oneshot::Sender<()>>,
    metrics: Arc<Metrics>,
}

impl<S: ServerStore> Server<S> {
    pub async fn start(config: ServerConfig, store: S) -> Result<Server<S>, StartError> {
        let peer_id = config.keypair.public().to_peer_id();
        let mut net_config = omega_net::Config::new(config.keypair);
        net_config.gossip = false;
        net_config.listen = config.listen;
        net_config.protocols = vec![Protocol::Mailbox];
        if config.blobs.is_some() {
            net_config.protocols.push(Protocol::Blob);
        }
        // Bootstrap for the DHT (storing only peer records that verify for their key), relay for
        // peers that cannot be reached directly, and AutoNAT answers.
        net_config.kad = omega_net::KadMode::Server;
        net_config.relay_server = true;
        net_config.record_validator = Some(Arc::new(|key: &[u8], value: &[u8]| {
            omega_crypto::verify_peer_record(value, None, Some(key)).is_ok()
        }));
        let (net, events) = omega_net::start(net_config).await?;
        let listen_addrs = net
            .listen_addrs()
            .await
            .into_iter()
            .map(|addr| addr.with_p2p(peer_id).unwrap_or_else(|addr| addr))
            .collect();
        let metrics = Arc::new(Metrics::default());
        let blobs = match &config.blobs {
            Some(dir) => Some(BlobStore::open(
                dir.clone(),
                config.blob_limits.clone(),
                config.clock.clone(),
                metrics.clone(),
            )?),
            None => None,
        };
        let service = MailboxService::new(
            store,
            config.limits,
            peer_id.to_bytes(),
            config.clock.clone(),
            metrics.clone(),
        );
        let mut tasks = Vec::new();
        let mut stop = Vec::new();

        // Network requests, at most `concurrency` at once.
        let network_service = service.clone();
        let network_blobs = blobs.clone();
        let concurrency = config.concurrency.max(1);
        tasks.push(tokio::spawn(async move {
            ReceiverStream::new(events)
                .for_each_concurrent(concurrency, |event| {
                    let service = network_service.clone();
                    let blobs = network_blobs.clone();
                    async move {
                        match event {
                            NetEvent::Request {
                                protocol: Protocol::Mailbox,
                                peer,
                                body,
                                responder,
                            } => {
                                let response = service.handle_bytes(&peer.to_bytes(), &body).await;
                                responder.respond(response);
                            }
                            NetEvent::Request {
                                protocol: Protocol::Blob,
                                peer,
                                body,
                                responder,
                            } => {
                                if let Some(blobs) = blobs {
                                    let response =
                                        blobs.handle_bytes(&peer.to_bytes(), &body).await;
                                    responder.respond(response);
                                }
                            }
                            _ => {}
                        }
                    }
                })
                .await;
        }));

        // TTL purge.
        let purge_service = service.clone();
        let purge_clock = config.clock.clone();
        let purge_metrics = metrics.clone();
        let purge_blobs = blobs.clone();
        let every = config.purge_every;
        let (purge_stop, mut purge_stopped) = oneshot::channel::<()>();
        stop.push(purge_stop);
        tasks.push(tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = &mut purge_stopped => break,
                    _ = ticker.tick() => {
                        match purge_service.store().purge_expired(purge_clock.now_ms()).await {
                            Ok(purged) => purge_metrics.expired(purged),
                            Err(error) => warn!(%error, "purge failed"),
                        }
                        if let Some(blobs) = &purge_blobs
                            && let Err(error) = blobs.purge_expired(purge_clock.now_ms()).await
                        {
                            warn!(%error, "blob purge failed");
                        }
                    }
                }
            }
        }));

        let mut http_addr = None;
        if let Some(addr) = config.http {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| StartError::Http { addr, source })?;
            http_addr = listener.local_addr().ok();
            let (http_stop, http_stopped) = oneshot::channel::<()>();
            stop.push(http_stop);
            let router = http::router(service.clone(), metrics.clone());
            tasks.push(tokio::spawn(async move {
                let _ = axum::serve(
                    listener,
                    router.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .with_graceful_shutdown(async {
                    let _ = http_stopped.await;
                })
                .await;
            }));
        }

        Ok(Server {
            service,
            blobs,
            net,
            listen_addrs,
            http_addr,
            tasks,
            stop,
            metrics,
        })
    }

    /// Full listen multiaddrs, each ending in `/p2p/<peer id>`.
    pub fn listen_addrs(&self) -> &[Multiaddr] {
        &self.listen_addrs
    }

    pub fn peer_id(&self) -> libp2p::PeerId {
        self.net.local_peer_id()
    }

    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    pub fn service(&self) -> &MailboxService<S> {
        &self.service
    }

    /// The blob store, when [`ServerConfig::blobs`] names one.
    pub fn blobs(&self) -> Option<&BlobStore> {
        self.blobs.as_ref()
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Purges expired envelopes now (the background task does this every `purge_every`).
    pub async fn purge_now(
        &self,
        now_ms: i64,
    ) -> Result<u64, omega_store::server::ServerStoreError> {
        let purged = self.service.store().purge_expired(now_ms).await?;
        self.metrics.expired(purged);
        if let Some(blobs) = &self.blobs
            && let Err(error) = blobs.purge_expired(now_ms).await
        {
            warn!(%error, "blob purge failed");
        }
        Ok(purged)
    }

    /// Stops accepting requests, finishes the ones in flight, stops every task.
    pub async fn shutdown(mut self) {
        for stop in self.stop.drain(..) {
            let _ = stop.send(());
        }
        self.net.shutdown().await;
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}
