use super::*;
use data_encoding::HEXLOWER;
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

const PASSPHRASE: &[u8] = b"correct horse";

/// The cheapest parameters the format accepts, with 16-byte chunks so small inputs span many.
fn cheap(chunk_len: u32) -> BackupParams {
    BackupParams {
        m_kib: M_KIB_MIN,
        t: T_MIN,
        p: 1,
        chunk_len,
    }
}

/// Header and sealed chunks, as a writer lays them out.
fn seal_with(data: &[u8], params: BackupParams, rng: &mut StdRng) -> Vec<u8> {
    let mut sealer = BackupSealer::new(PASSPHRASE, params, rng).unwrap();
    let mut file = sealer.header().as_bytes().to_vec();
    let mut chunks = data.chunks_exact(sealer.chunk_len());
    for piece in chunks.by_ref() {
        let mut chunk = piece.to_vec();
        sealer.seal_chunk(&mut chunk).unwrap();
        file.extend_from_slice(&chunk);
    }
    let mut last = chunks.remainder().to_vec();
    sealer.seal_last(&mut last).unwrap();
    file.extend_from_slice(&last);
    file
}

fn seal(data: &[u8]) -> Vec<u8> {
    seal_with(data, cheap(16), &mut StdRng::seed_from_u64(7))
}

