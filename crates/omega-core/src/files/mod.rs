//! End-to-end encrypted files on the node, around the sans-IO core `omega-files`.
//!
//! - **Sending** ([`NodeHandle::send_file`]): the file is read once and sealed chunk by chunk
//!   ([`omega_files::Sealer`]); each sealed chunk goes to the node's chunk cache
//!   (`DATA_DIR/blobs/<ab>/<hex id>`, purged after [`CACHE_TTL`]) and is uploaded to the blob store of
//!   every home mailbox server over `/omega/blob/1`, [`IN_FLIGHT`] chunks in flight while the
//!   next ones are sealed; then the `File`
//!   message (manifest + sources) goes through the ordinary send pipeline.
//! - **Serving**: the node answers `/omega/blob/1` gets from its cache ([`serve`]), so a receiver
//!   can fetch straight from the sender. Chunk ids are SHA-256 of ciphertext under a random
//!   per-file key: unguessable, and useless without the manifest.
//! - **Fetching** ([`NodeHandle::fetch_file`]): chunks are asked from the sources in the order
//!   the message lists them (the blob servers, then the sender's device), [`IN_FLIGHT`] at a
//!   time while earlier ones are verified and written, and handed to [`omega_files::Fetcher`], which verifies each against its id before writing it
//!   into `DATA_DIR/downloads/<message id>.part`. A chunk that does not hash to its id is asked
//!   again from the next source. After every [`IN_FLIGHT`] stored chunks the part file is synced
//!   and the resume record (`<message id>.progress`) replaced atomically, so a killed node goes on where it
//!   stopped when the fetch is asked again. At the end the whole file's SHA-256 is checked and
//!   the part file renamed to its destination.
//!
//! Memory stays flat: the sealer holds one chunk, at most [`IN_FLIGHT`] chunks travel at once,
//! the fetcher holds the chunk it verifies.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use libp2p::{Multiaddr, PeerId};
use omega_files::{ChunkId, MAX_FILE_SIZE, Manifest, WantedChunk};
use omega_net::{NetHandle, Protocol, Responder};
use omega_proto::{Message, v1};
use serde::{Deserialize, Serialize};
use tokio::runtime::Handle;
use tracing::{debug, warn};

use crate::{NodeError, NodeHandle, now_ms};

mod fetch;
mod send;

// The network's blob limit holds a put or a get answer of the largest sealed chunk (checked at
// compile time; the test below checks the encoded sizes).
const _: () = assert!(omega_proto::MAX_BLOB_MESSAGE_BYTES <= omega_net::Config::BLOB_MAX_BYTES);

/// Chunks sealed, uploaded or fetched at once.
pub const IN_FLIGHT: usize = 4;
/// How long sealed chunks stay in the node's cache (like the servers' blob TTL).
pub const CACHE_TTL: Duration = Duration::from_secs(14 * 24 * 3600);
/// How many times one chunk is asked for (across all sources) before a fetch gives up.
const MAX_CHUNK_ATTEMPTS: u32 = 12;
/// How many times an upload is retried after a network error or a rate limit.
const MAX_PUT_ATTEMPTS: u32 = 30;

/// One send or fetch, as `GET /v1/transfers/{id}` shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TransferView {
    pub id: String,
    /// `send` or `fetch`.
    pub kind: String,
    /// `running`, `done` or `failed`.
    pub state: String,
    /// The file's name.
    pub name: String,
    /// Plaintext bytes of the file.
    pub bytes_total: u64,
    /// Plaintext bytes sealed and uploaded (send) or verified and written (fetch).
    pub bytes_done: u64,
    /// Fetch: bytes already verified in the part file when this run started (a resume).
    pub resumed_bytes: u64,
    /// Sealed bytes that crossed the network in this run (uploads, or chunks fetched).
    pub bytes_transferred: u64,
    /// Fetch: chunks that did not hash to their id and were fetched again.
    pub corrupt_chunks: u64,
    /// Fetch: chunks fetched from each source (multiaddr → count).
    pub chunks_from: HashMap<String, u64>,
    /// The file message (send: once queued).
    pub message_id: Option<String>,
    /// SHA-256 of the plaintext, hex (send: once sealed; fetch: from the manifest).
    pub sha256: Option<String>,
    /// Fetch: where the file was written.
    pub path: Option<String>,
    pub error: Option<String>,
}

