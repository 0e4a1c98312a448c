//! The fetcher against damaged, foreign, forged and duplicated chunks, and across restarts.

mod common;

use std::fs::{self, File, OpenOptions};
use std::io::{Cursor, Seek, SeekFrom, Write};

use common::{
    L, OFFSET_COUNT, OFFSET_FILE_ID, OFFSET_IDS, OFFSET_SHA256, OFFSET_SIZE, deliver_all, fetcher,
    pattern, seal,
};
use omega_files::{Delivery, FetchError, Fetcher, Manifest, ProgressError, WantedChunk};

#[test]
fn wanted_chunks_come_in_file_order_with_their_exact_lengths() {
    let data = pattern(2 * L + 9, 1);
    let (manifest, chunks) = seal(&data, "f");
    let mut fetcher = fetcher(&manifest);
    let wanted = fetcher.next_wanted(2);
    assert_eq!(
        wanted,
        vec![
            WantedChunk {
                index: 0,
                id: chunks[0].id,
                sealed_len: L + 16
            },
            WantedChunk {
                index: 1,
                id: chunks[1].id,
                sealed_len: L + 16
            },
        ]
    );
    assert_eq!(fetcher.wanted().count(), 3);
    let _ = fetcher
        .deliver(&chunks[1].id, chunks[1].bytes.clone())
        .unwrap();
    let wanted: Vec<u32> = fetcher.wanted().map(|w| w.index).collect();
    assert_eq!(wanted, [0, 2]);
    assert_eq!(fetcher.next_wanted(9)[1].sealed_len, 9 + 16);
}

#[test]
fn a_tampered_chunk_is_detected_and_fetched_again() {
    let data = pattern(3 * L, 2);
    let (manifest, chunks) = seal(&data, "f");
    let mut fetcher = fetcher(&manifest);
    for position in [0, L / 2, L + 15] {
        let mut damaged = chunks[1].bytes.clone();
        damaged[position] ^= 0x01;
        assert_eq!(
            fetcher.deliver(&chunks[1].id, damaged).unwrap(),
            Delivery::Corrupt { index: 1 }
        );
    }
    let mut cut = chunks[1].bytes.clone();
    cut.truncate(L);
    assert_eq!(
        fetcher.deliver(&chunks[1].id, cut).unwrap(),
        Delivery::Corrupt { index: 1 }
    );
    assert_eq!(fetcher.n_corrupt(), 4);
    assert_eq!(
        fetcher.wanted().count(),
        3,
        "the damaged chunk is still wanted"
    );
    deliver_all(&mut fetcher, &[&chunks[1], &chunks[0], &chunks[2]]);
    assert_eq!(fetcher.into_inner().into_inner(), data);
}

#[test]
fn chunks_of_another_file_are_refused() {
    let data = pattern(2 * L, 3);
    let (manifest, chunks) = seal(&data, "f");
    let (_, other_chunks) = seal(&data, "f");
    let mut fetcher = fetcher(&manifest);
    for chunk in &other_chunks {
        assert_eq!(
            fetcher.deliver(&chunk.id, chunk.bytes.clone()).unwrap(),
            Delivery::NotInFile
        );
    }
    // Another file's bytes under one of our ids: they do not hash to it.
    assert_eq!(
        fetcher
            .deliver(&chunks[0].id, other_chunks[0].bytes.clone())
            .unwrap(),
        Delivery::Corrupt { index: 0 }
    );
    deliver_all(&mut fetcher, &[&chunks[0], &chunks[1]]);
}

#[test]
fn a_chunk_delivered_twice_is_written_once() {
    let data = pattern(2 * L + 1, 4);
    let (manifest, chunks) = seal(&data, "f");
    let mut fetcher = fetcher(&manifest);
    let _ = fetcher
        .deliver(&chunks[2].id, chunks[2].bytes.clone())
        .unwrap();
    assert_eq!(
        fetcher
            .deliver(&chunks[2].id, chunks[2].bytes.clone())
            .unwrap(),
        Delivery::Duplicate { index: 2 }
    );
    deliver_all(&mut fetcher, &[&chunks[0], &chunks[1]]);
    assert_eq!(
        fetcher.deliver(&chunks[0].id, vec![]).unwrap(),
        Delivery::Duplicate { index: 0 }
    );
    assert_eq!(fetcher.finish().unwrap(), Delivery::Complete);
}

