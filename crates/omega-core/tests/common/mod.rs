//! Helpers shared by the integration tests: identities in temporary directories, nodes on
//! 127.0.0.1, and waiting on message statuses with a timeout (never a fixed sleep).
#![allow(dead_code)]

use std::time::Duration;

use omega_core::{DataDir, MessageView, Node, NodeConfig, NodeHandle, PublicInfo, outbox};
use omega_store::Status;
use tempfile::TempDir;
use zeroize::Zeroizing;

pub const PASSPHRASE: &[u8] = b"correct horse battery staple";

/// Upper bound for anything a test waits on; generous so slow CI machines do not flake.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Listen on any free port of the loopback interface.
pub const ANY_LOOPBACK_PORT: &str = "/ip4/127.0.0.1/tcp/0";

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

/// An identity created in its own temporary directory (removed when this is dropped).
pub struct Identity {
    _dir: TempDir,
    pub data_dir: DataDir,
    pub public: PublicInfo,
}

impl Identity {
    pub async fn create(name: &str) -> Identity {
        let dir = tempfile::tempdir().expect("temporary directory");
        let data_dir = DataDir::new(dir.path().join("omega"));
        let public = data_dir
            .init(name, PASSPHRASE, now_ms())
            .await
            .expect("init identity");
        Identity {
            _dir: dir,
            data_dir,
            public,
        }
    }

    pub fn config(&self, listen: &str, passphrase: &[u8]) -> NodeConfig {
        let mut config =
            NodeConfig::new(self.data_dir.clone(), Zeroizing::new(passphrase.to_vec()));
        config.listen = vec![listen.parse().expect("listen multiaddr")];
        config.outbox = outbox::Config {
            base_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(1),
        };
        config
    }

    /// Starts a node on this identity listening on `listen`.
    pub async fn start_on(&self, listen: &str) -> Node {
        Node::start(self.config(listen, PASSPHRASE))
            .await
            .expect("start node")
    }

    /// Starts a node on this identity on a free loopback port.
    pub async fn start(&self) -> Node {
        self.start_on(ANY_LOOPBACK_PORT).await
    }
}

/// Makes `a` and `b` contacts of each other, under the aliases `alias_of_b` (at `a`) and
/// `alias_of_a` (at `b`).
pub async fn introduce(a: &NodeHandle, alias_of_a: &str, b: &NodeHandle, alias_of_b: &str) {
    a.add_contact(&b.info().card, Some(alias_of_b))
        .await
        .expect("a adds b");
    b.add_contact(&a.info().card, Some(alias_of_a))
        .await
        .expect("b adds a");
}

/// Waits (up to [`TIMEOUT`] in all) until every message in `ids` reached `wanted` or later, and
/// fails the test with the laggards otherwise.
pub async fn wait_all(handle: &NodeHandle, ids: &[String], wanted: Status) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let mut laggards = Vec::new();
    for id in ids {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let message = handle
            .wait_for_status(id, wanted, left)
            .await
            .expect("wait for status");
        if !reached(&message, wanted) {
            laggards.push((message.message_id, message.status));
        }
    }
    assert!(
        laggards.is_empty(),
        "{} of {} messages did not reach {} within {TIMEOUT:?}: {laggards:?}",
        laggards.len(),
        ids.len(),
        wanted.as_str()
    );
}

/// Whether a message's status is `wanted` or a later one (failed never counts).
pub fn reached(message: &MessageView, wanted: Status) -> bool {
    Status::parse(&message.status)
        .is_some_and(|status| status != Status::Failed && status.rank() >= wanted.rank())
}

/// Texts of the incoming messages of a conversation, in conversation order.
pub async fn incoming_texts(handle: &NodeHandle, with: &str) -> Vec<String> {
    handle
        .messages(Some(with), 10_000)
        .await
        .expect("messages")
        .into_iter()
        .filter(|message| message.direction == "in")
        .map(|message| message.text)
        .collect()
}

/// The TCP port of the first address of an `omega:` card.
pub fn card_port(card: &str) -> u16 {
    let card = omega_crypto::ContactCard::parse_uri(card).expect("card");
    let addr: libp2p::Multiaddr = card
        .addrs
        .first()
        .expect("an address")
        .parse()
        .expect("multiaddr");
    addr.iter()
        .find_map(|protocol| match protocol {
            libp2p::multiaddr::Protocol::Tcp(port) => Some(port),
            _ => None,
        })
        .expect("a tcp port")
}
