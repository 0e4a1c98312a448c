//! Fetching a file: chunks from the sources, verified and written, resumable.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use libp2p::Multiaddr;
use omega_files::{Delivery, FetchError, Fetcher, Manifest, WantedChunk};
use tokio::runtime::Handle;
use tracing::{debug, warn};

use super::{Files, IN_FLIGHT, MAX_CHUNK_ATTEMPTS, invalid, write_atomically};
use crate::{NodeError, NodeHandle};

/// What [`NodeHandle::fetch_file`] checked before starting.
pub(super) struct FetchJob {
    pub(super) transfer: String,
    pub(super) message_id: String,
    pub(super) manifest: Manifest,
    pub(super) sources: Vec<Multiaddr>,
    pub(super) out: PathBuf,
}

/// Where a fetched file goes: `out` itself when it names a new file in an existing directory, or
/// `out/<name>` (made unique with ` (1)`, ` (2)`, …) when `out` is a directory.
pub(super) fn destination(out: &Path, name: &str) -> Result<PathBuf, NodeError> {
    if !out.is_absolute() {
        return Err(invalid(format!(
            "the output path {} must be absolute",
            out.display()
        )));
    }
    if out.is_dir() {
        let (stem, extension) = match name.rsplit_once('.') {
            Some((stem, extension)) if !stem.is_empty() => (stem, Some(extension)),
            _ => (name, None),
        };
        for n in 0..1000 {
            let candidate = match (n, extension) {
                (0, _) => name.to_owned(),
                (n, Some(extension)) => format!("{stem} ({n}).{extension}"),
                (n, None) => format!("{stem} ({n})"),
            };
            let path = out.join(candidate);
            if !path.exists() {
                return Ok(path);
            }
        }
        return Err(invalid(format!(
            "{} already holds too many files named {name}",
            out.display()
        )));
    }
    if out.exists() {
        return Err(invalid(format!(
            "{} already exists (give a directory or a new file name)",
            out.display()
        )));
    }
    match out.parent() {
        Some(parent) if parent.is_dir() => Ok(out.to_path_buf()),
        _ => Err(invalid(format!(
            "the directory of {} does not exist",
            out.display()
        ))),
    }
}

/// Opens the part file and the fetcher, resuming from the record when it fits.
fn open_fetcher(manifest: Manifest, part: &Path, record: &Path) -> io::Result<Fetcher<fs::File>> {
    if let (Ok(bytes), true) = (fs::read(record), part.is_file()) {
        let file = fs::File::options().read(true).write(true).open(part)?;
        match Fetcher::resume(manifest.clone(), file, &bytes) {
            Ok(fetcher) => return Ok(fetcher),
            Err(error) => debug!(%error, "resume record unusable; starting over"),
        }
    }
    let file = fs::File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(part)?;
    Ok(Fetcher::new(manifest, file))
}

/// Moves the finished part file to `out` (copying across file systems).
fn place(part: &Path, out: &Path) -> io::Result<()> {
    if fs::rename(part, out).is_ok() {
        return Ok(());
    }
    fs::copy(part, out)?;
    fs::File::open(out)?.sync_all()?;
    fs::remove_file(part)
}