/// Returns `manifest` encoded, changed by `edit`, decoded.
fn edited(manifest: &Manifest, edit: impl FnOnce(&mut Vec<u8>)) -> Manifest {
    let mut bytes = manifest.to_bytes().to_vec();
    edit(&mut bytes);
    Manifest::from_bytes(&bytes).unwrap()
}

#[test]
fn a_manifest_listing_chunks_out_of_order_is_caught() {
    let data = pattern(2 * L + 1, 5);
    let (manifest, chunks) = seal(&data, "f");
    let swapped = edited(&manifest, |bytes| {
        let (first, second) = (OFFSET_IDS, OFFSET_IDS + 32);
        let id0: Vec<u8> = bytes[first..first + 32].to_vec();
        bytes.copy_within(second..second + 32, first);
        bytes[second..second + 32].copy_from_slice(&id0);
    });
    let mut fetcher = Fetcher::new(swapped, Cursor::new(Vec::new()));
    assert!(matches!(
        fetcher.deliver(&chunks[0].id, chunks[0].bytes.clone()),
        Err(FetchError::Forged { index: 1 })
    ));
}

#[test]
fn a_manifest_that_drops_the_last_chunks_is_caught() {
    let data = pattern(3 * L, 6);
    let (manifest, chunks) = seal(&data, "f");
    // Two chunks of a three-chunk file, presented as the whole file.
    let truncated = edited(&manifest, |bytes| {
        bytes[OFFSET_SIZE..OFFSET_SIZE + 8].copy_from_slice(&(2 * L as u64).to_be_bytes());
        bytes[OFFSET_COUNT..OFFSET_COUNT + 4].copy_from_slice(&2u32.to_be_bytes());
        bytes.drain(OFFSET_IDS + 64..OFFSET_IDS + 96);
    });
    let mut fetcher = Fetcher::new(truncated, Cursor::new(Vec::new()));
    assert_eq!(
        fetcher
            .deliver(&chunks[0].id, chunks[0].bytes.clone())
            .unwrap(),
        Delivery::Stored { index: 0 }
    );
    assert!(matches!(
        fetcher.deliver(&chunks[1].id, chunks[1].bytes.clone()),
        Err(FetchError::Forged { index: 1 })
    ));
}

#[test]
fn chunks_sealed_for_another_file_id_do_not_open() {
    let data = pattern(L + 1, 7);
    let (manifest, chunks) = seal(&data, "f");
    let moved = edited(&manifest, |bytes| bytes[OFFSET_FILE_ID] ^= 1);
    let mut fetcher = Fetcher::new(moved, Cursor::new(Vec::new()));
    assert!(matches!(
        fetcher.deliver(&chunks[0].id, chunks[0].bytes.clone()),
        Err(FetchError::Forged { index: 0 })
    ));
}

#[test]
fn a_manifest_with_a_wrong_file_hash_never_completes() {
    let data = pattern(2 * L + 3, 8);
    let (manifest, chunks) = seal(&data, "f");
    let lying = edited(&manifest, |bytes| bytes[OFFSET_SHA256] ^= 1);
    let mut fetcher = Fetcher::new(lying, Cursor::new(Vec::new()));
    let _ = fetcher
        .deliver(&chunks[2].id, chunks[2].bytes.clone())
        .unwrap();
    let _ = fetcher
        .deliver(&chunks[0].id, chunks[0].bytes.clone())
        .unwrap();
    assert!(matches!(
        fetcher.deliver(&chunks[1].id, chunks[1].bytes.clone()),
        Err(FetchError::HashMismatch)
    ));
    assert!(!fetcher.is_complete());
}

#[test]
fn a_part_file_damaged_behind_the_fetchers_back_is_found_and_refetched() {
    let data = pattern(4 * L, 9);
    let (manifest, chunks) = seal(&data, "f");
    let mut fetcher = fetcher(&manifest);
    // Chunks 1..3 first: they are hashed only when chunk 0 arrives, read back from the part file.
    for chunk in &chunks[1..] {
        let _ = fetcher.deliver(&chunk.id, chunk.bytes.clone()).unwrap();
    }
    let mut part = fetcher.into_inner();
    part.get_mut()[2 * L + 100] ^= 0xff;
    let mut fetcher = Fetcher::resume(
        common::reencoded(&manifest),
        part,
        &progress_of(&manifest, &chunks, &[1, 2, 3]),
    )
    .unwrap();
    assert_eq!(
        fetcher
            .deliver(&chunks[0].id, chunks[0].bytes.clone())
            .unwrap(),
        Delivery::PartDamaged { n_chunks: 1 }
    );
    let wanted: Vec<u32> = fetcher.wanted().map(|w| w.index).collect();
    assert_eq!(wanted, [2]);
    assert_eq!(
        fetcher
            .deliver(&chunks[2].id, chunks[2].bytes.clone())
            .unwrap(),
        Delivery::Complete
    );
    assert_eq!(fetcher.into_inner().into_inner(), data);
}

