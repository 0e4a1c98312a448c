//! Fetching a file: a state machine that says which chunks to fetch, checks each one that
//! arrives (its id, then its AEAD tag at its index), writes its plaintext at its place in a part
//! file, keeps a resume record, and checks the whole file's SHA-256 at the end.
//!
//! No network here: the driver fetches the chunks [`Fetcher::next_wanted`] names from wherever
//! it can (a peer, the server's blob store), in any order and as many at a time as it likes, and
//! hands each to [`Fetcher::deliver`].

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read, Seek, SeekFrom, Write};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::chunk::{ChunkCipher, ChunkId};
use crate::manifest::Manifest;
use crate::progress::{Progress, ProgressError};

/// A chunk still to fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WantedChunk {
    /// Its position in the file.
    pub index: u32,
    /// Its id (what to ask a peer or a blob store for).
    pub id: ChunkId,
    /// The exact length of its sealed bytes (refuse longer answers before reading them).
    pub sealed_len: usize,
}

/// What became of a chunk handed to [`Fetcher::deliver`] (or of [`Fetcher::finish`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Delivery {
    /// Verified, decrypted and written; more chunks are wanted.
    Stored { index: u32 },
    /// Every chunk is written and the file's SHA-256 matches the manifest: the part file holds
    /// the file. Flush it, and rename it to its final name.
    Complete,
    /// That chunk was already written; nothing changed.
    Duplicate { index: u32 },
    /// The bytes do not hash to the id (damaged in transit or in a store). The chunk is still
    /// wanted: fetch it again, from elsewhere if it keeps happening.
    Corrupt { index: u32 },
    /// No chunk of this file has that id (a chunk of another file); ignored.
    NotInFile,
    /// Every chunk was written but the file read back did not hash right: `n_chunks` chunks of
    /// the part file were found damaged (on disk, or lost in a crash) and are wanted again.
    PartDamaged { n_chunks: u32 },
}

/// Why a download cannot go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// Reading or writing the part file failed. The chunk is still wanted; retrying is allowed.
    #[error("part file: {0}")]
    Io(#[from] io::Error),
    /// The bytes hash to the chunk's id yet do not open as that chunk (wrong length, index, last
    /// flag, key or file): the sender's manifest does not describe what it sealed. Final: the
    /// same id always names the same bytes.
    #[error(
        "chunk {index} matches its id but does not open as chunk {index} of this file (the manifest is wrong or forged)"
    )]
    Forged { index: u32 },
    /// Every chunk opened and was written, and the part file reads back like that, yet the
    /// file's SHA-256 is not the manifest's. Final: the sender's manifest is wrong.
    #[error("the file does not match the SHA-256 in its manifest")]
    HashMismatch,
    /// The file is complete and verified, but the part file goes on after it: it was not empty
    /// when [`Fetcher::new`] was given it. Truncate it to `size` bytes.
    #[error("the part file holds {len} bytes, more than the file's {size} (it was not empty)")]
    PartTooLong { len: u64, size: u64 },
    /// [`Fetcher::finish`] while chunks are still wanted.
    #[error("{n_wanted} chunk(s) still wanted")]
    Incomplete { n_wanted: u32 },
}

/// Downloads one file into a part file `W` (a `std::fs::File` opened for reading and writing, or
/// a `Cursor<Vec<u8>>` in tests). At most one chunk is held in memory, inside
/// [`Fetcher::deliver`].
///
/// Crash safety: after each [`Delivery::Stored`], sync the part file, then persist
/// [`Fetcher::progress`]`().to_bytes()` (write a temporary file, rename it over the old record).
/// After a crash, rebuild with [`Fetcher::resume`]. If the order is not kept, or the disk loses
/// writes, the end-of-file check finds the damaged chunks ([`Delivery::PartDamaged`]) and they are
/// fetched again.
pub struct Fetcher<W> {
    manifest: Manifest,
    cipher: ChunkCipher,
    index_of: BTreeMap<ChunkId, u32>,
    progress: Progress,
    part: W,
    /// SHA-256 of the plaintext of chunks `0 .. n_hashed`.
    hasher: Sha256,
    n_hashed: u32,
    complete: bool,
    n_corrupt: u64,
}

