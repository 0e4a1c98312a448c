//! Sealing and fetching back files of every size around the chunk boundaries.

mod common;

use std::io::{self, Cursor, Read};

use common::{L, deliver_all, fetcher, pattern, seal};
use omega_files::{
    ChunkId, DEFAULT_CHUNK_LEN, MAX_CHUNK_LEN, MAX_FILE_SIZE, MIN_CHUNK_LEN, SealError, Sealer,
    TAG_LEN, check_size,
};
use sha2::{Digest, Sha256};

#[test]
fn files_of_every_size_around_chunk_boundaries_round_trip() {
    for (size, n_chunks) in [
        (0, 1),
        (1, 1),
        (L - 1, 1),
        (L, 1),
        (L + 1, 2),
        (3 * L, 3),
        (5 * L + 7, 6),
    ] {
        let data = pattern(size, size as u64);
        let (manifest, chunks) = seal(&data, "file.bin");
        assert_eq!(manifest.size(), size as u64, "size {size}");
        assert_eq!(manifest.chunk_count(), n_chunks, "size {size}");
        assert_eq!(chunks.len(), n_chunks as usize, "size {size}");
        assert_eq!(
            manifest.sha256().as_slice(),
            Sha256::digest(&data).as_slice()
        );
        assert_eq!(
            manifest.sealed_size(),
            (size + n_chunks as usize * TAG_LEN) as u64
        );
        for (index, chunk) in chunks.iter().enumerate() {
            assert_eq!(chunk.index as usize, index);
            assert_eq!(chunk.id, ChunkId::of(&chunk.bytes));
            assert_eq!(manifest.chunk_ids()[index], chunk.id);
            assert_eq!(chunk.bytes.len(), manifest.chunk_sealed_len(chunk.index));
        }

        let mut fetcher = fetcher(&manifest);
        deliver_all(&mut fetcher, &chunks.iter().collect::<Vec<_>>());
        assert!(fetcher.is_complete());
        assert_eq!(fetcher.bytes_verified(), size as u64);
        assert!(fetcher.next_wanted(10).is_empty());
        assert_eq!(fetcher.into_inner().into_inner(), data, "size {size}");
    }
}

#[test]
fn chunks_may_arrive_in_any_order() {
    let data = pattern(7 * L + 100, 7);
    let (manifest, chunks) = seal(&data, "shuffled.bin");
    for order in [
        vec![7, 6, 5, 4, 3, 2, 1, 0],
        vec![3, 0, 7, 1, 5, 2, 6, 4],
        vec![1, 2, 3, 4, 5, 6, 7, 0],
    ] {
        let mut fetcher = fetcher(&manifest);
        let ordered: Vec<_> = order.iter().map(|&index| &chunks[index]).collect();
        deliver_all(&mut fetcher, &ordered);
        assert_eq!(fetcher.into_inner().into_inner(), data, "order {order:?}");
    }
}

#[test]
fn sealed_chunks_show_nothing_of_the_plaintext() {
    let data = vec![b'A'; 2 * L];
    let (manifest, chunks) = seal(&data, "a.txt");
    for chunk in &chunks {
        assert!(!chunk.bytes.windows(32).any(|window| window == [b'A'; 32]));
    }
    // The same file sealed again shares no chunk id and no key.
    let (again, _) = seal(&data, "a.txt");
    assert!(
        again
            .chunk_ids()
            .iter()
            .all(|id| !manifest.chunk_ids().contains(id))
    );
    assert_ne!(again.file_id(), manifest.file_id());
    assert_eq!(again.sha256(), manifest.sha256());
}

#[test]
fn the_sealer_yields_one_chunk_at_a_time_and_counts_bytes() {
    let data = pattern(2 * L + 5, 1);
    let mut sealer = Sealer::new(data.as_slice(), MIN_CHUNK_LEN, &mut rand::rngs::OsRng).unwrap();
    let first = sealer.next_chunk().unwrap().unwrap();
    assert_eq!(first.bytes.len(), L + TAG_LEN);
    assert_eq!(sealer.bytes_read(), L as u64);
    assert!(!sealer.is_done());
    let _ = sealer.next_chunk().unwrap().unwrap();
    let last = sealer.next_chunk().unwrap().unwrap();
    assert_eq!(last.bytes.len(), 5 + TAG_LEN);
    assert!(sealer.is_done());
    assert!(sealer.next_chunk().unwrap().is_none());
    assert_eq!(sealer.bytes_read(), data.len() as u64);
}

