//! Conversation metadata shared by my devices (read markers, archived and muted flags, contact
//! aliases) in one Automerge document, sans IO. Each device writes with its own actor id (its
//! Ed25519 device key); changes travel to my other devices as `SyncChanges` contents and merge
//! in any order to the same state (docs/devices.md).
//!
//! Layout: flat keys on the root map, `<field>:<user id>` → scalar (`archived`/`muted`: bool,
//! `alias`: string, "" for none, `read`: the id of the newest incoming message read — UUIDv7
//! text, so ids of one sender order by time).

use automerge::{AutoCommit, ChangeHash, ReadDoc, ScalarValue, Value, transaction::Transactable};
use serde::{Deserialize, Serialize};

/// Largest document accepted from another device.
pub const MAX_SYNC_BYTES: usize = 192 * 1024;

/// Why metadata could not be read or merged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    #[error("metadata document: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    #[error("metadata changes of {got} bytes, expected at most {max}")]
    TooLarge { got: usize, max: usize },
}

/// One conversation's shared metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationMeta {
    pub archived: bool,
    pub muted: bool,
    pub alias: Option<String>,
    /// Id of the newest incoming message read on any of my devices.
    pub read_until: Option<String>,
}

/// A change to one conversation's metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetaChange {
    Archived(bool),
    Muted(bool),
    Alias(Option<String>),
    /// Read up to this incoming message id (UUIDv7; only ever moves forward).
    ReadUntil(String),
}

/// The document.
pub struct Metadata {
    doc: AutoCommit,
}

impl Metadata {
    /// An empty document written by `actor` (this device's Ed25519 key).
    pub fn new(actor: &[u8]) -> Self {
        Self {
            doc: AutoCommit::new().with_actor(automerge::ActorId::from(actor)),
        }
    }

    /// A stored document, written from now on by `actor`.
    pub fn load(bytes: &[u8], actor: &[u8]) -> Result<Self, MetadataError> {
        let mut doc = AutoCommit::load(bytes)?;
        doc.set_actor(automerge::ActorId::from(actor));
        Ok(Self { doc })
    }

    /// The whole document (to store, or to give a newly linked device).
    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    /// The document's heads (to compute the changes made after them).
    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// Applies a change made here; returns the encoded changes to send my other devices.
    pub fn apply(&mut self, user_id: &str, change: &MetaChange) -> Result<Vec<u8>, MetadataError> {
        let heads = self.heads();
        let root = automerge::ROOT;
        match change {
            MetaChange::Archived(on) => self.doc.put(root, format!("archived:{user_id}"), *on)?,
            MetaChange::Muted(on) => self.doc.put(root, format!("muted:{user_id}"), *on)?,
            MetaChange::Alias(alias) => self.doc.put(
                root,
                format!("alias:{user_id}"),
                alias.clone().unwrap_or_default(),
            )?,
            MetaChange::ReadUntil(id) => {
                if self
                    .view(user_id)
                    .read_until
                    .is_some_and(|read| read.as_str() >= id.as_str())
                {
                    return Ok(Vec::new());
                }
                self.doc.put(root, format!("read:{user_id}"), id.clone())?
            }
        }
        Ok(self.doc.save_after(&heads))
    }

    /// Merges changes (or a whole document) from another device.
    pub fn merge(&mut self, changes: &[u8]) -> Result<(), MetadataError> {
        if changes.len() > MAX_SYNC_BYTES {
            return Err(MetadataError::TooLarge {
                got: changes.len(),
                max: MAX_SYNC_BYTES,
            });
        }
        self.doc.load_incremental(changes)?;
        Ok(())
    }

    /// The alias the document holds for a conversation: `None` when no device ever set one
    /// (the contact keeps its own), `Some(None)` when it was cleared.
    pub fn alias_set(&self, user_id: &str) -> Option<Option<String>> {
        match self.doc.get(automerge::ROOT, format!("alias:{user_id}")) {
            Ok(Some((Value::Scalar(value), _))) => match value.as_ref() {
                ScalarValue::Str(text) if !text.is_empty() => Some(Some(text.to_string())),
                _ => Some(None),
            },
            _ => None,
        }
    }

    /// One conversation's metadata as it now is.
    pub fn view(&self, user_id: &str) -> ConversationMeta {
        let scalar = |field: &str| match self.doc.get(automerge::ROOT, format!("{field}:{user_id}"))
        {
            Ok(Some((Value::Scalar(value), _))) => Some(value.into_owned()),
            _ => None,
        };
        let flag = |field: &str| matches!(scalar(field), Some(ScalarValue::Boolean(true)));
        let text = |field: &str| match scalar(field) {
            Some(ScalarValue::Str(text)) if !text.is_empty() => Some(text.to_string()),
            _ => None,
        };
        ConversationMeta {
            archived: flag("archived"),
            muted: flag("muted"),
            alias: text("alias"),
            read_until: text("read"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_changes_on_two_devices_converge() {
        let mut a = Metadata::new(&[1; 32]);
        let mut b = Metadata::load(&a.save(), &[2; 32]).unwrap();
        let from_a = a.apply("bob", &MetaChange::Archived(true)).unwrap();
        let from_b = b.apply("bob", &MetaChange::Muted(true)).unwrap();
        let alias_b = b
            .apply("bob", &MetaChange::Alias(Some("bobby".into())))
            .unwrap();
        a.merge(&from_b).unwrap();
        a.merge(&alias_b).unwrap();
        b.merge(&from_a).unwrap();
        let expected = ConversationMeta {
            archived: true,
            muted: true,
            alias: Some("bobby".into()),
            read_until: None,
        };
        assert_eq!(a.view("bob"), expected);
        assert_eq!(b.view("bob"), expected);
        // Merging again changes nothing.
        a.merge(&from_b).unwrap();
        assert_eq!(a.view("bob"), expected);
        assert_eq!(a.view("carol"), ConversationMeta::default());
    }

    #[test]
    fn read_markers_only_move_forward_and_unarchive_wins_after_archive() {
        let mut a = Metadata::new(&[1; 32]);
        let (older, newer) = (
            uuid::Uuid::now_v7().to_string(),
            uuid::Uuid::now_v7().to_string(),
        );
        assert!(
            !a.apply("bob", &MetaChange::ReadUntil(newer.clone()))
                .unwrap()
                .is_empty()
        );
        assert!(
            a.apply("bob", &MetaChange::ReadUntil(older))
                .unwrap()
                .is_empty()
        );
        assert_eq!(a.view("bob").read_until, Some(newer.clone()));
        a.apply("bob", &MetaChange::Archived(true)).unwrap();
        a.apply("bob", &MetaChange::Archived(false)).unwrap();
        assert!(!a.view("bob").archived);
        let mut b = Metadata::load(&a.save(), &[2; 32]).unwrap();
        assert_eq!(b.view("bob").read_until, Some(newer));
        let before = b.view("bob");
        let _ = b.merge(b"not automerge");
        assert_eq!(b.view("bob"), before);
        assert_eq!(b.alias_set("bob"), None);
        b.apply("bob", &MetaChange::Alias(None)).unwrap();
        assert_eq!(b.alias_set("bob"), Some(None));
    }
}
