//! The blob store: content-addressed sealed file chunks on disk, served over `/omega/blob/1`.
//!
//! A blob is stored under its id, the SHA-256 of its bytes, in `DIR/<first two hex digits>/<hex
//! id>`; a put whose bytes do not hash to its id is refused, so nothing else can ever be stored
//! under an id. Writes are atomic (temporary file, `fsync`, rename, directory `fsync`): a blob is
//! either whole or absent after a crash. Blobs live [`BlobLimits::ttl_ms`] after their last put
//! (the file's mtime; a repeated put starts the time again) and are purged by the server's purge
//! task. Each peer's puts and gets are limited in bytes per second (token buckets), and the store
//! as a whole holds at most [`BlobLimits::max_total_bytes`].
//!
//! The store sees only ciphertext: chunk ids and sizes, never a key, a name or a byte of content.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use omega_proto::{Message, v1};
use sha2::{Digest, Sha256};
use tracing::warn;

use crate::Clock;
use crate::limits::RateLimiter;
use crate::metrics::Metrics;

/// Limits of the blob store.
#[derive(Clone, Debug)]
pub struct BlobLimits {
    /// How long a blob is kept after its last put (default 14 days, like the mailbox).
    pub ttl_ms: i64,
    /// Most bytes stored at once, all blobs together (default 10 GiB).
    pub max_total_bytes: u64,
    /// Bytes per second each peer may put and get, and the burst allowed above that.
    pub bytes_per_second: f64,
    pub burst_bytes: f64,
}

impl Default for BlobLimits {
    fn default() -> Self {
        BlobLimits {
            ttl_ms: 14 * 24 * 3600 * 1000,
            max_total_bytes: 10 * 1024 * 1024 * 1024,
            bytes_per_second: 64.0 * 1024.0 * 1024.0,
            burst_bytes: 512.0 * 1024.0 * 1024.0,
        }
    }
}

/// Why the store could not be opened or purged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobStoreError {
    #[error("blob store {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The blob store; cheap to clone, safe to call concurrently.
#[derive(Clone)]
pub struct BlobStore {
    dir: Arc<PathBuf>,
    limits: BlobLimits,
    clock: Arc<dyn Clock>,
    limiter: Arc<Mutex<RateLimiter<Vec<u8>>>>,
    total: Arc<AtomicU64>,
    metrics: Arc<Metrics>,
}

fn error(code: &str, message: impl Into<String>, retry_after_ms: u64) -> v1::BlobResponse {
    v1::BlobResponse {
        result: Some(v1::blob_response::Result::Error(v1::BlobError {
            code: code.to_owned(),
            message: message.into(),
            retry_after_ms,
        })),
    }
}

