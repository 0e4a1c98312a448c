//! Where `omega chat` gets its data: the node's local API. Requests are made on the UI thread
//! through [`Client`]; the event stream (`GET /v1/events`) is read on a background thread that
//! reconnects with backoff and hands events over a bounded channel.

use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Result;
use omega_core::{ContactView, DataDir, MessageView, NodeEvent, PublicInfo};
use serde_json::{Value, json};

use super::app::{Action, Connection, Update};
use crate::Exit;
use crate::client::{Client, segment};

/// Messages fetched per conversation.
const HISTORY: usize = 1000;
/// First wait before reconnecting the event stream; it doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Longest event line accepted from the stream (messages are at most 32 KiB of text).
const MAX_LINE: u64 = 1024 * 1024;

/// The node's API for the UI thread.
pub struct NodeSource {
    data_dir: DataDir,
    client: Client,
}

impl NodeSource {
    /// Connects to the node running on `data_dir`; without one, the error every command gives
    /// (exit code 3).
    pub fn connect(data_dir: &DataDir) -> Result<NodeSource> {
        Ok(NodeSource {
            data_dir: data_dir.clone(),
            client: Client::connect(data_dir)?,
        })
    }

    /// Who we are, every contact and every conversation.
    pub fn load(&mut self) -> Result<Vec<Update>> {
        let me: PublicInfo = self.call(true, |client| client.get("/v1/id"))?;
        let mut updates = vec![Update::Me { name: me.name }];
        updates.extend(self.conversations()?);
        Ok(updates)
    }

    /// Does what an action asks; failures come back as updates to show.
    pub fn perform(&mut self, action: &Action) -> Vec<Update> {
        match action {
            Action::Quit => Vec::new(),
            Action::Reload => self
                .conversations()
                .unwrap_or_else(|error| vec![Update::Error(describe(&error))]),
            Action::Send { to, text, group } => {
                // A send is not retried after a broken connection: it may have been queued.
                match self.call(false, |client| {
                    if *group {
                        client.post::<_, MessageView>(
                            &format!("/v1/groups/{}/messages", segment(to)),
                            &json!({"text": text}),
                        )
                    } else {
                        client.post::<_, MessageView>(
                            "/v1/messages",
                            &json!({"to": to, "text": text}),
                        )
                    }
                }) {
                    Ok(message) => vec![Update::Sent(message)],
                    Err(error) => vec![Update::SendFailed {
                        text: text.clone(),
                        error: describe(&error),
                    }],
                }
            }
            Action::MarkRead { with } => {
                let path = format!("/v1/conversations/{}/read", segment(with));
                match self.call(true, |client| client.post::<_, Value>(&path, &json!({}))) {
                    Ok(_) => Vec::new(),
                    Err(error) => vec![Update::Error(describe(&error))],
                }
            }
        }
    }

    fn conversations(&mut self) -> Result<Vec<Update>> {
        let contacts: Vec<ContactView> = self.call(true, |client| client.get("/v1/contacts"))?;
        let mut updates = Vec::with_capacity(contacts.len() + 1);
        let ids: Vec<String> = contacts.iter().map(|c| c.user_id.clone()).collect();
        updates.push(Update::Contacts(contacts));
        for user_id in ids {
            let path = format!("/v1/messages?with={}&limit={HISTORY}", segment(&user_id));
            let messages = self.call(true, |client| client.get(&path))?;
            updates.push(Update::History { user_id, messages });
        }
        let me = self
            .call(true, |client| client.get::<PublicInfo>("/v1/id"))?
            .user_id;
        let groups: Vec<Value> = self.call(true, |client| client.get("/v1/groups"))?;
        let mine: Vec<(String, String)> = groups
            .iter()
            .filter(|group| {
                group["members"]
                    .as_array()
                    .is_some_and(|members| members.iter().any(|m| m["user_id"] == me.as_str()))
            })
            .filter_map(|group| {
                Some((
                    group["group_id"].as_str()?.to_owned(),
                    group["name"].as_str()?.to_owned(),
                ))
            })
            .collect();
        let ids: Vec<String> = mine.iter().map(|(id, _)| id.clone()).collect();
        updates.push(Update::Groups(mine));
        for group_id in ids {
            let path = format!("/v1/groups/{}/messages?limit={HISTORY}", segment(&group_id));
            let messages = self.call(true, |client| client.get(&path))?;
            updates.push(Update::History {
                user_id: group_id,
                messages,
            });
        }
        Ok(updates)
    }

