//! Thumbnails of pictures, and pictures built to exhaust the decoder.

mod common;

use std::io::{Cursor, Read};

use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use omega_files::{MAX_THUMBNAIL_BYTES, MAX_THUMBNAIL_SIDE, Thumbnail, ThumbnailError};

fn encoded(picture: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Vec::new();
    picture
        .write_to(&mut Cursor::new(&mut bytes), format)
        .unwrap();
    bytes
}

fn photo(width: u32, height: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |x, y| {
        Rgb([
            (x * 7 % 256) as u8,
            (y * 3 % 256) as u8,
            ((x ^ y) % 256) as u8,
        ])
    }))
}

fn decoded(thumbnail: &Thumbnail) -> DynamicImage {
    image::load_from_memory_with_format(thumbnail.jpeg(), ImageFormat::Jpeg).unwrap()
}

#[test]
fn a_png_or_jpeg_gets_a_small_jpeg_keeping_its_shape() {
    for (format, width, height, expected) in [
        (ImageFormat::Png, 400, 200, (128, 64)),
        (ImageFormat::Jpeg, 300, 900, (43, 128)),
        (ImageFormat::Png, 60, 40, (60, 40)),
        (ImageFormat::Jpeg, 1, 1, (1, 1)),
    ] {
        let thumbnail = Thumbnail::from_bytes(&encoded(&photo(width, height), format)).unwrap();
        assert_eq!(
            (u32::from(thumbnail.width()), u32::from(thumbnail.height())),
            expected,
            "{format:?} {width}×{height}"
        );
        assert!(thumbnail.jpeg().len() <= MAX_THUMBNAIL_BYTES);
        let back = decoded(&thumbnail);
        assert_eq!((back.width(), back.height()), expected);
        assert!(back.width() <= MAX_THUMBNAIL_SIDE && back.height() <= MAX_THUMBNAIL_SIDE);
    }
}

#[test]
fn transparent_parts_are_laid_on_white() {
    let picture = DynamicImage::ImageRgba8(RgbaImage::from_fn(64, 64, |x, _| {
        if x < 32 {
            Rgba([0, 0, 0, 0])
        } else {
            Rgba([0, 0, 0, 255])
        }
    }));
    let thumbnail = Thumbnail::from_bytes(&encoded(&picture, ImageFormat::Png)).unwrap();
    let back = decoded(&thumbnail).to_rgb8();
    assert!(
        back.get_pixel(5, 30).0.iter().all(|&c| c > 230),
        "transparent → white"
    );
    assert!(
        back.get_pixel(60, 30).0.iter().all(|&c| c < 25),
        "opaque black stays black"
    );
}

#[test]
fn the_reader_is_read_whole_and_the_thumbnail_made() {
    let png = encoded(&photo(256, 256), ImageFormat::Png);
    let thumbnail = Thumbnail::from_reader(png.as_slice()).unwrap();
    assert_eq!((thumbnail.width(), thumbnail.height()), (128, 128));
}

#[test]
fn files_that_are_not_pictures_get_no_thumbnail() {
    for bytes in [&b""[..], b"hello", b"GIF89a\x01\0\x01\0", b"%PDF-1.7"] {
        assert!(matches!(
            Thumbnail::from_bytes(bytes),
            Err(ThumbnailError::NotAPicture)
        ));
        assert!(matches!(
            Thumbnail::from_reader(bytes),
            Err(ThumbnailError::NotAPicture)
        ));
    }
    let mut png = encoded(&photo(50, 50), ImageFormat::Png);
    png.truncate(png.len() / 2);
    assert!(matches!(
        Thumbnail::from_bytes(&png),
        Err(ThumbnailError::Invalid { .. })
    ));
}

/// A PNG that is only a header claiming `width` × `height` RGB pixels.
fn png_header(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend_from_slice(&13u32.to_be_bytes());
    png.extend_from_slice(&ihdr);
    png.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    for chunk in [&b"IDAT"[..], b"IEND"] {
        png.extend_from_slice(&0u32.to_be_bytes());
        png.extend_from_slice(chunk);
        png.extend_from_slice(&crc32(chunk).to_be_bytes());
    }
    png
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn pictures_claiming_huge_dimensions_are_refused_before_decoding() {
    // Too wide; within the sides but over the memory budget (12000² RGB = 412 MiB).
    for (width, height) in [(100_000, 10), (10, 1 << 30), (12_000, 12_000)] {
        let error = Thumbnail::from_bytes(&png_header(width, height)).unwrap_err();
        assert!(
            matches!(error, ThumbnailError::TooLarge { .. }),
            "{width}×{height}: {error}"
        );
    }
}

#[test]
fn a_picture_file_over_the_source_limit_is_refused() {
    let huge = b"\x89PNG\r\n\x1a\n"
        .as_slice()
        .chain(std::io::repeat(0).take(omega_files::MAX_SOURCE_BYTES));
    assert!(matches!(
        Thumbnail::from_reader(huge),
        Err(ThumbnailError::TooLarge { .. })
    ));
}

#[test]
fn a_sealed_picture_carries_its_thumbnail_in_the_manifest() {
    let png = encoded(&photo(300, 150), ImageFormat::Png);
    let (manifest, _) = common::seal(&png, "holiday.PNG");
    assert_eq!(manifest.mime(), "image/png");
    let manifest = manifest.with_thumbnail(Thumbnail::from_bytes(&png).unwrap());
    let received = omega_files::Manifest::from_bytes(&manifest.to_bytes()).unwrap();
    let thumbnail = received.thumbnail().unwrap();
    assert_eq!((thumbnail.width(), thumbnail.height()), (128, 64));
    let view = serde_json::to_value(received.view()).unwrap();
    assert_eq!(view["thumbnail"]["width"], 128);
    assert_eq!(view["thumbnail"]["jpeg_len"], thumbnail.jpeg().len());
}
