//! Reading an `omega:` contact card from a picture of its QR code (the web chat's "scan a QR
//! image"): a PNG or JPEG is decoded under strict limits, shrunk, turned grey and searched for QR
//! codes with `rqrr`; the first code that holds a valid card wins.
//!
//! A hostile picture must not hold the node's memory or CPU for long. So the decoder refuses
//! pictures over [`MAX_IMAGE_SIDE`] pixels on a side or [`MAX_DECODE_BYTES`] decoded, before it
//! allocates them; pictures over [`SCAN_SIDE`] are shrunk before the search; and the search runs
//! on a metered pixel buffer. `rqrr` copies the whole picture for every candidate triple of finder
//! patterns and compares every finder pattern with every other, so a picture tiled with thousands
//! of finder patterns would keep it busy for minutes: the meter charges each pixel read, write and
//! copy against a budget proportional to the picture and counts the finder patterns found, and
//! when either runs out the search is abandoned (by unwinding out of `rqrr`, see `Meter`).
//!
//! No IO, no clock: callers run [`scan_card`] on a blocking thread.

use std::cell::Cell;
use std::io::Cursor;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use image::{
    DynamicImage, GenericImage, GenericImageView, GrayImage, ImageError, ImageFormat, ImageReader,
    Limits, Luma,
};
use omega_crypto::{CardError, ContactCard};

/// Largest picture accepted, in bytes (the API refuses bigger bodies before reading them).
pub const MAX_IMAGE_BYTES: usize = 8 * 1024 * 1024;
/// Widest and tallest picture decoded, in pixels (a 48-megapixel phone photo fits).
pub const MAX_IMAGE_SIDE: u32 = 8192;
/// Most memory the decoder may use for the decoded picture (8192 × 6144 in RGB fits).
pub const MAX_DECODE_BYTES: u64 = 160 * 1024 * 1024;
/// Pictures larger than this on a side are shrunk to it before the search.
pub const SCAN_SIDE: u32 = 2000;
/// Most finder patterns (the three squares in a QR code's corners) searched: enough for a
/// dozen codes in one picture and for false ones in a busy photo.
const MAX_FINDER_PATTERNS: u32 = 60;
/// Pixel operations the search may spend per pixel of the (shrunk) picture, plus a fixed amount
/// for reading the codes found. Finding and reading a card in a clean picture costs about 6 per
/// pixel plus 1 million; a picture of random noise runs out.
const OPERATIONS_PER_PIXEL: u64 = 32;
const OPERATIONS_FIXED: u64 = 8_000_000;

/// Why no card came out of a picture.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// The bytes are not a PNG or JPEG picture, or it is damaged.
    #[error("not a readable PNG or JPEG image: {reason}")]
    InvalidImage { reason: String },
    /// The picture is larger than the decoder accepts.
    #[error("the image is too large to decode: {reason}")]
    TooLarge { reason: String },
    /// No QR code could be found and read in the picture.
    #[error("no QR code found in the image")]
    NoQrCode,
    /// The picture has so many QR-like shapes that the search gave up.
    #[error(
        "no QR code found: the image has too many QR-like shapes to search (crop it to the code)"
    )]
    TooComplex,
    /// A QR code was read, but it holds no valid `omega:` card.
    #[error("the QR code is not an Ômega card: {0}")]
    NotACard(#[source] CardError),
}

/// Finds the `omega:` card in a PNG or JPEG picture of its QR code. The card is parsed and
/// verified like a pasted one ([`ContactCard::parse_uri`]); when the picture holds several QR
/// codes, the first that is a card wins.
pub fn scan_card(bytes: &[u8]) -> Result<ContactCard, ScanError> {
    let picture = decode(bytes)?;
    let picture = if picture.width() > SCAN_SIDE || picture.height() > SCAN_SIDE {
        picture.thumbnail(SCAN_SIDE, SCAN_SIDE)
    } else {
        picture
    };
    let texts = read_qr_codes(grey_on_white(picture))?;
    let mut not_a_card = None;
    for text in texts {
        match ContactCard::parse_uri(&text) {
            Ok(card) => return Ok(card),
            Err(error) => {
                not_a_card.get_or_insert(error);
            }
        }
    }
    Err(not_a_card.map_or(ScanError::NoQrCode, ScanError::NotACard))
}

