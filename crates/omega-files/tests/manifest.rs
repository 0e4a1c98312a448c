//! The manifest's encoding: snapshot, round trips, the JSON view, and garbage refused.

mod common;

use std::sync::OnceLock;

use common::{
    CountingRng, L, OFFSET_CHUNK_LEN, OFFSET_COUNT, OFFSET_IDS, OFFSET_KEY, OFFSET_SIZE, pattern,
    seal,
};
use omega_files::manifest::{MANIFEST_FIXED_LEN, MANIFEST_MAGIC};
use omega_files::{
    MAX_CHUNKS, MAX_MANIFEST_LEN, MIN_CHUNK_LEN, Manifest, ManifestError, Sealer, Thumbnail,
};
use proptest::prelude::*;

fn snapshot_manifest() -> Manifest {
    let data = b"hello, files";
    let mut sealer = Sealer::new(&data[..], MIN_CHUNK_LEN, &mut CountingRng(0)).unwrap();
    while sealer.next_chunk().unwrap().is_some() {}
    sealer.finish("hello.txt").unwrap()
}

#[test]
fn the_encoding_of_a_known_manifest_does_not_change() {
    let bytes = snapshot_manifest().to_bytes();
    assert_eq!(
        hex::encode(bytes.as_slice()),
        concat!(
            "4f4d45474146494c",                                                 // magic
            "01",                                                               // version
            "01",                                                               // aead
            "000102030405060708090a0b0c0d0e0f",                                 // file id
            "101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f", // key
            "303132333435363738393a3b3c3d3e3f404142",                           // nonce prefix
            "000000000000000c",                                                 // size
            "00040000",                                                         // chunk length
            "9cd4f647ecf5ca799777561a61b5b1d54ce927d82473044d0adcde31e4c360e6", // sha-256
            "00000001",                                                         // chunk count
            "f56c5af295a62934a275e567c33d5eeadc954ae069241e33a48981345c8801d5", // chunk 0 id
            "0009",
            "68656c6c6f2e747874", // name
            "0a",
            "746578742f706c61696e", // mime
            "00",                   // no thumbnail
        )
    );
}

/// The values were computed by `tests/files_xcheck.py`'s primitives (Python `cryptography` and a
/// hand-written HChaCha20), not by this crate.
#[test]
fn the_chunk_of_a_known_manifest_does_not_change() {
    let data = b"hello, files";
    let mut sealer = Sealer::new(&data[..], MIN_CHUNK_LEN, &mut CountingRng(0)).unwrap();
    let chunk = sealer.next_chunk().unwrap().unwrap();
    assert_eq!(
        hex::encode(&chunk.bytes),
        "2aa3cf290a3a5fff6228bdfbdaa779c5058e0f77eb4c4b3b584a6186",
        "sealed chunk of the snapshot manifest"
    );
}

#[test]
fn manifests_round_trip_through_their_encoding() {
    for size in [0, 1, 3 * L + 1] {
        let (manifest, _) = seal(&pattern(size, 1), "report final.pdf");
        let bytes = manifest.to_bytes();
        assert_eq!(
            bytes.len(),
            MANIFEST_FIXED_LEN + manifest.chunk_ids().len() * 32 + 2 + 16 + 1 + 15 + 1
        );
        let decoded = Manifest::from_bytes(&bytes).unwrap();
        assert_eq!(decoded.to_bytes(), bytes);
        assert_eq!(decoded.view(), manifest.view());
    }
    let (manifest, _) = seal(b"x", "x.png");
    let thumbnail = Thumbnail::from_bytes(&tiny_png()).unwrap();
    let manifest = manifest.with_thumbnail(thumbnail.clone());
    let decoded = Manifest::from_bytes(&manifest.to_bytes()).unwrap();
    assert_eq!(decoded.thumbnail(), Some(&thumbnail));
    assert_eq!(decoded.to_bytes(), manifest.to_bytes());
}

fn tiny_png() -> Vec<u8> {
    let picture =
        image::RgbImage::from_fn(4, 3, |x, y| image::Rgb([x as u8 * 60, y as u8 * 80, 9]));
    let mut png = Vec::new();
    picture
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    png
}

