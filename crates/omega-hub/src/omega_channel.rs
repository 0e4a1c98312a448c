//! Ômega as a channel: the hub runs an embedded Ômega node (`omega-core`) per `omega` channel as
//! the business identity, so Ômega contacts write to the same inbox — end-to-end encrypted up to
//! the hub. Received messages go through the same pipeline as webhooks (privacy, hide mode,
//! storage once per message id, quota count, lead, realtime); replies are sent by the node.
//!
//! The node's identity lives in `DATA_DIR/omega/<channel id>/`, its keystore sealed with a
//! passphrase derived from the hub's master key (so it is never on disk in the clear and never
//! typed by anyone).

use std::collections::HashMap;
use std::sync::Mutex;

use omega_channels::{Address, DeliveryStatus, Direction, MessageKind, NormalizedMessage};
use omega_core::{DataDir, MessageView, Node, NodeConfig, NodeEvent, NodeHandle};
use zeroize::Zeroizing;

use crate::error::HubError;
use crate::hub::Hub;
use crate::store::{ChannelRow, channel_tenant, now_ms};

/// The running embedded nodes, by channel id.
#[derive(Default)]
pub(crate) struct OmegaNodes {
    running: Mutex<HashMap<String, Running>>,
}

struct Running {
    node: Node,
    data_dir: DataDir,
    bridge: tokio::task::JoinHandle<()>,
}

impl OmegaNodes {
    pub(crate) fn handle(&self, channel_id: &str) -> Option<NodeHandle> {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running.get(channel_id).map(|r| r.node.handle())
    }

    /// The `omega:` card of a channel's node (what customers add to write to the business).
    pub(crate) fn card(&self, channel_id: &str) -> Option<String> {
        self.handle(channel_id).map(|handle| handle.info().card)
    }
}

fn status_of(text: &str) -> Option<DeliveryStatus> {
    match text {
        "sent" => Some(DeliveryStatus::Sent),
        "delivered" => Some(DeliveryStatus::Delivered),
        "read" => Some(DeliveryStatus::Read),
        "failed" => Some(DeliveryStatus::Failed),
        _ => None,
    }
}

/// A message the node received, in the inbox's model.
fn normalized(view: &MessageView) -> NormalizedMessage {
    let sender = Address::Omega(view.from.clone());
    NormalizedMessage {
        provider_message_id: view.message_id.clone(),
        chat: sender.clone(),
        sender,
        sender_alt: Vec::new(),
        sender_name: view.peer.clone(),
        direction: Direction::Inbound,
        kind: MessageKind::Text,
        text: Some(view.text.clone()),
        media: None,
        reply_to: None,
        sent_at_ms: view.timestamp,
        locked_chat: false,
    }
}

impl Hub {
    fn omega_passphrase(&self, channel_id: &str) -> Zeroizing<Vec<u8>> {
        let key = self
            .0
            .master
            .keyed_hash("omega-node-passphrase", channel_id.as_bytes());
        Zeroizing::new(hex::encode(key).into_bytes())
    }

    /// Starts the embedded node of an `omega` channel (creating its identity on first start).
    pub(crate) async fn start_omega_node(&self, channel: &ChannelRow) -> Result<(), HubError> {
        if self.0.omega.handle(&channel.id).is_some() {
            return Ok(());
        }
        let data_dir = DataDir::new(self.0.options.data_dir.join("omega").join(&channel.id));
        let passphrase = self.omega_passphrase(&channel.id);
        if !data_dir.is_initialized() {
            std::fs::create_dir_all(data_dir.root()).map_err(|error| HubError::internal(&error))?;
            let name = channel.name.chars().take(64).collect::<String>();
            let created = data_dir
                .init(&name, &passphrase, u64::try_from(now_ms()).unwrap_or(0))
                .await;
            if created.is_err() {
                data_dir
                    .init(
                        "Business",
                        &passphrase,
                        u64::try_from(now_ms()).unwrap_or(0),
                    )
                    .await
                    .map_err(|error| HubError::internal(&error))?;
            }
        }
        let config = self.config();
        let mut node_config = NodeConfig::new(data_dir.clone(), passphrase);
        let listen: Result<Vec<_>, _> = config
            .connectors
            .omega_listen
            .iter()
            .map(|addr| addr.parse())
            .collect();
        node_config.listen = listen.map_err(|error| HubError::internal(&error))?;
        if !config.connectors.omega_mailbox.is_empty() {
            node_config.mailbox = Some(
                config
                    .connectors
                    .omega_mailbox
                    .parse()
                    .map_err(|error| HubError::internal(&error))?,
            );
        }
        let node = Node::start(node_config)
            .await
            .map_err(|error| HubError::internal(&error))?;
        let handle = node.handle();
        let events = handle.subscribe();
        // What arrived while the hub was down is in the node's store: take it (idempotent).
        self.omega_backfill(&channel.id, &handle).await?;
        let bridge = tokio::spawn(
            self.clone()
                .omega_bridge(channel.id.clone(), handle, events),
        );
        let mut running = self
            .0
            .omega
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        running.insert(
            channel.id.clone(),
            Running {
                node,
                data_dir,
                bridge,
            },
        );
        Ok(())
    }

