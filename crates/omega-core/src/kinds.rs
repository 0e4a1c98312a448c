//! Message kinds, sans IO: what a person sends (a [`Draft`]) or does to an earlier message (a
//! [`Change`]) becomes wire [`v1::Content`] plus what this device stores; what arrives becomes
//! a stored item or a [`MessageChange`]. Every field from the wire is checked here, so a peer's
//! garbage is refused before it reaches the store.

use omega_crypto::{ContactCard, UserKey};
use omega_proto::v1;
use omega_store::{Direction, MessageChange, MessageKind, MessageMeta};
use serde_json::json;

use crate::NodeError;

/// Longest text accepted in one message (bytes of UTF-8).
pub const MAX_TEXT_BYTES: usize = 32 * 1024;
/// Longest disappearing timer (four weeks).
pub const MAX_TIMER_MS: u64 = 28 * 24 * 3600 * 1000;
/// Shortest disappearing timer other than off.
pub const MIN_TIMER_MS: u64 = 1000;
const MAX_LABEL_BYTES: usize = 256;
const MAX_MENTIONS: usize = 64;

/// Something to send into a conversation.
#[derive(Clone, Debug)]
pub enum Draft {
    Text {
        body: String,
        mentions: Vec<UserKey>,
    },
    Location {
        latitude: f64,
        longitude: f64,
        label: String,
        accuracy_m: u32,
    },
    /// Someone's `omega:` card, passed on.
    Contact { card: String },
    Sticker {
        pack: String,
        name: String,
        alt: String,
    },
    /// Sets the conversation's disappearing-message timer (0: off).
    Timer { expires_in_ms: u64 },
    /// An end-to-end encrypted file whose chunks are already where `sources` say.
    File(FileAttachment),
}

/// A file message's payload: the manifest (which holds the file key: zeroized on drop, never
/// printed) and where its chunks can be fetched (full multiaddrs answering `/omega/blob/1`).
#[derive(Clone, PartialEq, Eq)]
pub struct FileAttachment {
    pub manifest: zeroize::Zeroizing<Vec<u8>>,
    pub sources: Vec<String>,
}

impl std::fmt::Debug for FileAttachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileAttachment")
            .field("manifest", &format_args!("<{} bytes>", self.manifest.len()))
            .field("sources", &self.sources)
            .finish()
    }
}

/// Most sources a file message may list.
pub const MAX_FILE_SOURCES: usize = 8;
const MAX_SOURCE_BYTES: usize = 512;

/// Something done to an earlier message of a conversation (by its id).
#[derive(Clone, Debug)]
pub enum Change {
    /// `None` takes my reaction back.
    React { emoji: Option<String> },
    Edit {
        body: String,
        mentions: Vec<UserKey>,
    },
    /// Delete for everyone (my own messages only).
    Delete,
}

/// A conversation item ready to store: its text and meta (without `expires_at_ms`, which the
/// caller sets from its clock).
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub body: String,
    pub meta: MessageMeta,
    /// A timer line also sets the conversation's timer.
    pub timer_ms: Option<i64>,
    /// A received file: what fetching it needs (stored apart from the message).
    pub file: Option<FileAttachment>,
}

/// What an arrived [`v1::Content`] asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum Arrived {
    /// A conversation item to store (and acknowledge with a delivery receipt).
    Item {
        item: Item,
        /// Erase it this long after it arrives (0: keep).
        expires_in_ms: u64,
    },
    /// A change to an earlier message (no receipt).
    Change(MessageChange),
}

fn invalid(message: impl Into<String>) -> NodeError {
    NodeError::InvalidInput(message.into())
}

/// A message id as text (UUID) from its 16 wire bytes.
fn id_text(bytes: &[u8]) -> Option<String> {
    uuid::Uuid::from_slice(bytes).ok().map(|id| id.to_string())
}

/// A message id's 16 wire bytes from its text form.
pub fn id_bytes(text: &str) -> Result<Vec<u8>, NodeError> {
    uuid::Uuid::parse_str(text)
        .map(|id| id.as_bytes().to_vec())
        .map_err(|_| invalid(format!("{text:?} is not a message id")))
}