impl<W> fmt::Debug for Fetcher<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            manifest,
            cipher: _,
            index_of: _,
            progress,
            part: _,
            hasher: _,
            n_hashed,
            complete,
            n_corrupt,
        } = self;
        f.debug_struct("Fetcher")
            .field("manifest", manifest)
            .field("n_verified", &progress.n_verified())
            .field("n_hashed", n_hashed)
            .field("complete", complete)
            .field("n_corrupt", n_corrupt)
            .finish_non_exhaustive()
    }
}

impl<W: Read + Write + Seek> Fetcher<W> {
    /// Starts a download into an empty part file (open it with `truncate(true)`).
    pub fn new(manifest: Manifest, part: W) -> Fetcher<W> {
        let progress = Progress::new(&manifest);
        Fetcher::with_progress(manifest, part, progress)
    }

    /// Resumes a download from its part file and the last resume record persisted
    /// ([`Progress::to_bytes`]). A record of another file, or a damaged one, is refused: start
    /// over with [`Fetcher::new`] and a truncated part file.
    pub fn resume(manifest: Manifest, part: W, record: &[u8]) -> Result<Fetcher<W>, ProgressError> {
        let progress = Progress::from_bytes(record, &manifest)?;
        Ok(Fetcher::with_progress(manifest, part, progress))
    }

    fn with_progress(manifest: Manifest, part: W, progress: Progress) -> Fetcher<W> {
        let cipher = manifest.cipher();
        let index_of = manifest
            .chunk_ids()
            .iter()
            .enumerate()
            .map(|(index, id)| (*id, index as u32))
            .collect();
        Fetcher {
            manifest,
            cipher,
            index_of,
            progress,
            part,
            hasher: Sha256::new(),
            n_hashed: 0,
            complete: false,
            n_corrupt: 0,
        }
    }

