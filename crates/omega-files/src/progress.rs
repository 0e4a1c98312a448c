//! The resume record: which chunks of a download are verified and written, small enough to
//! rewrite after every chunk.
//!
//! ```text
//! offset  size        field
//!      0     8        magic "OMEGAFPR"
//!      8     1        version = 1
//!      9    32        manifest digest: SHA-256("omega/files/v1/progress\0" ‖ manifest bytes)
//!     41     4        chunk count n
//!     45  ⌈n/8⌉       bitmap: bit (i mod 8) of byte i/8, least significant first, is 1 when
//!                     chunk i is in the part file; unused bits are 0
//!      …    32        SHA-256 of all the bytes before
//! ```
//!
//! The digest ties the record to one manifest (and, through the key, to one file): a record of
//! another download is refused. The trailing hash catches a torn or damaged record; the caller
//! then starts the download over.

use sha2::{Digest, Sha256};

use crate::MAX_CHUNKS;
use crate::manifest::Manifest;

/// The first bytes of every resume record.
pub const PROGRESS_MAGIC: [u8; 8] = *b"OMEGAFPR";
/// Version written by this build (the only one it reads).
pub const PROGRESS_VERSION: u8 = 1;
const DIGEST_LABEL: &[u8] = b"omega/files/v1/progress\0";
const FIXED_LEN: usize = 45;
const CHECKSUM_LEN: usize = 32;

/// Why a resume record cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProgressError {
    /// The bytes are not a resume record of this version, or they are damaged.
    #[error("not a valid resume record ({reason})")]
    Invalid { reason: &'static str },
    /// The record belongs to another download.
    #[error("the resume record belongs to another file")]
    OtherFile,
}

/// Which chunks of one download are verified and written.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Progress {
    manifest_digest: [u8; 32],
    verified: Vec<bool>,
}

impl Progress {
    /// Nothing fetched yet.
    pub(crate) fn new(manifest: &Manifest) -> Progress {
        Progress {
            manifest_digest: manifest_digest(manifest),
            verified: vec![false; manifest.chunk_count() as usize],
        }
    }

    /// Reads a record and checks that it belongs to `manifest`.
    pub fn from_bytes(bytes: &[u8], manifest: &Manifest) -> Result<Progress, ProgressError> {
        let invalid = |reason| ProgressError::Invalid { reason };
        if bytes.len() < FIXED_LEN + CHECKSUM_LEN {
            return Err(invalid("too short"));
        }
        let (body, checksum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
        if Sha256::digest(body).as_slice() != checksum {
            return Err(invalid("checksum mismatch"));
        }
        if body[..8] != PROGRESS_MAGIC {
            return Err(invalid("bad magic"));
        }
        if body[8] != PROGRESS_VERSION {
            return Err(invalid("unsupported version"));
        }
        let mut digest = [0u8; 32];
        digest.copy_from_slice(&body[9..41]);
        if digest != manifest_digest(manifest) {
            return Err(ProgressError::OtherFile);
        }
        let n_chunks = u32::from_be_bytes([body[41], body[42], body[43], body[44]]);
        if n_chunks != manifest.chunk_count() || n_chunks > MAX_CHUNKS {
            return Err(ProgressError::OtherFile);
        }
        let bitmap = &body[FIXED_LEN..];
        if bitmap.len() != (n_chunks as usize).div_ceil(8) {
            return Err(invalid("bitmap length"));
        }
        let verified: Vec<bool> = (0..n_chunks as usize)
            .map(|index| bitmap[index / 8] & (1 << (index % 8)) != 0)
            .collect();
        let unused_bits = (n_chunks as usize..bitmap.len() * 8)
            .any(|index| bitmap[index / 8] & (1 << (index % 8)) != 0);
        if unused_bits {
            return Err(invalid("unused bits set"));
        }
        Ok(Progress {
            manifest_digest: digest,
            verified,
        })
    }

    /// The record to persist (write it to a temporary file and rename it over the old one).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FIXED_LEN + self.verified.len().div_ceil(8) + 32);
        out.extend_from_slice(&PROGRESS_MAGIC);
        out.push(PROGRESS_VERSION);
        out.extend_from_slice(&self.manifest_digest);
        // At most MAX_CHUNKS.
        out.extend_from_slice(&(self.verified.len() as u32).to_be_bytes());
        let mut bitmap = vec![0u8; self.verified.len().div_ceil(8)];
        for (index, _) in self.verified.iter().enumerate().filter(|(_, done)| **done) {
            bitmap[index / 8] |= 1 << (index % 8);
        }
        out.extend_from_slice(&bitmap);
        let checksum = Sha256::digest(&out);
        out.extend_from_slice(&checksum);
        out
    }

    /// Whether chunk `index` is verified and written.
    pub fn is_verified(&self, index: u32) -> bool {
        self.verified.get(index as usize).copied().unwrap_or(false)
    }

    /// How many chunks are verified and written.
    pub fn n_verified(&self) -> u32 {
        // At most MAX_CHUNKS.
        self.verified.iter().filter(|done| **done).count() as u32
    }

    /// The number of chunks of the file.
    pub fn chunk_count(&self) -> u32 {
        self.verified.len() as u32
    }

    pub(crate) fn set(&mut self, index: u32, verified: bool) {
        if let Some(slot) = self.verified.get_mut(index as usize) {
            *slot = verified;
        }
    }
}

fn manifest_digest(manifest: &Manifest) -> [u8; 32] {
    Sha256::new()
        .chain_update(DIGEST_LABEL)
        .chain_update(manifest.to_bytes().as_slice())
        .finalize()
        .into()
}