fn check_text(body: &str) -> Result<(), NodeError> {
    if body.len() > MAX_TEXT_BYTES {
        return Err(invalid(format!(
            "text is {} bytes, more than the limit of {MAX_TEXT_BYTES}",
            body.len()
        )));
    }
    if body.trim().is_empty() {
        return Err(invalid("text is empty"));
    }
    Ok(())
}

fn check_short(what: &str, text: &str, required: bool) -> Result<(), NodeError> {
    if text.len() > MAX_LABEL_BYTES {
        return Err(invalid(format!(
            "{what} is longer than {MAX_LABEL_BYTES} bytes"
        )));
    }
    if required && text.trim().is_empty() {
        return Err(invalid(format!("{what} is empty")));
    }
    if text.chars().any(char::is_control) {
        return Err(invalid(format!("{what} holds control characters")));
    }
    Ok(())
}

fn check_emoji(emoji: &str) -> Result<(), NodeError> {
    let count = emoji.chars().count();
    if count == 0 || count > 16 || emoji.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(invalid(
            "a reaction is one emoji (at most 16 characters, no spaces)",
        ));
    }
    Ok(())
}

fn mentions_json(mentions: &[UserKey]) -> Option<String> {
    (!mentions.is_empty()).then(|| {
        json!({ "mentions": mentions.iter().map(UserKey::user_id).collect::<Vec<_>>() }).to_string()
    })
}

fn timer_body(ms: u64) -> String {
    if ms == 0 {
        return "disappearing messages off".to_owned();
    }
    let (value, unit) = match ms {
        ms if ms % 86_400_000 == 0 => (ms / 86_400_000, "day"),
        ms if ms % 3_600_000 == 0 => (ms / 3_600_000, "hour"),
        ms if ms % 60_000 == 0 => (ms / 60_000, "minute"),
        ms => (ms.div_ceil(1000), "second"),
    };
    let plural = if value == 1 { "" } else { "s" };
    format!("disappearing messages: {value} {unit}{plural}")
}

fn check_timer(ms: u64) -> Result<(), NodeError> {
    if ms != 0 && !(MIN_TIMER_MS..=MAX_TIMER_MS).contains(&ms) {
        return Err(invalid(format!(
            "a disappearing timer is off (0) or between {} s and {} days",
            MIN_TIMER_MS / 1000,
            MAX_TIMER_MS / 86_400_000
        )));
    }
    Ok(())
}

/// The wire content and the stored item of a draft.
pub fn draft(
    draft: &Draft,
    reply_to: Option<&str>,
    expires_in_ms: u64,
) -> Result<(v1::Content, Item), NodeError> {
    let reply_bytes = reply_to.map(id_bytes).transpose()?.unwrap_or_default();
    let (body, meta_kind, extra, timer_ms, wire) = match draft {
        Draft::Text { body, mentions } => {
            check_text(body)?;
            if mentions.len() > MAX_MENTIONS {
                return Err(invalid(format!("at most {MAX_MENTIONS} mentions")));
            }
            (
                body.clone(),
                MessageKind::Text,
                mentions_json(mentions),
                None,
                v1::content::Body::Text(v1::Text {
                    body: body.clone(),
                    mentions: mentions.iter().map(|key| key.as_bytes().to_vec()).collect(),
                }),
            )
        }
        Draft::Location {
            latitude,
            longitude,
            label,
            accuracy_m,
        } => {
            check_location(*latitude, *longitude)?;
            check_short("the label", label, false)?;
            let body = if label.trim().is_empty() {
                format!("📍 {latitude:.5}, {longitude:.5}")
            } else {
                format!("📍 {label}")
            };
            (
                body,
                MessageKind::Location,
                Some(
                    json!({ "latitude": latitude, "longitude": longitude, "label": label, "accuracy_m": accuracy_m })
                        .to_string(),
                ),
                None,
                v1::content::Body::Location(v1::Location {
                    latitude: *latitude,
                    longitude: *longitude,
                    label: label.clone(),
                    accuracy_m: *accuracy_m,
                }),
            )
        }
        Draft::Contact { card } => {
            let (body, extra) = shared_contact(card)?;
            (
                body,
                MessageKind::Contact,
                Some(extra),
                None,
                v1::content::Body::Contact(v1::SharedContact {
                    card: card.trim().to_owned(),
                }),
            )
        }
        Draft::Sticker { pack, name, alt } => {
            check_short("the sticker pack", pack, true)?;
            check_short("the sticker name", name, true)?;
            check_short("the sticker's text", alt, false)?;
            (
                sticker_body(name, alt),
                MessageKind::Sticker,
                Some(json!({ "pack": pack, "name": name, "alt": alt }).to_string()),
                None,
                v1::content::Body::Sticker(v1::Sticker {
                    pack: pack.clone(),
                    name: name.clone(),
                    alt: alt.clone(),
                }),
            )
        }
        Draft::File(attachment) => {
            let (body, extra) = file_item(attachment).map_err(invalid)?;
            (
                body,
                MessageKind::File,
                Some(extra),
                None,
                v1::content::Body::File(v1::File {
                    manifest: attachment.manifest.to_vec(),
                    sources: attachment.sources.clone(),
                }),
            )
        }
        Draft::Timer { expires_in_ms } => {
            check_timer(*expires_in_ms)?;
            let ms = i64::try_from(*expires_in_ms).unwrap_or(i64::MAX);
            (
                timer_body(*expires_in_ms),
                MessageKind::Timer,
                Some(json!({ "expires_in_ms": ms }).to_string()),
                Some(ms),
                v1::content::Body::Timer(v1::TimerChange {
                    expires_in_ms: *expires_in_ms,
                }),
            )
        }
    };
    // A timer line itself never disappears, so both sides keep a record of the change.
    let expires_in_ms = if timer_ms.is_some() { 0 } else { expires_in_ms };
    let content = v1::Content {
        body: Some(wire),
        reply_to: reply_bytes,
        expires_in_ms,
    };
    Ok((
        content,
        Item {
            body,
            meta: MessageMeta {
                kind: meta_kind,
                extra,
                reply_to: reply_to.map(str::to_owned),
                expires_at_ms: None,
                author: None,
            },
            timer_ms,
            file: None,
        },
    ))
}