/// Decodes a PNG or JPEG under [`MAX_IMAGE_SIDE`] and [`MAX_DECODE_BYTES`]; the size is checked
/// from the header, before the pixels are allocated.
fn decode(bytes: &[u8]) -> Result<DynamicImage, ScanError> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|error| ScanError::InvalidImage {
            reason: error.to_string(),
        })?;
    if !matches!(reader.format(), Some(ImageFormat::Png | ImageFormat::Jpeg)) {
        return Err(ScanError::InvalidImage {
            reason: "expected the bytes of a PNG or JPEG file".to_owned(),
        });
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    reader.decode().map_err(|error| match error {
        ImageError::Limits(_) => ScanError::TooLarge {
            reason: format!(
                "{error} (at most {MAX_IMAGE_SIDE} pixels on a side and {} MiB decoded)",
                MAX_DECODE_BYTES / (1024 * 1024)
            ),
        },
        error => ScanError::InvalidImage {
            reason: error.to_string(),
        },
    })
}

/// Grey levels, with any transparency laid over white (a QR code saved with a transparent
/// background still reads).
fn grey_on_white(picture: DynamicImage) -> GrayImage {
    if !picture.color().has_alpha() {
        return picture.into_luma8();
    }
    let with_alpha = picture.into_luma_alpha8();
    GrayImage::from_fn(with_alpha.width(), with_alpha.height(), |x, y| {
        let [level, alpha] = with_alpha.get_pixel(x, y).0;
        let (level, alpha) = (u32::from(level), u32::from(alpha));
        // At most 255: a weighted mean of `level` and 255.
        Luma([((level * alpha + 255 * (255 - alpha)) / 255) as u8])
    })
}

/// The text of every QR code `rqrr` finds and reads in `grey`.
fn read_qr_codes(grey: GrayImage) -> Result<Vec<String>, ScanError> {
    let pixels = u64::from(grey.width()) * u64::from(grey.height());
    let meter = Rc::new(Meter::new(
        pixels
            .saturating_mul(OPERATIONS_PER_PIXEL)
            .saturating_add(OPERATIONS_FIXED),
    ));
    let buffer = Metered {
        pixels: grey,
        meter: meter.clone(),
    };
    let search = panic::catch_unwind(AssertUnwindSafe(move || {
        let mut prepared = rqrr::PreparedImage::prepare(buffer);
        prepared
            .detect_grids()
            .iter()
            .filter_map(|grid| grid.decode().ok().map(|(_, text)| text))
            .collect::<Vec<_>>()
    }));
    match search {
        Ok(texts) if texts.is_empty() => Err(ScanError::NoQrCode),
        Ok(texts) => Ok(texts),
        Err(payload) if payload.is::<OutOfBudget>() => Err(ScanError::TooComplex),
        // A bug in the reader on a strange picture: nothing was read from it.
        Err(_) => Err(ScanError::NoQrCode),
    }
}

/// What the search may still spend. Shared by the picture and every copy `rqrr` makes of it.
///
/// When it runs out, the current pixel access unwinds with [`OutOfBudget`] as its payload, via
/// `resume_unwind`, which skips the panic hook (nothing is printed); [`read_qr_codes`] catches
/// it. Nothing of `rqrr`'s state survives the unwind. (This relies on the workspace building
/// with `panic = "unwind"`, checked below.)
struct Meter {
    operations_left: Cell<u64>,
    finder_patterns: Cell<u32>,
    last_write: Cell<u8>,
}

const _: () = assert!(
    cfg!(panic = "unwind"),
    "omega_core::scan stops a runaway QR search by unwinding"
);