/// The resume record of a download that holds exactly the chunks `indexes`.
fn progress_of(
    manifest: &Manifest,
    chunks: &[omega_files::SealedChunk],
    indexes: &[usize],
) -> Vec<u8> {
    let mut fetcher = fetcher(manifest);
    for &index in indexes {
        let _ = fetcher
            .deliver(&chunks[index].id, chunks[index].bytes.clone())
            .unwrap();
    }
    fetcher.progress().to_bytes()
}

fn open_part(path: &std::path::Path, truncate: bool) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(truncate)
        .open(path)
        .unwrap()
}

#[test]
fn a_download_killed_halfway_resumes_from_its_record_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let part_path = dir.path().join("file.part");
    let record_path = dir.path().join("file.progress");
    let data = pattern(9 * L + 77, 10);
    let (manifest, chunks) = seal(&data, "f");
    let manifest_bytes = manifest.to_bytes();

    // First run: every other chunk, out of order, then the process "dies".
    {
        let manifest = Manifest::from_bytes(&manifest_bytes).unwrap();
        let mut fetcher = Fetcher::new(manifest, open_part(&part_path, true));
        for index in [8, 0, 2, 6, 4] {
            let chunk = &chunks[index];
            let delivery = fetcher.deliver(&chunk.id, chunk.bytes.clone()).unwrap();
            assert_eq!(
                delivery,
                Delivery::Stored {
                    index: index as u32
                }
            );
            fetcher.part().sync_data().unwrap();
            let temporary = dir.path().join("file.progress.tmp");
            fs::write(&temporary, fetcher.progress().to_bytes()).unwrap();
            fs::rename(&temporary, &record_path).unwrap();
        }
        // A chunk arrives and is written but the process dies before the record is saved.
        let _ = fetcher
            .deliver(&chunks[9].id, chunks[9].bytes.clone())
            .unwrap();
    }

    // Second run: everything rebuilt from the manifest, the part file and the record.
    let manifest = Manifest::from_bytes(&manifest_bytes).unwrap();
    let record = fs::read(&record_path).unwrap();
    let mut fetcher = Fetcher::resume(manifest, open_part(&part_path, false), &record).unwrap();
    assert_eq!(fetcher.progress().n_verified(), 5);
    let wanted: Vec<u32> = fetcher.wanted().map(|w| w.index).collect();
    assert_eq!(wanted, [1, 3, 5, 7, 9]);
    for index in [9, 7, 5, 3] {
        let chunk = &chunks[index];
        let delivery = fetcher.deliver(&chunk.id, chunk.bytes.clone()).unwrap();
        assert_eq!(
            delivery,
            Delivery::Stored {
                index: index as u32
            }
        );
    }
    assert_eq!(
        fetcher
            .deliver(&chunks[1].id, chunks[1].bytes.clone())
            .unwrap(),
        Delivery::Complete
    );
    drop(fetcher);
    assert_eq!(fs::read(&part_path).unwrap(), data);
}

#[test]
fn a_resumed_download_whose_part_file_lost_its_tail_refetches_it() {
    let dir = tempfile::tempdir().unwrap();
    let part_path = dir.path().join("file.part");
    let data = pattern(4 * L, 11);
    let (manifest, chunks) = seal(&data, "f");
    let record = {
        let mut fetcher = Fetcher::new(common::reencoded(&manifest), open_part(&part_path, true));
        deliver_some(&mut fetcher, &chunks, &[0, 1, 2, 3]);
        fetcher.progress().to_bytes()
    };
    // The record says every chunk is in, but a crash cut the part file inside chunk 3.
    open_part(&part_path, false)
        .set_len(3 * L as u64 + 10)
        .unwrap();
    let mut fetcher = Fetcher::resume(
        common::reencoded(&manifest),
        open_part(&part_path, false),
        &record,
    )
    .unwrap();
    assert!(fetcher.next_wanted(1).is_empty());
    assert_eq!(
        fetcher.finish().unwrap(),
        Delivery::PartDamaged { n_chunks: 1 }
    );
    assert_eq!(fetcher.next_wanted(4)[0].index, 3);
    assert_eq!(
        fetcher
            .deliver(&chunks[3].id, chunks[3].bytes.clone())
            .unwrap(),
        Delivery::Complete
    );
    drop(fetcher);
    assert_eq!(fs::read(&part_path).unwrap(), data);
}