/// Reads a file the way a reader does: full sealed chunks, a shorter one at the end.
fn open(file: &[u8], passphrase: &[u8]) -> Result<Vec<u8>, BackupError> {
    let header = BackupHeader::parse(file)?;
    let mut opener = BackupOpener::new(&header, passphrase)?;
    let mut plaintext = Vec::new();
    for piece in file[HEADER_LEN..].chunks(header.sealed_chunk_len()) {
        let mut chunk = piece.to_vec();
        let _ = opener.open_chunk(&mut chunk)?;
        plaintext.extend_from_slice(&chunk);
    }
    opener.finish()?;
    Ok(plaintext)
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn sealed_backup_round_trips_for_lengths_around_chunk_boundaries() {
    for len in [0, 1, 15, 16, 17, 32, 100] {
        let file = seal(&data(len));
        let chunks = len / 16 + 1;
        assert_eq!(
            file.len(),
            HEADER_LEN + len + chunks * TAG_LEN,
            "{len} bytes take {chunks} chunks, the last one short"
        );
        assert_eq!(open(&file, PASSPHRASE).unwrap(), data(len), "{len} bytes");
    }
}

#[test]
fn header_has_the_documented_layout() {
    let file = seal(b"x");
    let header = BackupHeader::parse(&file).unwrap();
    assert_eq!(&file[..8], b"OMEGABAK");
    assert_eq!(&file[8..12], &[0, 1, 1, 1], "version 1, argon2id, stream");
    assert_eq!(&file[12..16], &M_KIB_MIN.to_be_bytes());
    assert_eq!(&file[16..20], &T_MIN.to_be_bytes());
    assert_eq!(&file[20..24], &1u32.to_be_bytes());
    assert_eq!(&file[59..63], &16u32.to_be_bytes());
    assert_eq!(header.params(), cheap(16));
    assert_eq!(header.sealed_chunk_len(), 16 + TAG_LEN);
}

#[test]
fn sealed_bytes_match_the_recorded_snapshot() {
    // Fixed RNG, passphrase and parameters: any change to the format shows up here.
    let file = seal(b"hello, backup");
    let expected = include_str!("backup_snapshot.hex").trim();
    assert_eq!(HEXLOWER.encode(&file), expected);
}

#[test]
fn default_parameters_are_at_least_the_keystores() {
    let params = BackupParams::default();
    assert!(params.m_kib >= crate::keystore::SEAL_M_KIB);
    assert!(params.t >= crate::keystore::SEAL_T);
    assert!(params.p >= crate::keystore::SEAL_P);
    params.check().unwrap();
}

#[test]
fn wrong_passphrase_is_refused_by_the_key_check() {
    let file = seal(&data(40));
    assert!(matches!(
        open(&file, b"wrong horse"),
        Err(BackupError::WrongPassphrase)
    ));
}

#[test]
fn flipped_byte_in_a_middle_chunk_is_damage_in_that_chunk() {
    let mut file = seal(&data(100));
    file[HEADER_LEN + 32 + 5] ^= 0x01;
    assert!(matches!(
        open(&file, PASSPHRASE),
        Err(BackupError::Damaged { chunk: 1 })
    ));
}

#[test]
fn flipped_tag_byte_is_damage() {
    let mut file = seal(&data(100));
    let last = file.len() - 1;
    file[last] ^= 0x80;
    assert!(matches!(
        open(&file, PASSPHRASE),
        Err(BackupError::Damaged { chunk: 6 })
    ));
}

#[test]
fn swapped_chunks_are_refused() {
    let mut file = seal(&data(100));
    let (first, second) = (HEADER_LEN, HEADER_LEN + 32);
    let chunk: Vec<u8> = file[first..second].to_vec();
    file.copy_within(second..second + 32, first);
    file[second..second + 32].copy_from_slice(&chunk);
    assert!(matches!(
        open(&file, PASSPHRASE),
        Err(BackupError::Damaged { chunk: 0 })
    ));
}

#[test]
fn removing_the_final_chunk_is_truncation() {
    let file = seal(&data(100));
    // 100 bytes: six full chunks of 16 and a final one of 4.
    let cut = HEADER_LEN + 6 * 32;
    assert_eq!(file.len(), cut + 4 + TAG_LEN);
    assert!(matches!(
        open(&file[..cut], PASSPHRASE),
        Err(BackupError::Truncated { chunks: 6 })
    ));
}

#[test]
fn removing_an_empty_final_chunk_is_truncation() {
    // 32 bytes: two full chunks and an empty final chunk, so a cut at a boundary still shows.
    let file = seal(&data(32));
    assert_eq!(file.len(), HEADER_LEN + 2 * 32 + TAG_LEN);
    assert!(matches!(
        open(&file[..file.len() - TAG_LEN], PASSPHRASE),
        Err(BackupError::Truncated { chunks: 2 })
    ));
}

#[test]
fn cutting_inside_a_chunk_is_damage() {
    let file = seal(&data(100));
    for cut in [HEADER_LEN + 10, HEADER_LEN + 40, file.len() - 1] {
        let error = open(&file[..cut], PASSPHRASE).unwrap_err();
        assert!(
            matches!(error, BackupError::Damaged { .. }),
            "cut at {cut}: {error}"
        );
    }
}

#[test]
fn bytes_after_the_final_chunk_are_refused() {
    let mut file = seal(&data(20));
    file.extend_from_slice(&[0u8; TAG_LEN + 1]);
    let header = BackupHeader::parse(&file).unwrap();
    let mut opener = BackupOpener::new(&header, PASSPHRASE).unwrap();
    let body = &file[HEADER_LEN..];
    let mut first = body[..32].to_vec();
    assert_eq!(opener.open_chunk(&mut first).unwrap(), Chunk::More);
    let mut last = body[32..32 + 4 + TAG_LEN].to_vec();
    assert_eq!(opener.open_chunk(&mut last).unwrap(), Chunk::Last);
    let mut extra = body[32 + 4 + TAG_LEN..].to_vec();
    assert!(matches!(
        opener.open_chunk(&mut extra),
        Err(BackupError::TrailingData)
    ));
}

#[test]
fn changed_header_fields_are_refused() {
    let file = seal(&data(40));
    // Salt or KDF cost: a different key, caught by the key check.
    for at in [12, 19, 24, 39] {
        let mut changed = file.clone();
        changed[at] ^= 0x01;
        let error = open(&changed, PASSPHRASE).unwrap_err();
        assert!(
            matches!(
                error,
                BackupError::WrongPassphrase | BackupError::ParameterOutOfBounds { .. }
            ),
            "byte {at}: {error}"
        );
    }
    // Nonce prefix, chunk length, key check: the chunks no longer authenticate.
    for (at, flip) in [(40, 0x01), (58, 0x01), (62, 0x01)] {
        let mut changed = file.clone();
        changed[at] ^= flip;
        let error = open(&changed, PASSPHRASE).unwrap_err();
        assert!(
            matches!(error, BackupError::Damaged { chunk: 0 }),
            "byte {at}: {error}"
        );
    }
    let mut changed = file.clone();
    changed[70] ^= 0x01;
    assert!(matches!(
        open(&changed, PASSPHRASE),
        Err(BackupError::WrongPassphrase)
    ));
}

#[test]
fn other_files_are_not_backups() {
    for bytes in [
        &b""[..],
        b"SQLite format 3\0",
        b"{\"format\":\"omega-keystore\"}",
    ] {
        assert!(matches!(
            BackupHeader::parse(bytes),
            Err(BackupError::NotABackup)
        ));
    }
    let file = seal(b"");
    assert!(matches!(
        BackupHeader::parse(&file[..40]),
        Err(BackupError::HeaderTruncated { got: 40 })
    ));
}

#[test]
fn unknown_versions_algorithms_and_costly_parameters_are_refused_before_any_work() {
    let file = seal(b"");
    let mut future = file.clone();
    future[9] = 2;
    assert!(matches!(
        BackupHeader::parse(&future),
        Err(BackupError::UnsupportedVersion {
            got: 2,
            expected: 1
        })
    ));
    let mut other_kdf = file.clone();
    other_kdf[10] = 9;
    assert!(matches!(
        BackupHeader::parse(&other_kdf),
        Err(BackupError::UnsupportedAlgorithm { what: "kdf", .. })
    ));
    let mut greedy = file.clone();
    greedy[12..16].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        BackupHeader::parse(&greedy),
        Err(BackupError::ParameterOutOfBounds { param: "m_kib", .. })
    ));
    let mut huge_chunks = file.clone();
    huge_chunks[59..63].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        BackupHeader::parse(&huge_chunks),
        Err(BackupError::ParameterOutOfBounds {
            param: "chunk_len",
            ..
        })
    ));
}