/// The wire content and my local change for a change to message `target`.
pub fn change(
    change: &Change,
    target: &str,
    me: &UserKey,
) -> Result<(v1::Content, MessageChange), NodeError> {
    let target_bytes = id_bytes(target)?;
    let (wire, local) = match change {
        Change::React { emoji } => {
            if let Some(emoji) = emoji {
                check_emoji(emoji)?;
            }
            (
                v1::content::Body::Reaction(v1::Reaction {
                    target: target_bytes,
                    emoji: emoji.clone().unwrap_or_default(),
                    remove: emoji.is_none(),
                }),
                MessageChange::React {
                    target: target.to_owned(),
                    by: me.user_id(),
                    emoji: emoji.clone(),
                },
            )
        }
        Change::Edit { body, mentions } => {
            check_text(body)?;
            (
                v1::content::Body::Edit(v1::Edit {
                    target: target_bytes,
                    body: body.clone(),
                    mentions: mentions.iter().map(|key| key.as_bytes().to_vec()).collect(),
                }),
                MessageChange::Edit {
                    target: target.to_owned(),
                    author: Direction::Out,
                    body: body.clone(),
                    extra: mentions_json(mentions),
                },
            )
        }
        Change::Delete => (
            v1::content::Body::Delete(v1::Delete {
                target: target_bytes,
            }),
            MessageChange::Delete {
                target: target.to_owned(),
                author: Direction::Out,
            },
        ),
    };
    Ok((
        v1::Content {
            body: Some(wire),
            ..v1::Content::default()
        },
        local,
    ))
}

