//! Sending a file: read once, seal, cache, upload, then queue the file message.

use std::fs;
use std::io;
use std::path::PathBuf;

use futures::StreamExt;
use omega_files::{DEFAULT_CHUNK_LEN, Sealer, TAG_LEN, Thumbnail};
use tokio::runtime::Handle;

use super::{IN_FLIGHT, cache_path, write_atomically};
use crate::NodeHandle;
use crate::kinds::{Draft, FileAttachment, MAX_FILE_SOURCES};

/// What [`NodeHandle::send_file`] checked before starting.
pub(super) struct SendJob {
    pub(super) transfer: String,
    pub(super) to: String,
    pub(super) path: PathBuf,
    pub(super) file: fs::File,
    pub(super) name: String,
}

/// Seals, caches and uploads the file, then queues its message (on a blocking thread).
pub(super) fn send_blocking(
    node: &NodeHandle,
    runtime: &Handle,
    job: SendJob,
) -> Result<(), String> {
    let files = &node.files;
    let cache = files.root.join("blobs");
    let mut sealer = Sealer::new(
        io::BufReader::with_capacity(256 * 1024, job.file),
        DEFAULT_CHUNK_LEN,
        &mut rand::rngs::OsRng,
    )
    .map_err(|error| error.to_string())?;
    // This thread reads and seals; an async uploader puts IN_FLIGHT chunks at a time to every
    // server, so reading, sealing and the network overlap. The channel bounds what waits.
    let (chunks_tx, chunks_rx) = tokio::sync::mpsc::channel::<omega_files::SealedChunk>(2);
    let uploader_files = node.files.clone();
    let transfer = job.transfer.clone();
    let uploader = runtime.spawn(async move {
        let files = uploader_files;
        let mut uploads = tokio_stream::wrappers::ReceiverStream::new(chunks_rx)
            .map(|chunk| {
                let files = files.clone();
                async move {
                    for server in &files.servers {
                        files.put(server, &chunk.id, &chunk.bytes).await?;
                    }
                    Ok::<usize, String>(chunk.bytes.len())
                }
            })
            .buffer_unordered(IN_FLIGHT);
        while let Some(uploaded) = uploads.next().await {
            let len = uploaded? as u64;
            let servers = files.servers.len() as u64;
            files.update(&transfer, |view| {
                view.bytes_done =
                    (view.bytes_done + len.saturating_sub(TAG_LEN as u64)).min(view.bytes_total);
                view.bytes_transferred += len * servers;
            });
        }
        Ok::<(), String>(())
    });
    let sealed = (|| -> Result<(), String> {
        while let Some(chunk) = sealer
            .next_chunk()
            .map_err(|error| format!("reading {}: {error}", job.path.display()))?
        {
            write_atomically(&cache_path(&cache, &chunk.id), &chunk.bytes, false)
                .map_err(|error| format!("chunk cache: {error}"))?;
            if chunks_tx.blocking_send(chunk).is_err() {
                // The uploader stopped: its error says why.
                break;
            }
        }
        Ok(())
    })();
    drop(chunks_tx);
    let uploaded = runtime
        .block_on(uploader)
        .map_err(|error| format!("uploader: {error}"))?;
    sealed?;
    uploaded?;
    let read = sealer.bytes_read();
    files.update(&job.transfer, |view| view.bytes_done = read);
    let mut manifest = sealer
        .finish(&job.name)
        .map_err(|error| error.to_string())?;
    if matches!(manifest.mime(), "image/png" | "image/jpeg")
        && let Ok(thumbnail) = fs::File::open(&job.path)
            .map_err(|error| error.to_string())
            .and_then(|file| Thumbnail::from_reader(file).map_err(|error| error.to_string()))
    {
        manifest = manifest.with_thumbnail(thumbnail);
    }
    let sha256 = hex::encode(manifest.sha256());
    files.update(&job.transfer, |view| view.sha256 = Some(sha256));
    // The servers first (always on), then this device (fresh bytes if a server lost a chunk).
    let mut sources: Vec<String> = files.servers.iter().map(ToString::to_string).collect();
    sources.extend(
        node.info()
            .addrs
            .into_iter()
            .filter(|addr| addr.contains("/p2p/") && !addr.contains("/p2p-circuit")),
    );
    sources.truncate(MAX_FILE_SOURCES);
    let draft = Draft::File(FileAttachment {
        manifest: manifest.to_bytes(),
        sources,
    });
    let message = runtime
        .block_on(node.send(&job.to, draft, None))
        .map_err(|error| error.to_string())?;
    files.update(&job.transfer, |view| {
        view.message_id = Some(message.message_id)
    });
    Ok(())
}