/// Fetches, verifies and places the file (on a blocking thread). Returns where it is.
pub(super) fn fetch_blocking(
    node: &NodeHandle,
    runtime: &Handle,
    job: FetchJob,
) -> Result<PathBuf, String> {
    let files = &node.files;
    let downloads = files.root.join("downloads");
    fs::create_dir_all(&downloads).map_err(|error| format!("downloads directory: {error}"))?;
    let part = downloads.join(format!("{}.part", job.message_id));
    let record = downloads.join(format!("{}.progress", job.message_id));
    if job.sources.is_empty() {
        return Err("the message lists no source for the file's chunks".into());
    }
    let mut fetcher = open_fetcher(job.manifest, &part, &record)
        .map_err(|error| format!("part file {}: {error}", part.display()))?;
    let resumed = fetcher.bytes_verified();
    files.update(&job.transfer, |view| {
        view.resumed_bytes = resumed;
        view.bytes_done = resumed;
    });
    // Per chunk index: which source to ask next, and how many times it was asked.
    let mut next_source: HashMap<u32, usize> = HashMap::new();
    let mut attempts: HashMap<u32, u32> = HashMap::new();
    let final_error = |error: FetchError, part: &Path, record: &Path| -> String {
        if matches!(error, FetchError::Forged { .. } | FetchError::HashMismatch) {
            let _ = fs::remove_file(part);
            let _ = fs::remove_file(record);
        }
        error.to_string()
    };
    let sources = Arc::new(job.sources.clone());
    'rounds: loop {
        // One round asks for every chunk still wanted, in file order, IN_FLIGHT at a time,
        // while this thread verifies and writes the ones that arrived (network and disk overlap).
        let plan: Vec<(WantedChunk, usize)> = fetcher
            .wanted()
            .map(|chunk| {
                let start = next_source.get(&chunk.index).copied().unwrap_or(0);
                (chunk, start)
            })
            .collect();
        if plan.is_empty() {
            match fetcher
                .finish()
                .map_err(|error| final_error(error, &part, &record))?
            {
                Delivery::Complete => break,
                _ => {
                    persist(&fetcher, &record)?;
                    continue;
                }
            }
        }
        let (answers_tx, mut answers) = tokio::sync::mpsc::channel(2);
        let producer_files = node.files.clone();
        let producer_sources = sources.clone();
        runtime.spawn(async move {
            let mut asked = futures::stream::iter(plan)
                .map(|(chunk, start)| {
                    let files = producer_files.clone();
                    let sources = producer_sources.clone();
                    async move { (chunk, ask(&files, &sources, &chunk, start).await) }
                })
                .buffered(IN_FLIGHT);
            while let Some(answer) = asked.next().await {
                if answers_tx.send(answer).await.is_err() {
                    break;
                }
            }
        });
        let mut unavailable = false;
        let mut unsynced = 0;
        while let Some((chunk, answer)) = answers.blocking_recv() {
            let tries = attempts.entry(chunk.index).or_insert(0);
            *tries += 1;
            let (which, bytes) = match answer {
                Ok(found) => found,
                Err(error) => {
                    if *tries >= MAX_CHUNK_ATTEMPTS / 3 {
                        return Err(format!(
                            "chunk {} is not available from any source (last: {error})",
                            chunk.index
                        ));
                    }
                    unavailable = true;
                    continue;
                }
            };
            let len = bytes.len() as u64;
            let source = job.sources[which].to_string();
            files.update(&job.transfer, |view| {
                view.bytes_transferred += len;
                *view.chunks_from.entry(source).or_insert(0) += 1;
            });
            match fetcher
                .deliver(&chunk.id, bytes)
                .map_err(|error| final_error(error, &part, &record))?
            {
                Delivery::Stored { .. } | Delivery::PartDamaged { .. } => unsynced += 1,
                Delivery::Complete => {
                    fetcher
                        .part()
                        .sync_all()
                        .map_err(|error| format!("part file: {error}"))?;
                    break 'rounds;
                }
                Delivery::Corrupt { index } => {
                    warn!(index, source = %job.sources[which], "a chunk did not hash to its id; asking the next source");
                    next_source.insert(index, which + 1);
                    files.update(&job.transfer, |view| view.corrupt_chunks += 1);
                    if *tries >= MAX_CHUNK_ATTEMPTS {
                        return Err(format!(
                            "chunk {index} arrived damaged from every source, {tries} times"
                        ));
                    }
                }
                Delivery::Duplicate { .. } | Delivery::NotInFile => {}
            }
            let done = fetcher.bytes_verified();
            files.update(&job.transfer, |view| view.bytes_done = done);
            if unsynced >= IN_FLIGHT {
                // These chunks reach the disk before the record that lists them.
                sync_and_persist(&fetcher, &record)?;
                unsynced = 0;
            }
        }
        if unsynced > 0 {
            sync_and_persist(&fetcher, &record)?;
        }
        if unavailable {
            // Every source failed for some chunk: give them a moment before asking again.
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    drop(fetcher);
    place(&part, &job.out).map_err(|error| {
        format!(
            "cannot move the file to {}: {error} (it is complete in {})",
            job.out.display(),
            part.display()
        )
    })?;
    let _ = fs::remove_file(&record);
    Ok(job.out)
}

/// Asks the sources for `chunk`, starting at `start` and going round: the first answer of the
/// right length wins. Returns which source answered.
async fn ask(
    files: &Files,
    sources: &[Multiaddr],
    chunk: &WantedChunk,
    start: usize,
) -> Result<(usize, Vec<u8>), String> {
    let mut last = String::new();
    for step in 0..sources.len() {
        let which = (start + step) % sources.len();
        match files.get(&sources[which], chunk).await {
            Ok(bytes) => return Ok((which, bytes)),
            Err(error) => {
                debug!(%error, source = %sources[which], "chunk fetch failed");
                last = format!("{}: {error}", sources[which]);
            }
        }
    }
    Err(last)
}

/// Syncs the part file, then replaces the resume record.
fn sync_and_persist(fetcher: &Fetcher<fs::File>, record: &Path) -> Result<(), String> {
    fetcher
        .part()
        .sync_data()
        .map_err(|error| format!("part file: {error}"))?;
    persist(fetcher, record)
}

/// Replaces the resume record (temporary file, fsync, rename).
fn persist(fetcher: &Fetcher<fs::File>, record: &Path) -> Result<(), String> {
    write_atomically(record, &fetcher.progress().to_bytes(), true)
        .map_err(|error| format!("resume record {}: {error}", record.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_destination_gets_the_name_then_free_numbered_names() {
        let dir = tempfile::tempdir().unwrap();
        let first = destination(dir.path(), "photo.jpg").unwrap();
        assert_eq!(first, dir.path().join("photo.jpg"));
        fs::write(&first, b"x").unwrap();
        assert_eq!(
            destination(dir.path(), "photo.jpg").unwrap(),
            dir.path().join("photo (1).jpg")
        );
        fs::write(dir.path().join("notes"), b"x").unwrap();
        assert_eq!(
            destination(dir.path(), "notes").unwrap(),
            dir.path().join("notes (1)")
        );
    }

    #[test]
    fn a_file_destination_must_be_new_absolute_and_in_an_existing_directory() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("new.bin");
        assert_eq!(destination(&new, "x").unwrap(), new);
        fs::write(&new, b"x").unwrap();
        let exists = destination(&new, "x").unwrap_err().to_string();
        assert!(exists.contains("already exists"), "{exists}");
        let orphan = destination(&dir.path().join("no/such/dir/f"), "x")
            .unwrap_err()
            .to_string();
        assert!(orphan.contains("does not exist"), "{orphan}");
        let relative = destination(Path::new("relative/f"), "x")
            .unwrap_err()
            .to_string();
        assert!(relative.contains("absolute"), "{relative}");
    }
}