/// What an arrived content from `sender` asks this device to store or change. Receipts are
/// handled by the caller; `Err` says why the content is refused.
pub fn arrived(content: &v1::Content, sender: &UserKey) -> Result<Arrived, String> {
    let reply_to = if content.reply_to.is_empty() {
        None
    } else {
        Some(id_text(&content.reply_to).ok_or("reply_to is not a message id")?)
    };
    let expires_in_ms = content.expires_in_ms;
    if expires_in_ms > MAX_TIMER_MS {
        return Err("expires_in_ms is longer than the longest timer".into());
    }
    let item = |body: String, kind: MessageKind, extra: Option<String>, timer_ms: Option<i64>| {
        Ok(Arrived::Item {
            item: Item {
                body,
                meta: MessageMeta {
                    kind,
                    extra,
                    reply_to: reply_to.clone(),
                    expires_at_ms: None,
                    author: None,
                },
                timer_ms,
                file: None,
            },
            expires_in_ms,
        })
    };
    let target =
        |bytes: &[u8]| id_text(bytes).ok_or_else(|| "target is not a message id".to_owned());
    let keys = |mentions: &[Vec<u8>]| -> Result<Vec<UserKey>, String> {
        if mentions.len() > MAX_MENTIONS {
            return Err("too many mentions".into());
        }
        mentions
            .iter()
            .map(|key| {
                UserKey::from_bytes(key).map_err(|_| "a mention is not a user key".to_owned())
            })
            .collect()
    };
    match &content.body {
        Some(v1::content::Body::Text(text)) => {
            check_text(&text.body).map_err(|error| error.to_string())?;
            item(
                text.body.clone(),
                MessageKind::Text,
                mentions_json(&keys(&text.mentions)?),
                None,
            )
        }
        Some(v1::content::Body::Location(location)) => {
            check_location(location.latitude, location.longitude).map_err(|e| e.to_string())?;
            check_short("the label", &location.label, false).map_err(|e| e.to_string())?;
            let (_, stored) = draft(
                &Draft::Location {
                    latitude: location.latitude,
                    longitude: location.longitude,
                    label: location.label.clone(),
                    accuracy_m: location.accuracy_m,
                },
                None,
                0,
            )
            .map_err(|error| error.to_string())?;
            item(stored.body, MessageKind::Location, stored.meta.extra, None)
        }
        Some(v1::content::Body::Contact(shared)) => {
            let (body, extra) = shared_contact(&shared.card).map_err(|error| error.to_string())?;
            item(body, MessageKind::Contact, Some(extra), None)
        }
        Some(v1::content::Body::Sticker(sticker)) => {
            for (what, text, required) in [
                ("the sticker pack", &sticker.pack, true),
                ("the sticker name", &sticker.name, true),
                ("the sticker's text", &sticker.alt, false),
            ] {
                check_short(what, text, required).map_err(|error| error.to_string())?;
            }
            item(
                sticker_body(&sticker.name, &sticker.alt),
                MessageKind::Sticker,
                Some(
                    json!({ "pack": sticker.pack, "name": sticker.name, "alt": sticker.alt })
                        .to_string(),
                ),
                None,
            )
        }
        Some(v1::content::Body::Timer(timer)) => {
            check_timer(timer.expires_in_ms).map_err(|error| error.to_string())?;
            let ms = i64::try_from(timer.expires_in_ms).unwrap_or(i64::MAX);
            Ok(Arrived::Item {
                item: Item {
                    body: timer_body(timer.expires_in_ms),
                    meta: MessageMeta {
                        kind: MessageKind::Timer,
                        extra: Some(json!({ "expires_in_ms": ms }).to_string()),
                        reply_to: None,
                        expires_at_ms: None,
                        author: None,
                    },
                    timer_ms: Some(ms),
                    file: None,
                },
                expires_in_ms: 0,
            })
        }
        Some(v1::content::Body::File(file)) => {
            let attachment = FileAttachment {
                manifest: zeroize::Zeroizing::new(file.manifest.clone()),
                sources: file.sources.clone(),
            };
            let (body, extra) = file_item(&attachment)?;
            let arrived = item(body, MessageKind::File, Some(extra), None)?;
            Ok(match arrived {
                Arrived::Item {
                    mut item,
                    expires_in_ms,
                } => {
                    item.file = Some(attachment);
                    Arrived::Item {
                        item,
                        expires_in_ms,
                    }
                }
                other => other,
            })
        }
        Some(v1::content::Body::Reaction(reaction)) => {
            let emoji = if reaction.remove {
                None
            } else {
                check_emoji(&reaction.emoji).map_err(|error| error.to_string())?;
                Some(reaction.emoji.clone())
            };
            Ok(Arrived::Change(MessageChange::React {
                target: target(&reaction.target)?,
                by: sender.user_id(),
                emoji,
            }))
        }
        Some(v1::content::Body::Edit(edit)) => {
            check_text(&edit.body).map_err(|error| error.to_string())?;
            Ok(Arrived::Change(MessageChange::Edit {
                target: target(&edit.target)?,
                author: Direction::In,
                body: edit.body.clone(),
                extra: mentions_json(&keys(&edit.mentions)?),
            }))
        }
        Some(v1::content::Body::Delete(delete)) => Ok(Arrived::Change(MessageChange::Delete {
            target: target(&delete.target)?,
            author: Direction::In,
        })),
        Some(v1::content::Body::Receipt(_)) => Err("a receipt is not a message".into()),
        Some(
            v1::content::Body::GroupState(_)
            | v1::content::Body::GroupKey(_)
            | v1::content::Body::GroupMessage(_)
            | v1::content::Body::GroupResend(_),
        ) => Err("group traffic is not a conversation item".into()),
        Some(
            v1::content::Body::DeviceList(_)
            | v1::content::Body::SentCopy(_)
            | v1::content::Body::Backfill(_)
            | v1::content::Body::Sync(_),
        ) => Err("a device content is not a message".into()),
        None => Err("empty content".into()),
    }
}

