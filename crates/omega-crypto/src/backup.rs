//! The sealing of a backup file: a passphrase-derived key and the chunked AEAD (STREAM) that
//! encrypts the file's body, so truncation, reordering and tampering are all detected.
//!
//! A backup is a fixed [`HEADER_LEN`]-byte header followed by sealed chunks:
//!
//! ```text
//! offset size  field
//!      0    8  magic "OMEGABAK"
//!      8    2  version (big endian) = 1
//!     10    1  kdf  = 1 (Argon2id, version 0x13)
//!     11    1  aead = 1 (XChaCha20-Poly1305 in the STREAM construction, 32-bit counter)
//!     12    4  Argon2id memory in KiB
//!     16    4  Argon2id passes
//!     20    4  Argon2id lanes
//!     24   16  salt (random)
//!     40   19  nonce prefix (random)
//!     59    4  chunk length: plaintext bytes in every chunk but the last
//!     63   32  key check: SHA-256("omega/backup/v1/check\0" ‖ Argon2id output)
//! then chunk 0, chunk 1, … each its plaintext followed by a 16-byte tag
//! ```
//!
//! Argon2id turns the passphrase into 32 bytes `M`; the stream key is
//! SHA-256("omega/backup/v1/key\0" ‖ M). Chunk `i` is sealed with XChaCha20-Poly1305 under the
//! nonce `prefix ‖ i (u32, big endian) ‖ last` where `last` is 1 for the final chunk and 0 otherwise
//! (the STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár, as implemented by
//! `aead::stream::StreamBE32`), and the whole header is its associated data. Every chunk holds
//! exactly the chunk length of plaintext except the final one, which holds fewer bytes (possibly
//! none), so a reader tells the final chunk by its length alone. Hence:
//!
//! - a wrong passphrase fails the key check before any chunk is read ([`BackupError::WrongPassphrase`]);
//! - a changed byte anywhere fails the key check or a chunk's tag ([`BackupError::Damaged`]);
//! - reordered chunks fail (the counter is in the nonce); a cut inside a chunk fails (the shortened
//!   chunk is opened as final and its tag does not match); a cut between chunks leaves no final
//!   chunk ([`BackupError::Truncated`]); bytes appended after the final chunk are refused.
//!
//! This module is sans-IO: callers read and write the bytes and hand chunks in and out.

use std::fmt;

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::stream::{DecryptorBE32, EncryptorBE32};
use chacha20poly1305::{Key, KeyInit, XChaCha20Poly1305};
use rand::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

/// The first bytes of every backup.
pub const BACKUP_MAGIC: [u8; 8] = *b"OMEGABAK";
/// Version written by this build (the only one it reads).
pub const BACKUP_VERSION: u16 = 1;
/// Size of the header in bytes.
pub const HEADER_LEN: usize = 95;
/// Size of the authentication tag after each chunk's plaintext.
pub const TAG_LEN: usize = 16;

const KDF_ARGON2ID: u8 = 1;
const AEAD_XCHACHA20POLY1305_STREAM_BE32: u8 = 1;
const SALT_LEN: usize = 16;
const NONCE_PREFIX_LEN: usize = 19;
const CHECK_LEN: usize = 32;
const LABEL_KEY: &[u8] = b"omega/backup/v1/key\0";
const LABEL_CHECK: &[u8] = b"omega/backup/v1/check\0";

/// Bounds on parameters, checked when writing and when reading (so a hostile file cannot make
/// us allocate gigabytes or loop for hours).
const M_KIB_MIN: u32 = crate::keystore::SEAL_M_KIB;
const M_KIB_MAX: u32 = 2 * 1024 * 1024;
const T_MIN: u32 = crate::keystore::SEAL_T;
const T_MAX: u32 = 64;
const P_MIN: u32 = 1;
const P_MAX: u32 = 16;
const CHUNK_LEN_MIN: u32 = 16;
const CHUNK_LEN_MAX: u32 = 16 * 1024 * 1024;

