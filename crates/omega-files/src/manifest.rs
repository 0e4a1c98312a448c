//! The manifest: everything a receiver needs to fetch, open and check a file, carried inside the
//! end-to-end encrypted message. Canonical binary encoding (big endian), bounded decoding, and a
//! JSON view without the secrets.
//!
//! ```text
//! offset  size    field
//!      0     8    magic "OMEGAFIL"
//!      8     1    version = 1
//!      9     1    aead = 1 (XChaCha20-Poly1305, STREAM with a 32-bit big-endian counter)
//!     10    16    file id (random)
//!     26    32    file key (random)
//!     58    19    nonce prefix (random)
//!     77     8    size: plaintext bytes (≤ 1 GiB)
//!     85     4    chunk length L (256 KiB ..= 4 MiB)
//!     89    32    SHA-256 of the plaintext
//!    121     4    chunk count n = max(1, ⌈size / L⌉)
//!    125  32·n    chunk ids, in file order: SHA-256 of each sealed chunk
//!      …     2    name length, then the name (UTF-8, sanitized, 1 ..= 255 bytes)
//!      …     1    MIME type length, then the MIME type (ASCII `type/subtype`, ≤ 127 bytes)
//!      …     1    thumbnail: 0 = none; 1 = JPEG, then width u16, height u16 (1 ..= 128),
//!                 length u16 (1 ..= 16 KiB) and the JPEG bytes
//! ```
//!
//! Nothing may follow. The decoder checks every field against these bounds before it allocates,
//! refuses a chunk count that does not follow from the size and the chunk length, duplicate
//! chunk ids, a name that is not already sanitized and a MIME type that is not a plain
//! `type/subtype`; so every accepted manifest re-encodes to the same bytes.

use std::fmt;

use serde::Serialize;
use zeroize::Zeroizing;

use crate::chunk::{ChunkCipher, ChunkId};
use crate::mime::{MAX_MIME_LEN, is_valid_mime};
use crate::name::{MAX_NAME_LEN, is_sanitized};
use crate::thumbnail::{MAX_THUMBNAIL_BYTES, MAX_THUMBNAIL_SIDE, Thumbnail};
use crate::{
    FILE_ID_LEN, KEY_LEN, MAX_CHUNK_LEN, MAX_CHUNKS, MAX_FILE_SIZE, MIN_CHUNK_LEN,
    NONCE_PREFIX_LEN, TAG_LEN,
};

/// The first bytes of every manifest.
pub const MANIFEST_MAGIC: [u8; 8] = *b"OMEGAFIL";
/// Version written by this build (the only one it reads).
pub const MANIFEST_VERSION: u8 = 1;
/// Bytes before the chunk ids.
pub const MANIFEST_FIXED_LEN: usize = 125;
/// The longest manifest: [`MAX_CHUNKS`] ids, the longest name and MIME type, the largest
/// thumbnail (147 973 bytes, about 145 KiB; it fits in an envelope of `omega_proto::MAX_ENVELOPE_BYTES`).
pub const MAX_MANIFEST_LEN: usize = MANIFEST_FIXED_LEN
    + MAX_CHUNKS as usize * 32
    + 2
    + MAX_NAME_LEN
    + 1
    + MAX_MIME_LEN
    + 1
    + 6
    + MAX_THUMBNAIL_BYTES;

const AEAD_XCHACHA20POLY1305_STREAM_BE32: u8 = 1;
const THUMBNAIL_NONE: u8 = 0;
const THUMBNAIL_JPEG: u8 = 1;