#[test]
fn the_json_view_has_everything_but_the_secrets() {
    let (manifest, _) = seal(&pattern(L + 1, 2), "a.bin");
    let bytes = manifest.to_bytes();
    let key_hex = hex::encode(&bytes[OFFSET_KEY..OFFSET_KEY + 32]);
    let json = serde_json::to_value(manifest.view()).unwrap();
    assert_eq!(json["name"], "a.bin");
    assert_eq!(json["mime"], "application/octet-stream");
    assert_eq!(json["size"], L as u64 + 1);
    assert_eq!(json["chunk_len"], MIN_CHUNK_LEN);
    assert_eq!(json["chunk_count"], 2);
    assert_eq!(json["chunk_ids"][1], manifest.chunk_ids()[1].to_hex());
    assert_eq!(json["sha256"], hex::encode(manifest.sha256()));
    assert_eq!(json["file_id"], hex::encode(manifest.file_id()));
    assert!(json["thumbnail"].is_null());
    let text = json.to_string();
    assert!(!text.contains(&key_hex));
    assert!(!text.contains("key"));
    assert!(!format!("{manifest:?}").contains(&key_hex));
}

/// A valid manifest of three chunks named `ok.bin` (sealed once per test binary).
fn valid_bytes() -> Vec<u8> {
    static VALID: OnceLock<Vec<u8>> = OnceLock::new();
    VALID
        .get_or_init(|| {
            let (manifest, _) = seal(&pattern(2 * L + 1, 3), "ok.bin");
            manifest.to_bytes().to_vec()
        })
        .clone()
}

fn refused(bytes: &[u8]) -> ManifestError {
    match Manifest::from_bytes(bytes) {
        Ok(_) => panic!("garbage accepted"),
        Err(error) => error,
    }
}

/// The offset of the name length field in `valid_bytes()` (three chunk ids).
const OFFSET_NAME: usize = OFFSET_IDS + 3 * 32;

#[test]
fn garbage_manifests_are_refused() {
    let valid = valid_bytes();
    assert!(Manifest::from_bytes(&valid).is_ok());
    let with = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut bytes = valid.clone();
        edit(&mut bytes);
        refused(&bytes)
    };
    assert_eq!(refused(b""), ManifestError::Truncated { field: "magic" });
    assert_eq!(with(&|b| b[0] = b'X'), ManifestError::NotAManifest);
    assert!(matches!(
        with(&|b| b[8] = 2),
        ManifestError::UnsupportedVersion { got: 2, .. }
    ));
    assert!(matches!(
        with(&|b| b[9] = 0),
        ManifestError::UnsupportedAead { got: 0, .. }
    ));
    assert!(matches!(
        with(&|b| b[OFFSET_SIZE..OFFSET_SIZE + 8].copy_from_slice(&u64::MAX.to_be_bytes())),
        ManifestError::OutOfBounds { field: "size", .. }
    ));
    for chunk_len in [0u32, MIN_CHUNK_LEN - 1, 4 * 1024 * 1024 + 1, u32::MAX] {
        assert!(matches!(
            with(&|b| b[OFFSET_CHUNK_LEN..OFFSET_CHUNK_LEN + 4]
                .copy_from_slice(&chunk_len.to_be_bytes())),
            ManifestError::OutOfBounds {
                field: "chunk length",
                ..
            }
        ));
    }
    for count in [0u32, 2, 4, MAX_CHUNKS, u32::MAX] {
        assert_eq!(
            with(&|b| b[OFFSET_COUNT..OFFSET_COUNT + 4].copy_from_slice(&count.to_be_bytes())),
            ManifestError::ChunkCount {
                got: count,
                expected: 3
            }
        );
    }
    assert_eq!(
        with(&|b| b.copy_within(OFFSET_IDS..OFFSET_IDS + 32, OFFSET_IDS + 64)),
        ManifestError::DuplicateChunk { index: 2 }
    );
    assert!(matches!(
        with(&|b| b[OFFSET_NAME..OFFSET_NAME + 2].copy_from_slice(&0u16.to_be_bytes())),
        ManifestError::OutOfBounds {
            field: "name length",
            ..
        }
    ));
    assert!(matches!(
        with(&|b| b[OFFSET_NAME..OFFSET_NAME + 2].copy_from_slice(&256u16.to_be_bytes())),
        ManifestError::OutOfBounds {
            field: "name length",
            ..
        }
    ));
    // "ok.bin" → "o/.bin", "..bin" (hidden), "ok.bi\n", invalid UTF-8.
    for (at, byte) in [(1, b'/'), (0, b'.'), (5, b'\n'), (2, 0xff)] {
        assert!(
            matches!(
                with(&|b| b[OFFSET_NAME + 2 + at] = byte),
                ManifestError::Name { .. }
            ),
            "name byte {at} = {byte:#x}"
        );
    }
    let offset_mime = OFFSET_NAME + 2 + "ok.bin".len();
    assert_eq!(
        with(&|b| b[offset_mime + 1 + 11] = b';'),
        ManifestError::Mime
    );
    assert_eq!(
        with(&|b| b[offset_mime + 1 + 11] = 0xc3),
        ManifestError::Mime
    );
    assert_eq!(
        with(&|b| *b.last_mut().unwrap() = 2),
        ManifestError::ThumbnailKind { got: 2 }
    );
    assert_eq!(
        with(&|b| b.push(0)),
        ManifestError::TrailingBytes { extra: 1 }
    );
    assert!(matches!(
        refused(&vec![0; MAX_MANIFEST_LEN + 1]),
        ManifestError::TooLong { .. }
    ));
}