#[test]
fn finishing_before_the_last_chunk_is_refused() {
    let data = pattern(2 * L, 2);
    let mut sealer = Sealer::new(data.as_slice(), MIN_CHUNK_LEN, &mut rand::rngs::OsRng).unwrap();
    let _ = sealer.next_chunk().unwrap();
    assert!(matches!(
        sealer.finish("x"),
        Err(SealError::NotFinished { n_sealed: 1 })
    ));
}

#[test]
fn chunk_lengths_outside_the_bounds_are_refused() {
    for chunk_len in [0, 1, MIN_CHUNK_LEN - 1, MAX_CHUNK_LEN + 1, u32::MAX] {
        assert!(matches!(
            Sealer::new(&b""[..], chunk_len, &mut rand::rngs::OsRng),
            Err(SealError::ChunkLength { .. })
        ));
    }
    for chunk_len in [MIN_CHUNK_LEN, DEFAULT_CHUNK_LEN, MAX_CHUNK_LEN] {
        let data = pattern(chunk_len as usize + 1, 3);
        let mut sealer = Sealer::new(data.as_slice(), chunk_len, &mut rand::rngs::OsRng).unwrap();
        let chunks: Vec<_> = sealer.by_ref().collect::<Result<_, _>>().unwrap();
        let manifest = sealer.finish("x").unwrap();
        assert_eq!(manifest.chunk_len(), chunk_len);
        let mut fetcher = omega_files::Fetcher::new(manifest, Cursor::new(Vec::new()));
        deliver_all(&mut fetcher, &chunks.iter().collect::<Vec<_>>());
        assert_eq!(fetcher.into_inner().into_inner(), data);
    }
}

#[test]
fn files_over_one_gib_are_refused_from_their_size() {
    assert!(check_size(MAX_FILE_SIZE).is_ok());
    let error = check_size(MAX_FILE_SIZE + 1).unwrap_err();
    assert!(matches!(error, SealError::TooLarge { got: Some(_) }));
    assert!(error.to_string().contains("1 GiB"), "{error}");
}

/// Reads `good` bytes, then fails.
struct FailingReader {
    good: usize,
}

impl Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.good == 0 {
            return Err(io::Error::other("disk on fire"));
        }
        let n = buf.len().min(self.good);
        buf[..n].fill(1);
        self.good -= n;
        Ok(n)
    }
}

#[test]
fn a_read_error_is_reported_and_ends_the_sealer() {
    let mut sealer = Sealer::new(
        FailingReader { good: L + 10 },
        MIN_CHUNK_LEN,
        &mut rand::rngs::OsRng,
    )
    .unwrap();
    assert!(sealer.next().unwrap().is_ok());
    assert!(matches!(sealer.next(), Some(Err(SealError::Io(_)))));
    assert!(sealer.next().is_none());
    assert!(matches!(sealer.next_chunk(), Err(SealError::Failed)));
}

/// Yields at most `step` bytes per read and is interrupted every other call.
struct TrickleReader<'a> {
    data: &'a [u8],
    step: usize,
    interrupt: bool,
}

