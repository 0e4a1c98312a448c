//! End-to-end encrypted files for Ômega: the sans-IO core.
//!
//! What it does: seals a file of up to [`MAX_FILE_SIZE`] (1 GiB) chunk by chunk under a fresh
//! random key ([`Sealer`]), names each sealed chunk by the SHA-256 of its bytes (so any store can
//! keep it and any fetcher can check it), describes the file in a [`Manifest`] that travels inside
//! the end-to-end encrypted message, and fetches a file back ([`Fetcher`]): chunks in any order,
//! each checked before a byte of it is written, a small resume record ([`Progress`]) so a killed
//! download goes on where it stopped, and the whole file's SHA-256 checked at the end. It also
//! makes thumbnails of pictures under strict decoding limits ([`Thumbnail`]), sanitizes file
//! names ([`sanitize_name`]) and guesses MIME types ([`guess_mime`]).
//!
//! What it does not do: no network, no paths, no clock, no global RNG. Files are read and
//! written only through the `std::io::Read` / `Write` / `Seek` values callers pass in; callers
//! pass the RNG; moving chunks (a libp2p stream, the server's blob store), the message that
//! carries the manifest, progress bars and renaming the finished file belong to the caller.
//! Layout on the wire and on disk: `docs/files.md`.
//!
//! # Construction
//!
//! A file is cut into chunks of `L` plaintext bytes ([`DEFAULT_CHUNK_LEN`] = 1 MiB;
//! [`MIN_CHUNK_LEN`] = 256 KiB ..= [`MAX_CHUNK_LEN`] = 4 MiB); the last holds the rest (1 ..= `L`
//! bytes; an empty file is one empty chunk), so a file has `n = max(1, ⌈size / L⌉)` chunks, at
//! most [`MAX_CHUNKS`]. Chunk `i` is sealed as in `omega_crypto::backup`: XChaCha20-Poly1305
//! under the random 32-byte file key with the nonce `prefix ‖ u32_be(i) ‖ last` (the STREAM
//! construction, `aead::stream::StreamBE32`; `prefix` is 19 random bytes, `last` is 1 for chunk
//! `n − 1`), and the associated data `"omega/files/v1/chunk\0" ‖ file_id ‖ u32_be(L)` binds it to
//! its file. Its id is `SHA-256(ciphertext ‖ tag)`. So:
//!
//! - a chunk damaged in transit or in a store does not hash to its id ([`Delivery::Corrupt`]: it
//!   stays wanted and is fetched again);
//! - a chunk of another file has an id the manifest does not list ([`Delivery::NotInFile`]);
//! - a chunk under the wrong index, a non-final chunk as the last (a truncated file) or a chunk
//!   sealed for another file does not open ([`FetchError::Forged`], which only the sender, who
//!   wrote the manifest, can cause);
//! - the plaintext's SHA-256 in the manifest is checked over the whole file at the end.
//!
//! The manifest ([`manifest`] has the byte layout) holds the file id, key and nonce prefix, the
//! size, `L`, the plaintext SHA-256, the chunk ids in order, the sanitized name, the MIME type and
//! an optional JPEG thumbnail. Its decoder refuses anything out of bounds before allocating, and
//! the largest manifest ([`MAX_MANIFEST_LEN`], about 145 KiB) fits in one envelope.
//!
//! # Memory
//!
//! [`Sealer`] holds one chunk (plus a one-byte look-ahead that tells the last chunk from the
//! others without knowing the size); [`Fetcher`] holds the chunk being delivered, and reads
//! chunks back from the part file one at a time to hash them in order when they arrived out of
//! order or before a resume. Per file both keep the chunk id list (32 bytes per chunk).
//!
//! # Example
//!
//! ```
//! use std::io::Cursor;
//! use omega_files::{Delivery, Fetcher, Manifest, Sealer, DEFAULT_CHUNK_LEN};
//!
//! let photo = b"not really a photo".to_vec();
//! let mut sealer = Sealer::new(photo.as_slice(), DEFAULT_CHUNK_LEN, &mut rand::rngs::OsRng)?;
//! let mut store = Vec::new(); // stands for a blob store keyed by chunk id
//! while let Some(chunk) = sealer.next_chunk()? {
//!     store.push((chunk.id, chunk.bytes));
//! }
//! let manifest = sealer.finish("../holiday.txt")?;
//! assert_eq!(manifest.name(), "_holiday.txt");
//! let message = manifest.to_bytes(); // goes inside the end-to-end encrypted message
//!
//! let manifest = Manifest::from_bytes(&message)?;
//! let mut fetcher = Fetcher::new(manifest, Cursor::new(Vec::new()));
//! for wanted in fetcher.next_wanted(8) {
//!     let (_, bytes) = store.iter().find(|(id, _)| *id == wanted.id).unwrap();
//!     assert_eq!(fetcher.deliver(&wanted.id, bytes.clone())?, Delivery::Complete);
//! }
//! assert_eq!(fetcher.into_inner().into_inner(), photo);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod chunk;
mod fetch;
pub mod manifest;
pub mod mime;
mod name;
mod progress;
mod seal;
mod thumbnail;

pub use chunk::{ChunkId, SealedChunk};
pub use fetch::{Delivery, FetchError, Fetcher, WantedChunk};
pub use manifest::{
    MAX_MANIFEST_LEN, Manifest, ManifestError, ManifestView, ThumbnailView, chunk_count,
};
pub use mime::guess_mime;
pub use name::{FALLBACK_NAME, MAX_NAME_LEN, is_sanitized, sanitize_name};
pub use progress::{Progress, ProgressError};
pub use seal::{SealError, Sealer, check_size};
pub use thumbnail::{
    MAX_DECODE_BYTES, MAX_SOURCE_BYTES, MAX_SOURCE_SIDE, MAX_THUMBNAIL_BYTES, MAX_THUMBNAIL_SIDE,
    Thumbnail, ThumbnailError,
};

/// The largest file: 1 GiB.
pub const MAX_FILE_SIZE: u64 = 1024 * 1024 * 1024;
/// Plaintext bytes per chunk unless there is a reason for another length: 1 MiB.
pub const DEFAULT_CHUNK_LEN: u32 = 1024 * 1024;
/// The shortest chunk length: 256 KiB (so a 1 GiB file has at most [`MAX_CHUNKS`] chunks).
pub const MIN_CHUNK_LEN: u32 = 256 * 1024;
/// The longest chunk length: 4 MiB.
pub const MAX_CHUNK_LEN: u32 = 4 * 1024 * 1024;
/// The most chunks a file has: 4096.
pub const MAX_CHUNKS: u32 = (MAX_FILE_SIZE / MIN_CHUNK_LEN as u64) as u32;
/// Bytes of the random file id.
pub const FILE_ID_LEN: usize = 16;
/// Bytes of the random file key.
pub const KEY_LEN: usize = 32;
/// Bytes of the random nonce prefix (XChaCha20's 24-byte nonce less STREAM's 5).
pub const NONCE_PREFIX_LEN: usize = 19;
/// Bytes of the authentication tag after each chunk's ciphertext.
pub const TAG_LEN: usize = 16;