/// Why bytes are not a manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// More bytes than any manifest holds.
    #[error("a manifest of {got} bytes, more than the {max} a manifest may hold")]
    TooLong { got: usize, max: usize },
    /// The bytes do not start with [`MANIFEST_MAGIC`].
    #[error("not a file manifest (bad magic)")]
    NotAManifest,
    /// A version this build does not read.
    #[error("manifest version {got}, expected {expected}")]
    UnsupportedVersion { got: u8, expected: u8 },
    /// An AEAD this build does not know.
    #[error("unknown aead {got}, expected {expected}")]
    UnsupportedAead { got: u8, expected: u8 },
    /// The bytes end inside a field.
    #[error("the manifest ends inside its {field}")]
    Truncated { field: &'static str },
    /// A number outside its bounds.
    #[error("{field} is {got}, expected {min} ..= {max}")]
    OutOfBounds {
        field: &'static str,
        got: u64,
        min: u64,
        max: u64,
    },
    /// The chunk count does not follow from the size and the chunk length.
    #[error("{got} chunk(s) listed, expected {expected} for the size and chunk length")]
    ChunkCount { got: u32, expected: u32 },
    /// The same chunk id is listed twice.
    #[error("chunk {index} repeats the id of an earlier chunk")]
    DuplicateChunk { index: u32 },
    /// The name is not UTF-8, empty, too long or not sanitized.
    #[error("invalid file name: {reason}")]
    Name { reason: &'static str },
    /// The MIME type is not a plain `type/subtype`.
    #[error("invalid MIME type")]
    Mime,
    /// An unknown thumbnail kind.
    #[error("unknown thumbnail kind {got}")]
    ThumbnailKind { got: u8 },
    /// Bytes after the last field.
    #[error("{extra} byte(s) after the end of the manifest")]
    TrailingBytes { extra: usize },
}

/// What a receiver needs to fetch, open and check one file. Made by [`crate::Sealer::finish`],
/// carried as [`Manifest::to_bytes`] inside the end-to-end encrypted message and read back with
/// [`Manifest::from_bytes`]. Holds the file key: it never goes anywhere but inside an encrypted
/// message (use [`Manifest::view`] for logs and APIs).
#[derive(Clone)]
pub struct Manifest {
    pub(crate) file_id: [u8; FILE_ID_LEN],
    pub(crate) key: Zeroizing<[u8; KEY_LEN]>,
    pub(crate) nonce_prefix: [u8; NONCE_PREFIX_LEN],
    pub(crate) size: u64,
    pub(crate) chunk_len: u32,
    pub(crate) sha256: [u8; 32],
    pub(crate) chunk_ids: Vec<ChunkId>,
    pub(crate) name: String,
    pub(crate) mime: String,
    pub(crate) thumbnail: Option<Thumbnail>,
}

impl fmt::Debug for Manifest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            file_id,
            key: _,
            nonce_prefix: _,
            size,
            chunk_len,
            sha256,
            chunk_ids,
            name,
            mime,
            thumbnail,
        } = self;
        f.debug_struct("Manifest")
            .field("file_id", &hex::encode(file_id))
            .field("name", name)
            .field("mime", mime)
            .field("size", size)
            .field("chunk_len", chunk_len)
            .field("chunk_count", &chunk_ids.len())
            .field("sha256", &hex::encode(sha256))
            .field("thumbnail", thumbnail)
            .finish_non_exhaustive()
    }
}

/// The number of chunks of a file of `size` bytes cut into chunks of `chunk_len`: at least one
/// (an empty file is one empty chunk).
pub fn chunk_count(size: u64, chunk_len: u32) -> u64 {
    size.div_ceil(u64::from(chunk_len.max(1))).max(1)
}

impl Manifest {
    /// The random 16-byte id of this file (bound into every chunk's associated data).
    pub fn file_id(&self) -> &[u8; FILE_ID_LEN] {
        &self.file_id
    }

    /// The sanitized file name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The MIME type the sender gave (a hint; see [`crate::mime`]).
    pub fn mime(&self) -> &str {
        &self.mime
    }

    /// Plaintext bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Plaintext bytes in every chunk but the last.
    pub fn chunk_len(&self) -> u32 {
        self.chunk_len
    }

    /// The chunk ids in file order.
    pub fn chunk_ids(&self) -> &[ChunkId] {
        &self.chunk_ids
    }

    /// The number of chunks.
    pub fn chunk_count(&self) -> u32 {
        // Bounded by MAX_CHUNKS when built or decoded.
        self.chunk_ids.len() as u32
    }

    /// SHA-256 of the whole plaintext.
    pub fn sha256(&self) -> &[u8; 32] {
        &self.sha256
    }

    /// The thumbnail, if the sender made one.
    pub fn thumbnail(&self) -> Option<&Thumbnail> {
        self.thumbnail.as_ref()
    }

    /// The same manifest with `thumbnail` embedded (replacing any earlier one).
    #[must_use]
    pub fn with_thumbnail(mut self, thumbnail: Thumbnail) -> Manifest {
        self.thumbnail = Some(thumbnail);
        self
    }

    /// Where chunk `index` starts in the plaintext.
    pub fn chunk_offset(&self, index: u32) -> u64 {
        u64::from(index) * u64::from(self.chunk_len)
    }

    /// Plaintext bytes of chunk `index` (only the last may be short, or empty for an empty file).
    pub fn chunk_plain_len(&self, index: u32) -> usize {
        let start = self.chunk_offset(index).min(self.size);
        (self.size - start).min(u64::from(self.chunk_len)) as usize
    }

    /// Bytes of sealed chunk `index` as it travels (plaintext and tag).
    pub fn chunk_sealed_len(&self, index: u32) -> usize {
        self.chunk_plain_len(index) + TAG_LEN
    }

    /// Bytes of all sealed chunks together (what travels or sits in a blob store).
    pub fn sealed_size(&self) -> u64 {
        self.size + u64::from(self.chunk_count()) * TAG_LEN as u64
    }