#[test]
fn every_prefix_of_a_manifest_is_refused() {
    let valid = valid_bytes();
    for len in 0..valid.len() {
        assert!(
            matches!(refused(&valid[..len]), ManifestError::Truncated { .. }),
            "prefix of {len} bytes"
        );
    }
}

#[test]
fn thumbnails_out_of_bounds_are_refused() {
    let (manifest, _) = seal(b"x", "x.png");
    let manifest = manifest.with_thumbnail(Thumbnail::from_bytes(&tiny_png()).unwrap());
    let valid = manifest.to_bytes().to_vec();
    let at = valid.len() - manifest.thumbnail().unwrap().jpeg().len() - 7;
    assert_eq!(valid[at], 1, "thumbnail kind");
    for (offset, value, field) in [
        (1, 0u16, "thumbnail width"),
        (1, 129, "thumbnail width"),
        (3, 0, "thumbnail height"),
        (3, 4096, "thumbnail height"),
        (5, 0, "thumbnail length"),
        (5, 16 * 1024 + 1, "thumbnail length"),
    ] {
        let mut bytes = valid.clone();
        bytes[at + offset..at + offset + 2].copy_from_slice(&value.to_be_bytes());
        assert!(
            matches!(refused(&bytes), ManifestError::OutOfBounds { field: f, .. } if f == field),
            "{field} = {value}"
        );
    }
}

#[test]
fn the_largest_manifest_decodes_within_its_bound() {
    assert_eq!(MAX_MANIFEST_LEN, 147_973, "docs/files.md gives this figure");
    let (manifest, _) = seal(b"", &"n".repeat(300));
    let manifest = manifest.with_thumbnail(Thumbnail::from_bytes(&tiny_png()).unwrap());
    let mut bytes = manifest.to_bytes().to_vec();
    assert_eq!(&bytes[..8], &MANIFEST_MAGIC);
    // Grow it to the longest a decoder accepts: 1 GiB in 256 KiB chunks, with distinct ids.
    let jpeg_len = manifest.thumbnail().unwrap().jpeg().len();
    let tail = bytes.split_off(OFFSET_IDS + 32);
    bytes.truncate(OFFSET_IDS);
    bytes[OFFSET_SIZE..OFFSET_SIZE + 8].copy_from_slice(&omega_files::MAX_FILE_SIZE.to_be_bytes());
    bytes[OFFSET_COUNT..OFFSET_COUNT + 4].copy_from_slice(&MAX_CHUNKS.to_be_bytes());
    for index in 0..MAX_CHUNKS {
        let mut id = [7u8; 32];
        id[..4].copy_from_slice(&index.to_be_bytes());
        bytes.extend_from_slice(&id);
    }
    bytes.extend_from_slice(&tail);
    let decoded = Manifest::from_bytes(&bytes).unwrap();
    assert_eq!(decoded.chunk_count(), MAX_CHUNKS);
    assert_eq!(decoded.name().len(), 255);
    // Only the thumbnail and the MIME type are shorter than they could be.
    assert_eq!(
        bytes.len(),
        MAX_MANIFEST_LEN - (16 * 1024 - jpeg_len) - (127 - "application/octet-stream".len())
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = Manifest::from_bytes(&bytes);
    }

    #[test]
    fn a_manifest_with_one_byte_changed_is_refused_or_canonical(
        position in 0usize..400,
        value in any::<u8>(),
    ) {
        let mut bytes = valid_bytes();
        let position = position % bytes.len();
        bytes[position] = value;
        if let Ok(manifest) = Manifest::from_bytes(&bytes) {
            let encoded = manifest.to_bytes();
            prop_assert_eq!(encoded.as_slice(), bytes.as_slice());
        }
    }
}
