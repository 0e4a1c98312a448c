//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::io::Cursor;

use omega_files::{Delivery, Fetcher, MIN_CHUNK_LEN, Manifest, SealedChunk, Sealer};
use rand::{CryptoRng, RngCore};

/// Chunk length of most tests: the shortest allowed, so several chunks stay cheap.
pub const L: usize = MIN_CHUNK_LEN as usize;

/// Offsets in the manifest encoding (docs/files.md).
pub const OFFSET_FILE_ID: usize = 10;
pub const OFFSET_KEY: usize = 26;
pub const OFFSET_SIZE: usize = 77;
pub const OFFSET_CHUNK_LEN: usize = 85;
pub const OFFSET_SHA256: usize = 89;
pub const OFFSET_COUNT: usize = 121;
pub const OFFSET_IDS: usize = 125;

/// Bytes that differ from chunk to chunk and do not repeat within a chunk.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Seals `data` in memory: the manifest and every sealed chunk.
pub fn seal(data: &[u8], name: &str) -> (Manifest, Vec<SealedChunk>) {
    let mut sealer = Sealer::new(data, MIN_CHUNK_LEN, &mut rand::rngs::OsRng).unwrap();
    let chunks: Vec<SealedChunk> = sealer.by_ref().collect::<Result<_, _>>().unwrap();
    (sealer.finish(name).unwrap(), chunks)
}

/// A fetcher into an in-memory part file.
pub fn fetcher(manifest: &Manifest) -> Fetcher<Cursor<Vec<u8>>> {
    Fetcher::new(reencoded(manifest), Cursor::new(Vec::new()))
}

/// The manifest as the receiver gets it: encoded, then decoded.
pub fn reencoded(manifest: &Manifest) -> Manifest {
    Manifest::from_bytes(&manifest.to_bytes()).unwrap()
}

/// Delivers `chunks` in the given order; the last delivery must complete the file.
pub fn deliver_all(fetcher: &mut Fetcher<Cursor<Vec<u8>>>, chunks: &[&SealedChunk]) {
    for (n, chunk) in chunks.iter().enumerate() {
        let delivery = fetcher.deliver(&chunk.id, chunk.bytes.clone()).unwrap();
        if n + 1 == chunks.len() {
            assert_eq!(delivery, Delivery::Complete);
        } else {
            assert_eq!(delivery, Delivery::Stored { index: chunk.index });
        }
    }
}

/// A deterministic "RNG" for snapshot tests: bytes 0, 1, 2, … (never for real keys).
pub struct CountingRng(pub u8);

impl RngCore for CountingRng {
    fn next_u32(&mut self) -> u32 {
        let mut bytes = [0u8; 4];
        self.fill_bytes(&mut bytes);
        u32::from_le_bytes(bytes)
    }
    fn next_u64(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        self.fill_bytes(&mut bytes);
        u64::from_le_bytes(bytes)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for byte in dest {
            *byte = self.0;
            self.0 = self.0.wrapping_add(1);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for CountingRng {}