impl Read for TrickleReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.interrupt = !self.interrupt;
        if self.interrupt {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let n = buf.len().min(self.step).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn short_and_interrupted_reads_still_make_full_chunks() {
    let data = pattern(2 * L + 3, 9);
    let reader = TrickleReader {
        data: &data,
        step: 4093,
        interrupt: false,
    };
    let mut sealer = Sealer::new(reader, MIN_CHUNK_LEN, &mut rand::rngs::OsRng).unwrap();
    let chunks: Vec<_> = sealer.by_ref().collect::<Result<_, _>>().unwrap();
    let manifest = sealer.finish("trickle").unwrap();
    assert_eq!(chunks.len(), 3);
    let mut fetcher = fetcher(&manifest);
    deliver_all(&mut fetcher, &chunks.iter().collect::<Vec<_>>());
    assert_eq!(fetcher.into_inner().into_inner(), data);
}

#[test]
fn names_are_sanitized_and_mime_types_guessed_when_sealing() {
    let png_head = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    let (manifest, _) = seal(&png_head, "C:\\photos\\..\\cat.jpg");
    assert_eq!(manifest.name(), "C__photos_.._cat.jpg");
    assert_eq!(manifest.mime(), "image/png");
    let (manifest, _) = seal(b"hello", "notes.md");
    assert_eq!(manifest.mime(), "text/markdown");
    let (manifest, _) = seal(b"", "\u{202e}");
    assert_eq!(manifest.name(), omega_files::FALLBACK_NAME);
    assert_eq!(manifest.mime(), "application/octet-stream");
}

#[test]
fn an_independent_implementation_opens_what_we_seal_as_documented() {
    // Python's `cryptography` plus a hand-written HChaCha20 (tests/files_xcheck.py), written from
    // docs/files.md: the format is what the page says, not whatever this crate does.
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/files_xcheck.py");
    let probe = std::process::Command::new("python3")
        .args([
            "-c",
            "from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305",
        ])
        .output();
    if !probe.is_ok_and(|output| output.status.success()) {
        eprintln!("skipped: python3 with cryptography is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (size, name) in [(0, "empty"), (L, "one.pdf"), (3 * L + 11, "three.bin")] {
        let data = pattern(size, 21);
        let (manifest, chunks) = seal(&data, name);
        let chunk_dir = dir.path().join(name);
        std::fs::create_dir(&chunk_dir).unwrap();
        for chunk in &chunks {
            std::fs::write(chunk_dir.join(chunk.id.to_hex()), &chunk.bytes).unwrap();
        }
        let manifest_path = dir.path().join(format!("{name}.manifest"));
        std::fs::write(&manifest_path, manifest.to_bytes().as_slice()).unwrap();
        let output = std::process::Command::new("python3")
            .arg(&script)
            .arg(&manifest_path)
            .arg(&chunk_dir)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "the second reader refused {name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let read: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(read["name"], name);
        assert_eq!(read["size"], size as u64);
        assert_eq!(read["chunk_count"], chunks.len());
        assert_eq!(read["sha256"], hex::encode(Sha256::digest(&data)));
        assert_eq!(read["matches"], true);
    }
}

#[test]
fn a_stream_over_one_gib_is_refused_while_sealing() {
    let endless = io::repeat(0).take(MAX_FILE_SIZE + 1);
    let mut sealer =
        Sealer::new(endless, omega_files::MAX_CHUNK_LEN, &mut rand::rngs::OsRng).unwrap();
    let mut n_sealed = 0u64;
    let error = loop {
        match sealer.next_chunk() {
            Ok(Some(_)) => n_sealed += 1,
            Ok(None) => panic!("a stream over 1 GiB was sealed"),
            Err(error) => break error,
        }
    };
    assert!(
        matches!(error, SealError::TooLarge { got: None }),
        "{error}"
    );
    assert_eq!(
        n_sealed,
        MAX_FILE_SIZE / u64::from(omega_files::MAX_CHUNK_LEN) - 1
    );
    assert!(sealer.next().is_none());
}

#[test]
fn a_stream_of_exactly_one_gib_is_accepted() {
    let exact = io::repeat(0).take(MAX_FILE_SIZE);
    let mut sealer =
        Sealer::new(exact, omega_files::MAX_CHUNK_LEN, &mut rand::rngs::OsRng).unwrap();
    let n_sealed = sealer.by_ref().map(Result::unwrap).count();
    let manifest = sealer.finish("big").unwrap();
    assert_eq!(n_sealed, 256);
    assert_eq!(manifest.size(), MAX_FILE_SIZE);
}