/// The cost of the key derivation and the chunk length of a backup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackupParams {
    /// Argon2id memory in KiB.
    pub m_kib: u32,
    /// Argon2id passes.
    pub t: u32,
    /// Argon2id lanes.
    pub p: u32,
    /// Plaintext bytes in every chunk but the last.
    pub chunk_len: u32,
}

impl Default for BackupParams {
    /// Argon2id with 64 MiB, 3 passes and 4 lanes (RFC 9106's second recommended option; more
    /// than the keystore's, since a backup travels), 64 KiB chunks.
    fn default() -> Self {
        BackupParams {
            m_kib: 64 * 1024,
            t: 3,
            p: 4,
            chunk_len: 64 * 1024,
        }
    }
}

impl BackupParams {
    fn check(&self) -> Result<(), BackupError> {
        bounded("m_kib", self.m_kib, M_KIB_MIN, M_KIB_MAX)?;
        bounded("t", self.t, T_MIN, T_MAX)?;
        bounded("p", self.p, P_MIN, P_MAX)?;
        bounded("chunk_len", self.chunk_len, CHUNK_LEN_MIN, CHUNK_LEN_MAX)?;
        Ok(())
    }
}

/// Why a backup could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// The bytes do not start with [`BACKUP_MAGIC`].
    #[error("not an Ômega backup (it does not start with the backup magic)")]
    NotABackup,
    /// The file ends inside the header.
    #[error("the backup ends inside its header ({got} of {HEADER_LEN} bytes): it was truncated")]
    HeaderTruncated { got: usize },
    /// Written by a version this build does not read.
    #[error("unsupported backup version {got}, expected {expected}")]
    UnsupportedVersion { got: u16, expected: u16 },
    /// An algorithm identifier this build does not know.
    #[error("unsupported backup {what} algorithm {got}")]
    UnsupportedAlgorithm { what: &'static str, got: u8 },
    /// A parameter in the header (or given to the sealer) is outside the accepted range.
    #[error("backup parameter {param} is {got}, expected between {min} and {max}")]
    ParameterOutOfBounds {
        param: &'static str,
        got: u32,
        min: u32,
        max: u32,
    },
    /// The key derived from the passphrase does not match the header's key check.
    #[error("wrong passphrase: the backup could not be opened with it")]
    WrongPassphrase,
    /// Argon2 refused the parameters.
    #[error("key derivation failed: {reason}")]
    Kdf { reason: String },
    /// A chunk failed authentication.
    #[error(
        "the backup is damaged: chunk {chunk} failed authentication (the file was altered, reordered or cut)"
    )]
    Damaged { chunk: u64 },
    /// The stream ended after a complete chunk, without a final chunk.
    #[error("the backup is truncated: it ends after {chunks} chunk(s) without its final chunk")]
    Truncated { chunks: u64 },
    /// A chunk came after the final one.
    #[error("the backup has data after its final chunk")]
    TrailingData,
    /// A chunk handed to the sealer or opener has a length the format does not allow.
    #[error("a chunk of {got} bytes where {expected} were expected")]
    ChunkLength { got: usize, expected: String },
    /// The 32-bit chunk counter would overflow (a backup of more than 2^32 chunks).
    #[error("the backup is too large for its chunk counter")]
    TooManyChunks,
}

/// A parsed header: the parameters, the salt, the nonce prefix and the key check, together with
/// the raw bytes (the associated data of every chunk).
#[derive(Clone)]
pub struct BackupHeader {
    bytes: [u8; HEADER_LEN],
    params: BackupParams,
}

impl fmt::Debug for BackupHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self { bytes: _, params } = self;
        f.debug_struct("BackupHeader")
            .field("params", params)
            .finish_non_exhaustive()
    }
}

