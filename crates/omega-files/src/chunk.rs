//! Chunk ids and the per-file chunk cipher (XChaCha20-Poly1305 in the STREAM construction),
//! shared by the sealer and the fetcher.

use std::fmt;

use chacha20poly1305::aead::stream::{NewStream, StreamBE32, StreamPrimitive};
use chacha20poly1305::{Key, KeyInit, XChaCha20Poly1305};
use sha2::{Digest, Sha256};

use crate::{FILE_ID_LEN, NONCE_PREFIX_LEN, TAG_LEN};

/// Domain label at the start of every chunk's associated data.
const AAD_LABEL: &[u8] = b"omega/files/v1/chunk\0";
/// Bytes of associated data: the label, the file id and the chunk length.
const AAD_LEN: usize = AAD_LABEL.len() + FILE_ID_LEN + 4;

/// The content address of a sealed chunk: SHA-256 of its ciphertext (tag included).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkId(pub [u8; 32]);

impl ChunkId {
    /// The id of these sealed bytes.
    pub fn of(sealed: &[u8]) -> ChunkId {
        ChunkId(Sha256::digest(sealed).into())
    }

    /// The 32 bytes of the id.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The id in lowercase hex (64 characters), as a blob store would name the chunk.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for ChunkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ChunkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChunkId({})", self.to_hex())
    }
}

/// One chunk as it travels: its index in the file, its id and its sealed bytes (ciphertext
/// followed by the 16-byte tag).
#[derive(Clone, PartialEq, Eq)]
pub struct SealedChunk {
    /// Position of the chunk in the file, from 0.
    pub index: u32,
    /// SHA-256 of `bytes`.
    pub id: ChunkId,
    /// The sealed chunk.
    pub bytes: Vec<u8>,
}

impl fmt::Debug for SealedChunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self { index, id, bytes } = self;
        f.debug_struct("SealedChunk")
            .field("index", index)
            .field("id", id)
            .field("len", &bytes.len())
            .finish()
    }
}

/// The AEAD of one file: its key, nonce prefix and associated data. Stateless per chunk, so
/// chunks open in any order (the index and the last flag go into the nonce).
pub(crate) struct ChunkCipher {
    stream: StreamBE32<XChaCha20Poly1305>,
    aad: [u8; AAD_LEN],
}

/// The AEAD refused a chunk (wrong key, index, last flag, file or bytes), or the counter ran out.
#[derive(Debug)]
pub(crate) struct AeadFailed;

impl ChunkCipher {
    pub(crate) fn new(
        key: &[u8; 32],
        nonce_prefix: &[u8; NONCE_PREFIX_LEN],
        file_id: &[u8; FILE_ID_LEN],
        chunk_len: u32,
    ) -> ChunkCipher {
        let mut aad = [0u8; AAD_LEN];
        aad[..AAD_LABEL.len()].copy_from_slice(AAD_LABEL);
        aad[AAD_LABEL.len()..AAD_LABEL.len() + FILE_ID_LEN].copy_from_slice(file_id);
        aad[AAD_LABEL.len() + FILE_ID_LEN..].copy_from_slice(&chunk_len.to_be_bytes());
        let stream = StreamBE32::from_aead(
            XChaCha20Poly1305::new(Key::from_slice(key)),
            nonce_prefix.into(),
        );
        ChunkCipher { stream, aad }
    }

    /// Seals `buffer` (plaintext in, ciphertext and tag out) as chunk `index`.
    pub(crate) fn seal(
        &self,
        index: u32,
        last: bool,
        buffer: &mut Vec<u8>,
    ) -> Result<(), AeadFailed> {
        buffer.reserve_exact(TAG_LEN);
        self.stream
            .encrypt_in_place(index, last, &self.aad, buffer)
            .map_err(|_| AeadFailed)
    }

    /// Opens `buffer` (ciphertext and tag in, plaintext out) as chunk `index`.
    pub(crate) fn open(
        &self,
        index: u32,
        last: bool,
        buffer: &mut Vec<u8>,
    ) -> Result<(), AeadFailed> {
        self.stream
            .decrypt_in_place(index, last, &self.aad, buffer)
            .map_err(|_| AeadFailed)
    }
}