/// Where blob `hex` lives under `dir`.
fn blob_path(dir: &Path, hex: &str) -> PathBuf {
    dir.join(&hex[..2]).join(hex)
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> BlobStoreError + '_ {
    move |source| BlobStoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Every blob file under `dir` with its size and mtime (temporary files are skipped).
fn walk(dir: &Path) -> io::Result<Vec<(PathBuf, u64, SystemTime)>> {
    let mut found = Vec::new();
    for shard in fs::read_dir(dir)? {
        let shard = shard?;
        if !shard.file_type()?.is_dir() {
            continue;
        }
        for entry in fs::read_dir(shard.path())? {
            let entry = entry?;
            let name = entry.file_name();
            if name.to_string_lossy().len() != 64 {
                continue;
            }
            let meta = entry.metadata()?;
            if meta.is_file() {
                found.push((entry.path(), meta.len(), meta.modified()?));
            }
        }
    }
    Ok(found)
}

fn ms_of(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

/// Writes `bytes` to `path` atomically: temporary file, fsync, rename, fsync of the directory.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let parent = path.parent().ok_or_else(|| io::Error::other("no parent"))?;
    fs::create_dir_all(parent)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", rand::random::<u64>()));
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(parent)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

impl BlobStore {
    /// Opens (creating it if needed) the store in `dir`, counting what it already holds.
    pub fn open(
        dir: impl Into<PathBuf>,
        limits: BlobLimits,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Result<BlobStore, BlobStoreError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        let total = walk(&dir)
            .map_err(io_error(&dir))?
            .iter()
            .map(|(_, len, _)| len)
            .sum();
        metrics.blob_bytes(total);
        Ok(BlobStore {
            dir: Arc::new(dir),
            limiter: Arc::new(Mutex::new(RateLimiter::new(
                limits.bytes_per_second,
                limits.burst_bytes,
                100_000,
            ))),
            limits,
            clock,
            total: Arc::new(AtomicU64::new(total)),
            metrics,
        })
    }

    /// Bytes stored now.
    pub fn total_bytes(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Where the blob `id` is (or would be) stored.
    pub fn path_of(&self, id: &[u8; 32]) -> PathBuf {
        blob_path(&self.dir, &hex::encode(id))
    }

    /// Answers one encoded `BlobRequest` from `peer` (its peer id bytes) with an encoded
    /// `BlobResponse`.
    pub async fn handle_bytes(&self, peer: &[u8], body: &[u8]) -> Vec<u8> {
        let response = match omega_proto::decode_blob_request(body) {
            Ok(request) => self.handle(peer, request).await,
            Err(decode) => error("malformed", decode.to_string(), 0),
        };
        if let Some(v1::blob_response::Result::Error(refused)) = &response.result {
            self.metrics.blob_refused(&refused.code);
        }
        response.encode_to_vec()
    }

    /// Answers one request from `peer`.
    pub async fn handle(&self, peer: &[u8], request: v1::BlobRequest) -> v1::BlobResponse {
        match request.op {
            Some(v1::blob_request::Op::Put(put)) => self.put(peer, put).await,
            Some(v1::blob_request::Op::Get(get)) => self.get(peer, get).await,
            None => error("malformed", "blob request.op is missing", 0),
        }
    }

    fn take(&self, peer: &[u8], bytes: usize) -> Result<(), u64> {
        let now = self.clock.now_ms();
        let mut limiter = self
            .limiter
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        limiter.check_n(&peer.to_vec(), bytes as f64, now)
    }

    async fn put(&self, peer: &[u8], put: v1::BlobPut) -> v1::BlobResponse {
        let Ok(id) = <[u8; 32]>::try_from(put.id.as_slice()) else {
            return error("malformed", "blob id must be 32 bytes", 0);
        };
        if Sha256::digest(&put.data).as_slice() != id {
            return error(
                "hash_mismatch",
                "the blob's SHA-256 is not its id: refused",
                0,
            );
        }
        if let Err(wait) = self.take(peer, put.data.len()) {
            return error(
                "rate_limited",
                format!("too many bytes; try again in {wait} ms"),
                wait,
            );
        }
        let path = self.path_of(&id);
        let len = put.data.len() as u64;
        let total = self.total.clone();
        let max_total = self.limits.max_total_bytes;
        let written = tokio::task::spawn_blocking(move || -> io::Result<Result<bool, u64>> {
            if path.is_file() {
                // Already here (its id proves it is the same bytes): start its time again.
                let file = fs::File::options().append(true).open(&path)?;
                file.set_modified(SystemTime::now())?;
                return Ok(Ok(true));
            }
            // Reserve the room first, so concurrent puts cannot pass the cap together.
            let reserved = total.fetch_add(len, Ordering::SeqCst);
            if reserved + len > max_total {
                total.fetch_sub(len, Ordering::SeqCst);
                return Ok(Err(reserved));
            }
            if let Err(failed) = write_atomically(&path, &put.data) {
                total.fetch_sub(len, Ordering::SeqCst);
                return Err(failed);
            }
            Ok(Ok(false))
        })
        .await;
        match written {
            Ok(Ok(Ok(existed))) => {
                if !existed {
                    self.metrics.blob_stored(len);
                }
                v1::BlobResponse {
                    result: Some(v1::blob_response::Result::Stored(v1::BlobStored {
                        existed,
                    })),
                }
            }
            Ok(Ok(Err(_))) => error(
                "full",
                format!("the blob store holds its limit of {max_total} bytes"),
                0,
            ),
            Ok(Err(failed)) => {
                warn!(error = %failed, "blob write failed");
                error("internal", "the blob could not be stored", 0)
            }
            Err(_) => error("internal", "the blob could not be stored", 0),
        }
    }

    async fn get(&self, peer: &[u8], get: v1::BlobGet) -> v1::BlobResponse {
        let Ok(id) = <[u8; 32]>::try_from(get.id.as_slice()) else {
            return error("malformed", "blob id must be 32 bytes", 0);
        };
        let path = self.path_of(&id);
        let read = tokio::task::spawn_blocking(move || fs::read(path)).await;
        match read {
            Ok(Ok(data)) => {
                if let Err(wait) = self.take(peer, data.len()) {
                    return error(
                        "rate_limited",
                        format!("too many bytes; try again in {wait} ms"),
                        wait,
                    );
                }
                self.metrics.blob_served(data.len() as u64);
                v1::BlobResponse {
                    result: Some(v1::blob_response::Result::Data(v1::BlobData { data })),
                }
            }
            Ok(Err(missing)) if missing.kind() == io::ErrorKind::NotFound => error(
                "not_found",
                "no blob with this id (never stored, or expired)",
                0,
            ),
            Ok(Err(failed)) => {
                warn!(error = %failed, "blob read failed");
                error("internal", "the blob could not be read", 0)
            }
            Err(_) => error("internal", "the blob could not be read", 0),
        }
    }

    /// Deletes every blob last put more than the TTL before `now_ms`; returns how many.
    pub async fn purge_expired(&self, now_ms: i64) -> Result<u64, BlobStoreError> {
        let dir = self.dir.clone();
        let cutoff = now_ms.saturating_sub(self.limits.ttl_ms);
        let purged =
            tokio::task::spawn_blocking(move || -> Result<(u64, u64, u64), BlobStoreError> {
                let (mut count, mut bytes, mut kept) = (0, 0, 0);
                for (path, len, modified) in walk(&dir).map_err(io_error(&dir))? {
                    if ms_of(modified) >= cutoff {
                        kept += len;
                        continue;
                    }
                    match fs::remove_file(&path) {
                        Ok(()) => {
                            count += 1;
                            bytes += len;
                        }
                        Err(gone) if gone.kind() == io::ErrorKind::NotFound => {}
                        Err(source) => return Err(BlobStoreError::Io { path, source }),
                    }
                }
                Ok((count, bytes, kept))
            })
            .await
            .map_err(|join| BlobStoreError::Io {
                path: self.dir.to_path_buf(),
                source: io::Error::other(join.to_string()),
            })??;
        let (count, bytes, kept) = purged;
        // The count becomes what is on disk now. This corrects the rare double count of two
        // concurrent puts of one id; a put that lands during the walk may be missed until the
        // next purge.
        self.total.store(kept, Ordering::SeqCst);
        self.metrics.blobs_expired(count, bytes);
        self.metrics.blob_bytes(kept);
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SystemClock;
    use std::time::Duration;

    fn store(dir: &Path, limits: BlobLimits) -> BlobStore {
        BlobStore::open(
            dir,
            limits,
            Arc::new(SystemClock),
            Arc::new(Metrics::default()),
        )
        .unwrap()
    }

    fn put(id: [u8; 32], data: &[u8]) -> v1::BlobRequest {
        v1::BlobRequest {
            op: Some(v1::blob_request::Op::Put(v1::BlobPut {
                id: id.to_vec(),
                data: data.to_vec(),
            })),
        }
    }

    fn get(id: [u8; 32]) -> v1::BlobRequest {
        v1::BlobRequest {
            op: Some(v1::blob_request::Op::Get(v1::BlobGet { id: id.to_vec() })),
        }
    }

    fn id_of(data: &[u8]) -> [u8; 32] {
        Sha256::digest(data).into()
    }

    fn code(response: &v1::BlobResponse) -> Option<&str> {
        match &response.result {
            Some(v1::blob_response::Result::Error(error)) => Some(error.code.as_str()),
            _ => None,
        }
    }

    #[tokio::test]
    async fn a_put_blob_is_got_back_byte_for_byte_from_its_sharded_path() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = store(dir.path(), BlobLimits::default());
        let data = b"sealed chunk bytes".to_vec();
        let id = id_of(&data);
        let stored = blobs.handle(b"peer", put(id, &data)).await;
        assert_eq!(
            stored.result,
            Some(v1::blob_response::Result::Stored(v1::BlobStored {
                existed: false
            }))
        );
        let hex = hex::encode(id);
        assert!(dir.path().join(&hex[..2]).join(&hex).is_file());
        assert_eq!(blobs.total_bytes(), data.len() as u64);
        let again = blobs.handle(b"peer", put(id, &data)).await;
        assert_eq!(
            again.result,
            Some(v1::blob_response::Result::Stored(v1::BlobStored {
                existed: true
            }))
        );
        assert_eq!(blobs.total_bytes(), data.len() as u64, "counted once");
        let got = blobs.handle(b"other peer", get(id)).await;
        assert_eq!(
            got.result,
            Some(v1::blob_response::Result::Data(v1::BlobData { data }))
        );
        let missing = blobs.handle(b"peer", get([9; 32])).await;
        assert_eq!(code(&missing), Some("not_found"));
    }

    #[tokio::test]
    async fn a_put_whose_bytes_do_not_hash_to_its_id_is_refused_and_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = store(dir.path(), BlobLimits::default());
        let id = id_of(b"the real bytes");
        let response = blobs.handle(b"peer", put(id, b"other bytes")).await;
        assert_eq!(code(&response), Some("hash_mismatch"));
        assert!(!blobs.path_of(&id).exists());
        assert_eq!(blobs.total_bytes(), 0);
        let garbage = blobs.handle_bytes(b"peer", b"\xff\xff not protobuf").await;
        let garbage = v1::BlobResponse::decode(garbage.as_slice()).unwrap();
        assert_eq!(code(&garbage), Some("malformed"));
    }

    #[tokio::test]
    async fn blobs_older_than_the_ttl_are_purged_and_younger_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let limits = BlobLimits {
            ttl_ms: 60_000,
            ..BlobLimits::default()
        };
        let blobs = store(dir.path(), limits);
        let (old, young) = (b"old chunk".to_vec(), b"young chunk".to_vec());
        blobs.handle(b"peer", put(id_of(&old), &old)).await;
        blobs.handle(b"peer", put(id_of(&young), &young)).await;
        // The old one was last put two minutes ago.
        let two_minutes_ago = SystemTime::now() - Duration::from_secs(120);
        fs::File::options()
            .append(true)
            .open(blobs.path_of(&id_of(&old)))
            .unwrap()
            .set_modified(two_minutes_ago)
            .unwrap();
        let now = ms_of(SystemTime::now());
        assert_eq!(blobs.purge_expired(now).await.unwrap(), 1);
        assert!(!blobs.path_of(&id_of(&old)).exists());
        assert!(blobs.path_of(&id_of(&young)).exists());
        assert_eq!(blobs.total_bytes(), young.len() as u64);
        let got = blobs.handle(b"peer", get(id_of(&old))).await;
        assert_eq!(code(&got), Some("not_found"));
        // A store reopened counts what is on disk.
        let reopened = store(dir.path(), BlobLimits::default());
        assert_eq!(reopened.total_bytes(), young.len() as u64);
    }

    #[tokio::test]
    async fn a_peer_over_its_byte_rate_is_refused_while_another_peer_is_served() {
        let dir = tempfile::tempdir().unwrap();
        let limits = BlobLimits {
            bytes_per_second: 1.0,
            burst_bytes: 1000.0,
            ..BlobLimits::default()
        };
        let blobs = store(dir.path(), limits);
        let first = vec![1u8; 800];
        let second = vec![2u8; 800];
        let ok = blobs.handle(b"greedy", put(id_of(&first), &first)).await;
        assert_eq!(code(&ok), None);
        let refused = blobs.handle(b"greedy", put(id_of(&second), &second)).await;
        assert_eq!(code(&refused), Some("rate_limited"));
        match refused.result {
            Some(v1::blob_response::Result::Error(error)) => {
                assert!(error.retry_after_ms > 0)
            }
            other => panic!("{other:?}"),
        }
        assert!(!blobs.path_of(&id_of(&second)).exists());
        let other = blobs.handle(b"polite", put(id_of(&second), &second)).await;
        assert_eq!(code(&other), None);
    }

    #[tokio::test]
    async fn a_put_past_the_total_size_cap_is_refused_as_full() {
        let dir = tempfile::tempdir().unwrap();
        let limits = BlobLimits {
            max_total_bytes: 1500,
            ..BlobLimits::default()
        };
        let blobs = store(dir.path(), limits);
        let first = vec![1u8; 1000];
        let second = vec![2u8; 1000];
        assert_eq!(
            code(&blobs.handle(b"peer", put(id_of(&first), &first)).await),
            None
        );
        assert_eq!(
            code(&blobs.handle(b"peer", put(id_of(&second), &second)).await),
            Some("full")
        );
        assert_eq!(blobs.total_bytes(), 1000);
    }
}