impl BackupHeader {
    /// Parses the first bytes of a file (at least [`HEADER_LEN`] of them unless the file is
    /// shorter). Checks the magic first, so any file that is not a backup says so.
    pub fn parse(bytes: &[u8]) -> Result<BackupHeader, BackupError> {
        let magic_len = bytes.len().min(BACKUP_MAGIC.len());
        if bytes[..magic_len] != BACKUP_MAGIC[..magic_len] || bytes.is_empty() {
            return Err(BackupError::NotABackup);
        }
        let Some(bytes) = bytes.get(..HEADER_LEN) else {
            return Err(BackupError::HeaderTruncated { got: bytes.len() });
        };
        let mut header = [0u8; HEADER_LEN];
        header.copy_from_slice(bytes);
        let version = u16::from_be_bytes([header[8], header[9]]);
        if version != BACKUP_VERSION {
            return Err(BackupError::UnsupportedVersion {
                got: version,
                expected: BACKUP_VERSION,
            });
        }
        if header[10] != KDF_ARGON2ID {
            return Err(BackupError::UnsupportedAlgorithm {
                what: "kdf",
                got: header[10],
            });
        }
        if header[11] != AEAD_XCHACHA20POLY1305_STREAM_BE32 {
            return Err(BackupError::UnsupportedAlgorithm {
                what: "aead",
                got: header[11],
            });
        }
        let word = |at: usize| {
            u32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
        };
        let params = BackupParams {
            m_kib: word(12),
            t: word(16),
            p: word(20),
            chunk_len: word(59),
        };
        params.check()?;
        Ok(BackupHeader {
            bytes: header,
            params,
        })
    }

    fn build(
        params: BackupParams,
        salt: &[u8; SALT_LEN],
        prefix: &[u8; NONCE_PREFIX_LEN],
        check: &[u8; CHECK_LEN],
    ) -> Self {
        let mut bytes = [0u8; HEADER_LEN];
        bytes[..8].copy_from_slice(&BACKUP_MAGIC);
        bytes[8..10].copy_from_slice(&BACKUP_VERSION.to_be_bytes());
        bytes[10] = KDF_ARGON2ID;
        bytes[11] = AEAD_XCHACHA20POLY1305_STREAM_BE32;
        bytes[12..16].copy_from_slice(&params.m_kib.to_be_bytes());
        bytes[16..20].copy_from_slice(&params.t.to_be_bytes());
        bytes[20..24].copy_from_slice(&params.p.to_be_bytes());
        bytes[24..40].copy_from_slice(salt);
        bytes[40..59].copy_from_slice(prefix);
        bytes[59..63].copy_from_slice(&params.chunk_len.to_be_bytes());
        bytes[63..95].copy_from_slice(check);
        BackupHeader { bytes, params }
    }

    /// The header as written at the start of the file.
    pub fn as_bytes(&self) -> &[u8; HEADER_LEN] {
        &self.bytes
    }

    /// The key-derivation cost and chunk length this backup was written with.
    pub fn params(&self) -> BackupParams {
        self.params
    }

    /// Plaintext bytes in every chunk but the last.
    pub fn chunk_len(&self) -> usize {
        self.params.chunk_len as usize
    }

    /// Bytes of a sealed non-final chunk (its plaintext and tag).
    pub fn sealed_chunk_len(&self) -> usize {
        self.chunk_len() + TAG_LEN
    }

    fn salt(&self) -> [u8; SALT_LEN] {
        let mut salt = [0u8; SALT_LEN];
        salt.copy_from_slice(&self.bytes[24..40]);
        salt
    }

    fn nonce_prefix(&self) -> [u8; NONCE_PREFIX_LEN] {
        let mut prefix = [0u8; NONCE_PREFIX_LEN];
        prefix.copy_from_slice(&self.bytes[40..59]);
        prefix
    }

    fn key_check(&self) -> &[u8] {
        &self.bytes[63..95]
    }
}

/// Seals a backup's body chunk by chunk. Write [`BackupSealer::header`] first, then every chunk
/// in order: [`BackupSealer::seal_chunk`] for full ones, [`BackupSealer::seal_last`] once at the end.
pub struct BackupSealer {
    header: BackupHeader,
    encryptor: EncryptorBE32<XChaCha20Poly1305>,
}