/// The unwind payload of an exhausted [`Meter`].
struct OutOfBudget;

impl Meter {
    fn new(operations: u64) -> Self {
        Meter {
            operations_left: Cell::new(operations),
            finder_patterns: Cell::new(0),
            last_write: Cell::new(0),
        }
    }

    fn charge(&self, operations: u64) {
        match self.operations_left.get().checked_sub(operations) {
            Some(left) => self.operations_left.set(left),
            None => panic::resume_unwind(Box::new(OutOfBudget)),
        }
    }

    /// Counts finder patterns from `rqrr`'s writes: it paints each one it accepts first with its
    /// temporary colour (4), then with its finder-pattern colour (2), and uses that sequence for
    /// nothing else.
    fn wrote(&self, value: u8) {
        if value == 2 && self.last_write.get() == 4 {
            let found = self.finder_patterns.get() + 1;
            if found > MAX_FINDER_PATTERNS {
                panic::resume_unwind(Box::new(OutOfBudget));
            }
            self.finder_patterns.set(found);
        }
        self.last_write.set(value);
    }
}

/// A grey picture whose every pixel access and copy is charged to a [`Meter`]. `rqrr` searches
/// any `image::GenericImage` of grey pixels.
struct Metered {
    pixels: GrayImage,
    meter: Rc<Meter>,
}

impl Clone for Metered {
    fn clone(&self) -> Self {
        self.meter
            .charge(u64::from(self.pixels.width()) * u64::from(self.pixels.height()));
        Metered {
            pixels: self.pixels.clone(),
            meter: self.meter.clone(),
        }
    }
}

impl GenericImageView for Metered {
    type Pixel = Luma<u8>;

    fn dimensions(&self) -> (u32, u32) {
        self.pixels.dimensions()
    }

    fn get_pixel(&self, x: u32, y: u32) -> Luma<u8> {
        self.meter.charge(1);
        *self.pixels.get_pixel(x, y)
    }
}

impl GenericImage for Metered {
    fn get_pixel_mut(&mut self, x: u32, y: u32) -> &mut Luma<u8> {
        self.meter.charge(1);
        self.pixels.get_pixel_mut(x, y)
    }

    fn put_pixel(&mut self, x: u32, y: u32, pixel: Luma<u8>) {
        self.meter.charge(1);
        self.meter.wrote(pixel.0[0]);
        self.pixels.put_pixel(x, y, pixel);
    }