/// Checks a file message (a manifest that decodes, sources that are full multiaddrs) and
/// gives its text and `extra` JSON: `{"name","size","mime","sha256","chunk_count",
/// "thumbnail": {"width","height"} | null}` (never the key).
pub fn file_item(attachment: &FileAttachment) -> Result<(String, String), String> {
    let manifest = omega_files::Manifest::from_bytes(&attachment.manifest)
        .map_err(|error| format!("file manifest: {error}"))?;
    if attachment.sources.len() > MAX_FILE_SOURCES {
        return Err(format!("a file lists at most {MAX_FILE_SOURCES} sources"));
    }
    for source in &attachment.sources {
        let addr: Option<libp2p::Multiaddr> = (source.len() <= MAX_SOURCE_BYTES)
            .then(|| source.parse().ok())
            .flatten();
        let full = addr.is_some_and(|addr| {
            matches!(
                addr.iter().last(),
                Some(libp2p::multiaddr::Protocol::P2p(_))
            )
        });
        if !full {
            return Err("a file source is not a multiaddr ending in /p2p/<peer id>".into());
        }
    }
    let view = manifest.view();
    let extra = json!({
        "name": view.name,
        "size": view.size,
        "mime": view.mime,
        "sha256": view.sha256,
        "chunk_count": view.chunk_count,
        "thumbnail": manifest.thumbnail().map(|thumbnail| json!({
            "width": thumbnail.width(),
            "height": thumbnail.height(),
        })),
    });
    Ok((
        format!("📎 {} ({})", manifest.name(), human_size(manifest.size())),
        extra.to_string(),
    ))
}

/// `1.5 MB`-style sizes (decimal units, as file managers show them).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

fn check_location(latitude: f64, longitude: f64) -> Result<(), NodeError> {
    if !(latitude.is_finite()
        && longitude.is_finite()
        && (-90.0..=90.0).contains(&latitude)
        && (-180.0..=180.0).contains(&longitude))
    {
        return Err(invalid(
            "a location needs a latitude in -90..90 and a longitude in -180..180",
        ));
    }
    Ok(())
}

fn shared_contact(card: &str) -> Result<(String, String), NodeError> {
    let card = card.trim();
    let parsed = ContactCard::parse_uri(card)
        .map_err(|error| invalid(format!("not a contact card: {error}")))?;
    let name = parsed.name.clone();
    let user_id = parsed.user().user_id();
    Ok((
        format!("👤 {name}"),
        json!({ "card": card, "name": name, "user_id": user_id }).to_string(),
    ))
}

