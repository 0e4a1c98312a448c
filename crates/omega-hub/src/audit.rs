//! The audit log service: appends entries durably (one writer task batches concurrent appends
//! into one transaction), keeps the leaf hashes in memory for proofs, signs tree heads as C2SP
//! checkpoints and builds the proof bundles auditors verify offline with `omega audit verify`.
//!
//! An entry is a JSON object; the UTF-8 bytes of its text are the RFC 6962 leaf data. No API
//! deletes an entry. Erasure of personal data replaces an entry's text with a redaction marker
//! and keeps its leaf hash, so the tree (and every other entry's proof) still verifies.

use std::sync::{Arc, Mutex};

use omega_audit::bundle::{ProofBundle, SignedHead};
use omega_audit::{Hash, leaf_hash};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::keys::KeyRing;
use crate::store::{AuditRow, HubDb, StoreError, TenantId, now_ms};

/// Who did something.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// A member acting through a device.
    Member {
        member_id: String,
        device_id: String,
    },
    /// An API key (a connector or bot).
    ApiKey { key_id: String },
    /// The hub itself (configuration reloads, key rotation) or the operator's CLI.
    System { name: String },
    /// Someone not (yet) authenticated: a login attempt, a bad token.
    Anonymous { ip: String },
}

/// What happened; becomes one leaf.
#[derive(Clone, Debug, Serialize)]
pub struct AuditEvent {
    /// The tenant whose auditors may read this entry; `None` for hub-wide events.
    #[serde(skip)]
    pub tenant: Option<TenantId>,
    pub actor: Actor,
    /// Dotted verb, e.g. `auth.login`, `member.role_changed`, `personal_data.read`.
    pub action: String,
    /// What it was done to (ids, never personal data).
    pub target: Option<String>,
    /// Why, when the actor said or the hub knows.
    pub reason: Option<String>,
    pub request_id: Option<String>,
    /// `ok`, `denied` or `failed`.
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
}

impl AuditEvent {
    /// A successful event with no target, reason or details.
    pub fn new(tenant: Option<TenantId>, actor: Actor, action: &str) -> AuditEvent {
        AuditEvent {
            tenant,
            actor,
            action: action.to_owned(),
            target: None,
            reason: None,
            request_id: None,
            outcome: "ok",
            details: serde_json::Value::Null,
        }
    }

    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    pub fn request_id(mut self, request_id: Option<&str>) -> Self {
        self.request_id = request_id.map(str::to_owned);
        self
    }

    pub fn denied(mut self) -> Self {
        self.outcome = "denied";
        self
    }

    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

#[derive(Serialize)]
struct EntryText<'a> {
    idx: u64,
    time_ms: i64,
    tenant_id: Option<&'a str>,
    #[serde(flatten)]
    event: &'a AuditEvent,
}

/// Why an audit operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the audit writer has stopped")]
    Stopped,
    #[error("{0}")]
    Proof(String),
    #[error("no entry {idx} in a tree of size {size}")]
    OutOfRange { idx: u64, size: u64 },
}

type Reply = oneshot::Sender<Result<u64, AuditError>>;

/// The audit log.
#[derive(Clone)]
pub struct AuditLog {
    db: HubDb,
    keys: Arc<KeyRing>,
    leaves: Arc<Mutex<Vec<Hash>>>,
    queue: mpsc::Sender<(AuditEvent, Reply)>,
}

const BATCH: usize = 256;

impl AuditLog {
    /// Loads the leaf hashes and starts the writer task.
    pub async fn start(db: HubDb, keys: Arc<KeyRing>) -> Result<AuditLog, AuditError> {
        let leaves = Arc::new(Mutex::new(Vec::new()));
        sync_leaves(&db, &leaves).await?;
        let (queue, receiver) = mpsc::channel(4096);
        let log = AuditLog {
            db,
            keys,
            leaves,
            queue,
        };
        tokio::spawn(log.clone().writer(receiver));
        Ok(log)
    }

    /// Appends an entry; returns its index once it is committed.
    pub async fn append(&self, event: AuditEvent) -> Result<u64, AuditError> {
        let (reply, done) = oneshot::channel();
        self.queue
            .send((event, reply))
            .await
            .map_err(|_| AuditError::Stopped)?;
        done.await.map_err(|_| AuditError::Stopped)?
    }

    /// Appends and logs (rather than fails the request) when the write fails. Used where
    /// the request already failed for its own reason (a refused token, a bad login).
    pub async fn record(&self, event: AuditEvent) {
        let action = event.action.clone();
        if let Err(error) = self.append(event).await {
            tracing::error!(%action, %error, "audit append failed");
        }
    }

    async fn writer(self, mut receiver: mpsc::Receiver<(AuditEvent, Reply)>) {
        let mut batch = Vec::with_capacity(BATCH);
        while receiver.recv_many(&mut batch, BATCH).await > 0 {
            let result = self.write_batch(&batch).await;
            for (offset, (_, reply)) in batch.drain(..).enumerate() {
                let outcome = match &result {
                    Ok(first) => Ok(first + offset as u64),
                    Err(error) => Err(AuditError::Proof(format!("append failed: {error}"))),
                };
                let _ = reply.send(outcome);
            }
        }
    }