impl fmt::Debug for BackupSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            header,
            encryptor: _,
        } = self;
        f.debug_struct("BackupSealer")
            .field("header", header)
            .finish_non_exhaustive()
    }
}

impl BackupSealer {
    /// Derives the key from `passphrase` with a fresh salt and nonce prefix from `rng`.
    pub fn new<R: RngCore + CryptoRng>(
        passphrase: &[u8],
        params: BackupParams,
        rng: &mut R,
    ) -> Result<BackupSealer, BackupError> {
        params.check()?;
        let mut salt = [0u8; SALT_LEN];
        rng.fill_bytes(&mut salt);
        let mut prefix = [0u8; NONCE_PREFIX_LEN];
        rng.fill_bytes(&mut prefix);
        let keys = derive_keys(passphrase, &params, &salt)?;
        let header = BackupHeader::build(params, &salt, &prefix, &keys.check);
        let encryptor = EncryptorBE32::from_aead(
            XChaCha20Poly1305::new(Key::from_slice(keys.stream.as_ref())),
            (&prefix).into(),
        );
        Ok(BackupSealer { header, encryptor })
    }

    /// The header to write before the first chunk.
    pub fn header(&self) -> &BackupHeader {
        &self.header
    }

    /// Plaintext bytes in every chunk but the last.
    pub fn chunk_len(&self) -> usize {
        self.header.chunk_len()
    }

    /// Seals a non-final chunk in place: `chunk` holds exactly [`BackupSealer::chunk_len`] bytes of
    /// plaintext and then holds the sealed chunk.
    pub fn seal_chunk(&mut self, chunk: &mut Vec<u8>) -> Result<(), BackupError> {
        if chunk.len() != self.chunk_len() {
            return Err(BackupError::ChunkLength {
                got: chunk.len(),
                expected: format!("exactly {}", self.chunk_len()),
            });
        }
        self.encryptor
            .encrypt_next_in_place(self.header.as_bytes(), chunk)
            .map_err(|_| BackupError::TooManyChunks)
    }

    /// Seals the final chunk in place: `chunk` holds fewer than [`BackupSealer::chunk_len`] bytes
    /// of plaintext (possibly none).
    pub fn seal_last(self, chunk: &mut Vec<u8>) -> Result<(), BackupError> {
        if chunk.len() >= self.chunk_len() {
            return Err(BackupError::ChunkLength {
                got: chunk.len(),
                expected: format!("fewer than {}", self.chunk_len()),
            });
        }
        self.encryptor
            .encrypt_last_in_place(self.header.as_bytes(), chunk)
            .map_err(|_| BackupError::TooManyChunks)
    }
}

/// What [`BackupOpener::open_chunk`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Chunk {
    /// A full chunk; more follow.
    More,
    /// The final chunk: the body is complete and authentic.
    Last,
}

/// Opens a backup's body chunk by chunk. Read [`BackupHeader::sealed_chunk_len`] bytes at a time
/// (fewer only at the end of the file) and hand each piece to [`BackupOpener::open_chunk`]; at the
/// end of the file call [`BackupOpener::finish`].
pub struct BackupOpener {
    header: BackupHeader,
    decryptor: Option<DecryptorBE32<XChaCha20Poly1305>>,
    n_opened: u64,
}

impl fmt::Debug for BackupOpener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            header,
            decryptor,
            n_opened,
        } = self;
        f.debug_struct("BackupOpener")
            .field("header", header)
            .field("finished", &decryptor.is_none())
            .field("n_opened", n_opened)
            .finish()
    }
}