    /// Starts the nodes of every `omega` channel (at serve time).
    pub(crate) async fn start_omega_nodes(&self) -> Result<(), HubError> {
        for channel in self.0.db.channels_of_kind("omega").await? {
            self.start_omega_node(&channel).await?;
        }
        Ok(())
    }

    /// Stops every embedded node cleanly.
    pub(crate) async fn stop_omega_nodes(&self) {
        let running: Vec<Running> = {
            let mut map = self
                .0
                .omega
                .running
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            map.drain().map(|(_, running)| running).collect()
        };
        for running in running {
            running.bridge.abort();
            running.node.shutdown(&running.data_dir).await;
        }
    }

    async fn omega_take(&self, channel_id: &str, event: NodeEvent) -> Result<(), HubError> {
        let Some(channel) = self.0.db.channel_by_id(channel_id).await? else {
            return Ok(());
        };
        match event {
            // Group conversations of the business identity are not inbox conversations (yet).
            NodeEvent::Message { message }
                if message.direction == "in" && message.group.is_none() =>
            {
                let tenant = channel_tenant(&channel);
                let privacy = self.0.db.tenant(&tenant).privacy_settings().await?;
                let mut hidden = self.hidden_set(&tenant).await?;
                self.take_message(&channel, &privacy, &mut hidden, &normalized(&message))
                    .await?;
            }
            // Edits, reactions and erasures of Ômega messages are not mirrored into the inbox
            // yet: the inbox keeps what arrived.
            NodeEvent::Message { .. }
            | NodeEvent::Updated { .. }
            | NodeEvent::Erased { .. }
            | NodeEvent::Group { .. } => {}
            NodeEvent::Status {
                message_id, status, ..
            } => {
                if let Some(status) = status_of(&status) {
                    self.take_status(&channel, &message_id, status).await?;
                }
            }
        }
        Ok(())
    }

    async fn omega_backfill(&self, channel_id: &str, handle: &NodeHandle) -> Result<(), HubError> {
        let stored = handle
            .messages(None, 100_000)
            .await
            .map_err(|error| HubError::internal(&error))?;
        for message in stored {
            let event = if message.direction == "in" {
                NodeEvent::Message { message }
            } else {
                NodeEvent::Status {
                    peer: message.to.clone(),
                    message_id: message.message_id,
                    status: message.status,
                }
            };
            self.omega_take(channel_id, event).await?;
        }
        Ok(())
    }

    async fn omega_bridge(
        self,
        channel_id: String,
        handle: NodeHandle,
        mut events: tokio::sync::broadcast::Receiver<NodeEvent>,
    ) {
        loop {
            let result = match events.recv().await {
                Ok(event) => self.omega_take(&channel_id, event).await,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    self.omega_backfill(&channel_id, &handle).await
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            };
            if let Err(error) = result {
                tracing::error!(%error, channel = %channel_id, "omega channel bridge");
            }
        }
    }

    /// Applies the status the node holds now for one of its messages.
    pub(crate) async fn omega_catch_up_status(
        &self,
        channel: &ChannelRow,
        message_id: &str,
    ) -> Result<(), HubError> {
        let Some(handle) = self.0.omega.handle(&channel.id) else {
            return Ok(());
        };
        if let Ok(view) = handle.message(message_id).await
            && let Some(status) = status_of(&view.status)
        {
            self.take_status(channel, message_id, status).await?;
        }
        Ok(())
    }

    /// Sends a reply through a channel's embedded node; the node's message id.
    pub(crate) async fn omega_send(
        &self,
        channel_id: &str,
        to: &Address,
        text: &str,
    ) -> Result<String, String> {
        let Address::Omega(user_id) = to else {
            return Err("an Ômega channel reaches Ômega users only".into());
        };
        let handle = self
            .0
            .omega
            .handle(channel_id)
            .ok_or_else(|| "the channel's Ômega node is not running".to_owned())?;
        handle
            .send_text(user_id, text)
            .await
            .map(|view| view.message_id)
            .map_err(|error| error.to_string())
    }
}