    pub(crate) fn is_last(&self, index: u32) -> bool {
        index + 1 == self.chunk_count()
    }

    pub(crate) fn cipher(&self) -> ChunkCipher {
        ChunkCipher::new(&self.key, &self.nonce_prefix, &self.file_id, self.chunk_len)
    }

    /// The canonical encoding (see the module documentation). It holds the file key.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(&MANIFEST_MAGIC);
        out.push(MANIFEST_VERSION);
        out.push(AEAD_XCHACHA20POLY1305_STREAM_BE32);
        out.extend_from_slice(&self.file_id);
        out.extend_from_slice(self.key.as_ref());
        out.extend_from_slice(&self.nonce_prefix);
        out.extend_from_slice(&self.size.to_be_bytes());
        out.extend_from_slice(&self.chunk_len.to_be_bytes());
        out.extend_from_slice(&self.sha256);
        out.extend_from_slice(&self.chunk_count().to_be_bytes());
        for id in &self.chunk_ids {
            out.extend_from_slice(id.as_bytes());
        }
        // Bounded by MAX_NAME_LEN and MAX_MIME_LEN when built or decoded.
        out.extend_from_slice(&(self.name.len() as u16).to_be_bytes());
        out.extend_from_slice(self.name.as_bytes());
        out.push(self.mime.len() as u8);
        out.extend_from_slice(self.mime.as_bytes());
        match &self.thumbnail {
            None => out.push(THUMBNAIL_NONE),
            Some(thumbnail) => {
                out.push(THUMBNAIL_JPEG);
                out.extend_from_slice(&thumbnail.width.to_be_bytes());
                out.extend_from_slice(&thumbnail.height.to_be_bytes());
                out.extend_from_slice(&(thumbnail.jpeg.len() as u16).to_be_bytes());
                out.extend_from_slice(&thumbnail.jpeg);
            }
        }
        Zeroizing::new(out)
    }

    fn encoded_len(&self) -> usize {
        MANIFEST_FIXED_LEN
            + self.chunk_ids.len() * 32
            + 2
            + self.name.len()
            + 1
            + self.mime.len()
            + 1
            + self.thumbnail.as_ref().map_or(0, |t| 6 + t.jpeg.len())
    }

    /// Reads a manifest, checking every bound before allocating (see the module documentation).
    pub fn from_bytes(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        if bytes.len() > MAX_MANIFEST_LEN {
            return Err(ManifestError::TooLong {
                got: bytes.len(),
                max: MAX_MANIFEST_LEN,
            });
        }
        let mut input = Input { bytes };
        if input.take(8, "magic")? != MANIFEST_MAGIC {
            return Err(ManifestError::NotAManifest);
        }
        let version = input.u8("version")?;
        if version != MANIFEST_VERSION {
            return Err(ManifestError::UnsupportedVersion {
                got: version,
                expected: MANIFEST_VERSION,
            });
        }
        let aead = input.u8("aead")?;
        if aead != AEAD_XCHACHA20POLY1305_STREAM_BE32 {
            return Err(ManifestError::UnsupportedAead {
                got: aead,
                expected: AEAD_XCHACHA20POLY1305_STREAM_BE32,
            });
        }
        let file_id = input.array::<FILE_ID_LEN>("file id")?;
        let key = Zeroizing::new(input.array::<KEY_LEN>("file key")?);
        let nonce_prefix = input.array::<NONCE_PREFIX_LEN>("nonce prefix")?;
        let size = u64::from_be_bytes(input.array("size")?);
        bounded("size", size, 0, MAX_FILE_SIZE)?;
        let chunk_len = u32::from_be_bytes(input.array("chunk length")?);
        bounded(
            "chunk length",
            chunk_len.into(),
            MIN_CHUNK_LEN.into(),
            MAX_CHUNK_LEN.into(),
        )?;
        let sha256 = input.array::<32>("plaintext hash")?;
        let n_chunks = u32::from_be_bytes(input.array("chunk count")?);
        let expected = chunk_count(size, chunk_len);
        if u64::from(n_chunks) != expected {
            return Err(ManifestError::ChunkCount {
                got: n_chunks,
                // At most MAX_CHUNKS: size and chunk length are bounded above.
                expected: expected as u32,
            });
        }
        let ids = input.take(n_chunks as usize * 32, "chunk ids")?;
        let chunk_ids: Vec<ChunkId> = ids
            .chunks_exact(32)
            .map(|id| {
                let mut bytes = [0u8; 32];
                bytes.copy_from_slice(id);
                ChunkId(bytes)
            })
            .collect();
        let mut sorted = chunk_ids.clone();
        sorted.sort_unstable();
        if let Some(pair) = sorted.windows(2).find(|pair| pair[0] == pair[1]) {
            let index = chunk_ids.iter().rposition(|id| *id == pair[0]).unwrap_or(0);
            return Err(ManifestError::DuplicateChunk {
                index: index as u32,
            });
        }
        let name_len = u16::from_be_bytes(input.array("name length")?);
        bounded("name length", name_len.into(), 1, MAX_NAME_LEN as u64)?;
        let name = std::str::from_utf8(input.take(name_len.into(), "name")?)
            .map_err(|_| ManifestError::Name {
                reason: "not UTF-8",
            })?
            .to_owned();
        if !is_sanitized(&name) {
            return Err(ManifestError::Name {
                reason: "not a sanitized file name (path separators, control characters, …)",
            });
        }
        let mime_len = input.u8("MIME type length")?;
        let mime = std::str::from_utf8(input.take(mime_len.into(), "MIME type")?)
            .map_err(|_| ManifestError::Mime)?
            .to_owned();
        if !is_valid_mime(&mime) {
            return Err(ManifestError::Mime);
        }
        let thumbnail = match input.u8("thumbnail kind")? {
            THUMBNAIL_NONE => None,
            THUMBNAIL_JPEG => {
                let side = |field, value: u16| {
                    bounded(field, value.into(), 1, MAX_THUMBNAIL_SIDE.into()).map(|()| value)
                };
                let width = side(
                    "thumbnail width",
                    u16::from_be_bytes(input.array("thumbnail width")?),
                )?;
                let height = side(
                    "thumbnail height",
                    u16::from_be_bytes(input.array("thumbnail height")?),
                )?;
                let jpeg_len = u16::from_be_bytes(input.array("thumbnail length")?);
                bounded(
                    "thumbnail length",
                    jpeg_len.into(),
                    1,
                    MAX_THUMBNAIL_BYTES as u64,
                )?;
                let jpeg = input.take(jpeg_len.into(), "thumbnail")?.to_vec();
                Some(Thumbnail {
                    width,
                    height,
                    jpeg,
                })
            }
            got => return Err(ManifestError::ThumbnailKind { got }),
        };
        if !input.bytes.is_empty() {
            return Err(ManifestError::TrailingBytes {
                extra: input.bytes.len(),
            });
        }
        Ok(Manifest {
            file_id,
            key,
            nonce_prefix,
            size,
            chunk_len,
            sha256,
            chunk_ids,
            name,
            mime,
            thumbnail,
        })
    }

    /// The manifest without its secrets (file key, nonce prefix), for logs, APIs and `--json`.
    pub fn view(&self) -> ManifestView {
        ManifestView {
            file_id: hex::encode(self.file_id),
            name: self.name.clone(),
            mime: self.mime.clone(),
            size: self.size,
            chunk_len: self.chunk_len,
            chunk_count: self.chunk_count(),
            chunk_ids: self.chunk_ids.iter().map(ChunkId::to_hex).collect(),
            sha256: hex::encode(self.sha256),
            thumbnail: self.thumbnail.as_ref().map(|thumbnail| ThumbnailView {
                width: thumbnail.width,
                height: thumbnail.height,
                jpeg_len: thumbnail.jpeg.len(),
            }),
        }
    }
}