fn sticker_body(name: &str, alt: &str) -> String {
    if alt.trim().is_empty() {
        format!("[sticker: {name}]")
    } else {
        format!("[sticker: {alt}]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> UserKey {
        omega_crypto::UserIdentity::from_secret_bytes(&[n; 32]).public_key()
    }

    #[test]
    fn every_kind_round_trips_from_draft_to_arrived() {
        let alice = key(1);
        let drafts = [
            Draft::Text {
                body: "oi @bob".into(),
                mentions: vec![key(2)],
            },
            Draft::Location {
                latitude: -23.55,
                longitude: -46.63,
                label: "Padaria".into(),
                accuracy_m: 12,
            },
            Draft::Sticker {
                pack: "omega".into(),
                name: "thumbs-up".into(),
                alt: "👍".into(),
            },
            Draft::Timer {
                expires_in_ms: 3_600_000,
            },
        ];
        let reply = uuid::Uuid::now_v7().to_string();
        for draft_item in &drafts {
            let (content, stored) = draft(draft_item, Some(&reply), 60_000).unwrap();
            let wire = omega_proto::Message::encode_to_vec(&content);
            let decoded = <v1::Content as omega_proto::Message>::decode(wire.as_slice()).unwrap();
            let Arrived::Item {
                item,
                expires_in_ms,
            } = arrived(&decoded, &alice).unwrap()
            else {
                panic!("an item");
            };
            assert_eq!(item.body, stored.body);
            assert_eq!(item.meta.kind, stored.meta.kind);
            assert_eq!(item.meta.extra, stored.meta.extra);
            assert_eq!(item.timer_ms, stored.timer_ms);
            if stored.meta.kind == MessageKind::Timer {
                assert_eq!(expires_in_ms, 0, "a timer line never disappears");
            } else {
                assert_eq!(expires_in_ms, 60_000);
                assert_eq!(item.meta.reply_to.as_deref(), Some(reply.as_str()));
            }
        }
    }

    #[test]
    fn changes_arrive_as_the_senders_changes() {
        let (me, them) = (key(1), key(2));
        let target = uuid::Uuid::now_v7().to_string();
        for local in [
            Change::React {
                emoji: Some("🎉".into()),
            },
            Change::React { emoji: None },
            Change::Edit {
                body: "fixed".into(),
                mentions: vec![],
            },
            Change::Delete,
        ] {
            let (content, mine) = change(&local, &target, &me).unwrap();
            let Arrived::Change(theirs) = arrived(&content, &them).unwrap() else {
                panic!("a change");
            };
            match (mine, theirs) {
                (
                    MessageChange::React {
                        by: mine_by,
                        emoji: a,
                        ..
                    },
                    MessageChange::React { by, emoji: b, .. },
                ) => {
                    assert_eq!(mine_by, me.user_id());
                    assert_eq!(by, them.user_id(), "the receiver credits the sender");
                    assert_eq!(a, b);
                }
                (
                    MessageChange::Edit {
                        author: Direction::Out,
                        body: a,
                        ..
                    },
                    MessageChange::Edit {
                        author: Direction::In,
                        body: b,
                        ..
                    },
                ) => {
                    assert_eq!(a, b);
                }
                (
                    MessageChange::Delete {
                        author: Direction::Out,
                        ..
                    },
                    MessageChange::Delete {
                        author: Direction::In,
                        ..
                    },
                ) => {}
                other => panic!("mismatch: {other:?}"),
            }
        }
    }

    #[test]
    fn garbage_from_a_peer_is_refused_with_a_reason() {
        let them = key(2);
        let bad = [
            v1::Content::default(),
            v1::Content {
                body: Some(v1::content::Body::Text(v1::Text {
                    body: " ".into(),
                    mentions: vec![],
                })),
                ..Default::default()
            },
            v1::Content {
                body: Some(v1::content::Body::Location(v1::Location {
                    latitude: f64::NAN,
                    longitude: 0.0,
                    label: String::new(),
                    accuracy_m: 0,
                })),
                ..Default::default()
            },
            v1::Content {
                body: Some(v1::content::Body::Contact(v1::SharedContact {
                    card: "omega:garbage".into(),
                })),
                ..Default::default()
            },
            v1::Content {
                body: Some(v1::content::Body::Reaction(v1::Reaction {
                    target: vec![1, 2, 3],
                    emoji: "👍".into(),
                    remove: false,
                })),
                ..Default::default()
            },
            v1::Content {
                body: Some(v1::content::Body::Reaction(v1::Reaction {
                    target: uuid::Uuid::now_v7().as_bytes().to_vec(),
                    emoji: "a very long reaction text".into(),
                    remove: false,
                })),
                ..Default::default()
            },
            v1::Content {
                body: Some(v1::content::Body::Timer(v1::TimerChange {
                    expires_in_ms: 5,
                })),
                ..Default::default()
            },
            v1::Content {
                body: Some(v1::content::Body::Text(v1::Text {
                    body: "hi".into(),
                    mentions: vec![vec![0; 3]],
                })),
                ..Default::default()
            },
            v1::Content {
                body: Some(v1::content::Body::Text(v1::Text {
                    body: "hi".into(),
                    mentions: vec![],
                })),
                reply_to: vec![9; 5],
                ..Default::default()
            },
            v1::Content {
                body: Some(v1::content::Body::Text(v1::Text {
                    body: "hi".into(),
                    mentions: vec![],
                })),
                expires_in_ms: u64::MAX,
                ..Default::default()
            },
        ];
        for content in bad {
            assert!(arrived(&content, &them).is_err(), "{content:?}");
        }
    }

    #[test]
    fn drafts_with_bad_input_are_refused() {
        for bad in [
            Draft::Location {
                latitude: 91.0,
                longitude: 0.0,
                label: String::new(),
                accuracy_m: 0,
            },
            Draft::Contact {
                card: "not a card".into(),
            },
            Draft::Sticker {
                pack: String::new(),
                name: "x".into(),
                alt: String::new(),
            },
            Draft::Timer { expires_in_ms: 10 },
            Draft::Text {
                body: "x".repeat(MAX_TEXT_BYTES + 1),
                mentions: vec![],
            },
        ] {
            assert!(draft(&bad, None, 0).is_err(), "{bad:?}");
        }
        assert!(draft(&Draft::Timer { expires_in_ms: 0 }, None, 0).is_ok());
        assert!(
            draft(
                &Draft::Text {
                    body: "x".into(),
                    mentions: vec![]
                },
                Some("nope"),
                0
            )
            .is_err()
        );
    }

    fn sample_manifest() -> zeroize::Zeroizing<Vec<u8>> {
        let mut sealer = omega_files::Sealer::new(
            &b"holiday notes"[..],
            omega_files::DEFAULT_CHUNK_LEN,
            &mut rand::rngs::OsRng,
        )
        .unwrap();
        while sealer.next_chunk().unwrap().is_some() {}
        sealer.finish("notes.txt").unwrap().to_bytes()
    }

    #[test]
    fn a_file_round_trips_to_a_stored_item_that_shows_no_key() {
        let manifest = sample_manifest();
        let source = format!("/ip4/127.0.0.1/tcp/4040/p2p/{}", libp2p::PeerId::random());
        let attachment = FileAttachment {
            manifest: manifest.clone(),
            sources: vec![source],
        };
        let (content, item) = draft(&Draft::File(attachment.clone()), None, 0).unwrap();
        assert_eq!(item.meta.kind, MessageKind::File);
        assert_eq!(item.body, "📎 notes.txt (13 B)");
        let extra: serde_json::Value =
            serde_json::from_str(item.meta.extra.as_deref().unwrap()).unwrap();
        assert_eq!(extra["name"], "notes.txt");
        assert_eq!(extra["size"], 13);
        assert_eq!(extra["thumbnail"], serde_json::Value::Null);
        assert!(extra.get("key").is_none() && extra.get("chunk_ids").is_none());
        assert!(!format!("{attachment:?}").contains(&format!("{:?}", &manifest[26..58])));
        let Arrived::Item { item, .. } = arrived(&content, &key(1)).unwrap() else {
            panic!("not an item")
        };
        assert_eq!(item.file, Some(attachment));
        assert_eq!(item.meta.kind, MessageKind::File);
    }

    #[test]
    fn a_file_with_a_bad_manifest_or_source_is_refused() {
        let file = |manifest: Vec<u8>, sources: Vec<String>| v1::Content {
            body: Some(v1::content::Body::File(v1::File { manifest, sources })),
            ..v1::Content::default()
        };
        let error = arrived(&file(b"garbage".to_vec(), vec![]), &key(1)).unwrap_err();
        assert!(error.starts_with("file manifest:"), "{error}");
        let manifest = sample_manifest().to_vec();
        for bad in ["/ip4/127.0.0.1/tcp/1", "not an address"] {
            let error =
                arrived(&file(manifest.clone(), vec![bad.to_owned()]), &key(1)).unwrap_err();
            assert!(error.contains("/p2p/"), "{error}");
        }
        let many = vec!["/ip4/127.0.0.1/tcp/1".to_owned(); MAX_FILE_SOURCES + 1];
        assert!(arrived(&file(manifest, many), &key(1)).is_err());
    }

    #[test]
    fn sizes_read_like_a_file_manager() {
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(1500), "1.5 kB");
        assert_eq!(human_size(200_000_000), "200.0 MB");
        assert_eq!(human_size(1 << 30), "1.1 GB");
    }
}
