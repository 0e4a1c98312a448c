//! Sealing a file: read it once, chunk by chunk, and hand out each sealed chunk as soon as it is
//! ready, so at most one chunk is ever in memory; the manifest comes at the end.

use std::fmt;
use std::io::{self, Read};

use rand::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::chunk::{ChunkCipher, ChunkId, SealedChunk};
use crate::manifest::Manifest;
use crate::mime::{SNIFF_LEN, guess_mime};
use crate::name::sanitize_name;
use crate::{
    FILE_ID_LEN, KEY_LEN, MAX_CHUNK_LEN, MAX_FILE_SIZE, MIN_CHUNK_LEN, NONCE_PREFIX_LEN, TAG_LEN,
};

/// Why a file could not be sealed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// Reading the file failed.
    #[error("could not read the file: {0}")]
    Io(#[from] io::Error),
    /// The file is larger than [`MAX_FILE_SIZE`].
    #[error("the file is larger than {max} bytes (1 GiB), the most a file may hold", max = MAX_FILE_SIZE)]
    TooLarge { got: Option<u64> },
    /// A chunk length outside [`MIN_CHUNK_LEN`] ..= [`MAX_CHUNK_LEN`].
    #[error("chunk length {got}, expected {min} ..= {max}", min = MIN_CHUNK_LEN, max = MAX_CHUNK_LEN)]
    ChunkLength { got: u32 },
    /// [`Sealer::finish`] was called before the last chunk was sealed.
    #[error("the file is not sealed yet: {n_sealed} chunk(s) sealed, the last one not yet")]
    NotFinished { n_sealed: u32 },
    /// An earlier call failed; the sealer cannot go on.
    #[error("sealing failed earlier")]
    Failed,
}

/// Refuses a file of `size` bytes before it is read, when the size is known (from its metadata).
pub fn check_size(size: u64) -> Result<(), SealError> {
    if size > MAX_FILE_SIZE {
        Err(SealError::TooLarge { got: Some(size) })
    } else {
        Ok(())
    }
}

/// Seals a file read from `R`, one chunk per call of [`Sealer::next_chunk`] (or per step of the
/// iterator), then [`Sealer::finish`] gives the manifest. The file key, file id and nonce prefix
/// are drawn from the RNG given to [`Sealer::new`].
///
/// ```
/// use omega_files::{Fetcher, MIN_CHUNK_LEN, Sealer};
///
/// let file = vec![7u8; 600_000];
/// let mut sealer = Sealer::new(file.as_slice(), MIN_CHUNK_LEN, &mut rand::rngs::OsRng)?;
/// let chunks: Vec<_> = sealer.by_ref().collect::<Result<_, _>>()?;
/// let manifest = sealer.finish("sevens.bin")?;
/// assert_eq!(chunks.len(), 3);
///
/// let mut fetcher = Fetcher::new(manifest, std::io::Cursor::new(Vec::new()));
/// for chunk in chunks.into_iter().rev() {
///     let _ = fetcher.deliver(&chunk.id, chunk.bytes)?;
/// }
/// assert!(fetcher.is_complete());
/// assert_eq!(fetcher.into_inner().into_inner(), file);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Sealer<R> {
    reader: R,
    file_id: [u8; FILE_ID_LEN],
    key: Zeroizing<[u8; KEY_LEN]>,
    nonce_prefix: [u8; NONCE_PREFIX_LEN],
    cipher: ChunkCipher,
    chunk_len: u32,
    /// A byte read to learn that the previous chunk was not the last; it starts the next one.
    lookahead: Option<u8>,
    size: u64,
    hasher: Sha256,
    chunk_ids: Vec<ChunkId>,
    head: Vec<u8>,
    state: State,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Sealing,
    Done,
    Failed,
}

impl<R> fmt::Debug for Sealer<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            reader: _,
            file_id,
            key: _,
            nonce_prefix: _,
            cipher: _,
            chunk_len,
            lookahead: _,
            size,
            hasher: _,
            chunk_ids,
            head: _,
            state,
        } = self;
        f.debug_struct("Sealer")
            .field("file_id", &hex::encode(file_id))
            .field("chunk_len", chunk_len)
            .field("bytes_read", size)
            .field("n_sealed", &chunk_ids.len())
            .field("state", state)
            .finish_non_exhaustive()
    }
}