fn deliver_some<W: std::io::Read + Write + Seek>(
    fetcher: &mut Fetcher<W>,
    chunks: &[omega_files::SealedChunk],
    indexes: &[usize],
) {
    for &index in indexes {
        let _ = fetcher
            .deliver(&chunks[index].id, chunks[index].bytes.clone())
            .unwrap();
    }
}

#[test]
fn a_record_listing_every_chunk_completes_on_finish() {
    let data = pattern(2 * L, 12);
    let (manifest, chunks) = seal(&data, "f");
    let mut first = fetcher(&manifest);
    deliver_some(&mut first, &chunks, &[0, 1]);
    let record = first.progress().to_bytes();
    let part = first.into_inner();
    let mut fetcher = Fetcher::resume(common::reencoded(&manifest), part, &record).unwrap();
    assert!(!fetcher.is_complete());
    assert_eq!(fetcher.finish().unwrap(), Delivery::Complete);
    assert!(fetcher.is_complete());
}

#[test]
fn finish_with_chunks_still_wanted_says_how_many() {
    let (manifest, _) = seal(&pattern(3 * L, 13), "f");
    let mut fetcher = fetcher(&manifest);
    assert!(matches!(
        fetcher.finish(),
        Err(FetchError::Incomplete { n_wanted: 3 })
    ));
}

#[test]
fn resume_records_of_other_files_or_damaged_ones_are_refused() {
    let data = pattern(2 * L, 14);
    let (manifest, chunks) = seal(&data, "f");
    let (other, _) = seal(&data, "f");
    let record = progress_of(&manifest, &chunks, &[1]);
    assert!(matches!(
        Fetcher::resume(common::reencoded(&other), Cursor::new(Vec::new()), &record),
        Err(ProgressError::OtherFile)
    ));
    for damage in [0, 9, 41, record.len() - 1] {
        let mut damaged = record.clone();
        damaged[damage] ^= 1;
        assert!(matches!(
            Fetcher::resume(
                common::reencoded(&manifest),
                Cursor::new(Vec::new()),
                &damaged
            ),
            Err(ProgressError::Invalid { .. })
        ));
    }
    for cut in [0, 10, record.len() - 1] {
        assert!(
            Fetcher::resume(
                common::reencoded(&manifest),
                Cursor::new(Vec::new()),
                &record[..cut]
            )
            .is_err()
        );
    }
    let fetcher = Fetcher::resume(
        common::reencoded(&manifest),
        Cursor::new(Vec::new()),
        &record,
    )
    .unwrap();
    assert!(fetcher.progress().is_verified(1));
    assert!(!fetcher.progress().is_verified(0));
}

#[test]
fn a_part_file_that_fails_to_write_leaves_the_chunk_wanted() {
    /// Accepts no writes.
    struct ReadOnly(Cursor<Vec<u8>>);
    impl std::io::Read for ReadOnly {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.0.read(buf)
        }
    }
    impl Write for ReadOnly {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("read-only"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl Seek for ReadOnly {
        fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
            self.0.seek(pos)
        }
    }
    let (manifest, chunks) = seal(&pattern(L, 15), "f");
    let mut fetcher = Fetcher::new(
        common::reencoded(&manifest),
        ReadOnly(Cursor::new(Vec::new())),
    );
    assert!(matches!(
        fetcher.deliver(&chunks[0].id, chunks[0].bytes.clone()),
        Err(FetchError::Io(_))
    ));
    assert_eq!(fetcher.wanted().count(), 1);
}

#[test]
fn a_part_file_that_was_not_empty_is_reported_once_the_file_verifies() {
    let data = pattern(L + 5, 16);
    let (manifest, chunks) = seal(&data, "f");
    let stale = Cursor::new(vec![0xAA; 3 * L]);
    let mut fetcher = Fetcher::new(common::reencoded(&manifest), stale);
    let _ = fetcher
        .deliver(&chunks[0].id, chunks[0].bytes.clone())
        .unwrap();
    assert!(matches!(
        fetcher.deliver(&chunks[1].id, chunks[1].bytes.clone()),
        Err(FetchError::PartTooLong { len, size }) if len == 3 * L as u64 && size == L as u64 + 5
    ));
    let mut part = fetcher.into_inner().into_inner();
    part.truncate(L + 5);
    assert_eq!(part, data);
}
