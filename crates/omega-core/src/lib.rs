//! The Ômega client engine: everything a node does between the user and the network.
//!
//! - [`outbox`]: the sans-IO scheduler deciding which queued envelope to transmit next (FIFO per
//!   device, one in flight, exponential backoff, immediate retry when a device becomes reachable).
//! - [`datadir`]: creating and opening an identity on disk (sealed keystore, store, public facts).
//! - [`node`]: the running node — a single engine task that owns the device account and applies
//!   the send and receive pipelines, driven by commands from [`NodeHandle`] and events from
//!   `omega-net`; plus [`api`], the loopback HTTP API that CLIs and the web client use, and
//!   [`web`], the web chat's login codes and browser sessions, and [`scan`], which reads a contact
//!   card from a picture of its QR code.
//!
//! What it deliberately does not do: parse command lines, read configuration files, install
//! signal handlers or set up logging — the `omega` binary owns those.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod api;
pub mod datadir;
pub mod delivery;
pub mod devices;
mod engine;
pub mod files;
mod groups;
mod inbound;
pub mod join;
pub mod kinds;
mod mailbox_client;
pub mod metadata;
pub mod model;
pub mod node;
mod outbound;
pub mod outbox;
pub mod scan;
pub mod web;

use std::path::PathBuf;

pub use datadir::{ApiInfo, DataDir, PublicInfo};
pub use files::TransferView;
pub use groups::{GroupChange, GroupSessions, InboundSessionView};
pub use model::{ContactView, ConversationView, MessageView, NodeEvent, StatsSnapshot};
pub use node::{Node, NodeConfig, NodeHandle};

/// Why an identity could not be created or opened, or a node not started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    #[error("wrong passphrase: the keystore could not be opened with it")]
    WrongPassphrase,
    #[error("no identity in {dir} (create one with `omega init --name NAME`)")]
    NotInitialized { dir: PathBuf },
    #[error("{dir} already holds an identity")]
    AlreadyInitialized { dir: PathBuf },
    #[error("another node is already running on {dir}")]
    Locked { dir: PathBuf },
    #[error("invalid name: {reason}")]
    InvalidName { reason: String },
    #[error("keystore: {0}")]
    Keystore(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] omega_store::StoreError),
    #[error("network: {0}")]
    Network(String),
}

/// Why a node operation failed. Each maps to one HTTP status in the local API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    #[error("no contact named {name:?} (add one with `omega contact add CARD --alias NAME`)")]
    UnknownContact { name: String },
    #[error("invalid contact card: {0}")]
    InvalidCard(#[from] omega_crypto::CardError),
    #[error("that card is your own")]
    OwnCard,
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("safety numbers differ: you entered {entered}, ours is {ours}")]
    SafetyNumberMismatch { entered: String, ours: String },
    #[error("no message {id}")]
    UnknownMessage { id: String },
    #[error("no group named {name:?} (see `omega group list`)")]
    UnknownGroup { name: String },
    #[error(transparent)]
    Store(#[from] omega_store::StoreError),
    #[error("the node is shutting down")]
    ShuttingDown,
    #[error("internal error: {0}")]
    Internal(String),
}

/// Milliseconds since the Unix epoch, from the system clock (IO edge: only the driver calls this).
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}