#[test]
fn sealer_refuses_wrong_chunk_lengths_and_weak_parameters() {
    let mut rng = StdRng::seed_from_u64(1);
    let mut sealer = BackupSealer::new(PASSPHRASE, cheap(16), &mut rng).unwrap();
    assert!(matches!(
        sealer.seal_chunk(&mut vec![0; 15]),
        Err(BackupError::ChunkLength { got: 15, .. })
    ));
    assert!(matches!(
        sealer.seal_last(&mut vec![0; 16]),
        Err(BackupError::ChunkLength { got: 16, .. })
    ));
    let weak = BackupParams {
        m_kib: 1024,
        ..cheap(16)
    };
    assert!(matches!(
        BackupSealer::new(PASSPHRASE, weak, &mut rng),
        Err(BackupError::ParameterOutOfBounds { param: "m_kib", .. })
    ));
}

#[test]
fn two_backups_of_the_same_data_differ() {
    let mut rng = StdRng::seed_from_u64(3);
    let a = seal_with(b"same", cheap(16), &mut rng);
    let b = seal_with(b"same", cheap(16), &mut rng);
    assert_ne!(a[24..59], b[24..59], "fresh salt and nonce prefix");
    assert_ne!(a[HEADER_LEN..], b[HEADER_LEN..]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn any_data_and_chunk_length_round_trip(
        data in proptest::collection::vec(any::<u8>(), 0..300),
        chunk_len in 16u32..64,
        seed in any::<u64>(),
    ) {
        let file = seal_with(&data, cheap(chunk_len), &mut StdRng::seed_from_u64(seed));
        prop_assert_eq!(open(&file, PASSPHRASE).unwrap(), data);
    }
}