/// A [`Manifest`] without the file key and nonce prefix; serializes to JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ManifestView {
    /// The file id, hex.
    pub file_id: String,
    /// The sanitized file name.
    pub name: String,
    /// The MIME type.
    pub mime: String,
    /// Plaintext bytes.
    pub size: u64,
    /// Plaintext bytes per chunk but the last.
    pub chunk_len: u32,
    /// Number of chunks.
    pub chunk_count: u32,
    /// Chunk ids in file order, hex.
    pub chunk_ids: Vec<String>,
    /// SHA-256 of the plaintext, hex.
    pub sha256: String,
    /// The thumbnail's size, if there is one.
    pub thumbnail: Option<ThumbnailView>,
}

/// The size of a manifest's thumbnail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ThumbnailView {
    /// Pixels.
    pub width: u16,
    /// Pixels.
    pub height: u16,
    /// Bytes of the JPEG.
    pub jpeg_len: usize,
}

fn bounded(field: &'static str, got: u64, min: u64, max: u64) -> Result<(), ManifestError> {
    if (min..=max).contains(&got) {
        Ok(())
    } else {
        Err(ManifestError::OutOfBounds {
            field,
            got,
            min,
            max,
        })
    }
}

struct Input<'a> {
    bytes: &'a [u8],
}

impl<'a> Input<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], ManifestError> {
        if self.bytes.len() < n {
            return Err(ManifestError::Truncated { field });
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], ManifestError> {
        let mut array = [0u8; N];
        array.copy_from_slice(self.take(N, field)?);
        Ok(array)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, ManifestError> {
        Ok(self.take(1, field)?[0])
    }
}
