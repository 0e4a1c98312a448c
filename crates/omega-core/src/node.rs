//! Starting a node and talking to it: [`Node::start`] opens the identity, starts the network, the
//! engine task and the local API; [`NodeHandle`] is what the API (and tests) call.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use libp2p::Multiaddr;
use omega_crypto::{ContactCard, UserKey, safety_number, verify_device_list};
use omega_proto::{Message, v1};
use omega_store::{ContactRow, Status, Store};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

use crate::datadir::{ApiInfo, DataDir, PublicInfo, public_info};
use crate::engine::{Command, Engine};
use crate::kinds::{Change, Draft};
use crate::model::{ContactView, ConversationView, MessageView, NodeEvent, Stats, StatsSnapshot};
use crate::outbox::{self, Outbox};
use crate::{NodeError, OpenError, now_ms};

/// How to run a node.
pub struct NodeConfig {
    pub data_dir: DataDir,
    pub passphrase: Zeroizing<Vec<u8>>,
    /// libp2p listen addresses, e.g. `/ip4/0.0.0.0/tcp/0`.
    pub listen: Vec<Multiaddr>,
    /// Loopback address of the local HTTP API; `None` runs no API (embedded use, tests).
    pub api: Option<SocketAddr>,
    pub outbox: outbox::Config,
    /// How long to wait for a peer's answer.
    pub request_timeout: Duration,
    /// Home mailbox server (full multiaddr ending in `/p2p/<peer id>`), named in our card.
    pub mailbox: Option<Multiaddr>,
    /// How often the home mailbox is polled.
    pub mailbox_poll: Duration,
    /// mDNS discovery of peers on the local network.
    pub mdns: bool,
    /// Servers whose DHT, relay and NAT services the node uses (full multiaddrs with /p2p/).
    pub bootstrap: Vec<Multiaddr>,
    /// Fault injection for tests: drop the first this many group messages that arrive on a
    /// topic, as a connection that died silently would (counted in `gossip_dropped`). 0 in use.
    pub drop_gossip: u32,
}

impl NodeConfig {
    pub fn new(data_dir: DataDir, passphrase: Zeroizing<Vec<u8>>) -> Self {
        NodeConfig {
            data_dir,
            passphrase,
            listen: vec![
                Multiaddr::empty()
                    .with(libp2p::multiaddr::Protocol::Ip4(
                        std::net::Ipv4Addr::LOCALHOST,
                    ))
                    .with(libp2p::multiaddr::Protocol::Tcp(0)),
            ],
            api: None,
            outbox: outbox::Config::default(),
            request_timeout: Duration::from_secs(10),
            mailbox: None,
            mailbox_poll: Duration::from_secs(5),
            mdns: false,
            bootstrap: Vec::new(),
            drop_gossip: 0,
        }
    }
}

/// A running node. Dropping it without [`Node::shutdown`] stops the tasks abruptly.
pub struct Node {
    handle: NodeHandle,
    engine: JoinHandle<()>,
    api: Option<(JoinHandle<()>, tokio::sync::watch::Sender<bool>)>,
    shutdown: Option<oneshot::Sender<()>>,
    mailbox_client: Option<(JoinHandle<()>, watch::Sender<bool>)>,
    _lock: std::fs::File,
}

/// Cheap, cloneable access to a running node.
#[derive(Clone)]
pub struct NodeHandle {
    commands: mpsc::Sender<Command>,
    events: broadcast::Sender<NodeEvent>,
    pub(crate) store: Store,
    pub(crate) files: Arc<crate::files::Files>,
    me: UserKey,
    info: Arc<RwLock<PublicInfo>>,
    stats: Arc<Stats>,
    api_url: Arc<RwLock<Option<String>>>,
}