    fn blend_pixel(&mut self, x: u32, y: u32, pixel: Luma<u8>) {
        self.put_pixel(x, y, pixel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    use image::{ImageEncoder, RgbaImage};
    use omega_crypto::{DeviceAccount, UserIdentity};
    use omega_proto::v1;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn card() -> ContactCard {
        let identity = UserIdentity::generate(&mut StdRng::seed_from_u64(7));
        let account = DeviceAccount::generate();
        let list = v1::DeviceList {
            user_key: identity.public_key().as_bytes().to_vec(),
            version: 1,
            devices: vec![account.device_info(vec![0, 36, 8, 1], "laptop")],
            created_ms: 5,
        };
        let uri = ContactCard {
            name: "Alice".to_owned(),
            devices: omega_crypto::verify_device_list(&identity.sign_device_list(&list), None)
                .unwrap(),
            addrs: vec![
                "/ip4/127.0.0.1/tcp/40001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"
                    .to_owned(),
            ],
            mailboxes: vec![],
        }
        .to_uri();
        ContactCard::parse_uri(&uri).unwrap()
    }

    /// The card's QR code drawn `scale` pixels per module, with the quiet zone, dark on light.
    fn qr_picture(card: &ContactCard, scale: u32) -> GrayImage {
        let qr = card.to_qr().unwrap();
        let quiet = omega_crypto::CardQr::QUIET_ZONE as u32;
        let side = (qr.width() as u32 + 2 * quiet) * scale;
        GrayImage::from_fn(side, side, |x, y| {
            let (x, y) = (x / scale, y / scale);
            let dark =
                x >= quiet && y >= quiet && qr.is_dark((x - quiet) as usize, (y - quiet) as usize);
            Luma([if dark { 0 } else { 255 }])
        })
    }

    fn png(picture: &GrayImage) -> Vec<u8> {
        let mut bytes = Vec::new();
        image::codecs::png::PngEncoder::new(&mut bytes)
            .write_image(
                picture.as_raw(),
                picture.width(),
                picture.height(),
                image::ExtendedColorType::L8,
            )
            .unwrap();
        bytes
    }

    #[test]
    fn a_card_is_read_back_from_a_png_and_a_jpeg_of_its_qr_code() {
        let card = card();
        let picture = qr_picture(&card, 4);
        assert_eq!(scan_card(&png(&picture)).unwrap().to_uri(), card.to_uri());

        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 80)
            .write_image(
                picture.as_raw(),
                picture.width(),
                picture.height(),
                image::ExtendedColorType::L8,
            )
            .unwrap();
        assert_eq!(scan_card(&jpeg).unwrap().to_uri(), card.to_uri());
    }

    #[test]
    fn a_large_picture_is_shrunk_and_still_read() {
        let card = card();
        let code = qr_picture(&card, 12);
        // The code in the middle of a wide grey "photo", larger than SCAN_SIDE.
        let mut photo = GrayImage::from_pixel(3000, 2200, Luma([200]));
        image::imageops::overlay(&mut photo, &code, 900, 500);
        assert_eq!(scan_card(&png(&photo)).unwrap().to_uri(), card.to_uri());
    }

    #[test]
    fn a_transparent_background_counts_as_white() {
        let card = card();
        let code = qr_picture(&card, 4);
        let picture = RgbaImage::from_fn(code.width(), code.height(), |x, y| {
            if code.get_pixel(x, y).0[0] == 0 {
                image::Rgba([0, 0, 0, 255])
            } else {
                image::Rgba([0, 0, 0, 0])
            }
        });
        let mut bytes = Vec::new();
        image::codecs::png::PngEncoder::new(&mut bytes)
            .write_image(
                picture.as_raw(),
                picture.width(),
                picture.height(),
                image::ExtendedColorType::Rgba8,
            )
            .unwrap();
        assert_eq!(scan_card(&bytes).unwrap().to_uri(), card.to_uri());
    }

    #[test]
    fn each_failure_has_its_own_error() {
        assert!(matches!(
            scan_card(b"not an image at all"),
            Err(ScanError::InvalidImage { .. })
        ));
        assert!(matches!(
            scan_card(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"),
            Err(ScanError::InvalidImage { .. })
        ));
        let blank = GrayImage::from_pixel(300, 200, Luma([255]));
        assert!(matches!(scan_card(&png(&blank)), Err(ScanError::NoQrCode)));
        let mut truncated = png(&qr_picture(&card(), 4));
        truncated.truncate(truncated.len() / 2);
        assert!(matches!(
            scan_card(&truncated),
            Err(ScanError::InvalidImage { .. })
        ));

        let url = qrcode::QrCode::new(b"https://example.com/").unwrap();
        let colors = url.to_colors();
        let width = url.width() as u32;
        let picture = GrayImage::from_fn((width + 8) * 4, (width + 8) * 4, |x, y| {
            let (x, y) = (x / 4, y / 4);
            let dark = (4..width + 4).contains(&x)
                && (4..width + 4).contains(&y)
                && colors[((y - 4) * width + (x - 4)) as usize] == qrcode::Color::Dark;
            Luma([if dark { 0 } else { 255 }])
        });
        assert!(matches!(
            scan_card(&png(&picture)),
            Err(ScanError::NotACard(CardError::MissingPrefix))
        ));
    }

    /// A PNG claiming `width` × `height` pixels of 8 bits per channel in PNG colour type `colour`
    /// (0 grey, 6 RGBA), with no pixels behind its header.
    fn png_header(width: u32, height: u32, colour: u8) -> Vec<u8> {
        let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut chunk = b"IHDR".to_vec();
        chunk.extend(width.to_be_bytes());
        chunk.extend(height.to_be_bytes());
        chunk.extend([8, colour, 0, 0, 0]); // deflate, no filter, no interlace
        bytes.extend(13u32.to_be_bytes());
        bytes.extend(&chunk);
        bytes.extend(crc32(&chunk).to_be_bytes());
        // An empty IDAT chunk: the header is complete, the pixels missing.
        bytes.extend(0u32.to_be_bytes());
        bytes.extend(b"IDAT");
        bytes.extend(crc32(b"IDAT").to_be_bytes());
        bytes
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for byte in bytes {
            crc ^= u32::from(*byte);
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
    fn huge_dimensions_are_refused_from_the_header() {
        // Too wide, too tall, or (in RGBA: 256 MiB) too much memory.
        for (width, height, colour) in [
            (60_000, 60_000, 0),
            (MAX_IMAGE_SIDE + 1, 10, 0),
            (10, MAX_IMAGE_SIDE + 1, 0),
            (8192, 8192, 6),
        ] {
            let started = Instant::now();
            let error = scan_card(&png_header(width, height, colour)).unwrap_err();
            assert!(
                matches!(error, ScanError::TooLarge { .. }),
                "{width}x{height}: {error}"
            );
            assert!(started.elapsed() < Duration::from_secs(1));
        }
        // Within the limits the header is fine; the missing pixels are the problem.
        assert!(matches!(
            scan_card(&png_header(8192, 8192, 0)),
            Err(ScanError::InvalidImage { .. })
        ));
    }

    /// `rqrr` alone needs minutes for such pictures (measured: over 2 minutes for 1000 × 1000
    /// pixels of 2-pixel modules), copying the picture for every candidate triple. Here the
    /// finder-pattern count ends the search (in a debug build, in about 0.5 s for the first
    /// picture; the budget alone would take about 3 s).
    #[test]
    fn pictures_tiled_with_finder_patterns_are_given_up_quickly() {
        for (side, module, gap) in [(2000, 1, 1), (1600, 2, 6)] {
            let step = 7 * module + gap;
            let picture = GrayImage::from_fn(side, side, |x, y| {
                let (mx, my) = ((x % step) / module, (y % step) / module);
                let ring = mx == 0 || my == 0 || mx == 6 || my == 6;
                let stone = (2..=4).contains(&mx) && (2..=4).contains(&my);
                let inside = x % step < 7 * module && y % step < 7 * module;
                Luma([if inside && (ring || stone) { 0 } else { 255 }])
            });
            let started = Instant::now();
            assert!(matches!(
                scan_card(&png(&picture)),
                Err(ScanError::TooComplex)
            ));
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{module}-pixel modules took {:?}",
                started.elapsed()
            );
        }
    }

    #[test]
    fn random_noise_ends_quickly_without_a_card() {
        let mut rng = StdRng::seed_from_u64(1);
        let picture = GrayImage::from_fn(1000, 1000, |_, _| {
            Luma([if rand::Rng::r#gen::<bool>(&mut rng) {
                0
            } else {
                255
            }])
        });
        let started = Instant::now();
        let error = scan_card(&png(&picture)).unwrap_err();
        assert!(
            matches!(error, ScanError::NoQrCode | ScanError::TooComplex),
            "{error}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "took {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn the_meter_stops_at_its_budget() {
        let meter = Rc::new(Meter::new(10));
        let buffer = Metered {
            pixels: GrayImage::new(2, 2),
            meter: meter.clone(),
        };
        let copied = panic::catch_unwind(AssertUnwindSafe(|| {
            let _first = buffer.clone(); // 4 of 10
            let _second = buffer.clone(); // 8 of 10
            let _third = buffer.clone(); // over
        }));
        assert!(copied.unwrap_err().is::<OutOfBudget>());
        assert_eq!(meter.operations_left.get(), 2);
    }
}