    /// Runs a request. When the node did not answer (it restarted, so its address and token
    /// changed), connects again and, if `retry`, runs it once more.
    fn call<T>(&mut self, retry: bool, request: impl Fn(&Client) -> Result<T>) -> Result<T> {
        match request(&self.client) {
            Ok(answer) => Ok(answer),
            // The node answered with an error: connecting again would not change it.
            Err(error) if error.downcast_ref::<Exit>().is_some() => Err(error),
            Err(error) => {
                self.client = Client::connect(&self.data_dir)?;
                if retry {
                    request(&self.client)
                } else {
                    Err(error)
                }
            }
        }
    }
}

/// One line for the status bar.
fn describe(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        text.push_str(": ");
        text.push_str(&cause.to_string());
    }
    text
}

/// Starts the thread that follows the node's event stream until `stop` is set or `updates` is
/// dropped. It reads `api.json` again on every attempt, so it finds a restarted node.
pub fn spawn_events(
    data_dir: DataDir,
    updates: SyncSender<Update>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("omega-chat-events".to_owned())
        .spawn(move || follow_events(&data_dir, &updates, &stop))
}

fn follow_events(data_dir: &DataDir, updates: &SyncSender<Update>, stop: &AtomicBool) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(5)))
        .build()
        .into();
    let mut backoff = MIN_BACKOFF;
    while !stop.load(Ordering::Relaxed) {
        let reason = match open_stream(&agent, data_dir) {
            Ok(reader) => {
                if updates.send(Update::Connection(Connection::Live)).is_err() {
                    return;
                }
                backoff = MIN_BACKOFF;
                match read_stream(reader, updates, stop) {
                    Ok(()) => "the node closed the event stream".to_owned(),
                    Err(Stopped) => return,
                }
            }
            Err(reason) => reason,
        };
        let offline = Update::Connection(Connection::Offline { reason });
        if updates.send(offline).is_err() {
            return;
        }
        // Wait in small steps so a stop is noticed quickly.
        let mut waited = Duration::ZERO;
        while waited < backoff && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
            waited += Duration::from_millis(50);
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

fn open_stream(agent: &ureq::Agent, data_dir: &DataDir) -> Result<impl Read, String> {
    let api = data_dir
        .read_api()
        .ok_or_else(|| "no node is running".to_owned())?;
    let response = agent
        .get(format!("{}/v1/events", api.url))
        .header("Authorization", &format!("Bearer {}", api.token))
        .header("Accept", "text/event-stream")
        .call()
        .map_err(|_| "the node does not answer".to_owned())?;
    if !response.status().is_success() {
        return Err(format!("the node answered {}", response.status()));
    }
    Ok(response.into_body().into_reader())
}

/// The reader should stop: the user left.
struct Stopped;

/// Reads server-sent events until the stream ends (`Ok`) or the reader should stop.
fn read_stream(
    reader: impl Read,
    updates: &SyncSender<Update>,
    stop: &AtomicBool,
) -> Result<(), Stopped> {
    let mut reader = BufReader::new(reader);
    let mut data = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        let read = (&mut reader).take(MAX_LINE).read_line(&mut line);
        if stop.load(Ordering::Relaxed) {
            return Err(Stopped);
        }
        match read {
            Ok(0) | Err(_) => return Ok(()),
            Ok(_) if !line.ends_with('\n') => return Ok(()), // over MAX_LINE, or cut off
            Ok(_) => {}
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            // The end of one event.
            if let Ok(event) = serde_json::from_str::<NodeEvent>(&data)
                && updates.send(Update::Node(event)).is_err()
            {
                return Err(Stopped);
            }
            data.clear();
        } else if let Some(value) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(value.strip_prefix(' ').unwrap_or(value));
        }
        // Comments (keep-alives) and other fields are ignored.
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    #[test]
    fn event_stream_parser_reads_events_and_skips_comments_and_unknown_types() {
        let stream = concat!(
            ": keep-alive\n\n",
            "data: {\"type\":\"status\",\"message_id\":\"m1\",\"peer\":\"bob\",\"status\":\"sent\"}\n\n",
            "data: {\"type\":\"future_kind\"}\n\n",
            "event: ignored\r\n",
            "data:{\"type\":\"status\",\"message_id\":\"m2\",\"peer\":\"bob\",\"status\":\"read\"}\r\n\r\n",
        );
        let (sender, receiver) = mpsc::sync_channel(16);
        let stop = AtomicBool::new(false);
        assert!(read_stream(stream.as_bytes(), &sender, &stop).is_ok());
        let got: Vec<Update> = receiver.try_iter().collect();
        assert_eq!(
            got,
            [
                Update::Node(NodeEvent::Status {
                    message_id: "m1".into(),
                    peer: "bob".into(),
                    status: "sent".into()
                }),
                Update::Node(NodeEvent::Status {
                    message_id: "m2".into(),
                    peer: "bob".into(),
                    status: "read".into()
                }),
            ]
        );
    }
}