impl Node {
    /// Opens the identity, starts networking, the engine and (if configured) the local API.
    pub async fn start(config: NodeConfig) -> Result<Node, OpenError> {
        let lock = config.data_dir.lock()?;
        let home = match &config.mailbox {
            Some(addr) => Some(crate::delivery::split_peer_addr(addr).ok_or_else(|| {
                OpenError::Network(format!(
                    "mailbox address {addr} must end in /p2p/<peer id> (copy it from the server's server.json)"
                ))
            })?),
            None => None,
        };
        let opened = config.data_dir.open(&config.passphrase).await?;
        let mut net_config = omega_net::Config::new(opened.keypair.clone());
        net_config.listen = config.listen.clone();
        // Devices also answer /omega/blob/1 gets from their chunk cache (files they sent).
        net_config.protocols.push(omega_net::Protocol::Blob);
        net_config.request_timeout = config.request_timeout;
        net_config.mdns = config.mdns;
        if !config.bootstrap.is_empty() {
            net_config.bootstrap = config.bootstrap.clone();
            net_config.kad = omega_net::KadMode::Client;
            net_config.relay_client = true;
            net_config.record_validator = Some(std::sync::Arc::new(|key: &[u8], value: &[u8]| {
                omega_crypto::verify_peer_record(value, None, Some(key)).is_ok()
            }));
        }
        let (net, net_events) = match omega_net::start(net_config.clone()).await {
            Ok(started) => started,
            // No multicast here (a container, no network): run without LAN discovery.
            Err(omega_net::StartError::Mdns { reason }) => {
                tracing::warn!(%reason, "mDNS unavailable; LAN discovery is off");
                net_config.mdns = false;
                omega_net::start(net_config)
                    .await
                    .map_err(|error| OpenError::Network(error.to_string()))?
            }
            Err(error) => return Err(OpenError::Network(error.to_string())),
        };
        let peer_id = net.local_peer_id();
        let addrs: Vec<String> = net
            .listen_addrs()
            .await
            .into_iter()
            .map(|addr| {
                addr.with_p2p(peer_id)
                    .unwrap_or_else(|addr| addr)
                    .to_string()
            })
            .collect();
        let mailboxes: Vec<String> = config.mailbox.iter().map(ToString::to_string).collect();
        let public = public_info(
            &opened.name,
            &opened.devices,
            &opened.account,
            addrs,
            mailboxes,
        );
        config.data_dir.write_public(&public)?;

        let (commands_tx, commands) = mpsc::channel(256);
        let (completions_tx, completions) = mpsc::channel(256);
        let (events, _) = broadcast::channel(1024);
        let (shutdown_tx, shutdown) = oneshot::channel();
        let stats = Arc::new(Stats::default());
        let me = opened.user.public_key();
        let signed_devices = opened.devices.signed.clone();
        let engine_net = net.clone();
        let info = Arc::new(RwLock::new(public));
        let sealing = omega_crypto::sealed::SealingKey::derive(&opened.store_key);
        let (devices_watch, devices_rx) = watch::channel(signed_devices.clone());
        let actor = opened.account.ed25519();
        let metadata = match opened.store.metadata_doc().await? {
            Some(doc) => crate::metadata::Metadata::load(&doc, &actor)
                .map_err(|error| OpenError::Keystore(format!("metadata document: {error}")))?,
            None => crate::metadata::Metadata::new(&actor),
        };
        let engine = Engine {
            user: opened.user,
            link_offer: None,
            devices_watch,
            own_addrs: HashMap::new(),
            metadata,
            sealing,
            public: crate::engine::PublicState {
                info: info.clone(),
                data_dir: config.data_dir.clone(),
                name: opened.name.clone(),
                mailboxes: config.mailbox.iter().map(ToString::to_string).collect(),
            },
            store: opened.store.clone(),
            account: opened.account,
            store_key: opened.store_key,
            me,
            groups: HashMap::new(),
            drop_gossip: config.drop_gossip,
            my_devices: opened.devices,
            net: engine_net,
            outbox: Outbox::new(config.outbox.clone()),
            events: events.clone(),
            stats: stats.clone(),
            peers: HashMap::new(),
            peer_ids: HashMap::new(),
            completions: completions_tx,
            unreachable: HashMap::new(),
            dht: !config.bootstrap.is_empty(),
            republish_at: (!config.bootstrap.is_empty()).then(std::time::Instant::now),
        };
        let stats_for_mailbox = stats.clone();
        let engine = tokio::spawn(engine.run(commands, net_events, completions, shutdown));
        let mailbox_client = home.map(|(server, addr)| {
            let (stop_tx, stop) = watch::channel(false);
            let (_kick_tx, kick) = mpsc::channel(1);
            let client = crate::mailbox_client::MailboxClient {
                net: net.clone(),
                server: (server, vec![addr]),
                commands: commands_tx.clone(),
                devices: devices_rx,
                poll: config.mailbox_poll,
                kick,
                stop,
                stats: stats_for_mailbox,
            };
            (tokio::spawn(client.run()), stop_tx)
        });
        let files = Arc::new(crate::files::Files::new(
            net.clone(),
            config.data_dir.root().to_path_buf(),
            config.mailbox.iter().cloned().collect(),
        ));
        // Sealed chunks of sent files are kept for receivers that fetch directly, then purged.
        let cache_root = config.data_dir.root().to_path_buf();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(3600));
            loop {
                every.tick().await;
                let root = cache_root.clone();
                let _ = tokio::task::spawn_blocking(move || crate::files::purge_cache(&root)).await;
            }
        });
        let handle = NodeHandle {
            commands: commands_tx,
            events,
            store: opened.store,
            files,
            me,
            info,
            stats,
            api_url: Arc::new(RwLock::new(None)),
        };
        let mut node = Node {
            handle,
            engine,
            api: None,
            shutdown: Some(shutdown_tx),
            mailbox_client,
            _lock: lock,
        };
        if let Some(addr) = config.api {
            let token = crate::api::new_token();
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| OpenError::Io {
                    path: config.data_dir.root().to_path_buf(),
                    source,
                })?;
            let local = listener.local_addr().map_err(|source| OpenError::Io {
                path: config.data_dir.root().to_path_buf(),
                source,
            })?;
            let url = format!("http://{local}");
            let (stop_tx, stop) = tokio::sync::watch::channel(false);
            let router =
                crate::api::router(node.handle.clone(), token.clone(), local, stop.clone());
            let mut stop = stop;
            let task = tokio::spawn(async move {
                let _ = axum::serve(listener, router)
                    .with_graceful_shutdown(async move {
                        let _ = stop.wait_for(|stopping| *stopping).await;
                    })
                    .await;
            });
            config.data_dir.write_api(&ApiInfo {
                url: url.clone(),
                token: token.as_str().to_owned(),
                pid: std::process::id(),
            })?;
            if let Ok(mut slot) = node.handle.api_url.write() {
                *slot = Some(url);
            }
            node.api = Some((task, stop_tx));
        }
        Ok(node)
    }

    pub fn handle(&self) -> NodeHandle {
        self.handle.clone()
    }

    /// Stops the API, the engine and the network, then closes the store.
    pub async fn shutdown(mut self, data_dir: &DataDir) {
        if let Some((task, stop)) = self.api.take() {
            let _ = stop.send(true);
            let _ = task.await;
            data_dir.remove_api();
        }
        if let Some((task, stop)) = self.mailbox_client.take() {
            let _ = stop.send(true);
            let _ = task.await;
        }
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let _ = (&mut self.engine).await;
        self.handle.store.close().await;
    }
}