    async fn write_batch(&self, batch: &[(AuditEvent, Reply)]) -> Result<u64, AuditError> {
        loop {
            let first = self.size() as i64;
            let time_ms = now_ms();
            let rows: Vec<AuditRow> = batch
                .iter()
                .enumerate()
                .map(|(offset, (event, _))| {
                    let tenant_id = event.tenant.as_ref().map(TenantId::as_str);
                    let text = serde_json::to_string(&EntryText {
                        idx: first as u64 + offset as u64,
                        time_ms,
                        tenant_id,
                        event,
                    })
                    .unwrap_or_default();
                    AuditRow {
                        idx: first + offset as i64,
                        tenant_id: tenant_id.map(str::to_owned),
                        leaf_hash: leaf_hash(text.as_bytes()).to_vec(),
                        entry: text,
                        redacted_ms: None,
                    }
                })
                .collect();
            match self.db.append_audit(first, &rows).await {
                Ok(()) => {
                    {
                        let mut leaves = lock(&self.leaves);
                        if leaves.len() as i64 == first {
                            leaves.extend(
                                rows.iter().filter_map(|row| {
                                    <Hash>::try_from(row.leaf_hash.as_slice()).ok()
                                }),
                            );
                        }
                    }
                    if self.size() as i64 != first + rows.len() as i64 {
                        sync_leaves(&self.db, &self.leaves).await?;
                    }
                    return Ok(first as u64);
                }
                // Another hub instance appended first: learn its entries and retry.
                Err(StoreError::Conflict { .. }) => sync_leaves(&self.db, &self.leaves).await?,
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// The number of entries this instance knows of.
    pub fn size(&self) -> u64 {
        lock(&self.leaves).len() as u64
    }

    /// Signs (and keeps) a checkpoint of the current tree.
    pub async fn head(&self) -> Result<SignedHead, AuditError> {
        sync_leaves(&self.db, &self.leaves).await?;
        let (size, root) = {
            let leaves = lock(&self.leaves);
            (leaves.len() as u64, omega_audit::root(&leaves))
        };
        self.signed_head(size, &root).await
    }

    /// The checkpoint for an earlier size (signed now if it was never handed out).
    pub async fn head_at(&self, size: u64) -> Result<SignedHead, AuditError> {
        sync_leaves(&self.db, &self.leaves).await?;
        let root = {
            let leaves = lock(&self.leaves);
            if size > leaves.len() as u64 {
                return Err(AuditError::OutOfRange {
                    idx: size,
                    size: leaves.len() as u64,
                });
            }
            omega_audit::root(&leaves[..size as usize])
        };
        self.signed_head(size, &root).await
    }

    async fn signed_head(&self, size: u64, root: &Hash) -> Result<SignedHead, AuditError> {
        let keys = self.keys.current();
        let proof_error = |error: &dyn std::fmt::Display| AuditError::Proof(error.to_string());
        let verifier_key = omega_audit::verifier_key(&keys.audit_origin, &keys.audit_key)
            .map_err(|error| proof_error(&error))?;
        let note = match self.db.checkpoint(size as i64).await? {
            Some(note)
                if omega_audit::verify_checkpoint(&note, &verifier_key)
                    .is_ok_and(|head| head.root == *root) =>
            {
                note
            }
            _ => {
                let note = omega_audit::sign_checkpoint(
                    &keys.audit_origin,
                    size,
                    root,
                    &keys.audit_origin,
                    &keys.audit_key,
                )
                .map_err(|error| proof_error(&error))?;
                self.db
                    .save_checkpoint(size as i64, &note, now_ms())
                    .await?;
                note
            }
        };
        SignedHead::new(note, verifier_key).map_err(|error| proof_error(&error))
    }

    /// The verifier key auditors pin.
    pub fn verifier_key(&self) -> Result<String, AuditError> {
        let keys = self.keys.current();
        omega_audit::verifier_key(&keys.audit_origin, &keys.audit_key)
            .map_err(|error| AuditError::Proof(error.to_string()))
    }

    /// Proof that entry `idx` (whose text is `entry`) is in the tree of `tree_size`.
    pub async fn inclusion(
        &self,
        idx: u64,
        tree_size: u64,
        entry: String,
    ) -> Result<ProofBundle, AuditError> {
        sync_leaves(&self.db, &self.leaves).await?;
        let leaves = lock(&self.leaves);
        if idx >= tree_size || tree_size > leaves.len() as u64 {
            return Err(AuditError::OutOfRange {
                idx,
                size: tree_size,
            });
        }
        let hashes = omega_audit::inclusion_proof(&leaves[..tree_size as usize], idx)
            .map_err(|error| AuditError::Proof(error.to_string()))?;
        Ok(ProofBundle::inclusion(idx, tree_size, entry, &hashes))
    }

    /// Proof that the tree of `old_size` is a prefix of the tree of `new_size`.
    pub async fn consistency(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<ProofBundle, AuditError> {
        sync_leaves(&self.db, &self.leaves).await?;
        let leaves = lock(&self.leaves);
        if old_size > new_size || new_size > leaves.len() as u64 {
            return Err(AuditError::OutOfRange {
                idx: old_size,
                size: new_size,
            });
        }
        let hashes = omega_audit::consistency_proof(&leaves[..new_size as usize], old_size)
            .map_err(|error| AuditError::Proof(error.to_string()))?;
        Ok(ProofBundle::consistency(old_size, new_size, &hashes))
    }
}

fn lock(leaves: &Mutex<Vec<Hash>>) -> std::sync::MutexGuard<'_, Vec<Hash>> {
    match leaves.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Loads leaf hashes this instance does not have yet.
async fn sync_leaves(db: &HubDb, leaves: &Mutex<Vec<Hash>>) -> Result<(), AuditError> {
    let known = lock(leaves).len() as i64;
    let fresh = db.audit_leaf_hashes(known).await?;
    let mut leaves = lock(leaves);
    for (idx, hash) in fresh {
        if idx != leaves.len() as i64 {
            continue;
        }
        let hash: Hash = hash.as_slice().try_into().map_err(|_| {
            AuditError::Store(StoreError::Corrupt(format!(
                "audit leaf {idx} is not 32 bytes"
            )))
        })?;
        leaves.push(hash);
    }
    Ok(())
}