    /// The chunks still to fetch, in file order. Call after every delivery; chunks already in
    /// flight are listed too (the driver knows which those are).
    pub fn wanted(&self) -> impl Iterator<Item = WantedChunk> + '_ {
        (0..self.manifest.chunk_count())
            .filter(|index| !self.progress.is_verified(*index))
            .map(|index| WantedChunk {
                index,
                id: self.manifest.chunk_ids()[index as usize],
                sealed_len: self.manifest.chunk_sealed_len(index),
            })
    }

    /// The first `n` chunks of [`Fetcher::wanted`].
    #[must_use]
    pub fn next_wanted(&self, n: usize) -> Vec<WantedChunk> {
        self.wanted().take(n).collect()
    }

    /// Hands over the bytes fetched for chunk `id`. They are checked against the id (SHA-256),
    /// opened at the chunk's index (XChaCha20-Poly1305), written at the chunk's offset in the
    /// part file, and recorded in the progress. When that was the last chunk wanted, the whole
    /// file is hashed (reading back whatever was not hashed on the way) and checked.
    pub fn deliver(&mut self, id: &ChunkId, mut bytes: Vec<u8>) -> Result<Delivery, FetchError> {
        let Some(&index) = self.index_of.get(id) else {
            return Ok(Delivery::NotInFile);
        };
        if self.progress.is_verified(index) {
            return Ok(Delivery::Duplicate { index });
        }
        if ChunkId::of(&bytes) != *id {
            self.n_corrupt += 1;
            return Ok(Delivery::Corrupt { index });
        }
        if bytes.len() != self.manifest.chunk_sealed_len(index) {
            return Err(FetchError::Forged { index });
        }
        self.cipher
            .open(index, self.manifest.is_last(index), &mut bytes)
            .map_err(|_| FetchError::Forged { index })?;
        self.part
            .seek(SeekFrom::Start(self.manifest.chunk_offset(index)))?;
        self.part.write_all(&bytes)?;
        self.progress.set(index, true);
        if index == self.n_hashed {
            self.hasher.update(&bytes);
            self.n_hashed += 1;
        }
        self.catch_up(&mut bytes)?;
        if self.n_hashed == self.manifest.chunk_count() {
            return self.conclude(bytes);
        }
        Ok(Delivery::Stored { index })
    }

    /// Checks the file when every chunk is written but the download was not concluded, as after
    /// a resume from a record that lists every chunk. Returns [`Delivery::Complete`] or
    /// [`Delivery::PartDamaged`]; an error while chunks are wanted.
    pub fn finish(&mut self) -> Result<Delivery, FetchError> {
        if self.complete {
            return Ok(Delivery::Complete);
        }
        let n_wanted = self.manifest.chunk_count() - self.progress.n_verified();
        if n_wanted > 0 {
            return Err(FetchError::Incomplete { n_wanted });
        }
        let mut buffer = Vec::new();
        self.catch_up(&mut buffer)?;
        if self.n_hashed == self.manifest.chunk_count() {
            self.conclude(buffer)
        } else {
            // A chunk could not be read back: it is wanted again.
            let n_chunks = self.manifest.chunk_count() - self.progress.n_verified();
            Ok(Delivery::PartDamaged { n_chunks })
        }
    }

    /// Hashes the verified chunks that follow the hashed prefix, reading them back from the part
    /// file. A chunk the part file is too short to hold is marked wanted again.
    fn catch_up(&mut self, buffer: &mut Vec<u8>) -> Result<(), FetchError> {
        while self.n_hashed < self.manifest.chunk_count()
            && self.progress.is_verified(self.n_hashed)
        {
            let index = self.n_hashed;
            if !self.read_chunk(index, buffer)? {
                self.progress.set(index, false);
                return Ok(());
            }
            self.hasher.update(buffer.as_slice());
            self.n_hashed += 1;
        }
        Ok(())
    }

    /// Reads the plaintext of chunk `index` back from the part file into `buffer`; `false` when
    /// the part file ends before it.
    fn read_chunk(&mut self, index: u32, buffer: &mut Vec<u8>) -> Result<bool, FetchError> {
        buffer.clear();
        buffer.resize(self.manifest.chunk_plain_len(index), 0);
        self.part
            .seek(SeekFrom::Start(self.manifest.chunk_offset(index)))?;
        match self.part.read_exact(buffer) {
            Ok(()) => Ok(true),
            Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// Every chunk is hashed: compare with the manifest; on a mismatch find the damaged chunks by
    /// sealing each chunk of the part file again and comparing with its id.
    fn conclude(&mut self, mut buffer: Vec<u8>) -> Result<Delivery, FetchError> {
        let hasher = std::mem::take(&mut self.hasher);
        let digest: [u8; 32] = hasher.finalize().into();
        if bool::from(digest.ct_eq(self.manifest.sha256())) {
            let len = self.part.seek(SeekFrom::End(0))?;
            if len != self.manifest.size() {
                return Err(FetchError::PartTooLong {
                    len,
                    size: self.manifest.size(),
                });
            }
            self.complete = true;
            return Ok(Delivery::Complete);
        }
        self.n_hashed = 0;
        let mut n_damaged = 0;
        for index in 0..self.manifest.chunk_count() {
            let intact = self.read_chunk(index, &mut buffer)?
                && self
                    .cipher
                    .seal(index, self.manifest.is_last(index), &mut buffer)
                    .is_ok()
                && ChunkId::of(&buffer) == self.manifest.chunk_ids()[index as usize];
            if !intact {
                self.progress.set(index, false);
                n_damaged += 1;
            }
        }
        if n_damaged == 0 {
            return Err(FetchError::HashMismatch);
        }
        Ok(Delivery::PartDamaged {
            n_chunks: n_damaged,
        })
    }
}

impl<W> Fetcher<W> {
    /// The manifest being fetched.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The resume record as it stands (persist its [`Progress::to_bytes`]).
    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    /// Whether the file is complete and verified.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// Plaintext bytes verified and written so far (for a progress bar).
    pub fn bytes_verified(&self) -> u64 {
        (0..self.manifest.chunk_count())
            .filter(|index| self.progress.is_verified(*index))
            .map(|index| self.manifest.chunk_plain_len(index) as u64)
            .sum()
    }

    /// How many deliveries were [`Delivery::Corrupt`] (chunks that had to be fetched again).
    pub fn n_corrupt(&self) -> u64 {
        self.n_corrupt
    }

    /// The part file (to sync it before persisting the progress).
    pub fn part(&self) -> &W {
        &self.part
    }

    /// Gives the part file back.
    pub fn into_inner(self) -> W {
        self.part
    }
}