impl NodeHandle {
    /// Public facts about this node (user id, device id, card with current addresses).
    pub fn info(&self) -> PublicInfo {
        self.info
            .read()
            .map(|info| info.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    pub fn user(&self) -> UserKey {
        self.me
    }

    /// URL of the local API, when it runs.
    pub fn api_url(&self) -> Option<String> {
        self.api_url.read().ok().and_then(|url| url.clone())
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// New messages and status changes, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    /// Adds a contact from an `omega:` card (or refreshes it), with an optional local alias.
    pub async fn add_contact(
        &self,
        card: &str,
        alias: Option<&str>,
    ) -> Result<ContactView, NodeError> {
        let card = ContactCard::parse_uri(card)?;
        if card.user() == self.me {
            return Err(NodeError::OwnCard);
        }
        if let Some(alias) = alias {
            validate_alias(alias)?;
        }
        let existing = self.store.contact(card.user().as_bytes()).await?;
        let row = ContactRow {
            mailboxes: card.mailboxes.clone(),
            user_key: card.user().as_bytes().to_vec(),
            user_id: card.user().user_id(),
            alias: alias.map(str::to_owned),
            name: card.name.clone(),
            device_list: card.devices.signed.encode_to_vec(),
            device_list_version: card.devices.version as i64,
            addrs: card.addrs.clone(),
            verified: existing.as_ref().is_some_and(|contact| contact.verified),
            added_ms: now_ms() as i64,
        };
        self.store.upsert_contact(&row).await?;
        self.command(Command::ContactChanged { user: card.user() })
            .await?;
        self.contact_view(&card.user().user_id()).await
    }

    /// Every contact.
    pub async fn contacts(&self) -> Result<Vec<ContactView>, NodeError> {
        let rows = self.store.contacts().await?;
        Ok(rows.iter().map(|row| self.view_of(row)).collect())
    }

    /// Every contact with its last message and unread count, most recent first.
    pub async fn conversations(&self) -> Result<Vec<ConversationView>, NodeError> {
        let rows = self.store.conversations().await?;
        Ok(rows.iter().map(ConversationView::new).collect())
    }

    /// One contact, by alias, user id or unambiguous name.
    pub async fn contact_view(&self, name: &str) -> Result<ContactView, NodeError> {
        let row = self.find_contact(name).await?;
        Ok(self.view_of(&row))
    }

    /// Marks a contact verified. With `safety_number`, it must match ours (spaces ignored).
    pub async fn verify_contact(
        &self,
        name: &str,
        entered: Option<&str>,
    ) -> Result<ContactView, NodeError> {
        let row = self.find_contact(name).await?;
        let view = self.view_of(&row);
        if let Some(entered) = entered {
            let digits = |text: &str| {
                text.chars()
                    .filter(char::is_ascii_digit)
                    .collect::<String>()
            };
            if digits(entered) != digits(&view.safety_number) {
                return Err(NodeError::SafetyNumberMismatch {
                    entered: entered.trim().to_owned(),
                    ours: view.safety_number,
                });
            }
        }
        self.store.set_contact_verified(&row.user_key, true).await?;
        self.contact_view(name).await
    }

    /// Queues a text message. Returns once it is durably in the outbox (status `queued`).
    pub async fn send_text(&self, to: &str, text: &str) -> Result<MessageView, NodeError> {
        self.send(
            to,
            Draft::Text {
                body: text.to_owned(),
                mentions: Vec::new(),
            },
            None,
        )
        .await
    }

    /// Queues a conversation item of any kind, optionally quoting `reply_to` (a message id of
    /// the same conversation). Returns once it is durably in the outbox (status `queued`).
    pub async fn send(
        &self,
        to: &str,
        draft: Draft,
        reply_to: Option<&str>,
    ) -> Result<MessageView, NodeError> {
        let contact = self.find_contact(to).await?;
        let user = UserKey::from_bytes(&contact.user_key)
            .map_err(|error| NodeError::Internal(error.to_string()))?;
        if let Some(reply_to) = reply_to
            && self
                .store
                .message_in(&contact.user_key, reply_to)
                .await?
                .is_none()
        {
            return Err(NodeError::UnknownMessage {
                id: reply_to.to_owned(),
            });
        }
        let (reply, answer) = oneshot::channel();
        self.command(Command::Send {
            to: user,
            draft,
            reply_to: reply_to.map(str::to_owned),
            reply,
        })
        .await?;
        answer.await.map_err(|_| NodeError::ShuttingDown)?
    }

    /// Reacts to, edits or deletes (for everyone) the message `message_id`; the peer's devices
    /// are told. Returns the message as it now is.
    pub async fn change(&self, message_id: &str, change: Change) -> Result<MessageView, NodeError> {
        let row =
            self.store
                .message(message_id)
                .await?
                .ok_or_else(|| NodeError::UnknownMessage {
                    id: message_id.to_owned(),
                })?;
        // Group messages carry their author; 1:1 messages never do.
        if row.meta.author.is_some()
            && let Ok(group) = <[u8; 32]>::try_from(row.peer_user.as_slice())
        {
            let (reply, answer) = oneshot::channel();
            self.command(Command::GroupChangeMessage {
                group,
                target: row.message_id,
                change,
                reply,
            })
            .await?;
            return answer.await.map_err(|_| NodeError::ShuttingDown)?;
        }
        let peer = UserKey::from_bytes(&row.peer_user)
            .map_err(|error| NodeError::Internal(error.to_string()))?;
        let (reply, answer) = oneshot::channel();
        self.command(Command::Change {
            peer,
            target: row.message_id,
            change,
            reply,
        })
        .await?;
        answer.await.map_err(|_| NodeError::ShuttingDown)?
    }

    /// The user keys of contacts named by alias, user id or name (for mentions).
    pub async fn resolve(&self, names: &[String]) -> Result<Vec<UserKey>, NodeError> {
        let mut keys = Vec::with_capacity(names.len());
        for name in names {
            let contact = self.find_contact(name).await?;
            keys.push(
                UserKey::from_bytes(&contact.user_key)
                    .map_err(|error| NodeError::Internal(error.to_string()))?,
            );
        }
        Ok(keys)
    }

    /// The `omega:` card of one of my contacts, rebuilt from what I stored of them (to pass
    /// them on).
    pub async fn card_of(&self, name: &str) -> Result<String, NodeError> {
        let contact = self.find_contact(name).await?;
        let signed = v1::SignedDeviceList::decode(contact.device_list.as_slice())
            .map_err(|error| NodeError::Internal(error.to_string()))?;
        let user = UserKey::from_bytes(&contact.user_key)
            .map_err(|error| NodeError::Internal(error.to_string()))?;
        let devices = verify_device_list(&signed, Some(&user))
            .map_err(|error| NodeError::Internal(error.to_string()))?;
        let card = ContactCard {
            name: contact.name.clone(),
            devices,
            addrs: contact.addrs.clone(),
            mailboxes: contact.mailboxes.clone(),
        };
        Ok(card.to_uri())
    }

    /// A conversation's disappearing-message timer in ms (0: off).
    pub async fn timer(&self, with: &str) -> Result<i64, NodeError> {
        let contact = self.find_contact(with).await?;
        Ok(self.store.disappearing_ms(&contact.user_key).await?)
    }

    /// Starts waiting for one new device of this user: the `omega-link:` URI (with its one-time
    /// secret) to give to `omega init --link` on the new device.
    pub async fn link_device(&self) -> Result<crate::devices::LinkView, NodeError> {
        let (reply, answer) = oneshot::channel();
        self.command(Command::OfferLink { reply }).await?;
        answer.await.map_err(|_| NodeError::ShuttingDown)?
    }

    /// The metadata of the conversation with `name` shared by my devices (read marker,
    /// archived, muted, alias); with `change`, changed first (and sent to my other devices).
    pub async fn conversation_meta(
        &self,
        name: &str,
        change: Option<crate::metadata::MetaChange>,
    ) -> Result<crate::metadata::ConversationMeta, NodeError> {
        let contact = self.find_contact(name).await?;
        let peer = UserKey::from_bytes(&contact.user_key)
            .map_err(|error| NodeError::Internal(error.to_string()))?;
        if let Some(crate::metadata::MetaChange::Alias(Some(alias))) = &change {
            validate_alias(alias)?;
        }
        let (reply, answer) = oneshot::channel();
        self.command(Command::Meta {
            peer,
            change,
            reply,
        })
        .await?;
        answer.await.map_err(|_| NodeError::ShuttingDown)?
    }

    /// My device list.
    pub async fn devices(&self) -> Result<Vec<crate::devices::DeviceView>, NodeError> {
        let (reply, answer) = oneshot::channel();
        self.command(Command::Devices { reply }).await?;
        answer.await.map_err(|_| NodeError::ShuttingDown)
    }

    /// Removes a device (by name or device id prefix) from my device list; it stops receiving
    /// new messages and its mailbox session ends. Returns the list as it now is.
    pub async fn revoke_device(
        &self,
        device: &str,
    ) -> Result<Vec<crate::devices::DeviceView>, NodeError> {
        let (reply, answer) = oneshot::channel();
        self.command(Command::Revoke {
            device: device.to_owned(),
            reply,
        })
        .await?;
        answer.await.map_err(|_| NodeError::ShuttingDown)?
    }

    /// Marks a conversation read and sends read receipts. Returns how many messages were marked.
    pub async fn mark_read(&self, with: &str) -> Result<usize, NodeError> {
        let contact = self.find_contact(with).await?;
        let peer = UserKey::from_bytes(&contact.user_key)
            .map_err(|error| NodeError::Internal(error.to_string()))?;
        let (reply, answer) = oneshot::channel();
        self.command(Command::MarkRead { peer, reply }).await?;
        answer.await.map_err(|_| NodeError::ShuttingDown)?
    }

    /// Messages containing every word of `query` (prefixes match; case and accents ignored),
    /// best match first, of one conversation or all.
    pub async fn search(
        &self,
        query: &str,
        with: Option<&str>,
        limit: i64,
    ) -> Result<Vec<MessageView>, NodeError> {
        let contacts = self.store.contacts().await?;
        let names: HashMap<Vec<u8>, String> = contacts
            .iter()
            .map(|contact| (contact.user_key.clone(), contact.display_name().to_owned()))
            .collect();
        let peer = match with {
            Some(name) => Some(self.find_contact(name).await?.user_key),
            None => None,
        };
        let rows = self.store.search(query, peer.as_deref(), limit).await?;
        Ok(rows
            .iter()
            .map(|row| MessageView::new(row, &self.me, names.get(&row.peer_user).cloned()))
            .collect())
    }

    /// The last `limit` messages, of one conversation or all.
    pub async fn messages(
        &self,
        with: Option<&str>,
        limit: i64,
    ) -> Result<Vec<MessageView>, NodeError> {
        let contacts = self.store.contacts().await?;
        let names: HashMap<Vec<u8>, String> = contacts
            .iter()
            .map(|contact| (contact.user_key.clone(), contact.display_name().to_owned()))
            .collect();
        let peer = match with {
            Some(name) => Some(self.find_contact(name).await?.user_key),
            None => None,
        };
        let rows = self.store.messages(peer.as_deref(), limit).await?;
        let mut views: Vec<MessageView> = rows
            .iter()
            .map(|row| MessageView::new(row, &self.me, names.get(&row.peer_user).cloned()))
            .collect();
        for view in &mut views {
            self.add_file_state(view).await;
        }
        Ok(views)
    }

    /// Adds a file message's fetch state to its `file` object: `available`, `fetching`, `done`
    /// (with `path`) or `failed` (with `error`) for a received file; `sent` for mine.
    async fn add_file_state(&self, view: &mut MessageView) {
        let Some(serde_json::Value::Object(file)) = view.file.as_mut() else {
            return;
        };
        if view.direction == "out" {
            file.insert("state".into(), "sent".into());
        } else if let Some(serde_json::Value::Object(state)) =
            self.file_state(&view.message_id).await
        {
            file.extend(state);
        }
    }

    /// One message by id.
    pub async fn message(&self, message_id: &str) -> Result<MessageView, NodeError> {
        let row =
            self.store
                .message(message_id)
                .await?
                .ok_or_else(|| NodeError::UnknownMessage {
                    id: message_id.to_owned(),
                })?;
        let mut view = MessageView::new(&row, &self.me, None);
        self.add_file_state(&mut view).await;
        Ok(view)
    }

    /// Waits until an outgoing message reaches `wanted` (or a later status), or `timeout` passes.
    /// Returns the message as it is then; the caller compares the status.
    pub async fn wait_for_status(
        &self,
        message_id: &str,
        wanted: Status,
        timeout: Duration,
    ) -> Result<MessageView, NodeError> {
        let mut events = self.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let message = self.message(message_id).await?;
            let reached = Status::parse(&message.status)
                .is_some_and(|status| status.rank() >= wanted.rank() && status != Status::Failed);
            if reached || message.status == Status::Failed.as_str() {
                return Ok(message);
            }
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Err(_) => return Ok(message),
                Ok(Err(broadcast::error::RecvError::Closed)) => {
                    return Err(NodeError::ShuttingDown);
                }
                Ok(_) => {}
            }
        }
    }

    pub(crate) async fn find_contact(&self, name: &str) -> Result<ContactRow, NodeError> {
        self.store
            .find_contact(name.trim())
            .await?
            .ok_or_else(|| NodeError::UnknownContact {
                name: name.to_owned(),
            })
    }

    fn view_of(&self, row: &ContactRow) -> ContactView {
        let devices = v1::SignedDeviceList::decode(row.device_list.as_slice())
            .ok()
            .and_then(|signed| verify_device_list(&signed, None).ok())
            .map_or(0, |list| list.devices.len());
        let number = UserKey::from_bytes(&row.user_key)
            .map(|key| safety_number(&self.me, &key))
            .unwrap_or_default();
        ContactView::new(row, devices, number)
    }

    pub(crate) async fn command(&self, command: Command) -> Result<(), NodeError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| NodeError::ShuttingDown)
    }
}

fn validate_alias(alias: &str) -> Result<(), NodeError> {
    let ok = !alias.trim().is_empty()
        && alias.chars().count() <= 64
        && !alias.chars().any(|c| c.is_control() || c.is_whitespace());
    if ok {
        Ok(())
    } else {
        Err(NodeError::InvalidInput(
            "an alias is 1 to 64 characters without spaces".into(),
        ))
    }
}