impl BackupOpener {
    /// Derives the key from `passphrase` and compares it with the header's key check.
    pub fn new(header: &BackupHeader, passphrase: &[u8]) -> Result<BackupOpener, BackupError> {
        let keys = derive_keys(passphrase, &header.params, &header.salt())?;
        if !bool::from(keys.check.ct_eq(header.key_check())) {
            return Err(BackupError::WrongPassphrase);
        }
        let decryptor = DecryptorBE32::from_aead(
            XChaCha20Poly1305::new(Key::from_slice(keys.stream.as_ref())),
            (&header.nonce_prefix()).into(),
        );
        Ok(BackupOpener {
            header: header.clone(),
            decryptor: Some(decryptor),
            n_opened: 0,
        })
    }

    /// The header this opener checks chunks against.
    pub fn header(&self) -> &BackupHeader {
        &self.header
    }

    /// Opens the next chunk in place. A piece of exactly [`BackupHeader::sealed_chunk_len`] bytes
    /// is a full chunk; a shorter one is the final chunk. On success `chunk` holds the plaintext.
    pub fn open_chunk(&mut self, chunk: &mut Vec<u8>) -> Result<Chunk, BackupError> {
        let sealed_len = self.header.sealed_chunk_len();
        if chunk.len() > sealed_len {
            return Err(BackupError::ChunkLength {
                got: chunk.len(),
                expected: format!("at most {sealed_len}"),
            });
        }
        let index = self.n_opened;
        let damaged = BackupError::Damaged { chunk: index };
        if chunk.len() < TAG_LEN {
            return Err(damaged);
        }
        let Some(decryptor) = self.decryptor.as_mut() else {
            return Err(BackupError::TrailingData);
        };
        if chunk.len() == sealed_len {
            decryptor
                .decrypt_next_in_place(self.header.as_bytes(), chunk)
                .map_err(|_| damaged)?;
            self.n_opened += 1;
            return Ok(Chunk::More);
        }
        let Some(decryptor) = self.decryptor.take() else {
            return Err(BackupError::TrailingData);
        };
        decryptor
            .decrypt_last_in_place(self.header.as_bytes(), chunk)
            .map_err(|_| damaged)?;
        self.n_opened += 1;
        Ok(Chunk::Last)
    }

    /// Whether the final chunk was opened.
    pub fn is_complete(&self) -> bool {
        self.decryptor.is_none()
    }

    /// Call at the end of the file: an error unless the final chunk was opened.
    pub fn finish(&self) -> Result<(), BackupError> {
        if self.is_complete() {
            Ok(())
        } else {
            Err(BackupError::Truncated {
                chunks: self.n_opened,
            })
        }
    }
}

struct DerivedKeys {
    stream: Zeroizing<[u8; 32]>,
    check: [u8; CHECK_LEN],
}

fn derive_keys(
    passphrase: &[u8],
    params: &BackupParams,
    salt: &[u8; SALT_LEN],
) -> Result<DerivedKeys, BackupError> {
    let kdf = |reason: argon2::Error| BackupError::Kdf {
        reason: reason.to_string(),
    };
    let argon_params = Params::new(params.m_kib, params.t, params.p, Some(32)).map_err(kdf)?;
    let mut master = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params)
        .hash_password_into(passphrase, salt, master.as_mut())
        .map_err(kdf)?;
    let mut stream = Zeroizing::new([0u8; 32]);
    let mut digest: [u8; 32] = Sha256::new()
        .chain_update(LABEL_KEY)
        .chain_update(master.as_ref())
        .finalize()
        .into();
    stream.copy_from_slice(&digest);
    digest.zeroize();
    let check: [u8; CHECK_LEN] = Sha256::new()
        .chain_update(LABEL_CHECK)
        .chain_update(master.as_ref())
        .finalize()
        .into();
    Ok(DerivedKeys { stream, check })
}

fn bounded(param: &'static str, got: u32, min: u32, max: u32) -> Result<(), BackupError> {
    if (min..=max).contains(&got) {
        Ok(())
    } else {
        Err(BackupError::ParameterOutOfBounds {
            param,
            got,
            min,
            max,
        })
    }
}

#[cfg(test)]
#[path = "backup_tests.rs"]
mod tests;