impl<R: Read> Sealer<R> {
    /// Starts sealing the file read from `reader`, in chunks of `chunk_len` plaintext bytes
    /// ([`crate::DEFAULT_CHUNK_LEN`] unless there is a reason; [`MIN_CHUNK_LEN`] ..=
    /// [`MAX_CHUNK_LEN`]).
    pub fn new<G: RngCore + CryptoRng>(
        reader: R,
        chunk_len: u32,
        rng: &mut G,
    ) -> Result<Sealer<R>, SealError> {
        if !(MIN_CHUNK_LEN..=MAX_CHUNK_LEN).contains(&chunk_len) {
            return Err(SealError::ChunkLength { got: chunk_len });
        }
        let mut file_id = [0u8; FILE_ID_LEN];
        rng.fill_bytes(&mut file_id);
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill_bytes(key.as_mut());
        let mut nonce_prefix = [0u8; NONCE_PREFIX_LEN];
        rng.fill_bytes(&mut nonce_prefix);
        let cipher = ChunkCipher::new(&key, &nonce_prefix, &file_id, chunk_len);
        Ok(Sealer {
            reader,
            file_id,
            key,
            nonce_prefix,
            cipher,
            chunk_len,
            lookahead: None,
            size: 0,
            hasher: Sha256::new(),
            chunk_ids: Vec::new(),
            head: Vec::with_capacity(SNIFF_LEN),
            state: State::Sealing,
        })
    }

    /// Reads and seals the next chunk; `None` once the last chunk was handed out. Each chunk is
    /// a fresh buffer of at most `chunk_len + 16` bytes: send or store it before asking for the
    /// next one to keep memory flat. After an error the sealer is spent.
    pub fn next_chunk(&mut self) -> Result<Option<SealedChunk>, SealError> {
        match self.state {
            State::Sealing => {}
            State::Done => return Ok(None),
            State::Failed => return Err(SealError::Failed),
        }
        match self.seal_next() {
            Ok(chunk) => Ok(Some(chunk)),
            Err(error) => {
                self.state = State::Failed;
                Err(error)
            }
        }
    }

    fn seal_next(&mut self) -> Result<SealedChunk, SealError> {
        let chunk_len = self.chunk_len as usize;
        let mut buffer = Vec::with_capacity(chunk_len + TAG_LEN);
        buffer.extend(self.lookahead.take());
        let wanted = (chunk_len - buffer.len()) as u64;
        (&mut self.reader).take(wanted).read_to_end(&mut buffer)?;
        let last = buffer.len() < chunk_len || {
            self.lookahead = read_one(&mut self.reader)?;
            self.lookahead.is_none()
        };
        let total = self.size + buffer.len() as u64 + u64::from(self.lookahead.is_some());
        if total > MAX_FILE_SIZE {
            return Err(SealError::TooLarge { got: None });
        }
        self.size += buffer.len() as u64;
        if self.head.len() < SNIFF_LEN {
            let more = (SNIFF_LEN - self.head.len()).min(buffer.len());
            self.head.extend_from_slice(&buffer[..more]);
        }
        self.hasher.update(&buffer);
        // At most MAX_FILE_SIZE / MIN_CHUNK_LEN + 1 chunks: the index fits and the counter
        // never runs out.
        let index = self.chunk_ids.len() as u32;
        self.cipher
            .seal(index, last, &mut buffer)
            .map_err(|_| SealError::TooLarge { got: None })?;
        let id = ChunkId::of(&buffer);
        self.chunk_ids.push(id);
        if last {
            self.state = State::Done;
        }
        Ok(SealedChunk {
            index,
            id,
            bytes: buffer,
        })
    }

    /// Plaintext bytes read so far (for a progress bar).
    pub fn bytes_read(&self) -> u64 {
        self.size
    }

    /// Whether the last chunk was handed out.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The manifest, once the last chunk was sealed. `name` is sanitized
    /// ([`crate::sanitize_name`]); the MIME type is guessed from the name and the first bytes
    /// ([`crate::guess_mime`]). Add a thumbnail with [`Manifest::with_thumbnail`].
    pub fn finish(self, name: &str) -> Result<Manifest, SealError> {
        if self.state != State::Done {
            return Err(SealError::NotFinished {
                n_sealed: self.chunk_ids.len() as u32,
            });
        }
        let name = sanitize_name(name);
        let mime = guess_mime(&name, &self.head).to_owned();
        Ok(Manifest {
            file_id: self.file_id,
            key: self.key,
            nonce_prefix: self.nonce_prefix,
            size: self.size,
            chunk_len: self.chunk_len,
            sha256: self.hasher.finalize().into(),
            chunk_ids: self.chunk_ids,
            name,
            mime,
            thumbnail: None,
        })
    }
}

impl<R: Read> Iterator for Sealer<R> {
    type Item = Result<SealedChunk, SealError>;

    /// [`Sealer::next_chunk`]; ends after the last chunk or the first error.
    fn next(&mut self) -> Option<Self::Item> {
        if self.state == State::Failed {
            return None;
        }
        self.next_chunk().transpose()
    }
}

/// Reads one byte: `None` at the end of the file.
fn read_one(reader: &mut impl Read) -> io::Result<Option<u8>> {
    let mut byte = [0u8; 1];
    loop {
        match reader.read(&mut byte) {
            Ok(0) => return Ok(None),
            Ok(_) => return Ok(Some(byte[0])),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
}