/// The node's file machinery: its paths, the blob servers, the transfers it runs.
pub(crate) struct Files {
    net: NetHandle,
    root: PathBuf,
    servers: Vec<Multiaddr>,
    transfers: Mutex<HashMap<String, TransferView>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn invalid(message: impl Into<String>) -> NodeError {
    NodeError::InvalidInput(message.into())
}

/// Where the chunk `id` lives in the cache under `cache`.
fn cache_path(cache: &Path, id: &ChunkId) -> PathBuf {
    let hex = id.to_hex();
    cache.join(&hex[..2]).join(hex)
}

/// Writes `bytes` to `path` through a temporary file and a rename (and fsyncs when `durable`).
fn write_atomically(path: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", rand::random::<u32>()));
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        if durable {
            file.sync_all()?;
        }
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// The peer id and dialable address of a full multiaddr (`…/p2p/<id>`).
fn split(addr: &Multiaddr) -> Option<(PeerId, Multiaddr)> {
    crate::delivery::split_peer_addr(addr)
}

/// One `/omega/blob/1` exchange with the peer at `addr`.
async fn blob_request(
    net: &NetHandle,
    addr: &Multiaddr,
    op: v1::blob_request::Op,
) -> Result<v1::blob_response::Result, String> {
    let (peer, dial) = split(addr).ok_or_else(|| format!("{addr} does not end in /p2p/"))?;
    let body = v1::BlobRequest { op: Some(op) }.encode_to_vec();
    let answer = net
        .request(Protocol::Blob, peer, vec![dial], body)
        .await
        .map_err(|error| error.to_string())?;
    let response = omega_proto::decode_blob_response(&answer).map_err(|error| error.to_string())?;
    response
        .result
        .ok_or_else(|| "empty blob response".to_owned())
}

/// Answers a `/omega/blob/1` request from the node's chunk cache: gets only (a device stores
/// nothing for others).
pub(crate) fn serve(root: PathBuf, body: Vec<u8>, responder: Responder) {
    tokio::task::spawn_blocking(move || {
        let error = |code: &str, message: &str| {
            v1::blob_response::Result::Error(v1::BlobError {
                code: code.to_owned(),
                message: message.to_owned(),
                retry_after_ms: 0,
            })
        };
        let result = match omega_proto::decode_blob_request(&body) {
            Ok(v1::BlobRequest {
                op: Some(v1::blob_request::Op::Get(get)),
            }) => match <[u8; 32]>::try_from(get.id.as_slice()) {
                Ok(id) => match fs::read(cache_path(&root.join("blobs"), &ChunkId(id))) {
                    Ok(data) => v1::blob_response::Result::Data(v1::BlobData { data }),
                    Err(_) => error("not_found", "no chunk with this id here"),
                },
                Err(_) => error("malformed", "blob id must be 32 bytes"),
            },
            Ok(_) => error("unsupported", "a device only answers gets"),
            Err(decode) => error("malformed", &decode.to_string()),
        };
        responder.respond(
            v1::BlobResponse {
                result: Some(result),
            }
            .encode_to_vec(),
        );
    });
}

/// Deletes cached chunks older than [`CACHE_TTL`] and stale temporary files; returns how many.
pub(crate) fn purge_cache(root: &Path) -> u64 {
    let cache = root.join("blobs");
    let Ok(shards) = fs::read_dir(&cache) else {
        return 0;
    };
    let cutoff = SystemTime::now() - CACHE_TTL;
    let mut purged = 0;
    for shard in shards.flatten() {
        let Ok(entries) = fs::read_dir(shard.path()) else {
            continue;
        };
        for entry in entries.flatten() {
            let old = entry
                .metadata()
                .and_then(|meta| meta.modified())
                .is_ok_and(|modified| modified < cutoff);
            if old && fs::remove_file(entry.path()).is_ok() {
                purged += 1;
            }
        }
    }
    purged
}

impl Files {
    pub(crate) fn new(net: NetHandle, root: PathBuf, servers: Vec<Multiaddr>) -> Files {
        Files {
            net,
            root,
            servers,
            transfers: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn transfer(&self, id: &str) -> Option<TransferView> {
        lock(&self.transfers).get(id).cloned()
    }

    pub(crate) fn transfers(&self) -> Vec<TransferView> {
        let mut all: Vec<TransferView> = lock(&self.transfers).values().cloned().collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    fn update(&self, id: &str, change: impl FnOnce(&mut TransferView)) {
        if let Some(view) = lock(&self.transfers).get_mut(id) {
            change(view);
        }
    }

    /// Registers a new running transfer; a fetch of a message already being fetched is refused.
    fn begin(&self, view: TransferView) -> Result<(), NodeError> {
        let mut transfers = lock(&self.transfers);
        if view.kind == "fetch"
            && let Some(running) = transfers.values().find(|other| {
                other.kind == "fetch"
                    && other.state == "running"
                    && other.message_id == view.message_id
            })
        {
            return Err(invalid(format!(
                "this file is already being fetched (transfer {})",
                running.id
            )));
        }
        transfers.insert(view.id.clone(), view);
        Ok(())
    }

    fn end(&self, id: &str, outcome: Result<(), String>) {
        self.update(id, |view| match outcome {
            Ok(()) => view.state = "done".to_owned(),
            Err(error) => {
                view.state = "failed".to_owned();
                view.error = Some(error);
            }
        });
    }

    /// Uploads one sealed chunk to `server`, retrying after rate limits and network errors.
    async fn put(&self, server: &Multiaddr, id: &ChunkId, bytes: &[u8]) -> Result<(), String> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let op = v1::blob_request::Op::Put(v1::BlobPut {
                id: id.as_bytes().to_vec(),
                data: bytes.to_vec(),
            });
            let wait = match blob_request(&self.net, server, op).await {
                Ok(v1::blob_response::Result::Stored(_)) => return Ok(()),
                Ok(v1::blob_response::Result::Error(refused)) if refused.code == "rate_limited" => {
                    Duration::from_millis(refused.retry_after_ms.clamp(10, 10_000))
                }
                Ok(v1::blob_response::Result::Error(refused)) => {
                    return Err(format!(
                        "{server} refused a chunk: {} ({})",
                        refused.message, refused.code
                    ));
                }
                Ok(_) => return Err(format!("{server} gave an unexpected answer to a put")),
                Err(error) => {
                    debug!(%error, %server, attempt, "chunk upload failed");
                    if attempt >= 3 {
                        return Err(format!("cannot upload to {server}: {error}"));
                    }
                    Duration::from_millis(200 * u64::from(attempt))
                }
            };
            if attempt >= MAX_PUT_ATTEMPTS {
                return Err(format!("{server} kept refusing chunks (rate limit)"));
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Asks `source` for the chunk `wanted`; refuses an answer longer than the chunk.
    async fn get(&self, source: &Multiaddr, wanted: &WantedChunk) -> Result<Vec<u8>, String> {
        let op = v1::blob_request::Op::Get(v1::BlobGet {
            id: wanted.id.as_bytes().to_vec(),
        });
        match blob_request(&self.net, source, op).await? {
            v1::blob_response::Result::Data(data) if data.data.len() <= wanted.sealed_len => {
                Ok(data.data)
            }
            v1::blob_response::Result::Data(data) => Err(format!(
                "{} bytes for a chunk of {}",
                data.data.len(),
                wanted.sealed_len
            )),
            v1::blob_response::Result::Error(refused) => {
                Err(format!("{} ({})", refused.message, refused.code))
            }
            v1::blob_response::Result::Stored(_) => Err("unexpected answer to a get".into()),
        }
    }
}

impl NodeHandle {
    /// Where a file received and fetched is, with its name and size, for a download. With
    /// `any_place` false (a browser session), only files fetched into `DATA_DIR/downloads`.
    pub async fn fetched_file(
        &self,
        message_id: &str,
        any_place: bool,
    ) -> Result<(PathBuf, String, u64), NodeError> {
        let row = self
            .store
            .file(message_id)
            .await?
            .ok_or_else(|| NodeError::UnknownMessage {
                id: message_id.to_owned(),
            })?;
        let path = match (row.state.as_str(), row.path) {
            ("done", Some(path)) => PathBuf::from(path),
            _ => {
                return Err(invalid(format!(
                    "file {message_id} is not fetched yet (fetch it first)"
                )));
            }
        };
        let downloads = self.files.root.join("downloads");
        if !any_place && !path.starts_with(&downloads) {
            return Err(invalid(format!(
                "file {message_id} was fetched outside the node's downloads; open it from there"
            )));
        }
        let meta = fs::metadata(&path)
            .map_err(|error| invalid(format!("the fetched file is gone: {error}")))?;
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".to_owned());
        Ok((path, name, meta.len()))
    }

    /// A fresh place in `DATA_DIR/outgoing` for a file uploaded to be sent: its directory and
    /// path (the name sanitized).
    pub fn upload_path(&self, name: &str) -> Result<(PathBuf, PathBuf), NodeError> {
        let name = omega_files::sanitize_name(name);
        if name.is_empty() {
            return Err(invalid("a file needs a name".to_owned()));
        }
        let dir = self
            .files
            .root
            .join("outgoing")
            .join(uuid::Uuid::now_v7().to_string());
        let path = dir.join(name);
        Ok((dir, path))
    }

    /// Starts sending the file at `path` (absolute) to contact `to`: checks it, then seals,
    /// caches and uploads it in the background and queues the file message. Returns the
    /// transfer to follow with [`NodeHandle::transfer`].
    pub async fn send_file(&self, to: &str, path: &Path) -> Result<TransferView, NodeError> {
        self.contact_view(to).await?;
        if !path.is_absolute() {
            return Err(invalid(format!(
                "the path {} must be absolute",
                path.display()
            )));
        }
        let meta = fs::metadata(path)
            .map_err(|error| invalid(format!("cannot read {}: {error}", path.display())))?;
        if meta.is_dir() {
            return Err(invalid(format!(
                "{} is a directory, not a file",
                path.display()
            )));
        }
        if meta.len() > MAX_FILE_SIZE {
            return Err(invalid(format!(
                "{} is {} bytes, more than the limit of 1 GiB ({MAX_FILE_SIZE} bytes)",
                path.display(),
                meta.len()
            )));
        }
        let file = fs::File::open(path)
            .map_err(|error| invalid(format!("cannot open {}: {error}", path.display())))?;
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let view = TransferView {
            id: uuid::Uuid::now_v7().to_string(),
            kind: "send".to_owned(),
            state: "running".to_owned(),
            name: omega_files::sanitize_name(&name),
            bytes_total: meta.len(),
            bytes_done: 0,
            resumed_bytes: 0,
            bytes_transferred: 0,
            corrupt_chunks: 0,
            chunks_from: HashMap::new(),
            message_id: None,
            sha256: None,
            path: Some(path.display().to_string()),
            error: None,
        };
        self.files.begin(view.clone())?;
        let job = send::SendJob {
            transfer: view.id.clone(),
            to: to.to_owned(),
            path: path.to_path_buf(),
            file,
            name,
        };
        let node = self.clone();
        let runtime = Handle::current();
        tokio::task::spawn_blocking(move || {
            let transfer = job.transfer.clone();
            let outcome = send::send_blocking(&node, &runtime, job);
            if let Err(error) = &outcome {
                warn!(%error, "file send failed");
            }
            node.files.end(&transfer, outcome);
        });
        Ok(view)
    }

    /// Starts (or resumes) fetching the file of message `message_id` into `out` (absolute: a
    /// directory, or a new file's path; default `DATA_DIR/downloads`). Returns the transfer.
    pub async fn fetch_file(
        &self,
        message_id: &str,
        out: Option<&Path>,
    ) -> Result<TransferView, NodeError> {
        let message = self.message(message_id).await?;
        if message.kind != "file" {
            return Err(invalid(format!(
                "message {message_id} is a {}, not a file",
                message.kind
            )));
        }
        let row = self.store.file(message_id).await?.ok_or_else(|| {
            invalid(format!(
                "message {message_id} is a file I sent, or one deleted: nothing to fetch"
            ))
        })?;
        let manifest = Manifest::from_bytes(&row.manifest)
            .map_err(|error| NodeError::Internal(format!("stored manifest: {error}")))?;
        let downloads = self.files.root.join("downloads");
        let out = match out {
            Some(out) => out.to_path_buf(),
            None => {
                fs::create_dir_all(&downloads).map_err(|error| {
                    NodeError::Internal(format!("cannot create {}: {error}", downloads.display()))
                })?;
                downloads
            }
        };
        let out = fetch::destination(&out, manifest.name())?;
        let sources: Vec<Multiaddr> = row
            .sources
            .iter()
            .filter_map(|source| source.parse().ok())
            .collect();
        let view = TransferView {
            id: uuid::Uuid::now_v7().to_string(),
            kind: "fetch".to_owned(),
            state: "running".to_owned(),
            name: manifest.name().to_owned(),
            bytes_total: manifest.size(),
            bytes_done: 0,
            resumed_bytes: 0,
            bytes_transferred: 0,
            corrupt_chunks: 0,
            chunks_from: HashMap::new(),
            message_id: Some(message_id.to_owned()),
            sha256: Some(hex::encode(manifest.sha256())),
            path: Some(out.display().to_string()),
            error: None,
        };
        self.files.begin(view.clone())?;
        self.store
            .set_file_state(message_id, "fetching", None, None, now_ms() as i64)
            .await?;
        let job = fetch::FetchJob {
            transfer: view.id.clone(),
            message_id: message_id.to_owned(),
            manifest,
            sources,
            out,
        };
        let node = self.clone();
        let runtime = Handle::current();
        tokio::task::spawn_blocking(move || {
            let transfer = job.transfer.clone();
            let message_id = job.message_id.clone();
            let outcome = fetch::fetch_blocking(&node, &runtime, job);
            let (state, path, error) = match &outcome {
                Ok(path) => ("done", Some(path.display().to_string()), None),
                Err(error) => {
                    warn!(%error, "file fetch failed");
                    ("failed", None, Some(error.clone()))
                }
            };
            let _ = runtime.block_on(node.store.set_file_state(
                &message_id,
                state,
                path.as_deref(),
                error.as_deref(),
                now_ms() as i64,
            ));
            node.files.end(&transfer, outcome.map(|_| ()));
        });
        Ok(view)
    }

    /// A transfer started by [`NodeHandle::send_file`] or [`NodeHandle::fetch_file`] since the
    /// node started.
    pub fn transfer(&self, id: &str) -> Option<TransferView> {
        self.files.transfer(id)
    }

    /// Every transfer since the node started, oldest first.
    pub fn transfers(&self) -> Vec<TransferView> {
        self.files.transfers()
    }

    /// The fetch state of a received file message: `{"state","path","error"}`.
    pub async fn file_state(&self, message_id: &str) -> Option<serde_json::Value> {
        let row = self.store.file(message_id).await.ok()??;
        Some(serde_json::json!({
            "state": row.state,
            "path": row.path,
            "error": row.error,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_blob_limits_fit_the_largest_sealed_chunk_with_its_framing() {
        let largest = omega_files::MAX_CHUNK_LEN as usize + omega_files::TAG_LEN;
        assert_eq!(omega_proto::MAX_BLOB_CHUNK_BYTES, largest);
        let biggest_put = v1::BlobRequest {
            op: Some(v1::blob_request::Op::Put(v1::BlobPut {
                id: vec![0xff; 32],
                data: vec![0xff; largest],
            })),
        }
        .encode_to_vec();
        assert!(biggest_put.len() <= omega_proto::MAX_BLOB_MESSAGE_BYTES);
        let biggest_answer = v1::BlobResponse {
            result: Some(v1::blob_response::Result::Data(v1::BlobData {
                data: vec![0xff; largest],
            })),
        }
        .encode_to_vec();
        assert!(biggest_answer.len() <= omega_net::Config::BLOB_MAX_BYTES);
    }

    #[test]
    fn old_cached_chunks_are_purged_and_fresh_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("blobs");
        let old = cache_path(&cache, &ChunkId([1; 32]));
        let fresh = cache_path(&cache, &ChunkId([2; 32]));
        write_atomically(&old, b"old", false).unwrap();
        write_atomically(&fresh, b"fresh", false).unwrap();
        fs::File::options()
            .append(true)
            .open(&old)
            .unwrap()
            .set_modified(SystemTime::now() - CACHE_TTL - Duration::from_secs(60))
            .unwrap();
        assert_eq!(purge_cache(dir.path()), 1);
        assert!(!old.exists());
        assert!(fresh.exists());
    }
}
